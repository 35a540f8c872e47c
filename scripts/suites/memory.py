"""SDR episodic memory (brain/sdr_memory.py): recall from noisy and partial cues, familiarity, similarity,
capacity against Willshaw's bound and one-shot digits, and recall at 10^3-10^5 stored items beside the
capacity rule; store/recall time from 10^2 to 10^5 items beside faiss, hnswlib and exact nearest neighbour.

Small synthetic inputs: random binary vectors of 1024 bits with 64 active (6.25%), stored in a macrocolumn
of Q=12 competitive modules of K=32 cells (393,216 binary synapses). At scale: see `suites._sdr_scale`.
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

from agents.config import SDRConfig
from brain.sdr_encoding import BinaryInput, WinnersTakeAll
from brain.sdr_memory import SparseyMemory, exact_recall_probability
from suites import _sdr_scale as scale
from suites._sdr_scale import recall_all, store_all
from suites._report import print_table, progress, run_folder

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

INPUT_BITS, ACTIVE_BITS, MODULES, CELLS = 1024, 64, 12, 32
AGENT_G_MIN = SDRConfig().build(8, 1, key=jax.random.key(0)).g_min  # the agents' memory setting
WILLSHAW_BOUND = np.log(2)  # bits per synapse, hetero-associative, optimal sparseness


def synthetic_memory() -> SparseyMemory:
    return SparseyMemory(BinaryInput(INPUT_BITS, max_active=ACTIVE_BITS), payload_size=1, num_modules=MODULES,
                         cells_per_module=CELLS)


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
    bar = progress(range(0, largest, step), desc="capacity", unit="chunk")
    for start in bar:
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
        bar.set_postfix(stored=stored, exact_recall=f"{recall:.3f}")
        bar.write(f"  capacity: {stored} stored, exact recall {recall:.3f}")
        if recall < 0.5:
            break
    bar.close()
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
    accuracy, nearest, sizes = digits(keys[3], g_min=AGENT_G_MIN)
    figures["digits_one_shot_accuracy"] = accuracy
    figures["digits_1nn_accuracy"] = nearest
    figures["digits_one_shot_accuracy_g_min_0.9"] = digits(keys[4], g_min=0.9)[0]

    print(f"at scale: {scale.describe()}", flush=True)
    scale_rows, scale_figures = at_scale(rng, keys[0])
    figures |= scale_figures

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
                 f"{sizes['test']} test; class = argmax recalled payload; the agent's g_min {AGENT_G_MIN} (similar "
                 f"images share cells); {sizes['synapses']} synapses, saturation {sizes['saturation']:.3f}",
                 value=accuracy),
            dict(figure="digits_one_shot_accuracy_g_min_0.9", measure="the same with g_min 0.9 (not the agent's "
                 "setting: every image gets a near-random code of its own)",
                 value=figures["digits_one_shot_accuracy_g_min_0.9"]),
            dict(figure="digits_1nn_accuracy", measure="exact 1-nearest-neighbour (Euclidean, raw pixels), same split",
                 value=nearest),
        ],
        f"SDR memory, small synthetic and digits ({time.perf_counter() - started:.0f} s)",
    )
    print_table(scale_rows, f"At scale ({scale.describe()}): exact = recalled code identical to the stored "
                "code; nearest = the stored item whose code shares most cells with the recalled code is the cued "
                "item; rule = P_exact of the capacity rule; 1,000 stored items probed at each size")
    return {name: float(value) for name, value in figures.items()}


def at_scale(rng: np.random.Generator, key, probes: int = 1000) -> tuple[list[dict], dict]:
    """Stores 10^5 random items into the scale memory; after 10^3, 10^4 and 10^5, recall at 20% and 40% cue
    noise (exact code and nearest stored item) beside the capacity rule; familiarity AUROC at 10^5."""
    items = scale.random_items(rng, scale.ITEMS)
    memory, codes, rows, figures = scale.scale_memory(), np.zeros((0, scale.MODULES), np.int32), [], {}
    for size in (1_000, 10_000, 100_000):
        memory, new_codes, seconds = scale.store(memory, items[len(codes) : size], jax.random.fold_in(key, size))
        codes = np.r_[codes, new_codes]
        probe = rng.choice(size, probes, replace=False)
        row = dict(stored=size)
        for noise in (0.2, 0.4):
            recalled = scale.recalled_codes(memory, scale.moved(rng, items[probe], noise))
            percent, at = int(noise * 100), _short(size)
            figures[f"recall_noise_{percent}_at_{at}"] = row[f"exact_{percent}%"] = (recalled == codes[probe]).all(-1).mean()
            figures[f"nearest_item_noise_{percent}_at_{at}"] = row[f"nearest_{percent}%"] = (
                scale.nearest_code(codes, recalled) == probe).mean()
            row[f"rule_{percent}%"] = exact_recall_probability(size, scale.MODULES, scale.CELLS, scale.BITS,
                                                               scale.ACTIVE, noise)
        row["saturation"] = float(memory.saturation())
        rows.append(row)
        print(f"  {size:,} stored ({seconds:.0f} s): exact recall at 20% noise {row['exact_20%']:.3f}", flush=True)
    stored_g = recall_all(memory, jnp.asarray(scale.dense(items[probe]))).familiarity
    novel_g = recall_all(memory, jnp.asarray(scale.dense(scale.random_items(rng, probes)))).familiarity
    figures["familiarity_auroc_at_1e5"] = roc_auc_score(np.r_[np.ones(probes), np.zeros(probes)], np.r_[stored_g, novel_g])
    figures["predicted_capacity_noise_20"] = scale.scale_memory().capacity(0.2)
    return rows, figures


def wall_time(run) -> float:
    """Wall time of one `run()`, which must block until its result is ready."""
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench(
    sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000),
    batch: int = 1024,
    rounds: int = 7,
    hnsw_ef: tuple[int, ...] = (10, 20, 40, 80, 160, 320),
    seed: int = 0,
) -> dict:
    """Store and recall time of the scale memory from 10^2 to 10^5 items, and at 10^5, on the same stored
    items and the same batch of cues (20% noise): faiss IndexBinaryFlat and IndexFlatL2, hnswlib HNSW and
    exact nearest neighbour (numpy), all batched. Long (about 15 minutes on 2 cores; hnswlib's inserts of
    8192-dimensional vectors take most of it).

    Store and recall times per item are medians of `rounds` rounds that visit the sizes in a fresh random
    order each (load from other processes falls on all sizes alike), after a warm-up round.
    """
    import faiss  # noqa: PLC0415 (the bench extra)
    import hnswlib  # noqa: PLC0415

    rng, key = np.random.default_rng(seed), jax.random.key(seed)
    print(f"memory at scale: {scale.describe()}; batches of {batch} cues with 20% of their bits moved; "
          f"{faiss.omp_get_max_threads()} threads for faiss and hnswlib; JAX on {jax.devices()[0].platform}", flush=True)
    items = scale.random_items(rng, max(sizes))
    memory, codes, filled = scale.scale_memory(), np.zeros((0, scale.MODULES), np.int32), {}
    store_seconds = 0.0
    for size in sizes:
        memory, new_codes, seconds = scale.store(memory, items[len(codes) : size], jax.random.fold_in(key, size))
        codes, store_seconds = np.r_[codes, new_codes], store_seconds + seconds
        filled[size] = memory
        print(f"  stored {size:,} items ({store_seconds:.0f} s in all), saturation {float(memory.saturation()):.3f}", flush=True)
    largest = max(sizes)
    targets = rng.choice(largest, batch, replace=largest < batch)
    cue_items = scale.moved(rng, items[targets], 0.2)
    cues, fresh = jnp.asarray(scale.dense(cue_items)), jnp.asarray(scale.dense(scale.random_items(rng, batch)))

    by_bit = {size: scale.bit_major(items[:size]) for size in sizes}
    operations = {
        "store": lambda size: jax.block_until_ready(store_all(filled[size], fresh, jnp.zeros((batch, 1)), key)),
        "recall": lambda size: jax.block_until_ready(recall_all(filled[size], cues)),
        "exact_nn": lambda size: scale.exact_nearest(by_bit[size], cue_items),
    }
    times = {(size, name): [] for size in sizes for name in operations}
    for round_ in progress(range(rounds + 1), desc="timing store and recall", unit="round"):
        for size in rng.permutation(list(sizes)).tolist():
            for name, operation in operations.items():
                elapsed = wall_time(lambda: operation(size))
                if round_ > 0:  # round 0 is the warm-up (compilation, caches)
                    times[size, name].append(elapsed / batch * 1e6)
    per_item = {k: float(np.median(v)) for k, v in times.items()}
    size_rows = [dict(stored=size, store_us=per_item[size, "store"], recall_us=per_item[size, "recall"],
                      exact_nn_us=per_item[size, "exact_nn"], saturation=float(filled[size].saturation()))
                 for size in sizes]

    truth = scale.exact_nearest(by_bit[largest], cue_items)
    del by_bit
    sdr_hits = float((scale.recalled_codes(filled[largest], cue_items) == codes[truth]).all(-1).mean())
    sdr_store_s, sdr_recall_us = per_item[largest, "store"] * largest / 1e6, per_item[largest, "recall"]
    systems = [dict(system="SDR memory (this)", build_s=sdr_store_s, query_us=sdr_recall_us, recall_at_1=sdr_hits)]
    systems.append(dict(system="numpy exact NN (bit-major)", build_s=np.nan, query_us=per_item[largest, "exact_nn"],
                        recall_at_1=1.0))

    def searched(index, queries, repeats: int) -> tuple[float, np.ndarray]:
        found, spent = None, []
        for _ in range(repeats):
            started = time.perf_counter()
            found = index(queries)
            spent.append(time.perf_counter() - started)
        return float(np.median(spent)) / batch * 1e6, np.asarray(found).reshape(-1)

    started = time.perf_counter()
    binary = faiss.IndexBinaryFlat(scale.BITS)
    binary.add(scale.packed(items[:largest]))
    build = time.perf_counter() - started
    query_us, found = searched(lambda q: binary.search(q, 1)[1], scale.packed(cue_items), 3)
    systems.append(dict(system="faiss IndexBinaryFlat", build_s=build, query_us=query_us,
                        recall_at_1=float((found == truth).mean())))
    del binary

    flat, build = faiss.IndexFlatL2(scale.BITS), 0.0
    for start in range(0, largest, 10_000):
        chunk = scale.dense(items[start : min(start + 10_000, largest)])
        started = time.perf_counter()
        flat.add(chunk)
        build += time.perf_counter() - started
    query_us, found = searched(lambda q: flat.search(q, 1)[1], scale.dense(cue_items), 1)
    systems.append(dict(system="faiss IndexFlatL2", build_s=build, query_us=query_us,
                        recall_at_1=float((found == truth).mean())))
    del flat

    print("  hnswlib: inserting (M=16, ef_construction=64) ...", flush=True)
    hnsw, build = hnswlib.Index(space="l2", dim=scale.BITS), 0.0
    hnsw.init_index(max_elements=largest, ef_construction=64, M=16, random_seed=seed)
    for start in progress(range(0, largest, 10_000), desc="hnswlib inserts", unit="chunk"):
        chunk = scale.dense(items[start : min(start + 10_000, largest)])
        started = time.perf_counter()
        hnsw.add_items(chunk, np.arange(start, start + len(chunk)))
        build += time.perf_counter() - started
    hnsw_rows = []
    for ef in hnsw_ef:
        hnsw.set_ef(ef)
        query_us, found = searched(lambda q: hnsw.knn_query(q, k=1)[0], scale.dense(cue_items), 3)
        hnsw_rows.append(dict(system=f"hnswlib HNSW, ef={ef}", build_s=build, query_us=query_us,
                              recall_at_1=float((found == truth).mean())))
    del hnsw
    matched = [r for r in hnsw_rows if r["recall_at_1"] >= sdr_hits]
    hnsw_at = matched[0] if matched else hnsw_rows[-1]  # the cheapest setting at least as accurate as the SDR
    systems += hnsw_rows

    sdr_total = sdr_store_s + sdr_recall_us * batch / 1e6
    for row in systems:
        row["query_speedup_of_sdr"] = row["query_us"] / sdr_recall_us
    print_table(size_rows, "SDR memory: time per item (microseconds, medians) as it fills; exact NN beside it")
    print_table(systems, f"At {largest:,} items, {batch} cues (20% noise): build = store / index build + insert "
                f"(s), query = per cue (us), recall@1 against exact NN")
    print(f"store + recall of the SDR: {sdr_total:.1f} s; insert + query of {hnsw_at['system']} "
          f"(the cheapest HNSW at least as accurate{'' if matched else ': none was, this is the best'}): "
          f"{hnsw_at['build_s'] + hnsw_at['query_us'] * batch / 1e6:.1f} s")
    first, last, at = size_rows[0], size_rows[-1], _short(largest)
    return {
        "store_time_ratio": last["store_us"] / first["store_us"],
        "recall_time_ratio": last["recall_us"] / first["recall_us"],
        "exact_nn_time_ratio": last["exact_nn_us"] / first["exact_nn_us"],
        f"recall_speedup_vs_exact_nn_at_{at}": last["exact_nn_us"] / last["recall_us"],
        f"speedup_vs_faiss_flat_at_{at}": systems[2]["query_speedup_of_sdr"],
        f"speedup_vs_faiss_l2_at_{at}": systems[3]["query_speedup_of_sdr"],
        f"speedup_vs_hnsw_at_{at}": (hnsw_at["build_s"] + hnsw_at["query_us"] * batch / 1e6) / sdr_total,
        f"hnsw_recall_at_{at}": hnsw_at["recall_at_1"],
        f"hnsw_matched_sdr_recall_at_{at}": bool(matched),
        f"sdr_recall_at_{at}": sdr_hits,
        f"sdr_store_s_at_{at}": sdr_store_s,
    }


def _short(n: int) -> str:
    """100000 -> '1e5' (the bench key names the largest size)."""
    exponent = int(np.log10(n))
    return f"1e{exponent}" if 10**exponent == n else str(n)
