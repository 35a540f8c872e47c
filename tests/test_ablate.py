import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import matplotlib.image
import numpy as np
import pytest

from agents import sweep
from agents.config import ArgmaxConfig, IdentityConfig, NoMemoryConfig, RandomPlannerConfig
from agents.sweep import SpecError, SweepError, load_spec, parse_spec, run_sweep, run_trial, summarise

ROOT = Path(__file__).resolve().parents[1]
# Ray and the killed-sweep test start processes by fork + exec, which is safe beside JAX's threads.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
TINY = """
name = "tiny"
worlds = ["mortal/Forager-v0"]
seeds = [0, 1]
steps = 200
episodes = 2
horizon = 300
retries = 1

[agent]
perception = "identity"
memory = "none"
gate = "argmax"
plan_every = 5
levels = 5
situations = 4

[variants.aif]

[variants.random]
planner = "random"
"""


def spec_file(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_spec_becomes_trials_of_agent_configs(tmp_path):
    spec = load_spec(spec_file(tmp_path))
    assert spec.name == "tiny" and list(spec.variants) == ["aif", "random"]
    random = spec.variants["random"]
    assert isinstance(random.planner, RandomPlannerConfig) and isinstance(random.perception, IdentityConfig)
    assert isinstance(random.memory, NoMemoryConfig) and isinstance(random.gate, ArgmaxConfig)
    assert random.plan_every == 5 and random.levels == 5
    trials = spec.trials()
    assert [(t.variant, t.seed) for t in trials] == [("aif", 0), ("aif", 1), ("random", 0), ("random", 1)]
    assert len({t.key for t in trials}) == 4
    longer = load_spec(spec_file(tmp_path, TINY.replace("steps = 200", "steps = 300")))
    assert not {t.key for t in trials} & {t.key for t in longer.trials()}, "a changed budget is a new trial"


def test_world_settings_reach_every_trial_and_its_key(tmp_path):
    costly = load_spec(spec_file(tmp_path, TINY.replace("[agent]", "[settings]\ncomputation_cost = 1e-9\n[agent]")))
    assert {t.settings for t in costly.trials()} == {(("computation_cost", 1e-9),)}
    plain = load_spec(spec_file(tmp_path)).trials()
    assert not {t.key for t in plain} & {t.key for t in costly.trials()}, "other world settings: another trial"


def test_serial_sweep_end_to_end_reports_and_retries_crashes(tmp_path, monkeypatch, capsys):
    spec = load_spec(spec_file(tmp_path))
    out = tmp_path / "out"
    crashed = set()

    def crashing_once(trial, attempt):
        if trial.seed == 1 and trial.name not in crashed:
            crashed.add(trial.name)
            raise RuntimeError("simulated crash")
        return run_trial(trial, attempt)

    monkeypatch.setattr(sweep, "run_trial", crashing_once)
    summary = run_sweep(spec, out, executor="serial")

    failures = lines(out / "failures.jsonl")
    assert sorted(f["trial"] for f in failures) == sorted(crashed) and len(crashed) == 2
    assert all(f["attempt"] == 1 and not f["final"] and "simulated crash" in f["error"] for f in failures)
    assert "crashed (attempt 1), retrying" in capsys.readouterr().err
    rows = lines(out / "trials.jsonl")
    assert sorted(r["trial"] for r in rows) == sorted(t.name for t in spec.trials())
    assert {r["trial"]: r["attempt"] for r in rows if r["trial"] in crashed} == dict.fromkeys(crashed, 2)
    assert all(r["code"] == sweep.code_version() and r["world_seeds"] == [2 * r["seed"], 2 * r["seed"] + 1]
               for r in rows), "each row records its code version and the seeds it lived on (episodes = 2)"
    for row in rows:
        assert len(row["lives"]) == spec.episodes
        assert all(1 <= life["survival_steps"] <= spec.horizon for life in row["lives"])
        assert row["survival_steps"] == np.mean([life["survival_steps"] for life in row["lives"]])

    assert [(e["variant"], e["seeds"]) for e in summary] == [("aif", 2), ("random", 2)]
    for entry in summary:
        drives = [r["drive"] for r in rows if r["variant"] == entry["variant"]]
        assert entry["drive_mean"] == pytest.approx(np.mean(drives))
        low, high = entry["drive_ci95"]
        assert low <= np.mean(drives) <= high
    with open(out / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == ["aif", "random"]
    assert float(table[1]["drive_mean"]) == pytest.approx(summary[1]["drive_mean"])
    markdown = (out / "summary.md").read_text()
    assert "| aif | `mortal/Forager-v0` | 2 |" in markdown and "survival steps (mean [95% CI])" in markdown
    assert "2 failed attempt(s); 0 trial(s) failed every attempt" in markdown
    assert matplotlib.image.imread(out / "summary.png").shape[:2] > (100, 100)

    # Rerun with one more variant that crashes on every attempt: the finished trials are skipped, the
    # broken one is tried retries + 1 times, reported, and the tables still hold the others.
    def always_crashing(trial, attempt):
        assert trial.variant == "broken", f"finished trial {trial.name} was run again"
        raise FloatingPointError("diverged")

    monkeypatch.setattr(sweep, "run_trial", always_crashing)
    broken = load_spec(spec_file(tmp_path, TINY.replace("[variants.random]", "[variants.broken]\n[variants.random]")))
    with pytest.raises(SweepError, match="broken__mortal-Forager-v0__seed0, broken__mortal-Forager-v0__seed1"):
        run_sweep(broken, out, executor="serial")
    final = [f for f in lines(out / "failures.jsonl") if f["trial"].startswith("broken")]
    assert [(f["attempt"], f["final"]) for f in final] == [(1, False), (2, True)] * 2
    assert len(lines(out / "trials.jsonl")) == 4
    assert "| random |" in (out / "summary.md").read_text()


def test_killed_sweep_keeps_finished_trials_and_completes_the_rest(tmp_path, capsys):
    path = spec_file(tmp_path)
    out = tmp_path / "out"
    results = out / "trials.jsonl"
    command = [sys.executable, str(ROOT / "scripts" / "ablate.py"), str(path), "--executor", "serial", "--out",
               str(out), "--compilation-cache", jax.config.jax_compilation_cache_dir]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240  # a liveness bound: a trial takes ~10 s alone, over 60 s on a loaded machine
        while not (results.exists() and results.read_text().endswith("\n")):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no trial finished within 240 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    before = results.read_text().splitlines()
    kept = [json.loads(line) for line in before]  # every line written before the kill is whole
    assert 1 <= len(kept) < 4, "the kill should land while trials remain"

    with open(results, "a") as f:
        f.write('{"trial": "random__mortal-')  # as if the kill had landed mid-write

    spec = load_spec(path)
    run_sweep(spec, out, executor="serial")
    assert f"{len(kept)} already finished" in capsys.readouterr().out
    after = results.read_text().splitlines()
    assert after[: len(before)] == before, "finished trials are kept as they were"
    assert after[len(before)] == '{"trial": "random__mortal-', "the torn line is left alone, on its own"
    keys = sorted(json.loads(line)["key"] for line in after[len(before) + 1:] + before)
    assert keys == sorted(t.key for t in spec.trials())
    assert (out / "summary.csv").exists()


def test_ray_sweep_runs_trials_in_their_own_processes_and_retries_crashes(tmp_path):
    text = TINY.replace("seeds = [0, 1]", "seeds = [0]").replace("steps = 200", "steps = 100").replace(
        "[variants.aif]", "[variants.broken]\nmemory = { name = \"sdr\", active_bits = 256 }")  # valid config, fails to build
    spec = load_spec(spec_file(tmp_path, text))
    assert [t.name for t in spec.trials()] == ["broken__mortal-Forager-v0__seed0", "random__mortal-Forager-v0__seed0"]
    out = tmp_path / "out"
    with pytest.raises(SweepError, match="1 trial\\(s\\) failed 2 attempts each .*: broken__mortal-Forager-v0__seed0$"):
        run_sweep(spec, out, executor="ray", num_cpus=2)
    failures = lines(out / "failures.jsonl")
    assert [(f["trial"], f["attempt"], f["final"]) for f in failures] == [
        ("broken__mortal-Forager-v0__seed0", 1, False), ("broken__mortal-Forager-v0__seed0", 2, True)]
    assert all("num_active must be in [1, 256), got 256" in f["error"] for f in failures)

    (row,) = lines(out / "trials.jsonl")
    assert row["trial"] == "random__mortal-Forager-v0__seed0"
    assert sweep.TRIAL_XLA_FLAGS in row["xla_flags"]
    assert sweep.TRIAL_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""), "the limit is set in the trial, not here"
    here = run_trial(spec.trials()[1])  # the same trial, in this process: the same life
    assert [life["survival_steps"] for life in here["lives"]] == [life["survival_steps"] for life in row["lives"]]
    assert here["drive"] == pytest.approx(row["drive"], rel=1e-4)
    assert "| random |" in (out / "summary.md").read_text() and (out / "summary.png").exists()


def test_summary_is_the_mean_with_bootstrap_intervals_and_paired_differences_from_the_reference(tmp_path):
    spec = load_spec(spec_file(tmp_path))  # variants aif (the reference: listed first) and random
    rows = [dict(variant=variant, world="mortal/Forager-v0", seed=seed, survival_steps=survival, drive=drive,
                 ops=1000.0, **{"return": 1.0})
            for seed, (s_aif, s_random) in enumerate([(100.0, 90.0), (200.0, 170.0), (300.0, 280.0), (250.0, 235.0)])
            for variant, survival, drive in (("aif", s_aif, 0.1), ("random", s_random, 0.3))]
    aif, random = summarise(rows, spec)
    assert aif["seeds"] == 4 and aif["survival_steps_mean"] == 212.5 and "survival_steps_diff_mean" not in aif
    low, high = aif["survival_steps_ci95"]
    assert 100.0 <= low < 212.5 < high <= 300.0, "a bootstrap interval of the mean lies within the data"
    assert aif["drive_ci95"] == (0.1, 0.1) and random["paired_seeds"] == 4
    # survival: aif does better by 10, 30, 20, 15 on the same seeds; the seeds' spread (100..300) is far wider,
    # yet the paired interval excludes zero
    assert random["survival_steps_diff_mean"] == pytest.approx(18.75)
    low, high = random["survival_steps_diff_ci95"]
    assert 0 < 10.0 <= low < 18.75 < high <= 30.0
    assert random["survival_steps_ci95"][0] < aif["survival_steps_mean"], "the unpaired intervals overlap"
    # drive: lower is better, so aif's 0.1 against random's 0.3 is a positive difference
    assert random["drive_diff_mean"] == pytest.approx(0.2) and random["drive_diff_ci95"] == pytest.approx((0.2, 0.2))
    (single,) = summarise(rows[:1], spec)
    assert np.isnan(single["survival_steps_ci95"]).all(), "one seed has no interval"
    markdown = sweep.markdown_table([aif, random])
    assert "(reference)" in markdown and "survival steps: reference better by [95% CI]" in markdown
    assert "| random | `mortal/Forager-v0` | 4 | aif |" in markdown


def test_a_seed_without_a_figure_is_left_out_of_its_mean_interval_and_pairs(tmp_path):
    spec = load_spec(spec_file(tmp_path))
    recoveries = {"aif": [100.0, 200.0, math.nan, 300.0], "random": [150.0, math.nan, 400.0, 330.0]}
    rows = [dict(variant=variant, world="mortal/Forager-v0", seed=seed, survival_steps=1.0, drive=0.1, ops=1.0,
                 recovery=recovery, **{"return": 1.0})
            for variant, values in recoveries.items() for seed, recovery in enumerate(values)]
    aif, random = summarise(rows, spec)
    assert aif["recovery_mean"] == 200.0 and random["recovery_mean"] == pytest.approx(880 / 3)
    assert random["recovery_diff_mean"] == pytest.approx(40.0), "seeds 0 and 3 hold both: 50 and 30 steps faster"
    assert all(math.isfinite(x) for x in (*aif["recovery_ci95"], *random["recovery_diff_ci95"]))
    (none,) = summarise([{**row, "recovery": math.nan} for row in rows[:4]], spec)
    assert math.isnan(none["recovery_mean"]) and np.isnan(none["recovery_ci95"]).all()


def test_trial_keys_hold_the_code_version_and_the_summary_says_why_trials_failed(tmp_path, monkeypatch):
    package = tmp_path / "src" / "brain"
    package.mkdir(parents=True)
    (package / "module.py").write_text("x = 1\n")
    before = sweep.source_digest(tmp_path / "src", ("brain",))
    (package / "module.py").write_text("x = 2\n")
    assert sweep.source_digest(tmp_path / "src", ("brain",)) != before, "an edit is a new code version"
    trial = load_spec(spec_file(tmp_path)).trials()[0]
    key = trial.key
    monkeypatch.setattr(sweep, "code_version", lambda: "another-version")
    assert trial.key != key, "the same trial run by other code is another trial"
    failures = [dict(trial="t__seed0", attempt=1, error="RuntimeError: out of memory", final=False),
                dict(trial="t__seed1", attempt=1, error="FloatingPointError: diverged", final=False),
                dict(trial="t__seed1", attempt=2, error="FloatingPointError: diverged", final=True)]
    report = sweep.failure_report(failures)
    assert "3 failed attempt(s); 1 trial(s) failed every attempt" in report
    assert "`t__seed1` attempt 2 (gave up): FloatingPointError: diverged" in report
    assert sweep.failure_report([]) == ""


@pytest.mark.parametrize(
    "change, message",
    [
        (("planner = \"random\"", "planner = \"dreaming\""),
         "'variants.random.planner': unknown planner 'dreaming'; valid: active-inference, model-based, need-values, "
         "random"),
        (("memory = \"none\"", "memory = \"hopfield\""), "'agent.memory': unknown memory 'hopfield'; valid: sdr, none"),
        (("seeds = [0, 1]\n", ""), "missing required field 'seeds'"),
        (("steps = 200", "steps = \"many\""), "field 'steps' must be an integer, got 'many'"),
        (("steps = 200", "steps = true"), "field 'steps' must be an integer"),
        (("seeds = [0, 1]", "seeds = [0, 0]"), "field 'seeds' repeats a seed"),
        (("horizon = 300", "horizon = 0"), "field 'horizon' must be >= 1"),
        (("steps = 200", "step = 200"), "unknown field 'step'; valid fields: name, worlds, seeds, steps"),
        (("plan_every = 5", "plan_every = 2.5"), "field 'agent.plan_every' must be an integer, got 2.5"),
        (("planner = \"random\"", "planner = \"random\"\nlevels = 2"), "variants.random: .*levels must be >= 3"),
        (("planner = \"random\"", "homeostasis = \"maybe\""), "'variants.random.homeostasis' must be one of 'on', 'off'"),
        (("perception = \"identity\"", "perception = { name = \"identity\", latent = 8 }"),
         "unknown field 'agent.perception.latent' of IdentityConfig"),
        (("perception = \"identity\"", "perception = { name = \"pc\", hidden = [16, \"wide\"] }"),
         "field 'agent.perception.hidden\\[1\\]' must be an integer"),
        (("perception = \"identity\"", "perception = 3"), "'agent.perception' must be a variant name or a table"),
        (("\"mortal/Forager-v0\"", "\"mortal/Nowhere-v0\""), "field 'worlds\\[0\\]': .*Nowhere"),
        (("[variants.aif]", "[variants.\"a b\"]"), "variant name 'a b' may hold only"),
        (("name = \"tiny\"", "name = \"../tiny\""), "field 'name' may hold only"),
        (("name = \"tiny\"", "name = \"tiny"), "not valid TOML"),
        (("[agent]", "[settings]\ncomputation_cost = -1.0\n[agent]"),
         "field 'settings' does not make mortal/Forager-v0: computation_cost must be >= 0"),
        (("[agent]", "[settings]\nthinking = 1\n[agent]"), "field 'settings' does not make .*'thinking'"),
    ],
)
def test_malformed_specs_are_errors_naming_the_field(tmp_path, change, message):
    old, new = change
    assert old in TINY
    with pytest.raises(SpecError, match=message) as error:
        load_spec(spec_file(tmp_path, TINY.replace(old, new, 1)))
    assert "spec.toml" in str(error.value), "the error names the file"


def test_specs_of_the_wrong_shape_are_errors_naming_the_field(tmp_path):
    with pytest.raises(SpecError, match="no sweep spec at"):
        load_spec(tmp_path / "missing.toml")
    least = {"worlds": ["mortal/Forager-v0"], "seeds": [0], "steps": 1}
    with pytest.raises(SpecError, match="field 'variants' is empty"):
        parse_spec({**least, "variants": {}})
    with pytest.raises(SpecError, match="field 'variants' must be a table, got 3"):
        parse_spec({**least, "variants": 3})
    with pytest.raises(SpecError, match="field 'variants.full' must be a table of slot overrides"):
        parse_spec({**least, "variants": {"full": "pc"}})
    with pytest.raises(SpecError, match="field 'seeds\\[0\\]' must be a non-negative integer"):
        parse_spec({**least, "seeds": [-1], "variants": {"full": {}}})
    assert parse_spec({**least, "variants": {"full": {}}}).name == "sweep"


PER_WORLD = TINY.replace('worlds = ["mortal/Forager-v0"]', 'worlds = ["mortal/Forager-v0", "mortal/FoodOnly-v0"]') \
                .replace('planner = "random"', 'planner = "random"\nworlds = ["mortal/FoodOnly-v0"]')


def test_a_variant_may_run_on_some_of_the_worlds_and_is_compared_there(tmp_path):
    spec = load_spec(spec_file(tmp_path, PER_WORLD))
    assert spec.worlds_of("aif") == ("mortal/Forager-v0", "mortal/FoodOnly-v0")
    assert spec.worlds_of("random") == ("mortal/FoodOnly-v0",)
    assert isinstance(spec.variants["random"].planner, RandomPlannerConfig)
    assert [(t.variant, t.world, t.seed) for t in spec.trials()] == [
        ("aif", "mortal/Forager-v0", 0), ("aif", "mortal/Forager-v0", 1),
        ("aif", "mortal/FoodOnly-v0", 0), ("aif", "mortal/FoodOnly-v0", 1),
        ("random", "mortal/FoodOnly-v0", 0), ("random", "mortal/FoodOnly-v0", 1)]
    rows = [dict(variant=t.variant, world=t.world, seed=t.seed, drive=0.1 + 0.2 * (t.variant == "random"),
                 survival_steps=100.0 * (t.seed + 1) + 50 * (t.world == "mortal/Forager-v0"), ops=1000.0,
                 **{"return": 1.0})
            for t in spec.trials()]
    summary = summarise(rows, spec)
    assert [(e["variant"], e["world"]) for e in summary] == [
        ("aif", "mortal/Forager-v0"), ("aif", "mortal/FoodOnly-v0"), ("random", "mortal/FoodOnly-v0")]
    assert summary[-1]["paired_seeds"] == 2 and summary[-1]["drive_diff_mean"] == pytest.approx(0.2)
    assert summary[-1]["survival_steps_diff_mean"] == 0.0, "paired with the reference on its own world"


@pytest.mark.parametrize("edit, error", [
    (('worlds = ["mortal/FoodOnly-v0"]', 'worlds = ["mortal/ThermalForager-v0"]'),
     "'variants.random.worlds' names 'mortal/ThermalForager-v0', which is not among the spec's worlds"),
    (('worlds = ["mortal/FoodOnly-v0"]', 'worlds = []'), "'variants.random.worlds' must be a non-empty list"),
    (('worlds = ["mortal/FoodOnly-v0"]', 'worlds = ["Nowhere-v9"]'), "'variants.random.worlds\\[0\\]'"),
    (("[variants.aif]", '[variants.aif]\nworlds = ["mortal/Forager-v0"]'),
     "variant 'random' is compared with 'aif', which does not run on mortal/FoodOnly-v0"),
    (('planner = "random"', 'planner = "random"\nreference = "random"'),
     "'variants.random.reference' must name another variant of the spec \\(aif\\), got 'random'"),
])
def test_bad_variant_worlds_are_named(tmp_path, edit, error):
    with pytest.raises(SpecError, match=error):
        load_spec(spec_file(tmp_path, PER_WORLD.replace(*edit)))


def test_a_variant_is_compared_with_the_reference_it_names(tmp_path):
    """Two brains, each with an ablation compared with it: a named reference is itself compared with nothing."""
    text = PER_WORLD + '[variants.random-argmax]\nplanner = "random"\ngate = "argmax"\nreference = "random"\n' \
                       'worlds = ["mortal/FoodOnly-v0"]\n'
    spec = load_spec(spec_file(tmp_path, text))
    assert [spec.reference_of(v) for v in spec.variants] == [None, None, "random"]
    rows = [dict(variant=t.variant, world=t.world, seed=t.seed, survival_steps=100.0 * (t.seed + 1)
                 - 10 * (t.variant == "random-argmax"), drive=0.1, ops=1.0, **{"return": 1.0}) for t in spec.trials()]
    *references, ablated = summarise(rows, spec)
    assert all("reference" not in e and "survival_steps_diff_mean" not in e for e in references)
    assert ablated["reference"] == "random" and ablated["survival_steps_diff_mean"] == pytest.approx(10.0)


def test_the_modules_sweep_removes_each_module_on_its_world_and_reports_one_figure_each():
    sys.path.insert(0, str(ROOT / "scripts"))
    from suites import _sweeps, modules

    spec = load_spec(ROOT / "scripts" / "sweeps" / "modules.toml")
    references = {"full", "values", "homing"}
    assert next(iter(spec.variants)) == "full" and spec.worlds_of("full") == spec.worlds and len(spec.seeds) >= 5
    ablated = [variant for variant in spec.variants if variant not in references]
    worlds = {variant: spec.worlds_of(variant) for variant in ablated}
    assert worlds == {"no-memory": ("mortal/Oasis-v0",), "no-gate": ("mortal/Seasons-v0",),
                      "no-perception": ("mortal/VisualForager-v0",), "random-perception": ("mortal/VisualForager-v0",),
                      "no-planner": ("mortal/Forager-v0",), "no-context-gate": ("mortal/HungrySeasons-v0",),
                      "no-episodic-memory": ("mortal/Oasis-v0",)}
    assert spec.reference_of("no-context-gate") == "values" and spec.reference_of("values") is None
    assert spec.reference_of("no-episodic-memory") == "homing"
    assert set(modules.FIGURES) == set(ablated)
    rows = [dict(variant=t.variant, world=t.world, seed=t.seed, survival_steps=1000.0 + 10 * t.seed
                 - 300 * (t.variant not in references) + 50 * (t.variant == "values") + 70 * (t.variant == "homing"),
                 drive=0.2 + 0.1 * (t.variant not in references) + 0.01 * t.seed, ops=1000.0,
                 recovery=(500.0 + 200 * (t.variant not in references) + t.seed if t.world == "mortal/Seasons-v0"
                           else math.nan), **{"return": 0.0}) for t in spec.trials()]
    figures = modules.compare(summarise(rows, spec))
    assert set(figures) == set(ablated)
    memory = figures["no-memory"]
    assert memory["world"] == "mortal/Oasis-v0" and memory["figure"] == "survival_steps"
    assert memory["full"] == pytest.approx(1020.0) and memory["ablated"] == pytest.approx(720.0)
    assert memory["diff_ci95"] == pytest.approx([300.0, 300.0])
    gate = figures["no-gate"]  # judged by the steps to recover after each return to an earlier season
    assert gate["figure"] == "recovery" and gate["full"] == pytest.approx(502.0)
    assert gate["diff_ci95"] == pytest.approx([200.0, 200.0])
    assert figures["no-perception"]["figure"] == "drive"
    context = figures["no-context-gate"]  # paired with the need-value brain, not with the brain over reflexes
    assert context["world"] == "mortal/HungrySeasons-v0" and context["figure"] == "survival_steps"
    assert context["full"] == pytest.approx(1070.0) and context["diff_ci95"] == pytest.approx([350.0, 350.0])
    homing = figures["no-episodic-memory"]  # paired with the need values that go home
    assert homing["figure"] == "survival_steps" and homing["full"] == pytest.approx(1090.0)
    assert homing["diff_ci95"] == pytest.approx([370.0, 370.0])
    json.dumps(figures)  # the suite's last line
    seasons = _sweeps.restricted(spec, ("mortal/Seasons-v0",))  # --worlds: one world, the variants that run there
    assert {t.variant for t in seasons.trials()} == {"full", "no-gate"}
    hungry = _sweeps.restricted(spec, ("mortal/HungrySeasons-v0",))
    assert {t.variant for t in hungry.trials()} == {"full", "values", "no-context-gate"}
    assert len(seasons.trials()) == 2 * len(spec.seeds) and _sweeps.restricted(spec, ()) == spec
    with pytest.raises(SystemExit, match="--worlds mortal/Nowhere-v0: not in the spec's worlds"):
        _sweeps.restricted(spec, ("mortal/Nowhere-v0",))


def test_the_metabolism_sweep_pays_for_thinking_and_reports_adaptive_against_both_fixed_brains():
    sys.path.insert(0, str(ROOT / "scripts"))
    from envs.forager import COMPUTATION_COST
    from suites import metabolism

    spec = load_spec(ROOT / "scripts" / "sweeps" / "metabolism.toml")
    assert tuple(spec.variants) == metabolism.VERSIONS and len(spec.seeds) >= 5
    assert spec.settings == {"computation_cost": COMPUTATION_COST} and spec.worlds == ("mortal/Forager-v0",)
    adaptive, most, least = (spec.variants[v] for v in metabolism.VERSIONS)
    assert adaptive.plan_when == "drive" and adaptive.learn_when == "surprised"
    assert adaptive.perception.settle_tolerance > 0
    assert most.plan_every == 1 and least.perception.steps < most.perception.steps
    ops = {"adaptive": 20_000.0, "max": 100_000.0, "min": 10_000.0}
    rows = [dict(variant=t.variant, world=t.world, seed=t.seed, survival_steps=5000.0 + 100 * t.seed
                 + 1000 * (t.variant == "adaptive"), drive=0.3, ops=ops[t.variant], **{"return": 0.0})
            for t in spec.trials()]
    figures = metabolism.compare(summarise(rows, spec))
    assert figures["adaptive"] == {"survival_steps_mean": 6200.0, "drive_mean": 0.3, "ops_per_step": 20_000.0}
    assert figures["adaptive_vs_max_diff_ci95"] == pytest.approx([1000.0, 1000.0])  # adaptive minus max
    assert figures["adaptive_vs_min_diff_ci95"] == pytest.approx([1000.0, 1000.0])
    assert figures["adaptive_ops_fraction_of_max"] == pytest.approx(0.2)
    json.dumps(figures)  # the suite's last line
