"""Brain modules: pure JAX (Equinox) modules with local learning rules; nothing here knows of Gymnasium."""

from brain.base import (
    AbstractGate,
    AbstractMemory,
    AbstractPerception,
    AbstractPlanner,
    Percept,
    Plan,
    Recollection,
    Selection,
)

__all__ = [
    "AbstractGate",
    "AbstractMemory",
    "AbstractPerception",
    "AbstractPlanner",
    "Percept",
    "Plan",
    "Recollection",
    "Selection",
]
