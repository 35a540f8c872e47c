"""The need-value agent: raw motor commands chosen by what each need expects of them, learned from experience.

    agent, state = build_value_agent(config, env, key=key)          # config.planner: NeedValueConfig
    state, action, info = agent.step(state, observation, key)       # jit once, vmap over a population

Each step, in order:

    sense      the scene (every exteroceptive reading but the body's motion) through a population code of
               tuning curves (`brain.need_values.tuning_code`); the motion readings as they are
    learn      from the transition just completed: the need values (`brain.need_values`, one general value
               function per internal variable, TD(lambda)) on the change of the internal variables; the motion
               model (`brain.motion_model`) on the motion the last command led to;
               with `events`, the values predict, beside each variable's changes between outcomes, each scene
               sensor's consumption events (what vanished from it at an outcome, an item eaten), and an outcome
               model learns what an event gives each variable (below)
    track      with a context gate (`brain.context_gate`), the outcome model is kept in several contexts, of which
               the one that predicts best is used and learns: how far each context's prediction was from each
               outcome tells the gate when the world has changed (a new context) or gone back to a regime it has
               lived (that regime's context, as it was left)
    weigh      what a change of each variable is worth now: the drive reduction of a rise of `change_unit` (an
               item's worth), per unit, at the internal state forecast `forecast_steps` ahead with nothing eaten
               (allostasis: a body that forecasts wants food before it is hungry; a sated one turns away from it)
    plan       each candidate command (a grid of `levels` per actuator): the motion model predicts the motion it
               leads to, and the need values score the scene with that motion, Q(a) = worth . V(scene, m'(a));
               with `events`, V = V_drift + M V_events (successor features, Barreto et al. 2017: where items are
               to be had, V_events, is learnt slowly and kept; what an item gives, M, is relearnt in a few
               outcomes, or recalled with its context)
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

A body whose world changes what its items give, unannounced (mortal/Seasons-v0), relearns its outcome model at
each change with one context; with a context gate it relearns only the first time, and returns to what it learnt
when a regime comes back. Where the wrong item costs (mortal/HungrySeasons-v0) that is what keeps the body alive
(README, "Each module on the world that needs it").

With `homing` (mortal/Oasis-v0: resources at a few places, far apart, beyond sensing range), episodic memory
makes the body go back to where its needs were met:

    remember   at each rise of a variable (an item eaten), memory stores the episode in one trial: the rise, bound
               to the place (each landmark's nearest reading: on Oasis the four posts' proximities, whatever the
               heading), and a place model (the delta rule) learns how each command's motion changes the place
    recall     at birth, at each rise, and each time the body gives up, memory cued with a rise of each variable
               replays one place where it came (an episode whole, never a blend of two places, and one in which
               that variable did rise)
    go home    each command's score gains how much nearer its predicted step takes the place to the one recalled
               for the most pressing need, weighed by that need's worth (the remembered place is a preferred
               observation); nothing pulls where no place is known for that need, and memory:none recalls
               nothing: the body searches afresh

No reflex steers: what the body approaches and avoids comes from the values it learnt and, with `homing`, from the
places it remembers. This brain has its own sensory code and no PC perception, so its config must name
perception:identity, and memory:none unless it goes home (`agents.config.validate` refuses others; README, "The
Forager on raw wheels: need values").
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
from brain.base import AbstractGate, AbstractMemory, checked, non_finite
from brain.context_gate import ContextGate, ContextState
from brain.motion_model import MotionModel
from brain.need_values import NeedValues, tuning_code
from homeostasis.allostasis import drift
from homeostasis.drive import drive_secant
from homeostasis.physiology import Physiology


class ValueBrain(eqx.Module):
    """Everything that learns during a life."""

    values: NeedValues  # per internal variable, and with `events` per scene sensor's consumption events
    motion: MotionModel
    outcomes: NeedValues | None  # with `events`: per context (stacked on a leading axis), what an event gives each
    # variable, M (gamma 0, no bias: the delta rule)
    memory: AbstractMemory | None  # with `homing`: an episode at each rise of a variable, the rise and the place
    places: NeedValues | None  # with `homing`: the next step's change of the place, from the scene and the motion
    # (gamma 0: the delta rule)


def in_context(outcomes: NeedValues, context: Int[Array, ""]) -> NeedValues:
    """The outcome model of one context of the stack."""
    return jax.tree.map(lambda leaf: leaf[context], outcomes)


def learn_in_context(outcomes: NeedValues, context: Int[Array, ""], x, change, valid, rate: float | Array
                     ) -> NeedValues:
    """One delta-rule step of context `context`'s outcome model alone, on the events x that came with `change`."""
    learnt = in_context(outcomes, context).learn(x, change, jnp.float32(0), x, valid, rate)
    return eqx.tree_at(lambda o: o.weight, outcomes, outcomes.weight.at[context].set(learnt.weight))


