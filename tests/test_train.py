"""scripts/train.py: usage errors without a traceback, short runs, resuming, and progress on disk."""

import runpy
import struct
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from agents import checkpoint, loop

ROOT = Path(__file__).resolve().parents[1]
BRAIN = ["perception:identity", "memory:none", "planner:random", "gate:argmax", "--plan-every", "5", "--levels", "5",
         "--situations.units", "4"]  # a small brain that builds and compiles fast


def train(monkeypatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", *argv])
    runpy.run_path(str(ROOT / "scripts" / "train.py"), run_name="__main__")


def usage_error(monkeypatch, capsys, *argv: str) -> str:
    """The message of the usage error `train.py argv` ends with (exit status 2, no traceback)."""
    with pytest.raises(SystemExit) as ended:
        train(monkeypatch, *argv)
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv, message", [
    (["--log-every", "0"], "--log-every must be >= 1, got 0"),
    (["--steps", "-5"], "--steps must be >= 1, got -5"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be >= 1, got -1"),
    (["--population", "0"], "--population must be >= 1, got 0"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--plan-every", "0"], "AgentConfig.plan_every must be >= 1, got 0"),
    (["--episodic-weight", "nan"], "AgentConfig.episodic_weight must be finite and >= 0, got nan"),
    (["--world", "mortal/NoSuchWorld-v0"], "NoSuchWorld"),
    (["--population", "1", "--computation-cost", "-1"], "computation_cost must be >= 0"),
    (["--world", "CartPole-v1", "--computation-cost", "1e-9"], "computation_cost"),
    (["--population", "1", "planner:active-inference", "--planner.policy-len", "9"], "lower policy_len"),
])
def test_bad_counts_and_intervals_are_usage_errors(monkeypatch, capsys, argv, message):
    assert message in usage_error(monkeypatch, capsys, *argv)


def test_a_short_run_works_and_resume_refuses_conflicting_flags(monkeypatch, capsys, tmp_path):
    train(monkeypatch, "--steps", "5", "--population", "1", "--runs", str(tmp_path), *BRAIN)
    (folder,) = tmp_path.iterdir()
    assert (folder / "internal_state.png").exists() and np.load(folder / "internal_state.npy")[-1, 0] == 5
    saved = folder / "checkpoint.ckpt"
    capsys.readouterr()
    for flag, value, theirs in [("--world", "mortal/FoodOnly-v0", "mortal/Forager-v0"), ("--population", "2", "1"),
                                ("--seed", "3", "0"), ("--computation-cost", "1e-09", "0.0")]:
        err = usage_error(monkeypatch, capsys, "--resume", str(saved), flag, value)
        assert f"{flag} {value} conflicts with the checkpoint" in err and theirs in err
    train(monkeypatch, "--resume", str(saved), "--steps", "3", "--seed", "0")  # agreeing flags; --steps honoured
    assert checkpoint.read_header(saved)["steps"] == 8
    assert np.load(folder / "internal_state.npy")[-1, 0] == 8


def scalar_steps(folder: Path) -> dict[str, list[int]]:
    """The steps of each TensorBoard scalar on disk (TFRecord framing: length, its crc, the event, its crc)."""
    from tensorboardX.proto import event_pb2

    steps = {}
    for file in folder.glob("events.out.tfevents.*"):
        data, at = file.read_bytes(), 0
        while at + 12 <= len(data):
            (size,) = struct.unpack("<Q", data[at: at + 8])
            event = event_pb2.Event.FromString(data[at + 12: at + 12 + size])
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
            at += 16 + size
    return steps


def test_a_crash_loses_at_most_one_checkpoint_interval_and_resuming_equals_never_stopping(monkeypatch, tmp_path):
    common = ["--population", "1", "--checkpoint-every", "10", "--log-every", "5", *BRAIN]
    train(monkeypatch, "--steps", "30", "--runs", str(tmp_path / "straight"), *common)
    checked = loop.check_finite

    def killed_at_step_25(obs, step):
        if step == 25:
            raise KeyboardInterrupt
        checked(obs, step)

    monkeypatch.setattr(loop, "check_finite", killed_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        train(monkeypatch, "--steps", "30", "--runs", str(tmp_path / "crashed"), *common)
    monkeypatch.setattr(loop, "check_finite", checked)
    (folder,) = (tmp_path / "crashed").iterdir()
    assert checkpoint.read_header(folder / "checkpoint.ckpt")["steps"] == 20, "the last checkpoint before the crash"
    assert np.load(folder / "internal_state.npy")[-1, 0] == 20, "the trace is on disk up to it"
    assert 20 in scalar_steps(folder)["charts/drive"], "so are the TensorBoard scalars"

    train(monkeypatch, "--resume", str(folder / "checkpoint.ckpt"), "--steps", "10")
    (straight,) = (tmp_path / "straight").iterdir()
    a, b = checkpoint.load(straight / "checkpoint.ckpt"), checkpoint.load(folder / "checkpoint.ckpt")
    for x, y in zip(jax.tree.leaves(a.population.states), jax.tree.leaves(b.population.states), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.record.lives == b.record.lives and a.record.steps == b.record.steps == 30
    np.testing.assert_array_equal(np.load(straight / "internal_state.npy"), np.load(folder / "internal_state.npy"))
