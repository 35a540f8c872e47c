"""Probe: the model-based brain on raw wheels in a mortal world, one life per body; items eaten every 2,000 steps.

    python scripts/forage_probe.py --seed 0                                   # defaults, hard bins
    python scripts/forage_probe.py --seed 0 --tuning 1.0                      # tuned bins
    python scripts/forage_probe.py --seed 0 --tuning 1.0 --softmax --planner.goal-weight 100 --planner.forecast-steps 500
    python scripts/forage_probe.py --population 8 --tuning 1.0 --softmax --planner.goal-weight 100 \
        --planner.forecast-steps 500 --planner.actor-rate 0.01                # 8 bodies, with the policy prior

Prints, every 2,000 steps, the items each body has eaten so far (a jump of an internal variable above 0.03 in one
step), the mean drive over those 2,000 steps, the metres a body travelled in them (mean over the bodies), the world
model's error on the steps lived (`model_error`: squared, in units of each variable's spread of change), the share
of them with an item in sensing range, and the body, length and cause of each life that ended. Single lives are
chaotic (README): compare brains on a population (`--population 8`), not on one seed. README "Toward the Forager
on raw wheels" gives what it measured.
"""

import dataclasses
import time

import numpy as np
import tyro

from agents.config import AgentConfig, IdentityConfig, ModelBasedConfig, SoftmaxConfig
from agents.loop import Run, make_vector_env
from homeostasis.drive import drive


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
    random_walk: float | None = None
    """no brain: the wheels follow a random walk, an AR(1) process of this correlation per step (std 0.5), in the
    same worlds (the baseline a brain must beat)"""
    planner: ModelBasedConfig = dataclasses.field(default_factory=ModelBasedConfig)


class Tally:
    """What the probe prints, gathered step by step over a population of bodies."""

    def __init__(self, worlds: list, chunk: int):
        self.worlds, self.chunk, n = worlds, chunk, len(worlds)
        self.item_bins = len(worlds[0].resources) * worlds[0].num_bins  # extero begins with the items' bins
        self.last, self.ended, self.eaten = None, np.zeros(n, bool), np.zeros(n, int)
        self.drive, self.xy, self.in_view, self.error, self.start = [], [], [], [], time.time()

    def add(self, intero, extero, terminated, truncated, drive, model_error=None) -> None:
        h = np.asarray(intero)
        if self.last is not None:  # not across a life's end: the next life starts from its own levels
            self.eaten[:] += np.sum(h - self.last > 0.03, axis=1) * ~self.ended
        self.last, self.ended = h, np.asarray(terminated) | np.asarray(truncated)
        self.drive.append(np.asarray(drive))
        if model_error is not None:
            self.error.append(np.asarray(model_error))
        self.xy.append(np.array([world.data.qpos[:2] for world in self.worlds]))
        self.in_view.append(np.asarray(extero)[:, : self.item_bins].max(axis=1) > 0)

    def report(self, done: int, lives: list) -> None:
        chunk, eaten = self.chunk, self.eaten
        step = np.linalg.norm(np.diff(np.array(self.xy[-chunk:]), axis=0), axis=2)
        path = np.where(step < 1.0, step, 0.0).sum(axis=0)  # a jump of a metre in one step is a new life, not travel
        error = f"model error {np.mean(self.error[-chunk:]):.2f}  " if self.error else ""
        print(f"{done:>7} eaten {eaten.tolist()} (mean {eaten.mean():.1f})  drive {np.mean(self.drive[-chunk:]):.3f}  "
              f"path {path.mean():5.1f} m  {error}in view {np.mean(self.in_view[-chunk:]):.2f}  lives {lives}  "
              f"{time.time() - self.start:.0f}s", flush=True)


def random_walk(args: Args, chunk: int) -> None:
    """The worlds of `main`, each body's wheels driven by an AR(1) random walk instead of a brain."""
    worlds = make_vector_env(args.world, args.population, args.seed, tuning=args.tuning)
    bodies = [env.unwrapped for env in worlds.envs]
    physiology, tally = bodies[0].physiology, Tally(bodies, chunk)
    rng, rho = np.random.default_rng(args.seed), args.random_walk
    action, lives, born = np.zeros(worlds.action_space.shape), [], np.zeros(args.population, int)
    for t in range(1, args.steps + 1):
        action = rho * action + np.sqrt(1 - rho**2) * 0.5 * rng.normal(size=action.shape)
        obs, _, terminated, truncated, info = worlds.step(np.clip(action, -1, 1).astype(np.float32))
        tally.add(obs["intero"], obs["extero"], terminated, truncated,
                  drive(obs["intero"], physiology.set_point, physiology.scale))
        for i in np.flatnonzero(terminated | truncated):
            lives.append((int(i), int(t - born[i]), str(info["cause_of_death"][i])))
            born[i] = t
        if t % chunk == 0:
            tally.report(t, lives)


def main(args: Args) -> None:
    chunk = 2000
    if args.random_walk is not None:
        return random_walk(args, chunk)
    gate = {"gate": SoftmaxConfig(temperature=1.0)} if args.softmax else {}
    config = AgentConfig(perception=IdentityConfig(), planner=args.planner, motor="raw", **gate)
    run = Run.start(config, args.world, population=args.population, seed=args.seed, tuning=args.tuning)
    tally = Tally([env.unwrapped for env in run.envs.envs], chunk)

    def on_step(t, info, record, obs):
        tally.add(obs.intero, obs.extero, obs.terminated, obs.truncated, info["drive"], info["model_error"])

    for done in range(chunk, args.steps + 1, chunk):
        run.train(chunk, on_step=on_step)
        tally.report(done, [(int(life["env"]), life["survival_steps"], life["cause_of_death"])
                            for life in run.record.lives])


if __name__ == "__main__":
    main(tyro.cli(Args))
