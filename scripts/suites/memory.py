"""SDR episodic memory (brain/sdr_memory.py): recall from noisy and partial cues, familiarity, similarity,
capacity against Willshaw's bound and one-shot digits; store/recall time against exact nearest neighbour.

Synthetic inputs: random binary vectors of 1024 bits with 64 active (6.25%), stored in a macrocolumn of
Q=12 competitive modules of K=32 cells (393,216 binary synapses).
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from brain.sdr_encoding import BinaryInput, WinnersTakeAll, pack_bits
from brain.sdr_memory import SparseyMemory
from suites._report import print_table, run_folder

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

INPUT_BITS, ACTIVE_BITS, MODULES, CELLS = 1024, 64, 12, 32
WILLSHAW_BOUND = np.log(2)  # bits per synapse, hetero-associative, optimal sparseness


def synthetic_memory() -> SparseyMemory:
    return SparseyMemory(BinaryInput(INPUT_BITS), payload_size=1, num_modules=MODULES, cells_per_module=CELLS)


def random_inputs(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` binary vectors of INPUT_BITS bits, each with ACTIVE_BITS ones at random places."""
    order = rng.random((count, INPUT_BITS)).argsort(axis=1)[:, :ACTIVE_BITS]
    inputs = np.zeros((count, INPUT_BITS), np.float32)
    np.put_along_axis(inputs, order, 1.0, axis=1)
    return inputs


def corrupt(rng: np.random.Generator, inputs: np.ndarray, fraction: float) -> np.ndarray:
    """Moves `fraction` of each input's active bits to random inactive places (the active count is kept)."""
    out = inputs.copy()
    moved = int(round(fraction * ACTIVE_BITS))
    for row in out:
        on, off = np.flatnonzero(row), np.flatnonzero(row == 0)
        row[rng.choice(on, moved, replace=False)] = 0.0
        row[rng.choice(off, moved, replace=False)] = 1.0
    return out


def keep(rng: np.random.Generator, inputs: np.ndarray, fraction: float) -> np.ndarray:
    """Keeps a random `fraction` of each input's active bits and clears the rest (a partial cue)."""
    out = np.zeros_like(inputs)
    kept = max(1, int(round(fraction * ACTIVE_BITS)))
    for row, source in zip(out, inputs):
        row[rng.choice(np.flatnonzero(source), kept, replace=False)] = 1.0
    return out


@eqx.filter_jit
def store_all(memory: SparseyMemory, xs, payloads, key):
    return memory.store_many(xs, payloads, key=key)


@eqx.filter_jit
def recall_all(memory: SparseyMemory, cues):
    return jax.vmap(memory.recall)(cues)


@eqx.filter_jit
def encode_all(memory: SparseyMemory, xs, key):
    return jax.vmap(lambda x, k: memory.encode(x, key=k)[0])(xs, jax.random.split(key, len(xs)))


def exact_recall(memory: SparseyMemory, cues: np.ndarray, codes) -> float:
    """Fraction of cues whose recalled code is identical (all Q cells) to the code stored for that item."""
    return float((recall_all(memory, jnp.asarray(cues)).code == codes).all(-1).mean())


def capacity(rng, key, largest: int, step: int) -> tuple[list[dict], int]:
    """Exact recall (clean cues) of all items stored so far, every `step` stores up to `largest`."""
    memory, inputs = synthetic_memory(), random_inputs(rng, largest)
    codes, rows = [], []
    bits_per_item = MODULES * np.log2(CELLS)
    for start in range(0, largest, step):
        key, store_key = jax.random.split(key)
        chunk = jnp.asarray(inputs[start : start + step])
        memory, chunk_codes = store_all(memory, chunk, jnp.zeros((step, 1)), store_key)
        codes.append(chunk_codes)
        stored = start + step
        recall = exact_recall(memory, inputs[:stored], jnp.concatenate(codes))
        rows.append(
            dict(
                stored=stored,
                exact_recall=recall,
                bits_per_synapse=stored * bits_per_item / memory.num_synapses,
                saturation=float(memory.saturation()),
            )
        )
        print(f"  capacity: {stored} stored, exact recall {recall:.3f}", flush=True)
        if recall < 0.5:
            break
    recalled = [r["stored"] for r in rows if r["exact_recall"] >= 0.9]
    return rows, max(recalled, default=0)


