"""Checkpoints: a whole `Run` in one file of JSON and numpy arrays, so resuming equals never stopping.

Layout: a magic line; a JSON header (format version, world, body, world settings, time limit, population,
seed, steps, the agent config by variant name, library and code versions, the body's size); the sha256 of
header and body; the body, an `np.savez` archive of plain arrays: the brains' leaves, and the rest of the run
(the worlds' state from `envs.state`, the record, the last observation, the loop's key, and what the caller
adds in `extra`) as JSON whose arrays live beside it. Nothing is pickled: loading runs no code from the file,
and rebuilds the worlds fresh (`make_vector_env`) before loading their state.

Each save writes `<stem>-<steps><suffix>` beside `path` and makes `path` the newest of them (a hard link,
replaced atomically), keeping the newest `keep`; the directory is fsynced after the renames, so a crash at
any moment leaves the last complete checkpoint behind.
"""

import dataclasses
import functools
import hashlib
import importlib.metadata
import io
import json
import os
import subprocess
import tempfile
import warnings
from pathlib import Path

import jax
import numpy as np

from agents.agent import Observation
from agents.config import SLOTS, AgentConfig, name_of, variant
from agents.loop import Population, Record, Run, build_population, make_vector_env
from envs.state import StateError, restore_vector, vector_state

