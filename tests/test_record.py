"""scripts/record.py and agents.recording: videos that decode and show the brain, side-by-side videos, a Minari
dataset that replays, plots, TensorBoard clips."""

import os
import runpy
import struct
import sys
from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import jax
import minari
import numpy as np
import pytest

from tensorboardX import SummaryWriter
from tensorboardX.proto.event_pb2 import Event

from agents import checkpoint
from agents.config import (
    AgentConfig,
    ArgmaxConfig,
    IdentityConfig,
    ModelBasedConfig,
    NoMemoryConfig,
    RandomPlannerConfig,
)
from agents.loop import Run, make_env
from agents.motor import primitives_for
from agents.overlay import LINE, Overlay
from agents.recording import SCENE_SIZE, Clips, live_episodes, side_by_side, to_minari

ROOT = Path(__file__).resolve().parents[1]
CONFIG = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), gate=ArgmaxConfig(), plan_every=5,
                     levels=5, situations=4)
STARVING = "mortal-test/Starving-v0"  # food and water drop 0.05 a step (Forager: 0.00015): lives of ~20 steps
gym.register(STARVING, entry_point="envs.forager:ForagerEnv", max_episode_steps=500, kwargs=dict(decay=0.05))


def assert_replays(world: str, episode: minari.EpisodeData, seed: int, max_steps: int) -> None:
    """A fresh copy of the world, reset with `seed` and stepped with the episode's actions, gives back the
    episode's observations, rewards and ends, step for step: the actions are what drove the world."""
    env = make_env(world, max_episode_steps=max_steps)
    obs, _ = env.reset(seed=seed)
    np.testing.assert_array_equal(obs["extero"], episode.observations["extero"][0])
    np.testing.assert_array_equal(obs["intero"], episode.observations["intero"][0])
    for t, action in enumerate(episode.actions):
        obs, reward, terminated, truncated, _ = env.step(action)
        np.testing.assert_array_equal(obs["extero"], episode.observations["extero"][t + 1], err_msg=f"step {t}")
        np.testing.assert_array_equal(obs["intero"], episode.observations["intero"][t + 1], err_msg=f"step {t}")
        assert reward == pytest.approx(episode.rewards[t])
        assert (terminated, truncated) == (episode.terminations[t], episode.truncations[t])
    assert terminated or truncated, "the world goes on past the episode's recorded end"
    env.close()


def assert_actions_are_the_channels_commands(world: str, episode: minari.EpisodeData) -> None:
    """Each action is the motor command of the channel the agent selected on that step's observation."""
    env = make_env(world)
    motor = primitives_for(env)
    env.close()
    channels = np.asarray(episode.infos["channel"])
    assert channels.shape == (len(episode) + 1,) and np.all((0 <= channels) & (channels < motor.num_channels))
    expected = [motor.command(c, e.astype(np.float64)) for c, e in zip(channels, episode.observations["extero"])]
    np.testing.assert_allclose(episode.actions, np.asarray(expected)[: len(episode)], atol=1e-5)


