"""Capacity checks: a job the machine (or its cgroup) cannot hold is refused in one line,
exit 2, before any work, with the size needed and the size available."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dist_classicrl.runtimes.capacity import available_memory

MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
PIDS_ROOT = Path("/sys/fs/cgroup/pids")


def own_cgroup(controller: str) -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path(f"/sys/fs/cgroup/{controller}") / path.lstrip("/")
    return None


@pytest.fixture
def child_cgroup(request):
    """A fresh cgroup v1 under ours for `controller` (skipped where we cannot make one),
    removed afterwards."""
    controller = request.param
    parent = own_cgroup(controller)
    if parent is None or not os.access(parent, os.W_OK):
        pytest.skip(f"no writable cgroup v1 {controller} controller here")
    group = parent / f"dcrl_test_{os.getpid()}"
    group.mkdir()
    yield group
    group.rmdir()


def run_in(group: Path | None, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the app (in `group` when given: the shell joins it, then execs Python)."""
    cmd = [sys.executable, "-m", "dist_classicrl.run", *args, f"hydra.run.dir={tmp_path}/job"]
    if group is not None:
        quoted = " ".join(f"'{c}'" for c in cmd)
        cmd = ["sh", "-c", f"echo $$ > {group}/cgroup.procs && exec {quoted}"]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("child_cgroup", ["memory"], indirect=True)
@pytest.mark.parametrize("runtime", ["single", "parallel"])
def test_a_table_beyond_the_cgroup_memory_limit_is_refused(child_cgroup, runtime, tmp_path):
    """MountainCar at 30,000 x 30,000 bins: a 10.8 GB table inside a 4 GB container."""
    (child_cgroup / "memory.limit_in_bytes").write_text(str(4 * 2**30))
    args = ["env=mountaincar", "wrapper.bins=[30000,30000]", f"runtime={runtime}"]
    proc = run_in(child_cgroup, args, tmp_path)
    assert_refused(proc, "900,000,000 x 3", "GiB is available", "cgroup")
    assert not (tmp_path / "job").exists()


def test_a_table_beyond_the_machine_memory_is_refused(tmp_path):
    bins = 60_000  # 43 GB of float32
    assert 3 * bins * bins * 4 > available_memory()
    proc = run_in(None, ["env=mountaincar", f"wrapper.bins=[{bins},{bins}]"], tmp_path)
    assert_refused(proc, "3,600,000,000 x 3", "needs")
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["runtime=parallel", "runtime.num_workers=10000"],
        ["runtime=distributed", "runtime.ranks=10000"],
    ],
)
def test_far_more_workers_or_ranks_than_cores_are_refused(args, tmp_path):
    proc = run_in(None, args, tmp_path)
    assert_refused(proc, "=10000 is too many", "usable cores")
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize("child_cgroup", ["pids"], indirect=True)
def test_more_workers_than_the_pids_limit_allows_are_refused(child_cgroup, tmp_path):
    (child_cgroup / "pids.max").write_text("12")
    proc = run_in(child_cgroup, ["runtime=parallel", "runtime.num_workers=16"], tmp_path)
    assert_refused(proc, "runtime.num_workers=16", "pids limit")
