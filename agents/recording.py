"""Recording a trained agent: its lives as MP4 videos that show the brain, a Minari dataset and plots.

    recording = live_episodes(run, 3, folder, max_steps=2000)       # copies of agent 0, fresh lives, one MP4 each
    dataset = to_minari(recording, "recording-v0")                   # under $MINARI_DATASETS_PATH
    plot_episode(recording.episodes[0], recording.physiology, recording.channel_names, folder / "episode-000.png")
    side_by_side(left_mp4, right_mp4, folder / "versus-000.mp4", fps=20)   # two brains' videos in one
    frames, recording = Clips(run)(seed=0)                           # a short life in memory (TensorBoard)
    add_clip(writer, "agent/clip", frames, step, fps=20)             # as tensorboardX's add_video, without moviepy

Copies of the first member of the run's population live the episodes side by side, each a fresh life
(`Run.begin_lives`) in its own copy of the world made for rendering (`rendering_world`), through the loop it
trained in (`Run.train`): one vmapped brain step serves every episode, so recording two episodes
costs little more than one. Each copy keeps learning as it lives (its step is its learning); the run they
are copied from is left as it was.

Rendering is what made recordings slow: a frame is rendered only when it is written (of the first
observation, of every `frame_every`-th step and of the last), at `SCENE_SIZE` px, without shadows,
reflections or multisampling, and streamed straight into the MP4 (a 60,000-step life never sits in memory
as images). Each frame carries an overlay (`agents.overlay`): the internal variables against their
set-points and viable ranges, free energy, familiarity and the chosen channel, as the agent computed them
on that frame's observation; the last frame names the cause of death. Played at the world's
`render_fps`, a video runs `frame_every` times faster than real time.

An episode keeps what the env did, as Minari lays it out: observations o_0 ... o_T, and per step the env
action (the motor command of the selected channel), reward, termination and truncation. Its infos hold,
per observation, the env's `internal_state`, `drive` and `cause_of_death`, and what the agent computed on
that observation: `free_energy`, `familiarity`, `channel` (the selected channel), `situation`, `tick`,
`neg_efe`, `state_entropy`, and `ops` (per module, the synaptic operations it computed). The agent steps once more on its terminal observation (as in its life: it
learns from its death), which gives the last of these; that step's action is discarded, as the loop's
autoreset discards it. Minari's `DataCollector` writes an episode out the moment the env ends it, before
that last agent step, so episodes are kept here and written with `minari.create_dataset_from_buffers`.
"""

import contextlib
import dataclasses
import functools
import itertools
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import gymnasium as gym
import imageio
import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary
from tqdm import tqdm

from agents.loop import Population, Record, Run, make_env
from agents.overlay import BLOCK, Overlay, Reading
from homeostasis import Physiology

if TYPE_CHECKING:  # the `record` extra's; imported where used, so that training needs it not (clips do not)
    import minari
    from minari.data_collector import EpisodeBuffer

ENV_INFO = ("internal_state", "drive", "cause_of_death")  # every mortal world's info (DESIGN.md, Worlds)
AGENT_INFO_LEFT_OUT = ("drive", "diverged")  # the env's drive is the same quantity; `live` raises on divergence
SCENE_SIZE = 240  # px, the side of a rendered scene (the mortal arenas are square); the overlay panel goes beside it
WARMUP = 100  # steps lived before the time a recording will take is estimated


@dataclasses.dataclass
class Episode:
    """One recorded episode: T + 1 observations and infos, T actions, rewards and ends."""

    seed: int | None
    observations: list[dict]
    env_infos: list[dict]
    actions: list = dataclasses.field(default_factory=list)
    rewards: list[float] = dataclasses.field(default_factory=list)
    terminations: list[bool] = dataclasses.field(default_factory=list)
    truncations: list[bool] = dataclasses.field(default_factory=list)
    agent_infos: list[dict] = dataclasses.field(default_factory=list)
    frames: int = 0
    video: Path | None = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def ended(self) -> bool:
        return bool(self.rewards) and (self.terminations[-1] or self.truncations[-1])

    @property
    def cause(self) -> str:
        """Why the episode ended: the cause of death, or "time limit"."""
        return self.env_infos[-1]["cause_of_death"] or ("time limit" if self.truncations[-1] else "")

    def infos(self) -> dict:
        """Per-observation infos, one array per name (a list of strings for `cause_of_death`)."""
        if len(self.agent_infos) != len(self.observations):
            raise ValueError(f"{len(self.observations)} observations but {len(self.agent_infos)} agent infos")
        env = {name: [info[name] for info in self.env_infos] for name in ENV_INFO}
        env = {name: v if name == "cause_of_death" else np.stack(v) for name, v in env.items()}
        return {**env, **jax.tree.map(lambda *values: np.stack(values), *self.agent_infos)}

    def buffer(self, episode_id: int) -> "EpisodeBuffer":
        from minari.data_collector import EpisodeBuffer

        observations = {name: np.stack([o[name] for o in self.observations]) for name in self.observations[0]}
        return EpisodeBuffer(
            id=episode_id,
            seed=self.seed,
            observations=observations,
            actions=np.stack(self.actions),
            rewards=list(self.rewards),
            terminations=list(self.terminations),
            truncations=list(self.truncations),
            infos={name: _for_arrow(values) for name, values in self.infos().items()},
        )


