"""Agents: brain modules composed into one jitted control step, with checkpoints and configs."""
