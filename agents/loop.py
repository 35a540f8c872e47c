"""The only Python loop: a Gymnasium vector env stepped with the jitted, vmapped agent step.

    run = Run.start(AgentConfig(), "mortal/Forager-v0", population=8, seed=0)
    record = run.train(10_000)       # every agent lives 10,000 more steps, learning; record.lives: finished lives
    lives = run.evaluate(seed=1)     # one fresh life each in the run's worlds, the brains learning on
    tests = run.exam(worlds, seed=2)  # frozen copies of the brains, one fresh life each in other worlds

Vector envs reset themselves one step after a life ends (Gymnasium's NEXT_STEP autoreset): the agent sees
its terminal observation (and learns from its death), and its next observation begins a new life.
"""

import dataclasses
import functools
import warnings

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

import envs  # noqa: F401  (registers the mortal worlds)
from agents.agent import Agent, AgentState, Observation, build_agent
from agents.config import AgentConfig, in_slot_order
from agents.motor import to_env_action
from agents.recovery import recovery_steps
from brain.base import unchecked

EVALUATION_CAP = 100_000  # steps an evaluation life may last (mortal worlds end lives at 60,000): then it is cut


def make_env(world: str, body: str | None = None, **kwargs) -> gym.Env:
    """`gym.make(world)`, made mortal by `envs.Homeostatic` unless it already is (a Dict extero/intero world);
    with `body` (a mortal world id), lived in through that world's body (`envs.Embodied`)."""
    env = gym.make(world, **kwargs)
    if body is not None:
        return envs.Embodied(env, body)
    space = env.observation_space
    if isinstance(space, gym.spaces.Dict) and set(space.spaces) == {"extero", "intero"}:
        return env
    return envs.Homeostatic(env)


def make_vector_env(world: str, population: int, seed: int, body: str | None = None,
                    **kwargs) -> gym.vector.VectorEnv:
    """`population` copies of the world (see `make_env`), stepped in this process, seeded seed, seed + 1, ..."""
    vector_env = gym.vector.SyncVectorEnv(
        [functools.partial(make_env, world, body, **kwargs) for _ in range(population)],  # picklable: checkpoints
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    vector_env.reset(seed=seed)
    return vector_env


def build_population(
    config: AgentConfig, worlds: gym.vector.VectorEnv, seed: int, *, shapes_only: bool = False
) -> tuple[Agent, AgentState]:
    """One agent definition and `num_envs` newborn brains, each from its own key.

    With `shapes_only`, the brains are `jax.ShapeDtypeStruct`s (a template to load a checkpoint into), from the first
    newborn's shapes: tracing the build (`eval_shape`) would trip the plasticity gate's checks of concrete values.
    """
    single = worlds.envs[0]
    keys = jax.random.split(jax.random.key(seed), worlds.num_envs)
    agent, first = build_agent(config, single, key=keys[0])
    if shapes_only:
        return agent, jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct((worlds.num_envs, *jnp.shape(leaf)), jnp.result_type(leaf)), first)
    return agent, jax.vmap(lambda k: build_agent(config, single, key=k)[1])(keys)


class Population:
    """The agent step vmapped over a population and compiled once, called on the states (`states`, an `AgentState`
    with a leading population axis). A call returns new states and leaves the old ones as they were."""

    def __init__(self, agent: Agent, states: AgentState):
        self.agent = agent
        # strong dtypes: the step returns strongly typed arrays, and a weakly typed one going in would make the
        # second call compile the step again
        self.states = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype=leaf.dtype), states)
        kind = type(agent)

        def step_all(states, obs, key, learn):
            key, step_key = jax.random.split(key)
            keys = jax.random.split(step_key, len(obs.reward))
            step = jax.vmap(functools.partial(kind.step, learn=learn), in_axes=(None, 0, 0, 0))
            after, actions, info = step(agent, states, obs, keys)
            if not learn:  # a test: the agent learnt nothing, and its brain is left exactly as it was
                after = eqx.tree_at(lambda s: s.brain, after, states.brain)
            return after, key, actions, info

        self._step = jax.jit(step_all, static_argnums=3)
        self._select = jax.jit(functools.partial(jax.vmap(kind.select, in_axes=(None, 0)), agent))
        self._enter = jax.jit(functools.partial(jax.vmap(kind.enter, in_axes=(None, 0, 0, None)), agent))

    def step(self, obs: Observation, key, learn: bool = True) -> tuple[jax.Array, np.ndarray, dict]:
        """One step of every member; returns the next key and the actions and info, fetched to numpy at once.
        With `learn=False` the brains act but do not change (a test)."""
        with unchecked():  # the loop checks the inputs, and the agents report their modules' divergence
            self.states, key, actions, info = self._step(self.states, obs, key, learn)
        actions, info = jax.device_get((actions, info))
        return key, actions, info

    def select(self) -> None:
        self.states = self._select(self.states)

    def enter(self, extero: np.ndarray, context: int) -> None:
        """Every member enters `context` (see `Agent.enter`); `extero` holds each member's current reading."""
        self.states = self._enter(self.states, extero, context)


