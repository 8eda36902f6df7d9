"""Process and leak helpers for the fault-injection tests (issue 14).

A `Job` starts ``python -m dist_classicrl.run`` in one of the four forms (`FORMS`) in a
session of its own, as a terminal would, and finds its processes in /proc: every
descendant of the started process, transitively by parent pid (mpiexec, its proxies and
the ranks count although MPICH puts each in a session of its own). A sampler thread walks
the tree every `SAMPLE_S` while the job lives, so a process is still known after its
parent died and it was reparented. Each process is remembered with its start time: a pid
that a new process reused is never taken for it, nor killed.

The sampler also records the entries of /tmp and /dev/shm that the job's processes hold
open, map, work in or name on their command line. A new entry is the job's leak when one
of its processes touched it or it is named after one (``dcrl_<pid>_``), or when it has the
project's prefix ``dcrl_`` and no other running process uses it. Other new entries belong
to whatever else runs on the machine (other tests, other sessions) and are not counted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from dist_classicrl.app.figures import PROCESS_NAME

MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
HUGE_STEPS = 100_000_000_000
#: The four ways to start a job, and how many workers or ranks each runs.
WORKERS = {"single": 0, "parallel": 2, "distributed": 2, "mpiexec": 2}
FORMS = tuple(WORKERS)
SHM, TMP = Path("/dev/shm"), Path("/tmp")
NOT_CHECKED = ("pytest-of-",)  # pytest's own temporary directories, the tests' among them
OUR_PREFIX = "dcrl_"
SAMPLE_S = 0.2
HELPERS = ("resource_tracker", "forkserver", "semaphore_tracker")  # not workers
FIGURES_PROCESS = PROCESS_NAME  # the job's figure drawer (`app.figures`): not a worker


def command(form: str, out_dir: Path, steps: int = HUGE_STEPS) -> list[str]:
    """The command line of a job in `form` writing into `out_dir`."""
    common = [f"steps={steps}", f"hydra.run.dir={out_dir}"]
    app = [sys.executable, "-m", "dist_classicrl.run"]
    if form == "single":
        return [*app, "runtime=single", *common]
    if form == "parallel":
        return [*app, "runtime=parallel", "runtime.num_workers=2", *common]
    if form == "distributed":
        return [*app, "runtime=distributed", "runtime.ranks=2", *common]
    if form == "mpiexec":  # the ranks started by an outer mpiexec; rank 0 writes the job
        ranks = [sys.executable, "-m", "mpi4py", "-m", "dist_classicrl.run"]
        return [MPIEXEC, "-n", "2", *ranks, "runtime=distributed", *common]
    raise ValueError(f"unknown form {form!r}")


# --- processes --------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state letter, start time in clock ticks) of `pid`; None once gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def children_map() -> dict[int, list[int]]:
    """Every process's children, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := proc_stat(int(name))) is not None:
            children.setdefault(stat[0], []).append(int(name))
    return children


def descendants(pid: int, children: dict[int, list[int]] | None = None) -> set[int]:
    """All descendants of `pid` (children, their children, ...), zombies included."""
    children = children_map() if children is None else children
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int] | dict[int, int], started: dict[int, int] | None = None) -> set[int]:
    """The processes of `pids` still running: neither gone nor zombies, and (when their
    start times are given) not a newer process that reused the pid."""
    running = set()
    for pid in pids:
        stat = proc_stat(pid)
        if stat is None or stat[1] in "ZX":
            continue
        if started is not None and pid in started and stat[2] != started[pid]:
            continue
        running.add(pid)
    return running


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def environ_value(pid: int, key: str) -> str | None:
    """`key` in the environment `pid` started with (a process of the job's own)."""
    try:
        entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = key.encode() + b"="
    return next((e[len(prefix) :].decode() for e in entries if e.startswith(prefix)), None)


def describe(pids: set[int], names: dict[int, str] | None = None) -> str:
    names = names or {}
    return "; ".join(f"{pid} {(names.get(pid) or cmdline(pid))[:110]}" for pid in sorted(pids))


