import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import Homeostatic


@pytest.fixture(params=envs.WORLDS)
def world(request):
    env = gym.make(request.param, render_mode="rgb_array")
    yield env
    env.close()


def test_check_env_passes_and_render_is_not_blank(world):
    check_env(world.unwrapped, skip_render_check=True)
    world.reset(seed=0)
    frame = world.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8
    assert frame.std() > 10  # an arena with walls and items, not a blank image


def test_observation_is_extero_and_intero(world):
    obs, info = world.reset(seed=3)
    assert set(obs) == {"extero", "intero"}
    assert obs["intero"].shape == (len(world.unwrapped.physiology.names),)
    np.testing.assert_allclose(obs["intero"], info["internal_state"], rtol=1e-6)
    assert info["cause_of_death"] == "" and info["drive"] >= 0
    assert world.spec.max_episode_steps == 60_000


def rollout(world_id: str, seed: int, steps: int = 1000) -> np.ndarray:
    env = gym.make(world_id)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [np.concatenate([obs["extero"], obs["intero"]])]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        trace.append(np.concatenate([obs["extero"], obs["intero"], [reward]]))
        if terminated or truncated:
            break
    env.close()
    return np.concatenate(trace)


@pytest.mark.parametrize("world_id", envs.WORLDS)
def test_same_seed_same_trajectory_different_seed_differs(world_id):
    first = rollout(world_id, seed=7)
    assert first.size > 1000
    np.testing.assert_array_equal(first, rollout(world_id, seed=7))
    assert not np.array_equal(first, rollout(world_id, seed=8))


def test_a_body_that_stands_still_dies_when_the_decay_rate_says():
    env = gym.make("mortal/Forager-v0")
    start = np.array([0.05, -0.1])
    env.reset(seed=0, options={"internal_state": start})
    decay = 0.00015
    predicted = int(np.floor((start.min() + 1.0) / decay)) + 1  # first step with h < -1 (water, the lower)
    for step in range(1, predicted + 1):
        _, _, terminated, _, info = env.step(np.zeros(2))
        assert sum(info["events"]) == 0  # nothing is eaten standing still
        if terminated:
            break
    assert step == predicted
    assert info["cause_of_death"] == "water below viable range"


def test_eating_an_item_raises_its_variable_by_the_item_amount():
    env = gym.make("mortal/Forager-v0").unwrapped
    env.reset(seed=0, options={"internal_state": [0.0, 0.0]})
    water = int(np.flatnonzero(env.item_kind == 1)[0])
    env.item_xy[water] = env.data.qpos[:2]  # put a water item under the robot
    _, reward, terminated, _, info = env.step(np.zeros(2))
    np.testing.assert_allclose(info["internal_state"], [-0.00015, 0.1 - 0.00015])
    assert info["events"].tolist() == [0.0, 1.0]
    assert reward < 0 and not terminated  # overshooting the set-point raises drive
    assert np.hypot(*(env.item_xy[water] - env.data.qpos[:2])) >= 1.0  # respawned away from the robot


def test_thermal_world_heats_in_the_sun_and_cooling_costs_water():
    env = gym.make("mortal/ThermalForager-v0").unwrapped
    env.reset(seed=0, options={"internal_state": [0.0, 0.0, 38.0]})
    env.shade_xy[:] = 100.0  # no shade anywhere: the robot stands in the sun
    _, _, _, _, info = env.step(np.zeros(3))
    assert info["internal_state"][2] == pytest.approx(38.0 + 0.002 * (44.0 - 38.0))
    _, _, _, _, cooled = env.step(np.array([0.0, 0.0, 1.0]))
    assert cooled["internal_state"][2] < info["internal_state"][2]
    assert cooled["internal_state"][1] == pytest.approx(info["internal_state"][1] - 0.00015 - 0.0005)


def test_thinking_costs_every_nutrient_its_cost_per_operation_once():
    def thermal(**settings):
        return gym.vector.SyncVectorEnv([lambda: gym.make("mortal/ThermalForager-v0", **settings)],
                                        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)

    free, costly = thermal(), thermal(computation_cost=1e-6)
    for worlds in (free, costly):
        worlds.reset(seed=0, options={"internal_state": [0.0, 0.0, 38.0]})
    costly.set_attr("computation", [2000.0])  # how the loop tells each world what its brain computed
    (_, _, _, _, free_info), (_, _, _, _, info) = free.step(np.zeros((1, 3))), costly.step(np.zeros((1, 3)))
    np.testing.assert_allclose(info["internal_state"] - free_info["internal_state"], [[-2000 * 1e-6] * 2 + [0.0]])
    assert info["ops"][0] == 2000.0 and free_info["ops"][0] == 0.0  # food and water pay; temperature does not
    (_, _, _, _, free_info), (_, _, _, _, info) = free.step(np.zeros((1, 3))), costly.step(np.zeros((1, 3)))
    assert info["ops"][0] == 0.0  # charged once: the next step's thinking is told again
    np.testing.assert_allclose(info["internal_state"] - free_info["internal_state"], [[-2000 * 1e-6] * 2 + [0.0]])
    costly.set_attr("computation", [-1.0])
    with pytest.raises(ValueError, match="computation .* must be finite and >= 0"):
        costly.step(np.zeros((1, 3)))


