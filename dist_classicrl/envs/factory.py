"""`make_env`: the one factory behind the ``env`` config group, with its registry."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.envs.blackjack import rules_model
from dist_classicrl.envs.gym_vector import GymVectorEnv
from dist_classicrl.envs.pettingzoo_adapter import make_pettingzoo
from dist_classicrl.envs.presets import DEFAULT_NUM_ENVS, PRESETS
from dist_classicrl.envs.tabular import TabularEnv, is_compilable
from dist_classicrl.envs.tabular_model import TabularModel
from dist_classicrl.envs.tictactoe import TicTacToeEnv
from dist_classicrl.errors import ConfigError, check_positive_int

#: What the ``wrapper`` config group builds: a callable from a Gymnasium env to the wrapped env.
Wrapper = Callable[[gym.Env], gym.Env]

BACKENDS = ("auto", "compiled", "vector")


def _make_tictactoe(
    num_envs: int, seed: int | None, opponent: str = "random", **_: object
) -> DistClassicRLEnv:
    return TicTacToeEnv(num_envs=num_envs, seed=seed, opponent=opponent)


#: Built-in env kinds by name; ``gym`` wraps any registered Gymnasium id.
REGISTRY: dict[str, Callable[..., DistClassicRLEnv]] = {"tictactoe": _make_tictactoe}


#: The `make_env` arguments each kind reads (besides num_envs, seed and, for gym, the
#: wrapper): another one given a value would be silently ignored, so it is refused.
_READS = {
    "tictactoe": {"opponent"},
    "pettingzoo": {"id", "eval_episodes"},
    "gym": {"id", "kwargs", "max_episode_steps", "backend", "eval_episodes"},
}


#: Ready env configs for Gymnasium ids that need a wrapper, named in the error message.
READY_CONFIGS = {
    "CartPole-v1": "cartpole",
    "MountainCar-v0": "mountaincar",
    "Blackjack-v1": "blackjack",
}


def _discrete_or_error(space: gym.Space, what: str, env_id: str) -> None:
    if not isinstance(space, gym.spaces.Discrete):
        hint = {
            gym.spaces.Box: "wrapper=discretize bins a Box (set wrapper.bins, wrapper.low, "
            "wrapper.high)",
            gym.spaces.Tuple: "wrapper=flatten turns a Tuple of Discrete into one index",
            gym.spaces.MultiDiscrete: "wrapper=flatten turns a MultiDiscrete into one index",
        }.get(type(space), "no wrapper in this version maps it to one index")
        if what == "action" and isinstance(space, gym.spaces.Box):
            hint = (
                "continuous actions cannot be tabulated: bin them with Gymnasium's "
                "gymnasium.wrappers.DiscretizeAction(env, bins) and pass the env object to "
                "dist_classicrl.QLearning"
            )
        if env_id in READY_CONFIGS:
            hint += f", or use the ready config env={READY_CONFIGS[env_id]}"
        shown = f"Box{space.shape}" if isinstance(space, gym.spaces.Box) else str(space)
        raise ConfigError(
            f"env.id={env_id}: its {what} space is {shown}, not Discrete as tabular "
            f"Q-learning needs ({hint})"
        )


def make_gym(
    env_id: str,
    kwargs: dict | None = None,
    max_episode_steps: int | None = None,
    wrapper: Wrapper | None = None,
) -> gym.Env:
    """``gym.make``, then `wrapper` (the ``wrapper`` config group), with user errors turned
    into `ConfigError` and the wrapped env's spaces checked."""
    if not isinstance(env_id, str):
        raise ConfigError(f"env.id={env_id!r} is not a Gymnasium id: it must be a string")
    if ":" in env_id:  # Gymnasium's "module:Id": importing the module registers Id
        module, _, env_id = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"env.id={module}:{env_id}: cannot import {module} ({exc})") from None
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
    if wrapper is not None:
        env = wrapper(env)
    _discrete_or_error(env.observation_space, "observation", env_id)
    _discrete_or_error(env.action_space, "action", env_id)
    return env


