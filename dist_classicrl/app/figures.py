"""A job's figures (``learning_curve.png``, ``policy.png``), drawn in a helper process.

Importing matplotlib takes about half a second, more than the default job spends
training. So a one-job command forks the helper first thing, before the config is even
composed (`app.cli`): the helper imports matplotlib on the other core while the job
composes its config, loads its kernels and trains, then draws the figures the job sends
it into the temporary files the job names, each figure in a process of its own (a fork
of the helper: two figures take the time of one), and the job renames them with its
other files (`app.job`). The job sends its env as soon as it is built (`use_env`, a
pickle), which `plot_policy` reads for the picture's map (FrozenLake's holes, the binned
grid); the helper never steps it. An env that does not pickle is drawn in the job's own
process.

The helper dies with the job (``PR_SET_PDEATHSIG``, so a SIGKILLed job leaves no helper),
ignores SIGINT and SIGTERM (the job decides how to stop, and a stopped job still writes
its figures) and ends when the job closes the pipe. Where a fork is not safe (in an MPI
rank) or fails, the figures are drawn in the job's own process, with the same functions;
so are a sweep's: one import in the sweep's process costs less than one per job.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
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


def draw_figure(name: str, path: Path, env: DistClassicRLEnv | None, **kwargs: Any) -> None:
    """Draw one figure into `path` and flush it to disk (`env`: the policy's env)."""
    if name == "learning_curve":
        from dist_classicrl.app.report import plot_learning_curve

        plot_learning_curve(path=path, **kwargs)
    else:
        from dist_classicrl.app.policy_plot import plot_policy

        if env is None:
            raise FigureError("the policy's env was not given (FigureDrawer.use_env)")
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

    def __init__(self, env: DistClassicRLEnv | None = None, apart: bool = True) -> None:
        """`env`: the job's env, if it is built already (else `use_env` gives it).
        `apart`: draw in a helper process (False: in this one, as a sweep's jobs do: the
        first imports matplotlib, the others find it imported)."""
        self.env = env
        self._proc: Any = None
        self._conn: Any = None
        self._sending: threading.Thread | None = None  # the env, on its way to the helper
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

    def use_env(self, env: DistClassicRLEnv) -> None:
        """The env the policy pictures read; the helper gets a pickled copy now, while
        the job trains. An env that does not pickle is drawn in this process."""
        if env is self.env:
            return
        self.env = env
        if self._proc is None:
            return
        try:
            message = pickle.dumps(("env", env))
        except Exception:  # a Gymnasium env holding a handle, a lambda, a lock
            self.close()
            return
        # From a thread: a pickle larger than the pipe's buffer (TicTacToe's is 1.7 MB)
        # waits until the helper reads it, once matplotlib is imported; the job trains.
        self._sending = threading.Thread(
            target=self._send, args=(message,), name="dist_classicrl-figures-env", daemon=True
        )
        self._sending.start()

    def _send(self, message: bytes) -> None:
        try:
            self._conn.send_bytes(message)
        except OSError:  # the helper is gone: `draw`'s wait reports how it ended
            pass

    def _sent(self) -> None:
        """Wait until the env is with the helper (or the helper is gone)."""
        if self._sending is not None:
            self._sending.join()
            self._sending = None

    def draw(self, figures: list[Figure]) -> Callable[[], None]:
        """Start drawing `figures`; returns the function that waits until they are on
        disk and raises `FigureError` (or the `OSError` of a full disk) if one is not."""
        if self._proc is None:
            for name, path, kwargs in figures:
                draw_figure(name, path, self.env, **kwargs)
            return lambda: None
        self._sent()
        try:
            self._conn.send(("draw", figures))
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
        self._sent()
        self._conn.close()
        self._proc.join(timeout=EXIT_WAIT_S)
        if self._proc.exitcode is None:
            self._proc.kill()
            self._proc.join()
        self._proc = None


def _serve(conn: Any, job_end: Any, env: DistClassicRLEnv | None, parent: int) -> None:
    """The helper's whole life: import matplotlib, then take the env and draw what the
    job asks until it closes the pipe (`job_end`, the job's end, inherited through the
    fork, is closed here first: while a copy is open the pipe never ends)."""
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
                kind, payload = conn.recv()
            except EOFError:
                return
            if kind == "env":
                env = payload
            else:
                conn.send(_draw_all(payload, env, imported))
    finally:
        os._exit(0)  # not the job's atexit handlers, inherited through the fork


def _draw_all(
    figures: list[Figure], env: DistClassicRLEnv | None, imported: BaseException | None
) -> BaseException | None:
    """Draw `figures` at once, each after the first in a fork of this process (on the
    other core). None when every figure is on disk; else the exception to raise in the
    job, as one that pickles (an `OSError` keeps its errno and message for the report)."""
    if imported is not None:
        return FigureError(f"{type(imported).__name__}: {imported}")
    forks: list[tuple[int | None, int | None, Figure]] = []
    for figure in figures[1:]:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: draw it here, after the first
            os.close(read_end)
            os.close(write_end)
            forks.append((None, None, figure))
            continue
        if pid == 0:  # the fork: draw one figure, say how it went, leave at once
            try:
                os.close(read_end)
                die_with_parent()
                with os.fdopen(write_end, "wb") as out:
                    pickle.dump(_draw_one(figure, env), out)
            finally:
                os._exit(0)
        os.close(write_end)
        forks.append((pid, read_end, figure))
    errors = [_draw_one(figures[0], env)] if figures else []
    for child, answer_fd, figure in forks:
        if child is None or answer_fd is None:
            errors.append(_draw_one(figure, env))
            continue
        with os.fdopen(answer_fd, "rb") as answer:
            data = answer.read()
        _, status = os.waitpid(child, 0)
        if data:
            errors.append(pickle.loads(data))
        else:
            how = describe_exit(os.waitstatus_to_exitcode(status))
            errors.append(FigureError(f"the process drawing {figure[1].name} died: {how}"))
    return next((e for e in errors if e is not None), None)


def _draw_one(figure: Figure, env: DistClassicRLEnv | None) -> BaseException | None:
    name, path, kwargs = figure
    try:
        draw_figure(name, path, env, **kwargs)
    except OSError as exc:
        return OSError(exc.errno, exc.strerror or str(exc))
    except BaseException as exc:
        return FigureError(f"{type(exc).__name__}: {exc}")
    return None
