"""Checkpoints: worlds saved as state and restored into fresh ones, resume equals never stopping, rotation, and
truncated, corrupted, mismatched and foreign files named as such."""

import dataclasses
import hashlib
import io
import json
import warnings

import jax
import numpy as np
import pytest

from agents import checkpoint
from agents.config import (NEED_VALUES, AgentConfig, ArgmaxConfig, NoMemoryConfig,
                           RandomPlannerConfig, RandomProjectionConfig)
from agents.loop import Run, make_vector_env
from envs.state import restore_vector, vector_state

SMALL = AgentConfig(perception=RandomProjectionConfig(latent=8), memory=NoMemoryConfig(), planner=RandomPlannerConfig(),
                    gate=ArgmaxConfig(), plan_every=5, learn_every=2, select_every=7, levels=5, situations=4)


def same_run(a: Run, b: Run) -> None:
    """Brains, record, last observation and key all equal, bit for bit."""
    for x, y in zip(jax.tree.leaves(a.population.states), jax.tree.leaves(b.population.states), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.record.lives == b.record.lives and a.record.steps == b.record.steps
    for k in a.record.running:
        np.testing.assert_array_equal(a.record.running[k], b.record.running[k])
    for x, y in zip(a.current, b.current, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(jax.random.key_data(a.key), jax.random.key_data(b.key))


# -- worlds as state -------------------------------------------------------------------------------
@pytest.mark.parametrize("world, made", [
    ("mortal/Forager-v0", {}),
    ("mortal/ThermalForager-v0", {}),
    ("mortal/FoodOnly-v0", dict(body="mortal/ThermalForager-v0", max_episode_steps=9, arena_half_width=2.0)),
    ("CartPole-v1", {}), ("Pendulum-v1", {}), ("Acrobot-v1", {}), ("MountainCar-v0", {}), ("Reacher-v5", {}),
])
def test_a_world_saved_as_plain_values_steps_on_in_a_fresh_copy_as_the_original(world, made):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Reacher is not in the task table
        worlds, fresh = make_vector_env(world, 2, 0, **made), make_vector_env(world, 2, 99, **made)
    worlds.action_space.seed(0)
    for _ in range(25):  # CartPole and the time-limited world end lives and reset on the way
        worlds.step(worlds.action_space.sample())
    arrays = {}
    as_json = json.loads(json.dumps(checkpoint._encode(vector_state(worlds), arrays)))  # JSON and arrays only
    restore_vector(fresh, checkpoint._decode(as_json, arrays))
    for _ in range(40):
        action = worlds.action_space.sample()
        (obs, reward, terminated, truncated, _), again = worlds.step(action), fresh.step(action)
        for part in obs:
            np.testing.assert_array_equal(obs[part], again[0][part])
        np.testing.assert_array_equal([reward, terminated, truncated], again[1:4])


# -- resume equals never stopping -------------------------------------------------------------------


@pytest.mark.parametrize("world, made, config", [  # a plain train run: tests/test_train.py
    ("mortal/Forager-v0", dict(max_episode_steps=15), SMALL),  # lives end on both sides of the checkpoint
    ("mortal/FoodOnly-v0", dict(body="mortal/ThermalForager-v0", arena_half_width=2.0), SMALL),
    ("mortal/Forager-v0", dict(max_episode_steps=15), NEED_VALUES),  # the brain on raw wheels
])
def test_resume_equals_never_stopping(tmp_path, world, made, config):
    straight = Run.start(config, world, 2, seed=3, **made)
    straight.train(45)
    run = Run.start(config, world, 2, seed=3, **made)
    run.train(20)
    resumed = checkpoint.load(checkpoint.save(run, tmp_path / "checkpoint.ckpt"), expect=config)
    assert (resumed.body, resumed.max_episode_steps) == (made.get("body"), made.get("max_episode_steps"))
    resumed.train(25)
    same_run(straight, resumed)
    if "max_episode_steps" in made:
        assert len(straight.record.lives) >= 4


def test_the_header_says_what_made_the_run(tmp_path):
    run = Run.start(SMALL, "mortal/FoodOnly-v0", 2, seed=4, body="mortal/ThermalForager-v0", max_episode_steps=30,
                    items=(3,))
    header = checkpoint.read_header(checkpoint.save(run, tmp_path / "checkpoint.ckpt"))
    assert header["format"] == checkpoint.FORMAT
    made = ("world", "body", "settings", "max_episode_steps", "population", "seed", "steps")
    assert {k: header[k] for k in made} == {
        "world": "mortal/FoodOnly-v0", "body": "mortal/ThermalForager-v0", "settings": {"items": [3]},
        "max_episode_steps": 30, "population": 2, "seed": 4, "steps": 0}
    assert set(header["libraries"]) == {"jax", "equinox", "mujoco", "gymnasium", "numpy"} and header["code"]
    loaded = checkpoint.load(tmp_path / "checkpoint.ckpt")
    assert loaded.envs.envs[0].unwrapped.item_xy.shape == (3, 2), "the world is made again with its settings"


# -- files on disk ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A run of 12 steps, saved every 3 (keep=3)."""
    folder = tmp_path_factory.mktemp("run")
    run = Run.start(SMALL, "mortal/Forager-v0", 2, seed=0)
    for _ in range(4):
        run.train(3)
        checkpoint.save(run, folder / "checkpoint.ckpt", keep=3)
    return folder / "checkpoint.ckpt"


def test_the_last_three_checkpoints_are_kept_and_the_plain_name_is_the_newest(saved):
    folder = saved.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint-12.ckpt", "checkpoint-6.ckpt", "checkpoint-9.ckpt", "checkpoint.ckpt"], "no temporary files left"
    assert saved.read_bytes() == (folder / "checkpoint-12.ckpt").read_bytes()
    assert checkpoint.read_header(folder / "checkpoint-6.ckpt")["steps"] == 6
    with pytest.raises(ValueError, match="keep must be >= 1"):
        checkpoint.save(checkpoint.load(saved), folder / "other.ckpt", keep=0)


def rewritten(saved, tmp_path, change) -> bytes:
    """The checkpoint with its header changed by `change` and a checksum that matches again."""
    magic, header, _, body = saved.read_bytes().split(b"\n", 3)
    header = json.loads(header)
    change(header)
    line = json.dumps(header).encode() + b"\n"
    return magic + b"\n" + line + hashlib.sha256(line + body).hexdigest().encode() + b"\n" + body


def bad(tmp_path, data: bytes):
    path = tmp_path / "bad.ckpt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], "is truncated: .* of its .* body bytes"),
    (lambda data: data[:40], "is truncated: its header is incomplete"),
    (lambda data: data[:-300] + bytes([data[-300] ^ 1]) + data[-299:], "is corrupted: its checksum does not match"),
    (lambda data: data.replace(b'"seed": 0', b'"seed": 1'), "is corrupted: its checksum"),
    (lambda data: data.replace(b'"world"', b'"wor\xffd"', 1), "is corrupted: its header is not JSON"),
    (lambda data: b"not a checkpoint", "not a Mortal checkpoint"),
    (lambda data: b"mortal-checkpoint-v1\n{}\n", "format 1 \\(pickled worlds\\), which is no longer read"),
])
def test_a_damaged_checkpoint_is_an_error_that_says_how(saved, tmp_path, damage, message):
    with pytest.raises(checkpoint.CheckpointError, match=message):
        checkpoint.load(bad(tmp_path, damage(saved.read_bytes())))


