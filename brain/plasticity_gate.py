"""Task-selective plasticity: a basal-ganglia-like gate that allocates units of a predictive-coding stack to
contexts and masks everyone else's activity and learning (Ororbia's lifelong predictive coding; PBWM).

Every unit of the gated stack has an owner: a context id, `FREE` (not yet allocated) or `SHARED` (on in every
context, e.g. the clamped input). A context's masks (`masks(c)`, the `masks` argument of every `PCStack`
function) switch on its own units and the shared ones only, so learning in context c leaves every synapse into
or out of another context's units bit-for-bit unchanged.

Units join a context in two ways:

- `recruit`: in each layer with a quota, the `quota` free units that respond most strongly to the new
  context's input win it (k-winners-take-all competition over the free units).
- `claim`: the free units a context actually uses, e.g. the label units active in its targets.

Without a task id the gate infers the context from the input. At test time (`infer_context`): the allocated
context whose units explain the input with the least free energy. While learning from a stream (`track`): the
free energy F of each batch under the current context is compared with its running mean; a surprise spike
(F > `surprise_ratio` x the running mean) means the world has changed, and the gate returns to an allocated
context that explains the batch as well as it explained its own (within the same ratio of its running mean),
or opens a new context if none does.
"""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from brain.base import checked
from brain.predictive_coding import PCStack, States

FREE = -1
SHARED = -2


