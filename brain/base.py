"""The brain's slots: one abstract base per slot, final implementations elsewhere (Equinox's pattern).

Every method is pure, `(module, state, inputs, *, key) -> (state, outputs)`; learning returns a new
module (built with `eqx.tree_at`) and never mutates. Hyperparameters are `eqx.field(static=True)`, so a
module is a pytree of arrays that `jax.jit` and `jax.vmap` take whole.

Cost: one shared unit, the synaptic operation ("op"): one multiply-accumulate over one synapse, or one read or
write of one stored weight, bit or payload entry (work per unit, such as an activation, is not counted). Every
output tuple (`Percept`, `Recollection`, `Episode`, `Plan`, `Selection`) carries `ops`, what the call that made it
computed; a call that returns a module or a bare array (`learn`, `store`, `classify`) has a sibling
`<call>_ops` taking the same arguments, which says what that call computes. Both default to 0, so a module of
your own that does not count still works: it is just free.
"""

import abc
import contextlib
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

__all__ = ["AbstractGate", "AbstractMemory", "AbstractPerception", "AbstractPlanner", "AbstractSituations",
           "Episode", "Percept", "Plan", "Recollection", "Selection", "check_vector", "checked", "finite_salience",
           "finite_or_zero", "is_traced", "non_finite", "unchecked"]


class Percept(NamedTuple):
    """What perception hands on: latent beliefs and how well they explain the input."""

    latent: Float[Array, " latent"]
    free_energy: Float[Array, ""]
    layer_errors: Float[Array, " layers"]  # mean squared prediction error per layer
    ops: Float[Array, ""] = np.float32(0)  # synaptic operations of the `perceive` call (0: not counted)


class AbstractPerception(eqx.Module):
    """Infers latent causes of an observation vector; learns by local rules only."""

    in_size: eqx.AbstractVar[int]
    latent_size: eqx.AbstractVar[int]

    @abc.abstractmethod
    def init_state(self):
        """Inference state carried between control steps (e.g. the last latents, for warm starts)."""

    @abc.abstractmethod
    def perceive(self, state, x: Float[Array, " in_size"], *, key: PRNGKeyArray) -> tuple[object, Percept]:
        """Settles beliefs about `x`; returns the new state and the percept."""

    @abc.abstractmethod
    def learn(self, state, x: Float[Array, " in_size"]) -> "AbstractPerception":
        """One local (Hebbian) learning step on `x`, starting from the settled `state`."""

    def learn_ops(self, state, x: Float[Array, " in_size"]) -> Float[Array, ""]:
        """The synaptic operations of `learn(state, x)`; a perception that does not count says 0."""
        return jnp.zeros(())

    @abc.abstractmethod
    def advance(self, state, action: Float[Array, " action"]):
        """Records the action taken, so a world model can condition its next prediction on it."""

    def decode(self, latent: Float[Array, " latent"]) -> Float[Array, " in_size"]:
        """The observation this perception expects from `latent` (its generative model's mean), e.g. to show what
        a planner's predicted latents would look like. A perception without a generative model cannot say."""
        raise NotImplementedError(f"{type(self).__name__} has no generative model: it cannot decode a latent")

    def enter(self, state, x: Float[Array, " in_size"], context: Int[Array, ""]) -> "AbstractPerception":
        """Switches to `context` (e.g. a curriculum's lesson), `x` its first observation. A perception without a
        plasticity gate has one context for everything, so by default this changes nothing."""
        return self


class Recollection(NamedTuple):
    """What memory returns for a cue."""

    code: Int[Array, " Q"]  # the winning cell in each competitive module
    familiarity: Float[Array, ""]  # G in [0, 1]: 1 for a stored input, low for a novel one
    payload: Float[Array, " payload"]  # what was bound to the best-matching episode (per entry: its mean)
    known: Float[Array, " payload"]  # per entry, how much of the recalled code holds data in it (0: nothing)
    ops: Float[Array, ""] = np.float32(0)  # synaptic operations of the `recall` call (0: not counted)


