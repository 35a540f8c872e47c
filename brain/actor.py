"""A policy prior learned by node perturbation: the action that has brought the body nearer what it needs.

The sampling planner draws its candidates around a mean. Where the world model cannot yet tell plans apart, a
hungry body can stall with food in range (README, "Before the need values: the model-based brain on raw wheels").
The actor learns from experience, not from the model, which action has brought the body nearer its goals: a
linear-tanh offset over the model state,

    mu(s) = tanh(W s + b),      W = 0, b = 0 at birth (no offset),

moved by node perturbation (Fiete & Seung 2006; Williams' REINFORCE for a Gaussian unit), a local three-factor
rule: presynaptic activity s, postsynaptic deviation xi, and a global reward signal,

    dW = eta r~ xi s^T,    db = eta r~ xi,    xi = a - mu(s),    r~ = clip((r - rbar) / sigma_r, -5, 5),

where a is the action taken, as an offset from what the body would have done without the actor (the planner's
exploration around mu makes xi), r what the step brought, and rbar and sigma_r r's running mean and spread
(better or worse than usual: the third factor). The model-based agent gives r as the progress towards its needed
goals that the body made, measured from the latents it lived (`agents.model_agent.ModelAgent.progress`), and
samples the planner's first step around its own warm-started mean plus mu(s).

Cost (`brain.base`: synaptic operations): mu(s) reads A x S weights, a learning step writes them: A S each.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class Actor(eqx.Module):
    """mu(s) = tanh(W s + b) in the planner's action units [-1, 1], learned by node perturbation (module docstring)."""

    weight: Float[Array, "action state"]
    bias: Float[Array, " action"]
    reward_mean: Float[Array, ""]  # rbar
    reward_var: Float[Array, ""]  # sigma_r^2
    learning_rate: float = eqx.field(static=True)
    reward_rate: float = eqx.field(static=True)

    def __init__(self, state_size: int, action_size: int, *, learning_rate: float, reward_rate: float = 0.01):
        """`reward_rate`: how fast rbar and sigma_r follow the rewards (per step)."""
        if state_size < 1 or action_size < 1:
            raise ValueError(f"need state_size and action_size >= 1, got {state_size}, {action_size}")
        if not learning_rate > 0 or not 0 < reward_rate <= 1:
            raise ValueError(f"need learning_rate > 0 and reward_rate in (0, 1], got {learning_rate}, {reward_rate}")
        self.weight = jnp.zeros((action_size, state_size))
        self.bias = jnp.zeros(action_size)
        self.reward_mean, self.reward_var = jnp.zeros(()), jnp.ones(())
        self.learning_rate, self.reward_rate = float(learning_rate), float(reward_rate)

    def mean(self, s: Float[Array, " state"]) -> Float[Array, " action"]:
        """mu(s)."""
        return jnp.tanh(self.weight @ s + self.bias)

    def learn(self, s: Float[Array, " state"], action: Float[Array, " action"], reward: Float[Array, ""],
              valid: Float[Array, ""]) -> "Actor":
        """One node-perturbation step on (s, the action taken as an offset, the reward it brought); `valid` 0 leaves
        the actor as it was (no transition to learn from)."""
        surprise = (reward - self.reward_mean) / jnp.sqrt(self.reward_var + 1e-8)
        xi = action - self.mean(s)
        step = self.learning_rate * valid * jnp.clip(surprise, -5.0, 5.0)
        rate = self.reward_rate * valid
        mean = self.reward_mean + rate * (reward - self.reward_mean)
        var = self.reward_var + rate * ((reward - self.reward_mean) ** 2 - self.reward_var)
        return eqx.tree_at(lambda a: (a.weight, a.bias, a.reward_mean, a.reward_var), self,
                           (self.weight + step * jnp.outer(xi, s), self.bias + step * xi, mean, var))

    def ops(self) -> Float[Array, ""]:
        """A S: the weights one `mean` reads (and one `learn` writes)."""
        return jnp.float32(self.weight.size)
