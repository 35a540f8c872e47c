"""Tuned stable-baselines3 baselines on Gymnasium's classic-control tasks, for the evaluation suites.

    python scripts/baselines_control.py --algo dqn --task CartPole-v1 --seed 0 --budget 50000

A reference for how well the tasks' best-known tuned agents do within a given budget of env steps:
rl-baselines3-zoo's tuned hyperparameters (hard-coded below; the zoo itself is not a dependency), measured
the way the zoo reports its benchmark: the mean return of deterministic test episodes on the task's own
reward and time limit. `train_and_test` trains for `budget` env steps and tests every `eval_every` steps
on separate, fixed-seed episodes; the zoo's own `n_timesteps` is not used, the budget is the argument.
Training never runs past the budget (beyond the last step of the `n_envs` envs, where they do not divide it);
the steps of an update period the budget cuts short (a PPO rollout, a DQN/SAC `train_freq` chunk) are spent
but not learnt from, and the schedules anneal over the budget.
"""

import copy
import json
import time

import gymnasium as gym
import numpy as np
import torch
import tyro
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.type_aliases import TrainFrequencyUnit
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize

ALGORITHMS = {"CartPole-v1": ("ppo", "dqn"), "Acrobot-v1": ("ppo", "dqn"), "MountainCar-v0": ("ppo", "dqn"), "Pendulum-v1": ("ppo", "sac")}

CLASSES = {"ppo": PPO, "dqn": DQN, "sac": SAC}


def _lin(initial_value: float) -> LinearSchedule:
    """The zoo's `lin_<initial_value>`: from `initial_value` at the start of training to 0 at its end."""
    return LinearSchedule(initial_value, 0.0, 1.0)


# rl-baselines3-zoo (github.com/DLR-RM/rl-baselines3-zoo, commit 22e3ff2), hyperparams/ppo.yml, dqn.yml and sac.yml,
# without `n_timesteps`; `lin_X` -> _lin(X), `policy_kwargs` strings -> dicts. Keys left out take sb3's defaults
# (and the zoo's: n_envs 1, no normalisation). None of these entries has a frame_stack or env_wrapper.
ZOO_HYPERPARAMETERS = {
    ("ppo", "CartPole-v1"): dict(
        policy="MlpPolicy", n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
        ent_coef=0.0, learning_rate=_lin(0.001), clip_range=_lin(0.2),
    ),
    ("ppo", "Acrobot-v1"): dict(
        policy="MlpPolicy", normalize=True, n_envs=16, n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4,
        ent_coef=0.0,
    ),
    ("ppo", "MountainCar-v0"): dict(
        policy="MlpPolicy", normalize=True, n_envs=16, n_steps=16, gae_lambda=0.98, gamma=0.99, n_epochs=4,
        ent_coef=0.0,
    ),
    ("ppo", "Pendulum-v1"): dict(
        policy="MlpPolicy", n_envs=4, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
        learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4,
    ),
    ("dqn", "CartPole-v1"): dict(
        policy="MlpPolicy", learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
        gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
        exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]),
    ),
    ("dqn", "Acrobot-v1"): dict(
        policy="MlpPolicy", learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0,
        gamma=0.99, target_update_interval=250, train_freq=4, gradient_steps=-1, exploration_fraction=0.12,
        exploration_final_eps=0.1, policy_kwargs=dict(net_arch=[256, 256]),
    ),
    ("dqn", "MountainCar-v0"): dict(
        policy="MlpPolicy", learning_rate=4e-3, batch_size=128, buffer_size=10_000, learning_starts=1000,
        gamma=0.98, target_update_interval=600, train_freq=16, gradient_steps=8, exploration_fraction=0.2,
        exploration_final_eps=0.07, policy_kwargs=dict(net_arch=[256, 256]),
    ),
    ("sac", "Pendulum-v1"): dict(policy="MlpPolicy", learning_rate=1e-3),
}


def hyperparameters(algo: str, task: str) -> dict:
    """rl-baselines3-zoo's tuned hyperparameters for (algo, task) as sb3 constructor kwargs plus 'n_envs' and 'normalize' (bool)."""
    if algo not in ALGORITHMS.get(task, ()):
        raise ValueError(f"no tuned {algo!r} for {task!r}; pairs: {ALGORITHMS}")
    return {"n_envs": 1, "normalize": False, **copy.deepcopy(ZOO_HYPERPARAMETERS[algo, task])}


