"""What this machine (or container, or SLURM job) can hold, checked before any work.

Memory is the smaller of the kernel's ``MemAvailable`` and the room left under a cgroup
memory limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), so a job inside a 4 GB
container is refused in one line instead of being OOM-killed. Process counts are checked
against the usable cores (a large oversubscription only slows every process down) and
the pids limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from dist_classicrl.errors import ConfigError

#: Processes allowed per usable core: more only time-share the cores.
MAX_PROCESSES_PER_CORE = 8


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit, or None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit, usage = base / "memory.max", base / "memory.current"
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            limit, usage = base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"
        else:
            continue
        max_bytes, used = _read_int(limit), _read_int(usage)
        if max_bytes is not None and max_bytes < 1 << 60 and used is not None:
            return max(0, max_bytes - used)
    return None


def _pids_room() -> int | None:
    """Processes the pids cgroup (v1 or v2) still allows, or None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
        elif "pids" in controllers.split(","):
            base = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
        else:
            continue
        limit, current = _read_int(base / "pids.max"), _read_int(base / "pids.current")
        if limit is not None and current is not None:
            return max(0, limit - current)
    return None


def available_memory() -> int:
    """Bytes this job can still allocate without swapping or meeting a cgroup limit."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    room = _cgroup_room()
    candidates = [v for v in (available, room) if v is not None]
    return min(candidates) if candidates else 1 << 62


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def check_memory(needed: int, what: str, hint: str = "use a smaller table") -> None:
    """Raise `ConfigError` if `needed` bytes (for `what`) do not fit in memory."""
    available = available_memory()
    if needed > available:
        raise ConfigError(
            f"{what} needs {_gib(needed)} of memory and {_gib(available)} is available "
            f"(the cgroup limit included): {hint}"
        )


def check_process_count(key: str, count: int) -> None:
    """Raise `ConfigError` when `count` processes (``key=count``) are far beyond the
    cores, or beyond the pids the cgroup still allows."""
    cores = usable_cores()
    room = _pids_room()
    if room is not None and count > room:
        raise ConfigError(
            f"{key}={count} is more processes than this job may start: the cgroup's pids "
            f"limit leaves room for {room}"
        )
    if count > MAX_PROCESSES_PER_CORE * cores:
        raise ConfigError(
            f"{key}={count} is too many for {cores} usable cores: allowed is at most "
            f"{MAX_PROCESSES_PER_CORE * cores} ({MAX_PROCESSES_PER_CORE} per core)"
        )
