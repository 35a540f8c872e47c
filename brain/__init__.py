"""Brain modules: pure JAX (Equinox) modules with local learning rules; nothing here knows of Gymnasium."""

from brain.base import *  # noqa: F403  (the slots' interfaces: one abstract base per slot, and what they exchange)
from brain.base import __all__  # noqa: F401
