"""The context gate (brain.context_gate) and the need-value agent's contexts (agents.value_agent)."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.agent import build_agent
from agents.config import NEED_VALUES, AgentConfig, ConfigError, ContextGateConfig, NeedValueConfig, validate
from agents.loop import make_env
from agents.value_agent import in_context
from brain.context_gate import ContextGate


def outcomes(gate: ContextGate, state, errors, times: int):
    """`times` outcomes with the same errors; returns the state and whether any opened a context."""
    opened = False
    for _ in range(times):
        state, opens = gate.track(state, jnp.asarray(errors, jnp.float32), jnp.float32(1))
        opened |= bool(opens)
    return state, opened


def test_the_gate_opens_the_candidate_when_it_predicts_better_for_a_while_and_returns_to_a_known_context():
    gate = ContextGate(4, contexts=3, surprise_ratio=2.0, error_rate=0.5, persistence=2)
    state = gate.init_context()
    state, opened = outcomes(gate, state, [0.001, 0.001, 0.001], 10)  # a regime context 0 knows
    assert int(state.current) == 0 and not opened
    state, opened = outcomes(gate, state, [0.02, 0.001, 0.02], 1)  # one surprising outcome: not yet a change
    assert int(state.current) == 0 and not opened
    state, opened = outcomes(gate, state, [0.02, 0.001, 0.02], 1)  # the candidate (context 1) keeps predicting better
    assert int(state.current) == 1 and opened and bool(state.allocated[1]) and not bool(state.allocated[2])
    state, opened = outcomes(gate, state, [0.03, 0.001, 0.001], 5)
    assert int(state.current) == 1 and not opened
    state, opened = outcomes(gate, state, [0.001, 0.03, 0.03], 2)  # the first regime is back: no new context
    assert int(state.current) == 0 and not opened and not bool(state.allocated[2])
    unchanged, opens = gate.track(state, jnp.array([1.0, 0.0, 0.0]), jnp.float32(0))  # not an outcome
    assert not bool(opens) and all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state),
                                                                        jax.tree.leaves(unchanged)))


def test_with_every_context_taken_the_gate_only_returns():
    gate = ContextGate(4, contexts=2, surprise_ratio=2.0, error_rate=0.5, persistence=1)
    state, opened = outcomes(gate, gate.init_context(), [0.02, 0.001], 1)
    assert opened and int(state.current) == 1
    assert not bool(gate.candidate(state)[1]), "no context is free: no candidate"
    state, opened = outcomes(gate, state, [0.02, 0.02], 5)  # both wrong: nothing better to go to
    assert int(state.current) == 1 and not opened


def forager_agent():
    config = dataclasses.replace(NEED_VALUES, planner=NeedValueConfig(events=True),
                                 gate=ContextGateConfig(contexts=2, persistence=2))
    env = make_env("mortal/Forager-v0")
    return (*build_agent(config, env, key=jax.random.key(0)), env)


def test_an_agent_opens_a_context_when_items_change_what_they_give_and_keeps_what_the_first_learnt():
    """Outcomes fed to the agent's learning step: eating a food item (its sensor's reading vanishes) first gives
    food, then water. The gate opens a second context for the outcome model, which learns from then on; the first
    context's model stays as it was when it was left, and is used again when food gives food again."""
    agent, state, env = forager_agent()
    food = env.unwrapped.sensor_slices()["food"]
    before = jnp.zeros(len(agent.scene)).at[food.start + 3].set(0.95)  # a food item right in front
    after = jnp.zeros(len(agent.scene))
    phi = jnp.ones(state.brain.values.weight.shape[1]) * 0.01
    previous = dataclasses.replace(state, previous_scene=before)
    brain, context = state.brain, state.context

    def eat(brain, context, change):
        return agent.learn(brain, context, phi, jnp.asarray(change), jnp.float32(0), phi, jnp.float32(1),
                           jnp.zeros(3), after, previous)

    def gives(brain, c):  # what context c's outcome model says a food item gives: [food, water]
        return np.asarray(in_context(brain.outcomes, c).weight[:, 0]) * 0.95

    for _ in range(30):
        brain, context = eat(brain, context, [0.1, 0.0])
    assert int(context.current) == 0 and not bool(context.allocated[1])
    np.testing.assert_allclose(gives(brain, 0), [0.1, 0.0], atol=0.01)
    brain, context = eat(brain, context, [0.0, 0.1])
    assert int(context.current) == 0, "one surprising outcome is not yet a change"
    for _ in range(2, 6):
        brain, context = eat(brain, context, [0.0, 0.1])
        if int(context.current) == 1:
            break
    assert int(context.current) == 1, "a few outcomes in a row that the candidate predicts better: a new context"
    left = in_context(brain.outcomes, 0).weight
    for _ in range(10):
        brain, context = eat(brain, context, [0.0, 0.1])
    assert int(context.current) == 1
    np.testing.assert_array_equal(in_context(brain.outcomes, 0).weight, left)  # context 0 learnt nothing since
    np.testing.assert_allclose(gives(brain, 1), [0.0, 0.1], atol=0.01)
    for _ in range(3):
        brain, context = eat(brain, context, [0.1, 0.0])
    assert int(context.current) == 0, "food gives food again: back to the first context"


