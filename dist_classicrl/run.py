"""``python -m dist_classicrl.run [overrides]``: the app's entry point (`app.cli`).

It handles SIGINT and SIGTERM before anything heavy is imported (Hydra, NumPy, Numba,
matplotlib take a second or more): an interrupt during start-up ends the command with
one line and exit code 130 or 143, not a traceback. Under ranks started by ``mpiexec
python -m mpi4py``, MPI is already initialised here: MPI's files are unlinked at once
(`runtimes.lifetime.unlink_mpi_files`) and a rank interrupted during start-up aborts
every rank, so that none waits for it in a collective.
"""

from __future__ import annotations

import os
import signal
import sys


def _mpi_module():
    """``mpi4py.MPI`` when this process is an initialised MPI rank, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None and _started_as_ranks():
        from mpi4py import MPI as mpi  # initialise now: see main
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        return mpi
    return None


def _started_as_ranks() -> bool:
    """Whether a launcher started this process as one of several MPI ranks."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(key, "1").isdigit() and int(os.environ.get(key, "1")) > 1:
            return True
    return False


def _interrupted_at_start(signum: int, frame: object) -> None:
    sys.stderr.write("dist_classicrl: interrupted during start-up; nothing saved\n")
    sys.stderr.flush()
    mpi = _mpi_module()
    if mpi is not None and mpi.COMM_WORLD.Get_size() > 1:
        mpi.COMM_WORLD.Abort(128 + signum)
    os._exit(128 + signum)  # nothing to clean up yet: no file, no process


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupted_at_start)
    # Under mpiexec, MPI is initialised first thing and its files unlinked: an abort
    # from here on (an interrupted start-up) cannot leak them.
    mpi = _mpi_module()
    if mpi is not None and mpi.COMM_WORLD.Get_size() > 1:
        from dist_classicrl.runtimes.lifetime import unlink_mpi_files

        unlink_mpi_files(mpi.COMM_WORLD)
    from dist_classicrl.app.cli import main as run_app

    run_app()


if __name__ == "__main__":
    main()
