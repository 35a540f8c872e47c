"""Agents: brain modules composed into one jitted control step, with checkpoints and configs.

    agents.register("memory", "knn", KNNConfig)     # a module of your own, swappable by name (README)
"""

from agents.config import register

__all__ = ["register"]
