"""Homeostatic drive and reward (Keramati & Gutkin 2014).

    u_i = (h_i - h*_i) / s_i,        D(h) = (sum_i |u_i|^n)^(1/m),        r_t = D(h_t) - D(h_{t+1})

`s_i` scales each deviation (the distance from set-point to viable bound, so that a nutrient level and a
body temperature weigh alike); with s = 1, n = 4, m = 3 this is the paper's drive. Maximising the
discounted sum of r keeps h at its set-point.

The functions take numpy or JAX arrays and return the same kind (the Python array API), so the worlds run
them in float64 numpy and the agents under `jax.jit`/`jax.vmap`.
"""


def array_namespace(x):
    """numpy for numpy arrays and Python numbers, jax.numpy for JAX arrays and tracers."""
    if hasattr(x, "__array_namespace__"):
        return x.__array_namespace__()
    import numpy

    return numpy


def deviation(h, set_point, scale=1.0):
    """u = (h - h*) / s: how far, and which way, each variable is from its set-point, in units of its scale."""
    return (h - set_point) / scale


def drive(h, set_point, scale=1.0, n: float = 4.0, m: float = 3.0):
    """D(h) over the last axis of `h` (batched over leading axes)."""
    xp = array_namespace(h)
    return xp.sum(xp.abs(deviation(h, set_point, scale)) ** n, axis=-1) ** (1.0 / m)


def homeostatic_reward(h, h_next, set_point, scale=1.0, n: float = 4.0, m: float = 3.0):
    """r_t = D(h_t) - D(h_{t+1}): positive when a step brings h closer to its set-point."""
    return drive(h, set_point, scale, n, m) - drive(h_next, set_point, scale, n, m)


def drive_secant(u, step: float, n: float = 4.0, m: float = 3.0):
    """(D(u + step e_i) - D(u)) / step for each variable i over the last axis of the deviations `u`: the drive's
    slope over a change of `step` of one variable (an item eaten, not an infinitesimal change), so that
    -drive_secant is what such a change of each variable is worth now (r = D(h) - D(h'))."""
    moved = u[..., None, :] + step * array_namespace(u).eye(u.shape[-1], dtype=u.dtype)
    return -homeostatic_reward(u[..., None, :], moved, 0.0, 1.0, n, m) / step
