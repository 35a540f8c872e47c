"""Agent configuration: frozen dataclasses, one tagged union per brain slot.

Each slot's variants live in one registry (`SLOTS`), which serves both the tyro command line
(`python scripts/train.py memory:none gate:argmax`) and code (`variant("memory", "none")`). Every variant
config knows how to `build` its module. A module of your own joins a slot with `register` (README, "Write
your own brain module"); `import_plugins` imports the modules that register them (`--plugin`, `plugins = [...]`).
"""

import dataclasses
import importlib
import math
import os
import sys
from typing import Annotated, Literal, Union, get_args, get_origin

import tyro

from brain.ablations import ArgmaxGate, IdentityPerception, NoMemory, RandomPlanner, RandomProjection, SoftmaxGate
from brain.basal_ganglia import BasalGanglia
from brain.context_gate import ContextGate
from brain.pc_perception import PCPerception
from brain.planner import ActiveInferencePlanner, GenerativeModel
from brain.sdr_encoding import WinnersTakeAll
from brain.sdr_memory import SparseyMemory
from brain.situations import Situations


MAX_POLICIES = 4096  # channels ** policy_len: pymdp scores every policy at every tick


class ConfigError(ValueError):
    """A config field out of its range; the message names the field."""


# -- perception ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PCConfig:
    """Temporal generative predictive coding (brain.pc_perception): latent <- hidden <- observation."""

    latent: int = 16
    """width of the top latent layer (what memory and situations see)"""
    hidden: tuple[int, ...] = (64,)
    """widths of the hidden layers between latent and observation"""
    steps: int = 8
    """inference steps per control step (the most, with `settle_tolerance`)"""
    contexts: int = 1
    """contexts (e.g. a curriculum's lessons) a plasticity gate divides the latent and hidden units among; 1: no gate"""
    settle_tolerance: float = 0.0
    """inference stops once |F_t - F_{t-1}| <= tol (|F_{t-1}| + eps) (brain.predictive_coding); 0: always `steps`"""

    def build(self, in_size: int, num_channels: int, *, key):
        return PCPerception(in_size, self.latent, self.hidden, action_size=num_channels, steps=self.steps,
                            contexts=self.contexts, settle_tolerance=self.settle_tolerance, key=key)


@dataclasses.dataclass(frozen=True)
class IdentityConfig:
    """No perception: the latent is the raw exteroceptive observation."""

    def build(self, in_size: int, num_channels: int, *, key):
        return IdentityPerception(in_size)


@dataclasses.dataclass(frozen=True)
class RandomProjectionConfig:
    """A fixed random projection tanh(Wx): features without learning."""

    latent: int = 16
    """width of the projection"""

    def build(self, in_size: int, num_channels: int, *, key):
        return RandomProjection(in_size, self.latent, key=key)


# -- memory ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SDRConfig:
    """Sparsey-style SDR episodic memory (brain.sdr_memory), latents binarised by k-winners-take-all."""

    modules: int = 12
    """competitive modules Q (a code is one winner in each)"""
    cells: int = 16
    """binary cells K per module"""
    input_bits: int = 256
    """width of the binarised latent"""
    active_bits: int = 16
    """active bits of the binarised latent (k of k-WTA)"""

    def build(self, in_size: int, payload_size: int, *, key):
        binariser = WinnersTakeAll(in_size, self.active_bits, self.input_bits, key=key)
        return SparseyMemory(binariser, payload_size, self.modules, self.cells)


@dataclasses.dataclass(frozen=True)
class NoMemoryConfig:
    """No episodic memory: nothing familiar, no episodic value."""

    def build(self, in_size: int, payload_size: int, *, key):
        return NoMemory(in_size, payload_size)


