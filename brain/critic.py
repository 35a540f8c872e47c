"""A state-value critic learned by local predictive-coding rules on temporal-difference targets.

V(s) is a discriminative PC network (`brain.predictive_coding.PCStack`) `s -> *hidden -> 1`, read in units of
1 / (1 - gamma) so that its output stays near the range of one step's utility. Each step it takes one local
PC step (`PCStack.fit`: source and target clamped, hidden layers settled, dW_l = e_l f(z_{l-1})^T) towards
the TD(0) targets of a batch of transitions,

    y = u + gamma (1 - end) V_slow(s')

where u is the step's realised utility and `end` whether the life ended there. V_slow is a slow copy that
follows the network synapse by synapse, W_slow <- W_slow + tau (W - W_slow) (a target network, Mnih et al.
2015), so that the target does not chase its own updates. The planner reads V as the value beyond its
horizon: what the world model's rollouts cannot see.

Cost (`brain.base`: synaptic operations; S the synapses of the network): a value is one feedforward pass, S; a
learning step on a batch of B reads the slow copy's values (B S), fits (`PCStack.fit_ops`) and moves every
parameter of the slow copy (one multiply-accumulate each).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from brain.predictive_coding import PCStack


class PCCritic(eqx.Module):
    """V(s) by a PC network and its slow copy; see the module docstring."""

    network: PCStack
    slow: PCStack
    discount: float = eqx.field(static=True)
    tau: float = eqx.field(static=True)

    def __init__(self, state_size: int, hidden: tuple[int, ...] = (64, 64), *, discount: float = 0.99,
                 learning_rate: float = 0.02, tau: float = 0.005, inference_steps: int = 8, dt: float = 0.2,
                 key: PRNGKeyArray):
        if state_size < 1:
            raise ValueError(f"state_size must be >= 1, got {state_size}")
        if not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {tau}")
        self.network = PCStack((state_size, *hidden, 1), activation=("identity", *("tanh",) * len(hidden)),
                               steps=inference_steps, dt=dt, learning_rate=learning_rate, key=key)
        self.slow = jax.tree.map(lambda x: jnp.array(x, copy=True) if eqx.is_array(x) else x, self.network)  # own buffers
        self.discount, self.tau = float(discount), float(tau)

    def _read(self, stack: PCStack, s: Float[Array, " state"]) -> Float[Array, ""]:
        return stack.propagate(s)[-1][0] / (1.0 - self.discount)

    def value(self, s: Float[Array, " state"]) -> Float[Array, ""]:
        """V(s), in the units of the utility summed over steps."""
        return self._read(self.network, s)

    def value_ops(self) -> Float[Array, ""]:
        """S: one feedforward pass (`value`)."""
        return jnp.float32(self.network.propagate_ops())

    def learn_ops(self, batch: int) -> Float[Array, ""]:
        """B S + fit_ops(B) + the parameters (module docstring)."""
        parameters = sum(x.size for x in jax.tree.leaves(eqx.filter(self.network, eqx.is_inexact_array)))
        return batch * self.value_ops() + self.network.fit_ops(batch) + parameters

    def learn(self, s: Float[Array, "batch state"], utility: Float[Array, " batch"], ended: Float[Array, " batch"],
              s_next: Float[Array, "batch state"], weights: Float[Array, " batch"]) -> "PCCritic":
        """One local PC step towards the TD(0) targets (weights scale each transition's plasticity, 0 leaves
        it out), then the slow copy moves tau of the way to the network."""
        bootstrap = jax.vmap(lambda x: self._read(self.slow, x))(s_next)
        target = utility + self.discount * (1.0 - ended) * bootstrap
        network = self.network.fit(s, (target * (1.0 - self.discount))[:, None], weights)
        fast, slow = eqx.filter(network, eqx.is_inexact_array), eqx.filter(self.slow, eqx.is_inexact_array)
        slow = jax.tree.map(lambda w_slow, w: w_slow + self.tau * (w - w_slow), slow, fast)
        return eqx.tree_at(lambda c: (c.network, c.slow), self, (network, eqx.combine(slow, self.slow)))
