"""Probe: the model-based brain on raw wheels in a mortal world, one life per body; items eaten every 2,000 steps.

    python scripts/forage_probe.py --seed 0                                   # defaults, hard bins
    python scripts/forage_probe.py --seed 0 --tuning 1.0                      # tuned bins
    python scripts/forage_probe.py --seed 0 --tuning 1.0 --softmax --planner.goal-weight 100 --planner.forecast-steps 500
    python scripts/forage_probe.py --population 8 --tuning 1.0 --softmax --planner.goal-weight 100 \
        --planner.forecast-steps 500 --planner.actor-rate 0.01                # 8 bodies, with the policy prior

Prints, every 2,000 steps, the items each body has eaten so far (a jump of an internal variable above 0.03 in one
step), the mean drive over those 2,000 steps, the metres a body travelled in them (mean over the bodies), the share
of them with an item in sensing range, and the body, length and cause of each life that ended. Single lives are
chaotic (README): compare brains on a population (`--population 8`), not on one seed. README "Toward the Forager
on raw wheels" gives what it measured.
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
    population: int = 1
    """bodies living side by side, each with its own brain and world (seeded from `seed`)"""
    tuning: float = 0.0
    """the world's bin tuning width (0: hard bins)"""
    softmax: bool = False
    """a softmax gate (temperature 1) instead of the basal ganglia"""
    planner: ModelBasedConfig = dataclasses.field(default_factory=ModelBasedConfig)


def main(args: Args) -> None:
    gate = {"gate": SoftmaxConfig(temperature=1.0)} if args.softmax else {}
    config = AgentConfig(perception=IdentityConfig(), planner=args.planner, motor="raw", **gate)
    run = Run.start(config, args.world, population=args.population, seed=args.seed, tuning=args.tuning)
    worlds = [env.unwrapped for env in run.envs.envs]
    item_bins = len(worlds[0].resources) * worlds[0].num_bins  # extero begins with the items' bins
    n = args.population
    last, ended, eaten, drive, xy, in_view = None, np.zeros(n, bool), np.zeros(n, int), [], [], []

    def on_step(t, info, record, obs):
        nonlocal last, ended
        h = np.asarray(obs.intero)
        if last is not None:  # not across a life's end: the next life starts from its own levels
            eaten[:] += np.sum(h - last > 0.03, axis=1) * ~ended
        last, ended = h, np.asarray(obs.terminated) | np.asarray(obs.truncated)
        drive.append(np.asarray(info["drive"]))
        xy.append(np.array([world.data.qpos[:2] for world in worlds]))
        in_view.append(np.asarray(obs.extero)[:, :item_bins].max(axis=1) > 0)

    start, chunk = time.time(), 2000
    for done in range(chunk, args.steps + 1, chunk):
        run.train(chunk, on_step=on_step)
        lives = [(int(life["env"]), life["survival_steps"], life["cause_of_death"]) for life in run.record.lives]
        step = np.linalg.norm(np.diff(np.array(xy[-chunk:]), axis=0), axis=2)
        path = np.where(step < 1.0, step, 0.0).sum(axis=0)  # a jump of a metre in one step is a new life, not travel
        print(f"{done:>7} eaten {eaten.tolist()} (mean {eaten.mean():.1f})  drive {np.mean(drive[-chunk:]):.3f}  "
              f"path {path.mean():5.1f} m  in view {np.mean(in_view[-chunk:]):.2f}  lives {lives}  "
              f"{time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args))