# -- planner ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ActiveInferenceConfig:
    """Discrete active inference through pymdp (brain.planner), A and B learned online."""

    policy_len: int = 1
    """planning horizon in ticks"""
    gamma: float = 8.0
    """precision of the policy posterior"""
    lr: float = 1.0
    """Dirichlet learning rate of A and B"""
    novelty: bool = False
    """add the parameter-information (novelty) term to the expected free energy"""

    def build(self, model: GenerativeModel, num_channels: int, *, key):
        if num_channels**self.policy_len > MAX_POLICIES:
            raise ConfigError(f"ActiveInferenceConfig.policy_len={self.policy_len} gives {num_channels}**"
                              f"{self.policy_len} policies over {num_channels} channels, more than the "
                              f"{MAX_POLICIES} the planner can score: lower policy_len")
        return ActiveInferencePlanner(model, num_channels, policy_len=self.policy_len, gamma=self.gamma,
                                      novelty=self.novelty, lr=self.lr)


@dataclasses.dataclass(frozen=True)
class ModelBasedConfig:
    """Active inference through a learned PC world model (agents.model_agent): sampled plans scored by expected
    free energy, the basal ganglia choosing among the best."""

    horizon: int | None = None
    """planning horizon in env steps (None: the task table's default)"""
    candidates: int = 128
    """action sequences sampled and rolled out per step"""
    plans: int = 4
    """plans offered to the gate: the one being followed and the best new ones"""
    discount: float = 0.99
    """gamma of expected utility and of episodic values"""
    temperature: float = 0.5
    """MPPI's lambda, in units of the spread of the candidates' utilities"""
    noise: float = 0.3
    """Discrete actions' sampling noise: the uniform share mixed into each step's choice probabilities"""
    box_noise: float = 0.6
    """Box actions' sampling noise: the std of the sampled actions in [-1, 1] (README "Learning to act" says why)"""
    box_noise_correlation: float = 0.0
    """rho of the Box sampling noise from one step of a candidate sequence to the next (0: independent steps)"""
    box_hold: bool = False
    """the planner's warm start pads its Box sequence with its own last step instead of rest
    (`SamplingPlanner.commit`)"""
    members: int = 4
    """world-model ensemble members (their disagreement is the epistemic term)"""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of each world-model network"""
    learning_rate: float = 0.02
    """local PC learning rate of the world model"""
    pairwise: bool = False
    """the world model's first layer also sees the products of its inputs (sigma-pi units, `brain.world_model`): a
    sensed scene changes by the product of the scene and the body's motion"""
    recent: int = 16
    """transitions of the recent trace the world model learns from every step"""
    replay_weight: float = 0.5
    """plasticity of the transitions memory replays, against 1 for the recent trace"""
    dreams: int = 4
    """random cues per step whose recalled transitions are replayed (spontaneous replay), beside the current place"""
    replay: Literal["mean", "episode", "episode_mean_outcome", "both"] = "mean"
    """what memory replays for a cue: the mean of the transitions its recalled cells stored (`recall`), one stored
    transition, whole (`AbstractMemory.replay`), that transition with the mean outcome (death, success) recalled
    for the cue, or both the mean and the episode; README "Learning to act" gives them on CartPole and Pendulum"""
    death_cost: float = 100.0
    """-ln p(death) in units of a typical step's reward: how much worse death is than a step"""
    drive_weight: float = 10.0
    """weight of the homeostatic drive of the predicted internal variables (homeostasis on)"""
    disagreement_weight: float = 1.0
    """epistemic value: weight of the ensemble's disagreement per predicted step"""
    novelty_weight: float = 1.0
    """epistemic value: weight of the novelty (1 - familiarity) of a plan's end state"""
    episodic_weight: float = 0.5
    """weight of the episodic value of a plan's first action in its salience"""
    value_weight: float = 1.0
    """weight of the value of a plan's end state (the value beyond the horizon)"""
    goal_weight: float = 0.0
    """weight of the learned goals (`brain.goals`): a predicted step gains this times its progress towards the
    states that preceded the relief of each need, weighted by that need (0: no goals are learned)"""
    relief_threshold: float = 0.01
    """the smallest one-step change of an internal variable (in units of its scale) that counts as a relief"""
    forecast_steps: int = 0
    """allostasis: a need is the deviation of its variable forecast this many steps ahead with nothing eaten
    (`homeostasis.allostasis.drift`); 0: the deviation now"""
    actor_rate: float = 0.0
    """learning rate of a policy prior (`brain.actor`, node perturbation) rewarded by the progress towards the needed
    goals the body makes; the planner's first step is sampled around it (0: no prior; needs raw Box actions)"""
    value: Literal["memory", "critic"] = "critic"
    """the value beyond the horizon: a PC critic's V(s_H) (TD-learned on what the world model learns from, memory's
    replay included), or recalled from memory (max_c Q(s_H, c)); README "Learning to act" says why the critic"""

    def build(self, *args, **kwargs):
        raise TypeError("the model-based planner is built with its agent (agents.model_agent.build_model_agent)")


