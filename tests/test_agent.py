import dataclasses
import re

import jax
import numpy as np
import pytest
import tyro

from agents.agent import Observation, build_agent
from agents.config import (
    ActiveInferenceConfig,
    AgentConfig,
    ArgmaxConfig,
    BasalGangliaConfig,
    IdentityConfig,
    ModelBasedConfig,
    NoMemoryConfig,
    PCConfig,
    RandomPlannerConfig,
    RandomProjectionConfig,
    SDRConfig,
    SoftmaxConfig,
    validate,
    variant,
)
from agents.loop import Run, make_env

SMALL = dict(plan_every=5, learn_every=2, select_every=50, levels=5, situations=4)
SMALL_PC = PCConfig(latent=8, hidden=(16,), steps=4)
SMALL_SDR = SDRConfig(modules=4, cells=8, input_bits=64, active_bits=8)
DEFAULT_SMALL = AgentConfig(perception=SMALL_PC, memory=SMALL_SDR, **SMALL)


def lived(config: AgentConfig, world: str = "mortal/Forager-v0", steps: int = 120, seed: int = 0, population=2):
    run = Run.start(config, world, population, seed)
    trace = []
    run.train(steps, on_step=lambda t, info, record, obs: trace.append(
        [np.asarray(info["drive"]), np.asarray(info["channel"]), np.asarray(info["free_energy"])]))
    return run, np.asarray(trace, dtype=float)


def leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_same_seed_same_training_curve_and_different_seed_differs():
    first, curve = lived(DEFAULT_SMALL, seed=1)
    second, again = lived(DEFAULT_SMALL, seed=1)
    np.testing.assert_array_equal(curve, again)
    assert leaves_equal(first.population.states, second.population.states)
    _, other = lived(DEFAULT_SMALL, seed=2)
    assert not np.array_equal(curve, other)


@pytest.mark.parametrize(
    "config, world",
    [
        (AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), planner=RandomPlannerConfig(),
                     gate=ArgmaxConfig(), **SMALL), "mortal/FoodOnly-v0"),
        (AgentConfig(perception=RandomProjectionConfig(latent=8), memory=SMALL_SDR, gate=SoftmaxConfig(),
                     homeostasis="off", **SMALL), "CartPole-v1"),
        (AgentConfig(perception=SMALL_PC, memory=SMALL_SDR, gate=BasalGangliaConfig(), **SMALL),
         "mortal/ThermalForager-v0"),
    ],
    ids=["identity-none-random-argmax", "projection-sdr-aif-softmax-off-cartpole", "pc-sdr-aif-bg-thermal"],
)
def test_every_module_swap_lives_end_to_end(config, world):
    run, trace = Run.start(config, world, population=2, seed=0), []
    run.train(150, on_step=lambda t, info, record, obs: trace.append(info))
    drive, channel, tick = (np.stack([info[name] for info in trace]) for name in ("drive", "channel", "tick"))
    assert np.all(np.isfinite(drive)) and np.all(np.isfinite(np.stack([info["free_energy"] for info in trace])))
    assert channel.shape == (150, 2) and np.all((channel >= 0) & (channel < run.population.agent.num_channels))
    held = ~tick[1:]  # between planning ticks the channel is held
    np.testing.assert_array_equal(channel[1:][held], channel[:-1][held])
    windows = np.lib.stride_tricks.sliding_window_view(tick, config.plan_every, axis=0)
    assert tick[0].all() and windows.any(axis=-1).all(), "a life ticks at least every plan_every steps"
    if not run.record.lives:  # one life each: ticks exactly every plan_every steps
        np.testing.assert_array_equal(tick, np.repeat((np.arange(150) % config.plan_every == 0)[:, None], 2, axis=1))
    assert run.record.steps == 150 and np.all(np.asarray(run.population.states.steps) == 150)
    if world == "CartPole-v1":
        assert run.record.lives, "a CartPole life should end within 150 steps of an untrained agent"


