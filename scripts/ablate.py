"""Run an ablation sweep: brain variants x worlds x seeds from a TOML spec, as trials on Ray Tune.

    python scripts/ablate.py scripts/sweeps/forager_ablation.toml                 # local Ray, no setup
    python scripts/ablate.py SPEC --address ray://head:10001                      # an existing Ray cluster
    python scripts/ablate.py SPEC --executor serial                               # no Ray: one trial at a time

Writes into runs/sweep__<spec name>/ (or --out): trials.jsonl (one line per trial, as each finishes),
failures.jsonl (each crash), summary.csv, summary.md and summary.png. Run it again to finish an interrupted
sweep: finished trials are kept and skipped. The spec format is in `agents/sweep.py`.
"""

import dataclasses
import os
import sys
from pathlib import Path
from typing import Literal

os.environ.setdefault("MUJOCO_GL", "egl")

import jax  # noqa: E402
import tyro  # noqa: E402

from agents.sweep import SpecError, SweepError, load_spec, markdown_table, run_sweep  # noqa: E402


@dataclasses.dataclass
class Args:
    spec: tyro.conf.Positional[Path]
    """the sweep spec (TOML)"""
    executor: Literal["ray", "serial"] = "ray"
    """ray: trials in parallel on Ray Tune, one CPU each; serial: one after another in this process"""
    address: str | None = None
    """join the Ray cluster at this address instead of starting a local one"""
    cpus: int | None = None
    """CPUs of the local Ray cluster (default: all of this machine's)"""
    out: Path | None = None
    """the sweep's folder (default runs/sweep__<spec name>); reuse it to resume"""
    compilation_cache: Path = Path("runs/.jax_cache")
    """JAX's persistent compilation cache, shared by the trials"""


if __name__ == "__main__":
    args = tyro.cli(Args)
    try:
        spec = load_spec(args.spec)
    except SpecError as error:
        sys.exit(f"error: {error}")
    jax.config.update("jax_compilation_cache_dir", str(args.compilation_cache))
    folder = args.out or Path("runs") / f"sweep__{spec.name}"
    try:
        summary = run_sweep(spec, folder, args.executor, address=args.address, num_cpus=args.cpus)
    except SweepError as error:
        sys.exit(f"error: {error}")
    print("\n" + markdown_table(summary))
    print(f"results in {folder}/: summary.csv, summary.md, summary.png, trials.jsonl")