def _exact_model(probe: gym.Env, wrapped: bool) -> TabularModel | None:
    """The env's exact tabular model in the indices it observes, or None.

    Unwrapped: its table ``P``. Wrapped: only a model written for that env and wrapper
    (`rules_model`), since ``P`` is indexed by the unwrapped states.
    """
    if not wrapped:
        return TabularModel.from_gym(probe.unwrapped) if is_compilable(probe.unwrapped) else None
    return rules_model(probe)


def make_env(
    kind: str = "tictactoe",
    num_envs: int | None = None,
    id: str | None = None,
    kwargs: dict | None = None,
    max_episode_steps: int | None = None,
    backend: str = "auto",
    seed: int | None = None,
    eval_episodes: int = 100,
    opponent: str = "random",
    wrapper: Wrapper | None = None,
) -> DistClassicRLEnv:
    """Build a batched env of `num_envs` copies. ``kind`` is a named env (`PRESETS`:
    ``"taxi"``, ``"frozenlake"``, ``"cartpole"``, ...; its values, wrapper included, are
    defaults that the other arguments override), a built-in kind (``tictactoe``), ``gym``
    (then `id` is required) or ``pettingzoo``.

    For ``gym``, `wrapper` (from the ``wrapper`` config group) wraps every copy, and
    ``backend=auto`` compiles envs whose exact tabular model is known (`TabularEnv`: the
    table ``P`` of toy-text envs, the rules of Blackjack) and steps the others through
    ``gymnasium.vector``. `num_envs` defaults to the preset's, else `DEFAULT_NUM_ENVS` (64).
    """
    preset = PRESETS.get(kind)
    if preset is not None and preset.env["kind"] != kind:  # a named env of another kind
        return make_env(
            preset.env["kind"],
            num_envs if num_envs is not None else preset.num_envs,
            id if id is not None else preset.env.get("id"),
            {**preset.env.get("kwargs", {}), **(kwargs or {})},
            max_episode_steps
            if max_episode_steps is not None
            else preset.env.get("max_episode_steps"),
            backend,
            seed,
            eval_episodes if eval_episodes != 100 else preset.env.get("eval_episodes", 100),
            opponent,
            wrapper if wrapper is not None else preset.wrapper_callable,
        )
    if num_envs is None:
        num_envs = preset.num_envs if preset is not None else DEFAULT_NUM_ENVS
    check_positive_int("env.num_envs", num_envs)
    if max_episode_steps is not None:
        check_positive_int("env.max_episode_steps", max_episode_steps)
    if backend not in BACKENDS:
        raise ConfigError(f"env.backend={backend!r} is unknown: allowed are {', '.join(BACKENDS)}")
    given = {
        "id": id,
        "kwargs": kwargs or None,
        "max_episode_steps": max_episode_steps,
        "backend": None if backend == "auto" else backend,
        "eval_episodes": None if eval_episodes == 100 else eval_episodes,
        "opponent": None if opponent == "random" else opponent,
    }
    for name, value in given.items():
        if value is not None and kind in _READS and name not in _READS[kind]:
            readers = [k for k, reads in _READS.items() if name in reads]
            example = " (e.g. env=gym env.id=Taxi-v4, or env=taxi)" if "gym" in readers else ""
            raise ConfigError(
                f"env.{name}={value!r} is not read by env.kind={kind}: it applies to "
                f"env.kind={' or '.join(readers)}{example}"
            )
    if wrapper is not None and kind != "gym":
        raise ConfigError(
            f"wrapper={_wrapper_name(wrapper)} wraps Gymnasium envs (env.kind=gym); "
            f"env.kind={kind} takes wrapper=none"
        )
    if kind in REGISTRY:
        return REGISTRY[kind](num_envs=num_envs, seed=seed, opponent=opponent)
    if kind == "pettingzoo":  # self-play in a two-player PettingZoo classic game
        return make_pettingzoo(id, num_envs, seed, eval_episodes)
    if kind != "gym":
        kinds = ", ".join(
            [*REGISTRY, "gym", "pettingzoo", *(name for name in PRESETS if name not in REGISTRY)]
        )
        raise ConfigError(f"env.kind={kind!r} is unknown: allowed are {kinds}")
    if not id:
        raise ConfigError("env.kind=gym needs env.id, a registered Gymnasium id such as Taxi-v4")
    probe = make_gym(id, kwargs, max_episode_steps, wrapper)
    model = _exact_model(probe, wrapped=wrapper is not None)
    if backend == "compiled" and model is None:
        raise ConfigError(
            f"env.backend=compiled: {id} has no exact tabular model in the states it is "
            "observed in; use env.backend=auto or vector"
        )
    if model is not None and backend != "vector":
        if max_episode_steps is None and probe.spec is not None:
            max_episode_steps = probe.spec.max_episode_steps
        probe.close()
        return TabularEnv(model, num_envs, max_episode_steps, seed, name=id)
    probe.close()
    return GymVectorEnv(
        partial(make_gym, id, kwargs, max_episode_steps, wrapper),
        num_envs,
        seed,
        name=id,
        eval_episodes=eval_episodes,
    )