def _for_arrow(values):
    """Per-step info values as Minari's arrow storage can read them back: arrays [steps, ...] stay, scalars
    per step become a list (minari 0.5.4 writes a 1-D array's shape as "" and cannot decode it)."""
    return values.tolist() if isinstance(values, np.ndarray) and values.ndim == 1 else values


class EpisodeRecorder(gym.Wrapper):
    """Keeps what the env does in the one episode it is armed for (the first reset after `arm`), and renders
    the scenes that become frames: of the first observation, of every `frame_every`-th and of the last.

    Scenes wait in `scenes` (by observation index) for what the agent computes on their observation, which
    comes one env step later; every other step renders nothing. With `expectation` (set by the recording: the
    readings the agent expects along the plan it follows, called as a scene is rendered), a world that can
    (`expected_path`, `show_path`: the mortal worlds) draws the path the agent expects to take into the scene.
    """

    def __init__(self, env: gym.Env, frame_every: int):
        super().__init__(env)
        if frame_every < 1:
            raise ValueError(f"frame_every must be >= 1, got {frame_every}")
        self.frame_every = frame_every
        self.armed = False
        self.episode: Episode | None = None
        self.scenes: dict[int, np.ndarray] = {}
        self.expectation: Callable[[], np.ndarray] | None = None

    def arm(self) -> None:
        """The next reset begins the episode to record."""
        self.armed = True

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.armed:
            self.armed = False
            self.episode = Episode(seed=seed, observations=[obs], env_infos=[info])
            self.scenes = {0: self.env.render()}
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        episode = self.episode
        if episode is not None and not episode.ended:
            episode.actions.append(np.copy(action))
            episode.observations.append(obs)
            episode.rewards.append(float(reward))
            episode.terminations.append(bool(terminated))
            episode.truncations.append(bool(truncated))
            episode.env_infos.append(info)
            if len(episode) % self.frame_every == 0 or terminated or truncated:
                if self.expectation is not None:
                    world = self.env.unwrapped
                    world.show_path(world.expected_path(self.expectation()))
                self.scenes[len(episode)] = self.env.render()
        return obs, reward, terminated, truncated, info


@dataclasses.dataclass
class Recording:
    """The episodes one agent lived, and what is needed to read them: its world, body and channels."""

    episodes: list[Episode]
    env: gym.Env  # the (closed) world they were lived in: its spec and spaces
    physiology: Physiology
    channel_names: tuple[str, ...]
    config_name: str
    seconds: float = 0.0  # spent living and rendering from the fifth of the warm-up on (the step compiled)
    steps_timed: int = 0  # env steps recorded in those seconds, over every episode
    frames_timed: int = 0  # frames written in those seconds

    @property
    def steps_per_s(self) -> float:
        return self.steps_timed / self.seconds

    @property
    def frames_per_s(self) -> float:
        return self.frames_timed / self.seconds


def rendering_world(run: Run, limit: int, size: int = SCENE_SIZE, shadows: bool = False) -> gym.Env:
    """A copy of the run's world that renders `size` x `size` rgb_array scenes (a world that takes no render size,
    such as classic control, renders at its own), ends episodes at `limit` steps, and, unless `shadows`, renders
    without shadows, reflections or multisampling (under software GL they cost ~30x the scene itself)."""
    settings = dict(render_mode="rgb_array", max_episode_steps=limit, **run.settings)
    try:
        env = make_env(run.world, run.body, width=size, height=size, **settings)
    except TypeError:  # the world's constructor takes no width and height
        env = make_env(run.world, run.body, **settings)
    model = getattr(env.unwrapped, "model", None)
    if model is not None and not shadows:  # a MuJoCo world: visual settings only, the physics is untouched
        model.vis.quality.offsamples = 0
        model.light_castshadow[:] = 0
        model.mat_reflectance[:] = 0
    return env


