"""The embodied agent: survival after lifelong learning (evaluate, long) and brain speed (bench).

evaluate: a population lives on mortal/Forager-v0 for a total env-step budget, learning throughout; then
each member starts a fresh life (its brain keeps what it learnt, and keeps learning) for one evaluation
episode of up to 60,000 steps. So live, on each of `seeds` seeds and each of `worlds`: the mortal worlds' default
brain on raw wheels (`agents.config.NEED_VALUES`: need values, no reflex; keys `raw_*`, `thermal_raw_*`) and the
brain over motor reflexes (`AgentConfig()`; `reflex_*`, `thermal_reflex_*`). Beside them in the same run, on the first seed and Forager: random choice among
the same motor primitives, PPO over the same primitives and on the raw actuators with the same step budget (if
the `ppo` extra is installed), and the default agent on CartPole-v1 through `envs.Homeostatic`.
"""

import concurrent.futures
import contextlib
import multiprocessing
import time

import jax
import numpy as np

from agents.config import (
    ActiveInferenceConfig,
    NEED_VALUES,
    AgentConfig,
    ArgmaxConfig,
    IdentityConfig,
    NoMemoryConfig,
    RandomPlannerConfig,
    SoftmaxConfig,
    default_config,
    in_slot_order,
)
from agents.loop import Run, make_vector_env, observation
from suites._report import print_table, progress

FORAGER = "mortal/Forager-v0"
THERMAL = "mortal/ThermalForager-v0"


def summarise(lives: list[dict], horizon: int) -> dict:
    survival = np.array([life["survival_steps"] for life in lives])
    return {
        "survival_steps_mean": float(survival.mean()),
        "survival_full_fraction": float(np.mean(survival >= horizon)),
        "drive_mean": float(np.mean([life["drive_mean"] for life in lives])),
        "causes": sorted({life["cause_of_death"] or "alive at the horizon" for life in lives}),
    }


