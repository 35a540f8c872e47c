"""Curricula, the mortal computer's way: one agent lives through a sequence of lessons in one continuous life.

    curriculum = load_curriculum("scripts/curricula/forager.toml")
    report = teach(curriculum, AgentConfig(perception=PCConfig(contexts=3)), save_to="runs/x/checkpoint.ckpt")
    report = teach(curriculum, config, save_to="runs/x/checkpoint.ckpt", resume="runs/x/checkpoint.ckpt")  # go on

A curriculum file (TOML):

    name = "forager"
    body = "mortal/ThermalForager-v0"  # the body every lesson is lived in (default: the last lesson's world)
    population = 4                     # agents taught side by side, each its own life (default 1)
    seed = 0
    mortal = false                     # strict mortal mode: a death ends that agent's life, and its curriculum

    [[lessons]]
    name = "food"
    world = "mortal/FoodOnly-v0"
    settings = { arena_half_width = 1.5 }  # keyword arguments of the world (default none)
    steps = 30_000                     # the lesson's step budget
    feedback = "homeostatic"           # or "demonstration": a teacher shows the way first
    demonstration_steps = 0            # with "demonstration": how many of the lesson's first steps it shows
    mastery = { survival = 0.9, horizon = 20_000, check_every = 10_000 }

The agent is never re-initialised: the worlds change under it (through `envs.Embodied`, so its sensors, internal
variables and motor channels stay the same), and the teacher announces each lesson (`Agent.enter`: the perception's
plasticity gate gives the lesson units of its own, and structural selection prunes the least used situation unit
and regrows it at the lesson's first percept). Feedback is the homeostatic reward the world gives; a "demonstration" lesson adds a
teacher who, at each planning tick, cues the channel that serves the most urgent need (cool when hot, shade when
warm, else the scarcest resource; on raw actuators, the command nearest the reflex that would serve it) and the
agent follows it, learning from what follows.

Mastery: every `check_every` steps the lesson is tested. A test gives each agent one fresh life in the lesson's
world, up to `horizon` steps, lived by a copy of its brain that does not learn; its score is the mean of
survival / horizon over the agents still alive in the curriculum. The lesson is mastered at the first test that
scores at least `survival`; the next lesson begins then, or when the budget runs out (not mastered). Deaths while
learning are recorded (agent, lesson, step, cause); in strict mortal mode a death ends that agent's life for good.
At the end every lesson is tested again, announced as before: its retention is that score over its mastery score.

Checkpoints (`agents.checkpoint`, with the curriculum, the lesson and the reports so far) are saved at each
lesson's start, every `checkpoint_every` of its steps and after the last lesson; a run resumed from one reports
exactly what it would have reported had it never stopped (living in pieces is living in one).
"""

import contextlib
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from agents import checkpoint
from agents.config import AgentConfig, PCConfig
from agents.loop import Run, make_vector_env
from agents.motor import ForagerReflexes, primitives_for
from agents.spec import SpecError, from_table, is_a, load_toml, world_id

TEST_SEED = 1_000_000  # test worlds are seeded apart from every learning world


@dataclasses.dataclass(frozen=True)
class Mastery:
    """When a lesson counts as learnt."""

    survival: float = 0.9
    """mastered when test lives survive, on average, at least this fraction of the horizon"""
    horizon: int = 20_000
    """test lives last at most this many steps"""
    check_every: int = 10_000
    """lesson steps between tests"""


@dataclasses.dataclass(frozen=True)
class Lesson:
    """One world to live in, for a budget of steps, until mastery."""

    name: str
    world: str
    steps: int
    """the lesson's step budget (per agent)"""
    settings: dict = dataclasses.field(default_factory=dict)
    """keyword arguments of the world"""
    feedback: Literal["homeostatic", "demonstration"] = "homeostatic"
    """homeostatic reward only, or a teacher's demonstration first"""
    demonstration_steps: int = 0
    """with feedback = "demonstration": how many of the lesson's first steps the teacher shows"""
    mastery: Mastery = Mastery()


@dataclasses.dataclass(frozen=True)
class Curriculum:
    """Lessons in order, the body that lives them, and how many agents are taught side by side."""

    name: str
    lessons: tuple[Lesson, ...]
    body: str | None = None
    """the mortal world whose body every lesson is lived in (default: the last lesson's world)"""
    population: int = 1
    seed: int = 0
    mortal: bool = False
    """strict mortal mode: a death ends that agent's life, and with it its curriculum"""

    @property
    def body_world(self) -> str:
        return self.body or self.lessons[-1].world


