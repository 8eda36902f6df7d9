"""The training driver: the `Runtime` interface and the one loop every runtime runs its
learners in.

A `Runtime` supplies only how its learners run (one loop in this process, forked
workers, MPI ranks) and how their tables are combined (nothing, a merge into shared
memory, an MPI synchronisation); the driver owns the rest. No runtime imports another.

A *learner* is a process that learns: the single runtime's process, each parallel
worker, each MPI rank. Every learner runs `Learner.run`:

    until its share is spent or a stop is asked:
        schedules from the global step -> one chunk of steps -> publish counts
        at a combination point: combine tables (the runtime's `Coordinator`)

What the driver owns, so that the runtimes cannot differ in it:

Chunks bounded by time (`ChunkPlanner`)
    A chunk is one compiled call. Its size comes from the throughput measured on the
    previous chunks, so that each call lasts about `TARGET_CHUNK_S` whatever the budget:
    a stop, a progress update or an evaluation waits at most that long. Chunks never
    cross a schedule tick (`SCHEDULE_TICKS` per run, at fixed step counts) or a
    combination point, so in one process the learning does not depend on chunk sizes:
    the same seed gives the same table however fast the machine is.
Stop requests and signals (`StopRequest`)
    SIGINT and SIGTERM set a flag; learners stop at their next chunk boundary, combine
    what they learned and report. A second SIGINT asks for a hard stop: the runtime stops
    its processes at once and reports only what is already combined. While kernels
    compile or load (no chunk boundary for seconds), a signal raises `KeyboardInterrupt`
    right away instead.
Evaluation points and result assembly (`train`)
    Runtimes return the tables they snapshot at the evaluation points (`Outcome`); the
    driver evaluates them, sums the statistics and builds the one `TrainResult`.
Checkpoints (`Session.save_checkpoint`, `Session.continuation`)
    The single runtime saves its whole state and resumes exactly. Runtimes whose learners
    combine (parallel, distributed) save the combined table, the step count and
    statistics it holds, the training time and the evaluation snapshots not yet
    evaluated (`Continuation`); a resumed run continues the schedules, counters and
    learning curve from there with fresh random streams (docs/reliability.md).
"""

from __future__ import annotations

import math
import signal
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from tqdm import tqdm

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import ConfigError, check_positive_int
from dist_classicrl.runtimes import checkpoint
from dist_classicrl.runtimes.base import (
    Outcome,
    Snapshot,
    TrainingJob,
    TrainResult,
    WorkerError,
    table_bytes,
)
from dist_classicrl.runtimes.capacity import check_memory
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.schedules import Schedule

#: Seconds one compiled call should last: short enough that a stop is quick, long enough
#: that the Python between calls costs nothing (measured: < 0.1% at 0.1 s).
TARGET_CHUNK_S = 0.1
#: Schedules (epsilon, learning rate) change this many times over a run, at fixed steps.
SCHEDULE_TICKS = 200
#: The first chunk, in batches, before any throughput has been measured.
FIRST_CHUNK_BATCHES = 16
#: A chunk may grow at most this factor over the previous one (one noisy timing must
#: not produce a call of many seconds).
MAX_GROWTH = 4.0


#: Synchronisations of a run's learners (merges, rounds) when ``sync_every`` is not given.
SYNCS_PER_RUN = 50
#: ... but never fewer steps of one learner between two than this: a synchronisation
#: scans the table, and below this it costs more than the steps between (measured with
#: TicTacToe's 177,147 entries: 100,000 steps per merge cost 10-30% of a 120 M-step run).
MIN_SYNC_EVERY = 100_000


