"""The agent: brain modules composed into one pure control step.

    agent, state = build_agent(config, env, key=key)
    state, action, info = agent.step(state, observation, key)       # jit once, vmap over a population

Each step (the three timescales of MILLS):
- inference, every step: perception settles its latents on the exteroceptive input; memory recalls the
  most similar episode (its familiarity G, and the outcome that followed it); the drive is read from the
  internal variables;
- a planning tick, every `plan_every` steps and at every death: the last tick's episode is stored in
  memory with its outcome, the planner (pymdp) updates beliefs over its hidden states (internal-variable
  levels, situation, reward) and learns A and B from the transition, the gate picks a channel from
  saliences = q(channel) + episodic value + habit, and the channel is held until the next tick;
- learning, every `learn_every` steps: one local Hebbian step of perception;
- selection, every `select_every` steps (`Agent.select`, called by the loop): unused situation units regrow.
A curriculum's teacher may announce a new lesson (`Agent.enter`: the perception's plasticity gate switches to
the lesson's own units) and may demonstrate: a channel cued in the observation overrides the gate's choice.
The chosen channel's motor reflex turns the raw exteroceptive reading into the actuator command.
"""

from typing import NamedTuple

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from agents.config import AgentConfig, ModelBasedConfig, validate
from agents.interoception import Interoception
from agents.motor import primitives_for
from brain.base import AbstractGate, AbstractMemory, AbstractPerception, AbstractPlanner, finite_or_zero, non_finite
from brain.situations import Situations

HABIT_RATE = 0.01  # habit h <- (1 - rate) h + rate onehot(channel), per tick
OUTCOME_GAIN = 10.0  # episodic value = tanh(gain * recalled outcome): drive changes per tick are ~0.01-0.1
REWARD_LEVELS = 3  # the planner sees the task's reward over a tick as negative, zero or positive


class Observation(NamedTuple):
    """What the agent receives each step (the loop builds it from the env's outputs)."""

    extero: Float[Array, " extero"]
    intero: Float[Array, " intero"]
    reward: Float[Array, ""]  # the task's external reward (used when homeostasis is off)
    terminated: Bool[Array, ""]  # this observation ends a life: death
    truncated: Bool[Array, ""]  # this observation ends an episode by time limit
    cue: Int[Array, ""] = np.int32(-1)  # a teacher's demonstration: the channel to take at this tick (-1: none)
    success: Bool[Array, ""] = np.bool_(False)  # this observation ends an episode by the task's success (not death)


class Brain(eqx.Module):
    """Everything that learns during a life."""

    perception: AbstractPerception
    memory: AbstractMemory
    situations: Situations
    planner: AbstractPlanner
    gate: AbstractGate
    habit: Float[Array, " channels"]


class AgentState(eqx.Module):
    """A living agent: its brain and every inference state carried between steps."""

    brain: Brain
    perception: object
    planner: object
    gate: object
    channel: Int[Array, ""]
    life_steps: Int[Array, ""]  # steps since this life began
    steps: Int[Array, ""]  # steps since birth, over every life
    tick_latent: Float[Array, " latent"]  # the latent at the last planning tick (the episode to store)
    tick_drive: Float[Array, ""]  # drive at the last tick
    tick_reward: Float[Array, ""]  # task reward summed since the last tick
    done: Bool[Array, ""]  # the last observation ended a life: the next one starts a new life