def live_episodes(
    run: Run,
    episodes: int,
    folder: str | Path,
    *,
    max_steps: int | None = None,
    seed: int = 0,
    frame_every: int = 10,
    fps: int | None = None,
    size: int = SCENE_SIZE,
    shadows: bool = False,
    label: str | None = None,
    progress: bool = False,
) -> Recording:
    """Copies of agent 0 of `run` live `episodes` fresh lives side by side (one vmapped step), each in its own
    rendering copy of the world, episode i reset with seed `seed + i` and capped at `max_steps` steps (default:
    the run's time limit); writes `folder/episode-<i>.mp4` at `fps` frames/s (default: the world's
    `render_fps`), every frame overlaid (`agents.overlay`, headed by `label`, default the brain's name), and its
    last frame (with the cause of death) as `folder/episode-<i>-last-frame.png`. With
    `progress`, a progress bar (on a terminal) and, after a short warm-up, the time the rest will take."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"episode-{i:03d}.mp4" for i in range(episodes)]
    last = {}
    with contextlib.ExitStack() as stack:
        def videos(world_fps: int) -> list:
            writers = [stack.enter_context(imageio.get_writer(path, fps=fps or world_fps, codec="libx264",
                                                              macro_block_size=BLOCK)) for path in paths]
            return [functools.partial(_write, writer, last, i) for i, writer in enumerate(writers)]

        recording = _record(run, episodes, max_steps, seed, frame_every, size, shadows, videos, label, progress)
    for i, (episode, path) in enumerate(zip(recording.episodes, paths)):
        episode.video = path
        iio.imwrite(path.with_name(f"{path.stem}-last-frame.png"), last[i])
    return recording


def _write(writer, last: dict, i: int, frame: np.ndarray) -> None:
    """Appends `frame` to video i and keeps it as that video's last frame so far."""
    writer.append_data(frame)
    last[i] = frame


def side_by_side(left: str | Path, right: str | Path, path: str | Path, fps: int) -> int:
    """Writes the frames of two videos side by side into `path`, frame for frame (the shorter one's last frame,
    with its cause of death, held to the end); returns the frames written."""
    written, last = 0, [None, None]
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=BLOCK) as video:
        for pair in itertools.zip_longest(iio.imiter(left), iio.imiter(right)):
            last = [frame if frame is not None else held for frame, held in zip(pair, last)]
            if last[0].shape[0] != last[1].shape[0]:
                raise ValueError(f"{left} and {right} have frames of different heights: {last[0].shape}, {last[1].shape}")
            video.append_data(np.concatenate(last, axis=1))
            written += 1
    return written


class Clips:
    """Short clips of agent 0 of a run as it trains (for TensorBoard): fresh lives of at most `steps` steps
    lived by a copy of its current brain, overlaid frames every `frame_every` steps and the last, in memory.
    The copy is one `Population`, refreshed from the run before each clip, so only the first clip compiles."""

    def __init__(self, run: Run, steps: int = 200, frame_every: int = 2, size: int = 160):
        if steps < 1:
            raise ValueError(f"a clip needs at least one step, got {steps}")
        self.run, self.steps, self.frame_every, self.size = run, steps, frame_every, size
        self.population = Population(run.population.agent, _copies(run, 1))

    def __call__(self, seed: int) -> tuple[np.ndarray, Recording]:
        """The frames [T, H, W, 3] and the recording of one clip, its world reset with `seed`."""
        frames = []
        recording = _record(self.run, 1, self.steps, seed, self.frame_every, self.size, False,
                            lambda fps: [frames.append], None, False, population=self.population)
        return np.stack(frames), recording

    def log(self, writer: SummaryWriter, step: int) -> None:
        """A clip (its world seeded `step`) and its internal-state figure (`episode_figure`) into TensorBoard at
        `step`, tagged `agent/clip` and `agent/internal_state`."""
        frames, recording = self(seed=step)
        add_clip(writer, "agent/clip", frames, step, fps=recording.env.metadata["render_fps"])
        episode = recording.episodes[0]
        writer.add_figure("agent/internal_state", episode_figure(
            episode, recording.physiology, recording.channel_names,
            title=f"agent 0 at step {step:,}: a fresh life of {len(episode)} steps, ended by {episode.cause}"), step)


