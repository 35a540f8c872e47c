"""Action selection by the basal ganglia: a rate model of striatum, STN, GPe, GPi and thalamus.

The circuit is Gurney, Prescott & Redgrave's (2001) as parameterised in Nengo's `BasalGanglia`: the
striatum (D1, D2) is driven by each channel's salience, the subthalamic nucleus (STN) excites the pallidum
diffusely, the GPe damps the STN, and the GPi tonically inhibits the thalamus except where D1 striatal
activity silences it. The thalamus (as in Humphries & Gurney's 2002 thalamo-cortical extension) is driven
by the cortical salience, gated by the GPi, and its channels compete through reticular (TRN) inhibition from
their strongest rival (so settling takes as long for 64 channels as for 2); its activity is the
disinhibition, ~1 for the released channel and ~0 elsewhere.

Every population is a piecewise-linear rate unit `r = max(u - threshold, 0)` whose output is low-passed
by its synapse, `tau dr_f/dt = r - r_f` (AMPA 2 ms for the STN, GABA 8 ms for the others), integrated
exactly over steps of `dt` inside one `lax.fori_loop`.

Salience normalisation: saliences may arrive on any scale, so the circuit sees
`x_i = 1 + (s_i - max(max_j s_j, floor)) / salience_scale`. The best channel lands at 1, in the middle of
the range where the circuit works best (0.5-1.5, Nengo), whatever the saliences' offset (expected free
energy is only defined up to a constant); `salience_scale` is the salience difference that counts as
decisive (a channel more than ~1.2 scales below the best leaves the striatum silent). When even the best
salience lies below `floor`, the whole pattern sinks with it, and about 0.5 scales below the floor nothing
is released: "none".

Cost (`brain.base`: synaptic operations): per settling step and channel, 12 synapses (D1 and D2 from the
cortex; the STN from the cortex and the GPe; the GPe from D2 and the diffuse STN; the GPi from D1, the diffuse
STN and the GPe; the thalamus from the cortex, the GPi and its strongest rival through the TRN) and one more
for the diffuse STN sum: a `select` costs 13 C x `num_steps`.

Hysteresis: the population activities are the state carried from one control step to the next, so the
released channel holds the TRN inhibition of its rivals; a rival takes over only once the GPi inhibits the
incumbent, i.e. once the rival is clearly more salient. Near-equal saliences therefore do not chatter.
"""

import numbers
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from brain.base import AbstractGate, Selection, finite_salience

# Gurney, Prescott & Redgrave (2001) weights and thresholds, as in Nengo's BasalGanglia.
_LG, _LE = 0.2, 0.2  # dopamine's boost of D1 (1 + lg) and damping of D2 (1 - le)
_WP, _WE = 0.9, 0.3  # STN -> GPe/GPi (diffuse), GPe -> GPi
_E, _EP, _EE, _EG = 0.2, -0.25, -0.2, -0.2  # thresholds of striatum, STN, GPe, GPi


class CircuitState(NamedTuple):
    """Synaptically filtered rates of each population, one entry per channel."""

    striatum_d1: Float[Array, " channels"]
    striatum_d2: Float[Array, " channels"]
    stn: Float[Array, " channels"]
    gpe: Float[Array, " channels"]
    thalamus: Float[Array, " channels"]


def _strongest_rival(activity: Float[Array, " channels"]) -> Float[Array, " channels"]:
    """For each channel, the largest activity among the other channels."""
    leader = jnp.argmax(activity)
    runner_up = jnp.max(activity.at[leader].set(-jnp.inf))
    return jnp.where(jnp.arange(activity.shape[0]) == leader, runner_up, activity[leader])


