"""Ablation sweeps: a spec file -> trials (variant x world x seed) -> one result line each -> a table.

    spec = load_spec("scripts/sweeps/forager_ablation.toml")
    summary = run_sweep(spec, Path("runs/sweep__forager-ablation"), executor="ray")

A spec (TOML) names brain variants as slot overrides by registry name on a shared `[agent]` base:

    worlds = ["mortal/Forager-v0"]
    seeds = [0, 1, 2, 3, 4]
    steps = 50_000          # env steps each agent learns before its evaluation life
    episodes = 1            # agents per trial, each evaluated in one fresh life
    horizon = 20_000        # the cap on every life (the world's time limit)
    [settings]              # optional: keywords every world is made with (gym.make), e.g. computation_cost = 1e-9
    [agent]
    plan_every = 50
    [variants.full]
    [variants.no-memory]
    memory = "none"
    [variants.small-pc]
    perception = { name = "pc", latent = 8, hidden = [32] }
    worlds = ["mortal/Forager-v0"]   # optional: this variant runs on these of the spec's worlds only
    [variants.softmax]
    gate = "softmax"
    [variants.softmax-no-memory]
    gate = "softmax"
    memory = "none"
    reference = "softmax"            # optional: compared with this variant instead of the first

A trial trains `episodes` newborn agents for `steps` env steps each, then gives each a fresh life (its brain
keeps what it learnt, and keeps learning) and records how long it survives, its mean drive, its return and its
brain's synaptic operations per step.
Finished trials are appended to `trials.jsonl` in the sweep's folder the moment they end, keyed by a hash
of everything that determines them, Mortal's own source code included (`code_version`), so a rerun skips
them and re-runs any whose settings or code changed. Failed attempts are appended to `failures.jsonl` and
retried up to `retries` times, on the same seeds (the variants stay paired); each row records its seeds and
attempt. A trial that still fails makes the sweep raise `SweepError` after the tables of the others are
written; the tables say how many attempts failed and why.

Statistics: per variant, the mean over seeds and its 95% bootstrap (BCa) interval; beside its reference (the
variant it names, else the first variant of the spec, e.g. the full brain), the paired difference on the same
seeds, signed so that a positive difference means the reference does better, with its 95% bootstrap interval.
A reference is not compared with anything unless it names a reference of its own.

Executors: `serial` runs trials one after another in this process; `ray` runs them as Ray Tune trials, one
CPU each, XLA limited to one thread per trial, on a local Ray started here or a cluster at `address`.
"""

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import gymnasium as gym
import jax
import numpy as np
from scipy import stats
from tqdm import tqdm

from agents.checkpoint import config_to_dict
from agents.config import AgentConfig
from agents.loop import Run
from agents.spec import TYPE_NAMES, SpecError, agent_config, is_a, load_toml, non_empty, world_id

TRIAL_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
LIFE_FIELDS = {"survival_steps": "survival_steps", "drive": "drive_mean", "return": "return_",  # metric -> Record field
               "ops": "ops_per_step"}
METRICS = {"survival_steps": "survival steps", "drive": "drive", "return": "return", "ops": "ops/step",  # -> label
           "recovery": "steps to recover"}  # recovery: per return to an earlier regime (agents.recovery), else NaN
BETTER = {"survival_steps": 1.0, "drive": -1.0, "return": 1.0, "ops": -1.0, "recovery": -1.0}  # +1: larger is better
EVALUATION_SEED = 1_000_000  # evaluation worlds are seeded apart from every learning world
SOURCE_PACKAGES = ("agents", "brain", "envs", "homeostasis")  # the code a trial's result depends on


def limit_xla_threads() -> None:
    """Limits this process's XLA to one thread (`TRIAL_XLA_FLAGS`), so parallel workers never fight over cores.
    Call it before JAX's backend starts (importing Mortal's modules does not start it)."""
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TRIAL_XLA_FLAGS}".strip()