def test_what_an_item_gives_decides_which_way_a_hungry_body_turns():
    """Values that say turning left leads to food-sensor events and turning right to water-sensor events: a body
    short of food turns left while its outcome model says food items feed food, and right once it says they feed
    water (and water items food)."""
    agent, state, env = forager_agent()
    values = state.brain.values
    events = values.code_size * (1 + values.motion_size) + 2  # the weight of the context's turning reading
    weight = values.weight.at[2, events].set(1.0).at[3, events].set(-1.0)  # food events one way, water the other
    brain = eqx.tree_at(lambda b: b.values.weight, state.brain, weight)
    code, motion = agent.code(jnp.zeros(env.observation_space["extero"].shape[0]))
    hungry = jnp.array([-0.5, 0.0])

    def turn(gives):  # the chosen command's turn reading for an outcome model M = gives
        outcomes = brain.outcomes.weight.at[0].set(jnp.asarray(gives))
        chosen = eqx.tree_at(lambda b: b.outcomes.weight, brain, outcomes)
        best = int(jnp.argmax(agent.scores(chosen, code, motion, agent.worth(hungry))))
        return float(jax.vmap(chosen.motion.predict, in_axes=(None, 0))(motion, agent.candidates)[best, 2])

    model = brain.motion
    brain = eqx.tree_at(lambda b: b.motion.weight, brain, model.weight.at[2, 3].set(-0.5).at[2, 4].set(0.5))
    as_it_was, swapped = [[0.1, 0.0], [0.0, 0.1]], [[0.0, 0.1], [0.1, 0.0]]
    assert turn(as_it_was) > 0 > turn(swapped)


def test_context_gate_configs_are_checked_by_name():
    with pytest.raises(ConfigError, match="planner:need-values with events=true"):
        validate(AgentConfig(gate=ContextGateConfig()))
    with pytest.raises(ConfigError, match="events=true"):
        validate(dataclasses.replace(NEED_VALUES, gate=ContextGateConfig()))
    events = dataclasses.replace(NEED_VALUES, planner=NeedValueConfig(events=True))
    with pytest.raises(ConfigError, match="ContextGateConfig.contexts must be >= 2"):
        validate(dataclasses.replace(events, gate=ContextGateConfig(contexts=1)))
    with pytest.raises(ConfigError, match="ContextGateConfig.surprise_ratio must be > 1"):
        validate(dataclasses.replace(events, gate=ContextGateConfig(surprise_ratio=1.0)))
    with pytest.raises(ConfigError, match="NeedValueConfig.outcome_rate must be <= 1"):
        validate(dataclasses.replace(events, planner=NeedValueConfig(events=True, outcome_rate=2.0)))
