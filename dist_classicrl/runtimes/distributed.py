"""`DistributedRuntime`: MPI ranks (mpi4py) that learn locally and combine with Allreduce.

Starting
    ``python -m dist_classicrl.run runtime=distributed runtime.ranks=3`` starts the ranks
    itself: the job's objects are pickled into a temporary directory and
    ``mpiexec -n 3 python -m mpi4py -m dist_classicrl.runtimes.mpi_job DIR`` (the
    ``mpiexec`` installed next to the Python interpreter by the ``mpich`` wheel) trains
    them; rank 0 writes the result back and the calling process writes the job's files,
    once. ``python -m mpi4py`` makes an exception in any rank abort every rank (MPICH
    otherwise leaves the others waiting in the next collective forever), and the launcher
    is bounded by ``runtime.timeout_s``.

Synchronisation (``sync=allreduce``)
    Every rank steps its own ``env.num_envs`` envs, learns into its own table and counts
    its updates per entry. Every `sync_every` of its steps all ranks combine their changes
    since the last synchronisation with one ``Allreduce`` of ``[k_r * (Q_r - base), k_r]``:
    each entry moves to ``base + sum_r k_r (Q_r - base) / sum_r k_r``, the visit-weighted
    mean of the ranks' changes. An entry one rank learned keeps that rank's change in full;
    an entry all ranks learned moves by their average, not their sum (a sum counts a shared
    target R times and oscillates). Only the changed entries travel (`SparseExchange`).

Balanced rounds
    A round is ``sync_every`` steps per rank on average; its steps are split between the
    ranks in proportion to their speed in the previous rounds (`allot`, `rebalance`), so a
    rank on a slower core (measured: one vCPU of this machine runs ~12% slower) does not
    make the others wait in every collective. All ranks compute the same split from the
    numbers they gathered, so they agree on every round and on when the budget is spent,
    exactly.

Synchronisation (``sync=param_server``, the seed's parameter server)
    At the same moments every rank sends its table and its update counts to rank 0
    (``Gather``); rank 0 replays the ranks' updates in rank order with the parallel
    runtime's rule (an entry rank r updated k times becomes
    ``Q_r + (1 - lr)^k (merged - base)``) and sends the merged table back (``Bcast``).
    Rank 0 carries all the traffic: its link is the bottleneck as ranks grow.

Interrupts
    Ctrl+C (or SIGTERM to the app) reaches the ranks as one SIGINT through mpiexec; every
    rank stops at the next synchronisation, where the request travels with the step
    counts, and rank 0's result is saved with ``status: interrupted``.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import ConfigError, check_positive_int
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.parallel import WorkerError, replay_updates
from dist_classicrl.runtimes.replay import replay_details
from dist_classicrl.runtimes.single import TrainResult, curve_from_snapshots
from dist_classicrl.schedules import Schedule

SYNC_MODES = ("allreduce", "param_server")
#: Per-rank numbers exchanged at every synchronisation: steps done, episodes, return sum,
#: squared-return sum, length sum, stop request, compute seconds and steps of the round.
TOTALS = 8
DONE, STOP, ROUND_SECONDS, ROUND_STEPS = 0, 5, 6, 7


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


class DistributedRuntime:
    """MPI ranks through mpi4py (module docstring)."""

    name = "distributed"

    def __init__(
        self,
        ranks: int = 2,
        sync: str = "allreduce",
        sync_every: int = 100_000,
        eval_points: int = 10,
        progress: bool | None = None,
        fused: bool = True,
        timeout_s: float = 3600.0,
    ) -> None:
        check_positive_int("runtime.ranks", ranks)
        check_positive_int("runtime.sync_every", sync_every)
        check_positive_int("runtime.eval_points", eval_points)
        if sync not in SYNC_MODES:
            raise ConfigError(
                f"runtime.sync={sync!r} is unknown: allowed are {', '.join(SYNC_MODES)}"
            )
        if timeout_s <= 0:
            raise ConfigError(f"runtime.timeout_s={timeout_s} must be > 0")
        self.ranks, self.sync, self.sync_every = ranks, sync, sync_every
        self.eval_points, self.progress, self.fused = eval_points, progress, fused
        self.timeout_s = timeout_s

    @staticmethod
    def is_secondary_rank() -> bool:
        """True in a rank other than 0 of ranks you started (``mpiexec -n N python -m
        dist_classicrl.run ...``): rank 0 alone writes the job's files."""
        if not _under_mpi():
            return False
        from mpi4py import MPI

        return MPI.COMM_WORLD.Get_rank() != 0

    def check_compatible(self, algorithm: BaseAlgorithm) -> None:
        if self.ranks > 1 and not _under_mpi() and not mpiexec_path().exists():
            raise ConfigError(
                f"runtime=distributed needs {mpiexec_path()}: install the "
                "mpich wheel (pip install mpich) into this environment"
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
        if _under_mpi() or self.ranks == 1:
            from mpi4py import MPI

            return train_spmd(
                MPI.COMM_WORLD, self, algorithm, env, steps, epsilon, learning_rate, seed
            )
        self.check_compatible(algorithm)
        return self._launch(algorithm, env, steps, epsilon, learning_rate, seed)

    def _launch(self, algorithm, env, steps, epsilon, learning_rate, seed) -> TrainResult:
        with tempfile.TemporaryDirectory(prefix="dcrl_mpi_") as tmp:
            spec = Path(tmp) / "job.pkl"
            spec.write_bytes(
                pickle.dumps((self, algorithm, env, steps, epsilon, learning_rate, seed))
            )
            bin_dir = str(Path(sys.executable).parent)  # Spawn and helpers need it on PATH
            child_env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
            cmd = [
                str(mpiexec_path()),
                "-n",
                str(self.ranks),
                sys.executable,
                "-m",
                "mpi4py",
                "-m",
                "dist_classicrl.runtimes.mpi_job",
                tmp,
            ]
            stderr = _run_forwarding_interrupts(cmd, child_env, self.timeout_s, self.ranks)
            result_file = Path(tmp) / "result.pkl"
            returncode, stderr = stderr
            if returncode != 0 or not result_file.exists():
                tail = "\n".join(stderr.strip().splitlines()[-25:])
                raise WorkerError(
                    f"mpiexec with {self.ranks} ranks failed (exit code {returncode}):\n{tail}"
                )
            if stderr:
                sys.stderr.write(stderr)
            result, q_table = pickle.loads(result_file.read_bytes())
        algorithm.load_q_values(q_table)
        algorithm.step_count += result.steps
        return result


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


def _run_forwarding_interrupts(
    cmd: list[str], env: dict, timeout_s: float, ranks: int
) -> tuple[int, str]:
    """Run mpiexec in its own session; Ctrl+C or SIGTERM here is forwarded to it as one
    SIGINT (mpiexec passes it to the ranks, which stop at their next synchronisation and
    save; a second SIGINT would make mpiexec abort them). Returns (exit code, stderr)."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=sys.stdout, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    forwarded = []

    def forward(signum: int, frame: object) -> None:
        if not forwarded:
            forwarded.append(signum)
            proc.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise WorkerError(
            f"the {ranks} MPI ranks did not finish within runtime.timeout_s={timeout_s}"
        ) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return proc.returncode, stderr


def _under_mpi() -> bool:
    """True when this process is one of several MPI ranks (started by mpiexec or srun)."""
    if not any(
        k in os.environ
        for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_PROCID")
    ):
        return False
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_size() > 1


def train_spmd(
    comm: Any,
    runtime: DistributedRuntime,
    algorithm: BaseAlgorithm,
    env: DistClassicRLEnv,
    steps: int,
    epsilon: Schedule,
    learning_rate: Schedule,
    seed: int | None,
) -> TrainResult:
    """Every rank runs this; rank 0's return value is the job's result."""
    from mpi4py import MPI

    rank, size = comm.Get_rank(), comm.Get_size()
    rank_seed = int(np.random.SeedSequence([seed or 0, rank, 7]).generate_state(1)[0])
    algorithm.reseed(rank_seed)
    loop = TrainingLoop(algorithm, env, fused=runtime.fused)
    compile_start = time.perf_counter()
    loop.warm_up()
    pack_changes(
        np.zeros(3, np.int32), *(np.zeros(1, np.float32) for _ in range(2)), np.ones(1, np.int32)
    )
    apply_mean_changes(
        *(np.zeros(1, np.float32) for _ in range(2)),
        np.zeros(3, np.int32),
        np.ones(1, np.int64),
        *(np.zeros(1) for _ in range(2)),
    )
    replay_updates(*(np.zeros(1, np.float32) for _ in range(4)), 0.5)
    compile_time = comm.allreduce(time.perf_counter() - compile_start, op=MPI.MAX)
    loop.start(rank_seed)

    weights = np.full(size, 1.0 / size)  # each rank's share of a round's steps
    rank_totals = np.zeros((size, TOTALS))
    base = np.array(algorithm.q_values(), dtype=np.float32)
    algorithm.load_q_values(base)
    visits = algorithm.count_visits()
    if runtime.sync == "allreduce":
        exchange = SparseExchange(comm, base.size)
    else:
        send = np.empty((2, base.size), dtype=np.float32)  # float32: half the bytes
        gathered = np.empty((size, 2, base.size), dtype=np.float32) if rank == 0 else None
    totals = np.zeros(TOTALS)  # this rank's numbers (TOTALS)
    global_totals = np.zeros(TOTALS)  # their sums over the ranks
    bytes_sent = 0
    table_is_view = np.shares_memory(algorithm.q_values(), algorithm.q_values())
    stop_requested = []
    previous_handler = signal.signal(signal.SIGINT, lambda *_: stop_requested.append(1))
    status = "completed"
    eval_every = steps / runtime.eval_points
    next_eval = eval_every
    snapshots: list[tuple[int, np.ndarray, np.ndarray, float]] = []
    comm_time = train_time = 0.0
    done = syncs = 0
    comm.Barrier()
    start = time.perf_counter()
    while int(global_totals[DONE]) < steps:
        # A round is `sync_every` steps per rank, split by speed: a rank on a slower core
        # gets fewer steps, so that the ranks reach the collective together.
        round_steps = min(size * runtime.sync_every, steps - int(global_totals[DONE]))
        take = int(allot(round_steps, weights)[rank])
        global_step = int(global_totals[DONE])
        algorithm.epsilon = epsilon(global_step)
        algorithm.learning_rate = learning_rate(global_step)
        round_start = time.perf_counter()
        if take > 0:
            loop.run(take)
            done += take
        sync_start = time.perf_counter()
        private = algorithm.q_values().reshape(-1)
        totals[:] = (
            done,
            *loop.stats.totals(),
            float(bool(stop_requested)),
            sync_start - round_start,
            take,
        )
        if runtime.sync == "allreduce":
            bytes_sent += exchange.synchronise(
                private, base.reshape(-1), visits.reshape(-1), totals, global_totals
            )
            if not table_is_view:  # the list variant's q_values() is a copy
                algorithm.load_q_values(base)
            rank_totals = exchange.rank_totals
        else:  # param_server: rank 0 replays every rank's updates in rank order
            send[0] = private
            send[1] = visits.reshape(-1)
            visits[...] = 0
            comm.Gather(send, gathered, root=0)
            if rank == 0:
                merged = base.reshape(-1).copy()
                for r in range(size):
                    replay_updates(
                        merged,
                        gathered[r, 0],
                        base.reshape(-1),
                        gathered[r, 1],
                        1.0 - algorithm.learning_rate,
                    )
                base.reshape(-1)[:] = merged
            comm.Bcast(base, root=0)
            comm.Allgather(totals, rank_totals)
            global_totals[:] = rank_totals.sum(axis=0)
            algorithm.load_q_values(base)
            bytes_sent += send.nbytes + totals.nbytes + base.nbytes
        comm_time += time.perf_counter() - sync_start
        syncs += 1
        weights = rebalance(weights, rank_totals)
        now = time.perf_counter()
        while rank == 0 and global_totals[0] >= next_eval - 0.5 and global_totals[0] < steps:
            snapshots.append(
                (
                    int(global_totals[0]),
                    base.copy(),
                    global_totals[1:5].copy(),
                    now - start,
                )
            )
            next_eval += eval_every
        if global_totals[STOP] > 0:  # some rank was interrupted: every rank stops here
            status = "interrupted"
            break
    signal.signal(signal.SIGINT, previous_handler)
    train_time = time.perf_counter() - start
    comm_times = comm.gather(comm_time, root=0)
    bytes_per_sync = comm.gather(bytes_sent / max(syncs, 1), root=0)
    rank_rates = comm.gather(done / train_time if train_time > 0 else float("nan"), root=0)
    rank_replays = comm.gather(loop.replay_counts(), root=0)
    if rank != 0:
        return None  # type: ignore[return-value]
    final = base.copy()
    snapshots.append((int(global_totals[0]), final, global_totals[1:5].copy(), train_time))
    curve, eval_time, statistics, final_eval = curve_from_snapshots(
        snapshots, env, epsilon, learning_rate, algorithm.discount
    )
    comm_share = float(np.mean(comm_times)) / train_time if train_time > 0 else float("nan")
    return TrainResult(
        final,
        int(global_totals[0]),
        train_time,
        compile_time,
        eval_time,
        status,
        statistics,
        final_eval,
        curve,
        workers=size,
        details={
            "ranks": size,
            "sync": runtime.sync,
            "sync_every": runtime.sync_every,
            "comm_time_s": float(np.mean(comm_times)),
            "comm_share": comm_share,
            "bytes_per_sync": int(np.mean(bytes_per_sync)),
            "syncs": syncs,
            "per_rank_steps_per_s": [float(r) for r in rank_rates],
            **replay_details(algorithm.replay, np.array(rank_replays)),
        },
    )
