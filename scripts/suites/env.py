"""World speed: env steps per second of mortal/Forager-v0 beside Gymnasium's Ant-v5, in one run."""

import time

import gymnasium as gym

import envs  # noqa: F401  (registers the mortal worlds)
from suites._report import print_table, progress


def steps_per_second(world: str, steps: int) -> float:
    """Random-action steps per second, resetting on termination, after a short warm-up."""
    env = gym.make(world)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    for action in actions[:100]:
        env.step(action)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def bench(steps: int = 20_000, repeats: int = 3) -> dict:
    """Median over `repeats` of `steps` random steps, the two worlds interleaved."""
    runs = {"mortal/Forager-v0": [], "Ant-v5": []}
    for _ in progress(range(repeats), desc="env steps", unit="round"):
        for world in runs:
            runs[world].append(steps_per_second(world, steps))
    median = {world: sorted(r)[len(r) // 2] for world, r in runs.items()}
    print_table([dict(world=w, steps_per_s=s) for w, s in median.items()],
                f"Env steps per second (random actions, median of {repeats} x {steps} steps)")
    return {"forager_steps_per_s": median["mortal/Forager-v0"], "ant_v5_steps_per_s": median["Ant-v5"]}
