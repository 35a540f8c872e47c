"""Predictive coding: a chain of Gaussian layers, each predicting the next; beliefs settle by gradient flow
on free energy (fast), synapses change by local Hebbian rules (slow).

Layers are numbered along the direction of prediction. Layer 0 is the source, with a learned Gaussian prior;
every later layer is predicted from the one before it (Rao & Ballard 1999; Whittington & Bogacz 2017):

    mu_0 = m + A f(z_0') + B u        (A, B only in a temporal stack: z_0' the previous source state, u the action)
    mu_l = W_l f(z_{l-1}) + b_l       for l >= 1
    e_l  = (z_l - mu_l) / v_l         (precision-weighted prediction error; v_l a learned diagonal variance)
    F    = sum_l sum_i (z_l - mu_l)_i^2 / (2 v_l,i) + log(v_l,i) / 2

A generative stack has the top latent cause as layer 0 and the observation as the last layer (the sink), which
is clamped. A discriminative stack has the input as layer 0 and the target as the sink: both are clamped while
learning; its prediction is the feedforward pass (`propagate`), the equilibrium when the sink is free. A
temporal stack's source prior is predicted from the previous source state and the action taken since, so
`predict_next` maps (latent, action) to the expected next observation: the stack is also a world model.

Inference (`infer`): the free layers follow dz_l/dt = -dF/dz_l = -e_l + f'(z_l) * (W_{l+1}^T e_{l+1}) for
`steps` steps of Euler or Heun, in one `lax.scan`. With `feedback=True` errors travel back through separate
learned synapses E_{l+1} instead of W_{l+1}^T (Ororbia's neural generative coding). With `precondition=True`
each unit's step is divided by a bound on its curvature, H_l = 1/v_l + (W_{l+1} * W_{l+1})^T (1/v_{l+1})
(Jacobi preconditioning; still a descent on F), so the step keeps pace with large learned precisions.
With `settle_tolerance` tol > 0 inference stops early, once free energy has settled,

    |F_t - F_{t-1}| <= tol (|F_{t-1}| + eps)       (F_t: free energy before step t; at most `steps` steps)

in one `lax.while_loop` (no reverse-mode gradient through it; tol = 0 keeps the plain `lax.scan`).

Learning (`learn`): one step along -dF/d(parameter), each a product of quantities at the synapse:
dW_l = e_l f(z_{l-1})^T, db_l = e_l, dm = e_0, dA = e_0 f(z_0')^T, dB = e_0 u^T, dE_l = dW_l^T, and
dv_l = (z_l - mu_l)^2 - v_l (the variance gradient -dF/dv_l scaled by 2 v_l^2, a natural-gradient step).
Caveats, measured on digits: the variance of a free latent layer, learned against this point-estimate F, runs
down to `min_variance` (F falls without bound as v -> 0 once the latent stops explaining the data), so learn
the precisions of observed layers and let the latent ones fix the scale; and the synaptic steps grow with the
precision 1/v, so a small learned variance needs a smaller `learning_rate`.

Masks (for plasticity gating): `infer`, `learn`, `propagate`, `prediction_errors`, `free_energy`, `sample` and
`predict_next` take `masks`, a tuple with one 0/1 float array per layer shaped like that layer's state
(clamped layers may be all ones); `None` means every unit is on. A masked (0) unit is silent: its state and its
error are held at zero, so it neither predicts nor is predicted; learning leaves every synapse into or out of
it (W, E, A, B), its bias, prior mean and variance bit-for-bit unchanged.

Cost (`brain.base`: synaptic operations). With n_l the units on in layer l and |W_l| = n_l n_{l-1}, an
`infer` of k steps costs prior + fixed + k evals (down + up) + down: the source prior's A f(z_0') + B u
(n_0 (n_0 + a), temporal stacks given a context), once; the predictions from clamped layers, once; per
evaluation of the flow (Euler 1 per step, Heun 2) the top-down predictions from free layers (down) and their
errors sent back through W^T or E (up, the same synapses); and down once more for the final F. A `learn` of a
batch of B costs B (2 prior + 2 S + S with feedback + sum_l n_l, + sum_l n_l again with learned precisions),
S = sum_l |W_l|: the errors, one multiply-accumulate per synapse for dW (and dE, dA, dB), and the biases and
prior mean (and variances). Each count is a small method beside the computation (`*_ops`).

Divergence: non-finite states after inference, or non-finite parameters after learning, raise an error
(`brain.base.checked`: `eqx.error_if`, under jit too) that says what diverged and what to lower; the agents' step
is traced `unchecked` and reports divergence per module instead.
"""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from brain.base import checked