@dataclasses.dataclass(frozen=True)
class NeedValueConfig:
    """Raw motor commands scored by learned need values (agents.value_agent): per internal variable, a TD(lambda)
    prediction of its change from here, weighed by what a change is worth at the forecast internal state."""

    curves: int = 8
    """tuning curves per exteroceptive reading (the population code the values read)"""
    discount: float = 0.995
    """gamma of the need values: a horizon of 1 / (1 - gamma) = 200 steps (10 s) spans the sensing range"""
    trace_decay: float = 0.9
    """lambda of the need values' eligibility trace, in [0, 1]"""
    learning_rate: float = 0.05
    """normalised TD step of the need values, in (0, 1]"""
    motion_rate: float = 0.1
    """normalised delta-rule step of the motion model, in (0, 1]"""
    efference: bool = True
    """the values also read the last motor command beside the motion (an efference copy): what an actuator that no
    sensor reads (ThermalForager's sweating) does can then be learnt"""
    levels: int = 5
    """candidate commands per actuator (a grid: levels ** actuators candidates)"""
    change_unit: float = 0.1
    """the rise of an internal variable (in units of its scale) whose drive reduction, per unit, is what a change
    of that variable is worth (the mortal worlds' item)"""
    forecast_steps: int = 500
    """allostasis: the worth of a change is read at the internal state forecast this many steps ahead with nothing
    eaten (`homeostasis.allostasis.drift`); 0: at the state now"""
    explore: float = 0.4
    """the chance that the body explores (a random walk of its actuators) each time it redraws its mode, in [0, 1]"""
    safe_drive: float = 0.3
    """the drive at and above which the body no longer explores (the chance falls linearly from `explore` at drive 0)"""
    giving_up_steps: int = 1000
    """steps without relief (the drive not falling) after which a body explores with probability `explore` at any
    drive: it gives up a place that does not pay (0: never)"""
    explore_steps: int = 50
    """mean steps between two redraws of the mode (explore or exploit)"""
    walk_correlation: float = 0.95
    """rho of the exploring random walk from one step to the next, in [0, 1)"""
    events: bool = False
    """the values predict each scene sensor's consumption events (what vanished from it as an item was eaten) beside
    each variable's changes between them, and an outcome model M learns what an event gives each variable: V =
    V_drift + M V_events (successor features), so that a world that changes what its items give is relearnt in M
    alone (and, with a context gate, recalled)"""
    outcome_rate: float = 0.1
    """normalised delta-rule step of the outcome model M (`events`), in (0, 1]"""
    homing: float = 0.0
    """the weight of going back to where each need was met: memory binds each rise of a variable to the place (each
    landmark's nearest reading) where it came, and the body prefers commands whose predicted step brings the place
    nearer to the one recalled for its most pressing need, weighed by that need's worth (0: none; > 0 needs a
    world with landmarks and a memory slot, memory:none being the ablation that recalls nothing)"""

    def build(self, *args, **kwargs):
        raise TypeError("the need-value planner is built with its agent (agents.value_agent.build_value_agent)")


@dataclasses.dataclass(frozen=True)
class RandomPlannerConfig:
    """No planning: random saliences each tick."""

    def build(self, model: GenerativeModel, num_channels: int, *, key):
        return RandomPlanner(num_channels)


