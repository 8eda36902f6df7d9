"""`DistributedRuntime`: MPI ranks (mpi4py) that learn locally and combine with Allreduce.

Starting
    ``python -m dist_classicrl.run runtime=distributed runtime.ranks=3`` starts the ranks
    itself: the job's objects are pickled into a temporary directory and
    ``mpiexec -n 3 python -m dist_classicrl.runtimes.mpi_job DIR`` (the
    ``mpiexec`` installed next to the Python interpreter by the ``mpich`` wheel) trains
    them; rank 0 writes the result back and the calling process writes the job's files,
    once. An exception in any rank aborts every rank (`mpi_job`, as ``python -m mpi4py``
    does: MPICH otherwise leaves the others waiting in the next collective), and the launcher
    is bounded by ``runtime.timeout_s``. Ranks started by you (``mpiexec -n N python -m
    mpi4py -m dist_classicrl.run runtime=distributed``) run the same learner loop.

Synchronisation (``sync=allreduce``)
    Every rank steps its own ``env.num_envs`` envs, learns into its own table and counts
    its updates per entry. At the end of every round all ranks combine their changes
    since the last synchronisation: each entry moves to
    ``base + sum_r k_r (Q_r - base) / sum_r k_r``, the visit-weighted mean of the ranks'
    changes. An entry one rank learned keeps that rank's change in full; an entry all
    ranks learned moves by their average, not their sum (a sum counts a shared target R
    times and oscillates). Only the changed entries travel (`SparseExchange`).

Rounds
    A round is ``sync_every`` steps per rank on average (by default about 50 rounds per
    run, at least 100,000 steps per rank: `driver.resolve_sync_every`), and at most about
    `TARGET_ROUND_S` of compute at the speed the ranks measured in the last round, so
    that a stop request (which travels with the step counts) is seen within a fraction of
    a second whatever ``sync_every`` is. Its steps are split between the ranks in
    proportion to their speed (`allot`, `rebalance`), so a rank on a slower core
    (measured: one vCPU of this machine runs ~12% slower) does not make the others wait.
    All ranks compute the same split from the numbers they gathered, so they agree on
    every round and on when the budget is spent, exactly.

Synchronisation (``sync=param_server``, the seed's parameter server)
    At the same moments every rank sends its table and its update counts to rank 0
    (``Gather``); rank 0 merges the ranks' updates in rank order (`merge.merge_updates`)
    and sends the merged table back (``Bcast``). Rank 0 carries all the traffic: its link
    is the bottleneck as ranks grow.

Checkpoints
    Rank 0 writes them (``checkpoint.every``) right after a synchronisation, when the
    combined table holds exactly the steps counted; a resumed run gives every rank that
    table, the step count, statistics and pending evaluation points, and fresh random
    streams.

Stopping and failing
    SIGINT or SIGTERM in any rank (mpiexec forwards both) stops every rank at the end of
    the round; rank 0 reports what the ranks combined, ``status: interrupted``. When the
    app started the ranks, it forwards its own signals to mpiexec, the ranks watch the app
    (`lifetime.ProcessWatch`) and stop cleanly if it dies, and a rank that dies or raises
    ends the job as failed with its rank and cause. MPICH's per-node file in /dev/shm and
    mpiexec's topology file in /tmp are unlinked as soon as every rank has opened them
    (`lifetime.unlink_mpi_files`, first thing in each rank's entry point: `mpi_job` and
    `dist_classicrl.run`), so an abort, a killed rank or a killed mpiexec cannot leak them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pickle
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import ConfigError, check_positive_int, needs_extra
from dist_classicrl.jit import njit
from dist_classicrl.runtimes.base import Outcome
from dist_classicrl.runtimes.capacity import check_memory, check_process_count
from dist_classicrl.runtimes.driver import (
    FIRST_CHUNK_BATCHES,
    Continuation,
    Coordinator,
    Learner,
    Runtime,
    Session,
    resolve_sync_every,
    warm_up,
)
from dist_classicrl.runtimes.lifetime import ProcessWatch, describe_exit, mpi_segments_of_session
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.merge import compile_merge_updates, merge_updates
from dist_classicrl.runtimes.replay import replay_details

SYNC_MODES = ("allreduce", "param_server")
#: Per-rank numbers exchanged at every synchronisation: steps done, episodes, return sum,
#: squared-return sum, length sum, stop request, compute seconds and steps of the round.
TOTALS = 8
DONE, STOP, ROUND_SECONDS, ROUND_STEPS = 0, 5, 6, 7
#: Seconds of compute a round may last at the ranks' measured speed.
TARGET_ROUND_S = 0.2
#: The app's pid, for ranks it started: they stop when it is gone.
APP_PID_VARIABLE = "DCRL_APP_PID"
POLL_S = 0.05


def allot(round_steps: int, weights: np.ndarray) -> np.ndarray:
    """Split `round_steps` into whole per-rank shares proportional to `weights` (largest
    remainders first, ties to the lower rank). Every rank computes the same split from the
    same gathered numbers, so all agree on each round and on when the budget is spent."""
    shares = round_steps * weights / weights.sum()
    counts = np.floor(shares).astype(np.int64)
    order = np.argsort(-(shares - counts), kind="stable")
    counts[order[: round_steps - int(counts.sum())]] += 1
    return counts


def rebalance(weights: np.ndarray, rank_totals: np.ndarray) -> np.ndarray:
    """New split weights from the ranks' speeds in the last round (smoothed, and kept
    above a floor so that a rank that stalled once still gets work)."""
    seconds, steps = rank_totals[:, ROUND_SECONDS], rank_totals[:, ROUND_STEPS]
    if (steps <= 0).any() or (seconds <= 0).any():
        return weights
    speed = steps / seconds
    new = 0.5 * weights / weights.sum() + 0.5 * speed / speed.sum()
    return np.maximum(new, 0.2 / len(weights))


def mpiexec_path() -> Path:
    """The ``mpiexec`` next to the running interpreter (installed by the mpich wheel)."""
    return Path(sys.executable).parent / "mpiexec"


def _under_mpi() -> bool:
    """True when this process is one of several MPI ranks (started by mpiexec or srun)."""
    if not any(
        k in os.environ
        for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_PROCID")
    ):
        return False
    if importlib.util.find_spec("mpi4py") is None:  # check_compatible names the extra
        return False
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_size() > 1


class DistributedRuntime(Runtime):
    """MPI ranks through mpi4py (module docstring)."""

    name = "distributed"

    def __init__(
        self,
        ranks: int = 2,
        sync: str = "allreduce",
        sync_every: int | None = None,
        eval_points: int = 10,
        progress: bool | None = None,
        fused: bool = True,
        timeout_s: float = 3600.0,
    ) -> None:
        super().__init__(eval_points, progress, fused)
        check_positive_int("runtime.ranks", ranks)
        if sync_every is not None:
            check_positive_int("runtime.sync_every", sync_every)
        if sync not in SYNC_MODES:
            raise ConfigError(
                f"runtime.sync={sync!r} is unknown: allowed are {', '.join(SYNC_MODES)}"
            )
        if timeout_s <= 0:
            raise ConfigError(f"runtime.timeout_s={timeout_s} must be > 0")
        self.ranks, self.sync, self.sync_every = ranks, sync, sync_every
        self.timeout_s = timeout_s

    @property
    def learners(self) -> int:
        if _under_mpi():
            from mpi4py import MPI

            return MPI.COMM_WORLD.Get_size()
        return self.ranks

    def is_secondary_rank(self) -> bool:
        if not _under_mpi():
            return False
        from mpi4py import MPI

        return MPI.COMM_WORLD.Get_rank() != 0

    def check_capacity(self, env: DistClassicRLEnv) -> None:
        ranks = self.learners
        check_process_count("runtime.ranks", ranks)
        size = env.n_states * env.n_actions
        # per rank: its table and base (float32), visit counts (int32), the exchange's
        # message (3 int32 per entry), what it receives (3 per entry per rank) and two
        # float64 accumulators; rank 0 also keeps the snapshots
        per_rank = size * (4 * 2 + 4 + 12 + 12 * ranks + 16)
        needed = ranks * per_rank + (self.eval_points - 1) * size * 4
        check_memory(
            needed,
            f"runtime=distributed with {ranks} ranks ({size:,} table entries)",
            "use a smaller table or fewer ranks",
        )

    def check_compatible(self, algorithm: BaseAlgorithm, env: DistClassicRLEnv) -> None:
        if importlib.util.find_spec("mpi4py") is None or (
            self.ranks > 1 and not _under_mpi() and not mpiexec_path().exists()
        ):
            raise needs_extra("runtime=distributed", "mpi")

    def execute(self, session: Session) -> Outcome | None:
        if _under_mpi() or self.ranks == 1:
            from mpi4py import MPI

            return run_rank(MPI.COMM_WORLD, self, session)
        return _launch(self, session)


@njit(cache=True)
def pack_changes(message, private, base, visits):
    """Write this rank's changes since the last synchronisation into `message` (int32):
    the indices of the entries it updated, then ``k * (Q - base)`` and ``k`` as float32
    bits (one pass over the counts; resets them). Returns the number of entries ``n``; the
    message is ``message[:3 * n]``. Only updated entries travel: a TicTacToe round touches
    a few percent of the table's 177,147 entries."""
    values = message.view(np.float32)
    n = 0
    for i in range(visits.shape[0]):
        if visits[i]:
            message[n] = i
            n += 1
    for j in range(n):
        i = message[j]
        k = visits[i]
        values[n + j] = k * (private[i] - base[i])
        values[2 * n + j] = k
        visits[i] = 0
    return n


