"""The worlds that call for one brain module each (issue 13): Seasons (the gate: regimes that switch unannounced
and return), Oasis (memory: resources at far places that deplete and regrow, place sensed by landmarks) and
VisualForager (perception: the body sees pixels, not bins). Gymnasium's checks, determinism, headless
rendering, checkpoint state, reflexes, and that each demand is real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the worlds)
from agents import checkpoint
from agents.config import AgentConfig, PCConfig, SDRConfig
from agents.loop import Run
from agents.motor import primitives_for
from envs.oasis import OasisEnv
from envs.seasons import SeasonsEnv
from envs.visual import EYE_POSITION, VisualForagerEnv
from envs.state import env_state, restore_env

SHORT = {"mortal/Seasons-v0": dict(season_length=40),  # seasons that change within a short test
         "mortal/Oasis-v0": dict(regrow_steps=60),
         "mortal/VisualForager-v0": {}}
FAST = dict(decay=0.001, item_amount=0.2, regrow_steps=300)  # Oasis lives of ~1,000 steps, oases that sustain


# -- Gymnasium's checks, rendering, determinism, checkpoints ----------------------------------------
@pytest.mark.parametrize("world_id", SHORT)
def test_check_env_passes_and_renders_headless(world_id):
    env = gym.make(world_id, render_mode="rgb_array", width=96, height=96, **SHORT[world_id])
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert set(obs) == {"extero", "intero"} and {"internal_state", "drive", "cause_of_death"} <= set(info)
    frame = env.render()
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8 and frame.std() > 10
    env.close()


def live(world_id: str, seed: int, steps: int) -> tuple[np.ndarray, gym.Env, list[dict]]:
    """A short life under a scripted body that eats (`Remembering`, below: oases deplete, seasons feed it), its
    trace of observations, rewards and events, its infos, and the world left at its last step."""
    env = gym.make(world_id, **SHORT[world_id])
    obs, info = env.reset(seed=seed)
    controller, trace, infos = Remembering(env.unwrapped), [], [info]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(controller(obs))
        trace.append(np.concatenate([obs["extero"], obs["intero"], [reward], info["events"]]))
        infos.append(info)
        if terminated or truncated:
            break
    return np.array(trace), env, infos


def lived(world_id: str, seed: int, steps: int) -> tuple[np.ndarray, list[dict]]:
    """`live`'s trace and infos, the world closed (a seeing body's eye holds a GL context)."""
    trace, env, infos = live(world_id, seed, steps)
    env.close()
    return trace, infos


@pytest.mark.parametrize("world_id", SHORT)
def test_same_seed_same_life_different_seed_differs(world_id):
    first, infos = lived(world_id, seed=4, steps=300)
    assert len(first) == 300 and sum(info["events"].sum() for info in infos) > 0  # it ate on the way
    np.testing.assert_array_equal(first, lived(world_id, seed=4, steps=300)[0])
    assert not np.array_equal(first, lived(world_id, seed=5, steps=300)[0])


@pytest.mark.parametrize("world_id", SHORT)
def test_a_world_saved_as_plain_values_lives_on_in_a_fresh_copy_as_the_original(world_id):
    _, env, _ = live(world_id, seed=2, steps=150)  # past a change of season; oases being eaten
    world = env.unwrapped
    if isinstance(world, OasisEnv):
        assert (world.regrow_at > world.clock).any()  # saved with items missing
    arrays = {}
    saved = checkpoint._decode(json.loads(json.dumps(checkpoint._encode(env_state(env), arrays))), arrays)
    fresh = gym.make(world_id, **SHORT[world_id])
    fresh.reset(seed=99)
    restore_env(fresh, saved)
    rng = np.random.default_rng(0)
    for _ in range(100):
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        (obs, reward, *ends, info), again = env.step(action), fresh.step(action)
        for part in obs:
            np.testing.assert_array_equal(obs[part], again[0][part])
        assert (reward, *ends, info.get("season")) == (again[1], *again[2:4], again[4].get("season"))
    env.close()
    fresh.close()


# -- Seasons: the regimes switch and return, and what an item nourishes changes with them --------------
def test_the_seasons_follow_the_schedule_and_return():
    env = gym.make("mortal/Seasons-v0", season_length=40, schedule=(0, 1))
    _, info = env.reset(seed=0)
    assert info["season"] == 0  # the season of the first step
    seasons = [env.step(np.zeros(2, np.float32))[4]["season"] for _ in range(200)]  # of the step just lived
    assert seasons == [0] * 40 + [1] * 40 + [0] * 40 + [1] * 40 + [0] * 40
    assert gym.make("mortal/Seasons-v0").unwrapped.season_length == 5000  # the documented default


def test_what_an_item_nourishes_changes_with_the_season():
    env = gym.make("mortal/Seasons-v0", season_length=3).unwrapped
    env.reset(seed=0, options={"internal_state": [0.0, 0.0]})
    food = int(np.flatnonzero(env.item_kind == 0)[0])
    gains = []
    for _ in range(6):  # seasons 0, 0, 0, 1, 1, 1: a food item under the robot at every step
        before = env.internal_state.copy()
        env.item_xy[food] = env.data.qpos[:2]
        _, _, _, _, info = env.step(np.zeros(2, np.float32))
        gains.append(np.round(info["internal_state"] - before + env.physiology.decay, 9).tolist())
    assert gains == [[0.1, 0.0]] * 3 + [[0.0, 0.1]] * 3  # food items feed food, then water
    assert "season" not in env.observation_space.spaces and env.observation_space["extero"].shape == (43,)


@pytest.mark.parametrize("bad, message", [(dict(season_length=0), "season_length"),
                                          (dict(schedule=(0, 2)), "outside 0..1"),
                                          (dict(schedule=(1, 1)), "two different regimes")])
def test_bad_seasons_get_named_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        SeasonsEnv(**bad)


# -- Oasis: far places, depletion and regrowth, landmarks, and memory that pays -----------------------
def test_oases_lie_beyond_sensing_of_each_other_and_the_posts_are_seen_from_everywhere():
    env = OasisEnv()
    centres = np.array([(x, y) for x, y, _ in env.oases])
    oasis_of = np.argmin(np.linalg.norm(env.homes[:, None] - centres[None], axis=2), axis=1)
    apart = np.linalg.norm(env.homes[:, None] - env.homes[None], axis=2)[oasis_of[:, None] != oasis_of[None]]
    assert apart.min() > 2 * env.sensing_range  # nothing of one oasis is sensed from another, or between them
    env.reset(seed=0)
    for corner in ((-7.7, -7.7), (7.7, 7.7), (0.0, 0.0)):
        env.data.qpos[:2] = corner
        posts = env._get_obs()["extero"][env.sensor_slices()["yellow post"].start:].reshape(4, -1)
        assert (posts.max(axis=1) > 0).all()
    env.close()


def test_an_eaten_item_is_gone_for_the_regrowth_time_then_back_at_its_place():
    env = gym.make("mortal/Oasis-v0", regrow_steps=5).unwrapped
    env.reset(seed=0, options={"internal_state": [-0.5, -0.5]})
    home = env.homes[0].copy()
    env.data.qpos[:2] = home  # on the first food item
    _, _, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["events"].tolist() == [1.0, 0.0]
    env.data.qpos[:3] = [*(home + [1.0, 0.0]), 0.0]  # 1 m east of its place, facing east: it lies in bin 10
    food, seen, shown = env.sensor_slices()["food"], [], []
    for _ in range(6):
        obs, _, _, _, info = env.step(np.zeros(2, np.float32))
        seen.append(round(float(obs["extero"][food][10]), 3))
        shown.append(env.data.mocap_pos[0, 2] > 0)
        assert info["events"].sum() == 0 and (obs["extero"][food][[9, 11]] > 0).all()  # the oasis's other two
    assert seen == [0.0] * 4 + [round(1 - 1 / env.sensing_range, 3)] * 2 and shown == [False] * 4 + [True] * 2
    np.testing.assert_array_equal(env.item_xy[0], home)


def test_approaching_a_post_leads_to_its_oasis():
    env = gym.make("mortal/Oasis-v0")
    reflexes = primitives_for(env)
    assert reflexes.names[:6] == ("approach food", "approach water", *(f"approach {c} post" for c in
                                                                      ("yellow", "magenta", "cyan", "white")))
    env.reset(seed=1, options={"internal_state": [-0.5, -0.5]})
    env.unwrapped.data.qpos[:3] = [-2.0, 7.0, -np.pi / 2]  # near the north-west (water) oasis, facing south
    obs, eaten = env.unwrapped._get_obs(), np.zeros(2)
    for channel, steps in (("approach yellow post", 350), ("approach food", 100)):
        for _ in range(steps):
            command = reflexes.command(reflexes.names.index(channel), obs["extero"].astype(np.float64))
            obs, _, _, _, info = env.step(command.astype(np.float32))
            eaten += info["events"]
    assert eaten[0] >= 1 and eaten[1] == 0  # the yellow post's corner sees the north-east oasis, which holds food
    env.close()


class Needs:
    """What a scripted body goes for: one resource until sated (above 0.1), unless the other falls 0.3 lower."""

    def __init__(self, world: OasisEnv | SeasonsEnv | VisualForagerEnv):
        self.world, self.reflexes, self.slices, self.need = world, primitives_for(world), world.sensor_slices(), 0

    def __call__(self, obs) -> np.ndarray:
        intero = obs["intero"]
        if intero[self.need] > 0.1 or intero.min() < intero[self.need] - 0.3:
            self.need = int(np.argmin(intero))
        _, seen = self.reflexes.sense.bearings(obs["extero"].astype(np.float64))  # bins or pixels of the kind
        if seen[self.kind()]:
            return self._command(self.kind(), obs)
        return self._unseen(obs).astype(np.float32)

    def kind(self) -> int:
        """The item kind it goes for: the need's own (as in the Forager, and Seasons' first regime)."""
        return self.need

    def _command(self, channel: int, obs) -> np.ndarray:
        return self.reflexes.command(channel, obs["extero"].astype(np.float64)).astype(np.float32)

    def _unseen(self, obs) -> np.ndarray:
        """The command while the resource needed is not sensed."""
        return self._command(self.reflexes.names.index("explore"), obs)


class Seasoned(Needs):
    """Knows the season: goes for the kind that feeds the need now (in regime k kind i feeds (i + k) mod n)."""

    def kind(self) -> int:
        return (self.need - self.world.season) % len(self.world.resources)


class Remembering(Needs):
    """Knows where the oases are: with the resource needed unseen, steers (by its true pose) to the nearest oasis
    of that kind it has not found empty within the regrowth time."""

    def __init__(self, world: OasisEnv | SeasonsEnv):
        super().__init__(world)
        self.empty_until = np.zeros(len(getattr(world, "oases", ())))

    def _unseen(self, obs) -> np.ndarray:
        world, xy = self.world, self.world.data.qpos[:2]
        if not isinstance(world, OasisEnv):
            return super()._unseen(obs)
        places = [i for i, (*_, kind) in enumerate(world.oases) if kind == world.resources[self.need]]
        distance = {i: np.hypot(*(np.array(world.oases[i][:2]) - xy)) for i in places}
        for i in places:
            if distance[i] < world.sensing_range - 0.6:  # close enough to see its items, and none there
                self.empty_until[i] = world.clock + world.regrow_steps
        goal = min(places, key=lambda i: (self.empty_until[i] > world.clock, distance[i]))
        x, y, yaw = world.data.qpos[:3]
        error = (np.arctan2(world.oases[goal][1] - y, world.oases[goal][0] - x) - yaw + np.pi) % (2 * np.pi) - np.pi
        forward, turn = np.clip(np.cos(error), 0, 1), np.clip(2 * error / np.pi, -1, 1)
        return np.array([forward - turn, forward + turn])


class Searching(Needs):
    """Only reacts to what it senses: with the resource needed unseen, explores straight ahead and, stopped by a
    wall, turns on the spot for a random while."""

    def __init__(self, world: OasisEnv, seed: int):
        super().__init__(world)
        self.rng, self.turning, self.straight = np.random.default_rng(seed), 0, 0

    def _unseen(self, obs) -> np.ndarray:
        self.straight = 0 if self.turning else self.straight + 1
        if self.straight > 20 and obs["extero"][self.slices["velocity"]][0] < 0.3:  # stopped by a wall
            self.turning = int(self.rng.integers(10, 40))
        channel = self.reflexes.names.index("turn" if self.turning else "explore")
        self.turning = max(self.turning - 1, 0)
        return self._command(channel, obs)


def lifetime(controller, env: gym.Env, seed: int, cap: int) -> int:
    obs, _ = env.reset(seed=seed)
    for step in range(1, cap + 1):
        obs, _, terminated, _, _ = env.step(controller(obs))
        if terminated:
            break
    return step


def test_on_hungry_seasons_a_body_that_knows_the_season_outlives_one_that_eats_as_in_the_first():
    fast = tuple(10 * np.array(envs.HUNGRY_DECAY))  # its lives ten times shorter, seasons too
    env = gym.make("mortal/HungrySeasons-v0", season_length=500, decay=fast)
    knowing = np.array([lifetime(Seasoned(env.unwrapped), env, seed, cap=3000) for seed in range(3)])
    naive = np.array([lifetime(Needs(env.unwrapped), env, seed, cap=3000) for seed in range(3)])
    env.close()
    assert (knowing > naive).all() and (knowing - naive).mean() > 200, (knowing, naive)


def test_a_body_that_remembers_the_oases_outlives_one_that_searches_afresh():
    env = gym.make("mortal/Oasis-v0", **FAST)
    remembering = np.array([lifetime(Remembering(env.unwrapped), env, seed, cap=1300) for seed in range(3)])
    searching = np.array([lifetime(Searching(env.unwrapped, seed), env, seed, cap=1300) for seed in range(3)])
    env.close()
    assert (remembering >= searching).all() and (remembering - searching).mean() > 150, (remembering, searching)


@pytest.mark.parametrize("bad, message", [(dict(items=(3, 3)), "drop the items keyword"),
                                          (dict(oases=((5.0, 5.0, "food"),)), r"no oasis of \['water'\]"),
                                          (dict(oases=((5.0, 5.0, "food"), (0.0, 0.0, "salt"))), "salt"),
                                          (dict(oases=((9.0, 0.0, "food"), (0.0, 0.0, "water"))), "beyond the arena")])
def test_bad_oases_get_named_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        OasisEnv(**bad)


# -- VisualForager: the body sees pixels, and innate colour reflexes steer by them ---------------------
def staged(yaw: float) -> VisualForagerEnv:
    """A seeing body at the arena's centre, heading `yaw`, one food item 1 m east of it; every other item in
    the south-west corner (behind the body for |yaw| < pi / 4, out of its 90 degree view)."""
    env = gym.make("mortal/VisualForager-v0").unwrapped
    env.reset(seed=0)
    env.item_xy[:] = (-2.6, -2.6)
    env.item_xy[0] = (1.0, 0.0)
    env.data.mocap_pos[:, :2] = env.item_xy
    env.data.qpos[:3] = (0.0, 0.0, yaw)
    return env


def red_columns(image: np.ndarray) -> np.ndarray:
    """The columns of the pixels that look like a food item (saturated red), by a rule of the test's own."""
    r, g, b = np.moveaxis(image.astype(float), -1, 0)
    return np.nonzero((r > 120) & (r > 2.5 * np.maximum(g, b)))[1]


