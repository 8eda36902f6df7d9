"""A cost model of the distributed runtime, checked against the app job.

    python tools/scaling_model.py                 # TicTacToe and Taxi, 1-4 ranks
    python tools/scaling_model.py --ranks 2 3 --envs tictactoe

Not yet a checked model: its first run (2026-12-07, 15 M steps per rank, 2 and 3 ranks)
read measured/predicted 0.71 and 0.66 on TicTacToe, 1.08 and 0.78 on Taxi, on a noisy
machine; the waits it leaves out (docs/distributed.md: a descheduled rank stalls every
collective) are the first suspect. The model: a job of ``W`` steps on
``R`` ranks, ``S`` synchronisations, takes

    T(R) = W / (R * r1 * e(R))  +  S * t_sync(R, N, n)

- ``r1``: the steps per second of one ``runtime=single`` app job (its ``metrics.json``);
- ``e(R)``: what a rank keeps of ``r1`` when ``R`` ranks compute at once. Up to the
  machine's cores it is the hardware's share (two independent single jobs at once,
  summed, over ``2 * r1``); beyond them the ranks time-share the cores,
  ``e(R) = e(C) * C / R``;
- ``t_sync(R, N, n)``: one synchronisation of a table of ``N`` entries of which each rank
  changed ``n`` since the last one, timed on its own: the runtime's own `SparseExchange`
  under ``mpiexec -n R``, on synthetic tables (no training between the calls);
- ``S`` and ``n`` are the job's (``syncs`` and ``bytes_per_sync`` in its ``metrics.json``):
  they describe the workload, not the machine.

Nothing of the distributed app job's own timing goes into the prediction; the tool then
runs that job (``runtime=distributed runtime.ranks=R``, ``R`` times the single job's
steps) and prints the predicted and the measured steps per second side by side. On a
machine with fewer cores than ranks the model still predicts the compute, but not the
waits: a rank the scheduler has descheduled stalls every collective of the others, which
no per-message cost describes (docs/distributed.md shows what that costs here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

APP = [sys.executable, "-m", "dist_classicrl.run"]
#: ``env=`` choices measured by default: a large table and a small one.
ENVS = ("tictactoe", "taxi")
#: Bytes of a synchronisation's header (`SparseExchange.synchronise`): the count and the
#: per-rank totals, float64.
HEADER_BYTES = 8 * 9


@dataclass
class Job:
    """What the model reads from one app job's ``metrics.json``."""

    steps_per_s: float
    steps: int
    entries: int  # the table's, states x actions
    syncs: int
    changed: int  # entries one rank changed per synchronisation, on average


def predict(
    steps: int, ranks: int, r1: float, efficiency: float, syncs: int, t_sync: float
) -> float:
    """The model's steps per second: `steps` over the compute time at `ranks` x `r1` x
    `efficiency`, plus `syncs` synchronisations of `t_sync` seconds each."""
    seconds = steps / (ranks * r1 * efficiency) + syncs * t_sync
    return steps / seconds


def efficiency_at(ranks: int, cores: int, two_at_once: float) -> float:
    """``e(R)``: 1 alone, the measured share of two jobs at once up to the cores (the
    share stays that of two: this machine cannot measure more), time-shared beyond."""
    if ranks == 1:
        return 1.0
    if ranks <= cores:
        return two_at_once
    return two_at_once * cores / ranks


def _app_job(work: Path, overrides: list[str]) -> dict:
    out = work / "job"
    shutil.rmtree(out, ignore_errors=True)
    command = [*APP, *overrides, f"hydra.run.dir={out}", "checkpoint.every=null"]
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return json.loads((out / "metrics.json").read_text())


def _job(metrics: dict) -> Job:
    syncs = int(metrics.get("syncs", 0))
    changed = max(0, int(metrics.get("bytes_per_sync", HEADER_BYTES)) - HEADER_BYTES) // 12
    entries = int(metrics["n_states"]) * int(metrics["n_actions"])
    return Job(float(metrics["steps_per_s"]), int(metrics["steps"]), entries, syncs, changed)


