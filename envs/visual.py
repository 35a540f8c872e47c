"""mortal/VisualForager-v0: the Forager whose body sees: a small egocentric colour image instead of the bins.

The arena, items, body and physiology are the Forager's. The exteroceptive observation is what a camera on
the robot's nose sees: an `image_size` x `image_size` RGB image (32 x 32 by default), rendered headless by
MuJoCo from a camera looking straight ahead, tilted `tilt` degrees down, with a `field_of_view` (degrees,
horizontal and vertical) of 90; flattened row by row (top row first, each pixel's red, green, blue) as
float32 in [0, 1]. Then the body's velocity, as the Forager's. No angular bins and no distances: which
pixels are food, water, wall or floor is for perception to learn. Items keep the Forager's colours (food
red, water blue); the floor is a pale checker, the walls grey-brown.

One persistent `mujoco.Renderer` at the image size renders every observation; it is made on the first
observation and freed by `close()`, or at exit for a world left open (before the GL library goes, which
would otherwise print errors). Rendering reads the MuJoCo state only, so a seed fixes everything.
"""

import atexit
import weakref

import mujoco
import numpy as np
from gymnasium import spaces

from envs.forager import COLOURS, MAX_SPEED, ForagerEnv

EYE = "eye"  # the camera's name
EYE_POSITION = (0.16, 0.0, 0.1)  # in the robot's frame: at the nose, above the chassis, clear of the body
OTHER_COLOUR = (0.3, 0.7, 0.3, 1.0)  # items of a resource without a colour of its own (as the Forager draws them)
OPEN_EYES: "weakref.WeakSet[mujoco.Renderer]" = weakref.WeakSet()  # the renderers of worlds not yet closed


def close_open_eyes() -> None:
    """Frees the renderers of worlds left open, at exit: registered again after each new one, so that it runs
    before the exit hook that MuJoCo's EGL makes with its first context (exit hooks run last first)."""
    for eye in list(OPEN_EYES):
        eye.close()


class VisualForagerEnv(ForagerEnv):
    """See the module docstring; every `ForagerEnv` keyword applies too, except the bins' (`num_bins`,
    `sensing_range`, `tuning`): this body has no bins."""

    def __init__(self, image_size: int = 32, field_of_view: float = 90.0, tilt: float = 10.0, **forager_kwargs):
        if unused := sorted({"num_bins", "sensing_range", "tuning"} & set(forager_kwargs)):
            raise ValueError(f"VisualForager sees an image and has no angular bins: drop {unused}")
        if not 8 <= image_size <= 256:
            raise ValueError(f"image_size must be 8..256 pixels, got {image_size}")
        if not 10.0 <= field_of_view <= 160.0:
            raise ValueError(f"field_of_view must be 10..160 degrees, got {field_of_view}")
        if not 0.0 <= tilt < field_of_view / 2:
            raise ValueError(f"tilt must be >= 0 and below half the field of view ({field_of_view / 2}), got {tilt}")
        self.image_size = int(image_size)
        self.field_of_view = float(field_of_view)
        self.tilt = float(tilt)
        self._eye = None
        super().__init__(**forager_kwargs)
        pixels = self.image_size**2 * 3
        self.observation_space = spaces.Dict(
            extero=spaces.Box(np.r_[np.zeros(pixels), np.full(3, -MAX_SPEED)].astype(np.float32),
                              np.r_[np.ones(pixels), np.full(3, MAX_SPEED)].astype(np.float32)),
            intero=self.observation_space["intero"],
        )

    @property
    def colours(self) -> tuple[tuple[float, float, float], ...]:
        """Each resource's item colour (RGB in [0, 1]), in resource order: what a visual reflex looks for."""
        return tuple(tuple(COLOURS.get(r, OTHER_COLOUR)[:3]) for r in self.resources)

    @property
    def sensors(self) -> tuple[tuple[str, int], ...]:
        return (("image", self.image_size**2 * 3), ("velocity", 3))

    def _decorate(self, spec: mujoco.MjSpec) -> None:
        super()._decorate(spec)
        down = np.radians(self.tilt)
        spec.body("robot").add_camera(  # looks along the body's heading (x), image right = the body's right (-y)
            name=EYE, pos=list(EYE_POSITION), fovy=self.field_of_view,
            xyaxes=[0, -1, 0, np.sin(down), 0, np.cos(down)],
        )

    # -- seeing ------------------------------------------------------------------------------------
    def image(self) -> np.ndarray:
        """What the eye sees now: [image_size, image_size, 3] uint8, top row first."""
        if self._eye is None:
            self._eye = self._make_eye()
        mujoco.mj_kinematics(self.model, self.data)  # the body and items where they are now (eaten ones respawned)
        mujoco.mj_camlight(self.model, self.data)
        self._eye.update_scene(self.data, camera=EYE)
        return self._eye.render()

    def _make_eye(self) -> mujoco.Renderer:
        """The eye's renderer, made cheap for a software rasteriser (MuJoCo's defaults cost ~50x as much with
        Mesa's llvmpipe): no multisampling (the model's setting, kept for `render()`'s frames) and no shadows."""
        samples, self.model.vis.quality.offsamples = self.model.vis.quality.offsamples, 0
        try:
            eye = mujoco.Renderer(self.model, self.image_size, self.image_size)
        except mujoco.FatalError as error:
            raise RuntimeError(f"VisualForager renders every observation and found no OpenGL ({error}): on a "
                               "machine without a display, set MUJOCO_GL=egl (or osmesa) before MuJoCo is "
                               "imported, as the scripts and tests do") from error
        finally:
            self.model.vis.quality.offsamples = samples
        eye.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        OPEN_EYES.add(eye)
        atexit.unregister(close_open_eyes)
        atexit.register(close_open_eyes)
        return eye

    def _extero(self) -> np.ndarray:
        return np.concatenate([self.image().ravel() * (1 / 255), self._body_velocity()])

    def close(self):
        if self._eye is not None:
            self._eye.close()
            self._eye = None
        super().close()