# -- situations ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CompetitiveConfig:
    """Situation units learned by competitive (vector-quantising) learning over whitened latents (brain.situations)."""

    units: int = 16
    """situation units the planner reasons about (its situation factor has one state more: death)"""
    lr: float = 0.05
    """the winner's step towards the whitened latent, in (0, 1]"""
    usage_decay: float = 0.999
    """per tick decay of each unit's win count (and rate 1 - decay of the whitening statistics), in (0, 1)"""

    def build(self, latent_size: int, *, key):
        return Situations(self.units, latent_size, lr=self.lr, usage_decay=self.usage_decay, key=key)


# -- gate ------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BasalGangliaConfig:
    """Basal-ganglia selection by disinhibition with hysteresis (brain.basal_ganglia)."""

    def build(self, num_channels: int, *, key):
        return BasalGanglia(num_channels)


@dataclasses.dataclass(frozen=True)
class ArgmaxConfig:
    """Plain argmax over saliences."""

    def build(self, num_channels: int, *, key):
        return ArgmaxGate(num_channels)


@dataclasses.dataclass(frozen=True)
class SoftmaxConfig:
    """Sample from softmax(salience / temperature)."""

    temperature: float = 0.1
    """softmax temperature"""

    def build(self, num_channels: int, *, key):
        return SoftmaxGate(num_channels, self.temperature)


@dataclasses.dataclass(frozen=True)
class ContextGateConfig:
    """Argmax selection, and task-selective plasticity without a task id (brain.context_gate): the need values'
    outcome model (`NeedValueConfig.events`) kept in `contexts` contexts, of which the one that predicts the outcomes
    best is used and learns."""

    contexts: int = 3
    """contexts (sets of weights) the gate divides learning among, >= 2 (one more than the regimes expected leaves
    room for a context opened by a chance run of outcomes)"""
    surprise_ratio: float = 2.0
    """kappa: a context (known, or the fast candidate) replaces the current one when its recent error is below the
    current one's over kappa; > 1"""
    error_rate: float = 0.3
    """rate of each context's running mean of its prediction error, per outcome, in (0, 1] (1: the last outcome
    alone decides, for a world whose outcomes are certain within a regime)"""
    persistence: int = 2
    """the outcomes in a row the candidate must predict better before a new context opens, >= 1"""
    error_floor: float = 1e-3
    """errors (squared changes per outcome, in units of each variable's scale: an item is 0.1) below which two
    predictors count as equally good, >= 0"""

    def build(self, num_channels: int, *, key):
        return ContextGate(num_channels, self.contexts, self.surprise_ratio, self.error_rate, self.persistence,
                           self.error_floor)


SLOTS = {
    "perception": {"pc": PCConfig, "identity": IdentityConfig, "random-projection": RandomProjectionConfig},
    "memory": {"sdr": SDRConfig, "none": NoMemoryConfig},
    "planner": {"active-inference": ActiveInferenceConfig, "model-based": ModelBasedConfig,
                "need-values": NeedValueConfig, "random": RandomPlannerConfig},
    "gate": {"basal-ganglia": BasalGangliaConfig, "argmax": ArgmaxConfig, "softmax": SoftmaxConfig,
             "context": ContextGateConfig},
    "situations": {"competitive": CompetitiveConfig},
}
def in_slot_order(modules) -> list[str]:
    """Module names in the order the config's slots come in (`SLOTS`), any others after them by name."""
    order = list(SLOTS)
    return sorted(modules, key=lambda m: (order.index(m) if m in order else len(order), m))


COUNTED = {"situations": (CompetitiveConfig, "units")}  # slots a bare count may be given for: situations=64 is 64 units


def _check_slot(slot: str) -> None:
    if slot not in SLOTS:
        raise ValueError(f"unknown brain slot {slot!r}; valid slots: {', '.join(SLOTS)}")


def variant(slot: str, name: str, **fields):
    """The config of variant `name` of `slot`; an unknown slot or name is an error listing the valid ones."""
    _check_slot(slot)
    if name not in SLOTS[slot]:
        raise ValueError(f"unknown {slot} {name!r}; valid: {', '.join(SLOTS[slot])} (a module of your own: register "
                         "it with agents.config.register, and name the module that does with --plugin)")
    return SLOTS[slot][name](**fields)


