"""`ParallelRuntime`: worker processes learning into one Q-table in shared memory.

Each of `num_workers` forked workers steps its own batch of ``num_envs`` envs with its
own random streams and runs the driver's learner loop (the fused kernel of ``optimal``
runs inside each worker). The step budget is split evenly; schedules follow the global
step count, the sum of the per-worker counters in shared memory.

Synchronisation (``sync``):

* ``merge`` (default): each worker learns into a private copy of the table and, every
  `sync_every` of its steps (by default about 50 merges per run, at least 100,000 steps
  apart: `driver.resolve_sync_every`) and when it stops, merges it into the shared table under a
  lock with `merge.merge_updates`, then refreshes its copy. No two cores write the same
  cache lines between merges.
* ``shared``: every update goes straight into the shared table, lock-free as in
  asynchronous one-step Q-learning (Hogwild): a concurrent read-modify-write of one entry
  can lose one of two updates, a rare and bounded error. ``lock=true`` puts a lock around
  every batch update (and then runs the batch loop, since a lock cannot be taken inside a
  compiled kernel). ``list`` keeps its table in Python lists, which cannot live in shared
  memory: it supports ``merge`` only.

The shared table's count of learned steps is kept per worker (``merged``, with the
statistics of those steps), so that the saved table and ``steps`` agree on every path, a
dead worker's included. The main process writes the checkpoints (``checkpoint.every``):
under the lock it copies the shared table with the steps merged into it, so a checkpoint
never counts learning its table lacks (with ``sync=shared`` the table may also hold
updates of the chunks under way). The worker
whose chunk crosses an evaluation point copies the shared table into a snapshot slot;
snapshots are evaluated after training, so evaluation never competes with the workers
for cores.

Lifetime: the shared memory is one anonymous mapping (`lifetime.SharedArrays`: no name
that could leak); workers die with the main process (``PR_SET_PDEATHSIG``); the main
process only watches: on SIGINT or SIGTERM it asks the workers to stop (each finishes its
chunk, merges and exits), on a second SIGINT or a worker's death it stops them at once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import ConfigError, check_positive_int
from dist_classicrl.runtimes.base import Outcome, Snapshot, TrainingJob, table_bytes
from dist_classicrl.runtimes.capacity import check_memory, check_process_count, usable_cores
from dist_classicrl.runtimes.driver import (
    Continuation,
    Coordinator,
    Learner,
    Runtime,
    Session,
    format_failure,
    resolve_sync_every,
    warm_up,
)
from dist_classicrl.runtimes.lifetime import SharedArrays, describe_exit, die_with_parent
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.merge import compile_merge_updates, merge_updates
from dist_classicrl.runtimes.replay import replay_details

SYNC_MODES = ("merge", "shared")
POLL_S = 0.02
#: After a stop request, seconds the workers get to finish their chunk and merge.
STOP_GRACE_S = 2.0
#: After a worker's death, seconds the others get to merge (a dead lock holder cannot
#: make them wait longer: merges wait at most this for the lock).
FAILURE_GRACE_S = 1.0


class ParallelRuntime(Runtime):
    """Multiprocessing with a shared-memory Q-table (module docstring)."""

    name = "parallel"

    def __init__(
        self,
        num_workers: int | None = None,
        sync: str = "merge",
        sync_every: int | None = None,
        lock: bool = False,
        eval_points: int = 10,
        progress: bool | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__(eval_points, progress, fused)
        self.num_workers = usable_cores() if num_workers is None else num_workers
        check_positive_int("runtime.num_workers", self.num_workers)
        if sync not in SYNC_MODES:
            raise ConfigError(
                f"runtime.sync={sync!r} is unknown: allowed are {', '.join(SYNC_MODES)}"
            )
        if sync_every is not None:
            check_positive_int("runtime.sync_every", sync_every)
        self.sync, self.sync_every, self.lock = sync, sync_every, lock

    @property
    def learners(self) -> int:
        return self.num_workers

    def check_capacity(self, env: DistClassicRLEnv) -> None:
        check_process_count("runtime.num_workers", self.num_workers)
        copies = 1 + (self.eval_points - 1)  # the shared table and the snapshot slots
        if self.sync == "merge" and self.num_workers > 1:
            copies += 2 * self.num_workers  # each worker's private table and merge base
        check_memory(
            (copies + 1) * table_bytes(env),  # and the algorithm's own table
            f"runtime=parallel with {self.num_workers} workers ({copies} copies of a "
            f"{env.n_states:,} x {env.n_actions} table)",
            "use a smaller table or fewer workers",
        )

    def check_compatible(self, algorithm: BaseAlgorithm, env: DistClassicRLEnv) -> None:
        if self.sync == "shared" and not isinstance(algorithm.q_table, np.ndarray):
            raise ConfigError(
                f"algorithm={algorithm.name} keeps its table in Python lists, "
                "which cannot live in shared memory: use runtime.sync=merge"
            )

    def execute(self, session: Session) -> Outcome:
        job = session.job
        loop = TrainingLoop(job.algorithm, job.env, fused=self.fused)
        compile_time = warm_up(session, loop, compile_merge_updates)  # children inherit
        workers = self.num_workers
        if session.stop.requested:  # stopped while compiling
            return Outcome(None, 0, np.zeros(4), 0.0, compile_time, workers=workers)
        carried = session.continuation()
        left = job.steps - carried.done
        budgets = [left // workers + (w < left % workers) for w in range(workers)]
        shape = (job.env.n_states, job.env.n_actions)
        slots = max(self.eval_points - 1 - carried.taken, 0)
        ctx = mp.get_context("fork")  # workers inherit env, algorithm and compiled kernels
        with SharedArrays(
            q=(shape, np.float32),
            steps=((workers,), np.int64),
            merged=((workers,), np.int64),  # steps whose learning is in the shared table
            merged_totals=((workers, 4), np.float64),  # their episode statistics
            totals=((workers, 4), np.float64),
            clock=((workers, 3), np.float64),  # start, end, seconds spent merging
            stop=((1,), np.int64),
            ready=((workers,), np.int64),
            go=((1,), np.int64),
            snap_q=((slots, *shape), np.float32),
            snap_step=((slots,), np.int64),
            snap_totals=((slots, 4), np.float64),
            snap_time=((slots,), np.float64),
            snap_count=((1,), np.int64),
            eval_merged=((slots,), np.int64),  # workers that merged their share of each point
            replayed=((workers, 3), np.int64),  # replay updates, batches, fused kernel off
        ) as block:
            block.q[...] = job.algorithm.q_values()
            plan = _WorkerPlan(
                block,
                job,
                budgets,
                self.sync,
                resolve_sync_every(self.sync_every, job.steps, workers),
                self.lock and self.sync == "shared",
                self.fused,
                ctx.Lock(),
                ctx.SimpleQueue(),
                os.getpid(),
                carried,
                self.eval_points,
            )
            error = self._supervise(ctx, plan, session)
            outcome = self._outcome(plan, compile_time, error)
            if job.checkpoint is not None:  # at the end, when stopped, and what survived
                self._save_checkpoint(plan, session)
        if outcome.q_table is not None:
            job.algorithm.load_q_values(outcome.q_table)
        job.algorithm.step_count += outcome.steps
        return outcome

    def _supervise(self, ctx: Any, plan: _WorkerPlan, session: Session) -> str | None:
        """Start the workers and watch them until they have all exited; returns the
        error of the first worker that died, or None."""
        block, stop = plan.block, session.stop
        procs = [ctx.Process(target=plan.run, args=(w,)) for w in range(len(plan.budgets))]
        errors: dict[int, str] = {}
        failure: str | None = None
        deadline: float | None = None  # when stragglers get killed
        every = session.job.checkpoint.every if session.job.checkpoint is not None else 0
        next_checkpoint = (plan.carried.done // every + 1) * every if every else None
        try:
            for p in procs:
                p.start()
            while any(p.exitcode is None for p in procs):
                time.sleep(POLL_S)
                if not block.go[0] and (block.ready.all() or stop.requested):
                    block.go[0] = 1  # start the clocks together: a fork takes milliseconds
                session.progress(plan.carried.done + int(block.steps.sum()))
                merged = plan.carried.done + int(block.merged.sum())
                if next_checkpoint is not None and next_checkpoint <= merged < plan.job.steps:
                    self._save_checkpoint(plan, session)
                    next_checkpoint = (merged // every + 1) * every
                while not plan.errors.empty():
                    w, text = plan.errors.get()
                    errors[w] = text
                dead = [w for w, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if dead and failure is None:
                    w = dead[0]
                    failure = errors.get(w) or (
                        f"worker {w} (pid {procs[w].pid}) died: {describe_exit(procs[w].exitcode)}"
                    )
                    block.stop[0] = 1
                    deadline = time.monotonic() + FAILURE_GRACE_S
                if stop.requested and deadline is None:
                    block.stop[0] = 1
                    deadline = time.monotonic() + STOP_GRACE_S
                if stop.hard or (deadline is not None and time.monotonic() > deadline):
                    break
        finally:
            block.stop[0] = 1
            _end_all(procs)
        while not plan.errors.empty():
            plan.errors.get()
        return failure

    def _save_checkpoint(self, plan: _WorkerPlan, session: Session) -> None:
        """Write the shared table with what it holds (module docstring); skipped when the
        lock is not free within the failure grace (its holder died)."""
        block, carried = plan.block, plan.carried
        if not plan.lock.acquire(timeout=FAILURE_GRACE_S):
            return
        try:
            table = block.q.copy()
            done = carried.done + int(block.merged.sum())
            totals = carried.totals + block.merged_totals.sum(axis=0)
            start, elapsed = _training_clock(block)
            snapshots = _snapshots(plan, start, done)
        finally:
            plan.lock.release()
        at = Continuation(done, totals, carried.train_time_s + elapsed)
        session.save_combined_checkpoint(table, done, at, snapshots)

    def _outcome(self, plan: _WorkerPlan, compile_time: float, error: str | None) -> Outcome:
        block, job, carried = plan.block, plan.job, plan.carried
        clock = block.clock.copy()
        ran = clock[:, 0] > 0
        start, train_time = _training_clock(block)
        steps = carried.done + int(block.merged.sum())
        snapshots = _snapshots(plan, start, steps)
        worker_time = np.where(ran, clock[:, 1] - clock[:, 0], np.nan)
        per_worker = [
            float(s / t) if t and t > 0 else float("nan")
            for s, t in zip(block.steps, worker_time, strict=True)
        ]
        return Outcome(
            q_table=block.q.copy() if steps > 0 else None,
            steps=steps,
            totals=carried.totals + block.totals.sum(axis=0),
            train_time_s=carried.train_time_s + train_time,
            compile_time_s=compile_time,
            snapshots=snapshots,
            workers=len(plan.budgets),
            details={
                "sync": self.sync,
                "sync_every": plan.sync_every,
                "lock": bool(plan.lock_batches),
                "per_worker_steps_per_s": per_worker,
                "per_worker_merge_time_s": clock[:, 2].tolist(),
                **replay_details(job.algorithm.replay, block.replayed),
            },
            error=error,
        )


def _training_clock(block: SharedArrays) -> tuple[float, float]:
    """(when the first worker started training, seconds until the last one stopped);
    zeros when none started."""
    clock = block.clock
    ran = clock[:, 0] > 0
    if not ran.any():
        return 0.0, 0.0
    start = float(clock[ran, 0].min())
    return start, float(clock[ran, 1].max() - start)


def _snapshots(plan: _WorkerPlan, start: float, steps: int) -> list[Snapshot]:
    """The evaluation snapshots carried from a resumed checkpoint and those taken since,
    up to global step `steps` (times in training seconds since the run began)."""
    block, carried = plan.block, plan.carried
    return carried.snapshots + [
        (
            int(block.snap_step[k]),
            block.snap_q[k].copy(),
            block.snap_totals[k].copy(),
            carried.train_time_s + float(block.snap_time[k] - start),
        )
        for k in range(int(block.snap_count[0]))
        if block.snap_step[k] <= steps
    ]


def _end_all(procs: list[Any]) -> None:
    """No worker outlives the run: those still running are killed (they have been asked
    to stop already), and every one is reaped."""
    for p in procs:
        if p.pid is not None and p.exitcode is None:
            p.kill()
    for p in procs:
        if p.pid is not None:
            p.join(timeout=5)


@dataclass
class _WorkerPlan:
    """Everything a forked worker needs; `run(w)` is the worker's whole life."""

    block: SharedArrays
    job: TrainingJob
    budgets: list[int]
    sync: str
    sync_every: int
    lock_batches: bool
    fused: bool
    lock: Any
    errors: Any
    parent: int
    carried: Continuation  # from a resumed checkpoint (zeros for a fresh run)
    eval_points: int

    def run(self, w: int) -> None:
        die_with_parent()
        local_stop: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):  # the group's signals: stop cleanly
            signal.signal(sig, lambda signum, frame: local_stop.append(signum))
        code = 0
        try:
            self._train(w, local_stop)
        except BaseException:
            self.errors.put((w, format_failure(f"worker {w} (pid {os.getpid()})")))
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # skip the parent's atexit handlers, inherited through fork

    def _train(self, w: int, local_stop: list[int]) -> None:
        block, job = self.block, self.job
        algorithm = job.algorithm
        words = [job.seed or 0, w, *self.carried.seed_words()]
        worker_seed = int(np.random.SeedSequence(words).generate_state(1)[0])
        algorithm.reseed(worker_seed)
        # One worker has nobody to merge with: it learns in the shared table directly.
        alone = len(self.budgets) == 1 and isinstance(algorithm.q_table, np.ndarray)
        merging = self.sync == "merge" and not alone
        if merging:
            algorithm.load_q_values(block.q)
            algorithm.count_visits()
        else:
            algorithm.q_table = block.q  # every update goes to the shared table
        loop = TrainingLoop(
            algorithm,
            job.env,
            fused=self.fused,
            batch_lock=self.lock if self.lock_batches else None,
        )
        loop.start(worker_seed)
        block.ready[w] = 1
        while not block.go[0] and not block.stop[0] and not local_stop:
            time.sleep(0.0005)

        def stop() -> bool:
            return bool(local_stop) or bool(block.stop[0]) or os.getppid() != self.parent

        coordinator = _WorkerCoordinator(self, w, loop, merging)
        block.clock[w, 0] = time.perf_counter()
        Learner(loop, job, coordinator, stop).run()
        block.clock[w, 1] = time.perf_counter()


