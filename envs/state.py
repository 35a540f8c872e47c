"""A world's state as plain values (numpy arrays, numbers, strings, None), to checkpoint it and restore it into a
freshly made copy of the same world: no pickle, so loading runs no code and survives library upgrades.

One protocol: a world or wrapper of ours has `state_dict() -> dict` and `load_state_dict(dict)`. Gymnasium's own
pieces are read here: `TimeLimit` (its step count), `OrderEnforcing` and `PassiveEnvChecker` (their flags), MuJoCo
worlds (`mj_getState` with `mjSTATE_INTEGRATION`: time, qpos, qvel, act, warm start, controls, mocap bodies), and
classic-control tasks (their `state`, `steps_beyond_terminated` and `last_u`). Every world's RNG goes with it
(`np_random.bit_generator.state`). Anything else is refused by name rather than silently left out.

    saved = vector_state(worlds)        # JSON and numpy only
    restore_vector(fresh_worlds, saved)  # `fresh_worlds` made as `worlds` were: they now step as `worlds` would
"""

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

CLASSIC = ("state", "steps_beyond_terminated", "last_u")  # what classic-control tasks change as they step
FLAGS = {TimeLimit: ("_elapsed_steps",), OrderEnforcing: ("_has_reset",),
         PassiveEnvChecker: ("checked_reset", "checked_step", "checked_render")}


class StateError(ValueError):
    """A world whose state cannot be saved, or a saved state that does not fit the world it is loaded into."""


def mujoco_state(env: MujocoEnv) -> np.ndarray:
    """The MuJoCo data that determines every later step (see `mujoco.mjtState.mjSTATE_INTEGRATION`)."""
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(env.model, spec))
    mujoco.mj_getState(env.model, env.data, state, spec)
    return state


def set_mujoco_state(env: MujocoEnv, state: np.ndarray) -> None:
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    size = mujoco.mj_stateSize(env.model, spec)
    if np.shape(state) != (size,):
        raise StateError(f"the saved MuJoCo state has {np.size(state)} values; this world's has {size}")
    mujoco.mj_setState(env.model, env.data, np.asarray(state, np.float64), spec)
    mujoco.mj_forward(env.model, env.data)  # derived quantities (positions of bodies, contacts) for rendering


def env_state(env: gym.Env) -> list[dict]:
    """The state of `env` and of every wrapper around it, outermost first, each named by its type."""
    layers = []
    while True:
        layers.append({"type": type(env).__name__, **_layer_state(env)})
        if not isinstance(env, gym.Wrapper):
            return layers
        env = env.env


def restore_env(env: gym.Env, layers: list[dict]) -> None:
    """Loads `env_state`'s output into `env`, made as the saved one was."""
    types = []
    layer = env
    while True:
        types.append(type(layer).__name__)
        if not isinstance(layer, gym.Wrapper):
            break
        layer = layer.env
    saved = [state["type"] for state in layers]
    if saved != types:
        raise StateError(f"the saved world is {' > '.join(saved)}; the world made to load it is {' > '.join(types)}")
    for state in layers:
        _load_layer(env, {k: v for k, v in state.items() if k != "type"})
        env = getattr(env, "env", None)


def vector_state(worlds: gym.vector.SyncVectorEnv) -> dict:
    """Every copy's `env_state` and which copies reset at their next step (the NEXT_STEP autoreset)."""
    return {"envs": [env_state(env) for env in worlds.envs], "autoreset": worlds._autoreset_envs.copy()}


def restore_vector(worlds: gym.vector.SyncVectorEnv, state: dict) -> None:
    if len(state["envs"]) != worlds.num_envs:
        raise StateError(f"the saved worlds are {len(state['envs'])} copies; {worlds.num_envs} were made to load them")
    for env, layers in zip(worlds.envs, state["envs"]):
        restore_env(env, layers)
    worlds._autoreset_envs = np.asarray(state["autoreset"], bool).copy()


def _layer_state(env: gym.Env) -> dict:
    if hasattr(env, "state_dict"):
        return env.state_dict()
    for kind, names in FLAGS.items():
        if type(env) is kind:
            return {name: getattr(env, name) for name in names}
    if isinstance(env, gym.Wrapper):
        raise StateError(f"cannot checkpoint the wrapper {type(env).__name__}: it has no state_dict()")
    if isinstance(env, MujocoEnv):
        return {"mujoco": mujoco_state(env), "rng": rng_state(env)}
    if hasattr(env, "state"):
        return {**{name: getattr(env, name) for name in CLASSIC if hasattr(env, name)}, "rng": rng_state(env)}
    raise StateError(f"cannot checkpoint the world {type(env).__name__}: it is neither MuJoCo nor classic control "
                     f"(a `state` attribute) and has no state_dict()")


def _load_layer(env: gym.Env, state: dict) -> None:
    if hasattr(env, "load_state_dict"):
        try:
            return env.load_state_dict(state)
        except KeyError as missing:
            raise StateError(f"the saved state of {type(env).__name__} has no {missing}") from None
    state = dict(state)
    if "mujoco" in state:
        set_mujoco_state(env, state.pop("mujoco"))
    if "rng" in state:
        set_rng_state(env, state.pop("rng"))
    for name, value in state.items():  # a wrapper's flags, a classic-control task's variables
        setattr(env, name, value)


def rng_state(env: gym.Env) -> dict | None:
    """The world's RNG (a JSON-able dict), or None if it was never seeded."""
    generator = env.unwrapped._np_random
    return None if generator is None else generator.bit_generator.state


def set_rng_state(env: gym.Env, state: dict | None) -> None:
    if state is not None:
        generator = env.unwrapped.np_random
        if type(generator.bit_generator).__name__ != state["bit_generator"]:
            raise StateError(f"the saved RNG is a {state['bit_generator']}; this world's is "
                             f"{type(generator.bit_generator).__name__}")
        generator.bit_generator.state = state