# -- the curriculum file ---------------------------------------------------------------------------
def load_curriculum(path: str | Path) -> Curriculum:
    """Reads and checks a TOML curriculum; any problem is a `SpecError` naming the file and the field."""
    return load_toml(path, "curriculum", lambda data: parse_curriculum(data, default_name=Path(path).stem))


def parse_curriculum(data: dict, default_name: str = "curriculum") -> Curriculum:
    """A `Curriculum` from a parsed TOML table (see the module docstring for the format)."""
    curriculum = from_table(
        Curriculum, {"name": default_name, **data}, lessons=_lessons, body=lambda v, at: world_id(v, at)
    )
    if not re.fullmatch(r"[\w.-]+", curriculum.name):
        raise SpecError(f"field 'name' may hold only letters, digits, '_', '-' and '.', got {curriculum.name!r}")
    for field, least in (("population", 1), ("seed", 0)):
        if getattr(curriculum, field) < least:
            raise SpecError(f"field {field!r} must be >= {least}, got {getattr(curriculum, field)}")
    names = [lesson.name for lesson in curriculum.lessons]
    if len(set(names)) != len(names):
        raise SpecError(f"field 'lessons' repeats a lesson name: {names}")
    return curriculum


def _lessons(value, where: str) -> tuple[Lesson, ...]:
    if not (is_a(value, list) and value):
        raise SpecError(f"field {where!r} must be a non-empty array of tables ([[lessons]]), got {value!r}")
    return tuple(_lesson(table, f"{where}[{i}]") for i, table in enumerate(value))


def _lesson(table, where: str) -> Lesson:
    lesson = from_table(Lesson, table, where, world=world_id)
    checks = (("steps", lesson.steps, 1), ("demonstration_steps", lesson.demonstration_steps, 0),
              ("mastery.horizon", lesson.mastery.horizon, 1), ("mastery.check_every", lesson.mastery.check_every, 1))
    for field, value, least in checks:
        if value < least:
            raise SpecError(f"field '{where}.{field}' must be >= {least}, got {value}")
    if not 0 < lesson.mastery.survival <= 1:
        raise SpecError(f"field '{where}.mastery.survival' must lie in (0, 1], got {lesson.mastery.survival}")
    if lesson.demonstration_steps and lesson.feedback != "demonstration":
        raise SpecError(f"field '{where}.demonstration_steps' needs feedback = \"demonstration\"")
    for key, value in lesson.settings.items():
        if not (is_a(value, (int, float, str, bool)) or isinstance(value, list)):
            raise SpecError(f"field '{where}.settings.{key}' must be a number, string, boolean or array, got {value!r}")
    return lesson


# -- teaching --------------------------------------------------------------------------------------
@dataclasses.dataclass
class LessonReport:
    """What happened in one lesson, and how much of it was kept at the end."""

    name: str
    world: str
    steps: int = 0  # steps lived in the lesson (per agent)
    steps_to_mastery: int | None = None
    mastery_score: float = 0.0  # the score of the mastering test (or of the last test, if never mastered)
    tests: list[tuple[int, float]] = dataclasses.field(default_factory=list)  # (lesson step, score)
    deaths: list[dict] = dataclasses.field(default_factory=list)  # agent, lesson step, cause
    final_score: float | None = None  # the score of the test at the end of the curriculum
    retention: float | None = None  # final_score / mastery_score

    @property
    def mastered(self) -> bool:
        return self.steps_to_mastery is not None


