"""Flatten discrete product spaces (``Tuple`` of ``Discrete``, ``MultiDiscrete``) into one
``Discrete`` index, for observations and for actions.

Encoding
    Component values ``(x_0, ..., x_{k-1})`` with sizes ``(n_0, ..., n_{k-1})`` map to
    ``np.ravel_multi_index(x - start, n)``: row-major, the last component varies fastest
    (the seed's ``FlattenMultiDiscreteWrapper`` unflattens actions the same way). A
    ``Discrete`` space with ``start != 0`` is shifted to start at 0.

Example
    Blackjack-v1 observes ``Tuple(Discrete(32), Discrete(11), Discrete(2))``, (player sum,
    dealer card, usable ace): state ``(14, 10, 0)`` is index ``14 * 22 + 10 * 2 + 0 = 328``
    of ``Discrete(704)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dist_classicrl.errors import ConfigError

_HINTS = {
    spaces.Box: "wrapper=discretize bins a Box",
    spaces.Dict: "a Dict space has no fixed index order",
}


def discrete_parts(space: gym.Space, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(sizes, starts)`` of the discrete components of `space`; `ConfigError` if it has
    a component that is not discrete (`what` names the space in the message)."""
    if isinstance(space, spaces.Discrete):
        return np.array([space.n]), np.array([space.start])
    if isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
        return space.nvec.astype(np.int64), space.start.astype(np.int64)
    if isinstance(space, spaces.Tuple) and all(isinstance(s, spaces.Discrete) for s in space):
        return np.array([s.n for s in space]), np.array([s.start for s in space])
    hint = _HINTS.get(type(space), "only Discrete, MultiDiscrete and Tuple of Discrete flatten")
    raise ConfigError(
        f"wrapper=flatten cannot flatten the {what} space {_shown(space)} into one index ({hint})"
    )


def _shown(space: gym.Space) -> str:
    return f"Box{space.shape}" if isinstance(space, spaces.Box) else str(space)


def flatten_index(value: Any, sizes: np.ndarray, starts: np.ndarray) -> int:
    """The index of `value` (a product of discrete components) in ``Discrete(prod(sizes))``."""
    parts = np.asarray(value, dtype=np.int64).reshape(-1) - starts
    return int(np.ravel_multi_index(parts, sizes))


def unflatten_index(index: Any, sizes: np.ndarray, starts: np.ndarray, kind: type) -> Any:
    """The value of `index` in the product space of type `kind` (its inverse)."""
    parts = np.array(np.unravel_index(int(index), sizes)) + starts
    if kind is spaces.Discrete:
        return int(parts[0])
    if kind is spaces.Tuple:
        return tuple(int(p) for p in parts)
    return parts


# Each wrapper records its (no) arguments (`RecordConstructorArgs`), so that env.spec
# describes it and gym.make(env.spec) rebuilds the wrapped env (check_env tests that).


class FlattenDiscreteObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observations of a discrete product space as one ``Discrete(prod(sizes))`` index."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.sizes, self.starts = discrete_parts(env.observation_space, "observation")
        self.observation_space = spaces.Discrete(int(np.prod(self.sizes)))

    def observation(self, observation: Any) -> int:
        return flatten_index(observation, self.sizes, self.starts)


class FlattenDiscreteAction(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Actions chosen as one ``Discrete(prod(sizes))`` index, unflattened for the env."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        self.sizes, self.starts = discrete_parts(env.action_space, "action")
        self.action_space = spaces.Discrete(int(np.prod(self.sizes)))
        self._kind = type(env.action_space)

    def action(self, action: Any) -> Any:
        return unflatten_index(action, self.sizes, self.starts, self._kind)


class FlattenMultiDiscreteWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The seed's wrapper: observations *and* actions flattened to one index each.

    Components that are already ``Discrete`` pass through (shifted to start at 0), so
    the wrapped env always has ``Discrete`` spaces, as tabular Q-learning needs. One
    wrapper, not two nested ones, so that its spec names it once.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self.sizes, self.starts = discrete_parts(env.observation_space, "observation")
        self.action_sizes, self.action_starts = discrete_parts(env.action_space, "action")
        self.observation_space = spaces.Discrete(int(np.prod(self.sizes)))
        self.action_space = spaces.Discrete(int(np.prod(self.action_sizes)))
        self._kind = type(env.action_space)

    def observation(self, observation: Any) -> int:
        return flatten_index(observation, self.sizes, self.starts)

    def reset(self, **kwargs: Any) -> tuple[int, dict]:
        observation, info = self.env.reset(**kwargs)
        return self.observation(observation), info

    def step(self, action: Any) -> tuple[int, Any, bool, bool, dict]:
        inner = unflatten_index(action, self.action_sizes, self.action_starts, self._kind)
        observation, reward, terminated, truncated, info = self.env.step(inner)
        return self.observation(observation), reward, terminated, truncated, info
