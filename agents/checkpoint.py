"""Checkpoints: a whole `Run` in one file, written atomically, so resuming equals never stopping.

Layout: a magic line; a JSON header (format, world, seed, steps, population, the agent config by variant
name); the brains' pytree by Equinox serialisation; then a pickle of the worlds (MuJoCo state and RNGs),
the last observation, the record and the loop's RNG key. Written to a temporary file and renamed, so a
crash mid-write never leaves a half checkpoint behind.
"""

import dataclasses
import json
import os
import pickle
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from agents.config import SLOTS, AgentConfig, name_of, variant
from agents.loop import Population, Run, build_population, make_vector_env

MAGIC = b"mortal-checkpoint-v1\n"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not match what it is loaded into."""


def config_to_dict(config: AgentConfig) -> dict:
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out[field.name] = {"name": name_of(value), **dataclasses.asdict(value)} if field.name in SLOTS else value
    return out


def config_from_dict(data: dict) -> AgentConfig:
    fields = {}
    for key, value in data.items():
        if key in SLOTS:
            value = dict(value)
            name = value.pop("name")
            value = variant(key, name, **{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        fields[key] = value
    return AgentConfig(**fields)


def save(run: Run, path: str | Path) -> Path:
    """Writes `run` to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "world": run.world,
        "seed": run.seed,
        "steps": run.record.steps,
        "population": run.envs.num_envs,
        "config": config_to_dict(run.config),
    }
    rest = {
        "envs": run.envs,
        "current": run.current,
        "record": run.record,
        "key": np.asarray(jax.random.key_data(run.key)),
    }
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        try:
            f.write(MAGIC)
            f.write(json.dumps(header).encode() + b"\n")
            eqx.tree_serialise_leaves(f, run.population.states)
            pickle.dump(rest, f)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    return path


def read_header(path: str | Path) -> dict:
    with open(path, "rb") as f:
        return _header(f, path)


def load(path: str | Path, expect: AgentConfig | None = None) -> Run:
    """Reads a `Run` back. With `expect`, a config that differs from the checkpoint's is an error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        header = _header(f, path)
        config = config_from_dict(header["config"])
        if expect is not None and expect != config:
            differ = [k for k in config_to_dict(config) if config_to_dict(config)[k] != config_to_dict(expect)[k]]
            raise CheckpointError(f"checkpoint {path} was made with a different agent config (fields: {differ})")
        template_envs = make_vector_env(header["world"], header["population"], header["seed"])
        agent, template = build_population(config, template_envs, header["seed"], shapes_only=True)
        template_envs.close()
        try:
            states = eqx.tree_deserialise_leaves(f, template)
            rest = pickle.load(f)
        except Exception as error:  # a truncated or altered file
            raise CheckpointError(f"checkpoint {path} is corrupt or does not match its config: {error}") from error
    return Run(
        config=config,
        world=header["world"],
        seed=header["seed"],
        population=Population(agent, states),
        envs=rest["envs"],
        key=jax.random.wrap_key_data(rest["key"]),
        record=rest["record"],
        current=rest["current"],
    )


def _header(f, path) -> dict:
    if f.read(len(MAGIC)) != MAGIC:
        raise CheckpointError(f"{path} is not a Mortal checkpoint (bad magic line)")
    try:
        return json.loads(f.readline())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint {path} has a corrupt header: {error}") from error
