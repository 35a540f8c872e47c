"""Homeostatic: turn any Gymnasium task into a mortal one.

The task's reward feeds an energy store that decays each step; the agent dies when energy runs out
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
