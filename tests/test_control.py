"""Learning to act: the PC world model's local rule, its learning on CartPole, the sampling planner on true
dynamics, the model-based agent end to end, task semantics of the standard tasks, and bad inputs."""

import dataclasses

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from agents.config import (AgentConfig, ArgmaxConfig, IdentityConfig, ModelBasedConfig, NeedValueConfig,
                           NoMemoryConfig, RandomPlannerConfig, SDRConfig, default_config)
from agents.agent import build_agent
from agents.loop import EVALUATION_CAP, Run, check_finite, checked_cue, make_env, make_vector_env
from brain.critic import PCCritic
from brain.sampling_planner import SamplingPlanner
from brain.world_model import PCWorldModel, Transition

SMALL_MODEL = ModelBasedConfig(horizon=8, candidates=16, plans=3, members=2, hidden=(16,), recent=4)
SMALL = AgentConfig(perception=IdentityConfig(), memory=SDRConfig(modules=4, cells=8, input_bits=64, active_bits=8),
                    planner=SMALL_MODEL, motor="raw")
FAST = AgentConfig(perception=IdentityConfig(), memory=NoMemoryConfig(), planner=RandomPlannerConfig(),
                   gate=ArgmaxConfig(), plan_every=5, levels=5, situations=4)  # builds and compiles in no time
