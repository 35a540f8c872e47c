"""The floor every agent must beat: a uniformly random policy on each mortal world."""

import gymnasium as gym
import numpy as np

import envs
from suites._report import print_table, progress


def random_life(world: str, seed: int, max_steps: int) -> tuple[int, float]:
    """Steps survived and mean drive of one life under uniformly random actions."""
    env = gym.make(world, max_episode_steps=max_steps)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    drives = []
    while True:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        drives.append(info["drive"])
        if terminated or truncated:
            break
    env.close()
    return len(drives), float(np.mean(drives))


def evaluate(seeds: int = 10, max_steps: int = envs.MAX_EPISODE_STEPS) -> dict:
    """Random actions on every mortal world, `seeds` lives each of at most `max_steps` steps."""
    figures, rows = {}, []
    for world in envs.WORLDS:
        lives = np.array([random_life(world, seed, max_steps)
                          for seed in progress(range(seeds), desc=world, unit="life", leave=False)])
        survival, drive = lives.mean(axis=0)
        figures[world] = {"survival_steps_mean": float(survival), "drive_mean": float(drive)}
        rows.append(dict(world=world, seeds=seeds, survival_steps_mean=survival,
                         survival_steps_min=int(lives[:, 0].min()), drive_mean=drive))
    print_table(rows, f"Random policy, uniform actions, lives capped at {max_steps} steps")
    return figures
