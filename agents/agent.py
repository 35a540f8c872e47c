"""The agent: brain modules composed into one pure control step, in named phases.

    agent, state = build_agent(config, env, key=key)
    state, action, info = agent.step(state, observation, key)       # jit once, vmap over a population

Each step, in order (each phase a small pure method of `Agent` with a typed output; the gate's is
`select_channel`, since `Agent.select` is structural selection):

    begin      a step after a life ended starts a new one: perception and the planner's beliefs start afresh
    perceive   perception settles its latent on the exteroceptive reading, and the situation units classify
               it (a death is a situation of its own)
    feel       interoception: the drive D(h), the outcome of the last tick's channel (the drive's fall, or the
               task's reward with homeostasis off), the internal variables' levels and the reward's level
    recall     at a planning tick (below), memory recalls the most similar episode: its familiarity G, and the
               outcome that followed it (only the gate reads it, and only at a tick)
    plan       at a planning tick (`Agent.is_tick`: every `plan_every` steps of a life, or on demand with
               `plan_when="drive"` or `"surprised"`, and at a life's end): the planner (pymdp)
               updates its beliefs over its hidden states from the tick's observations, named after the factors
               of its generative model (`generative_model`: the internal variables, "situation", "reward"),
               and scores each channel by expected free energy
    select     at a tick: the gate picks a channel from saliences = q(channel) + episodic value + habit (a
               teacher's demonstration, a channel cued in the observation, overrides it); between ticks the
               channel is held
    act        the channel's motor reflex turns the raw exteroceptive reading into the actuator command, and
               perception records the channel (its next prediction is conditioned on it)
    learn      at a tick: memory stores the last tick's episode with its outcome, the planner learns A and B
               from the transition, habit moves towards the channel, the situation units learn; every
               `learn_every` steps of a life: one local Hebbian step of perception

The step's info holds the synaptic operations each module computed (`Agent.cost`, in `info["ops"]`; the unit
is `brain.base`'s); between ticks memory, the planner and the gate compute nothing.

Called by the loop, on slower timescales: `Agent.select` (every `select_every` steps, structural selection:
an unused situation unit regrows) and `Agent.enter` (a curriculum's new lesson: the perception's plasticity
gate switches to the lesson's own units).
"""

import functools
from typing import NamedTuple

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from agents.config import AgentConfig, ModelBasedConfig, NeedValueConfig, validate
from agents.interoception import Interoception
from agents.motor import primitives_for
from brain.base import (AbstractGate, AbstractMemory, AbstractPerception, AbstractPlanner, AbstractSituations,
                        Percept, Plan, Recollection, finite_or_zero, non_finite)
from brain.planner import Factor, GenerativeModel


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
    situations: AbstractSituations
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
    since_tick: Int[Array, ""]  # steps since the last planning tick
    free_energy_mean: Float[Array, ""]  # running mean of perception's free energy (`is_tick`)


class Life(NamedTuple):
    """Where this step stands in its life (`begin`)."""

    perception: object  # perception's inference state coming into this step
    planner: object  # the planner's beliefs coming into this step
    steps: Int[Array, ""]  # steps lived in this life before this one
    reward: Float[Array, ""]  # task reward summed since the last tick, this step's included


class Sensed(NamedTuple):
    """What `perceive` makes of the exteroceptive reading."""

    perception: object  # perception's settled inference state
    percept: Percept  # its latent finite (zeros where perception diverged, which `diverged` reports)
    situation: Int[Array, ""]  # the situation unit the latent falls in; num_situations at a death
    diverged: Bool[Array, ""]


class Felt(NamedTuple):
    """What `feel` reads from the internal variables (and the task's reward)."""

    drive: Float[Array, ""]
    outcome: Float[Array, ""]  # what the last tick's channel brought: the drive's fall, or the task's reward
    levels: dict[str, Int[Array, ""]]  # each internal variable's level, by its name
    reward_level: Int[Array, ""]  # the task's reward since the last tick (`reward_level`)


class Planned(NamedTuple):
    """What `plan` returns: the planner's new beliefs, and its plan (zeros between ticks)."""

    planner: object
    plan: Plan


class Choice(NamedTuple):
    """What `select_channel` decides: the channel to hold until the next tick."""

    planner: object  # the planner's beliefs, told the channel chosen
    gate: object
    channel: Int[Array, ""]
    ops: Float[Array, ""]  # the gate's synaptic operations (0 between ticks: nothing selected)


