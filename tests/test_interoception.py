"""agents.interoception: deviations, the drive, planner levels and preferences, against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.interoception import Interoception
from homeostasis import Physiology, drive


def body() -> Physiology:
    """Two variables with symmetric viable ranges: a in [0, 1] around 0.5 (scale 0.5), b in [8, 12] around 10
    (scale 2)."""
    return Physiology(
        names=("a", "b"), event_names=(), set_point=np.array([0.5, 10.0]), low=np.array([0.0, 8.0]),
        high=np.array([1.0, 12.0]), decay=np.zeros(2), effort_gain=np.zeros(2), effects=np.zeros((0, 2)),
        conductance=np.zeros(2),
    )


def test_deviation_is_in_units_of_scale():
    feel = Interoception(body(), levels=4)
    np.testing.assert_allclose(feel.deviation(jnp.array([0.75, 7.0])), [0.5, -1.5])


def test_drive_equals_the_homeostatic_drive_single_and_batched():
    physiology, feel = body(), Interoception(body(), levels=4)
    # u = (0.5, -1): D = (0.5^4 + 1^4)^(1/3) with the default n = 4, m = 3
    assert float(feel.drive(jnp.array([0.75, 8.0]))) == pytest.approx((0.5**4 + 1.0) ** (1 / 3), rel=1e-6)
    h = np.random.default_rng(0).uniform([-0.5, 6.0], [1.5, 14.0], (5, 2))
    expected = drive(h, physiology.set_point, physiology.scale, physiology.n, physiology.m)
    batched = feel.drive(jnp.asarray(h))
    assert batched.shape == (5,)
    np.testing.assert_allclose(batched, expected, rtol=1e-5)
    np.testing.assert_allclose(batched, physiology.drive(h), rtol=1e-5)
    np.testing.assert_allclose(jax.vmap(feel.drive)(jnp.asarray(h)), expected, rtol=1e-5)


def test_levels_bin_the_viable_range_equally_and_clip_beyond_it():
    feel = Interoception(body(), levels=4)  # bin edges at u = -1, -0.5, 0, 0.5, 1
    a_edges, b_edges = [0.0, 0.25, 0.5, 0.75, 1.0], [8.0, 9.0, 10.0, 11.0, 12.0]
    h = jnp.array([a_edges, b_edges]).T  # each row: the same edge of both variables
    np.testing.assert_array_equal(feel.level(h), [[0, 0], [1, 1], [2, 2], [3, 3], [3, 3]])
    just_below = jnp.array([[0.25 - 1e-3, 9.0 - 1e-3], [0.5 - 1e-3, 10.0 - 1e-3], [0.75 - 1e-3, 11.0 - 1e-3]])
    np.testing.assert_array_equal(jax.vmap(feel.level)(just_below), [[0, 0], [1, 1], [2, 2]])
    beyond = jnp.array([[-3.0, 100.0], [7.0, -50.0]])
    np.testing.assert_array_equal(jax.vmap(feel.level)(beyond), [[0, 3], [3, 0]])
    assert feel.level(jnp.array([0.6, 10.5])).dtype == jnp.int32


def test_preferences_are_the_drive_summand_at_the_bin_centres():
    feel = Interoception(body(), levels=4)  # bin centres at u = -0.75, -0.25, 0.25, 0.75
    preferences = feel.preferences(precision=2.0)
    assert len(preferences) == 2
    for c in preferences:
        np.testing.assert_allclose(c, -2.0 * np.array([0.75**4, 0.25**4, 0.25**4, 0.75**4]), rtol=1e-6)
    # at bin centres, sum_i ln p(o_i = level(h_i)) = -beta D(h)^m (the module docstring)
    centres = jnp.array([0.5 + 0.5 * 0.75, 10.0 - 2.0 * 0.25])
    levels = feel.level(centres)
    np.testing.assert_array_equal(levels, [3, 1])
    log_p = sum(float(c[level]) for c, level in zip(preferences, levels))
    assert log_p == pytest.approx(-2.0 * float(feel.drive(centres)) ** feel.m, rel=1e-5)


def test_odd_level_counts_put_the_set_point_in_the_middle_bin():
    feel = Interoception(body(), levels=5)
    np.testing.assert_array_equal(feel.level(jnp.array([0.5, 10.0])), [2, 2])
    assert float(feel.preferences(1.0)[0][2]) == 0.0  # centre u = 0: the most preferred level, no surprise