ENDLESS = "mortal-test/EndlessPendulum-v0"  # no time limit, never terminates: its lives end only by starving
gym.register(ENDLESS, entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv")


def cartpole_transitions(steps: int, seed: int):
    """Random-policy CartPole transitions, normalised as the agent normalises them."""
    env, rng = gym.make("CartPole-v1"), np.random.default_rng(seed)
    states, actions, deltas, deaths = [], [], [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = int(rng.integers(2))
        following, _, terminated, truncated, _ = env.step(action)
        states.append(obs), actions.append(np.eye(2)[action]), deltas.append(following - obs)
        deaths.append(float(terminated))
        obs = env.reset()[0] if terminated or truncated else following
    states, actions, deltas, deaths = (np.asarray(x, np.float32) for x in (states, actions, deltas, deaths))
    scale, delta_scale = states.std(0), deltas.std(0)
    ones = np.ones(steps, np.float32)
    return Transition((states - states.mean(0)) / scale, actions, deltas / delta_scale, ones, deaths, 0 * ones)


def test_world_model_local_rule_equals_its_layers_free_energy_gradient():
    model = PCWorldModel(3, 2, (5,), members=1, learning_rate=0.1, key=jax.random.key(0))
    k = jax.random.split(jax.random.key(1), 4)
    batch = Transition(jax.random.normal(k[0], (6, 3)), jax.nn.one_hot(jnp.arange(6) % 2, 2),
                       jax.random.normal(k[1], (6, 3)), jax.random.normal(k[2], (6,)), jnp.zeros(6), jnp.zeros(6))
    weights = jax.random.uniform(k[3], (6,))
    stack = jax.tree.map(lambda x: x[0], model.members)
    x = jnp.concatenate([batch.state, batch.action], -1)
    y = jnp.concatenate([batch.delta, batch.reward[:, None], batch.death[:, None], batch.success[:, None]], -1)
    settled = jax.vmap(lambda xi, yi: stack.infer((*stack.propagate(xi)[:-1], yi), clamped=(True, False, True))[0])(x, y)

    def weighted_free_energy(s):  # the learning rule's objective: F at the settled states, weighted per sample
        return jnp.mean(weights * jax.vmap(s.free_energy)(settled))

    grads = eqx.filter_grad(weighted_free_energy)(stack)
    new = stack.learn(settled, sample_weights=weights)
    for l in range(2):
        np.testing.assert_allclose((new.weights[l] - stack.weights[l]) / 0.1, -grads.weights[l], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose((new.biases[l] - stack.biases[l]) / 0.1, -grads.biases[l], rtol=1e-4, atol=1e-5)


def test_world_model_prediction_error_on_held_out_cartpole_falls_with_training():
    data = cartpole_transitions(3000, seed=0)
    train = jax.tree.map(lambda x: x[:2500], data)
    held_out = jax.tree.map(lambda x: x[2500:], data)
    model = PCWorldModel(4, 2, (32, 32), members=2, key=jax.random.key(0))
    learn = eqx.filter_jit(lambda m, b, k: m.learn(b, key=k))
    error = eqx.filter_jit(lambda m: m.prediction_error(held_out))
    before = float(error(model))
    rng = np.random.default_rng(1)
    for step in range(600):
        rows = rng.integers(0, 2500, 32)
        model = learn(model, jax.tree.map(lambda x: x[rows], train), jax.random.key(step))
    after = float(error(model))
    assert after < 0.1 * before, (before, after)


def test_pairwise_world_model_learns_a_change_that_is_a_product_of_state_and_action():
    """A turn shifts what is sensed by the yaw rate times the scene's slope: y = s_0 a_0 is learnt with products of
    the inputs, not without (held-out squared error below a tenth of the change's variance only with them)."""
    k_state, k_action = jax.random.split(jax.random.key(2))
    state, action = jax.random.normal(k_state, (3000, 2)), jax.random.uniform(k_action, (3000, 1), minval=-1)
    change = state[:, :1] * action
    data = Transition(state, action, jnp.concatenate([change, 0 * change], 1), *(jnp.zeros(3000),) * 3)
    train, held_out = jax.tree.map(lambda x: x[:2500], data), jax.tree.map(lambda x: x[2500:], data)
    errors = {}
    batches = jax.random.randint(jax.random.key(1), (800, 32), 0, 2500)
    for pairwise in (False, True):
        model = PCWorldModel(2, 1, (16,), members=1, learning_rate=0.05, pairwise=pairwise, key=jax.random.key(0))
        params, static = eqx.partition(model, eqx.is_array)

        def learn(params, rows):
            batch = jax.tree.map(lambda x: x[rows], train)
            learnt = eqx.combine(params, static).learn(batch, key=jax.random.key(rows[0]))
            return eqx.partition(learnt, eqx.is_array)[0], None

        model = eqx.combine(jax.lax.scan(learn, params, batches)[0], static)
        predicted = jax.vmap(lambda s, a: model.predict(s, a).delta[0])(held_out.state, held_out.action)
        errors[pairwise] = float(jnp.mean((predicted - held_out.delta[:, 0]) ** 2) / jnp.var(held_out.delta[:, 0]))
    assert errors[True] < 0.1 < errors[False], errors
    pairwise = PCWorldModel(2, 1, (16,), pairwise=True, key=jax.random.key(0))
    np.testing.assert_allclose(pairwise.inputs(jnp.ones(2), 2 * jnp.ones(1)), [1, 1, 2, 1, 1, 2, 1, 2, 4])


def cartpole_dynamics(s, a):
    """Gymnasium's CartPole-v1 step in JAX: (next state, +1 alive / -100 on falling, p_continue)."""
    x, x_dot, theta, theta_dot = s
    force = jnp.where(a[1] > 0.5, 10.0, -10.0)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    temp = (force + 0.05 * theta_dot**2 * sin) / 1.1
    theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos**2 / 1.1))
    x_acc = temp - 0.05 * theta_acc * cos / 1.1
    following = jnp.array([x + 0.02 * x_dot, x_dot + 0.02 * x_acc, theta + 0.02 * theta_dot, theta_dot + 0.02 * theta_acc])
    fallen = (jnp.abs(following[0]) > 2.4) | (jnp.abs(following[2]) > 0.2095)
    return following, 1.0 - 100.0 * fallen, 1.0 - fallen


def test_planner_with_the_true_cartpole_dynamics_balances_for_500_steps():
    planner = SamplingPlanner(2, True, horizon=40, candidates=128, plans=4, noise=0.3)

    @jax.jit
    def act(state, s, key):
        state, plans = planner.plan(state, s, cartpole_dynamics, lambda s: 0.0, key=key)
        best = jnp.argmax(plans.utility)
        return planner.commit(state, plans.sequences[best]), jnp.argmax(plans.sequences[best, 0])

    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    state, key, total = planner.init_state(), jax.random.key(0), 0.0
    for t in range(500):
        state, action = act(state, jnp.asarray(obs), jax.random.fold_in(key, t))
        obs, reward, terminated, truncated, _ = env.step(int(action))
        total += reward
        if terminated or truncated:
            break
    assert total == 500.0


@pytest.mark.parametrize("value", ["memory", "critic"])
def test_the_model_based_agent_learns_to_balance_longer_than_random_play(value):
    """Frozen test lives on the same six CartPole worlds: the newborn falls at once (its model knows nothing),
    random play lasts ~22 steps, and after 1,500 steps of learning (2 agents) the brain outlives both, whether
    the value beyond the horizon is memory's or the critic's."""
    steps = 1_500

    def exam(run):
        worlds = make_vector_env("CartPole-v1", 2 * 3, 7)  # three test worlds per agent, seeds 7 ... 12
        lengths = [life["survival_steps"] for life in run.exam(worlds, seed=7)]
        worlds.close()
        return float(np.mean(lengths))

    def random_play(seed: int, rng) -> int:
        env, steps, ended = gym.make("CartPole-v1"), 0, False
        env.reset(seed=seed)
        while not ended:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
            steps, ended = steps + 1, terminated or truncated
        return steps

    run = Run.start(dataclasses.replace(SMALL, planner=dataclasses.replace(SMALL_MODEL, value=value)), "CartPole-v1",
                    population=2, seed=0)
    newborn = exam(run)
    run.train(steps)
    learnt = exam(run)
    rng = np.random.default_rng(0)
    random = np.mean([random_play(seed, rng) for seed in range(7, 13) for _ in range(5)])
    assert learnt > 1.5 * random and learnt > 2 * newborn, (newborn, random, learnt)


@pytest.mark.parametrize("world, value", [("CartPole-v1", "memory"), ("Pendulum-v1", "critic")])  # Discrete, Box
def test_model_based_agent_lives_and_its_frozen_copy_does_not_learn(world, value):
    config = dataclasses.replace(SMALL, planner=dataclasses.replace(SMALL.planner, value=value))
    run = Run.start(config, world, population=2, seed=0, max_episode_steps=60)
    critic = run.population.states.brain.critic
    newborn = None if critic is None else (np.array(critic.network.weights[0]), np.array(critic.slow.weights[0]))
    run.train(80)
    assert run.record.lives
    if value == "critic":  # the critic learns, and its slow copy follows (copies above: the step donates buffers)
        learnt = run.population.states.brain.critic
        assert not np.allclose(newborn[0], learnt.network.weights[0])
        assert not np.allclose(newborn[1], learnt.slow.weights[0])
    else:
        assert run.population.states.brain.critic is None
    assert run.population._step._cache_size() == 1  # 80 steps, one compilation (no weakly typed leaf recompiles it)
    before = run.population.states
    exams = make_vector_env(world, 2 * 2, 5, max_episode_steps=30)  # two frozen test episodes per brain
    returns = np.reshape([life["task_return"] for life in run.exam(exams, seed=5)], (2, 2))
    exams.close()
    assert returns.shape == (2, 2) and np.all(np.isfinite(returns))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(run.population.states)))
    # a frozen step acts on the brain as it is: the transition a learning step would learn from does not sway it
    _, acted, planned = run.population.step(run.current, jax.random.key(3), learn=False)
    run.population.states = eqx.tree_at(lambda s: s.previous_state, before, before.previous_state + 1.0)
    _, swayed, replanned = run.population.step(run.current, jax.random.key(3), learn=False)
    np.testing.assert_array_equal(acted, swayed)
    np.testing.assert_array_equal(planned["utility"], replanned["utility"])