def source_digest(root: Path, packages: tuple[str, ...]) -> str:
    """A hash of every source file (`.py`, MJCF `.xml`) under `root/<package>`, paths included."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((Path(root) / package).rglob("*")):
            if path.suffix in (".py", ".xml") and path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """The version of Mortal's own code that trials run: a digest of its source (read once per process)."""
    return source_digest(Path(__file__).resolve().parents[1], SOURCE_PACKAGES)


class SweepError(RuntimeError):
    """Trials that still failed after their retries."""


@dataclasses.dataclass(frozen=True)
class Trial:
    """One cell of the sweep: a brain variant in a world with a seed, and the budget it lives on."""

    variant: str
    config: AgentConfig
    world: str
    seed: int
    steps: int
    episodes: int
    horizon: int | None
    settings: tuple[tuple[str, object], ...] = ()  # the world's keywords (gym.make), as sorted (name, value) pairs

    @property
    def name(self) -> str:
        return f"{self.variant}__{self.world.replace('/', '-')}__seed{self.seed}"

    @property
    def key(self) -> str:
        """A hash of everything that determines the trial's result, the code included (a rerun with other
        settings, or after an edit to Mortal's source, re-runs it)."""
        settings = dict(variant=self.variant, config=config_to_dict(self.config), world=self.world, seed=self.seed,
                        steps=self.steps, episodes=self.episodes, horizon=self.horizon, settings=dict(self.settings),
                        code=code_version())
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """Brain variants x worlds x seeds, and the budget of every trial."""

    name: str
    variants: dict[str, AgentConfig]
    worlds: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    """env steps each agent learns before its evaluation life"""
    episodes: int = 1
    """agents per trial (a vmapped population), each evaluated in one fresh life"""
    horizon: int | None = None
    """cap on every life, learning or evaluation (None: the world's own time limit)"""
    retries: int = 2
    """how many times a crashed trial is run again before the sweep gives up on it"""
    variant_worlds: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """the worlds a variant runs on, where it names some (default: every world of the spec)"""
    settings: dict = dataclasses.field(default_factory=dict)
    """keywords every world is made with (gym.make), e.g. {"computation_cost": 1e-9}"""
    references: dict[str, str] = dataclasses.field(default_factory=dict)
    """the variant each variant is compared with, where it names one (default: the first variant)"""

    def worlds_of(self, variant: str) -> tuple[str, ...]:
        return self.variant_worlds.get(variant, self.worlds)

    def reference_of(self, variant: str) -> str | None:
        """The variant `variant` is compared with: the one it names, else the first variant, unless it is a
        reference itself (the first variant, or one another names): then None."""
        if variant in self.references:
            return self.references[variant]
        first = next(iter(self.variants))
        return None if variant == first or variant in self.references.values() else first

    def trials(self) -> list[Trial]:
        settings = tuple(sorted(self.settings.items()))
        return [Trial(name, config, world, seed, self.steps, self.episodes, self.horizon, settings)
                for name, config in self.variants.items() for world in self.worlds_of(name) for seed in self.seeds]


# -- the spec file ---------------------------------------------------------------------------------
_TOP_LEVEL = {  # field -> (expected type, required)
    "name": (str, False), "worlds": (list, True), "seeds": (list, True), "steps": (int, True),
    "episodes": (int, False), "horizon": (int, False), "retries": (int, False), "settings": (dict, False),
    "agent": (dict, False), "variants": (dict, True),
}


def load_spec(path: str | Path) -> SweepSpec:
    """Reads and checks a TOML sweep spec; any problem is a `SpecError` naming the file and the field."""
    return load_toml(path, "sweep spec", lambda data: parse_spec(data, default_name=Path(path).stem))


