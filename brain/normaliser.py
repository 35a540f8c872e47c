"""Running per-dimension statistics (Welford), so that every input reaches the brain in units of its spread.

    mean' = mean + (x - mean) / n',    M2' = M2 + (x - mean) (x - mean')    ->  var = M2 / n

`normalise(x) = clip((x - mean) / sqrt(var + eps), -clip, clip)`. The statistics are part of what the brain
has learnt: a test life (`learn=False`) uses them frozen.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class RunningNormaliser(eqx.Module):
    mean: Float[Array, " n"]
    m2: Float[Array, " n"]
    count: Float[Array, ""]
    clip: float = eqx.field(static=True, default=5.0)
    eps: float = eqx.field(static=True, default=1e-6)

    @classmethod
    def empty(cls, size: int, clip: float = 5.0) -> "RunningNormaliser":
        return cls(jnp.zeros(size), jnp.zeros(size), jnp.zeros(()), clip)

    @property
    def std(self) -> Float[Array, " n"]:
        """The running standard deviation (1 before any data, so the first inputs pass unscaled)."""
        var = jnp.where(self.count > 1, self.m2 / jnp.maximum(self.count, 1.0), 1.0)
        return jnp.sqrt(var + self.eps)

    def update(self, x: Float[Array, " n"], weight: Float[Array, ""] = 1.0) -> "RunningNormaliser":
        """Adds `x` to the statistics (weight 0: unchanged)."""
        count = self.count + weight
        delta = x - self.mean
        mean = self.mean + weight * delta / jnp.maximum(count, 1e-12)
        m2 = self.m2 + weight * delta * (x - mean)
        return RunningNormaliser(mean, m2, count, self.clip, self.eps)

    def normalise(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        return jnp.clip((x - self.mean) / self.std, -self.clip, self.clip)

    def denormalise(self, z: Float[Array, " n"]) -> Float[Array, " n"]:
        """The input `z` stands for: mean + z std (`normalise`'s inverse within the clip)."""
        return self.mean + z * self.std
