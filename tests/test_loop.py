"""The loop's three entry points: `train` goes on where it stopped, `evaluate` lives one fresh life each in the
run's worlds, `exam` tests frozen copies elsewhere and leaves no trace; bad arguments are named before a step."""

import jax
import numpy as np
import pytest

from agents.loop import Run, make_vector_env
from test_checkpoint import SMALL, same_run

WORLD = dict(world="mortal/Forager-v0", population=2, seed=3, max_episode_steps=15)  # lives of 15 steps, then a reset


def brains_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_training_in_two_calls_is_training_in_one():
    pieces, whole = Run.start(SMALL, **WORLD), Run.start(SMALL, **WORLD)
    steps_seen = []
    pieces.train(20, on_step=lambda t, info, record, obs: steps_seen.append((t, record.steps)))
    assert pieces.train(25) is pieces.record
    whole.train(45)
    same_run(pieces, whole)
    assert steps_seen == [(t, t + 1) for t in range(20)], "on_step sees this call's step and the record's count"
    assert [life["step"] for life in whole.record.lives] == [15, 15, 31, 31], "lives end on both sides of the break"


def test_training_stops_when_until_says_so():
    run = Run.start(SMALL, **WORLD)
    run.train(1_000, until=lambda record: len(record.lives) >= 3)
    assert run.record.steps == 31 and len(run.record.lives) == 4  # two at step 15; a reset step; two at step 31


@pytest.mark.parametrize("learn", [False, True])
def test_evaluation_lives_one_fresh_life_each_and_learns_only_when_asked(learn):
    run = Run.start(SMALL, **WORLD)
    run.train(10)
    before = jax.device_get(run.population.states.brain)
    lives = run.evaluate(seed=7, learn=learn)
    assert [(life["env"], life["survival_steps"], life["capped"]) for life in lives] == [(0, 15, False), (1, 15, False)]
    assert run.record.lives[-2:] == [{k: v for k, v in life.items() if k not in ("cap", "capped")} for life in lives]
    assert run.record.steps == 10 + 15, "the run goes on from the evaluation"
    assert brains_equal(before, run.population.states.brain) == (not learn)


def test_an_exam_leaves_no_trace_and_depends_only_on_the_brains_and_its_seed():
    examined, never = Run.start(SMALL, **WORLD), Run.start(SMALL, **WORLD)
    examined.train(10)
    worlds = make_vector_env(WORLD["world"], 2, 100, max_episode_steps=12)
    first, again = examined.exam(worlds, seed=100, context=None), examined.exam(worlds, seed=100)
    assert first == again and [(life["env"], life["survival_steps"]) for life in first] == [(0, 12), (1, 12)]
    assert examined.record.steps == 10 and len(examined.record.lives) == 0
    examined.train(10)
    never.train(20)
    same_run(examined, never)  # brains, record, observation and key: as if the exam had never been
    worlds.close()


def test_bad_arguments_are_named_before_any_step():
    run = Run.start(SMALL, **WORLD)
    run.train(2)
    for steps in (-1, 2.5, "10"):
        with pytest.raises(ValueError, match=f"steps must be a whole number >= 0, got {steps!r}"):
            run.train(steps)
    with pytest.raises(ValueError, match=r"on_divergence must be one of \('stop', 'end-life'\), got 'ignore'"):
        run.train(1, on_divergence="ignore")
    with pytest.raises(ValueError, match="the evaluation cap must be a whole number of steps >= 1, got 0"):
        run.evaluate(seed=1, cap=0)
    worlds = make_vector_env(WORLD["world"], 3, 0)
    with pytest.raises(ValueError, match="an exam needs the same number of worlds for each of the 2 agents, got 3"):
        run.exam(worlds, seed=0)
    worlds.close()
    assert run.record.steps == 2 and not run.record.lives


def test_a_population_step_keeps_old_states_and_compiles_once():
    run = Run.start(SMALL, **WORLD)
    run.train(3)
    before = run.population.states
    kept = jax.device_get(before)
    run.train(3)
    assert brains_equal(before, kept), "a step leaves the states it was given readable and unchanged"
    assert not brains_equal(run.population.states.brain, kept.brain)
    assert run.population._step._cache_size() == 1, "the vmapped step is compiled once, for every call"
