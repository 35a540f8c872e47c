"""Train an agent: each member of a population lives one continuous life in its world, learning as it goes.

    python scripts/train.py                                   # the default brain on mortal/Forager-v0
    python scripts/train.py planner:active-inference gate:softmax --motor reflexes  # swap brain modules by name
    python scripts/train.py --world CartPole-v1 --plan-every 2
    python scripts/train.py --resume runs/<name>/checkpoint.ckpt --steps 100000

Writes runs/<world>__<agent>__<seed>__<time>/: config.json, TensorBoard events, checkpoint.ckpt, and
internal_state.png (the first agent's internal variables against their set-points, over the whole life).
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Literal, NoReturn

os.environ.setdefault("MUJOCO_GL", "egl")

import matplotlib

matplotlib.use("Agg")
import gymnasium as gym  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402
from tensorboardX import SummaryWriter  # noqa: E402
from tqdm import tqdm  # noqa: E402

from agents import checkpoint  # noqa: E402
from agents.config import AgentConfig, ConfigError, default_config, import_plugins, validate  # noqa: E402
from agents.loop import Run  # noqa: E402
from agents.recording import Clips  # noqa: E402


@dataclasses.dataclass
class Args:
    world: str = "mortal/Forager-v0"
    """any registered Gymnasium id; tasks that are not mortal worlds are wrapped by envs.Homeostatic"""
    steps: int = 200_000
    """env steps per population member (the default run takes about 10 minutes on 2 CPU cores)"""
    population: int = 4
    """agents living side by side, each in its own copy of the world (the brain step is vmapped)"""
    seed: int = 0
    """seed of the worlds and the brains"""
    computation_cost: float = 0.0
    """nutrient per synaptic operation the brain computes (mortal worlds; 0: thinking is free; 1.3e-9,
    envs.forager.COMPUTATION_COST, makes thinking at full capacity cost the Forager's metabolic decay)"""
    checkpoint_every: int = 20_000
    """env steps between checkpoints (checkpoint.ckpt is the newest, the last 3 are kept); TensorBoard events and
    the internal-state trace are flushed with each, so a crash loses at most this many steps"""
    log_every: int = 500
    """env steps between TensorBoard scalars"""
    clip_every: int | None = None
    """env steps between TensorBoard clips: a copy of agent 0 lives a fresh life of up to 200 steps, logged as an
    overlaid animated GIF (images, `agent/clip`) with its internal-state figure (`agent/internal_state`); off by
    default (a clip costs a few seconds, the first one more: it compiles the copy's step)"""
    resume: str | None = None
    """continue the run saved in this checkpoint (its world and brain; a brain named here must match it)"""
    runs: str = "runs"
    """folder that holds the run folders"""
    on_divergence: Literal["stop", "end-life"] = "stop"
    """when a brain module diverges (non-finite values): stop the run, or end that agent's life and go on with a
    newborn brain; either way the module, the agent and the step are named"""
    plugin: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """a module to import first, which registers brain modules of your own (repeat for more; README, "Write your
    own brain module")"""
    agent: Annotated[AgentConfig, tyro.conf.arg(name="")] = AgentConfig()
    """the brain: one variant per slot (see `perception:`, `memory:`, `planner:`, `gate:` subcommands); by default
    the world's own default brain (agents.config.default_config)"""


def plot_internal_state(trace: np.ndarray, names, set_point, low, high, path: Path) -> None:
    """One panel per internal variable: its trajectory, set-point and viable range."""
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 2.2 * len(names)), sharex=True, squeeze=False)
    for ax, i in zip(axes[:, 0], range(len(names))):
        ax.axhspan(low[i], high[i], color="tab:green", alpha=0.08, label="viable range")
        ax.axhline(set_point[i], color="tab:green", lw=1, ls="--", label="set-point")
        ax.plot(trace[:, 0], trace[:, 1 + i], lw=0.8, color="tab:blue")
        ax.set_ylabel(names[i])
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("env step (agent 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def append_trace(path: Path, rows: list) -> np.ndarray:
    """Adds `rows` ([step, internal variables...]) to the trace at `path`, atomically, and returns the whole trace;
    rows from the first new step on are dropped first (steps lived again from a checkpoint, after a crash)."""
    trace = np.load(path) if path.exists() else None
    if rows:
        new = np.asarray(rows, np.float64)
        trace = new if trace is None else np.concatenate([trace[trace[:, 0] < new[0, 0]], new])
        partial = path.with_name(f".{path.name}")
        with open(partial, "wb") as f:
            np.save(f, trace)
        partial.replace(path)
    return trace


RESUMED_FLAGS = ("world", "population", "seed", "computation_cost")  # fixed by a checkpoint: on --resume, given only
# to agree with it


def flags_given(argv: list[str]) -> dict:
    """The `RESUMED_FLAGS` given on the command line, read before the rest (`--world` chooses the default brain)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in RESUMED_FLAGS:
        spellings = dict.fromkeys((f"--{name.replace('_', '-')}", f"--{name}"))  # tyro's, and the field's
        parser.add_argument(*spellings, dest=name, type=type(getattr(Args, name)))
    return {k: v for k, v in vars(parser.parse_known_args(argv)[0]).items() if v is not None}


def import_plugins_given(argv: list[str]) -> None:
    """Imports the `--plugin` modules before the rest is read: the variants they register become subcommands."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--plugin", action="append", default=[])
    try:
        import_plugins(parser.parse_known_args(argv)[0].plugin)
    except ValueError as error:
        usage_error(str(error))


