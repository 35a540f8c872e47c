"""The agent's perception and world model: a temporal generative predictive-coding stack.

Layer 0 of the stack is the top latent, the last layer the observation. Each control step the top prior is
predicted from the previous latent and the action taken since (mu_0 = m + A f(z_0') + B u), the latents start
from that prediction (`propagate`), the observation is clamped and the latents settle (`perceive`); `learn` is
one local Hebbian step, which also teaches A and B to predict the next latent: the same synapses then predict
the next observation for planning (`predict`).

    state = perception.init_state()
    state, percept = perception.perceive(state, obs, key=key)      # percept.latent: the settled top latent
    perception = perception.learn(state, obs)
    expected_obs = perception.predict(state, action)                # world model: next observation
    state = perception.advance(state, action)                       # the action taken conditions the next prior

Every method takes the stack's optional `masks` (one 0/1 array per layer, latent first, observation last; see
`brain.predictive_coding`): masked units stay silent and their synapses do not learn.
"""

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from brain.base import AbstractPerception, Percept
from brain.predictive_coding import Context, Masks, PCStack, States


class PerceptionState(NamedTuple):
    """Settled layer states (latent first, observation last) and the context the next top prior comes from."""

    states: States
    context: Context


class PCPerception(AbstractPerception):
    """Generative, action-conditioned predictive coding: `latent_size -> *hidden -> in_size`."""

    stack: PCStack
    in_size: int = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)
    action_size: int = eqx.field(static=True)

    def __init__(
        self, in_size: int, latent_size: int, hidden=(64,), *, action_size: int = 0, key: PRNGKeyArray, **options
    ):
        """`options` go to `PCStack` (activation, steps, dt, integrator, learning rates, feedback, ...)."""
        self.stack = PCStack((latent_size, *hidden, in_size), action_size=action_size, key=key, **options)
        self.in_size, self.latent_size, self.action_size = in_size, latent_size, action_size

    def init_state(self) -> PerceptionState:
        """Latents at the prior's prediction; no previous latent and no action yet (zeros)."""
        context = Context(jnp.zeros(self.latent_size), jnp.zeros(self.action_size))
        return PerceptionState(self.stack.propagate(self.stack.source_mean(context)), context)

    def _check_observation(self, x) -> None:
        if jnp.shape(x) != (self.in_size,):
            raise ValueError(f"observation must have shape ({self.in_size},), got {jnp.shape(x)}")
        if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
            raise TypeError(f"observation must be a float array, got dtype {jnp.result_type(x)}")

    def perceive(
        self, state: PerceptionState, x: Float[Array, " in_size"], *, key: PRNGKeyArray, masks: Masks = None
    ) -> tuple[PerceptionState, Percept]:
        """Settles the latents on `x`, starting from the world model's prediction. `key` is unused: inference is
        deterministic (it is part of the slot's interface)."""
        self._check_observation(x)
        predicted = self.stack.propagate(self.stack.source_mean(state.context, masks), masks)
        clamped = (False,) * (len(predicted) - 1) + (True,)
        states, diagnostics = self.stack.infer(
            (*predicted[:-1], x), clamped=clamped, context=state.context, masks=masks
        )
        percept = Percept(states[0], diagnostics.free_energy[-1], diagnostics.layer_errors)
        return PerceptionState(states, state.context), percept

    def learn(self, state: PerceptionState, x: Float[Array, " in_size"], *, masks: Masks = None) -> "PCPerception":
        """One local Hebbian step on `x` from the settled `state` (weights, prior, transition, precisions)."""
        self._check_observation(x)
        states = tuple(z[None] for z in (*state.states[:-1], x))
        context = Context(state.context.previous[None], state.context.action[None])
        return eqx.tree_at(lambda p: p.stack, self, self.stack.learn(states, context=context, masks=masks))

    def predict(
        self, state: PerceptionState, action: Float[Array, " action"], masks: Masks = None
    ) -> Float[Array, " in_size"]:
        """World model: the observation expected after taking `action` from the current latent."""
        return self.stack.predict_next(state.states[0], action, masks)

    def advance(self, state: PerceptionState, action: Float[Array, " action"]) -> PerceptionState:
        """Records the action taken: the current latent and `action` become the context of the next top prior."""
        if jnp.shape(action) != (self.action_size,):
            raise ValueError(f"action must have shape ({self.action_size},), got {jnp.shape(action)}")
        return PerceptionState(state.states, Context(state.states[0], action))