class PlasticityGate(eqx.Module):
    """Which context owns each unit of a stack's layers; builds the masks that gate activity and plasticity."""

    owner: tuple[Int[Array, " n"], ...]  # per layer: a context id, FREE or SHARED
    current: Int[Array, ""]  # the context `track` is in (-1 before the first batch)
    baselines: Float[Array, " contexts"]  # per context: running mean of its free energy while current (inf: none)
    quotas: tuple[int, ...] = eqx.field(static=True)  # per layer: units recruited per context (0: none)
    max_contexts: int = eqx.field(static=True)
    surprise_ratio: float = eqx.field(static=True)
    baseline_rate: float = eqx.field(static=True)

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        quotas: Sequence[int],
        shared: Sequence[Bool[Array, " n"] | bool],
        surprise_ratio: float = 1.6,
        baseline_rate: float = 0.1,
    ):
        """**Arguments:**

        - `sizes`: the widths of the gated stack's layers.
        - `quotas`: per layer, how many units each context recruits (0 where units are shared or claimed).
        - `shared`: per layer, True (or a per-unit boolean array) for units on in every context.
        - `surprise_ratio`: how many times its running mean the free energy must jump to signal a new context.
        - `baseline_rate`: the rate of that running mean (an exponential moving average).

        `max_contexts` follows: the fewest contexts any recruiting layer has room for.
        """
        sizes = tuple(int(n) for n in sizes)
        if len(quotas) != len(sizes) or len(shared) != len(sizes):
            raise ValueError(f"quotas and shared need one entry per layer ({len(sizes)})")
        owner = []
        for l, (n, flags) in enumerate(zip(sizes, shared)):
            flags = jnp.broadcast_to(jnp.asarray(flags, bool), (n,))
            if quotas[l] < 0 or (quotas[l] > 0 and bool(flags.any())):
                raise ValueError(f"layer {l}: a quota must be >= 0 and a recruiting layer cannot be shared")
            owner.append(jnp.where(flags, SHARED, FREE).astype(jnp.int32))
        free = [n - int(jnp.sum(o == SHARED)) for n, o in zip(sizes, owner)]
        room = [f // q for f, q in zip(free, quotas) if q > 0]
        if not room or min(room) < 1:
            raise ValueError(f"quotas {tuple(quotas)} leave no layer with room for a context (free units {free})")
        if not (surprise_ratio > 1 and 0 < baseline_rate <= 1):
            raise ValueError(
                f"need surprise_ratio > 1 and 0 < baseline_rate <= 1, got {surprise_ratio} and {baseline_rate}"
            )
        self.owner = tuple(owner)
        self.quotas = tuple(int(q) for q in quotas)
        self.current = jnp.array(-1)
        self.max_contexts = min(room)
        self.baselines = jnp.full(self.max_contexts, jnp.inf)
        self.surprise_ratio = float(surprise_ratio)
        self.baseline_rate = float(baseline_rate)

    @property
    def num_contexts(self) -> Int[Array, ""]:
        """How many contexts have been allocated (ids 0 .. num_contexts - 1)."""
        return jnp.max(jnp.stack([jnp.max(o) for o in self.owner])) + 1

    def masks(self, context: Int[Array, ""] | int) -> tuple[Float[Array, " n"], ...]:
        """1 for the units of `context` and the shared ones, 0 elsewhere: the stack's `masks` argument."""
        return tuple(((o == context) | (o == SHARED)).astype(jnp.float32) for o in self.owner)

    def recruit(
        self,
        context: Int[Array, ""] | int,
        responses: Sequence[Float[Array, " n"] | None],
        when: Bool[Array, ""] | bool = True,
    ) -> "PlasticityGate":
        """In every layer with a quota, the `quota` free units with the largest `responses` (e.g. mean |f(z)|
        on the context's first inputs) join `context`, if `when` (a traced flag, so it works under `vmap`,
        where `lax.cond` would run both branches). Raises when a layer has too few free units left."""
        owner = []
        for o, quota, response in zip(self.owner, self.quotas, responses):
            if quota == 0:
                owner.append(o)
                continue
            if jnp.shape(response) != o.shape:
                raise ValueError(f"responses must match the layer widths, got {jnp.shape(response)} for {o.shape}")
            free = o == FREE
            o = checked(o, when & (jnp.sum(free) < quota), "the plasticity gate has no free units left for a context")
            winners = jax.lax.top_k(jnp.where(free, response, -jnp.inf), quota)[1]
            owner.append(jnp.where(when, o.at[winners].set(context), o))
        return eqx.tree_at(lambda g: g.owner, self, tuple(owner))

    def claim(self, context: Int[Array, ""] | int, layer: int, used: Float[Array, " n"]) -> "PlasticityGate":
        """The free units of `layer` where `used` > 0 (e.g. a batch's targets, summed) join `context`."""
        o = self.owner[layer]
        if jnp.shape(used) != o.shape:
            raise ValueError(f"used must have shape {o.shape} for layer {layer}, got {jnp.shape(used)}")
        claimed = jnp.where((o == FREE) & (used > 0), context, o)
        return eqx.tree_at(lambda g: g.owner[layer], self, claimed)

    def free_energy(
        self,
        stack: PCStack,
        states: States,
        context: Int[Array, ""] | int,
        *,
        clamped: tuple[bool, ...],
        visible: tuple[Float[Array, " n"], ...],
    ) -> Float[Array, ""]:
        """Free energy of `context`'s own units for one sample, after inference under its masks restricted to
        the units also `visible` (e.g. without the labels at test time):
        `sum over own units i of (z_i - mu_i)^2 / (2 v_i) + log(v_i) / 2`. The shared units' terms are left out:
        they are the same for every context, and they drift with all learning."""
        masks = tuple(m * v for m, v in zip(self.masks(context), visible))
        settled, _ = stack.infer(states, clamped=clamped, masks=masks)
        diffs, errors = stack.prediction_errors(settled, masks=masks)
        own = (((o == context) * v) for o, v in zip(self.owner, visible))
        terms = zip(own, diffs, errors, stack.variances)
        return sum(jnp.sum(k * (d * e + jnp.log(var))) / 2 for k, d, e, var in terms)

    def free_energies(self, stack: PCStack, states: States, **options) -> Float[Array, " contexts"]:
        """`free_energy` under every context (+inf for those not yet allocated)."""
        contexts = jnp.arange(self.max_contexts)
        energies = jax.vmap(lambda c: self.free_energy(stack, states, c, **options))(contexts)
        return jnp.where(contexts < self.num_contexts, energies, jnp.inf)

    def infer_context(self, free_energies: Float[Array, " contexts"]) -> Int[Array, ""]:
        """The allocated context that explains the input with the least free energy."""
        return jnp.argmin(free_energies)

    def track(
        self, free_energy: Callable[[Int[Array, ""]], Float[Array, ""]]
    ) -> tuple["PlasticityGate", Bool[Array, ""]]:
        """Follows a stream without task ids: `free_energy(c)` is the batch's mean free energy under context c.
        Returns the gate with its `current` context updated, and whether that context is new (the caller then
        recruits units for it). Every context's free energy is computed only on a surprise spike."""
        current = self.current
        energy = free_energy(current)
        spike = (current < 0) | (energy > self.surprise_ratio * self.baselines[current])

        def on_spike(_):
            contexts = jnp.arange(self.max_contexts)
            energies = jax.vmap(free_energy)(contexts)
            known = (contexts < self.num_contexts) & (energies <= self.surprise_ratio * self.baselines)
            best = jnp.argmin(jnp.where(known, energies, jnp.inf))
            return jnp.where(known.any(), best, self.num_contexts), ~known.any()

        def steady(_):
            return current, jnp.array(False)

        context, opened = jax.lax.cond(spike, on_spike, steady, None)
        context = checked(context, context >= self.max_contexts, "the plasticity gate has no room for a context")
        # staying: the running mean of the current context follows (the first batch after opening sets it)
        old = self.baselines[current]
        mean = jnp.where(jnp.isinf(old), energy, old + self.baseline_rate * (energy - old))
        baselines = jnp.where(context == current, self.baselines.at[current].set(mean), self.baselines)
        return eqx.tree_at(lambda g: (g.current, g.baselines), self, (context, baselines)), opened
