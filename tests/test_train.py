"""scripts/train.py: usage errors without a traceback, short runs, and resuming."""

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from agents import checkpoint

ROOT = Path(__file__).resolve().parents[1]
BRAIN = ["perception:identity", "memory:none", "planner:random", "gate:argmax", "--plan-every", "5", "--levels", "5",
         "--situations", "4"]  # a small brain that builds and compiles fast


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
                                ("--seed", "3", "0")]:
        err = usage_error(monkeypatch, capsys, "--resume", str(saved), flag, value)
        assert f"{flag} {value} conflicts with the checkpoint" in err and theirs in err
    train(monkeypatch, "--resume", str(saved), "--steps", "3", "--seed", "0")  # agreeing flags; --steps honoured
    assert checkpoint.read_header(saved)["steps"] == 8
    assert np.load(folder / "internal_state.npy")[-1, 0] == 8