def test_the_world_model_replays_transitions_the_agent_lived_not_blends():
    """`replay="episode"`: after 4 steps (3 transitions, all still in the recent trace), every transition memory
    replays, for any of the places the agent was in, is one of those it lived, whole; recall's per-cell means
    (`replay="mean"`) would blend them."""
    config = dataclasses.replace(SMALL, planner=dataclasses.replace(SMALL_MODEL, replay="episode"))
    run = Run.start(config, "CartPole-v1", population=1, seed=0)
    run.train(4)
    agent, state = run.population.agent, jax.tree.map(lambda x: x[0], run.population.states)
    lived = jax.tree.map(np.asarray, state.recent.transitions)
    assert state.recent.valid.sum() == 3
    replay = jax.jit(lambda memory, cues, key: agent.replay(memory, cues, key=key))  # as in a step
    seen = 0
    for i in range(20):
        transitions, known, _ = replay(state.brain.memory, lived.state[:3], jax.random.key(i))
        for row in np.flatnonzero(np.asarray(known)):
            replayed = jax.tree.map(lambda x: np.asarray(x[row]), transitions)
            match = [all(np.allclose(r, t[j]) for r, t in zip(replayed, lived)) for j in range(3)]
            assert any(match), replayed
            seen += 1
    assert seen > 0


