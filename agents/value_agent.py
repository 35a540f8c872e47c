"""The need-value agent: raw motor commands chosen by what each need expects of them, learned from experience.

    agent, state = build_value_agent(config, env, key=key)          # config.planner: NeedValueConfig
    state, action, info = agent.step(state, observation, key)       # jit once, vmap over a population

Each step, in order:

    sense      the scene (every exteroceptive reading but the body's motion) through a population code of
               tuning curves (`brain.need_values.tuning_code`); the motion readings as they are
    learn      from the transition just completed: the need values (`brain.need_values`, one general value
               function per internal variable, TD(lambda)) on the change of the internal variables; the motion
               model (`brain.motion_model`) on the motion the last command led to
    weigh      what a change of each variable is worth now: the drive reduction of a rise of `change_unit` (an
               item's worth), per unit, at the internal state forecast `forecast_steps` ahead with nothing eaten
               (allostasis: a body that forecasts wants food before it is hungry; a sated one turns away from it)
    plan       each candidate command (a grid of `levels` per actuator): the motion model predicts the motion it
               leads to, and the need values score the scene with that motion, Q(a) = worth . V(scene, m'(a))
    select     the gate picks among the candidates on their standardised scores
    act        the chosen command, or, while exploring, a random walk of the actuators (an AR(1) process):
               exploring is a mode that the body enters each time it redraws its mode, on average every
               `explore_steps` steps (temporally extended exploration; Dabney et al. 2021), with probability
               `explore` when its needs are met, less as its drive rises, and never at a drive of `safe_drive`
               unless its drive has not fallen for `giving_up_steps` (a forager gives up a place that does not pay);
               a teacher's cue (a channel of the command grid, `agents.curriculum.Teacher`) overrides both

The values never stop learning. Greedy on values that no longer learn, a body can fix on a command that brings
nothing; giving up (exploring after `giving_up_steps` without relief) is what lets a frozen copy live, as the
curriculum's tests need (README, "The Forager on raw wheels: need values").

No reflex steers: what the body approaches and avoids comes from the values it learnt. This brain has its own
sensory code and no episodic memory or PC perception yet, so its config must name perception:identity and
memory:none (`agents.config.validate` refuses others; README, "The Forager on raw wheels: need values").
"""

import math

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from agents.interoception import Interoception
from agents.motor import ActionTable
from brain.base import AbstractGate, checked, non_finite
from brain.motion_model import MotionModel
from brain.need_values import NeedValues, tuning_code
from homeostasis.allostasis import drift
from homeostasis.drive import drive_secant
from homeostasis.physiology import Physiology


class ValueBrain(eqx.Module):
    """Everything that learns during a life."""

    values: NeedValues
    motion: MotionModel


class ValueAgentState(eqx.Module):
    brain: ValueBrain
    gate: object
    previous_features: Float[Array, " features"]
    previous_intero: Float[Array, " variables"]
    previous_motion: Float[Array, " motion"]
    previous_action: Float[Array, " action"]  # in [-1, 1] per actuator
    walk: Float[Array, " action"]  # the exploring random walk, in [-1, 1] units before clipping
    exploring: Bool[Array, ""]
    since_relief: Int[Array, ""]  # steps since the drive last fell
    life_steps: Int[Array, ""]
    done: Bool[Array, ""]