def plot_capacity(rows: list[dict], path) -> None:
    stored = [r["stored"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(stored, [r["exact_recall"] for r in rows], "o-")
    left.axhline(0.9, color="grey", ls=":", label="0.9")
    left.set(xlabel="items stored N", ylabel="exact recall (clean cue)", title="Recall vs N", ylim=(0, 1.05))
    left.legend()
    right.plot(stored, [r["bits_per_synapse"] for r in rows], "o-", label="stored (N Q log2 K / synapses)")
    right.axhline(WILLSHAW_BOUND, color="red", ls="--", label="Willshaw bound 0.69")
    right.set(xlabel="items stored N", ylabel="bits per synapse", title=f"{MODULES}x{CELLS} cells, {INPUT_BITS} inputs")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def similarity(rng, memory, inputs, codes, key, per_level: int = 20) -> float:
    """Spearman rank correlation between input overlap (0..100% of bits shared with a stored item) and the
    overlap (cells in common) of the code the CSA would choose for the variant with that item's code."""
    levels = np.repeat(np.linspace(0.0, 1.0, 11), per_level)
    bases = rng.integers(0, len(inputs), len(levels))
    variants = np.stack([corrupt(rng, inputs[b : b + 1], 1.0 - level)[0] for b, level in zip(bases, levels)])
    variant_codes = encode_all(memory, jnp.asarray(variants), key)
    code_overlap = np.asarray((variant_codes == codes[bases]).sum(-1))
    return float(spearmanr(levels, code_overlap)[0])


def digits(key, g_min: float) -> tuple[float, float, dict]:
    """One-shot classification of sklearn's digits: each training image stored once with its one-hot label,
    a test image classified by the argmax of the recalled payload; exact 1-NN (Euclidean) beside it."""
    images, labels = load_digits(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(images, labels, test_size=0.25, random_state=0, stratify=labels)
    mean = train_x.mean(0)
    project_key, store_key = jax.random.split(key)
    binariser = WinnersTakeAll(64, num_active=64, out_size=1024, key=project_key)
    memory = SparseyMemory(binariser, payload_size=10, num_modules=16, cells_per_module=512, g_min=g_min)
    memory, _ = store_all(
        memory, jnp.asarray(train_x - mean, jnp.float32), jax.nn.one_hot(train_y, 10), store_key
    )
    predicted = recall_all(memory, jnp.asarray(test_x - mean, jnp.float32)).payload.argmax(-1)
    nearest = KNeighborsClassifier(n_neighbors=1).fit(train_x, train_y).score(test_x, test_y)
    sizes = dict(train=len(train_x), test=len(test_x), synapses=memory.num_synapses, saturation=float(memory.saturation()))
    return float((np.asarray(predicted) == test_y).mean()), float(nearest), sizes


def evaluate(stored: int = 100, capacity_largest: int = 3000, capacity_step: int = 100, seed: int = 0) -> dict:
    """Recall, familiarity, similarity, capacity and one-shot digits of the SDR memory."""
    rng, key = np.random.default_rng(seed), jax.random.key(seed)
    keys = jax.random.split(key, 5)
    started = time.perf_counter()
    print(
        f"synthetic: {INPUT_BITS} input bits, {ACTIVE_BITS} active; Q={MODULES} x K={CELLS} cells; "
        f"{stored} random items stored once each",
        flush=True,
    )
    inputs = random_inputs(rng, stored)
    memory, codes = store_all(synthetic_memory(), jnp.asarray(inputs), jnp.zeros((stored, 1)), keys[0])
    figures = {
        "recall_noise_40": exact_recall(memory, corrupt(rng, inputs, 0.4), codes),
        "recall_noise_60": exact_recall(memory, corrupt(rng, inputs, 0.6), codes),
        "recall_noise_80": exact_recall(memory, corrupt(rng, inputs, 0.8), codes),
        "partial_cue_20": exact_recall(memory, keep(rng, inputs, 0.2), codes),
    }
    stored_g = recall_all(memory, jnp.asarray(inputs)).familiarity
    novel_g = recall_all(memory, jnp.asarray(random_inputs(rng, stored))).familiarity
    figures["familiarity_auroc"] = float(
        roc_auc_score(np.r_[np.ones(stored), np.zeros(stored)], np.r_[stored_g, novel_g])
    )
    figures["similarity_spearman"] = similarity(rng, memory, inputs, codes, keys[1])

    print("capacity sweep (fresh memory, random items, clean cues)", flush=True)
    rows, largest_recalled = capacity(rng, keys[2], capacity_largest, capacity_step)
    folder = run_folder("memory")
    plot_capacity(rows, folder / "capacity.png")
    figures["bits_per_synapse"] = largest_recalled * MODULES * np.log2(CELLS) / memory.num_synapses
    figures["capacity_items"] = largest_recalled

    print("digits (16 x 512 cells, 64 pixels -> k-WTA of a random projection to 1024 bits, 64 active)", flush=True)
    accuracy, nearest, sizes = digits(keys[3], g_min=0.9)
    figures["digits_one_shot_accuracy"] = accuracy
    figures["digits_1nn_accuracy"] = nearest
    figures["digits_one_shot_accuracy_g_min_0.1"] = digits(keys[4], g_min=0.1)[0]

    print_table(rows, "Capacity: exact recall of every item stored so far, from its own (clean) input")
    print(f"plot: {folder / 'capacity.png'}")
    print_table(
        [
            dict(figure="recall_noise_40/60/80", measure="exact recall (recalled code == stored code, all Q cells) "
                 "with 40/60/80% of the cue's active bits moved to random inactive bits", value=
                 f"{figures['recall_noise_40']:.3f} / {figures['recall_noise_60']:.3f} / {figures['recall_noise_80']:.3f}"),
            dict(figure="partial_cue_20", measure="exact recall from 20% of the stored input's active bits (13 of 64)",
                 value=figures["partial_cue_20"]),
            dict(figure="familiarity_auroc", measure=f"AUROC of G: {stored} stored inputs vs {stored} novel random inputs",
                 value=figures["familiarity_auroc"]),
            dict(figure="similarity_spearman", measure="Spearman(input overlap 0..100%, cells shared between the "
                 "CSA code of the variant and the stored code), 11 levels x 20", value=figures["similarity_spearman"]),
            dict(figure="bits_per_synapse", measure=f"N Q log2(K) / synapses at the largest N ({largest_recalled}) "
                 f"with exact recall >= 0.9 (Willshaw bound 0.69)", value=figures["bits_per_synapse"]),
            dict(figure="digits_one_shot_accuracy", measure=f"sklearn digits, train_test_split(test_size=0.25, "
                 f"random_state=0, stratified): {sizes['train']} train images stored once with one-hot labels, "
                 f"{sizes['test']} test; class = argmax recalled payload; g_min 0.9; {sizes['synapses']} synapses, "
                 f"saturation {sizes['saturation']:.3f}", value=accuracy),
            dict(figure="digits_one_shot_accuracy_g_min_0.1", measure="the same with the default g_min 0.1 "
                 "(similar images share cells)", value=figures["digits_one_shot_accuracy_g_min_0.1"]),
            dict(figure="digits_1nn_accuracy", measure="exact 1-nearest-neighbour (Euclidean, raw pixels), same split",
                 value=nearest),
        ],
        f"SDR memory ({time.perf_counter() - started:.0f} s)",
    )
    return {name: float(value) for name, value in figures.items()}


@eqx.filter_jit
def fill_random(memory: SparseyMemory, key, count: int = 100):
    """Stores `count` random inputs (generated inside the scan); returns the memory and their packed bits."""

    def step(memory, key):
        input_key, store_key = jax.random.split(key)
        _, on = jax.lax.top_k(jax.random.uniform(input_key, (INPUT_BITS,)), ACTIVE_BITS)
        x = jnp.zeros(INPUT_BITS).at[on].set(1.0)
        return memory.store(x, jnp.zeros(1), key=store_key), pack_bits(x > 0)

    return jax.lax.scan(step, memory, jax.random.split(key, count))


@eqx.filter_jit
def store_batch(memory: SparseyMemory, xs, key):
    def step(memory, inputs):
        x, key = inputs
        return memory.store(x, jnp.zeros(1), key=key), None

    return jax.lax.scan(step, memory, (xs, jax.random.split(key, len(xs))))[0]


def wall_time(run) -> float:
    """Wall time of one `run()`, which must block until its result is ready."""
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def exact_nearest(stored_words: np.ndarray, query_words: np.ndarray) -> np.ndarray:
    """Exact nearest neighbour by bit overlap (= Hamming for equal active counts), one query at a time."""
    return np.array([np.bitwise_count(stored_words & q).sum(1, dtype=np.int32).argmax() for q in query_words])


def bench(
    sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000),
    batch: int = 1024,
    nn_queries: int = 64,
    rounds: int = 15,
    seed: int = 0,
) -> dict:
    """Time per store and per recall at each number of stored items, beside exact nearest neighbour (numpy).

    The memories at every size are filled first; then each round times every operation at every size, the
    sizes in a fresh random order, so that load from other processes falls on all sizes alike; figures are
    medians over rounds.
    """
    rng, key = np.random.default_rng(seed), jax.random.key(seed)
    print(
        f"memory: {INPUT_BITS} input bits ({ACTIVE_BITS} active), Q={MODULES} x K={CELLS}; stores timed as a jitted "
        f"lax.scan of {batch}, recalls as a jitted vmap over {batch} cues; exact NN: numpy bitwise_count over "
        f"bit-packed stored inputs, {nn_queries} queries one at a time; medians of {rounds} interleaved rounds after a warm-up; "
        f"device {jax.devices()[0].platform}",
        flush=True,
    )
    cues = jnp.asarray(corrupt(rng, random_inputs(rng, batch), 0.2))
    cue_words = np.asarray(pack_bits(cues[:nn_queries] > 0))
    memory, words, filled = synthetic_memory(), [], {}
    for size in sizes:
        while sum(len(w) for w in words) < size:
            key, fill_key = jax.random.split(key)
            memory, chunk = fill_random(memory, fill_key)
            words.append(np.asarray(chunk))
        filled[size] = (memory, np.concatenate(words)[:size])
        print(f"  filled to {size} items, saturation {float(memory.saturation()):.3f}", flush=True)

    counts = {"store": batch, "recall": batch, "exact_nn": nn_queries}
    operations = {
        "store": lambda memory, stored_words: jax.block_until_ready(store_batch(memory, cues, key)),
        "recall": lambda memory, stored_words: jax.block_until_ready(recall_all(memory, cues)),
        "exact_nn": lambda memory, stored_words: exact_nearest(stored_words, cue_words),
    }
    times = {(size, name): [] for size in sizes for name in operations}
    for round_ in range(rounds + 1):
        for size in rng.permutation(list(sizes)).tolist():
            memory, stored_words = filled[size]
            for name, operation in operations.items():
                elapsed = wall_time(lambda: operation(memory, stored_words))
                if round_ > 0:  # round 0 is the warm-up (compilation, caches)
                    times[size, name].append(elapsed / counts[name] * 1e6)
    per_item = {k: float(np.median(v)) for k, v in times.items()}
    rows = [
        dict(
            stored=size,
            store_us=per_item[size, "store"],
            recall_us=per_item[size, "recall"],
            exact_nn_us=per_item[size, "exact_nn"],
            recall_speedup=per_item[size, "exact_nn"] / per_item[size, "recall"],
            saturation=float(filled[size][0].saturation()),
        )
        for size in sizes
    ]
    print_table(rows, "Time per item (microseconds, medians)")
    first, last = rows[0], rows[-1]
    return {
        "store_time_ratio": last["store_us"] / first["store_us"],
        "recall_time_ratio": last["recall_us"] / first["recall_us"],
        "exact_nn_time_ratio": last["exact_nn_us"] / first["exact_nn_us"],
        f"recall_speedup_vs_exact_nn_at_{_short(last['stored'])}": last["recall_speedup"],
    }


def _short(n: int) -> str:
    """100000 -> '1e5' (the bench key names the largest size)."""
    exponent = int(np.log10(n))
    return f"1e{exponent}" if 10**exponent == n else str(n)
