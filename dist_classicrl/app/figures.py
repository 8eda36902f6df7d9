"""A job's figures (``learning_curve.png``, ``policy.png``), drawn in a helper process.

Importing matplotlib takes about a third of a second, more than the default job spends
training. So a job forks a helper as soon as its env is built: the helper imports
matplotlib on the other core while the job loads its kernels and trains, then draws each
figure the job sends it into the temporary file the job names, and the job renames it
with its other files (`app.job`). The helper holds a copy of the env (the fork's), which
`plot_policy` reads for the picture's map (FrozenLake's holes, the binned grid); it never
steps it.

The helper dies with the job (``PR_SET_PDEATHSIG``, so a SIGKILLed job leaves no helper),
ignores SIGINT and SIGTERM (the job decides how to stop, and a stopped job still writes
its figures) and ends when the job closes the pipe. Where a fork is not safe (in an MPI
rank) or fails, the figures are drawn in the job's own process, with the same functions;
so are a sweep's: one import in the sweep's process costs less than one per job.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.runtimes.lifetime import describe_exit, die_with_parent, name_process

#: The helper's name in ps, top and /proc/PID/comm.
PROCESS_NAME = "dcrl-figures"

#: A figure to draw: (``learning_curve`` or ``policy``, the file, the function's keywords).
Figure = tuple[str, Path, dict[str, Any]]

#: The terminal's and the batch system's stop signals, which the helper ignores.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

#: Seconds the job waits for the helper to exit once told to.
EXIT_WAIT_S = 5.0


class FigureError(Exception):
    """A figure could not be drawn (the helper's error, or its death)."""


def draw_figure(name: str, path: Path, env: DistClassicRLEnv, **kwargs: Any) -> None:
    """Draw one figure into `path` and flush it to disk."""
    if name == "learning_curve":
        from dist_classicrl.app.report import plot_learning_curve

        plot_learning_curve(path=path, **kwargs)
    else:
        from dist_classicrl.app.policy_plot import plot_policy

        plot_policy(env=env, path=path, **kwargs)
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fork_is_safe() -> bool:
    """No fork inside an initialised MPI rank: the child would share MPI's sockets and
    memory with a library that does not expect it."""
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi is None or not mpi.Is_initialized()


class FigureDrawer:
    """The helper process of one job (module docstring); a context manager that always
    ends it."""

    def __init__(self, env: DistClassicRLEnv, apart: bool = True) -> None:
        """`apart`: draw in a helper process (False: in this one, as a sweep's jobs do:
        the first imports matplotlib, the others find it imported)."""
        self.env = env
        self._proc: Any = None
        self._conn: Any = None
        if not apart or not _fork_is_safe():
            return
        ctx = mp.get_context("fork")
        self._conn, child_end = ctx.Pipe()
        # The helper is born with SIGINT and SIGTERM blocked and ignores them before it
        # unblocks them: a Ctrl+C in its first instants cannot kill it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self._proc = ctx.Process(
                target=_serve,
                args=(child_end, self._conn, env, os.getpid()),
                name="dist_classicrl-figures",
                daemon=True,  # multiprocessing ends it at exit, whatever else happens
            )
            self._proc.start()
        except (OSError, AssertionError):  # no process to spare (a pids limit), or this
            # process is itself a daemon, which may not have children: draw here instead
            self._proc = None
            self._conn.close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child_end.close()

    def __enter__(self) -> FigureDrawer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def draw(self, figures: list[Figure]) -> Callable[[], None]:
        """Start drawing `figures`; returns the function that waits until they are on
        disk and raises `FigureError` (or the `OSError` of a full disk) if one is not."""
        if self._proc is None:
            for name, path, kwargs in figures:
                draw_figure(name, path, self.env, **kwargs)
            return lambda: None
        try:
            self._conn.send(figures)
        except OSError:  # the helper is gone (a broken pipe): `wait` reports how it ended
            pass
        answer: list[BaseException | None] = []  # the helper's, once received

        def wait() -> None:  # a second call raises what the first did, at once
            if not answer:
                try:
                    answer.append(self._conn.recv())
                except (EOFError, OSError):
                    self._proc.join(timeout=EXIT_WAIT_S)
                    how = describe_exit(self._proc.exitcode)
                    answer.append(FigureError(f"the process drawing the figures died: {how}"))
            if answer[0] is not None:
                raise answer[0]

        return wait

    def close(self) -> None:
        """Tell the helper to end (it ends when the pipe closes) and reap it."""
        if self._proc is None:
            return
        self._conn.close()
        self._proc.join(timeout=EXIT_WAIT_S)
        if self._proc.exitcode is None:
            self._proc.kill()
            self._proc.join()
        self._proc = None


def _serve(conn: Any, job_end: Any, env: DistClassicRLEnv, parent: int) -> None:
    """The helper's whole life: import matplotlib, then draw what the job asks until it
    closes the pipe (`job_end`, the job's end, inherited through the fork, is closed
    here first: while a copy is open the pipe never ends)."""
    job_end.close()
    die_with_parent()
    name_process(PROCESS_NAME)
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        if os.getppid() != parent:  # the job died before the line above took effect
            return
        imported: BaseException | None = None
        try:
            import dist_classicrl.app.policy_plot  # noqa: F401  (matplotlib: the slow part)
        except BaseException as exc:  # reported when the job asks for a figure
            imported = exc
        while True:
            try:
                figures = conn.recv()
            except EOFError:
                return
            conn.send(_draw_all(figures, env, imported))
    finally:
        os._exit(0)  # not the job's atexit handlers, inherited through the fork


def _draw_all(figures: list[Figure], env: DistClassicRLEnv, imported: BaseException | None):
    """None when every figure is on disk; else the exception to raise in the job, as one
    that pickles (an `OSError` keeps its errno and message for the job's report)."""
    try:
        if imported is not None:
            raise imported
        for name, path, kwargs in figures:
            draw_figure(name, path, env, **kwargs)
    except OSError as exc:
        return OSError(exc.errno, exc.strerror or str(exc))
    except BaseException as exc:
        return FigureError(f"{type(exc).__name__}: {exc}")
    return None
