"""The plasticity gate: contexts own disjoint units, learning in one leaves the others' synapses bit-for-bit."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brain.plasticity_gate import FREE, SHARED, PlasticityGate
from brain.predictive_coding import PCStack

SIZES = (8, 12, 6)  # input (shared) -> hidden (recruited, 4 per context) -> sink: 4 shared units, 2 claimable
CLAMPED = (True, False, True)
SINK_SHARED = jnp.arange(6) < 4


def _gate(**options):
    return PlasticityGate(SIZES, quotas=(0, 4, 0), shared=(True, False, SINK_SHARED), **options)


def _learn(stack, masks, x, sink):
    """One local learning step on the batch (x clamped at the source, `sink` at the sink)."""
    states = jax.vmap(lambda xi: stack.propagate(xi, masks))(x)
    states = (*states[:-1], sink)
    settled, _ = jax.vmap(lambda s: stack.infer(s, clamped=CLAMPED, masks=masks))(states)
    return stack.learn(settled, masks=masks)


@functools.partial(jax.jit, static_argnames="steps")
def _train(stack, masks, x, sink, steps=20):
    """`steps` learning steps on the same batch."""
    return jax.lax.scan(lambda stack, _: (_learn(stack, masks, x, sink), None), stack, None, length=steps)[0]


def _context(gate, stack, context, x, label_unit):
    response = jnp.mean(jnp.abs(jnp.tanh(jax.vmap(lambda xi: stack.propagate(xi)[1])(x))), axis=0)
    gate = gate.recruit(context, (None, response, None))
    return gate.claim(context, 2, jnp.zeros(6).at[label_unit].set(1.0))


def test_learning_in_another_context_leaves_masked_synapses_bit_for_bit():
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    stack = PCStack(SIZES, learning_rate=0.05, key=keys[0])
    gate = _gate()
    x0, x1 = jax.random.uniform(keys[1], (16, 8)), jax.random.uniform(keys[2], (16, 8))
    sink0 = jnp.concatenate([x0[:, :4], jnp.ones((16, 1)), jnp.zeros((16, 1))], axis=1)
    sink1 = jnp.concatenate([x1[:, :4], jnp.zeros((16, 1)), jnp.ones((16, 1))], axis=1)
    gate = _context(gate, stack, 0, x0, 4)
    stack = _train(stack, gate.masks(0), x0, sink0)
    gate = _context(gate, stack, 1, x1, 5)
    after = _train(stack, gate.masks(1), x1, sink1)

    own0 = np.flatnonzero(np.asarray(gate.owner[1] == 0))
    own1 = np.flatnonzero(np.asarray(gate.owner[1] == 1))
    assert len(own0) == len(own1) == 4 and not set(own0) & set(own1)
    w1, w1_after = np.asarray(stack.weights[0]), np.asarray(after.weights[0])
    w2, w2_after = np.asarray(stack.weights[1]), np.asarray(after.weights[1])
    # context 0's synapses (into and out of its hidden units, into its label unit) and biases: untouched
    np.testing.assert_array_equal(w1[own0], w1_after[own0])
    np.testing.assert_array_equal(w2[:, own0], w2_after[:, own0])
    np.testing.assert_array_equal(w2[4], w2_after[4])
    np.testing.assert_array_equal(np.asarray(stack.biases[0])[own0], np.asarray(after.biases[0])[own0])
    np.testing.assert_array_equal(np.asarray(stack.biases[1])[4], np.asarray(after.biases[1])[4])
    # ... while context 1's synapses did learn
    assert np.abs(w1[own1] - w1_after[own1]).max() > 1e-3
    assert np.abs(w2[5][own1] - w2_after[5][own1]).max() > 1e-3
    # and the feedforward output of context 0 is the same function as before
    out_before = jax.vmap(lambda xi: stack.propagate(xi, gate.masks(0))[-1][4])(x0)
    out_after = jax.vmap(lambda xi: after.propagate(xi, gate.masks(0))[-1][4])(x0)
    np.testing.assert_array_equal(out_before, out_after)


def test_masks_switch_on_own_and_shared_units_only():
    gate = _gate()
    stack = PCStack(SIZES, key=jax.random.PRNGKey(1))
    x = jax.random.uniform(jax.random.PRNGKey(2), (4, 8))
    gate = _context(_context(gate, stack, 0, x, 4), stack, 1, x, 5)
    m0, m1 = gate.masks(0), gate.masks(1)
    np.testing.assert_array_equal(m0[0], np.ones(8))
    assert float(jnp.sum(m0[1] * m1[1])) == 0 and float(jnp.sum(m0[1])) == 4
    np.testing.assert_array_equal(m0[2], [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(m1[2], [1, 1, 1, 1, 0, 1])
    assert int(gate.num_contexts) == 2 and gate.max_contexts == 3


def test_recruit_takes_the_most_responsive_free_units_and_never_steals():
    gate = _gate()
    response = jnp.arange(12.0)
    gate = gate.recruit(0, (None, response, None))
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(gate.owner[1] == 0)), [8, 9, 10, 11])
    gate = gate.recruit(1, (None, response, None))  # the best are taken: the next best win
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(gate.owner[1] == 1)), [4, 5, 6, 7])
    gate = gate.recruit(2, (None, response, None))
    assert int(jnp.sum(gate.owner[1] == FREE)) == 0
    with pytest.raises(eqx.EquinoxRuntimeError, match="no free units"):
        gate.recruit(3, (None, response, None))
    claimed = gate.claim(2, 2, jnp.ones(6))
    np.testing.assert_array_equal(claimed.owner[2], [SHARED] * 4 + [2, 2])
    np.testing.assert_array_equal(claimed.claim(0, 2, jnp.ones(6)).owner[2], claimed.owner[2])


def test_follows_a_stream_without_task_ids():
    """A, then B, then A again: a surprise spike opens context 1 for B; A's return goes back to context 0;
    held-out samples are then assigned to the context that learnt them."""
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    sizes = (8, 12, 16)  # input -> hidden (4 per context) -> sink: one 8-unit reconstruction block per context
    stack = PCStack(sizes, learning_rate=0.05, key=keys[0])
    gate = PlasticityGate(sizes, quotas=(0, 4, 0), shared=(True, False, False))
    patterns = jnp.array([[1.0] * 4 + [0.0] * 4, [0.0] * 4 + [1.0] * 4])

    def noisy(pattern, key, n):
        return jnp.clip(pattern + 0.1 * jax.random.normal(key, (n, 8)), 0, 1)

    visible = tuple(jnp.ones(n) for n in sizes)
    block = lambda context: (jnp.arange(16) // 8 == context).astype(jnp.float32)

    @jax.jit
    def stream(stack, gate, batches):
        def step(carry, xb):
            stack, gate = carry
            states = jax.vmap(lambda xi: (*stack.propagate(xi)[:-1], jnp.tile(xi, 2)))(xb)

            def energy(context):
                f = lambda s: gate.free_energy(stack, s, context, clamped=CLAMPED, visible=visible)
                return jnp.mean(jax.vmap(f)(states))

            gate, opened = gate.track(energy)
            response = jnp.mean(jnp.abs(jnp.tanh(states[1])), axis=0)
            new = lambda g: g.recruit(g.current, (None, response, None)).claim(g.current, 2, block(g.current))
            gate = jax.lax.cond(opened, new, lambda g: g, gate)
            stack = _learn(stack, gate.masks(gate.current), xb, jnp.tile(xb, 2))
            return (stack, gate), gate.current

        return jax.lax.scan(step, (stack, gate), batches)

    order = [0, 1, 0]
    batches = jnp.concatenate([noisy(patterns[p], k, 40 * 8).reshape(40, 8, 8) for p, k in zip(order, keys[1:])])
    (stack, gate), contexts = stream(stack, gate, batches)
    np.testing.assert_array_equal(np.asarray(contexts), np.repeat(order, 40))
    assert int(gate.num_contexts) == 2

    def infer(xi):
        states = (*stack.propagate(xi)[:-1], jnp.tile(xi, 2))
        return gate.infer_context(gate.free_energies(stack, states, clamped=CLAMPED, visible=visible))

    for context, pattern in enumerate(patterns):
        inferred = jax.jit(jax.vmap(infer))(noisy(pattern, jax.random.PRNGKey(9 + context), 32))
        assert np.mean(np.asarray(inferred) == context) >= 0.95


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="one entry per layer"):
        PlasticityGate(SIZES, quotas=(0, 4), shared=(True, False, False))
    with pytest.raises(ValueError, match="cannot be shared"):
        PlasticityGate(SIZES, quotas=(0, 4, 0), shared=(True, True, False))
    with pytest.raises(ValueError, match="no layer with room"):
        PlasticityGate(SIZES, quotas=(0, 13, 0), shared=(True, False, False))
    gate = _gate()
    with pytest.raises(ValueError, match="responses"):
        gate.recruit(0, (None, jnp.ones(5), None))
    with pytest.raises(ValueError, match="used"):
        gate.claim(0, 2, jnp.ones(5))
