"""Homing in the need-value agent (agents.value_agent, NeedValueConfig.homing): the SDR memory binds each rise of a
variable to the place, recalls a place per need, and the body prefers the commands that bring that place nearer."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from agents.agent import build_agent
from agents.config import NEED_VALUES, AgentConfig, ConfigError, NeedValueConfig, NoMemoryConfig, SDRConfig
from agents.loop import make_env

HOMING = dataclasses.replace(NEED_VALUES, planner=NeedValueConfig(homing=10.0), memory=SDRConfig())


def oasis_agent(config=HOMING):
    env = make_env("mortal/Oasis-v0")
    agent, state = build_agent(config, env, key=jax.random.key(0))
    obs, _ = env.reset(seed=0)
    return agent, state, env, jnp.asarray(obs["extero"])


@eqx.filter_jit
def learn_places(agent, brain, scene, rise):
    phi = jnp.zeros(brain.values.weight.shape[1])
    return agent.learn_places(brain, phi, rise, phi, jnp.float32(1), agent.place(scene), scene, key=jax.random.key(1))


def eat(agent, brain, scene, rise):
    """One valid step in which the variables changed by `rise` at `scene`: the place model and memory learn."""
    brain, rose, _ = learn_places(agent, brain, scene, jnp.asarray(rise, jnp.float32))
    return brain, float(rose)


@eqx.filter_jit
def recall_goals(agent, memory, key):
    return agent.recall_goals(memory, key=key)


def test_the_place_is_the_landmarks_nearest_readings_whatever_the_heading():
    agent, _, env, extero = oasis_agent()
    scene = extero[jnp.array(agent.scene)]
    assert len(agent.landmarks) == 4  # the four posts, not the food and water sensors
    world = env.unwrapped
    world.data.qpos[2] = 1.3  # the same spot, turned
    mujoco.mj_forward(world.model, world.data)
    turned = jnp.asarray(world._extero())[jnp.array(agent.scene)]
    assert not np.allclose(scene, turned)  # egocentric bins move as the body turns
    np.testing.assert_allclose(agent.place(scene), agent.place(turned), atol=1e-6)  # the place does not


def test_memory_binds_a_rise_to_its_place_and_recalls_it_for_that_need_only():
    agent, state, _, extero = oasis_agent()
    scene = extero[jnp.array(agent.scene)]
    brain, rose = eat(agent, state.brain, scene, [0.0, 0.0])
    assert rose == 0.0
    _, known, _ = recall_goals(agent, brain.memory, jax.random.key(2))
    assert np.all(np.asarray(known) == 0)  # nothing eaten yet: no place to go back to
    brain, rose = eat(agent, brain, scene, [0.1, 0.0])  # food rose by an item here
    assert rose == 1.0
    goals, known, _ = recall_goals(agent, brain.memory, jax.random.key(3))
    np.testing.assert_allclose(goals[0], agent.place(scene), atol=1e-6)
    assert np.asarray(known).tolist() == [1.0, 0.0]  # food has a place; water none

    without, newborn, _, _ = oasis_agent(dataclasses.replace(HOMING, memory=NoMemoryConfig()))  # the ablation
    brain, _ = eat(without, newborn.brain, scene, [0.1, 0.0])
    assert np.all(np.asarray(recall_goals(without, brain.memory, jax.random.key(3))[1]) == 0)  # recalls nothing


def test_homing_prefers_the_step_towards_the_most_pressing_needs_place_not_between_two():
    agent, *_ = oasis_agent()
    place = jnp.array([0.5, 0.5, 0.5, 0.5])
    goals = jnp.array([[0.9, 0.5, 0.1, 0.5], [0.1, 0.5, 0.9, 0.5]])  # food one way, water the other
    steps = jnp.array([[0.01, 0, -0.01, 0], [-0.01, 0, 0.01, 0], [0, 0.01, 0, 0]])  # to food, to water, elsewhere
    hungry = agent.homing(place, steps, goals, jnp.ones(2), jnp.array([1.0, 0.4]))
    thirsty = agent.homing(place, steps, goals, jnp.ones(2), jnp.array([0.4, 1.0]))
    assert int(jnp.argmax(hungry)) == 0 and int(jnp.argmax(thirsty)) == 1
    only_water_known = agent.homing(place, steps, goals, jnp.array([0.0, 1.0]), jnp.array([1.0, 0.4]))
    assert np.all(np.asarray(only_water_known) == 0)  # hungry, no place known for food: it searches, not drinks
    nothing_known = agent.homing(place, steps, goals, jnp.zeros(2), jnp.array([1.0, 0.4]))
    assert np.all(np.asarray(nothing_known) == 0)


def test_homing_configs_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="NeedValueConfig.homing"):
        build_agent(dataclasses.replace(NEED_VALUES, memory=AgentConfig().memory), make_env("mortal/Oasis-v0"),
                    key=jax.random.key(0))
    with pytest.raises(ValueError, match="landmarks"):
        build_agent(HOMING, make_env("mortal/FoodOnly-v0"), key=jax.random.key(0))
