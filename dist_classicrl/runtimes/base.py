"""The runtime interface: what a runtime supplies to the one training driver.

`dist_classicrl.runtimes.driver` owns everything the runtimes share: chunk planning,
schedules, progress, evaluation points, stop requests and signals, result assembly and
cleanup. A `Runtime` supplies only how its learners run (one loop in this process,
forked workers, MPI ranks) and how their tables are combined (nothing, a merge into
shared memory, an MPI synchronisation). No runtime imports another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import check_positive_int
from dist_classicrl.runtimes.capacity import check_memory
from dist_classicrl.runtimes.checkpoint import Checkpoint, CheckpointPlan
from dist_classicrl.schedules import Schedule

if TYPE_CHECKING:
    from dist_classicrl.runtimes.driver import Session

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
    #: Write checkpoints (the single runtime does; the others refuse a plan).
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


class Runtime(ABC):
    """How learners run and combine; `train` hands the job to the driver."""

    name: ClassVar[str]

    def __init__(
        self, eval_points: int = 10, progress: bool | None = None, fused: bool = True
    ) -> None:
        check_positive_int("runtime.eval_points", eval_points)
        self.eval_points = eval_points
        self.progress = progress
        self.fused = fused

    #: Processes that learn (workers or ranks); the progress bar and metrics show it.
    @property
    def learners(self) -> int:
        return 1

    def is_secondary_rank(self) -> bool:
        """True in an MPI rank other than 0 of ranks the user started: rank 0 alone
        writes the job's files."""
        return False

    def check_capacity(self, env: DistClassicRLEnv) -> None:
        """Raise `ConfigError` if this machine cannot hold the job: memory for the
        tables, processes to start. Called before the algorithm's table is allocated.
        One process: the table and the copy saved as the result."""
        check_memory(
            2 * table_bytes(env),
            f"a {env.n_states:,} x {env.n_actions} table (and its saved copy)",
        )

    #: Whether `execute` writes checkpoints and resumes from them.
    checkpoints: ClassVar[bool] = False

    def check_compatible(self, algorithm: BaseAlgorithm, env: DistClassicRLEnv) -> None:
        """Raise `ConfigError` for an algorithm this runtime cannot run."""

    def train(
        self,
        algorithm: BaseAlgorithm,
        env: DistClassicRLEnv,
        steps: int,
        epsilon: Schedule,
        learning_rate: Schedule,
        seed: int | None = None,
    ) -> TrainResult:
        """Learn from exactly `steps` env transitions (fewer when stopped); raises
        `WorkerError` if a learner fails (its ``result`` holds what survived)."""
        return self.run(TrainingJob(algorithm, env, steps, epsilon, learning_rate, seed))

    def run(self, job: TrainingJob) -> TrainResult:
        """`train` for a whole `TrainingJob` (checkpoints and resume included)."""
        from dist_classicrl.runtimes.driver import train

        return train(self, job)

    @abstractmethod
    def execute(self, session: Session) -> Outcome | None:
        """Run the learners until the budget is spent or the session asks them to stop;
        None from an MPI rank other than 0 (rank 0 reports)."""
