"""`make_env`: the one factory behind the ``env`` config group, with its registry."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial

import gymnasium as gym

from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.envs.gym_vector import GymVectorEnv
from dist_classicrl.envs.pettingzoo_adapter import make_pettingzoo
from dist_classicrl.envs.tabular import TabularEnv, is_compilable
from dist_classicrl.envs.tictactoe import TicTacToeEnv
from dist_classicrl.errors import ConfigError, check_positive_int

BACKENDS = ("auto", "compiled", "vector")


def _make_tictactoe(
    num_envs: int, seed: int | None, opponent: str = "random", **_: object
) -> DistClassicRLEnv:
    return TicTacToeEnv(num_envs=num_envs, seed=seed, opponent=opponent)


#: Built-in env kinds by name; ``gym`` wraps any registered Gymnasium id.
REGISTRY: dict[str, Callable[..., DistClassicRLEnv]] = {"tictactoe": _make_tictactoe}


def _discrete_or_error(space: gym.Space, what: str, env_id: str) -> None:
    if not isinstance(space, gym.spaces.Discrete):
        hint = {
            gym.spaces.Box: "a Box space needs binning into a grid",
            gym.spaces.Tuple: "a Tuple space needs flattening into one index",
            gym.spaces.MultiDiscrete: "a MultiDiscrete space needs flattening into one index",
        }.get(type(space), "it needs mapping to one index")
        shown = f"Box{space.shape}" if isinstance(space, gym.spaces.Box) else str(space)
        raise ConfigError(
            f"env.id={env_id}: its {what} space is {shown}, not Discrete as tabular "
            f"Q-learning needs ({hint}; no wrapper in this version does that yet)"
        )


def make_gym(
    env_id: str, kwargs: dict | None = None, max_episode_steps: int | None = None
) -> gym.Env:
    """``gym.make`` with user errors turned into `ConfigError` and spaces checked."""
    if not isinstance(env_id, str):
        raise ConfigError(f"env.id={env_id!r} is not a Gymnasium id: it must be a string")
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"env.id={env_id!r} is not a registered Gymnasium env{hint}")
    try:
        env = gym.make(env_id, max_episode_steps=max_episode_steps, **(kwargs or {}))
    except gym.error.Error as exc:
        raise ConfigError(f"env.id={env_id!r} cannot be made: {exc}") from None
    except Exception as exc:  # the env's own constructor rejected env.kwargs
        raise ConfigError(
            f"gym.make({env_id!r}) with env.kwargs={kwargs or {}} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    _discrete_or_error(env.observation_space, "observation", env_id)
    _discrete_or_error(env.action_space, "action", env_id)
    return env


def make_env(
    kind: str = "tictactoe",
    num_envs: int = 1,
    id: str | None = None,
    kwargs: dict | None = None,
    max_episode_steps: int | None = None,
    backend: str = "auto",
    seed: int | None = None,
    eval_episodes: int = 100,
    opponent: str = "random",
) -> DistClassicRLEnv:
    """Build a batched env. ``kind`` is a built-in name or ``gym`` (then `id` is required).

    For ``gym``, ``backend=auto`` compiles envs whose dynamics are their table ``P``
    (`TabularEnv`) and steps the others through ``gymnasium.vector``.
    """
    check_positive_int("env.num_envs", num_envs)
    if max_episode_steps is not None:
        check_positive_int("env.max_episode_steps", max_episode_steps)
    if backend not in BACKENDS:
        raise ConfigError(f"env.backend={backend!r} is unknown: allowed are {', '.join(BACKENDS)}")
    if opponent != "random" and kind != "tictactoe":
        raise ConfigError(f"env.opponent={opponent!r} applies to env.kind=tictactoe only")
    if kind in REGISTRY:
        return REGISTRY[kind](num_envs=num_envs, seed=seed, opponent=opponent)
    if kind == "pettingzoo":  # self-play in a two-player PettingZoo classic game
        return make_pettingzoo(id, num_envs, seed, eval_episodes)
    if kind != "gym":
        kinds = ", ".join([*REGISTRY, "gym", "pettingzoo"])
        raise ConfigError(f"env.kind={kind!r} is unknown: allowed are {kinds}")
    if not id:
        raise ConfigError("env.kind=gym needs env.id, a registered Gymnasium id such as Taxi-v4")
    probe = make_gym(id, kwargs, max_episode_steps)
    compilable = is_compilable(probe.unwrapped)
    if backend == "compiled" and not compilable:
        raise ConfigError(
            f"env.backend=compiled: {id} has no exact transition table P; "
            "use env.backend=auto or vector"
        )
    if compilable and backend != "vector":
        env = TabularEnv.from_gym(probe, num_envs, max_episode_steps, seed, name=id)
        probe.close()
        return env
    probe.close()
    return GymVectorEnv(
        partial(make_gym, id, kwargs, max_episode_steps),
        num_envs,
        seed,
        name=id,
        eval_episodes=eval_episodes,
    )
