"""Learned goals (brain.goals) and the allostatic need that weighs them (agents.model_agent.ModelAgent.need)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import AgentConfig, IdentityConfig, ModelBasedConfig
from agents.loop import make_env
from agents.model_agent import build_model_agent
from brain.goals import Goals
from homeostasis.allostasis import drift, forecast


def test_goals_keep_the_states_before_each_relief_and_prefer_the_nearest():
    goals = Goals(variables=2, state_size=2, capacity=2, threshold=0.01)
    ahead, left = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    for state in (ahead, left):  # two reliefs of variable 0 (raised): food met ahead, then on the left
        goals = goals.learn(state, jnp.array([0.1, 0.0]))
    goals = goals.learn(jnp.array([9.0, 9.0]), jnp.array([0.001, -0.001]))  # drift: no relief
    np.testing.assert_allclose(goals.count, [2, 0, 0, 0])
    # either episode is a goal; their average is not
    assert goals.risk(ahead)[0] == 0.0 and goals.risk(left)[0] == 0.0
    assert goals.risk((ahead + left) / 2)[0] == pytest.approx(0.5 * 0.25)
    # a goal never relieved costs nothing, wherever the state
    np.testing.assert_allclose(goals.risk(jnp.array([5.0, -5.0]))[1:], 0.0)
    # the ring keeps the last `capacity` episodes
    goals = goals.learn(jnp.array([3.0, 3.0]), jnp.array([0.1, 0.0]))
    assert goals.risk(ahead)[0] > 0.0 and goals.risk(left)[0] == 0.0


def test_a_lowering_relief_teaches_the_lower_goal():
    goals = Goals(variables=2, state_size=2).learn(jnp.array([1.0, 2.0]), jnp.array([0.0, -0.5]))
    np.testing.assert_allclose(goals.known, [0, 0, 0, 1])
    assert goals.risk(jnp.array([1.0, 2.0]))[3] == 0.0 and goals.risk(jnp.array([1.0, 0.0]))[3] == 1.0


def test_goals_refuse_bad_settings():
    with pytest.raises(ValueError, match="threshold"):
        Goals(variables=1, state_size=2, threshold=0.0)


def test_drift_forecast_matches_the_physiology_rolled_forward():
    env = make_env("mortal/FoodOnly-v0")
    physiology = env.get_wrapper_attr("physiology")
    h = jnp.array([0.2])
    rolled = forecast(physiology, h, jnp.zeros((300, len(physiology.event_names))), 0.0)[-1]
    np.testing.assert_allclose(drift(physiology, h, 300), rolled, atol=1e-5)
    env.close()


def goal_agent(forecast_steps: int):
    env = make_env("mortal/FoodOnly-v0")
    config = AgentConfig(perception=IdentityConfig(), motor="raw",
                         planner=ModelBasedConfig(goal_weight=1.0, forecast_steps=forecast_steps, candidates=8,
                                                  hidden=(8,), members=2, recent=2, dreams=0, horizon=3))
    agent, state = build_model_agent(config, env, key=jax.random.key(0))
    env.close()
    return agent, state


def test_an_agent_that_forecasts_needs_food_before_it_is_hungry_and_one_that_cannot_does_not():
    sated = jnp.array([0.05])  # above the set-point 0: not hungry now, hungry within 1,000 steps of decay
    foresighted, _ = goal_agent(forecast_steps=1000)
    myopic, _ = goal_agent(forecast_steps=0)
    assert foresighted.need(sated)[0] > 0.05  # raise food: wanted
    assert myopic.need(sated)[0] == 0.0
    assert myopic.need(jnp.array([-0.2]))[0] == pytest.approx(0.2)  # a hungry body needs it either way


def test_a_learned_goal_pays_for_coming_nearer_only_when_it_is_needed():
    """A step towards a learned goal makes progress for the foresighted (needing) agent, none for the myopic one; a
    step away is negative progress (the planner counts only coming nearer, relu: a goal is passed through, not
    stayed in; the actor learns from both signs), and staying at the goal makes none."""
    for steps, needed in ((1000, True), (0, False)):
        agent, state = goal_agent(steps)
        goal = jnp.linspace(-1.0, 1.0, agent.latent_size)
        goals = state.brain.goals.learn(goal, jnp.array([0.1]))
        need = agent.need(jnp.array([0.05]))
        far, near = (jnp.concatenate([goal + offset, jnp.zeros(1)]) for offset in (2.0, 0.5))
        towards = agent.progress(goals, need, far, near)
        assert (towards > 0) == needed
        assert agent.progress(goals, need, near, far) == pytest.approx(-towards)
        assert agent.progress(goals, need, near, near) == 0.0