def test_the_eye_sees_what_the_body_turns_towards():
    env = staged(yaw=np.pi / 2)  # facing north: the food lies 90 degrees to the right, out of view
    assert env.image_size == 32 and env.observation_space["extero"].shape == (32 * 32 * 3 + 3,)
    away = env.image()
    assert red_columns(away).size == 0 and away.std() > 10  # floor, wall and sky, but no food
    columns = {}
    for yaw in (0.4, 0.0, -0.4):  # turning towards the food and past it (counter-clockwise yaw is to the left)
        env.data.qpos[2] = yaw
        obs = env._get_obs()
        image = env.image()
        np.testing.assert_array_equal(obs["extero"][: image.size], image.ravel() / np.float32(255))
        columns[yaw] = red_columns(image)
        assert columns[yaw].size >= 4 and not np.array_equal(image, away)
    assert columns[0.4].mean() > 20 and abs(columns[0.0].mean() - 15.5) < 1.5 and columns[-0.4].mean() < 11
    env.close()


@pytest.mark.parametrize("degrees", [0.0, 25.0, -30.0])
def test_the_colour_reflex_bears_on_the_item_it_sees_and_goes_straight_without(degrees):
    env = staged(yaw=-np.radians(degrees))  # the food at `degrees` counter-clockwise of the heading
    reflexes = primitives_for(env)
    assert reflexes.names == ("approach food", "approach water", "explore", "turn", "rest")
    extero = env._get_obs()["extero"]
    (food, water), seen = reflexes.sense.bearings(extero.astype(np.float64))
    assert seen.tolist() == [True, False]
    ahead, left = np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))]) - EYE_POSITION[:2]
    assert abs(np.degrees(food - np.arctan2(left, ahead))) < 3.0  # as seen from the eye; within 90 / 32 degrees
    left, right = reflexes.command(0, extero.astype(np.float64))
    assert np.sign(right - left) == np.sign(degrees) if degrees else abs(right - left) < 0.1  # turns towards it
    np.testing.assert_array_equal(reflexes.command(1, extero), reflexes.command(2, extero))  # no water: straight
    on_device = jax.jit(reflexes.commands)(jnp.asarray(extero))
    np.testing.assert_allclose(on_device, reflexes.commands(extero), atol=1e-6)
    env.close()


