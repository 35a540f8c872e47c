"""Need values: how much each internal variable is expected to change from here, learned by TD(lambda).

One general value function per internal variable (Sutton et al. 2011, "Horde"): a linear read-out of the
features phi(s) predicts the discounted sum of the variable's future changes (in units of its scale),

    V_k(s) = w_k . phi(s)  ~  E[ sum_t gamma^t du_k,t+1 ],

learned online by TD(lambda) with an accumulating eligibility trace, a local three-factor rule (the trace of
each synapse's presynaptic activity, times the TD error as a global signal):

    delta_k = du_k + gamma (1 - end) V_k(s') - V_k(s),    e <- gamma lambda e + phi(s),
    w_k <- w_k + alpha delta_k e / (1 + |phi(s)|^2)        (a normalised step: alpha is unitless).

The changes are successor features (Barreto et al. 2017) of the homeostatic reward: r = D(h) - D(h') ~
worth . du, with `worth` the drive reduction per unit change of each variable (`homeostasis.drive.drive_secant`,
at a forecast of the internal state: allostasis), so what a state is worth to the body now is

    Q(s) = worth . V(s),

and a change of needs re-weights the values at once, with nothing to relearn: the body learns where food and
water are to be had from every item it eats, hungry or not. With gamma = 0 the same rule is the delta rule, a
one-step prediction (the need-value agent's outcome model: what an item eaten gives, `agents.value_agent`).

Features: phi = [code x [1, context], context, 1], a population code of the sensed scene (`tuning_code`: each
reading through Gaussian tuning curves) times [1, the body's context] (its motion, and the agent may add its last
command), beside the context and a bias (none with `bias=False`). A product with the motion is what lets a value tell "food ahead, moving
towards it" from "food ahead, moving away" (README, "The Forager on raw wheels: need values").

Cost (`brain.base`: synaptic operations): a value read is K F (K variables, F features), and n motions' values
for one scene read the scene's weights once (`motions_ops`); a learning step reads two values and writes the K F
weights and the F traces.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


def tuning_code(readings: Float[Array, " readings"], curves: int) -> Float[Array, " readings*curves"]:
    """Each reading in [0, 1] through `curves` Gaussian tuning curves with centres evenly from 1 / curves to 1 and
    width 0.75 / curves (a population code, as of distance); a reading of 0 (nothing sensed) fires none."""
    centres = jnp.linspace(1.0 / curves, 1.0, curves)
    code = jnp.exp(-((readings[:, None] - centres) ** 2) / (2 * (0.75 / curves) ** 2))
    return (code * (readings[:, None] > 0)).reshape(-1)


class NeedValues(eqx.Module):
    """V_k(s) = w_k . phi(s) for each internal variable k, learned by TD(lambda); see the module docstring."""

    weight: Float[Array, "variables features"]
    trace: Float[Array, " features"]
    code_size: int = eqx.field(static=True)
    motion_size: int = eqx.field(static=True)
    discount: float = eqx.field(static=True)
    trace_decay: float = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)
    bias: bool = eqx.field(static=True)

    def __init__(self, variables: int, code_size: int, motion_size: int, *, discount: float = 0.995,
                 trace_decay: float = 0.9, learning_rate: float = 0.05, bias: bool = True):
        if variables < 1 or code_size < 1 or motion_size < 0:
            raise ValueError(f"need variables, code_size >= 1 and motion_size >= 0, got {variables}, {code_size}, "
                             f"{motion_size}")
        if not 0 <= discount < 1 or not 0 <= trace_decay <= 1 or not learning_rate > 0:
            raise ValueError(f"need discount in [0, 1), trace_decay in [0, 1] and learning_rate > 0, got {discount}, "
                             f"{trace_decay}, {learning_rate}")
        size = code_size * (1 + motion_size) + motion_size + int(bias)
        self.weight, self.trace = jnp.zeros((variables, size)), jnp.zeros(size)
        self.code_size, self.motion_size, self.bias = code_size, motion_size, bool(bias)
        self.discount, self.trace_decay, self.learning_rate = float(discount), float(trace_decay), float(learning_rate)

    def features(self, code: Float[Array, " code"], motion: Float[Array, " motion"]) -> Float[Array, " features"]:
        """phi = [code x [1, motion], motion, 1] (without the last 1 where there is no bias)."""
        context = jnp.concatenate([jnp.ones(1), motion])
        return jnp.concatenate([jnp.outer(code, context).reshape(-1), motion, jnp.ones(int(self.bias))])

    def values(self, phi: Float[Array, " features"]) -> Float[Array, " variables"]:
        """V(s): each variable's expected discounted change from here."""
        return self.weight @ phi

    def values_of_motions(self, code: Float[Array, " code"], motions: Float[Array, "n motion"]
                          ) -> Float[Array, "n variables"]:
        """V(phi(code, m)) for each of n motions m, equal to `values(features(code, m))`: the scene's share of the
        weights is read once, W_code (code x [1, m]) = (W_code code) [1, m]."""
        scene = self.code_size * (1 + self.motion_size)
        per_context = self.weight[:, :scene].reshape(-1, self.code_size, 1 + self.motion_size)
        read = jnp.einsum("kcj,c->kj", per_context, code)  # [variables, 1 + motion]
        contexts = jnp.concatenate([jnp.ones((len(motions), 1)), motions], axis=1)
        rest = jnp.concatenate([motions, jnp.ones((len(motions), int(self.bias)))], axis=1)
        return contexts @ read.T + rest @ self.weight[:, scene:].T

    def td_error(self, phi: Float[Array, " features"], change: Float[Array, " variables"], ended: Float[Array, ""],
                 phi_next: Float[Array, " features"]) -> Float[Array, " variables"]:
        """delta_k = du_k + gamma (1 - end) V_k(s') - V_k(s): how far the transition phi -> phi_next, which changed
        the variables by `change`, was from what the values predicted."""
        return change + self.discount * (1.0 - ended) * self.values(phi_next) - self.values(phi)

    def learn(self, phi: Float[Array, " features"], change: Float[Array, " variables"], ended: Float[Array, ""],
              phi_next: Float[Array, " features"], valid: Float[Array, ""], rate: float | None = None) -> "NeedValues":
        """One TD(lambda) step on the transition phi -> phi_next that changed the variables by `change` (`ended`:
        the life ended there, so nothing follows); `valid` 0 leaves everything as it was. A life's end clears the
        trace. `rate` overrides the learning rate for this step."""
        delta = self.td_error(phi, change, ended, phi_next)
        trace = self.discount * self.trace_decay * self.trace + phi
        step = valid * (self.learning_rate if rate is None else rate) / (1.0 + phi @ phi)
        weight = self.weight + step * jnp.outer(delta, trace)
        trace = jnp.where(valid > 0, trace * (1.0 - ended), self.trace)
        return eqx.tree_at(lambda v: (v.weight, v.trace), self, (weight, trace))

    def motions_ops(self, n: int) -> Float[Array, ""]:
        """`values_of_motions` for n motions: the scene read once, then (1 + 2 M) K per motion."""
        scene = self.code_size * (1 + self.motion_size)
        return jnp.float32(self.weight.shape[0] * (scene + n * (1 + 2 * self.motion_size + 1)))

    def learn_ops(self) -> Float[Array, ""]:
        """Two reads, the K F weights and the F traces written."""
        return jnp.float32(3 * self.weight.size + self.trace.size)
