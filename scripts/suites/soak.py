"""Soak: one long run of the default agent on mortal/Forager-v0, watched for leaks, slow-downs and non-finite values.

bench (long: 10^6 env steps take tens of minutes on 2 CPU cores; it says how long from a measured warm-up): a
population of the world's default brain (`agents.config.default_config`: the need values) lives `steps` env steps in
all (steps / population each), learning throughout. It reports the resident memory at 10%, 50% and 100% of the
run, steps/s over the first and the last 10%, and every non-finite value in the agents' info. Targets:
`rss_growth` (resident memory at 100% over 10%) <= 1.05, `nonfinite` 0.
"""

import os
import time

import numpy as np

from agents.config import default_config
from agents.loop import Run
from suites._report import print_table, progress

FORAGER = "mortal/Forager-v0"
MARKS = (0.1, 0.5, 1.0)  # where resident memory is reported


def bench(steps: int = 1_000_000, population: int = 8, warmup: int = 200, seed: int = 0) -> dict:
    """Long (10^6 env steps: tens of minutes on 2 CPU cores): memory, speed and non-finite values over one run."""
    per_agent = steps // population
    if per_agent < 10 or warmup < 1:
        raise SystemExit(f"error: --steps must give each of the {population} agents >= 10 steps, and --warmup >= 1")
    run = Run.start(default_config(FORAGER), FORAGER, population, seed)
    nonfinite = [0]

    def count(t, info, record, obs):
        nonfinite[0] += sum(int(np.size(v) - np.count_nonzero(np.isfinite(v))) for v in info.values()
                            if np.issubdtype(np.asarray(v).dtype, np.floating))

    run.train(warmup, on_step=count)  # compiles
    rate = warmup * population / _timed(run, warmup, count)  # the warm-up: 2 x warmup steps before the run proper
    print(f"soak (long): {steps:,} env steps of the default agent on {FORAGER} ({population} agents x {per_agent:,} "
          f"steps); at the warm-up's {rate:,.0f} env steps/s this takes about {steps / rate / 60:.0f} min", flush=True)
    tenth = max(per_agent // 10, 1)
    rows, rss, speed = [], {}, {}
    lived = 0
    bar = progress(total=per_agent * population, desc="soak", unit="env step")

    def counted(t, info, record, obs):
        count(t, info, record, obs)
        bar.update(population)

    while lived < per_agent:
        piece = min(tenth, per_agent - lived)
        seconds = _timed(run, piece, counted)
        lived += piece
        fraction = lived / per_agent
        if lived == piece:
            speed["first"] = piece * population / seconds
        if lived == per_agent:
            speed["last"] = piece * population / seconds
        for mark in MARKS:
            if mark not in rss and fraction >= mark - 1e-9:
                rss[mark] = resident_mib()
                rows.append(dict(progress=f"{mark:.0%}", steps=lived * population, rss_mib=round(rss[mark], 1),
                                 steps_per_s=round(piece * population / seconds), nonfinite=nonfinite[0],
                                 lives_ended=len(run.record.lives)))
                bar.set_postfix(rss_mib=rows[-1]["rss_mib"], nonfinite=nonfinite[0], refresh=False)
                bar.write("  " + ", ".join(f"{k} {v}" for k, v in rows[-1].items()))
    bar.close()
    run.envs.close()
    figures = dict(rss_growth=rss[1.0] / rss[0.1], steps_per_s_first=speed["first"], steps_per_s_last=speed["last"],
                   nonfinite=nonfinite[0], rss_mib_first=rss[0.1], rss_mib_last=rss[1.0], steps=per_agent * population)
    print_table(rows, f"soak: {FORAGER}, default agent x {population}, {per_agent * population:,} env steps "
                      f"(targets: rss_growth <= 1.05: {figures['rss_growth']:.3f}; nonfinite 0: {nonfinite[0]})")
    return figures


def resident_mib() -> float:
    """This process's resident memory in MiB (psutil if installed, else /proc/self/statm)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return psutil.Process().memory_info().rss / 2**20


def _timed(run: Run, steps: int, on_step) -> float:
    start = time.perf_counter()
    run.train(steps, on_step=on_step)
    return time.perf_counter() - start
