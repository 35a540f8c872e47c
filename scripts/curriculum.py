"""Teach one agent a curriculum: a sequence of lessons in one continuous life (see agents/curriculum.py).

    python scripts/curriculum.py scripts/curricula/forager.toml  # the default brain: need values on raw actuators
    python scripts/curriculum.py scripts/curricula/forager.toml perception:pc memory:sdr planner:active-inference \
        gate:basal-ganglia --motor reflexes            # the brain over reflexes, its perception gated per lesson
    python scripts/curriculum.py scripts/curricula/forager.toml --population 1 --mortal
    python scripts/curriculum.py scripts/curricula/forager.toml --resume runs/curriculum__forager__<t>/checkpoint.ckpt

Prints a table (per lesson: steps to mastery, deaths, the score at the end and the retention) and writes
runs/curriculum__<name>__<time>/report.json, and checkpoint.ckpt as it goes (at each lesson's start, every
--checkpoint-every steps and after the last lesson; resume with the same curriculum, flags and brain).
"""

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

os.environ.setdefault("MUJOCO_GL", "egl")

import tyro  # noqa: E402

from agents.checkpoint import CheckpointError, config_to_dict  # noqa: E402
from agents.config import NEED_VALUES, AgentConfig, PCConfig  # noqa: E402
from agents.curriculum import load_curriculum, rows, summary, teach, with_contexts  # noqa: E402
from agents.spec import SpecError  # noqa: E402
from suites._report import print_table  # noqa: E402


@dataclasses.dataclass
class Args:
    curriculum: tyro.conf.Positional[Path]
    """a curriculum TOML file (e.g. scripts/curricula/forager.toml)"""
    population: int | None = None
    """agents taught side by side (default: the curriculum's)"""
    mortal: bool = False
    """strict mortal mode: a death ends that agent's life (also on when the curriculum says mortal = true)"""
    seed: int | None = None
    """seed of worlds and brains (default: the curriculum's)"""
    gate: bool = True
    """give a pc perception's plasticity gate one context per lesson (--no-gate: all units shared); a brain
    without pc perception has no such gate"""
    runs: str = "runs"
    """folder that holds the run folders"""
    checkpoint_every: int = 10_000
    """lesson steps between checkpoints (checkpoint.ckpt in the run folder; the last 3 are kept)"""
    resume: Path | None = None
    """go on from this checkpoint of the same curriculum (its run folder gets the report)"""
    agent: Annotated[AgentConfig, tyro.conf.arg(name="")] = NEED_VALUES
    """the brain: one variant per slot (see `perception:`, `memory:`, `planner:`, `gate:` subcommands); default: the
    mortal worlds' (need values on raw actuators)"""


if __name__ == "__main__":
    args = tyro.cli(Args, config=(tyro.conf.CascadeSubcommandArgs,))
    try:
        curriculum = load_curriculum(args.curriculum)
    except SpecError as error:
        sys.exit(f"error: {error}")
    overrides = {k: getattr(args, k) for k in ("population", "seed") if getattr(args, k) is not None}
    curriculum = dataclasses.replace(curriculum, mortal=curriculum.mortal or args.mortal, **overrides)
    gated = args.gate and isinstance(args.agent.perception, PCConfig)
    config = with_contexts(args.agent, len(curriculum.lessons)) if gated else args.agent
    if args.checkpoint_every < 1:
        sys.exit(f"error: --checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.resume is not None:
        folder = args.resume.parent
    else:
        folder = Path(args.runs) / f"curriculum__{curriculum.name}__{time.strftime('%Y%m%d-%H%M%S')}"
        folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        reports = teach(curriculum, config, save_to=folder / "checkpoint.ckpt", checkpoint_every=args.checkpoint_every,
                        resume=args.resume)
    except CheckpointError as error:
        sys.exit(f"error: {error}")
    print_table(rows(reports), f"curriculum {curriculum.name}: {curriculum.population} agent(s), "
                               f"{config.describe()} ({time.perf_counter() - start:.0f} s)")
    for report in reports:
        for death in report.deaths:
            print(f"death: agent {death['agent']} in lesson {report.name!r} at its step {death['step']}: "
                  f"{death['cause']}")
    figures = summary(reports)
    (folder / "report.json").write_text(json.dumps(
        {"curriculum": dataclasses.asdict(curriculum), "agent": config_to_dict(config), **figures,
         "lessons": [dataclasses.asdict(r) for r in reports]}, indent=2))
    print(f"{figures['lessons_mastered']} of {figures['lessons']} lessons mastered; lowest retention on an earlier "
          f"lesson: {figures['retention_min']}; report in {folder}/report.json")
