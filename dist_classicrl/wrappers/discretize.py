"""Discretise a ``Box`` observation into a grid of bins: one ``Discrete`` index per cell.

Bins
    Dimension ``d`` is cut into ``bins[d]`` equal-width bins between ``low[d]`` and
    ``high[d]``; values outside those bounds are clipped into the first or last bin (so
    bounds narrower than the space are allowed: CartPole's velocities are unbounded).
    ``bins[d] = 1`` ignores dimension ``d``. The cell ``(i_0, ..., i_{k-1})`` is index
    ``np.ravel_multi_index(i, bins)`` of ``Discrete(prod(bins))``.

Bounds
    ``low`` / ``high`` default to the space's own bounds, which must then be finite.

Rejected (`ConfigError`, one line naming the value)
    A space that is not a ``Box``; a number of bins or bounds that does not match the
    space's dimensions; bins < 1; bounds that are not finite, inverted (``low >= high``)
    or entirely outside the space's range (every observation would fall in one bin).
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dist_classicrl.errors import ConfigError

#: How to turn other spaces into one index.
_OTHER_SPACE_HINT = {
    spaces.Discrete: "it is already Discrete: use wrapper=none",
    spaces.Tuple: "use wrapper=flatten",
    spaces.MultiDiscrete: "use wrapper=flatten",
}


def _per_dimension(name: str, value: float | Sequence[float], dims: int) -> np.ndarray:
    """A scalar for every dimension, or one value per dimension."""
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.ndim != 1 or len(values) not in (1, dims):
        raise ConfigError(
            f"wrapper.{name}={_listed(values)} does not fit a "
            f"{dims}-dimensional Box: give one value or {dims} values"
        )
    return np.broadcast_to(values, (dims,)).copy()


class BinnedObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """A ``Box`` observation as the index of its grid cell (module docstring).

    Not named after Gymnasium's ``DiscretizeObservation(env, bins)``, which takes the
    space's own (finite) bounds and no clipping: this one takes bounds narrower than the
    space and clips into the end bins. It records its arguments, so ``gym.make(env.spec)``
    rebuilds it."""

    def __init__(
        self,
        env: gym.Env,
        bins: int | Sequence[int] = 10,
        low: float | Sequence[float] | None = None,
        high: float | Sequence[float] | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, bins=bins, low=low, high=high)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, spaces.Box):
            hint = _OTHER_SPACE_HINT.get(type(space), "only a Box space is binned")
            raise ConfigError(
                f"wrapper=discretize needs a Box observation space, got {space} ({hint})"
            )
        dims = int(np.prod(space.shape))
        space_low, space_high = space.low.reshape(-1), space.high.reshape(-1)
        counts = _per_dimension("bins", bins, dims)
        if (counts < 1).any() or (counts != np.round(counts)).any():
            given = _listed(np.atleast_1d(np.asarray(bins, dtype=np.float64)))
            raise ConfigError(f"wrapper.bins={given}: every count must be an integer >= 1")
        self.bins = counts.astype(np.int64)
        self.low = space_low.astype(np.float64) if low is None else _per_dimension("low", low, dims)
        self.high = (
            space_high.astype(np.float64) if high is None else _per_dimension("high", high, dims)
        )
        self._check_bounds(space_low, space_high)
        self._scale = self.bins / (self.high - self.low)
        self.observation_space = spaces.Discrete(int(np.prod(self.bins)))

    def _check_bounds(self, space_low: np.ndarray, space_high: np.ndarray) -> None:
        bounds = f"wrapper.low={_listed(self.low)} wrapper.high={_listed(self.high)}"
        if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
            raise ConfigError(
                f"{bounds}: bounds must be finite; the space is unbounded there, so set "
                "wrapper.low and wrapper.high for every dimension"
            )
        if (self.low >= self.high).any():
            d = int(np.flatnonzero(self.low >= self.high)[0])
            raise ConfigError(f"{bounds}: low must be < high, not in dimension {d}")
        outside = (self.high <= space_low) | (self.low >= space_high)
        if outside.any():
            d = int(np.flatnonzero(outside)[0])
            raise ConfigError(
                f"{bounds}: dimension {d} lies outside the space's range "
                f"[{space_low[d]:g}, {space_high[d]:g}], so every observation "
                "would fall in one bin"
            )

    def observation(self, observation: np.ndarray) -> int:
        # Truncation rounds (-1, 0) up to bin 0, and mode="clip" moves every cell index
        # outside [0, bins) to the nearest end bin: together, the clipping rule.
        cell = ((np.asarray(observation).reshape(-1) - self.low) * self._scale).astype(np.int64)
        return int(np.ravel_multi_index(cell, self.bins, mode="clip"))


def _listed(values: np.ndarray) -> list:
    return [int(v) if float(v).is_integer() else float(v) for v in values]
