"""PPO baseline (stable-baselines3) on a mortal world, with the world's own homeostatic reward.

    python scripts/baseline_ppo.py --world mortal/Forager-v0 --steps 1000000 --actions primitives
    python scripts/baseline_ppo.py --actions raw        # the raw actuators (continuous Box)
    python scripts/baseline_ppo.py --smoke              # a tiny end-to-end check of this script

`--actions primitives` gives PPO the agent's own motor primitives as `Discrete` actions (through
`agents.motor.PrimitiveActions`): innate reflexes, so both brains only choose *which* reflex to release and
the comparison is one of brains. `--actions raw` gives it the wheel (and cooling) commands as a Box.
Training, then a deterministic evaluation of `episodes` lives of up to `max_episode_steps`, all in
`runs/<world>__ppo-<actions>__<seed>__<time>/`: TensorBoard events, `model.zip`, `config.json`,
`evaluation.json`. `train_and_evaluate(Config(...))` is the same run as a library call (for the suites).

Needs the optional extra: `pip install -e ".[ppo]"`.
"""

import dataclasses
import json
import time
from pathlib import Path
from typing import Literal

import gymnasium as gym
import numpy as np
import tyro
from gymnasium.wrappers import FlattenObservation
from tensorboardX import SummaryWriter

import envs
from agents.motor import PrimitiveActions
from suites._report import print_table

try:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import KVWriter, Logger
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize
except ImportError as error:
    raise ImportError(f'the PPO baseline needs the optional extra: pip install -e ".[ppo]" ({error})') from error


@dataclasses.dataclass(frozen=True)
class Config:
    """One PPO run: training on `world` for `steps` env steps, then a deterministic evaluation."""

    world: str = "mortal/Forager-v0"
    """Gymnasium id; a task without Dict(extero, intero) observations is made mortal by envs.Homeostatic"""
    actions: Literal["primitives", "raw"] = "primitives"
    """primitives: the agent's motor primitives as Discrete actions; raw: the world's own actuators"""
    steps: int = 1_000_000
    """training budget in env steps, summed over the parallel envs (rounded down to whole rollouts)"""
    seed: int = 0
    """seed of the policy and of the training envs (env i starts from seed + i)"""
    episodes: int = 10
    """evaluation lives after training, run side by side"""
    max_episode_steps: int = envs.MAX_EPISODE_STEPS
    """a life is cut (truncated) after this many steps, in training and in evaluation"""
    eval_seed: int = 10_000
    """evaluation life i is reset with seed eval_seed + i, apart from the training seeds"""
    deterministic: bool = True
    """evaluate the policy's most likely action; False samples actions as in training (seeded by eval_seed)"""
    num_envs: int = 8
    """parallel envs collecting experience: 8 lives at different stages decorrelate each rollout"""
    subprocess: bool = False
    """step the envs in spawned worker processes (SubprocVecEnv) rather than in this one (DummyVecEnv)"""
    num_steps: int = 256
    """steps per env per rollout: 8 x 256 = 2048 transitions per update, ~50 updates even on a 100k budget"""
    gamma: float = 0.995
    """discount: horizon 1 / (1 - gamma) = 200 steps (10 s), past reaching any sensed item (4 m at 1 m/s)"""
    gae_lambda: float = 0.95
    """GAE lambda: bias-variance trade-off of the advantage estimate"""
    learning_rate: float = 3e-4
    """Adam step size"""
    batch_size: int = 256
    """minibatch size: 4x sb3's 64, so 4x fewer gradient steps; updates take ~20-30% of training time here"""
    n_epochs: int = 10
    """passes over each rollout per update"""
    ent_coef: float = 0.01
    """entropy bonus: keeps trying every action while lives are long and rewards rare"""
    clip_range: float = 0.2
    """PPO's clipping of the probability ratio"""
    torch_threads: int = 1
    """torch intra-op threads: a 64x64 MLP gains nothing from more, and they would compete with MuJoCo"""
    runs: str = "runs"
    """folder that receives the run folder"""
    smoke: bool = False
    """a seconds-long end-to-end check: tiny budget and lives, then checks the run folder and the results"""

    def __post_init__(self):
        if self.num_envs < 1 or self.num_steps < 1 or self.episodes < 1 or self.max_episode_steps < 1:
            raise ValueError(
                f"num_envs, num_steps, episodes and max_episode_steps must be >= 1, got {self.num_envs}, "
                f"{self.num_steps}, {self.episodes}, {self.max_episode_steps}"
            )
        if self.steps < self.num_envs * self.num_steps:
            raise ValueError(
                f"steps={self.steps} is less than one rollout (num_envs * num_steps = {self.num_envs * self.num_steps})"
            )
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gamma must lie in (0, 1] and gae_lambda in [0, 1], got {self.gamma}, {self.gae_lambda}")


