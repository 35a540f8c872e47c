"""Curricula: one body across worlds, per-lesson gating, teaching, mastery, retention, strict mortality, and
curriculum files checked field by field."""

import dataclasses
import json

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from agents import checkpoint, loop
from agents.agent import Observation, build_agent
from agents.config import NEED_VALUES, AgentConfig, PCConfig, SDRConfig
from agents.curriculum import Teacher, load_curriculum, parse_curriculum, summary, teach
from agents.loop import Run, make_vector_env
from agents.motor import primitives_for
from agents.spec import SpecError
from agents.value_agent import sensor_layout
from brain.pc_perception import PCPerception

BODY = "mortal/ThermalForager-v0"
SMALL = AgentConfig(perception=PCConfig(latent=6, hidden=(12,), steps=4, contexts=2),
                    memory=SDRConfig(modules=4, cells=8, input_bits=64, active_bits=8),
                    plan_every=5, learn_every=2, select_every=50, levels=5, situations=4)

TINY = """
name = "tiny"
body = "mortal/ThermalForager-v0"
population = 2
seed = 3

[[lessons]]
name = "food"
world = "mortal/FoodOnly-v0"
steps = 60
mastery = { survival = 0.9, horizon = 40, check_every = 30 }

[[lessons]]
name = "heat"
world = "mortal/ThermalForager-v0"
steps = 40
feedback = "demonstration"
demonstration_steps = 20
mastery = { survival = 0.9, horizon = 40, check_every = 40 }
"""


def curriculum_file(tmp_path, text: str = TINY):
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


# -- one body across worlds ------------------------------------------------------------------------
def test_a_world_is_lived_in_through_the_larger_body():
    env = envs.Embodied(gym.make("mortal/FoodOnly-v0"), BODY)
    body = gym.make(BODY)
    assert env.observation_space == body.observation_space and env.action_space == body.action_space
    assert primitives_for(env) == primitives_for(body), "the agent keeps the body's motor channels"
    assert sensor_layout(env) == sensor_layout(body), "the need values read the body's motion, not the world's slot"
    obs, info = env.reset(seed=0)
    inner = env.unwrapped._get_obs()
    food = body.unwrapped.sensor_slices()["food"]
    np.testing.assert_array_equal(obs["extero"][food], inner["extero"][:20])
    absent = np.ones(64, bool)
    absent[food] = False
    absent[body.unwrapped.sensor_slices()["velocity"]] = False
    assert not obs["extero"][absent].any(), "sensors the world lacks read 0"
    np.testing.assert_allclose(obs["intero"], [inner["intero"][0], 0.0, 38.0])  # water, temperature at set-point
    np.testing.assert_allclose(info["internal_state"][1:], [0.0, 38.0])
    obs, *_ = env.step(np.array([1.0, 1.0, 1.0], np.float32))  # the cooling actuator does nothing here
    assert obs["intero"][2] == 38.0
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize(
    "world, body, message",
    [
        ("mortal/ThermalForager-v0", "mortal/Forager-v0", "sensor 'shade'"),
        ("CartPole-v1", BODY, "named sensors"),
    ],
)
def test_a_world_that_is_not_part_of_the_body_is_refused(world, body, message):
    with pytest.raises(ValueError, match=message):
        envs.Embodied(gym.make(world), body)


# -- per-lesson gating -----------------------------------------------------------------------------
def test_each_context_learns_with_its_own_units_and_leaves_the_others_unchanged():
    perception = PCPerception(10, 6, (12,), action_size=3, contexts=3, key=jax.random.key(0))
    x, y = jax.random.normal(jax.random.key(1), (2, 10))
    state = perception.init_state()
    entered = jax.jit(PCPerception.enter)(perception, state, y, 1)
    own = [np.asarray(o) for o in entered.plasticity.owner]
    assert [int((o == 1).sum()) for o in own] == [2, 4, 0], "context 1 recruits its quota in latent and hidden layers"
    assert [int((o == 0).sum()) for o in own] == [2, 4, 0], "context 0 keeps the units it was born with"
    again = jax.jit(PCPerception.enter)(entered, state, x, 1)  # jitted: eager ops would each compile
    assert all(np.array_equal(a, b) for a, b in zip(again.plasticity.owner, entered.plasticity.owner)), "re-entering recruits nothing"
    state, percept = eqx.filter_jit(PCPerception.perceive)(entered, entered.init_state(), x, key=jax.random.key(2))
    assert np.all(np.asarray(percept.latent)[own[0] != 1] == 0), "only the current context's latents are active"
    learnt = eqx.filter_jit(PCPerception.learn)(entered, state, x)
    other = own[1] != 1
    assert not np.allclose(learnt.stack.weights[0], entered.stack.weights[0])
    np.testing.assert_array_equal(learnt.stack.weights[0][other][:, own[0] != 1],
                                  entered.stack.weights[0][other][:, own[0] != 1])
    np.testing.assert_array_equal(learnt.stack.weights[1][:, own[1] == 0], entered.stack.weights[1][:, own[1] == 0])
    # under vmap (a population), entering a known context must not trip the out-of-units check
    full = jax.jit(jax.vmap(lambda p: p.enter(state, x, 2).enter(state, x, 0)))(
        jax.tree.map(lambda leaf: jnp.stack([leaf, leaf]), entered))
    assert np.all(np.asarray(full.context) == 0)