@dataclasses.dataclass
class Record:
    """What the loop saw: every finished life (length, mean drive, returns, cause of death, and where the world
    reports its regime, the steps to recover after each return to an earlier one) and the steps lived."""

    lives: list[dict] = dataclasses.field(default_factory=list)  # one per finished episode
    steps: int = 0
    running: dict[str, np.ndarray] | None = None  # per env, the sums of the life in progress; None: none begun
    traces: dict[str, list[list]] | None = None  # per env, each step's drive and regime ("season") in the life in
    # progress, kept only in a world that reports its regime (agents.recovery); None: none kept
    SUMS = ("length", "drive", "return", "task", "ops")
    TRACED = ("drive", "season")

    def __post_init__(self):
        if self.running is not None:  # a record saved before a sum was kept (an older checkpoint): it starts at 0
            n = len(self.running["length"])
            self.running = {key: np.asarray(self.running.get(key, np.zeros(n)), float) for key in self.SUMS}

    def begin(self, num_envs: int) -> None:
        """Every env begins a new life."""
        self.running = {key: np.zeros(num_envs) for key in self.SUMS}
        self.traces = None

    def add_step(self, alive: np.ndarray, reward: np.ndarray, env_info: dict, ops: np.ndarray) -> None:
        """This step joins the lives in progress of the envs `alive` (else the step began a new life); `ops`: each
        brain's synaptic operations at this step."""
        self.running["length"] += alive
        self.running["drive"] += np.where(alive, env_info.get("drive", 0.0), 0.0)
        self.running["return"] += np.where(alive, reward, 0.0)
        self.running["task"] += np.where(alive, env_info.get("task_reward", reward), 0.0)
        self.running["ops"] += np.where(alive, ops, 0.0)
        if "season" in env_info:
            if self.traces is None:
                self.traces = {key: [[] for _ in alive] for key in self.TRACED}
            for key in self.TRACED:
                for i in np.flatnonzero(alive):
                    self.traces[key][i].append(env_info[key][i].item())

    def end_life(self, env_index, cause: str, truncated: bool) -> None:
        """The life of env `env_index` ended at this step: it joins `lives`, and that env's sums start again."""
        self.lives.append(self._life(env_index, cause, truncated, self.steps + 1))
        for sums in self.running.values():
            sums[env_index] = 0
        for trace in (self.traces or {}).values():
            trace[env_index] = []

    def life_so_far(self, env_index: int) -> dict:
        """The life env `env_index` is living, as if cut now: truncated, with no cause of death."""
        return self._life(env_index, "", True, self.steps)

    def _life(self, env_index, cause: str, truncated: bool, step: int) -> dict:
        """The life in progress of env `env_index`: its length, mean drive, returns, the brain's mean synaptic
        operations per step, cause of death, `step`, and the steps to recover after each return to an earlier
        regime (`recoveries`; none where the world reports no regime)."""
        length, drive, reward, task, ops = (self.running[k][env_index] for k in self.SUMS)
        recoveries = recovery_steps(*(self.traces[key][env_index] for key in self.TRACED)) if self.traces else []
        return dict(env=env_index, survival_steps=int(length), drive_mean=drive / max(length, 1), return_=float(reward),
                    task_return=float(task), ops_per_step=ops / max(length, 1), cause_of_death=cause,
                    truncated=truncated, step=step, recoveries=recoveries)


