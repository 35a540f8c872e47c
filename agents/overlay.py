"""What a recorded frame shows beside the scene: what the body feels and what the brain does.

    overlay = Overlay(physiology, channel_names, scene_shape=(240, 240, 3), label="full brain")
    frame = overlay.draw(scene, Reading(step, internal, channel, free_energy, familiarity, ending=""))

A panel to the right of the scene holds, top to bottom: the label and step; per internal variable its name
and value over a bar drawn from its set-point (a green tick) to its value, on a grey track spanning its
viable range; free energy; familiarity as a bar on [0, 1]; the chosen channel. A reading with an `ending`
(the last frame of a life) gets a red banner across the bottom of the scene with the cause of death.

Everything is drawn with numpy into the frame array, and text comes from a monospace glyph atlas rendered
once by matplotlib's Agg backend, so a frame costs well under a millisecond. Bars are bright on a dark
panel, so their extent survives video compression: `bar_row` and `x_of` say where to measure one.
"""

import functools
from typing import NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties

from homeostasis import Physiology

PANEL_WIDTH = 160
LINE = 12  # text line height, px
BAR = 8  # bar height, px
MARGIN = 8
BLOCK = 16  # video codecs want frame sides in multiples of 16 (imageio resizes otherwise)

BACKGROUND = (16, 16, 16)
TRACK = (72, 72, 72)  # the viable range
BAR_COLOUR = (255, 214, 40)  # an internal variable's deviation from its set-point
FAMILIARITY_COLOUR = (80, 220, 255)
SET_POINT = (40, 200, 80)
TEXT = (235, 235, 235)
DIM = (150, 150, 150)
ENDING = (230, 50, 40)


class Reading(NamedTuple):
    """What one frame shows: the step, the internal variables, and what the agent computed on that observation."""

    step: int
    internal: np.ndarray
    channel: int
    free_energy: float
    familiarity: float
    ending: str = ""  # the cause of death (or "time limit") on a life's last frame


@functools.lru_cache(maxsize=1)
def glyphs() -> tuple[np.ndarray, int]:
    """The printable ASCII characters in DejaVu Sans Mono, one cell each: [95, LINE, width] coverage in [0, 1]."""
    chars = "".join(map(chr, range(32, 127)))
    prop = FontProperties(family="DejaVu Sans Mono", size=9)
    width = int(np.ceil(RendererAgg(1, 1, 72).get_text_width_height_descent("M", prop, False)[0]))
    renderer = RendererAgg(width * len(chars), LINE, 72)
    gc = renderer.new_gc()
    gc.set_foreground("white")
    for i, char in enumerate(chars):
        renderer.draw_text(gc, i * width, LINE - 3, char, prop, 0)
    alpha = np.asarray(renderer.buffer_rgba())[..., 3].astype(np.float32) / 255
    return alpha.reshape(LINE, len(chars), width).transpose(1, 0, 2), width


def draw_text(image: np.ndarray, text: str, x: int, y: int, colour) -> None:
    """Writes `text` into `image` (in place) with its cell's top-left corner at (x, y), clipped at the edge."""
    coverage = _strip(text)[..., None]
    region = image[y:y + LINE, x:x + coverage.shape[1]]
    coverage = coverage[: region.shape[0], : region.shape[1]]
    region[:] = (region * (1 - coverage) + np.asarray(colour, np.float32) * coverage).astype(np.uint8)


@functools.lru_cache(maxsize=1024)
def _strip(text: str) -> np.ndarray:
    """The glyphs of `text` side by side, [LINE, len * width] (unprintable characters as "?")."""
    atlas, width = glyphs()
    codes = np.frombuffer(text.encode("ascii", "replace"), np.uint8).astype(int) - 32
    codes = np.where((codes >= 0) & (codes < len(atlas)), codes, ord("?") - 32)
    return np.concatenate(atlas[codes], axis=1) if len(codes) else np.zeros((LINE, 0), np.float32)


