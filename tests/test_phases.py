"""agents.agent's phases one by one (begin, feel, select, learn), the tuning constants and the situations slot in
the config, and a situations module of the user's own swapped in by name."""

import dataclasses
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tyro

from agents import config
from agents.agent import Observation, build_agent
from agents.checkpoint import config_from_dict
from agents.config import (ActiveInferenceConfig, AgentConfig, ArgmaxConfig, CompetitiveConfig, IdentityConfig,
                           NoMemoryConfig, RandomPlannerConfig, validate)
from agents.loop import make_env
from agents.spec import SpecError, agent_config
from brain.base import AbstractSituations, Plan, Recollection

TINY = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), planner=RandomPlannerConfig(),
                   gate=ArgmaxConfig(), plan_every=5, levels=3, situations=4)  # every phase cheap, eager
ENV = make_env("mortal/FoodOnly-v0")


def newborn(cfg: AgentConfig = TINY):
    return build_agent(cfg, ENV, key=jax.random.key(0))


def first_observation(reward: float = 0.0, cue: int = -1) -> Observation:
    obs, _ = ENV.reset(seed=0)
    return Observation(jnp.asarray(obs["extero"]), jnp.asarray(obs["intero"]), jnp.float32(reward), jnp.bool_(False),
                       jnp.bool_(False), jnp.int32(cue))


# --- the config -----------------------------------------------------------------------------------

def test_the_tuning_constants_are_config_fields_with_their_former_values():
    cfg = AgentConfig()
    assert (cfg.habit_rate, cfg.outcome_gain, cfg.reward_levels) == (0.01, 10.0, 3)
    assert cfg.situations == CompetitiveConfig(units=16, lr=0.05, usage_decay=0.999)


