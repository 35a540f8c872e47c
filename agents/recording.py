"""Recording a trained agent: its lives as MP4 videos, a Minari dataset and plots.

    recording = live_episodes(run, 3, folder, max_steps=2000)       # agent 0, fresh lives, one MP4 each
    dataset = to_minari(recording, "recording-v0")                   # under $MINARI_DATASETS_PATH
    plot_episode(recording.episodes[0], recording.physiology, recording.channel_names, folder / "episode-000.png")

The first member of the run's population lives each episode as a fresh life (`Run.begin_lives`) in a new
copy of its world made for rendering (`render_mode="rgb_array"`), through the loop it trained in
(`agents.loop.live`). It keeps learning as it lives (its step is its learning) and carries what it learns
from one recorded episode into the next; the run it is copied from is left as it was.

Rendering costs some 300x a physics step, so a frame is rendered of the first observation and then of
every `frame_every`-th step, and streamed straight into the MP4 (a 60,000-step life never sits in memory
as images): `len(episode) // frame_every + 1` frames. Played at the world's `render_fps`, a video runs
`frame_every` times faster than real time.

An episode keeps what the env did, as Minari lays it out: observations o_0 ... o_T, and per step the env
action (the motor command of the selected channel), reward, termination and truncation. Its infos hold,
per observation, the env's `internal_state`, `drive` and `cause_of_death`, and what the agent computed on
that observation: `free_energy`, `familiarity`, `channel` (the selected channel), `situation`, `tick`,
`neg_efe`, `state_entropy`. The agent steps once more on its terminal observation (as in its life: it
learns from its death), which gives the last of these; that step's action is discarded, as the loop's
autoreset discards it. Minari's `DataCollector` writes an episode out the moment the env ends it, before
that last agent step, so episodes are kept here and written with `minari.create_dataset_from_buffers`.
"""

import dataclasses
import warnings
from pathlib import Path

import gymnasium as gym
import imageio
import jax
import minari
import numpy as np
from matplotlib.figure import Figure
from minari.data_collector import EpisodeBuffer

from agents.loop import Population, Record, Run, make_env
from homeostasis import Physiology

ENV_INFO = ("internal_state", "drive", "cause_of_death")  # every mortal world's info (DESIGN.md, Worlds)
AGENT_INFO_LEFT_OUT = ("drive", "diverged")  # the env's drive is the same quantity; `live` raises on divergence


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
        agent = {name: [info[name] for info in self.agent_infos] for name in self.agent_infos[0]}
        return {name: v if name == "cause_of_death" else np.stack(v) for name, v in {**env, **agent}.items()}

    def buffer(self, episode_id: int) -> EpisodeBuffer:
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
    """Keeps what the env does in its current episode and renders it to `on_frame`, while one is given.

    A frame is rendered of the first observation and of every `frame_every`-th step; `on_frame` is dropped
    when the episode ends, so whatever resets the env next renders nothing until it is given a new one.
    """

    def __init__(self, env: gym.Env, frame_every: int):
        super().__init__(env)
        if frame_every < 1:
            raise ValueError(f"frame_every must be >= 1, got {frame_every}")
        self.frame_every = frame_every
        self.on_frame = None
        self.episode: Episode | None = None

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.episode = Episode(seed=seed, observations=[obs], env_infos=[info])
        self._frame()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        episode = self.episode
        episode.actions.append(np.copy(action))
        episode.observations.append(obs)
        episode.rewards.append(float(reward))
        episode.terminations.append(bool(terminated))
        episode.truncations.append(bool(truncated))
        episode.env_infos.append(info)
        if len(episode) % self.frame_every == 0:
            self._frame()
        if terminated or truncated:
            self.on_frame = None
        return obs, reward, terminated, truncated, info

    def _frame(self) -> None:
        if self.on_frame is not None:
            self.on_frame(self.env.render())
            self.episode.frames += 1


@dataclasses.dataclass
class Recording:
    """The episodes one agent lived, and what is needed to read them: its world, body and channels."""

    episodes: list[Episode]
    env: gym.Env  # the (closed) world they were lived in: its spec and spaces
    physiology: Physiology
    channel_names: tuple[str, ...]
    config_name: str


def live_episodes(
    run: Run,
    episodes: int,
    folder: str | Path,
    *,
    max_steps: int | None = None,
    seed: int = 0,
    frame_every: int = 10,
    fps: int | None = None,
) -> Recording:
    """Agent 0 of `run` lives `episodes` fresh lives in a rendering copy of its world, episode i reset with
    seed `seed + i` and capped at `max_steps` steps (default: the run's time limit); writes
    `folder/episode-<i>.mp4` at `fps` frames/s (default: the world's `render_fps`)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    limit = max_steps if max_steps is not None else run.envs.envs[0].spec.max_episode_steps
    if limit is None or limit < 1:
        raise ValueError(f"max_steps must be >= 1 (the world {run.world} has no time limit of its own), got {limit}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def rendering_world():
        return EpisodeRecorder(make_env(run.world, render_mode="rgb_array", max_episode_steps=limit), frame_every)

    envs = gym.vector.SyncVectorEnv([rendering_world], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    try:
        first = jax.tree.map(lambda leaf: leaf[:1], run.population.states)
        agent = Run(run.config, run.world, run.seed, Population(run.population.agent, first), envs, run.key,
                    Record(steps=run.record.steps))  # the selection cadence goes on from the run's step count
        recorder = envs.envs[0]
        fps = fps or recorder.metadata["render_fps"]
        lived = [_live_episode(agent, recorder, seed + i, folder / f"episode-{i:03d}.mp4", fps, limit)
                 for i in range(episodes)]
    finally:
        envs.close()
    return Recording(lived, recorder.env, recorder.get_wrapper_attr("physiology"), run.population.agent.motor.names,
                     run.config.describe())


def _live_episode(agent: Run, recorder: EpisodeRecorder, seed: int, path: Path, fps: int, limit: int) -> Episode:
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=16) as video:
        recorder.on_frame = video.append_data
        agent.begin_lives(seed)
        episode = recorder.episode

        def on_step(t, info, record, obs):
            episode.agent_infos.append({k: v[0] for k, v in info.items() if k not in AGENT_INFO_LEFT_OUT})

        # One step past the end: the agent's step on its terminal observation (the env autoresets meanwhile).
        agent.live(limit + 1, on_step=on_step, until=lambda record: len(episode.agent_infos) > len(episode))
    if not episode.ended or len(episode.agent_infos) != len(episode.observations):
        raise RuntimeError(f"episode seeded {seed} did not end within {limit} steps: the time limit is not in force")
    episode.video = path
    return episode


def to_minari(recording: Recording, dataset_id: str) -> minari.MinariDataset:
    """Writes the recording as the Minari dataset `dataset_id` under $MINARI_DATASETS_PATH."""
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
    fig.savefig(path, dpi=100)
