"""Curriculum: the forager curriculum (FoodOnly -> Forager -> ThermalForager) taught to the mortal worlds' default
brain (need values on raw actuators, `agents.config.NEED_VALUES`) and, beside it in the same run, to the brain over
motor reflexes with and without its perception's plasticity gate (evaluate, long).

The gated reflex brain gives each lesson its own latent and hidden units. The brains are taught in two worker
processes. Figures: lessons mastered and the lowest retention on an earlier lesson at the end (its final test
score over its mastery score), of each brain: the default's unprefixed, `reflex_*` (gated) and `ungated_*`.
"""

import concurrent.futures
import dataclasses
import multiprocessing
from pathlib import Path

from agents.config import NEED_VALUES, AgentConfig
from agents.curriculum import LessonReport, load_curriculum, rows, summary, teach, with_contexts
from agents.sweep import limit_xla_threads
from suites._report import print_table

CURRICULUM = Path(__file__).resolve().parents[1] / "curricula" / "forager.toml"
BRAINS = {"default": "need values on raw actuators", "reflex": "reflexes, gated (a context per lesson)",
          "ungated": "reflexes, ungated"}
PREFIX = {"default": "", "reflex": "reflex_", "ungated": "ungated_"}


def _teach(path: str, brain: str, population: int | None, seed: int | None) -> list[LessonReport]:
    """One worker process: teaches the curriculum to one brain (a key of `BRAINS`), on one core."""
    limit_xla_threads()
    curriculum = load_curriculum(path)
    overrides = {"population": population, "seed": seed}
    curriculum = dataclasses.replace(curriculum, **{k: v for k, v in overrides.items() if v is not None})
    config = {"default": NEED_VALUES, "reflex": with_contexts(AgentConfig(), len(curriculum.lessons)),
              "ungated": AgentConfig()}[brain]
    return teach(curriculum, config, log=lambda line: print(f"{brain}: {line}", flush=True))


def evaluate(curriculum: str = str(CURRICULUM), population: int | None = None, seed: int | None = None,
             brains: tuple[str, ...] = tuple(BRAINS)) -> dict:
    """Long (about an hour on 2 CPU cores): the curriculum taught to each of `brains` (keys of `BRAINS`).
    `population` and `seed` override the curriculum's."""
    unknown = set(brains) - set(BRAINS)
    if unknown:
        raise ValueError(f"unknown brains {sorted(unknown)}: choose from {list(BRAINS)}")
    print(f"curriculum {curriculum} (long): {', '.join(BRAINS[b] for b in brains)}; two processes", flush=True)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = {brain: pool.submit(_teach, curriculum, brain, population, seed) for brain in brains}
        reports = {brain: run.result() for brain, run in runs.items()}
    figures = {}
    for brain in brains:
        print_table(rows(reports[brain]), f"{BRAINS[brain]}:")
        figures.update({f"{PREFIX[brain]}{key}": value for key, value in summary(reports[brain]).items()})
        figures[f"{PREFIX[brain]}steps_to_mastery"] = {r.name: r.steps_to_mastery for r in reports[brain]}
    return figures
