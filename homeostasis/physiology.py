"""A body's internal variables: set-points, viable ranges, and how they change each step.

One step of interoceptive dynamics, for every variable i:

    h_i' = h_i - decay_i + effort_gain_i * effort + computation_gain_i * ops + sum_e events_e * effects_ei
           + conductance_i * (ambient - h_i)

- `decay`: metabolic loss per step (negative for a steady heat source);
- `effort_gain`: change per unit of motor effort (a cost < 0 for nutrients, motor heat > 0 for temperature);
- `computation_gain`: change per synaptic operation the brain computed that step (a cost < 0 for nutrients:
  thinking costs food; 0, the default, makes computing free);
- `effects`: change per unit of each event (an item of food eaten, a step of evaporative cooling);
- `conductance`: heat exchange with the surroundings (0 for variables that are not temperatures).

The body dies when a variable leaves its viable range [low, high]. A `Physiology` is a pytree of arrays:
numpy in the worlds, JAX in the agents (`jax.tree.map(jnp.asarray, physiology)`).
"""

import dataclasses

import jax
import numpy as np

from homeostasis.drive import array_namespace, deviation, drive, homeostatic_reward


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Physiology:
    """Internal variables and their dynamics; see the module docstring for the update rule.

    A plain registered dataclass rather than an `eqx.Module`: the worlds call it every physics step from
    Python, where plain attribute access and methods are several times cheaper.
    """

    names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    event_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    set_point: np.ndarray
    low: np.ndarray
    high: np.ndarray
    decay: np.ndarray
    effort_gain: np.ndarray
    effects: np.ndarray  # [events, variables]
    conductance: np.ndarray
    computation_gain: np.ndarray | float = 0.0  # per variable, or one value for every variable
    n: float = dataclasses.field(default=4.0, metadata=dict(static=True))
    m: float = dataclasses.field(default=3.0, metadata=dict(static=True))

    def __post_init__(self):
        if not isinstance(self.set_point, np.ndarray):
            return  # rebuilt from JAX leaves by a transformation: checked when first built
        size = len(self.names)
        for field in ("set_point", "low", "high", "decay", "effort_gain", "conductance"):
            shape = np.shape(getattr(self, field))
            if shape != (size,):
                raise ValueError(f"Physiology.{field} has shape {shape}, expected ({size},) for {self.names}")
        if np.shape(self.computation_gain) not in ((), (size,)):
            raise ValueError(f"Physiology.computation_gain has shape {np.shape(self.computation_gain)}, expected () "
                             f"or ({size},) for {self.names}")
        if np.shape(self.effects) != (len(self.event_names), size):
            raise ValueError(
                f"Physiology.effects has shape {np.shape(self.effects)}, "
                f"expected ({len(self.event_names)}, {size}) for events {self.event_names}"
            )
        for name, s, lo, hi in zip(self.names, *map(np.asarray, (self.set_point, self.low, self.high))):
            if not lo < hi:
                raise ValueError(f"viable range of {name!r} is empty: low {lo} >= high {hi}")
            if not lo <= s <= hi:
                raise ValueError(f"set-point of {name!r} ({s}) lies outside its viable range [{lo}, {hi}]")

    @property
    def scale(self):
        """Distance from set-point to the farther viable bound: deviations are measured in these units."""
        xp = array_namespace(self.set_point)
        return xp.maximum(self.set_point - self.low, self.high - self.set_point)

    def step(self, h, events, effort, ambient=0.0, ops=0.0):
        """h' after one step (see the module docstring); `events` has one entry per event name, `ops` is the
        brain's synaptic operations that step."""
        xp = array_namespace(h)
        return (
            h
            - self.decay
            + self.effort_gain * effort
            + self.computation_gain * ops
            + xp.matmul(events, self.effects)
            + self.conductance * (ambient - h)
        )

    def deviation(self, h):
        """u = (h - h*) / scale per variable (`homeostasis.deviation`)."""
        return deviation(h, self.set_point, self.scale)

    def drive(self, h):
        return drive(h, self.set_point, self.scale, self.n, self.m)

    def reward(self, h, h_next):
        return homeostatic_reward(h, h_next, self.set_point, self.scale, self.n, self.m)

    def viable(self, h):
        """True while every variable lies inside its viable range."""
        xp = array_namespace(h)
        return xp.all((h >= self.low) & (h <= self.high), axis=-1)

    def cause_of_death(self, h) -> str:
        """Which variable left its range and how (e.g. "food below viable range"); "" while alive."""
        h = np.asarray(h)
        for name, value, lo, hi in zip(self.names, h, np.asarray(self.low), np.asarray(self.high)):
            if value < lo:
                return f"{name} below viable range"
            if value > hi:
                return f"{name} above viable range"
        return ""