def _wrapper_name(wrapper: Wrapper) -> str:
    target = wrapper.func if isinstance(wrapper, partial) else wrapper
    return getattr(target, "__name__", repr(target))


def make_env_from(
    env: Any, num_envs: int | None = None, seed: int | None = None
) -> DistClassicRLEnv:
    """A batched env of `num_envs` copies (`DEFAULT_NUM_ENVS` if None) of an env object:

    - a Gymnasium env: rebuilt from its ``spec`` (``gym.make``'s id, kwargs and time limit,
      and the wrappers around it that record their arguments), compiled when its exact
      model is known; an env made without ``gym.make`` is compiled from its table ``P``;
    - a PettingZoo AEC game (``tictactoe_v3.env()``): self-play, as ``env.kind=pettingzoo``;
    - one of this package's envs: returned as it is.
    """
    if isinstance(env, DistClassicRLEnv):
        return env
    num_envs = DEFAULT_NUM_ENVS if num_envs is None else num_envs
    if hasattr(env, "agent_iter") and hasattr(env, "possible_agents"):  # a PettingZoo game
        return make_pettingzoo(env.metadata.get("name"), num_envs, seed)
    if not isinstance(env, gym.Env):
        raise ConfigError(
            f"env={type(env).__name__} is not a Gymnasium env, a PettingZoo AEC game, a "
            "named env (e.g. 'taxi') or a Gymnasium id"
        )
    spec = env.spec
    if spec is None:
        if is_compilable(env.unwrapped):
            return TabularEnv.from_gym(env, num_envs, seed=seed)
        raise ConfigError(
            f"env={type(env.unwrapped).__name__} was not made by gym.make (it has no spec), so "
            "no copies of it can be made: create it with gym.make(id, ...)"
        )
    for wrapper_spec in spec.additional_wrappers:
        if wrapper_spec.kwargs is None:
            raise ConfigError(
                f"env: the wrapper {wrapper_spec.name} does not record its arguments "
                "(gymnasium.utils.RecordConstructorArgs), so copies of the env cannot be made; "
                "give the env without it, or a wrapper that records them"
            )
    # a wrapper's entry point is a wrapper class, ``(env, **kwargs) -> Env``, not the env
    # creator load_env_creator is annotated to return; every kwargs was checked above
    wrappers = [
        (cast(Callable[..., gym.Env], load_env_creator(w.entry_point)), cast(dict, w.kwargs))
        for w in spec.additional_wrappers
    ]

    def rewrap(inner: gym.Env) -> gym.Env:
        for cls, kwargs in wrappers:
            inner = cls(inner, **kwargs)
        return inner

    return make_env(
        "gym",
        num_envs,
        id=spec.id,
        kwargs=dict(spec.kwargs),
        max_episode_steps=spec.max_episode_steps,
        seed=seed,
        wrapper=rewrap if wrappers else None,
    )
