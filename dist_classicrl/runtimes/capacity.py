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
    # os.cpu_count() is None when the count cannot be determined (only reached where
    # sched_getaffinity is missing, i.e. not on Linux); kept as is, callers assume an int
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # type: ignore[return-value]


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_dirs(controller: str) -> list[Path]:
    """This process's cgroup directories for `controller` and their ancestors (a limit
    set on an ancestor applies too): the v1 hierarchy of the controller if mounted, else
    the v2 one."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    entries = [line.split(":", 2) for line in lines]
    v1 = [path for _, names, path in entries if controller in names.split(",")]
    v2 = [path for _, names, path in entries if names == ""]
    if v1:
        root, path = Path("/sys/fs/cgroup") / controller, v1[0]
    elif v2:
        root, path = Path("/sys/fs/cgroup"), v2[0]
    else:
        return []
    leaf = root / path.lstrip("/")
    return [leaf, *[d for d in leaf.parents if d == root or root in d.parents]]


def _cgroup_room(
    controller: str, limit_files: tuple[str, ...], used_files: tuple[str, ...]
) -> int | None:
    """The least room left under `controller`'s limits (v1 or v2 file names), or None
    without a limit."""
    rooms = []
    for directory in _cgroup_dirs(controller):
        for limit_name, used_name in zip(limit_files, used_files, strict=True):
            limit = _read_int(directory / limit_name)
            used = _read_int(directory / used_name)
            if limit is not None and used is not None and limit < 1 << 60:
                rooms.append(max(0, limit - used))
    return min(rooms) if rooms else None


def _memory_room() -> int | None:
    """Bytes left under the cgroup memory limits, or None without one."""
    return _cgroup_room(
        "memory",
        ("memory.limit_in_bytes", "memory.max"),
        ("memory.usage_in_bytes", "memory.current"),
    )


def _pids_room() -> int | None:
    """Processes (tasks) the pids cgroup still allows, or None without a limit."""
    return _cgroup_room("pids", ("pids.max",), ("pids.current",))


def available_memory() -> int:
    """Bytes this job can still allocate without swapping or meeting a cgroup limit."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    room = _memory_room()
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
