"""What a Gymnasium task means to a mortal body: the task table and its keywords.

| id             | termination | reward range     | planning horizon | why                                              |
| -------------- | ----------- | ---------------- | ---------------- | ------------------------------------------------ |
| CartPole-v1    | death       | [0, 1]           | 40               | the pole falling is failure; the cart drifts to the edge unseen within 25 steps |
| Acrobot-v1     | success     | [-1, 0]          | 25               | termination is the tip reaching the line         |
| MountainCar-v0 | success     | [-1, 0]          | 30               | termination is the car reaching the flag         |
| Pendulum-v1    | never       | [-16.2736, 0]    | 25               | a time limit only                                 |
| MuJoCo locomotion (Hopper, Walker2d, Ant, Humanoid, ...) | death | none | 25 | a fall is failure |

Any other id takes keywords (`envs.Homeostatic(env, termination="success", reward_range=(-1, 0))`); an id
that is neither in the table nor given `termination` is taken to die on termination, with a warning that
names the keyword. Observation normalisation (running per-dimension statistics) belongs to the agent, whose
brain keeps the statistics it has seen (`brain.normaliser`); the horizon is the default of the model-based
planner on that task (`agents.config.task_defaults`).
"""

import dataclasses
import warnings

import numpy as np

from homeostasis import Physiology

TERMINATIONS = ("death", "success", "never")


@dataclasses.dataclass(frozen=True)
class OwnVariables:
    """Internal variables a task models itself: where to read them (a slice of the flattened observation, or
    an `info` key), their names, set-points and viable ranges. Such a task gets no energy store."""

    names: tuple[str, ...]
    set_point: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    observation_slice: tuple[int, int] | None = None
    info_key: str | None = None

    def __post_init__(self):
        if (self.observation_slice is None) == (self.info_key is None):
            raise ValueError("OwnVariables needs exactly one of observation_slice and info_key")
        for name in ("set_point", "low", "high"):
            if len(getattr(self, name)) != len(self.names):
                raise ValueError(f"OwnVariables.{name} needs one value per variable {self.names}")
        if self.observation_slice is not None:
            start, stop = self.observation_slice
            if stop - start != len(self.names):
                raise ValueError(f"observation_slice {self.observation_slice} does not hold {len(self.names)} variables")

    def physiology(self) -> Physiology:
        n = len(self.names)
        return Physiology(names=tuple(self.names), event_names=(), set_point=np.asarray(self.set_point, float),
                          low=np.asarray(self.low, float), high=np.asarray(self.high, float), decay=np.zeros(n),
                          effort_gain=np.zeros(n), effects=np.zeros((0, n)), conductance=np.zeros(n))

    def read(self, flat_observation: np.ndarray, info: dict) -> np.ndarray:
        if self.info_key is not None:
            if self.info_key not in info:
                raise KeyError(f"the task's info has no {self.info_key!r} (OwnVariables.info_key); it has {sorted(info)}")
            values = np.asarray(info[self.info_key], float).reshape(-1)
        else:
            values = np.asarray(flat_observation[slice(*self.observation_slice)], float)
        if values.shape != (len(self.names),) or not np.all(np.isfinite(values)):
            raise ValueError(f"the task's internal variables {self.names} read {values}")
        return values


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task's meaning to a body (see the module docstring)."""

    name: str
    termination: str = "death"
    reward_range: tuple[float, float] | None = None
    horizon: int = 25
    own: OwnVariables | None = None

    def __post_init__(self):
        if self.termination not in TERMINATIONS:
            raise ValueError(f"termination must be one of {TERMINATIONS}, got {self.termination!r}")
        if self.reward_range is not None and not self.reward_range[0] < self.reward_range[1]:
            raise ValueError(f"reward_range must be (low, high) with low < high, got {self.reward_range}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")


LOCOMOTION = ("Hopper", "Walker2d", "Ant", "Humanoid", "HumanoidStandup", "HalfCheetah", "Swimmer",
              "InvertedPendulum", "InvertedDoublePendulum")

TASKS = {
    "CartPole-v1": TaskSpec("CartPole-v1", "death", (0.0, 1.0), horizon=40),
    "Acrobot-v1": TaskSpec("Acrobot-v1", "success", (-1.0, 0.0), horizon=25),
    "MountainCar-v0": TaskSpec("MountainCar-v0", "success", (-1.0, 0.0), horizon=30),
    "Pendulum-v1": TaskSpec("Pendulum-v1", "never", (-16.2736044, 0.0), horizon=25),
}


def task_spec(task_id: str | None, **keywords) -> TaskSpec:
    """The table's entry for `task_id` with `keywords` (termination, reward_range, horizon, own) overriding it;
    an unknown id without `termination` dies on termination, with a warning that names the keyword."""
    keywords = {k: v for k, v in keywords.items() if v is not None}
    name = task_id or "unnamed task"
    if task_id in TASKS:
        return dataclasses.replace(TASKS[task_id], **keywords)
    if task_id is not None and task_id.split("-v")[0] in LOCOMOTION:
        return TaskSpec(name, **{"termination": "death", **keywords})
    if "termination" not in keywords and keywords.get("own") is None:
        warnings.warn(f"{name} is not in the task table (envs.tasks): its termination is taken as death; pass "
                      f"termination='success' or 'never' to Homeostatic if it means something else", stacklevel=3)
    return TaskSpec(name, **keywords)
