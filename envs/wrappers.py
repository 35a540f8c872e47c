"""Wrappers: `Homeostatic` turns any Gymnasium task into a mortal one; `Embodied` lets one body visit
several mortal worlds (the lessons of a curriculum).

Homeostatic: a task adapter (`envs.tasks`) says what the task means to a body. Its reward feeds an energy
store that decays each step, and the body dies when energy runs out (e' <= 0):

    e' = min(e - decay + reward_gain * r01, capacity),     r01 = (r - r_low) / (r_high - r_low) in [0, 1]

with the task's reward range (from the task table, or the range seen so far for other tasks), so a task
whose rewards are all negative still feeds the body (by default the worst rewards starve it only after
1,000 steps, and half-range rewards break even). The task's own termination is death only where the task
means failure (`termination="death"`); `"success"` ends the episode without death (`info["success"]`),
`"never"` tasks do not terminate. A task with internal variables of its own (`own=OwnVariables(...)`: where
they are in the observation or in `info`, their set-points and viable ranges) is used as it is, with no
energy store: its variables are the body's.

Energy (or the task's own variables) is the `homeostasis.Physiology` the mortal worlds use; the reward
becomes homeostatic, `D(h) - D(h')`, and the task's own reward moves to `info["task_reward"]`. Observations
become `Dict(extero=<the task's observation, flattened>, intero=<internal variables>)`.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.tasks import OwnVariables, task_spec
from homeostasis import Physiology


class Homeostatic(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """See the module docstring; `termination`, `reward_range` and `own` default to the task table's entry."""

    def __init__(
        self,
        env: gym.Env,
        decay: float | None = None,
        reward_gain: float | None = None,
        capacity: float = 1.0,
        initial_energy: float | None = None,
        termination: str | None = None,
        reward_range: tuple[float, float] | None = None,
        own: OwnVariables | None = None,
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self, decay=decay, reward_gain=reward_gain, capacity=capacity, initial_energy=initial_energy,
            termination=termination, reward_range=reward_range, own=own,
        )
        super().__init__(env)
        self.task = task_spec(env.spec.id if env.spec else None, termination=termination, reward_range=reward_range,
                              own=own)
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.decay = capacity / 1000 if decay is None else decay
        self.reward_gain = 2 * self.decay if reward_gain is None else reward_gain
        self.initial_energy = capacity if initial_energy is None else initial_energy
        if not 0 < self.initial_energy <= capacity:
            raise ValueError(f"initial_energy must lie in (0, capacity={capacity}], got {self.initial_energy}")
        self.capacity = capacity
        self._seen = [np.inf, -np.inf]  # the reward range seen so far, for tasks not in the table
        if self.task.own is not None:
            self.physiology = self.task.own.physiology()
        else:
            self.physiology = Physiology(
                names=("energy",), event_names=("task_reward",), set_point=np.array([capacity]), low=np.array([0.0]),
                high=np.array([capacity]), decay=np.array([self.decay]), effort_gain=np.zeros(1),
                effects=np.array([[self.reward_gain]]), conductance=np.zeros(1),
            )
        size = len(self.physiology.names)
        self.observation_space = spaces.Dict(
            extero=spaces.flatten_space(env.observation_space),
            intero=spaces.Box(np.asarray(self.physiology.low, np.float32), np.asarray(self.physiology.high, np.float32),
                              (size,), np.float32),
        )
        self.internal = np.array(self.physiology.set_point, dtype=np.float64)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.internal = self._own(obs, info) if self.task.own is not None else np.array([self.initial_energy])
        return self._observation(obs), {**info, **self._info(cause="", task_reward=0.0, success=False)}

    def step(self, action):
        if not np.all(np.isfinite(np.asarray(action, float))):
            raise ValueError(f"non-finite action {action} for the task {self.task.name}")
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        if not np.isfinite(task_reward):
            raise ValueError(f"the task {self.task.name} returned a non-finite reward {task_reward}")
        if self.task.own is not None:
            internal = self._own(obs, info)
        else:
            internal = np.minimum(self.physiology.step(self.internal, np.array([self._unit(task_reward)]), 0.0),
                                  self.capacity)
        reward = float(self.physiology.reward(self.internal, internal))
        self.internal = internal
        failed = terminated and self.task.termination == "death"
        if self.task.own is not None:
            cause = self.physiology.cause_of_death(internal)
        else:
            cause = "energy ran out" if internal[0] <= 0.0 else ""
        cause = cause or ("task failed" if failed else "")
        success = bool(terminated and not cause and self.task.termination == "success")
        ended = bool(cause) or (terminated and self.task.termination != "never")
        return (self._observation(obs), reward, ended, truncated,
                {**info, **self._info(cause, task_reward, success)})

    def state_dict(self) -> dict:
        """The body's internal variables and the reward range seen so far (see envs/state.py)."""
        return {"internal": self.internal.copy(), "seen": np.array(self._seen, np.float64)}

    def load_state_dict(self, state: dict) -> None:
        self.internal = np.array(state["internal"], np.float64)
        self._seen = [float(x) for x in state["seen"]]

    def _unit(self, reward: float) -> float:
        """The task reward mapped onto [0, 1] by its range (see the module docstring)."""
        if self.task.reward_range is not None:
            low, high = self.task.reward_range
        else:
            self._seen = [min(self._seen[0], reward, 0.0), max(self._seen[1], reward, 0.0)]
            low, high = self._seen
        return float(np.clip((reward - low) / (high - low), 0.0, 1.0)) if high > low else 0.5

    def _own(self, obs, info) -> np.ndarray:
        return self.task.own.read(spaces.flatten(self.env.observation_space, obs), info)

    def _observation(self, obs) -> dict:
        physiology = self.physiology
        return {
            "extero": spaces.flatten(self.env.observation_space, obs).astype(self.observation_space["extero"].dtype),
            "intero": np.clip(self.internal, physiology.low, physiology.high).astype(np.float32),
        }

    def _info(self, cause: str, task_reward: float, success: bool) -> dict:
        return {
            "internal_state": self.internal.copy(),
            "drive": float(self.physiology.drive(self.internal)),
            "cause_of_death": cause,
            "task_reward": float(task_reward),
            "success": success,
        }