class Experience(NamedTuple):
    """This step as its phases saw it: what `learn` learns from."""

    life: Life
    sensed: Sensed
    recalled: Recollection
    felt: Felt
    observation: list[Int[Array, ""]]  # what the planner observed (at a tick), one outcome per factor
    planned: Planned
    choice: Choice
    tick: Bool[Array, ""]  # this step was a planning tick


class Agent(eqx.Module):
    """The fixed part of an agent: its configuration, interoception, the planner's generative model (`model`)
    and motor reflexes."""

    interoception: Interoception
    model: GenerativeModel
    variables: tuple[str, ...] = eqx.field(static=True)  # the internal variables' names
    config: AgentConfig = eqx.field(static=True)
    motor: object = eqx.field(static=True)
    num_channels: int = eqx.field(static=True)

    def step(
        self, state: AgentState, obs: Observation, key: PRNGKeyArray, learn: bool = True
    ) -> tuple[AgentState, Array, dict[str, Array]]:
        """One control step, the phases in order (see the module docstring). Pure: jit it once and vmap it over a
        population. The planning tick's phases run under `jax.lax.cond`; between ticks they hold what they had.
        With `learn=False` (static: a test) the learn phase is skipped."""
        k_perceive, k_plan, k_gate, k_store = jax.random.split(key, 4)
        brain, life = state.brain, self.begin(state, obs)
        sensed = self.perceive(brain, life, obs, key=k_perceive)
        felt = self.feel(state, life, obs)
        observation = self.observation(sensed, felt)
        tick = self.is_tick(state, life, sensed, felt, obs)
        recall = functools.partial(self.recall, brain, sensed)
        recalled = _at_tick(tick, recall, _nothing(recall))
        planned = _at_tick(tick, lambda: self.plan(brain, life, observation, key=k_plan), self.unplanned(life))
        choice = _at_tick(tick, lambda: self.select_channel(brain, state, life, planned, recalled, obs.cue, key=k_gate),
                          Choice(planned.planner, state.gate, state.channel, jnp.zeros(())))
        action, perception = self.act(brain, sensed, choice, obs.extero)
        experience = Experience(life, sensed, recalled, felt, observation, planned, choice, tick)
        ops = self.cost(brain, state, experience, obs.extero, learn)
        if learn:
            brain = self.learn(brain, state, experience, obs.extero, key=k_store)
        return self.carry(state, brain, perception, experience, obs), action, self.report(experience, ops)

    # --- the phases ---

    def begin(self, state: AgentState, obs: Observation) -> Life:
        """This step's place in its life: after a life ended (`state.done`), perception's state, the planner's
        beliefs, the step count and the reward since the last tick start afresh."""
        new_life, brain = state.done, state.brain
        return Life(
            perception=_where(new_life, brain.perception.init_state(), state.perception),
            planner=_where(new_life, brain.planner.forget_transition(state.planner), state.planner),
            steps=jnp.where(new_life, 0, state.life_steps),
            reward=jnp.where(new_life, 0.0, state.tick_reward) + obs.reward,
        )

    def perceive(self, brain: Brain, life: Life, obs: Observation, *, key: PRNGKeyArray) -> Sensed:
        """Perception settles on the exteroceptive reading; the situation units classify its latent."""
        perception, percept = brain.perception.perceive(life.perception, obs.extero, key=key)
        diverged = non_finite((percept.free_energy, percept.latent))
        percept = percept._replace(latent=finite_or_zero(percept.latent))
        situations = brain.situations
        situation = jnp.where(obs.terminated, situations.num_situations, situations.classify(percept.latent))
        return Sensed(perception, percept, situation, diverged)

    def recall(self, brain: Brain, sensed: Sensed) -> Recollection:
        """Memory's most similar episode to the latent: its familiarity and the outcome bound to it per channel."""
        return brain.memory.recall(sensed.percept.latent)

    def feel(self, state: AgentState, life: Life, obs: Observation) -> Felt:
        """Interoception: the drive, the outcome since the last tick, and the levels the planner observes."""
        drive = self.interoception.drive(obs.intero)
        outcome = state.tick_drive - drive if self.config.homeostasis == "on" else life.reward
        levels = dict(zip(self.variables, self.interoception.level(obs.intero)))
        return Felt(drive, outcome, levels, self.reward_level(life.reward))

    def reward_level(self, reward: Float[Array, ""]) -> Int[Array, ""]:
        """The level of `reward` among `reward_levels` = 2k + 1: k + sign(r) ceil(k min(|r|, 1)), so k is zero
        reward, and each side k levels split |r| in (0, 1] (with 3 levels: negative, zero, positive)."""
        k = (self.config.reward_levels - 1) // 2
        return (k + jnp.sign(reward) * jnp.ceil(k * jnp.minimum(jnp.abs(reward), 1.0))).astype(jnp.int32)

    def observation(self, sensed: Sensed, felt: Felt) -> list[Int[Array, ""]]:
        """What the planner observes at a tick, by name (see `generative_model`), in its factors' order."""
        return self.model.observe({**felt.levels, "situation": sensed.situation, "reward": felt.reward_level})

    def is_tick(self, state: AgentState, life: Life, sensed: Sensed, felt: Felt, obs: Observation) -> Bool[Array, ""]:
        """Whether this step is a planning tick. Always at a life's first step and at its end; otherwise, with
        `plan_when="tick"`, every `plan_every` steps of the life; with `"drive"`, when the drive has risen since the
        last tick (the channel held is failing its need), or `plan_every` steps after it (an upper bound); with
        `"surprised"`, also when perception is surprised:

            rose_t      = D_t - D_tick > drive_rise
            surprised_t = F_t > Fbar_{t-1} + (kappa - 1) |Fbar_{t-1}|     (F_t > kappa Fbar_{t-1} for Fbar >= 0)
            Fbar_t      = Fbar_{t-1} + rho (F_t - Fbar_{t-1})              (Fbar_0 = F_0 at birth)

        kappa = `surprise_ratio`, rho = `surprise_rate`, D_tick the drive at the last tick."""
        cfg, ended = self.config, obs.terminated | obs.truncated | obs.success
        if cfg.plan_when == "tick":
            return (life.steps % cfg.plan_every == 0) | ended
        rose = felt.drive - state.tick_drive > cfg.drive_rise
        due = (life.steps == 0) | (state.since_tick >= cfg.plan_every) | rose | ended
        if cfg.plan_when == "drive":
            return due
        mean, energy = state.free_energy_mean, sensed.percept.free_energy
        return due | (energy > mean + (cfg.surprise_ratio - 1) * jnp.abs(mean))

    def plan(self, brain: Brain, life: Life, observation, *, key: PRNGKeyArray) -> Planned:
        """The planner updates its beliefs from `observation` and scores each channel."""
        return Planned(*brain.planner.plan(life.planner, observation, key=key))

    def unplanned(self, life: Life) -> Planned:
        """Between ticks: the beliefs as they were, and no plan."""
        nothing = jnp.zeros(self.num_channels)
        return Planned(life.planner, Plan(nothing, nothing, jnp.zeros(())))

    def select_channel(self, brain: Brain, state: AgentState, life: Life, planned: Planned, recalled: Recollection,
                       cue: Int[Array, ""], *, key: PRNGKeyArray) -> Choice:
        """The gate picks a channel from saliences = q(channel) + episodic_weight tanh(gain recalled outcome) +
        habit_weight habit; with nothing salient enough the last channel is kept, and a cue (>= 0) overrides both.
        The planner is told the channel, to predict and learn the next transition with."""
        cfg = self.config
        episodic = jnp.tanh(cfg.outcome_gain * recalled.payload)
        salience = planned.plan.salience + cfg.episodic_weight * episodic + cfg.habit_weight * brain.habit
        salience = finite_or_zero(salience)  # a diverged planner or memory is reported
        gate, selection = brain.gate.select(state.gate, salience, key=key)
        keep = (life.steps > 0) & ~selection.selected
        channel = jnp.where(keep, state.channel, jnp.maximum(selection.channel, 0))
        channel = jnp.where(cue >= 0, cue, channel)  # a demonstration overrides the gate
        return Choice(brain.planner.commit(planned.planner, channel), gate, channel, selection.ops)

    def act(self, brain: Brain, sensed: Sensed, choice: Choice, extero: Float[Array, " extero"]
            ) -> tuple[Array, object]:
        """The actuator command (the channel's reflex on the raw reading), and perception's state with the channel
        recorded."""
        action = self.motor.command(choice.channel, extero)
        return action, brain.perception.advance(sensed.perception, jax.nn.one_hot(choice.channel, self.num_channels))

    def learn(self, brain: Brain, state: AgentState, experience: Experience, extero: Float[Array, " extero"], *,
              key: PRNGKeyArray) -> Brain:
        """At a tick, `learn_at_tick`; at `perception_learns`, one local step of perception."""
        brain = _at_tick(experience.tick, lambda: self.learn_at_tick(brain, state, experience, key=key), brain)
        perception = _where(self.perception_learns(state, experience), brain.perception.learn(experience.sensed.perception, extero), brain.perception)
        return eqx.tree_at(lambda b: b.perception, brain, perception)

    def perception_learns(self, state: AgentState, experience: Experience) -> Bool[Array, ""]:
        """Whether perception takes a learning step: every `learn_every` steps of a life; with
        `learn_when="surprised"`, only those where free energy is above its running mean, F_t > Fbar_{t-1}
        (`is_tick`; none at birth, before there is a mean). The local update, dW = eta e x^T, is small where the error e is, so the steps skipped
        change the synapses least and save their operations."""
        due = experience.life.steps % self.config.learn_every == 0
        if self.config.learn_when == "always":
            return due
        return due & (state.steps > 0) & (experience.sensed.percept.free_energy > state.free_energy_mean)

    def learn_at_tick(self, brain: Brain, state: AgentState, experience: Experience, *, key: PRNGKeyArray) -> Brain:
        """Memory stores the last tick's latent with the outcome of the channel taken then (nothing at a life's
        first tick); the planner learns from the transition; habit h <- (1 - rate) h + rate onehot(channel); the
        situation units learn the latent."""
        life, latent, choice = experience.life, experience.sensed.percept.latent, experience.choice
        taken = jax.nn.one_hot(state.channel, self.num_channels)
        first = life.steps == 0  # no episode to store yet in this life
        stored = brain.memory.store(jnp.where(first, latent, state.tick_latent), taken * experience.felt.outcome,
                                    key=key, mask=taken)
        memory = _where(first, brain.memory, stored)
        planner = brain.planner.learn(experience.planned.planner, experience.observation)
        rate = self.config.habit_rate
        habit = (1 - rate) * brain.habit + rate * jax.nn.one_hot(choice.channel, self.num_channels)
        situations = brain.situations.learn(latent)
        return eqx.tree_at(lambda b: (b.memory, b.planner, b.habit, b.situations), brain,
                           (memory, planner, habit, situations))

    def cost(self, brain: Brain, state: AgentState, experience: Experience, extero: Float[Array, " extero"],
             learn: bool) -> dict[str, Array]:
        """The synaptic operations (`brain.base`) each module computes this step, by slot: perception's inference,
        and its learning step (`perception_learns`); memory's recall, and its store at a tick (not a life's
        first); the planner's plan and learning and the gate's selection at a tick only (0 between ticks); the
        situations' classification, and their learning at a tick. With `learn=False` the learning terms are 0."""
        life, sensed = experience.life, experience.sensed
        learns_at_tick = experience.tick & learn
        learn_now = self.perception_learns(state, experience) & learn
        taken = jax.nn.one_hot(state.channel, self.num_channels)
        latent = sensed.percept.latent
        store = brain.memory.store_ops(state.tick_latent, taken * experience.felt.outcome, mask=taken)
        ops = {
            "perception": sensed.percept.ops + learn_now * brain.perception.learn_ops(sensed.perception, extero),
            "memory": experience.recalled.ops + (learns_at_tick & (life.steps > 0)) * store,
            "planner": experience.planned.plan.ops
                       + learns_at_tick * brain.planner.learn_ops(experience.planned.planner, experience.observation),
            "gate": experience.choice.ops,
            "situations": brain.situations.classify_ops(latent) + learns_at_tick * brain.situations.learn_ops(latent),
        }
        return {slot: jnp.asarray(count, jnp.float32) for slot, count in ops.items()}

    def carry(self, state: AgentState, brain: Brain, perception, experience: Experience, obs: Observation
              ) -> AgentState:
        """The state the next step starts from; at a tick, the episode to store at the next one; the free
        energy's running mean (`is_tick`)."""
        tick, felt = experience.tick, experience.felt
        energy, mean, rate = experience.sensed.percept.free_energy, state.free_energy_mean, self.config.surprise_rate
        return AgentState(
            brain=brain,
            perception=perception,
            planner=experience.choice.planner,
            gate=experience.choice.gate,
            channel=experience.choice.channel,
            life_steps=experience.life.steps + 1,
            steps=state.steps + 1,
            tick_latent=jnp.where(tick, experience.sensed.percept.latent, state.tick_latent),
            tick_drive=jnp.where(tick, felt.drive, state.tick_drive),
            tick_reward=jnp.where(tick, 0.0, experience.life.reward),
            done=obs.terminated | obs.truncated | obs.success,
            since_tick=jnp.where(tick, 1, state.since_tick + 1),
            free_energy_mean=jnp.where(state.steps == 0, energy, mean + rate * (energy - mean)),
        )

    def report(self, experience: Experience, ops: dict[str, Array]) -> dict[str, Array]:
        """The step's info: what each phase saw, which modules diverged (non-finite outputs), and each module's
        synaptic operations (`cost`)."""
        sensed, plan, channel = experience.sensed, experience.planned.plan, experience.choice.channel
        return {
            "free_energy": sensed.percept.free_energy,
            "familiarity": experience.recalled.familiarity,  # 0 between ticks
            "drive": experience.felt.drive,
            "channel": channel,
            "situation": sensed.situation,
            "tick": experience.tick,
            "neg_efe": plan.neg_efe[channel],  # 0 between ticks
            "state_entropy": plan.state_entropy,
            "diverged": {
                "perception": sensed.diverged,
                "memory": non_finite(experience.recalled.payload),
                "planner": non_finite(plan.salience),
            },
            "ops": ops,
        }

    # --- the slower timescales ---

    def select(self, state: AgentState) -> AgentState:
        """Structural selection (the slowest timescale): regrow an unused situation unit where experience is."""
        return eqx.tree_at(lambda s: s.brain, state, self._regrow(state.brain, state.tick_latent))

    def _regrow(self, brain: Brain, latent: Float[Array, " latent"], min_wins: float = 0.01) -> Brain:
        """The idle situation unit (if any) re-seeded at `latent`; the planner forgets what it learnt of the unit
        it replaces."""
        planner = brain.planner.forget_state(self.model.index("situation"), brain.situations.idle(min_wins))
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
    if isinstance(config.planner, NeedValueConfig):
        from agents.value_agent import build_value_agent

        return build_value_agent(config, env, key=key)
    physiology = env.get_wrapper_attr("physiology")
    extero_size = env.observation_space["extero"].shape[0]
    motor = primitives_for(env)
    num_channels = motor.num_channels
    k_perception, k_memory, k_situations, k_planner, k_gate = jax.random.split(key, 5)

    perception = config.perception.build(extero_size, num_channels, key=k_perception)
    memory = config.memory.build(perception.latent_size, num_channels, key=k_memory)
    situations = config.situations.build(perception.latent_size, key=k_situations)
    interoception = Interoception(physiology, config.levels)
    model = generative_model(config, interoception, physiology.names, situations.num_situations)
    planner = config.planner.build(model, num_channels, key=k_planner)
    gate = config.gate.build(num_channels, key=k_gate)
    brain = Brain(perception, memory, situations, planner, gate, jnp.zeros(num_channels))
    agent = Agent(interoception, model, tuple(physiology.names), config, motor, num_channels)
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
        since_tick=jnp.array(0),
        free_energy_mean=jnp.zeros(()),
    )
    return agent, state