class ValueAgentState(eqx.Module):
    brain: ValueBrain
    gate: object
    context: ContextState | None  # the context gate's, None without one
    goals: Float[Array, "variables landmarks"]  # with `homing`: per variable, a place where it rose, recalled
    goal_known: Float[Array, " variables"]  # 1 where memory recalled a place for the variable, 0 where none
    previous_features: Float[Array, " features"]
    previous_scene: Float[Array, " scene"]  # the scene's readings
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
    sensor_of: tuple[int, ...] = eqx.field(static=True)  # per scene reading, which of the scene's sensors it is
    motion: tuple[int, ...] = eqx.field(static=True)  # extero indices of the body's motion
    landmarks: tuple[int, ...] = eqx.field(static=True)  # the scene's sensors of what is not eaten (a place's cues)
    low: tuple[float, ...] = eqx.field(static=True)
    high: tuple[float, ...] = eqx.field(static=True)

    @property
    def num_channels(self) -> int:
        return self.motor.num_channels

    def code(self, extero: Float[Array, " extero"]) -> tuple[Float[Array, " code"], Float[Array, " motion"]]:
        """The scene's population code and the motion readings."""
        return tuning_code(extero[jnp.array(self.scene)], self.config.planner.curves), extero[jnp.array(self.motion)]

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

    def scores(self, brain: ValueBrain, code, motion, worth, context: Int[Array, ""] = 0, place=None, goals=None,
               goal_known=None) -> Float[Array, " candidates"]:
        """Q(a) = worth . V(scene, m'(a)) for each candidate command a; with `events`, V = V_drift + M V_events,
        M the outcome model of `context`; with `homing`, plus how much nearer a takes the body to a recalled
        place (`homing`)."""
        motions = jax.vmap(brain.motion.predict, in_axes=(None, 0))(motion, self.candidates)
        contexts = self.context(motions, self.candidates)
        values = brain.values.values_of_motions(code, contexts)
        if brain.outcomes is not None:
            variables = worth.shape[0]
            gives = in_context(brain.outcomes, context).weight  # M
            values = values[:, :variables] + values[:, variables:] @ gives.T
        if brain.places is None:
            return values @ worth
        steps = brain.places.values_of_motions(code, contexts)  # each candidate's predicted change of the place
        return values @ worth + self.homing(place, steps, goals, goal_known, worth)

    def homing(self, place, steps, goals, goal_known, worth) -> Float[Array, " candidates"]:
        """How much nearer each candidate's step takes the body to the place recalled for its most pressing need
        (the variable of largest worth), weighed by that worth: h worth_k (|g_k - p| - |g_k - (p + dp(a))|),
        h = `homing`; nothing where no place is known for that need (the body searches). The place where a need
        was met is a preferred observation; one goal at a time, since a pull towards two places would hold the
        body between them."""
        k = jnp.argmax(worth)
        nearer = jnp.linalg.norm(goals[k] - place) - jnp.linalg.norm(goals[k] - (place + steps), axis=-1)
        return self.config.planner.homing * goal_known[k] * worth[k] * nearer

    @property
    def num_sensors(self) -> int:
        return max(self.sensor_of) + 1

    def place(self, scene: Float[Array, " scene"]) -> Float[Array, " landmarks"]:
        """Where the body is, whatever its heading: each landmark's nearest reading (its largest proximity). On
        mortal/Oasis-v0 the four posts' proximities fix the place."""
        nearest = jax.ops.segment_max(scene, jnp.array(self.sensor_of), num_segments=self.num_sensors)
        return nearest[jnp.array(self.landmarks)]

    def an_item(self, change: Float[Array, "..."]) -> Bool[Array, "..."]:
        """Whether each change is an item's worth: half of `change_unit` or more (an outcome, a rise)."""
        return change >= 0.5 * self.config.planner.change_unit

    def outcome_code(self, change: Float[Array, " variables"]) -> Float[Array, " code"]:
        """What memory is cued with: each variable's rise, in items (`change_unit`, clipped to [0, 1]), through
        the tuning curves."""
        return tuning_code(jnp.clip(change / self.config.planner.change_unit, 0.0, 1.0), self.config.planner.curves)

    def recall_goals(self, memory: AbstractMemory, *, key, draws: int = 4
                     ) -> tuple[Float[Array, "variables landmarks"], Float[Array, " variables"], Float[Array, ""]]:
        """Per variable, a place where it rose by an item: memory cued with that rise replays one of the episodes
        stored under it (drawn at random, whole: one place, never a blend of two). A replayed episode counts only if
        that variable did rise in it (the code's cells may also hold other episodes): the first of `draws` that
        did, known 0 where none did. Also returns the synaptic operations."""
        variables = self.interoception.set_point.shape[0]
        landmarks = len(self.landmarks)

        def recall(k, key):
            rise = jax.nn.one_hot(k, variables) * self.config.planner.change_unit
            recollection = memory.recall(self.outcome_code(rise))
            episodes = jax.vmap(lambda key: memory.replay(recollection.code, key=key))(jax.random.split(key, draws))
            rose = self.an_item(episodes.payload[:, landmarks + k])
            valid = rose * episodes.known.min(axis=1)
            first = jnp.argmax(valid)
            return episodes.payload[first, :landmarks], valid[first], recollection.ops + episodes.ops.sum()

        goals, known, ops = jax.vmap(recall)(jnp.arange(variables), jax.random.split(key, variables))
        return goals, known, ops.sum()

    def vanished(self, before: Float[Array, " scene"], now: Float[Array, " scene"]) -> Float[Array, " sensors"]:
        """What fell from each sensor's readings in a step, sum_b max(before_b - now_b, 0) over its readings b:
        where an item was just eaten, its kind's sensor loses the item's proximity."""
        fallen = jnp.maximum(before - now, 0.0)
        return jax.ops.segment_sum(fallen, jnp.array(self.sensor_of), num_segments=self.num_sensors)

    def learn(self, brain: ValueBrain, context: ContextState | None, phi, change, ended, phi_next, valid, motion,
              scene, previous: ValueAgentState) -> tuple[ValueBrain, ContextState | None]:
        """The transition phi -> phi_next (scene readings `previous.previous_scene` -> `scene`), which changed the
        variables by `change`: the values by TD(lambda) and the motion model by the delta rule; with `events`, the
        values on [the changes between outcomes, the events at one] (an outcome: a variable changed by half an
        item's worth, `change_unit`, or more), and at an outcome the outcome model of the current context by the
        delta rule. With a context gate, each context's outcome model's error at an outcome is the gate's evidence,
        and its candidate learns from every outcome at rate 1."""
        cfg = self.config.planner
        motion_model = brain.motion.learn(previous.previous_motion, previous.previous_action, motion, valid)
        if brain.outcomes is None:
            values = brain.values.learn(phi, change, ended, phi_next, valid)
            return eqx.tree_at(lambda b: (b.values, b.motion), brain, (values, motion_model)), context
        is_outcome = valid * jnp.any(self.an_item(jnp.abs(change)))
        events = self.vanished(previous.previous_scene, scene)
        targets = jnp.concatenate([change * (1.0 - is_outcome), events * is_outcome])
        values = brain.values.learn(phi, targets, ended, phi_next, valid)
        x = in_context(brain.outcomes, 0).features(events, jnp.zeros(0))
        if context is None:
            outcomes = learn_in_context(brain.outcomes, 0, x, change, is_outcome, cfg.outcome_rate)
            learnt = eqx.tree_at(lambda b: (b.values, b.motion, b.outcomes), brain, (values, motion_model, outcomes))
            return learnt, None
        errors = jax.vmap(lambda o: jnp.sum(o.td_error(x, change, jnp.float32(0), x) ** 2))(brain.outcomes)
        outcomes = learn_in_context(brain.outcomes, context.current, x, change, is_outcome,
                                    self.gate.learning_rate(context, cfg.outcome_rate))
        candidate, has_candidate = self.gate.candidate(context)
        outcomes = learn_in_context(outcomes, candidate, x, change, is_outcome * has_candidate, 1.0)
        context, _ = self.gate.track(context, errors, is_outcome)
        learnt = eqx.tree_at(lambda b: (b.values, b.motion, b.outcomes), brain, (values, motion_model, outcomes))
        return learnt, context

    def learn_places(self, brain: ValueBrain, phi, change, phi_next, valid, place, previous_scene, *, key
                     ) -> tuple[ValueBrain, Float[Array, ""], Float[Array, ""]]:
        """With `homing`: the place model on the step's change of the place (the delta rule), and at a rise of a
        variable by half an item or more, memory stores the episode: the rise, bound to the place where it came and
        the change of every variable there.
        `place` is where the body is now (`place` of this step's scene). Returns the brain, whether a variable
        rose, and memory's synaptic operations."""
        places = brain.places.learn(phi, place - self.place(previous_scene), jnp.float32(0), phi_next, valid)
        rose = valid * jnp.any(self.an_item(change))
        cue = self.outcome_code(change)
        episode = jnp.concatenate([place, change])
        memory = jax.lax.cond(rose > 0, lambda m, x, e: m.store(x, e, key=key), lambda m, x, e: m, brain.memory, cue,
                              episode)  # stored at a rise only
        return eqx.tree_at(lambda b: (b.places, b.memory), brain, (places, memory)), rose, \
            rose * brain.memory.store_ops(cue, episode)

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
        rose, memory_ops = jnp.zeros(()), jnp.zeros(())
        finite = jnp.all(jnp.isfinite(obs.extero)) & jnp.all(jnp.isfinite(obs.intero))
        obs = checked(obs, ~finite, "non-finite observation (extero or intero) reached the agent")
        brain, context = state.brain, state.context
        code, motion = self.code(obs.extero)
        scene = obs.extero[jnp.array(self.scene)]
        phi = brain.values.features(code, self.context(motion, state.previous_action))
        place = self.place(scene) if brain.places is not None else None  # with `homing`: where the body is
        if learn:  # the transition just completed; none into a life's first step
            valid = (~state.done & (state.life_steps > 0)).astype(jnp.float32)
            change = self.interoception.deviation(obs.intero) - self.interoception.deviation(state.previous_intero)
            brain, context = self.learn(brain, context, state.previous_features, change,
                                        obs.terminated.astype(jnp.float32), phi, valid, motion, scene, state)
            if brain.places is not None:
                brain, rose, memory_ops = self.learn_places(brain, state.previous_features, change, phi, valid, place,
                                                            state.previous_scene, key=jax.random.fold_in(key, 1))
        goals, goal_known = state.goals, state.goal_known
        if brain.places is not None:  # a new goal at birth, at each rise, and each time the body gives up
            recalled, known, recall_ops = self.recall_goals(brain.memory, key=jax.random.fold_in(key, 2))
            gave_up = (state.since_relief > 0) & (state.since_relief % self.config.planner.giving_up_steps == 0)
            redraw = state.done | (state.life_steps == 0) | (rose > 0) | gave_up
            goals = jnp.where(redraw, recalled, goals)
            goal_known = jnp.where(redraw, known, goal_known)
            memory_ops = memory_ops + redraw * recall_ops
        scores = self.scores(brain, code, motion, self.worth(obs.intero), context.current if context is not None else 0,
                             place, goals, goal_known)
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
            brain=brain, gate=gate_state, context=context, goals=goals, goal_known=goal_known,
            previous_features=phi, previous_scene=scene,
            previous_intero=obs.intero, previous_motion=motion,
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
            "ops": self.cost(brain, selection.ops, learn, memory_ops),
        }
        return new_state, low + (action + 1.0) * 0.5 * (high - low), info

    def cost(self, brain: ValueBrain, gate_ops, learn: bool, memory_ops) -> dict[str, Array]:
        """Synaptic operations (`brain.base`): the planner predicts each candidate's motion and reads the values
        over the scene's code once (`NeedValues.motions_ops`), with `events` then M for each candidate; learning
        reads and writes the values and the motion model, and at an outcome the outcome model; a context gate
        reads every context's outcome model and its candidate learns too; with `homing`, the place model predicts
        each candidate's step and learns, and memory recalls goals and stores rises (`memory_ops`)."""
        n, values, outcomes = len(self.candidates), brain.values, brain.outcomes
        model = 0 if outcomes is None else outcomes.weight[0].size
        contexts = 0 if outcomes is None else outcomes.weight.shape[0]
        places = 0.0 if brain.places is None else brain.places.motions_ops(n)
        place_learning = 0.0 if brain.places is None or not learn else brain.places.learn_ops()
        ops = {"planner": n * brain.motion.ops() + values.motions_ops(n) + n * model + places,
               "gate": gate_ops + (contexts * model + 3 * model if learn and contexts > 1 else 0.0),
               "values": values.learn_ops() + 3 * model if learn else 0.0,
               "world_model": (2 * brain.motion.ops() if learn else 0.0) + place_learning,
               "memory": memory_ops}
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