def resolve_sync_every(sync_every: int | None, steps: int, learners: int) -> int:
    """Steps of one learner between synchronisations: `sync_every`, or by default about
    `SYNCS_PER_RUN` per run of `steps`, at least `MIN_SYNC_EVERY`."""
    if sync_every is not None:
        return sync_every
    return max(MIN_SYNC_EVERY, steps // max(learners, 1) // SYNCS_PER_RUN)


class ChunkPlanner:
    """Chunk sizes from measured throughput, in whole batches of `batch` steps."""

    def __init__(self, batch: int, target_s: float | None = None) -> None:
        self.batch = batch
        self.target_s = TARGET_CHUNK_S if target_s is None else target_s
        self._size = batch * FIRST_CHUNK_BATCHES

    def size(self, limit: int) -> int:
        """Steps for the next chunk, at most `limit` (which may end in a partial batch)."""
        return min(self._size, limit)

    def observe(self, steps: int, seconds: float) -> None:
        """Learn from a chunk of `steps` that took `seconds`."""
        if steps <= 0 or seconds <= 0:
            return
        wanted = steps / seconds * self.target_s
        wanted = min(wanted, self._size * MAX_GROWTH)
        self._size = max(self.batch, int(wanted) // self.batch * self.batch)


#: Signals an app received before training began. Its handler raises, and a raise inside
#: a library's cleanup can be swallowed ("Exception ignored"); the next run then starts
#: already stopped instead of training to the end.
_early_signals: list[int] = []


def note_early_signal(signum: int) -> None:
    """Record a signal received outside training (called by the app's handler)."""
    _early_signals.append(signum)


def pending_early_signal() -> int | None:
    """The first signal noted outside training and not yet taken by a run, if any (an
    error raised after it may be the interrupt, mangled by the library it landed in)."""
    return _early_signals[0] if _early_signals else None


class CompileInterrupted(KeyboardInterrupt):
    """A signal while kernels compile. A subclass, not `KeyboardInterrupt` itself: CPython
    (3.11) marks a `KeyboardInterrupt` escaping code run by ``exec(str)`` (Numba compiles
    through it) as unhandled, even when a caller catches it later, and then ends the
    process by SIGINT at exit (exit code -2 instead of 130); it tests the exact type."""


class StopRequest:
    """SIGINT / SIGTERM as a flag that learners poll between chunks (module docstring).

    ``raising`` (while kernels compile): a signal also raises `KeyboardInterrupt` at once.
    A SIGINT after an earlier signal (a second Ctrl+C) asks for a hard stop."""

    def __init__(self) -> None:
        self.signals: list[int] = list(_early_signals)
        _early_signals.clear()
        self.raising = False
        self.hard = False

    def _handle(self, signum: int, frame: object) -> None:
        self.hard = self.hard or (bool(self.signals) and signum == signal.SIGINT)
        self.signals.append(signum)
        if self.raising:
            raise CompileInterrupted

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT and SIGTERM while the block runs (main thread only)."""
        sigs = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, self._handle) for s in sigs}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextmanager
    def raising_now(self) -> Iterator[None]:
        """Signals raise `KeyboardInterrupt` inside the block (no chunk boundary there).

        Where the interrupt lands in a callback that cannot raise (llvmlite's object-cache
        hook while Numba compiles), Python reports it as "Exception ignored" and goes on:
        the flag is set all the same, so the run stops when the compilation returns, and
        the report is dropped. The library may then fail on what the lost callback did not
        do (Numba's cache save: "no compiled object yet"): an error after a signal arrived
        in the block is that interrupt, and raises as one."""
        default_hook = sys.unraisablehook
        signals_before = len(self.signals)

        def drop_interrupts(unraisable: Any) -> None:
            if not isinstance(unraisable.exc_value, KeyboardInterrupt):
                default_hook(unraisable)

        self.raising = True
        sys.unraisablehook = drop_interrupts
        try:
            yield
        except Exception as exc:
            if len(self.signals) > signals_before:
                raise CompileInterrupted from exc
            raise
        finally:
            self.raising = False
            sys.unraisablehook = default_hook

    def request(self, signum: int = signal.SIGINT) -> None:
        self.signals.append(signum)

    @property
    def requested(self) -> bool:
        return bool(self.signals)

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signals[0]).name if self.signals else None


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
    ) -> TrainResult | None:
        """Learn from exactly `steps` env transitions (fewer when stopped); raises
        `WorkerError` if a learner fails (its ``result`` holds what survived). None in an
        MPI rank other than 0 (rank 0 reports)."""
        return self.run(TrainingJob(algorithm, env, steps, epsilon, learning_rate, seed))

    def run(self, job: TrainingJob) -> TrainResult | None:
        """`train` for a whole `TrainingJob` (checkpoints and resume included); None in
        an MPI rank other than 0."""
        return train(self, job)

    @abstractmethod
    def execute(self, session: Session) -> Outcome | None:
        """Run the learners until the budget is spent or the session asks them to stop;
        None from an MPI rank other than 0 (rank 0 reports)."""


class Coordinator(ABC):
    """How one learner relates to the others: where it must stop to combine tables,
    and how it combines. Supplied by the runtime."""

    def global_step(self, done: int) -> int:
        """The step count over all learners, for the schedules (`done`: this learner's)."""
        return done

    @abstractmethod
    def boundary(self, done: int) -> int:
        """This learner's step count at its next combination point (or the end of its
        share); no chunk crosses it."""

    @abstractmethod
    def combine(self, done: int, stopping: bool) -> bool:
        """At a boundary, or when a stop is asked: combine this learner's table with the
        others. Returns whether to go on learning."""

    def after_chunk(self, done: int) -> None:
        """Publish this learner's counts (called after every chunk)."""


class Learner:
    """One learning process's loop (module docstring)."""

    def __init__(
        self,
        loop: TrainingLoop,
        job: TrainingJob,
        coordinator: Coordinator,
        stop: Callable[[], bool],
        on_chunk: Callable[[int], None] | None = None,
    ) -> None:
        self.loop = loop
        self.job = job
        self.coordinator = coordinator
        self.stop = stop
        self.on_chunk = on_chunk
        self.planner = ChunkPlanner(loop.env.num_envs)
        self.tick = schedule_tick(job.steps, loop.env.num_envs)
        self.done = 0
        self.train_time_s = 0.0

    def run(self) -> int:
        """Learn until the coordinator says the share is spent or a stop is asked;
        returns the steps learned here."""
        algorithm, job, coordinator = self.loop.algorithm, self.job, self.coordinator
        while True:
            stopping = self.stop()
            if stopping or self.done >= coordinator.boundary(self.done):
                if not coordinator.combine(self.done, stopping):
                    return self.done
                continue
            # The schedules' value at the tick's start: the same for every chunk of the
            # tick, however the chunks fall.
            step = coordinator.global_step(self.done)
            step -= step % self.tick
            algorithm.epsilon = job.epsilon(step)
            algorithm.learning_rate = job.learning_rate(step)
            limit = min(coordinator.boundary(self.done), self._next_tick()) - self.done
            n = self.planner.size(limit)
            start = time.perf_counter()
            self.loop.run(n)
            seconds = time.perf_counter() - start
            self.planner.observe(n, seconds)
            self.train_time_s += seconds
            self.done += n
            coordinator.after_chunk(self.done)
            if self.on_chunk is not None:
                self.on_chunk(self.done)

    def _next_tick(self) -> int:
        return (self.done // self.tick + 1) * self.tick


def schedule_tick(steps: int, num_envs: int) -> int:
    """Steps between schedule updates: 1/`SCHEDULE_TICKS` of the budget in whole batches."""
    return max(num_envs, math.ceil(steps / SCHEDULE_TICKS / num_envs) * num_envs)


@dataclass
class Continuation:
    """What a combined run (parallel workers, MPI ranks) carries over from the checkpoint
    it resumes: zeros for a fresh run. The random streams are not carried: each learner
    draws fresh ones from the seed and `done`, so a resumed run continues the schedules,
    counters and curve, not the exact trajectory."""

    done: int = 0  # steps whose learning the table holds
    totals: np.ndarray = field(default_factory=lambda: np.zeros(4))  # their statistics
    train_time_s: float = 0.0
    snapshots: list[Snapshot] = field(default_factory=list)  # taken, not yet evaluated
    evaluated: int = 0  # evaluation points already on the curve

    @property
    def taken(self) -> int:
        """Evaluation points passed before the resume."""
        return self.evaluated + len(self.snapshots)

    def seed_words(self) -> list[int]:
        """Extra words for the learners' seed sequences: after a resume, streams that
        differ from the ones the first part of the run used."""
        return [self.done] if self.done else []


class Session:
    """What the driver hands a runtime's `execute`: the job, the stop request, progress,
    and the learning curve (evaluation points)."""

    def __init__(self, runtime: Runtime, job: TrainingJob, stop: StopRequest) -> None:
        self.runtime = runtime
        self.job = job
        self.stop = stop
        self.curve: list[dict[str, float]] = []
        self.eval_time_s = 0.0
        self._previous_totals = np.zeros(4)
        self._bar: tqdm | None = None

    def save_checkpoint(self, parts: dict[str, dict[str, Any]], done: int) -> None:
        """Write the job's checkpoint with the driver's own part (steps, learning curve)."""
        plan = self.job.checkpoint
        assert plan is not None  # runtimes save only when the job has a checkpoint plan
        driver_part = {
            "done": done,
            "curve": self.curve,
            "previous_totals": self._previous_totals.tolist(),
            "eval_time_s": self.eval_time_s,
        }
        parts = {**parts, "driver": {**parts.get("driver", {}), **driver_part}}
        checkpoint.save(plan.path, parts, {**plan.manifest, "steps_done": done})

    def save_combined_checkpoint(
        self, table: np.ndarray, done: int, carried: Continuation, snapshots: list[Snapshot]
    ) -> None:
        """A combined run's checkpoint (`Continuation`): `table` holds exactly the learning
        of `done` steps; `carried` the statistics and time up to then; `snapshots` the
        evaluation points taken and not yet evaluated."""
        count = len(snapshots)
        shape = (count, *table.shape)
        parts: dict[str, dict[str, Any]] = {
            "table": {"q": np.asarray(table, dtype=np.float32)},
            "combined": {
                "totals": np.asarray(carried.totals, dtype=np.float64),
                "train_time_s": carried.train_time_s,
                "snap_step": np.array([s[0] for s in snapshots], dtype=np.int64),
                "snap_q": np.array([s[1] for s in snapshots], dtype=np.float32).reshape(shape),
                "snap_totals": np.array([s[2] for s in snapshots], dtype=np.float64).reshape(
                    count, 4
                ),
                "snap_time": np.array([s[3] for s in snapshots], dtype=np.float64),
            },
        }
        self.save_checkpoint(parts, done)

    def continuation(self) -> Continuation:
        """Where a combined run starts: from the job's resumed checkpoint (its table
        loaded into the algorithm), or from zero."""
        if self.job.resume is None:
            return Continuation()
        driver = self.restore_driver()
        state = self.job.resume.part("combined")
        if "totals" not in state:
            raise ConfigError(
                "resume: the checkpoint is not a parallel or distributed run's (it holds "
                "no combined table)"
            )
        self.job.algorithm.load_q_values(self.job.resume.part("table")["q"])
        snapshots = [
            (int(step), q, totals, float(seconds))
            for step, q, totals, seconds in zip(
                state["snap_step"],
                state["snap_q"],
                state["snap_totals"],
                state["snap_time"],
                strict=True,
            )
        ]
        return Continuation(
            done=int(driver["done"]),
            totals=np.asarray(state["totals"], dtype=np.float64),
            train_time_s=float(state["train_time_s"]),
            snapshots=snapshots,
            evaluated=len(self.curve),
        )

    def restore_driver(self) -> dict[str, Any]:
        """The driver's part of the resumed checkpoint, with the curve put back."""
        assert self.job.resume is not None  # called only when resuming
        state = self.job.resume.part("driver")
        self.curve = list(state["curve"])
        self._previous_totals = np.array(state["previous_totals"], dtype=np.float64)
        self.eval_time_s = float(state["eval_time_s"])
        return state

    def compiling(self):
        """Context for kernel compilation / cache loading: signals raise there."""
        return self.stop.raising_now()

    def progress(self, global_steps: int) -> None:
        if self._bar is not None:
            self._bar.update(global_steps - self._bar.n)

    def eval_due(self, done: int, taken: int) -> bool:
        """Whether intermediate evaluation point ``taken + 1`` is reached at global step
        `done` (``eval_points - 1`` of them; the last point is the end of the run)."""
        points = self.runtime.eval_points
        return taken < points - 1 and done >= (taken + 1) * self.job.steps / points - 0.5

    def evaluate(self, step: int, table: np.ndarray, totals: ArrayLike, elapsed: float) -> None:
        """Add a learning-curve point: the greedy evaluation of `table` and the training
        statistics of the episodes finished since the previous point (call in step
        order; `totals` are cumulative)."""
        start = time.perf_counter()
        job = self.job
        totals = np.asarray(totals, dtype=np.float64)
        window = totals - self._previous_totals
        self._previous_totals = totals.copy()
        row = {
            "step": step,
            "train_time_s": elapsed,
            "epsilon": job.epsilon(step),
            "learning_rate": job.learning_rate(step),
            "episodes": int(window[0]),
            "train_mean_return": window[1] / window[0] if window[0] else float("nan"),
        }
        row.update(evaluation_row(job.env, table, job.algorithm.discount))
        self.curve.append(row)
        self.eval_time_s += time.perf_counter() - start

    @contextmanager
    def progress_bar(self) -> Iterator[None]:
        runtime, job = self.runtime, self.job
        enabled = sys.stderr.isatty() if runtime.progress is None else runtime.progress
        label = f"{job.algorithm.name}/{job.env.name}"
        if runtime.learners > 1:
            label += f" x{runtime.learners}"
        self._bar = tqdm(
            total=job.steps,
            disable=not enabled,
            unit="step",
            unit_scale=True,
            desc=label,
            leave=False,
            mininterval=0.2,
        )
        try:
            yield
        finally:
            self._bar.close()
            self._bar = None


def run_learners(runtime: Runtime, job: TrainingJob) -> tuple[Session, Outcome | None]:
    """Check the job, then run the runtime's learners under signal handling and a
    progress bar; the `Outcome` is None in an MPI rank other than 0."""
    session = Session(runtime, job, StopRequest())
    with session.stop.installed():
        return session, _execute(session)


def _execute(session: Session) -> Outcome | None:
    runtime, job, stop = session.runtime, session.job, session.stop
    check_positive_int("steps", job.steps)
    runtime.check_capacity(job.env)
    runtime.check_compatible(job.algorithm, job.env)
    with session.progress_bar():
        try:
            return runtime.execute(session)
        except KeyboardInterrupt:  # a signal while kernels compiled: nothing was learned
            if not stop.signals:
                stop.request(signal.SIGINT)
            return Outcome(None, 0, np.zeros(4), 0.0, 0.0, workers=runtime.learners)


def train(runtime: Runtime, job: TrainingJob) -> TrainResult | None:
    """Run `job` on `runtime`, evaluate and assemble the result; signals are handled as
    stop requests until the result is built.

    Returns None in an MPI rank other than 0. Raises `WorkerError` (with the result of
    what survived) when a learner failed."""
    session = Session(runtime, job, StopRequest())
    with session.stop.installed():
        outcome = _execute(session)
        if outcome is None:
            return None
        result = assemble(session, outcome)
    if result.status == "failed":
        raise WorkerError(result.error or "a learner failed", result)
    return result


def assemble(session: Session, outcome: Outcome) -> TrainResult:
    """Evaluate the remaining snapshots and the final table, and build the
    `TrainResult` (the one place it is built)."""
    job, stop = session.job, session.stop
    for snapshot in outcome.snapshots:
        session.evaluate(*snapshot)
    if outcome.q_table is not None and (
        not session.curve or session.curve[-1]["step"] != outcome.steps
    ):
        session.evaluate(outcome.steps, outcome.q_table, outcome.totals, outcome.train_time_s)
    if outcome.error is not None:
        status = "failed"
    elif stop.signals or outcome.steps < job.steps:  # a signal here, or at a peer's
        status = "interrupted"
    else:
        status = "completed"
    curve = session.curve
    final_eval = {}
    if curve and outcome.q_table is not None:
        final_eval = {k[len("eval_") :]: v for k, v in curve[-1].items() if k.startswith("eval_")}
    # Never a table that looks like a result when nothing was learned into it.
    q_table = None
    if outcome.q_table is not None and (outcome.steps > 0 or job.steps == 0):
        q_table = np.asarray(outcome.q_table, dtype=np.float32)
    return TrainResult(
        q_table=q_table,
        steps=outcome.steps,
        train_time_s=outcome.train_time_s,
        compile_time_s=outcome.compile_time_s,
        eval_time_s=session.eval_time_s,
        status=status,
        statistics=statistics_from_totals(outcome.totals),
        eval=final_eval,
        curve=curve,
        workers=outcome.workers,
        details=outcome.details,
        stop_signal=stop.signal_name,
        error=outcome.error,
    )


def evaluate_table(runtime: Runtime, job: TrainingJob) -> TrainResult:
    """``steps=0``: evaluate the algorithm's (loaded) table without training."""
    session = Session(runtime, job, StopRequest())
    table = np.array(job.algorithm.q_values(), dtype=np.float32)
    return assemble(session, Outcome(table, 0, np.zeros(4), 0.0, 0.0))


def statistics_from_totals(totals: np.ndarray) -> dict[str, float]:
    """Episode statistics from ``[episodes, return sum, squared-return sum, length sum]``."""
    n = float(totals[0])
    mean = totals[1] / n if n else float("nan")
    var = totals[2] / n - mean * mean if n else float("nan")
    return {
        "episodes": int(n),
        "mean_return": float(mean),
        "std_return": float(np.sqrt(max(var, 0.0))) if n and not np.isnan(var) else float("nan"),
        "mean_episode_length": float(totals[3] / n) if n else float("nan"),
    }


def evaluation_row(env: DistClassicRLEnv, q_table: np.ndarray, discount: float) -> dict:
    """The env's greedy evaluation of `q_table` as ``eval_*`` learning-curve columns."""
    evaluation = env.evaluate_greedy(q_table, discount)
    return {f"eval_{k}": float(v) for k, v in evaluation.items() if isinstance(v, int | float)}


def format_failure(who: str) -> str:
    """ "`who` failed: <exception>" and then the exception's last frames (the current
    exception): a learner's error, whose first line says what happened."""
    error = sys.exc_info()[1]
    what = traceback.format_exception_only(error)[-1].strip() if error else "unknown error"
    return f"{who} failed: {what}\n{traceback.format_exc(limit=-4).strip()}"


def warm_up(session: Session, loop: TrainingLoop, *extra: Callable[[], Any]) -> float:
    """Compile or load the kernels (signals raise here); returns the seconds it took."""
    start = time.perf_counter()
    with session.compiling():
        loop.warm_up()
        for compile_more in extra:
            compile_more()
    return time.perf_counter() - start