def test_an_episode_replayed_with_the_mean_outcome_is_lived_but_dies_as_the_place_does():
    """`replay="episode_mean_outcome"`: the state, action, change and reward of the transition `"episode"` replays,
    with the death and success probabilities `"mean"` replays for the same cue (graded where a place saw deaths);
    `"both"` replays what `"mean"` and `"episode"` replay."""
    def replayer(mode):
        config = dataclasses.replace(SMALL, planner=dataclasses.replace(SMALL_MODEL, replay=mode))
        agent, _ = build_agent(config, make_env("CartPole-v1"), key=jax.random.key(0))
        return jax.jit(lambda memory, cues, key: agent.replay(memory, cues, key=key))

    run = Run.start(SMALL, "CartPole-v1", population=1, seed=0)
    run.train(300)  # many falls
    memory = jax.tree.map(lambda x: x[0], run.population.states.brain.memory)
    cues = jax.random.normal(jax.random.key(1), (64, memory.in_size))
    mean, episode, mixed, both = (replayer(mode)(memory, cues, jax.random.key(2))
                                  for mode in ("mean", "episode", "episode_mean_outcome", "both"))
    for joined, *parts in zip(jax.tree.leaves(both[:2]), jax.tree.leaves(mean[:2]), jax.tree.leaves(episode[:2])):
        np.testing.assert_array_equal(joined, np.concatenate(parts))
    for field in ("state", "action", "delta", "reward"):
        np.testing.assert_array_equal(getattr(mixed[0], field), getattr(episode[0], field))
    for field in ("death", "success"):
        np.testing.assert_array_equal(getattr(mixed[0], field), getattr(mean[0], field))
    np.testing.assert_array_equal(mixed[1], episode[1])
    graded = np.asarray(mixed[0].death)[np.asarray(mixed[1]) > 0]
    assert ((graded > 0) & (graded < 1)).any(), graded


def test_critic_learns_the_values_of_a_chain_by_td():
    """States 0 -> 1 -> 2 -> end, utility -1 a step: V = -(1 + g + ...) steps to the end, 0.9: -2.71, -1.9, -1."""
    critic = PCCritic(3, (16,), discount=0.9, learning_rate=0.1, tau=0.05, key=jax.random.key(0))
    s, s_next = jnp.eye(3), jnp.eye(3)[jnp.array([1, 2, 2])]
    utility, ended = -jnp.ones(3), jnp.array([0.0, 0.0, 1.0])
    learn = eqx.filter_jit(lambda c: c.learn(s, utility, ended, s_next, jnp.ones(3)))
    for _ in range(1500):
        critic = learn(critic)
    values = np.asarray(jax.vmap(critic.value)(s))
    np.testing.assert_allclose(values, [-2.71, -1.9, -1.0], rtol=0.15)


def test_default_brain_acts_on_raw_actions_model_based_on_standard_tasks_by_need_values_on_mortal_worlds():
    assert isinstance(default_config("CartPole-v1").planner, ModelBasedConfig)
    assert default_config("CartPole-v1").motor == "raw"
    for world in ("mortal/FoodOnly-v0", "mortal/Forager-v0", "mortal/ThermalForager-v0"):
        assert isinstance(default_config(world).planner, NeedValueConfig) and default_config(world).motor == "raw"
    assert default_config("mortal/VisualForager-v0").motor == "reflexes"  # an image too large for the tuning code


@pytest.mark.parametrize("task, noise", [("CartPole-v1", 0.1), ("Pendulum-v1", 0.7)])
def test_the_planners_sampling_noise_is_the_configs_for_its_kind_of_action(task, noise):
    planner = ModelBasedConfig(noise=0.1, box_noise=0.7)
    config = dataclasses.replace(default_config(task), planner=planner)
    agent, _ = build_agent(config, make_env(task), key=jax.random.key(0))
    assert agent.planner.noise == noise


@pytest.mark.parametrize("correlation", [0.0, 0.9])
def test_box_candidates_keep_their_noise_std_and_follow_the_configured_correlation(correlation):
    planner = SamplingPlanner(1, False, horizon=12, candidates=4000, noise=0.2, correlation=correlation)
    eps = planner._sample(jnp.zeros((12, 1)), jax.random.key(0))[..., 0] / 0.2  # mean 0: nothing clipped at 5 std
    lag_one = float(jnp.mean(eps[:, 1:] * eps[:, :-1]))
    assert abs(float(eps.std()) - 1.0) < 0.02 and abs(lag_one - correlation) < 0.03, (float(eps.std()), lag_one)
    with pytest.raises(ValueError, match="correlation"):
        SamplingPlanner(1, False, correlation=1.0)