def _whole_batches(steps: int, batch: int) -> int:
    """`steps` rounded up to whole batches of `batch` (at least zero)."""
    return max(0, -(-steps // batch) * batch)


#: How often a worker waiting for an evaluation snapshot looks again.
SNAPSHOT_WAIT_S = 0.0005


class _WorkerCoordinator(Coordinator):
    """One worker among others: merges every ``sync_every`` of its steps (staggered, so
    that workers do not queue at the lock together) and when it stops."""

    def __init__(self, plan: _WorkerPlan, w: int, loop: TrainingLoop, merging: bool) -> None:
        self.plan, self.w, self.loop, self.merging = plan, w, loop, merging
        self.block = plan.block
        self.budget = plan.budgets[w]
        workers = len(plan.budgets)
        self.next_merge = (w + 1) * plan.sync_every // workers if merging else self.budget
        self.base = plan.block.q.copy() if merging else None
        # Merging: this worker's share of each evaluation point still to come (its steps
        # when the run as a whole reaches the point). It merges there, so that the
        # snapshot, taken once every worker has, holds all the learning up to the point.
        # Shares end on whole batches: a chunk that ends inside a batch steps every env
        # but learns from the first ones only, which would change what a run learns.
        carried, total, batch = plan.carried, plan.job.steps, loop.env.num_envs
        left = max(total - carried.done, 1)
        self.eval_shares = [
            min(
                self.budget, _whole_batches(-(-(point - carried.done) * self.budget // left), batch)
            )
            for point in (
                round((carried.taken + k + 1) * total / plan.eval_points)
                for k in range(plan.block.snap_step.shape[0])
            )
        ]
        self.next_eval = 0  # the first point whose share this worker has not merged
        # One worker alone: its evaluation snapshots copy its private table, and it merges
        # on its sync_every schedule only, so that the evaluation points do not change
        # what it learns (a stopped run equals an uninterrupted run of its steps).
        self.alone = workers == 1

    def global_step(self, done: int) -> int:
        return self.plan.carried.done + int(self.block.steps.sum())

    def boundary(self, done: int) -> int:
        if self.merging and self.next_eval < len(self.eval_shares):
            return min(self.budget, self.next_merge, self.eval_shares[self.next_eval])
        return min(self.budget, self.next_merge)

    def combine(self, done: int, stopping: bool) -> bool:
        points_before = self.next_eval
        if self.merging and self.alone:  # its private table is the whole learning
            if done >= min(self.next_merge, self.budget) or stopping:
                self._merge(done)
                self.next_merge = done + self.plan.sync_every
            self._snapshot_private(done)
            return not stopping and done < self.budget
        if self.merging:
            self._merge(done)
            if done >= self.next_merge or stopping:
                self.next_merge = done + self.plan.sync_every
        self._snapshot_if_due()
        if self.next_eval > points_before and not stopping:
            self._wait_for_snapshot(self.next_eval - 1)
        return not stopping and done < self.budget

    def _wait_for_snapshot(self, k: int) -> None:
        """Merge nothing beyond this worker's share of evaluation point `k` until the
        snapshot of `k` is taken (the last worker to merge its share takes it), so that
        the snapshot holds the learning of exactly the point's steps. The wait is the
        workers' skew at that point; a stop or a dead parent ends it."""
        block = self.block
        while block.snap_count[0] <= k and not block.stop[0] and os.getppid() == self.plan.parent:
            time.sleep(SNAPSHOT_WAIT_S)

    def after_chunk(self, done: int) -> None:
        block, w = self.block, self.w
        block.steps[w] = done
        block.totals[w] = self.loop.stats.totals()
        if not self.merging:
            block.merged_totals[w] = block.totals[w]
            block.merged[w] = done
        block.replayed[w] = self.loop.replay_counts()
        block.clock[w, 1] = time.perf_counter()
        self._snapshot_if_due()

    def _merge(self, done: int) -> None:
        """Replay this worker's updates since `base` on top of the shared table; refresh
        `base` and the private table. Skipped if the lock is not free within the failure
        grace (its holder died): the shared table then does not count these steps."""
        algorithm, block = self.loop.algorithm, self.block
        # only called when merging: `base` is then copied and `_train` counts the visits
        assert self.base is not None and algorithm.visits is not None
        start = time.perf_counter()
        if not self.plan.lock.acquire(timeout=FAILURE_GRACE_S):
            return
        try:
            merge_updates(
                block.q.reshape(-1),
                algorithm.q_values().reshape(-1),
                self.base.reshape(-1),
                algorithm.visits.reshape(-1),
                1.0 - algorithm.learning_rate,
            )
            np.copyto(self.base, block.q)
            block.merged_totals[self.w] = self.loop.stats.totals()
            block.merged[self.w] = done
            while (
                not self.alone
                and self.next_eval < len(self.eval_shares)
                and self.eval_shares[self.next_eval] <= done
            ):
                block.eval_merged[self.next_eval] += 1
                self.next_eval += 1
        finally:
            self.plan.lock.release()
        algorithm.load_q_values(self.base)
        block.clock[self.w, 2] += time.perf_counter() - start

    def _snapshot_private(self, done: int) -> None:
        """One worker alone: its table at each evaluation point it has reached."""
        block, carried = self.block, self.plan.carried
        while self.next_eval < len(self.eval_shares) and self.eval_shares[self.next_eval] <= done:
            k = self.next_eval
            block.snap_q[k] = self.loop.algorithm.q_values()
            block.snap_step[k] = carried.done + done
            block.snap_totals[k] = carried.totals + self.loop.stats.totals()
            block.snap_time[k] = time.perf_counter()
            block.snap_count[0] = k + 1
            self.next_eval += 1

    def _snapshot_if_due(self) -> None:
        """Copy the shared table into the next snapshot slot once it holds the learning up
        to its evaluation point (whichever worker sees it first): with ``merge``, when
        every worker has merged its share of the point; with ``shared``, when the global
        step count has passed it (every update is in the table as it is made). The
        snapshot's step is the count of steps whose learning the table holds."""
        block, plan = self.block, self.plan
        slots = block.snap_step.shape[0]
        total, carried = plan.job.steps, plan.carried
        workers = len(plan.budgets)

        def due(k: int) -> bool:  # the run's evaluation point carried.taken + k + 1
            if self.merging:
                return bool(block.eval_merged[k] >= workers)
            point = (carried.taken + k + 1) * total / plan.eval_points - 0.5
            return carried.done + block.steps.sum() >= point

        if block.snap_count[0] >= slots or not due(int(block.snap_count[0])):
            return
        if not plan.lock.acquire(timeout=FAILURE_GRACE_S):
            return
        try:
            while block.snap_count[0] < slots and due(int(block.snap_count[0])):
                k = int(block.snap_count[0])
                block.snap_q[k] = block.q
                block.snap_step[k] = carried.done + block.merged.sum()
                block.snap_totals[k] = carried.totals + block.totals.sum(axis=0)
                block.snap_time[k] = time.perf_counter()
                block.snap_count[0] = k + 1
        finally:
            plan.lock.release()
