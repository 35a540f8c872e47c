"""Predictive coding: inference descends free energy, local rules are free-energy gradients, masks freeze
synapses bit for bit, learning lowers prediction error, divergence is reported."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brain.base import AbstractPerception, Percept
from brain.pc_perception import PCPerception
from brain.predictive_coding import Context, PCStack

SIZES = (3, 6, 5)
GENERATIVE = (False, False, True)
DISCRIMINATIVE = (True, False, True)


def make_stack(**options):
    defaults = dict(
        activation="tanh", steps=30, dt=0.1, learning_rate=0.05, precision_learning_rate=0.1, action_size=2
    )
    return PCStack(SIZES, key=jax.random.key(0), **(defaults | options))


def random_states(key, batch=None):
    keys = jax.random.split(key, len(SIZES))
    shape = (lambda n: (n,)) if batch is None else (lambda n: (batch, n))
    return tuple(jax.random.normal(k, shape(n)) for k, n in zip(keys, SIZES))


def random_context(key, batch):
    k1, k2 = jax.random.split(key)
    return Context(jax.random.normal(k1, (batch, SIZES[0])), jax.random.normal(k2, (batch, 2)))


def bits(x):
    return np.asarray(x).view(np.uint32)


def test_masked_synapses_are_bit_for_bit_unchanged_by_learning():
    stack = make_stack(feedback=True)
    masks = (jnp.array([1.0, 0.0, 1.0]), jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]), jnp.ones(5))
    batch = 4
    states = random_states(jax.random.key(1), batch)
    context = random_context(jax.random.key(2), batch)
    settled, _ = jax.jit(jax.vmap(lambda s, c: stack.infer(s, clamped=GENERATIVE, context=c, masks=masks)))(
        states, context
    )
    for z, m in zip(settled, masks):  # masked units stay silent
        assert np.all(np.asarray(z)[:, np.asarray(m) == 0] == 0)
    new = eqx.filter_jit(lambda s, x, c: s.learn(x, context=c, masks=masks))(stack, settled, context)

    on = [np.asarray(m) > 0 for m in masks]
    for l in range(1, len(SIZES)):
        frozen = ~(on[l][:, None] & on[l - 1][None, :])
        assert np.array_equal(bits(new.weights[l - 1])[frozen], bits(stack.weights[l - 1])[frozen])
        assert np.array_equal(bits(new.feedback[l - 1])[frozen.T], bits(stack.feedback[l - 1])[frozen.T])
        assert np.array_equal(bits(new.biases[l - 1])[~on[l]], bits(stack.biases[l - 1])[~on[l]])
        # the synapses between units that are on do learn (so the check above is not vacuous)
        assert np.all(np.asarray(new.weights[l - 1])[~frozen] != np.asarray(stack.weights[l - 1])[~frozen])
    for v_new, v_old, o in zip(new.variances, stack.variances, on):
        assert np.array_equal(bits(v_new)[~o], bits(v_old)[~o])
        assert np.all(np.asarray(v_new)[o] != np.asarray(v_old)[o])
    top = ~(on[0][:, None] & on[0][None, :])
    assert np.array_equal(bits(new.transition)[top], bits(stack.transition)[top])
    assert np.array_equal(bits(new.action_weights)[~on[0]], bits(stack.action_weights)[~on[0]])
    assert np.array_equal(bits(new.prior_mean)[~on[0]], bits(stack.prior_mean)[~on[0]])
    assert np.all(np.asarray(new.action_weights)[on[0]] != 0)


STIFF = dict(variance=(1.0, 1.0, 0.01), dt=0.5)  # a precise sink: plain Euler is unstable at this dt


@pytest.mark.parametrize(
    "options", [dict(integrator="euler"), dict(integrator="heun"), dict(precondition=True, **STIFF)]
)
@pytest.mark.parametrize("clamped", [GENERATIVE, DISCRIMINATIVE])
def test_free_energy_does_not_increase_during_inference(options, clamped):
    stack = make_stack(**(dict(steps=60, dt=0.05) | options))
    states = random_states(jax.random.key(3), batch=8)
    context = random_context(jax.random.key(4), 8)
    _, diagnostics = jax.jit(jax.vmap(lambda s, c: stack.infer(s, clamped=clamped, context=c)))(states, context)
    trace = np.asarray(diagnostics.free_energy)
    assert trace.shape == (8, stack.steps + 1)
    assert np.all(np.diff(trace, axis=1) <= 1e-5 * np.abs(trace[:, :-1]) + 1e-6)
    assert np.all(trace[:, -1] < 0.9 * trace[:, 0])  # and it does go down


@pytest.mark.parametrize("precondition", [False, True])
def test_inference_step_follows_minus_free_energy_gradient(precondition):
    stack = make_stack(steps=1, dt=0.01, variance=(0.5, 2.0, 0.1), precondition=precondition)
    states = random_states(jax.random.key(5))
    context = Context(jnp.array([0.3, -0.2, 0.5]), jnp.array([1.0, -1.0]))
    stepped, _ = eqx.filter_jit(lambda s: s.infer(states, clamped=GENERATIVE, context=context))(stack)
    gradient = jax.jit(jax.grad(lambda s: stack.free_energy(s, context)))(states)
    curvature = [1 / v for v in stack.variances]  # Jacobi bound: 1/v_l + (W_{l+1}^2)^T (1/v_{l+1})
    for l, w in enumerate(stack.weights):
        curvature[l] = curvature[l] + (w**2).T @ (1 / stack.variances[l + 1])
    for l, free in enumerate((True, True, False)):
        step = stack.dt / curvature[l] if precondition else stack.dt
        expected = states[l] - step * gradient[l] if free else states[l]
        np.testing.assert_allclose(stepped[l], expected, rtol=1e-5, atol=1e-6)


def test_local_updates_equal_minus_free_energy_gradient_of_their_layer():
    stack = make_stack(activation="sigmoid")
    batch = 5
    states = random_states(jax.random.key(6), batch)
    context = random_context(jax.random.key(7), batch)
    new = eqx.filter_jit(lambda s: s.learn(states, context=context))(stack)

    def mean_free_energy(s):
        return jnp.mean(jax.vmap(lambda x, c: s.free_energy(x, c))(states, context))

    grads = eqx.filter_jit(eqx.filter_grad(mean_free_energy))(stack)
    rate = stack.learning_rate
    for l in range(len(SIZES) - 1):
        np.testing.assert_allclose((new.weights[l] - stack.weights[l]) / rate, -grads.weights[l], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose((new.biases[l] - stack.biases[l]) / rate, -grads.biases[l], rtol=1e-4, atol=1e-5)
    for name in ("prior_mean", "transition", "action_weights"):
        update = (getattr(new, name) - getattr(stack, name)) / rate
        np.testing.assert_allclose(update, -getattr(grads, name), rtol=1e-4, atol=1e-5)
    for v_new, v, g in zip(new.variances, stack.variances, grads.variances):  # natural gradient: -2 v^2 dF/dv
        rate = stack.precision_learning_rate[0]
        expected = jnp.maximum(v - rate * 2 * v**2 * g, stack.min_variance)
        np.testing.assert_allclose(v_new, expected, rtol=1e-4, atol=1e-6)


def test_feedback_synapses_learn_the_transpose_of_the_forward_update():
    stack = make_stack(feedback=True)
    states = random_states(jax.random.key(8), batch=4)
    new = eqx.filter_jit(lambda s: s.learn(states))(stack)
    for w, e in zip(new.weights, new.feedback):
        np.testing.assert_allclose(e, w.T, rtol=1e-6, atol=1e-7)
    assert not np.allclose(new.weights[0], stack.weights[0])


def stream(key, length, in_size=8, latent=2, action_size=1):
    """Observations of a hidden 2-D state rotated by an action-dependent angle, seen through a fixed map."""
    k1, k2, k3 = jax.random.split(key, 3)
    readout = jax.random.normal(k1, (in_size, latent)) / np.sqrt(latent)
    actions = jax.random.choice(k2, jnp.array([-1.0, 1.0]), (length, action_size))

    def move(h, a):
        angle = 0.3 * a[0]
        rotation = jnp.array([[jnp.cos(angle), -jnp.sin(angle)], [jnp.sin(angle), jnp.cos(angle)]])
        h = rotation @ h
        return h, jnp.tanh(readout @ h)

    _, observations = jax.lax.scan(move, jax.random.normal(k3, (latent,)), actions)
    return observations, actions


@eqx.filter_jit
def live(perception, observations, actions):
    """Perceive, learn, predict the next observation, act: one `lax.scan` over the stream."""

    def step(carry, inputs):
        perception, state = carry
        x, action = inputs
        state, percept = perception.perceive(state, x, key=jax.random.key(0))
        perception = perception.learn(state, x)
        prediction = perception.predict(state, action)
        return (perception, perception.advance(state, action)), (percept.layer_errors[-1], prediction)

    start = (perception, perception.init_state())
    (perception, _), (errors, predictions) = jax.lax.scan(step, start, (observations, actions))
    return perception, errors, jnp.mean((predictions[:-1] - observations[1:]) ** 2, axis=1)


def test_learning_on_a_stream_lowers_prediction_error():
    observations, actions = stream(jax.random.key(9), 3000)
    perception = PCPerception(8, 4, hidden=(16,), action_size=1, key=jax.random.key(10), steps=20, dt=0.2,
                              learning_rate=0.05)
    assert isinstance(perception, AbstractPerception)
    _, errors, next_errors = live(perception, observations, actions)
    errors, next_errors = np.asarray(errors), np.asarray(next_errors)
    assert errors[-300:].mean() < 0.5 * errors[:300].mean()  # perception explains observations better
    assert next_errors[-300:].mean() < 0.5 * next_errors[:300].mean()  # and the world model predicts them


def test_perception_matches_its_slot_and_vmaps_over_a_population():
    keys = jax.random.split(jax.random.key(11), 3)
    population = eqx.filter_vmap(lambda k: PCPerception(8, 4, hidden=(16,), action_size=1, key=k))(keys)
    x = jnp.linspace(-1, 1, 8)

    @eqx.filter_jit
    @eqx.filter_vmap
    def perceive(perception):
        return perception.perceive(perception.init_state(), x, key=jax.random.key(0))

    states, percept = perceive(population)
    assert isinstance(percept, Percept)
    assert percept.latent.shape == (3, 4) and percept.free_energy.shape == (3,)
    assert percept.layer_errors.shape == (3, 3)
    one = jax.tree.map(lambda a: a[1], population, is_leaf=eqx.is_array)
    _, alone = eqx.filter_jit(lambda p: p.perceive(p.init_state(), x, key=jax.random.key(0)))(one)
    np.testing.assert_allclose(percept.latent[1], alone.latent, rtol=1e-5, atol=1e-6)


def test_divergence_is_reported():
    states = random_states(jax.random.key(12))
    for stack in (make_stack(dt=50.0, steps=60), make_stack(steps=200, activation="identity", **STIFF)):
        with pytest.raises(Exception, match="inference diverged"):
            jax.block_until_ready(eqx.filter_jit(lambda s, x: s.infer(x, clamped=GENERATIVE))(stack, states))
    huge = tuple(1e30 * z for z in random_states(jax.random.key(13), batch=2))
    with pytest.raises(Exception, match="learning diverged"):
        jax.block_until_ready(eqx.filter_jit(lambda s: s.learn(huge))(make_stack(learning_rate=1e30)))


def test_bad_inputs_get_clear_errors():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="sizes"):
        PCStack((4,), key=key)
    with pytest.raises(ValueError, match="unknown activation"):
        PCStack((4, 2), activation="swish", key=key)
    with pytest.raises(ValueError, match="unknown integrator"):
        PCStack((4, 2), integrator="rk45", key=key)
    with pytest.raises(ValueError, match="dt"):
        PCStack((4, 2), dt=0.0, key=key)
    stack = make_stack()
    states = random_states(key)
    with pytest.raises(ValueError, match=r"states\[1\] must have shape \(6,\)"):
        stack.infer((states[0], jnp.zeros(7), states[2]), clamped=GENERATIVE)
    with pytest.raises(ValueError, match="clamped"):
        stack.infer(states, clamped=(True, False))
    with pytest.raises(ValueError, match=r"masks\[0\]"):
        stack.infer(states, clamped=GENERATIVE, masks=(jnp.ones(4), jnp.ones(6), jnp.ones(5)))
    with pytest.raises(TypeError, match="float"):
        stack.infer((states[0], jnp.zeros(6, int), states[2]), clamped=GENERATIVE)
    with pytest.raises(ValueError, match="temporal"):
        make_stack(action_size=None).source_mean(Context(jnp.zeros(3), jnp.zeros(2)))
    perception = PCPerception(8, 4, key=key)
    with pytest.raises(ValueError, match="observation"):
        perception.perceive(perception.init_state(), jnp.zeros(7), key=key)


def test_decode_shows_the_observation_a_learnt_latent_stands_for():
    """What a planner's predicted latents are drawn as: decode(settled latent) reconstructs the observation once
    perception has learnt the stream (far better than the stream's mean does); a newborn stack's decode does not."""
    observations, actions = stream(jax.random.key(9), 3000)
    newborn = PCPerception(8, 4, hidden=(16,), action_size=1, key=jax.random.key(10), steps=20, dt=0.2,
                           learning_rate=0.05)
    learnt, _, _ = live(newborn, observations, actions)
    test = observations[-200:]

    def decode_error(perception):
        def one(x):
            _, percept = perception.perceive(perception.init_state(), x, key=jax.random.key(0))
            return jnp.mean((perception.decode(percept.latent) - x) ** 2)

        return float(jnp.mean(jax.vmap(one)(test)))

    baseline = float(jnp.mean((test - observations.mean(0)) ** 2))
    assert decode_error(learnt) < 0.3 * baseline, (decode_error(learnt), baseline)
    assert decode_error(newborn) > 0.6 * baseline, (decode_error(newborn), baseline)
    assert newborn.decode(jnp.zeros(4)).shape == (8,)
