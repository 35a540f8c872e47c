"""Homeostasis: internal variables, set-points, drive, interoceptive dynamics, allostasis and death.

One definition shared by the worlds (which simulate the body) and the agents (whose preferences are the
set-points).
"""

from homeostasis.allostasis import forecast, steps_to_death
from homeostasis.drive import deviation, drive, homeostatic_reward
from homeostasis.physiology import Physiology

__all__ = ["Physiology", "deviation", "drive", "forecast", "homeostatic_reward", "steps_to_death"]
