"""Sparsey-style episodic memory: single-trial storage of sparse distributed codes with binary weights.

A macrocolumn has Q competitive modules (CMs) of K binary cells; a code is one winner per CM. Each cell
has one binary weight per input bit, and weights only ever go 0 -> 1. They are stored input-major and
bit-packed: `weights[b]` holds, 32 cells to a uint32 word, which cells input bit b reaches (cell (q, k) is
bit qK + k). Matching an input reads one row per active bit, so store and recall cost O(active bits x Q K),
whatever the number of stored items and whatever the input width. The Code Selection Algorithm (Rinkus
2010, 2014):

    u_i   = number of the input's active bits whose weight onto cell i is set
    d_i   = fraction of cell i's bundle that is set          (what a random input would cover)
    V_i   = clip((u_i / n_active - d_i) / (1 - d_i), 0, 1)   (normalised match, corrected for chance)
    G     = mean over CMs of max_i V_i                       (familiarity)
    eta   = 1 + max(0, (G - g_min) / (1 - g_min))**gamma * chi * K
    mu_i  = max(eta * sigmoid(psi * (V_i - omega)), mu_min)  (omega rises with saturation)
    learn: one winner per CM drawn with probability mu_i / sum_CM(mu);   recall: argmax_i V_i per CM

The chance correction departs from the textbook `V_i = u_i / n_active`: without it a dense bundle covers
most of any input, so novel inputs look familiar, eta grows and the densest cells win every new input
(measured: with 1024 input bits, 64 active, Q=12, K=16, G of novel inputs reaches 0.95 after 100 stores and
recall from 40%-corrupted cues falls to 0.13). A stored input still gets V = 1 in its own cells.

A novel input (G low, eta ~ 1) gets a near-uniformly random, fresh code; a familiar one (eta large) gets
its best-matching cells, so similar inputs share cells. Storing sets the weights from the active input bits
to the winners (a cell whose bundle is more than `freeze_at` full is frozen) and adds the payload to each
winner's running payload sums, counting per payload entry: a store may bind only some entries (`mask`, e.g.
the value of the one action taken), so a recalled entry is the mean of what was stored in it, not weighted by
how often it was stored. The recalled payload is, per entry, the mean over the code's cells that hold data in
it of each cell's mean (`known`: the fraction of the code's cells that do). Each cell also keeps one episode
whole, per entry: reservoir sampling (Vitter 1985) replaces it at the n-th store in that entry with
probability 1/n, so it is a uniform draw over everything the cell stored, never a blend. `replay` returns the
episode of one of the code's cells, drawn at random: a transition as it happened, where the mean is an
average of many (measured on Pendulum brains, README "Learning to act"). Horizontal weights (optional,
`sequences`) store the hetero-association code(t) -> code(t+1). Every array has a fixed size, so store and
recall cost the same however many episodes are stored.

Cost (`brain.base`: synaptic operations; n the input's active bits, P the payload width). Matching reads the
binariser's synapses (`ops`), one row of Q K cell bits per active bit and the Q K bundle fills:
match = binarise + n Q K + Q K. A recall adds the payloads of the code's cells (sums and counts: 2 Q P); a
store adds its writes: the weights from every active bit to the Q winners (n Q), their fills (Q), and the
payload sums, counts and kept episodes of the entries it binds (3 Q m, m the entries the mask lets in; the
episode's entries are counted whether or not the draw replaces them). A replay reads one cell's episode and
counts (2 P).

Capacity (`predicted_capacity`). After M stores of random inputs with a of N bits active, under random
codes each cell has won ~M/K of them, so a bundle's density is d = 1 - exp(-M a / (N K)). A cue that keeps
a - r of a stored input's bits (r = noise x a moved elsewhere) covers C = (a - r) + Bin(r, d) of its own
cell's bundle, while each other cell covers W ~ Bin(a, d). Recall is exact when in every CM the own cell
beats the K - 1 others:

    P_exact(M) = ( sum_c P(C = c) P(max of K - 1 draws of W < c) )^Q

and the capacity at a noise level is the largest M with P_exact(M) >= 0.95 (ties count half).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray, UInt32
from scipy.stats import binom

from brain.base import AbstractMemory, Episode, Recollection, checked
from brain.sdr_encoding import WORD_BITS, AbstractBinariser, check_vector, count_set_rows, is_traced, pack_bits


def exact_recall_probability(
    stored: int, num_modules: int, cells_per_module: int, input_bits: int, active_bits: int, noise: float
) -> float:
    """`P_exact(M)` of the capacity rule above: the chance that a cue with `noise` of its active bits moved
    recovers all Q cells of the code of one of `stored` random items."""
    density = -np.expm1(-stored * active_bits / (input_bits * cells_per_module))
    moved = int(round(noise * active_bits))
    own = active_bits - moved + np.arange(moved + 1)  # C = kept bits + moved bits that land on the bundle
    p_own = binom.pmf(np.arange(moved + 1), moved, density)
    others_below = binom.cdf(own - 1, active_bits, density) ** (cells_per_module - 1)
    others_at_most = binom.cdf(own, active_bits, density) ** (cells_per_module - 1)
    per_module = (p_own * (others_below + 0.5 * (others_at_most - others_below))).sum()
    return float(per_module**num_modules)


def predicted_capacity(
    num_modules: int, cells_per_module: int, input_bits: int, active_bits: int, noise: float = 0.2,
    target: float = 0.95,
) -> int:
    """The largest number of random items after which `exact_recall_probability` is still >= `target`."""
    args = (num_modules, cells_per_module, input_bits, active_bits, noise)
    if exact_recall_probability(1, *args) < target:
        return 0
    low, high = 1, 2
    while exact_recall_probability(high, *args) >= target:
        low, high = high, 2 * high
    while high - low > 1:  # P_exact falls with the number stored: bisect
        middle = (low + high) // 2
        low, high = (middle, high) if exact_recall_probability(middle, *args) >= target else (low, middle)
    return low


def cells_for(items: int, num_modules: int, input_bits: int, active_bits: int, noise: float = 0.2) -> int:
    """The smallest power-of-two K whose predicted capacity at `noise` holds `items` random items."""
    cells = 2
    while predicted_capacity(num_modules, cells, input_bits, active_bits, noise) < items:
        cells *= 2
    return cells


def _write_key(key: PRNGKeyArray) -> PRNGKeyArray:
    """The key of a store's write (which cells keep its episode), apart from the key that chose its code."""
    return jax.random.fold_in(key, 1)