class Agent(eqx.Module):
    """The fixed part of an agent: its configuration, interoception and motor reflexes."""

    interoception: Interoception
    config: AgentConfig = eqx.field(static=True)
    motor: object = eqx.field(static=True)
    num_channels: int = eqx.field(static=True)

    def step(
        self, state: AgentState, obs: Observation, key: PRNGKeyArray
    ) -> tuple[AgentState, Array, dict[str, Array]]:
        """One control step; see the module docstring. Pure: jit it once and vmap it over a population."""
        cfg, brain = self.config, state.brain
        k_perceive, k_plan, k_gate, k_store = jax.random.split(key, 4)
        new_life = state.done
        perception_state = _where(new_life, brain.perception.init_state(), state.perception)
        planner_state = _where(new_life, brain.planner.forget_transition(state.planner), state.planner)
        life_steps = jnp.where(new_life, 0, state.life_steps)
        tick_reward = jnp.where(new_life, 0.0, state.tick_reward) + obs.reward

        perception_state, percept = brain.perception.perceive(perception_state, obs.extero, key=k_perceive)
        perception_diverged = non_finite((percept.free_energy, percept.latent))
        percept = percept._replace(latent=finite_or_zero(percept.latent))
        recollection = brain.memory.recall(percept.latent)
        drive = self.interoception.drive(obs.intero)
        situation = jnp.where(obs.terminated, brain.situations.num_situations, brain.situations.classify(percept.latent))

        def plan_tick(_):
            outcome = state.tick_drive - drive if cfg.homeostasis == "on" else tick_reward
            taken = jax.nn.one_hot(state.channel, self.num_channels)
            first = life_steps == 0  # no episode to store yet in this life
            latent = jnp.where(first, percept.latent, state.tick_latent)
            stored = brain.memory.store(latent, taken * outcome, key=k_store, mask=taken)
            memory = _where(first, brain.memory, stored)
            levels = self.interoception.level(obs.intero)
            reward_level = (jnp.sign(tick_reward) + 1).astype(jnp.int32)
            observation = [*levels, situation, reward_level]
            planner_state_, plan = brain.planner.plan(planner_state, observation, key=k_plan)
            planner = brain.planner.learn(planner_state_, observation)
            episodic = jnp.tanh(OUTCOME_GAIN * recollection.payload)
            salience = plan.salience + cfg.episodic_weight * episodic + cfg.habit_weight * brain.habit
            salience = finite_or_zero(salience)  # a diverged planner or memory is reported
            gate_state, selection = brain.gate.select(state.gate, salience, key=k_gate)
            keep = (life_steps > 0) & ~selection.selected
            channel = jnp.where(keep, state.channel, jnp.maximum(selection.channel, 0))
            channel = jnp.where(obs.cue >= 0, obs.cue, channel)  # a demonstration overrides the gate
            planner_state_ = brain.planner.commit(planner_state_, channel)
            habit = (1 - HABIT_RATE) * brain.habit + HABIT_RATE * jax.nn.one_hot(channel, self.num_channels)
            situations = brain.situations.learn(percept.latent)
            new_brain = eqx.tree_at(
                lambda b: (b.memory, b.planner, b.habit, b.situations), brain, (memory, planner, habit, situations)
            )
            chosen_efe = plan.neg_efe[channel]
            planner_diverged = non_finite(plan.salience)
            return new_brain, planner_state_, gate_state, channel, chosen_efe, plan.state_entropy, planner_diverged

        def hold(_):
            return brain, planner_state, state.gate, state.channel, jnp.zeros(()), jnp.zeros(()), jnp.array(False)

        tick = (life_steps % cfg.plan_every == 0) | obs.terminated | obs.truncated | obs.success
        brain, planner_state, gate_state, channel, chosen_efe, entropy, planner_diverged = jax.lax.cond(
            tick, plan_tick, hold, None)

        learn_now = state.steps % cfg.learn_every == 0
        perception = _where(learn_now, brain.perception.learn(perception_state, obs.extero), brain.perception)
        brain = eqx.tree_at(lambda b: b.perception, brain, perception)
        perception_state = perception.advance(perception_state, jax.nn.one_hot(channel, self.num_channels))

        done = obs.terminated | obs.truncated | obs.success
        action = self.motor.command(channel, obs.extero)
        new_state = AgentState(
            brain=brain,
            perception=perception_state,
            planner=planner_state,
            gate=gate_state,
            channel=channel,
            life_steps=life_steps + 1,
            steps=state.steps + 1,
            tick_latent=jnp.where(tick, percept.latent, state.tick_latent),
            tick_drive=jnp.where(tick, drive, state.tick_drive),
            tick_reward=jnp.where(tick, 0.0, tick_reward),
            done=done,
        )
        info = {
            "free_energy": percept.free_energy,
            "familiarity": recollection.familiarity,
            "drive": drive,
            "channel": channel,
            "situation": situation,
            "tick": tick,
            "neg_efe": chosen_efe,
            "state_entropy": entropy,
            "diverged": {
                "perception": perception_diverged,
                "memory": non_finite(recollection.payload),
                "planner": planner_diverged,
            },
        }
        return new_state, action, info

    def select(self, state: AgentState) -> AgentState:
        """Structural selection (the slowest timescale): regrow an unused situation unit where experience is."""
        return eqx.tree_at(lambda s: s.brain, state, self._regrow(state.brain, state.tick_latent))

    def _regrow(self, brain: Brain, latent: Float[Array, " latent"], min_wins: float = 0.01) -> Brain:
        """The idle situation unit (if any) re-seeded at `latent`; the planner forgets what it learnt of the unit
        it replaces (its situation factor comes after one factor per internal variable)."""
        situation_factor = self.interoception.set_point.shape[0]
        planner = brain.planner.forget_state(situation_factor, brain.situations.idle(min_wins))
        situations = brain.situations.regrow(latent, min_wins)
        return eqx.tree_at(lambda b: (b.planner, b.situations), brain, (planner, situations))

    def enter(self, state: AgentState, extero: Float[Array, " extero"], context: Int[Array, ""]) -> AgentState:
        """A new context (a curriculum's lesson; `extero` its first reading): perception switches to the context's
        units (recruiting them the first time), and structural selection prunes the least used situation unit
        and regrows it at the context's first percept."""
        brain = state.brain
        perception = brain.perception.enter(state.perception, extero, context)
        _, percept = perception.perceive(perception.init_state(), extero, key=jax.random.key(0))
        brain = self._regrow(eqx.tree_at(lambda b: b.perception, brain, perception), percept.latent, jnp.inf)
        return eqx.tree_at(lambda s: s.brain, state, brain)


