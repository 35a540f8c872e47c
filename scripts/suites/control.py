"""Classic control: the default brain against tuned stable-baselines3 on the same seeds and budgets.

evaluate (long: hours on 2 CPU cores for the full protocol): on each task, `seeds` agents learn side by side,
each from its own seed (worlds seeded 0, 1, ...), one continuous life after another. Every `eval_every` of
each agent's own env steps, a frozen copy of every brain (`learn=False`) lives `eval_episodes` test episodes;
`final_episodes` at the budget. Beside it, in the same run and on the same seeds and budgets: PPO and DQN
(SAC on Pendulum) with rl-baselines3-zoo's tuned hyperparameters, tested the same way with deterministic
actions (`scripts/baselines_control.py`). Test episodes do not count in the budgets.

Per task: the mean test return at the budget with its 95% t-interval over seeds, and the first evaluation
step at which the seeds' mean test return reached the target (null if never).

bench: agent steps/s of the model-based brain (its default candidates and horizon) at population 1 and 64 on
CartPole-v1 and Pendulum-v1, beside PPO's training steps/s on the same task, in one run.
"""

import concurrent.futures
import multiprocessing
import time

import jax
import numpy as np
from scipy import stats
from tqdm import tqdm

from agents.config import default_config
from agents.loop import Run, make_vector_env, observation
from suites._report import print_table, progress

TARGETS = {  # task: (threshold, budget): the budgets at which tuned DQN, PPO or SAC reach these returns
    "CartPole-v1": (475.0, 50_000),
    "Acrobot-v1": (-80.0, 100_000),
    "MountainCar-v0": (-110.0, 120_000),
    "Pendulum-v1": (-200.0, 50_000),
}


def mortal(task: str, seeds: int, budget: int, eval_every: int, eval_episodes: int, final_episodes: int,
           test_seed: int) -> dict:
    """The default brain on `task`: its test curve per seed and its final test returns."""
    run = Run.start(default_config(task), task, population=seeds, seed=0)
    curve, start = [], time.perf_counter()
    for step in progress(range(eval_every, budget + 1, eval_every), desc=f"mortal {task}", unit="test"):
        run.train(eval_every)
        episodes = final_episodes if step == budget else eval_episodes
        returns = frozen_returns(run, task, episodes, test_seed)
        curve.append((step, returns.mean(1).tolist()))
        tqdm.write(f"  mortal {task}: {step:,} steps, test return per seed {np.round(returns.mean(1), 1).tolist()} "
                   f"({time.perf_counter() - start:.0f}s)")
    if budget % eval_every:
        run.train(budget % eval_every)
        returns = frozen_returns(run, task, final_episodes, test_seed)
        curve.append((budget, returns.mean(1).tolist()))
    return dict(curve=curve, final=np.asarray(curve[-1][1]), seconds=time.perf_counter() - start)


def frozen_returns(run: Run, task: str, episodes: int, seed: int) -> np.ndarray:
    """The task returns of `episodes` test episodes of each of the run's brains, frozen (`Run.exam`) in new
    worlds seeded seed, seed + 1, ...: [brains, episodes]."""
    worlds = make_vector_env(task, run.envs.num_envs * episodes, seed)
    try:
        lives = run.exam(worlds, seed)
    finally:
        worlds.close()
    return np.reshape([life["task_return"] for life in lives], (-1, episodes))