def body_sensors(env: gym.Env) -> tuple[dict[str, slice], slice]:
    """The scene's sensors (every sensor but the body's motion, "velocity"), by name in extero order, and the
    motion's slice of extero."""
    try:
        slices = env.get_wrapper_attr("sensor_slices")()
    except AttributeError:
        slices = None
    if not slices or "velocity" not in slices:
        raise ValueError("the need-value agent needs a mortal world's body: extero sensors named by `sensor_slices`, "
                         f"one of them 'velocity' (the body's motion); {env.spec.id if env.spec else env} has none")
    return {name: where for name, where in slices.items() if name != "velocity"}, slices["velocity"]


def sensor_layout(env: gym.Env) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(scene, motion, sensor_of): the extero indices of every sensor but the body's motion ("velocity"), of the
    motion, and per scene index the scene sensor it belongs to (0, 1, ... in extero order)."""
    sensors, velocity = body_sensors(env)
    scene = tuple(i for where in sensors.values() for i in range(where.start, where.stop))
    sensor_of = tuple(k for k, where in enumerate(sensors.values()) for _ in range(where.start, where.stop))
    return scene, tuple(range(velocity.start, velocity.stop)), sensor_of


def landmark_sensors(env: gym.Env) -> tuple[int, ...]:
    """The scene's sensors (numbered as `sensor_layout`'s sensor_of) that sense no resource: landmarks, such as
    mortal/Oasis-v0's posts, whose readings say where the body is and never vanish as an item is eaten."""
    resources = set(env.get_wrapper_attr("resources"))
    return tuple(k for k, name in enumerate(body_sensors(env)[0]) if name not in resources)


