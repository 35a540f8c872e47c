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

With `contexts > 1` a plasticity gate (`brain.plasticity_gate`) divides the latent and hidden units among that
many contexts (e.g. the lessons of a curriculum); the observation units are shared. Only the current context's
units are active and plastic, so learning a new context leaves every other context's synapses bit-for-bit
unchanged. `enter(state, x, context)` switches context; a context entered for the first time recruits the
free units that respond most strongly to its first observation.

    perception = perception.enter(state, obs, context)            # e.g. at the start of a lesson

Cost (synaptic operations, `brain.predictive_coding`): a `perceive` is the world model's prediction (the prior
A f(z') + B u and one pass down the chain) plus the inference it ran, steps taken x both directions of every
synapse of the free layers; a `learn` is one learning step on a batch of one. With a plasticity gate only the
current context's units count.
"""

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from brain.base import AbstractPerception, Percept, check_vector, checked
from brain.plasticity_gate import FREE, PlasticityGate
from brain.predictive_coding import Context, PCStack, States


class PerceptionState(NamedTuple):
    """Settled layer states (latent first, observation last) and the context the next top prior comes from."""

    states: States
    context: Context


class PCPerception(AbstractPerception):
    """Generative, action-conditioned predictive coding: `latent_size -> *hidden -> in_size`."""

    stack: PCStack
    plasticity: PlasticityGate | None  # which units each context may use and change; None: one context, all
    context: Int[Array, ""]
    in_size: int = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)
    action_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        latent_size: int,
        hidden=(64,),
        *,
        action_size: int = 0,
        contexts: int = 1,
        key: PRNGKeyArray,
        **options,
    ):
        """`contexts`: how many contexts the latent and hidden units are divided among (1: no gate); context 0
        owns the first units of each layer from birth. `options` go to `PCStack` (activation, steps, dt,
        integrator, learning rates, feedback, ...)."""
        sizes = (latent_size, *hidden, in_size)
        if contexts < 1 or min(sizes[:-1]) < contexts:
            raise ValueError(f"contexts must be >= 1 and at most the narrowest layer ({min(sizes[:-1])}), got {contexts}")
        self.stack = PCStack(sizes, action_size=action_size, key=key, **options)
        self.plasticity = None
        if contexts > 1:
            quotas = (*(n // contexts for n in sizes[:-1]), 0)
            plasticity = PlasticityGate(sizes, quotas=quotas, shared=(False,) * (len(sizes) - 1) + (True,))
            self.plasticity = plasticity.recruit(0, [jnp.zeros(n) for n in sizes])
        self.context = jnp.array(0)
        self.in_size, self.latent_size, self.action_size = in_size, latent_size, action_size

    @property
    def masks(self):
        """The current context's units (the stack's `masks`), or None when every unit is on."""
        return None if self.plasticity is None else self.plasticity.masks(self.context)

    def enter(self, state: PerceptionState, x: Float[Array, " in_size"], context: Int[Array, ""] | int) -> "PCPerception":
        """Switches to `context`. Entered for the first time, it recruits in each layer the free units that respond
        most strongly to `x` (|f(z)| after settling on `x` with every free unit on)."""
        if self.plasticity is None:
            return self
        self._check_observation(x)
        context = jnp.asarray(context)
        context = checked(context, (context < 0) | (context >= self.plasticity.max_contexts),
                               f"context out of range: this perception has room for {self.plasticity.max_contexts}")

        free = self.plasticity.masks(FREE)
        predicted = self.stack.propagate(self.stack.source_mean(state.context, free), free)
        clamped = (False,) * (len(predicted) - 1) + (True,)
        settled, _ = self.stack.infer((*predicted[:-1], x), clamped=clamped, context=state.context, masks=free)
        responses = [jnp.abs(jnp.tanh(z)) * k for z, k in zip(settled, free)]
        new = jnp.all(jnp.stack([jnp.all(o != context) for o in self.plasticity.owner]))
        plasticity = self.plasticity.recruit(context, responses, when=new)
        return eqx.tree_at(lambda p: (p.plasticity, p.context), self, (plasticity, context))

    def init_state(self) -> PerceptionState:
        """Latents at the prior's prediction; no previous latent and no action yet (zeros)."""
        context = Context(jnp.zeros(self.latent_size), jnp.zeros(self.action_size))
        return PerceptionState(self.stack.propagate(self.stack.source_mean(context, self.masks), self.masks), context)

    def _check_observation(self, x) -> None:
        check_vector(x, self.in_size, "observation")

    def perceive(
        self, state: PerceptionState, x: Float[Array, " in_size"], *, key: PRNGKeyArray
    ) -> tuple[PerceptionState, Percept]:
        """Settles the latents on `x`, starting from the world model's prediction. `key` is unused: inference is
        deterministic (it is part of the slot's interface)."""
        self._check_observation(x)
        masks = self.masks
        predicted = self.stack.propagate(self.stack.source_mean(state.context, masks), masks)
        clamped = (False,) * (len(predicted) - 1) + (True,)
        states, diagnostics = self.stack.infer(
            (*predicted[:-1], x), clamped=clamped, context=state.context, masks=masks
        )
        ops = self.stack.prior_ops(True, masks) + self.stack.propagate_ops(masks) + diagnostics.ops
        percept = Percept(states[0], diagnostics.free_energy[-1], diagnostics.layer_errors, ops)
        return PerceptionState(states, state.context), percept

    def learn(self, state: PerceptionState, x: Float[Array, " in_size"]) -> "PCPerception":
        """One local Hebbian step on `x` from the settled `state` (weights, prior, transition, precisions)."""
        self._check_observation(x)
        states = tuple(z[None] for z in (*state.states[:-1], x))
        context = Context(state.context.previous[None], state.context.action[None])
        return eqx.tree_at(lambda p: p.stack, self, self.stack.learn(states, context=context, masks=self.masks))

    def learn_ops(self, state: PerceptionState, x: Float[Array, " in_size"]) -> Float[Array, ""]:
        """`PCStack.learn_ops` of a batch of one, with a context (a temporal stack)."""
        return self.stack.learn_ops(1, temporal=True, masks=self.masks)

    def decode(self, latent: Float[Array, " latent"]) -> Float[Array, " in_size"]:
        """The observation the stack expects from top latent z_0: the top-down means mu_L of `propagate`."""
        return self.stack.propagate(latent, self.masks)[-1]

    def predict(self, state: PerceptionState, action: Float[Array, " action"]) -> Float[Array, " in_size"]:
        """World model: the observation expected after taking `action` from the current latent."""
        return self.stack.predict_next(state.states[0], action, self.masks)

    def advance(self, state: PerceptionState, action: Float[Array, " action"]) -> PerceptionState:
        """Records the action taken: the current latent and `action` become the context of the next top prior."""
        if jnp.shape(action) != (self.action_size,):
            raise ValueError(f"action must have shape ({self.action_size},), got {jnp.shape(action)}")
        return PerceptionState(state.states, Context(state.states[0], action))
