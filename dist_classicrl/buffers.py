"""Experience replay: the settings (`ReplayConfig`) and the buffer (`ExperienceBuffer`).

The buffer is a ring of preallocated NumPy arrays, one per field of a transition
(``state, action, reward, next_state, terminated`` and, for envs with action masks, the
legal actions of ``next_state``): a whole batch of transitions goes in with at most two
slice copies, and a sample is gathered into preallocated output arrays, so nothing grows
with the number of transitions stored or sampled. The seed's deque of tuples cost a
Python object per transition and a Python loop per sample.

Sampling is uniform over the filled slots, *with* replacement, from a seeded
`numpy.random.Generator` passed in: a sampled batch may hold one transition twice, which
the documented batch semantics (`dist_classicrl.algorithms.base`) turns into two ordinary
updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dist_classicrl.errors import ConfigError, check_positive_int, check_range


@dataclass
class ReplayConfig:
    """``algorithm.replay``: experience replay settings (``capacity=0``: no replay).

    After every batch of env transitions learned, the transitions are stored; then, once
    the buffer holds at least `warmup` transitions, the learner owes `updates_per_step`
    replayed updates per env transition of that batch and pays them in whole sampled
    batches of `batch_size` (the fraction is carried over). ``updates_per_step=0.25`` with
    ``batch_size=64`` replays one batch per 256 env transitions learned; ``4.0`` replays
    four transitions per env transition. Replayed updates do not count as ``steps``.
    """

    capacity: int = 0  # transitions kept (the oldest are overwritten); 0: no replay
    batch_size: int = 64  # transitions per replayed batch
    updates_per_step: float = 1.0  # replayed updates per env transition learned
    warmup: int = 0  # transitions stored before replay starts (0: from the first)

    def __post_init__(self) -> None:
        check_positive_int("algorithm.replay.capacity", self.capacity, minimum=0)
        check_positive_int("algorithm.replay.batch_size", self.batch_size)
        check_range(
            "algorithm.replay.updates_per_step",
            self.updates_per_step,
            0.0,
            math.inf,
            low_open=True,
            high_open=True,
        )
        check_positive_int("algorithm.replay.warmup", self.warmup, minimum=0)
        if self.capacity and self.batch_size > self.capacity:
            raise ConfigError(
                f"algorithm.replay.batch_size={self.batch_size} is larger than "
                f"algorithm.replay.capacity={self.capacity}: allowed is batch_size <= capacity"
            )
        if self.capacity and self.warmup > self.capacity:
            raise ConfigError(
                f"algorithm.replay.warmup={self.warmup} is larger than "
                f"algorithm.replay.capacity={self.capacity}: replay would never start"
            )

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    @classmethod
    def from_any(cls, value: object) -> ReplayConfig:
        """A `ReplayConfig` from itself, a mapping (a composed config node) or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return cls(**dict(value))  # type: ignore[call-overload]


class Transitions(NamedTuple):
    """A batch in the argument order of ``batch_update``."""

    states: np.ndarray  # int64[n]
    actions: np.ndarray  # int64[n]
    rewards: np.ndarray  # float64[n]
    next_states: np.ndarray  # int64[n]
    terminated: np.ndarray  # bool[n]
    next_masks: np.ndarray | None  # bool[n, n_actions], or None for envs without masks


class ExperienceBuffer:
    """A ring buffer of `capacity` transitions in preallocated arrays (module docstring).

    `mask_width` is the number of actions when transitions carry next-state action
    masks, None when they do not. `rng` draws the samples.
    """

    def __init__(
        self, capacity: int, rng: np.random.Generator, mask_width: int | None = None
    ) -> None:
        check_positive_int("algorithm.replay.capacity", capacity)
        self.capacity = capacity
        self.rng = rng
        self._fields: list[np.ndarray] = [
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=np.float64),
            np.zeros(capacity, dtype=np.int64),
            np.zeros(capacity, dtype=np.bool_),
        ]
        self.next_masks: np.ndarray | None = None
        if mask_width is not None:
            self.next_masks = np.zeros((capacity, mask_width), dtype=np.bool_)
            self._fields.append(self.next_masks)
        self.position = 0  # the slot the next transition goes to
        self.size = 0  # filled slots: [0, size)
        self._out: list[np.ndarray] = []  # sample() output, reused while the size holds

    def __len__(self) -> int:
        return self.size

    @property
    def masked(self) -> bool:
        return self.next_masks is not None

    def add(
        self,
        states: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_states: np.ndarray,
        terminated: np.ndarray,
        next_masks: np.ndarray | None = None,
    ) -> None:
        """Store a batch in order, overwriting the oldest transitions when full (a batch
        longer than the buffer leaves its last `capacity` transitions)."""
        if (next_masks is None) == self.masked:
            raise ValueError(
                "this buffer stores next-state masks: pass next_masks"
                if self.masked
                else "this buffer was made without masks (mask_width=None): next_masks must be None"
            )
        batch = [states, actions, rewards, next_states, terminated]
        if self.masked:
            assert next_masks is not None  # checked above: masked iff next_masks given
            batch.append(next_masks)
        n = len(states)
        cap = self.capacity
        if n > cap:  # only the newest `cap` survive: skip the rest as if written
            self.position = (self.position + n - cap) % cap
            batch = [values[n - cap :] for values in batch]
            n = cap
        head = min(n, cap - self.position)  # up to the end of the arrays, then wrap
        for stored, values in zip(self._fields, batch, strict=True):
            stored[self.position : self.position + head] = values[:head]
            stored[: n - head] = values[head:]
        self.position = (self.position + n) % cap
        self.size = min(cap, self.size + n)

    def contents(self) -> Transitions:
        """Copies of the stored transitions, oldest first (for inspection, not training)."""
        start = self.position if self.size == self.capacity else 0
        order = (start + np.arange(self.size)) % self.capacity
        fields = [stored[order] for stored in self._fields]
        return Transitions._make([*fields[:5], fields[5] if self.masked else None])

    def sample(self, batch_size: int) -> Transitions:
        """`batch_size` transitions drawn uniformly, with replacement, from the filled slots.

        The arrays returned are reused by the next call: learn from them (or copy them)
        before sampling again.
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer")
        if not self._out or self._out[0].shape[0] != batch_size:
            self._out = [np.empty((batch_size, *f.shape[1:]), dtype=f.dtype) for f in self._fields]
        index = self.rng.integers(0, self.size, batch_size)
        for stored, out in zip(self._fields, self._out, strict=True):
            stored.take(index, axis=0, out=out)
        masks = self._out[5] if self.masked else None
        return Transitions._make([*self._out[:5], masks])