def test_returns(model: BaseAlgorithm, task: str, episodes: int, test_seed: int) -> list[float]:
    """Undiscounted returns of `episodes` deterministic episodes, episode i on a fresh `gym.make(task)` reset with
    seed test_seed + i and cut at the task's own time limit. Observations are normalised with the training
    VecNormalize's current statistics, frozen (as VecNormalize(training=False, norm_reward=False) would)."""
    vec_normalize = model.get_vec_normalize_env()
    returns = []
    for i in range(episodes):
        with gym.make(task) as env:
            obs, _ = env.reset(seed=test_seed + i)
            total, done = 0.0, False
            while not done:
                if vec_normalize is not None:
                    obs = vec_normalize.normalize_obs(obs)
                action, _ = model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    return returns


def update_period(model: BaseAlgorithm) -> int:
    """Env steps between two of the model's updates: PPO's rollout, DQN's and SAC's `train_freq` (in steps)."""
    if isinstance(model, OnPolicyAlgorithm):
        return model.n_steps * model.n_envs
    assert model.train_freq.unit == TrainFrequencyUnit.STEP, "train_freq in episodes has no fixed period"
    return model.train_freq.frequency * model.n_envs


class TestAndStop(BaseCallback):
    """Tests the policy each time num_timesteps crosses a multiple of `eval_every` below `budget`, and ends training
    once num_timesteps reaches `budget`: at once mid-rollout (whose steps count, but are not learnt from), after the
    update when the budget ends a rollout (or DQN's and SAC's `train_freq` chunk)."""

    def __init__(self, task: str, budget: int, eval_every: int, episodes: int, test_seed: int):
        super().__init__()
        self.task, self.budget, self.eval_every, self.episodes, self.test_seed = task, budget, eval_every, episodes, test_seed
        self.next_test = eval_every
        self.curve: list[tuple[int, float]] = []
        self.test_seconds = 0.0

    def _init_callback(self) -> None:
        self.period = update_period(self.model)

    def _on_step(self) -> bool:
        while self.num_timesteps >= self.next_test and self.next_test < self.budget:
            start = time.perf_counter()
            self.curve.append((self.next_test, float(np.mean(test_returns(self.model, self.task, self.episodes, self.test_seed)))))
            self.test_seconds += time.perf_counter() - start
            self.next_test += self.eval_every
        return self.num_timesteps < self.budget or self.num_timesteps % self.period == 0  # learn() itself stops at the budget


def make_model(algo: str, task: str, seed: int) -> BaseAlgorithm:
    """The zoo-tuned sb3 model on `n_envs` training envs seeded seed, seed + 1, ..., on the CPU."""
    kwargs = hyperparameters(algo, task)
    env = make_vec_env(task, n_envs=kwargs.pop("n_envs"), seed=seed)
    if kwargs.pop("normalize"):
        env = VecNormalize(env, gamma=kwargs.get("gamma", 0.99))  # the zoo normalises with the algorithm's gamma
    return CLASSES[algo](env=env, seed=seed, device="cpu", verbose=0, **kwargs)


def train_and_test(algo: str, task: str, seed: int, budget: int, eval_every: int = 5000, eval_episodes: int = 20,
                   final_episodes: int = 100, test_seed: int = 10_000, torch_threads: int = 1) -> dict:
    """Trains `algo` on `task` for `budget` env steps (summed over its parallel envs), and every `eval_every` steps
    runs `eval_episodes` test episodes with deterministic actions on a separate env (learning frozen; test episodes do not count
    in the budget), and `final_episodes` at the budget. Returns dict(curve=[(step, mean_return), ...], final_returns=[...],
    final_mean=float, train_steps_per_s=float, seconds=float)."""
    torch.set_num_threads(torch_threads)
    start = time.perf_counter()
    model = make_model(algo, task, seed)
    callback = TestAndStop(task, budget, eval_every, eval_episodes, test_seed)
    model.learn(total_timesteps=budget, callback=callback)
    train_seconds = time.perf_counter() - start - callback.test_seconds
    final_returns = test_returns(model, task, final_episodes, test_seed)
    final_mean = float(np.mean(final_returns))
    model.get_env().close()
    return dict(
        curve=[*callback.curve, (budget, final_mean)],
        final_returns=final_returns,
        final_mean=final_mean,
        train_steps_per_s=model.num_timesteps / train_seconds,
        seconds=time.perf_counter() - start,
    )


if __name__ == "__main__":
    print(json.dumps(tyro.cli(train_and_test)))
