"""What goes into and out of a training run: the job, the runtime's raw outcome, the
result, and the error of a failed learner. The `Runtime` interface and the driver that
uses these are in `dist_classicrl.runtimes.driver`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.runtimes.checkpoint import Checkpoint, CheckpointPlan
from dist_classicrl.schedules import Schedule

#: ``(global step, table, [episodes, return sum, squared-return sum, length sum],
#: seconds since training started)``: one learning-curve point, evaluated by the driver.
Snapshot = tuple[int, np.ndarray, np.ndarray, float]


def table_bytes(env: DistClassicRLEnv) -> int:
    """Bytes of one float32 table for `env`."""
    return env.n_states * env.n_actions * 4


class WorkerError(RuntimeError):
    """A worker process or MPI rank died or raised. `result` is what the run had learned
    when it failed (`TrainResult` with ``status="failed"``; its ``q_table`` is None when
    no true table survived), so a caller can still save it."""

    def __init__(self, message: str, result: TrainResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class TrainingJob:
    """What to train: the same for every runtime."""

    algorithm: BaseAlgorithm
    env: DistClassicRLEnv
    steps: int
    epsilon: Schedule
    learning_rate: Schedule
    seed: int | None = None
    #: Write checkpoints (`dist_classicrl.runtimes.checkpoint`).
    checkpoint: CheckpointPlan | None = None
    #: Continue from this checkpoint instead of starting afresh.
    resume: Checkpoint | None = None


@dataclass
class Outcome:
    """What a runtime's learners produced, before the driver evaluates and assembles it.

    ``q_table`` holds exactly the learning counted in ``steps`` (None when no such table
    exists, e.g. after a failure before any merge); ``totals`` are the summed episode
    statistics; ``snapshots`` the learning-curve points taken during training."""

    q_table: np.ndarray | None
    steps: int
    totals: np.ndarray
    train_time_s: float
    compile_time_s: float
    snapshots: list[Snapshot] = field(default_factory=list)
    workers: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class TrainResult:
    """What `Runtime.train` returns; the app turns it into the job's files."""

    q_table: np.ndarray | None
    steps: int
    train_time_s: float
    compile_time_s: float
    eval_time_s: float
    status: str
    statistics: dict[str, float]
    eval: dict[str, Any]
    curve: list[dict[str, float]] = field(default_factory=list)
    workers: int = 1
    details: dict[str, Any] = field(default_factory=dict)  # runtime-specific metrics
    #: ``SIGINT`` / ``SIGTERM`` when a signal stopped the run, else None.
    stop_signal: str | None = None
    error: str | None = None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.train_time_s if self.train_time_s > 0 else float("nan")
