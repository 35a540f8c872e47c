"""Task-selective plasticity without a task id: which of C sets of weights is used and learns, inferred from which
set predicts the present best.

The gate keeps C contexts of a predictor of outcomes (e.g. the need values' outcome model: what an item eaten
gives); only the current one is used and learns, so learning in one regime leaves what the others learnt
untouched (the plasticity gate of `brain.plasticity_gate`, here over whole weight sets). The first free context is
a *candidate*: it learns fast from every outcome, whatever the context, so that it always predicts as the last
few outcomes went (fast weights beside slow ones).
A context's own predictor learns at the rate `max(1 / n, rate)` after n outcomes in it (`learning_rate`): the mean
of what it has seen at first, so that a young context is not outpaced by the candidate while the world stays the
same, then a steady rate. Each outcome scores every context's predictor by its error e_c (e.g. its squared
error), and the gate keeps their running means

    E_c <- (1 - rho) E_c + rho e_c            (rho `error_rate`, per outcome)

and compares them, paired, on the same outcomes, each above a floor eps (`error_floor`: errors below it are as good
as none, so two predictors that have both learnt a steady world do not compete on their last digits):

- a known context (allocated, not current) with E_c + eps < (E_cur + eps) / kappa (kappa `surprise_ratio`) means
  the world went back to a regime it has lived: the gate returns to the best such context, as it was left;
- else a candidate that has predicted better than that for `persistence` outcomes in a row means the world
  changed to a regime none of the known contexts knows: the gate opens the candidate (`opened`), which learns from
  there on as a context of its own.

When no context is free there is no candidate and the gate only returns. This is latent-cause inference in its
simplest form (Gershman, Blei & Niv 2010): a new cause when nothing known explains the present as well as a fresh
guess does, a known one when it does.

Selection among channels is by argmax, as `brain.ablations.ArgmaxGate`: the context gate differs from argmax only
in what learns.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from brain.ablations import ArgmaxGate


class ContextState(eqx.Module):
    current: Int[Array, ""]  # the context that is used and learns
    allocated: Bool[Array, " contexts"]  # contexts in use (context 0 from birth)
    error: Float[Array, " contexts"]  # E_c, the recent prediction error of each context (the candidate's included)
    challenged_for: Int[Array, ""]  # consecutive outcomes the candidate has predicted better than the current one
    seen: Float[Array, " contexts"]  # outcomes each context has learnt from


class ContextGate(ArgmaxGate):
    """Argmax selection, and C contexts of a predictor of which the one that predicts best is used and learns."""

    contexts: int = eqx.field(static=True, default=3)
    surprise_ratio: float = eqx.field(static=True, default=2.0)
    error_rate: float = eqx.field(static=True, default=0.3)
    persistence: int = eqx.field(static=True, default=2)
    error_floor: float = eqx.field(static=True, default=1e-3)

    def __check_init__(self):
        if self.contexts < 2 or not self.surprise_ratio > 1 or self.persistence < 1:
            raise ValueError(f"need contexts >= 2, surprise_ratio > 1 and persistence >= 1, got {self.contexts}, "
                             f"{self.surprise_ratio}, {self.persistence}")
        if not (0 < self.error_rate <= 1 and self.error_floor >= 0):
            raise ValueError(f"need error_rate in (0, 1] and error_floor >= 0, got {self.error_rate}, "
                             f"{self.error_floor}")

    def init_context(self) -> ContextState:
        """Context 0 current and allocated, no error seen yet."""
        zeros = jnp.zeros(self.contexts)
        return ContextState(jnp.array(0), jnp.arange(self.contexts) == 0, zeros, jnp.array(0), zeros)

    def candidate(self, state: ContextState) -> tuple[Int[Array, ""], Bool[Array, ""]]:
        """The first free context, and whether there is one."""
        free = jnp.argmin(state.allocated)
        return free, ~state.allocated[free]

    def learning_rate(self, state: ContextState, rate: float) -> Float[Array, ""]:
        """The rate at which the current context's predictor learns from the next outcome: max(1 / n, rate)."""
        return jnp.maximum(1.0 / (state.seen[state.current] + 1.0), rate)

    def track(self, state: ContextState, errors: Float[Array, " contexts"], valid: Float[Array, ""]
              ) -> tuple[ContextState, Bool[Array, ""]]:
        """One outcome's errors, one per context (see the module docstring); `valid` 0 leaves everything as it was.
        Returns the new state and whether it opened the candidate."""
        current, index = state.current, jnp.arange(self.contexts)
        error = state.error + valid * self.error_rate * (errors - state.error)
        floored = error + self.error_floor
        better = floored * self.surprise_ratio < floored[current]  # than the current context, by kappa
        known = jnp.where(state.allocated & (index != current), floored, jnp.inf)
        best = jnp.argmin(known)
        returns = (valid > 0) & jnp.isfinite(known[best]) & better[best]
        free, has_candidate = self.candidate(state)
        challenged = has_candidate & better[free]
        challenged_for = jnp.where(valid > 0, jnp.where(challenged & ~returns, state.challenged_for + 1, 0),
                                   state.challenged_for)
        opens = (valid > 0) & ~returns & (challenged_for >= self.persistence)
        target = jnp.where(returns, best, jnp.where(opens, free, current))
        seen = state.seen.at[current].add(valid)
        seen = jnp.where(opens, seen.at[free].set(self.persistence), seen)  # it has learnt from the last outcomes
        new = ContextState(target, state.allocated.at[target].set(True), error,
                           jnp.where(target != current, 0, challenged_for), seen)
        return new, opens