def _two_at_once(work: Path, env: str, steps: int) -> float:
    """Summed steps per second of two independent single jobs started together."""
    procs, outs = [], []
    for copy in range(2):
        out = work / f"alone_{copy}"
        shutil.rmtree(out, ignore_errors=True)
        outs.append(out)
        command = [*APP, f"env={env}", "runtime=single", f"steps={steps}", f"seed={copy}"]
        command += [f"hydra.run.dir={out}", "checkpoint.every=null"]
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a single job failed ({proc.returncode}): {err[-500:]!r}")
    return sum(float(json.loads((o / "metrics.json").read_text())["steps_per_s"]) for o in outs)


def _sync_seconds(ranks: int, entries: int, changed: int, repeats: int = 200) -> float:
    """Median seconds of one `SparseExchange.synchronise` under ``mpiexec -n ranks``."""
    from dist_classicrl.runtimes.distributed import mpiexec_path

    command = [str(mpiexec_path()), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__]
    command += ["--exchange", str(entries), str(changed), str(repeats)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the exchange benchmark failed: {proc.stderr[-500:]}")
    return float(proc.stdout.split()[-1])


def exchange_benchmark(entries: int, changed: int, repeats: int) -> None:
    """One rank of `_sync_seconds` (run under mpiexec): each round, this rank's `changed`
    entries (a different random set per rank and round) differ from the base, then one
    synchronisation; rank 0 prints the median seconds."""
    import numpy as np
    from mpi4py import MPI

    from dist_classicrl.runtimes.distributed import SparseExchange

    comm = MPI.COMM_WORLD
    exchange = SparseExchange(comm, entries)
    rng = np.random.default_rng(comm.Get_rank())
    base = np.zeros(entries, dtype=np.float32)
    private = base.copy()
    visits = np.zeros(entries, dtype=np.int32)
    totals, global_totals = np.zeros(8), np.zeros(8)
    seconds = []
    for round_ in range(repeats + 5):  # the first rounds compile and warm the caches
        touched = rng.choice(entries, size=min(changed, entries), replace=False)
        private[touched] += 0.5
        visits[touched] = 1
        comm.Barrier()
        start = time.perf_counter()
        exchange.synchronise(private, base, visits, totals, global_totals)
        took = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        if round_ >= 5:
            seconds.append(took)
    if comm.Get_rank() == 0:
        print(statistics.median(seconds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python tools/scaling_model.py")
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--envs", nargs="+", default=list(ENVS), help="env= choices")
    parser.add_argument("--steps", type=int, default=30_000_000, help="steps of the single job")
    parser.add_argument("--exchange", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.exchange:
        exchange_benchmark(*args.exchange)
        return
    cores = os.cpu_count() or 1
    print(f"{cores} cores; single job {args.steps:,} steps, R ranks R x that many\n")
    print(
        "| env | ranks | r1 (M/s) | e(R) | syncs | n per rank | t_sync (ms) "
        "| predicted (M/s) | measured (M/s) | measured / predicted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dcrl_model_") as tmp:
        work = Path(tmp)
        for env in args.envs:
            single = _job(_app_job(work, [f"env={env}", "runtime=single", f"steps={args.steps}"]))
            share = _two_at_once(work, env, args.steps) / (2 * single.steps_per_s)
            for ranks in args.ranks:
                job = _job(
                    _app_job(
                        work,
                        [
                            f"env={env}",
                            "runtime=distributed",
                            f"runtime.ranks={ranks}",
                            f"steps={ranks * args.steps}",
                        ],
                    )
                )
                t_sync = _sync_seconds(ranks, job.entries, job.changed)
                e = efficiency_at(ranks, cores, share)
                model = predict(job.steps, ranks, single.steps_per_s, e, job.syncs, t_sync)
                print(
                    f"| {env} | {ranks} | {single.steps_per_s / 1e6:.1f} | {e:.2f} | {job.syncs} "
                    f"| {job.changed:,} | {t_sync * 1e3:.2f} | {model / 1e6:.1f} "
                    f"| {job.steps_per_s / 1e6:.1f} | {job.steps_per_s / model:.2f} |"
                )


if __name__ == "__main__":
    main()