def comm(pid: int) -> str:
    """The process's name (``/proc/PID/comm``), empty once it is gone."""
    with suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


def is_python(pid: int) -> bool:
    with suppress(OSError):
        return os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(sys.executable)
    return False


# --- files left behind ------------------------------------------------------------------


def snapshot_leaks() -> tuple[set[str], set[str]]:
    """(names in /dev/shm, names in /tmp), pytest's own directories left out."""
    shm = set(os.listdir(SHM)) if SHM.exists() else set()
    tmp = {name for name in os.listdir(TMP) if not name.startswith(NOT_CHECKED)}
    return shm, tmp


def new_entries(before: tuple[set[str], set[str]]) -> list[str]:
    """Paths of the /dev/shm and /tmp entries created since `before`, whoever made them."""
    shm, tmp = snapshot_leaks()
    return sorted([f"{SHM}/{n}" for n in shm - before[0]] + [f"{TMP}/{n}" for n in tmp - before[1]])


def owned(path: str, touched: set[str], pids: set[int]) -> bool | None:
    """Whether a new entry is the job's: True when one of its processes touched it or it is
    named after one (``dcrl_<pid>_``), False when named after another process, else None."""
    if path in touched:
        return True
    if match := re.match(rf"{OUR_PREFIX}(\d+)_", Path(path).name):
        return int(match.group(1)) in pids
    return None


def used_elsewhere(path: str, pids: set[int]) -> bool:
    """Whether a running process other than `pids` (and this one) touches `path`."""
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in pids and int(name) != os.getpid():
            if path in held_entries(int(name)):
                return True
    return False


def new_leaks(
    before: tuple[set[str], set[str]],
    touched: set[str] = frozenset(),
    pids: set[int] = frozenset(),
    settle_s: float = 0.5,
) -> list[str]:
    """The job's entries new in /dev/shm and /tmp since `before` and still there after
    `settle_s` (call it once the job's processes are gone), sorted: those it touched or
    named after one of its processes, and those with the project's prefix that no other
    process uses (the job may have made them without ever holding them open)."""

    def is_jobs(path: str) -> bool:
        owner = owned(path, touched, pids)
        if owner is not None:
            return owner
        return Path(path).name.startswith(OUR_PREFIX) and not used_elsewhere(path, pids)

    found = [p for p in new_entries(before) if is_jobs(p)]
    if found and settle_s:
        time.sleep(settle_s)
        still = set(new_entries(before))
        found = [p for p in found if p in still]
    return found


