"""Checked TOML files (sweep specs, curricula): every problem is a `SpecError` that names the file and the field.
Either kind may begin with `plugins = ["module", ...]`: modules imported first, which register brain modules.

    data = load_toml(path, "curriculum", parse)          # parse(table) -> the checked object
    lesson = from_table(Lesson, table, "lessons[0]")     # a dataclass from a table, field by field
"""

import dataclasses
import tomllib
import typing
from pathlib import Path

import gymnasium as gym

from agents.config import COUNTED, SLOTS, AgentConfig, import_plugins, is_count, validate, variant

TYPE_NAMES = {str: "a string", list: "an array", int: "an integer", float: "a number", bool: "a boolean",
              dict: "a table", tuple: "an array"}


class SpecError(ValueError):
    """A file that cannot be run; the message names the file and the field."""


def load_toml(path: str | Path, kind: str, parse):
    """`parse(table)` of the TOML file at `path` (a `kind`, e.g. "sweep spec"); errors name the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"no {kind} at {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from None
    try:
        plugins(data.pop("plugins", []))
        return parse(data)
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None


def plugins(modules) -> None:
    """The file's `plugins = ["module", ...]`, imported before the rest is read: they register brain modules."""
    if not (is_a(modules, list) and all(is_a(m, str) for m in modules)):
        raise SpecError(f"field 'plugins' must be an array of module names, got {modules!r}")
    try:
        import_plugins(modules)
    except ValueError as error:
        raise SpecError(f"field 'plugins': {error}") from None


def from_table(cls, table, where: str = "", **parsers):
    """Dataclass `cls` from a TOML table: each key one of its fields, each field without a default present,
    each value of its field's type (`parsers[field](value, where)` converts fields that need more)."""
    prefix = f"{where}." if where else ""
    if not is_a(table, dict):
        raise SpecError(f"field {where!r} must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise SpecError(f"unknown field {prefix + key!r}; valid fields: {', '.join(fields)}")
    hints, values = typing.get_type_hints(cls), {}
    for name, f in fields.items():
        if name in table:
            parse = parsers.get(name, lambda value, at, hint=hints[name]: typed(value, hint, at))
            values[name] = parse(table[name], prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(f"missing required field {prefix + name!r}")
    return cls(**values)


def typed(value, hint, where: str):
    """`value` checked against the type `hint` (int, float, str, bool, Literal, tuple[X, ...], dict, a dataclass,
    or an optional one of these); ints pass as floats, arrays become tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return typed(value, next(a for a in args if a is not type(None)), where)
    if origin is typing.Literal:
        if value not in args:
            raise SpecError(f"field {where!r} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not is_a(value, list):
            raise SpecError(f"field {where!r} must be an array, got {value!r}")
        return tuple(typed(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return from_table(hint, value, where)
    kind = origin or hint
    if not (is_a(value, kind) or (kind is float and is_a(value, int))):
        raise SpecError(f"field {where!r} must be {TYPE_NAMES.get(kind, kind.__name__)}, got {value!r}")
    return float(value) if kind is float else value


def agent_config(base: dict, overrides: dict, where: str) -> AgentConfig:
    """The `[agent]` table with a variant's overrides on top; errors name `agent.KEY` or `WHERE.KEY`."""
    fields = {key: agent_field(key, value, f"{where if key in overrides else 'agent'}.{key}")
              for key, value in {**base, **overrides}.items()}
    config = AgentConfig(**fields)
    try:
        validate(config)
    except ValueError as error:
        raise SpecError(f"{where}: {error}") from None
    return config


def agent_field(key: str, value, where: str):
    """A slot as `name` or `{name, **settings}` -> its variant config (a counted slot also as a bare count, which
    AgentConfig reads, e.g. `situations = 64`); any other field checked by type."""
    if key not in SLOTS:
        return config_field(AgentConfig, key, value, where)
    if key in COUNTED and is_count(value):
        return value
    if is_a(value, str):
        value = {"name": value}
    if not (is_a(value, dict) and "name" in value):
        count = ", or a count" if key in COUNTED else ""
        raise SpecError(f"field {where!r} must be a variant name or a table with a 'name'{count}, got {value!r}")
    try:
        cls = type(variant(key, value["name"]))
    except ValueError as error:
        raise SpecError(f"field {where!r}: {error}") from None
    return cls(**{k: config_field(cls, k, v, f"{where}.{k}") for k, v in value.items() if k != "name"})


def config_field(cls, key: str, value, where: str):
    """`value` checked against the type of field `key` of dataclass `cls`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise SpecError(f"unknown field {where!r} of {cls.__name__}; valid: {', '.join(fields) or 'none'}")
    return typed(value, typing.get_type_hints(cls)[key], where)


def is_a(value, kind) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def non_empty(data: dict, field: str):
    if not data[field]:
        raise SpecError(f"field {field!r} is empty")
    return data[field]


def world_id(world, where: str) -> str:
    if not is_a(world, str):
        raise SpecError(f"field {where!r} must be a Gymnasium id, got {world!r}")
    try:
        gym.spec(world)
    except gym.error.Error as error:
        raise SpecError(f"field {where!r}: {error}") from None
    return world