def lifelong(config: AgentConfig, world: str, steps: int, population: int, episodes: int, seed: int,
             max_episode_steps: int) -> tuple[dict, float]:
    """Trains for `steps` total env steps, then evaluates `episodes` lives (population = episodes)."""
    run = Run.start(config, world, population, seed, max_episode_steps=max_episode_steps)
    start = time.perf_counter()
    with _progress(steps // population, f"{config.describe()} x{population}") as on_step:
        run.train(steps // population, on_step=on_step)
    lives = run.evaluate(seed + 10_000)
    return summarise(lives[:episodes], max_episode_steps), time.perf_counter() - start


def evaluate(
    steps: int = 1_000_000,
    episodes: int = 10,
    max_episode_steps: int = 60_000,
    seeds: int = 3,
    worlds: tuple[str, ...] = (FORAGER, THERMAL),
    brains: tuple[str, ...] = ("raw", "reflex"),
    ppo: bool = True,
    cartpole_steps: int = 100_000,
    cartpole_episodes: int = 100,
    seed: int = 0,
) -> dict:
    """Long (hours on 2 CPU cores): survival of the default brain on raw wheels and of the brain over reflexes
    (`brains`: "raw", "reflex") on `seeds` seeds (seed, seed + 1, ...) and `worlds`, and the baselines."""
    print(f"lifelong learning: {steps} env steps over {episodes} agents, then one evaluation life each (up to "
          f"{max_episode_steps} steps, still learning); seeds {seed}..{seed + seeds - 1}; {', '.join(worlds)}",
          flush=True)
    rows, figures = [], {}
    ppo_runs = {}
    if ppo:  # PPO trains in worker processes while the agents live: same run, both CPU cores busy
        from baseline_ppo import Config, train_and_evaluate

        pool = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        for actions in ("primitives", "raw"):
            # PPO's own stochastic policy: its argmax policy survives about 3x shorter (the stronger baseline)
            config = Config(world=FORAGER, steps=steps, actions=actions, seed=seed, episodes=episodes,
                            max_episode_steps=max_episode_steps, deterministic=False)
            ppo_runs[actions] = (pool.submit(train_and_evaluate, config), time.perf_counter())
    for world in worlds:
        prefix = "" if world == FORAGER else "thermal_"
        for name, config, label in (("raw", NEED_VALUES, "need values on raw wheels"),
                                    ("reflex", AgentConfig(), "brain over reflexes")):
            if name not in brains:
                continue
            per_seed = []
            for member_seed in range(seed, seed + seeds):
                result, seconds = lifelong(config, world, steps, episodes, episodes, member_seed, max_episode_steps)
                rows.append(dict(world=world, brain=label, seed=member_seed, **result, seconds=seconds))
                print_table(rows[-1:], f"{world}, {label}, seed {member_seed}")
                per_seed.append(result)
            for key in ("survival_steps_mean", "survival_full_fraction", "drive_mean"):
                figures[f"{prefix}{name}_{key}"] = float(np.mean([r[key] for r in per_seed]))
                figures[f"{prefix}{name}_{key}_per_seed"] = [r[key] for r in per_seed]
    if FORAGER in worlds and "reflex" in brains:  # the keys the earlier suite printed: the reflex brain, first seed
        first = next(row for row in rows if row["world"] == FORAGER and row["brain"] == "brain over reflexes")
        figures.update({k: first[k] for k in ("survival_steps_mean", "survival_full_fraction", "drive_mean")})
    random_config = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), planner=RandomPlannerConfig(),
                                gate=ArgmaxConfig())
    random, seconds = lifelong(random_config, FORAGER, 0, episodes, episodes, seed, max_episode_steps)
    rows.append(dict(world=FORAGER, brain="random choice among the same primitives", seed=seed, **random,
                     seconds=seconds))
    figures["random_survival_steps_mean"] = random["survival_steps_mean"]
    print_table(rows[-1:], "random primitives")
    for actions, key in (("primitives", "ppo_survival_steps_mean"), ("raw", "ppo_raw_survival_steps_mean")):
        if actions not in ppo_runs:
            continue
        future, start = ppo_runs[actions]
        result = future.result()
        rows.append(dict(world=FORAGER, brain=f"PPO ({actions}, sampled actions)", seed=seed,
                         survival_steps_mean=result["survival_steps_mean"],
                         survival_full_fraction=result["survival_full_fraction"], drive_mean=result["drive_mean"],
                         causes=sorted(set(result["causes_of_death"])), seconds=time.perf_counter() - start))
        figures[key] = result["survival_steps_mean"]
    if ppo_runs:
        pool.shutdown()
    if cartpole_steps:
        figures["cartpole_mean_return"] = cartpole(cartpole_steps, cartpole_episodes, seed)
    print_table(rows, f"survival over {episodes} evaluation lives (horizon {max_episode_steps})")
    return figures