@pytest.fixture(autouse=True)
def ffmpeg_without_preexec_hook(monkeypatch):
    """imageio-ffmpeg starts ffmpeg with a pre-exec hook unless told not to: unsafe in a JAX (threaded) process."""
    monkeypatch.setenv("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A checkpoint of a population of two small agents that have lived 300 steps on Forager."""
    run = Run.start(CONFIG, "mortal/Forager-v0", population=2, seed=0)
    run.train(300)
    return checkpoint.save(run, tmp_path_factory.mktemp("run") / "checkpoint.ckpt")


def test_record_script_writes_playable_videos_a_dataset_that_replays_and_plots(trained, tmp_path, monkeypatch, capsys):
    before = trained.read_bytes()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # where Minari would write by default
    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)  # the script sets it; restored afterwards
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr(sys, "argv", ["record.py", "--checkpoint", str(trained), "--episodes", "2", "--max-steps", "60",
                                      "--frame-every", "10"])
    runpy.run_path(str(ROOT / "scripts" / "record.py"), run_name="__main__")
    assert "recording agent 0" in capsys.readouterr().out
    folder = trained.parent / "recording-0"

    for i in range(2):
        frames = iio.imread(folder / f"episode-{i:03d}.mp4")
        assert frames.shape == (60 // 10 + 1, 240, 400, 3) and frames.dtype == np.uint8
        assert frames.std() > 1.0, "a blank video"
        plot = iio.imread(folder / f"episode-{i:03d}.png")
        assert plot.ndim == 3 and plot.shape[0] > 300
        last = iio.imread(folder / f"episode-{i:03d}-last-frame.png")
        assert last.shape == frames[-1].shape and np.abs(last.astype(int) - frames[-1]).mean() < 3, "not the last frame"

    assert os.environ["MINARI_DATASETS_PATH"] == str((trained.parent / "minari").resolve())
    dataset = minari.load_dataset("recording-v0")
    episodes = list(dataset.iterate_episodes())
    assert [len(e) for e in episodes] == [60, 60] and dataset.total_steps == 120
    for seed, episode in enumerate(episodes):
        assert episode.truncations[-1] and not episode.terminations.any() and not episode.truncations[:-1].any()
        assert_replays("mortal/Forager-v0", episode, seed, max_steps=60)
        assert_actions_are_the_channels_commands("mortal/Forager-v0", episode)
        infos = episode.infos
        assert infos["internal_state"].shape == (61, 2) and np.all(np.isfinite(infos["internal_state"]))
        assert np.all(np.isfinite(infos["free_energy"])) and np.all(np.isfinite(infos["familiarity"]))
        assert {"drive", "familiarity", "channel", "cause_of_death"} <= set(infos)
    assert not (tmp_path / "home" / ".minari").exists(), "recording wrote into the user's ~/.minari"
    assert trained.read_bytes() == before, "recording changed the checkpoint"


def test_deaths_end_episodes_and_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    run = Run.start(CONFIG, STARVING, population=1, seed=1)
    run.train(30)
    brains = jax.device_get(run.population.states)
    recording = live_episodes(run, 2, tmp_path / "videos", seed=5, frame_every=4)
    assert run.record.steps == 30 and all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(brains), jax.tree.leaves(run.population.states))
    ), "the run recorded from is left as it was"
    for episode in recording.episodes:
        assert episode.terminations[-1] and not episode.truncations[-1] and 5 < len(episode) < 500
        assert episode.cause in ("food below viable range", "water below viable range")
        assert episode.frames == len(episode) // 4 + 1 + (len(episode) % 4 > 0) == len(iio.imread(episode.video))
        assert len(episode.agent_infos) == len(episode) + 1  # it stepped on its terminal observation too
    dataset = to_minari(recording, "deaths-v0")
    loaded = list(minari.load_dataset("deaths-v0").iterate_episodes())
    for seed, (episode, written) in enumerate(zip(recording.episodes, loaded), start=5):
        assert len(written) == len(episode) and written.terminations[-1]
        assert list(written.infos["cause_of_death"])[-1] == episode.cause
        assert_replays(STARVING, written, seed, max_steps=500)
        assert_actions_are_the_channels_commands(STARVING, written)
    assert dataset.total_episodes == 2

    with pytest.raises(ValueError, match="episodes must be >= 1"):
        live_episodes(run, 0, tmp_path)
    with pytest.raises(ValueError, match="frame_every must be >= 1"):
        live_episodes(run, 1, tmp_path, frame_every=0)


def bar_end(frame: np.ndarray, overlay: Overlay, i: int) -> float:
    """The column where internal variable i's bar ends, away from its set-point, measured on a decoded frame
    (the bar is bright on a dark track: its luma survives compression); the set-point column if no bar."""
    luma = frame[overlay.bar_row(i)].astype(float) @ (0.299, 0.587, 0.114)
    x0, x1 = overlay.track
    columns = np.flatnonzero(luma[x0:x1] > 140) + x0
    set_point = overlay.x_of(i, overlay.set_point[i])
    if len(columns) == 0:
        return set_point
    return columns.min() if abs(columns.min() - set_point) > abs(columns.max() + 1 - set_point) else columns.max() + 1


def red_banner(frame: np.ndarray, overlay: Overlay) -> bool:
    """Whether the scene's bottom rows hold the red strip that names a cause of death."""
    strip = frame[-LINE - 4:-LINE - 2, : overlay.scene_width].astype(int)
    return bool(np.mean((strip[..., 0] > 150) & (strip[..., 1] < 110) & (strip[..., 2] < 110)) > 0.8)