def usage_error(message: str) -> NoReturn:
    """Ends the script as argparse does on a usage error: `error: message` on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def check(args: Args, given: dict) -> None:
    """A usage error for a bad count or interval, a bad brain, or a flag that conflicts with the resumed checkpoint."""
    for name in ("steps", "population", "checkpoint_every", "log_every", "clip_every"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            usage_error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.seed < 0:
        usage_error(f"--seed must be >= 0, got {args.seed}")
    try:
        validate(args.agent)
        header = checkpoint.read_header(args.resume) if args.resume else {}
    except (ValueError, OSError) as error:
        usage_error(str(error))
    made = {"computation_cost": 0.0, **header.get("settings", {}), **header} if args.resume else {}
    for name, value in given.items():
        if name in made and made[name] != value:
            usage_error(f"--{name.replace('_', '-')} {value} conflicts with the checkpoint {args.resume}, made with "
                        f"{made[name]}")


if __name__ == "__main__":
    import_plugins_given(sys.argv[1:])
    given = flags_given(sys.argv[1:])
    world = given.get("world", Args.world)
    default = Args(world=world, agent=default_config(world))
    args = tyro.cli(Args, default=default, config=(tyro.conf.CascadeSubcommandArgs,))
    check(args, given)
    if args.resume:  # a brain named on the command line must be the checkpoint's
        try:
            run = checkpoint.load(args.resume, expect=None if args.agent == default.agent else args.agent)
        except checkpoint.CheckpointError as error:
            usage_error(str(error))
        folder = Path(args.resume).parent
    else:
        try:
            settings = {"computation_cost": args.computation_cost} if args.computation_cost else {}
            run = Run.start(args.agent, args.world, args.population, args.seed, **settings)
        except (ConfigError, gym.error.Error, TypeError, ValueError) as error:  # a brain too big for the world's channels, an unknown world
            usage_error(str(error))
        name = f"{args.world.replace('/', '-')}__{args.agent.describe()}__{args.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
        folder = Path(args.runs) / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(
            json.dumps({"world": args.world, "population": args.population, "seed": args.seed,
                        "agent": checkpoint.config_to_dict(args.agent)}, indent=2)
        )
    writer = SummaryWriter(str(folder))
    clips = Clips(run) if args.clip_every else None
    physiology = run.envs.envs[0].get_wrapper_attr("physiology")
    channels = run.population.agent.motor.names
    trace, lives_logged = [], len(run.record.lives)
    sums = {"drive": 0.0, "free_energy": 0.0, "familiarity": 0.0, "n": 0}
    ops = {}  # per module, the synaptic operations summed since the last log
    counts = np.zeros(len(channels))
    progress = tqdm(total=args.steps, desc=f"{run.world} x{run.envs.num_envs}", unit="step", mininterval=2,
                    disable=None)

    def on_step(t, info, record, obs):
        global lives_logged
        step = record.steps
        sums["drive"] += float(np.mean(info["drive"]))
        sums["free_energy"] += float(np.mean(info["free_energy"]))
        sums["familiarity"] += float(np.mean(info["familiarity"]))
        sums["n"] += 1
        for module, count in info["ops"].items():
            ops[module] = ops.get(module, 0.0) + float(np.mean(count))
        counts[:] += np.bincount(np.asarray(info["channel"]), minlength=len(channels))
        if step % 10 == 0 or step == end:  # and the last step, so that a short run has a trace
            trace.append([step, *np.asarray(obs.intero[0])])
        for life in record.lives[lives_logged:]:
            writer.add_scalar("charts/survival_steps", life["survival_steps"], step)
            writer.add_scalar("charts/life_drive_mean", life["drive_mean"], step)
            writer.add_scalar("charts/episodic_return", life["return_"], step)
            writer.add_scalar("charts/life_ops_per_step", life["ops_per_step"], step)
        lives_logged = len(record.lives)
        if step % args.log_every == 0:
            n = max(sums["n"], 1)
            writer.add_scalar("charts/drive", sums["drive"] / n, step)
            writer.add_scalar("brain/free_energy", sums["free_energy"] / n, step)
            writer.add_scalar("brain/familiarity", sums["familiarity"] / n, step)
            for module, total in ops.items():
                writer.add_scalar(f"brain/ops/{module}", total / n, step)
            ops.clear()
            for name, share in zip(channels, counts / max(counts.sum(), 1)):
                writer.add_scalar(f"brain/channel/{name}", share, step)
            sums.update(drive=0.0, free_energy=0.0, familiarity=0.0, n=0)
            counts[:] = 0
        if clips is not None and step % args.clip_every == 0:
            clips.log(writer, step)
        progress.update(1)

    start, end, every = time.perf_counter(), run.record.steps + args.steps, args.checkpoint_every
    while run.record.steps < end:  # lived in pieces between checkpoints (the same as in one piece)
        record = run.train(min(every - run.record.steps % every, end - run.record.steps), on_step=on_step,
                           on_divergence=args.on_divergence)
        checkpoint.save(run, folder / "checkpoint.ckpt")
        writer.flush()
        whole = append_trace(folder / "internal_state.npy", trace)  # the whole life so far, across resumed runs
        trace.clear()
    progress.close()
    writer.close()
    plot_internal_state(whole, physiology.names, physiology.set_point, physiology.low, physiology.high,
                        folder / "internal_state.png")

    lives = record.lives
    elapsed = time.perf_counter() - start
    print(f"\n{run.envs.num_envs} agents x {args.steps} steps in {elapsed:.0f}s "
          f"({run.envs.num_envs * args.steps / elapsed:.0f} env steps/s)")
    if lives:
        print(f"lives ended: {len(lives)}; mean survival {np.mean([l['survival_steps'] for l in lives]):.0f} steps; "
              f"causes: {sorted({l['cause_of_death'] for l in lives})}")
    alive = [int(x) for x in np.asarray(run.population.states.life_steps)]
    print(f"still alive at the end: steps lived in the current lives = {alive}")
    print(f"results in {folder}/ (tensorboard --logdir {folder})")
