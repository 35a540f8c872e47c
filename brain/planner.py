"""Discrete active inference through pymdp 1.0: the planner slot.

The generative model is factored, and laid out by name (`GenerativeModel`, a tuple of `Factor`s): each
hidden-state factor f (e.g. one internal variable's level, or the situation the agent is in) has its own
observation modality, `A_f = p(o_f | s_f)`, fed by the observation of its name, and its own transitions
under the chosen channel, `B_f = p(s_f' | s_f, u)`. Both are Dirichlet-distributed and learned
online from experience (`pA`, `pB`; pymdp's `learning` updates). For an ordinal factor (the levels of one
quantity, e.g. an internal variable) a channel moves the level by the same amount wherever it starts, so
its transition counts are kept per shift, `n_f[s' - s, u]`, and shared by every starting level:

    pB_f[s', s, u] = prior[s', s] + n_f[s' - s, u].

Learning that "approach food raises food" at one level then holds at all of them. Preferences `C_f`
(log-probabilities over o_f) come with each factor: the homeostatic set-points, or a task's reward. Policies
apply the same channel to every factor; each is scored by its expected free energy

    G(pi) = risk + ambiguity [- novelty] = KL[q(o | pi) || C] + E_q(s | pi) H[p(o | s)] [- parameter info gain],

and `q(pi) = softmax(-gamma G + ln E)`. A channel's salience is the posterior mass of the policies that
start with it.

Cost (`brain.base`: synaptic operations; n_f the states of factor f, P policies of T steps, U channels). A
`plan` predicts each factor's state (B_f q_f: n_f^2), weighs the evidence (A_f against o_f: n_f^2), runs
`FPI_ITERATIONS` fixed-point updates of every state (n_f each), and per policy and step contracts B_f and A_f
with the beliefs and A_f's entropy (3 n_f^2) and reads utility, outcome entropy and ambiguity (3 n_f), then
sums the policies into each channel (2 P U):

    plan  = sum_f (2 n_f^2 + FPI_ITERATIONS n_f) + P T sum_f (3 n_f^2 + 3 n_f) + 2 P U
            (+ P T sum_f (3 n_f^2 + n_f^2 U) with novelty: A's and B's Dirichlet information)
    learn = sum_f 2 n_f^2 (pA += o (x) q, A renormalised)
            + [a transition to learn] sum_f (n_f^2 + 2 n_f^2 U) (q(s') q(s)^T, pB rewritten, B renormalised)
"""

import functools
import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray
from pymdp import control, inference, learning

from brain.base import AbstractPlanner, Plan

FPI_ITERATIONS = 16  # fixed-point iterations of the state inference at each tick


class Factor(eqx.Module):
    """One hidden-state factor of the planner's generative model, observed through a modality of its own.

        Factor("energy", 15, preference=c, ordinal=True)      # fed by the observation named "energy"
    """

    name: str = eqx.field(static=True)
    size: int = eqx.field(static=True)  # its states, and the outcomes of its modality
    preference: Float[Array, " size"]  # C: log-preferences over the outcomes
    ordinal: bool = eqx.field(static=True, default=False)  # its states are levels of one quantity
    observation: str | None = eqx.field(static=True, default=None)  # the observation that feeds it (None: `name`)

    def __check_init__(self):
        if self.size < 1:
            raise ValueError(f"factor {self.name!r} needs at least 1 state, got {self.size}")
        if jnp.shape(self.preference) != (self.size,):
            raise ValueError(f"factor {self.name!r}: preference has shape {jnp.shape(self.preference)}, "
                             f"expected ({self.size},)")

    @property
    def source(self) -> str:
        """The name of the observation that feeds this factor."""
        return self.name if self.observation is None else self.observation


class GenerativeModel(eqx.Module):
    """The planner's generative model laid out by name: its factors, in order. `index(name)` is a factor's
    position; `observe({name: outcome})` orders a tick's observations for the planner."""

    factors: tuple[Factor, ...]

    def __check_init__(self):
        if not self.factors:
            raise ValueError("a generative model needs at least one factor")
        for seen in ("name", "source"):
            names = [getattr(f, seen) for f in self.factors]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"factors share the {'observation' if seen == 'source' else 'name'} {twice[0]!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @property
    def num_states(self) -> tuple[int, ...]:
        return tuple(f.size for f in self.factors)

    def index(self, name: str) -> int:
        """The position of factor `name`; an unknown name is an error listing the factors."""
        if name not in self.names:
            raise ValueError(f"no factor {name!r} in the generative model; factors: {', '.join(self.names)}")
        return self.names.index(name)

    def observe(self, observations: dict[str, Int[Array, ""]]) -> list[Int[Array, ""]]:
        """`observations` by name -> one outcome per factor, in the factors' order. A missing observation, or
        one that feeds no factor, is an error naming it."""
        sources = [f.source for f in self.factors]
        missing = [s for s in sources if s not in observations]
        unused = [name for name in observations if name not in sources]
        if missing or unused:
            raise ValueError(f"the planner observes {', '.join(sources)}; missing: {', '.join(missing) or 'none'}, "
                             f"feeding no factor: {', '.join(unused) or 'none'}")
        return [observations[s] for s in sources]