def build_value_agent(config, env: gym.Env, *, key: PRNGKeyArray) -> tuple[ValueAgent, ValueAgentState]:
    """A need-value agent for `env` and its newborn state (`config.planner` a `NeedValueConfig`)."""
    cfg = config.planner
    if config.motor != "raw":
        raise ValueError("the need-value planner acts on raw actuators: give motor='raw' (--agent.motor raw)")
    physiology = env.get_wrapper_attr("physiology")
    scene, motion, sensor_of = sensor_layout(env)
    candidates, motor = command_grid(env.action_space, cfg.levels)
    context = len(motion) + (env.action_space.shape[0] if cfg.efference else 0)
    sensors = max(sensor_of) + 1
    variables = len(physiology.names)
    values = NeedValues(variables + (sensors if cfg.events else 0), len(scene) * cfg.curves, context,
                        discount=cfg.discount, trace_decay=cfg.trace_decay, learning_rate=cfg.learning_rate)
    model = MotionModel(len(motion), env.action_space.shape[0], learning_rate=cfg.motion_rate)
    gate = config.gate.build(len(candidates), key=key)
    contexts = gate.contexts if isinstance(gate, ContextGate) else 1
    outcome_model = NeedValues(variables, sensors, 0, discount=0.0, trace_decay=0.0, learning_rate=cfg.outcome_rate,
                               bias=False)  # an item's worth is its event's alone
    outcomes = jax.tree.map(lambda leaf: jnp.stack([leaf] * contexts), outcome_model) if cfg.events else None
    homing = cfg.homing > 0
    landmarks = landmark_sensors(env) if homing else ()
    if homing and not landmarks:
        raise ValueError(f"homing goes back to places told apart by landmarks, and {env.spec.id if env.spec else env} "
                         "senses none (only what is eaten): give NeedValueConfig.homing=0, or a world with landmarks "
                         "(mortal/Oasis-v0's posts)")
    memory = config.memory.build(variables * cfg.curves, len(landmarks) + variables, key=jax.random.fold_in(key, 1)) \
        if homing else None
    places = NeedValues(len(landmarks), len(scene) * cfg.curves, context, discount=0.0, trace_decay=0.0,
                        learning_rate=cfg.motion_rate) if homing else None
    agent = ValueAgent(Interoception(physiology, config.levels), jax.tree.map(jnp.asarray, physiology),
                       jnp.asarray(candidates), gate, config, motor, scene, sensor_of, motion, landmarks,
                       tuple(float(x) for x in env.action_space.low), tuple(float(x) for x in env.action_space.high))
    state = ValueAgentState(
        brain=ValueBrain(values, model, outcomes, memory, places), gate=gate.init_state(),
        context=gate.init_context() if isinstance(gate, ContextGate) else None,
        goals=jnp.zeros((variables, len(landmarks))), goal_known=jnp.zeros(variables),
        previous_features=jnp.zeros(values.weight.shape[1]), previous_scene=jnp.zeros(len(scene)),
        previous_intero=jnp.zeros(len(physiology.names)), previous_motion=jnp.zeros(len(motion)),
        previous_action=jnp.zeros(len(candidates[0])), walk=jnp.zeros(len(candidates[0])),
        exploring=jnp.array(False), since_relief=jnp.array(0), life_steps=jnp.array(0), done=jnp.array(False),
    )
    return agent, state
