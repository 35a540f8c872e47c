"""Cost accounting (brain.base: synaptic operations): every module's count equals the operations counted by hand
from the sizes of a small configuration, and the agents report them per step and per module."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import AgentConfig, ConfigError, ModelBasedConfig, PCConfig, validate
from agents.loop import Run
from brain.basal_ganglia import BasalGanglia
from brain.pc_perception import PCPerception
from brain.planner import ActiveInferencePlanner, Factor, GenerativeModel
from brain.sampling_planner import SamplingPlanner
from brain.sdr_encoding import BinaryInput, WinnersTakeAll
from brain.sdr_memory import SparseyMemory
from brain.situations import Situations
from brain.world_model import PCWorldModel

FORAGER = "mortal/Forager-v0"
KEY = jax.random.key(0)


def tiny_perception(**options):
    """latent 2 <- hidden 3 <- observation 4, conditioned on an action of width 2, 3 inference steps."""
    return PCPerception(4, 2, (3,), action_size=2, steps=3, key=KEY, **options)


@pytest.mark.parametrize("integrator, evaluations", [("euler", 1), ("heun", 2)])
def test_pc_perception_counts_every_synapse_it_uses(integrator, evaluations):
    perception = tiny_perception(integrator=integrator)
    state, percept = perception.perceive(perception.init_state(), jnp.ones(4), key=KEY)
    w1, w2 = 3 * 2, 4 * 3  # synapses latent -> hidden, hidden -> observation
    prior = 2 * 2 + 2 * 2  # A f(z') (latent x latent) and B u (latent x action)
    prediction = prior + w1 + w2  # the world model's prediction the latents start from
    flow = 2 * (w1 + w2)  # per evaluation: predictions down and errors back up through every synapse
    inference = prior + 3 * evaluations * flow + (w1 + w2)  # the prior once, 3 steps, the final F
    assert float(percept.ops) == prediction + inference
    # learning: errors (prior and both W), the products dW, dA, dB, and the biases and prior mean (2 + 3 + 4)
    assert float(perception.learn_ops(state, jnp.ones(4))) == 2 * prior + 2 * (w1 + w2) + (2 + 3 + 4)


def test_pc_perception_with_a_plasticity_gate_counts_only_its_contexts_units():
    perception = tiny_perception(contexts=2)  # context 0 owns 1 of 2 latent and 1 of 3 hidden units
    state, percept = perception.perceive(perception.init_state(), jnp.ones(4), key=KEY)
    w1, w2, prior = 1 * 1, 4 * 1, 1 * (1 + 2)
    assert float(percept.ops) == (prior + w1 + w2) + prior + 3 * 2 * (w1 + w2) + (w1 + w2)
    assert float(perception.learn_ops(state, jnp.ones(4))) == 2 * prior + 2 * (w1 + w2) + (1 + 1 + 4)


def test_sdr_memory_counts_rows_read_and_writes_made():
    memory = SparseyMemory(BinaryInput(8, max_active=3), payload_size=2, num_modules=2, cells_per_module=4,
                           sequences=False)
    x = jnp.array([1, 0, 1, 0, 0, 1, 0, 0], jnp.float32)  # 3 active bits
    cells = 2 * 4
    match = 3 * cells + cells  # a row of Q K bits per active bit, and the Q K bundle fills
    assert float(memory.recall(x).ops) == match + 2 * 2 * 2  # + payload sums and counts of the 2 winners
    mask = jnp.array([1.0, 0.0])
    writes = 3 * 2 + 2 + 3 * 2 * 1  # every active bit to each of the 2 winners, their fills, 1 payload entry each
    # (its sum, count and kept episode)
    assert float(memory.store_ops(x, jnp.ones(2), mask=mask)) == match + writes
    assert float(memory.replay(memory.recall(x).code, key=KEY).ops) == 2 * 2  # one cell's episode and counts
    assert float(memory.recall(x.at[0].set(0.0)).ops) == 2 * cells + cells + 8  # one bit fewer, one row fewer
    projected = SparseyMemory(WinnersTakeAll(4, 2, 16, key=KEY), payload_size=1, num_modules=2, cells_per_module=4)
    assert float(projected.recall(jnp.ones(4)).ops) == 16 * 4 + 2 * cells + cells + 2 * 2 * 1  # P x first


def test_pymdp_planner_counts_its_tensor_contractions():
    model = GenerativeModel((Factor("level", 3, preference=jnp.zeros(3), ordinal=True),
                             Factor("place", 2, preference=jnp.zeros(2))))
    for novelty in (False, True):
        planner = ActiveInferencePlanner(model, 2, policy_len=1, novelty=novelty)  # 2 channels: 2 policies of 1 step
        state, plan = planner.plan(planner.init_state(), [jnp.array(1), jnp.array(0)], key=KEY)
        infer = (2 * 9 + 16 * 3) + (2 * 4 + 16 * 2)  # B q and A o, 16 fixed-point updates of every state
        score = 2 * 1 * ((3 * 9 + 3 * 3) + (3 * 4 + 3 * 2))  # per policy, step: B, A, H[A]; utility, H[qo], ambiguity
        dirichlet = 2 * 1 * ((3 * 9 + 9 * 2) + (3 * 4 + 4 * 2)) if novelty else 0
        assert float(plan.ops) == infer + score + dirichlet + 2 * 2 * 2  # + the policies summed into 2 channels
    first = 2 * 9 + 2 * 4  # pA += o (x) q and A renormalised; no transition yet
    assert float(planner.learn_ops(state, [jnp.array(1), jnp.array(0)])) == first
    after = planner.commit(state, jnp.array(1))
    transitions = (9 + 2 * 9 * 2) + (4 + 2 * 4 * 2)  # q(s') q(s)^T, pB rewritten and B renormalised over 2 channels
    assert float(planner.learn_ops(after, [jnp.array(1), jnp.array(0)])) == first + transitions


def test_gate_and_situations_count_their_synapses():
    _, selection = BasalGanglia(3).select(BasalGanglia(3).init_state(), jnp.array([0.2, 0.9, 0.1]), key=KEY)
    assert float(selection.ops) == 13 * 3 * 32  # 13 synapses per channel, 32 settling steps
    situations = Situations(4, 3, key=KEY)
    assert float(situations.classify_ops(jnp.ones(3))) == 4 * 3  # every unit against every latent dimension
    assert float(situations.learn_ops(jnp.ones(3))) == 4 * 3 + 4 + 3 * 3  # + win counts, winner, mean and variance


def test_model_based_planner_counts_candidates_times_horizon_times_the_world_model():
    world_model = PCWorldModel(3, 2, (5,), members=2, key=KEY)
    synapses = 5 * (3 + 2) + (3 + 3) * 5  # [state, action] -> hidden -> [delta, reward, death, success]
    assert float(world_model.predict_ops()) == 2 * synapses
    planner = SamplingPlanner(2, True, horizon=4, candidates=6, plans=2)
    assert float(planner.plan_ops(world_model.predict_ops(), 7.0)) == 6 * (4 * 2 * synapses + 7)


def test_agent_reports_each_modules_ops_at_ticks_and_nothing_between_for_memory_planner_and_gate():
    run = Run.start(AgentConfig(), FORAGER, 2, 0)  # the default agent: a tick at its first step, none for 49
    infos = []
    run.train(4, on_step=lambda t, info, record, obs: infos.append(info))
    assert set(infos[0]["ops"]) == {"perception", "memory", "planner", "gate", "situations"}
    for info in infos:
        for counts in info["ops"].values():
            assert counts.shape == (2,) and np.all(np.isfinite(counts)) and np.all(counts >= 0)
    tick, between = infos[0]["ops"], infos[1]["ops"]
    assert bool(infos[0]["tick"].all()) and not bool(infos[1]["tick"].any())
    assert np.all(tick["planner"] > 0) and np.all(tick["gate"] > 0) and np.all(tick["memory"] > 0)
    assert np.all(between["planner"] == 0) and np.all(between["gate"] == 0) and np.all(between["memory"] == 0)
    assert np.all(infos[1]["familiarity"] == 0)  # memory recalls only for the gate, at a tick
    assert np.all(sum(tick.values()) > sum(between.values()))


def test_a_frozen_step_counts_no_learning_ops():
    run = Run.start(AgentConfig(), FORAGER, 2, 0)
    run.train(3)  # past the first step, so that a tick stores the episode of the last one
    states = run.population.states
    ticking = jnp.full_like(states.life_steps, AgentConfig().plan_every)  # the next step is a tick
    run.population.states = states = eqx.tree_at(lambda s: s.life_steps, states, ticking)
    _, _, frozen = run.population.step(run.current, jax.random.key(1), learn=False)
    run.population.states = states
    _, _, learning = run.population.step(run.current, jax.random.key(1))
    assert bool(frozen["tick"].all()) and bool(learning["tick"].all())
    for slot in ("memory", "planner", "situations"):  # a tick's store and learning steps are skipped
        assert np.all(frozen["ops"][slot] < learning["ops"][slot]), slot
    assert np.all(frozen["ops"]["gate"] == learning["ops"]["gate"])  # selection is not learning


def test_model_agent_reports_its_modules_ops():
    config = AgentConfig(planner=ModelBasedConfig(candidates=4, plans=2, horizon=3, members=2, hidden=(8,),
                                                  recent=2, dreams=1, value="critic"))
    run = Run.start(config, FORAGER, 1, 0)
    infos = []
    run.train(2, on_step=lambda t, info, record, obs: infos.append(info))
    ops = infos[-1]["ops"]
    assert set(ops) == {"perception", "memory", "planner", "gate", "world_model", "critic"}
    assert all(np.isfinite(v).all() and (v > 0).all() for v in ops.values())
    rollouts = 4 * 3 * float(run.population.states.brain.world_model.predict_ops())  # candidates x horizon x model
    assert ops["planner"][0] > rollouts  # plus the value at each end


# --- adaptive computation ---

def settling(tolerance: float, steps: int = 50):
    return PCPerception(4, 2, (3,), action_size=2, steps=steps, settle_tolerance=tolerance, key=KEY)


def test_inference_stops_early_on_an_easy_input_and_counts_only_the_steps_taken():
    perception = settling(1e-3)
    state = perception.init_state()
    easy = state.states[-1]  # the observation the prior predicts: F settles at once
    hard = 3.0 * jax.random.normal(jax.random.key(1), (4,))
    perceive = jax.jit(lambda x: perception.perceive(state, x, key=KEY))
    start = perception.stack.propagate(perception.stack.source_mean(state.context))[:-1]
    infer = jax.jit(lambda x: perception.stack.infer((*start, x), clamped=(False, False, True), context=state.context))
    (_, easy_percept), (_, easy_run) = perceive(easy), infer(easy)
    (_, hard_percept), (_, hard_run) = perceive(hard), infer(hard)
    assert 2 <= int(easy_run.steps) < int(hard_run.steps) < 50
    w, prior = 3 * 2 + 4 * 3, 2 * (2 + 2)
    for percept, run in ((easy_percept, easy_run), (hard_percept, hard_run)):
        assert float(percept.ops) == (prior + w) + prior + int(run.steps) * 2 * w + w
        trace = np.asarray(run.free_energy)
        assert trace.shape == (51,) and np.all(trace[int(run.steps):] == trace[-1])  # steps not taken: the last F
        change = abs(trace[int(run.steps) - 1] - trace[int(run.steps) - 2])
        assert change <= 1e-3 * (abs(trace[int(run.steps) - 2]) + 1e-6)  # it stopped because F had settled
    assert float(easy_percept.ops) < float(hard_percept.ops)
    # vmapped, each sample stops on its own
    _, both = jax.vmap(lambda x: perception.perceive(state, x, key=KEY))(jnp.stack([easy, hard]))
    np.testing.assert_array_equal(both.ops, [easy_percept.ops, hard_percept.ops])


def test_without_a_tolerance_inference_is_the_scan_of_every_step():
    hard = 3.0 * jax.random.normal(jax.random.key(1), (4,))
    scan, never = settling(0.0), settling(1e-30)  # a tolerance no step meets: every step, through the while loop
    stack = scan.stack
    start = (*stack.propagate(stack.source_mean(scan.init_state().context))[:-1], hard)
    context = scan.init_state().context
    states, run = stack.infer(start, clamped=(False, False, True), context=context)
    looped, loop_run = never.stack.infer(start, clamped=(False, False, True), context=context)
    assert int(run.steps) == int(loop_run.steps) == 50
    for a, b in zip(states, looped):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(run.free_energy, loop_run.free_energy, rtol=1e-6)
    # tol = 0 is the plain scan: reverse-mode gradients go through it (not through a while loop)
    final = lambda s, x: s.infer((*start[:-1], x), clamped=(False, False, True), context=context)[1].free_energy[-1]
    assert np.isfinite(jax.grad(final, argnums=1)(stack, hard)).all()
    with pytest.raises(ValueError, match="[Rr]everse-mode"):
        jax.grad(final, argnums=1)(never.stack, hard)


def ticks_by_the_rule(infos, config: AgentConfig) -> np.ndarray:
    """`Agent.is_tick` with plan_when="drive" or "surprised", recomputed from the infos of one life of one agent."""
    ticks, mean, since, tick_drive = [], None, 0, 0.0
    for t, info in enumerate(infos):
        energy, drive = float(info["free_energy"][0]), float(info["drive"][0])
        mean = energy if mean is None else mean
        surprised = config.plan_when == "surprised" and energy > mean + (config.surprise_ratio - 1) * abs(mean)
        tick = t == 0 or since >= config.plan_every or surprised or drive - tick_drive > config.drive_rise
        ticks.append(tick)
        mean, since = mean + config.surprise_rate * (energy - mean), 1 if tick else since + 1
        tick_drive = drive if tick else tick_drive
    return np.array(ticks)


@pytest.mark.parametrize("plan_when", ["drive", "surprised"])
def test_planning_on_demand_plans_at_fewer_steps_and_follows_its_equations(plan_when):
    config = AgentConfig(plan_when=plan_when, plan_every=20)
    run, infos = Run.start(config, FORAGER, 1, 0), []
    run.train(120, on_step=lambda t, info, record, obs: infos.append(info))
    assert not run.record.lives  # one life: the rule below needs no deaths
    tick = np.array([bool(info["tick"][0]) for info in infos])
    assert 6 <= tick.sum() < 120  # at least every plan_every steps; plan_every=1 would plan at all 120
    np.testing.assert_array_equal(tick, ticks_by_the_rule(infos, config))
    planner = np.array([float(info["ops"]["planner"][0]) for info in infos])
    assert np.all(planner[~tick] == 0) and np.all(planner[tick] > 0)
    channel = np.array([int(info["channel"][0]) for info in infos])
    np.testing.assert_array_equal(channel[1:][~tick[1:]], channel[:-1][~tick[1:]])  # held between ticks


@pytest.mark.parametrize("config, message", [
    (AgentConfig(surprise_ratio=0.5), "AgentConfig.surprise_ratio must be >= 1"),
    (AgentConfig(surprise_rate=0.0), r"AgentConfig.surprise_rate must be in \(0, 1\]"),
    (AgentConfig(drive_rise=-0.1), "AgentConfig.drive_rise must be finite and >= 0"),
    (AgentConfig(perception=PCConfig(settle_tolerance=float("nan"))), "PCConfig.settle_tolerance must be finite"),
    (AgentConfig(plan_when="often"), r"AgentConfig.plan_when must be one of \('tick', 'drive', 'surprised'\)"),
    (AgentConfig(learn_when="sometimes"), r"AgentConfig.learn_when must be one of \('always', 'surprised'\)"),
])
def test_adaptive_settings_out_of_range_are_named_errors(config, message):
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_learning_on_surprise_takes_perceptions_learning_steps_only_where_free_energy_is_above_its_mean():
    config = AgentConfig(learn_when="surprised", learn_every=2)
    run, infos, learned = Run.start(config, FORAGER, 1, 0), [], []
    for _ in range(40):
        before = run.population.states.brain.perception
        run.train(1, on_step=lambda t, info, record, obs: infos.append(info))
        after = run.population.states.brain.perception
        learned.append(not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after))))
    assert not run.record.lives  # one life: its step count is the index below
    energy = np.array([float(info["free_energy"][0]) for info in infos])
    mean = energy[0]
    for t, e in enumerate(energy):  # the running mean of is_tick, Fbar_t = Fbar_{t-1} + rho (F_t - Fbar_{t-1})
        expected = t % 2 == 0 and e > mean
        assert learned[t] == expected, t
        mean += config.surprise_rate * (e - mean)
    assert 0 < sum(learned) < 20  # some due steps learn, some are skipped
    perception = np.array([float(info["ops"]["perception"][0]) for info in infos])
    learning = np.array(learned)
    assert np.all(perception[learning] > perception[~learning].max())  # the learning step's operations, counted
