"""Record a trained agent: an overlaid MP4 per episode, a Minari dataset and plots, written into its run folder.

    python scripts/record.py --checkpoint runs/<name>/checkpoint.ckpt --episodes 2
    python scripts/record.py --checkpoint runs/<name>/checkpoint.ckpt --episodes 2 --max-steps 60000
    python scripts/record.py --checkpoint runs/<full>/checkpoint.ckpt --versus runs/<ablated>/checkpoint.ckpt

Copies of the first agent of the checkpoint's population (agent 0) live the episodes side by side, each a
fresh life, episode i in its world reset with seed `--seed + i`, rendered headless (MUJOCO_GL=egl). They
keep learning as they live, as agents always do; the checkpoint is only read. After a short warm-up the
script says how long the rest will take; on a terminal a progress bar shows it going. Writes, for the
n-th recording of a run:

    runs/<name>/recording-<n>/episode-<i>.mp4   a frame every --frame-every steps (and the last), at the
                                                world's render_fps, each with the overlay of agents/overlay.py
    runs/<name>/recording-<n>/episode-<i>-last-frame.png   its last frame, with the cause of death
    runs/<name>/recording-<n>/versus-<i>.mp4    with --versus: this brain (left) and the other (right), same
                                                seeds; the other's own videos and plots in recording-<n>/versus/
    runs/<name>/recording-<n>/episode-<i>.png   internal variables against set-points, free energy,
                                                familiarity and the selected channel over time
    runs/<name>/minari/recording-v<n>/          the Minari dataset `recording-v<n>` (or under --dataset-root):
        MINARI_DATASETS_PATH=runs/<name>/minari python -c "import minari; print(minari.load_dataset('recording-v0'))"

Needs the `record` extra (Minari, imageio-ffmpeg). See agents/recording.py for what a dataset holds.
"""

import dataclasses
import itertools
import os
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
# imageio-ffmpeg starts ffmpeg with a pre-exec hook (to shield it from Ctrl-C); forking with a hook is unsafe
# in a multithreaded (JAX) process, so go without it.
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402

from agents import checkpoint  # noqa: E402
from agents.loop import Run  # noqa: E402
from agents.recording import SCENE_SIZE, Recording, live_episodes, plot_episode, side_by_side, to_minari  # noqa: E402
from suites._report import print_table  # noqa: E402


@dataclasses.dataclass
class Args:
    checkpoint: str
    """the run to record: runs/<name>/checkpoint.ckpt (outputs go beside it)"""
    episodes: int = 1
    """episodes (fresh lives) to record"""
    max_steps: int | None = 10_000
    """cap on each episode's steps: a sixth of a 60,000-step life on the mortal worlds, so that the default
    recording takes about a minute or two on 2 CPU cores; None: the run's time limit (whole lives)"""
    seed: int = 0
    """episode i resets its world with seed + i"""
    frame_every: int = 10
    """env steps per video frame (rendering costs ~300x a physics step); the video plays this many times
    faster than real time at the default fps"""
    fps: int | None = None
    """frames per second of the videos (default: the world's render_fps)"""
    size: int = SCENE_SIZE
    """side of the rendered scene in px (the overlay panel goes beside it)"""
    shadows: bool = False
    """render with MuJoCo's shadows, reflections and multisampling (~30x slower under software GL)"""
    versus: str | None = None
    """a second checkpoint of the same world: its agent 0 lives the same seeds, side by side in versus-<i>.mp4"""
    dataset_root: str | None = None
    """where the Minari dataset goes (MINARI_DATASETS_PATH); default: <run folder>/minari"""


def next_recording(folder: Path, dataset_root: Path) -> int:
    """The first n with neither recording-<n>/ nor the dataset recording-v<n> taken."""
    return next(n for n in itertools.count()
                if not (folder / f"recording-{n}").exists() and not (dataset_root / f"recording-v{n}").exists())


def load(path: str) -> Run:
    """The checkpoint's run, without its worlds (agent 0 lives in fresh rendering copies)."""
    run = checkpoint.load(path)
    run.envs.close()
    if run.envs.num_envs > 1:
        print(f"{path}: population of {run.envs.num_envs}: recording agent 0")
    return run


def plot(recording: Recording, world: str, folder: Path) -> None:
    """episode-<i>.png beside each video."""
    for i, episode in enumerate(recording.episodes):
        plot_episode(episode, recording.physiology, recording.channel_names, folder / f"episode-{i:03d}.png",
                     title=f"{world}, agent 0, episode {i} (seed {episode.seed}): {len(episode)} steps, "
                           f"ended by {episode.cause}")


def main(args: Args) -> None:
    folder = Path(args.checkpoint).parent
    dataset_root = Path(args.dataset_root) if args.dataset_root else folder / "minari"
    os.environ["MINARI_DATASETS_PATH"] = str(dataset_root.resolve())  # never the user's ~/.minari by default
    n = next_recording(folder, dataset_root)
    out = folder / f"recording-{n}"

    if not jax.config.jax_compilation_cache_dir:  # shared with ablate.py: a second recording skips most compiling
        jax.config.update("jax_compilation_cache_dir", "runs/.jax_cache")
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # the brain's many small ones too
    start = time.perf_counter()
    run = load(args.checkpoint)
    other = load(args.versus) if args.versus else None
    if other is not None and other.world != run.world:
        raise SystemExit(f"error: --versus {args.versus} lives in {other.world}, {args.checkpoint} in {run.world}")
    loaded = time.perf_counter()
    settings = dict(max_steps=args.max_steps, seed=args.seed, frame_every=args.frame_every, fps=args.fps,
                    size=args.size, shadows=args.shadows, progress=True)
    recording = live_episodes(run, args.episodes, out, label=f"A {run.config.describe()}" if other else None,
                              **settings)
    plot(recording, run.world, out)
    if other is not None:
        theirs = live_episodes(other, args.episodes, out / "versus", label=f"B {other.config.describe()}", **settings)
        plot(theirs, other.world, out / "versus")
        fps = args.fps or recording.env.metadata["render_fps"]
        for i, (ours, their) in enumerate(zip(recording.episodes, theirs.episodes)):
            side_by_side(ours.video, their.video, out / f"versus-{i:03d}.mp4", fps)
    lived = time.perf_counter()
    dataset = to_minari(recording, f"recording-v{n}")
    done = time.perf_counter()

    print_table([dict(episode=i, seed=e.seed, steps=len(e), ended_by=e.cause, reward=float(np.sum(e.rewards)),
                      drive_mean=float(np.mean(e.infos()["drive"])), frames=e.frames,
                      mp4_kib=round(e.video.stat().st_size / 1024)) for i, e in enumerate(recording.episodes)],
                title=f"{run.world}: {recording.config_name}, checkpoint at step {run.record.steps}")
    steps = sum(len(e) for e in recording.episodes)
    print(f"\nload {loaded - start:.1f}s; live, render and plot {steps} steps {lived - loaded:.1f}s "
          f"({steps / (lived - loaded):.0f} steps/s; {recording.steps_per_s:.0f} steps/s and "
          f"{recording.frames_per_s:.0f} frames/s once compiled); dataset {done - lived:.1f}s")
    print(f"videos and plots in {out}/")
    print(f"Minari dataset {dataset.spec.dataset_id} ({dataset.total_episodes} episodes, {dataset.total_steps} steps) "
          f"in {dataset_root}/: MINARI_DATASETS_PATH={dataset_root} then minari.load_dataset('recording-v{n}')")


if __name__ == "__main__":
    main(tyro.cli(Args))