@njit(cache=True)
def apply_mean_changes(base, private, messages, counts, num, den):
    """Combine the ranks' `messages` (concatenated, ``counts[r]`` entries each): every
    entry some rank updated moves to ``base + sum_r k_r dQ_r / sum_r k_r``, and this rank's
    table takes the new base there (elsewhere it already equals the base). `num` and `den`
    are zero scratch arrays of the table's size, left zero."""
    values = messages.view(np.float32)
    offset = 0
    for r in range(counts.shape[0]):
        n = counts[r]
        for j in range(n):
            i = messages[offset + j]
            num[i] += values[offset + n + j]
            den[i] += values[offset + 2 * n + j]
        offset += 3 * n
    offset = 0
    for r in range(counts.shape[0]):
        n = counts[r]
        for j in range(n):
            i = messages[offset + j]
            if den[i] > 0:  # the first message naming i applies it and clears the sums
                base[i] += num[i] / den[i]
                num[i] = 0.0
                den[i] = 0.0
                private[i] = base[i]
        offset += 3 * n


class SparseExchange:
    """One ``allreduce`` synchronisation in two collectives: an ``Allgather`` of each
    rank's header (its number of changed entries and its step and episode totals, so the
    totals need no collective of their own), then an ``Allgatherv`` of the changed entries
    only. The result is the visit-weighted mean of `apply_mean_changes`, the same as a
    dense ``Allreduce`` of ``[k * dQ, k]`` over the whole table, for a fraction of the
    bytes and of the passes over the table (docs/distributed.md)."""

    def __init__(self, comm: Any, table_size: int) -> None:
        self.comm = comm
        self.size = comm.Get_size()
        self.message = np.empty(3 * table_size, dtype=np.int32)
        self.received = np.empty(3 * table_size * self.size, dtype=np.int32)
        self.num = np.zeros(table_size)
        self.den = np.zeros(table_size)
        self.headers = np.empty((self.size, 1 + TOTALS))
        #: Every rank's `totals` of the last synchronisation, one row per rank.
        self.rank_totals = self.headers[:, 1:]

    def synchronise(
        self,
        private: np.ndarray,
        base: np.ndarray,
        visits: np.ndarray,
        totals: np.ndarray,
        global_totals: np.ndarray,
    ) -> int:
        """Combine every rank's changes into `base` and `private`; sum `totals` into
        `global_totals`. Returns the bytes this rank sent."""
        from mpi4py import MPI

        n = pack_changes(self.message, private, base, visits)
        header = np.concatenate(([n], totals))
        self.comm.Allgather(header, self.headers)
        counts = self.headers[:, 0].astype(np.int64)
        global_totals[:] = self.rank_totals.sum(axis=0)
        lengths = 3 * counts
        displacements = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self.comm.Allgatherv(
            [self.message[: 3 * n], MPI.INT],
            [self.received, (lengths, displacements), MPI.INT],
        )
        apply_mean_changes(base, private, self.received, counts, self.num, self.den)
        return 3 * n * 4 + header.nbytes


