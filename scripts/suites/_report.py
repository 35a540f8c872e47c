"""Shared output helpers for the suites: a plain-text table, a progress bar and a run folder for artefacts."""

import time
from pathlib import Path

from tqdm import tqdm


def print_table(rows: list[dict], title: str = "") -> None:
    """Prints `rows` (dicts with the same keys) as an aligned table."""
    if title:
        print(f"\n{title}")
    if not rows:
        return
    columns = list(rows[0])
    cells = [[_format(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def progress(iterable=None, *, desc: str, total: int | None = None, unit: str = "it", **settings) -> tqdm:
    """A progress bar with an ETA over `iterable` (or `total` updates), on stderr when it is a terminal and silent
    otherwise (CI, logs); `bar.set_postfix(...)` shows the figures that matter as they come."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, mininterval=1, dynamic_ncols=True, disable=None,
                **settings)


def run_folder(suite: str, root: str = "runs") -> Path:
    """A fresh folder `runs/<suite>__<time>/` for a suite's artefacts (plots, samples)."""
    folder = Path(root) / f"{suite}__{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
