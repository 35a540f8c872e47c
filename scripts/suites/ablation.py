"""Ablation: what each brain module contributes to survival on mortal/Forager-v0 (evaluate, long).

The sweep in scripts/sweeps/forager_ablation.toml, in one Ray run: the default agent, and the same agent
with its perception, memory, planner or gate removed (identity, none, random, argmax), 5 seeds each. Every
trial's agent learns for the spec's step budget, then lives one fresh evaluation life (still learning);
survival is the length of that life, capped at the spec's horizon. Results are kept in
runs/sweep__forager-ablation/, so an interrupted run resumes where it stopped.
"""

import dataclasses
import math
from pathlib import Path

import jax

from agents.sweep import load_spec, run_sweep
from suites._report import print_table

SPEC = Path(__file__).resolve().parents[1] / "sweeps" / "forager_ablation.toml"


def evaluate(
    steps: int | None = None,
    horizon: int | None = None,
    seeds: int | None = None,
    executor: str = "ray",
    address: str | None = None,
    cpus: int | None = None,
    out: str = "runs/sweep__forager-ablation",
) -> dict:
    """Long (about an hour on 2 CPU cores at the spec's budget): survival per variant, mean and 95% interval
    over seeds, and each variant's paired difference from the full brain. `steps`, `horizon` and `seeds`
    (the first n of the spec's) override the spec for smaller runs."""
    spec = load_spec(SPEC)
    overrides = {"steps": steps, "horizon": horizon, "seeds": seeds and spec.seeds[:seeds]}
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", "runs/.jax_cache")
    print(f"ablation on {', '.join(spec.worlds)} (long): {len(spec.variants)} variants x {len(spec.seeds)} seeds; "
          f"each agent learns {spec.steps} env steps, then one evaluation life capped at {spec.horizon} steps",
          flush=True)
    summary = run_sweep(spec, out, executor, address=address, num_cpus=cpus)
    print_table([dict(variant=e["variant"], seeds=e["seeds"], survival_steps_mean=round(e["survival_steps_mean"]),
                      ci95=_interval(e["survival_steps_ci95"], "{:.0f}"),
                      full_better_survival=_interval(e.get("survival_steps_diff_ci95"), "{:.0f}"),
                      drive_mean=e["drive_mean"], full_better_drive=_interval(e.get("drive_diff_ci95"), "{:.3g}"),
                      return_mean=e["return_mean"]) for e in summary],
                f"survival on {', '.join(spec.worlds)} after {spec.steps} learning steps (horizon {spec.horizon}; "
                f"mean and 95% bootstrap interval over seeds; full_better_*: the paired difference from the "
                f"full brain on the same seeds, positive where the full brain does better); tables and plot in {out}/")
    return {e["variant"]: {"survival_steps_mean": e["survival_steps_mean"], "ci95": _plain(e["survival_steps_ci95"]),
                           "diff_ci95": _plain(e.get("survival_steps_diff_ci95"))}
            for e in summary}


def _plain(bounds):
    """An interval for JSON: None where there is none."""
    return None if bounds is None else [None if math.isnan(x) else x for x in bounds]


def _interval(bounds, style: str) -> str:
    if bounds is None:
        return "(reference)"
    return "n/a" if math.isnan(bounds[0]) else f"[{style.format(bounds[0])}, {style.format(bounds[1])}]"
