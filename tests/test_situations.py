"""brain.situations: competitive learning, running whitening statistics and regrowth, by hand; and what a
regrown unit means to the planner that reasons about situations (agents.agent.Agent.select)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.agent import build_agent
from agents.config import AgentConfig, IdentityConfig, NoMemoryConfig
from agents.loop import make_env
from brain.planner import PlannerState
from brain.situations import Situations


def three_units() -> Situations:
    """Prototypes (0, 0), (2, 0), (0, 2); latents seen so far with mean (1, 1) and variance (4, 4)."""
    situations = Situations(3, 2, lr=0.5, usage_decay=0.9, key=jax.random.key(0))
    return eqx.tree_at(lambda s: (s.prototypes, s.mean, s.variance), situations,
                       (jnp.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]), jnp.ones(2), jnp.full(2, 4.0)))


def test_learn_moves_only_the_winner_towards_the_whitened_latent():
    situations = three_units()
    latent = jnp.array([4.0, 1.0])  # whitened by the statistics before this step: z = (3, 0) / 2 = (1.5, 0)
    np.testing.assert_allclose(situations.whiten(latent), [1.5, 0.0], rtol=1e-6)
    assert int(situations.classify(latent)) == 1  # squared distances 2.25, 0.25, 6.25
    learnt = situations.learn(latent)
    np.testing.assert_allclose(learnt.prototypes, [[0.0, 0.0], [2.0 + 0.5 * (1.5 - 2.0), 0.0], [0.0, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(learnt.wins, [0.9, 0.9 + 1.0, 0.9], rtol=1e-6)  # decayed, and the winner's grown by 1


def test_learn_keeps_running_mean_and_variance_at_rate_one_minus_decay():
    learnt = three_units().learn(jnp.array([4.0, 1.0]))
    mean = np.array([1.0, 1.0]) + 0.1 * (np.array([4.0, 1.0]) - 1.0)  # (1.3, 1)
    np.testing.assert_allclose(learnt.mean, mean, rtol=1e-6)
    # the variance moves towards the squared distance from the updated mean
    np.testing.assert_allclose(learnt.variance, 4.0 + 0.1 * ((np.array([4.0, 1.0]) - mean) ** 2 - 4.0), rtol=1e-6)
    # a constant latent: the mean converges to it and the variance decays towards 0
    constant = three_units()
    for _ in range(200):
        constant = constant.learn(jnp.array([4.0, 1.0]))
    np.testing.assert_allclose(constant.mean, [4.0, 1.0], atol=1e-6 + 3.0 * 0.9**200)
    assert np.all(np.asarray(constant.variance) < 4.0 * 0.9**150)


def test_regrow_reseeds_only_the_least_used_unit_under_min_wins():
    situations = eqx.tree_at(lambda s: s.wins, three_units(), jnp.array([0.5, 0.005, 2.0]))
    latent = jnp.array([3.0, 5.0])
    regrown = situations.regrow(latent, min_wins=0.01)
    np.testing.assert_allclose(regrown.prototypes[1], situations.whiten(latent), rtol=1e-6)  # (1, 2)
    np.testing.assert_array_equal(regrown.prototypes[jnp.array([0, 2])], situations.prototypes[jnp.array([0, 2])])
    np.testing.assert_allclose(regrown.wins, [0.5, 1.0, 2.0])
    assert int(regrown.classify(latent)) == 1  # the regrown unit is where experience is


def test_regrow_leaves_every_unit_in_use_alone():
    situations = eqx.tree_at(lambda s: s.wins, three_units(), jnp.array([0.5, 0.02, 2.0]))
    kept = situations.regrow(jnp.array([3.0, 5.0]), min_wins=0.01)
    np.testing.assert_array_equal(kept.prototypes, situations.prototypes)
    np.testing.assert_array_equal(kept.wins, situations.wins)
    forced = situations.regrow(jnp.array([3.0, 5.0]), min_wins=jnp.inf)  # Agent.enter: always the least used
    np.testing.assert_allclose(forced.prototypes[1], [1.0, 2.0], rtol=1e-6)


def test_no_situations_is_an_error():
    with pytest.raises(ValueError, match="num_situations must be at least 1, got 0"):
        Situations(0, 2, key=jax.random.key(0))


def learnt_transition(planner, factor: int, source: int, target: int, channel: int, times: int):
    """The planner after seeing situation `source` lead to `target` under `channel` `times` times."""
    beliefs = planner.init_state().qs
    before = [q.at[0, 0].set(jax.nn.one_hot(source, q.shape[-1])) if f == factor else q for f, q in enumerate(beliefs)]
    after = [q.at[0, 0].set(jax.nn.one_hot(target, q.shape[-1])) if f == factor else q for f, q in enumerate(beliefs)]
    observation = [jnp.argmax(q[0, 0]) for q in after]
    for _ in range(times):
        planner = planner.learn(PlannerState(qs=after, qs_prev=before, channel=jnp.array(channel)), observation)
    return planner


def test_a_regrown_situation_starts_from_the_planner_transition_prior():
    """A regrown unit is a new situation: what the planner learnt about the unit it replaces must not carry over."""
    config = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), levels=3, situations=4)
    agent, state = build_agent(config, make_env("mortal/FoodOnly-v0"), key=jax.random.key(0))
    planner = state.brain.planner
    factor = agent.model.index("situation")  # the situation units, and death
    assert planner.ordinal[factor] is False and planner.num_states[factor] == config.situations.units + 1
    planner = learnt_transition(planner, factor, source=1, target=2, channel=0, times=5)  # out of unit 1
    planner = learnt_transition(planner, factor, source=3, target=1, channel=1, times=5)  # into unit 1
    prior = np.asarray(planner.transition_prior[factor])
    learnt = np.asarray(planner.pB[factor][0])
    assert (learnt[2, 1, 0], learnt[1, 3, 1]) == pytest.approx((prior[2, 1] + 5.0, prior[1, 3] + 5.0))
    state = eqx.tree_at(lambda s: (s.brain.planner, s.brain.situations.wins), state,
                        (planner, jnp.array([3.0, 0.001, 2.0, 1.0])))

    selected = agent.select(state)
    assert not np.array_equal(selected.brain.situations.prototypes[1], state.brain.situations.prototypes[1])
    pB = np.asarray(selected.brain.planner.pB[factor][0])
    np.testing.assert_allclose(pB[[0, 2, 3, 4]][:, [0, 2, 3, 4]], learnt[[0, 2, 3, 4]][:, [0, 2, 3, 4]],
                               err_msg="transitions between the units kept should be kept")
    np.testing.assert_allclose(pB[:, 1, :], np.repeat(prior[:, 1:2], pB.shape[-1], axis=1),
                               err_msg="transitions out of the regrown situation 1 keep the replaced unit's counts")
    np.testing.assert_allclose(pB[1, :, :], np.repeat(prior[1, :, None], pB.shape[-1], axis=1),
                               err_msg="transitions into the regrown situation 1 keep the replaced unit's counts")
    B = np.asarray(selected.brain.planner.B[factor][0])
    np.testing.assert_allclose(B, pB / pB.sum(axis=0, keepdims=True), rtol=1e-5)