class PlannerState(eqx.Module):
    """Beliefs over hidden states now and one tick ago, and the channel taken in between."""

    qs: list[Array]  # per factor: (1, 1, states)
    qs_prev: list[Array]
    channel: Array  # int; -1 when there is no previous tick in this life


class ActiveInferencePlanner(AbstractPlanner):
    """pymdp's generative model as arrays, A and B learned online, run through pymdp's functions; see the module
    docstring. Every array keeps pymdp's leading batch axis of 1 (this module is vmapped over a population instead),
    and the fields keep the order of pymdp's `Agent`, so that brains saved with one load into the other."""

    A: list[Array]  # per factor f: p(o_f | s_f), (1, outcomes, states)
    B: list[Array]  # per factor f: p(s_f' | s_f, u), (1, states, states, channels)
    C: list[Array]  # per factor f: log-preferences over o_f, (1, outcomes)
    D: list[Array]  # per factor f: the belief a life begins with (uniform), (1, states)
    E: Array  # the prior over policies (uniform), (1, policies)
    pA: list[Array]  # Dirichlet counts of A
    pB: list[Array]  # Dirichlet counts of B
    gamma: Array  # the policy precision, (1,)
    unused: tuple  # pymdp's alpha, inductive threshold, epsilon and I: never read; kept, so saved brains still load
    transition_prior: list[Array]  # per factor: prior counts pB[s', s] before any experience
    shift_counts: list[Array]  # per ordinal factor: n[s' - s + states - 1, u]
    policies: tuple = eqx.field(static=True)  # [policy][step][factor] -> channel; a tuple: concrete under a trace
    ordinal: tuple[bool, ...] = eqx.field(static=True)
    num_channels: int = eqx.field(static=True)
    novelty: bool = eqx.field(static=True)
    lr: float = eqx.field(static=True)

    def __init__(
        self,
        generative: GenerativeModel,
        num_channels: int,
        *,
        policy_len: int = 1,
        gamma: float = 8.0,
        persistence: float = 4.0,
        observation_confidence: float = 100.0,
        novelty: bool = False,
        lr: float = 1.0,
    ):
        """
        - `generative`: the factors (`GenerativeModel`); factor f is observed through a modality with as many outcomes
          as it has states, its preferences `C_f` its `preference`.
        - An ordinal factor's states are levels of one quantity (an internal variable): its prior expects small
          steps, `pB(s' | s) ∝ persistence [s' = s] + exp(-|s' - s|)`; any other factor's any state may follow,
          `persistence [s' = s] + 1`. Either way an untried channel is expected mostly to change nothing, and
          the parameter-information term makes trying it attractive.
        - `observation_confidence`: prior counts on the diagonal of every `A_f` (plus 1 everywhere).
        - `novelty`: include the parameter-information term in G. Off by default: with many situations its
          value for untried transitions outweighs the homeostatic risk for thousands of ticks, and the
          state-information (ambiguity) term still makes the agent epistemic.
        """
        if num_channels < 2:
            raise ValueError(f"a planner needs at least 2 channels, got {num_channels}")
        num_states, ordinal = generative.num_states, tuple(f.ordinal for f in generative.factors)
        self.transition_prior = [_transition_prior(n, persistence, o) for n, o in zip(num_states, ordinal)]
        self.shift_counts = [jnp.zeros((2 * n - 1, num_channels)) for n, o in zip(num_states, ordinal) if o]
        self.policies = tuple(tuple((u,) * len(num_states) for u in sequence)
                              for sequence in itertools.product(range(num_channels), repeat=policy_len))
        self.pA = [(jnp.eye(n) * observation_confidence + 1.0)[None] for n in num_states]
        self.pB = [jnp.broadcast_to(prior[None, ..., None], (1, *prior.shape, num_channels))
                   for prior in self.transition_prior]
        self.A = [p / p.sum(axis=1, keepdims=True) for p in self.pA]
        self.B = [p / p.sum(axis=1, keepdims=True) for p in self.pB]
        self.C = [jnp.asarray(f.preference)[None] for f in generative.factors]
        self.D = [jnp.ones((1, n)) / n for n in num_states]
        self.E = jnp.ones((1, len(self.policies))) / len(self.policies)
        self.gamma = jnp.full((1,), gamma, jnp.float32)
        self.unused = (jnp.ones(1), jnp.full((1,), 0.1), jnp.full((1,), 1e-3),
                       [jnp.zeros((1, 1, n)) for n in num_states])
        self.ordinal = ordinal
        self.num_channels = num_channels
        self.novelty = novelty
        self.lr = lr

    @property
    def num_states(self) -> tuple[int, ...]:
        return tuple(d.shape[-1] for d in self.D)

    def init_state(self) -> PlannerState:
        return PlannerState(qs=self._prior(), qs_prev=self._prior(), channel=jnp.array(-1, jnp.int32))

    def plan(self, state: PlannerState, observation, *, key: PRNGKeyArray) -> tuple[PlannerState, Plan]:
        """q(s) from this tick's outcomes and the prior B q(s_prev) (D after no channel), then q(pi) and -G(pi)."""
        del key  # deterministic: exploration comes from the epistemic terms of G
        own = _own_factors(len(self.D))
        action = jnp.full((1, len(self.D)), jnp.maximum(state.channel, 0))
        predict = functools.partial(control.compute_expected_state, B_dependencies=own)
        predicted = jax.vmap(predict)(_latest(state.qs), self.B, action)
        prior = [jnp.where(state.channel >= 0, p, d) for p, d in zip(predicted, self.D)]
        outcomes = [jax.nn.one_hot(o[None], n) for o, n in zip(observation, self.num_states)]
        infer = functools.partial(inference.update_posterior_states, A_dependencies=own, B_dependencies=own,
                                  num_iter=FPI_ITERATIONS, method="fpi", distr_obs=True)
        qs = jax.vmap(infer)(self.A, self.B, outcomes, None, prior=prior)
        policies = jnp.asarray(self.policies, jnp.int32)
        score = functools.partial(control.update_posterior_policies, policies, A_dependencies=own, B_dependencies=own,
                                  use_utility=True, use_states_info_gain=True, use_param_info_gain=self.novelty)
        q_pi, neg_efe = jax.vmap(score)(_latest(qs), self.A, self.B, self.C, self.E, self.pA, self.pB,
                                        gamma=self.gamma)
        onehot = jax.nn.one_hot(policies[:, 0, 0], self.num_channels)  # (policies, channels): each one's first
        salience = q_pi[0] @ onehot
        best = jnp.max(jnp.where(onehot.T > 0, neg_efe[0][None, :], -jnp.inf), axis=1)
        entropy = sum(-jnp.sum(q * jnp.log(q + 1e-16)) for q in qs)
        plan = Plan(salience, best, entropy, self.plan_ops())
        return PlannerState(qs=qs, qs_prev=state.qs, channel=state.channel), plan

    def plan_ops(self) -> Float[Array, ""]:
        """`plan` (module docstring), from the shapes."""
        n, channels = jnp.asarray(self.num_states, jnp.float32), self.num_channels
        policies, horizon = len(self.policies), len(self.policies[0])
        per_step = jnp.sum(3 * n**2 + 3 * n) + (jnp.sum(3 * n**2 + n**2 * channels) if self.novelty else 0.0)
        return jnp.sum(2 * n**2 + FPI_ITERATIONS * n) + policies * horizon * per_step + 2 * policies * channels

    def learn_ops(self, state: PlannerState, observation) -> Float[Array, ""]:
        """`learn` (module docstring): A always, B when there is a transition to learn from."""
        n = jnp.asarray(self.num_states, jnp.float32)
        transition = (state.channel >= 0) * jnp.sum(n**2 + 2 * n**2 * self.num_channels)
        return jnp.sum(2 * n**2) + transition

    def learn(self, state: PlannerState, observation) -> "ActiveInferencePlanner":
        """Dirichlet updates of A (from this tick) and B (from the last transition, if there was one):
        pA_f += lr o_f ⊗ q(s_f) and pB_f += lr q(s_f') ⊗ q(s_f) ⊗ u (pymdp's); an ordinal factor's by shift."""
        own, lr = _own_factors(len(self.D)), jnp.full((1,), self.lr)
        update_A = functools.partial(learning.update_obs_likelihood_dirichlet, A_dependencies=own,
                                     categorical_obs=False, num_obs=list(self.num_states))
        observations = [jnp.reshape(o, (1, 1)) for o in observation]  # A: this tick's observation and belief only
        pA, A = jax.vmap(update_A)(self.pA, self.A, observations, state.qs, lr=lr)
        valid = state.channel >= 0  # -1: no transition to learn from
        per_state = [f for f, o in enumerate(self.ordinal) if not o]
        update_B = functools.partial(learning.update_state_transition_dirichlet,
                                     num_controls=[self.num_channels] * len(self.D), factors_to_update=per_state)
        joints = [[now, before] for now, before in zip(state.qs, state.qs_prev)]  # q(s_t), q(s_t-1): (1, 1, states)
        actions = jnp.full((1, 1, len(self.D)), state.channel)
        counted, _ = jax.vmap(update_B)(self.pB, self.B, joints, actions, lr=lr)
        pB = [jnp.where(valid, new, old) for new, old in zip(counted, self.pB)]
        shift_counts = []
        for counts, f in zip(self.shift_counts, [f for f, o in enumerate(self.ordinal) if o]):
            joint = jnp.outer(state.qs[f][0, -1], state.qs_prev[f][0, -1])  # q(s', s)
            n = joint.shape[0]
            by_shift = jnp.array([jnp.trace(joint, offset=-d) for d in range(-(n - 1), n)])  # d = s' - s
            taken = valid.astype(jnp.float32) * jax.nn.one_hot(state.channel, self.num_channels)
            shift_counts.append(counts + self.lr * taken * by_shift[:, None])
            pB[f] = (self.transition_prior[f][..., None] + _toeplitz(shift_counts[-1], n))[None]
        B = [p / p.sum(axis=1, keepdims=True) for p in pB]
        return eqx.tree_at(lambda p: (p.A, p.pA, p.B, p.pB, p.shift_counts), self, (A, pA, B, pB, shift_counts))

    def forget_state(self, factor: int, index) -> "ActiveInferencePlanner":
        """State `index` of `factor` now stands for something new (a regrown situation unit): its transition
        counts, out of it and into it, go back to the prior, and B with them. `index` -1 changes nothing."""
        if self.ordinal[factor]:
            raise ValueError(f"factor {factor} is ordinal: its transitions are shared by every level, not per state")
        pB = self.pB[factor]  # (batch, s', s, u)
        hit = jnp.arange(pB.shape[1]) == index
        touched = (hit[:, None] | hit[None, :])[None, :, :, None]
        pB = jnp.where(touched, self.transition_prior[factor][None, :, :, None], pB)
        return eqx.tree_at(lambda p: (p.pB[factor], p.B[factor]), self, (pB, pB / pB.sum(axis=1, keepdims=True)))

    def commit(self, state: PlannerState, channel) -> PlannerState:
        return eqx.tree_at(lambda s: s.channel, state, jnp.asarray(channel, state.channel.dtype))

    def forget_transition(self, state: PlannerState) -> PlannerState:
        return PlannerState(qs=self._prior(), qs_prev=self._prior(), channel=jnp.array(-1, jnp.int32))

    def _prior(self) -> list[Array]:
        return [d[:, None, :] for d in self.D]


def _own_factors(num_factors: int) -> list[list[int]]:
    """pymdp's dependencies when each modality sees, and each factor's transition depends on, its own factor only."""
    return [[f] for f in range(num_factors)]


def _latest(qs: list[Array]) -> list[Array]:
    """Per factor, the belief at the last time step: (1, time, states) -> (1, states)."""
    return [q[:, -1] for q in qs]


def _transition_prior(n: int, persistence: float, ordinal: bool) -> Array:
    """Prior Dirichlet counts pB[s', s] for one factor (see `ActiveInferencePlanner.__init__`)."""
    if not ordinal:
        return jnp.eye(n) * persistence + 1.0
    distance = jnp.abs(jnp.arange(n)[:, None] - jnp.arange(n)[None, :])
    return jnp.eye(n) * persistence + jnp.exp(-distance.astype(jnp.float32))


def _toeplitz(counts: Array, n: int) -> Array:
    """counts[s' - s + n - 1, u] spread over [s', s, u]."""
    shift = jnp.arange(n)[:, None] - jnp.arange(n)[None, :] + n - 1
    return counts[shift]
