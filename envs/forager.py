"""mortal/Forager-v0: a rolling robot that must eat and drink to stay alive.

Defaults follow Yoshida et al.'s two-resource world so results compare: two internal variables (food,
water) with set-point 0, each decaying 0.00015 per step (`decay`: one rate, or one per resource), +0.1 per item
of its kind, death when |h| > 1, start uniform in +-1/6, 6 food + 4 water items in a small walled arena. Items
are consumed on contact and respawn elsewhere.

Observation `Dict(extero, intero)`:
- extero: for each resource, `num_bins` egocentric angular bins (bin 0 straight ahead, counter-clockwise),
  each holding the proximity `1 - d / sensing_range` of the nearest item of that kind in it (0 if none); with
  `tuning` > 0 the bins' receptive fields overlap, like a retina's: bin b holds the largest
  `proximity * exp(-(angle to the item - angle of b)^2 / (2 tuning^2))` over the items of its kind (angles in
  bins), so an item turning past a bin's edge changes the readings smoothly instead of jumping bins;
  then the body's velocity in its own frame (forward, lateral in m/s, yaw rate in rad/s; top speed is
  1 m/s straight and about 4 rad/s turning on the spot, clipped at +-MAX_SPEED);
- intero: the internal variables (clipped to their viable range at the step of death).
Initial internal state: set-point + uniform(+-initial_spread) in units of each variable's scale (the
distance from set-point to its farther viable bound), so +-1/6 for the nutrients.
Action: the left and right wheel commands in [-1, 1]. Reward: homeostatic, `D(h_t) - D(h_{t+1})`.

Thinking costs food (`computation_cost`, off by default): before each step the loop tells the world how many
synaptic operations the brain computed for it (`computation`, set through `VectorEnv.set_attr`), and every
nutrient loses `computation_cost` per operation that step (`Physiology.computation_gain`); `info["ops"]` says
what was charged. `COMPUTATION_COST` is the documented cost to turn it on with (see its comment).
"""

import dataclasses
from pathlib import Path

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv

from envs.state import StateError, mujoco_state, rng_state, set_mujoco_state, set_rng_state
from homeostasis import Physiology

ASSET = Path(__file__).resolve().parent / "assets" / "forager.xml"
ROBOT_RADIUS = 0.15
ITEM_RADIUS = 0.1
MAX_SPEED = 5.0
# Nutrient per synaptic operation to turn `computation_cost` on with: the default brain at full capacity (planning
# every step, every inference step: 1.12e5 operations per step, measured) then pays 1.5e-4 per step, the Forager's
# metabolic decay, which is what living and moving cost it (its effort_cost is 0).
COMPUTATION_COST = 1.3e-9
COLOURS = {"food": (0.85, 0.2, 0.15, 1.0), "water": (0.15, 0.4, 0.9, 1.0)}