def add_clip(writer: SummaryWriter, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
    """`frames` [T, H, W, 3] (uint8) as an animated GIF among TensorBoard's images: the record tensorboardX's
    `add_video` writes, encoded by imageio here (`add_video` needs moviepy, which Mortal does not depend on)."""
    gif = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000 / fps, loop=0)
    image = Summary.Image(height=frames.shape[1], width=frames.shape[2], colorspace=3, encoded_image_string=gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


def _copies(run: Run, n: int):
    """`n` copies of the brain state of agent 0 of `run`."""
    return jax.tree.map(lambda leaf: jnp.repeat(leaf[:1], n, axis=0), run.population.states)


def _record(run: Run, episodes: int, max_steps: int | None, seed: int, frame_every: int, size: int, shadows: bool,
            sinks, label: str | None, progress: bool, population: Population | None = None) -> Recording:
    """`live_episodes` with `sinks(fps)` giving one frame sink per episode; `population` (of `episodes` members),
    if given, is the compiled copy to reuse, its brains replaced by copies of agent 0."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    limit = max_steps if max_steps is not None else run.envs.envs[0].spec.max_episode_steps
    if limit is None or limit < 1:
        raise ValueError(f"max_steps must be >= 1 (the world {run.world} has no time limit of its own), got {limit}")
    worlds = gym.vector.SyncVectorEnv(
        [lambda: EpisodeRecorder(rendering_world(run, limit, size, shadows), frame_every)] * episodes,
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    try:
        if population is None:
            population = Population(run.population.agent, _copies(run, episodes))
        else:
            population.states = _copies(run, episodes)
        agent = Run(run.config, run.world, run.seed, population, worlds, run.key,
                    Record(steps=run.record.steps), body=run.body, settings=run.settings)  # selection goes on from the run's step count
        recorders = worlds.envs
        expected = _expected_observations(population)
        if expected is not None and hasattr(recorders[0].unwrapped, "expected_path"):
            for i, recorder in enumerate(recorders):
                recorder.expectation = functools.partial(expected, i)
        physiology = recorders[0].get_wrapper_attr("physiology")
        channel_names = run.population.agent.motor.names
        for recorder in recorders:
            recorder.arm()
        agent.begin_lives(seed)  # world i reset with seed + i
        lived = [recorder.episode for recorder in recorders]
        overlay = Overlay(physiology, channel_names, recorders[0].scenes[0].shape,
                          label=run.config.describe() if label is None else label)
        timing = _live(agent, recorders, sinks(recorders[0].metadata["render_fps"]), overlay, limit, progress)
    finally:
        worlds.close()
    for episode in lived:
        if not episode.ended or len(episode.agent_infos) != len(episode.observations):
            raise RuntimeError(f"episode seeded {episode.seed} did not end within {limit} steps: "
                               "the time limit is not in force")
    return Recording(lived, recorders[0].env, physiology, channel_names, run.config.describe(), *timing)


def _expected_observations(population: Population) -> Callable[[int], np.ndarray] | None:
    """Member i's expected readings along the plan it follows (`ModelAgent.expected_observations`), or None for
    a brain with no plan to roll out or a perception that cannot decode its latents (no path is drawn then)."""
    agent = population.agent
    if not hasattr(agent, "expected_observations"):
        return None
    expected = jax.jit(lambda states, i: agent.expected_observations(jax.tree.map(lambda leaf: leaf[i], states)))
    try:
        jax.eval_shape(expected, population.states, 0)
    except NotImplementedError:
        return None
    return lambda i: np.asarray(expected(population.states, i))


def _live(agent: Run, recorders: list[EpisodeRecorder], sinks: list, overlay: Overlay, limit: int,
          progress: bool) -> tuple[float, int, int]:
    """Lives every recorder's episode to its end, plus the agent's step on its terminal observation (the env
    autoresets meanwhile, unrecorded); each waiting scene is overlaid with what the agent computed on its
    observation and given to its episode's sink. Returns the seconds, env steps and frames from the fifth of
    the warm-up on (from the first step, in a recording that ends sooner)."""
    episodes = [recorder.episode for recorder in recorders]
    bar = tqdm(total=limit + 1, desc=f"recording {len(episodes)} x {agent.world}", unit="step", mininterval=1,
               disable=None if progress else True)
    clock = {}

    def on_step(t, info, record, obs):
        for i, (episode, recorder) in enumerate(zip(episodes, recorders)):
            if len(episode.agent_infos) == len(episode.observations):
                continue  # this life is recorded to its end; its world has moved on
            index = len(episode.agent_infos)
            mine = jax.tree.map(lambda v: np.asarray(v[i]), {k: v for k, v in info.items() if k not in AGENT_INFO_LEFT_OUT})
            episode.agent_infos.append(mine)
            if index in recorder.scenes:
                ending = episode.cause if episode.ended and index == len(episode) else ""
                reading = Reading(index, np.asarray(episode.env_infos[index]["internal_state"]), int(mine["channel"]),
                                  float(mine["free_energy"]), float(mine["familiarity"]), ending)
                sinks[i](overlay.draw(recorder.scenes.pop(index), reading))
                episode.frames += 1
        bar.update(1)
        if t in (0, WARMUP // 5):  # by the fifth of the warm-up the step is compiled: time from there
            clock.update(start=time.perf_counter(), steps=sum(map(len, episodes)), frames=frames())
        if progress and t == WARMUP:
            seconds = (time.perf_counter() - clock["start"]) / (WARMUP - WARMUP // 5) * (limit - WARMUP)
            tqdm.write(f"recording {len(episodes)} episode(s) of up to {limit:,} steps side by side: "
                       f"about {seconds:.0f}s more at most (sooner where lives end sooner)")

    def frames() -> int:
        return sum(e.frames for e in episodes)

    def recorded(record) -> bool:
        return all(len(e.agent_infos) == len(e.observations) and e.ended for e in episodes)

    with bar:
        agent.train(limit + 1, on_step=on_step, until=recorded)
    return time.perf_counter() - clock["start"], sum(map(len, episodes)) - clock["steps"], frames() - clock["frames"]


def to_minari(recording: Recording, dataset_id: str) -> "minari.MinariDataset":
    """Writes the recording as the Minari dataset `dataset_id` under $MINARI_DATASETS_PATH."""
    import minari

    buffers = [episode.buffer(i) for i, episode in enumerate(recording.episodes)]
    with warnings.catch_warnings():  # Minari nags about every optional metadata field left unset
        warnings.filterwarnings("ignore", message=r"`\w+` is set to None", category=UserWarning)
        return minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=recording.env,
            algorithm_name=f"mortal {recording.config_name}",
            author="Mortal (scripts/record.py)",
            description=(
                "Lives of a Mortal agent. Actions are the motor commands of the selected channel. infos, per "
                f"observation: {', '.join(recording.episodes[0].infos())}; channels: "
                f"{', '.join(recording.channel_names)}."
            ),
            data_format="arrow",
        )


def plot_episode(episode: Episode, physiology: Physiology, channel_names, path: str | Path, title: str = "") -> None:
    """Writes `episode_figure` to `path`."""
    episode_figure(episode, physiology, channel_names, title).savefig(path, dpi=100)


def episode_figure(episode: Episode, physiology: Physiology, channel_names, title: str = "") -> Figure:
    """Internal variables against their set-points and viable ranges, then free energy, familiarity and the
    selected channel, over the episode's steps."""
    infos = episode.infos()
    internal = infos["internal_state"]
    steps = np.arange(len(internal))
    names = physiology.names
    fig = Figure(figsize=(9, 1.7 * (len(names) + 3)))
    axes = fig.subplots(len(names) + 3, 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, names)):
        ax.axhspan(physiology.low[i], physiology.high[i], color="tab:green", alpha=0.08, label="viable range")
        ax.axhline(physiology.set_point[i], color="tab:green", lw=1, ls="--", label="set-point")
        ax.plot(steps, internal[:, i], lw=0.8, color="tab:blue")
        ax.set_ylabel(name)
    axes[0].legend(loc="upper right", fontsize=8)
    for ax, name in zip(axes[len(names):], ("free_energy", "familiarity")):
        ax.plot(steps, infos[name], lw=0.8, color="tab:purple")
        ax.set_ylabel(name.replace("_", " "))
    axes[-1].step(steps, infos["channel"], where="post", lw=0.8, color="tab:orange")
    axes[-1].set_yticks(range(len(channel_names)), channel_names, fontsize=7)
    axes[-1].set_ylabel("channel")
    axes[-1].set_xlabel("step")
    axes[0].set_title(title or f"{len(episode)} steps, ended by {episode.cause}", fontsize=9)
    fig.tight_layout()
    return fig
