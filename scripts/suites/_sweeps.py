"""What the sweep suites share: a spec file run on Ray (or serially) with its budget overridden for smaller runs,
and intervals written for tables and JSON."""

import dataclasses
import math
from pathlib import Path
from typing import Annotated

import jax
import tyro

from agents.sweep import SweepSpec, load_spec, run_sweep

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"


@dataclasses.dataclass(frozen=True)
class Options:
    """How a sweep suite runs its spec: smaller budgets than the spec's, and where its trials run."""

    steps: int | None = None
    """env steps each agent learns (None: the spec's)"""
    horizon: int | None = None
    """cap on every life (None: the spec's)"""
    seeds: int | None = None
    """the first n of the spec's seeds (None: all)"""
    worlds: tuple[str, ...] = ()
    """only these of the spec's worlds, with the variants that run there (none given: all)"""
    executor: str = "ray"
    """ray or serial"""
    address: str | None = None
    """a Ray cluster to join (None: start a local one)"""
    cpus: int | None = None
    """CPUs of the local Ray (None: all)"""


Flat = Annotated[Options, tyro.conf.OmitArgPrefixes]  # a suite's options as plain flags: --steps, --executor, ...


def run(spec_file: Path, out: str, options: Options) -> tuple[SweepSpec, list[dict]]:
    """Runs the sweep in `spec_file` (its unfinished trials) into `out`, its budget overridden by `options`.
    Returns the spec as run and its summary rows (variant x world)."""
    spec = load_spec(spec_file)
    overrides = {"steps": options.steps, "horizon": options.horizon,
                 "seeds": options.seeds and spec.seeds[:options.seeds]}
    spec = restricted(dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None}),
                      options.worlds)
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", "runs/.jax_cache")
    print(f"{spec.name} (long): {len(spec.trials())} trials of {len(spec.variants)} variants x {len(spec.seeds)} "
          f"seeds on {', '.join(spec.worlds)}; each agent learns {spec.steps} env steps, then one evaluation life "
          f"capped at {spec.horizon} steps", flush=True)
    return spec, run_sweep(spec, out, options.executor, address=options.address, num_cpus=options.cpus)


def restricted(spec: SweepSpec, worlds: tuple[str, ...]) -> SweepSpec:
    """`spec` on only `worlds` (all where none is given): each variant runs on those of its worlds that remain."""
    if not worlds:
        return spec
    unknown = [world for world in worlds if world not in spec.worlds]
    if unknown:
        raise SystemExit(f"error: --worlds {' '.join(unknown)}: not in the spec's worlds {', '.join(spec.worlds)}")
    keep = lambda names: tuple(world for world in names if world in worlds)
    return dataclasses.replace(spec, worlds=keep(spec.worlds),
                               variant_worlds={name: keep(names) for name, names in spec.variant_worlds.items()})


def plain(bounds):
    """An interval for JSON: None where there is none."""
    return None if bounds is None else [None if math.isnan(x) else x for x in bounds]


def interval(bounds, style: str) -> str:
    """An interval for a table: "(reference)" where there is none, "n/a" where it is undefined."""
    if bounds is None:
        return "(reference)"
    return "n/a" if math.isnan(bounds[0]) else f"[{style.format(bounds[0])}, {style.format(bounds[1])}]"
