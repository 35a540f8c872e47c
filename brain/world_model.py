"""A world model learned by local predictive-coding rules: what follows a state and an action.

An ensemble of discriminative predictive-coding networks (`brain.predictive_coding.PCStack`), each mapping
`x = [state, action]` to `y = [delta, reward, death, success]`:

    delta   = (s' - s) / delta_scale        the change of the (normalised) state, in units of its running spread
    reward  = the step's reward, in units of its running mean magnitude
    death, success                          1 if the step ended the life that way, else 0 (their mean is p)

Learning is PC's: the input and the target are clamped, the hidden layers settle on free energy (one
`lax.scan`), and each synapse moves by its postsynaptic error times its presynaptic activity,
dW_l = e_l f(z_{l-1})^T. No gradient is computed (tests check the rule against `jax.grad` of F). Each
member sees its own bootstrap resample of every batch (Poisson(1) weights), so where data is scarce the
members disagree: their spread is the model's uncertainty, the planner's epistemic term. Rare outcomes
(deaths, successes) learn with a weight w inversely proportional to their running rate, so 13 successes
among 40,000 steps still shape the heads; the weighted head estimates p' = w p / (w p + 1 - p), which the
prediction maps back to the probability p = p' / (w - (w - 1) p').

Prediction is the feedforward pass (the equilibrium when the target is free).

With `pairwise` inputs the first layer also sees every product x_i x_j (i <= j) of the inputs: sigma-pi units
(Rumelhart, Hinton & McClelland 1986; Mel 1992, multiplicative dendritic interactions). What a body senses of the
world around it changes by the product of the scene and its own motion (a turn shifts every bin by the yaw rate
times the bin's slope), which a sum of its inputs cannot say: on mortal/FoodOnly-v0 with tuned bins, a network of
the plain inputs learns none of the food bins' change (R^2 ~ 0 on held-out steps), one with the products 0.6
(README, "Before the need values: the model-based brain on raw wheels").

Cost (`brain.base`: synaptic operations; `brain.predictive_coding`'s counts): a prediction is every member's
feedforward pass, E S (S the synapses of one member), plus, with `pairwise` inputs, one operation per product; a
learning step on a batch of B is every member's `PCStack.fit`, E fit_ops(B), plus the products of the batch.
"""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from brain.predictive_coding import PCStack


class Transition(NamedTuple):
    """One step of experience (or a batch of them, with a leading axis), in the model's units."""

    state: Float[Array, "*batch state"]
    action: Float[Array, "*batch action"]
    delta: Float[Array, "*batch state"]
    reward: Float[Array, "*batch"]
    death: Float[Array, "*batch"]
    success: Float[Array, "*batch"]


class Prediction(NamedTuple):
    """The ensemble's forecast for one (state, action): the members' mean and their disagreement."""

    delta: Float[Array, " state"]
    reward: Float[Array, ""]
    death: Float[Array, ""]  # probability, clipped to [0, 1]
    success: Float[Array, ""]
    disagreement: Float[Array, ""]  # mean variance across members of the predicted delta