@pytest.mark.parametrize("fields, message", [
    (dict(habit_rate=1.5), "AgentConfig.habit_rate must be <= 1, got 1.5"),
    (dict(habit_rate=-0.1), "AgentConfig.habit_rate must be finite and >= 0, got -0.1"),
    (dict(outcome_gain=float("nan")), "AgentConfig.outcome_gain must be finite and >= 0, got nan"),
    (dict(reward_levels=4), "AgentConfig.reward_levels must be odd and >= 3 (negative, zero, positive), got 4"),
    (dict(reward_levels=1), "AgentConfig.reward_levels must be odd and >= 3"),
    (dict(situations=0), "CompetitiveConfig.units must be >= 1, got 0"),
    (dict(situations=CompetitiveConfig(lr=0.0)), "CompetitiveConfig.lr must be finite and > 0, got 0.0"),
    (dict(situations=CompetitiveConfig(lr=1.5)), "CompetitiveConfig.lr must be <= 1, got 1.5"),
    (dict(situations=CompetitiveConfig(usage_decay=1.0)), "CompetitiveConfig.usage_decay must be in (0, 1), got 1.0"),
])
def test_a_bad_constant_or_situations_setting_is_an_error_naming_it(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(AgentConfig(**fields))


def test_a_bare_count_of_situations_is_that_many_competitive_units_in_code_files_and_old_checkpoints():
    assert AgentConfig(situations=64).situations == CompetitiveConfig(units=64)
    assert agent_config({"situations": 8}, {}, "variants.a").situations == CompetitiveConfig(units=8)
    table = {"situations": {"name": "competitive", "units": 8, "lr": 0.1}}
    assert agent_config(table, {}, "variants.a").situations == CompetitiveConfig(units=8, lr=0.1)
    with pytest.raises(SpecError, match="must be a variant name or a table with a 'name', or a count, got 8.5"):
        agent_config({"situations": 8.5}, {}, "variants.a")
    assert config_from_dict({"situations": 16}).situations == CompetitiveConfig(units=16)  # saved before the slot


def test_the_command_line_sets_the_situation_units_as_a_slot():
    cli = (tyro.conf.CascadeSubcommandArgs,)  # one variant: no subcommand to name (see the registered one below)
    chosen = tyro.cli(AgentConfig, args=["--situations.units", "8", "--situations.usage-decay", "0.99"], config=cli)
    assert chosen.situations == CompetitiveConfig(units=8, usage_decay=0.99)


@pytest.mark.parametrize("homeostasis", ["on", "off"])
def test_the_planner_model_has_a_factor_per_internal_variable_then_situation_and_reward(homeostasis):
    cfg = dataclasses.replace(TINY, planner=ActiveInferenceConfig(), homeostasis=homeostasis)
    agent, state = newborn(cfg)
    physiology = ENV.get_wrapper_attr("physiology")
    model, beta = agent.model, cfg.preference_precision
    assert model.names == (*physiology.names, "situation", "reward")
    assert model.num_states == (*[cfg.levels] * len(physiology.names), 5, 3)  # 4 units and death; 3 reward levels
    assert [f.ordinal for f in model.factors] == [*[True] * len(physiology.names), False, True]
    on = homeostasis == "on"
    for f, c in zip(physiology.names, agent.interoception.preferences(beta if on else 0.0)):
        np.testing.assert_array_equal(model.factors[model.index(f)].preference, c)
    np.testing.assert_array_equal(model.factors[model.index("situation")].preference, [0, 0, 0, 0, -beta])
    reward = model.factors[model.index("reward")].preference
    np.testing.assert_array_equal(reward, [0, 0, 0] if on else [-beta, 0, beta])
    for f, factor in enumerate(model.factors):  # what the planner prefers
        np.testing.assert_array_equal(state.brain.planner.C[f][0], factor.preference)


def test_the_planner_observes_by_name():
    agent, state = newborn()
    obs = first_observation(reward=-1.0)
    life = agent.begin(state, obs)
    sensed = agent.perceive(state.brain, life, obs, key=jax.random.key(0))
    felt = agent.feel(state, life, obs)
    observation = agent.observation(sensed, felt)
    expected = {**dict(zip(agent.variables, agent.interoception.level(obs.intero))), "situation": sensed.situation,
                "reward": 0}
    assert [int(o) for o in observation] == [int(expected[name]) for name in agent.model.names]


# --- the phases -----------------------------------------------------------------------------------

def test_begin_starts_a_new_life_after_one_ended():
    agent, state = newborn()
    lived = eqx.tree_at(lambda s: (s.life_steps, s.tick_reward), state, (jnp.array(7), jnp.float32(2.0)))
    going_on = agent.begin(lived, first_observation(reward=0.5))
    assert int(going_on.steps) == 7 and float(going_on.reward) == 2.5
    reborn = agent.begin(eqx.tree_at(lambda s: s.done, lived, jnp.array(True)), first_observation(reward=0.5))
    assert int(reborn.steps) == 0 and float(reborn.reward) == 0.5


@pytest.mark.parametrize("homeostasis", ["on", "off"])
def test_feel_reads_the_drive_and_the_outcome_since_the_last_tick(homeostasis):
    agent, state = newborn(dataclasses.replace(TINY, homeostasis=homeostasis))
    obs = first_observation(reward=0.25)
    state = eqx.tree_at(lambda s: (s.tick_drive, s.tick_reward), state, (jnp.float32(3.0), jnp.float32(1.0)))
    felt = agent.feel(state, agent.begin(state, obs), obs)
    drive = float(agent.interoception.drive(obs.intero))
    assert float(felt.drive) == pytest.approx(drive)
    assert float(felt.outcome) == pytest.approx(3.0 - drive if homeostasis == "on" else 1.25)  # the drive's fall
    assert {name: int(level) for name, level in felt.levels.items()} == dict(
        zip(agent.variables, map(int, agent.interoception.level(obs.intero))))
    assert int(felt.reward_level) == 2


@pytest.mark.parametrize("levels, rewards, expected", [
    (3, [-2.0, -1e-6, 0.0, 1e-6, 0.4, 5.0], [0, 0, 1, 2, 2, 2]),  # the sign alone
    (5, [-2.0, -0.3, 0.0, 0.3, 0.5, 0.51, 2.0], [0, 1, 2, 3, 3, 4, 4]),  # and |r| in (0, 1/2], (1/2, 1] each side
])
def test_the_reward_level_is_its_sign_and_then_its_size(levels, rewards, expected):
    agent, state = newborn(dataclasses.replace(TINY, planner=ActiveInferenceConfig(), reward_levels=levels,
                                               homeostasis="off"))
    assert [int(agent.reward_level(jnp.float32(r))) for r in rewards] == expected
    assert state.brain.planner.num_states[agent.model.index("reward")] == levels


def test_select_weighs_the_recalled_outcome_by_the_gain_and_a_cue_overrides_the_gate():
    agent, state = newborn()
    channels = agent.num_channels
    state = eqx.tree_at(lambda s: s.brain.habit, state, jnp.zeros(channels).at[3].set(1.0))  # habit: channel 3
    obs = first_observation()
    life = agent.begin(state, obs)
    planned = agent.unplanned(life)  # no plan: saliences from memory and habit only
    outcome = jnp.zeros(channels).at[1].set(0.02)  # a small drive fall remembered after channel 1
    recalled = Recollection(jnp.zeros(1, int), jnp.float32(1.0), outcome, jnp.ones(channels))

    def chosen(cfg, cue=-1):
        return int(dataclasses.replace(agent, config=cfg).select_channel(
            state.brain, state, life, planned, recalled, jnp.int32(cue), key=jax.random.key(0)).channel)

    # salience of 1: 0.5 tanh(10 * 0.02) = 0.099 > habit's 0.05 * 1 of channel 3
    assert chosen(TINY) == 1
    assert chosen(dataclasses.replace(TINY, outcome_gain=1.0)) == 3  # 0.5 tanh(0.02) = 0.010 < 0.05
    assert chosen(TINY, cue=2) == 2


def test_learning_at_a_tick_moves_habit_towards_the_channel_by_the_habit_rate():
    cfg = dataclasses.replace(TINY, habit_rate=0.25)
    agent, state = newborn(cfg)
    habit = jnp.linspace(0.0, 1.0, agent.num_channels)
    state = eqx.tree_at(lambda s: s.brain.habit, state, habit)
    state, _, info = agent.step(state, first_observation(cue=2), jax.random.key(1))  # the first step is a tick
    assert bool(info["tick"]) and int(info["channel"]) == 2
    np.testing.assert_allclose(state.brain.habit, 0.75 * habit + 0.25 * jax.nn.one_hot(2, agent.num_channels),
                               rtol=1e-6)
    held, _, info = agent.step(state, first_observation(), jax.random.key(2))  # between ticks: nothing learnt
    assert not bool(info["tick"]) and int(info["channel"]) == 2
    np.testing.assert_array_equal(held.brain.habit, state.brain.habit)


# --- a situations module of the user's own ----------------------------------------------------------

class OneSituation(AbstractSituations):
    """Everything is the same situation: the planner reasons about alive or dead only."""

    num_situations: int = eqx.field(static=True, default=1)

    def classify(self, latent):
        return jnp.array(0)

    def learn(self, latent):
        return self

    def idle(self, min_wins):
        return jnp.array(-1)

    def regrow(self, latent, min_wins):
        return self


@dataclasses.dataclass(frozen=True)
class OneSituationConfig:
    def build(self, latent_size: int, *, key):
        return OneSituation()


def test_a_registered_situations_module_is_swapped_in_by_name(monkeypatch):
    monkeypatch.setitem(config.SLOTS, "situations", dict(config.SLOTS["situations"]))
    monkeypatch.setattr(config, "SituationsVariant", config.SituationsVariant)
    config.register("situations", "one", OneSituationConfig)
    cfg = tyro.cli(AgentConfig, args=["situations:one", "perception:identity", "memory:none"],
                   config=(tyro.conf.CascadeSubcommandArgs,))
    assert cfg.situations == OneSituationConfig()
    back = tyro.cli(AgentConfig, args=["situations:competitive", "--situations.units", "8"],
                    config=(tyro.conf.CascadeSubcommandArgs,))
    assert back.situations == CompetitiveConfig(units=8)
    agent, state = build_agent(dataclasses.replace(cfg, levels=3), ENV, key=jax.random.key(0))
    situation_states = state.brain.planner.num_states[agent.model.index("situation")]
    assert isinstance(state.brain.situations, OneSituation) and situation_states == 2  # the one, and death
    _, _, info = agent.step(state, first_observation(), jax.random.key(1))
    assert int(info["situation"]) == 0