def test_overlay_bars_follow_the_internal_variables_on_decoded_frames(tmp_path, capsys):
    run = Run.start(CONFIG, STARVING, population=1, seed=2)
    recording = live_episodes(run, 1, tmp_path, seed=7, frame_every=3, progress=True)
    assert capsys.readouterr() == ("", ""), "the progress bar printed while stdout is not a terminal"
    episode = recording.episodes[0]
    frames = iio.imread(episode.video)
    observed = [*range(0, len(episode) + 1, 3), *([len(episode)] if len(episode) % 3 else [])]
    assert len(frames) == len(observed) == episode.frames
    overlay = Overlay(recording.physiology, recording.channel_names, (SCENE_SIZE, SCENE_SIZE, 3))
    assert frames.shape[1:] == overlay.shape
    internal = np.stack([episode.env_infos[t]["internal_state"] for t in observed])
    assert np.ptp(internal, axis=0).min() > 0.5, "the variables hardly moved: the test would prove little"
    for frame, values in zip(frames, internal):
        for i, value in enumerate(values):
            assert bar_end(frame, overlay, i) == pytest.approx(overlay.x_of(i, value), abs=2.0), (i, value)
    assert [red_banner(frame, overlay) for frame in frames] == [False] * (len(frames) - 1) + [True], \
        "the cause of death belongs on the last frame only"


def test_side_by_side_video_holds_both_brains_frames(tmp_path):
    other = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), gate=ArgmaxConfig(),
                        planner=RandomPlannerConfig(), plan_every=1, levels=5, situations=4)
    recordings = [live_episodes(Run.start(config, STARVING, population=1, seed=3), 1, tmp_path / name, seed=11,
                                frame_every=2, label=name)
                  for name, config in (("A", CONFIG), ("B", other))]
    ours, theirs = (r.episodes[0] for r in recordings)
    assert not np.array_equal(np.stack(ours.actions[:5]), np.stack(theirs.actions[:5])), "the brains acted alike"
    written = side_by_side(ours.video, theirs.video, tmp_path / "versus.mp4", fps=20)
    versus, left, right = (iio.imread(path) for path in (tmp_path / "versus.mp4", ours.video, theirs.video))
    assert written == len(versus) == max(len(left), len(right))
    width = left.shape[2]
    assert versus.shape[2] == 2 * width

    def held(own):  # the shorter life's last frame stays on to the end
        return np.concatenate([own, np.repeat(own[-1:], len(versus) - len(own), axis=0)]).astype(int)

    left, right = held(left), held(right)
    differ = np.abs(left - right).max(axis=-1) > 60  # where the two brains' own videos differ clearly
    assert differ.sum() > 100, "the two brains' videos are alike: the test would prove little"
    for half, own in ((versus[..., :width, :], left), (versus[..., width:, :], right)):
        assert np.abs(half.astype(int) - own).mean() < 3, "a half is not that brain's video"
        assert np.abs(half.astype(int) - own)[differ].mean() < 15, "a half shows the other brain where they differ"


def read_events(path: Path):
    """Every summary value in a TensorBoard event file (TFRecord framing: length, crc, event, crc)."""
    data, offset, values = path.read_bytes(), 0, []
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        event = Event.FromString(data[offset + 12:offset + 12 + length])
        values += [(event.step, value) for value in event.summary.value]
        offset += 12 + length + 4
    return values


def test_tensorboard_events_hold_the_clip_and_the_figure(trained, tmp_path):
    run = checkpoint.load(trained)
    clips = Clips(run, steps=12, frame_every=3, size=64)
    frames, _ = clips(seed=0)
    again, _ = clips(seed=1)  # the same compiled copy, refreshed
    assert frames.shape[0] == 12 // 3 + 1 == len(again) and frames.dtype == np.uint8
    writer = SummaryWriter(str(tmp_path))
    clips.log(writer, step=500)  # what train.py --clip-every logs
    writer.close()
    (events,) = tmp_path.glob("events.out.tfevents.*")
    values = {value.tag: (step, value) for step, value in read_events(events)}
    assert {"agent/clip", "agent/internal_state"} <= set(values)
    step, clip = values["agent/clip"]
    assert step == 500 and clip.image.encoded_image_string[:6] == b"GIF89a"
    gif = iio.imread(clip.image.encoded_image_string, extension=".gif", index=None)
    assert len(gif) == len(frames) and gif.shape[1:3] == frames.shape[1:3]
    figure = iio.imread(values["agent/internal_state"][1].image.encoded_image_string, extension=".png")
    assert figure.ndim == 3 and figure.shape[0] > 300