MAGIC = b"mortal-checkpoint\n"
FORMAT = 2
LIBRARIES = ("jax", "equinox", "mujoco", "gymnasium", "numpy")
KEEP = 3  # checkpoints kept per run folder


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (truncated, corrupted, not one), or does not match what it is loaded into."""


def config_to_dict(config: AgentConfig) -> dict:
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out[field.name] = {"name": name_of(value), **dataclasses.asdict(value)} if field.name in SLOTS else value
    return out


def config_from_dict(data: dict) -> AgentConfig:
    fields = {}
    for key, value in data.items():
        if key in SLOTS and isinstance(value, dict):  # else a bare count (situations before it was a slot)
            value = dict(value)
            name = value.pop("name")
            value = variant(key, name, **{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        fields[key] = value
    return AgentConfig(**fields)


# -- writing ---------------------------------------------------------------------------------------
def save(run: Run, path: str | Path, *, keep: int = KEEP, extra: dict | None = None) -> Path:
    """Writes `run` (and `extra`: JSON and numpy values) as the newest checkpoint at `path`; returns `path`."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1 checkpoint, got {keep}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"brain/{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(run.population.states))}
    state = _encode({"envs": vector_state(run.envs), "record": dataclasses.asdict(run.record),
                     "current": None if run.current is None else run.current._asdict(),
                     "key": np.asarray(jax.random.key_data(run.key)), "extra": extra}, arrays)
    arrays["state.json"] = np.frombuffer(json.dumps(state).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    body = buffer.getvalue()
    header = json.dumps({**describe(run), "body_bytes": len(body)}).encode() + b"\n"
    checksum = hashlib.sha256(header + body).hexdigest().encode() + b"\n"
    numbered = path.with_name(f"{path.stem}-{run.record.steps}{path.suffix}")
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        try:
            f.write(MAGIC + header + checksum + body)
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(f.name, numbered)
            os.link(numbered, f.name)
            os.replace(f.name, path)  # path stays a complete checkpoint throughout
        except BaseException:
            Path(f.name).unlink(missing_ok=True)
            raise
    for old in _numbered(path)[:-keep]:
        old.unlink()
    _fsync_dir(path.parent)
    return path


def describe(run: Run) -> dict:
    """The header of `run`'s checkpoint: what the run is, and what made it."""
    return {
        "format": FORMAT, "world": run.world, "body": run.body, "settings": _normal(run.settings),
        "max_episode_steps": run.max_episode_steps, "population": run.envs.num_envs, "seed": run.seed,
        "steps": run.record.steps, "config": config_to_dict(run.config), "libraries": library_versions(),
        "code": code_version(),
    }


def library_versions() -> dict:
    return {name: importlib.metadata.version(name) for name in LIBRARIES}


@functools.cache
def code_version() -> str:
    """`git describe` of this checkout, or the installed package's version outside one."""
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
                                   capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        described = None
    if described is not None and described.returncode == 0:
        return described.stdout.strip()
    return importlib.metadata.version("mortal")


# -- reading ---------------------------------------------------------------------------------------
def read_header(path: str | Path) -> dict:
    """The header alone (quick: the body is neither read nor checked)."""
    with _open(path) as f:
        return _header(f, path)[0]


def load(path: str | Path, expect: AgentConfig | None = None) -> Run:
    """Reads a `Run` back into fresh worlds. With `expect`, a config that differs from the checkpoint's is an error."""
    return load_with_extra(path, expect)[0]


def load_with_extra(path: str | Path, expect: AgentConfig | None = None) -> tuple[Run, dict | None]:
    """`load`, and the `extra` it was saved with."""
    with _open(path) as f:
        header, line = _header(f, path)
        checksum = f.readline()
        body = f.read()
    if len(body) < header["body_bytes"] or not checksum.endswith(b"\n"):
        raise CheckpointError(f"checkpoint {path} is truncated: {len(body)} of its {header['body_bytes']} body bytes")
    if hashlib.sha256(line + body).hexdigest() != checksum.strip().decode(errors="replace"):
        raise CheckpointError(f"checkpoint {path} is corrupted: its checksum does not match its contents")
    config = config_from_dict(header["config"])
    if expect is not None and expect != config:
        ours, theirs = config_to_dict(config), config_to_dict(expect)
        raise CheckpointError(f"checkpoint {path} was made with a different agent config (fields: "
                              f"{[k for k in ours if ours[k] != theirs[k]]})")
    _warn_versions(header, path)
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:  # numpy refuses object arrays without allow_pickle
        raise CheckpointError(f"checkpoint {path} holds pickled objects, which are never loaded: {error}") from error
    state = _decode(json.loads(arrays.pop("state.json").tobytes()), arrays)
    limit = {} if header["max_episode_steps"] is None else {"max_episode_steps": header["max_episode_steps"]}
    envs = make_vector_env(header["world"], header["population"], header["seed"], header["body"], **limit,
                           **header["settings"])
    agent, template = build_population(config, envs, header["seed"], shapes_only=True)
    try:
        restore_vector(envs, state["envs"])
    except StateError as error:
        envs.close()
        raise CheckpointError(f"checkpoint {path} does not match the world {header['world']}: {error}") from error
    run = Run(config=config, world=header["world"], seed=header["seed"],
              population=Population(agent, _brains(template, arrays, path)), envs=envs,
              key=jax.random.wrap_key_data(state["key"]), record=Record(**state["record"]),
              current=None if state["current"] is None else Observation(**state["current"]), body=header["body"],
              settings=header["settings"], max_episode_steps=header["max_episode_steps"])
    return run, state["extra"]


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return open(path, "rb")


def _header(f, path) -> tuple[dict, bytes]:
    """The header and its line, as written."""
    magic = f.readline()
    if magic == b"mortal-checkpoint-v1\n":
        raise CheckpointError(f"{path} is a checkpoint of format 1 (pickled worlds), which is no longer read")
    if magic != MAGIC:
        raise CheckpointError(f"{path} is not a Mortal checkpoint (bad magic line)")
    line = f.readline()
    if not line.endswith(b"\n"):
        raise CheckpointError(f"checkpoint {path} is truncated: its header is incomplete")
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupted: its header is not JSON ({error})") from error
    made = header.get("format") if isinstance(header, dict) else None
    if made != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {made}; this code reads format {FORMAT}")
    return header, line


def _brains(template, arrays: dict, path) -> object:
    """The saved brains' leaves, checked against the shapes the config builds."""
    shapes, treedef = jax.tree.flatten(template)
    saved = [arrays[f"brain/{i}"] for i in range(sum(name.startswith("brain/") for name in arrays))]
    if len(saved) != len(shapes):
        raise CheckpointError(f"checkpoint {path} holds {len(saved)} brain arrays; its config builds {len(shapes)}")
    for i, (leaf, shape) in enumerate(zip(saved, shapes)):
        if leaf.shape != shape.shape or leaf.dtype != shape.dtype:
            raise CheckpointError(f"checkpoint {path}: brain array {i} is {leaf.dtype}{list(leaf.shape)}; its config "
                                  f"builds {shape.dtype}{list(shape.shape)}")
    return jax.tree.unflatten(treedef, saved)


def _warn_versions(header: dict, path) -> None:
    then = header["libraries"]
    differ = {k: (v, then.get(k)) for k, v in library_versions().items() if then.get(k) != v}
    if differ:
        warnings.warn(f"checkpoint {path} was made with other library versions (now, then: {differ}): a resumed run "
                      f"may not repeat the steps it would have taken", stacklevel=3)


# -- plain values ------------------------------------------------------------------------------------
def _encode(tree, arrays: dict):
    """`tree` as JSON, each numpy array or scalar moved into `arrays` (named in its place)."""
    if isinstance(tree, dict):
        return {str(k): _encode(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_encode(v, arrays) for v in tree]
    if isinstance(tree, (np.ndarray, np.generic)):
        name = f"state/{len(arrays)}"
        arrays[name] = np.array(tree)
        return {"__array__": name, "scalar": isinstance(tree, np.generic)}
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"a checkpoint holds only JSON and numpy values, not {type(tree).__name__}")


def _decode(tree, arrays: dict):
    if isinstance(tree, dict):
        if "__array__" in tree:
            value = arrays[tree["__array__"]]
            return value[()] if tree["scalar"] else value
        return {k: _decode(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    return tree


def _normal(value):
    """`value` as JSON would give it back (tuples as lists), so saved and given settings compare."""
    return json.loads(json.dumps(value))


def _numbered(path: Path) -> list[Path]:
    """The numbered checkpoints beside `path`, oldest first."""
    steps = {}
    for candidate in path.parent.glob(f"{path.stem}-*{path.suffix}"):
        number = candidate.name[len(path.stem) + 1: len(candidate.name) - len(path.suffix)]
        if number.isdigit():
            steps[candidate] = int(number)
    return sorted(steps, key=steps.get)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