def observation(obs: dict, reward, info: dict, terminated, truncated) -> Observation:
    """The agents' observation from a vector env's outputs (numpy; the jitted step takes it as it is)."""
    success = np.asarray(info.get("success", np.zeros(np.shape(terminated), bool)), bool) & np.asarray(terminated, bool)
    return Observation(
        extero=np.asarray(obs["extero"], np.float32),
        intero=np.asarray(obs["intero"], np.float32),
        reward=np.asarray(info.get("task_reward", reward), np.float32),
        terminated=np.asarray(terminated, bool) & ~success,
        truncated=np.asarray(truncated, bool),
        cue=np.full(np.shape(terminated), -1, np.int32),
        success=success,
    )


def check_finite(obs: Observation, step: int) -> None:
    """A ValueError naming the source, the agent and the step of the first NaN or inf the agents would be given."""
    for source, values in (("observation", obs.extero), ("internal variables", obs.intero), ("reward", obs.reward)):
        bad = ~np.isfinite(values).reshape(len(values), -1).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"non-finite {source} given to agent {i} at step {step}: {values[i]}")


def checked_cue(cue, members: int, channels: int, step: int) -> np.ndarray:
    """A teacher's demonstration as int32, one entry per member: a channel in [0, channels), or -1 for none.
    Anything else (a wrong shape, a fraction, a channel out of range) is a ValueError naming it and the step."""
    values = np.asarray(cue)
    if values.shape != (members,):
        raise ValueError(f"the teacher gave cues of shape {values.shape} at step {step}, need one per member ({members},)")
    if not np.all(np.isfinite(values.astype(np.float64))) or not np.all(values == np.round(values)):
        raise ValueError(f"the teacher's cues at step {step} must be whole channel numbers, got {values}")
    bad = (values < -1) | (values >= channels)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the teacher cued channel {values[i]} for agent {i} at step {step}; "
                         f"valid: 0..{channels - 1}, or -1 for none")
    return values.astype(np.int32)


DIVERGENCE = ("stop", "end-life")


def divergence(flags: dict, step: int, on_divergence: str) -> dict[int, str]:
    """The agents whose brain diverged at `step`, each with the modules that did, in slot order (`flags`: module
    -> bool per agent); with `on_divergence="stop"`, a FloatingPointError naming them instead."""
    modules = in_slot_order(flags)
    diverged = {int(i): " and ".join(m for m in modules if flags[m][i])
                for i in np.flatnonzero(np.any([flags[m] for m in modules], axis=0))}
    if not diverged:
        return diverged
    named = "; ".join(f"agent {i}: the {module} diverged (non-finite values)" for i, module in diverged.items())
    if on_divergence == "stop":
        raise FloatingPointError(f"at step {step}, {named}")
    warnings.warn(f"at step {step}, {named}: that life ends, and a newborn brain goes on in a fresh episode",
                  RuntimeWarning, stacklevel=5)
    return diverged


def total_ops(info: dict) -> np.ndarray:
    """Each agent's synaptic operations at this step, over its modules (`info["ops"]`: module -> per agent)."""
    return np.sum([np.asarray(ops, np.float64) for ops in info["ops"].values()], axis=0)


def charges_computation(worlds: gym.vector.VectorEnv) -> bool:
    """Whether the worlds charge the brains' computation (a mortal world made with `computation_cost` > 0)."""
    try:
        return any(cost > 0 for cost in worlds.get_attr("computation_cost"))
    except AttributeError:  # a world that has no such setting: computing is free there
        return False


def reborn(population: Population, worlds: gym.vector.VectorEnv, i: int, obs: dict, key) -> dict:
    """Member `i` gets a newborn brain and its world a fresh episode; returns `obs` with that episode's first
    observation in row `i`."""
    _, newborn = build_agent(population.agent.config, worlds.envs[i], key=key)
    population.states = jax.tree.map(lambda leaf, new: leaf.at[i].set(new), population.states, newborn)
    first, _ = worlds.envs[i].reset()
    return {name: np.concatenate([values[:i], np.asarray(first[name])[None], values[i + 1:]])
            for name, values in obs.items()}