def test_a_context_beyond_the_gate_is_an_error():
    perception = PCPerception(10, 6, (12,), contexts=2, key=jax.random.key(0))
    with pytest.raises(Exception, match="context out of range"):
        perception.enter(perception.init_state(), jnp.zeros(10), 2)
    with pytest.raises(ValueError, match="contexts must be >= 1"):
        PCPerception(10, 6, (12,), contexts=8, key=jax.random.key(0))


# -- teaching --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """TINY taught once, without checkpoints: the curriculum, its reports, its log, and the population as it entered
    each lesson and each test (context, states)."""
    curriculum = load_curriculum(curriculum_file(tmp_path_factory.mktemp("tiny")))
    lines, entered = [], []
    original = Run.begin_lives

    def spy(run, seed, context=None):
        original(run, seed, context)
        entered.append((context, jax.device_get(run.population.states)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Run, "begin_lives", spy)
        reports = teach(curriculum, SMALL, log=lines.append)
    return curriculum, reports, lines, entered


def test_one_agent_lives_through_every_lesson_and_is_tested_on_each(taught):
    _, reports, lines, _ = taught
    assert [r.name for r in reports] == ["food", "heat"]
    food, heat = reports
    assert food.tests and food.tests[0][0] == 30 and 0 <= food.tests[0][1] <= 1
    assert food.steps in (30, 60) and heat.steps == 40
    assert food.mastered == (food.steps_to_mastery is not None)
    for report in reports:
        assert report.final_score is not None and 0 <= report.final_score <= 1
        if report.mastery_score > 0:
            assert report.retention == pytest.approx(report.final_score / report.mastery_score)
    figures = summary(reports)
    assert figures["lessons"] == 2 and figures["lessons_mastered"] == sum(r.mastered for r in reports)
    assert figures["retention_min"] == food.retention, "retention is reported on the earlier lessons"
    assert any("at the end" in line for line in lines)


def test_the_agent_is_never_reinitialised_and_each_lesson_gets_its_own_context(taught):
    entered = taught[3]
    heat_start = next(states for context, states in entered if context == 1)  # the second lesson's start
    assert int(heat_start.steps.min()) >= 30, "the second lesson begins with the brain the first one left"
    perception = heat_start.brain.perception
    assert np.all(np.asarray(perception.context) == 1)
    owners = np.asarray(perception.plasticity.owner[1])
    assert ((owners == 0).sum(axis=1) == 6).all() and ((owners == 1).sum(axis=1) == 6).all()


def test_entering_a_lesson_regrows_the_least_used_situation_at_its_first_percept():
    env = envs.Embodied(gym.make("mortal/FoodOnly-v0"), BODY)
    agent, state = build_agent(SMALL, env, key=jax.random.key(0))
    state = eqx.tree_at(lambda s: s.brain.situations.wins, state, jnp.array([3.0, 0.5, 2.0, 1.0]))
    extero = jnp.asarray(env.reset(seed=0)[0]["extero"])
    entered = agent.enter(state, extero, 1)
    perception = entered.brain.perception
    _, percept = perception.perceive(perception.init_state(), extero, key=jax.random.key(0))
    situations = entered.brain.situations
    np.testing.assert_allclose(situations.prototypes[1], situations.whiten(percept.latent), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(situations.prototypes)[[0, 2, 3]], np.asarray(state.brain.situations.prototypes)[[0, 2, 3]])
    assert int(perception.context) == 1


def test_a_curriculum_killed_mid_lesson_resumes_to_the_report_it_would_have_made(taught, tmp_path, monkeypatch):
    curriculum, reports, _, _ = taught
    saved, checked = tmp_path / "checkpoint.ckpt", loop.check_finite

    def killed_at_step_25(obs, step):  # in lesson "food", before its first test (at step 30)
        if step == 25:
            raise KeyboardInterrupt
        checked(obs, step)

    monkeypatch.setattr(loop, "check_finite", killed_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        teach(curriculum, SMALL, log=lambda line: None, save_to=saved, checkpoint_every=20)
    monkeypatch.setattr(loop, "check_finite", checked)
    header = checkpoint.read_header(saved)
    assert (header["steps"], header["world"]) == (20, "mortal/FoodOnly-v0"), "the checkpoint before the kill"
    resumed = teach(curriculum, SMALL, log=lambda line: None, save_to=saved, checkpoint_every=20, resume=saved)
    assert [dataclasses.asdict(r) for r in resumed] == [dataclasses.asdict(r) for r in reports]
    assert checkpoint.read_header(saved)["steps"] == sum(r.steps for r in reports), "saved after the last lesson"
    with pytest.raises(checkpoint.CheckpointError, match=r"another curriculum \(fields: \['seed'\]\)"):
        teach(dataclasses.replace(curriculum, seed=4), SMALL, resume=saved)


def test_a_test_leaves_the_learner_exactly_as_it_was_and_its_lives_go_on_whole():
    run = Run.start(SMALL, "mortal/FoodOnly-v0", 2, 0, body=BODY, max_episode_steps=25)
    run.train(10)
    run.train(10)
    before = jax.device_get(run.population.states)
    current, record = run.current, run.record
    worlds = make_vector_env("mortal/FoodOnly-v0", 2, 5, body=BODY, max_episode_steps=15)
    lives = run.exam(worlds, seed=7, context=0)
    assert [life["survival_steps"] for life in lives] == [15, 15]
    after = jax.device_get(run.population.states)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
    assert run.current is current and run.record is record
    run.train(10)
    assert [life["survival_steps"] for life in run.record.lives] == [25, 25], "lives over several calls are whole"


def test_a_demonstration_is_followed_at_every_planning_tick():
    run = Run.start(SMALL, BODY, 2, 0)
    teacher = Teacher.of(run)
    cued, chosen = [], []

    def cue(obs):
        cued.append(teacher(obs))
        return cued[-1]

    run.train(30, teacher=cue, on_step=lambda t, info, record, obs: chosen.append(
        np.where(info["tick"], info["channel"], -1)))
    ticks = np.asarray(chosen) >= 0
    assert ticks.sum() >= 10
    np.testing.assert_array_equal(np.asarray(chosen)[ticks], np.asarray(cued)[ticks])


def test_teacher_serves_the_most_urgent_need():
    physiology = gym.make(BODY).unwrapped.physiology
    reflexes = primitives_for(gym.make(BODY))
    names = reflexes.names
    teacher = Teacher(reflexes, reflexes, physiology)
    assert names[teacher.choose(np.array([0.0, 0.0, 41.5]))] == "cool"
    assert names[teacher.choose(np.array([0.0, 0.0, 40.0]))] == "approach shade"
    assert names[teacher.choose(np.array([-0.2, -0.5, 38.0]))] == "approach water"
    assert names[teacher.choose(np.array([0.1, 0.2, 38.0]))] == "rest"


def test_on_raw_actuators_the_teacher_cues_the_command_nearest_the_reflex_and_the_need_values_follow_it():
    run = Run.start(NEED_VALUES, BODY, 2, 0)
    teacher = Teacher.of(run)
    hungry = np.array([-0.5, 0.0, 38.0])  # food furthest below its set-point, temperature at it
    food = teacher.reflexes.sense.offsets[teacher.reflexes.targets.index("food")]
    extero = np.zeros((2, run.envs.single_observation_space["extero"].shape[0]), np.float32)
    extero[0, food] = 0.9  # food straight ahead: both wheels forward, no sweat
    extero[1, food + teacher.reflexes.sense.num_bins // 4] = 0.9  # food to the left: turn left on the spot
    cues = teacher(Observation(extero=extero, intero=np.stack([hungry, hungry]), reward=np.zeros(2),
                               terminated=np.zeros(2, bool), truncated=np.zeros(2, bool), cue=np.full(2, -1),
                               success=np.zeros(2, bool)))
    np.testing.assert_allclose(run.population.agent.motor.table[cues[0]], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(run.population.agent.motor.table[cues[1]], [-1.0, 1.0, 0.0])
    cued, chosen = [], []

    def cue(obs):
        cued.append(teacher(obs))
        return cued[-1]

    run.train(30, teacher=cue, on_step=lambda t, info, record, obs: chosen.append(info["channel"]))
    np.testing.assert_array_equal(np.asarray(chosen), np.asarray(cued))


def test_in_strict_mortal_mode_a_death_ends_the_life_and_the_report_says_where(tmp_path):
    deadly = TINY.replace('world = "mortal/FoodOnly-v0"\n',
                          'world = "mortal/FoodOnly-v0"\nsettings = { decay = 0.05, initial_spread = 0.0 }\n')
    curriculum = dataclasses.replace(load_curriculum(curriculum_file(tmp_path, deadly)), mortal=True)
    lines = []
    reports = teach(curriculum, SMALL, log=lines.append)
    food = reports[0]
    assert len(food.deaths) == 2, "each agent dies once: its first death ends its life"
    for death in food.deaths:
        assert death["cause"] == "food below viable range" and 0 < death["step"] <= 30
    assert len(reports) == 1 and any("every agent died" in line for line in lines)
    json.dumps([dataclasses.asdict(report) for report in reports])  # the report file can be written


# -- the curriculum file ---------------------------------------------------------------------------
def test_the_shipped_curriculum_loads():
    curriculum = load_curriculum("scripts/curricula/forager.toml")
    assert [lesson.world for lesson in curriculum.lessons] == [
        "mortal/FoodOnly-v0", "mortal/Forager-v0", "mortal/ThermalForager-v0"]
    assert curriculum.body_world == BODY


@pytest.mark.parametrize(
    "change, message",
    [
        (('name = "food"\n', ""), "missing required field 'lessons\\[0\\].name'"),
        (("steps = 60", "steps = 0"), "field 'lessons\\[0\\].steps' must be >= 1"),
        (("steps = 60", "steps = \"long\""), "field 'lessons\\[0\\].steps' must be an integer"),
        (('world = "mortal/FoodOnly-v0"', 'world = "mortal/Nowhere-v0"'), "field 'lessons\\[0\\].world': .*Nowhere"),
        (("survival = 0.9, horizon = 40, check_every = 30", "survival = 1.5, horizon = 40, check_every = 30"),
         "field 'lessons\\[0\\].mastery.survival' must lie in"),
        (("horizon = 40, check_every = 30", "horizon = 40, check_evry = 30"), "unknown field 'lessons\\[0\\].mastery.check_evry'"),
        (('feedback = "demonstration"', 'feedback = "shouting"'), "field 'lessons\\[1\\].feedback' must be one of"),
        (("population = 2", "population = 0"), "field 'population' must be >= 1"),
        (("population = 2", "populaton = 2"), "unknown field 'populaton'"),
        (('body = "mortal/ThermalForager-v0"', "body = 3"), "field 'body' must be a Gymnasium id"),
        (('name = "heat"', 'name = "food"'), "field 'lessons' repeats a lesson name"),
        (("seed = 3", "seed = 3\nmortal = \"yes\""), "field 'mortal' must be a boolean"),
        (('name = "tiny"', 'name = "tiny'), "not valid TOML"),
    ],
)
def test_malformed_curricula_are_errors_naming_the_field(tmp_path, change, message):
    old, new = change
    assert old in TINY
    with pytest.raises(SpecError, match=message) as error:
        load_curriculum(curriculum_file(tmp_path, TINY.replace(old, new, 1)))
    assert "tiny.toml" in str(error.value), "the error names the file"


def test_curricula_of_the_wrong_shape_are_errors_naming_the_field(tmp_path):
    with pytest.raises(SpecError, match="no curriculum at"):
        load_curriculum(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="missing required field 'lessons'"):
        parse_curriculum({"name": "x"})
    with pytest.raises(SpecError, match="field 'lessons' must be a non-empty array of tables"):
        parse_curriculum({"lessons": []})
    with pytest.raises(SpecError, match="field 'lessons\\[0\\]' must be a table"):
        parse_curriculum({"lessons": ["food"]})
    lesson = {"name": "a", "world": "mortal/FoodOnly-v0", "steps": 5}
    with pytest.raises(SpecError, match="demonstration_steps' needs feedback"):
        parse_curriculum({"lessons": [{**lesson, "demonstration_steps": 3}]})
    with pytest.raises(SpecError, match="settings.items' must be a number"):
        parse_curriculum({"lessons": [{**lesson, "settings": {"items": {"food": 3}}}]})


def test_an_ungated_perception_with_too_few_contexts_is_refused(tmp_path):
    curriculum = load_curriculum(curriculum_file(tmp_path))
    three = dataclasses.replace(curriculum, lessons=curriculum.lessons + (
        dataclasses.replace(curriculum.lessons[0], name="again"),))
    with pytest.raises(ValueError, match="room for 2 contexts, but the curriculum has 3 lessons"):
        teach(three, SMALL, log=lambda line: None)