def parse_spec(data: dict, default_name: str = "sweep") -> SweepSpec:
    """A `SweepSpec` from a parsed TOML table (see the module docstring for the format)."""
    for field in data:
        if field not in _TOP_LEVEL:
            raise SpecError(f"unknown field {field!r}; valid fields: {', '.join(_TOP_LEVEL)}")
    for field, (kind, required) in _TOP_LEVEL.items():
        if field not in data:
            if required:
                raise SpecError(f"missing required field {field!r}")
        elif not is_a(data[field], kind):
            raise SpecError(f"field {field!r} must be {TYPE_NAMES[kind]}, got {data[field]!r}")
    worlds = tuple(world_id(world, f"worlds[{i}]") for i, world in enumerate(non_empty(data, "worlds")))
    seeds = non_empty(data, "seeds")
    for i, seed in enumerate(seeds):
        if not is_a(seed, int) or seed < 0:
            raise SpecError(f"field 'seeds[{i}]' must be a non-negative integer, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"field 'seeds' repeats a seed: {seeds}")
    for field, least in (("steps", 0), ("episodes", 1), ("horizon", 1), ("retries", 0)):
        if field in data and data[field] < least:
            raise SpecError(f"field {field!r} must be >= {least}, got {data[field]}")
    name = data.get("name", default_name)
    if not re.fullmatch(r"[\w.-]+", name):
        raise SpecError(f"field 'name' may hold only letters, digits, '_', '-' and '.' (it names the folder), "
                        f"got {name!r}")
    base = data.get("agent", {})
    variants, variant_worlds, references = {}, {}, {}
    for label, overrides in non_empty(data, "variants").items():
        if not re.fullmatch(r"[\w.-]+", label):
            raise SpecError(f"variant name {label!r} may hold only letters, digits, '_', '-' and '.'")
        if not is_a(overrides, dict):
            raise SpecError(f"field 'variants.{label}' must be a table of slot overrides, got {overrides!r}")
        if "worlds" in overrides:
            variant_worlds[label] = _variant_worlds(overrides["worlds"], worlds, label)
        if "reference" in overrides:
            references[label] = overrides["reference"]
        slots = {key: value for key, value in overrides.items() if key not in ("worlds", "reference")}
        variants[label] = agent_config(base, slots, f"variants.{label}")
    settings = data.get("settings", {})
    for world in worlds:
        _check_settings(world, settings)
    spec = SweepSpec(name, variants, worlds, tuple(seeds), data["steps"], data.get("episodes", 1),
                     data.get("horizon"), data.get("retries", 2), variant_worlds, settings, references)
    _check_references(spec)
    return spec


def _check_references(spec: SweepSpec) -> None:
    """Every variant's reference is another variant that runs on every world the variant runs on."""
    for label in spec.variants:
        reference = spec.reference_of(label)
        where = f"variants.{label}.reference" if label in spec.references else "variants"
        if reference is None:
            continue
        if reference not in spec.variants or reference == label:
            raise SpecError(f"field {where!r} must name another variant of the spec "
                            f"({', '.join(v for v in spec.variants if v != label)}), got {reference!r}")
        if missing := [w for w in spec.worlds_of(label) if w not in spec.worlds_of(reference)]:
            raise SpecError(f"field {where!r}: variant {label!r} is compared with {reference!r}, which does not run "
                            f"on {', '.join(missing)}: the reference must run on every world its variants run on")


def _check_settings(world: str, settings: dict) -> None:
    """The spec's `settings` make `world` (a world that refuses one is a `SpecError` naming it, at load time)."""
    if not settings:
        return
    try:
        gym.make(world, **settings).close()
    except (TypeError, ValueError) as error:
        raise SpecError(f"field 'settings' does not make {world}: {error}") from None


def _variant_worlds(value, worlds: tuple[str, ...], label: str) -> tuple[str, ...]:
    """A variant's `worlds`: a non-empty list of the spec's own worlds."""
    where = f"variants.{label}.worlds"
    if not (is_a(value, list) and value):
        raise SpecError(f"field {where!r} must be a non-empty list of the spec's worlds, got {value!r}")
    chosen = tuple(world_id(world, f"{where}[{i}]") for i, world in enumerate(value))
    for world in chosen:
        if world not in worlds:
            raise SpecError(f"field {where!r} names {world!r}, which is not among the spec's worlds "
                            f"({', '.join(worlds)}): the reference must run there too")
    return chosen


# -- one trial -------------------------------------------------------------------------------------
def run_trial(trial: Trial, attempt: int = 1) -> dict:
    """Learns, then evaluates: the trial's result row (per-life records and their means).

    Agent i of the trial lives its learning lives in world seed `seed * episodes + i` and its evaluation
    life in `EVALUATION_SEED + seed * episodes + i`, so no two agents of a sweep share a world.
    """
    start = time.perf_counter()
    first = trial.seed * trial.episodes
    run = Run.start(trial.config, trial.world, trial.episodes, first, max_episode_steps=trial.horizon,
                    **dict(trial.settings))
    try:
        run.train(trial.steps)
        lives = run.evaluate(EVALUATION_SEED + first)
    finally:
        run.envs.close()
    row = {"trial": trial.name, "key": trial.key, "variant": trial.variant, "world": trial.world, "seed": trial.seed,
           "world_seeds": [first, first + trial.episodes - 1],
           "evaluation_seeds": [EVALUATION_SEED + first, EVALUATION_SEED + first + trial.episodes - 1],
           "attempt": attempt, "code": code_version(), "steps": trial.steps, "horizon": trial.horizon}
    row |= {metric: float(np.mean([life[field] for life in lives])) for metric, field in LIFE_FIELDS.items()}
    row["recovery"] = finite_mean([steps for life in lives for steps in life["recoveries"]])
    row |= {"lives": [{k: _plain(v) for k, v in life.items()} for life in lives],
            "seconds": time.perf_counter() - start, "xla_flags": os.environ.get("XLA_FLAGS", "")}
    return row


def finite(values) -> np.ndarray:
    """The finite values: a seed without a figure (NaN: e.g. no return to recover from) is left out of means,
    intervals and pairs."""
    values = np.asarray(values, float)
    return values[np.isfinite(values)]


def finite_mean(values) -> float:
    """The mean of the finite values; NaN if none is."""
    values = finite(values)
    return float(values.mean()) if len(values) else math.nan


def _plain(value):
    """numpy scalars as Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


# -- results as they come --------------------------------------------------------------------------
class ResultLog:
    """A sweep's folder: `trials.jsonl` (one line per finished trial) and `failures.jsonl` (one per crash).

    Each line is written with one `write` and fsynced, so a sweep killed at any moment loses only the
    trials that were running; a line torn by a kill mid-write is ignored when read back.
    """

    def __init__(self, folder: Path, expected: int = 0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.trials_path = self.folder / "trials.jsonl"
        self.failures_path = self.folder / "failures.jsonl"
        self.expected, self.done = expected, 0
        self.progress = None  # a tqdm bar over the trials to run, while a sweep runs them

    def finished(self) -> dict[str, dict]:
        """Rows of finished trials by trial key."""
        return {row["key"]: row for row in _read(self.trials_path)}

    def failures(self) -> list[dict]:
        """Every failed attempt logged in this folder, oldest first."""
        return _read(self.failures_path)

    def add(self, row: dict) -> None:
        _append(self.trials_path, row)
        self.done += 1
        tqdm.write(f"[{self.done}/{self.expected}] {row['trial']}: survival {row['survival_steps']:.0f} steps, "
                   f"drive {row['drive']:.3g}, return {row['return']:.3g} ({row['seconds']:.0f} s)")
        if self.progress is not None:
            self.progress.update(1)

    def failure(self, trial: str, attempt: int, error: str, final: bool) -> None:
        _append(self.failures_path, dict(trial=trial, attempt=attempt, error=error, final=final, time=time.time()))
        then = "giving up on it" if final else "retrying"
        tqdm.write(f"trial {trial} crashed (attempt {attempt}), {then}: {error}", file=sys.stderr)
        if final and self.progress is not None:
            self.progress.update(1)


def _read(path: Path) -> list[dict]:
    """The rows of a JSON-lines file (none if it does not exist), skipping a line torn by a killed sweep."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _append(path: Path, row: dict) -> None:
    """One JSON line, fsynced; a torn last line (a kill mid-write) is ended first so it cannot swallow this one."""
    with open(path, "ab+") as f:
        torn = f.seek(0, os.SEEK_END) > 0 and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n"
        f.write(b"\n" * torn + json.dumps(row).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


# -- executors -------------------------------------------------------------------------------------
def run_serial(trials: list[Trial], log: ResultLog, retries: int) -> None:
    """Each trial in this process, one after another, each attempted up to `retries + 1` times."""
    for trial in trials:
        for attempt in range(1, retries + 2):
            try:
                row = run_trial(trial, attempt)
            except Exception as error:  # a crashed trial: reported, then retried
                log.failure(trial.name, attempt, f"{type(error).__name__}: {error}", final=attempt > retries)
                continue
            log.add(row)
            break


def run_ray(trials: list[Trial], log: ResultLog, retries: int, storage: Path, address: str | None = None,
            num_cpus: int | None = None) -> None:
    """The trials as Ray Tune trials, one CPU each; Ray restarts a crashed trial up to `retries` times.

    Ray is started here (local, `num_cpus` CPUs, no dashboard) unless `address` names a running cluster or
    Ray is already up. Each trial limits XLA to one thread (`TRIAL_XLA_FLAGS`), so trials never fight over
    cores, and shares this process's JAX compilation cache, so each brain compiles once per machine.
    """
    try:
        import ray
        from ray import tune
    except ImportError as error:
        raise ImportError(f"the ray executor needs the `ray` extra (pip install -e '.[ray]'), or use the "
                          f"serial executor: {error}") from error

    cache = jax.config.jax_compilation_cache_dir
    cache = cache and str(Path(cache).resolve())

    names = [trial.name for trial in trials]

    class Logger(tune.Callback):
        """On the driver: each finished trial's row and each crash go to the ResultLog."""

        def on_trial_result(self, iteration, trials, trial, result, **info):
            log.add(json.loads(result["row"]) | {"attempt": trial.num_failures + 1})

        def on_trial_recover(self, iteration, trials, trial, **info):
            log.failure(names[trial.config["index"]], trial.num_failures, _last_error(trial), final=False)

        def on_trial_error(self, iteration, trials, trial, **info):
            log.failure(names[trial.config["index"]], trial.num_failures, _last_error(trial), final=True)

    started = not ray.is_initialized()
    if started:
        local = {} if address else {"num_cpus": num_cpus}  # "local": a new cluster, never a stray `ray start` one
        ray.init(address=address or "local", include_dashboard=False, **local)
    try:
        trainable = tune.with_resources(tune.with_parameters(_ray_trial, trials=trials, cache=cache), {"cpu": 1})
        tuner = tune.Tuner(
            trainable,
            param_space={"index": tune.grid_search(list(range(len(trials))))},
            tune_config=tune.TuneConfig(trial_name_creator=lambda t: names[t.config["index"]],
                                        trial_dirname_creator=lambda t: names[t.config["index"]]),
            run_config=tune.RunConfig(
                name=f"ray__{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(Path(storage).resolve()),
                failure_config=tune.FailureConfig(max_failures=retries), callbacks=[Logger()],
                verbose=0,
            ),
        )
        tuner.fit()
    finally:
        if started:
            ray.shutdown()


def _ray_trial(config: dict, trials: list[Trial], cache: str | None) -> None:
    """One Tune trial, in a process of its own (Tune does not reuse actors): XLA is limited to one thread
    before JAX's backend starts (importing this module does not start it), then the trial runs."""
    from ray import tune

    limit_xla_threads()
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
    tune.report({"row": json.dumps(run_trial(trials[config["index"]]))})


def _last_error(trial) -> str:
    """The last line of the trial's latest error (the exception and its message)."""
    try:
        lines = [line for line in Path(trial.error_file).read_text().splitlines() if line.strip()]
    except (OSError, TypeError):
        return "unknown error (no error file)"
    return lines[-1].strip() if lines else "unknown error"


# -- the sweep -------------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, folder: str | Path, executor: str = "ray", address: str | None = None,
              num_cpus: int | None = None) -> list[dict]:
    """Runs the spec's unfinished trials, then writes summary.csv, summary.md and summary.png into `folder`.

    Returns the summary rows (one per variant x world). Raises SweepError, after writing the tables of the
    trials that finished, if some trial failed every attempt.
    """
    if executor not in ("ray", "serial"):
        raise ValueError(f"unknown executor {executor!r}; valid: ray, serial")
    trials = spec.trials()
    log = ResultLog(folder)
    finished = log.finished()
    todo = [trial for trial in trials if trial.key not in finished]
    log.expected = len(todo)
    print(f"sweep {spec.name!r}: {len(trials)} trials ({len(spec.variants)} variants on up to {len(spec.worlds)} "
          f"worlds x {len(spec.seeds)} seeds), {len(trials) - len(todo)} already finished in {log.folder}; "
          f"each: {spec.episodes} agent(s) learn {spec.steps} steps, then one evaluation life each "
          f"(lives capped at {spec.horizon or 'the world limit'} steps)", flush=True)
    with tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="trial", disable=None) as log.progress:
        if todo and executor == "serial":
            run_serial(todo, log, spec.retries)
        elif todo:
            run_ray(todo, log, spec.retries, storage=log.folder, address=address, num_cpus=num_cpus)
    log.progress = None
    finished = log.finished()
    summary = summarise([finished[t.key] for t in trials if t.key in finished], spec)
    names = {trial.name for trial in trials}
    write_summary(summary, log.folder, [f for f in log.failures() if f["trial"] in names])
    failed = [trial.name for trial in trials if trial.key not in finished]
    if failed:
        raise SweepError(f"{len(failed)} trial(s) failed {spec.retries + 1} attempts each (errors in "
                         f"{log.failures_path}): {', '.join(failed)}")
    return summary


