"""Planning by sampling action sequences through a model (MPPI / cross-entropy style).

Each control step the planner draws `candidates` action sequences of length `horizon` around its sampling
distribution (a Gaussian mean per step for Box actions, categorical probabilities per step for Discrete
ones), rolls each through `step(s, a) -> (s', utility, p_continue)` (one `lax.scan` over the horizon,
`vmap` over candidates) and scores it by its expected utility, the negative expected free energy:

    U(pi) = sum_{t<H} gamma^t c_t u_t  +  gamma^H c_H V(s_H),        c_{t+1} = c_t p_continue_t

where u_t is what the caller's `step` says one step is worth (preferences minus risk, plus epistemic value)
and V the value beyond the horizon (`terminal`). The distribution then moves towards the candidates in
proportion to exp((U - max U) / temperature) (MPPI's weights) and is shifted one step for the next control
step (the warm start). Candidate 1 is the distribution's own mode (MPPI's executed mean), candidate 0 always
the last chosen plan, shifted: the gate (basal ganglia) sees it
in channel 0 beside the `plans - 1` best new candidates, so its hysteresis is commitment to a plan.

Nothing here knows a task: the planner sees only what `step` and `terminal` return.

Cost (`brain.base`: synaptic operations): candidates x (horizon x what one `step` costs + what `terminal`
costs), `plan_ops`; sampling and weighing the candidates touch no synapse.
"""

import math
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray


class PlanState(NamedTuple):
    """The sampling distribution and the plan being followed, both over the next `horizon` steps."""

    distribution: Float[Array, "H width"]  # Box: mean in [-1, 1]; Discrete: probabilities per action
    plan: Float[Array, "H width"]  # the chosen sequence (Box: actions; Discrete: one-hot actions)


class Plans(NamedTuple):
    """What the planner offers the gate: `plans` sequences (0 = the one being followed) and their utilities."""

    sequences: Float[Array, "M H width"]
    utility: Float[Array, " M"]
    spread: Float[Array, ""]  # the standard deviation of U over every candidate (the scale of a decisive gap)


StepFn = Callable[[Array, Array], tuple[Array, Array, Array]]
TerminalFn = Callable[[Array], Array]


