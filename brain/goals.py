"""Learned goals: the states that came just before a need was relieved, kept as preferred states.

A body is not told what food looks like. Whenever an internal variable jumps towards one side (an item eaten
raises a nutrient; shade lowers a temperature), the model state just before the jump is evidence of what moves
that variable that way. Per variable and direction (raise, lower), `Goals` keeps the last `capacity` such
states, episodes of relief (a relief is a change of the variable's deviation, in units of its scale, beyond
`threshold` in one step).

The goal is a preference over the latent (a learned C vector of active inference) with one mode per episode: food
met ahead and food met on the left are both goals, and their average is not. Its risk for a predicted latent z
is the distance to the nearest episode e,

    R_g(z) = min_e 1/(2K) sum_k (z_k - e_k)^2,

and a goal never relieved weighs nothing. Which goal matters now is the planner's business (`need`, from the
forecast of the internal variables).
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class Goals(eqx.Module):
    """Per variable and direction (axis 0: 2 x variables, raise first), the last `capacity` states that preceded a
    relief."""

    episodes: Float[Array, "goals capacity state"]
    count: Int[Array, " goals"]  # reliefs seen; the ring's next slot is count % capacity
    threshold: float = eqx.field(static=True)

    def __init__(self, variables: int, state_size: int, *, capacity: int = 16, threshold: float = 0.01):
        """`threshold`: the smallest one-step change of a deviation that counts as a relief."""
        if not threshold > 0 or capacity < 1:
            raise ValueError(f"need threshold > 0 and capacity >= 1, got {threshold}, {capacity}")
        self.episodes = jnp.zeros((2 * variables, capacity, state_size))
        self.count = jnp.zeros(2 * variables, jnp.int32)
        self.threshold = float(threshold)

    def reliefs(self, change: Float[Array, " variables"]) -> Float[Array, " goals"]:
        """True for each (direction, variable) whose deviation changed beyond the threshold this step."""
        return jnp.concatenate([change > self.threshold, change < -self.threshold])

    def learn(self, state: Float[Array, " state"], change: Float[Array, " variables"]) -> "Goals":
        """Binds `state`, the model state before this step's `change` of the deviations, to the goals it relieved."""
        relieved = self.reliefs(change)
        rows = jnp.arange(self.count.shape[0])
        slot = self.count % self.episodes.shape[1]
        kept = self.episodes[rows, slot]
        episodes = self.episodes.at[rows, slot].set(jnp.where(relieved[:, None], state, kept))
        return eqx.tree_at(lambda g: (g.episodes, g.count), self, (episodes, self.count + relieved))

    @property
    def known(self) -> Float[Array, " goals"]:
        """1 for each goal seen relieved at least once."""
        return (self.count > 0).astype(jnp.float32)

    def risk(self, z: Float[Array, " state"]) -> Float[Array, " goals"]:
        """R_g(z) for every goal (module docstring); 0 for a goal never relieved."""
        distance = 0.5 * jnp.mean((z - self.episodes) ** 2, axis=-1)  # [goals, capacity]
        stored = jnp.arange(self.episodes.shape[1])[None] < self.count[:, None]
        nearest = jnp.min(jnp.where(stored, distance, jnp.inf), axis=-1)
        return jnp.where(self.known > 0, nearest, 0.0)
