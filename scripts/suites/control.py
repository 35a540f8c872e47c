"""Classic control: the default brain against tuned stable-baselines3 on the same seeds and budgets.

evaluate (long: hours on 2 CPU cores for the full protocol): on each task, `seeds` agents learn side by side,
each from its own seed (worlds seeded 0, 1, ...), one continuous life after another. Every `eval_every` of
each agent's own env steps, a frozen copy of every brain (`learn=False`) lives `eval_episodes` test episodes;
`final_episodes` at the budget. Beside it, in the same run and on the same seeds and budgets: PPO and DQN
(SAC on Pendulum) with rl-baselines3-zoo's tuned hyperparameters, tested the same way with deterministic
actions (`scripts/baselines_control.py`). Test episodes do not count in the budgets.

Per task: the mean test return at the budget with its 95% t-interval over seeds, and the first evaluation
step at which the seeds' mean test return reached the target (null if never).

Each task's result (Mortal's and its baselines') is saved under `cache`, keyed by Mortal's code version, this
suite's and the baselines' source and the protocol; a rerun reuses the tasks already done (`--cache ''` runs
everything afresh). Within a task, Mortal's run is checkpointed there after every evaluation
(`agents.checkpoint`: resuming equals never stopping), so a stopped suite resumes where it was, losing at most
`eval_every` steps. Each baseline run's result is saved when it ends, keyed by the protocol and the baselines'
source only: a change to Mortal reruns Mortal, not PPO, DQN or SAC.

bench: agent steps/s of the model-based brain (its default candidates and horizon) at population 1 and 64 on
CartPole-v1 and Pendulum-v1, beside PPO's training steps/s on the same task, in one run.
"""

import concurrent.futures
import functools
import hashlib
import json
import multiprocessing
import time
from pathlib import Path

import jax
import numpy as np
from scipy import stats
from tqdm import tqdm

from agents.checkpoint import load_with_extra, save
from agents.config import default_config
from agents.loop import Run, make_vector_env, observation
from agents.sweep import code_version
from suites._report import print_table, progress

TARGETS = {  # task: (threshold, budget): the budgets at which tuned DQN, PPO or SAC reach these returns
    "CartPole-v1": (475.0, 50_000),
    "Acrobot-v1": (-80.0, 100_000),
    "MountainCar-v0": (-110.0, 120_000),
    "Pendulum-v1": (-200.0, 50_000),
}


def mortal(task: str, seeds: int, budget: int, eval_every: int, eval_episodes: int, final_episodes: int,
           test_seed: int, checkpoint: Path | None = None) -> dict:
    """The default brain on `task`: its test curve per seed and its final test returns. With `checkpoint`, the
    run is saved there after every evaluation, and resumed from it if it is there."""
    if checkpoint is not None and checkpoint.exists():
        run, saved = load_with_extra(checkpoint, expect=default_config(task))
        curve, spent = saved["curve"], saved["seconds"]
        tqdm.write(f"  mortal {task}: resuming after {curve[-1][0]:,} steps from {checkpoint}")
    else:
        run, curve, spent = Run.start(default_config(task), task, population=seeds, seed=0), [], 0.0
    tests = sorted({*range(eval_every, budget + 1, eval_every), budget})
    start = time.perf_counter() - spent
    for step in progress([step for step in tests if not curve or step > curve[-1][0]], desc=f"mortal {task}",
                         unit="test"):
        run.train(step - (curve[-1][0] if curve else 0))
        returns = frozen_returns(run, task, final_episodes if step == budget else eval_episodes, test_seed)
        curve.append((step, returns.mean(1).tolist()))
        tqdm.write(f"  mortal {task}: {step:,} steps, test return per seed {np.round(returns.mean(1), 1).tolist()} "
                   f"({time.perf_counter() - start:.0f}s)")
        if checkpoint is not None:
            save(run, checkpoint, keep=1, extra=dict(curve=curve, seconds=time.perf_counter() - start))
    run.envs.close()
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


def save_result(path: Path, job: concurrent.futures.Future) -> None:
    """Writes a finished job's result to `path` as JSON, atomically (a crash leaves no partial file)."""
    if not job.cancelled() and job.exception() is None:
        write_json(path, job.result())


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(value))
    path.with_suffix(".tmp").replace(path)


def task_key(task: str, protocol: dict, *, baselines_only: bool = False) -> str:
    """A hash of everything a task's result depends on: the task, the protocol, the baselines' source and, unless
    `baselines_only` (the key of the baselines' runs, which no change to Mortal touches), Mortal's code version
    and this suite's source."""
    scripts = Path(__file__).resolve().parents[1]
    names = ("baselines_control.py",) if baselines_only else ("suites/control.py", "baselines_control.py")
    code = None if baselines_only else code_version()
    settings = json.dumps(dict(task=task, protocol=protocol, code=code), sort_keys=True).encode()
    return hashlib.sha256(b"\0".join([settings, *((scripts / name).read_bytes() for name in names)])).hexdigest()[:16]


