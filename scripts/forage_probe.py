"""Probe: one life per seed of the model-based brain on raw wheels in a mortal world; items eaten every 2,000 steps.

    python scripts/forage_probe.py --seed 0                                   # defaults, hard bins
    python scripts/forage_probe.py --seed 0 --tuning 1.0                      # tuned bins
    python scripts/forage_probe.py --seed 0 --tuning 1.0 --softmax --planner.goal-weight 100 --planner.forecast-steps 500

Prints, every 2,000 steps, the items eaten so far (a jump of an internal variable above 0.03 in one step), the mean
drive over those 2,000 steps and the lengths of the lives that ended. README "Toward the Forager on raw wheels"
gives what it measured.
"""

import dataclasses
import time

import numpy as np
import tyro

from agents.config import AgentConfig, IdentityConfig, ModelBasedConfig, SoftmaxConfig
from agents.loop import Run


@dataclasses.dataclass
class Args:
    world: str = "mortal/FoodOnly-v0"
    steps: int = 12_000
    seed: int = 0
    tuning: float = 0.0
    """the world's bin tuning width (0: hard bins)"""
    softmax: bool = False
    """a softmax gate (temperature 1) instead of the basal ganglia"""
    planner: ModelBasedConfig = dataclasses.field(default_factory=ModelBasedConfig)


def main(args: Args) -> None:
    gate = {"gate": SoftmaxConfig(temperature=1.0)} if args.softmax else {}
    config = AgentConfig(perception=IdentityConfig(), planner=args.planner, motor="raw", **gate)
    run = Run.start(config, args.world, population=1, seed=args.seed, tuning=args.tuning)
    last, eaten, drive = None, 0, []

    def on_step(t, info, record, obs):
        nonlocal last, eaten
        h = np.asarray(obs.intero)[0]
        if last is not None and not obs.terminated[0]:
            eaten += int(np.sum(h - last > 0.03))
        last = h
        drive.append(float(np.asarray(info["drive"])[0]))

    start, chunk = time.time(), 2000
    for done in range(chunk, args.steps + 1, chunk):
        run.train(chunk, on_step=on_step)
        lives = [life["survival_steps"] for life in run.record.lives]
        print(f"{done:>7} eaten {eaten:>4}  drive {np.mean(drive[-chunk:]):.3f}  lives {lives}  "
              f"{time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args))
