"""Sparse binary inputs for the SDR memory: checked binary vectors, or real vectors made sparse by k-WTA.

A binariser maps an input vector to the set of active input bits the memory learns from, as a mask and as
the indices of at most `max_active` active bits (the memory reads one weight row per active bit). Two kinds:

- `BinaryInput`: the input is already binary (0/1); its ones are the active bits.
- `WinnersTakeAll`: a real vector `x` is projected by a fixed random matrix `P` (a random expansion that
  preserves angles, as in the fly's olfactory hash, Dasgupta et al. 2017) and the `num_active` largest
  entries of `P x` become the active bits: `active = top_k(P x)`. Similar vectors get overlapping bit sets,
  every input gets exactly `num_active` bits. With `out_size=None`, `P` is the identity (plain k-WTA on `x`).

Bits are also packed 32 to a `uint32` word, the layout the memory's weights use. A binariser's cost
(`brain.base`: synaptic operations) is its `ops`: P x costs `out_size x in_size`, a binary input nothing.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, UInt32

from brain.base import check_vector, checked, is_traced

WORD_BITS = 32


def pack_bits(bits: Bool[Array, "*batch n"]) -> UInt32[Array, "*batch words"]:
    """Packs the last axis of a boolean array into `ceil(n / 32)` uint32 words (bit i of word w = bit 32w + i)."""
    n = bits.shape[-1]
    padded = jnp.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, -n % WORD_BITS)])
    words = padded.reshape(*bits.shape[:-1], -1, WORD_BITS).astype(jnp.uint32)
    return (words << jnp.arange(WORD_BITS, dtype=jnp.uint32)).sum(-1, dtype=jnp.uint32)


def count_set_rows(rows: UInt32[Array, "rows words"], n: int) -> Int[Array, " n"]:
    """For each of the first `n` bit positions, how many of `rows` have that bit set.

    SWAR: `(row >> j) & 0x01010101` keeps bits j, j+8, j+16, j+24 of a word in four byte lanes, so one
    uint32 sum over up to 255 rows counts four bit positions at once (8 shifts cover the word) without a
    lane overflowing; more rows are summed in groups of 255. About 2x faster on CPU than unpacking every bit.
    """
    size = min(rows.shape[0], 255)
    groups = -(-rows.shape[0] // size)
    rows = jnp.pad(rows, ((0, groups * size - rows.shape[0]), (0, 0))).reshape(groups, size, -1)
    shifts = jnp.arange(8, dtype=jnp.uint32)
    lanes = ((rows[:, :, None, :] >> shifts[:, None]) & jnp.uint32(0x01010101)).sum(1, dtype=jnp.uint32)
    counts = (lanes[..., None] >> (8 * jnp.arange(4, dtype=jnp.uint32))) & 0xFF  # (group, shift j, word, lane)
    counts = counts.astype(jnp.int32).sum(0)
    return counts.transpose(1, 2, 0).reshape(-1)[:n]  # bit 8 lane + j of each word


def count_bits(words: UInt32[Array, "*batch words"]) -> Array:
    """Number of set bits along the last axis (int32)."""
    return jax.lax.population_count(words).astype(jnp.int32).sum(-1)


class AbstractBinariser(eqx.Module):
    """Maps an input vector of width `in_size` to `out_size` active/inactive input bits."""

    in_size: eqx.AbstractVar[int]
    out_size: eqx.AbstractVar[int]
    max_active: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, x: Float[Array, " in_size"]) -> Bool[Array, " out_size"]:
        """The active bits of `x`."""

    def active_indices(self, x: Float[Array, " in_size"]) -> Int[Array, " max_active"]:
        """The indices of `x`'s active bits, padded with `out_size` (out of range) up to `max_active`."""
        return jnp.nonzero(self(x), size=self.max_active, fill_value=self.out_size)[0]

    def active_count(self, x: Float[Array, " in_size"]) -> Int[Array, ""]:
        """How many bits of `x` are active (the rows of weights the memory reads for it)."""
        return (self.active_indices(x) < self.out_size).sum()

    @property
    def ops(self) -> float:
        """Synaptic operations of binarising one input (none unless overridden)."""
        return 0.0

    def check(self, x, name: str = "input") -> None:
        """Eager checks at the Python boundary (shape and dtype always, values when not traced)."""
        check_vector(x, self.in_size, name)


