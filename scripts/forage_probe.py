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
chaotic (README): compare brains on a population (`--population 8`), not on one seed. README "Before the need
values: the model-based brain on raw wheels" gives what it measured.
"""

import dataclasses
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from agents.config import AgentConfig, IdentityConfig, ModelBasedConfig, SoftmaxConfig
from agents.agent import Observation
from agents.loop import Run, make_env, make_vector_env
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
    terms: bool = False
    """at the end, each body's expected utility of holding each of 25 wheel commands over the planner's horizon,
    term by term (what the planner's scores favour, and why), and how much of a random walk's change of the item
    bins its world model predicts"""
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


def utility_terms(run: Run, body: int) -> None:
    """Prints what holding each wheel command over the horizon is worth to `body`'s brain now, by the terms of the
    planner's utility (`ModelAgent.UTILITY_TERMS`, then `TERMINAL_TERMS`), best first, after the body's internal
    variables, needs and largest item bin now."""
    agent, state = run.population.agent, jax.tree.map(lambda x: x[body], run.population.states)
    brain, s, intero = state.brain, state.previous_state, jnp.asarray(run.current.intero[body])
    need = None if brain.goals is None else agent.need(intero)
    names = (*agent.UTILITY_TERMS, *agent.TERMINAL_TERMS)
    utility, ending = len(agent.UTILITY_TERMS), len(agent.TERMINAL_TERMS)
    grid = (-1.0, -0.5, 0.0, 0.5, 1.0)
    commands = jnp.array([(left, right) for left in grid for right in grid])
    sequences = jnp.repeat(commands[:, None], agent.planner.horizon, axis=1)

    def step(x, action):
        x, terms, p_continue = agent.utility_terms(brain, x, action, need)
        return x, jnp.concatenate([jnp.stack(terms), jnp.zeros(ending)]), p_continue

    def terminal(x):
        return jnp.concatenate([jnp.zeros(utility), jnp.stack(agent.terminal_terms(brain, x))])

    terms = np.asarray(jax.jit(lambda: agent.planner.evaluate(sequences, s, step, terminal))())
    bins = agent.latent_size - 3  # identity perception on a forager: the item bins, then the body's velocity
    needs = None if need is None else np.round(np.asarray(need), 2)
    print(f"body {body}: internal {np.round(np.asarray(intero), 2)}, need {needs}, "
          f"largest item bin {float(s[:bins].max()):.2f} (bin {int(s[:bins].argmax())}, normalised)")
    print("  wheels       " + " ".join(f"{name:>12}" for name in names) + "        total")
    for i in np.argsort(-terms.sum(1)):
        row = " ".join(f"{x:12.3f}" for x in terms[i])
        print(f"  {np.asarray(commands[i])!s:12} {row} {terms[i].sum():12.3f}")


def wheel_walk(rng: np.random.Generator, rho: float, shape: tuple[int, ...]):
    """Wheel commands that follow a random walk: an AR(1) process of correlation `rho` per step and std 0.5,
    a_t = rho a_{t-1} + sqrt(1 - rho^2) 0.5 xi_t, clipped to [-1, 1] (yields one command per step)."""
    action = np.zeros(shape)
    while True:
        action = rho * action + np.sqrt(1 - rho**2) * 0.5 * rng.normal(size=shape)
        yield np.clip(action, -1, 1).astype(np.float32)


def random_walk(args: Args, chunk: int) -> None:
    """The worlds of `main`, each body's wheels driven by a random walk (`wheel_walk`) instead of a brain."""
    worlds = make_vector_env(args.world, args.population, args.seed, tuning=args.tuning)
    bodies = [env.unwrapped for env in worlds.envs]
    physiology, tally = bodies[0].physiology, Tally(bodies, chunk)
    wheels = wheel_walk(np.random.default_rng(args.seed), args.random_walk, worlds.action_space.shape)
    lives, born = [], np.zeros(args.population, int)
    for t in range(1, args.steps + 1):
        obs, _, terminated, truncated, info = worlds.step(next(wheels))
        tally.add(obs["intero"], obs["extero"], terminated, truncated,
                  drive(obs["intero"], physiology.set_point, physiology.scale))
        for i in np.flatnonzero(terminated | truncated):
            lives.append((int(i), int(t - born[i]), str(info["cause_of_death"][i])))
            born[i] = t
        if t % chunk == 0:
            tally.report(t, lives)


def model_fit(run: Run, body: int, steps: int = 2000) -> None:
    """Prints how much of the change of the item bins `body`'s world model predicts (R^2, in its own units) on
    `steps` fresh steps of a random walk (`wheel_walk`, correlation 0.95) in a new world of the same kind."""
    agent, state = run.population.agent, jax.tree.map(lambda x: x[body], run.population.states)
    brain = state.brain
    env = make_env(run.world, run.body, **run.settings)
    obs, _ = env.reset(seed=run.seed + 1000 + body)
    perceive = jax.jit(lambda o: agent.perceive(brain, brain.perception.init_state(), o, key=jax.random.key(0),
                                                learn=False)[1].state)

    def as_observation(o):
        return Observation(jnp.asarray(o["extero"]), jnp.asarray(o["intero"]), 0.0, False, False)

    states, actions, following = [], [], []
    for action in itertools.islice(wheel_walk(np.random.default_rng(body), 0.95, env.action_space.shape), steps):
        s = perceive(as_observation(obs))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
            continue
        states.append(s), actions.append(action), following.append(perceive(as_observation(obs)))
    s, a, s_next = (jnp.stack(x) for x in (states, actions, following))
    change = (s_next - s) / brain.delta_statistics.std
    predicted = jax.jit(jax.vmap(lambda x, y: brain.world_model.predict(x, y).delta))(s, a)
    bins = agent.latent_size - 3  # identity perception on a forager: the item bins, then the body's velocity
    r2 = 1 - jnp.mean((predicted - change) ** 2, 0) / jnp.var(change, 0)
    print(f"body {body}: the world model's R^2 on a random walk's steps: item bins {float(jnp.mean(r2[:bins])):.3f}, "
          f"velocity {float(jnp.mean(r2[bins:agent.latent_size])):.3f}")


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
    for body in range(args.population) if args.terms else ():
        utility_terms(run, body)
        model_fit(run, body)


if __name__ == "__main__":
    main(tyro.cli(Args))
