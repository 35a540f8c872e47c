"""Situations: the agent's own discrete states, learned by competitive (vector-quantising) learning.

Latents are first whitened by a running mean and variance per dimension (adaptive gain control, so a
wide-ranging dimension does not drown a narrow one), z = (x - mean) / std. Then K prototype vectors
compete; the nearest wins and moves towards it,

    w_win <- w_win + lr (z - w_win),

a local, winner-take-all Hebbian rule. The winner's index is the situation the planner reasons about.
Structural selection (the slowest timescale) re-seeds prototypes that have stopped winning at the
current latent: unused units are pruned and regrown where experience is.

Cost (`brain.base`: synaptic operations; K units, L latent dimensions): a `classify` compares the latent with
every prototype, K L; a `learn` does that again and moves the winner (L), decays the win counts (K) and updates
the running mean and variance (2 L): K L + K + 3 L.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from brain.base import AbstractSituations


class Situations(AbstractSituations):
    """Online vector quantiser over latents; see the module docstring."""

    prototypes: Float[Array, "K latent"]
    wins: Float[Array, " K"]  # running (decaying) win counts: how much each unit is in use
    mean: Float[Array, " latent"]  # running statistics of the latents, for whitening
    variance: Float[Array, " latent"]
    lr: float = eqx.field(static=True)
    usage_decay: float = eqx.field(static=True)

    def __init__(self, num_situations: int, latent_size: int, *, lr: float = 0.05, usage_decay: float = 0.999,
                 key: PRNGKeyArray):
        if num_situations < 1:
            raise ValueError(f"num_situations must be at least 1, got {num_situations}")
        self.prototypes = jax.random.normal(key, (num_situations, latent_size))
        self.wins = jnp.ones(num_situations)
        self.mean = jnp.zeros(latent_size)
        self.variance = jnp.ones(latent_size)
        self.lr = lr
        self.usage_decay = usage_decay

    @property
    def num_situations(self) -> int:
        return self.prototypes.shape[0]

    def whiten(self, latent: Float[Array, " latent"]) -> Float[Array, " latent"]:
        return (latent - self.mean) / jnp.sqrt(self.variance + 1e-6)

    def classify(self, latent: Float[Array, " latent"]) -> Int[Array, ""]:
        return jnp.argmin(jnp.sum((self.prototypes - self.whiten(latent)) ** 2, axis=1))

    def classify_ops(self, latent: Float[Array, " latent"]) -> Float[Array, ""]:
        """K L (module docstring)."""
        return jnp.float32(self.prototypes.size)

    def learn_ops(self, latent: Float[Array, " latent"]) -> Float[Array, ""]:
        """K L + K + 3 L (module docstring)."""
        units, size = self.prototypes.shape
        return jnp.float32(units * size + units + 3 * size)

    def learn(self, latent: Float[Array, " latent"]) -> "Situations":
        z = self.whiten(latent)
        onehot = jax.nn.one_hot(jnp.argmin(jnp.sum((self.prototypes - z) ** 2, axis=1)), self.num_situations)
        prototypes = self.prototypes + self.lr * onehot[:, None] * (z - self.prototypes)
        wins = self.usage_decay * self.wins + onehot
        rate = 1 - self.usage_decay
        mean = self.mean + rate * (latent - self.mean)
        variance = self.variance + rate * ((latent - mean) ** 2 - self.variance)
        return eqx.tree_at(lambda s: (s.prototypes, s.wins, s.mean, s.variance), self,
                           (prototypes, wins, mean, variance))

    def idle(self, min_wins: float = 0.01) -> Int[Array, ""]:
        """The unit `regrow` re-seeds: the least used, if its wins are under `min_wins`; -1 for none."""
        least = jnp.argmin(self.wins)
        return jnp.where(self.wins[least] < min_wins, least, -1)

    def regrow(self, latent: Float[Array, " latent"], min_wins: float = 0.01) -> "Situations":
        """Re-seeds the least used prototype at `latent` if it is under `min_wins` (structural selection)."""
        idle = self.idle(min_wins)
        regrow = idle >= 0
        prototypes = jnp.where(regrow, self.prototypes.at[idle].set(self.whiten(latent)), self.prototypes)
        wins = jnp.where(regrow, self.wins.at[idle].set(1.0), self.wins)
        return eqx.tree_at(lambda s: (s.prototypes, s.wins), self, (prototypes, wins))