def run_task(task: str, pool, seeds: int, budget: int, eval_every: int, eval_episodes: int, final_episodes: int,
             test_seed: int, stem: Path | None = None, baselines_stem: Path | None = None) -> tuple[dict, list[dict]]:
    """One task: the default brain, and its baselines in `pool` (None: none) at the same time; its figures and
    table rows. With `stem`, the brain's run is checkpointed at `<stem>.ckpt`; with `baselines_stem`, each baseline
    run's result is saved at `<baselines_stem>-<algo>-seed<seed>.json`; both are resumed from there."""
    threshold = TARGETS[task][0]
    jobs = {}
    if pool is not None:
        from baselines_control import ALGORITHMS, train_and_test

        for algo in ALGORITHMS[task]:
            for seed in range(seeds):
                saved = (None if baselines_stem is None
                         else baselines_stem.with_name(f"{baselines_stem.name}-{algo}-seed{seed}.json"))
                if saved is not None and saved.exists():
                    jobs[algo, seed] = json.loads(saved.read_text())
                    continue
                jobs[algo, seed] = pool.submit(train_and_test, algo, task, seed, budget, eval_every, eval_episodes,
                                               final_episodes, test_seed)
                if saved is not None:
                    jobs[algo, seed].add_done_callback(functools.partial(save_result, saved))
    result = mortal(task, seeds, budget, eval_every, eval_episodes, final_episodes, test_seed,
                    None if stem is None else stem.with_name(f"{stem.name}.ckpt"))
    entry = dict(mortal_return=float(result["final"].mean()), mortal_ci95=interval(result["final"]),
                 mortal_steps_to_threshold=first_reaching(result["curve"], threshold))
    rows = [dict(task=task, brain="mortal (model-based, PC world model)", budget=budget,
                 test_return=entry["mortal_return"], ci95=entry["mortal_ci95"],
                 steps_to_threshold=entry["mortal_steps_to_threshold"], seconds=result["seconds"])]
    for algo in dict.fromkeys(algo for algo, _ in jobs):
        runs = [job.result() if isinstance(job, concurrent.futures.Future) else job
                for job in (jobs[algo, seed] for seed in range(seeds))]
        final = np.array([r["final_mean"] for r in runs])
        curve = [(step, [r["curve"][i][1] for r in runs]) for i, (step, _) in enumerate(runs[0]["curve"])]
        entry[f"{algo}_return"] = float(final.mean())
        rows.append(dict(task=task, brain=f"sb3 {algo.upper()} (zoo hyperparameters)", budget=budget,
                         test_return=float(final.mean()), ci95=interval(final),
                         steps_to_threshold=first_reaching(curve, threshold),
                         seconds=float(sum(r["seconds"] for r in runs))))
    entry["mortal_curve"] = result["curve"]
    return entry, rows


def evaluate(
    tasks: tuple[str, ...] = tuple(TARGETS),
    seeds: int = 5,
    eval_every: int = 5_000,
    eval_episodes: int = 20,
    final_episodes: int = 100,
    baselines: bool = True,
    budget_fraction: float = 1.0,
    test_seed: int = 10_000,
    cache: str = "runs/control",
) -> dict:
    """Long (hours on 2 CPU cores): the default brain and tuned sb3 baselines on classic control (module docstring).
    `budget_fraction` < 1 shortens every budget (a quicker, labelled run); `cache` is where each finished task's
    result is kept ('' keeps none)."""
    print(f"classic control: {seeds} seeds per task, test episodes every {eval_every:,} steps "
          f"({eval_episodes}; {final_episodes} at the budget); long", flush=True)
    unknown = [task for task in tasks if task not in TARGETS]
    if unknown:
        raise ValueError(f"no target for {unknown}: the suite's tasks are {list(TARGETS)}")
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) if baselines else None
    figures, rows = {}, []
    try:
        for task in tasks:
            threshold, full_budget = TARGETS[task]
            budget = int(full_budget * budget_fraction)
            protocol = dict(seeds=seeds, budget=budget, eval_every=eval_every, eval_episodes=eval_episodes,
                            final_episodes=final_episodes, baselines=baselines, test_seed=test_seed)
            key, baselines_key = task_key(task, protocol), task_key(task, protocol, baselines_only=True)
            stem = Path(cache) / f"{task}-{key}" if cache else None
            baselines_stem = Path(cache) / f"{task}-baselines-{baselines_key}" if cache else None
            saved = None if stem is None else stem.with_name(f"{stem.name}.json")
            if saved is not None and saved.exists():
                entry, task_rows = json.loads(saved.read_text()).values()
                print(f"{task}: reusing the result saved in {saved} (same code and protocol)", flush=True)
            else:
                entry, task_rows = run_task(task, pool, seeds, budget, eval_every, eval_episodes, final_episodes,
                                            test_seed, stem, baselines_stem)
                if saved is not None:  # the brain's checkpoints go; the baselines' runs stay for the next brain
                    write_json(saved, dict(figures=entry, rows=task_rows))
                    for checkpoint in stem.parent.glob(f"{stem.name}*.ckpt"):  # <stem>.ckpt and <stem>-<steps>.ckpt
                        checkpoint.unlink()
            figures[task], rows = entry, rows + task_rows
            print_table(task_rows, f"{task}: target {threshold} at {full_budget:,} steps")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
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
