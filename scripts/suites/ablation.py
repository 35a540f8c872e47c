"""Ablation: what each brain module contributes to survival on mortal/Forager-v0 (evaluate, long).

The sweep in scripts/sweeps/forager_ablation.toml, in one Ray run: the default agent, and the same agent
with its perception, memory, planner or gate removed (identity, none, random, argmax), 5 seeds each. Every
trial's agent learns for the spec's step budget, then lives one fresh evaluation life (still learning);
survival is the length of that life, capped at the spec's horizon. Results are kept in
runs/sweep__forager-ablation/, so an interrupted run resumes where it stopped.
"""

from suites import _sweeps
from suites._report import print_table


def evaluate(options: _sweeps.Flat = _sweeps.Options(), out: str = "runs/sweep__forager-ablation") -> dict:
    """Long (about an hour on 2 CPU cores at the spec's budget): survival per variant, mean and 95% interval
    over seeds, and each variant's paired difference from the full brain. `--steps`, `--horizon` and `--seeds`
    (the first n of the spec's) override the spec for smaller runs."""
    spec, summary = _sweeps.run(_sweeps.SWEEPS / "forager_ablation.toml", out, options)
    print_table([dict(variant=e["variant"], seeds=e["seeds"], survival_steps_mean=round(e["survival_steps_mean"]),
                      ci95=_sweeps.interval(e["survival_steps_ci95"], "{:.0f}"),
                      full_better_survival=_sweeps.interval(e.get("survival_steps_diff_ci95"), "{:.0f}"),
                      drive_mean=e["drive_mean"],
                      full_better_drive=_sweeps.interval(e.get("drive_diff_ci95"), "{:.3g}"),
                      return_mean=e["return_mean"]) for e in summary],
                f"survival on {', '.join(spec.worlds)} after {spec.steps} learning steps (horizon {spec.horizon}; "
                f"mean and 95% bootstrap interval over seeds; full_better_*: the paired difference from the "
                f"full brain on the same seeds, positive where the full brain does better); tables and plot in {out}/")
    return {e["variant"]: {"survival_steps_mean": e["survival_steps_mean"],
                           "ci95": _sweeps.plain(e["survival_steps_ci95"]),
                           "diff_ci95": _sweeps.plain(e.get("survival_steps_diff_ci95"))}
            for e in summary}
