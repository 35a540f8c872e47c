"""mortal/Oasis-v0: resources at a few fixed places, far apart, that deplete and regrow: a world for memory.

A large arena (half-width 8 m) with four oases near the corners, at (+-5.5, +-5.5): food at the north-east
and south-west, water at the north-west and south-east (`oases`, a keyword). Each holds `items_per_oasis`
items on a ring of radius 0.4 m; an item eaten is gone (not sensed, not eaten, hidden under the floor) for
`regrow_steps` steps, then it grows back at the same place. Oases lie 11 m apart, beyond the 3 m item sensing
range of each other, and nothing is sensed between them. The nutrients decay twice as fast as the Forager's
(0.0003 a step), so wandering costs: a body that remembers where each resource is, and when it emptied an
oasis, should outlive one that searches afresh.

Place is sensed through four tall posts outside the arena's corners (yellow north-east, magenta north-west,
cyan south-west, white south-east), each its own `num_bins` egocentric proximity bins like the items', seen
from anywhere in the arena (proximity `1 - d / reach`, reach the posts' diagonal): never coordinates. From
the corner a post stands at, its oasis is in sensing range, so approaching a post leads to an oasis.

Extero: the Forager's (items, velocity), then one segment per post. Everything else is the Forager's; the
robot starts at a uniform point and heading, so a seed fixes everything.
"""

import mujoco
import numpy as np

from envs.forager import ITEM_RADIUS, ForagerEnv

POSTS = (("yellow", (1, 1), (0.95, 0.85, 0.1, 1)), ("magenta", (-1, 1), (0.85, 0.2, 0.8, 1)),
         ("cyan", (-1, -1), (0.1, 0.8, 0.85, 1)), ("white", (1, -1), (0.95, 0.95, 0.95, 1)))
POST_HEIGHT = 1.5
RING = 0.4  # radius of the ring an oasis's items sit on
BURIED = -1.0  # height of an eaten item's body while it regrows: under the floor, out of sight
OASES = ((5.5, 5.5, "food"), (-5.5, -5.5, "food"), (-5.5, 5.5, "water"), (5.5, -5.5, "water"))


class OasisEnv(ForagerEnv):
    """See the module docstring; every `ForagerEnv` keyword applies too, except `items` (set by the oases)."""

    def __init__(
        self,
        oases: tuple[tuple[float, float, str], ...] = OASES,
        items_per_oasis: int = 3,
        regrow_steps: int = 1000,
        decay: float = 0.0003,
        arena_half_width: float = 8.0,
        sensing_range: float = 3.0,
        **forager_kwargs,
    ):
        if "items" in forager_kwargs:
            raise ValueError("Oasis sets the items itself (items_per_oasis at each oasis): drop the items keyword")
        resources = tuple(forager_kwargs.pop("resources", ("food", "water")))
        kinds = [kind for _, _, kind in oases]
        if unknown := sorted(set(kinds) - set(resources)):
            raise ValueError(f"oases of {unknown}, which are not among the resources {resources}")
        if missing := [r for r in resources if r not in kinds]:
            raise ValueError(f"no oasis of {missing}: every resource needs one")
        if items_per_oasis < 1 or regrow_steps < 1:
            raise ValueError(f"items_per_oasis ({items_per_oasis}) and regrow_steps ({regrow_steps}) must be >= 1")
        margin = arena_half_width - RING - ITEM_RADIUS
        if outside := [(x, y) for x, y, _ in oases if max(abs(x), abs(y)) > margin]:
            raise ValueError(f"oases at {outside} reach beyond the arena (|x|, |y| <= {margin:.2f})")
        self.oases = tuple((float(x), float(y), kind) for x, y, kind in oases)
        self.items_per_oasis = int(items_per_oasis)
        self.regrow_steps = int(regrow_steps)
        self.post_xy = np.array([corner for _, corner, _ in POSTS], float) * (arena_half_width + 0.4)
        self.reach = float(np.hypot(*(2 * self.post_xy[0])))
        self.homes = self._homes(resources)
        items = tuple(kinds.count(r) * self.items_per_oasis for r in resources)
        super().__init__(resources=resources, items=items, decay=decay, arena_half_width=arena_half_width,
                         sensing_range=sensing_range, **forager_kwargs)
        self.regrow_at = np.zeros(len(self.item_kind), np.int64)  # an item is present once the clock reaches it

    def _homes(self, resources: tuple[str, ...]) -> np.ndarray:
        """Every item's place, in the Forager's item order (by resource): its oasis's ring."""
        angle = 2 * np.pi * np.arange(self.items_per_oasis) / self.items_per_oasis
        ring = RING * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return np.concatenate([np.array([x, y]) + ring for r in resources for x, y, kind in self.oases if kind == r])

    @property
    def landmarks(self) -> tuple[str, ...]:
        """The posts' sensor names, in extero order."""
        return tuple(f"{colour} post" for colour, _, _ in POSTS)

    @property
    def sensors(self) -> tuple[tuple[str, int], ...]:
        return (*super().sensors, *((name, self.num_bins) for name in self.landmarks))

    def _decorate(self, spec: mujoco.MjSpec) -> None:
        super()._decorate(spec)
        for (colour, _, rgba), (x, y) in zip(POSTS, self.post_xy):
            spec.worldbody.add_geom(
                name=f"post_{colour}", type=mujoco.mjtGeom.mjGEOM_CYLINDER, pos=[x, y, POST_HEIGHT / 2],
                size=[0.12, POST_HEIGHT / 2, 0], rgba=list(rgba),
            )

    # -- depletion and regrowth ---------------------------------------------------------------------
    def _place_items(self) -> None:
        """Every item at its place, present."""
        self.regrow_at[:] = 0
        self.item_xy[:] = self.homes
        self.data.mocap_pos[: len(self.homes)] = np.column_stack([self.homes, np.full(len(self.homes), ITEM_RADIUS)])

    def _present(self) -> np.ndarray:
        return self.regrow_at <= self.clock

    def _consume(self) -> np.ndarray:
        """Items due grow back (shown again), then the body eats what it touches."""
        self.data.mocap_pos[: len(self.homes), 2] = np.where(self._present(), ITEM_RADIUS, BURIED)
        return super()._consume()

    def _respawn(self, i: int) -> None:
        """Item i was eaten: it is gone for `regrow_steps` steps, then back at its place."""
        self.regrow_at[i] = self.clock + self.regrow_steps
        self.data.mocap_pos[i, 2] = BURIED

    def _extero(self) -> np.ndarray:
        posts = self._bins(self.post_xy, np.arange(len(self.post_xy)), len(self.post_xy), reach=self.reach)
        return np.concatenate([super()._extero(), posts])

    # -- checkpoints -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(), "regrow_at": self.regrow_at.copy()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "regrow_at"})  # checks items
        self.regrow_at = np.array(state["regrow_at"], np.int64)
