"""Modules: each brain module removed on the world that needs it (evaluate, long: hours on 2 CPU cores).

The sweep in scripts/sweeps/modules.toml, in one Ray run: the brain over reflexes (PC perception, SDR memory, the
pymdp planner, the basal ganglia) on every world, and beside it, on the same seeds, memory removed on
mortal/Oasis-v0, the gate (basal ganglia -> argmax) on mortal/Seasons-v0, perception (-> identity and -> a random
projection) on mortal/VisualForager-v0 and the planner (-> random) on mortal/Forager-v0; on HungrySeasons (Seasons
where the wrong item costs) the need-value brain whose outcome model the context gate divides among contexts,
beside it with one context (context gate -> argmax); and on Oasis the need-value brain that goes back to where its
SDR memory says each need was met, beside it recalling nothing (memory -> none). Each ablation is paired with its
own full brain (the spec's `reference`). Every trial's agent learns for the spec's step budget, then lives one
fresh evaluation life (still learning). Each variant is judged by one figure (`FIGURES`) that the horizon does not
cap for the full brain: survival where the world is hard enough that lives end before it (HungrySeasons
included: a body that does not re-adapt dies of it), the steps to recover after each return to an earlier season
on Seasons (`agents.recovery`), mean drive elsewhere. The difference is paired by seed, signed so that a positive
difference means the full brain does better, with its 95% bootstrap interval; a module matters on its world where
that interval excludes zero. Results are kept in runs/sweep__modules/, so an interrupted run resumes where it
stopped.
"""

from suites import _sweeps
from suites._report import print_table

FIGURES = {  # variant -> the sweep metric it is judged by (agents.sweep.METRICS)
    "no-memory": "survival_steps",
    "no-gate": "recovery",
    "no-context-gate": "survival_steps",  # HungrySeasons: a body that does not re-adapt dies of it
    "no-episodic-memory": "survival_steps",
    "no-perception": "drive",
    "random-perception": "drive",
    "no-planner": "survival_steps",
}


def evaluate(options: _sweeps.Flat = _sweeps.Options(), out: str = "runs/sweep__modules") -> dict:
    """Long (hours on 2 CPU cores at the spec's budget): per ablated module, its world, its figure for the full
    and the ablated brain, and the paired difference's 95% bootstrap interval. `--steps`, `--horizon` and
    `--seeds` (the first n of the spec's) override the spec for smaller runs; `--worlds` runs only those worlds
    (e.g. `--worlds mortal/Seasons-v0`: the brain over reflexes and the one without the gate)."""
    spec, summary = _sweeps.run(_sweeps.SWEEPS / "modules.toml", out, options)
    figures = compare(summary)
    print_table([dict(variant=variant, world=row["world"], figure=row["figure"], full=row["full"],
                      ablated=row["ablated"], full_better=_sweeps.interval(row["diff_ci95"], "{:.3g}"),
                      verdict=_verdict(row["diff_ci95"]))
                 for variant, row in figures.items()],
                f"each module removed on its world after {spec.steps} learning steps (horizon {spec.horizon}; "
                f"{len(spec.seeds)} seeds; full_better: the paired difference, positive where the full brain does "
                f"better, 95% bootstrap interval); every variant x world in {out}/summary.md")
    return figures


def compare(summary: list[dict]) -> dict:
    """Per ablated variant: {"world", "figure", "full", "ablated", "diff_ci95"} from the sweep's summary rows, "full"
    being its reference (the brain it is the ablation of) on its world."""
    rows = {(row["variant"], row["world"]): row for row in summary}
    figures = {}
    for row in summary:
        if "reference" not in row:
            continue
        metric = FIGURES[row["variant"]]
        full = rows[row["reference"], row["world"]]
        figures[row["variant"]] = {"world": row["world"], "figure": metric,
                                   "full": full[f"{metric}_mean"], "ablated": row[f"{metric}_mean"],
                                   "diff_ci95": _sweeps.plain(row[f"{metric}_diff_ci95"])}
    return figures


def _verdict(bounds) -> str:
    """What the paired interval shows: the brain does worse without the module, better, or neither."""
    if bounds is None or None in bounds:
        return "not shown"
    return "worse without it" if bounds[0] > 0 else "better without it" if bounds[1] < 0 else "not shown"