def test_approaching_food_by_sight_reaches_food_from_more_starts_than_exploring():
    env = gym.make("mortal/VisualForager-v0")
    reflexes = primitives_for(env)

    def foods(channel: str, seed: int, steps: int = 200) -> float:
        obs, _ = env.reset(seed=seed)
        eaten = 0.0
        for _ in range(steps):
            command = reflexes.command(reflexes.names.index(channel), obs["extero"].astype(np.float64))
            obs, _, _, _, info = env.step(command.astype(np.float32))
            eaten += info["events"][0]
        return eaten

    approaching = np.array([foods("approach food", seed) for seed in range(6)])
    exploring = np.array([foods("explore", seed) for seed in range(6)])
    env.close()
    assert (approaching > 0).sum() >= 4 and (approaching > 0).sum() > (exploring > 0).sum(), (approaching, exploring)
    assert approaching.sum() >= 2 * exploring.sum(), (approaching, exploring)


def test_a_seeing_world_left_open_exits_quietly():
    script = ("import gymnasium as gym, envs; world = gym.make('mortal/VisualForager-v0'); world.reset(seed=0); "
              "world.step(world.action_space.sample())")  # never closed: its eye is freed at exit
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "MUJOCO_GL": "egl"}, cwd=Path(__file__).resolve().parents[1])
    assert ended.returncode == 0 and "Exception ignored" not in ended.stderr, ended.stderr