class SparseyMemory(AbstractMemory):
    """Episodic memory of Q x K binary cells: `store` in one trial, `recall` the best match, `predict` the next code."""

    binariser: AbstractBinariser
    weights: UInt32[Array, "in_bits cell_words"]
    fill: Int[Array, "Q K"]
    sequence_weights: UInt32[Array, "cells_or_0 cell_words"]
    payload_sum: Float[Array, "Q K payload"]
    payload_count: Int[Array, "Q K payload"]
    episode_payload: Float[Array, "Q K payload"]
    in_size: int = eqx.field(static=True)
    payload_size: int = eqx.field(static=True)
    num_modules: int = eqx.field(static=True)
    cells_per_module: int = eqx.field(static=True)
    g_min: float = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    chi: float = eqx.field(static=True)
    psi: float = eqx.field(static=True)
    omega: tuple[float, float] = eqx.field(static=True)
    mu_min: float = eqx.field(static=True)
    freeze_at: float = eqx.field(static=True)
    sequences: bool = eqx.field(static=True)

    def __init__(
        self,
        binariser: AbstractBinariser,
        payload_size: int,
        num_modules: int = 12,
        cells_per_module: int = 16,
        *,
        g_min: float = 0.1,
        gamma: float = 2.0,
        chi: float = 100.0,
        psi: float = 20.0,
        omega: tuple[float, float] = (0.5, 0.9),
        mu_min: float = 1.0,
        freeze_at: float = 1.0,
        sequences: bool = True,
    ):
        """An empty memory. `omega = (empty, full)`: the sigmoid's midpoint as saturation goes 0 -> 1.

        `freeze_at` is the fill fraction past which a cell's bundle stops learning (1.0: never frozen).
        `psi` is steeper than the 4 of SCIENCE.md's example: with 4, cells that merely match at chance
        still get most of eta, so even a repeated input keeps only ~3 of 12 cells of its code.
        `sequences` keeps the horizontal weights of `associate`/`predict` ((QK)^2 bits; off for large memories).
        """
        if payload_size < 1:
            raise ValueError(f"payload_size must be >= 1, got {payload_size}")
        if num_modules < 1 or cells_per_module < 2:
            raise ValueError(f"need num_modules >= 1 and cells_per_module >= 2, got {num_modules}, {cells_per_module}")
        if not 0 <= g_min < 1:
            raise ValueError(f"g_min must be in [0, 1), got {g_min}")
        if gamma <= 0 or chi < 0 or psi <= 0 or mu_min <= 0:
            raise ValueError(f"need gamma > 0, chi >= 0, psi > 0, mu_min > 0, got {gamma}, {chi}, {psi}, {mu_min}")
        if not 0 < freeze_at <= 1:
            raise ValueError(f"freeze_at must be in (0, 1], got {freeze_at}")
        cells = num_modules * cells_per_module
        cell_words = -(-cells // WORD_BITS)
        self.binariser = binariser
        self.weights = jnp.zeros((binariser.out_size, cell_words), jnp.uint32)
        self.fill = jnp.zeros((num_modules, cells_per_module), jnp.int32)
        self.sequence_weights = jnp.zeros((cells if sequences else 0, cell_words), jnp.uint32)
        self.payload_sum = jnp.zeros((num_modules, cells_per_module, payload_size), jnp.float32)
        self.payload_count = jnp.zeros((num_modules, cells_per_module, payload_size), jnp.int32)
        self.episode_payload = jnp.zeros((num_modules, cells_per_module, payload_size), jnp.float32)
        self.in_size = binariser.in_size
        self.payload_size = payload_size
        self.num_modules = num_modules
        self.cells_per_module = cells_per_module
        self.g_min = g_min
        self.gamma = gamma
        self.chi = chi
        self.psi = psi
        self.omega = omega
        self.mu_min = mu_min
        self.freeze_at = freeze_at
        self.sequences = sequences

    @property
    def num_cells(self) -> int:
        return self.num_modules * self.cells_per_module

    @property
    def num_synapses(self) -> int:
        """Bottom-up binary weights: input bits x cells."""
        return self.binariser.out_size * self.num_cells

    def capacity(self, noise: float = 0.2) -> int:
        """Random items this memory holds with exact recall >= 0.95 at `noise`, by the capacity rule."""
        return predicted_capacity(self.num_modules, self.cells_per_module, self.binariser.out_size,
                                  self.binariser.max_active, noise)

    def saturation(self) -> Float[Array, ""]:
        """Fraction of the bottom-up weights that are set."""
        return self.fill.sum() / self.num_synapses

    def bundle_fill(self) -> Float[Array, "Q K"]:
        """Fraction of each cell's bundle (its weights from every input bit) that is set."""
        return self.fill / self.binariser.out_size

    def match(self, x: Float[Array, " in_size"]) -> tuple[Float[Array, "Q K"], Float[Array, ""]]:
        """Chance-corrected match `V` of every cell to `x` and the familiarity `G` (CSA steps 1-3)."""
        self.binariser.check(x)
        x = checked(x, ~jnp.all(jnp.isfinite(x)), "the memory was cued with a non-finite input")
        active = self.binariser.active_indices(x)
        rows = self.weights.at[active].get(mode="fill", fill_value=0)
        reached = count_set_rows(rows, self.num_cells)
        covered = reached.reshape(self.fill.shape) / jnp.maximum((active < self.binariser.out_size).sum(), 1)
        density = self.bundle_fill()
        match = jnp.clip((covered - density) / jnp.maximum(1.0 - density, 1e-6), 0.0, 1.0)
        return match, match.max(-1).mean()

    def match_ops(self, x: Float[Array, " in_size"]) -> Float[Array, ""]:
        """binarise + n Q K + Q K (module docstring): what one `match` of `x` reads."""
        return jnp.asarray(self.binariser.ops + (self.binariser.active_count(x) + 1) * self.num_cells, jnp.float32)

    def encode(self, x: Float[Array, " in_size"], *, key: PRNGKeyArray) -> tuple[Int[Array, " Q"], Float[Array, ""]]:
        """The code the CSA chooses to store `x` (steps 4-6, learning mode) and its familiarity, storing nothing."""
        match, familiarity = self.match(x)
        novelty_gate = jnp.maximum(0.0, (familiarity - self.g_min) / (1.0 - self.g_min)) ** self.gamma
        eta = 1.0 + novelty_gate * self.chi * self.cells_per_module
        omega = self.omega[0] + (self.omega[1] - self.omega[0]) * self.saturation()
        mu = jnp.maximum(eta * jax.nn.sigmoid(self.psi * (match - omega)), self.mu_min)
        cumulative = jnp.cumsum(mu / mu.sum(-1, keepdims=True), axis=-1)  # one inverse-CDF draw per CM
        draw = jax.random.uniform(key, (self.num_modules, 1))
        return jnp.minimum((cumulative < draw).sum(-1), self.cells_per_module - 1), familiarity

    def write(
        self, x: Float[Array, " in_size"], code: Int[Array, " Q"], payload: Float[Array, " payload"],
        mask: Float[Array, " payload"] | None = None, *, key: PRNGKeyArray,
    ) -> "SparseyMemory":
        """Binds `x` and `payload` (the entries where `mask` is 1; all by default) to `code` in one trial:
        weights from `x`'s active bits to the code's cells -> 1; `key` draws which cells keep this episode."""
        self.binariser.check(x)
        self._check_code(code)
        check_vector(payload, self.payload_size, "payload")
        mask = jnp.ones(self.payload_size) if mask is None else jnp.asarray(mask)
        check_vector(mask, self.payload_size, "mask")
        x = checked(x, ~jnp.all(jnp.isfinite(x)), "the memory was given a non-finite input to store")
        modules = jnp.arange(self.num_modules)
        learning = self.fill[modules, code] < self.freeze_at * self.binariser.out_size
        cells = self._cell_index(code)
        active = self.binariser.active_indices(x)
        rows = self.weights.at[active].get(mode="fill", fill_value=0)
        was_set = (rows[:, cells // WORD_BITS] >> (cells % WORD_BITS).astype(jnp.uint32)) & 1  # (active, Q)
        newly_set = ((active < self.binariser.out_size)[:, None] & (was_set == 0)).sum(0) * learning
        learned = rows | self._cells(jnp.where(learning, cells, self.num_cells))
        count = self.payload_count[modules, code] + (mask > 0).astype(jnp.int32)  # (Q, payload)
        kept = (mask > 0) & (jax.random.uniform(key, (self.num_modules, 1)) * count <= 1.0)  # reservoir: p = 1/n
        episode = jnp.where(kept, jnp.asarray(payload, jnp.float32), self.episode_payload[modules, code])
        return eqx.tree_at(
            lambda m: (m.weights, m.fill, m.payload_sum, m.payload_count, m.episode_payload),
            self,
            (
                self.weights.at[active].set(learned, mode="drop"),
                self.fill.at[modules, code].add(newly_set.astype(jnp.int32)),
                self.payload_sum.at[modules, code].add(jnp.asarray(payload * mask, jnp.float32)),
                self.payload_count.at[modules, code].set(count),
                self.episode_payload.at[modules, code].set(episode),
            ),
        )

    def store(
        self, x: Float[Array, " in_size"], payload: Float[Array, " payload"], *, key: PRNGKeyArray,
        mask: Float[Array, " payload"] | None = None,
    ) -> "SparseyMemory":
        """Stores `x` with `payload` (where `mask` is 1) in a single trial: `write(x, encode(x), payload, mask)`."""
        code, _ = self.encode(x, key=key)
        return self.write(x, code, payload, mask, key=_write_key(key))

    def store_ops(
        self, x: Float[Array, " in_size"], payload: Float[Array, " payload"], *,
        mask: Float[Array, " payload"] | None = None,
    ) -> Float[Array, ""]:
        """match + n Q + Q + 3 Q m (module docstring): the match that chooses the code, then the writes."""
        entries = self.payload_size if mask is None else (jnp.asarray(mask) > 0).sum()
        writes = (self.binariser.active_count(x) + 1 + 3 * entries) * self.num_modules
        return self.match_ops(x) + writes

    def recall(self, cue: Float[Array, " in_size"]) -> Recollection:
        """Best-matching code (argmax V in each CM), its familiarity G and the payload bound to it."""
        match, familiarity = self.match(cue)
        code = match.argmax(-1)
        return Recollection(code, familiarity, *self.payload_of(code), self.match_ops(cue) + self._payload_reads())

    def _payload_reads(self) -> float:
        """2 Q P: the payload sums and counts of a code's cells (`payload_of`)."""
        return float(2 * self.num_modules * self.payload_size)

    def payload_of(self, code: Int[Array, " Q"]) -> tuple[Float[Array, " payload"], Float[Array, " payload"]]:
        """Per payload entry, the mean over the code's cells holding data in it of each cell's mean (0 where none
        does), and the fraction of the code's cells that hold data in it."""
        modules = jnp.arange(self.num_modules)
        count = self.payload_count[modules, code]
        cell_means = self.payload_sum[modules, code] / jnp.maximum(count, 1)
        bound = (count > 0).astype(jnp.float32)
        return (bound * cell_means).sum(0) / jnp.maximum(bound.sum(0), 1.0), bound.mean(0)

    def replay(self, code: Int[Array, " Q"], *, key: PRNGKeyArray) -> Episode:
        """The episode one of `code`'s cells keeps (the cell drawn at random), whole: per entry, a uniform draw over
        what that cell stored in it (module docstring); known where the cell stored anything."""
        self._check_code(code)
        module = jax.random.randint(key, (), 0, self.num_modules)
        known = (self.payload_count[module, code[module]] > 0).astype(jnp.float32)
        return Episode(self.episode_payload[module, code[module]], known, jnp.float32(2 * self.payload_size))

    def associate(self, code: Int[Array, " Q"], next_code: Int[Array, " Q"]) -> "SparseyMemory":
        """Hetero-association code(t) -> code(t+1): horizontal weights from `code`'s cells to `next_code`'s -> 1."""
        self._check_sequences()
        self._check_code(code)
        self._check_code(next_code)
        rows = self._cell_index(code)
        learned = self.sequence_weights[rows] | self._cells(self._cell_index(next_code))
        return eqx.tree_at(lambda m: m.sequence_weights, self, self.sequence_weights.at[rows].set(learned))

    def predict(self, code: Int[Array, " Q"]) -> Recollection:
        """The code that followed `code`: argmax per CM of the fraction of `code`'s cells pointing at each cell.

        Its familiarity is that fraction averaged over CMs (1 for a stored transition), and its payload is the
        payload bound to the predicted code.
        """
        self._check_sequences()
        self._check_code(code)
        pointing = count_set_rows(self.sequence_weights[self._cell_index(code)], self.num_cells)
        match = pointing.reshape(self.fill.shape) / self.num_modules
        next_code = match.argmax(-1)
        ops = jnp.float32(self.num_modules * self.num_cells + self._payload_reads())  # Q rows of Q K bits, payloads
        return Recollection(next_code, match.max(-1).mean(), *self.payload_of(next_code), ops)

    def store_many(
        self, xs: Float[Array, "N in_size"], payloads: Float[Array, "N payload"], *, key: PRNGKeyArray
    ) -> tuple["SparseyMemory", Int[Array, "N Q"]]:
        """Stores each row in turn, single-trial each (one `lax.scan`); returns the memory and every row's code."""

        def step(memory, inputs):
            x, payload, key = inputs
            code, _ = memory.encode(x, key=key)
            return memory.write(x, code, payload, key=_write_key(key)), code

        return jax.lax.scan(step, self, (xs, payloads, jax.random.split(key, len(xs))))

    def store_sequence(
        self, xs: Float[Array, "T in_size"], payloads: Float[Array, "T payload"], *, key: PRNGKeyArray
    ) -> tuple["SparseyMemory", Int[Array, "T Q"]]:
        """Stores an episode sequence in one `lax.scan`, associating each code with the next; returns the codes."""
        if jnp.ndim(xs) != 2 or len(xs) < 1 or jnp.shape(payloads) != (len(xs), self.payload_size):
            raise ValueError(
                f"need xs of shape (T >= 1, {self.in_size}) and payloads of shape (T, {self.payload_size}), "
                f"got {jnp.shape(xs)} and {jnp.shape(payloads)}"
            )
        keys = jax.random.split(key, len(xs))
        first, _ = self.encode(xs[0], key=keys[0])
        memory = self.write(xs[0], first, payloads[0], key=_write_key(keys[0]))

        def step(carry, inputs):
            memory, previous = carry
            x, payload, key = inputs
            code, _ = memory.encode(x, key=key)
            return (memory.write(x, code, payload, key=_write_key(key)).associate(previous, code), code), code

        (memory, _), codes = jax.lax.scan(step, (memory, first), (xs[1:], payloads[1:], keys[1:]))
        return memory, jnp.concatenate([first[None], codes])

    def _cell_index(self, code: Int[Array, " Q"]) -> Int[Array, " Q"]:
        """The code's cells as indices into all Q*K cells (cell (q, k) is qK + k)."""
        return jnp.arange(self.num_modules) * self.cells_per_module + code

    def _cells(self, cells: Int[Array, " n"]) -> UInt32[Array, " cell_words"]:
        """Cell indices as packed bits over all Q*K cells (indices out of range are left out)."""
        return pack_bits(jnp.zeros(self.num_cells, bool).at[cells].set(True, mode="drop"))

    def _check_sequences(self) -> None:
        if not self.sequences:
            raise ValueError("this memory keeps no sequences: build it with sequences=True to associate/predict")

    def _check_code(self, code) -> None:
        if jnp.shape(code) != (self.num_modules,):
            raise ValueError(f"code must have shape ({self.num_modules},), got {jnp.shape(code)}")
        if not jnp.issubdtype(jnp.result_type(code), jnp.integer):
            raise TypeError(f"code must be integer cell indices, got dtype {jnp.result_type(code)}")
        if not is_traced(code) and not np.all((np.asarray(code) >= 0) & (np.asarray(code) < self.cells_per_module)):
            raise ValueError(f"code entries must be in [0, {self.cells_per_module}), got {np.asarray(code)}")
