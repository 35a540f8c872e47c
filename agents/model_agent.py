"""The model-based agent: active inference through a learned world model, one pure control step in phases.

    agent, state = build_model_agent(config, env, key=key)
    state, action, info = agent.step(state, observation, key)       # jit once, vmap over a population

Each step, in order (each phase a small pure function below):

    perceive   normalise the exteroceptive reading (running statistics), settle perception's latent;
               the model state s = [latent, deviations of the internal variables from their set-points]
    learn      from the transition just completed (s_prev, a_prev -> s): the world model takes one local PC
               step on the recent trace and on the transitions memory replays for this place and for `dreams`
               random cues (spontaneous replay), as `ModelBasedConfig.replay` names: recall's means by
               default, or stored transitions whole (`AbstractMemory.replay`); memory stores s_prev with the
               episodic value of the action taken, u + gamma V(s), and the transition; with learned goals,
               s_prev's latent joins the goal of each internal variable the transition moved beyond a threshold;
               with a policy prior (`brain.actor`), it takes a node-perturbation step rewarded by the progress
               towards the needed goals that the transition made
    recall     memory's familiarity of s and the episodic value Q(s, c) of each action channel
    plan       candidate action sequences rolled through the world model, scored by expected free energy (with a
               policy prior, the first step is sampled around the warm-started mean plus the prior's offset)
    select     the basal ganglia picks among the best plans: salience = utility + episodic value of its
               first action, with hysteresis for the plan being followed
    act        motor: the plan's first action (raw), or the chosen channel's reflex

A frozen step (`learn=False`, a test) skips `learn` and keeps the running statistics: the brain acts as it is.

The utility of one predicted step (the negative expected free energy, per step) is

    u = reward_weight r  -  drive_weight D(h)  -  death_cost p(death)  +  disagreement_weight sigma^2_ensemble

(reward in units of its running mean magnitude; D the homeostatic drive of the predicted internal variables;
with homeostasis off, drive_weight is 0). With learned goals (`goal_weight` > 0, `brain.goals`), u also gains
goal_weight relu(sum_g need_g (R_g(z) - R_g(z'))), the step's progress towards the goals: R_g the distance of a
latent from the nearest state that came before a relief of need g, need_g that need's deviation forecast
`forecast_steps` ahead (allostasis, `need`). The value beyond the horizon is value_weight V(s_H) plus
novelty_weight (1 - G(s_H)), G the SDR familiarity, and V either a critic's (`value="critic"`, the default:
`brain.critic.PCCritic`, learned by local PC steps on the TD targets of the same transitions the world model
learns from) or recalled from memory (`value="memory"`: max_c Q(s_H, c)). Nothing here names a task.

The step's info holds the synaptic operations (`brain.base`) each module computed, `info["ops"]`: perception's
inference; memory's recalls (this place, the replay cues, the value of the place reached) and its store; the
planner's rollouts, candidates x (horizon x the world model's prediction + the value at the end, recalled or the
critic's), `SamplingPlanner.plan_ops`, and the policy prior's offset where there is one; the gate's selection; the
world model's learning step (and the prediction of `model_error`); the critic's and the policy prior's learning
steps, where there are.
"""

import functools
import operator
from typing import NamedTuple

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from agents.agent import _where
from agents.interoception import Interoception
from agents.motor import action_channels, primitives_for
from brain.actor import Actor
from brain.base import AbstractGate, AbstractMemory, AbstractPerception, checked, finite_or_zero, non_finite
from brain.critic import PCCritic
from brain.goals import Goals
from brain.normaliser import RunningNormaliser
from brain.sampling_planner import PlanState, Plans, SamplingPlanner, first_action_index
from brain.world_model import PCWorldModel, Transition
from homeostasis.allostasis import drift
from homeostasis.physiology import Physiology


def flat(transitions: Transition) -> Transition:
    """Transitions with leading axes (cues, channels) as one axis of rows."""
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), transitions)


