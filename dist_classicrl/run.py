"""``python -m dist_classicrl.run [overrides]``: the app's entry point (`app.cli`).

It handles SIGINT and SIGTERM before anything heavy is imported (Hydra, NumPy, Numba,
matplotlib take a second or more): an interrupt during start-up ends the command with
one line and exit code 130 or 143, not a traceback. Under ranks started by ``mpiexec
python -m mpi4py``, MPI is already initialised here: MPI's files are unlinked at once
(`runtimes.lifetime.unlink_mpi_files`) and a rank interrupted during start-up aborts
every rank, so that none waits for it in a collective.

The app needs the ``app`` extra (Hydra, OmegaConf, matplotlib), ranks the ``mpi`` extra:
without them the command ends with one line naming the extra and exit code 2.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from typing import NoReturn

from dist_classicrl.errors import needs_extra

#: The app's imports that only the ``app`` extra installs (pyproject.toml).
APP_MODULES = ("hydra", "omegaconf", "matplotlib")


def _mpi_module():
    """``mpi4py.MPI`` when this process is an initialised MPI rank, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None and _started_as_ranks():
        try:
            from mpi4py import MPI as mpi  # initialise now: see main
        except ImportError:  # main reports the missing extra
            return None
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


def _missing(exc: ModuleNotFoundError, modules: tuple[str, ...]) -> bool:
    """Whether `exc` says that one of `modules` (or a submodule) is not installed."""
    return (exc.name or "").partition(".")[0] in modules


def _exit_needs_extra(feature: str, extra: str, exc: ModuleNotFoundError) -> NoReturn:
    missing = (exc.name or "").partition(".")[0]
    sys.stderr.write(
        f"dist_classicrl: error: {needs_extra(feature, extra)} ({missing} is not installed)\n"
    )
    sys.exit(2)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupted_at_start)
    if _started_as_ranks():
        try:
            from mpi4py import MPI  # noqa: F401
        except ModuleNotFoundError as exc:
            if not _missing(exc, ("mpi4py",)):
                raise
            _exit_needs_extra("runtime=distributed", "mpi", exc)
    # Under mpiexec, MPI is initialised first thing and its files unlinked: an abort
    # from here on (an interrupted start-up) cannot leak them.
    mpi = _mpi_module()
    if mpi is not None and mpi.COMM_WORLD.Get_size() > 1:
        from dist_classicrl.runtimes.lifetime import unlink_mpi_files

        unlink_mpi_files(mpi.COMM_WORLD)
    try:
        # matplotlib is imported only when a figure is drawn: look for it now, before
        # any work (`importlib.util.find_spec` finds a package without importing it)
        for name in APP_MODULES:
            if importlib.util.find_spec(name) is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        from dist_classicrl.app.cli import main as run_app
    except ModuleNotFoundError as exc:
        if not _missing(exc, APP_MODULES):
            raise
        _exit_needs_extra("the app (python -m dist_classicrl.run)", "app", exc)
    run_app()


if __name__ == "__main__":
    main()