class SamplingPlanner(eqx.Module):
    """See the module docstring. Actions are in the planner's units: one-hot for Discrete, [-1, 1] for Box."""

    action_size: int = eqx.field(static=True)
    discrete: bool = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    candidates: int = eqx.field(static=True)
    plans: int = eqx.field(static=True)
    discount: float = eqx.field(static=True)
    temperature: float = eqx.field(static=True)
    noise: float = eqx.field(static=True)
    correlation: float = eqx.field(static=True)
    hold: bool = eqx.field(static=True)
    smoothing: float = eqx.field(static=True)

    def __init__(self, action_size: int, discrete: bool, *, horizon: int = 20, candidates: int = 128, plans: int = 4,
                 discount: float = 0.99, temperature: float = 0.5, noise: float = 0.5, correlation: float = 0.0,
                 hold: bool = False, smoothing: float = 0.5):
        """`temperature`: MPPI's lambda, in units of the spread of U; `noise`: the Box sampling std (or, for
        Discrete, the weight of the uniform mixed into each step's probabilities); `correlation`: rho of the Box
        noise from one step of a sequence to the next (`_sample`); `hold`: the warm start's new last Box step keeps
        the mean of the step before it instead of returning to rest (`commit`); `smoothing`: how far the
        distribution moves towards the weighted candidates per step."""
        if action_size < 1 or horizon < 1 or candidates < max(plans, 2) or plans < 2:
            raise ValueError(f"need action_size, horizon >= 1 and candidates >= plans >= 2, got {action_size}, "
                             f"{horizon}, {candidates}, {plans}")
        for name, value in (("discount", discount), ("noise", noise), ("smoothing", smoothing)):
            if not 0 < value <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {value}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 <= correlation < 1:
            raise ValueError(f"correlation must lie in [0, 1), got {correlation}")
        self.action_size, self.discrete = int(action_size), bool(discrete)
        self.horizon, self.candidates, self.plans = int(horizon), int(candidates), int(plans)
        self.discount, self.temperature = float(discount), float(temperature)
        self.noise, self.correlation, self.smoothing = float(noise), float(correlation), float(smoothing)
        self.hold = bool(hold)

    def init_state(self) -> PlanState:
        shape = (self.horizon, self.action_size)
        if self.discrete:
            uniform = jnp.full(shape, 1.0 / self.action_size)
            return PlanState(uniform, jax.nn.one_hot(jnp.zeros(self.horizon, int), self.action_size))
        return PlanState(jnp.zeros(shape), jnp.zeros(shape))

    def _sample(self, distribution, key) -> Float[Array, "N H width"]:
        """Candidates around `distribution`. Box: mean + noise eps, where eps follows an AR(1) process along the
        sequence, eps_t = rho eps_{t-1} + sqrt(1 - rho^2) xi_t (xi standard normal, so each eps_t has std `noise`):
        with rho > 0 a candidate keeps on doing something rather than jittering, coloured noise as in iCEM
        (Pinneri et al. 2020)."""
        shape = (self.candidates, self.horizon, self.action_size)
        if self.discrete:
            probs = (1 - self.noise) * distribution + self.noise / self.action_size
            actions = jax.random.categorical(key, jnp.log(probs), axis=-1, shape=shape[:2])
            return jax.nn.one_hot(actions, self.action_size)
        eps = jax.random.normal(key, shape)
        if self.correlation > 0:  # (independent steps keep the plain draw, so they compute as they always have)
            rho = self.correlation
            step = lambda previous, xi: (rho * previous + math.sqrt(1 - rho**2) * xi,) * 2  # noqa: E731
            later = jax.lax.scan(step, eps[:, 0], eps[:, 1:].swapaxes(0, 1))[1].swapaxes(0, 1)
            eps = jnp.concatenate([eps[:, :1], later], axis=1)
        return jnp.clip(distribution + self.noise * eps, -1.0, 1.0)

    def _mode(self, distribution) -> Float[Array, "H width"]:
        """The distribution's most likely sequence: its mean (Box) or each step's likeliest action (Discrete)."""
        if self.discrete:
            return jax.nn.one_hot(jnp.argmax(distribution, -1), self.action_size)
        return distribution

    def evaluate(self, sequences: Float[Array, "N H width"], start: Array, step: StepFn, terminal: TerminalFn):
        """U of each sequence from `start` (see the module docstring). A `step` and `terminal` that return vectors
        of terms (the same length) give each term's share of U, [N, terms]."""
        shape = jax.eval_shape(step, start, sequences[0, 0])[1].shape

        def rollout(sequence):
            def one(carry, action):
                s, alive, weight, total = carry
                s, utility, p_continue = step(s, action)
                return (s, alive * p_continue, weight * self.discount, total + weight * alive * utility), None

            init = (start, jnp.ones(()), jnp.ones(()), jnp.zeros(shape))
            (s, alive, weight, total), _ = jax.lax.scan(one, init, sequence)
            return total + weight * alive * terminal(s)

        return jax.vmap(rollout)(sequences)

    def plan(self, state: PlanState, start: Array, step: StepFn, terminal: TerminalFn, *, key: PRNGKeyArray):
        """Samples, scores and ranks candidates; returns the updated distribution (not yet shifted) and the plans."""
        sequences = self._sample(state.distribution, key).at[0].set(state.plan).at[1].set(self._mode(state.distribution))
        utility = self.evaluate(sequences, start, step, terminal)  # non-finite if the model diverged: see the agent
        spread = jnp.maximum(utility.std(), 1e-6)
        weights = jax.nn.softmax((utility - utility.max()) / (self.temperature * spread))
        target = jnp.einsum("n,nhw->hw", weights, sequences)
        distribution = (1 - self.smoothing) * state.distribution + self.smoothing * target
        ranked = jnp.argsort(-utility.at[0].set(-jnp.inf))[: self.plans - 1]
        chosen = jnp.concatenate([jnp.zeros(1, int), ranked])
        return PlanState(distribution, state.plan), Plans(sequences[chosen], utility[chosen], spread)

    def plan_ops(self, step_ops: Float[Array, ""], terminal_ops: Float[Array, ""]) -> Float[Array, ""]:
        """candidates x (horizon x `step_ops` + `terminal_ops`): every candidate rolled out and valued at its end."""
        return self.candidates * (self.horizon * step_ops + terminal_ops)

    def commit(self, state: PlanState, sequence: Float[Array, "H width"]) -> PlanState:
        """Follows `sequence`: its first action is taken now; plan and distribution shift one step ahead. The
        distribution's new last step is uniform (Discrete), rest (Box: mean 0), or with `hold` the mean of the
        step before it: where the scores cannot tell plans apart, MPPI's mean only drifts, and a sequence padded
        with rest drifts to rest (a body that stops), one padded with its own last step keeps moving."""
        shift = lambda x, last: jnp.concatenate([x[1:], last[None]])
        if self.discrete:
            distribution = shift(state.distribution, jnp.full(self.action_size, 1.0 / self.action_size))
        else:
            last = state.distribution[-1] if self.hold else jnp.zeros(self.action_size)
            distribution = shift(state.distribution, last)
        return PlanState(distribution, shift(sequence, sequence[-1]))

    def reset(self, state: PlanState) -> PlanState:
        """A new life: no plan to continue."""
        return self.init_state()


def first_action_index(plans: Plans, discrete: bool, prototypes: Float[Array, "C width"] | None = None) -> Int[Array, " M"]:
    """The action channel of each plan's first action: its index (Discrete) or the nearest prototype (Box)."""
    first = plans.sequences[:, 0]
    if discrete:
        return jnp.argmax(first, -1)
    return jnp.argmin(((first[:, None, :] - prototypes[None]) ** 2).sum(-1), -1)