class Overlay:
    """Draws `Reading`s beside scenes of one shape; see the module docstring for the layout."""

    def __init__(self, physiology: Physiology, channel_names, scene_shape: tuple[int, ...], label: str = ""):
        self.names = physiology.names
        self.set_point = np.asarray(physiology.set_point, float)
        self.low = np.asarray(physiology.low, float)
        self.high = np.asarray(physiology.high, float)
        self.channel_names = tuple(channel_names)
        self.label = label
        height, scene_width = scene_shape[:2]
        self.scene_width = scene_width
        self.shape = (-(-max(height, self._content_height()) // BLOCK) * BLOCK,
                      -(-(scene_width + PANEL_WIDTH) // BLOCK) * BLOCK, 3)
        self.track = (self.scene_width + MARGIN, self.shape[1] - MARGIN)  # x extent of every bar's track
        self.template = self._template()

    def _content_height(self) -> int:
        return LINE * 2 + 4 + len(self.names) * (LINE + BAR + 4) + LINE + (LINE + BAR + 4) + LINE + LINE

    def _variable_top(self, i: int) -> int:
        return 2 * LINE + 4 + i * (LINE + BAR + 4)

    def bar_row(self, i: int) -> int:
        """The frame row through the middle of internal variable i's bar."""
        return self._variable_top(i) + LINE + BAR // 2

    def x_of(self, i: int, value: float) -> float:
        """The frame column where value lies on internal variable i's track (its viable range)."""
        x0, x1 = self.track
        share = (np.clip(value, self.low[i], self.high[i]) - self.low[i]) / (self.high[i] - self.low[i])
        return x0 + share * (x1 - x0)

    def _familiarity_top(self) -> int:
        return self._variable_top(len(self.names)) + LINE

    def _template(self) -> np.ndarray:
        """The panel's fixed parts: background, tracks, set-point ticks, labels."""
        frame = np.zeros(self.shape, np.uint8)
        frame[:, self.scene_width:] = BACKGROUND
        x0, x1 = self.track
        for i, name in enumerate(self.names):
            top = self._variable_top(i) + LINE
            frame[top:top + BAR, x0:x1] = TRACK
            tick = int(round(self.x_of(i, self.set_point[i])))
            frame[top - 2:top + BAR + 2, tick:tick + 1] = SET_POINT
        top = self._familiarity_top() + LINE
        frame[top:top + BAR, x0:x1] = TRACK
        draw_text(frame, self.label, self.scene_width + MARGIN, 2, DIM)
        return frame

    def draw(self, scene: np.ndarray, reading: Reading) -> np.ndarray:
        """The frame: `scene` (of the shape given at construction) with the panel for `reading` beside it."""
        frame = self.template.copy()
        frame[: scene.shape[0], : scene.shape[1]] = scene
        x0, x1 = self.track
        left = self.scene_width + MARGIN
        draw_text(frame, f"step {reading.step:,}", left, LINE + 2, TEXT)
        for i, (name, value) in enumerate(zip(self.names, reading.internal)):
            top = self._variable_top(i)
            draw_text(frame, f"{name[:14]:<14} {value:+.2f}", left, top, TEXT)
            start, end = sorted((self.x_of(i, self.set_point[i]), self.x_of(i, value)))
            frame[top + LINE:top + LINE + BAR, int(round(start)):int(round(end))] = BAR_COLOUR
        top = self._familiarity_top() - LINE
        draw_text(frame, f"free energy {reading.free_energy:.3g}", left, top, TEXT)
        draw_text(frame, f"familiarity {reading.familiarity:.2f}", left, top + LINE, TEXT)
        width = int(round(np.clip(reading.familiarity, 0, 1) * (x1 - x0)))
        frame[top + 2 * LINE:top + 2 * LINE + BAR, x0:x0 + width] = FAMILIARITY_COLOUR
        channel = reading.channel
        name = self.channel_names[channel] if 0 <= channel < len(self.channel_names) else str(channel)
        draw_text(frame, f"> {name}", left, top + 2 * LINE + BAR + 4, BAR_COLOUR)
        if reading.ending:
            self._banner(frame, reading.ending)
        return frame

    def _banner(self, frame: np.ndarray, ending: str) -> None:
        """A red strip across the bottom of the scene naming how the life ended."""
        top = frame.shape[0] - LINE - 4
        frame[top:, : self.scene_width] = (frame[top:, : self.scene_width] * 0.3).astype(np.uint8)
        frame[top:top + 2, : self.scene_width] = ENDING
        words = ending if ending == "time limit" else f"died: {ending}"
        draw_text(frame, words, 4, top + 3, ENDING if ending != "time limit" else TEXT)