def joined(first: Transition, second: Transition) -> Transition:
    """Two batches of transitions as one, `first`'s rows first."""
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, second)


class ModelBrain(eqx.Module):
    """Everything that learns during a life."""

    extero_statistics: RunningNormaliser
    delta_statistics: RunningNormaliser
    reward_statistics: RunningNormaliser  # of |reward|: rewards reach the model in units of their mean magnitude
    perception: AbstractPerception
    world_model: PCWorldModel
    memory: AbstractMemory
    gate: AbstractGate
    critic: PCCritic | None  # None: the value beyond the horizon is recalled from memory
    goals: Goals | None  # None: no learned goals (goal_weight and actor_rate 0)
    actor: Actor | None  # None: no policy prior (actor_rate 0)


class Recent(NamedTuple):
    """The last transitions of this life (a short trace the world model keeps learning from)."""

    transitions: Transition  # leading axis: slots
    valid: Float[Array, " slots"]
    next_slot: Int[Array, ""]


class ModelAgentState(eqx.Module):
    brain: ModelBrain
    perception: object
    plan: PlanState
    gate: object
    previous_state: Float[Array, " state"]
    previous_action: Float[Array, " action"]
    previous_channel: Int[Array, ""]
    previous_warm_start: Float[Array, " action"] | None  # first-step mean before the actor's offset; None: no actor
    recent: Recent
    life_steps: Int[Array, ""]
    steps: Int[Array, ""]
    done: Bool[Array, ""]


class Percept(NamedTuple):
    state: Float[Array, " state"]
    free_energy: Float[Array, ""]
    perception: object
    ops: Float[Array, ""]  # perception's synaptic operations


class Recall(NamedTuple):
    familiarity: Float[Array, ""]
    values: Float[Array, " channels"]  # Q(s, c): the mean episodic value of each channel taken from here
    value: Float[Array, ""]  # max over the channels memory knows of (0 when it knows none)
    ops: Float[Array, ""]  # memory's synaptic operations for the recall


