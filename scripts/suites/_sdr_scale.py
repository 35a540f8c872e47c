"""The SDR memory at 10^5 items: a macrocolumn sized by the capacity rule, random sparse items, noisy cues,
and the exact and approximate nearest-neighbour indexes it is compared with, and the jitted batch store and
recall every part of the memory suite uses (shared by `evaluate.py memory` and `bench.py memory`).

Items are random binary vectors of 8192 bits with 32 active (0.4%, the sparsity of an SDR), given to every
system as they are: to the SDR memory as its input, to faiss `IndexBinaryFlat` bit-packed, and to faiss
`IndexFlatL2` and hnswlib as float vectors (L2 distance on binary vectors is Hamming distance). A cue is a
stored item with a fraction of its active bits moved to random inactive places.
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from brain.sdr_encoding import BinaryInput
from brain.sdr_memory import SparseyMemory, cells_for
from suites._report import progress

BITS, ACTIVE, MODULES, ITEMS = 8192, 32, 12, 100_000
CELLS = cells_for(ITEMS, MODULES, BITS, ACTIVE, noise=0.2)  # the capacity rule: 1024 for these sizes
CHUNK = 1000  # items stored per jitted call


def scale_memory() -> SparseyMemory:
    """Q=12 competitive modules of K cells (K from the capacity rule for 10^5 items at 20% cue noise)."""
    return SparseyMemory(BinaryInput(BITS, max_active=ACTIVE), 1, MODULES, CELLS, sequences=False)


def describe() -> str:
    memory = scale_memory()
    return (f"{BITS} input bits, {ACTIVE} active; Q={MODULES} x K={CELLS} cells (K by the capacity rule for "
            f"{ITEMS:,} items at 20% noise: predicted capacity {memory.capacity(0.2):,}); "
            f"{memory.num_synapses / 8e6:.1f} MB of bit-packed weights")


def random_items(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` items as the sorted indices of their ACTIVE active bits (int32, count x ACTIVE)."""
    return np.concatenate([np.sort(rng.random((min(CHUNK, count - start), BITS)).argpartition(ACTIVE, 1)[:, :ACTIVE], 1)
                           for start in range(0, count, CHUNK)]).astype(np.int32)


def moved(rng: np.random.Generator, items: np.ndarray, fraction: float) -> np.ndarray:
    """Cues: each item with round(fraction x ACTIVE) of its active bits moved to random bits it lacks."""
    count = int(round(fraction * ACTIVE))
    cues = items.copy()
    for row in cues:
        taken = set(row.tolist())
        fresh = [b for b in rng.choice(BITS, 2 * count + ACTIVE, replace=False) if b not in taken][:count]
        row[rng.choice(ACTIVE, count, replace=False)] = fresh
    return cues


def dense(items: np.ndarray) -> np.ndarray:
    """The items as 0/1 float32 vectors of BITS."""
    out = np.zeros((len(items), BITS), np.float32)
    np.put_along_axis(out, items, 1.0, axis=1)
    return out


def packed(items: np.ndarray) -> np.ndarray:
    """The items bit-packed, 8 bits to a byte (faiss binary codes)."""
    return np.packbits(dense(items).astype(np.uint8), axis=1)


@eqx.filter_jit
def store_all(memory: SparseyMemory, xs, payloads, key):
    """Stores each row in turn, single-trial each (one jitted `lax.scan`); returns the memory and the codes."""
    return memory.store_many(xs, payloads, key=key)


@eqx.filter_jit
def recall_all(memory: SparseyMemory, cues):
    """One jitted `vmap` of recall over a batch of cues."""
    return jax.vmap(memory.recall)(cues)


def store(memory: SparseyMemory, items: np.ndarray, key) -> tuple[SparseyMemory, np.ndarray, float]:
    """Stores `items` in order (CHUNK per jitted scan); returns the memory, their codes and the seconds spent."""
    codes, seconds = [], 0.0
    for start in progress(range(0, len(items), CHUNK), desc=f"storing {len(items):,} items", unit="chunk", leave=False):
        xs = jnp.asarray(dense(items[start : start + CHUNK]))
        started = time.perf_counter()
        memory, chunk_codes = jax.block_until_ready(
            store_all(memory, xs, jnp.zeros((len(xs), 1)), jax.random.fold_in(key, start)))
        seconds += time.perf_counter() - started
        codes.append(np.asarray(chunk_codes))
    return memory, np.concatenate(codes), seconds


def recalled_codes(memory: SparseyMemory, cues: np.ndarray, batch: int = 1024) -> np.ndarray:
    return np.concatenate([np.asarray(recall_all(memory, jnp.asarray(dense(cues[i : i + batch]))).code)
                           for i in range(0, len(cues), batch)])


def nearest_code(stored_codes: np.ndarray, codes: np.ndarray, block: int = 32) -> np.ndarray:
    """For each code, the index of the stored code sharing the most cells with it (first on ties)."""
    return np.concatenate([(stored_codes[None] == codes[i : i + block, None]).sum(-1).argmax(1)
                           for i in range(0, len(codes), block)])


def bit_major(items: np.ndarray) -> np.ndarray:
    """The items as a BITS x items 0/1 matrix (uint8): row b says which items have bit b active."""
    by_bit = np.zeros((BITS, len(items)), np.uint8)
    by_bit[items.T, np.arange(len(items))[None]] = 1
    return by_bit


def exact_nearest(by_bit: np.ndarray, cues: np.ndarray, block: int = 16) -> np.ndarray:
    """Exact nearest neighbour by shared active bits (= Hamming for equal active counts), batched numpy: a
    cue's overlap with every item is the sum of the `bit_major` rows of its ACTIVE bits."""
    return np.concatenate([by_bit[cues[i : i + block]].sum(1, dtype=np.int32).argmax(1)
                           for i in range(0, len(cues), block)])