class BinaryInput(AbstractBinariser):
    """Binary inputs used as they are: the ones are the active bits. Rejects non-binary and empty inputs, and
    inputs with more than `max_active` ones (all bits by default; set it to the inputs' sparsity, since the
    memory reads one weight row per possible active bit)."""

    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    max_active: int = eqx.field(static=True)

    def __init__(self, in_size: int, max_active: int | None = None):
        if in_size < 1:
            raise ValueError(f"in_size must be >= 1, got {in_size}")
        if max_active is not None and not 1 <= max_active <= in_size:
            raise ValueError(f"max_active must be in [1, {in_size}], got {max_active}")
        self.in_size = in_size
        self.out_size = in_size
        self.max_active = in_size if max_active is None else max_active

    def __call__(self, x: Float[Array, " in_size"]) -> Bool[Array, " out_size"]:
        return jnp.asarray(x) > 0.5

    def active_indices(self, x: Float[Array, " in_size"]) -> Int[Array, " max_active"]:
        """The ones of `x` by `top_k` (much faster on CPU than `nonzero`); an error under jit if there are
        more than `max_active`."""
        x = jnp.asarray(x, jnp.float32)
        values, indices = jax.lax.top_k(x, self.max_active)
        too_many = (x > 0.5).sum() > self.max_active
        indices = checked(indices, too_many, f"input has more than max_active={self.max_active} active bits")
        return jnp.where(values > 0.5, indices, self.out_size)

    def active_count(self, x: Float[Array, " in_size"]) -> Int[Array, ""]:
        """The ones of `x`, at most `max_active`."""
        return jnp.minimum((jnp.asarray(x) > 0.5).sum(), self.max_active)

    def check(self, x, name: str = "input") -> None:
        super().check(x, name)
        if is_traced(x):
            return
        values = np.asarray(x)
        if not np.all((values == 0) | (values == 1)):
            raise ValueError(f"{name} must be binary (0/1) for BinaryInput, got values {np.unique(values)[:5]}...")
        if not values.any():
            raise ValueError(f"{name} is empty: a binary input needs at least one active bit")
        if values.sum() > self.max_active:
            raise ValueError(f"{name} has {int(values.sum())} active bits, more than max_active={self.max_active}")


class WinnersTakeAll(AbstractBinariser):
    """k-winners-take-all of a fixed random projection: `active = top_k(P x)`, exactly `num_active` bits."""

    projection: Float[Array, "out_size in_size"] | None
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    num_active: int = eqx.field(static=True)

    def __init__(self, in_size: int, num_active: int, out_size: int | None = None, *, key: PRNGKeyArray):
        """`out_size=None` keeps the input's own axes (no projection); otherwise `P` is Gaussian, `out_size x in_size`."""
        if in_size < 1:
            raise ValueError(f"in_size must be >= 1, got {in_size}")
        out = in_size if out_size is None else out_size
        if not 1 <= num_active < out:
            raise ValueError(f"num_active must be in [1, {out}), got {num_active}")
        self.in_size = in_size
        self.out_size = out
        self.num_active = num_active
        self.projection = None if out_size is None else jax.random.normal(key, (out, in_size)) / np.sqrt(in_size)

    @property
    def max_active(self) -> int:
        return self.num_active

    @property
    def ops(self) -> float:
        """out_size x in_size multiply-accumulates of P x (none without a projection)."""
        return 0.0 if self.projection is None else float(self.out_size * self.in_size)

    def active_count(self, x: Float[Array, " in_size"]) -> Int[Array, ""]:
        """Always `num_active`."""
        return jnp.asarray(self.num_active)

    def __call__(self, x: Float[Array, " in_size"]) -> Bool[Array, " out_size"]:
        return jnp.zeros(self.out_size, bool).at[self.active_indices(x)].set(True)

    def active_indices(self, x: Float[Array, " in_size"]) -> Int[Array, " max_active"]:
        x = jnp.asarray(x, jnp.float32)
        drive = x if self.projection is None else self.projection @ x
        return jax.lax.top_k(drive, self.num_active)[1]

    def check(self, x, name: str = "input") -> None:
        super().check(x, name)
        if not is_traced(x) and not np.any(np.asarray(x)):
            raise ValueError(f"{name} is empty (all zeros): k-winners-take-all has nothing to choose from")