def test_a_mismatched_checkpoint_is_an_error_that_says_what_differs(saved, tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match=r"different agent config \(fields: \['levels'\]\)"):
        checkpoint.load(saved, expect=dataclasses.replace(SMALL, levels=7))
    fewer_items = rewritten(saved, tmp_path, lambda h: h["settings"].update(items=[3, 2]))
    with pytest.raises(checkpoint.CheckpointError, match="does not match the world .*has 10 items; this one has 5"):
        checkpoint.load(bad(tmp_path, fewer_items))
    other_body = rewritten(saved, tmp_path, lambda h: h.update(body="mortal/ThermalForager-v0"))
    with pytest.raises(checkpoint.CheckpointError, match="does not match the world .*Embodied > TimeLimit"):
        checkpoint.load(bad(tmp_path, other_body))
    newer = rewritten(saved, tmp_path, lambda h: h.update(format=3))
    with pytest.raises(checkpoint.CheckpointError, match="has format 3; this code reads format 2"):
        checkpoint.load(bad(tmp_path, newer))
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "missing.ckpt")


def test_loading_never_unpickles(saved, tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    magic, header, _, _ = saved.read_bytes().split(b"\n", 3)
    archive = io.BytesIO()
    np.savez(archive, **{"state.json": np.array([Payload()], dtype=object)})
    body = archive.getvalue()
    header = json.loads(header)
    header["body_bytes"] = len(body)
    line = json.dumps(header).encode() + b"\n"
    data = magic + b"\n" + line + hashlib.sha256(line + body).hexdigest().encode() + b"\n" + body
    with pytest.raises(checkpoint.CheckpointError, match="holds pickled objects"):
        checkpoint.load(bad(tmp_path, data))
    assert not (tmp_path / "ran").exists()


def test_other_library_versions_are_warned(saved, tmp_path):
    older = rewritten(saved, tmp_path, lambda h: h["libraries"].update(jax="0.0.1"))
    with pytest.warns(UserWarning, match="other library versions .*'jax'"):
        checkpoint.load(bad(tmp_path, older))


def test_a_world_state_with_a_missing_entry_is_named_and_one_without_the_clock_still_loads():
    worlds = make_vector_env("mortal/Forager-v0", 1, seed=0)
    worlds.step(np.zeros((1, 2)))
    state = vector_state(worlds)
    forager = next(layer for layer in state["envs"][0] if layer["type"] == "ForagerEnv")
    del forager["clock"]  # as saved before the Forager kept its step clock
    restore_vector(worlds, state)
    assert worlds.envs[0].unwrapped.clock == 0
    del forager["item_xy"]
    with pytest.raises(ValueError, match="the saved state of ForagerEnv has no 'item_xy'"):
        restore_vector(worlds, state)
    worlds.close()