SMOKE = dict(steps=2 * 4 * 64, episodes=3, max_episode_steps=300, num_envs=4, num_steps=64, batch_size=64, n_epochs=2)


def make_env(config: Config) -> gym.Env:
    """One life of `config.world` as PPO sees it: mortal, with the chosen actions and a flat observation."""
    env = gym.make(config.world, max_episode_steps=config.max_episode_steps)
    if set(getattr(env.observation_space, "spaces", {})) != {"extero", "intero"}:
        env = envs.Homeostatic(env)
    if config.actions == "primitives":
        env = PrimitiveActions(env)
    return FlattenObservation(env)


class TensorBoardX(KVWriter):
    """Writes sb3's logged scalars with tensorboardX (sb3's own writer needs the `tensorboard` package)."""

    def __init__(self, folder: Path):
        self.writer = SummaryWriter(str(folder))

    def write(self, key_values: dict, key_excluded: dict, step: int = 0) -> None:
        for key, value in key_values.items():
            if isinstance(value, (int, float, np.number)) and "tensorboard" not in (key_excluded.get(key) or ()):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Progress(BaseCallback):
    """Logs `charts/drive_mean` and `charts/survival_steps` per rollout; prints a line every ~5% of training."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.next_print, self.start = steps, 0, time.perf_counter()
        self.drives, self.lives, self.ended = [], [], 0

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            self.drives.append(info["drive"])
            if "episode" in info:
                self.lives.append(info["episode"]["l"])
        return True

    def _on_rollout_end(self) -> None:
        self.logger.record("charts/drive_mean", float(np.mean(self.drives)))
        if self.lives:
            self.logger.record("charts/survival_steps", float(np.mean(self.lives)))
        self.ended += len(self.lives)
        self.drives, self.lives = [], []
        if self.num_timesteps >= self.next_print:
            rate = self.num_timesteps / (time.perf_counter() - self.start)
            recent = [life["l"] for life in self.model.ep_info_buffer]
            ended = f"{self.ended} lives ended (last {len(recent)}: {np.mean(recent):,.0f} steps)" if recent else ""
            print(f"  {self.num_timesteps:>10,} / {self.steps:,} steps  {rate:6,.0f} steps/s  "
                  f"drive {self.logger.name_to_value['charts/drive_mean']:.3f}  {ended}", flush=True)
            self.next_print = self.num_timesteps + max(self.steps // 20, 1)


def train(config: Config, folder: Path) -> tuple[PPO, int, float]:
    """Trains PPO; returns the model, the env steps it took and its training steps per second."""
    torch.set_num_threads(config.torch_threads)
    venv = make_vec_env(
        make_env, n_envs=config.num_envs, seed=config.seed, env_kwargs=dict(config=config),
        vec_env_cls=SubprocVecEnv if config.subprocess else DummyVecEnv,
        vec_env_kwargs=dict(start_method="spawn") if config.subprocess else None,
    )
    # The homeostatic reward is small (~1e-4 a step, 0.01-0.1 per item eaten): scale it by the running std of the
    # discounted return so the value loss is O(1). Observations are left raw (all O(1)), so evaluation needs no
    # statistics from training.
    venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=config.gamma)
    model = PPO(
        "MlpPolicy", venv, learning_rate=config.learning_rate, n_steps=config.num_steps, batch_size=config.batch_size,
        n_epochs=config.n_epochs, gamma=config.gamma, gae_lambda=config.gae_lambda, clip_range=config.clip_range,
        ent_coef=config.ent_coef, seed=config.seed, device="cpu",
    )
    model.set_logger(Logger(str(folder), [TensorBoardX(folder)]))
    rollout = config.num_envs * config.num_steps
    budget = config.steps - config.steps % rollout
    start = time.perf_counter()
    model.learn(budget, callback=Progress(budget))
    rate = model.num_timesteps / (time.perf_counter() - start)
    model.logger.close()  # ends the TensorBoard writer's thread
    venv.close()
    model.save(folder / "model.zip")
    return model, model.num_timesteps, rate


def evaluate(model: PPO, config: Config) -> dict:
    """Runs `episodes` lives side by side under the trained policy: one batched `predict` per step.

    Each life stops being stepped when it ends (an auto-resetting vector env would keep simulating the dead
    ones while one long life runs on). Returns each life's survival, mean drive and cause of death.
    """
    lives = [make_env(config) for _ in range(config.episodes)]
    obs = np.stack([env.reset(seed=config.eval_seed + i)[0] for i, env in enumerate(lives)])
    survival, drive_sum = np.zeros(len(lives), int), np.zeros(len(lives))
    causes, alive = [""] * len(lives), np.ones(len(lives), bool)
    torch.manual_seed(config.eval_seed)
    report = 10_000
    while alive.any():
        index = np.flatnonzero(alive)
        actions, _ = model.predict(obs[index], deterministic=config.deterministic)
        for i, action in zip(index, actions):
            obs[i], _, terminated, truncated, info = lives[i].step(action)
            survival[i] += 1
            drive_sum[i] += info["drive"]
            if terminated or truncated:
                alive[i], causes[i] = False, info["cause_of_death"] if terminated else "survived"
        if survival.max() >= report:
            print(f"  evaluation: {survival.max():,} steps, {alive.sum()} of {len(lives)} alive", flush=True)
            report += 10_000
    for env in lives:
        env.close()
    return dict(survival_steps=survival.tolist(), drive_means=(drive_sum / survival).tolist(), causes_of_death=causes)


def train_and_evaluate(config: Config) -> dict:
    """Trains and evaluates PPO as `config` says; returns the figures (also written to `evaluation.json`)."""
    if config.smoke:
        config = dataclasses.replace(config, **SMOKE, smoke=False)
    name = f"{config.world.replace('/', '-')}__ppo-{config.actions}__{config.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    folder = Path(config.runs) / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2))
    print(f"PPO ({config.actions}) on {config.world}: {config.steps:,} steps; results in {folder}/", flush=True)

    model, trained, rate = train(config, folder)
    print(f"trained {trained:,} steps at {rate:,.0f} steps/s; evaluating {config.episodes} lives "
          f"of up to {config.max_episode_steps:,} steps", flush=True)
    lives = evaluate(model, config)
    survival = np.asarray(lives["survival_steps"])
    figures = dict(
        survival_steps_mean=float(survival.mean()),
        survival_full_fraction=float(np.mean([c == "survived" for c in lives["causes_of_death"]])),
        drive_mean=float(np.mean(lives["drive_means"])),
        **lives,
        train_steps=trained,
        train_steps_per_s=rate,
        run=str(folder),
    )
    (folder / "evaluation.json").write_text(json.dumps(figures, indent=2))

    print_table(
        [dict(life=i, seed=config.eval_seed + i, survival_steps=s, drive_mean=d, end=c)
         for i, (s, d, c) in enumerate(zip(survival, lives["drive_means"], lives["causes_of_death"]))],
        f"PPO ({config.actions}) on {config.world}: {'deterministic' if config.deterministic else 'sampled'} "
        f"actions, lives capped at {config.max_episode_steps:,}",
    )
    print_table([{k: figures[k] for k in (
        "survival_steps_mean", "survival_full_fraction", "drive_mean", "train_steps", "train_steps_per_s")}])
    print(f"\nresults in {folder}/ (TensorBoard: tensorboard --logdir {folder})")
    return figures


def check_smoke_run(figures: dict, config: Config) -> None:
    """The checks of `--smoke`: the run folder is complete and the saved model acts as the trained one did."""
    folder = Path(figures["run"])
    missing = [p for p in ("model.zip", "config.json", "evaluation.json") if not (folder / p).is_file()]
    if missing or not list(folder.glob("events.out.tfevents.*")):
        raise RuntimeError(f"smoke: {folder} lacks {missing or 'TensorBoard events'}")
    limit = SMOKE["max_episode_steps"]
    if not all(1 <= s <= limit for s in figures["survival_steps"]) or not np.isfinite(figures["drive_mean"]):
        raise RuntimeError(f"smoke: implausible figures {figures}")
    replayed = evaluate(PPO.load(folder / "model.zip", device="cpu"), dataclasses.replace(config, **SMOKE, smoke=False))
    if replayed["survival_steps"] != figures["survival_steps"] or replayed["drive_means"] != figures["drive_means"]:
        raise RuntimeError(f"smoke: the reloaded model lived {replayed['survival_steps']}, "
                           f"the trained one {figures['survival_steps']}")
    print("smoke: run folder complete; the reloaded model replays the evaluation exactly")


if __name__ == "__main__":
    config = tyro.cli(Config)
    figures = train_and_evaluate(config)
    if config.smoke:
        check_smoke_run(figures, config)