def remove_entry(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(path)


def top_entry(path: str) -> str | None:
    """``/tmp/NAME`` or ``/dev/shm/NAME`` for a path at or below one of them, else None."""
    path = path.removesuffix(" (deleted)")
    for root in (f"{SHM}/", f"{TMP}/"):
        if path.startswith(root):
            name = path[len(root) :].split("/", 1)[0]
            if name and not name.startswith(NOT_CHECKED):
                return root + name
    return None


def held_entries(pid: int) -> set[str]:
    """The /tmp and /dev/shm entries `pid` holds open, maps, works in or names in argv."""
    paths = cmdline(pid).split()
    with suppress(OSError):
        paths.append(os.readlink(f"/proc/{pid}/cwd"))
    with suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with suppress(OSError):
                paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    with suppress(OSError), open(f"/proc/{pid}/maps") as maps:
        mapped = (line.split(maxsplit=5) for line in maps)
        paths += [fields[5].strip() for fields in mapped if len(fields) == 6]
    return {entry for entry in map(top_entry, paths) if entry}


# --- a job ------------------------------------------------------------------------------


class Job:
    """One job at a budget it never finishes, started as a terminal would (module
    docstring): ``Job(form, tmp_path).start().wait_training()``, then a fault, then
    `wait`; `kill_all` and `remove_leaks` clean up whatever it left."""

    def __init__(
        self, form: str, root: Path, steps: int = HUGE_STEPS, cmd: list[str] | None = None
    ) -> None:
        self.form, self.root = form, root
        self.out_dir = root / "job"
        self.cmd = cmd or command(form, self.out_dir, steps)
        self.expected_workers = WORKERS[form]
        self.proc: subprocess.Popen | None = None
        self.started_at = self.fault_at = 0.0
        self.leaks_before: tuple[set[str], set[str]] = (set(), set())
        self._seen: dict[int, int] = {}  # pid -> start time, every process of the job
        self._names: dict[int, str] = {}
        self._touched: set[str] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample_until_done, daemon=True)

    # starting -----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> Job:
        self.leaks_before = snapshot_leaks()
        with open(self.root / "stdout.txt", "w") as out, open(self.root / "stderr.txt", "w") as err:
            self.proc = subprocess.Popen(
                self.cmd, cwd=self.root, stdout=out, stderr=err, start_new_session=True
            )
        self.started_at = time.monotonic()
        self.sample()
        self._sampler.start()
        return self

    def wait_training(self, settle_s: float = 4.5, timeout_s: float = 90.0) -> Job:
        """Wait until Hydra started the job (its run.log), every worker or rank runs, and
        `settle_s` more so that they are training."""
        self._wait_for(lambda: (self.out_dir / "run.log").exists(), "run.log", timeout_s)
        self._wait_for(
            lambda: len(self.worker_pids()) >= self.expected_workers,
            f"{self.expected_workers} workers or ranks",
            timeout_s,
        )
        time.sleep(settle_s)
        self.ensure_running()
        return self

    def _wait_for(self, ready: Any, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            self.ensure_running(f"before {what} appeared")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} {timeout_s:.0f} s after the start\n{self.tail()}")
            time.sleep(0.05)

    def ensure_running(self, when: str = "before the fault") -> None:
        """Raise if the job already ended: at a huge budget it must still be training."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"the job ended {when} (exit code {self.proc.returncode})\n{self.tail()}"
            )

    # its processes --------------------------------------------------------------------

    def sample(self) -> set[int]:
        """Walk the job's processes now, remember them and the entries they touch; returns
        those still running."""
        children = children_map()
        with self._lock:
            known = dict(self._seen)
        if self.proc is not None and self.proc.pid not in known:
            stat = proc_stat(self.proc.pid)
            known[self.proc.pid] = stat[2] if stat else 0
        running = alive(known, known)
        found = set(running)
        for pid in running:
            found |= descendants(pid, children)
        touched: set[str] = set()
        for pid in found:
            stat = proc_stat(pid)
            if stat is None or stat[1] in "ZX":
                continue
            with self._lock:
                if pid not in self._seen:
                    self._seen[pid] = known.get(pid) or stat[2]
                    self._names[pid] = cmdline(pid)
            touched |= held_entries(pid)
        with self._lock:
            self._touched |= touched
            return alive(found, self._seen)

    def _sample_until_done(self) -> None:
        while not self._done.wait(SAMPLE_S):
            with suppress(OSError, ValueError, IndexError):
                self.sample()

    def tree(self) -> set[int]:
        """Every process of the job running now, the started one included."""
        return self.sample()

    def known(self) -> dict[int, int]:
        """Every process of the job seen so far (pid -> start time)."""
        with self._lock:
            return dict(self._seen)

    def names(self) -> dict[int, str]:
        with self._lock:
            return dict(self._names)

    def worker_pids(self) -> dict[int, int]:
        """{index: pid} of the workers (parallel: the app's Python children other than
        multiprocessing's helpers, in start order) or ranks (their ``PMI_RANK``)."""
        if self.form == "parallel":
            return self._parallel_workers()
        if self.form in ("distributed", "mpiexec"):
            ranks = {}
            for pid in alive(descendants(self.pid)):
                rank = environ_value(pid, "PMI_RANK")
                if rank is not None and is_python(pid):
                    ranks[int(rank)] = pid
            return ranks
        return {}

    def _parallel_workers(self) -> dict[int, int]:
        children = children_map()
        direct = alive(set(children.get(self.pid, ())))
        servers = {p for p in direct if "forkserver" in cmdline(p)}
        candidates = direct.union(*(alive(set(children.get(s, ()))) for s in servers))
        workers = [
            p
            for p in candidates
            if is_python(p)
            and not any(h in cmdline(p) for h in HELPERS)
            and comm(p) != FIGURES_PROCESS
        ]
        workers.sort(key=lambda p: ((proc_stat(p) or (0, "", 0))[2], p))
        return dict(enumerate(workers))

    def survivors(self, deadline: float) -> set[int]:
        """The job's processes still running at `deadline`; returns as soon as none is."""
        while True:
            running = self.sample()
            if not running or time.monotonic() >= deadline:
                return running
            time.sleep(0.1)

    # faults -----------------------------------------------------------------------------

    def _mark_fault(self) -> None:
        self.fault_at = self.fault_at or time.monotonic()

    def signal_group(self, sig: int, missing_ok: bool = False) -> None:
        """Signal the job's process group, as a terminal's Ctrl+C does."""
        self._mark_fault()
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            if not missing_ok:
                raise

    def signal_parent(self, sig: int) -> None:
        """Signal the started process only, as ``timeout``, SLURM or the OOM killer do."""
        self._mark_fault()
        self.proc.send_signal(sig)

    def kill_worker(self, index: int) -> int:
        """SIGKILL worker or rank `index`; returns its pid."""
        workers = self.worker_pids()
        if index not in workers:
            raise AssertionError(f"no worker or rank {index} among {workers}\n{self.tail()}")
        self._mark_fault()
        os.kill(workers[index], signal.SIGKILL)
        return workers[index]

    # the end ----------------------------------------------------------------------------

    def wait(self, timeout: float) -> tuple[int | None, str, str, float]:
        """(exit code or None if still running, stdout, stderr, seconds since the fault)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.monotonic() - (self.fault_at or self.started_at)
        return code, self.stdout(), self.stderr(), seconds

    def stdout(self) -> str:
        return (self.root / "stdout.txt").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.root / "stderr.txt").read_text(errors="replace")

    def tail(self, lines: int = 15) -> str:
        text = "\n".join(self.stderr().strip().splitlines()[-lines:])
        return f"stderr (last {lines} lines):\n{text}" if text else "stderr: (empty)"

    def metrics(self) -> dict[str, Any] | None:
        path = self.out_dir / "metrics.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise AssertionError(f"{path} is not JSON ({exc})") from None

    def leaks(self, settle_s: float = 0.5) -> list[str]:
        """The job's new entries in /dev/shm and /tmp (call it once its processes are gone)."""
        with self._lock:
            touched, pids = set(self._touched), set(self._seen)
        return new_leaks(self.leaks_before, touched, pids, settle_s)

    def owns(self, path: str) -> bool:
        """Whether `path` is surely the job's: touched by one of its processes, or named
        after one."""
        with self._lock:
            return bool(owned(path, self._touched, set(self._seen)))

    # cleanup ----------------------------------------------------------------------------

    def kill_all(self) -> list[str]:
        """SIGKILL every process of the job still running (so that a failed test leaves no
        orphan training on the machine) and reap the started one; returns what it killed."""
        if self.proc is None:
            return []
        killed = []
        for _ in range(5):
            running = self.sample()
            if not running:
                break
            names = self.names()
            for pid in running:
                killed.append(f"{pid} {names.get(pid, '?')[:110]}")
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._done.set()
        if self._sampler.is_alive():
            self._sampler.join(5)
        return killed

    def remove_leaks(self) -> list[str]:
        """Remove the entries in /dev/shm and /tmp that are surely the job's (`owns`: never
        one that another run on the machine may still use); returns them."""
        leaked = [path for path in self.leaks(settle_s=0) if self.owns(path)]
        for path in leaked:
            remove_entry(path)
        return leaked


def cpu_hogs(count: int | None = None) -> list[subprocess.Popen]:
    """One busy Python loop per usable core (or `count`): a loaded machine."""
    count = count or len(os.sched_getaffinity(0))
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(count)
    ]


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        with suppress(OSError):
            proc.kill()
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(5)
