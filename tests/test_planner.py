"""brain.planner: expected free energy on a hand-built model, Dirichlet learning of B (and A), and bad input.

The reference below is the module docstring's G for one factor and one-step policies, in numpy:
q(s) ∝ A[o, :] D, q(s' | u) = B[:, :, u] q(s), q(o | u) = A q(s' | u), and
-G(u) = q(o | u) . C + H[q(o | u)] - E_q(s' | u) H[A[:, s']]   (utility + state information gain),
q(u) = softmax(gamma (-G)).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pymdp.agent import Agent as PymdpAgent

from brain.planner import ActiveInferencePlanner, Factor, GenerativeModel, PlannerState

STAY, TO_GOAL, TO_START = 0, 1, 2
PREFERENCES = np.array([-4.0, -4.0, 0.0])  # outcome 2 is the goal
PLACE = GenerativeModel((Factor("place", 3, preference=jnp.asarray(PREFERENCES)),))  # one factor: where the agent is
# jitted: pymdp's many small functions compile once instead of dispatching one by one (~4x faster here)
plan_once = eqx.filter_jit(lambda planner, state, observation: planner.plan(state, observation, key=jax.random.key(0)))
learn_once = eqx.filter_jit(lambda planner, state, observation: planner.learn(state, observation))


def entropy(p, axis=0):
    return -np.sum(p * np.log(p), axis=axis)


def hand_built(gamma: float = 8.0) -> ActiveInferencePlanner:
    """Three states; channel 0 stays, channel 1 leads to the goal state 2, channel 2 back to state 0."""
    planner = ActiveInferencePlanner(PLACE, 3, gamma=gamma)
    B = np.stack([np.eye(3), np.zeros((3, 3)), np.zeros((3, 3))], axis=-1)
    B[2, :, TO_GOAL], B[0, :, TO_START] = 1.0, 1.0
    B = 0.98 * B + 0.02 / 3  # every transition possible, the designed one nearly certain
    return eqx.tree_at(lambda p: p.B, planner, [jnp.asarray(B[None], jnp.float32)])


def reference_neg_efe(planner: ActiveInferencePlanner, observation: int) -> tuple[np.ndarray, np.ndarray]:
    A, B = np.asarray(planner.A[0][0], float), np.asarray(planner.B[0][0], float)
    qs = A[observation] / A[observation].sum()  # a uniform D
    neg_efe = []
    for u in range(B.shape[-1]):
        qs_next = B[:, :, u] @ qs
        qo = A @ qs_next
        neg_efe.append(qo @ PREFERENCES + entropy(qo) - qs_next @ entropy(A))
    return qs, np.array(neg_efe)


def one_hot_beliefs(state: int, n: int) -> list[jax.Array]:
    return [jax.nn.one_hot(jnp.array([[state]]), n)]


def test_the_channel_to_the_preferred_outcome_is_ranked_first():
    planner = hand_built()
    state, plan = plan_once(planner, planner.init_state(), [jnp.array(0)])
    qs, neg_efe = reference_neg_efe(planner, observation=0)
    np.testing.assert_allclose(state.qs[0][0, 0], qs, rtol=1e-5)
    np.testing.assert_allclose(plan.neg_efe, neg_efe, rtol=1e-4, atol=1e-5)
    q_u = np.exp(8.0 * (neg_efe - neg_efe.max()))
    np.testing.assert_allclose(plan.salience, q_u / q_u.sum(), rtol=1e-4, atol=1e-6)
    assert int(jnp.argmax(plan.salience)) == TO_GOAL and int(jnp.argmax(plan.neg_efe)) == TO_GOAL
    assert neg_efe[TO_GOAL] - max(neg_efe[STAY], neg_efe[TO_START]) > 3.0  # about C[goal] - C[start] = 4
    assert float(plan.state_entropy) == pytest.approx(entropy(qs), rel=1e-5)
    # at the goal, staying is best
    _, at_goal = plan_once(planner, planner.init_state(), [jnp.array(2)])
    assert int(jnp.argmax(at_goal.salience)) in (STAY, TO_GOAL) and int(jnp.argmax(at_goal.salience)) != TO_START


def test_the_channel_taken_sets_the_prior_of_the_next_tick():
    planner = hand_built()
    first, _ = plan_once(planner, planner.init_state(), [jnp.array(0)])
    moved, _ = plan_once(planner, planner.commit(first, TO_GOAL), [jnp.array(0)])
    A, B = np.asarray(planner.A[0][0], float), np.asarray(planner.B[0][0], float)
    prior = B[:, :, TO_GOAL] @ np.asarray(first.qs[0][0, 0], float)
    np.testing.assert_allclose(moved.qs[0][0, 0], A[0] * prior / (A[0] @ prior), rtol=1e-4)
    assert int(jnp.argmax(moved.qs[0][0, 0])) == 2  # expected at the goal: one contrary outcome does not undo it
    np.testing.assert_allclose(moved.qs_prev[0], first.qs[0])
    forgotten, _ = plan_once(planner, planner.forget_transition(moved), [jnp.array(0)])
    assert int(jnp.argmax(forgotten.qs[0][0, 0])) == 0  # a new life: no transition to predict from


def test_learn_counts_the_observed_transition_in_b():
    planner = ActiveInferencePlanner(PLACE, 3, lr=0.5)
    before = np.asarray(planner.pB[0][0])
    np.testing.assert_allclose(before[..., STAY], np.eye(3) * 4.0 + 1.0)  # the prior: persistence 4, plus 1
    seen = PlannerState(qs=one_hot_beliefs(2, 3), qs_prev=one_hot_beliefs(0, 3), channel=jnp.array(TO_GOAL))
    learnt = planner
    for _ in range(4):
        learnt = learn_once(learnt, seen, [jnp.array(2)])
    expected = before.copy()
    expected[2, 0, TO_GOAL] += 4 * 0.5
    np.testing.assert_allclose(learnt.pB[0][0], expected)
    B_before, B = np.asarray(planner.B[0][0]), np.asarray(learnt.B[0][0])
    np.testing.assert_allclose(B, expected / expected.sum(axis=0, keepdims=True), rtol=1e-6)
    assert B[2, 0, TO_GOAL] == pytest.approx(3.0 / 9.0) and B[2, 0, TO_GOAL] > B_before[2, 0, TO_GOAL]
    unseen = PlannerState(qs=one_hot_beliefs(2, 3), qs_prev=one_hot_beliefs(0, 3), channel=jnp.array(-1))
    np.testing.assert_allclose(learn_once(planner, unseen, [jnp.array(2)]).pB[0], planner.pB[0])


def test_an_ordinal_factor_shares_a_learnt_shift_across_levels():
    planner = ActiveInferencePlanner(GenerativeModel((Factor("level", 5, preference=jnp.zeros(5), ordinal=True),)), 2)
    distance = np.abs(np.arange(5)[:, None] - np.arange(5)[None, :])
    prior = np.eye(5) * 4.0 + np.exp(-distance)  # pB(s' | s) ∝ persistence [s' = s] + exp(-|s' - s|)
    np.testing.assert_allclose(planner.pB[0][0][..., 0], prior, rtol=1e-6)
    seen = PlannerState(qs=one_hot_beliefs(2, 5), qs_prev=one_hot_beliefs(1, 5), channel=jnp.array(1))
    learnt = learn_once(planner, seen, [jnp.array(2)])
    expected = np.repeat(prior[..., None], 2, axis=-1)
    for s in range(4):  # one step up under channel 1, from every level
        expected[s + 1, s, 1] += 1.0
    np.testing.assert_allclose(learnt.pB[0][0], expected, rtol=1e-6)
    np.testing.assert_allclose(learnt.B[0][0], expected / expected.sum(axis=0, keepdims=True), rtol=1e-6)


def test_learn_counts_this_tick_observation_in_a():
    planner = ActiveInferencePlanner(PLACE, 3, lr=0.5)
    seen = PlannerState(qs=one_hot_beliefs(2, 3), qs_prev=one_hot_beliefs(0, 3), channel=jnp.array(TO_GOAL))
    expected = np.asarray(planner.pA[0][0]).copy()
    expected[2, 2] += 0.5  # "Dirichlet updates of A (from this tick)": outcome 2 seen in state 2
    np.testing.assert_allclose(learn_once(planner, seen, [jnp.array(2)]).pA[0][0], expected)


def factor(name: str, size: int = 3, **fields) -> Factor:
    return Factor(name, size, preference=jnp.zeros(size), **fields)


def test_the_model_is_laid_out_by_name_and_observed_by_name():
    energy = Factor("energy", 5, preference=-jnp.abs(jnp.arange(5.0) - 2), ordinal=True)
    model = GenerativeModel((energy, factor("situation", observation="where")))
    assert model.names == ("energy", "situation") and model.num_states == (5, 3) and model.index("situation") == 1
    assert model.observe({"where": 2, "energy": 4}) == [4, 2]  # in the factors' order, whatever the dict's
    planner = ActiveInferencePlanner(model, 2)
    assert planner.ordinal == (True, False) and planner.num_states == (5, 3)
    np.testing.assert_array_equal(planner.C[0][0], energy.preference)  # C, factor by factor
    np.testing.assert_array_equal(planner.C[1][0], jnp.zeros(3))
    with pytest.raises(ValueError, match="no factor 'reward' in the generative model; factors: energy, situation"):
        model.index("reward")
    with pytest.raises(ValueError, match="the planner observes energy, where; missing: where, feeding no factor: "
                                         "situation"):
        model.observe({"energy": 0, "situation": 1})


@pytest.mark.parametrize("build, message", [
    (lambda: Factor("energy", 3, preference=jnp.zeros(4)),
     r"factor 'energy': preference has shape \(4,\), expected \(3,\)"),
    (lambda: factor("energy", 0), "factor 'energy' needs at least 1 state, got 0"),
    (lambda: GenerativeModel(()), "a generative model needs at least one factor"),
    (lambda: GenerativeModel((factor("a"), factor("a", observation="b"))), "factors share the name 'a'"),
    (lambda: GenerativeModel((factor("a"), factor("b", observation="a"))), "factors share the observation 'a'"),
    (lambda: ActiveInferencePlanner(PLACE, 1), "a planner needs at least 2 channels, got 1"),
])
def test_a_bad_model_is_a_named_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def pymdp_agent(planner: ActiveInferencePlanner) -> PymdpAgent:
    """pymdp's own agent over the planner's arrays (as the planner was before it held only arrays)."""
    own = [[f] for f in range(len(planner.D))]
    return PymdpAgent(A=planner.A, B=planner.B, C=planner.C, pA=planner.pA, pB=planner.pB, A_dependencies=own,
                      B_dependencies=own, policies=planner.policies, gamma=float(planner.gamma[0]), use_utility=True,
                      use_states_info_gain=True, learn_A=True, learn_B=True, action_selection="deterministic")


def two_factor_planner() -> ActiveInferencePlanner:
    model = GenerativeModel((Factor("level", 4, preference=-jnp.abs(jnp.arange(4.0) - 1), ordinal=True),
                             factor("place")))
    return ActiveInferencePlanner(model, 3, policy_len=2)


def test_the_planner_holds_only_arrays_laid_out_as_pymdps_agent():
    planner = two_factor_planner()
    leaves, treedef = jax.tree.flatten(planner)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    assert treedef == jax.tree.structure(two_factor_planner()), "static fields compare equal: jit checks them cheaply"
    reference = jax.tree.leaves(pymdp_agent(planner))  # saved brains index these leaves by position
    assert [leaf.shape for leaf in leaves[:len(reference)]] == [leaf.shape for leaf in reference]
    for ours, theirs in zip(leaves, reference):
        np.testing.assert_array_equal(ours, theirs)
    assert len(leaves) == len(reference) + len(planner.transition_prior) + len(planner.shift_counts)


def test_planning_and_learning_are_pymdps_own():
    planner = two_factor_planner()
    agent = pymdp_agent(planner)
    first, _ = plan_once(planner, planner.init_state(), [jnp.array(2), jnp.array(1)])
    state, plan = plan_once(planner, planner.commit(first, 1), [jnp.array(3), jnp.array(0)])
    prior = agent.update_empirical_prior(jnp.full((1, 2), 1), first.qs)
    qs = agent.infer_states([jnp.array([3]), jnp.array([0])], prior)
    q_pi, neg_efe = agent.infer_policies(qs)
    first_channel = np.asarray(agent.policies.policy_arr[:, 0, 0])
    for ours, theirs in zip(state.qs, qs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(plan.salience, [q_pi[0][first_channel == u].sum() for u in range(3)], rtol=1e-5)
    np.testing.assert_allclose(plan.neg_efe, [neg_efe[0][first_channel == u].max() for u in range(3)], rtol=1e-6)
    learnt = learn_once(planner, state, [jnp.array(3), jnp.array(0)])
    transition = [jnp.concatenate([p, q], axis=1) for p, q in zip(state.qs_prev, state.qs)]
    theirs = agent.infer_parameters(state.qs, [jnp.array([[3]]), jnp.array([[0]])], jnp.full((1, 1, 2), 1),
                                    beliefs_B=transition)
    for f in range(2):
        np.testing.assert_allclose(learnt.pA[f], theirs.pA[f], rtol=1e-6)
    np.testing.assert_allclose(learnt.pB[1], theirs.pB[1], rtol=1e-6)  # the per-state factor: pymdp's own count
    assert not np.allclose(learnt.pB[1], planner.pB[1])