def register(slot: str, name: str, config_cls: type) -> None:
    """Adds `config_cls` to `slot` as variant `name`: from then on it is swappable by name in code, on the
    command line (`python scripts/train.py memory:NAME`) and in sweep and curriculum files.

    `config_cls` is a frozen dataclass whose `build` makes the module, with the slot's signature
    (e.g. memory: `build(in_size, payload_size, *, key)`; see the built-in configs above)."""
    _check_slot(slot)
    if not (dataclasses.is_dataclass(config_cls) and isinstance(config_cls, type)
            and config_cls.__dataclass_params__.frozen and callable(getattr(config_cls, "build", None))):
        raise TypeError(f"a {slot} variant must be a frozen dataclass with a build method, got {config_cls!r}")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"a variant name may hold only letters, digits, '-' and '_', got {name!r}")
    taken = SLOTS[slot].get(name)
    if taken is not None and taken is not config_cls:
        raise ValueError(f"{slot} {name!r} is taken by {taken.__module__}.{taken.__qualname__}")
    if any(config_cls is cls for variants in SLOTS.values() for cls in variants.values()) and taken is None:
        raise ValueError(f"{config_cls.__qualname__} is registered already, under another name")
    SLOTS[slot][name] = config_cls
    globals()[_UNION_NAMES[slot]] = _union(slot)  # AgentConfig's annotations name these: tyro sees the new variant


def import_plugins(modules) -> None:
    """Imports each named module (which `register`s its brain modules), looked up on the path and in the current
    directory; a missing one is an error naming it."""
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            raise ValueError(f"plugin module {module!r} not found ({error}); is it on the path?") from None


def name_of(config) -> str:
    """The registry name of a variant config (the inverse of `variant`)."""
    for variants in SLOTS.values():
        for name, cls in variants.items():
            if type(config) is cls:
                return name
    raise ValueError(f"{type(config).__name__} is not a registered brain variant")


def _union(slot: str):
    return Union[tuple(Annotated[cls, tyro.conf.subcommand(name)] for name, cls in SLOTS[slot].items())]


_UNION_NAMES = {slot: f"{slot.capitalize()}Variant" for slot in SLOTS}
PerceptionVariant, MemoryVariant, PlannerVariant, GateVariant, SituationsVariant = (_union(slot) for slot in SLOTS)


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """An agent: a variant per brain slot, and the timescales and weights that tie them together."""

    # by name, resolved when read (tyro, typing.get_type_hints): a `register`ed variant joins its slot's union
    perception: "PerceptionVariant" = PCConfig()
    memory: "MemoryVariant" = SDRConfig()
    planner: "PlannerVariant" = ActiveInferenceConfig()
    gate: "GateVariant" = BasalGangliaConfig()
    situations: "SituationsVariant" = CompetitiveConfig()
    """a bare count (`situations=64`, `situations = 64` in a file) stands for that many competitive units"""
    motor: Literal["reflexes", "raw"] = "reflexes"
    """reflexes: the brain picks a channel whose innate primitive drives the actuators; raw: its actions do"""
    homeostasis: Literal["on", "off"] = "on"
    """on: preferences are the set-points; off: preferences are the task's external reward"""
    plan_every: int = 50
    """env steps per planning tick, counted in the current life (the channel chosen is held in between); with
    plan_when=drive or surprised, the most steps between two ticks"""
    plan_when: Literal["tick", "drive", "surprised"] = "tick"
    """tick: plan every `plan_every` steps; drive: also when the drive has risen since the last tick; surprised:
    also then or when perception is surprised (Agent.is_tick)"""
    surprise_ratio: float = 1.5
    """kappa: a tick when free energy exceeds kappa times its running mean (plan_when=surprised), >= 1"""
    surprise_rate: float = 0.05
    """rho: the rate of free energy's running mean (plan_when=surprised, learn_when=surprised), in (0, 1]"""
    drive_rise: float = 0.02
    """a tick when the drive has risen this much since the last tick (plan_when=drive or surprised)"""
    learn_every: int = 4
    """env steps per perception learning step (counted, like `plan_every`, in the current life)"""
    learn_when: Literal["always", "surprised"] = "always"
    """always: perception learns every `learn_every` steps; surprised: only at those where its free energy is
    above its running mean (Agent.perception_learns)"""
    select_every: int = 20_000
    """env steps per structural selection step (regrow unused situation units)"""
    levels: int = 15
    """discrete levels per internal variable seen by the planner"""
    preference_precision: float = 30.0
    """beta in ln p(o) = -beta sum_i |u_i|^n: how strongly the planner prefers its set-points"""
    episodic_weight: float = 0.5
    """weight of the episodic value recalled from memory in each channel's salience"""
    habit_weight: float = 0.05
    """weight of habit (how often a channel was chosen lately) in each channel's salience"""
    habit_rate: float = 0.01
    """habit h <- (1 - rate) h + rate onehot(channel) per tick, in [0, 1]"""
    outcome_gain: float = 10.0
    """episodic value = tanh(gain * recalled outcome): drive changes per tick are ~0.01-0.1"""
    reward_levels: int = 3
    """levels of the task's reward over a tick seen by the planner, odd: zero, and (levels - 1) / 2 each side for
    |reward| up to 1 (3: negative, zero, positive)"""

    def __post_init__(self):
        for slot, (cls, field) in COUNTED.items():
            if is_count(getattr(self, slot)):
                object.__setattr__(self, slot, cls(**{field: getattr(self, slot)}))

    def describe(self) -> str:
        """A short name for run folders, e.g. `pc-sdr-active-inference-basal-ganglia`."""
        parts = [name_of(self.perception), name_of(self.memory), name_of(self.planner), name_of(self.gate)]
        return "-".join(parts) + ("" if self.homeostasis == "on" else "-no-homeostasis")


