import jax
import jax.numpy as jnp
import numpy as np
import pytest

from homeostasis import Physiology, drive, forecast, homeostatic_reward, steps_to_death


def two_nutrients(**overrides) -> Physiology:
    fields = dict(
        names=("food", "water"),
        event_names=("food", "water"),
        set_point=np.zeros(2),
        low=-np.ones(2),
        high=np.ones(2),
        decay=np.full(2, 0.00015),
        effort_gain=np.full(2, -0.001),
        effects=np.eye(2) * 0.1,
        conductance=np.zeros(2),
    )
    return Physiology(**{**fields, **overrides})


def test_drive_and_reward_match_hand_computed_values():
    h, h_next = np.array([0.5, -0.25]), np.array([0.25, -0.25])
    d = (0.5**4 + 0.25**4) ** (1 / 3)
    d_next = (0.25**4 + 0.25**4) ** (1 / 3)
    assert drive(h, 0.0) == pytest.approx(d)
    assert homeostatic_reward(h, h_next, 0.0) == pytest.approx(d - d_next)
    # a deviation measured in units of scale: 2 degrees off with scale 4 weighs as 0.5
    assert drive(np.array([40.0]), 38.0, scale=4.0) == pytest.approx(0.5 ** (4 / 3))
    assert drive(np.array([1.0, 1.0]), 0.0, n=2, m=2) == pytest.approx(np.sqrt(2))


def test_step_applies_decay_effort_events_and_heat_exchange():
    body = two_nutrients(conductance=np.array([0.0, 0.5]))
    h = np.array([0.2, -0.2])
    h_next = body.step(h, events=np.array([1.0, 0.0]), effort=2.0, ambient=1.0)
    expected = h - 0.00015 - 0.002 + np.array([0.1, 0.0]) + np.array([0.0, 0.5 * 1.2])
    np.testing.assert_allclose(h_next, expected)


def test_computation_drains_each_variable_by_its_gain_per_operation():
    body = two_nutrients(computation_gain=np.array([-1e-6, 0.0]))
    h = np.array([0.2, -0.2])
    thinking = body.step(h, events=np.zeros(2), effort=0.0, ops=500.0)
    np.testing.assert_allclose(thinking - body.step(h, events=np.zeros(2), effort=0.0), [-5e-4, 0.0])
    free = two_nutrients()  # the default: computing costs nothing
    np.testing.assert_array_equal(free.step(h, np.zeros(2), 0.0, ops=1e9), free.step(h, np.zeros(2), 0.0))
    with pytest.raises(ValueError, match="computation_gain has shape"):
        two_nutrients(computation_gain=np.zeros(3))


def test_viability_and_cause_of_death():
    body = two_nutrients()
    assert body.viable(np.array([0.9, -0.9]))
    assert not body.viable(np.array([0.0, -1.01]))
    assert body.cause_of_death(np.array([0.0, -1.01])) == "water below viable range"
    assert body.cause_of_death(np.array([1.2, 0.0])) == "food above viable range"
    assert body.cause_of_death(np.array([0.0, 0.0])) == ""


def test_jit_and_vmap_equal_eager():
    body = two_nutrients()
    jbody = jax.tree.map(jnp.asarray, body)
    hs = np.random.default_rng(0).uniform(-1, 1, (16, 2))
    events = np.random.default_rng(1).integers(0, 2, (16, 2)).astype(float)
    eager = np.array([body.step(h, e, 0.3) for h, e in zip(hs, events)])
    batched = jax.jit(jax.vmap(lambda b, h, e: b.step(h, e, 0.3), in_axes=(None, 0, 0)))(jbody, hs, events)
    np.testing.assert_allclose(batched, eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.vmap(jbody.drive))(hs), body.drive(hs), rtol=1e-5)
    pairs = jax.vmap(jbody.reward)(hs, jnp.asarray(eager))
    np.testing.assert_allclose(pairs, body.reward(hs, eager), rtol=1e-4, atol=1e-6)


def test_allostatic_forecast_predicts_when_the_body_will_die():
    body = jax.tree.map(jnp.asarray, two_nutrients(effort_gain=np.zeros(2)))
    idle = forecast(body, jnp.zeros(2), jnp.zeros((8000, 2)), effort=0.0)
    assert idle.shape == (8000, 2)
    assert int(steps_to_death(body, idle)) == 6667  # first k with k * 0.00015 > 1
    # eating one food item every 500 steps keeps food alive; water still dies on schedule
    meals = jnp.zeros((8000, 2)).at[::500, 0].set(1.0)
    fed = forecast(body, jnp.zeros(2), meals, effort=0.0)
    assert bool(jnp.all(fed[:, 0] > -1.0))
    assert int(steps_to_death(body, fed)) == 6667


def test_bad_physiology_is_refused_with_a_named_error():
    with pytest.raises(ValueError, match="set-point of 'water'"):
        two_nutrients(set_point=np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="viable range of 'food' is empty"):
        two_nutrients(low=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="decay has shape"):
        two_nutrients(decay=np.zeros(3))