def bin_readings_as_an_item_turns_past(tuning: float) -> np.ndarray:
    """The food bins of a FoodOnly body with one item 1 m away, at bearings sweeping across two bins."""
    env = gym.make("mortal/FoodOnly-v0", tuning=tuning).unwrapped
    env.reset(seed=0)
    readings = []
    for bearing in np.linspace(0.0, 2 * (2 * np.pi / env.num_bins), 25):
        x, y, yaw = env.data.qpos[:3]
        env.item_xy[:] = [x + np.cos(yaw + bearing), y + np.sin(yaw + bearing)]
        readings.append(env._extero()[: env.num_bins])
    env.close()
    return np.array(readings)


def test_tuned_bins_change_smoothly_where_hard_bins_jump():
    hard, tuned = bin_readings_as_an_item_turns_past(0.0), bin_readings_as_an_item_turns_past(1.0)
    assert np.abs(np.diff(hard, axis=0)).max() == pytest.approx(0.75)  # the item jumps whole into the next bin
    assert np.abs(np.diff(tuned, axis=0)).max() < 0.15
    # the tuned bins still peak at the item's bin, with its proximity there
    assert np.argmax(tuned[0]) == 0 and tuned[0, 0] == pytest.approx(0.75)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(colour="red"), "unexpected keyword argument 'colour'"),
        (dict(computation_cost=-1.0), "computation_cost must be >= 0"),
        (dict(set_point=2.0), "set-point of 'food'"),
        (dict(items=(6,)), "same length"),
        (dict(tuning=-1.0), "tuning must be finite and >= 0"),
    ],
)
def test_bad_keywords_get_named_errors(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        gym.make("mortal/Forager-v0", **bad)


@pytest.mark.parametrize(
    "action, message", [(np.zeros(3), r"shape \(3,\), expected \(2,\)"), (np.array([np.nan, 0.0]), "NaN")]
)
def test_bad_actions_get_named_errors(action, message):
    env = gym.make("mortal/Forager-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_wrapped_cartpole_passes_check_env_and_dies_when_energy_is_spent():
    env = Homeostatic(gym.make("CartPole-v1"))
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)
    starving = Homeostatic(gym.make("CartPole-v1"), decay=0.25, reward_gain=0.0)
    obs, _ = starving.reset(seed=0)
    assert obs["intero"].tolist() == [1.0]
    for step in range(1, 10):
        obs, reward, terminated, _, info = starving.step(step % 2)
        if terminated:
            break
    assert step == 4 and info["cause_of_death"] == "energy ran out"  # 1 - 4 * 0.25 = 0
    assert info["task_reward"] == 1.0 and reward < 0


def test_wrapper_feeds_energy_from_task_reward():
    env = Homeostatic(gym.make("MountainCar-v0"), decay=0.001, reward_gain=0.01, initial_energy=0.5)
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)
    # MountainCar pays -1 a step, the low end of its reward range [-1, 0]: it feeds nothing, only the decay drains
    assert info["internal_state"][0] == pytest.approx(0.5 - 0.001)
    pendulum = Homeostatic(gym.make("Pendulum-v1"), decay=0.001, reward_gain=0.01, initial_energy=0.5)
    pendulum.reset(seed=0)
    _, _, _, _, info = pendulum.step(np.array([0.0], np.float32))
    fed = (info["task_reward"] + 16.2736044) / 16.2736044  # its reward range is [-16.27, 0]
    assert info["internal_state"][0] == pytest.approx(0.5 - 0.001 + 0.01 * fed)


def test_decay_may_differ_per_resource_and_a_wrong_count_is_named():
    env = gym.make("mortal/Forager-v0", decay=(0.0003, 0.0))
    env.reset(seed=0, options={"internal_state": [0.0, 0.0]})
    _, _, _, _, info = env.step(np.zeros(2))
    np.testing.assert_allclose(info["internal_state"], [-0.0003, 0.0])
    with pytest.raises(ValueError, match=r"decay must be one number or one per resource \('food', 'water'\)"):
        gym.make("mortal/Forager-v0", decay=(0.1, 0.2, 0.3))
