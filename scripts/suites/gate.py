"""The basal-ganglia gate: action selection accuracy, and continual learning with gated plasticity.

    python scripts/evaluate.py gate

Selection: random saliences uniform in [0, 1] whose two largest differ by >= 0.05; the fraction of trials
(from rest) in which the circuit releases the largest channel, over 2, 8 and 64 channels.

Continual learning: sklearn's digits (pixels / 16), a fixed stratified split (30% test, seed 0), five tasks of
two classes: (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), learnt one after the other with no stored replay data. The
learner is a predictive-coding stack `input 64 -> hidden -> sink [5 image blocks of 64, label 10]`: the input is
clamped at the source, the sink at [image in every block, one-hot label] while learning, so the hidden units
learn both to reconstruct the image and to name its class. One stack, three learners, in one run:

- ungated: one fixed mask (every hidden unit, image block 0, every label): a plain PC learner.
- gated: each task (id given) recruits its own hidden units (k-WTA on their response to the task's first
  batch), claims its own image block and the label units its targets use. Nothing but the clamped input is
  shared, so no other task's synapse or bias moves.
- gated, task-free: the same, but no task id while learning either: the gate follows the stream (`track`) and
  opens a new context on a surprise spike of free energy.

Figures: task-incremental (task id at test: the larger of the task's two labels, feedforward, under the task's
masks when gated); class-incremental (no task id: gated learners infer the context whose units reconstruct the
image with the least free energy, labels hidden, then read its labels; ungated: the largest of all ten labels);
forgetting: mean over the first four tasks of (best accuracy ever reached on the task - final accuracy).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from brain.basal_ganglia import BasalGanglia, separable_saliences
from brain.plasticity_gate import PlasticityGate
from brain.predictive_coding import PCStack
from suites._report import print_table, progress

TASKS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
IMAGE, LABELS = 64, 10
SINK = len(TASKS) * IMAGE + LABELS
CLAMPED = (True, False, True)
IMAGE_ONLY = (jnp.arange(SINK) < len(TASKS) * IMAGE).astype(jnp.float32)  # the sink without its labels


def _selection_accuracy(num_channels: int, num_trials: int, seed: int) -> float:
    gate = BasalGanglia(num_channels)
    salience = separable_saliences(num_channels, num_trials, seed)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_trials)
    states = jax.vmap(lambda _: gate.init_state())(keys)
    _, selection = jax.jit(jax.vmap(gate.select))(states, salience, key=keys)
    correct = np.asarray(selection.selected) & (np.asarray(selection.channel) == np.argmax(salience, 1))
    return float(correct.mean())


def _digits(seed: int):
    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0
    return train_test_split(x, digits.target, test_size=0.3, stratify=digits.target, random_state=seed)


def _batches(num_samples: int, steps: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """`steps` minibatch index rows, cycling through fresh permutations (the same shape for every task)."""
    epochs = -(-steps * batch_size // num_samples)
    order = np.concatenate([rng.permutation(num_samples) for _ in range(epochs)])
    return order[: steps * batch_size].reshape(steps, batch_size)


def _states(stack: PCStack, xi, yi, masks=None):
    """Initial states of one sample: the feedforward pass, with the sink set to [image in every block, label]."""
    states = stack.propagate(xi, masks)
    return (*states[:-1], jnp.concatenate([jnp.tile(xi, len(TASKS)), yi]))


def _learn(stack: PCStack, masks, xb, yb):
    """One local learning step on a minibatch, input and sink clamped."""
    states = jax.vmap(lambda xi, yi: _states(stack, xi, yi, masks))(xb, yb)
    settled, _ = jax.vmap(lambda s: stack.infer(s, clamped=CLAMPED, masks=masks))(states)
    return stack.learn(settled, masks=masks)


def _block(context):
    """The sink units a context owns for its reconstruction: image block `context`."""
    return (jnp.arange(SINK) // IMAGE == context).astype(jnp.float32)


def _open_context(stack: PCStack, gate: PlasticityGate, context, xb):
    """Recruits the hidden units that respond most to the batch, and the context's image block."""
    response = jnp.mean(jnp.abs(jnp.tanh(jax.vmap(lambda xi: stack.propagate(xi)[1])(xb))), axis=0)
    return gate.recruit(context, (None, response, None)).claim(context, 2, _block(context))


def _claim_labels(gate: PlasticityGate, context, yb):
    return gate.claim(context, 2, jnp.concatenate([jnp.zeros(SINK - LABELS), yb.sum(0)]))


@jax.jit
def _train_task(stack: PCStack, masks, x, y):
    """Learns one task under fixed masks: a scan over minibatches (x: steps x batch x 64, y: ... x 10)."""
    return jax.lax.scan(lambda stack, batch: (_learn(stack, masks, *batch), None), stack, (x, y))[0]