def is_count(value) -> bool:
    """An int (not a bool): what a counted slot may be given instead of a variant."""
    return isinstance(value, int) and not isinstance(value, bool)


NEED_VALUES = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), planner=NeedValueConfig(),
                          gate=ArgmaxConfig(), motor="raw")
"""The brain on raw actuators (agents.value_agent): need values read from a population code of the senses, the
argmax gate over a grid of motor commands, no reflex."""


def default_config(world: str) -> AgentConfig:
    """The default brain for `world`. Mortal worlds: need values on raw actuators (`NEED_VALUES`), except
    mortal/VisualForager-v0, whose 3,072-pixel image is too large for their population code: there, discrete
    active inference over motor reflexes (`AgentConfig()`, also every mortal world's baseline variant). Any other
    task: the model-based planner on raw actions, with identity perception, since the observation of a standard
    task is already a low-dimensional state."""
    if world == "mortal/VisualForager-v0":
        return AgentConfig()
    if world.startswith("mortal/"):
        return NEED_VALUES
    return AgentConfig(perception=IdentityConfig(), planner=ModelBasedConfig(), motor="raw")


POSITIVE = {"preference_precision", "gamma", "lr", "temperature", "learning_rate", "discount",  # reals > 0
            "error_rate", "outcome_rate",
            "motion_rate", "change_unit", "relief_threshold", "safe_drive"}
MAY_BE_ZERO = {"dreams", "forecast_steps", "giving_up_steps"}  # counts >= 0 (every other count must be >= 1)


def _check_fields(config) -> None:
    """Reals finite and >= 0 (> 0 in POSITIVE); counts >= 1 (>= 0 in MAY_BE_ZERO), or None where typed so; a
    choice one of its names."""
    for field in dataclasses.fields(config):
        value, where = getattr(config, field.name), f"{type(config).__name__}.{field.name}"
        if get_origin(field.type) is Literal and value not in get_args(field.type):
            raise ConfigError(f"{where} must be one of {get_args(field.type)}, got {value!r}")
        if field.type is float:
            positive = field.name in POSITIVE
            if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
                raise ConfigError(f"{where} must be finite and {'>' if positive else '>='} 0, got {value}")
        elif field.type in (int, int | None) and value is not None:
            least = 0 if field.name in MAY_BE_ZERO else 1
            if value < least:
                raise ConfigError(f"{where} must be >= {least}, got {value}")