def cartpole(steps: int, episodes: int, seed: int, population: int = 4) -> float:
    """The agent on CartPole-v1 through envs.Homeostatic: mean return of `episodes` lives after `steps`."""
    # the best of the settings tried (hold each action 2 steps, 64 situations, 3-tick horizon, softmax gate)
    config = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), gate=SoftmaxConfig(), plan_every=2,
                         situations=64, planner=ActiveInferenceConfig(policy_len=3))
    run = Run.start(config, "CartPole-v1", population, seed)
    run.train(steps // population)
    run.begin_lives(seed + 10_000)
    start = len(run.record.lives)
    run.train(10**9, until=lambda record: len(record.lives) - start >= episodes)
    returns = [life["task_return"] for life in run.record.lives[start:start + episodes]]
    print_table([dict(task="CartPole-v1 (Homeostatic)", train_steps=steps, episodes=episodes,
                      mean_return=float(np.mean(returns)), min_return=float(np.min(returns)))], "CartPole")
    return float(np.mean(returns))


def bench(repeats: int = 200, seed: int = 0, ops_steps: int = 500) -> dict:
    """Brain steps/s alone and with the world at population 1 and 64, for Forager's default brain (need values on
    raw wheels) and the brain over reflexes (`AgentConfig()`, keys `reflex_*`); the vmapped brain against MuJoCo;
    and each module's synaptic operations per step of each brain over `ops_steps` steps of one agent (per step, at
    its planning ticks, between them)."""
    rows, figures = [], {}
    for name, config in (("default", default_config(FORAGER)), ("reflex", AgentConfig())):
        prefix = "" if name == "default" else f"{name}_"
        for population in progress((1, 64), desc=f"timing the {name} brain at populations 1 and 64", unit="population"):
            envs = make_vector_env(FORAGER, population, seed)
            run = Run.start(config, FORAGER, population, seed)
            obs, _ = envs.reset(seed=seed)
            fixed = observation(obs, np.zeros(population), {}, np.zeros(population, bool), np.zeros(population, bool))
            key = jax.random.key(seed)
            brain = _per_second(lambda: run.population.step(fixed, key), repeats) * population
            actions = np.stack([envs.single_action_space.sample() for _ in range(population)])
            world = _per_second(lambda: envs.step(actions), repeats) * population
            run.train(20)  # compile outside the timing
            start = time.perf_counter()
            run.train(repeats)
            loop = repeats * population / (time.perf_counter() - start)
            rows.append(dict(brain=name, population=population, brain_steps_per_s=brain, env_steps_per_s=world,
                             loop_steps_per_s=loop))
            figures[f"{prefix}brain_steps_per_s_p{population}"] = brain
            if population == 64:
                figures.update({f"{prefix}env_steps_per_s_p64": world, f"{prefix}loop_steps_per_s_p64": loop})
            envs.close()
    print_table(rows, f"{FORAGER}; agent-steps per second (median of 3 x {repeats} calls)")
    for name, config in (("default", default_config(FORAGER)), ("reflex", AgentConfig())):
        prefix = "" if name == "default" else f"{name}_"
        ops = ops_per_step(config, ops_steps, seed)
        print_table([dict(module=module, **{when: ops[when][module] for when in ops}) for module in ops["per_step"]],
                    f"{FORAGER}, {name} brain; synaptic operations per step over {ops_steps} steps (brain.base)")
        figures.update({f"{prefix}ops_{when}": ops[when] for when in ("per_step", "at_tick", "between_ticks")})
    return figures


def ops_per_step(config: AgentConfig, steps: int, seed: int) -> dict[str, dict[str, float]]:
    """Each module's mean synaptic operations (`info["ops"]`) over `steps` steps of one agent on Forager, and their
    total: over every step (`per_step`), at planning ticks and between them."""
    run = Run.start(config, FORAGER, 1, seed)
    infos = []
    run.train(steps, on_step=lambda t, info, record, obs: infos.append(info))
    tick = np.array([bool(info["tick"][0]) if "tick" in info else True for info in infos])  # no tick: every step
    modules = in_slot_order(infos[0]["ops"])
    ops = {module: np.array([float(info["ops"][module][0]) for info in infos]) for module in modules}
    ops["total"] = sum(ops.values())
    steps_of = {"per_step": np.ones_like(tick), "at_tick": tick, "between_ticks": ~tick}
    return {name: {module: float(counts[kept].mean()) if kept.any() else 0.0 for module, counts in ops.items()}
            for name, kept in steps_of.items()}


@contextlib.contextmanager
def _progress(total: int, desc: str):
    """An `on_step` that moves a progress bar over `total` steps, with the deaths so far (silent off a terminal)."""
    with progress(total=total, desc=desc, unit="step") as bar:
        def on_step(t, info, record, obs):
            bar.update(1)
            if t % 1000 == 0:
                bar.set_postfix(deaths=sum(not life["truncated"] for life in record.lives), refresh=False)

        yield on_step


def _per_second(call, repeats: int) -> float:
    """Calls per second of `call` (median of 3 rounds), after one warm-up call that compiles."""
    jax.block_until_ready(call())
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            out = call()
        jax.block_until_ready(out)
        rates.append(repeats / (time.perf_counter() - start))
    return float(np.median(rates))