@dataclasses.dataclass
class Run:
    """One continuous run: a population of agents living in their worlds, resumable from a checkpoint.

    Three ways to live: `train` (learning lives, each call going on where the last one stopped), `evaluate`
    (one fresh life each, in the run's own worlds) and `exam` (frozen copies in other worlds; the run is left
    as it was). All three go through one step loop, `_live`.
    """

    config: AgentConfig
    world: str
    seed: int
    population: Population
    envs: gym.vector.VectorEnv
    key: jax.Array
    record: Record
    current: Observation | None = None  # the observation the agents act on next; None: the worlds are yet to reset
    body: str | None = None  # how the worlds were made (see `start`), so that a checkpoint can make them again
    settings: dict = dataclasses.field(default_factory=dict)
    max_episode_steps: int | None = None

    @classmethod
    def start(
        cls, config: AgentConfig, world: str, population: int = 1, seed: int = 0, max_episode_steps: int | None = None,
        body: str | None = None, **settings,
    ) -> "Run":
        """Newborn agents in fresh worlds (made with `settings`, lived in through `body`; see `make_env`);
        `max_episode_steps` overrides the world's time limit."""
        limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
        envs = make_vector_env(world, population, seed, body, **limit, **settings)
        agent, states = build_population(config, envs, seed)
        return cls(config, world, seed, Population(agent, states), envs, jax.random.key(seed), Record(), None, body,
                   settings, max_episode_steps)

    def train(self, steps: int, *, on_step=None, until=None, teacher=None, on_divergence: str = "stop") -> Record:
        """Every agent lives `steps` more env steps, learning, where the last call stopped: living in several
        calls is living in one. Returns the record (`record.lives`: every finished life so far).

        `on_step(t, info, record, obs)` is called after each step `t` of this call; `until(record)` returning True
        stops early; `teacher(obs)` gives the channel each member is shown (-1: none) at each step. A brain module
        that diverges (non-finite values) stops the run with a FloatingPointError naming the module, the agent and
        the step (`on_divergence="stop"`), or ends that agent's life, warns the same, and goes on with a newborn
        brain in a fresh episode (`"end-life"`).
        """
        if on_divergence not in DIVERGENCE:
            raise ValueError(f"on_divergence must be one of {DIVERGENCE}, got {on_divergence!r}")
        self._live(steps, learn=True, on_step=on_step, until=until, teacher=teacher, on_divergence=on_divergence)
        return self.record

    def evaluate(self, seed: int, *, learn: bool = True, context: int | None = None,
                 cap: int = EVALUATION_CAP) -> list[dict]:
        """Every agent begins one fresh life in its worlds (`begin_lives(seed, context)`) and lives it to its end
        or for `cap` steps, its brain learning unless `learn=False`; the run goes on from there. Returns the first
        life of each, in order, with `cap` and `capped` (True: cut by the cap, still alive, which is also warned).
        """
        if not isinstance(cap, (int, np.integer)) or cap < 1:
            raise ValueError(f"the evaluation cap must be a whole number of steps >= 1, got {cap!r}")
        self.begin_lives(seed, context)
        start, n = len(self.record.lives), self.envs.num_envs

        def first_lives(record: Record) -> dict[int, dict]:
            return {life["env"]: life for life in record.lives[start:][::-1]}

        self._live(cap, learn=learn, until=lambda record: len(first_lives(record)) == n)
        ended = first_lives(self.record)
        cut = [i for i in range(n) if i not in ended]
        if cut:
            warnings.warn(f"the evaluation lives of agents {cut} were cut by the cap of {cap} steps", stacklevel=2)
        return [{**(self.record.life_so_far(i) if i in cut else ended[i]), "cap": cap, "capped": i in cut}
                for i in range(n)]

    def exam(self, worlds: gym.vector.VectorEnv, seed: int, *, context: int | None = None) -> list[dict]:
        """Frozen copies of the brains as they are now each live one fresh life in `worlds` (as in `evaluate` with
        `learn=False`; step keys from `jax.random.key(seed)`), k copies per agent where `worlds` holds k worlds per
        agent: agent i's in worlds i * k ... i * k + k - 1, the order of the lives returned. The run is left
        exactly as it was: brains, worlds, record, observation and key."""
        members = self.envs.num_envs
        copies, rest = divmod(worlds.num_envs, members)
        if rest or not copies:
            raise ValueError(f"an exam needs the same number of worlds for each of the {members} agents, "
                             f"got {worlds.num_envs} worlds")
        brains = jax.tree.map(lambda leaf: jnp.repeat(leaf, copies, axis=0), self.population.states)
        kept = self.population.states
        if copies == 1:  # the population's compiled step serves the copies: no second compilation
            examinees = self.population
            examinees.states = brains
        else:
            examinees = Population(self.population.agent, brains)
        examinee = dataclasses.replace(self, population=examinees, envs=worlds, key=jax.random.key(seed),
                                       record=Record(), current=None)
        try:
            return examinee.evaluate(seed, learn=False, context=context)
        finally:
            self.population.states = kept

    def begin_lives(self, seed: int, context: int | None = None) -> None:
        """Every world starts a fresh episode and every agent a new life, keeping what its brain has learnt;
        with `context`, every agent enters it (`Agent.enter`) on its first observation."""
        obs, _ = self.envs.reset(seed=seed)
        n = self.envs.num_envs
        self.population.states = eqx.tree_at(lambda s: s.done, self.population.states, jnp.ones(n, bool))
        if context is not None:
            self.population.enter(np.asarray(obs["extero"], np.float32), context)
        self.current = observation(obs, np.zeros(n), {}, np.zeros(n, bool), np.zeros(n, bool))
        self.record.begin(n)

    def _live(self, steps: int, *, learn: bool, on_step=None, until=None, teacher=None,
              on_divergence: str = "stop") -> None:
        """The step loop of `train`, `evaluate` and `exam` (see `train`); with `learn=False` the brains do not
        change. The observation and key move on only when the call returns (after an error the next call
        begins from the same ones); brains, worlds and record move on step by step."""
        if not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        if self.current is None:  # new worlds: every life begins now
            obs, _ = self.envs.reset()
            n = self.envs.num_envs
            current = observation(obs, np.zeros(n), {}, np.zeros(n, bool), np.zeros(n, bool))
            self.record.begin(n)
        else:
            current = self.current
            if self.record.running is None:
                self.record.begin(self.envs.num_envs)
        key, charge = self.key, charges_computation(self.envs)
        for t in range(steps):
            current, key, info = self._step(current, key, learn, teacher, on_divergence, charge)
            if on_step is not None:
                on_step(t, info, self.record, current)
            if until is not None and until(self.record):
                break
        self.current, self.key = current, key

    def _step(self, current: Observation, key, learn: bool, teacher, on_divergence: str, charge: bool):
        """One env step of every agent from observation `current`: the next observation, key and the agents' info.
        With `charge`, each world is told its brain's synaptic operations before it steps (it drains them)."""
        record, n = self.record, self.envs.num_envs
        if teacher is not None:
            current = current._replace(cue=checked_cue(teacher(current), n, self.population.agent.num_channels,
                                                       record.steps))
        check_finite(current, record.steps)
        key, actions, info = self.population.step(current, key, learn)
        diverged = divergence(info["diverged"], record.steps, on_divergence)
        if diverged:  # the lives that end: their actions are discarded, their worlds reset after the step
            actions = np.array(actions)
            actions[list(diverged)] = 0
        ops = total_ops(info)
        if charge:
            self.envs.set_attr("computation", [float(o) for o in ops])
        obs, reward, terminated, truncated, env_info = self.envs.step(to_env_action(self.envs.single_action_space,
                                                                                    actions))
        alive = ~(current.terminated | current.truncated | current.success)  # else this step was a reset
        record.add_step(alive, reward, env_info, ops)
        for i in np.flatnonzero(alive & (terminated | truncated)):
            record.end_life(i, str(env_info["cause_of_death"][i]), bool(truncated[i] and not terminated[i]))
        for i, module in diverged.items():
            if alive[i] and not (terminated[i] or truncated[i]):  # a life that did not end by itself this step
                record.end_life(i, f"{module} diverged", False)
            obs = reborn(self.population, self.envs, i, obs, jax.random.fold_in(key, record.steps))
            terminated[i] = truncated[i] = False
            alive[i] = False  # the next observation begins the new life
        ended_info = {**env_info, "success": np.asarray(env_info.get("success", np.zeros(n, bool)), bool) & alive}
        current = observation(obs, reward, ended_info, terminated & alive, truncated & alive)
        record.steps += 1
        if learn and record.steps % self.population.agent.config.select_every == 0:
            self.population.select()
        return current, key, info
