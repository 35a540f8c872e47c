"""Metabolism: how much to think when thinking costs food (evaluate, long: about an hour on 2 idle CPU cores).

The sweep in scripts/sweeps/metabolism.toml, in one Ray run: on mortal/Forager-v0 with the computation cost
on (`computation_cost`: every nutrient pays that much per synaptic operation the brain computes), three
versions of the same brain, on the same seeds and learning budget:

- adaptive: it chooses how much to compute each step (perception stops inferring once free energy settles;
  the planner plans afresh only when surprised, when its drive has risen, or at its longest interval);
- max: planning every step, and every inference step;
- min: planning rarely, and few inference steps.

Every trial's agent learns for the spec's step budget, then lives one fresh evaluation life (still learning,
still paying). Figures per version: mean survival of that life, mean drive, mean synaptic operations per step;
and the paired 95% bootstrap interval of the survival difference, adaptive minus each fixed version, on the
same seeds. Results are kept in runs/sweep__metabolism/, so an interrupted run resumes where it stopped.
"""

from suites import _sweeps
from suites._report import print_table

VERSIONS = ("adaptive", "max", "min")  # the spec's variants; the first is the reference of the paired differences


def evaluate(options: _sweeps.Flat = _sweeps.Options(), out: str = "runs/sweep__metabolism") -> dict:
    """Long (about an hour on 2 CPU cores at the spec's budget): survival, drive and operations per step of the
    adaptive, max and min brains with thinking costing food, and adaptive's paired survival differences.
    `--steps`, `--horizon` and `--seeds` (the first n of the spec's) override the spec for smaller runs."""
    spec, summary = _sweeps.run(_sweeps.SWEEPS / "metabolism.toml", out, options)
    rows = _versions(summary)
    maximum = rows["max"]["ops_mean"]
    print_table([dict(version=name, seeds=e["seeds"], survival_steps_mean=round(e["survival_steps_mean"]),
                      ci95=_sweeps.interval(e["survival_steps_ci95"], "{:.0f}"),
                      adaptive_survives_longer_by=_sweeps.interval(e.get("survival_steps_diff_ci95"), "{:.0f}"),
                      drive_mean=e["drive_mean"], ops_per_step=round(e["ops_mean"]),
                      ops_of_max=e["ops_mean"] / maximum) for name, e in rows.items()],
                f"mortal/Forager-v0 with computation_cost = {spec.settings.get('computation_cost')} per synaptic "
                f"operation, after {spec.steps} learning steps (horizon {spec.horizon}; {len(spec.seeds)} seeds; mean "
                f"and 95% bootstrap interval; adaptive_survives_longer_by: the paired difference, adaptive minus "
                f"this version, on the same seeds); tables and plot in {out}/")
    return compare(summary)


def compare(summary: list[dict]) -> dict:
    """The last-line figures from the sweep's summary rows: per version its survival, drive and operations per
    step; adaptive's paired survival difference from max and from min; adaptive's operations as a fraction of max's."""
    rows = _versions(summary)
    figures = {name: {"survival_steps_mean": e["survival_steps_mean"], "drive_mean": e["drive_mean"],
                      "ops_per_step": e["ops_mean"]} for name, e in rows.items()}
    for other in VERSIONS[1:]:
        figures[f"adaptive_vs_{other}_diff_ci95"] = _sweeps.plain(rows[other]["survival_steps_diff_ci95"])
    figures["adaptive_ops_fraction_of_max"] = rows["adaptive"]["ops_mean"] / rows["max"]["ops_mean"]
    return figures


def _versions(summary: list[dict]) -> dict[str, dict]:
    """The summary rows by version, checked to be the spec's three in order."""
    rows = {e["variant"]: e for e in summary}
    if tuple(rows) != VERSIONS:
        raise ValueError(f"{_sweeps.SWEEPS / 'metabolism.toml'} must run the variants {VERSIONS} in that order, "
                         f"got {tuple(rows)}")
    return rows