class Episode(NamedTuple):
    """One stored episode, whole: what a memory replays."""

    payload: Float[Array, " payload"]  # the payload of one store, not averaged with others
    known: Float[Array, " payload"]  # per entry, 1 where the episode holds data in it, 0 where it holds none
    ops: Float[Array, ""] = np.float32(0)  # synaptic operations of the `replay` call (0: not counted)


class AbstractMemory(eqx.Module):
    """Episodic memory: stores an episode in one trial, recalls by similarity."""

    in_size: eqx.AbstractVar[int]
    payload_size: eqx.AbstractVar[int]

    @abc.abstractmethod
    def recall(self, cue: Float[Array, " in_size"]) -> Recollection:
        """Best-matching stored code for `cue`, its familiarity and bound payload."""

    @abc.abstractmethod
    def store(
        self, x: Float[Array, " in_size"], payload: Float[Array, " payload"], *, key: PRNGKeyArray,
        mask: Float[Array, " payload"] | None = None,
    ) -> "AbstractMemory":
        """Stores `x` with `payload` (only the entries where `mask` is 1; all by default) in a single trial;
        returns the new memory."""

    def store_ops(
        self, x: Float[Array, " in_size"], payload: Float[Array, " payload"], *,
        mask: Float[Array, " payload"] | None = None,
    ) -> Float[Array, ""]:
        """The synaptic operations of `store(x, payload, mask=mask)`; a memory that does not count says 0."""
        return jnp.zeros(())

    def replay(self, code: Int[Array, " code"], *, key: PRNGKeyArray) -> Episode:
        """One episode stored under `code` (a `Recollection`'s), drawn at random and returned whole, as it was
        stored: what offline learning replays. A memory that keeps no episode whole replays nothing (known 0)."""
        return Episode(jnp.zeros(self.payload_size), jnp.zeros(self.payload_size))


class AbstractSituations(eqx.Module):
    """The agent's own discrete states: latents fall into one of `num_situations` units, which the planner
    reasons about; unused units can be regrown where experience is (structural selection)."""

    num_situations: eqx.AbstractVar[int]

    @abc.abstractmethod
    def classify(self, latent: Float[Array, " latent"]) -> Int[Array, ""]:
        """The unit `latent` falls in."""

    def classify_ops(self, latent: Float[Array, " latent"]) -> Float[Array, ""]:
        """The synaptic operations of `classify(latent)`; situations that do not count say 0."""
        return jnp.zeros(())

    @abc.abstractmethod
    def learn(self, latent: Float[Array, " latent"]) -> "AbstractSituations":
        """One local learning step on `latent`."""

    def learn_ops(self, latent: Float[Array, " latent"]) -> Float[Array, ""]:
        """The synaptic operations of `learn(latent)`; situations that do not count say 0."""
        return jnp.zeros(())

    @abc.abstractmethod
    def idle(self, min_wins: float) -> Int[Array, ""]:
        """The unit `regrow` would re-seed (used less than `min_wins`), or -1 for none."""

    @abc.abstractmethod
    def regrow(self, latent: Float[Array, " latent"], min_wins: float) -> "AbstractSituations":
        """The `idle` unit (if any) re-seeded at `latent`."""


class Selection(NamedTuple):
    """What the gate decides."""

    channel: Int[Array, ""]  # the selected channel, or -1 for none
    disinhibition: Float[Array, " channels"]  # 1 for a released channel, 0 for an inhibited one
    selected: Bool[Array, ""]  # False when nothing was salient enough
    ops: Float[Array, ""] = np.float32(0)  # synaptic operations of the `select` call (0: not counted)


class AbstractGate(eqx.Module):
    """Chooses one action channel from per-channel saliences."""

    num_channels: eqx.AbstractVar[int]

    @abc.abstractmethod
    def init_state(self):
        """Selection state carried between steps (e.g. for hysteresis)."""

    @abc.abstractmethod
    def select(
        self, state, salience: Float[Array, " channels"], *, key: PRNGKeyArray
    ) -> tuple[object, Selection]:
        """Picks a channel; returns the new state and the selection."""


def is_traced(x) -> bool:
    """True inside `jit`/`vmap`, where values (not shapes) are unknown and cannot be checked eagerly."""
    return isinstance(x, jax.core.Tracer)


