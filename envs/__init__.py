"""Mortal's worlds, registered with Gymnasium on import (`import envs`, or `gym.make("envs:mortal/...")`).

| id                         | body and needs                                                        |
| -------------------------- | --------------------------------------------------------------------- |
| mortal/Forager-v0          | rolling robot; food and water (Yoshida et al.'s two-resource world)   |
| mortal/ThermalForager-v0   | + body temperature: sun, shade, motor heat, evaporative cooling       |
| mortal/FoodOnly-v0         | lesson world: one resource, small arena, items near                   |
| mortal/Seasons-v0          | Forager whose items swap what they nourish every 5,000 steps, unseen  |
| mortal/HungrySeasons-v0    | Seasons whose water barely burns, so eating the wrong item overfills  |
| mortal/Oasis-v0            | four far oases that deplete and regrow; landmark posts give place     |
| mortal/VisualForager-v0    | Forager whose body sees: a 32x32 egocentric RGB image, no bins        |

`envs.wrappers.Homeostatic` makes any other Gymnasium task mortal; `envs.wrappers.Embodied` lets one body
visit several of these worlds (the lessons of a curriculum).
"""

import gymnasium as gym

from envs.wrappers import Embodied, Homeostatic

MAX_EPISODE_STEPS = 60_000
HUNGRY_DECAY = (0.00015, 0.00003)  # HungrySeasons: food burns as the Forager's, water five times slower (per step)
WORLDS = ("mortal/Forager-v0", "mortal/ThermalForager-v0", "mortal/FoodOnly-v0", "mortal/Seasons-v0",
          "mortal/HungrySeasons-v0", "mortal/Oasis-v0", "mortal/VisualForager-v0")

gym.register("mortal/Forager-v0", entry_point="envs.forager:ForagerEnv", max_episode_steps=MAX_EPISODE_STEPS)
gym.register(
    "mortal/ThermalForager-v0", entry_point="envs.thermal:ThermalForagerEnv", max_episode_steps=MAX_EPISODE_STEPS
)
gym.register(
    "mortal/FoodOnly-v0",
    entry_point="envs.forager:ForagerEnv",
    max_episode_steps=MAX_EPISODE_STEPS,
    kwargs=dict(resources=("food",), items=(6,), arena_half_width=1.5),
)
gym.register("mortal/Seasons-v0", entry_point="envs.seasons:SeasonsEnv", max_episode_steps=MAX_EPISODE_STEPS)
gym.register(
    "mortal/HungrySeasons-v0",
    entry_point="envs.seasons:SeasonsEnv",
    max_episode_steps=MAX_EPISODE_STEPS,
    kwargs=dict(decay=HUNGRY_DECAY),
)
gym.register("mortal/Oasis-v0", entry_point="envs.oasis:OasisEnv", max_episode_steps=MAX_EPISODE_STEPS)
gym.register(
    "mortal/VisualForager-v0", entry_point="envs.visual:VisualForagerEnv", max_episode_steps=MAX_EPISODE_STEPS
)

__all__ = ["MAX_EPISODE_STEPS", "WORLDS", "Embodied", "Homeostatic"]