@jax.jit
def _train_gated_task(stack: PCStack, gate: PlasticityGate, context, x, y):
    """With a task id: open the task's context, claim its labels, learn under its masks."""
    gate = _claim_labels(_open_context(stack, gate, context, x[0]), context, y.reshape(-1, LABELS))
    return _train_task(stack, gate.masks(context), x, y), gate


@jax.jit
def _train_task_free(stack: PCStack, gate: PlasticityGate, x, y):
    """Without task ids: before each minibatch the gate tracks its free energy (labels hidden) and opens a
    context on a surprise spike. Returns the stack, the gate and the context each minibatch was learnt in."""
    visible = (jnp.ones(IMAGE), jnp.ones(stack.sizes[1]), IMAGE_ONLY)

    def step(carry, batch):
        stack, gate = carry
        xb, yb = batch
        states = jax.vmap(lambda xi: _states(stack, xi, jnp.zeros(LABELS)))(xb)

        def energy(context):
            free_energy = lambda s: gate.free_energy(stack, s, context, clamped=CLAMPED, visible=visible)
            return jnp.mean(jax.vmap(free_energy)(states))

        gate, opened = gate.track(energy)
        gate = jax.lax.cond(opened, lambda g: _open_context(stack, g, g.current, xb), lambda g: g, gate)
        gate = _claim_labels(gate, gate.current, yb)
        return (_learn(stack, gate.masks(gate.current), xb, yb), gate), gate.current

    (stack, gate), contexts = jax.lax.scan(step, (stack, gate), (x, y))
    return stack, gate, contexts


def _labels(stack: PCStack, x, masks):
    """The sink's label units after the feedforward pass."""
    return jax.vmap(lambda xi: stack.propagate(xi, masks)[-1][-LABELS:])(x)


@jax.jit
def _task_il_predictions(stack: PCStack, masks, x, classes):
    return classes[jnp.argmax(_labels(stack, x, masks)[:, classes], axis=1)]


@jax.jit
def _class_il_predictions(stack: PCStack, masks, x):
    return jnp.argmax(jnp.where(masks[-1][-LABELS:] > 0, _labels(stack, x, masks), -jnp.inf), axis=1)


@jax.jit
def _gated_class_il_predictions(stack: PCStack, gate: PlasticityGate, x):
    """Infers each sample's context by least free energy with the labels hidden, then reads its labels."""
    visible = (jnp.ones(IMAGE), jnp.ones(stack.sizes[1]), IMAGE_ONLY)

    def predict(xi):
        energies = gate.free_energies(stack, _states(stack, xi, jnp.zeros(LABELS)), clamped=CLAMPED, visible=visible)
        context = gate.infer_context(energies)
        masks = gate.masks(context)
        labels = stack.propagate(xi, masks)[-1][-LABELS:]
        return jnp.argmax(jnp.where(masks[-1][-LABELS:] > 0, labels, -jnp.inf)), context

    return jax.vmap(predict)(x)


def _forgetting(accuracy: np.ndarray) -> float:
    """Mean over all but the last task of (best accuracy reached on it - final accuracy)."""
    return float(np.mean([accuracy[t:, t].max() - accuracy[-1, t] for t in range(len(accuracy) - 1)]))


