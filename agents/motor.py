"""Motor primitives: the innate reflexes a brain chooses among, one per action channel.

The brain never outputs actuator commands itself: it selects a channel, and the channel's reflex turns the
current raw exteroceptive reading into a command. Nothing here is learned; a reader should credit the
reflexes, not the brain, with steering towards a seen item. What the brain learns is *which* reflex to
release when.

Reflexes of the mortal worlds (`ForagerReflexes`), for a differential-drive body:
- `approach <kind>`: turn towards the bearing where that kind is sensed and drive forward in proportion to
  how well aligned it is (cos of the bearing); with nothing sensed, go straight (kinds: the resources,
  ThermalForager's shade, Oasis's landmark posts). The bearing comes from the body's sense (`AngularBins`):
  the angular bin where the nearest item of that kind is. A body that sees (VisualForager: an image, no
  bins) has an innate orienting reflex tuned to colour instead (`ColourColumns`): the bearing of the image
  column holding the most pixels of the kind's colour. Either way the reflex only steers; which reflex to
  release when, and what the pixels mean otherwise, is for the brain to learn;
- `explore`: drive straight ahead at full speed;
- `turn`: spin on the spot counter-clockwise at half speed;
- `rest`: stop (no motor effort, so no motor heat);
- `cool` (ThermalForager only): stop and sweat, which cools the body and costs water.
Any other Gymnasium task: a `Discrete(n)` action space gives n channels, one per action; a `Box` gives
`2 * dims + 1` channels: zero, and half of the range forwards or backwards along each dimension.

Every `command` takes numpy or JAX arrays (the Python array API), so the same reflexes serve the jitted
agent and the numpy `PrimitiveActions` wrapper that gives PPO the same channels.
"""

import dataclasses
import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from homeostasis.drive import array_namespace


@dataclasses.dataclass(frozen=True)
class AngularBins:
    """The bearing of each kind from extero's egocentric proximity bins (bin 0 ahead, counter-clockwise)."""

    offsets: tuple[int, ...]  # where each kind's bins start in extero
    num_bins: int

    def bearings(self, extero):
        """(angle [kinds] in rad, counter-clockwise from ahead, of the nearest item; seen [kinds]: any sensed)."""
        xp = array_namespace(extero)
        bins = xp.stack([extero[o : o + self.num_bins] for o in self.offsets])
        bearing = 2 * math.pi * xp.arange(self.num_bins) / self.num_bins
        bearing = xp.where(bearing > math.pi, bearing - 2 * math.pi, bearing)
        return bearing[xp.argmax(bins, axis=1)], xp.max(bins, axis=1) > 0


@dataclasses.dataclass(frozen=True)
class ColourColumns:
    """The bearing of each kind from an egocentric RGB image in extero (rows top first, pixels as r, g, b in
    [0, 1]): an innate orienting reflex tuned to each kind's colour c. A pixel p is of that colour when
    p . u >= 1/2, with u = (c - mean(c)) / (c . (c - mean(c))): 1 for c itself, 0 for grey of any
    brightness (the floor, walls and shade). The kind's bearing is that of the image column holding the
    most such pixels (the nearest or largest patch), atan(((w - 1) / 2 - column) / f) for a pinhole eye
    of focal length f = (w / 2) / tan(field_of_view / 2) pixels."""

    colours: tuple[tuple[float, float, float], ...]  # each kind's RGB
    offset: int  # where the image starts in extero
    image_size: int  # the image is image_size x image_size pixels
    field_of_view: float  # horizontal, degrees

    def bearings(self, extero):
        """(angle [kinds] in rad, counter-clockwise from ahead; seen [kinds]: any pixel of the kind's colour)."""
        xp = array_namespace(extero)
        size = self.image_size
        image = xp.reshape(extero[self.offset : self.offset + size * size * 3], (size, size, 3))
        chroma = np.asarray(self.colours) - np.mean(self.colours, axis=1, keepdims=True)
        detector = chroma / np.sum(np.asarray(self.colours) * chroma, axis=1, keepdims=True)  # [kinds, 3]
        matches = xp.astype(image @ xp.asarray(detector.T, dtype=extero.dtype) >= 0.5, extero.dtype)
        per_column = xp.sum(matches, axis=0)  # [columns, kinds]
        focal = size / 2 / math.tan(math.radians(self.field_of_view) / 2)
        bearing = np.arctan(((size - 1) / 2 - np.arange(size)) / focal)
        angle = xp.asarray(bearing, dtype=extero.dtype)[xp.argmax(per_column, axis=0)]
        return angle, xp.max(per_column, axis=0) > 0