def teach(curriculum: Curriculum, config: AgentConfig, *, log=print, save_to: str | Path | None = None,
          checkpoint_every: int = 10_000, resume: str | Path | None = None) -> list[LessonReport]:
    """Teaches `curriculum` to newborn agents with brain `config`; returns one report per lesson.

    With `save_to` (a checkpoint path), the run is saved at each lesson's start, every `checkpoint_every` of its
    steps, and after the last lesson; `resume` goes on from such a checkpoint of the same curriculum and brain,
    and ends as if it had never stopped.
    """
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1 step, got {checkpoint_every}")
    body, n, lessons = curriculum.body_world, curriculum.population, curriculum.lessons
    if resume is None:
        run = Run.start(config, lessons[0].world, n, curriculum.seed, body=body, **lessons[0].settings)
        first, reports = 0, []
        alive = np.ones(n, bool)  # in the curriculum (strict mortal mode takes the dead out)
    else:
        run, first, reports, alive = _resumed(resume, curriculum, config)
    _check_contexts(run, len(lessons))
    teacher = Teacher.of(run)
    bar = tqdm(total=sum(lesson.steps for lesson in lessons), initial=sum(r.steps for r in reports), unit="step",
               desc=f"curriculum {curriculum.name}", disable=None, mininterval=2)

    def save(at_lesson: int) -> None:
        if save_to is not None:
            checkpoint.save(run, save_to, extra={"curriculum": dataclasses.asdict(curriculum), "lesson": at_lesson,
                                                 "reports": [dataclasses.asdict(r) for r in reports], "alive": alive})

    for index in range(first, len(lessons)):
        lesson = lessons[index]
        if index == len(reports):  # the lesson begins (else it was begun before the checkpoint resumed from)
            reports.append(LessonReport(lesson.name, lesson.world))
            if index > 0:
                run.envs.close()
                run.envs = make_vector_env(lesson.world, n, curriculum.seed + index * n, body=body, **lesson.settings)
                run.world, run.settings = lesson.world, dict(lesson.settings)
            run.begin_lives(curriculum.seed + index * n, context=index)
        report = reports[index]
        start, lesson_start = time.perf_counter(), run.record.steps - report.steps
        with _test_worlds(lesson, n, body) as worlds:
            while report.steps < lesson.steps and alive.any():
                if report.steps % checkpoint_every == 0:
                    save(index)
                showing = lesson.feedback == "demonstration" and report.steps < lesson.demonstration_steps
                until_check = lesson.mastery.check_every - report.steps % lesson.mastery.check_every
                until_save = checkpoint_every - report.steps % checkpoint_every
                chunk = min(until_check, until_save, lesson.steps - report.steps)
                if showing:
                    chunk = min(chunk, lesson.demonstration_steps - report.steps)
                lives_before = len(run.record.lives)
                run.train(chunk, teacher=teacher if showing else None)
                bar.update(chunk)
                _record_deaths(run.record.lives[lives_before:], report, lesson_start, alive, curriculum.mortal)
                report.steps += chunk
                if not alive.any():
                    break
                if report.steps % lesson.mastery.check_every and report.steps < lesson.steps:
                    continue
                score = _score(run.exam(worlds, TEST_SEED + index * 1000 + len(report.tests) * n, context=index),
                               lesson, alive)
                report.tests.append((report.steps, score))
                log(f"[{lesson.name}] step {report.steps}: test score {score:.3f}, deaths so far "
                    f"{len(report.deaths)} ({time.perf_counter() - start:.0f} s)")
                report.mastery_score = score
                if score >= lesson.mastery.survival:
                    report.steps_to_mastery = report.steps
                    break
        if not alive.any():
            log(f"every agent died in lesson {lesson.name!r}: the curriculum ends there")
            break
    bar.close()
    save(len(lessons))
    for index, (lesson, report) in enumerate(zip(lessons, reports) if alive.any() else ()):  # retention
        with _test_worlds(lesson, n, body) as worlds:
            report.final_score = _score(run.exam(worlds, TEST_SEED + 999_000 + index * n, context=index), lesson,
                                        alive)
        report.retention = report.final_score / report.mastery_score if report.mastery_score > 0 else None
        log(f"[{lesson.name}] at the end: score {report.final_score:.3f}, retention {report.retention}")
    run.envs.close()
    return reports


def _resumed(path: str | Path, curriculum: Curriculum, config: AgentConfig):
    """The run, the lesson it is in, the reports so far and who is alive, from a checkpoint `teach` saved."""
    run, extra = checkpoint.load_with_extra(path, expect=config)
    if not extra or "curriculum" not in extra:
        run.envs.close()
        raise checkpoint.CheckpointError(f"checkpoint {path} was not saved by a curriculum")
    ours, theirs = json.loads(json.dumps(dataclasses.asdict(curriculum))), json.loads(json.dumps(extra["curriculum"]))
    if ours != theirs:
        run.envs.close()
        raise checkpoint.CheckpointError(f"checkpoint {path} was made by another curriculum (fields: "
                                         f"{[k for k in ours if ours[k] != theirs.get(k)]})")
    reports = [LessonReport(**{**r, "tests": [tuple(test) for test in r["tests"]]}) for r in extra["reports"]]
    return run, int(extra["lesson"]), reports, np.array(extra["alive"], bool)