class ValueAgent(eqx.Module):
    """The fixed part of the agent: configuration, interoception, the candidate commands and the sensor layout."""

    interoception: Interoception
    physiology: Physiology  # the body's own dynamics, for the allostatic forecast
    candidates: Float[Array, "candidates action"]  # in [-1, 1] per actuator
    gate: AbstractGate
    config: object = eqx.field(static=True)
    motor: ActionTable = eqx.field(static=True)  # the candidates in the world's units, then the random walk
    scene: tuple[int, ...] = eqx.field(static=True)  # extero indices coded by tuning curves
    motion: tuple[int, ...] = eqx.field(static=True)  # extero indices of the body's motion
    low: tuple[float, ...] = eqx.field(static=True)
    high: tuple[float, ...] = eqx.field(static=True)

    @property
    def num_channels(self) -> int:
        return self.motor.num_channels

    def code(self, extero: Float[Array, " extero"]) -> tuple[Float[Array, " code"], Float[Array, " motion"]]:
        """The scene's population code and the motion readings."""
        curves = self.config.planner.curves
        return tuning_code(extero[jnp.array(self.scene)], curves), extero[jnp.array(self.motion)]

    def worth(self, intero: Float[Array, " variables"]) -> Float[Array, " variables"]:
        """What a rise of `change_unit` of each variable is worth per unit, -(D(u + change_unit e_k) - D(u)) /
        change_unit, at the internal state forecast `forecast_steps` ahead with nothing eaten and no heat exchanged
        (module docstring)."""
        cfg = self.config.planner
        # the surroundings unknown, the forecast assumes no heat exchange (ambient = each variable's own level)
        u = self.interoception.deviation(drift(self.physiology, intero, cfg.forecast_steps, ambient=intero))
        return -drive_secant(u, cfg.change_unit, self.interoception.n, self.interoception.m)

    def context(self, motion, action):
        """What the values read of the body beside the scene: its motion, and with `efference` the last command
        (so that an actuator no sensor reads, such as ThermalForager's sweating, can be valued)."""
        return jnp.concatenate([motion, action], axis=-1) if self.config.planner.efference else motion

    def scores(self, brain: ValueBrain, code, motion, worth) -> Float[Array, " candidates"]:
        """Q(a) = worth . V(scene, m'(a)) for each candidate command a."""
        motions = jax.vmap(brain.motion.predict, in_axes=(None, 0))(motion, self.candidates)
        return brain.values.values_of_motions(code, self.context(motions, self.candidates)) @ worth

    def explore(self, state: ValueAgentState, drive: Float[Array, ""], *, key
                ) -> tuple[Bool[Array, ""], Float[Array, " action"]]:
        """The exploring mode (redrawn with probability 1 / explore_steps; entered with probability
        explore (1 - D / safe_drive), none at a drive D of `safe_drive` or more: a body in need exploits, unless
        its drive has not fallen for `giving_up_steps`: then with probability explore) and the next step of the
        random walk, w' = rho w + sqrt(1 - rho^2) 0.5 xi."""
        cfg = self.config.planner
        k_redraw, k_mode, k_walk = jax.random.split(key, 3)
        redraw = jax.random.uniform(k_redraw) < 1.0 / cfg.explore_steps
        share = cfg.explore * jnp.clip(1.0 - drive / cfg.safe_drive, 0.0, 1.0)
        stuck = (cfg.giving_up_steps > 0) & (state.since_relief >= cfg.giving_up_steps)
        share = jnp.where(stuck, cfg.explore, share)
        exploring = jnp.where(redraw, jax.random.uniform(k_mode) < share, state.exploring)
        rho = cfg.walk_correlation
        noise = jax.random.normal(k_walk, state.walk.shape)
        return exploring, rho * state.walk + math.sqrt(1 - rho**2) * 0.5 * noise

    def step(self, state: ValueAgentState, obs, key: PRNGKeyArray, learn: bool = True):
        """One control step; see the module docstring. Pure: jit it once and vmap it over a population. With
        `learn=False` (static) nothing learns: the brain acts as it is."""
        k_explore, k_gate = jax.random.split(key)
        finite = jnp.all(jnp.isfinite(obs.extero)) & jnp.all(jnp.isfinite(obs.intero))
        obs = checked(obs, ~finite, "non-finite observation (extero or intero) reached the agent")
        brain = state.brain
        code, motion = self.code(obs.extero)
        phi = brain.values.features(code, self.context(motion, state.previous_action))
        if learn:  # the transition just completed; none into a life's first step
            valid = (~state.done & (state.life_steps > 0)).astype(jnp.float32)
            change = self.interoception.deviation(obs.intero) - self.interoception.deviation(state.previous_intero)
            values = brain.values.learn(state.previous_features, change, obs.terminated.astype(jnp.float32), phi, valid)
            motion_model = brain.motion.learn(state.previous_motion, state.previous_action, motion, valid)
            brain = ValueBrain(values, motion_model)
        scores = self.scores(brain, code, motion, self.worth(obs.intero))
        salience = (scores - scores.mean()) / (scores.std() + 1e-8)
        gate_state, selection = self.gate.select(state.gate, salience, key=k_gate)
        chosen = jnp.where(selection.selected, selection.channel, jnp.argmax(scores))
        drive = self.interoception.drive(obs.intero)
        exploring, walk = self.explore(state, drive, key=k_explore)
        cued = obs.cue >= 0  # a demonstration: the cued command, or the random walk's channel
        chosen = jnp.where(cued & (obs.cue < len(self.candidates)), obs.cue, chosen)
        exploring = jnp.where(cued, obs.cue == len(self.candidates), exploring)
        action = jnp.where(exploring, jnp.clip(walk, -1.0, 1.0), self.candidates[chosen])
        new_life = state.done
        relief = drive < self.interoception.drive(state.previous_intero)
        new_state = ValueAgentState(
            brain=brain, gate=gate_state, previous_features=phi, previous_intero=obs.intero, previous_motion=motion,
            previous_action=action, walk=walk, exploring=exploring,
            since_relief=jnp.where(new_life | relief, 0, state.since_relief + 1),
            life_steps=jnp.where(new_life, 0, state.life_steps) + 1,
            done=obs.terminated | obs.truncated | obs.success,
        )
        low, high = jnp.array(self.low), jnp.array(self.high)
        info = {
            "drive": drive,
            "free_energy": jnp.zeros(()),  # this brain has no generative perception
            "familiarity": jnp.zeros(()),  # nor an episodic memory
            "channel": jnp.where(exploring, len(self.candidates), chosen),
            "value": scores[chosen],
            "diverged": {"values": non_finite(scores)},
            "ops": self.cost(brain, selection.ops, learn),
        }
        return new_state, low + (action + 1.0) * 0.5 * (high - low), info

    def cost(self, brain: ValueBrain, gate_ops, learn: bool) -> dict[str, Array]:
        """Synaptic operations (`brain.base`): the planner predicts each candidate's motion and reads the values
        over the scene's code once (`NeedValues.motions_ops`); learning reads and writes the values and the model."""
        n = len(self.candidates)
        ops = {"planner": n * brain.motion.ops() + brain.values.motions_ops(n), "gate": gate_ops,
               "values": brain.values.learn_ops() if learn else 0.0,
               "world_model": 2 * brain.motion.ops() if learn else 0.0}
        return {name: jnp.asarray(count, jnp.float32) for name, count in ops.items()}

    def select(self, state: ValueAgentState) -> ValueAgentState:
        """Structural selection (the slowest timescale): nothing to prune or grow in this brain."""
        return state

    def enter(self, state, extero, context):
        """A new context (a curriculum's lesson): the values carry over unchanged."""
        return state


