"""agents.motor: the channels of Gymnasium tasks outside Mortal (`primitives_for`, `ActionTable`)."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces

import envs
from agents.motor import ActionTable, PrimitiveActions, primitives_for, to_env_action


class Actuated(gym.Env):
    """A task that is only an action space (`primitives_for` reads nothing else of a foreign task)."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

    def __init__(self, action_space: spaces.Space):
        self.action_space = action_space


def test_discrete_tasks_get_one_channel_per_action():
    table = primitives_for(gym.make("CartPole-v1"))
    assert isinstance(table, ActionTable) and table.discrete
    assert (table.num_channels, table.names) == (2, ("action 0", "action 1"))
    shifted = primitives_for(Actuated(spaces.Discrete(3, start=-1)))
    assert shifted.names == ("action -1", "action 0", "action 1")
    extero = np.zeros(3, np.float32)
    assert [int(shifted.command(c, extero)) for c in range(3)] == [-1, 0, 1]
    command = shifted.command(2, extero)
    assert np.shape(command) == () and command.dtype == np.int32


def test_box_tasks_get_the_centre_and_half_range_steps_along_each_dimension():
    pendulum = primitives_for(gym.make("Pendulum-v1"))  # torque in [-2, 2]
    assert not pendulum.discrete and pendulum.names == ("centre", "+0", "-0")
    np.testing.assert_array_equal([pendulum.command(c, np.zeros(3)) for c in range(3)], [[0.0], [1.0], [-1.0]])
    low, high = np.array([-1.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32)  # centre (0, 2)
    table = primitives_for(Actuated(spaces.Box(low, high)))
    assert table.num_channels == 2 * 2 + 1 and table.names == ("centre", "+0", "-0", "+1", "-1")
    commands = np.array([table.command(c, np.zeros(3)) for c in range(5)])
    np.testing.assert_allclose(commands, [[0.0, 2.0], [0.5, 2.0], [-0.5, 2.0], [0.0, 3.0], [0.0, 1.0]])


def test_commands_keep_the_reading_array_kind_and_float_dtype():
    pendulum = primitives_for(gym.make("Pendulum-v1"))
    assert pendulum.command(1, np.zeros(3, np.float64)).dtype == np.float64
    assert pendulum.command(1, np.zeros(3, np.float32)).dtype == np.float32
    on_device = pendulum.command(jnp.array(2), jnp.zeros(3))
    assert isinstance(on_device, jax.Array) and on_device.dtype == jnp.float32 and float(on_device[0]) == -1.0
    cartpole = primitives_for(gym.make("CartPole-v1"))
    jitted = jax.jit(cartpole.command)(jnp.array(1), jnp.zeros(4))  # the channel traced, as in the agent step
    assert jitted.dtype == jnp.int32 and int(jitted) == 1
    batched = jax.vmap(pendulum.command)(jnp.array([0, 1, 2]), jnp.zeros((3, 3)))
    np.testing.assert_array_equal(batched, [[0.0], [1.0], [-1.0]])


def test_tasks_without_primitives_are_named_errors():
    with pytest.raises(ValueError, match="no motor primitives for action space Box.*bounded 1-D Box"):
        primitives_for(Actuated(spaces.Box(-np.inf, np.inf, (2,))))
    with pytest.raises(ValueError, match="no motor primitives"):
        primitives_for(Actuated(spaces.Box(-1.0, 1.0, (2, 2))))
    with pytest.raises(ValueError, match="no motor primitives"):
        primitives_for(Actuated(spaces.MultiDiscrete([2, 3])))


def test_primitive_actions_give_a_foreign_agent_the_same_channels():
    env = PrimitiveActions(envs.Homeostatic(gym.make("Pendulum-v1")))
    assert env.action_space == spaces.Discrete(3)
    env.reset(seed=0)
    reference = envs.Homeostatic(gym.make("Pendulum-v1"))
    reference.reset(seed=0)
    for channel in (1, 2, 0, 1):
        obs, *_, info = env.step(channel)
        command = to_env_action(reference.action_space, env.primitives.command(channel, np.zeros(3)))
        assert command.dtype == np.float32
        expected, *_ = reference.step(command)
        np.testing.assert_array_equal(obs["extero"], expected["extero"])
        assert info["channel"] == channel
    assert to_env_action(spaces.Discrete(2), np.int32(1)) == 1 and isinstance(to_env_action(spaces.Discrete(2), 1), int)
