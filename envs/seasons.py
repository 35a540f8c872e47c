"""mortal/Seasons-v0: the forager whose items change what they nourish, season by season, unannounced.

A fixed schedule of regimes (`schedule`, repeated), each lasting `season_length` steps from reset. In regime k
an item of kind i nourishes resource (i + k) mod n, the n resources in order: with food and water, regime 0
is the Forager (food items feed food, water items water) and regime 1 swaps them. The default schedule
(0, 1) alternates the two every 5,000 steps, so every other season returns to an earlier one: what worked
then works again, and a brain that kept it should re-adapt faster than one that relearns it.

mortal/HungrySeasons-v0 is this world with water burning five times slower than food (`decay` (0.00015, 0.00003)
per step, `envs.HUNGRY_DECAY`), so that which kind feeds the body matters: it needs a food item about five times as
often as a water one, and an item of the wrong kind eaten for food overfills water, which takes some 3,300 steps
per item to burn off. A body that keeps eating last season's food item starves while its water rises out of range.

The season is not in the observation (the items look and are sensed as in the Forager); `info["season"]`
gives the regime of the step just lived, for measurement only. `info["events"]` counts what each
resource received (the items eaten, mapped through the season). Everything else is the Forager's.
"""

import numpy as np

from envs.forager import ForagerEnv


class SeasonsEnv(ForagerEnv):
    """See the module docstring; every `ForagerEnv` keyword applies too."""

    def __init__(self, season_length: int = 5000, schedule: tuple[int, ...] = (0, 1), **forager_kwargs):
        super().__init__(**forager_kwargs)
        n = len(self.resources)
        if season_length < 1:
            raise ValueError(f"season_length must be at least 1 step, got {season_length}")
        if not all(0 <= k < n for k in schedule):
            raise ValueError(f"schedule {schedule} names regimes outside 0..{n - 1} (resources {self.resources})")
        if len(set(schedule)) < 2:
            raise ValueError(f"schedule {schedule} needs at least two different regimes for the seasons to change")
        self.season_length = int(season_length)
        self.schedule = tuple(int(k) for k in schedule)

    @property
    def season(self) -> int:
        """The regime of the step being lived: the schedule, repeated, one entry per `season_length` steps."""
        return self.schedule[self.clock // self.season_length % len(self.schedule)]

    def _events(self, eaten: np.ndarray, action: np.ndarray) -> np.ndarray:
        return super()._events(np.roll(eaten, self.season), action)  # kind i feeds resource (i + season) mod n

    def _get_info(self, cause: str, events: np.ndarray | None = None, ops: float = 0.0) -> dict:
        return {**super()._get_info(cause, events, ops), "season": self.season}