class ForagerEnv(MujocoEnv):
    """A planar arena with resource items; see the module docstring."""

    metadata = {"render_modes": ["rgb_array", "depth_array"], "render_fps": 20}

    def __init__(
        self,
        resources: tuple[str, ...] = ("food", "water"),
        items: tuple[int, ...] = (6, 4),
        arena_half_width: float = 3.0,
        item_amount: float = 0.1,
        decay: float | tuple[float, ...] = 0.00015,
        effort_cost: float = 0.0,
        computation_cost: float = 0.0,
        set_point: float = 0.0,
        viable_range: tuple[float, float] = (-1.0, 1.0),
        initial_spread: float = 1 / 6,
        num_bins: int = 20,
        tuning: float = 0.0,
        sensing_range: float = 4.0,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
    ):
        if len(resources) != len(items):
            raise ValueError(f"resources {resources} and items {items} must have the same length")
        if any(n < 1 for n in items):
            raise ValueError(f"every resource needs at least one item, got items={items}")
        if arena_half_width <= 2 * (ROBOT_RADIUS + ITEM_RADIUS):
            raise ValueError(f"arena_half_width={arena_half_width} is too small for the robot and its items")
        self.resources = tuple(resources)
        self.item_kind = np.repeat(np.arange(len(items)), items)
        self.arena_half_width = arena_half_width
        self.num_bins = num_bins
        if not (np.isfinite(tuning) and tuning >= 0):
            raise ValueError(f"tuning must be finite and >= 0 (a bin's angular tuning width, in bins), got {tuning}")
        self.tuning = float(tuning)
        self.sensing_range = sensing_range
        self.initial_spread = initial_spread
        if not computation_cost >= 0:
            raise ValueError(f"computation_cost must be >= 0 (nutrient per synaptic operation), got {computation_cost}")
        self.computation_cost = float(computation_cost)
        physiology = self._make_physiology(item_amount, decay, effort_cost, set_point, viable_range)
        nutrients = np.isin(physiology.names, self.resources)
        self.physiology = dataclasses.replace(physiology, computation_gain=np.where(nutrients, -computation_cost, 0.0))
        self.computation = 0.0  # synaptic operations the brain computed for the next step (charged, then cleared)
        size = len(self.physiology.names)
        observation_space = spaces.Dict(
            extero=spaces.Box(-MAX_SPEED, MAX_SPEED, (self._extero_size(),), np.float32),
            intero=spaces.Box(
                np.asarray(self.physiology.low, np.float32), np.asarray(self.physiology.high, np.float32), (size,)
            ),
        )
        super().__init__(
            str(ASSET),
            frame_skip=5,
            observation_space=observation_space,
            render_mode=render_mode,
            width=width,
            height=height,
            default_camera_config={
                "distance": 3.4 * arena_half_width,
                "elevation": -90.0,
                "azimuth": 90.0,
                "lookat": np.zeros(3),
            },
        )
        self.internal_state = np.zeros(size)
        self.clock = 0  # steps since reset (what seasons and regrowth are timed by)
        self._drive = 0.0
        self.item_xy = np.zeros((len(self.item_kind), 2))
        self._shown_path: np.ndarray | None = None  # drawn into the next rendered frame (`show_path`)

    # -- construction -----------------------------------------------------------------------------
    def _make_physiology(self, item_amount, decay, effort_cost, set_point, viable_range) -> Physiology:
        n = len(self.resources)
        return Physiology(
            names=self.resources,
            event_names=self.resources,
            set_point=np.full(n, float(set_point)),
            low=np.full(n, float(viable_range[0])),
            high=np.full(n, float(viable_range[1])),
            decay=self._per_resource(decay, "decay"),
            effort_gain=np.full(n, -float(effort_cost)),
            effects=np.eye(n) * item_amount,
            conductance=np.zeros(n),
        )

    def _per_resource(self, value: float | tuple[float, ...], name: str) -> np.ndarray:
        """One value for every resource, or one per resource in order."""
        values = np.asarray(value, float)
        if values.ndim > 1 or values.size not in (1, len(self.resources)):
            raise ValueError(f"{name} must be one number or one per resource {self.resources}, got {value!r}")
        return np.broadcast_to(values, (len(self.resources),)).copy()

    @property
    def sensors(self) -> tuple[tuple[str, int], ...]:
        """The named segments of extero, in order: (name, width). Bodies with the same names share sensors."""
        return (*((resource, self.num_bins) for resource in self.resources), ("velocity", 3))

    def sensor_slices(self) -> dict[str, slice]:
        """Where each sensor lies in extero."""
        slices, start = {}, 0
        for name, width in self.sensors:
            slices[name] = slice(start, start + width)
            start += width
        return slices

    def _extero_size(self) -> int:
        return sum(width for _, width in self.sensors)

    def _initialize_simulation(self):
        """Builds the arena around the robot of `forager.xml` (walls, items) with MuJoCo's MjSpec."""
        spec = mujoco.MjSpec.from_file(str(ASSET))
        self._decorate(spec)
        model = spec.compile()
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def _decorate(self, spec: mujoco.MjSpec) -> None:
        half = self.arena_half_width
        for name, pos, size in (
            ("wall_north", (0, half + 0.05), (half + 0.1, 0.05)),
            ("wall_south", (0, -half - 0.05), (half + 0.1, 0.05)),
            ("wall_east", (half + 0.05, 0), (0.05, half + 0.1)),
            ("wall_west", (-half - 0.05, 0), (0.05, half + 0.1)),
        ):
            spec.worldbody.add_geom(
                name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=[*pos, 0.15], size=[*size, 0.15],
                rgba=[0.45, 0.42, 0.38, 1], contype=1, conaffinity=1,
            )
        for i, kind in enumerate(self.item_kind):
            body = spec.worldbody.add_body(name=f"item{i}", mocap=True, pos=[0, 0, ITEM_RADIUS])
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[ITEM_RADIUS, 0, 0],
                rgba=list(COLOURS.get(self.resources[kind], (0.3, 0.7, 0.3, 1.0))),
            )

    # -- the Gymnasium API -------------------------------------------------------------------------
    def reset_model(self):
        qpos = self.init_qpos.copy()
        qpos[:2] = self._free_point(avoid=np.empty((0, 2)), clearance=0.0)
        qpos[2] = self.np_random.uniform(-np.pi, np.pi)
        self.set_state(qpos, np.zeros_like(self.init_qvel))
        self.clock = 0
        self._place_items()
        mujoco.mj_forward(self.model, self.data)  # the items' bodies where they now are, for a frame at reset
        set_point, scale = np.asarray(self.physiology.set_point), np.asarray(self.physiology.scale)
        spread = self.initial_spread * scale
        self.internal_state = set_point + self.np_random.uniform(-spread, spread)
        return self._get_obs()

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        if options and "internal_state" in options:
            self.internal_state = self._checked_internal_state(options["internal_state"])
            obs = self._get_obs()
        self._drive = float(self.physiology.drive(self.internal_state))
        return obs, self._get_info(cause="")

    def step(self, action):
        action = self._checked_action(action)
        h = self.internal_state
        motor = action[: self.model.nu]
        self.do_simulation(motor, self.frame_skip)
        events = self._events(self._consume(), action)
        ops, self.computation = self._checked_computation(), 0.0
        h_next = self.physiology.step(h, events, effort=float(np.mean(motor**2)), ambient=self._ambient(), ops=ops)
        self.internal_state = h_next
        cause = self.physiology.cause_of_death(h_next)
        drive = float(self.physiology.drive(h_next))
        reward, self._drive = self._drive - drive, drive  # the homeostatic reward D(h) - D(h')
        result = self._get_obs(), reward, bool(cause), False, self._get_info(cause, events, ops)
        self.clock += 1
        return result

    # -- showing what a brain expects --------------------------------------------------------------
    def expected_path(self, extero: np.ndarray) -> np.ndarray:
        """The places [H + 1, 2] the body passes if it moves as the readings `extero` [H, extero] say: their
        velocity sensor integrated from where the body is now, p' = p + R(psi) (v_forward, v_lateral) dt and
        psi' = psi + yaw_rate dt."""
        forward, lateral, turn = np.asarray(extero, float)[:, self.sensor_slices()["velocity"]].T
        x, y, yaw = self.data.qpos[:3]
        heading = yaw + np.concatenate([[0.0], np.cumsum(turn[:-1] * self.dt)])
        c, s = np.cos(heading), np.sin(heading)
        steps = np.stack([c * forward - s * lateral, s * forward + c * lateral], axis=1) * self.dt
        return np.concatenate([[[x, y]], [x, y] + np.cumsum(steps, axis=0)])

    def show_path(self, points: np.ndarray) -> None:
        """Draws `points` [n, 2] as a trail of small spheres on the floor in the next rendered frame only."""
        self._shown_path = np.asarray(points, float)

    def render(self):
        path, self._shown_path = self._shown_path, None
        if path is not None and self.render_mode is not None:
            viewer = self.mujoco_renderer._get_viewer(self.render_mode)  # gymnasium draws, then clears, its markers
            for i, (x, y) in enumerate(path[1:]):
                fade = 1.0 - 0.6 * i / max(len(path) - 2, 1)
                viewer.add_marker(type=mujoco.mjtGeom.mjGEOM_SPHERE, pos=np.array([x, y, 0.04]),
                                  size=np.full(3, 0.05), rgba=np.array([1.0, 0.85, 0.1, fade]))
        return super().render()

    # -- checkpoints (see envs/state.py) -----------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a later step depends on: the MuJoCo state, the body, the items and the RNG."""
        return {"mujoco": mujoco_state(self), "rng": rng_state(self), "internal_state": self.internal_state.copy(),
                "drive": self._drive, "item_xy": self.item_xy.copy(), "clock": self.clock}

    def load_state_dict(self, state: dict) -> None:
        if np.shape(state["item_xy"]) != self.item_xy.shape:
            raise StateError(f"the saved world has {len(state['item_xy'])} items; this one has {len(self.item_xy)}")
        set_mujoco_state(self, state["mujoco"])
        set_rng_state(self, state["rng"])
        self.internal_state = np.array(state["internal_state"], np.float64)
        self._drive = float(state["drive"])
        self.item_xy = np.array(state["item_xy"], np.float64)
        self.clock = int(state.get("clock", 0))  # none in files saved before the Forager kept it (Seasons, Oasis did)

    # -- the body and its surroundings -------------------------------------------------------------
    def _events(self, eaten: np.ndarray, action: np.ndarray) -> np.ndarray:
        """The physiology's event vector for this step: items eaten per resource."""
        return eaten

    def _ambient(self) -> float:
        return 0.0

    def _consume(self) -> np.ndarray:
        """Eats every item the robot touches (respawning it elsewhere); returns the count per resource."""
        xy = self.data.qpos[:2]
        touching = np.flatnonzero(
            (np.sum((self.item_xy - xy) ** 2, axis=1) < (ROBOT_RADIUS + ITEM_RADIUS) ** 2) & self._present()
        )
        for i in touching:
            self._respawn(i)
        return np.bincount(self.item_kind[touching], minlength=len(self.resources)).astype(float)

    def _place_items(self) -> None:
        """Where the items start, at reset: each at a free point (a world with fixed resource places overrides it)."""
        for i in range(len(self.item_kind)):
            self._respawn(i)

    def _present(self) -> np.ndarray:
        """Which items are in the arena, to be sensed and eaten: all here (a world whose items deplete hides some)."""
        return np.ones(len(self.item_kind), bool)

    def _respawn(self, i: int) -> None:
        self.item_xy[i] = self._free_point(avoid=self.data.qpos[None, :2], clearance=1.0)
        self.data.mocap_pos[i, :2] = self.item_xy[i]

    def _free_point(self, avoid: np.ndarray, clearance: float) -> np.ndarray:
        """A uniform point in the arena at least `clearance` away from every point in `avoid`."""
        margin = self.arena_half_width - ROBOT_RADIUS - ITEM_RADIUS
        while True:
            point = self.np_random.uniform(-margin, margin, 2)
            if np.all(np.sum((avoid - point) ** 2, axis=1) >= clearance**2):
                return point

    def _bins(self, points: np.ndarray, kinds: np.ndarray, num_kinds: int, reach: float | None = None) -> np.ndarray:
        """Egocentric proximity bins, `num_bins` per kind: max of 1 - d / reach per angular bin (reach defaults to
        the sensing range; a landmark seen from afar has its own)."""
        x, y, yaw = self.data.qpos[:3]
        dx, dy = points[:, 0] - x, points[:, 1] - y
        bearing = np.arctan2(dy, dx) - yaw
        proximity = np.clip(1.0 - np.sqrt(dx * dx + dy * dy) / (reach or self.sensing_range), 0.0, 1.0)
        bins = np.zeros(num_kinds * self.num_bins)
        if self.tuning == 0:
            index = ((bearing * (1 / (2 * np.pi)) + 0.5 / self.num_bins) % 1.0 * self.num_bins).astype(int)
            np.maximum.at(bins, kinds * self.num_bins + index, proximity)
            return bins
        # each bin sees every item, weighted by a Gaussian of the item's angular distance from the bin's centre
        offset = (bearing[:, None] * (self.num_bins / (2 * np.pi)) - np.arange(self.num_bins)[None]
                  + self.num_bins / 2) % self.num_bins - self.num_bins / 2
        response = proximity[:, None] * np.exp(-0.5 * (offset / self.tuning) ** 2)
        np.maximum.at(bins.reshape(num_kinds, self.num_bins), kinds, response)
        return bins

    def _body_velocity(self) -> np.ndarray:
        vx, vy, yaw_rate = self.data.qvel[:3]
        yaw = self.data.qpos[2]
        c, s = np.cos(yaw), np.sin(yaw)
        return np.clip([c * vx + s * vy, -s * vx + c * vy, yaw_rate], -MAX_SPEED, MAX_SPEED)

    def _extero(self) -> np.ndarray:
        present = self._present()
        items = self._bins(self.item_xy[present], self.item_kind[present], len(self.resources))
        return np.concatenate([items, self._body_velocity()])

    def _get_obs(self):
        low, high = np.asarray(self.physiology.low), np.asarray(self.physiology.high)
        return {
            "extero": self._extero().astype(np.float32),
            "intero": np.clip(self.internal_state, low, high).astype(np.float32),
        }

    def _get_info(self, cause: str, events: np.ndarray | None = None, ops: float = 0.0) -> dict:
        return {
            "internal_state": self.internal_state.copy(),
            "drive": self._drive,
            "cause_of_death": cause,
            "events": np.zeros(len(self.physiology.event_names)) if events is None else events,
            "ops": ops,  # the brain's synaptic operations charged at this step (see `computation_cost`)
        }

    # -- input checks ------------------------------------------------------------------------------
    def _checked_action(self, action) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action has shape {action.shape}, expected {self.action_space.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or inf: {action}")
        return action

    def _checked_computation(self) -> float:
        ops = float(self.computation)
        if not (np.isfinite(ops) and ops >= 0):
            raise ValueError(f"computation (the brain's synaptic operations this step) must be finite and >= 0, "
                             f"got {self.computation!r}")
        return ops

    def _checked_internal_state(self, value) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if value.shape != self.internal_state.shape:
            raise ValueError(
                f"options['internal_state'] has shape {value.shape}, expected {self.internal_state.shape} "
                f"for {self.physiology.names}"
            )
        if not self.physiology.viable(value):
            raise ValueError(f"options['internal_state'] {value} lies outside the viable range")
        return value