class Teacher:
    """Demonstrates homeostasis: at each step moves each agent's body as the reflex (`agents.motor`) that serves
    its most urgent need would, through the agent's own motor channels.

    Deviations u = (h - h*) / scale: too hot (u > 0.8) -> cool; hot (u > 0.4) -> approach shade; otherwise
    approach the resource furthest below its set-point, or rest when none is below. The cue is the agent's channel
    whose command is nearest the reflex's: the reflex itself for a brain over the reflexes, the nearest raw command
    for a brain on raw actuators. (A fair teacher, not a perfect one: on mortal/ThermalForager-v0, deciding every
    10 steps, it lives about 10,000 steps.)
    """

    def __init__(self, motor, reflexes: ForagerReflexes, physiology):
        self.motor, self.reflexes = motor, reflexes
        self.channels = {name: i for i, name in enumerate(reflexes.names)}
        self.physiology, self.names = physiology, physiology.names
        self.resources = [i for i, name in enumerate(self.names) if f"approach {name}" in self.channels]

    @classmethod
    def of(cls, run: Run) -> "Teacher":
        """The teacher of the agents of `run`, with the reflexes of their body."""
        env = run.envs.envs[0]
        return cls(run.population.agent.motor, primitives_for(env), env.get_wrapper_attr("physiology"))

    def __call__(self, obs) -> np.ndarray:
        reflexes = [self.choose(h) for h in np.asarray(obs.intero)]
        if self.motor.names == self.reflexes.names:
            return np.array(reflexes, np.int32)
        shown = np.stack([self.reflexes.command(c, x) for c, x in zip(reflexes, np.asarray(obs.extero))])
        table = np.asarray(self.motor.table, np.float32)
        return np.argmin(((shown[:, None] - table[None]) ** 2).sum(-1), axis=1).astype(np.int32)

    def choose(self, h: np.ndarray) -> int:
        """The reflex channel that serves the most urgent need of internal state `h`."""
        u = self.physiology.deviation(h)
        if "temperature" in self.names:
            heat = u[self.names.index("temperature")]
            if heat > 0.8 and "cool" in self.channels:
                return self.channels["cool"]
            if heat > 0.4 and "approach shade" in self.channels:
                return self.channels["approach shade"]
        scarcest = min(self.resources, key=lambda i: u[i], default=None)
        if scarcest is None or u[scarcest] >= 0:
            return self.channels.get("rest", 0)
        return self.channels[f"approach {self.names[scarcest]}"]


def summary(reports: list[LessonReport]) -> dict:
    """The figures of a curriculum: lessons mastered, and the lowest retention on an earlier lesson."""
    earlier = [r.retention for r in reports[:-1] if r.retention is not None]
    return {"lessons_mastered": sum(r.mastered for r in reports), "lessons": len(reports),
            "retention_min": min(earlier) if earlier else None}


def _check_contexts(run: Run, lessons: int) -> None:
    """A gated perception must have room for every lesson."""
    perception = getattr(run.population.states.brain, "perception", None)  # the need values have none
    plasticity = getattr(perception, "plasticity", None)
    if plasticity is not None and plasticity.max_contexts < lessons:
        raise ValueError(f"the perception's plasticity gate has room for {plasticity.max_contexts} contexts, but the "
                         f"curriculum has {lessons} lessons: set the perception's contexts to at least {lessons}")


def _record_deaths(lives: list[dict], report: LessonReport, lesson_start: int, alive: np.ndarray,
                   mortal: bool) -> None:
    for life in lives:
        if life["cause_of_death"] and alive[life["env"]]:
            report.deaths.append(dict(agent=int(life["env"]), step=int(life["step"] - lesson_start),
                                      cause=life["cause_of_death"]))
            if mortal:
                alive[life["env"]] = False


def _score(lives: list[dict], lesson: Lesson, alive: np.ndarray) -> float:
    horizon = lesson.mastery.horizon
    return float(np.mean([min(life["survival_steps"], horizon) / horizon for life in lives if alive[life["env"]]]))


@contextlib.contextmanager
def _test_worlds(lesson: Lesson, n: int, body: str):
    """The lesson's world for tests, one per agent, with the mastery horizon as its time limit."""
    worlds = make_vector_env(lesson.world, n, TEST_SEED, body=body, max_episode_steps=lesson.mastery.horizon,
                             **lesson.settings)
    try:
        yield worlds
    finally:
        worlds.close()


def rows(reports: list[LessonReport]) -> list[dict]:
    """One table row per lesson."""
    return [dict(lesson=r.name, world=r.world, steps=r.steps, steps_to_mastery=r.steps_to_mastery or "not mastered",
                 mastery_score=round(r.mastery_score, 3), deaths=len(r.deaths),
                 final_score=None if r.final_score is None else round(r.final_score, 3),
                 retention=None if r.retention is None else round(r.retention, 3)) for r in reports]


def with_contexts(config: AgentConfig, lessons: int) -> AgentConfig:
    """`config` with its pc perception's plasticity gate giving each lesson units of its own."""
    if not isinstance(config.perception, PCConfig):
        raise ValueError(f"only a pc perception has a plasticity gate, not {type(config.perception).__name__}")
    return dataclasses.replace(config, perception=dataclasses.replace(config.perception, contexts=lessons))
