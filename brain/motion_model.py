"""A forward model of the body's own motion: what the motion sensors will read after a motor command.

The efference copy of a command predicts its sensory consequence (Wolpert, Ghahramani & Jordan 1995). Here the
motion readings m (a wheeled body's velocity in its own frame) follow a linear map of the last motion and the
command,

    m' ~ A [m, a, 1],

learned by the delta rule with a normalised step, A <- A + alpha (m' - A x) x^T / (1 + |x|^2), x = [m, a, 1]
(local: each output unit's error times its inputs).

Cost (`brain.base`: synaptic operations): a prediction is the size of A; a learning step reads and writes it.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class MotionModel(eqx.Module):
    """m' = A [m, a, 1]; see the module docstring."""

    weight: Float[Array, "motion inputs"]
    learning_rate: float = eqx.field(static=True)

    def __init__(self, motion_size: int, action_size: int, *, learning_rate: float = 0.1):
        if motion_size < 1 or action_size < 1:
            raise ValueError(f"need motion_size and action_size >= 1, got {motion_size}, {action_size}")
        if not 0 < learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
        self.weight = jnp.zeros((motion_size, motion_size + action_size + 1))
        self.learning_rate = float(learning_rate)

    def _inputs(self, motion, action):
        return jnp.concatenate([motion, action, jnp.ones(1)])

    def predict(self, motion: Float[Array, " motion"], action: Float[Array, " action"]) -> Float[Array, " motion"]:
        """The motion expected after `action`."""
        return self.weight @ self._inputs(motion, action)

    def learn(self, motion, action, motion_next, valid: Float[Array, ""]) -> "MotionModel":
        """One delta-rule step on (m, a) -> m'; `valid` 0 leaves the model as it was."""
        x = self._inputs(motion, action)
        step = valid * self.learning_rate / (1.0 + x @ x)
        return eqx.tree_at(lambda m: m.weight, self, self.weight + step * jnp.outer(motion_next - self.weight @ x, x))

    def ops(self) -> Float[Array, ""]:
        """The size of A: one prediction (a learning step: twice that)."""
        return jnp.float32(self.weight.size)
