"""`lifetime.mpi_segments_of_session`: the MPICH segments an mpiexec's session still maps,
which the app removes after it must SIGKILL ranks still in MPI_Init."""

from __future__ import annotations

import os
import subprocess
import sys

from dist_classicrl.runtimes.lifetime import MPICH_SEGMENT_PREFIX, mpi_segments_of_session

# Maps one segment and holds another open, as a rank in MPI_Init does, and unlinks a third
# after mapping it (as `unlink_mpi_files` does), then waits to be killed.
RANK = """
import mmap, os, sys, time
prefix = sys.argv[1]
mapped, opened, unlinked = (f"{prefix}{name}" for name in ("mapped", "opened", "unlinked"))
maps = []
for path in (mapped, unlinked):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, 4096)
    maps.append(mmap.mmap(fd, 4096))
    os.close(fd)
keep = os.open(opened, os.O_CREAT | os.O_RDWR, 0o600)
os.unlink(unlinked)
print("ready", flush=True)
time.sleep(60)
"""


def test_the_segments_a_session_maps_or_holds_are_found_and_only_those():
    prefix = f"{MPICH_SEGMENT_PREFIX}test_{os.getpid()}_"
    paths = [f"{prefix}{name}" for name in ("mapped", "opened", "unlinked")]
    proc = subprocess.Popen(
        [sys.executable, "-c", RANK, prefix],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        found = mpi_segments_of_session(proc.pid)
        assert found == {paths[0], paths[1]}  # not the unlinked one, nothing of others'
        assert mpi_segments_of_session(os.getsid(0)) & set(paths) == set()  # not ours
    finally:
        proc.kill()
        proc.wait()
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
    assert not any(os.path.exists(p) for p in paths)
