"""brain.actor: node perturbation learns the action a reward asks for; the model-based agent's policy prior."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import AgentConfig, IdentityConfig, ModelBasedConfig
from agents.loop import make_env
from agents.model_agent import build_model_agent
from brain.actor import Actor


def test_node_perturbation_learns_the_rewarded_action_for_each_state():
    """Two states ask for opposite actions (reward -|a - target(s)|^2); perturbed actions and their rewards alone,
    no gradient and no target seen, move mu(s) to each state's target."""
    states = jnp.eye(2)
    targets = jnp.array([[0.5, -0.5], [-0.5, 0.5]])

    def trial(actor, key):
        k_state, k_noise = jax.random.split(key)
        which = jax.random.randint(k_state, (), 0, 2)
        s = states[which]
        action = jnp.clip(actor.mean(s) + 0.3 * jax.random.normal(k_noise, (2,)), -1, 1)
        reward = -jnp.sum((action - targets[which]) ** 2)
        return actor.learn(s, action, reward, jnp.ones(())), None

    actor = Actor(2, 2, learning_rate=0.02)
    before = jnp.abs(jax.vmap(actor.mean)(states) - targets).max()
    actor, _ = jax.lax.scan(trial, actor, jax.random.split(jax.random.key(1), 4000))
    after = jnp.abs(jax.vmap(actor.mean)(states) - targets).max()
    assert before > 0.45 and after < 0.1, (before, after)


def test_an_invalid_step_leaves_the_actor_as_it_was_and_bad_settings_are_named():
    actor = Actor(3, 2, learning_rate=0.1)
    same = actor.learn(jnp.ones(3), jnp.ones(2), jnp.array(5.0), jnp.zeros(()))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(actor), jax.tree.leaves(same)))
    moved = actor.learn(jnp.ones(3), jnp.ones(2), jnp.array(5.0), jnp.ones(()))
    assert not np.array_equal(actor.weight, moved.weight)
    with pytest.raises(ValueError, match="learning_rate > 0"):
        Actor(3, 2, learning_rate=0.0)


def test_the_agent_samples_its_first_step_around_the_prior_and_refuses_it_without_raw_actions():
    config = AgentConfig(perception=IdentityConfig(), motor="raw",
                         planner=ModelBasedConfig(actor_rate=0.01, candidates=16, hidden=(8,), members=2, horizon=3,
                                                  box_noise=0.01))
    env = make_env("mortal/FoodOnly-v0")
    agent, state = build_model_agent(config, env, key=jax.random.key(0))
    assert state.brain.goals is not None, "the actor is rewarded by progress towards learned goals"
    brain = eqx.tree_at(lambda b: b.actor.bias, state.brain, jnp.array([2.0, -2.0]))  # mu = tanh(+-2) = +-0.96
    s = jnp.zeros(agent.state_size)
    plan_state, _ = agent.plan(brain, state.plan, s, jnp.zeros(2), key=jax.random.key(1))
    # the newborn's sampling mean is 0 (and mu(s) too: no offset at birth); with this prior, every candidate's
    # first step lies within 0.05 of 0 + mu(s)
    np.testing.assert_allclose(plan_state.distribution[0], jnp.tanh(jnp.array([2.0, -2.0])), atol=0.05)
    np.testing.assert_allclose(plan_state.distribution[1], 0.0, atol=0.05)
    without = dataclasses.replace(config, planner=dataclasses.replace(config.planner, actor_rate=0.0))
    _, plain = build_model_agent(without, env, key=jax.random.key(0))
    assert plain.brain.actor is None and plain.brain.goals is None
    reflexes = dataclasses.replace(config, motor="reflexes")
    with pytest.raises(ValueError, match="actor_rate 0.01 needs continuous actions"):
        build_model_agent(reflexes, env, key=jax.random.key(0))


def test_the_actor_learns_from_the_progress_the_body_made_but_not_at_a_relief():
    config = AgentConfig(perception=IdentityConfig(), motor="raw",
                         planner=ModelBasedConfig(actor_rate=0.1, candidates=16, hidden=(8,), members=2, horizon=3))
    agent, state = build_model_agent(config, make_env("mortal/FoodOnly-v0"), key=jax.random.key(0))
    goal = jnp.linspace(-1.0, 1.0, agent.latent_size)
    brain = eqx.tree_at(lambda b: b.goals, state.brain, state.brain.goals.learn(goal, jnp.array([0.1])))
    far, near = (jnp.concatenate([goal + offset, jnp.zeros(1)]) for offset in (2.0, 0.5))
    state = eqx.tree_at(lambda s: (s.previous_state, s.previous_action), state, (far, jnp.array([0.5, -0.5])))
    need = agent.need(agent.interoception.set_point - 0.3)  # hungry
    assert agent.progress(brain.goals, need, far, near) > 0
    for change, learns in ((0.0, True), (0.1, False)):  # a jump of the nutrient by 0.1 is a relief
        raw_delta = jnp.concatenate([near[:-1] - far[:-1], jnp.array([change])])
        actor = agent.learn_actor(brain, state, near, need, raw_delta, jnp.ones(()))
        assert (not np.array_equal(actor.weight, brain.actor.weight)) == learns