def test_jitted_step_equals_eager_step():
    env = make_env("mortal/Forager-v0")
    agent, state = build_agent(dataclasses.replace(DEFAULT_SMALL, plan_every=2), env, key=jax.random.key(0))
    obs, _ = env.reset(seed=0)
    observation = Observation(obs["extero"], obs["intero"], np.float32(0), np.bool_(False), np.bool_(False))
    key = jax.random.key(1)
    jitted = jax.jit(type(agent).step)
    fast_state, slow_state = state, state
    for t in range(3):  # ticks at steps 0 and 2, a step between them; perception learns at steps 0 and 2
        step_key = jax.random.fold_in(key, t)
        fast_state, fast_action, fast_info = jitted(agent, fast_state, observation, step_key)
        with jax.disable_jit():
            slow_state, slow_action, slow_info = agent.step(slow_state, observation, step_key)
        np.testing.assert_allclose(fast_action, slow_action, rtol=1e-4, atol=1e-5)
        for (path, fast), slow in zip(jax.tree_util.tree_leaves_with_path(fast_info), jax.tree.leaves(slow_info)):
            np.testing.assert_allclose(fast, slow, rtol=1e-3, atol=1e-4, err_msg=jax.tree_util.keystr(path))
    for fast, slow in zip(jax.tree.leaves(fast_state), jax.tree.leaves(slow_state)):
        np.testing.assert_allclose(fast, slow, rtol=1e-3, atol=1e-4)


def test_unknown_variants_are_errors_that_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown memory 'hopfield'; valid: sdr, none"):
        variant("memory", "hopfield")
    with pytest.raises(ValueError, match="valid slots: perception, memory, planner, gate"):
        variant("cortex", "pc")
    with pytest.raises(ValueError, match="levels must be >= 3"):
        build_agent(dataclasses.replace(DEFAULT_SMALL, levels=2), make_env("mortal/Forager-v0"), key=jax.random.key(0))


@pytest.mark.parametrize("config, message", [
    (AgentConfig(episodic_weight=float("nan")), "AgentConfig.episodic_weight must be finite and >= 0, got nan"),
    (AgentConfig(habit_weight=-0.1), "AgentConfig.habit_weight must be finite and >= 0, got -0.1"),
    (AgentConfig(preference_precision=0.0), "AgentConfig.preference_precision must be finite and > 0, got 0.0"),
    (AgentConfig(planner=ActiveInferenceConfig(gamma=float("inf"))), "ActiveInferenceConfig.gamma must be finite"),
    (AgentConfig(planner=ActiveInferenceConfig(lr=0.0)), "ActiveInferenceConfig.lr must be finite and > 0"),
    (AgentConfig(planner=ActiveInferenceConfig(policy_len=0)), "ActiveInferenceConfig.policy_len must be >= 1, got 0"),
    (AgentConfig(gate=SoftmaxConfig(temperature=-1.0)), "SoftmaxConfig.temperature must be finite and > 0"),
    (AgentConfig(planner=ModelBasedConfig(learning_rate=float("nan"))), "ModelBasedConfig.learning_rate must be"),
    (AgentConfig(planner=ModelBasedConfig(drive_weight=-1.0)), "ModelBasedConfig.drive_weight must be finite and >="),
    (AgentConfig(planner=ModelBasedConfig(discount=1.5)), "ModelBasedConfig.discount must be <= 1, got 1.5"),
    (AgentConfig(planner=ModelBasedConfig(horizon=0)), "ModelBasedConfig.horizon must be >= 1, got 0"),
    (AgentConfig(memory=SDRConfig(cells=0)), "SDRConfig.cells must be >= 1, got 0"),
])
def test_validate_names_every_bad_weight_precision_temperature_gamma_and_rate(config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(config)


def test_too_many_policies_is_a_clear_error():
    validate(AgentConfig(planner=ModelBasedConfig(horizon=None, dreams=0)))  # None and 0 are allowed there
    config = dataclasses.replace(DEFAULT_SMALL, planner=ActiveInferenceConfig(policy_len=8))
    with pytest.raises(ValueError, match=r"ActiveInferenceConfig.policy_len=8 gives \d+\*\*8 policies .* lower policy_len"):
        build_agent(config, make_env("mortal/Forager-v0"), key=jax.random.key(0))


def test_command_line_swaps_modules_by_name():
    config = tyro.cli(AgentConfig, args=["memory:none", "gate:argmax", "--homeostasis", "off"],
                      config=(tyro.conf.CascadeSubcommandArgs,))
    assert isinstance(config.memory, NoMemoryConfig) and isinstance(config.gate, ArgmaxConfig)
    assert isinstance(config.perception, PCConfig) and config.homeostasis == "off"
    with pytest.raises(SystemExit):
        tyro.cli(AgentConfig, args=["memory:hopfield"], config=(tyro.conf.CascadeSubcommandArgs,))