class ModelAgent(eqx.Module):
    """The fixed part of an agent: configuration, interoception, planner hyperparameters, motor."""

    interoception: Interoception
    physiology: Physiology  # the body's own dynamics, for the allostatic forecast of needs
    prototypes: Float[Array, "channels action"]  # each channel's action in the planner's units
    planner: SamplingPlanner
    config: object = eqx.field(static=True)
    motor: object = eqx.field(static=True)  # names the channels (and commands them under reflexes)
    action_space: gym.spaces.Space = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)

    @property
    def num_channels(self) -> int:
        return self.prototypes.shape[0]

    @property
    def state_size(self) -> int:
        return self.latent_size + self.interoception.set_point.shape[0]

    # --- the payload memory binds to a place: per channel its value and its transition ---

    def _block(self) -> int:
        return 2 * self.state_size + self.planner.action_size + 3

    def _payload(self, channel, value, t: Transition):
        block = jnp.concatenate([t.state, t.action, t.delta, jnp.stack([t.reward, t.death, t.success])])
        onehot = jax.nn.one_hot(channel, self.num_channels)
        payload = jnp.concatenate([onehot * value, (onehot[:, None] * block[None]).reshape(-1)])
        mask = jnp.concatenate([onehot, jnp.repeat(onehot, self._block())])
        return payload, mask

    def _transitions(self, payload, known) -> tuple[Transition, Float[Array, " channels"]]:
        """Each channel's transition in a payload (leading axis: channels), and whether the payload holds it (its
        first entry's `known`: a block is stored whole)."""
        c, n, a = self.num_channels, self.state_size, self.planner.action_size
        blocks = payload[c:].reshape(c, self._block())
        transition = Transition(blocks[:, :n], blocks[:, n:n + a], blocks[:, n + a:2 * n + a], blocks[:, -3],
                                blocks[:, -2], blocks[:, -1])
        return transition, known[c:].reshape(c, self._block())[:, 0]

    # --- phases ---

    def perceive(self, brain: ModelBrain, perception_state, obs, *, key, learn: bool = True
                 ) -> tuple[ModelBrain, Percept]:
        statistics = brain.extero_statistics.update(obs.extero) if learn else brain.extero_statistics
        x = statistics.normalise(obs.extero)
        perception_state, percept = brain.perception.perceive(perception_state, x, key=key)
        deviation = jnp.clip(self.interoception.deviation(obs.intero), -2.0, 2.0)
        brain = eqx.tree_at(lambda b: b.extero_statistics, brain, statistics)
        state = jnp.concatenate([percept.latent, deviation])
        return brain, Percept(state, percept.free_energy, perception_state, percept.ops)

    def recall(self, memory: AbstractMemory, s: Float[Array, " state"]) -> Recall:
        recollection = memory.recall(s)
        values, has = recollection.payload[: self.num_channels], recollection.known[: self.num_channels] > 0
        value = jnp.where(has.any(), jnp.max(jnp.where(has, values, -jnp.inf)), 0.0)
        return Recall(recollection.familiarity, jnp.where(has, values, value), value, recollection.ops)

    def replay(self, memory: AbstractMemory, cues: Float[Array, "cues state"], *, key
               ) -> tuple[Transition, Float[Array, " replayed"], Array]:
        """The transitions memory replays for `cues` (one per cue and channel, flattened), whether it holds each, and
        memory's synaptic operations: recall's means (`replay="mean"`), one stored transition each, whole
        (`"episode"`), that transition with recall's mean outcome, the death and success probabilities at the cue
        (`"episode_mean_outcome"`: a draw's 0/1 outcome replaced by its expectation over the place's stores), or
        both the means and the episodes (`"both"`: twice the transitions)."""
        mode = self.config.planner.replay
        recollections = jax.vmap(memory.recall)(cues)
        means, means_known = jax.vmap(self._transitions)(recollections.payload, recollections.known)
        if mode == "mean":
            return flat(means), means_known.reshape(-1), recollections.ops.sum()
        episodes = jax.vmap(lambda code, k: memory.replay(code, key=k))(recollections.code,
                                                                          jax.random.split(key, len(cues)))
        transitions, known = jax.vmap(self._transitions)(episodes.payload, episodes.known)
        ops = recollections.ops.sum() + episodes.ops.sum()
        if mode == "episode_mean_outcome":
            transitions = transitions._replace(death=means.death, success=means.success)
        if mode == "both":
            transitions = joined(means, transitions)
            known = jnp.concatenate([means_known, known])
        return flat(transitions), known.reshape(-1), ops

    @property
    def drive_weight(self) -> float:
        """The weight of the homeostatic drive in utility: the config's, or 0 with homeostasis off."""
        return self.config.planner.drive_weight if self.config.homeostasis == "on" else 0.0

    def step_terms(self, s_next, reward, death) -> tuple[Array, Array, Array]:
        """The terms of what a step that led to `s_next` with `reward` and `death` (probability or 0/1) is worth,
        before epistemic value: reward, -drive_weight D(internal variables of s_next), -death_cost death."""
        deviation = s_next[..., self.latent_size:] * self.interoception.scale
        drive = self.interoception.drive(self.interoception.set_point + deviation)
        return reward, -self.drive_weight * drive, -self.config.planner.death_cost * death

    def step_utility(self, s_next, reward, death):
        """The sum of `step_terms`."""
        return functools.reduce(operator.add, self.step_terms(s_next, reward, death))

    def need(self, intero: Float[Array, " variables"]) -> Float[Array, " goals"]:
        """How much each learned goal matters now: each internal variable's deviation forecast `forecast_steps`
        ahead with nothing eaten (allostasis, `homeostasis.allostasis.drift`), as the need to raise it (below
        its set-point) and to lower it (above), in the order of `brain.goals.Goals`."""
        u = self.interoception.deviation(drift(self.physiology, intero, self.config.planner.forecast_steps))
        return jnp.concatenate([jax.nn.relu(-u), jax.nn.relu(u)])

    def progress(self, goals: Goals, need, s, s_next) -> Float[Array, ""]:
        """How much nearer a step brings the latent to the goals that are needed: sum_g need_g (R_g(z) - R_g(z')),
        negative for a step away. A planner counts only coming nearer (relu): a goal is a state to pass through on
        the way to a relief (the item eaten vanishes from view), not one to stay in, which a per-step risk would
        reward."""
        risk = lambda x: need @ goals.risk(x[: self.latent_size])  # noqa: E731
        return risk(s) - risk(s_next)

    UTILITY_TERMS = ("reward", "drive", "death", "disagreement", "goals")
    TERMINAL_TERMS = ("value", "novelty")

    def utility_terms(self, brain: ModelBrain, s, action, need=None) -> tuple[Array, tuple[Array, ...], Array]:
        """One predicted step from model state `s`: (next state, the weighted terms of u named by `UTILITY_TERMS`,
        p_continue); see the module docstring. With learned goals and a `need`, the goals' term is goal_weight
        times the step's progress towards them (`progress`), else 0."""
        prediction = brain.world_model.predict(s, action)
        s_next = s + prediction.delta * brain.delta_statistics.std
        goals = jnp.zeros(())
        if brain.goals is not None and need is not None:
            goals = self.config.planner.goal_weight * jax.nn.relu(self.progress(brain.goals, need, s, s_next))
        terms = (*self.step_terms(s_next, prediction.reward, prediction.death),
                 self.config.planner.disagreement_weight * prediction.disagreement, goals)
        p_continue = jnp.clip(1.0 - prediction.death - prediction.success, 0.0, 1.0)
        return s_next, terms, p_continue

    def utility(self, brain: ModelBrain, s, action, need=None):
        """One predicted step from model state `s`: (next state, u, p_continue), u the sum of `utility_terms`."""
        s_next, terms, p_continue = self.utility_terms(brain, s, action, need)
        return s_next, functools.reduce(operator.add, terms), p_continue

    def terminal_terms(self, brain: ModelBrain, s) -> tuple[Array, Array]:
        """The value beyond the horizon, in the terms named by `TERMINAL_TERMS`: value_weight V(s) and
        novelty_weight (1 - familiarity(s))."""
        recall = self.recall(brain.memory, s)
        cfg = self.config.planner
        value = recall.value if brain.critic is None else brain.critic.value(s)
        return cfg.value_weight * value, cfg.novelty_weight * (1.0 - recall.familiarity)

    def terminal(self, brain: ModelBrain, s):
        """The sum of `terminal_terms`."""
        return functools.reduce(operator.add, self.terminal_terms(brain, s))

    def learn_critic(self, brain: ModelBrain, batch: Transition, weights) -> PCCritic | None:
        """The critic's local PC step on the TD targets of `batch` (none without a critic)."""
        if brain.critic is None:
            return None
        s_next = batch.state + batch.delta * brain.delta_statistics.std
        utility = self.step_utility(s_next, batch.reward, batch.death)
        ended = jnp.clip(batch.death + batch.success, 0.0, 1.0)
        return brain.critic.learn(batch.state, utility, ended, s_next, weights)

    def surprise(self, brain: ModelBrain, state: ModelAgentState, life_steps, s) -> Float[Array, ""]:
        """The world model's squared error on the transition just completed, (s - s_prev) / std against its
        prediction from (s_prev, a_prev), before it learns from it (0 at a life's first step)."""
        delta = (s - state.previous_state) / brain.delta_statistics.std
        error = brain.world_model.predict(state.previous_state, state.previous_action).delta - delta
        return jnp.mean(error ** 2) * (life_steps > 0)

    def learn(self, state: ModelAgentState, life_steps, brain: ModelBrain, s, obs, need, *, key
              ) -> tuple[ModelBrain, Recent, dict]:
        """Learns from the transition (s_prev, a_prev) -> s, if there is one in this life (see the module docstring;
        `need`, this step's `need`, rewards the policy prior); returns the brain, the recent trace and the learning's
        synaptic operations by module."""
        cfg = self.config.planner
        k_model, k_store, k_dream, k_replay = jax.random.split(key, 4)
        valid = (life_steps > 0).astype(jnp.float32)
        raw_delta = s - state.previous_state
        delta_statistics = brain.delta_statistics.update(raw_delta, valid)
        reward_statistics = brain.reward_statistics.update(jnp.abs(obs.reward)[None], valid)
        reward = obs.reward / jnp.maximum(reward_statistics.mean[0], 1e-3)
        transition = Transition(state.previous_state, state.previous_action, raw_delta / delta_statistics.std, reward,
                                obs.terminated.astype(jnp.float32), obs.success.astype(jnp.float32))
        slot = state.recent.next_slot
        recent = Recent(
            jax.tree.map(lambda ring, x: ring.at[slot].set(jnp.where(valid > 0, x, ring[slot])), state.recent.transitions,
                         transition),
            state.recent.valid.at[slot].set(jnp.maximum(state.recent.valid[slot], valid)),
            jnp.where(valid > 0, (slot + 1) % state.recent.valid.shape[0], slot),
        )
        # replay: what memory replays for the place just left, and for spontaneous (random) cues: dreams
        cues = jnp.concatenate([state.previous_state[None], jax.random.normal(k_dream, (cfg.dreams, s.shape[0]))])
        replay, known, replay_ops = self.replay(brain.memory, cues, key=k_replay)
        replay_weight = known * cfg.replay_weight * valid
        batch = joined(recent.transitions, replay)
        weights = jnp.concatenate([recent.valid, replay_weight])
        world_model = brain.world_model.learn(batch, key=k_model, weights=weights)
        critic = self.learn_critic(brain, batch, weights)
        # the episodic value of the action just taken: its step's utility plus the discounted value of where it led
        ended = obs.terminated | obs.success
        u = reward - self.drive_weight * self.interoception.drive(obs.intero) - cfg.death_cost * obs.terminated
        reached = self.recall(brain.memory, s)
        value = u + cfg.discount * jnp.where(ended, 0.0, reached.value)
        payload, mask = self._payload(state.previous_channel, value, transition)
        memory = brain.memory.store(state.previous_state, payload, key=k_store, mask=mask * valid)
        goals = None if brain.goals is None else brain.goals.learn(state.previous_state[: self.latent_size],
                                                                   raw_delta[self.latent_size:] * valid)
        actor = self.learn_actor(brain, state, s, need, raw_delta, valid)
        size = weights.shape[0]
        ops = {"memory": replay_ops + reached.ops
                         + brain.memory.store_ops(state.previous_state, payload, mask=mask * valid),
               "world_model": brain.world_model.learn_ops(size) + brain.world_model.predict_ops()}
        if brain.critic is not None:
            ops["critic"] = brain.critic.learn_ops(size)
        if brain.actor is not None:
            ops["actor"] = 2 * brain.actor.ops()  # mu(s_prev) read, W written
        brain = eqx.tree_at(lambda b: (b.delta_statistics, b.reward_statistics, b.world_model, b.memory, b.critic,
                                       b.goals, b.actor),
                            brain, (delta_statistics, reward_statistics, world_model, memory, critic, goals, actor),
                            is_leaf=lambda x: x is None)
        return brain, recent, ops

    def learn_actor(self, brain: ModelBrain, state: ModelAgentState, s, need, raw_delta, valid) -> Actor | None:
        """The policy prior's node-perturbation step (`brain.actor`) on the action just taken, rewarded with the
        progress towards the needed goals that it made (`progress`, between the latents lived, not predicted). A
        step that relieved a need teaches nothing: the item eaten leaves the view, so the latent moves away from
        the goal state just as the need is met."""
        if brain.actor is None:
            return None
        relieved = brain.goals.reliefs(raw_delta[self.latent_size:]).any()
        reward = self.progress(brain.goals, need, state.previous_state, s)
        offset = state.previous_action - state.previous_warm_start
        return brain.actor.learn(state.previous_state, offset, reward, valid * ~relieved)

    def plan(self, brain: ModelBrain, plan_state: PlanState, s, need, *, key) -> tuple[PlanState, Plans]:
        """The planner's candidates, scored through the world model; with a policy prior (`brain.actor`), the first
        step is sampled around the planner's warm-started mean plus mu(s)."""
        if brain.actor is not None:
            first = jnp.clip(plan_state.distribution[0] + brain.actor.mean(s), -1.0, 1.0)
            plan_state = plan_state._replace(distribution=plan_state.distribution.at[0].set(first))
        return self.planner.plan(plan_state, s, lambda x, a: self.utility(brain, x, a, need),
                                 lambda x: self.terminal(brain, x), key=key)

    def select_plan(self, gate: AbstractGate, gate_state, plans: Plans, recall: Recall, *, key):
        """The gate picks a plan: salience = (utility + episodic_weight Q(s, first action)) / spread. Returns the
        gate's state, the plan and channel chosen, and the gate's synaptic operations."""
        channels = first_action_index(plans, self.planner.discrete, self.prototypes)
        episodic = recall.values[channels]
        salience = (plans.utility + self.config.planner.episodic_weight * episodic) / plans.spread
        salience = finite_or_zero(salience)  # a diverged model or memory is reported
        gate_state, selection = gate.select(gate_state, salience - salience.max(), key=key)
        chosen = jnp.maximum(selection.channel, 0)
        # the chosen plan is followed in slot 0 from now on: the circuit's activity moves with it
        order = jnp.arange(plans.utility.shape[0]).at[0].set(chosen).at[chosen].set(0)
        gate_state = jax.tree.map(lambda x: x[order] if jnp.ndim(x) == 1 else x, gate_state)
        return gate_state, chosen, channels[chosen], selection.ops

    def act(self, action: Float[Array, " action"], channel, obs):
        """The env action: the plan's first action (raw) or the channel's reflex."""
        if self.config.motor == "reflexes":
            return self.motor.command(channel, obs.extero)
        if self.planner.discrete:
            return jnp.argmax(action).astype(jnp.int32) + int(self.action_space.start)
        low, high = (jnp.asarray(self.action_space.low), jnp.asarray(self.action_space.high))
        return low + (action + 1.0) * 0.5 * (high - low)

    def step(self, state: ModelAgentState, obs, key: PRNGKeyArray, learn: bool = True):
        """One control step; see the module docstring. Pure: jit it once and vmap it over a population. With
        `learn=False` (static) nothing learns: the brain acts as it is, and is returned unchanged."""
        k_perceive, k_learn, k_plan, k_gate = jax.random.split(key, 4)
        finite = jnp.all(jnp.isfinite(obs.extero)) & jnp.all(jnp.isfinite(obs.intero)) & jnp.isfinite(obs.reward)
        obs = checked(obs, ~finite, "non-finite observation (extero, intero or reward) reached the agent")
        brain = state.brain
        new_life = state.done
        perception_state = _where(new_life, brain.perception.init_state(), state.perception)
        plan_state = _where(new_life, self.planner.init_state(), state.plan)
        life_steps = jnp.where(new_life, 0, state.life_steps)
        brain, percept = self.perceive(brain, perception_state, obs, key=k_perceive, learn=learn)
        perception_diverged = non_finite((percept.state, percept.free_energy))
        percept = percept._replace(state=finite_or_zero(percept.state))
        model_error = self.surprise(brain, state, life_steps, percept.state)
        need = None if brain.goals is None else self.need(obs.intero)  # learning keeps goals, or keeps none
        if learn:
            brain, recent, learnt = self.learn(state, life_steps, brain, percept.state, obs, need, key=k_learn)
        else:
            recent, learnt = state.recent, {"memory": jnp.zeros(())}
        recall = self.recall(brain.memory, percept.state)
        warm_start = plan_state.distribution[0]
        plan_state, plans = self.plan(brain, plan_state, percept.state, need, key=k_plan)
        gate_state, chosen, channel, gate_ops = self.select_plan(brain.gate, state.gate, plans, recall, key=k_gate)
        sequence = plans.sequences[chosen]
        plan_state = self.planner.commit(plan_state, sequence)
        action = self.act(sequence[0], channel, obs)
        new_state = ModelAgentState(
            brain=brain, perception=percept.perception, plan=plan_state, gate=gate_state,
            previous_state=percept.state, previous_action=sequence[0], previous_channel=channel,
            previous_warm_start=None if brain.actor is None else warm_start, recent=recent,
            life_steps=life_steps + 1, steps=state.steps + 1, done=obs.terminated | obs.truncated | obs.success,
        )
        info = {
            "free_energy": percept.free_energy,
            "familiarity": recall.familiarity,
            "drive": self.interoception.drive(obs.intero),
            "channel": channel,
            "utility": plans.utility[chosen],
            "episodic_value": recall.value,
            "model_error": model_error,
            "diverged": {
                "perception": perception_diverged,
                "memory": non_finite(recall.values),
                "planner": non_finite(plans.utility),
            },
            "ops": self.cost(brain, percept, recall, learnt, gate_ops),
        }
        return new_state, action, info

    def cost(self, brain: ModelBrain, percept: Percept, recall: Recall, learnt: dict, gate_ops) -> dict[str, Array]:
        """Each module's synaptic operations this step (module docstring), by name: the planner's rollouts value
        each end state as this place's recall costs (and the critic's value, with a critic)."""
        terminal = recall.ops + (0.0 if brain.critic is None else brain.critic.value_ops())
        ops = {"perception": percept.ops, "memory": learnt["memory"] + recall.ops,
               "planner": self.planner.plan_ops(brain.world_model.predict_ops(), terminal)
               + (0.0 if brain.actor is None else brain.actor.ops()), "gate": gate_ops,
               **{name: learnt[name] for name in ("world_model", "critic", "actor") if name in learnt}}
        return {name: jnp.asarray(count, jnp.float32) for name, count in ops.items()}

    def expected_states(self, state: ModelAgentState) -> Float[Array, "H state"]:
        """The model states the agent expects along the plan it follows: its last action, then the rest of the
        chosen sequence, rolled from its last model state through the world model's mean prediction."""
        sequence = jnp.concatenate([state.previous_action[None], state.plan.plan[:-1]])

        def one(s, action):
            s_next, _, _ = self.utility(state.brain, s, action)
            return s_next, s_next

        return jax.lax.scan(one, state.previous_state, sequence)[1]

    def expected_observations(self, state: ModelAgentState) -> Float[Array, "H extero"]:
        """What the agent expects to sense along the plan it follows: the expected latents decoded by perception
        (`AbstractPerception.decode`) into exteroceptive readings, in the world's units."""
        brain = state.brain
        latents = self.expected_states(state)[:, : self.latent_size]
        return jax.vmap(lambda z: brain.extero_statistics.denormalise(brain.perception.decode(z)))(latents)

    def select(self, state: ModelAgentState) -> ModelAgentState:
        """Structural selection (the slowest timescale): nothing to prune or grow in this brain yet."""
        return state

    def enter(self, state, extero, context):
        perception = state.brain.perception.enter(state.perception, extero, context)
        return eqx.tree_at(lambda s: s.brain.perception, state, perception)


