"""The simplest module for each slot: what an ablation study swaps in to remove a brain part.

| slot       | stand-ins                                                                  |
| ---------- | -------------------------------------------------------------------------- |
| perception | `IdentityPerception` (latent = input), `RandomProjection` (fixed tanh(Wx)) |
| memory     | `NoMemory` (never familiar, recalls nothing)                               |
| planner    | `RandomPlanner` (uniformly random saliences)                               |
| gate       | `ArgmaxGate`, `SoftmaxGate`                                                |

Cost (`brain.base`: synaptic operations): only the random projection has synapses (latent x in_size per
percept); the argmax and softmax gates read each channel's salience once (C); the others compute nothing.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from brain.base import (
    AbstractGate,
    AbstractMemory,
    AbstractPerception,
    AbstractPlanner,
    Percept,
    Plan,
    Recollection,
    Selection,
    finite_salience,
)


class IdentityPerception(AbstractPerception):
    """latent = x: the raw observation, nothing inferred or learned."""

    in_size: int = eqx.field(static=True)

    @property
    def latent_size(self) -> int:
        return self.in_size

    def init_state(self):
        return None

    def perceive(self, state, x, *, key):
        return state, Percept(latent=x, free_energy=jnp.zeros(()), layer_errors=jnp.zeros(1))

    def decode(self, latent):
        return latent

    def learn(self, state, x):
        return self

    def advance(self, state, action):
        return state


class RandomProjection(AbstractPerception):
    """latent = tanh(W x) with a fixed random W ~ N(0, 1/in_size): features without learning."""

    weight: Float[Array, "latent in_size"]
    in_size: int = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)

    def __init__(self, in_size: int, latent_size: int, *, key: PRNGKeyArray):
        self.weight = jax.random.normal(key, (latent_size, in_size)) / jnp.sqrt(in_size)
        self.in_size = in_size
        self.latent_size = latent_size

    def init_state(self):
        return None

    def perceive(self, state, x, *, key):
        latent = jnp.tanh(self.weight @ x)
        ops = jnp.float32(self.weight.size)
        return state, Percept(latent=latent, free_energy=jnp.zeros(()), layer_errors=jnp.zeros(1), ops=ops)

    def learn(self, state, x):
        return self

    def advance(self, state, action):
        return state


class NoMemory(AbstractMemory):
    """Remembers nothing: every cue is novel (G = 0) and recalls a zero payload."""

    in_size: int = eqx.field(static=True)
    payload_size: int = eqx.field(static=True)

    def recall(self, cue):
        zeros = jnp.zeros(self.payload_size)
        return Recollection(code=jnp.zeros(1, int), familiarity=jnp.zeros(()), payload=zeros, known=zeros)

    def store(self, x, payload, *, key, mask=None):
        return self


class RandomPlanner(AbstractPlanner):
    """No model and no preferences: each tick, saliences drawn uniformly at random."""

    num_channels: int = eqx.field(static=True)

    def init_state(self):
        return None

    def plan(self, state, observation, *, key):
        salience = jax.random.uniform(key, (self.num_channels,))
        return state, Plan(salience=salience, neg_efe=jnp.zeros(self.num_channels), state_entropy=jnp.zeros(()))

    def learn(self, state, observation):
        return self

    def commit(self, state, channel):
        return state

    def forget_transition(self, state):
        return state


class ArgmaxGate(AbstractGate):
    """Picks the most salient channel; no dynamics, no hysteresis."""

    num_channels: int = eqx.field(static=True)

    def init_state(self):
        return None

    def select(self, state, salience, *, key):
        channel = jnp.argmax(finite_salience(salience, "argmax"))
        ops = jnp.float32(self.num_channels)
        return state, Selection(channel, jax.nn.one_hot(channel, self.num_channels), jnp.array(True), ops)


class SoftmaxGate(AbstractGate):
    """Samples a channel with probability softmax(salience / temperature)."""

    num_channels: int = eqx.field(static=True)
    temperature: float = eqx.field(static=True, default=0.1)

    def init_state(self):
        return None

    def select(self, state, salience, *, key):
        channel = jax.random.categorical(key, finite_salience(salience, "softmax") / self.temperature)
        ops = jnp.float32(self.num_channels)
        return state, Selection(channel, jax.nn.one_hot(channel, self.num_channels), jnp.array(True), ops)