ACTIVATIONS = {
    # name: (f, f' given z and f(z))
    "tanh": (jnp.tanh, lambda z, a: 1.0 - a * a),
    "relu": (jax.nn.relu, lambda z, a: (z > 0).astype(z.dtype)),
    "sigmoid": (jax.nn.sigmoid, lambda z, a: a * (1.0 - a)),
    "identity": (lambda z: z, lambda z, a: jnp.ones_like(z)),
}
INTEGRATORS = ("euler", "heun")
SETTLE_EPS = 1e-6  # eps of the early exit's relative tolerance (module docstring)

States = tuple[Float[Array, "*batch n"], ...]  # one array per layer, source first
Masks = tuple[Float[Array, " n"], ...] | None  # one 0/1 array per layer: 0 silences a unit and freezes its synapses


def _per_layer(value, num_layers: int, name: str) -> tuple[float, ...]:
    """A hyperparameter given once for all layers or once per layer, as a tuple of floats."""
    if isinstance(value, (int, float)):
        return (float(value),) * num_layers
    if len(value) != num_layers:
        raise ValueError(f"{name} needs one value per layer ({num_layers}), got {value}")
    return tuple(float(v) for v in value)


class Context(NamedTuple):
    """What a temporal stack's source prior is conditioned on: the previous source state and the action since."""

    previous: Float[Array, "*batch n0"]
    action: Float[Array, "*batch action"]


class Diagnostics(NamedTuple):
    """How inference went, returned by every `infer` call."""

    free_energy: Float[Array, " steps_plus_1"]  # F before the first step and after each step (the last F after
    # the steps an early exit did not take)
    layer_errors: Float[Array, " layers"]  # mean squared prediction error (z - mu)^2 per layer, at the end
    steps: Int[Array, ""]  # the steps taken (`steps`, or fewer after an early exit)
    ops: Float[Array, ""]  # synaptic operations of the call (`inference_ops`)