class Embodied(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Lives in a mortal world through the body of another, so one agent can move between worlds unchanged.

    The body (`body`, a mortal world id made with `body_kwargs`) fixes what the agent has: its sensors, internal
    variables and actuators. The world must be a part of it: each of its sensors is one of the body's (same name
    and width), each of its internal variables one of the body's (same set-point and viable range), and its
    actuators the body's first ones. Sensors the world lacks read 0, internal variables it lacks read their
    set-point (no need, no drive) and actuators it lacks do nothing. `body` is the body's world, unwrapped: the
    agent takes its motor primitives from it.
    """

    def __init__(self, env: gym.Env, body: str, **body_kwargs):
        gym.utils.RecordConstructorArgs.__init__(self, body=body, **body_kwargs)
        super().__init__(env)
        world, self.body = env.unwrapped, gym.make(body, **body_kwargs).unwrapped
        for name, part in (("world", world), ("body", self.body)):
            if not hasattr(part, "sensors") or not hasattr(part, "physiology"):
                raise ValueError(f"Embodied needs mortal worlds with named sensors; the {name} is {type(part).__name__}")
        body_sensors = self.body.sensor_slices()
        self._extero_at = []
        for name, width in world.sensors:
            if (name, width) not in self.body.sensors:
                raise ValueError(f"sensor {name!r} (width {width}) of {env.spec.id if env.spec else world} is not "
                                 f"part of the body {body}: its sensors are {self.body.sensors}")
            self._extero_at.extend(range(body_sensors[name].start, body_sensors[name].stop))
        own, theirs = self.body.physiology, world.physiology
        self._intero_at = []
        for i, name in enumerate(theirs.names):
            if name not in own.names:
                raise ValueError(f"internal variable {name!r} is not part of the body {body}: it has {own.names}")
            j = own.names.index(name)
            if (own.set_point[j], own.low[j], own.high[j]) != (theirs.set_point[i], theirs.low[i], theirs.high[i]):
                raise ValueError(f"internal variable {name!r} has another set-point or viable range in the body {body}")
            self._intero_at.append(j)
        actuators = env.action_space.shape[0]
        body_space = self.body.action_space
        if actuators > body_space.shape[0] or not (
            np.array_equal(env.action_space.low, body_space.low[:actuators])
            and np.array_equal(env.action_space.high, body_space.high[:actuators])
        ):
            raise ValueError(f"the actuators {env.action_space} are not the first ones of the body's {body_space}")
        self.physiology = own
        self.observation_space = self.body.observation_space
        self.action_space = body_space

    def sensor_slices(self) -> dict[str, slice]:
        """Where each of the body's sensors lies in extero: the layout the agent sees, not the world's."""
        return self.body.sensor_slices()

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observation(obs), self._info(info)

    def step(self, action):
        action = np.asarray(action)[: self.env.action_space.shape[0]]
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs), reward, terminated, truncated, self._info(info)

    def state_dict(self) -> dict:
        """Empty: the body is a description, never stepped (see envs/state.py)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def _internal(self, values) -> np.ndarray:
        internal = np.array(self.physiology.set_point, dtype=np.float64)
        internal[self._intero_at] = values
        return internal

    def _observation(self, obs: dict) -> dict:
        extero = np.zeros(self.observation_space["extero"].shape, np.float32)
        extero[self._extero_at] = obs["extero"]
        return {"extero": extero, "intero": self._internal(obs["intero"]).astype(np.float32)}

    def _info(self, info: dict) -> dict:
        return {**info, "internal_state": self._internal(info["internal_state"])}

