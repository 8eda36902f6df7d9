"""`ParallelRuntime`: worker processes learning into one Q-table in shared memory.

Each of `num_workers` forked workers steps its own batch of ``num_envs`` envs with its
own random streams and learns through `TrainingLoop` (the fused kernel of ``optimal``
runs inside each worker). The step budget is split evenly; schedules follow the global
step count, the sum of the per-worker counters in shared memory.

Synchronisation (``sync``):

* ``merge`` (default): each worker learns into a private copy of the table and, every
  `sync_every` of its steps, merges it into the shared table under a lock, then
  refreshes its copy. No two cores write the same cache lines between merges. The merge
  replays this worker's updates on top of what the shared table holds now: an entry the
  worker updated ``k`` times since its last merge (``base``), from ``base`` to
  ``private``, becomes ``private + (1 - lr)^k (shared - base)``: exactly the result of
  applying its ``k`` updates after the others' (for a constant learning rate). Summing
  changes instead would count a shared target twice: on a hot entry two converged workers
  each bring ``target - old`` and the sum oscillates around the target (measured: Taxi
  optimality gaps up to 390%).
* ``shared``: every update goes straight into the shared table, lock-free as in
  asynchronous one-step Q-learning (Hogwild): a concurrent read-modify-write of one entry
  can lose one of two updates, a rare and bounded error. ``lock=true`` puts a lock around
  every batch update (and then runs the batch loop, since a lock cannot be taken inside a
  compiled kernel). ``list`` keeps its table in Python lists, which cannot live in shared
  memory: it supports ``merge`` only.

The worker whose chunk crosses an evaluation point copies the shared table into a
snapshot slot in shared memory; snapshots are evaluated after training, so evaluation
never competes with the workers for cores. The main process only watches: it draws
progress and stops the workers on Ctrl+C, SIGTERM or a worker's failure. The
shared-memory segment is unlinked on every path.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from tqdm import tqdm

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import ConfigError, check_positive_int
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.replay import replay_details
from dist_classicrl.runtimes.shared import SharedArrays
from dist_classicrl.runtimes.single import CHUNKS_PER_RUN, TrainResult, curve_from_snapshots
from dist_classicrl.schedules import Schedule

SYNC_MODES = ("merge", "shared")
POLL_S = 0.02
#: Worker status codes in shared memory.
RUNNING, FINISHED, FAILED = 0, 1, 2


class WorkerError(RuntimeError):
    """A worker process raised; the message carries its traceback."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class ParallelRuntime:
    """Multiprocessing with a shared-memory Q-table (module docstring)."""

    name = "parallel"

    def __init__(
        self,
        num_workers: int | None = None,
        sync: str = "merge",
        sync_every: int = 100_000,
        lock: bool = False,
        eval_points: int = 10,
        progress: bool | None = None,
        fused: bool = True,
    ) -> None:
        self.num_workers = usable_cores() if num_workers is None else num_workers
        check_positive_int("runtime.num_workers", self.num_workers)
        if sync not in SYNC_MODES:
            raise ConfigError(
                f"runtime.sync={sync!r} is unknown: allowed are {', '.join(SYNC_MODES)}"
            )
        check_positive_int("runtime.sync_every", sync_every)
        check_positive_int("runtime.eval_points", eval_points)
        self.sync, self.sync_every, self.lock = sync, sync_every, lock
        self.eval_points, self.progress, self.fused = eval_points, progress, fused

    def check_compatible(self, algorithm: BaseAlgorithm) -> None:
        """Raise `ConfigError` for combinations this runtime cannot run."""
        if self.sync == "shared" and not isinstance(algorithm.q_table, np.ndarray):
            raise ConfigError(
                f"algorithm={algorithm.name} keeps its table in Python lists, "
                "which cannot live in shared memory: use runtime.sync=merge"
            )

    def train(
        self,
        algorithm: BaseAlgorithm,
        env: DistClassicRLEnv,
        steps: int,
        epsilon: Schedule,
        learning_rate: Schedule,
        seed: int | None = None,
    ) -> TrainResult:
        check_positive_int("steps", steps)
        self.check_compatible(algorithm)
        workers = self.num_workers
        compile_start = time.perf_counter()
        TrainingLoop(algorithm, env, fused=self.fused).warm_up()  # children inherit the code
        replay_updates(*(np.zeros(1, np.float32) for _ in range(3)), np.zeros(1, np.int32), 0.5)
        compile_time = time.perf_counter() - compile_start
        budgets = [steps // workers + (w < steps % workers) for w in range(workers)]
        per_worker = math.ceil(steps / workers)
        chunk = max(
            env.num_envs, math.ceil(per_worker / CHUNKS_PER_RUN / env.num_envs) * env.num_envs
        )
        if self.sync == "merge":
            chunk = min(chunk, max(env.num_envs, self.sync_every))
        shape = (env.n_states, env.n_actions)
        ctx = mp.get_context("fork")  # workers inherit env, algorithm and compiled kernels
        with SharedArrays(
            q=(shape, np.float32),
            steps=((workers,), np.int64),
            totals=((workers, 4), np.float64),
            clock=((workers, 3), np.float64),  # start, end, seconds spent merging
            status=((workers,), np.int64),
            stop=((1,), np.int64),
            ready=((workers,), np.int64),
            go=((1,), np.int64),
            snap_q=((self.eval_points - 1, *shape), np.float32),
            snap_step=((self.eval_points - 1,), np.int64),
            snap_totals=((self.eval_points - 1, 4), np.float64),
            snap_time=((self.eval_points - 1,), np.float64),
            snap_count=((1,), np.int64),
            replayed=((workers, 3), np.int64),  # replay updates, batches, fused kernel off
        ) as block:
            block.q[...] = algorithm.q_values()
            job = _WorkerJob(
                block,
                algorithm,
                env,
                budgets,
                chunk,
                epsilon,
                learning_rate,
                seed,
                self.sync,
                self.sync_every,
                self.lock and self.sync == "shared",
                self.fused,
                ctx.Lock(),
                ctx.SimpleQueue(),
            )
            result = self._supervise(ctx, job, steps, compile_time)
        algorithm.load_q_values(result.q_table)
        algorithm.step_count += result.steps
        return result

    def _supervise(self, ctx: Any, job: _WorkerJob, steps: int, compile_time: float) -> TrainResult:
        block, workers = job.block, len(job.budgets)
        procs = [ctx.Process(target=job.run, args=(w,), daemon=True) for w in range(workers)]
        enabled = sys.stderr.isatty() if self.progress is None else self.progress
        bar = tqdm(
            total=steps,
            disable=not enabled,
            unit="step",
            unit_scale=True,
            leave=False,
            desc=f"{job.algorithm.name}/{job.env.name} x{workers}",
            mininterval=0.2,
        )
        status = "completed"
        try:
            for p in procs:
                p.start()
            # Start the clocks together: forking the next worker takes milliseconds.
            while not block.ready.all() and all(p.exitcode in (None, 0) for p in procs):
                time.sleep(0.001)
            block.go[0] = 1
            while True:
                time.sleep(POLL_S)
                bar.update(int(block.steps.sum()) - bar.n)
                failed = [w for w, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if failed:
                    raise WorkerError(self._worker_error(job, failed[0], procs[failed[0]]))
                if all(p.exitcode == 0 for p in procs):
                    break
        except KeyboardInterrupt:
            status = "interrupted"
            block.stop[0] = 1  # workers finish their chunk, merge, and exit
            for p in procs:
                p.join(timeout=30)
        finally:
            block.stop[0] = 1
            bar.close()
            _stop_all(procs)
        done = int(block.steps.sum())
        started = block.clock[:, 0][block.clock[:, 0] > 0]
        taken = int(block.snap_count[0])
        snapshots = [
            (
                int(block.snap_step[k]),
                block.snap_q[k].copy(),
                block.snap_totals[k].copy(),
                float(block.snap_time[k] - started.min()),
            )
            for k in range(taken)
        ]
        end = float(block.clock[:, 1].max() - started.min()) if started.size else 0.0
        snapshots.append((done, block.q.copy(), block.totals.sum(axis=0), end))
        return self._result(job, snapshots, done, compile_time, status)

    @staticmethod
    def _worker_error(job: _WorkerJob, w: int, proc: Any) -> str:
        while not job.errors.empty():
            worker, text = job.errors.get()
            if worker == w:
                return f"worker {w} failed:\n{text}"
        return f"worker {w} died with exit code {proc.exitcode}"

    def _result(
        self, job: _WorkerJob, snapshots, done: int, compile_time: float, status: str
    ) -> TrainResult:
        block, algorithm, env = job.block, job.algorithm, job.env
        clock = block.clock.copy()
        ran = clock[:, 0] > 0
        train_time = float(clock[ran, 1].max() - clock[ran, 0].min()) if ran.any() else 0.0
        worker_steps = block.steps.copy()
        worker_time = np.where(ran, clock[:, 1] - clock[:, 0], np.nan)
        curve, eval_time, statistics, final_eval = curve_from_snapshots(
            snapshots, env, job.epsilon, job.learning_rate, algorithm.discount
        )
        per_worker = [
            float(s / t) if t and t > 0 else float("nan")
            for s, t in zip(worker_steps, worker_time, strict=True)
        ]
        return TrainResult(
            snapshots[-1][1],
            done,
            train_time,
            compile_time,
            eval_time,
            status,
            statistics,
            final_eval,
            curve,
            workers=len(job.budgets),
            details={
                "sync": self.sync,
                "sync_every": self.sync_every,
                "lock": bool(job.lock_batches),
                "per_worker_steps_per_s": per_worker,
                "per_worker_merge_time_s": clock[:, 2].tolist(),
                **replay_details(algorithm.replay, block.replayed),
            },
        )


def _stop_all(procs: list[Any]) -> None:
    """Make sure no worker outlives the run: terminate, then kill."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
            p.join()


@dataclass
class _WorkerJob:
    """Everything a forked worker needs; `run(w)` is the worker's whole life."""

    block: SharedArrays
    algorithm: BaseAlgorithm
    env: DistClassicRLEnv
    budgets: list[int]
    chunk: int
    epsilon: Schedule
    learning_rate: Schedule
    seed: int | None
    sync: str
    sync_every: int
    lock_batches: bool
    fused: bool
    lock: Any
    errors: Any

    @property
    def total_steps(self) -> int:
        return sum(self.budgets)

    def run(self, w: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = 0
        try:
            self._train(w)
            self.block.status[w] = FINISHED
        except BaseException:
            self.block.status[w] = FAILED
            self.errors.put((w, traceback.format_exc()))
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # skip the parent's atexit handlers, inherited through fork

    def _train(self, w: int) -> None:
        block, algorithm = self.block, self.algorithm
        worker_seed = int(np.random.SeedSequence([self.seed or 0, w]).generate_state(1)[0])
        algorithm.reseed(worker_seed)
        # One worker has nobody to merge with: it learns in the shared table directly.
        alone = len(self.budgets) == 1 and isinstance(algorithm.q_table, np.ndarray)
        merging = self.sync == "merge" and not alone
        base = None
        if merging:
            base = block.q.copy()
            algorithm.load_q_values(base)
            algorithm.count_visits()
        else:
            algorithm.q_table = block.q  # every update goes to the shared table
        loop = TrainingLoop(
            algorithm,
            self.env,
            fused=self.fused,
            batch_lock=self.lock if self.lock_batches else None,
        )
        loop.start(worker_seed)
        block.ready[w] = 1
        while not block.go[0] and not block.stop[0]:
            time.sleep(0.0005)
        # Stagger the merges (worker w first merges after (w+1)/W of sync_every steps) so
        # that workers do not queue at the lock together.
        budget, done = self.budgets[w], 0
        since_sync = self.sync_every - (w + 1) * self.sync_every // len(self.budgets)
        block.clock[w, 0] = time.perf_counter()
        while done < budget and not block.stop[0]:
            global_step = int(block.steps.sum())
            algorithm.epsilon = self.epsilon(global_step)
            algorithm.learning_rate = self.learning_rate(global_step)
            take = min(self.chunk, budget - done)
            loop.run(take)
            done += take
            since_sync += take
            if merging and since_sync >= self.sync_every:
                merge_start = time.perf_counter()
                self._merge(base)
                block.clock[w, 2] += time.perf_counter() - merge_start
                since_sync = 0
            block.steps[w] = done
            block.totals[w] = loop.stats.totals()
            block.replayed[w] = loop.replay_counts()
            block.clock[w, 1] = time.perf_counter()
            self._snapshot_if_due()
        if merging:
            self._merge(base)
        block.clock[w, 1] = time.perf_counter()

    def _snapshot_if_due(self) -> None:
        """Copy the shared table into the next snapshot slot once the global step count
        has passed its evaluation point (whichever worker gets there first)."""
        block = self.block
        slots = block.snap_step.shape[0]
        due = lambda k: block.steps.sum() >= (k + 1) * self.total_steps / (slots + 1) - 0.5  # noqa: E731
        if block.snap_count[0] >= slots or not due(int(block.snap_count[0])):
            return
        with self.lock:
            while block.snap_count[0] < slots and due(int(block.snap_count[0])):
                k = int(block.snap_count[0])
                block.snap_q[k] = block.q
                block.snap_step[k] = block.steps.sum()
                block.snap_totals[k] = block.totals.sum(axis=0)
                block.snap_time[k] = time.perf_counter()
                block.snap_count[0] = k + 1

    def _merge(self, base: np.ndarray) -> None:
        """Replay this worker's updates since `base` on top of the shared table (module
        docstring); refresh `base` and the private table in place."""
        algorithm = self.algorithm
        private = algorithm.q_values()
        with self.lock:
            replay_updates(
                self.block.q.reshape(-1),
                private.reshape(-1),
                base.reshape(-1),
                algorithm.visits.reshape(-1),
                1.0 - algorithm.learning_rate,
            )
            np.copyto(base, self.block.q)
        algorithm.load_q_values(base)


@njit(cache=True)
def replay_updates(shared, private, base, visits, keep):
    """``shared = private + keep^k (shared - base)`` where ``k = visits > 0``; zero the
    visits. One pass, no temporaries: the merge holds the lock for a scan of the table."""
    log_keep = np.log(keep) if keep > 0.0 else -np.inf
    for i in range(shared.shape[0]):
        k = visits[i]
        if k:
            factor = np.exp(k * log_keep) if k * log_keep > -40.0 else 0.0
            shared[i] = private[i] + factor * (shared[i] - base[i])
            visits[i] = 0
