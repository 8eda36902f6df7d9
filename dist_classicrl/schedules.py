"""Schedules for epsilon and the learning rate, as functions of the global step count.

The runtime owns the schedules (it knows the global step over all envs, workers and
ranks) and sets ``algorithm.epsilon`` / ``algorithm.learning_rate`` from them between
batches, so the algorithms stay schedule-agnostic.

The rules of a schedule are written here once: `Schedule` and `ScheduleSpec` check
themselves when made, and `check_learning_rate` adds the learning rate's own bound. Their
messages name the field (``start=1.5 ...``); the app prefixes its key with
`dist_classicrl.errors.config_key` (``schedule.epsilon.start=1.5 ...``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dist_classicrl.errors import ConfigError, check_range

KINDS = ("constant", "linear", "exponential")


def check_learning_rate(name: str, value: float) -> None:
    """A learning rate lies in (0, 1]: at 0 nothing is learned."""
    check_range(name, value, 0.0, 1.0, low_open=True)


def check_learning_rate_schedule(schedule: Schedule | ScheduleSpec) -> None:
    """A learning-rate schedule: both ends are learning rates (`check_learning_rate`)."""
    check_learning_rate("start", schedule.start)
    check_learning_rate("end", schedule.end)


def _check(start: float, end: float, kind: str) -> None:
    """Both ends are probabilities or rates in [0, 1]; an exponential one never reaches 0."""
    check_range("start", start, 0.0, 1.0)
    check_range("end", end, 0.0, 1.0)
    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r} is unknown: allowed are {', '.join(KINDS)}")
    if kind == "exponential" and min(start, end) <= 0:
        raise ConfigError(
            f"kind=exponential needs start and end > 0 (a geometric path never reaches 0), "
            f"got {start} and {end}"
        )


@dataclass(frozen=True)
class Schedule:
    """Moves from `start` to `end` over the first `horizon` steps, then stays at `end`.

    ``linear`` interpolates linearly, ``exponential`` geometrically (so it needs
    ``start, end > 0``), ``constant`` stays at `start`.
    """

    start: float
    end: float
    horizon: int
    kind: str = "linear"

    def __post_init__(self) -> None:
        _check(self.start, self.end, self.kind)

    def __call__(self, step: int) -> float:
        if self.kind == "constant" or self.horizon <= 0:
            return self.start if self.kind == "constant" else self.end
        progress = min(1.0, step / self.horizon)
        if self.kind == "linear":
            return self.start + (self.end - self.start) * progress
        return self.start * math.exp(math.log(self.end / self.start) * progress)


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule relative to a budget not known yet: from `start` to `end` over the first
    `fraction` of the steps (`over` makes the `Schedule` for a budget)."""

    start: float
    end: float
    fraction: float = 1.0
    kind: str = "linear"

    def __post_init__(self) -> None:
        _check(self.start, self.end, self.kind)
        check_range("fraction", self.fraction, 0.0, 1.0, low_open=True)

    def over(self, steps: int) -> Schedule:
        return Schedule(self.start, self.end, math.ceil(self.fraction * steps), self.kind)
