"""Process lifetime: what makes a job one unit that ends whole and leaves nothing behind.

- `die_with_parent`: a forked worker asks the kernel to kill it when the process that
  started it dies (``prctl(PR_SET_PDEATHSIG)``), so a SIGKILLed parent (the OOM killer)
  leaves no worker training under PID 1.
- `ProcessWatch`: an MPI rank cannot be the app's child (mpiexec and its proxy stand
  between), so it watches the app through a pidfd and stops when the app is gone.
- `SharedArrays`: NumPy arrays in one *anonymous* shared mapping inherited through
  ``fork``. It has no name, so no path in /dev/shm can outlive the job, whatever kills
  it, and /dev/shm's size (64 MB in Docker) does not bound it.
- `unlink_mpi_files`: MPICH maps a file ``/dev/shm/mpich_shm_*`` per node and removes it
  only in ``MPI_Finalize`` (mpiexec's topology file in /tmp likewise at its end); once
  every rank has opened them they can be unlinked, so a killed rank, a killed mpiexec or
  an ``MPI_Abort`` cannot leak them.
- `describe_exit`: an exit code as words for the error that names a dead worker.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import select
import signal
from typing import TYPE_CHECKING, Any

import numpy as np

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def name_process(name: str) -> None:
    """Give this process `name` (at most 15 bytes) in ps, top and /proc/PID/comm: a
    forked helper otherwise shows the command line of the process it was forked from."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; a no-op
    elsewhere). Call it in the child right after ``fork``; if the parent died before the
    call, exit now."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent or parent == 1:
        os._exit(1)


class ProcessWatch:
    """Whether process `pid` is still alive, cheaply enough to ask between chunks.

    A pidfd becomes readable when its process ends and cannot be fooled by a reused pid;
    where pidfds are missing, ``kill(pid, 0)`` answers instead."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd: int | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._fd = None

    @property
    def fd(self) -> int | None:
        """The pidfd (readable once the process has ended), or None without pidfds."""
        return self._fd

    def alive(self) -> bool:
        if self._fd is not None:
            readable, _, _ = select.select([self._fd], [], [], 0)
            return not readable
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def describe_exit(code: int | None) -> str:
    """``-9`` -> "killed by signal 9 (SIGKILL)"; ``1`` -> "exit code 1"."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    if code > 128 and code - 128 in signal.valid_signals():
        return f"exit code {code} (signal {signal.Signals(code - 128).name})"
    return f"exit code {code}"


def layout_bytes(layout: dict[str, tuple[tuple[int, ...], Any]]) -> int:
    """Bytes `SharedArrays` maps for `layout` (64-byte aligned arrays)."""
    size = 0
    for shape, dtype in layout.values():
        size = -(-size // 64) * 64
        size += int(np.prod(shape)) * np.dtype(dtype).itemsize
    return max(size, 1)


class SharedArrays:
    """``with SharedArrays(q=((S, A), np.float32), ...) as block: block.q[...]``.

    One anonymous ``MAP_SHARED`` mapping: forked children inherit it, it has no name to
    leak, and the kernel frees it when the last process that maps it is gone."""

    def __init__(self, **layout: tuple[tuple[int, ...], Any]) -> None:
        self.nbytes = layout_bytes(layout)
        self._map: mmap.mmap | None = mmap.mmap(-1, self.nbytes, flags=mmap.MAP_SHARED)
        offset = 0
        for name, (shape, dtype) in layout.items():
            offset = -(-offset // 64) * 64  # one array never shares a cache line
            array = np.ndarray(shape, dtype=dtype, buffer=self._map, offset=offset)
            setattr(self, name, array)  # an anonymous mapping starts zeroed
            offset += array.nbytes
        self._names = list(layout)

    if TYPE_CHECKING:  # the arrays are set per layout (setattr): tell the type checker

        def __getattr__(self, name: str) -> np.ndarray: ...

    def release(self) -> None:
        """Drop the views and unmap (idempotent; a view still held elsewhere keeps the
        memory until it goes)."""
        if self._map is None:
            return
        for name in self._names:
            setattr(self, name, None)
        try:
            self._map.close()
        except BufferError:  # a view is still exported: the mapping goes with it
            pass
        self._map = None

    def __enter__(self) -> SharedArrays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


MPICH_SEGMENT_PREFIX = "/dev/shm/mpich_shm_"
HYDRA_TOPOLOGY_PREFIX = "hydra_hwloc_xmlfile_"


def _open_files(pid: str | int) -> set[str]:
    """Paths process `pid` holds open (its /proc fd links)."""
    paths: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return paths
    for fd in fds:
        try:
            paths.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return paths


def _mapped_files(pid: str | int) -> set[str]:
    """Paths process `pid` has mapped (its /proc maps; an unlinked one ends " (deleted)")."""
    try:
        with open(f"/proc/{pid}/maps") as maps:
            rows = [line.split(maxsplit=5) for line in maps.read().splitlines()]
    except OSError:
        return set()
    return {row[5] for row in rows if len(row) == 6}


def mpi_segments_of_session(session: int) -> set[str]:
    """The MPICH segments (``/dev/shm/mpich_shm_*``) that the processes of `session`
    (an mpiexec started in a session of its own, its proxies and ranks) hold open or
    mapped and have not unlinked yet. An app that must SIGKILL its mpiexec while the ranks
    are still in ``MPI_Init`` (before `unlink_mpi_files`) reads them first and removes them
    after the kill: only this job's ranks map them, so no other job's are touched."""
    found: set[str] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and fields[3] == str(session):  # state, ppid, pgrp, session
            paths = _open_files(entry) | _mapped_files(entry)
            found |= {
                p
                for p in paths
                if p.startswith(MPICH_SEGMENT_PREFIX) and not p.endswith(" (deleted)")
            }
    return found


def unlink_mpi_files(comm: Any) -> list[str]:
    """Unlink the files MPI made for this node once every rank of the node has opened
    them (a barrier on the node's communicator); returns the paths removed.

    - MPICH's shared segment ``/dev/shm/mpich_shm_*``: every rank maps it, and MPICH
      removes it only in ``MPI_Finalize``, so a killed rank or an abort would leak it.
    - The topology file ``hydra_hwloc_xmlfile_*`` that the node's ``hydra_pmi_proxy``
      (this rank's parent) writes into TMPDIR for the ranks' ``MPI_Init``: mpiexec removes
      it when it ends, so a killed mpiexec would leak it.

    Both are read only during start-up; MPICH and mpiexec tolerate the missing files at
    the end (checked with the mpich wheel, 4.x)."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        node.Barrier()
        removed = []
        if node.Get_rank() == 0:
            mine = {p for p in _open_files("self") if p.startswith(MPICH_SEGMENT_PREFIX)}
            proxy = {
                p
                for p in _open_files(os.getppid())
                if os.path.basename(p).startswith(HYDRA_TOPOLOGY_PREFIX)
            }
            for path in sorted(mine | proxy):
                try:
                    os.unlink(path)
                    removed.append(path)
                except FileNotFoundError:
                    pass
        node.Barrier()
        return removed
    finally:
        node.Free()