def _check_need_values(cfg: NeedValueConfig) -> None:
    """A NeedValueConfig's upper bounds (`_check_fields` checks the lower ones)."""
    for name in ("trace_decay", "learning_rate", "motion_rate", "change_unit", "explore", "outcome_rate"):
        if getattr(cfg, name) > 1:
            raise ConfigError(f"NeedValueConfig.{name} must be <= 1, got {getattr(cfg, name)}")
    for name in ("discount", "walk_correlation"):
        if getattr(cfg, name) >= 1:
            raise ConfigError(f"NeedValueConfig.{name} must be < 1, got {getattr(cfg, name)}")
    if cfg.levels < 2:
        raise ConfigError(f"NeedValueConfig.levels must be >= 2 (a command either way), got {cfg.levels}")


def _check_context_gate(cfg: ContextGateConfig, planner) -> None:
    """A ContextGateConfig's bounds, and a planner whose learning it can divide (the need values)."""
    if not (isinstance(planner, NeedValueConfig) and planner.events):
        raise ConfigError("the context gate divides the need values' outcome model among contexts: give "
                          "planner:need-values with events=true (AgentConfig.gate, NeedValueConfig.events)")
    if cfg.contexts < 2:
        raise ConfigError(f"ContextGateConfig.contexts must be >= 2 (one context is gate:argmax), got {cfg.contexts}")
    if cfg.surprise_ratio <= 1:
        raise ConfigError(f"ContextGateConfig.surprise_ratio must be > 1, got {cfg.surprise_ratio}")
    if cfg.error_rate > 1:
        raise ConfigError(f"ContextGateConfig.error_rate must be <= 1, got {cfg.error_rate}")


def validate(config: AgentConfig) -> None:
    """Raises a ConfigError naming the first bad field of the config or of its slots' variants."""
    for part in (config, *(getattr(config, slot) for slot in SLOTS)):
        _check_fields(part)
    if isinstance(config.planner, NeedValueConfig):
        _check_need_values(config.planner)
        if not isinstance(config.perception, IdentityConfig):
            raise ConfigError("the need-value planner reads its own tuning-curve code of the readings: give "
                              "perception:identity (AgentConfig.perception)")
        if config.planner.homing == 0 and not isinstance(config.memory, NoMemoryConfig):
            raise ConfigError("the need-value planner recalls from memory only where it goes home: give memory:none, "
                              "or NeedValueConfig.homing > 0 (AgentConfig.memory, NeedValueConfig.homing)")
    if isinstance(config.gate, ContextGateConfig):
        _check_context_gate(config.gate, config.planner)
    if isinstance(config.planner, ModelBasedConfig) and config.planner.discount > 1:
        raise ConfigError(f"ModelBasedConfig.discount must be <= 1, got {config.planner.discount}")
    if config.levels < 3:
        raise ConfigError(f"AgentConfig.levels must be >= 3 to tell low, right and high apart, got {config.levels}")
    if config.surprise_ratio < 1:
        raise ConfigError(f"AgentConfig.surprise_ratio must be >= 1, got {config.surprise_ratio}")
    if not 0 < config.surprise_rate <= 1:
        raise ConfigError(f"AgentConfig.surprise_rate must be in (0, 1], got {config.surprise_rate}")
    if config.habit_rate > 1:
        raise ConfigError(f"AgentConfig.habit_rate must be <= 1, got {config.habit_rate}")
    if config.reward_levels < 3 or config.reward_levels % 2 == 0:
        raise ConfigError(f"AgentConfig.reward_levels must be odd and >= 3 (negative, zero, positive), "
                          f"got {config.reward_levels}")
    if isinstance(config.situations, CompetitiveConfig):
        if config.situations.lr > 1:
            raise ConfigError(f"CompetitiveConfig.lr must be <= 1, got {config.situations.lr}")
        if not 0 < config.situations.usage_decay < 1:
            raise ConfigError(f"CompetitiveConfig.usage_decay must be in (0, 1), got {config.situations.usage_decay}")
