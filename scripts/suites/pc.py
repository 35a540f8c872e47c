"""Predictive coding (brain/predictive_coding.py) on sklearn's bundled digits, and the speed of its step.

evaluate: a discriminative stack 64-256-256-10 trained only by its local rules, beside a backprop MLP of the
same functions, initial weights, loss, optimiser (SGD), minibatches and epochs; a generative stack
16-128-64: held-out reconstruction from the top latent, and samples from a prior over the top latents.

bench: one training step (T inference steps + one learning step) of the 64-256-256-10 stack at batch 1 and
256, a backprop MLP step of the same size, and the PC step's achieved GFLOP/s against plain jitted matmuls of
the same shapes measured in the same run.
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from brain.predictive_coding import PCStack
from suites._report import print_table, progress, run_folder

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CLASSIFIER_SIZES = (64, 256, 256, 10)
CLASSIFIER_ACTIVATION = ("identity", "tanh", "tanh")  # standardised pixels go in as they are
CLASSIFIER_CLAMPED = (True, False, False, True)  # input and target clamped while learning
SPLIT = "train_test_split(test_size=0.25, random_state=0, stratify=y): 1347 train / 450 test"


def digits():
    """sklearn's 8x8 digits in [0, 1], split as `SPLIT` says."""
    x, y = load_digits(return_X_y=True)
    return train_test_split((x / 16.0).astype(np.float32), y, test_size=0.25, random_state=0, stratify=y)


def classifier(steps: int, dt: float, learning_rate: float, seed: int, unroll: int = 1) -> PCStack:
    """The discriminative stack 64-256-256-10; its feedforward pass is also the backprop MLP."""
    return PCStack(
        CLASSIFIER_SIZES, activation=CLASSIFIER_ACTIVATION, steps=steps, dt=dt, learning_rate=learning_rate,
        unroll=unroll, key=jax.random.key(seed),
    )


def pc_update(stack: PCStack, x, target) -> PCStack:
    """Local learning: feedforward start, target clamped, latents settle, one Hebbian step."""
    start = jax.vmap(stack.propagate)(x)
    settled, _ = jax.vmap(lambda s: stack.infer(s, clamped=CLASSIFIER_CLAMPED))((*start[:-1], target))
    return stack.learn(settled)


def squared_error(stack: PCStack, x, target):
    """1/2 |y - f(x)|^2: the PC stack's output energy, as the MLP's loss. f is the stack's feedforward pass."""
    return 0.5 * jnp.mean(jnp.sum((jax.vmap(stack.propagate)(x)[-1] - target) ** 2, axis=1))


def backprop_update(stack: PCStack, x, target) -> PCStack:
    """BASELINE ONLY: a plain SGD step on the gradient from jax.grad (backpropagation)."""
    grads = eqx.filter_grad(squared_error)(stack, x, target)
    return eqx.apply_updates(stack, jax.tree.map(lambda g: -stack.learning_rate * g, grads))