def command_grid(space: gym.spaces.Space, levels: int) -> tuple[np.ndarray, ActionTable]:
    """Every combination of `levels` evenly spaced commands per actuator of a bounded Box: in [-1, 1] units, and
    as the motor's table in the world's units with a last channel for the exploring random walk."""
    bounded = isinstance(space, gym.spaces.Box) and np.all(np.isfinite([space.low, space.high]))
    if not (bounded and len(space.shape) == 1):
        raise ValueError(f"the need-value agent acts on a bounded 1-D Box of actuators, got {space}")
    count = levels ** space.shape[0]
    if count > 4096:
        raise ValueError(f"{levels} levels per actuator over {space.shape[0]} actuators make {count} candidates, "
                         "more than 4096: lower NeedValueConfig.levels")
    axis = np.linspace(-1.0, 1.0, levels)
    grid = np.stack(np.meshgrid(*[axis] * space.shape[0], indexing="ij"), -1).reshape(-1, space.shape[0])
    world = space.low + (grid + 1) * 0.5 * (space.high - space.low)
    names = tuple(str(tuple(round(float(x), 2) for x in row)) for row in world) + ("random walk",)
    table = tuple(tuple(float(x) for x in row) for row in world) + (tuple(0.0 for _ in range(space.shape[0])),)
    return grid.astype(np.float32), ActionTable(table, names, discrete=False)


def sensor_layout(env: gym.Env) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(scene, motion): the extero indices of every sensor but the body's motion ("velocity"), and of the motion."""
    try:
        slices = env.get_wrapper_attr("sensor_slices")()
    except AttributeError:
        slices = None
    if not slices or "velocity" not in slices:
        raise ValueError("the need-value agent needs a mortal world's body: extero sensors named by `sensor_slices`, "
                         f"one of them 'velocity' (the body's motion); {env.spec.id if env.spec else env} has none")
    motion = tuple(range(slices["velocity"].start, slices["velocity"].stop))
    size = env.observation_space["extero"].shape[0]
    return tuple(i for i in range(size) if i not in motion), motion


def build_value_agent(config, env: gym.Env, *, key: PRNGKeyArray) -> tuple[ValueAgent, ValueAgentState]:
    """A need-value agent for `env` and its newborn state (`config.planner` a `NeedValueConfig`)."""
    cfg = config.planner
    if config.motor != "raw":
        raise ValueError("the need-value planner acts on raw actuators: give motor='raw' (--agent.motor raw)")
    physiology = env.get_wrapper_attr("physiology")
    scene, motion = sensor_layout(env)
    candidates, motor = command_grid(env.action_space, cfg.levels)
    context = len(motion) + (env.action_space.shape[0] if cfg.efference else 0)
    values = NeedValues(len(physiology.names), len(scene) * cfg.curves, context, discount=cfg.discount,
                        trace_decay=cfg.trace_decay, learning_rate=cfg.learning_rate)
    model = MotionModel(len(motion), env.action_space.shape[0], learning_rate=cfg.motion_rate)
    gate = config.gate.build(len(candidates), key=key)
    agent = ValueAgent(Interoception(physiology, config.levels), jax.tree.map(jnp.asarray, physiology),
                       jnp.asarray(candidates), gate, config, motor, scene, motion,
                       tuple(float(x) for x in env.action_space.low), tuple(float(x) for x in env.action_space.high))
    state = ValueAgentState(
        brain=ValueBrain(values, model), gate=gate.init_state(), previous_features=jnp.zeros(values.weight.shape[1]),
        previous_intero=jnp.zeros(len(physiology.names)), previous_motion=jnp.zeros(len(motion)),
        previous_action=jnp.zeros(len(candidates[0])), walk=jnp.zeros(len(candidates[0])),
        exploring=jnp.array(False), since_relief=jnp.array(0), life_steps=jnp.array(0), done=jnp.array(False),
    )
    return agent, state