class BasalGanglia(AbstractGate):
    """Selects the most salient channel by selective disinhibition; `none` when nothing stands out.

    `select` settles the circuit for `num_steps` steps of `dt` seconds from the carried state. The
    channel released is the most active thalamic channel if its activity exceeds `release_threshold`.
    """

    num_channels: int = eqx.field(static=True)
    """competing action channels (>= 2)"""
    salience_scale: float = eqx.field(static=True, default=0.25, kw_only=True)
    """the salience difference mapped onto one unit of the circuit's input"""
    floor: float = eqx.field(static=True, default=0.0, kw_only=True)
    """the salience the best channel must reach to be placed at the top of the working range"""
    num_steps: int = eqx.field(static=True, default=32, kw_only=True)
    """settling steps per `select`, each `dt` seconds"""
    dt: float = eqx.field(static=True, default=0.002, kw_only=True)
    tau_ampa: float = eqx.field(static=True, default=0.002, kw_only=True)
    """synaptic time constants in seconds: AMPA, GABA, thalamus"""
    tau_gaba: float = eqx.field(static=True, default=0.008, kw_only=True)
    tau_thalamus: float = eqx.field(static=True, default=0.005, kw_only=True)
    gpi_weight: float = eqx.field(static=True, default=3.0, kw_only=True)
    """strength of the GPi's inhibition of the thalamus (Nengo's output weight, 3)"""
    trn_weight: float = eqx.field(static=True, default=2.0, kw_only=True)
    """strength of the reticular inhibition between thalamic channels (> 1 for a winner)"""
    release_threshold: float = eqx.field(static=True, default=0.5, kw_only=True)
    """thalamic activity above which the winning channel counts as selected"""
    tie_noise: float = eqx.field(static=True, default=1e-3, kw_only=True)
    """amplitude of the input jitter that breaks exact ties (in circuit units)"""

    def __check_init__(self):
        if not isinstance(self.num_channels, numbers.Integral) or self.num_channels < 2:
            raise ValueError(f"num_channels must be an integer >= 2, got {self.num_channels!r}")
        for name in ("salience_scale", "dt", "tau_ampa", "tau_gaba", "tau_thalamus", "gpi_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not isinstance(self.num_steps, numbers.Integral) or self.num_steps < 1:
            raise ValueError(f"num_steps must be an integer >= 1, got {self.num_steps!r}")
        if not self.trn_weight > 1:
            raise ValueError(f"trn_weight must be > 1 for one channel to win, got {self.trn_weight!r}")
        if not 0 < self.release_threshold < 1:
            raise ValueError(f"release_threshold must lie in (0, 1), got {self.release_threshold!r}")
        if not self.tie_noise >= 0:
            raise ValueError(f"tie_noise must be >= 0, got {self.tie_noise!r}")

    def init_state(self) -> CircuitState:
        """The circuit at rest: every population silent."""
        zeros = jnp.zeros(self.num_channels)
        return CircuitState(zeros, zeros, zeros, zeros, zeros)

    def normalise(self, salience: Float[Array, " channels"]) -> Float[Array, " channels"]:
        """Cortical input `x = 1 + (s - max(max s, floor)) / salience_scale` (see the module docstring)."""
        reference = jnp.maximum(jnp.max(salience), self.floor)
        return 1.0 + (salience - reference) / self.salience_scale

    def _step(self, state: CircuitState, x: Float[Array, " channels"]) -> CircuitState:
        """One exact low-pass step of every population towards its rate given the current inputs."""
        d1_rate = jax.nn.relu((1 + _LG) * x - _E)
        d2_rate = jax.nn.relu((1 - _LE) * x - _E)
        stn_rate = jax.nn.relu(x - state.gpe - _EP)
        # The STN projects diffusely: normalised by the channel count (weight wp/n per pair), the
        # STN-GPe loop gain stays 0.9 whatever the number of channels (Nengo's plain sum grows as 0.9n).
        diffuse = _WP * jnp.mean(state.stn)
        gpe_rate = jax.nn.relu(-state.striatum_d2 + diffuse - _EE)
        gpi_rate = jax.nn.relu(-state.striatum_d1 + diffuse - _WE * state.gpe - _EG)
        thalamus_rate = jnp.clip(
            x - self.gpi_weight * gpi_rate - self.trn_weight * _strongest_rival(state.thalamus), 0.0, 1.0
        )

        def toward(filtered, rate, tau):
            return filtered + (1.0 - np.exp(-self.dt / tau)) * (rate - filtered)

        return CircuitState(
            striatum_d1=toward(state.striatum_d1, d1_rate, self.tau_gaba),
            striatum_d2=toward(state.striatum_d2, d2_rate, self.tau_gaba),
            stn=toward(state.stn, stn_rate, self.tau_ampa),
            gpe=toward(state.gpe, gpe_rate, self.tau_gaba),
            thalamus=toward(state.thalamus, thalamus_rate, self.tau_thalamus),
        )

    def select(
        self, state: CircuitState, salience: Float[Array, " channels"], *, key: PRNGKeyArray
    ) -> tuple[CircuitState, Selection]:
        """Settles the circuit on `salience` from `state`; returns the new state and the selection."""
        salience = jnp.asarray(salience)
        if salience.shape != (self.num_channels,):
            raise ValueError(f"salience must have shape ({self.num_channels},), got {salience.shape}")
        if not jnp.issubdtype(salience.dtype, jnp.floating):
            raise TypeError(f"salience must be a float array, got dtype {salience.dtype}")
        salience = finite_salience(salience, "basal-ganglia")
        x = self.normalise(salience) + self.tie_noise * jax.random.uniform(key, salience.shape)
        state = jax.lax.fori_loop(0, self.num_steps, lambda _, s: self._step(s, x), state)
        channel = jnp.argmax(state.thalamus)
        selected = state.thalamus[channel] > self.release_threshold
        selection = Selection(
            channel=jnp.where(selected, channel, -1),
            disinhibition=state.thalamus,
            selected=selected,
            ops=self.select_ops(),
        )
        return state, selection

    def select_ops(self) -> Float[Array, ""]:
        """13 C x `num_steps` (module docstring)."""
        return jnp.float32(13 * self.num_channels * self.num_steps)


def separable_saliences(num_channels: int, num_trials: int, seed: int, min_gap: float = 0.05):
    """Test trials: saliences uniform in [0, 1] whose two largest differ by at least `min_gap` (rejection sampling:
    few 64-channel draws have such a gap). The selection benchmark's distribution, shared by tests and suites."""
    rng = np.random.default_rng(seed)
    kept = np.empty((0, num_channels))
    while len(kept) < num_trials:
        salience = rng.uniform(0, 1, (4096, num_channels))
        top2 = np.sort(salience, axis=1)[:, -2:]
        kept = np.concatenate([kept, salience[top2[:, 1] - top2[:, 0] >= min_gap]])
    return jnp.asarray(kept[:num_trials], jnp.float32)
