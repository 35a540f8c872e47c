"""Interoception for the planner: internal variables as discrete levels, set-points as preferences.

Each variable's deviation in units of its scale, u = (h - h*) / s in [-1, 1], is cut into `levels` equal
bins. The planner's log-preference over a variable's levels is the drive's summand at the bin centre,

    ln p(o_i = l) = -beta |u_l|^n        (so sum_i ln p(o_i) = -beta D(h)^m: the drive, as a prior),

which makes "stay near the set-point" the outcome the agent expects, and deviations surprising.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from homeostasis import Physiology, deviation, drive


class Interoception(eqx.Module):
    """Maps internal variables to planner levels and set-points to preferences."""

    set_point: Float[Array, " variables"]
    scale: Float[Array, " variables"]
    n: float = eqx.field(static=True)
    m: float = eqx.field(static=True)
    levels: int = eqx.field(static=True)

    def __init__(self, physiology: Physiology, levels: int):
        self.set_point = jnp.asarray(physiology.set_point, jnp.float32)
        self.scale = jnp.asarray(physiology.scale, jnp.float32)
        self.n, self.m, self.levels = physiology.n, physiology.m, levels

    def deviation(self, h: Float[Array, " variables"]) -> Float[Array, " variables"]:
        """u = (h - h*) / scale (`homeostasis.deviation`)."""
        return deviation(h, self.set_point, self.scale)

    def drive(self, h: Float[Array, " variables"]) -> Float[Array, ""]:
        """D(h), the homeostatic drive (`homeostasis.drive`), over the last axis of `h`."""
        return drive(h, self.set_point, self.scale, self.n, self.m)

    def level(self, h: Float[Array, " variables"]) -> Int[Array, " variables"]:
        u = jnp.clip(self.deviation(h), -1.0, 1.0)
        return jnp.clip(jnp.floor((u + 1) / 2 * self.levels), 0, self.levels - 1).astype(jnp.int32)

    def preferences(self, precision: float) -> list[Float[Array, " levels"]]:
        """ln p(o_i) per variable (see the module docstring)."""
        centres = -1 + (2 * jnp.arange(self.levels) + 1) / self.levels
        return [-precision * jnp.abs(centres) ** self.n for _ in range(self.set_point.shape[0])]
