"""Allostasis: forecast the internal variables under a plan, to act before a deviation happens."""

import jax
import jax.numpy as jnp

from homeostasis.physiology import Physiology


def forecast(physiology: Physiology, h, events, effort, ambient=0.0):
    """h_{t+1..t+k} under a k-step plan of `events` [k, E], `effort` [k] and `ambient` [k] (or scalars).

    One `lax.scan` of `Physiology.step`; returns the trajectory [k, variables] (not including h_t).
    """
    events = jnp.asarray(events)
    k = events.shape[0]
    effort = jnp.broadcast_to(jnp.asarray(effort, dtype=events.dtype), (k,))
    ambient = jnp.broadcast_to(jnp.asarray(ambient, dtype=events.dtype), (k,))

    def one_step(h, plan):
        h = physiology.step(h, *plan)
        return h, h

    _, path = jax.lax.scan(one_step, jnp.asarray(h), (events, effort, ambient))
    return path


def drift(physiology: Physiology, h, steps: int, ambient=0.0):
    """h_{t+steps} if nothing is eaten and the body rests: the drift of one step of `Physiology.step`, extrapolated
    linearly (exact for a constant decay; the cheap forecast a planner can afford at every step)."""
    h = jnp.asarray(h)
    one = physiology.step(h, jnp.zeros(len(physiology.event_names), h.dtype), 0.0, ambient)
    return h + steps * (one - h)


def steps_to_death(physiology: Physiology, path):
    """Index (1-based) of the first forecast step outside the viable range, or k + 1 if none."""
    alive = physiology.viable(path)
    k = path.shape[0]
    return jnp.where(jnp.all(alive), k + 1, jnp.argmin(alive) + 1)