def evaluate(
    hidden_per_task: int = 40,
    steps_per_task: int = 300,
    batch_size: int = 16,
    learning_rate: float = 0.02,
    inference_steps: int = 20,
    surprise_ratio: float = 1.6,
    selection_trials: int = 2000,
    seed: int = 0,
) -> dict:
    """Selection accuracy of the basal ganglia, then split-digits continual learning with and without the gate.

    `hidden_per_task`: hidden units each context recruits (the stack has 5x as many); `steps_per_task`:
    minibatches per task; `inference_steps`: settling steps per sample; `surprise_ratio`: the task-free gate's
    spike threshold (x the running mean free energy); `selection_trials`: random trials per channel count.
    """
    start = time.time()
    selection = {n: _selection_accuracy(n, selection_trials, seed + n) for n in (2, 8, 64)}
    print_table(
        [{"channels": n, "trials": selection_trials, "selection_accuracy": a} for n, a in selection.items()],
        "basal ganglia: largest of saliences in [0, 1] (top-2 gap >= 0.05) selected",
    )

    x_train, x_test, y_train, y_test = _digits(seed)
    print(f"\nsplit digits: tasks {TASKS}; {len(x_train)} train / {len(x_test)} test (stratified 30%, seed {seed})")
    hidden = hidden_per_task * len(TASKS)
    sizes = (IMAGE, hidden, SINK)
    initial = PCStack(sizes, steps=inference_steps, learning_rate=learning_rate, key=jax.random.PRNGKey(seed))
    initial_gate = PlasticityGate(
        sizes, quotas=(0, hidden_per_task, 0), shared=(True, False, False), surprise_ratio=surprise_ratio
    )
    ungated_masks = (jnp.ones(IMAGE), jnp.ones(hidden), _block(0) + 1.0 - IMAGE_ONLY)
    learners = {"ungated": (initial, None), "gated": (initial, initial_gate)}
    one_hot = np.eye(LABELS, dtype=np.float32)
    rng = np.random.default_rng(seed)
    task_il = {name: np.zeros((len(TASKS), len(TASKS))) for name in learners}
    class_il = {name: np.zeros((len(TASKS), len(TASKS))) for name in learners}
    stream_x, stream_y, stream_task = [], [], []

    bar = progress(list(enumerate(TASKS)), desc="split digits", unit="task")
    for t, classes in bar:
        train = np.isin(y_train, classes)
        index = _batches(int(train.sum()), steps_per_task, batch_size, rng)
        x, y = x_train[train][index], one_hot[y_train[train]][index]
        stream_x.append(x), stream_y.append(y), stream_task.append(np.full(steps_per_task, t))
        for name, (stack, gate) in learners.items():
            if gate is None:
                stack = _train_task(stack, ungated_masks, x, y)
            else:
                stack, gate = _train_gated_task(stack, gate, t, x, y)
            learners[name] = (stack, gate)
            for s, seen in enumerate(TASKS[: t + 1]):
                test = np.isin(y_test, seen)
                masks = ungated_masks if gate is None else gate.masks(s)
                predicted = _task_il_predictions(stack, masks, x_test[test], jnp.asarray(seen))
                task_il[name][t, s] = np.mean(np.asarray(predicted) == y_test[test])
                if gate is None:
                    predicted = _class_il_predictions(stack, masks, x_test[test])
                else:
                    predicted = _gated_class_il_predictions(stack, gate, x_test[test])[0]
                class_il[name][t, s] = np.mean(np.asarray(predicted) == y_test[test])
        bar.write(
            f"  task {t} {classes} learnt ({time.time() - start:.0f} s): task-IL / class-IL so far: "
            + ", ".join(f"{n} {task_il[n][t, : t + 1].mean():.3f} / {class_il[n][t, : t + 1].mean():.3f}"
                        for n in learners)
        )

    # the same stream once more, from the same initial stack and gate, never told the task
    stack, gate, contexts = _train_task_free(initial, initial_gate, np.concatenate(stream_x), np.concatenate(stream_y))
    contexts, stream_task = np.asarray(contexts), np.concatenate(stream_task)
    predicted = np.asarray(_gated_class_il_predictions(stack, gate, x_test)[0])
    task_of_test = np.array([next(t for t, classes in enumerate(TASKS) if y in classes) for y in y_test])
    free_accuracy = float(np.mean([np.mean((predicted == y_test)[task_of_test == t]) for t in range(len(TASKS))]))
    # the fraction of each context's minibatches that came from its majority task, averaged over contexts
    purity = np.mean([np.bincount(stream_task[contexts == c]).max() / np.sum(contexts == c) for c in set(contexts)])
    print(
        f"  task-free stream learnt ({time.time() - start:.0f} s): {len(np.unique(contexts))} contexts opened "
        f"(at minibatches {np.flatnonzero(np.diff(contexts)) + 1}), minibatch purity {purity:.3f}"
    )

    rows = [
        {
            "learner": name,
            "task_il_accuracy": task_il[name][-1].mean(),
            "task_il_forgetting": _forgetting(task_il[name]),
            "class_il_accuracy": class_il[name][-1].mean(),
            "class_il_forgetting": _forgetting(class_il[name]),
            "final_task_il_per_task": " ".join(f"{a:.2f}" for a in task_il[name][-1]),
        }
        for name in learners
    ]
    rows.append(
        {
            "learner": "gated, task-free",
            "task_il_accuracy": "-",
            "task_il_forgetting": "-",
            "class_il_accuracy": free_accuracy,
            "class_il_forgetting": "-",
            "final_task_il_per_task": "-",
        }
    )
    print_table(rows, "split digits, after the last task (accuracy averaged over the 5 tasks)")
    print(f"{time.time() - start:.0f} s")
    return {
        "selection_accuracy": min(selection.values()),
        "selection_accuracy_2": selection[2],
        "selection_accuracy_8": selection[8],
        "selection_accuracy_64": selection[64],
        "gated_task_il_accuracy": rows[1]["task_il_accuracy"],
        "gated_task_il_forgetting": rows[1]["task_il_forgetting"],
        "gated_class_il_accuracy": rows[1]["class_il_accuracy"],
        "gated_class_il_forgetting": rows[1]["class_il_forgetting"],
        "ungated_task_il_accuracy": rows[0]["task_il_accuracy"],
        "ungated_task_il_forgetting": rows[0]["task_il_forgetting"],
        "ungated_class_il_accuracy": rows[0]["class_il_accuracy"],
        "taskfree_class_il_accuracy": free_accuracy,
        "taskfree_contexts": int(len(np.unique(contexts))),
        "taskfree_purity": float(purity),
    }