def summarise(rows: list[dict], spec: SweepSpec) -> list[dict]:
    """Per variant x world: the mean over seeds of each trial metric and its 95% bootstrap interval; for every
    variant with a reference (`SweepSpec.reference_of`), the paired difference from it on the seeds both
    finished, `BETTER[metric] * (reference - variant)` (positive: the reference does better), its mean and
    95% bootstrap interval."""
    summary = []
    for name in spec.variants:
        reference = spec.reference_of(name)
        for world in spec.worlds_of(name):
            baseline = {row["seed"]: row for row in rows if row["variant"] == reference and row["world"] == world}
            cell = [row for row in rows if row["variant"] == name and row["world"] == world]
            if not cell:
                continue
            entry = dict(variant=name, world=world, seeds=len(cell))
            paired = [row for row in cell if row["seed"] in baseline]
            if reference is not None:
                entry |= dict(reference=reference, paired_seeds=len(paired))
            for metric in METRICS:
                values = finite([row.get(metric, math.nan) for row in cell])  # rows older than a metric lack it
                entry[f"{metric}_mean"] = finite_mean(values)
                entry[f"{metric}_ci95"] = bootstrap_interval(values)
                if reference is not None:
                    diffs = finite([BETTER[metric] * (baseline[row["seed"]].get(metric, math.nan)
                                                      - row.get(metric, math.nan)) for row in paired])
                    entry[f"{metric}_diff_mean"] = finite_mean(diffs)
                    entry[f"{metric}_diff_ci95"] = bootstrap_interval(diffs)
            summary.append(entry)
    return summary