@dataclasses.dataclass(frozen=True)
class ForagerReflexes:
    """Reflexes for `envs.forager.ForagerEnv` and its subclasses (see the module docstring)."""

    targets: tuple[str, ...]  # kinds the body can approach, in channel order
    sense: AngularBins | ColourColumns  # where each target's bearing comes from
    cooling: bool  # the action has a third, cooling, entry

    @property
    def names(self) -> tuple[str, ...]:
        return (*(f"approach {t}" for t in self.targets), "explore", "turn", "rest", *(("cool",) if self.cooling else ()))

    @property
    def num_channels(self) -> int:
        return len(self.names)

    def commands(self, extero):
        """Every channel's command for this reading: [channels, action size]."""
        xp = array_namespace(extero)
        angle, seen = self.sense.bearings(extero)
        forward = xp.where(seen, xp.clip(xp.cos(angle), 0.0, 1.0), 1.0)
        turn = xp.where(seen, xp.clip(2 * angle / math.pi, -1.0, 1.0), 0.0)
        wheels = xp.stack([xp.clip(forward - turn, -1.0, 1.0), xp.clip(forward + turn, -1.0, 1.0)], axis=1)
        fixed = xp.asarray([[1.0, 1.0], [-0.5, 0.5], [0.0, 0.0]] + ([[0.0, 0.0]] if self.cooling else []), dtype=wheels.dtype)
        wheels = xp.concat([wheels, fixed])
        if not self.cooling:
            return wheels
        cool = xp.zeros((self.num_channels, 1), dtype=wheels.dtype)
        cool = xp.where(xp.arange(self.num_channels)[:, None] == self.num_channels - 1, 1.0, cool)
        return xp.concat([wheels, cool], axis=1)

    def command(self, channel, extero):
        return self.commands(extero)[channel]


@dataclasses.dataclass(frozen=True)
class ActionTable:
    """A fixed command per channel: the discretised actions of any other Gymnasium task."""

    table: tuple[tuple[float, ...], ...]  # [channels][action size]; for Discrete spaces one action index each
    names: tuple[str, ...]
    discrete: bool

    @property
    def num_channels(self) -> int:
        return len(self.names)

    def command(self, channel, extero):
        xp = array_namespace(extero)
        command = xp.asarray(self.table, dtype=xp.int32 if self.discrete else extero.dtype)[channel]
        return command[0] if self.discrete else command


def primitives_for(env: gym.Env):
    """The motor primitives of `env`: reflexes on a mortal world (or on the body `envs.Embodied` lends it),
    discretised actions elsewhere."""
    from envs.forager import ForagerEnv
    from envs.oasis import OasisEnv
    from envs.thermal import ThermalForagerEnv
    from envs.visual import VisualForagerEnv

    try:
        world = env.get_wrapper_attr("body")
    except AttributeError:
        world = env.unwrapped
    if isinstance(world, VisualForagerEnv):
        sense = ColourColumns(world.colours, world.sensor_slices()["image"].start, world.image_size,
                              world.field_of_view)
        return ForagerReflexes(world.resources, sense, cooling=False)
    if isinstance(world, ForagerEnv):
        sensors = world.sensor_slices()
        targets = [*world.resources, *(("shade",) if isinstance(world, ThermalForagerEnv) else ()),
                   *(world.landmarks if isinstance(world, OasisEnv) else ())]
        sense = AngularBins(tuple(sensors[target].start for target in targets), world.num_bins)
        return ForagerReflexes(tuple(targets), sense, isinstance(world, ThermalForagerEnv))
    return action_channels(env.action_space)


def action_channels(space: spaces.Space) -> ActionTable:
    """The channels of a raw action space: each action of a Discrete space; a bounded Box's centre and half its
    range either way along each axis."""
    if isinstance(space, spaces.Discrete):
        actions = np.arange(space.start, space.start + space.n)
        return ActionTable(tuple((int(a),) for a in actions), tuple(f"action {a}" for a in actions), discrete=True)
    if isinstance(space, spaces.Box) and len(space.shape) == 1 and np.all(np.isfinite([space.low, space.high])):
        centre, half = (space.high + space.low) / 2, (space.high - space.low) / 2
        table, names = [centre], ["centre"]
        for d in range(space.shape[0]):
            for sign, word in ((1, "+"), (-1, "-")):
                table.append(centre + sign * 0.5 * half * np.eye(space.shape[0])[d])
                names.append(f"{word}{d}")
        return ActionTable(tuple(tuple(float(x) for x in row) for row in table), tuple(names), discrete=False)
    raise ValueError(f"no motor primitives for action space {space}: need Discrete or a bounded 1-D Box")


class PrimitiveActions(gym.Wrapper):
    """Gives an agent outside Mortal (e.g. PPO) the same channels as discrete actions: `Discrete(channels)`."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.primitives = primitives_for(env)
        self.action_space = spaces.Discrete(self.primitives.num_channels)
        self._extero = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._extero = np.asarray(obs["extero"], np.float64)
        return obs, info

    def step(self, channel):
        command = self.primitives.command(int(channel), self._extero)
        obs, reward, terminated, truncated, info = self.env.step(to_env_action(self.env.action_space, command))
        self._extero = np.asarray(obs["extero"], np.float64)
        return obs, reward, terminated, truncated, {**info, "channel": int(channel)}


def to_env_action(space: spaces.Space, command):
    """Primitive command(s) as `space` expects them: ints for Discrete, arrays of its dtype for Box."""
    if isinstance(space, spaces.Discrete):
        command = np.asarray(command, np.int64)
        return int(command) if command.ndim == 0 else command
    return np.asarray(command, space.dtype)
