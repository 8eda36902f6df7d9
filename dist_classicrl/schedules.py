"""Schedules for epsilon and the learning rate, as functions of the global step count.

The runtime owns the schedules (it knows the global step over all envs, workers and
ranks) and sets ``algorithm.epsilon`` / ``algorithm.learning_rate`` from them between
batches, so the algorithms stay schedule-agnostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dist_classicrl.errors import ConfigError

KINDS = ("constant", "linear", "exponential")


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
        if self.kind not in KINDS:
            raise ConfigError(
                f"schedule kind {self.kind!r} is unknown: allowed are {', '.join(KINDS)}"
            )
        if self.kind == "exponential" and (self.start <= 0 or self.end <= 0):
            raise ConfigError(
                f"an exponential schedule needs start and end > 0, got {self.start} and {self.end}"
            )

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

    def over(self, steps: int) -> Schedule:
        return Schedule(self.start, self.end, math.ceil(self.fraction * steps), self.kind)
