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
    over seeds. `steps`, `horizon` and `seeds` (the first n of the spec's) override the spec for smaller runs."""
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
                      ci95=_interval(e["survival_steps_ci95"]), drive_mean=e["drive_mean"],
                      return_mean=e["return_mean"]) for e in summary],
                f"survival on {', '.join(spec.worlds)} after {spec.steps} learning steps (horizon {spec.horizon}; "
                f"mean and 95% interval over seeds); tables and plot in {out}/")
    return {e["variant"]: {"survival_steps_mean": e["survival_steps_mean"],
                           "ci95": [None if math.isnan(x) else x for x in e["survival_steps_ci95"]]}
            for e in summary}


def _interval(bounds: tuple[float, float]) -> str:
    return "n/a" if math.isnan(bounds[0]) else f"[{bounds[0]:.0f}, {bounds[1]:.0f}]"