def check_vector(x, size: int, name: str) -> None:
    """Raises a clear error for a wrong shape, a non-numeric dtype or (when concrete) non-finite values."""
    shape = jnp.shape(x)
    if shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {shape}")
    dtype = jnp.result_type(x)
    if not (jnp.issubdtype(dtype, jnp.number) or dtype == jnp.bool_):
        raise TypeError(f"{name} must be numeric or boolean, got dtype {dtype}")
    if not is_traced(x) and not np.all(np.isfinite(np.asarray(x, dtype=np.float64))):
        raise ValueError(f"{name} contains NaN or infinite values")


_CHECKING = [True]


def checked(x, bad, message: str):
    """`x`, raising `message` at run time where `bad` is true (`eqx.error_if`: under jit too), unless traced
    within `unchecked()`."""
    return eqx.error_if(x, bad, message) if _CHECKING[-1] else x


@contextlib.contextmanager
def unchecked():
    """What is traced within carries no run-time checks (`checked`): for the agents' jitted step, whose inputs the
    loop checks and whose modules' divergence the agents report (a step without host callbacks is also one
    JAX's persistent cache can keep)."""
    _CHECKING.append(False)
    try:
        yield
    finally:
        _CHECKING.pop()


def non_finite(tree) -> Bool[Array, ""]:
    """True when any float array in `tree` (a module, a state, an output) holds a NaN or an inf: it diverged."""
    leaves = [jnp.any(~jnp.isfinite(x)) for x in jax.tree.leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.any(jnp.stack(leaves)) if leaves else jnp.array(False)


def finite_or_zero(x: Array) -> Array:
    """`x` with its NaNs and infs set to 0: what an agent passes on from a module whose divergence it reports."""
    return jnp.where(jnp.isfinite(x), x, 0.0)


def finite_salience(salience: Float[Array, " channels"], gate: str) -> Float[Array, " channels"]:
    """`salience` as it is; under jit too, a NaN or inf in it raises an error that names the `gate`."""
    return checked(salience, ~jnp.all(jnp.isfinite(salience)), f"the {gate} gate got a salience that is not finite")


class Plan(NamedTuple):
    """What the planner hands the gate: how good each channel looks from here."""

    salience: Float[Array, " channels"]  # posterior probability of each channel's policies, in [0, 1]
    neg_efe: Float[Array, " channels"]  # -G per channel (best policy starting with it): risk + ambiguity
    state_entropy: Float[Array, ""]  # uncertainty of the posterior over hidden states
    ops: Float[Array, ""] = np.float32(0)  # synaptic operations of the `plan` call (0: not counted)


class AbstractPlanner(eqx.Module):
    """Discrete planning: infers hidden states from discrete observations and scores each channel."""

    num_channels: eqx.AbstractVar[int]

    @abc.abstractmethod
    def init_state(self):
        """Beliefs carried between planning ticks."""

    @abc.abstractmethod
    def plan(
        self, state, observation: Int[Array, " modalities"], *, key: PRNGKeyArray
    ) -> tuple[object, Plan]:
        """Updates beliefs with `observation` and scores the channels."""

    @abc.abstractmethod
    def learn(self, state, observation: Int[Array, " modalities"]) -> "AbstractPlanner":
        """Updates the generative model from the last transition (previous beliefs, channel, `observation`)."""

    def learn_ops(self, state, observation: Int[Array, " modalities"]) -> Float[Array, ""]:
        """The synaptic operations of `learn(state, observation)`; a planner that does not count says 0."""
        return jnp.zeros(())

    @abc.abstractmethod
    def commit(self, state, channel: Int[Array, ""]):
        """Records the channel the gate chose, so the next tick predicts and learns with it."""

    @abc.abstractmethod
    def forget_transition(self, state):
        """Starts a new life: the next observation has no predecessor."""

    def forget_state(self, factor: int, index: Int[Array, ""]) -> "AbstractPlanner":
        """State `index` of hidden-state `factor` now stands for something new (-1: none): forget what was learnt
        of it. A planner that keeps nothing per state has nothing to forget."""
        return self