def bootstrap_interval(values) -> tuple[float, float]:
    """95% bootstrap (BCa, 9,999 resamples, fixed generator) interval of the mean: NaN for fewer than 2
    values, the value itself when all are equal."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return (math.nan, math.nan)
    if np.ptp(values) == 0:
        return (float(values[0]), float(values[0]))
    result = stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=9_999, method="BCa",
                             rng=np.random.default_rng(0))
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def write_summary(summary: list[dict], folder: Path, failures: list[dict] = ()) -> None:
    """summary.csv (one row per variant x world), summary.md (the same as a Markdown table, then the failed
    attempts and why), summary.png."""
    folder = Path(folder)
    columns = ["variant", "world", "seeds"]
    for metric in METRICS:
        columns += [f"{metric}_mean", f"{metric}_ci95_low", f"{metric}_ci95_high", f"{metric}_diff_mean",
                    f"{metric}_diff_ci95_low", f"{metric}_diff_ci95_high"]
    lines = [",".join(columns)]
    for entry in summary:
        cells = [entry["variant"], entry["world"], str(entry["seeds"])]
        for metric in METRICS:
            difference = [entry.get(f"{metric}_diff_mean", math.nan), *entry.get(f"{metric}_diff_ci95", (math.nan,) * 2)]
            cells += [repr(entry[f"{metric}_mean"]), *map(repr, entry[f"{metric}_ci95"]), *map(repr, difference)]
        lines.append(",".join(cells))
    (folder / "summary.csv").write_text("\n".join(lines) + "\n")
    (folder / "summary.md").write_text(markdown_table(summary) + failure_report(failures))
    plot_summary(summary, folder / "summary.png")


def markdown_table(summary: list[dict]) -> str:
    """Mean [95% interval] of each metric, and the paired difference from the variant's reference [95% interval],
    one row per variant x world."""
    header = ["variant", "world", "seeds", "reference", *(f"{label} (mean [95% CI])" for label in METRICS.values()),
              *(f"{label}: reference better by [95% CI]" for label in METRICS.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for entry in summary:
        cells = [entry["variant"], f"`{entry['world']}`", str(entry["seeds"]), entry.get("reference", "-")]
        for metric in METRICS:
            low, high = entry[f"{metric}_ci95"]
            cells.append(f"{_number(entry[f'{metric}_mean'])} [{_number(low)}, {_number(high)}]")
        for metric in METRICS:
            if f"{metric}_diff_mean" not in entry:
                cells.append("(reference)")
                continue
            low, high = entry[f"{metric}_diff_ci95"]
            cells.append(f"{_number(entry[f'{metric}_diff_mean'])} [{_number(low)}, {_number(high)}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def failure_report(failures: list[dict]) -> str:
    """How many attempts failed, how many trials gave up, and why (Markdown; empty when none failed)."""
    if not failures:
        return ""
    final = [f for f in failures if f["final"]]
    lines = [f"\n{len(failures)} failed attempt(s); {len(final)} trial(s) failed every attempt.\n"]
    lines += [f"- `{f['trial']}` attempt {f['attempt']}{' (gave up)' if f['final'] else ''}: {f['error']}"
              for f in failures]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def plot_summary(summary: list[dict], path: Path) -> None:
    """One panel per metric: a bar per variant (grouped by world), whiskers at the 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(entry["variant"] for entry in summary))
    worlds = list(dict.fromkeys(entry["world"] for entry in summary))
    width = 0.8 / max(len(worlds), 1)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.5 * len(METRICS), 3.8), squeeze=False)
    for ax, (metric, label) in zip(axes[0], METRICS.items()):
        for j, world in enumerate(worlds):
            cells = {e["variant"]: e for e in summary if e["world"] == world}
            x = np.array([i for i, name in enumerate(variants) if name in cells]) + (j - (len(worlds) - 1) / 2) * width
            means = np.array([cells[name][f"{metric}_mean"] for name in variants if name in cells])
            bounds = np.array([cells[name][f"{metric}_ci95"] for name in variants if name in cells]).reshape(-1, 2)
            errors = np.nan_to_num(np.abs(bounds - means[:, None]).T)
            ax.bar(x, means, width, yerr=errors, capsize=3, label=world)
        ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
        ax.set_title(label)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("mean over seeds, 95% interval")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
