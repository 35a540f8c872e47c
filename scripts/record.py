"""Record a trained agent: an MP4 per episode, a Minari dataset and plots, written into its run folder.

    python scripts/record.py --checkpoint runs/<name>/checkpoint.ckpt --episodes 3
    python scripts/record.py --checkpoint runs/<name>/checkpoint.ckpt --episodes 2 --max-steps 2000

The first agent of the checkpoint's population (agent 0) lives each episode as a fresh life, episode i in
its world reset with seed `--seed + i`, rendered headless (MUJOCO_GL=egl). It keeps learning as it lives,
as it always does; the checkpoint is only read. Writes, for the n-th recording of a run:

    runs/<name>/recording-<n>/episode-<i>.mp4   a frame every --frame-every steps, at the world's render_fps
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

import numpy as np  # noqa: E402
import tyro  # noqa: E402

from agents import checkpoint  # noqa: E402
from agents.recording import live_episodes, plot_episode, to_minari  # noqa: E402
from suites._report import print_table  # noqa: E402


@dataclasses.dataclass
class Args:
    checkpoint: str
    """the run to record: runs/<name>/checkpoint.ckpt (outputs go beside it)"""
    episodes: int = 1
    """episodes (fresh lives) to record"""
    max_steps: int | None = None
    """cap on each episode's steps (default: the run's time limit, 60,000 on the mortal worlds)"""
    seed: int = 0
    """episode i resets its world with seed + i"""
    frame_every: int = 10
    """env steps per video frame (rendering costs ~300x a physics step); the video plays this many times
    faster than real time at the default fps"""
    fps: int | None = None
    """frames per second of the videos (default: the world's render_fps)"""
    dataset_root: str | None = None
    """where the Minari dataset goes (MINARI_DATASETS_PATH); default: <run folder>/minari"""


def next_recording(folder: Path, dataset_root: Path) -> int:
    """The first n with neither recording-<n>/ nor the dataset recording-v<n> taken."""
    return next(n for n in itertools.count()
                if not (folder / f"recording-{n}").exists() and not (dataset_root / f"recording-v{n}").exists())


def main(args: Args) -> None:
    folder = Path(args.checkpoint).parent
    dataset_root = Path(args.dataset_root) if args.dataset_root else folder / "minari"
    os.environ["MINARI_DATASETS_PATH"] = str(dataset_root.resolve())  # never the user's ~/.minari by default
    n = next_recording(folder, dataset_root)
    out = folder / f"recording-{n}"

    start = time.perf_counter()
    run = checkpoint.load(args.checkpoint)
    run.envs.close()  # its worlds are not needed: agent 0 lives in fresh rendering copies
    if run.envs.num_envs > 1:
        print(f"population of {run.envs.num_envs}: recording agent 0")
    loaded = time.perf_counter()
    recording = live_episodes(run, args.episodes, out, max_steps=args.max_steps, seed=args.seed,
                              frame_every=args.frame_every, fps=args.fps)
    lived = time.perf_counter()
    dataset = to_minari(recording, f"recording-v{n}")
    for i, episode in enumerate(recording.episodes):
        plot_episode(episode, recording.physiology, recording.channel_names, out / f"episode-{i:03d}.png",
                     title=f"{run.world}, agent 0, episode {i} (seed {episode.seed}): {len(episode)} steps, "
                           f"ended by {episode.cause}")
    done = time.perf_counter()

    print_table([dict(episode=i, seed=e.seed, steps=len(e), ended_by=e.cause, reward=float(np.sum(e.rewards)),
                      drive_mean=float(np.mean(e.infos()["drive"])), frames=e.frames,
                      mp4_kib=round(e.video.stat().st_size / 1024)) for i, e in enumerate(recording.episodes)],
                title=f"{run.world}: {recording.config_name}, checkpoint at step {run.record.steps}")
    steps = sum(len(e) for e in recording.episodes)
    print(f"\nload {loaded - start:.1f}s; live and render {steps} steps {lived - loaded:.1f}s "
          f"({steps / (lived - loaded):.0f} steps/s); dataset and plots {done - lived:.1f}s")
    print(f"videos and plots in {out}/")
    print(f"Minari dataset {dataset.spec.dataset_id} ({dataset.total_episodes} episodes, {dataset.total_steps} steps) "
          f"in {dataset_root}/: MINARI_DATASETS_PATH={dataset_root} then minari.load_dataset('recording-v{n}')")


if __name__ == "__main__":
    main(tyro.cli(Args))