@eqx.filter_jit
def train_epoch(update, stack, x, y, key, batch_size: int):
    """One epoch of `update` over shuffled minibatches, as one `lax.scan`."""
    order = jax.random.permutation(key, x.shape[0])[: x.shape[0] // batch_size * batch_size]
    return jax.lax.scan(lambda s, idx: (update(s, x[idx], y[idx]), None), stack, order.reshape(-1, batch_size))[0]


@eqx.filter_jit
def accuracy(stack: PCStack, x, labels):
    return jnp.mean(jnp.argmax(jax.vmap(stack.propagate)(x)[-1], axis=1) == labels)


def settle_on(stack: PCStack, x):
    """Generative inference on one image: latents start at the prior's prediction, the image is clamped."""
    start = stack.propagate(stack.prior_mean)
    return stack.infer((*start[:-1], x), clamped=(False,) * (len(start) - 1) + (True,))[0]


@eqx.filter_jit
def generative_update(stack: PCStack, x, _) -> PCStack:
    return stack.learn(jax.vmap(lambda image: settle_on(stack, image))(x))


@eqx.filter_jit
def top_latents_and_reconstructions(stack: PCStack, x):
    """Settled top latents, and the images predicted back down from them alone."""
    top = jax.vmap(lambda image: settle_on(stack, image))(x)[0]
    return top, jax.vmap(stack.propagate)(top)[-1]


def save_grid(images: np.ndarray, path, title: str) -> None:
    """64 digit images as an 8 x 8 grid."""
    fig, axes = plt.subplots(8, 8, figsize=(6, 6))
    for ax, image in zip(axes.flat, images):
        ax.imshow(np.clip(image.reshape(8, 8), 0, 1), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate(
    seed: int = 0,
    epochs: int = 50,
    batch_size: int = 16,
    learning_rate: float = 0.1,
    steps: int = 20,
    dt: float = 0.1,
    generative_epochs: int = 30,
    generative_steps: int = 50,
    generative_learning_rate: float = 0.05,
    latent_size: int = 16,
    hidden_size: int = 128,
    prior_components: int = 10,
) -> dict:
    """Discriminative PC vs a backprop MLP, and generative PC reconstruction and samples, on digits."""
    x_train, x_test, y_train, y_test = digits()
    print(f"digits split: {SPLIT}")
    scaler = StandardScaler().fit(x_train)
    inputs = jnp.asarray(scaler.transform(x_train)), jnp.asarray(scaler.transform(x_test))
    targets = jnp.eye(10)[y_train]
    rows = []
    for name, update in [("PC, local rules", pc_update), ("MLP, backprop (baseline)", backprop_update)]:
        stack, key = classifier(steps, dt, learning_rate, seed), jax.random.key(seed + 1)
        start = time.perf_counter()
        bar = progress(range(1, epochs + 1), desc=name, unit="epoch")
        for epoch in bar:
            key, epoch_key = jax.random.split(key)
            stack = train_epoch(update, stack, inputs[0], targets, epoch_key, batch_size)
            if epoch % 10 == 0 or epoch == epochs:
                train_accuracy = float(accuracy(stack, inputs[0], y_train))
                bar.set_postfix(train_accuracy=f"{train_accuracy:.4f}")
                bar.write(f"  {name}: epoch {epoch}/{epochs}, train accuracy {train_accuracy:.4f}")
        rows.append(
            {
                "model": f"{name} {'-'.join(map(str, CLASSIFIER_SIZES))}",
                "train_accuracy": float(accuracy(stack, inputs[0], y_train)),
                "test_accuracy": float(accuracy(stack, inputs[1], y_test)),
                "seconds": time.perf_counter() - start,
            }
        )
    title = f"digits classification: {epochs} epochs, SGD lr {learning_rate}, batch {batch_size}, PC T={steps} dt={dt}"
    print_table(rows, title + " (Euler)")

    generator = PCStack(
        (latent_size, hidden_size, 64), steps=generative_steps, dt=dt, learning_rate=generative_learning_rate,
        key=jax.random.key(seed),
    )
    key, images = jax.random.key(seed + 2), jnp.asarray(x_train)
    for epoch in progress(range(1, generative_epochs + 1), desc="generative PC", unit="epoch"):
        key, epoch_key = jax.random.split(key)
        generator = train_epoch(generative_update, generator, images, images, epoch_key, batch_size)
    train_top, _ = top_latents_and_reconstructions(generator, jnp.asarray(x_train))
    _, reconstructions = top_latents_and_reconstructions(generator, jnp.asarray(x_test))
    mse = float(jnp.mean((reconstructions - x_test) ** 2))
    mean_image_mse = float(np.mean((x_test - x_train.mean(0)) ** 2))
    # The prior to sample from: a Gaussian mixture over the settled top latents of the training images (as NGC
    # samples its generators; the stack's own Gaussian prior is a MAP regulariser, narrower than the latents).
    prior = GaussianMixture(prior_components, covariance_type="full", random_state=seed).fit(np.asarray(train_top))
    samples = jax.vmap(generator.propagate)(jnp.asarray(prior.sample(64)[0], jnp.float32))[-1]
    path = run_folder("pc") / "samples.png"
    name = f"generative PC {latent_size}-{hidden_size}-64"
    save_grid(np.asarray(samples), path, f"{name}: samples from the top-latent prior ({prior_components}-GMM)")
    print_table(
        [
            {"model": name, "test_reconstruction_mse": mse},
            {"model": "mean training image (reference)", "test_reconstruction_mse": mean_image_mse},
        ],
        f"digits generation: {generative_epochs} epochs, T={generative_steps}; reconstruction from the settled "
        f"top latent alone; samples: {path}",
    )
    return {
        "pc_test_accuracy": rows[0]["test_accuracy"],
        "mlp_backprop_test_accuracy": rows[1]["test_accuracy"],
        "pc_reconstruction_mse": mse,
        "samples_png": str(path),
    }


def step_matmuls(sizes, clamped, batch: int):
    """The matmul shapes (M, K, N) of one PC training step as `pc_update` runs them: once per step, the
    feedforward start, the final errors and the weight updates; per inference step, the predictions from free
    layers and the errors sent back to free layers. (`learn` recomputes the final predictions: redundant work,
    not counted.)"""
    pairs = list(enumerate(zip(sizes[:-1], sizes[1:]), 1))
    free_sources = [(n_prev, n) for l, (n_prev, n) in pairs if not clamped[l - 1]]
    once = (
        [(batch, n_prev, n) for _, (n_prev, n) in pairs]
        + [(batch, n_prev, n) for n_prev, n in free_sources]
        + [(n, batch, n_prev) for _, (n_prev, n) in pairs]
    )
    per_step = [(batch, n_prev, n) for n_prev, n in free_sources] + [(batch, n, n_prev) for n_prev, n in free_sources]
    return once, per_step


def matmul_reference(once, per_step, steps: int, unroll: int, calls: int):
    """A jitted function doing only the matmuls of `calls` PC steps (`once` shapes, then `steps` times the
    `per_step` shapes, in the same loops): the machine's practical limit for this work. To stop XLA from
    hoisting or simplifying away loop-invariant products, each step adds a carried scalar to the smaller operand
    of every product and carries on a tiny multiple of each product's max (a few % extra work, not counted)."""
    key = jax.random.key(0)

    def operands(shapes):
        keys = jax.random.split(key, 2 * len(shapes))
        return [(jax.random.normal(ka, (m, k)), jax.random.normal(kb, (k, n)))
                for ka, kb, (m, k, n) in zip(keys[::2], keys[1::2], shapes)]

    def products(pairs, s):
        """The products of `pairs` (independent of each other, as in a PC step) and the next carried scalar."""
        outputs = [(a + s) @ b if a.size <= b.size else a @ (b + s) for a, b in pairs]
        return s + 1e-30 * sum(jnp.max(out) for out in outputs)

    @jax.jit
    def run(once_pairs, step_pairs):
        def pc_step(s, _):
            s = products(once_pairs, s)
            return jax.lax.scan(lambda s, _: (products(step_pairs, s), None), s, None, steps, unroll=unroll)[0], None

        return jax.lax.scan(pc_step, jnp.zeros(()), None, length=calls)[0]

    return run, (operands(once), operands(per_step))


def median_seconds(calls, repeats: int) -> list[float]:
    """Median wall time of each `(fn, args)` in `calls`, after a compile-and-warm-up call; the calls take turns,
    so that all of them see the same load on a shared machine."""
    for fn, args in calls:
        jax.block_until_ready(fn(*args))
    times = [[] for _ in calls]
    for _ in progress(range(repeats), desc="timing", unit="round"):
        for (fn, args), record in zip(calls, times):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            record.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


@eqx.filter_jit
def train_steps(update, stack, x, target):
    """`len(x)` training steps (one minibatch each) as one `lax.scan`."""
    return jax.lax.scan(lambda s, batch: (update(s, *batch), None), stack, (x, target))[0]


def bench(steps: int = 20, unroll: int = 20, repeats: int = 15, calls_b1: int = 200, calls_b256: int = 5) -> dict:
    """PC training steps per second at batch 1 and 256, a backprop MLP step, and the PC step's GFLOP/s against
    plain jitted matmuls of the same shapes. Each timing runs a `lax.scan` of several steps per call."""
    stack = classifier(steps, dt=0.1, learning_rate=0.01, seed=0, unroll=unroll)
    sizes = "-".join(map(str, CLASSIFIER_SIZES))

    def batches(calls, batch):
        kx, ky = jax.random.split(jax.random.key(calls * batch))
        x = jax.random.normal(kx, (calls, batch, CLASSIFIER_SIZES[0]))
        return x, jax.nn.one_hot(jax.random.randint(ky, (calls, batch), 0, 10), 10)

    runs = [
        ("pc_steps_per_s_b1", pc_update, calls_b1, 1),
        ("pc_steps_per_s_b256", pc_update, calls_b256, 256),
        ("mlp_steps_per_s_b256", backprop_update, calls_b256, 256),
    ]
    once, per_step = step_matmuls(CLASSIFIER_SIZES, CLASSIFIER_CLAMPED, 256)
    flops = sum(2 * m * k * n for m, k, n in once) + steps * sum(2 * m * k * n for m, k, n in per_step)
    reference = matmul_reference(once, per_step, steps, unroll, calls_b256)
    shapes = sorted(set(once + per_step))
    plain = [(jax.jit(jnp.matmul), pair) for pair in matmul_reference(shapes, [], 0, 1, 1)[1][0]]
    seconds = median_seconds(
        [(train_steps, (update, stack, *batches(calls, batch))) for _, update, calls, batch in runs]
        + [reference]
        + plain,
        repeats,
    )
    shape_seconds = dict(zip(shapes, seconds[len(runs) + 1 :]))
    plain_seconds = sum(map(shape_seconds.get, once)) + steps * sum(map(shape_seconds.get, per_step))
    rows, figures = [], {}
    for (label, _, calls, batch), time_per_call in zip(runs, seconds):
        figures[label] = calls / time_per_call
        rows.append({"step": label, "model": sizes, "batch": batch, "ms_per_step": 1e3 * time_per_call / calls,
                     "steps_per_s": calls / time_per_call})
    loop_gflops = flops * calls_b256 / seconds[len(runs)] / 1e9
    plain_gflops = flops / plain_seconds / 1e9
    pc_gflops = flops * figures["pc_steps_per_s_b256"] / 1e9
    figures["pc_fraction_of_matmul_peak"] = pc_gflops / max(loop_gflops, plain_gflops)
    print_table(rows, f"training steps: PC = T={steps} Euler inference steps (scan unroll {unroll}) + one learning "
                      "step; MLP = one backprop SGD step")
    print_table(
        [
            {"what": "PC training step, batch 256", "gflop_per_s": pc_gflops},
            {"what": "the same matmuls only, in the PC step's loops", "gflop_per_s": loop_gflops},
            {"what": "the same matmuls, one jitted call each", "gflop_per_s": plain_gflops},
            {"what": "PC / the faster of the two (the peak)", "gflop_per_s": figures["pc_fraction_of_matmul_peak"]},
        ],
        f"achieved matmul throughput: {len(once) + steps * len(per_step)} matmuls per PC step at batch 256, "
        f"{flops / 1e9:.3f} GFLOP (2*M*K*N each)",
    )
    return figures
