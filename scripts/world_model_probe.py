"""Probe: how much of a mortal world's change the PC world model learns, by its inputs and by the order in which
it sees the transitions, beside least squares on the same inputs.

    python scripts/world_model_probe.py                                  # mortal/FoodOnly-v0, tuned bins
    python scripts/world_model_probe.py --world mortal/Forager-v0 --tuning 0

One body's wheels follow a random walk (`forage_probe.wheel_walk`, correlation 0.95 per step) for `steps` steps.
The model state is what the agent's would be with identity perception, s = [extero, intero] normalised by its
mean and spread, and the target is its change in units of each variable's spread of change, as the agent's world
model learns it. `PCWorldModel` (one member, (64, 64)) takes `updates`
local PC steps of 16 transitions each, in one of three orders:

    shuffled          16 drawn uniformly from the training steps
    recent            the 16 consecutive steps ending at the update's step (the agent's recent trace)
    recent + replay   those and 16 drawn uniformly from the steps before it (a replay of the past)

with plain inputs [s, a] and with pairwise ones (`pairwise=True`: every product of two inputs too). Prints R^2
on the last fifth of the steps (held out) for the change of the item bins, the velocities and the internal
variables. Least squares on [s, a], on [s, a, s_i a_j] and on [s, a, every product] (a labelled baseline, not a
brain) says what a linear read-out of each input set can predict at best. README "Before the need values: the
model-based brain on raw wheels" gives what it measured.
"""

import dataclasses
import itertools
import time

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs  # noqa: F401  (registers the worlds)
from brain.world_model import PCWorldModel, Transition
from forage_probe import wheel_walk


@dataclasses.dataclass
class Args:
    world: str = "mortal/FoodOnly-v0"
    tuning: float = 1.0
    """the world's bin tuning width (0: hard bins)"""
    steps: int = 40_000
    updates: int = 12_000
    seed: int = 0


def random_walk_transitions(args: Args) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """States, actions and next states of one body under a random walk of its wheels (no step across a life's
    end), and how many item bins lead extero."""
    env = gym.make(args.world, tuning=args.tuning)
    obs, _ = env.reset(seed=args.seed)
    wheels = wheel_walk(np.random.default_rng(args.seed), 0.95, env.action_space.shape)
    states, actions, following = [], [], []
    for action in itertools.islice(wheels, args.steps):
        state = np.concatenate([obs["extero"], obs["intero"]])
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
            continue
        states.append(state), actions.append(action), following.append(np.concatenate([obs["extero"], obs["intero"]]))
    world = env.unwrapped
    return (*(np.asarray(x, np.float32) for x in (states, actions, following)),
            len(world.resources) * world.num_bins)


def r_squared(predicted, target) -> np.ndarray:
    return 1.0 - np.mean((predicted - target) ** 2, 0) / np.var(target, 0)


def products(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x[:, :, None] * y[:, None, :]).reshape(len(x), -1)


def main(args: Args) -> None:
    states, actions, following, item_bins = random_walk_transitions(args)
    mean, spread = states.mean(0), states.std(0) + 1e-3
    s, s_next = (states - mean) / spread, (following - mean) / spread
    change = s_next - s
    change = change / (change.std(0) + 1e-6)
    n, train = len(s), int(0.8 * len(s))
    groups = {"item bins": slice(0, item_bins), "velocities": slice(item_bins, item_bins + 3),
              "internal": slice(item_bins + 3, None)}

    def show(name: str, r2: np.ndarray) -> None:
        print(f"{name:34} " + "  ".join(f"{group} {np.mean(r2[part]):6.3f}" for group, part in groups.items()),
              flush=True)

    print(f"{args.world}, tuning {args.tuning}: {n} steps ({train} to learn from), R^2 of the change on the rest")
    x = np.hstack([s, actions])
    read_outs = {"least squares, [s, a]": x, "least squares, [s, a, s_i a_j]": np.hstack([x, products(s, actions)]),
                 "least squares, every product": np.hstack([x, products(x, x)])}
    for name, inputs in read_outs.items():
        inputs = np.hstack([inputs, np.ones((n, 1), np.float32)])
        weights = np.linalg.lstsq(inputs[:train], change[:train], rcond=None)[0]
        show(name, r_squared(inputs[train:] @ weights, change[train:]))

    s, actions, change = jnp.asarray(s), jnp.asarray(actions), jnp.asarray(change)
    rows = {
        "shuffled": lambda rng, t: rng.integers(0, train, 16),
        "recent": lambda rng, t: np.arange(t % (train - 16), t % (train - 16) + 16),
        "recent + replay": lambda rng, t: np.concatenate([np.arange(t % (train - 16), t % (train - 16) + 16),
                                                          rng.integers(0, max(16, t % (train - 16)), 16)]),
    }
    zeros = jnp.zeros(n)
    data = Transition(s, actions, change, zeros, zeros, zeros)
    for pairwise in (False, True):
        for order, draw in rows.items():
            model = PCWorldModel(s.shape[1], actions.shape[1], (64, 64), members=1, pairwise=pairwise,
                                 key=jax.random.key(args.seed))
            learn = jax.jit(lambda m, r, k: m.learn(jax.tree.map(lambda x: x[r], data), key=k))
            rng, key, start = np.random.default_rng(args.seed + 1), jax.random.key(args.seed + 1), time.time()
            for t in range(args.updates):
                key, k = jax.random.split(key)
                model = learn(model, jnp.asarray(draw(rng, t)), k)
            predicted = jax.jit(jax.vmap(lambda a, b: model.predict(a, b).delta))(s[train:], actions[train:])
            show(f"PC, {'pairwise' if pairwise else 'plain'} inputs, {order}",
                 r_squared(np.asarray(predicted), np.asarray(change[train:])))


if __name__ == "__main__":
    main(tyro.cli(Args))
