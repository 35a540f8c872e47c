"""envs.Homeostatic on tasks with Box actions and negative rewards (Pendulum-v1, MountainCarContinuous-v0).

Energy, by the wrapper's docstring: e' = min(e - decay + reward_gain * r01, capacity),
r01 = (r - r_low) / (r_high - r_low), with decay = capacity / 1000 and reward_gain = 2 decay by default;
the reward is D(e) - D(e'), D(e) = |1 - e|^(4/3).
"""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs import Homeostatic

PENDULUM_LOW = -16.2736044  # the task table's reward range for Pendulum-v1: [-16.27, 0]
DECAY, GAIN = 0.001, 0.002


def energy_drive(e: float) -> float:
    return abs(1.0 - e) ** (4 / 3)


def torques(steps: int) -> list[np.ndarray]:
    """A fixed sequence over the whole torque range [-2, 2]."""
    return [np.array([(-2.0, 0.0, 2.0, -1.0)[t % 4]], np.float32) for t in range(steps)]


def test_observation_is_the_task_observation_and_the_energy():
    env, task = Homeostatic(gym.make("Pendulum-v1")), gym.make("Pendulum-v1")
    extero, intero = env.observation_space["extero"], env.observation_space["intero"]
    assert extero.shape == (3,) and np.array_equal(extero.low, task.observation_space.low)
    assert (intero.shape, intero.low.tolist(), intero.high.tolist()) == ((1,), [0.0], [1.0])
    obs, info = env.reset(seed=3)
    expected, _ = task.reset(seed=3)
    np.testing.assert_array_equal(obs["extero"], expected)
    assert obs["intero"].tolist() == [1.0] and info["task_reward"] == 0.0
    for action in torques(5):
        obs, *_ = env.step(action)
        expected, *_ = task.step(action)
        np.testing.assert_array_equal(obs["extero"], expected)
        assert obs["extero"].dtype == np.float32 and obs["intero"].dtype == np.float32


def test_negative_rewards_feed_energy_by_their_place_in_the_reward_range():
    env = Homeostatic(gym.make("Pendulum-v1"), initial_energy=0.5)  # below capacity: nothing is cut at 1
    obs, _ = env.reset(seed=0)
    energy = 0.5
    for action in torques(40):
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["task_reward"] <= 0.0
        fed = energy - DECAY + GAIN * (info["task_reward"] - PENDULUM_LOW) / -PENDULUM_LOW
        assert info["internal_state"][0] == pytest.approx(fed, abs=1e-9)
        assert reward == pytest.approx(energy_drive(energy) - energy_drive(fed), abs=1e-9)
        assert info["drive"] == pytest.approx(energy_drive(fed), abs=1e-9)
        assert obs["intero"][0] == pytest.approx(fed, abs=1e-6)
        assert not terminated and not truncated and info["cause_of_death"] == ""
        energy = fed
    assert abs(energy - 0.5) <= 40 * DECAY  # each step moves energy by -decay (worst reward) to +decay (best)


def test_a_body_at_capacity_lives_a_few_dozen_steps_of_the_worst_rewards():
    # every Pendulum reward is <= 0, the worst of a range (0, 1): r01 = 0
    env = Homeostatic(gym.make("Pendulum-v1"), reward_range=(0.0, 1.0))
    env.reset(seed=0)
    for step in range(1, 61):
        _, reward, terminated, _, info = env.step(np.array([2.0], np.float32))
        assert not terminated
        assert info["internal_state"][0] == pytest.approx(1.0 - step * DECAY, abs=1e-9)  # only the decay drains
        assert reward < 0
    random = Homeostatic(gym.make("Pendulum-v1"))
    random.action_space.seed(0)
    random.reset(seed=0)
    for _ in range(60):
        _, _, terminated, _, info = random.step(random.action_space.sample())
        assert not terminated and info["internal_state"][0] >= 1.0 - 60 * DECAY


def test_an_untabled_task_feeds_energy_by_the_reward_range_seen_so_far():
    with pytest.warns(UserWarning, match="termination='success'"):
        Homeostatic(gym.make("MountainCarContinuous-v0"))
    env = Homeostatic(gym.make("MountainCarContinuous-v0"), termination="success", initial_energy=0.5)
    env.reset(seed=0)
    # reward = -0.1 a^2 (no flag reached in three steps); the range seen so far always includes 0
    expected = [
        0.5 - DECAY,  # -0.1: the worst seen, [-0.1, 0] -> r01 = 0
        0.5 - DECAY + (-DECAY + GAIN),  # 0: the best seen, r01 = 1
        0.5 + (-DECAY + GAIN * 0.75),  # -0.025 in [-0.1, 0]: r01 = 0.75
    ]
    for action, energy in zip((1.0, 0.0, 0.5), expected):
        _, _, terminated, _, info = env.step(np.array([action], np.float32))
        assert info["task_reward"] == pytest.approx(-0.1 * action**2, rel=1e-6)
        assert info["internal_state"][0] == pytest.approx(energy, abs=1e-9)
        assert not terminated


@pytest.mark.parametrize("task, keywords", [
    ("Pendulum-v1", {}), ("MountainCarContinuous-v0", dict(termination="success"))])
def test_wrapped_box_tasks_pass_check_env(task, keywords):
    check_env(Homeostatic(gym.make(task), **keywords), skip_render_check=True)