@pytest.mark.parametrize("hold", [False, True])
def test_the_warm_start_pads_a_box_plan_with_rest_or_with_its_last_step(hold):
    planner = SamplingPlanner(2, False, horizon=3, candidates=4, plans=2, hold=hold)
    mean = jnp.array([[0.1, 0.2], [0.3, 0.4], [0.5, -0.6]])
    state = planner.commit(planner.init_state()._replace(distribution=mean), mean)
    np.testing.assert_allclose(state.distribution[:2], mean[1:])
    np.testing.assert_allclose(state.distribution[2], mean[2] if hold else jnp.zeros(2))


@pytest.mark.parametrize("motor, names", [
    ("raw", ("centre", "+0", "-0", "+1", "-1")),  # the wheels' commands, not the body's reflexes
    ("reflexes", ("approach food", "explore", "turn", "rest")),
])
def test_a_mortal_bodys_channels_are_named_by_its_motor(motor, names):
    config = dataclasses.replace(SMALL, motor=motor)
    agent, _ = build_agent(config, make_env("mortal/FoodOnly-v0"), key=jax.random.key(0))
    assert agent.motor.names == names and agent.num_channels == len(names)


def run_until_end(env, action, limit=1000):
    env.reset(seed=0)
    for step in range(1, limit + 1):
        _, _, terminated, truncated, info = env.step(action(step))
        if terminated or truncated:
            return step, terminated, info
    return limit, False, info


def test_termination_semantics_of_the_standard_tasks():
    # CartPole: the pole falling is death
    step, terminated, info = run_until_end(envs.Homeostatic(gym.make("CartPole-v1")), lambda t: 0)
    assert terminated and info["cause_of_death"] == "task failed" and not info["success"]
    # MountainCar: reaching the flag is success, not death; all-negative rewards do not starve the body early
    car = envs.Homeostatic(gym.make("MountainCar-v0"))
    step, terminated, info = run_until_end(car, lambda t: 2 if (t // 30) % 2 else 0)
    assert info["cause_of_death"] == "" and info["internal_state"][0] > 0.5
    env = car.unwrapped
    env.reset(seed=0)
    env.state = np.array([0.49, 0.07])
    _, _, terminated, _, info = car.step(2)
    assert terminated and info["success"] and info["cause_of_death"] == ""
    # Acrobot: termination is success
    acrobot = envs.Homeostatic(gym.make("Acrobot-v1"))
    acrobot.reset(seed=0)
    acrobot.unwrapped.state = np.array([np.pi, 0.0, 0.0, 0.0])  # pointing straight up
    _, _, terminated, _, info = acrobot.step(1)
    assert terminated and info["success"] and info["cause_of_death"] == ""
    # Pendulum: never terminates; a 200-step episode of the worst rewards does not kill
    step, terminated, info = run_until_end(envs.Homeostatic(gym.make("Pendulum-v1")), lambda t: np.array([2.0]))
    assert step == 200 and not terminated and info["cause_of_death"] == ""
    # an id outside the table dies on termination, with a warning that names the keyword
    with pytest.warns(UserWarning, match="termination="):
        envs.Homeostatic(gym.make("CartPole-v0"))
    assert envs.Homeostatic(gym.make("CartPole-v0"), termination="success").task.termination == "success"


def test_a_task_with_its_own_internal_variables_gets_no_energy_store():
    own = envs.tasks.OwnVariables(names=("angle",), set_point=(0.0,), low=(-0.21,), high=(0.21,),
                                  observation_slice=(2, 3))
    env = envs.Homeostatic(gym.make("CartPole-v1"), own=own)
    obs, _ = env.reset(seed=0)
    assert env.physiology.names == ("angle",) and obs["intero"][0] == pytest.approx(obs["extero"][2])
    step, terminated, info = run_until_end(env, lambda t: 0)
    assert terminated and info["cause_of_death"] in ("angle above viable range", "angle below viable range", "task failed")


def test_nan_observations_and_actions_are_clear_errors():
    env = envs.Homeostatic(gym.make("Pendulum-v1"))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="non-finite action"):
        env.step(np.array([np.nan], np.float32))
    run = Run.start(SMALL, "CartPole-v1", population=2, seed=0, max_episode_steps=60)  # compiled as above
    run.train(2)
    run.current = run.current._replace(extero=np.full_like(run.current.extero, np.nan))
    with pytest.raises(ValueError, match="non-finite observation given to agent 0 at step 2"):
        run.train(1)



@pytest.mark.parametrize("cue, message", [
    ([0, 5], "the teacher cued channel 5 for agent 1 at step 7; valid: 0..4, or -1 for none"),
    ([-2, 0], "the teacher cued channel -2 for agent 0 at step 7"),
    ([0.5, 1], "must be whole channel numbers"),
    ([np.nan, 1], "must be whole channel numbers"),
    ([1], r"the teacher gave cues of shape \(1,\) at step 7, need one per member \(2,\)"),
])
def test_a_demonstration_out_of_range_is_a_clear_error(cue, message):
    with pytest.raises(ValueError, match=message):
        checked_cue(cue, members=2, channels=5, step=7)
    np.testing.assert_array_equal(checked_cue([-1, 4.0], members=2, channels=5, step=7), [-1, 4])


class NaNReward(gym.Wrapper):
    """A task whose reward turns to `value` from its third step on."""

    def __init__(self, env, value):
        super().__init__(env)
        self.value, self.steps = value, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, self.value if self.steps >= 3 else reward, terminated, truncated, info


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_task_rewards_and_own_variables_are_errors_of_the_wrapper(bad):
    env = envs.Homeostatic(NaNReward(gym.make("CartPole-v1"), bad))
    env.reset(seed=0)
    env.step(0), env.step(1)
    with pytest.raises(ValueError, match="the task CartPole-v1 returned a non-finite reward"):
        env.step(0)
    own = envs.tasks.OwnVariables(names=("angle",), set_point=(0.0,), low=(-0.21,), high=(0.21,),
                                  observation_slice=(2, 3))
    env = envs.Homeostatic(gym.make("CartPole-v1"), own=own)
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.0, 0.0, bad, 0.0])
    with pytest.raises(ValueError, match=r"the task.s internal variables \(.angle.,\) read \["):
        env.step(0)


