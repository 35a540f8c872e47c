"""Evaluation and benchmark suites, one module per suite.

A suite module defines `evaluate(...)` (quality figures) and/or `bench(...)` (speed and memory); each
takes keyword arguments (parsed by tyro, so `SUITE --help` lists them), prints a readable table and
returns a flat dict of figures, which `scripts/evaluate.py` / `scripts/bench.py` print as JSON on the
last line of stdout.
"""

import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

import tyro

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must be set before MuJoCo loads


def names() -> list[str]:
    """Every suite module's name."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def main(kind: str, argv: list[str]) -> None:
    """`kind` is "evaluate" or "bench"; argv is `SUITE [--options]`. Imports only the suite asked for."""
    if not argv or argv[0] not in names():
        given = f"unknown suite {argv[0]!r}; " if argv and not argv[0].startswith("-") else ""
        sys.exit(f"usage: python scripts/{kind}.py SUITE [--options]\n{given}suites: {', '.join(names())}")
    module = importlib.import_module(f"suites.{argv[0]}")
    if not hasattr(module, kind):
        sys.exit(f"suite {argv[0]!r} has no {kind}(); suites with one: see `python scripts/{kind}.py`")
    figures = tyro.cli(getattr(module, kind), args=argv[1:], prog=f"{kind}.py {argv[0]}")
    print(json.dumps(figures))
