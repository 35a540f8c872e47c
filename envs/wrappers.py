"""Wrappers: `Homeostatic` turns any Gymnasium task into a mortal one; `Embodied` lets one body visit
several mortal worlds (the lessons of a curriculum).

Homeostatic: the task's reward feeds an energy store that decays each step; the agent dies when energy runs out
(e' <= 0), and a task's own termination also ends the life:

    e' = min(e - decay + reward_gain * task_reward, capacity)

Energy is one internal variable (set-point `capacity`, viable range [0, capacity]) of the same
`homeostasis.Physiology` the mortal worlds use; the reward becomes homeostatic, `D(e) - D(e')`, and the
task's own reward moves to `info["task_reward"]`. Observations become `Dict(extero=<the task's observation,
flattened>, intero=[energy])`.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from homeostasis import Physiology


class Homeostatic(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """See the module docstring."""

    def __init__(
        self,
        env: gym.Env,
        decay: float = 0.01,
        reward_gain: float = 0.02,
        capacity: float = 1.0,
        initial_energy: float | None = None,
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self, decay=decay, reward_gain=reward_gain, capacity=capacity, initial_energy=initial_energy
        )
        super().__init__(env)
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.initial_energy = capacity if initial_energy is None else initial_energy
        if not 0 < self.initial_energy <= capacity:
            raise ValueError(f"initial_energy must lie in (0, capacity={capacity}], got {self.initial_energy}")
        self.capacity = capacity
        self.physiology = Physiology(
            names=("energy",),
            event_names=("task_reward",),
            set_point=np.array([capacity]),
            low=np.array([0.0]),
            high=np.array([capacity]),
            decay=np.array([decay]),
            effort_gain=np.zeros(1),
            effects=np.array([[reward_gain]]),
            conductance=np.zeros(1),
        )
        self.observation_space = spaces.Dict(
            extero=spaces.flatten_space(env.observation_space),
            intero=spaces.Box(np.zeros(1, np.float32), np.full(1, capacity, np.float32)),
        )
        self.energy = np.array([self.initial_energy])

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.energy = np.array([self.initial_energy])
        return self._observation(obs), {**info, **self._info(cause="", task_reward=0.0)}

    def step(self, action):
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        energy = np.minimum(self.physiology.step(self.energy, np.array([task_reward]), 0.0), self.capacity)
        reward = float(self.physiology.reward(self.energy, energy))
        self.energy = energy
        cause = "energy ran out" if energy[0] <= 0.0 else ("task terminated" if terminated else "")
        return self._observation(obs), reward, bool(cause), truncated, {**info, **self._info(cause, task_reward)}

    def _observation(self, obs) -> dict:
        return {
            "extero": spaces.flatten(self.env.observation_space, obs).astype(self.observation_space["extero"].dtype),
            "intero": np.clip(self.energy, 0.0, self.capacity).astype(np.float32),
        }

    def _info(self, cause: str, task_reward: float) -> dict:
        return {
            "internal_state": self.energy.copy(),
            "drive": float(self.physiology.drive(self.energy)),
            "cause_of_death": cause,
            "task_reward": float(task_reward),
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

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observation(obs), self._info(info)

    def step(self, action):
        action = np.asarray(action)[: self.env.action_space.shape[0]]
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs), reward, terminated, truncated, self._info(info)

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

