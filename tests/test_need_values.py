"""The need-value agent (agents.value_agent) and its parts: brain.need_values, brain.motion_model and
homeostasis.drive.drive_secant."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.agent import Observation, build_agent
from agents.config import NEED_VALUES, AgentConfig, ConfigError, NeedValueConfig
from agents.loop import Run, make_env
from brain.motion_model import MotionModel
from brain.need_values import NeedValues, tuning_code
from homeostasis.drive import drive_secant, homeostatic_reward

CONFIG = NEED_VALUES


def test_tuning_code_fires_the_curve_of_the_reading_and_nothing_for_no_reading():
    code = tuning_code(jnp.array([0.0, 0.5, 1.0]), 4).reshape(3, 4)
    assert np.all(np.asarray(code[0]) == 0)  # nothing sensed
    assert int(jnp.argmax(code[1])) == 1 and float(code[1, 1]) == pytest.approx(1.0)  # centres 0.25, 0.5, 0.75, 1
    assert int(jnp.argmax(code[2])) == 3


def test_values_of_motions_equal_the_values_of_their_features():
    values = NeedValues(2, 6, 3)
    values = eqx_set_weight(values, jax.random.normal(jax.random.key(0), values.weight.shape))
    code, motions = jax.random.uniform(jax.random.key(1), (6,)), jax.random.normal(jax.random.key(2), (5, 3))
    direct = jax.vmap(lambda m: values.values(values.features(code, m)))(motions)
    np.testing.assert_allclose(values.values_of_motions(code, motions), direct, rtol=1e-5, atol=1e-5)


def eqx_set_weight(values: NeedValues, weight) -> NeedValues:
    return eqx.tree_at(lambda v: v.weight, values, weight)


def test_td_lambda_learns_the_discounted_change_of_a_variable_on_a_cycle():
    """A cycle of 5 states (one-hot features through the code, no motion); the variable rises by 1 on entering
    state 0. The true value of state i is gamma^(4 - i) / (1 - gamma^5)."""
    gamma, n = 0.9, 5
    values = NeedValues(1, n, 0, discount=gamma, trace_decay=0.8, learning_rate=0.2)
    states = jnp.arange(3000) % n

    def one(values, t):
        s, s_next = states[t], states[t + 1]
        phi = values.features(jax.nn.one_hot(s, n), jnp.zeros(0))
        phi_next = values.features(jax.nn.one_hot(s_next, n), jnp.zeros(0))
        change = jnp.where(s_next == 0, 1.0, 0.0)[None]
        return values.learn(phi, change, jnp.zeros(()), phi_next, jnp.ones(())), None

    values, _ = jax.lax.scan(one, values, jnp.arange(len(states) - 1))
    learnt = jax.vmap(lambda s: values.values(values.features(jax.nn.one_hot(s, n), jnp.zeros(0)))[0])(jnp.arange(n))
    truth = gamma ** (4 - np.arange(n)) / (1 - gamma**n)
    np.testing.assert_allclose(learnt, truth, rtol=0.05)


def test_a_life_end_is_not_bootstrapped_and_an_invalid_step_changes_nothing():
    values = eqx_set_weight(NeedValues(1, 2, 0, learning_rate=1.0), jnp.array([[0.0, 5.0, 0.0]]))
    phi = values.features(jnp.array([1.0, 0.0]), jnp.zeros(0))
    phi_next = values.features(jnp.array([0.0, 1.0]), jnp.zeros(0))
    ended = values.learn(phi, jnp.zeros(1), jnp.ones(()), phi_next, jnp.ones(()))
    assert float(ended.values(phi)[0]) == pytest.approx(0.0)  # target 0: the next life's value is not this one's
    assert np.all(np.asarray(ended.trace) == 0)
    kept = values.learn(phi, jnp.ones(1), jnp.zeros(()), phi_next, jnp.zeros(()))
    assert np.array_equal(np.asarray(kept.weight), np.asarray(values.weight))


def test_motion_model_learns_a_linear_body():
    true = jax.random.normal(jax.random.key(0), (3, 3 + 2 + 1)) * 0.3
    inputs = jax.random.normal(jax.random.key(1), (2000, 5))

    def one(model, x):
        motion, action = x[:3], x[3:]
        target = true @ jnp.concatenate([motion, action, jnp.ones(1)])
        return model.learn(motion, action, target, jnp.ones(())), None

    model, _ = jax.lax.scan(one, MotionModel(3, 2, learning_rate=0.5), inputs)
    np.testing.assert_allclose(model.weight, true, atol=1e-3)


def test_minus_the_drive_secant_is_the_reward_of_eating_one_item_of_each_kind_per_unit():
    u = jnp.array([-0.4, 0.2])
    worth = -drive_secant(u, 0.1)
    for k in range(2):
        eaten = u.at[k].add(0.1)
        assert float(worth[k]) == pytest.approx(float(homeostatic_reward(u, eaten, 0.0)) / 0.1, rel=1e-4)
    assert float(worth[0]) > 0 > float(worth[1])  # hungry for the first, sated with the second


def test_agent_acts_in_the_box_and_a_frozen_step_keeps_the_brain():
    env = make_env("mortal/FoodOnly-v0")
    agent, state = build_agent(CONFIG, env, key=jax.random.key(0))
    obs, _ = env.reset(seed=0)
    run = Run.start(CONFIG, "mortal/FoodOnly-v0", 2, 0)
    run.train(30)
    before = run.population.states.brain
    run.evaluate(1, learn=False, cap=5)
    after = run.population.states.brain
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
    assert agent.num_channels == 5**2 + 1  # the candidates and the random walk
    assert np.all(np.abs(np.asarray(agent.candidates)) <= 1)


def test_forecast_makes_a_body_at_its_set_point_want_food_and_a_sated_one_turn_away():
    """Values that say driving forward brings food (here: a food rise for forward motion) and a body exactly at its
    set-point: with the allostatic forecast it drives towards the food; without it an item would overshoot the
    set-point, so it backs away, as it does when sated (regulation)."""
    env = make_env("mortal/FoodOnly-v0")
    agent, state = build_agent(CONFIG, env, key=jax.random.key(0))
    values = state.brain.values
    forward = values.code_size * (1 + values.motion_size)  # the weight of the context's first reading: moving forward
    values = eqx_set_weight(values, values.weight.at[0, forward].set(1.0))
    model = state.brain.motion
    model = eqx.tree_at(lambda m: m.weight, model, model.weight.at[0, 3].set(0.5).at[0, 4].set(0.5))  # forward ~ wheels
    brain = eqx.tree_at(lambda b: (b.values, b.motion), state.brain, (values, model))
    code, motion = agent.code(jnp.zeros(23))

    def best(config, level):
        forecaster = dataclasses.replace(agent, config=config)
        scores = forecaster.scores(brain, code, motion, forecaster.worth(jnp.array([level])))
        return np.asarray(agent.candidates)[int(jnp.argmax(scores))]

    assert np.all(best(CONFIG, 0.0) == 1.0)  # both wheels forward: it eats before it needs to
    assert np.all(best(dataclasses.replace(CONFIG, planner=NeedValueConfig(forecast_steps=0)), 0.0) == -1.0)
    assert np.all(best(CONFIG, 0.5) == -1.0)  # sated: away from the food


def test_bad_configs_and_bodies_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="NeedValueConfig.explore"):
        build_agent(dataclasses.replace(CONFIG, planner=NeedValueConfig(explore=1.5)), make_env("mortal/FoodOnly-v0"),
                    key=jax.random.key(0))
    with pytest.raises(ConfigError, match="memory:none, or NeedValueConfig.homing"):
        build_agent(dataclasses.replace(CONFIG, memory=AgentConfig().memory), make_env("mortal/FoodOnly-v0"),
                    key=jax.random.key(0))
    with pytest.raises(ValueError, match="motor='raw'"):
        build_agent(dataclasses.replace(CONFIG, motor="reflexes"), make_env("mortal/FoodOnly-v0"),
                    key=jax.random.key(0))
    with pytest.raises(ValueError, match="velocity"):
        build_agent(CONFIG, make_env("Pendulum-v1"), key=jax.random.key(0))


def test_with_an_efference_copy_a_hot_body_values_the_command_no_sensor_reads():
    """ThermalForager's third actuator sweats, which no motion sensor reads; values that read the last command can
    learn that it cools (here: set so), and a hot body then chooses to sweat."""
    config = dataclasses.replace(CONFIG, planner=NeedValueConfig(levels=3))
    env = make_env("mortal/ThermalForager-v0")
    agent, state = build_agent(config, env, key=jax.random.key(0))
    context = len(agent.motion) + 3
    assert state.brain.values.weight.shape[1] == len(agent.scene) * config.planner.curves * (1 + context) + context + 1
    sweat = len(agent.scene) * config.planner.curves * (1 + context) + context - 1  # the last command's third part
    values = eqx_set_weight(state.brain.values, state.brain.values.weight.at[2, sweat].set(-1.0))  # it cools
    brain = eqx.tree_at(lambda b: b.values, state.brain, values)
    code, motion = agent.code(jnp.zeros(env.observation_space["extero"].shape[0]))
    hot = jnp.array([0.0, 0.0, 40.0])
    best = np.asarray(agent.candidates)[int(jnp.argmax(agent.scores(brain, code, motion, agent.worth(hot))))]
    assert best[2] == 1.0
    without = build_agent(dataclasses.replace(config, planner=NeedValueConfig(efference=False)), env,
                          key=jax.random.key(0))[1]
    assert without.brain.values.motion_size == len(agent.motion)  # the motion alone: sweating cannot be valued


def test_a_body_in_need_does_not_explore_and_a_sated_one_does():
    config = dataclasses.replace(CONFIG, planner=NeedValueConfig(explore=1.0, explore_steps=1, safe_drive=0.3))
    agent, state = build_agent(config, make_env("mortal/FoodOnly-v0"), key=jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 200)

    def explores(drive: float) -> float:
        return float(jnp.mean(jax.vmap(lambda k: agent.explore(state, jnp.float32(drive), key=k)[0])(keys)))

    assert explores(0.0) == 1.0  # needs met: the full exploring chance
    assert 0.3 < explores(0.15) < 0.7  # halfway to the safe drive: about half
    assert explores(0.3) == 0.0 and explores(0.8) == 0.0  # in need: it exploits
    stuck = eqx.tree_at(lambda s: s.since_relief, state, jnp.array(1000))  # its drive has not fallen for long
    assert float(jnp.mean(jax.vmap(lambda k: agent.explore(stuck, jnp.float32(0.8), key=k)[0])(keys))) == 1.0


def test_the_steps_without_relief_count_while_the_drive_rises_and_restart_when_it_falls():
    env = make_env("mortal/FoodOnly-v0")
    agent, state = build_agent(CONFIG, env, key=jax.random.key(0))
    extero = jnp.zeros(env.observation_space["extero"].shape)
    no = jnp.array(False)
    step = jax.jit(lambda s, intero: agent.step(s, Observation(extero, intero, jnp.zeros(()), no, no), jax.random.key(2)))
    for food in (-0.10, -0.11, -0.12):  # hungrier each step
        state, _, _ = step(state, jnp.array([food]))
    assert int(state.since_relief) == 3
    state, _, _ = step(state, jnp.array([0.0]))  # it ate
    assert int(state.since_relief) == 0