@pytest.mark.parametrize("bad, message", [(dict(num_bins=8), r"drop \['num_bins'\]"),
                                          (dict(tuning=1.0), r"drop \['tuning'\]"),
                                          (dict(image_size=4), "image_size"),
                                          (dict(field_of_view=200.0), "field_of_view"),
                                          (dict(tilt=50.0), "tilt")])
def test_bad_eyes_get_named_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        VisualForagerEnv(**bad)


def test_the_default_brain_at_small_sizes_lives_on_pixels():
    config = AgentConfig(perception=PCConfig(latent=8, hidden=(16,), steps=4),
                         memory=SDRConfig(modules=4, cells=8, input_bits=64, active_bits=8),
                         plan_every=5, learn_every=2, select_every=50, levels=5, situations=4)
    run, trace = Run.start(config, "mortal/VisualForager-v0", population=1, seed=0), []
    assert run.population.states.brain.perception.in_size == 32 * 32 * 3 + 3  # it perceives the pixels themselves
    run.train(50, on_step=lambda t, info, record, obs: trace.append(info))
    run.envs.close()
    channel = np.stack([info["channel"] for info in trace])
    assert run.record.steps == 50 and np.all((channel >= 0) & (channel < 5))
    assert all(np.isfinite(info["free_energy"]).all() and np.isfinite(info["drive"]).all() for info in trace)