def _compile_exchange() -> None:
    """Compile (or load) the exchange kernels before the first round."""
    pack_changes(
        np.zeros(3, np.int32),
        np.zeros(1, np.float32),
        np.zeros(1, np.float32),
        np.ones(1, np.int32),
    )
    apply_mean_changes(
        np.zeros(1, np.float32),
        np.zeros(1, np.float32),
        np.zeros(3, np.int32),
        np.ones(1, np.int64),
        np.zeros(1),
        np.zeros(1),
    )


class _RankCoordinator(Coordinator):
    """One rank: learns its share of a round, then synchronises with every rank (the
    stop request and the step counts travel with the tables)."""

    def __init__(
        self,
        comm: Any,
        runtime: DistributedRuntime,
        session: Session,
        loop: TrainingLoop,
        carried: Continuation,
    ) -> None:
        self.comm, self.runtime, self.session, self.loop = comm, runtime, session, loop
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.steps = session.job.steps
        self.sync_every = resolve_sync_every(runtime.sync_every, self.steps, self.size)
        self.carried = carried  # the resumed checkpoint's table is loaded already
        plan = session.job.checkpoint
        self.checkpoint_every = plan.every if plan is not None and self.rank == 0 else 0
        self.next_checkpoint = (
            (carried.done // self.checkpoint_every + 1) * (self.checkpoint_every)
            if self.checkpoint_every
            else 0
        )
        algorithm = loop.algorithm
        self.base = np.array(algorithm.q_values(), dtype=np.float32)
        algorithm.load_q_values(self.base)
        self.visits = algorithm.count_visits()
        self.table_is_view = np.shares_memory(algorithm.q_values(), algorithm.q_values())
        if runtime.sync == "allreduce":
            self.exchange = SparseExchange(comm, self.base.size)
        else:
            self.send = np.empty((2, self.base.size), dtype=np.float32)  # float32: half
            shape = (self.size, 2, self.base.size)
            self.gathered = np.empty(shape, dtype=np.float32) if self.rank == 0 else None
        self.weights = np.full(self.size, 1.0 / self.size)  # each rank's share of a round
        self.rank_totals = np.zeros((self.size, TOTALS))
        self.totals = np.zeros(TOTALS)  # this rank's numbers (TOTALS)
        self.global_totals = np.zeros(TOTALS)  # their sums over the ranks
        self.snapshots: list = list(carried.snapshots) if self.rank == 0 else []
        self.comm_time = 0.0
        self.bytes_sent = 0
        self.syncs = 0
        self.taken = carried.taken
        self.start = self.round_start = time.perf_counter()
        self.round_done = 0  # this rank's steps when the round began
        self.round_end = 0
        self._plan_round(0)

    @property
    def global_done(self) -> int:
        """Steps whose learning the combined table holds, the resumed ones included."""
        return self.carried.done + int(self.global_totals[DONE])

    def statistics(self) -> np.ndarray:
        """Episode statistics of the `global_done` steps."""
        return self.carried.totals + self.global_totals[1:5]

    def save_checkpoint(self, train_time_s: float) -> None:
        """Rank 0, after a synchronisation: the combined table and what it holds."""
        carried = Continuation(
            self.global_done, self.statistics(), self.carried.train_time_s + train_time_s
        )
        self.session.save_combined_checkpoint(self.base, self.global_done, carried, self.snapshots)

    def global_step(self, done: int) -> int:
        return self.global_done

    def boundary(self, done: int) -> int:
        return self.round_end

    def _plan_round(self, done: int) -> None:
        """This rank's share of the next round (the same computation on every rank)."""
        remaining = self.steps - self.global_done
        seconds, steps = self.rank_totals[:, ROUND_SECONDS], self.rank_totals[:, ROUND_STEPS]
        if (seconds > 0).all() and (steps > 0).all():
            cap = int((steps / seconds).sum() * TARGET_ROUND_S)
        else:  # no speed measured yet: a short first round
            cap = self.size * self.loop.env.num_envs * FIRST_CHUNK_BATCHES
        round_steps = min(self.size * self.sync_every, remaining, max(cap, self.size))
        take = int(allot(round_steps, self.weights)[self.rank])
        self.round_done, self.round_end = done, done + take
        self.round_start = time.perf_counter()

    def combine(self, done: int, stopping: bool) -> bool:
        algorithm = self.loop.algorithm
        sync_start = time.perf_counter()
        private = algorithm.q_values().reshape(-1)
        self.totals[:] = (
            done,
            *self.loop.stats.totals(),
            float(stopping),
            sync_start - self.round_start,
            done - self.round_done,
        )
        # The step counts are global totals over ranks; DONE sums every rank's `done`.
        if self.runtime.sync == "allreduce":
            self.bytes_sent += self.exchange.synchronise(
                private,
                self.base.reshape(-1),
                self.visits.reshape(-1),
                self.totals,
                self.global_totals,
            )
            if not self.table_is_view:  # the list variant's q_values() is a copy
                algorithm.load_q_values(self.base)
            self.rank_totals = self.exchange.rank_totals.copy()
        else:
            self._parameter_server(private)
        self.comm_time += time.perf_counter() - sync_start
        self.syncs += 1
        self.weights = rebalance(self.weights, self.rank_totals)
        self._snapshot_if_due()
        if self.rank == 0:
            self.session.progress(self.global_done)
        if self.checkpoint_every and self.next_checkpoint <= self.global_done < self.steps:
            self.save_checkpoint(time.perf_counter() - self.start)
            self.next_checkpoint = (self.global_done // self.checkpoint_every + 1) * (
                self.checkpoint_every
            )
        if self.global_totals[STOP] > 0 or self.global_done >= self.steps:
            return False
        self._plan_round(done)
        return True

    def _parameter_server(self, private: np.ndarray) -> None:
        """Rank 0 merges every rank's updates in rank order and sends the result back."""
        algorithm, base = self.loop.algorithm, self.base.reshape(-1)
        self.send[0] = private
        self.send[1] = self.visits.reshape(-1)
        self.visits[...] = 0
        self.comm.Gather(self.send, self.gathered, root=0)
        if self.rank == 0:
            assert self.gathered is not None  # allocated on rank 0
            merged = base.copy()
            for r in range(self.size):
                merge_updates(
                    merged,
                    self.gathered[r, 0],
                    base,
                    self.gathered[r, 1],
                    1.0 - algorithm.learning_rate,
                )
            base[:] = merged
        self.comm.Bcast(self.base, root=0)
        self.comm.Allgather(self.totals, self.rank_totals)
        self.global_totals[:] = self.rank_totals.sum(axis=0)
        algorithm.load_q_values(self.base)
        self.bytes_sent += self.send.nbytes + self.totals.nbytes + self.base.nbytes

    def _snapshot_if_due(self) -> None:
        """Rank 0 keeps a copy of the combined table at each evaluation point it passed
        (evaluated after training, so the other ranks never wait for an evaluation)."""
        now = time.perf_counter()
        while (
            self.rank == 0
            and self.global_done < self.steps
            and self.session.eval_due(self.global_done, self.taken)
        ):
            self.snapshots.append(
                (
                    self.global_done,
                    self.base.copy(),
                    self.statistics(),
                    self.carried.train_time_s + now - self.start,
                )
            )
            self.taken += 1


def run_rank(comm: Any, runtime: DistributedRuntime, session: Session) -> Outcome | None:
    """Every rank runs this; rank 0's return value is the job's outcome."""
    from mpi4py import MPI

    job = session.job
    rank, size = comm.Get_rank(), comm.Get_size()
    carried = session.continuation()  # every rank loads the resumed table
    words = [job.seed or 0, rank, 7, *carried.seed_words()]
    rank_seed = int(np.random.SeedSequence(words).generate_state(1)[0])
    job.algorithm.reseed(rank_seed)
    loop = TrainingLoop(job.algorithm, job.env, fused=runtime.fused)
    try:
        compile_time = warm_up(session, loop, _compile_exchange, compile_merge_updates)
    except KeyboardInterrupt:  # stopped while compiling: the ranks agree at the first round
        session.stop.request(signal.SIGINT)
        compile_time = 0.0
    compile_time = comm.allreduce(compile_time, op=MPI.MAX)
    loop.start(rank_seed)
    app = os.environ.get(APP_PID_VARIABLE)
    watch = ProcessWatch(int(app)) if app else None

    def stop() -> bool:
        return session.stop.requested or (watch is not None and not watch.alive())

    coordinator = _RankCoordinator(comm, runtime, session, loop, carried)
    comm.Barrier()
    coordinator.start = coordinator.round_start = time.perf_counter()
    learner = Learner(loop, job, coordinator, stop)
    learner.run()
    train_time = time.perf_counter() - coordinator.start
    if watch is not None:
        watch.close()
    done = learner.done
    comm_times = comm.gather(coordinator.comm_time, root=0)
    bytes_per_sync = comm.gather(coordinator.bytes_sent / max(coordinator.syncs, 1), root=0)
    rank_rates = comm.gather(done / train_time if train_time > 0 else float("nan"), root=0)
    rank_replays = comm.gather(loop.replay_counts(), root=0)
    job.algorithm.step_count += coordinator.global_done
    if rank != 0:
        return None
    if job.checkpoint is not None:  # at the end, and when stopped
        coordinator.save_checkpoint(train_time)
    comm_time = float(np.mean(comm_times))
    steps = coordinator.global_done
    return Outcome(
        q_table=coordinator.base.copy() if steps > 0 else None,
        steps=steps,
        totals=coordinator.statistics(),
        train_time_s=coordinator.carried.train_time_s + train_time,
        compile_time_s=compile_time,
        snapshots=coordinator.snapshots,
        workers=size,
        details={
            "ranks": size,
            "sync": runtime.sync,
            "sync_every": coordinator.sync_every,
            "comm_time_s": comm_time,
            "comm_share": comm_time / train_time if train_time > 0 else float("nan"),
            "bytes_per_sync": int(np.mean(bytes_per_sync)),
            "syncs": coordinator.syncs,
            "per_rank_steps_per_s": [float(r) for r in rank_rates],
            **replay_details(job.algorithm.replay, np.array(rank_replays)),
        },
    )


def _launch(runtime: DistributedRuntime, session: Session) -> Outcome:
    """Start the ranks with mpiexec, watch them, forward stop requests; rank 0's outcome
    comes back through the job directory, which is removed on every path."""
    job_dir = Path(tempfile.mkdtemp(prefix="dcrl_mpi_"))
    try:
        (job_dir / "job.pkl").write_bytes(pickle.dumps((runtime, session.job)))
        bin_dir = str(Path(sys.executable).parent)  # Spawn and helpers need it on PATH
        child_env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            APP_PID_VARIABLE: str(os.getpid()),
            "TMPDIR": str(job_dir),  # mpiexec's own temporary files go with the job
        }
        cmd = [
            str(mpiexec_path()),
            "-n",
            str(runtime.ranks),
            sys.executable,
            "-m",
            "dist_classicrl.runtimes.mpi_job",  # not under `-m mpi4py`: see `mpi_job`
            str(job_dir),
        ]
        returncode, first_dead = _run_mpiexec(cmd, child_env, job_dir, runtime, session)
        result_file = job_dir / "result.pkl"
        stdout = (job_dir / "stdout.txt").read_text(errors="replace")
        stderr = (job_dir / "stderr.txt").read_text(errors="replace")
        if returncode == 0 and result_file.exists():
            sys.stdout.write(stdout)
            sys.stderr.write(stderr)
            outcome = pickle.loads(result_file.read_bytes())
            if outcome.q_table is not None:
                session.job.algorithm.load_q_values(outcome.q_table)
            session.job.algorithm.step_count += outcome.steps
            return outcome
        if session.stop.requested and returncode is not None:  # stopped before reporting
            return Outcome(None, 0, np.zeros(4), 0.0, 0.0, workers=runtime.ranks)
        # MPICH writes its banner about a dead rank to stdout
        error = _rank_failure(job_dir, stderr + stdout, returncode, runtime, first_dead)
        return Outcome(None, 0, np.zeros(4), 0.0, 0.0, workers=runtime.ranks, error=error)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _run_mpiexec(
    cmd: list[str], env: dict, job_dir: Path, runtime: DistributedRuntime, session: Session
) -> tuple[int | None, tuple[str, str] | None]:
    """Run mpiexec in its own session (a terminal's Ctrl+C reaches only this process):
    forward a stop request as one SIGINT (mpiexec passes it to the ranks, which stop at
    the end of the round and report), a second SIGINT as a second one (mpiexec then
    aborts them), and end it after ``runtime.timeout_s``. Returns mpiexec's exit code
    (None after the timeout) and the (rank, pid) that ended first."""
    with open(job_dir / "stdout.txt", "w") as stdout, open(job_dir / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    forwarded = 0
    deadline = time.monotonic() + runtime.timeout_s
    killed_at: float | None = None
    ranks = _RankWatch(job_dir, runtime.ranks)
    try:
        while proc.poll() is None:
            ranks.wait(POLL_S)  # wakes at once when a rank ends: the first is the cause
            wanted = 2 if session.stop.hard else 1 if session.stop.requested else 0
            while forwarded < wanted:
                proc.send_signal(signal.SIGINT)
                forwarded += 1
            if forwarded >= 2 and killed_at is None:
                killed_at = time.monotonic() + 1.0
            if time.monotonic() > deadline or (killed_at and time.monotonic() > killed_at):
                break
    finally:
        if proc.poll() is None:  # a timeout, or this process is ending (an early Ctrl+C)
            # ranks still in MPI_Init have not unlinked MPICH's segment: find it first
            segments = mpi_segments_of_session(proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)  # mpiexec's group; its proxy ends the ranks
            proc.wait()
            for path in segments:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        ranks.close()
    if time.monotonic() > deadline and not session.stop.requested:
        return None, ranks.first_dead
    return proc.returncode, ranks.first_dead


class _RankWatch:
    """Which rank ended first while mpiexec still ran: when one rank dies, MPICH kills
    the others at once, and its banner may name any of them. Each rank waits, before it
    does anything that could fail, until its pidfd is open here (`mpi_job`), and the
    pidfds are watched together, so the first to become readable is the one that died
    first."""

    def __init__(self, job_dir: Path, ranks: int) -> None:
        self.job_dir = job_dir
        self.ranks = ranks
        self.watches: dict[str, tuple[str, ProcessWatch]] = {}
        self.first_dead: tuple[str, str] | None = None  # (rank, pid)

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout`, less if a watched rank ends; note the first to end.
        While ranks are still announcing themselves, look for them every few ms: each
        waits for its watch before it starts."""
        if len(self.watches) < self.ranks:
            timeout = min(timeout, 0.005)
        fds = {watch.fd: rank for rank, (_, watch) in self.watches.items() if watch.fd is not None}
        ended: list[str] = []
        if fds and self.first_dead is None:
            readable, _, _ = select.select(list(fds), [], [], timeout)
            ended = sorted(fds[fd] for fd in readable)
        else:
            time.sleep(timeout)
        if self.first_dead is None and len(ended) == 1:  # one rank ended: it was first
            rank = ended[0]
            self.first_dead = (rank, self.watches[rank][0])
        self._poll()

    def _poll(self) -> None:
        for pid_file in self.job_dir.glob("rank*.pid"):
            rank = pid_file.stem.removeprefix("rank")
            pid = pid_file.read_text().strip()
            if rank not in self.watches and pid.isdigit():
                self.watches[rank] = (pid, ProcessWatch(int(pid)))
                (self.job_dir / f"rank{rank}.watched").touch()
        if self.first_dead is None:
            for rank, (pid, watch) in sorted(self.watches.items()):
                if not watch.alive():
                    self.first_dead = (rank, pid)
                    break

    def close(self) -> None:
        for _, watch in self.watches.values():
            watch.close()


_BANNER_PID = re.compile(r"PID (\d+) RUNNING AT")
_BANNER_CODE = re.compile(r"EXIT CODE: (\d+)")
_BANNER_SIGNAL = re.compile(r"EXIT STRING: .*\(signal (\d+)\)")
_RANK_FAILED = re.compile(r"^dist_classicrl: (rank \d+ .*)$", re.MULTILINE)


def _rank_failure(
    job_dir: Path, stderr: str, returncode: int | None, runtime, first_dead=None
) -> str:
    """The error of a distributed job whose ranks did not report: the rank that raised
    (its own line), or the rank that died first (`_RankWatch`), with its cause from
    MPICH's banner when the banner names it."""
    if returncode is None:
        return (
            f"the {runtime.ranks} MPI ranks did not finish within "
            f"runtime.timeout_s={runtime.timeout_s}"
        )
    for error_file in sorted(job_dir.glob("rank*.error")):  # a rank that raised
        return error_file.read_text()
    raised = _RANK_FAILED.search(stderr)
    if raised:
        return raised.group(1) + _tail(stderr[raised.end() :])
    pids = {}
    for pid_file in job_dir.glob("rank*.pid"):
        pids[pid_file.read_text().strip()] = pid_file.stem.removeprefix("rank")
    pid = _BANNER_PID.search(stderr)
    cause = None
    if pid:
        signum, code = _BANNER_SIGNAL.search(stderr), _BANNER_CODE.search(stderr)
        if signum:
            cause = describe_exit(-int(signum.group(1)))
        else:
            cause = describe_exit(int(code.group(1)) if code else returncode)
    if first_dead is not None:
        rank, dead_pid = first_dead
        if pid and pid.group(1) == dead_pid:
            return f"rank {rank} (pid {dead_pid}) died: {cause}"
        seen = f" (MPICH reports rank {pids.get(pid.group(1), '?')}: {cause})" if pid else ""
        return f"rank {rank} (pid {dead_pid}) died first; mpiexec then ended the others{seen}"
    if pid:
        return f"rank {pids.get(pid.group(1), '?')} (pid {pid.group(1)}) died: {cause}"
    return (
        f"mpiexec with {runtime.ranks} ranks failed ({describe_exit(returncode)}):{_tail(stderr)}"
    )


def _tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return ("\n" + "\n".join(kept)) if kept else ""