class PCStack(eqx.Module):
    """A chain of predictive-coding layers `sizes[0] -> sizes[1] -> ... -> sizes[-1]` (see the module docstring).

    States are tuples of per-layer vectors: `infer`, `prediction_errors`, `free_energy` take one sample (vmap
    them over samples or over a population of stacks); `learn` takes a batch (leading axis) and averages.
    """

    weights: tuple[Float[Array, "n_l n_prev"], ...]  # W_l, l = 1..L
    biases: tuple[Float[Array, " n_l"], ...]  # b_l, l = 1..L
    feedback: tuple[Float[Array, "n_prev n_l"], ...] | None  # E_l, l = 1..L (None: errors go back through W^T)
    prior_mean: Float[Array, " n0"]  # m
    variances: tuple[Float[Array, " n_l"], ...]  # v_l, l = 0..L
    transition: Float[Array, "n0 n0"] | None  # A (temporal stacks only)
    action_weights: Float[Array, "n0 action"] | None  # B (temporal stacks only)
    sizes: tuple[int, ...] = eqx.field(static=True)
    activation: tuple[str, ...] = eqx.field(static=True)  # f of each layer that predicts (all but the sink)
    steps: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    precondition: bool = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)
    precision_learning_rate: tuple[float, ...] = eqx.field(static=True)  # per layer
    min_variance: float = eqx.field(static=True)
    action_size: int | None = eqx.field(static=True)  # None: not temporal
    unroll: int = eqx.field(static=True)
    settle_tolerance: float = eqx.field(static=True)  # 0: always `steps` steps

    def __init__(
        self,
        sizes,
        *,
        activation: str | tuple[str, ...] = "tanh",
        steps: int = 20,
        dt: float = 0.1,
        precondition: bool = False,
        integrator: str = "euler",
        learning_rate: float = 0.01,
        precision_learning_rate: float | tuple[float, ...] = 0.0,
        variance: float | tuple[float, ...] = 1.0,
        min_variance: float = 1e-2,
        feedback: bool = False,
        action_size: int | None = None,
        unroll: int = 1,
        settle_tolerance: float = 0.0,
        key: PRNGKeyArray,
    ):
        """`sizes`: widths from the source (layer 0) to the sink; `activation`: a name in `ACTIVATIONS`, or one
        per layer but the sink (e.g. ("identity", "tanh", "tanh") for raw inputs at the source); `steps` and `dt`
        of inference with `integrator` in `INTEGRATORS`, `precondition`ed or not; `learning_rate` of the synapses;
        `variance`: the initial variances and `precision_learning_rate` their learning rates, each one for all
        layers or one per layer (rate 0: fixed; learned variances are floored at `min_variance`);
        `feedback`: learned feedback synapses (NGC); `action_size`: a temporal stack (world model) whose source
        prior is conditioned on the previous source state and an action of this width; `unroll`: scan unrolling;
        `settle_tolerance`: inference stops once free energy has settled to this relative change (0: never early).
        Weights start uniform in +-1/sqrt(fan_in) (as `eqx.nn.Linear`), A and B at zero."""
        sizes = tuple(int(n) for n in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least 2 layer widths, each >= 1, got {sizes}")
        activation = (activation,) * (len(sizes) - 1) if isinstance(activation, str) else tuple(activation)
        if len(activation) != len(sizes) - 1:
            raise ValueError(f"need one activation per layer but the sink ({len(sizes) - 1}), got {activation}")
        for name in activation:
            if name not in ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}")
        if integrator not in INTEGRATORS:
            raise ValueError(f"unknown integrator {integrator!r}; valid: {list(INTEGRATORS)}")
        if steps < 1 or unroll < 1:
            raise ValueError(f"steps and unroll must be >= 1, got steps={steps}, unroll={unroll}")
        precision_learning_rate = _per_layer(precision_learning_rate, len(sizes), "precision_learning_rate")
        variance = _per_layer(variance, len(sizes), "variance")
        if not (dt > 0 and learning_rate >= 0 and min(precision_learning_rate) >= 0):
            raise ValueError(
                f"need dt > 0 and learning rates >= 0, got dt={dt}, learning_rate={learning_rate}, "
                f"precision_learning_rate={precision_learning_rate}"
            )
        if not 0 < min_variance <= min(variance):
            raise ValueError(f"need 0 < min_variance <= variance, got {min_variance} and {variance}")
        if not settle_tolerance >= 0:
            raise ValueError(f"settle_tolerance must be >= 0, got {settle_tolerance}")
        if action_size is not None and action_size < 0:
            raise ValueError(f"action_size must be >= 0 (or None), got {action_size}")
        keys = jax.random.split(key, 2 * (len(sizes) - 1))
        pairs = list(zip(sizes[:-1], sizes[1:]))
        bound = [1.0 / np.sqrt(n_prev) for n_prev, _ in pairs]
        self.weights = tuple(
            jax.random.uniform(k, (n, n_prev), minval=-s, maxval=s) for k, (n_prev, n), s in zip(keys, pairs, bound)
        )
        self.biases = tuple(
            jax.random.uniform(k, (n,), minval=-s, maxval=s) for k, (_, n), s in zip(keys[len(pairs) :], pairs, bound)
        )
        self.feedback = tuple(w.T for w in self.weights) if feedback else None
        self.prior_mean = jnp.zeros(sizes[0])
        self.variances = tuple(jnp.full(n, v) for n, v in zip(sizes, variance))
        temporal = action_size is not None
        self.transition = jnp.zeros((sizes[0], sizes[0])) if temporal else None
        self.action_weights = jnp.zeros((sizes[0], action_size)) if temporal else None
        self.sizes = sizes
        self.activation = activation
        self.steps = int(steps)
        self.dt = float(dt)
        self.precondition = bool(precondition)
        self.integrator = integrator
        self.learning_rate = float(learning_rate)
        self.precision_learning_rate = precision_learning_rate
        self.min_variance = float(min_variance)
        self.action_size = None if action_size is None else int(action_size)
        self.unroll = int(unroll)
        self.settle_tolerance = float(settle_tolerance)

    @property
    def num_layers(self) -> int:
        """Number of layers, source and sink included."""
        return len(self.sizes)

    # --- checks at the Python boundary (shapes are static, so these run eagerly even under jit) ---

    def _check_layers(self, arrays, name: str, batched: bool = False) -> None:
        """One float array per layer, shaped (n_l,) or (batch, n_l)."""
        if len(arrays) != self.num_layers:
            raise ValueError(f"{name} must have one array per layer ({self.num_layers}), got {len(arrays)}")
        for l, (x, n) in enumerate(zip(arrays, self.sizes)):
            shape = jnp.shape(x)
            expected = f"(batch, {n})" if batched else f"({n},)"
            if (len(shape) != 1 + batched) or shape[-1] != n:
                raise ValueError(f"{name}[{l}] must have shape {expected}, got {shape}")
            if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
                raise TypeError(f"{name}[{l}] must be a float array, got dtype {jnp.result_type(x)}")

    def _check_context(self, context, batched: bool = False) -> None:
        if context is None:
            return
        if self.action_size is None:
            raise ValueError("a context (previous state, action) needs a temporal stack: build it with action_size")
        lead = context.previous.shape[:-1]
        if batched and len(lead) != 1:
            raise ValueError(f"context.previous must be batched (batch, {self.sizes[0]}), got {context.previous.shape}")
        if context.previous.shape != (*lead, self.sizes[0]):
            raise ValueError(f"context.previous must have width {self.sizes[0]}, got shape {context.previous.shape}")
        if context.action.shape != (*lead, self.action_size):
            raise ValueError(f"context.action must have shape {(*lead, self.action_size)}, got {context.action.shape}")

    def _masks(self, masks):
        """Checked masks, or None when every unit is on."""
        if masks is not None:
            self._check_layers(masks, "masks")
        return masks

    # --- the generative model ---

    def _activity(self, z, l: int, masks):
        """f(z_l), silenced where masked: what layer l sends to the layer it predicts."""
        a = ACTIVATIONS[self.activation[l]][0](z)
        return a if masks is None else a * masks[l]

    def _predict(self, l: int, activity_prev):
        """mu_l = W_l f(z_{l-1}) + b_l (l >= 1); works on one sample or a batch."""
        return activity_prev @ self.weights[l - 1].T + self.biases[l - 1]

    def source_mean(self, context: Context | None = None, masks: Masks = None) -> Float[Array, "*batch n0"]:
        """mu_0 = m (+ A f(z_0') + B u in a temporal stack given a context)."""
        masks = self._masks(masks)
        self._check_context(context)
        if context is None:
            return self.prior_mean
        previous = self._activity(context.previous, 0, masks)
        return self.prior_mean + previous @ self.transition.T + context.action @ self.action_weights.T

    def propagate(self, source: Float[Array, " n0"], masks: Masks = None) -> States:
        """The mean pass z_0 = source, z_l = mu_l: a discriminative stack's prediction, a generative stack's
        reconstruction (from the top latent) or sample (from a prior draw), and the usual initial states."""
        masks = self._masks(masks)
        states = [source if masks is None else source * masks[0]]
        for l in range(1, self.num_layers):
            mu = self._predict(l, self._activity(states[-1], l - 1, masks))
            states.append(mu if masks is None else mu * masks[l])
        return tuple(states)

    def prediction_errors(self, states: States, context: Context | None = None, masks: Masks = None):
        """Per layer, the raw errors z_l - mu_l and the precision-weighted errors e_l (zero where masked)."""
        masks = self._masks(masks)
        self._check_layers(states, "states")
        mu = [self.source_mean(context, masks)]
        mu += [self._predict(l, self._activity(states[l - 1], l - 1, masks)) for l in range(1, self.num_layers)]
        return self._errors(states, mu, masks)

    def _errors(self, states, mu, masks):
        diffs = tuple(z - m for z, m in zip(states, mu))
        if masks is not None:
            diffs = tuple(d * k for d, k in zip(diffs, masks))
        return diffs, tuple(d / v for d, v in zip(diffs, self.variances))

    def _log_variance_term(self, masks):
        """sum_l sum_i log(v_l,i) / 2 over the units that are on (constant during inference)."""
        if masks is None:
            return sum(0.5 * jnp.sum(jnp.log(v)) for v in self.variances)
        return sum(0.5 * jnp.sum(k * jnp.log(v)) for v, k in zip(self.variances, masks))

    def free_energy(self, states: States, context: Context | None = None, masks: Masks = None) -> Float[Array, ""]:
        """F (module docstring) of one sample's states."""
        diffs, errors = self.prediction_errors(states, context, masks)
        return self._energy(diffs, errors) + self._log_variance_term(masks)

    @staticmethod
    def _energy(diffs, errors):
        return sum(0.5 * jnp.vdot(d, e) for d, e in zip(diffs, errors))

    # --- inference: fast gradient flow of the free layers on F ---

    def infer(
        self,
        states: States,
        *,
        clamped: tuple[bool, ...],
        context: Context | None = None,
        masks: Masks = None,
    ) -> tuple[States, Diagnostics]:
        """Settles one sample's free layers (`clamped[l]` False) by `steps` steps of the gradient flow on F,
        starting from `states` (e.g. `propagate(...)` with the clamped values put in): one `lax.scan`, or with
        `settle_tolerance` one `lax.while_loop` that stops once F has settled (`_settle`)."""
        masks = self._masks(masks)
        self._check_layers(states, "states")
        self._check_context(context)
        clamped = tuple(bool(c) for c in clamped)
        if len(clamped) != self.num_layers:
            raise ValueError(f"clamped must have one flag per layer ({self.num_layers}), got {len(clamped)}")
        if masks is not None:
            states = tuple(z * k for z, k in zip(states, masks))
        last = self.num_layers - 1
        # Predictions from clamped layers (and the source prior) do not change during inference: computed once.
        fixed = {0: self.source_mean(context, masks)}
        for l in range(1, self.num_layers):
            if clamped[l - 1]:
                fixed[l] = self._predict(l, self._activity(states[l - 1], l - 1, masks))

        step_size = self._step_sizes()

        def flow(z):
            """-dF/dz for every layer (zero for clamped ones), with the raw and weighted errors it came from."""
            activity = {l: self._activity(z[l], l, masks) for l in range(last) if not clamped[l]}
            mu = [fixed[l] if l in fixed else self._predict(l, activity[l - 1]) for l in range(self.num_layers)]
            diffs, errors = self._errors(z, mu, masks)
            velocity = []
            for l in range(self.num_layers):
                if clamped[l]:
                    velocity.append(jnp.zeros_like(z[l]))
                    continue
                v = -errors[l]
                if l < last:
                    back = self.feedback[l] @ errors[l + 1] if self.feedback else errors[l + 1] @ self.weights[l]
                    gain = ACTIVATIONS[self.activation[l]][1](z[l], activity[l])
                    v = v + (gain if masks is None else gain * masks[l]) * back
                velocity.append(v)
            return velocity, diffs, errors

        def step(z, _):
            velocity, diffs, errors = flow(z)
            if self.integrator == "heun":
                trial = [zl + h * vl for zl, vl, h in zip(z, velocity, step_size)]
                velocity = [0.5 * (v1 + v2) for v1, v2 in zip(velocity, flow(trial)[0])]
            z = tuple(zl if c else zl + h * vl for zl, vl, h, c in zip(z, velocity, step_size, clamped))
            return z, self._energy(diffs, errors)

        constant = self._log_variance_term(masks)
        if self.settle_tolerance == 0:
            states, energies = jax.lax.scan(step, tuple(states), None, length=self.steps, unroll=self.unroll)
            taken = jnp.asarray(self.steps)
        else:
            states, energies, taken = self._settle(step, tuple(states), constant)
        _, diffs, errors = flow(states)
        final = self._energy(diffs, errors)
        if self.settle_tolerance > 0:  # the steps not taken hold the last F
            energies = jnp.where(jnp.arange(self.steps) < taken, energies, final)
        trace = jnp.append(energies, final) + constant
        layer_errors = jnp.stack([jnp.mean(d * d) for d in diffs])
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(z)) for z in states]))
        states = checked(
            states, ~finite, "predictive-coding inference diverged (non-finite states): lower dt or the learning rate"
        )
        ops = self.inference_ops(clamped, taken, temporal=context is not None, masks=masks)
        return states, Diagnostics(trace, layer_errors, taken, ops)

    def _settle(self, step, states: States, constant) -> tuple[States, Float[Array, " steps"], Int[Array, ""]]:
        """`step` until F has settled, |F_t - F_{t-1}| <= tol (|F_{t-1}| + eps), or for `steps` steps, in one
        `lax.while_loop` (vmapped, each sample stops on its own). `step(z, None) -> (z', energy of z)`, F = energy +
        `constant`. Returns the states, F before each step taken (0 after them), and the steps taken."""
        tolerance = self.settle_tolerance

        def running(carry):
            _, _, taken, settled = carry
            return (taken < self.steps) & ~settled

        def body(carry):
            z, energies, taken, _ = carry
            z, energy = step(z, None)
            previous, now = energies[jnp.maximum(taken - 1, 0)] + constant, energy + constant
            settled = (taken > 0) & (jnp.abs(now - previous) <= tolerance * (jnp.abs(previous) + SETTLE_EPS))
            return z, energies.at[taken].set(energy), taken + 1, settled

        start = (states, jnp.zeros(self.steps), jnp.asarray(0), jnp.asarray(False))
        states, energies, taken, _ = jax.lax.while_loop(running, body, start)
        return states, energies, taken

    # --- cost: synaptic operations (module docstring) ---

    def _widths(self, masks: Masks) -> list:
        """Per layer, the units that are on: its width, or with `masks` their (traced) count."""
        return [float(n) for n in self.sizes] if masks is None else [jnp.sum(k) for k in masks]

    def _synapses(self, masks: Masks) -> list:
        """|W_l| = n_l n_{l-1} for l = 1..L, counting only the units that are on."""
        n = self._widths(masks)
        return [n[l] * n[l - 1] for l in range(1, self.num_layers)]

    def prior_ops(self, temporal: bool, masks: Masks = None):
        """n_0 (n_0 + a): a temporal stack's source prior A f(z_0') + B u given a context; 0 without one."""
        n0 = self._widths(masks)[0]
        return n0 * (n0 + self.action_size) if temporal else 0.0

    def propagate_ops(self, masks: Masks = None):
        """S = sum_l |W_l|: one mean pass down the chain (`propagate`)."""
        return sum(self._synapses(masks))

    def inference_ops(self, clamped: tuple[bool, ...], steps, *, temporal: bool, masks: Masks = None):
        """prior + fixed (+ S with `precondition`) + steps evals (down + up) + down (module docstring):
        fixed = sum of |W_{l+1}| over clamped layers l, down = up = the same over free layers, evals 2 for Heun."""
        synapses = self._synapses(masks)
        fixed = sum(w for w, c in zip(synapses, clamped) if c)
        down = sum(w for w, c in zip(synapses, clamped) if not c)
        evals = 2 if self.integrator == "heun" else 1
        curvature = sum(synapses) if self.precondition else 0.0
        total = self.prior_ops(temporal, masks) + fixed + curvature + steps * evals * 2 * down + down
        return jnp.asarray(total, jnp.float32)

    def learn_ops(self, batch: int, *, temporal: bool, masks: Masks = None) -> Float[Array, ""]:
        """B (2 prior + 2 S (+ S with feedback) + sum_l n_l (+ sum_l n_l with learned precisions)) for a batch of
        B: the errors (prior and every W_l), the products dW (dA, dB; dE), the biases and prior mean (variances)."""
        synapses, units = sum(self._synapses(masks)), sum(self._widths(masks))
        feedback = synapses if self.feedback is not None else 0.0
        variances = units if max(self.precision_learning_rate) > 0 else 0.0
        per_sample = 2 * self.prior_ops(temporal, masks) + 2 * synapses + feedback + units + variances
        return jnp.asarray(batch * per_sample, jnp.float32)

    def fit_ops(self, batch: int) -> Float[Array, ""]:
        """`fit` of a batch of B: per sample a feedforward pass S and the hidden layers' inference (source and sink
        clamped; at `steps` steps: exact without an early exit, an upper bound with one), then `learn_ops`."""
        clamped = (True, *(False,) * (self.num_layers - 2), True)
        settle = self.propagate_ops() + self.inference_ops(clamped, self.steps, temporal=False)
        return batch * settle + self.learn_ops(batch, temporal=False)

    def _step_sizes(self):
        """Per layer, dt, or dt / H_l with `precondition` (module docstring)."""
        if not self.precondition:
            return [self.dt] * self.num_layers
        curvature = [1.0 / v for v in self.variances]
        for l, w in enumerate(self.weights):
            curvature[l] = curvature[l] + (1.0 / self.variances[l + 1]) @ (w * w)
        return [self.dt / h for h in curvature]

    # --- learning: slow local Hebbian steps ---

    def fit(self, x: Float[Array, "batch n0"], y: Float[Array, "batch nL"],
            sample_weights: Float[Array, " batch"] | None = None) -> "PCStack":
        """One supervised local learning step on a batch: the source clamped to `x` and the sink to `y`, the
        hidden layers settled on free energy from their feedforward values, then `learn`."""

        def settle(xi, yi):
            start = (*self.propagate(xi)[:-1], yi)
            clamped = (True, *(False,) * (self.num_layers - 2), True)
            return self.infer(start, clamped=clamped)[0]

        return self.learn(jax.vmap(settle)(x, y), sample_weights=sample_weights)

    def learn(
        self,
        states: States,
        *,
        context: Context | None = None,
        masks: Masks = None,
        sample_weights: Float[Array, " batch"] | None = None,
    ) -> "PCStack":
        """One local learning step from a batch of settled states (leading batch axis), averaged over the batch.
        Returns the new stack; synapses of masked units are left untouched. `sample_weights` scale each
        sample's plasticity (a modulatory third factor, e.g. for rare outcomes); the precisions learn unweighted."""
        masks = self._masks(masks)
        self._check_layers(states, "states", batched=True)
        self._check_context(context, batched=True)
        batch = states[0].shape[0]
        diffs, errors = jax.vmap(lambda s, c: self.prediction_errors(s, c, masks))(states, context)
        if sample_weights is not None:
            errors = tuple(e * sample_weights[:, None] for e in errors)
        activity = [self._activity(z, l, masks) for l, z in enumerate(states[:-1])]
        mask = (None,) * self.num_layers if masks is None else masks

        def plastic(old, delta, post, pre=None):
            """old + rate * delta, but bit-for-bit old wherever the post- or presynaptic unit is masked (0)."""
            new = old + self.learning_rate * delta
            if post is None:
                return new
            on = post if pre is None else post[:, None] * pre[None, :]
            return jnp.where(on > 0, new, old)

        d_weights = [errors[l].T @ activity[l - 1] / batch for l in range(1, self.num_layers)]
        updates = {
            "weights": tuple(
                plastic(w, dw, mask[l], mask[l - 1]) for l, (w, dw) in enumerate(zip(self.weights, d_weights), 1)
            ),
            "biases": tuple(plastic(b, jnp.mean(errors[l], 0), mask[l]) for l, b in enumerate(self.biases, 1)),
            "prior_mean": plastic(self.prior_mean, jnp.mean(errors[0], 0), mask[0]),
        }
        if self.feedback is not None:
            updates["feedback"] = tuple(
                plastic(e, dw.T, mask[l - 1], mask[l]) for l, (e, dw) in enumerate(zip(self.feedback, d_weights), 1)
            )
        if context is not None:
            previous = self._activity(context.previous, 0, masks)
            updates["transition"] = plastic(self.transition, errors[0].T @ previous / batch, mask[0], mask[0])
            action_on = None if masks is None else jnp.ones(self.action_size)
            updates["action_weights"] = plastic(
                self.action_weights, errors[0].T @ context.action / batch, mask[0], action_on
            )
        if max(self.precision_learning_rate) > 0:
            updates["variances"] = tuple(
                self._learn_variance(v, jnp.mean(d * d, 0), rate, mask[l])
                for l, (v, d, rate) in enumerate(zip(self.variances, diffs, self.precision_learning_rate))
            )
        names = list(updates)
        new = eqx.tree_at(lambda s: [getattr(s, n) for n in names], self, [updates[n] for n in names])
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(updates)]))
        return checked(
            new, ~finite, "predictive-coding learning diverged (non-finite parameters): lower the learning rate"
        )

    def _learn_variance(self, variance, mean_square_error, rate: float, mask):
        """v <- max(v + rate * (<(z - mu)^2> - v), min_variance); unchanged where masked."""
        if rate == 0:
            return variance
        new = jnp.maximum(variance + rate * (mean_square_error - variance), self.min_variance)
        return new if mask is None else jnp.where(mask > 0, new, variance)

    # --- generation and prediction ---

    def sample(self, *, key: PRNGKeyArray, context: Context | None = None, masks: Masks = None) -> States:
        """Ancestral sample: z_0 ~ N(mu_0, v_0) from the learned source prior, then the mean pass down the chain."""
        mean = self.source_mean(context, masks)
        return self.propagate(mean + jnp.sqrt(self.variances[0]) * jax.random.normal(key, mean.shape), masks)

    def predict_next(
        self, latent: Float[Array, " n0"], action: Float[Array, " action"], masks: Masks = None
    ) -> Float[Array, " sink"]:
        """World model (temporal stacks): the expected next sink (observation) after `action` from `latent`."""
        return self.propagate(self.source_mean(Context(latent, action), masks), masks)[-1]