def generative_model(config: AgentConfig, interoception: Interoception, variables, num_situations: int
                     ) -> GenerativeModel:
    """The discrete planner's model, factor by factor (each fed by the observation of its name):

    - one per internal variable (`variables`), ordinal over its `levels`: C the drive's summand at each level
      (`Interoception.preferences`; 0 with homeostasis off);
    - "situation": the situation units and death, C = -beta at death;
    - "reward", ordinal over `reward_levels` (`Agent.reward_level`): C rising linearly from -beta to beta with
      homeostasis off, 0 with it on."""
    beta, homeostatic = config.preference_precision, config.homeostasis == "on"
    levels = interoception.preferences(beta if homeostatic else 0.0)
    reward = jnp.zeros(config.reward_levels) if homeostatic else jnp.linspace(-1, 1, config.reward_levels) * beta
    return GenerativeModel((
        *(Factor(name, config.levels, preference=c, ordinal=True) for name, c in zip(variables, levels)),
        Factor("situation", num_situations + 1, preference=jnp.zeros(num_situations + 1).at[-1].set(-beta)),
        Factor("reward", config.reward_levels, preference=reward, ordinal=True),
    ))


def _where(condition, on_true, on_false):
    """Selects between two pytrees of the same structure, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


def _nothing(phase):
    """Zeros shaped like what `phase()` returns (it is traced for its shapes, not run)."""
    return jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), jax.eval_shape(phase))


def _at_tick(tick: Bool[Array, ""], phase, between):
    """`phase()` at a planning tick, else `between` (a pytree of the same structure): `jax.lax.cond`, so that a
    lone agent skips the tick's work between ticks (vmapped over a population, both sides run)."""
    return jax.lax.cond(tick, phase, lambda: between)
