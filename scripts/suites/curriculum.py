"""Curriculum: the forager curriculum (FoodOnly -> Forager -> ThermalForager) taught with and without the
perception's plasticity gate, in one run (evaluate, long).

Both agents are the default brain; the gated one gives each lesson its own latent and hidden units. They are
taught side by side in two worker processes. Figures: lessons mastered (gated), the lowest retention on an
earlier lesson at the end (its final test score over its mastery score), gated and ungated.
"""

import concurrent.futures
import dataclasses
import multiprocessing
from pathlib import Path

from agents.config import AgentConfig
from agents.curriculum import LessonReport, load_curriculum, rows, summary, teach, with_contexts
from agents.sweep import limit_xla_threads
from suites._report import print_table

CURRICULUM = Path(__file__).resolve().parents[1] / "curricula" / "forager.toml"


def _teach(path: str, gated: bool, population: int | None, seed: int | None) -> list[LessonReport]:
    """One worker process: teaches the curriculum to one brain, on one core."""
    limit_xla_threads()
    curriculum = load_curriculum(path)
    overrides = {"population": population, "seed": seed}
    curriculum = dataclasses.replace(curriculum, **{k: v for k, v in overrides.items() if v is not None})
    config = with_contexts(AgentConfig(), len(curriculum.lessons)) if gated else AgentConfig()
    label = "gated" if gated else "ungated"
    return teach(curriculum, config, log=lambda line: print(f"{label}: {line}", flush=True))


def evaluate(curriculum: str = str(CURRICULUM), population: int | None = None, seed: int | None = None) -> dict:
    """Long (20 to 40 minutes on 2 CPU cores): the curriculum with and without the gate. `population` and
    `seed` override the curriculum's."""
    print(f"curriculum {curriculum} (long), with and without the plasticity gate, in two processes", flush=True)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = {gated: pool.submit(_teach, curriculum, gated, population, seed) for gated in (True, False)}
        reports = {gated: run.result() for gated, run in runs.items()}
    for gated, label in ((True, "gated (a context per lesson)"), (False, "ungated")):
        print_table(rows(reports[gated]), f"{label}:")
    gated, ungated = summary(reports[True]), summary(reports[False])
    return {"lessons_mastered": gated["lessons_mastered"], "lessons": gated["lessons"],
            "retention_min": gated["retention_min"], "ungated_lessons_mastered": ungated["lessons_mastered"],
            "ungated_retention_min": ungated["retention_min"],
            "steps_to_mastery": {r.name: r.steps_to_mastery for r in reports[True]},
            "ungated_steps_to_mastery": {r.name: r.steps_to_mastery for r in reports[False]}}