def build_agent(config: AgentConfig, env: gym.Env, *, key: PRNGKeyArray) -> tuple[Agent, AgentState]:
    """An agent for `env` (its extero size, internal variables and motor reflexes) and its newborn state."""
    validate(config)
    if isinstance(config.planner, ModelBasedConfig):
        from agents.model_agent import build_model_agent

        return build_model_agent(config, env, key=key)
    physiology = env.get_wrapper_attr("physiology")
    extero_size = env.observation_space["extero"].shape[0]
    motor = primitives_for(env)
    num_channels = motor.num_channels
    k_perception, k_memory, k_situations, k_planner, k_gate = jax.random.split(key, 5)

    perception = config.perception.build(extero_size, num_channels, key=k_perception)
    memory = config.memory.build(perception.latent_size, num_channels, key=k_memory)
    situations = Situations(config.situations, perception.latent_size, key=k_situations)
    interoception = Interoception(physiology, config.levels)
    homeostatic = config.homeostasis == "on"
    num_variables = len(physiology.names)
    level_preferences = interoception.preferences(config.preference_precision if homeostatic else 0.0)
    death = jnp.zeros(config.situations + 1).at[-1].set(-config.preference_precision)
    reward_preference = jnp.zeros(REWARD_LEVELS) if homeostatic else jnp.linspace(-1, 1, REWARD_LEVELS) * config.preference_precision
    planner = config.planner.build(
        num_states=(*[config.levels] * num_variables, config.situations + 1, REWARD_LEVELS),
        preferences=[*level_preferences, death, reward_preference],
        ordinal=(*[True] * num_variables, False, True),
        num_channels=num_channels,
        key=k_planner,
    )
    gate = config.gate.build(num_channels, key=k_gate)
    brain = Brain(perception, memory, situations, planner, gate, jnp.zeros(num_channels))
    agent = Agent(interoception, config, motor, num_channels)
    state = AgentState(
        brain=brain,
        perception=perception.init_state(),
        planner=planner.init_state(),
        gate=gate.init_state(),
        channel=jnp.array(0, jnp.int32),
        life_steps=jnp.array(0),
        steps=jnp.array(0),
        tick_latent=jnp.zeros(perception.latent_size),
        tick_drive=jnp.zeros(()),
        tick_reward=jnp.zeros(()),
        done=jnp.array(False),
    )
    return agent, state


def _where(condition, on_true, on_false):
    """Selects between two pytrees of the same structure, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)