def test_the_loop_names_the_source_agent_and_step_of_a_non_finite_input():
    run = Run.start(FAST, "CartPole-v1", population=2, seed=0)
    run.train(3)
    run.envs.envs[1].unwrapped.state = np.full(4, np.nan)  # agent 1's next observation
    with pytest.raises(ValueError, match=r"non-finite observation given to agent 1 at step 4: \[nan"):
        run.train(5)
    run.envs.envs[1].reset(seed=1)
    run.envs.envs[0].internal = np.array([np.nan])  # agent 0's energy
    with pytest.raises(ValueError, match=r"non-finite internal variables given to agent 0 at step 5: \[nan\]"):
        run.train(5)
    with pytest.raises(ValueError, match="non-finite reward given to agent 1 at step 7: nan"):
        check_finite(run.current._replace(reward=np.array([0.0, np.nan], np.float32)), 7)


def test_evaluation_lives_have_a_step_cap_and_say_when_it_cut_them():
    run = Run.start(FAST, ENDLESS, population=2, seed=0)  # a full body starves only after ~1,000 steps
    with pytest.warns(UserWarning, match=r"evaluation lives of agents \[0, 1\] were cut by the cap of 30 steps"):
        lives = run.evaluate(seed=1, cap=30)
    assert [(life["env"], life["capped"], life["cap"], life["survival_steps"]) for life in lives] == [
        (0, True, 30, 30), (1, True, 30, 30)]
    assert all(life["truncated"] and life["cause_of_death"] == "" for life in lives)
    run.envs.close()
    run = Run.start(FAST, "CartPole-v1", population=1, seed=0)  # a life that ends by itself, well before the cap
    lives = run.evaluate(seed=1)
    assert all(not life["capped"] and life["cap"] == EVALUATION_CAP and life["cause_of_death"] for life in lives)
    run.envs.close()


