"""agents.recovery: the steps a body takes to recover after its world returns to an earlier regime, and the
record of a life that keeps them."""

import numpy as np
import pytest

from agents.loop import Record
from agents.recovery import recovery_steps

SEASON, WINDOW = 400, 50


def seasons(count: int, recover_in: list[int], season: int = SEASON, low: float = 0.1, high: float = 0.5):
    """A life of `count` seasons alternating two regimes, whose drive is `high` for the first `recover_in[i]`
    steps of season i (after each switch) and `low` otherwise."""
    regime = np.repeat(np.arange(count) % 2, season)
    drive = np.full(count * season, low)
    for i, steps in enumerate(recover_in, start=1):
        drive[i * season:i * season + steps] = high
    return drive, regime


def test_a_return_is_recovered_from_when_the_drive_is_back_at_its_level_before_the_switch():
    drive, regime = seasons(5, [300, 120, 40, 0])
    # the first switch enters a new regime: not a return; the next three return to a regime lived before
    assert recovery_steps(drive, regime, WINDOW) == [120, 40, 0]


def test_a_return_not_recovered_from_within_its_season_or_its_life_counts_the_whole_season():
    drive, regime = seasons(4, [0, SEASON, 0])
    assert recovery_steps(drive, regime, WINDOW) == [SEASON, 0]
    cut = 2 * SEASON + 30  # the life ends 30 steps into a return, too soon to tell
    assert recovery_steps(drive[:cut], regime[:cut], WINDOW) == [SEASON]


def test_a_life_without_returns_has_no_recovery_and_bad_traces_are_refused():
    drive, regime = seasons(2, [100])
    assert recovery_steps(drive, regime, WINDOW) == []
    assert recovery_steps(np.zeros(10), np.zeros(10, int)) == []
    with pytest.raises(ValueError, match="one drive and one regime per step"):
        recovery_steps(np.zeros(10), np.zeros(9, int))
    with pytest.raises(ValueError, match="window must be >= 1"):
        recovery_steps(drive, regime, 0)


def test_the_record_keeps_each_life_s_recoveries_where_the_world_reports_its_regime():
    drive, regime = seasons(4, [0, 600, 0], season=1500)  # the record's window: 500 steps
    record, other = Record(), Record()
    record.begin(2)
    other.begin(1)
    alive, reward, ops = np.ones(2, bool), np.zeros(2), np.zeros(2)
    for d, r in zip(drive, regime):  # env 0 lives the seasons; env 1 a flat drive
        record.add_step(alive, reward, {"drive": np.array([d, 0.2]), "season": np.array([r, r])}, ops)
        other.add_step(alive[:1], reward[:1], {"drive": np.array([d])}, ops[:1])
    record.end_life(0, "survived", True)
    assert record.lives[0]["recoveries"] == [600, 0]
    assert record.life_so_far(1)["recoveries"] == [0, 0]
    assert record.traces["drive"][0] == [] and len(record.traces["drive"][1]) == len(drive), "a new life, a new trace"
    other.end_life(0, "survived", True)
    assert other.traces is None and other.lives[0]["recoveries"] == [], "no regime, no trace"
