"""One distributed training job inside ``mpiexec`` (started by `DistributedRuntime`).

    mpiexec -n N python -m dist_classicrl.runtimes.mpi_job DIR

Every rank starts MPI with SIGINT and SIGTERM blocked and unblocks them once MPI's files
for its node are unlinked (`lifetime.unlink_mpi_files`): ``MPI_Init`` creates
``/dev/shm/mpich_shm_*``, and a rank aborted in between by a stop the app forwarded
(mpiexec passes SIGINT on) would leave it, with mpiexec then ending by itself. A signal
that came meanwhile is delivered then, when nothing can leak any more. (The app's own
SIGKILL of mpiexec in that window is covered by the app: `lifetime.mpi_segments_of_session`.)
So the ranks do not run under mpi4py's runner (``python -m mpi4py``), which starts MPI
before any of this module runs; they do what it does: an exception that ends a rank
aborts every rank (MPICH would otherwise leave the others waiting in their next
collective). Each rank then writes its pid to
``DIR/rank<r>.pid`` and waits until the app has opened a
pidfd on it (``DIR/rank<r>.watched``), so that the app sees which rank dies first even
when one dies at once: MPICH then kills the others within milliseconds. It then loads
``DIR/job.pkl`` and runs the driver's learners; rank 0 writes the outcome to
``DIR/result.pkl``. A rank that raises writes its error to ``DIR/rank<r>.error`` (and
stderr) and aborts every rank. If the app that started the ranks is gone, rank 0
removes DIR instead.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from dist_classicrl.runtimes.distributed import APP_PID_VARIABLE
from dist_classicrl.runtimes.driver import format_failure, run_learners
from dist_classicrl.runtimes.lifetime import ProcessWatch, unlink_mpi_files

#: The stop signals held while MPI starts (module docstring).
_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def start_mpi() -> Any:
    """Initialise MPI and unlink its files with the stop signals held; COMM_WORLD."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        from mpi4py import MPI  # MPI_Init

        comm = MPI.COMM_WORLD
        if comm.Get_size() > 1:
            unlink_mpi_files(comm)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a held signal arrives here
    return comm


def main(job_dir: str) -> None:
    directory = Path(job_dir)
    comm = start_mpi()
    rank = comm.Get_rank()
    _announce(directory, rank)
    runtime, job = pickle.loads((directory / "job.pkl").read_bytes())
    try:
        _, outcome = run_learners(runtime, job)
    except Exception:
        error = format_failure(f"rank {rank} (pid {os.getpid()})")
        # in a file too: MPI_Abort may end mpiexec before it forwards this rank's stderr
        (directory / f"rank{rank}.error").write_text(error)
        print(f"dist_classicrl: {error}", file=sys.stderr, flush=True)
        comm.Abort(1)
        return
    if rank != 0:
        return
    app = ProcessWatch(int(os.environ.get(APP_PID_VARIABLE, os.getppid())))
    if app.alive():
        temporary = directory / "result.pkl.part"
        temporary.write_bytes(pickle.dumps(outcome))
        temporary.rename(directory / "result.pkl")
    else:  # nobody will read it: leave nothing behind
        shutil.rmtree(directory, ignore_errors=True)
    app.close()


WATCH_WAIT_S = 30.0  # past this the rank trains unwatched rather than not at all


def _announce(directory: Path, rank: int) -> None:
    """Write this rank's pid (atomically: the app must never read half of it) and wait
    for the app to watch it, or for the app to be gone."""
    temporary = directory / f"rank{rank}.pid.part"
    temporary.write_text(str(os.getpid()))
    temporary.rename(directory / f"rank{rank}.pid")
    app = ProcessWatch(int(os.environ.get(APP_PID_VARIABLE, os.getppid())))
    deadline = time.monotonic() + WATCH_WAIT_S
    try:
        while not (directory / f"rank{rank}.watched").exists():
            if not app.alive() or time.monotonic() > deadline:
                return
            time.sleep(0.002)
    finally:
        app.close()


def _abort_all() -> None:
    """What mpi4py's runner does when a rank ends with an exception: end every rank."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        mpi.COMM_WORLD.Abort(1)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BaseException:  # a KeyboardInterrupt too: the others must not wait for this one
        traceback.print_exc()
        sys.stderr.flush()
        _abort_all()
        raise
