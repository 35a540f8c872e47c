"""Recording speed: env steps/s and frames/s of `agents.recording.live_episodes`, the new way beside the old.

new: the defaults of scripts/record.py (copies of agent 0 living the episodes side by side in one vmapped
step, 240 px scenes without shadows, reflections or multisampling, overlaid);
old: as scripts/record.py recorded before (one episode after another, 480 px scenes with MuJoCo's shadows,
reflections and multisampling), overlaid too (the overlay costs well under a millisecond a frame).
Both record a newborn default agent on mortal/Forager-v0 with the same seeds and caps; the rates are
timed once the step is compiled.
"""

import tempfile
from pathlib import Path

import jax

from agents.config import default_config
from agents.loop import Run
from agents.recording import SCENE_SIZE, live_episodes
from suites._report import print_table

FORAGER = "mortal/Forager-v0"


def bench(episodes: int = 2, steps: int = 1_000, frame_every: int = 10, seed: int = 0) -> dict:
    """Recording `episodes` episodes of `steps` steps, a frame every `frame_every` steps, the new way and the old."""
    if not jax.config.jax_compilation_cache_dir:  # each recording compiles the step for its own population
        jax.config.update("jax_compilation_cache_dir", "runs/.jax_cache")
    run = Run.start(default_config(FORAGER), FORAGER, population=1, seed=seed)
    settings = dict(max_steps=steps, frame_every=frame_every, progress=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        new = [live_episodes(run, episodes, Path(folder) / "new", seed=seed, **settings)]
        old = [live_episodes(run, 1, Path(folder) / f"old-{i}", seed=seed + i, size=480, shadows=True, **settings)
               for i in range(episodes)]
        for way, recordings, size in (("new", new, SCENE_SIZE), ("old", old, 480)):
            seconds = sum(r.seconds for r in recordings)
            rows.append(dict(way=way, scene_px=size, episodes=episodes, steps=sum(r.steps_timed for r in recordings),
                             frames=sum(r.frames_timed for r in recordings), seconds=seconds,
                             steps_per_s=sum(r.steps_timed for r in recordings) / seconds,
                             frames_per_s=sum(r.frames_timed for r in recordings) / seconds))
    print_table(rows, f"{FORAGER}, default agent: recording {episodes} episodes of {steps} steps, a frame every "
                      f"{frame_every} (timed once compiled)")
    new_row, old_row = rows
    return {"record_steps_per_s": new_row["steps_per_s"], "frames_per_s": new_row["frames_per_s"],
            "old_record_steps_per_s": old_row["steps_per_s"], "old_frames_per_s": old_row["frames_per_s"],
            "speedup": new_row["steps_per_s"] / old_row["steps_per_s"]}
