"""A brain module that diverges is named, with the agent and the step; the run stops, or that life ends and a
newborn brain goes on."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import AgentConfig, PCConfig, SDRConfig
from agents.loop import Run
from brain.base import non_finite
from test_control import SMALL as MODEL_BASED

ACTIVE_INFERENCE = AgentConfig(perception=PCConfig(latent=8, hidden=(16,), steps=4),
                               memory=SDRConfig(modules=4, cells=8, input_bits=64, active_bits=8),
                               plan_every=5, learn_every=2, select_every=50, levels=5, situations=4)


def poison(run: Run, member: int, where, value=jnp.nan) -> None:
    """`value` (NaN) all over one array of one member's brain (`where(states)` picks the array)."""
    states = run.population.states
    run.population.states = eqx.tree_at(where, states, where(states).at[member].set(value))


def member(run: Run, i: int):
    return jax.tree.map(lambda x: x[i], run.population.states)


def poisoned_active_inference() -> Run:
    """Two agents five steps into life, their next step a planning tick (memory recalls only at one): agent 0's
    perception and agent 1's memory hold NaNs (the brain and the population of tests/test_agent.py, so the step
    is compiled once)."""
    run = Run.start(ACTIVE_INFERENCE, "mortal/Forager-v0", population=2, seed=0)
    run.train(5)
    poison(run, 0, lambda s: s.brain.perception.stack.weights[0])
    poison(run, 1, lambda s: s.brain.memory.payload_sum)
    poison(run, 1, lambda s: s.brain.memory.payload_count, 1)  # every cell holds data (the NaN)
    return run


def test_ending_the_lives_of_diverged_brains_goes_on_with_newborn_ones():
    run = poisoned_active_inference()
    with pytest.warns(RuntimeWarning, match="at step 5, agent 0: the perception diverged .*; agent 1: the memory "
                                            "diverged .*: that life ends"):
        run.train(2, on_divergence="end-life")
    ended = {life["env"]: life for life in run.record.lives}
    assert ended[0]["cause_of_death"] == "perception diverged" and ended[1]["cause_of_death"] == "memory diverged"
    assert ended[0]["survival_steps"] == 6 and run.record.steps == 7  # its 6th step ended it
    for i in (0, 1):  # newborn brains, one step into a new life
        assert not non_finite(member(run, i).brain) and int(member(run, i).life_steps) == 1


def test_the_model_based_agent_names_a_diverged_world_model():
    run = Run.start(MODEL_BASED, "CartPole-v1", population=2, seed=0, max_episode_steps=60)
    run.train(2)
    poison(run, 1, lambda s: s.brain.world_model.members.weights[0])
    with pytest.warns(RuntimeWarning, match="at step 2, agent 1: the planner diverged"):
        run.train(1, on_divergence="end-life")
    assert run.record.lives[-1]["cause_of_death"] == "planner diverged" and run.record.lives[-1]["env"] == 1
    assert not non_finite(member(run, 1).brain) and np.all(np.isfinite(run.current.extero))
    poison(run, 0, lambda s: s.brain.world_model.members.weights[0])
    with pytest.raises(FloatingPointError, match="at step 3, agent 0: the planner diverged"):
        run.train(1)
    with pytest.raises(ValueError, match="on_divergence must be one of"):
        run.train(1, on_divergence="ignore")