@pytest.fixture
def control(monkeypatch):
    """The control suite (`scripts/suites/control.py`), importable as the scripts import it."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "scripts"))
    from suites import control

    return control


def test_the_control_suite_resumes_the_tasks_it_finished_and_names_unknown_ones(control, tmp_path, monkeypatch):
    ran = []

    def fake_task(task, pool, seeds, budget, *protocol):
        ran.append((task, budget))
        return dict(mortal_return=float(budget)), [dict(task=task, brain="mortal", test_return=float(budget))]

    monkeypatch.setattr(control, "run_task", fake_task)
    run = dict(tasks=("CartPole-v1", "Pendulum-v1"), seeds=2, baselines=False, cache=str(tmp_path))
    first = control.evaluate(**run, budget_fraction=0.1)
    assert ran == [("CartPole-v1", 5_000), ("Pendulum-v1", 5_000)] and len(list(tmp_path.glob("*.json"))) == 2
    assert control.evaluate(**run, budget_fraction=0.1) == first and len(ran) == 2  # both reused
    control.evaluate(**run, budget_fraction=0.2)  # another protocol runs afresh
    assert ran[2:] == [("CartPole-v1", 10_000), ("Pendulum-v1", 10_000)]
    with pytest.raises(ValueError, match="Hopper-v5"):
        control.evaluate(tasks=("Hopper-v5",), baselines=False, cache=str(tmp_path))


def test_the_control_suite_resumes_a_stopped_task_where_it_was(control, tmp_path, monkeypatch):
    monkeypatch.setattr(control, "default_config", lambda task: SMALL)
    protocol = dict(task="CartPole-v1", seeds=2, budget=60, eval_every=30, eval_episodes=1, final_episodes=1,
                    test_seed=7)
    never_stopped = control.mortal(**protocol)

    train = Run.train

    def stop_at_the_second_lesson(run, steps, **kwargs):
        if run.record.steps:
            raise KeyboardInterrupt
        return train(run, steps, **kwargs)

    monkeypatch.setattr(Run, "train", stop_at_the_second_lesson)
    with pytest.raises(KeyboardInterrupt):
        control.mortal(**protocol, checkpoint=tmp_path / "run.ckpt")
    monkeypatch.setattr(Run, "train", train)
    resumed = control.mortal(**protocol, checkpoint=tmp_path / "run.ckpt")
    assert [step for step, _ in resumed["curve"]] == [30, 60]
    np.testing.assert_array_equal(np.asarray(resumed["curve"][0][1]), never_stopped["curve"][0][1])
    np.testing.assert_array_equal(resumed["final"], never_stopped["final"])


def test_the_control_suite_keeps_each_finished_baseline_run(control, tmp_path, monkeypatch):
    import concurrent.futures
    import sys
    import types

    trained = []

    def fake_baseline(algo, task, seed, budget, *protocol):
        trained.append((algo, seed))
        return dict(curve=[(budget, 100.0 + seed)], final_mean=100.0 + seed, seconds=1.0)

    # the real module imports torch, which only the `ppo` extra installs
    fake_module = types.SimpleNamespace(ALGORITHMS={"CartPole-v1": ("ppo", "dqn")}, train_and_test=fake_baseline)
    monkeypatch.setitem(sys.modules, "baselines_control", fake_module)
    monkeypatch.setattr(control, "mortal", lambda *args: dict(curve=[(50, [1.0, 3.0])], final=np.array([1.0, 3.0]),
                                                              seconds=1.0))
    runs = []
    for mortal_version in ("before", "after"):  # a change to Mortal: another stem, the same baselines' stem
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            runs.append(control.run_task("CartPole-v1", pool, 2, 50, 50, 1, 1, 7, stem=tmp_path / mortal_version,
                                         baselines_stem=tmp_path / "baselines"))
    assert sorted(trained) == [("dqn", 0), ("dqn", 1), ("ppo", 0), ("ppo", 1)]  # once each: the rerun reused them
    assert runs[0] == runs[1] and runs[0][0]["ppo_return"] == 100.5


def test_the_baselines_key_ignores_mortal_and_the_task_key_does_not(control, monkeypatch):
    protocol = dict(seeds=2, budget=50)
    before = control.task_key("CartPole-v1", protocol), control.task_key("CartPole-v1", protocol, baselines_only=True)
    monkeypatch.setattr(control, "code_version", lambda: "another version of Mortal")
    after = control.task_key("CartPole-v1", protocol), control.task_key("CartPole-v1", protocol, baselines_only=True)
    assert before[0] != after[0] and before[1] == after[1]
    assert control.task_key("CartPole-v1", dict(protocol, budget=60), baselines_only=True) != before[1]
