"""The basal-ganglia gate: picks the most salient channel, settles in bounded time, holds its choice."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brain.ablations import ArgmaxGate, SoftmaxGate
from brain.base import AbstractGate
from brain.basal_ganglia import BasalGanglia, separable_saliences


def _select_from_rest(gate, salience, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), salience.shape[0])
    states = jax.vmap(lambda _: gate.init_state())(keys)
    return jax.jit(jax.vmap(gate.select))(states, salience, key=keys)


@pytest.mark.parametrize("num_channels", [2, 8, 64])
def test_selects_the_most_salient_channel(num_channels):
    gate = BasalGanglia(num_channels)
    salience = separable_saliences(num_channels, 500, seed=num_channels)
    _, selection = _select_from_rest(gate, salience)
    correct = np.asarray(selection.selected) & (np.asarray(selection.channel) == np.argmax(salience, 1))
    assert correct.mean() >= 0.99
    # the thalamus releases one channel and keeps the others shut
    disinhibition = np.sort(np.asarray(selection.disinhibition), axis=1)
    assert np.median(disinhibition[:, -1]) > 0.9 and disinhibition[:, -2].max() < 0.1


@pytest.mark.parametrize("num_channels", [2, 64])
def test_settles_within_the_step_budget(num_channels):
    """32 steps (64 ms of model time) give the same decision as 512 steps."""
    salience = separable_saliences(num_channels, 200, seed=1)
    _, short = _select_from_rest(BasalGanglia(num_channels, num_steps=32), salience)
    _, long = _select_from_rest(BasalGanglia(num_channels, num_steps=512), salience)
    np.testing.assert_array_equal(short.channel, long.channel)
    assert np.abs(np.asarray(short.disinhibition) - np.asarray(long.disinhibition)).max() < 0.05


def _run(gate, saliences, seed=0):
    """Selected channels over consecutive control steps, the state carried between them."""

    def step(state, inputs):
        salience, key = inputs
        state, selection = gate.select(state, salience, key=key)
        return state, selection.channel

    keys = jax.random.split(jax.random.PRNGKey(seed), saliences.shape[0])
    return np.asarray(jax.lax.scan(step, gate.init_state(), (saliences, keys))[1])


def test_hysteresis_near_equal_saliences_do_not_chatter():
    gate = BasalGanglia(8)
    rng = np.random.default_rng(0)
    equal = jnp.full((40, 8), 0.6)
    noisy = jnp.asarray(0.6 + 0.01 * rng.standard_normal((40, 8)), jnp.float32)
    alternating = jnp.tile(jnp.array([[0.6, 0.64] + [0.2] * 6, [0.64, 0.6] + [0.2] * 6]), (20, 1))
    for saliences in (equal, noisy, alternating):
        channels = _run(gate, saliences)
        assert (channels >= 0).all() and (channels == channels[0]).all()


def test_a_clearly_better_channel_takes_over():
    gate = BasalGanglia(8)
    first = jnp.array([0.8] + [0.2] * 7)
    second = jnp.array([0.8, 1.0] + [0.2] * 6)
    channels = _run(gate, jnp.stack([first] * 3 + [second] * 3))
    np.testing.assert_array_equal(channels, [0, 0, 0, 1, 1, 1])


def test_none_when_nothing_is_salient_enough():
    gate = BasalGanglia(4, floor=0.0, salience_scale=0.25)
    low = jnp.array([-0.5, -0.6, -0.7, -0.55])
    high = jnp.array([0.1, 0.9, 0.2, 0.3])
    channels = _run(gate, jnp.stack([high, high, low, low, high]))
    np.testing.assert_array_equal(channels, [1, 1, -1, -1, 1])
    state, selection = gate.select(gate.init_state(), low, key=jax.random.PRNGKey(0))
    assert not bool(selection.selected) and float(selection.disinhibition.max()) < 0.5


def test_offset_invariant_above_the_floor():
    """Adding a constant to every salience (above the floor) changes nothing."""
    gate = BasalGanglia(8)
    salience = separable_saliences(8, 50, seed=3)
    _, base = _select_from_rest(gate, salience)
    _, shifted = _select_from_rest(gate, salience + 100.0)
    np.testing.assert_array_equal(base.channel, shifted.channel)


def test_is_a_gate_and_vmaps_over_a_population():
    gate = BasalGanglia(4)
    assert isinstance(gate, AbstractGate)
    salience = separable_saliences(4, 3, seed=4)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    _, batched = _select_from_rest(gate, salience)
    for i in range(3):
        _, one = gate.select(gate.init_state(), salience[i], key=keys[i])
        assert int(one.channel) == int(batched.channel[i])


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="num_channels"):
        BasalGanglia(1)
    with pytest.raises(ValueError, match="salience_scale"):
        BasalGanglia(4, salience_scale=0.0)
    with pytest.raises(ValueError, match="trn_weight"):
        BasalGanglia(4, trn_weight=0.5)
    with pytest.raises(ValueError, match="num_steps"):
        BasalGanglia(4, num_steps=0)
    gate = BasalGanglia(4)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="shape"):
        gate.select(gate.init_state(), jnp.zeros(5), key=key)
    with pytest.raises(TypeError, match="float"):
        gate.select(gate.init_state(), jnp.zeros(4, jnp.int32), key=key)
    with pytest.raises(eqx.EquinoxRuntimeError, match="not finite"):
        gate.select(gate.init_state(), jnp.array([0.1, jnp.nan, 0.2, 0.3]), key=key)


@pytest.mark.parametrize("gate, name", [(BasalGanglia(4), "basal-ganglia"), (ArgmaxGate(4), "argmax"),
                                        (SoftmaxGate(4), "softmax")])
@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf])
def test_every_gate_refuses_non_finite_saliences_under_jit(gate, name, bad):
    select = jax.jit(lambda salience: gate.select(gate.init_state(), salience, key=jax.random.key(0)))
    select(jnp.array([0.1, 0.4, 0.2, 0.3]))
    with pytest.raises(Exception, match=f"the {name} gate got a salience that is not finite"):  # jax.jit: a ValueError
        jax.block_until_ready(select(jnp.array([0.1, bad, 0.2, 0.3])))
