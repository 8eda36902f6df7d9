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


def command() -> NoReturn:
    """The command line (``python -m dist_classicrl.run``, ``dist-classicrl``): `main`,
    then, for one job, the end of the process once every output is written, without the
    interpreter's teardown. Tearing down Python and LLVM after a compiled kernel has run
    takes 0.2-0.3 s (from the last ``atexit`` handler to the process's end, medians of 5
    runs), a fifth of the default job, and nothing of the job happens in it. What the
    teardown would run first still runs: the threads' shutdown (joins, and
    `concurrent.futures`' exit hooks) and the `atexit` handlers (logging's close of
    run.log, multiprocessing's join of its children, `weakref.finalize`). A sweep keeps the
    whole teardown: its launchers (joblib's loky workers and their /dev/shm files) clean up
    in it, and one teardown per sweep costs its jobs little. Under MPI the teardown is
    kept too: mpi4py calls ``MPI_Finalize`` there, which mpiexec waits for."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    preflight = sys.modules.get("dist_classicrl.app.preflight")  # absent if main ended early
    if "mpi4py.MPI" in sys.modules or preflight is None or not preflight.runs_one_job(sys.argv[1:]):
        sys.exit(code)  # type: ignore[arg-type]
    _end_process(code)


def _end_process(code: object) -> NoReturn:
    """`sys.exit`'s ending for `code` (None, an int, or a message for stderr and 1), less
    the interpreter's teardown."""
    import atexit
    import threading

    # the teardown's first two steps, as CPython's Py_FinalizeEx runs them
    threading._shutdown()  # type: ignore[attr-defined]  # joins threads, runs their exit hooks
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the teardown would ignore it too
            pass
    os._exit(status)


if __name__ == "__main__":
    command()