class PCWorldModel(eqx.Module):
    """`members` PC networks `[state, action] -> *hidden -> [delta, reward, death, success]`; see the module docstring."""

    members: PCStack  # every array has a leading member axis
    end_rate: Float[Array, " 2"]  # running rate of deaths and successes per step
    state_size: int = eqx.field(static=True)
    action_size: int = eqx.field(static=True)
    num_members: int = eqx.field(static=True)
    pairwise: bool = eqx.field(static=True)
    rate_decay: float = eqx.field(static=True)
    max_rarity_weight: float = eqx.field(static=True)

    def __init__(
        self,
        state_size: int,
        action_size: int,
        hidden: tuple[int, ...] = (64, 64),
        *,
        members: int = 4,
        learning_rate: float = 0.02,
        inference_steps: int = 8,
        dt: float = 0.2,
        max_rarity_weight: float = 20.0,
        pairwise: bool = False,
        key: PRNGKeyArray,
    ):
        """`pairwise`: the first layer also sees the products of the inputs (module docstring)."""
        if state_size < 1 or action_size < 1 or members < 1:
            raise ValueError(f"need state_size, action_size, members >= 1, got {state_size}, {action_size}, {members}")
        self.state_size, self.action_size, self.num_members = state_size, action_size, members
        self.pairwise = bool(pairwise)
        sizes = (state_size + action_size + self.products, *hidden, state_size + 3)
        activation = ("identity", *("tanh",) * len(hidden))

        def member(k):
            return PCStack(sizes, activation=activation, steps=inference_steps, dt=dt, learning_rate=learning_rate,
                           key=k)

        self.members = eqx.filter_vmap(member)(jax.random.split(key, members))
        self.end_rate = jnp.full(2, 1e-3)
        self.rate_decay = 1e-3
        self.max_rarity_weight = float(max_rarity_weight)

    def _target(self, t: Transition) -> Float[Array, "*batch out"]:
        return jnp.concatenate([t.delta, t.reward[..., None], t.death[..., None], t.success[..., None]], -1)

    def inputs(self, state: Float[Array, "*batch state"], action: Float[Array, "*batch action"]
               ) -> Float[Array, "*batch inputs"]:
        """What the first layer sees: x = [state, action], then, with `pairwise` inputs, x_i x_j for i <= j."""
        x = jnp.concatenate([state, action], -1)
        if not self.pairwise:
            return x
        i, j = np.triu_indices(x.shape[-1])
        return jnp.concatenate([x, x[..., i] * x[..., j]], -1)

    @property
    def products(self) -> int:
        """How many products of the inputs the first layer sees (0 without `pairwise`)."""
        inputs = self.state_size + self.action_size
        return inputs * (inputs + 1) // 2 if self.pairwise else 0

    def member_outputs(self, state: Float[Array, " state"], action: Float[Array, " action"]) -> Float[Array, "E out"]:
        """Every member's feedforward prediction y for one (state, action)."""
        x = self.inputs(state, action)
        return eqx.filter_vmap(lambda m: m.propagate(x)[-1])(self.members)

    def predict(self, state: Float[Array, " state"], action: Float[Array, " action"]) -> Prediction:
        """The ensemble's mean forecast and disagreement (see `Prediction`)."""
        y = self.member_outputs(state, action)
        mean = y.mean(0)
        n = self.state_size
        weighted = jnp.clip(mean[n + 1:], 0.0, 1.0)
        w = self.rarity_weight
        ends = weighted / (w - (w - 1.0) * weighted)
        return Prediction(
            delta=mean[:n],
            reward=mean[n],
            death=ends[0],
            success=ends[1],
            disagreement=y[:, :n].var(0).mean(),
        )

    def predict_ops(self) -> Float[Array, ""]:
        """E S + the products: every member's feedforward pass (`predict`)."""
        return jnp.float32(self.num_members * self.members.propagate_ops() + self.products)

    def learn_ops(self, batch: int) -> Float[Array, ""]:
        """E fit_ops(B) + B products: every member's local PC step on the batch (`learn`)."""
        return self.num_members * self.members.fit_ops(batch) + batch * self.products

    @property
    def rarity_weight(self) -> Float[Array, " 2"]:
        """The plasticity weight of a death and of a success: 1 / their running rate, capped."""
        return jnp.clip(1.0 / jnp.maximum(self.end_rate, 1e-6), 1.0, self.max_rarity_weight)

    def prediction_error(self, batch: Transition) -> Float[Array, ""]:
        """Mean squared error of the ensemble-mean delta on a batch (the held-out figure)."""
        predicted = jax.vmap(lambda s, a: self.predict(s, a).delta)(batch.state, batch.action)
        return jnp.mean((predicted - batch.delta) ** 2)

    def learn(self, batch: Transition, *, key: PRNGKeyArray, weights: Float[Array, " batch"] | None = None
              ) -> "PCWorldModel":
        """One local PC learning step of every member on `batch` (leading axis), each on its own bootstrap
        resample; `weights` (default 1) scale each sample's plasticity, 0 leaves it out."""
        given = jnp.ones(batch.reward.shape) if weights is None else weights
        x = self.inputs(batch.state, batch.action)
        y = self._target(batch)
        ended = jnp.stack([batch.death, batch.success], -1)
        weights = given * jnp.maximum(1.0, (ended * self.rarity_weight).max(-1))
        bootstrap = jax.random.poisson(key, 1.0, (self.num_members, x.shape[0])).astype(jnp.float32)

        members = eqx.filter_vmap(lambda stack, resample: stack.fit(x, y, weights * resample))(self.members, bootstrap)
        seen = given.sum()
        keep = (1 - self.rate_decay) ** seen
        end_rate = keep * self.end_rate + (1 - keep) * (given @ ended) / jnp.maximum(seen, 1e-6)
        return eqx.tree_at(lambda m: (m.members, m.end_rate), self, (members, end_rate))