def interval(values) -> list[float]:
    """95% t-interval of the mean over seeds."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return [float(values.mean())] * 2
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return [float(values.mean() - half), float(values.mean() + half)]


def first_reaching(curve, threshold: float):
    """The first evaluation step whose mean test return over seeds reached `threshold`, or None."""
    return next((step for step, returns in curve if np.mean(returns) >= threshold), None)


def evaluate(
    tasks: tuple[str, ...] = tuple(TARGETS),
    seeds: int = 5,
    eval_every: int = 5_000,
    eval_episodes: int = 20,
    final_episodes: int = 100,
    baselines: bool = True,
    budget_fraction: float = 1.0,
    test_seed: int = 10_000,
) -> dict:
    """Long (hours on 2 CPU cores): the default brain and tuned sb3 baselines on classic control (module docstring).
    `budget_fraction` < 1 shortens every budget (a quicker, labelled run)."""
    print(f"classic control: {seeds} seeds per task, test episodes every {eval_every:,} steps "
          f"({eval_episodes}; {final_episodes} at the budget); long", flush=True)
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) if baselines else None
    jobs = {}
    for task in tasks:
        budget = int(TARGETS[task][1] * budget_fraction)
        if pool is not None:
            from baselines_control import ALGORITHMS, train_and_test

            for algo in ALGORITHMS[task]:
                for seed in range(seeds):
                    jobs[task, algo, seed] = pool.submit(train_and_test, algo, task, seed, budget, eval_every,
                                                         eval_episodes, final_episodes, test_seed)
    figures, rows = {}, []
    for task in tasks:
        threshold, full_budget = TARGETS[task]
        budget = int(full_budget * budget_fraction)
        result = mortal(task, seeds, budget, eval_every, eval_episodes, final_episodes, test_seed)
        entry = dict(mortal_return=float(result["final"].mean()), mortal_ci95=interval(result["final"]),
                     mortal_steps_to_threshold=first_reaching(result["curve"], threshold))
        rows.append(dict(task=task, brain="mortal (model-based, PC world model)", budget=budget,
                         test_return=entry["mortal_return"], ci95=entry["mortal_ci95"],
                         steps_to_threshold=entry["mortal_steps_to_threshold"], seconds=result["seconds"]))
        if pool is not None:
            for algo in ALGORITHMS[task]:
                runs = [jobs[task, algo, seed].result() for seed in range(seeds)]
                final = np.array([r["final_mean"] for r in runs])
                curve = [(step, [r["curve"][i][1] for r in runs]) for i, (step, _) in enumerate(runs[0]["curve"])]
                entry[f"{algo}_return"] = float(final.mean())
                rows.append(dict(task=task, brain=f"sb3 {algo.upper()} (zoo hyperparameters)", budget=budget,
                                 test_return=float(final.mean()), ci95=interval(final),
                                 steps_to_threshold=first_reaching(curve, threshold),
                                 seconds=float(sum(r["seconds"] for r in runs))))
        figures[task] = entry
        print_table(rows[-3:], f"{task}: target {threshold} at {full_budget:,} steps")
    if pool is not None:
        pool.shutdown()
    print_table(rows, "classic control: mean test return at the budget over seeds, deterministic/frozen")
    return figures


def bench(repeats: int = 50, ppo_steps: int = 5_000, seed: int = 0) -> dict:
    """Brain agent-steps/s at population 1 and 64 beside sb3 PPO's training steps/s, on CartPole and Pendulum."""
    from baselines_control import train_and_test

    figures, rows = {}, []
    for task in progress(("CartPole-v1", "Pendulum-v1"), desc="timing", unit="task"):
        entry = {}
        for population in (1, 64):
            run = Run.start(default_config(task), task, population, seed)
            worlds = make_vector_env(task, population, seed)
            obs, _ = worlds.reset(seed=seed)
            fixed = observation(obs, np.zeros(population), {}, np.zeros(population, bool), np.zeros(population, bool))
            key = jax.random.key(seed)
            jax.block_until_ready(run.population.step(fixed, key))
            start = time.perf_counter()
            for _ in range(repeats):
                out = run.population.step(fixed, key)
            jax.block_until_ready(out)
            entry[f"brain_steps_per_s_p{population}"] = repeats * population / (time.perf_counter() - start)
            worlds.close()
        ppo = train_and_test("ppo", task, seed, ppo_steps, eval_every=10 * ppo_steps, eval_episodes=1, final_episodes=1)
        entry["ppo_steps_per_s"] = ppo["train_steps_per_s"]
        figures[task] = entry
        rows.append(dict(task=task, **entry))
    print_table(rows, "agent-steps per second: the model-based brain (128 candidates, the task's horizon, 4 members) "
                      "vs sb3 PPO training")
    return figures
