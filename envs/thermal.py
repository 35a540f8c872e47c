"""mortal/ThermalForager-v0: the forager with a body temperature to defend as well.

Body temperature has set-point 38 C and viable range 34-42 C. It relaxes towards the ambient
temperature (sunny ground is hot, shaded patches are cool) with `conductance` per step, rises with motor
effort (`motor_heat` per unit effort) and falls with evaporative cooling, a third action in [-1, 1]
(active when > 0) that costs water. Extero adds egocentric proximity bins of the shade patches and a skin
sensor reading (ambient - 38) / 4.
"""

import mujoco
import numpy as np
from gymnasium import spaces

from envs.forager import ForagerEnv
from homeostasis import Physiology

SHADE_COLOUR = (0.25, 0.35, 0.25, 0.55)


class ThermalForagerEnv(ForagerEnv):
    """See the module docstring; every `ForagerEnv` keyword applies too."""

    def __init__(
        self,
        sun_temperature: float = 44.0,
        shade_temperature: float = 32.0,
        conductance: float = 0.002,
        motor_heat: float = 0.01,
        cooling_rate: float = 0.02,
        cooling_water_cost: float = 0.0005,
        temperature_set_point: float = 38.0,
        temperature_range: tuple[float, float] = (34.0, 42.0),
        num_shades: int = 2,
        shade_radius: float = 0.9,
        **forager_kwargs,
    ):
        if "water" not in forager_kwargs.get("resources", ("food", "water")):
            raise ValueError("ThermalForager needs a 'water' resource: cooling costs water")
        self.thermal = dict(
            sun=sun_temperature, shade=shade_temperature, conductance=conductance, motor_heat=motor_heat,
            cooling_rate=cooling_rate, cooling_water_cost=cooling_water_cost,
            set_point=temperature_set_point, range=temperature_range,
        )
        self.shade_radius = shade_radius
        self.shade_xy = np.zeros((num_shades, 2))
        super().__init__(**forager_kwargs)

    def _make_physiology(self, item_amount, decay, effort_cost, set_point, viable_range) -> Physiology:
        base = super()._make_physiology(item_amount, decay, effort_cost, set_point, viable_range)
        t = self.thermal
        cooling = np.zeros(len(base.names) + 1)
        cooling[base.names.index("water")] = -t["cooling_water_cost"]
        cooling[-1] = -t["cooling_rate"]
        return Physiology(
            names=(*base.names, "temperature"),
            event_names=(*base.event_names, "cooling"),
            set_point=np.append(base.set_point, t["set_point"]),
            low=np.append(base.low, t["range"][0]),
            high=np.append(base.high, t["range"][1]),
            decay=np.append(base.decay, 0.0),
            effort_gain=np.append(base.effort_gain, t["motor_heat"]),
            effects=np.vstack([np.pad(base.effects, ((0, 0), (0, 1))), cooling]),
            conductance=np.append(base.conductance, t["conductance"]),
        )

    @property
    def sensors(self) -> tuple[tuple[str, int], ...]:
        return (*super().sensors, ("shade", self.num_bins), ("skin", 1))

    def _set_action_space(self):
        motor = super()._set_action_space()
        self.action_space = spaces.Box(
            np.append(motor.low, -1.0).astype(np.float32), np.append(motor.high, 1.0).astype(np.float32)
        )
        return self.action_space

    def _decorate(self, spec: mujoco.MjSpec) -> None:
        super()._decorate(spec)
        for i in range(len(self.shade_xy)):
            body = spec.worldbody.add_body(name=f"shade{i}", mocap=True, pos=[0, 0, 0.002])
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[self.shade_radius, 0.001, 0], rgba=list(SHADE_COLOUR)
            )

    def reset_model(self):
        first_shade = len(self.item_kind)
        for i in range(len(self.shade_xy)):
            self.shade_xy[i] = self._free_point(avoid=np.empty((0, 2)), clearance=0.0)
            self.data.mocap_pos[first_shade + i, :2] = self.shade_xy[i]
        return super().reset_model()

    def state_dict(self) -> dict:
        return {**super().state_dict(), "shade_xy": self.shade_xy.copy()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "shade_xy"})
        self.shade_xy = np.array(state["shade_xy"], np.float64)

    def _events(self, eaten: np.ndarray, action: np.ndarray) -> np.ndarray:
        return np.append(eaten, max(float(action[-1]), 0.0))

    def _ambient(self) -> float:
        in_shade = np.any(np.sum((self.shade_xy - self.data.qpos[:2]) ** 2, axis=1) < self.shade_radius**2)
        return self.thermal["shade"] if in_shade else self.thermal["sun"]

    def _extero(self) -> np.ndarray:
        skin = (self._ambient() - self.thermal["set_point"]) / 4.0
        shade = self._bins(self.shade_xy, np.zeros(len(self.shade_xy), int), 1)
        return np.concatenate([super()._extero(), shade, [skin]])