def yellow(scene: np.ndarray) -> np.ndarray:
    """Where a scene shows the expected path's colour (no item, wall or floor of the arena has it)."""
    return (scene[..., 0] > 200) & (scene[..., 1] > 170) & (scene[..., 2] < 90)


def test_expected_path_integrates_the_expected_velocity_readings_from_the_body():
    env = gym.make("mortal/Forager-v0")
    env.reset(seed=0)
    world = env.unwrapped
    x, y, yaw = world.data.qpos[:3]
    readings = np.zeros((8, env.observation_space["extero"].shape[0]))
    still = world.expected_path(readings)
    assert still.shape == (9, 2) and np.allclose(still, [x, y])
    readings[:, world.sensor_slices()["velocity"]] = [1.0, 0.0, 0.0]  # straight ahead at 1 m/s
    ahead = world.expected_path(readings)
    assert np.allclose(ahead[-1], [x + 8 * world.dt * np.cos(yaw), y + 8 * world.dt * np.sin(yaw)])
    readings[:, world.sensor_slices()["velocity"]] = [1.0, 0.0, np.pi / (8 * world.dt)]  # half a turn on the way
    arc = world.expected_path(readings)
    assert np.linalg.norm(np.diff(arc, axis=0), axis=1) == pytest.approx(np.full(8, world.dt))
    heading = np.arctan2(*np.diff(arc[-2:], axis=0)[0][::-1])
    assert np.cos(heading - yaw) < -0.9, "after half a turn the body heads back"
    env.close()


def test_a_shown_path_is_drawn_into_the_next_frame_only():
    env = gym.make("mortal/Forager-v0", render_mode="rgb_array", width=SCENE_SIZE, height=SCENE_SIZE)
    env.reset(seed=0)
    world = env.unwrapped
    plain = env.render()
    x, y = world.data.qpos[:2]
    towards_centre = np.linspace([x, y], [0.0, 0.0], 12)
    world.show_path(towards_centre)
    shown, after = env.render(), env.render()
    assert not yellow(plain).any() and np.array_equal(after, plain)
    rows, columns = np.nonzero(yellow(shown))
    assert len(rows) > 30
    # the arena (half-width 3 m) fills the middle of the top-down view: the path's pixels lie between body and centre
    scale = SCENE_SIZE / (2 * 3.4 * world.arena_half_width * np.tan(np.radians(45 / 2)))
    centre = SCENE_SIZE / 2
    along = np.stack([centre + x * scale, centre - y * scale])
    assert min(along[0], centre) - 6 <= columns.mean() <= max(along[0], centre) + 6
    assert min(along[1], centre) - 6 <= rows.mean() <= max(along[1], centre) + 6
    env.close()


def test_recording_a_model_based_brain_draws_the_path_it_expects(tmp_path, monkeypatch):
    config = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), gate=ArgmaxConfig(),
                         planner=ModelBasedConfig(candidates=8, horizon=6, hidden=(8,), members=2), motor="raw")
    run = Run.start(config, "mortal/Forager-v0", population=1, seed=0)
    run.train(20)
    shown = []
    monkeypatch.setattr(type(run.envs.envs[0].unwrapped), "show_path", lambda world, points: shown.append(
        (np.asarray(world.data.qpos[:2]).copy(), points)))
    recording = live_episodes(run, 1, tmp_path, max_steps=12, frame_every=4)
    assert recording.episodes[0].frames == 4  # observations 0, 4, 8 and 12
    assert len(shown) == 3, "every frame after the first (the plan is made on its observation) shows the path"
    for body, points in shown:
        assert points.shape == (7, 2) and np.allclose(points[0], body), "the path starts where the body is"
    discrete = Run.start(CONFIG, "mortal/Forager-v0", population=1, seed=0)
    shown.clear()
    live_episodes(discrete, 1, tmp_path / "discrete", max_steps=8, frame_every=4)
    assert shown == [], "a brain with no plan to roll out draws no path"