def channel_prototypes(space: gym.spaces.Space, motor, kind: str) -> tuple[Array, bool]:
    """Each of `motor`'s channels as an action in the planner's units, and whether the planner's actions are
    discrete: one-hot over reflexes or a Discrete space's actions; raw Box commands scaled to [-1, 1]."""
    if kind == "reflexes" or motor.discrete:
        return jnp.eye(motor.num_channels), True
    centre, half = (space.high + space.low) / 2, (space.high - space.low) / 2
    return jnp.asarray((np.asarray(motor.table) - centre) / half, jnp.float32), False


def build_model_agent(config, env: gym.Env, *, key: PRNGKeyArray) -> tuple[ModelAgent, ModelAgentState]:
    """A model-based agent for `env` and its newborn state."""
    cfg = config.planner
    physiology = env.get_wrapper_attr("physiology")
    extero_size = env.observation_space["extero"].shape[0]
    motor = primitives_for(env) if config.motor == "reflexes" else action_channels(env.action_space)
    prototypes, discrete = channel_prototypes(env.action_space, motor, config.motor)
    action_size = prototypes.shape[1]
    k_perception, k_model, k_memory, k_gate, k_critic = jax.random.split(key, 5)
    perception = config.perception.build(extero_size, action_size, key=k_perception)
    interoception = Interoception(physiology, config.levels)
    state_size = perception.latent_size + len(physiology.names)
    horizon = cfg.horizon or task_of(env).horizon
    planner = SamplingPlanner(action_size, discrete, horizon=horizon, candidates=cfg.candidates, plans=cfg.plans,
                              discount=cfg.discount, temperature=cfg.temperature,
                              noise=cfg.noise if discrete else cfg.box_noise, correlation=cfg.box_noise_correlation,
                              hold=cfg.box_hold)
    world_model = PCWorldModel(state_size, action_size, cfg.hidden, members=cfg.members,
                               learning_rate=cfg.learning_rate, pairwise=cfg.pairwise, key=k_model)
    agent = ModelAgent(interoception, physiology, prototypes, planner, config, motor, env.action_space,
                       perception.latent_size)
    memory = config.memory.build(state_size, prototypes.shape[0] * (1 + agent._block()), key=k_memory)
    gate = config.gate.build(cfg.plans, key=k_gate)
    critic = (PCCritic(state_size, cfg.hidden, discount=cfg.discount, learning_rate=cfg.learning_rate, key=k_critic)
              if cfg.value == "critic" else None)
    goals = (Goals(len(physiology.names), perception.latent_size, threshold=cfg.relief_threshold)
             if cfg.goal_weight > 0 or cfg.actor_rate > 0 else None)
    if cfg.actor_rate > 0 and discrete:
        actions = "reflex channels" if config.motor == "reflexes" else env.action_space
        raise ValueError(f"ModelBasedConfig.actor_rate {cfg.actor_rate} needs continuous actions to perturb: motor "
                         f"'raw' on a Box action space (this agent's actions are {actions})")
    actor = Actor(state_size, action_size, learning_rate=cfg.actor_rate) if cfg.actor_rate > 0 else None
    brain = ModelBrain(RunningNormaliser.empty(extero_size), RunningNormaliser.empty(state_size), RunningNormaliser.empty(1),
                       perception, world_model, memory, gate, critic, goals, actor)
    empty = Transition(jnp.zeros((cfg.recent, state_size)), jnp.zeros((cfg.recent, action_size)),
                       jnp.zeros((cfg.recent, state_size)), jnp.zeros(cfg.recent), jnp.zeros(cfg.recent),
                       jnp.zeros(cfg.recent))
    state = ModelAgentState(
        brain=brain, perception=perception.init_state(), plan=planner.init_state(), gate=gate.init_state(),
        previous_state=jnp.zeros(state_size), previous_action=jnp.zeros(action_size),
        previous_channel=jnp.array(0, jnp.int32),
        previous_warm_start=None if actor is None else jnp.zeros(action_size),
        recent=Recent(empty, jnp.zeros(cfg.recent), jnp.array(0)),
        life_steps=jnp.array(0), steps=jnp.array(0), done=jnp.array(False),
    )
    return agent, state


def task_of(env: gym.Env):
    """The task adapter's spec of `env` (`envs.tasks`); mortal worlds, which have none, get the defaults."""
    from envs.tasks import TaskSpec

    try:
        return env.get_wrapper_attr("task")
    except AttributeError:
        return TaskSpec(env.spec.id if env.spec else "world")

