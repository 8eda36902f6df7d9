"""Fault injection, end to end (issue 14): a job at a budget it never finishes is stopped,
killed, or loses a worker or rank, in each runtime and in both MPI start forms.

Whatever the fault, every process the job started ends within `BOUND_S` of it, nothing of
the job's is left in /dev/shm or /tmp, and its files tell the truth (DESIGN.md): exit 130
after SIGINT, 143 after SIGTERM, 1 when a worker or rank died; ``metrics.json`` with the
status, the steps learned into the saved table and ``q_table_saved``; ``q_table.npy``
exactly when it says so, float32 and not all zeros once steps were learned.

Each test collects every problem it finds and reports them together, with the tail of
the job's stderr. Cases marked ``faults_full`` (the other signal targets and the rarer
start forms) run with ``-m faults_full`` (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes import checkpoint
from tests.reliability.harness import (
    FORMS,
    HUGE_STEPS,
    Job,
    command,
    cpu_hogs,
    describe,
    stop_all,
)

pytestmark = pytest.mark.timeout(120)

BOUND_S = 5.0  # from the fault to the exit of every process (the contract aims at 3 s)
GRACE_S = 10.0  # a job slower than the bound is waited for this long, to tell slow from hung
STARTUP_FAULT_S = 1.2  # Ctrl+C this long after the launch: Hydra and Numba are loading
SAVED_LINE = "partial results are saved"
FULL = pytest.mark.faults_full
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
STOPS = {  # fault -> (signal, sent to the process group or to the started process only)
    "sigint-group": (signal.SIGINT, "group"),
    "sigint-parent": (signal.SIGINT, "parent"),
    "sigterm-group": (signal.SIGTERM, "group"),
    "sigterm-parent": (signal.SIGTERM, "parent"),
}
WHO = {"parallel": "worker 1", "distributed": "rank 1", "mpiexec": "rank 1"}


def case(*values: str, full: bool = False) -> Any:
    return pytest.param(*values, marks=FULL if full else (), id="-".join(values))


@dataclass
class Outcome:
    """What a fault led to."""

    fault: str
    code: int | None  # None: still running after BOUND_S + GRACE_S
    stdout: str
    stderr: str
    seconds: float  # from the fault to the exit
    tree: set[int]  # the job's processes just before the fault
    survivors: set[int]  # those of the job's processes still running at the bound
    leaks: list[str]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm_numba_cache(tmp_path_factory):
    """A short job per runtime first. Numba's cache is then warm, so the jobs below train
    seconds after they start; with a cold cache they compile for ~10 s and a fault sent
    "during training" would hit the start-up instead."""
    root = tmp_path_factory.mktemp("warm")
    for form in ("single", "parallel", "distributed"):
        proc = subprocess.run(
            command(form, root / form, steps=20_000),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=100,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"a short {form} job fails without any fault (exit code {proc.returncode}):\n"
                + "\n".join(proc.stderr.strip().splitlines()[-15:])
            )


@pytest.fixture
def launch(warm_numba_cache, tmp_path):
    """launch(form) -> a started `Job`; afterwards every process of it is killed and its
    leftovers in /dev/shm and /tmp removed, whatever the test found."""
    jobs: list[Job] = []

    def _launch(form: str) -> Job:
        root = tmp_path / f"run{len(jobs)}"
        root.mkdir()
        jobs.append(Job(form, root).start())
        return jobs[-1]

    yield _launch
    for job in jobs:
        job.kill_all()
        job.remove_leaks()


@pytest.fixture
def loaded_machine():
    """A busy loop on every core while the test runs."""
    hogs = cpu_hogs()
    time.sleep(0.5)
    yield
    stop_all(hogs)


# --- driving a fault --------------------------------------------------------------------


def send_stop(job: Job, fault: str) -> None:
    sig, target = STOPS[fault]
    if target == "group":
        job.signal_group(sig)
    else:
        job.signal_parent(sig)


def ctrl_c_twice(job: Job) -> None:
    job.signal_group(signal.SIGINT)
    time.sleep(0.3)
    job.signal_group(signal.SIGINT, missing_ok=True)  # the job may be gone already


def outcome_of(job: Job, fault: str, inject: Any) -> Outcome:
    """Snapshot the job's processes, `inject` the fault, wait for the end, and look at
    what is still running and what is left behind."""
    job.ensure_running()
    tree = job.tree()
    inject()
    code, stdout, stderr, seconds = job.wait(BOUND_S + GRACE_S)
    survivors = job.survivors(deadline=job.fault_at + BOUND_S)
    outcome = Outcome(fault, code, stdout, stderr, seconds, tree, survivors, job.leaks())
    log_outcome(job, outcome)
    return outcome


def log_outcome(job: Job, o: Outcome) -> None:
    """With ``DCRL_FAULT_LOG=FILE``, append one JSON line per fault (the table in
    docs/reliability.md is made from it)."""
    path = os.environ.get("DCRL_FAULT_LOG")
    if not path:
        return
    metrics = job.metrics() or {}
    row = {
        "form": job.form,
        "fault": o.fault,
        "exit_code": o.code,
        "seconds": round(o.seconds, 2),
        "survivors": len(o.survivors),
        "leaks": o.leaks,
        **{k: metrics.get(k) for k in ("status", "steps", "q_table_saved", "error")},
    }
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


# --- what is checked --------------------------------------------------------------------


def exit_problems(o: Outcome, code: int | None = None, nonzero: bool = False) -> list[str]:
    """The started process exits within the bound, with `code` (or any non-zero one)."""
    if o.code is None:
        return [f"still running {o.seconds:.1f} s after {o.fault} (bound {BOUND_S:.0f} s)"]
    problems = []
    if o.seconds > BOUND_S:
        problems.append(f"exited {o.seconds:.1f} s after {o.fault} (bound {BOUND_S:.0f} s)")
    if code is not None and o.code != code:
        problems.append(f"exit code {o.code}, expected {code}")
    if nonzero and o.code == 0:
        problems.append("exit code 0 although the job failed")
    return problems


def survivor_problems(o: Outcome, job: Job) -> list[str]:
    """Every process of the job (the tree before the fault and any born later) is gone."""
    if not o.survivors:
        return []
    before = o.survivors & o.tree
    return [
        f"{len(o.survivors)} process(es) of the job still running {BOUND_S:.0f} s after "
        f"{o.fault} ({len(before)} of them in the tree before it): "
        + describe(o.survivors, job.names())
    ]


def leak_problems(o: Outcome, job: Job) -> list[str]:
    """Nothing of the job's is left in /dev/shm or /tmp (harness.new_leaks)."""
    unseen = " (never seen open by the job; no other process uses it)"
    named = [path if job.owns(path) else path + unseen for path in o.leaks]
    return [f"left behind in /dev/shm or /tmp: {', '.join(named)}"] if named else []


def traceback_problems(o: Outcome) -> list[str]:
    """A signal is a request, not a crash: no traceback on stderr."""
    if "Traceback" not in o.stderr:
        return []
    lines = o.stderr[o.stderr.index("Traceback") :].strip().splitlines()
    return [f"a traceback on stderr after {o.fault}: ... {lines[-1][:150]}"]


def saved_line_problems(job: Job, o: Outcome) -> list[str]:
    """The line "partial results are saved" appears only when q_table_saved is true."""
    metrics = job.metrics() or {}
    if SAVED_LINE in o.stderr and metrics.get("q_table_saved") is not True:
        return [f'"{SAVED_LINE}" printed but q_table_saved is {metrics.get("q_table_saved")!r}']
    return []


def table_problems(job: Job, must_have_learned: bool = False) -> list[str]:
    """q_table.npy exists exactly when metrics.json's q_table_saved says so; it loads
    without pickle, is float32, and is not all zeros once steps were learned (or at all,
    with `must_have_learned`)."""
    metrics, path = job.metrics(), job.out_dir / "q_table.npy"
    if metrics is None:
        return ["q_table.npy written but no metrics.json"] if path.exists() else []
    saved = metrics.get("q_table_saved")
    if not isinstance(saved, bool):
        return [f"metrics.json has no boolean q_table_saved (it has {saved!r})"]
    if not saved:
        return ["q_table.npy exists although q_table_saved is false"] if path.exists() else []
    if not path.exists():
        return ["q_table_saved is true but there is no q_table.npy"]
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        return [f"q_table.npy does not load without pickle: {exc}"]
    problems = [] if table.dtype == np.float32 else [f"q_table.npy is {table.dtype}, not float32"]
    steps = metrics.get("steps")
    learned = must_have_learned or (isinstance(steps, int) and steps > 0)
    if learned and not np.any(table):
        problems.append(f"q_table.npy is all zeros (steps {steps!r}): it looks like a result")
    return problems


def checkpoint_problems(job: Job) -> list[str]:
    """A saved table has a checkpoint that tells the same story: its step count and table
    are those of metrics.json and q_table.npy (so the resume continues from them)."""
    metrics, path = job.metrics() or {}, job.out_dir / "checkpoint.npz"
    if metrics.get("q_table_saved") is not True:
        return []
    if not path.exists():
        return ["a table was saved but no checkpoint.npz (checkpoint.every=0 writes one)"]
    try:
        saved = checkpoint.load(path, {})
    except ConfigError as exc:
        return [f"checkpoint.npz does not load: {exc}"]
    problems = []
    if saved.manifest.get("steps_done") != metrics.get("steps"):
        problems.append(
            f"checkpoint.npz holds {saved.manifest.get('steps_done')} steps, "
            f"metrics.json says {metrics.get('steps')}"
        )
    part = saved.part("table") or saved.part("algorithm")
    table = np.asarray(part["q"], dtype=np.float32)
    if not np.array_equal(table, np.load(job.out_dir / "q_table.npy")):
        problems.append("checkpoint.npz's table is not the saved q_table.npy")
    if "resume_command" not in metrics:
        problems.append("metrics.json has no resume_command although the job did not finish")
    return problems


def files_problems(job: Job, o: Outcome, must_have_learned: bool = False) -> list[str]:
    return (
        saved_line_problems(job, o)
        + table_problems(job, must_have_learned)
        + checkpoint_problems(job)
    )


def interrupted_problems(job: Job) -> list[str]:
    """A stop on request: status interrupted, true steps learned, the table saved."""
    metrics = job.metrics()
    if metrics is None:
        return ["no metrics.json after the stop"]
    problems = []
    if metrics.get("status") != "interrupted":
        problems.append(f"status {metrics.get('status')!r}, expected 'interrupted'")
    steps = metrics.get("steps")
    if not (isinstance(steps, int) and 0 < steps < HUGE_STEPS):
        problems.append(f"steps {steps!r}, expected the steps learned (> 0) before the stop")
    if metrics.get("q_table_saved") is not True:
        problems.append(f"q_table_saved {metrics.get('q_table_saved')!r}, expected true")
    return problems


def failed_problems(job: Job, who: str) -> list[str]:
    """A dead worker or rank: status failed and an error naming it and how it died."""
    metrics = job.metrics()
    if metrics is None:
        return ["no metrics.json after a worker or rank died"]
    problems = []
    if metrics.get("status") != "failed":
        problems.append(f"status {metrics.get('status')!r}, expected 'failed'")
    error = str(metrics.get("error", ""))
    if who not in error or not re.search(r"SIGKILL|signal 9\b", error):
        problems.append(f"error does not name {who} and SIGKILL / signal 9: {error[-200:]!r}")
    return problems


def status_problems(job: Job, status: str) -> list[str]:
    """When metrics.json was written, it has `status`."""
    metrics = job.metrics()
    if metrics is None or metrics.get("status") == status:
        return []
    return [f"status {metrics.get('status')!r}, expected {status!r}"]


def report(job: Job, o: Outcome, problems: list[str]) -> str:
    code = "none" if o.code is None else o.code
    head = f"{job.form}, {o.fault}: exit code {code} after {o.seconds:.1f} s"
    return "\n".join([head, *(f"- {p}" for p in problems), job.tail()])


# --- the tests --------------------------------------------------------------------------


def stop_problems(job: Job, fault: str) -> tuple[Outcome, list[str]]:
    """Send a stop signal to a training job; what went wrong (module docstring)."""
    o = outcome_of(job, fault, lambda: send_stop(job, fault))
    problems = exit_problems(o, EXIT_CODES[STOPS[fault][0]]) + survivor_problems(o, job)
    if o.code is not None:
        problems += leak_problems(o, job) + traceback_problems(o)
        problems += interrupted_problems(job) + files_problems(job, o)
    return o, problems


@pytest.mark.parametrize(
    ("form", "fault"),
    [
        *(case(form, "sigint-group") for form in FORMS),
        *(case(form, "sigterm-parent") for form in FORMS),
        *(case(form, "sigint-parent", full=True) for form in FORMS),
        *(case(form, "sigterm-group", full=True) for form in FORMS),
    ],
)
def test_a_stop_signal_ends_every_process_and_saves_the_learning(launch, form, fault):
    job = launch(form).wait_training()
    o, problems = stop_problems(job, fault)
    assert not problems, report(job, o, problems)


@pytest.mark.parametrize(
    ("form", "fault"), [case("single", "sigint-group"), case("parallel", "sigterm-parent")]
)
def test_a_stop_on_a_loaded_machine_still_ends_in_time(loaded_machine, launch, form, fault):
    job = launch(form).wait_training()
    o, problems = stop_problems(job, fault)
    assert not problems, report(job, o, problems)


@pytest.mark.parametrize(
    "form", [case("parallel"), case("distributed"), case("mpiexec"), case("single", full=True)]
)
def test_killing_the_parent_leaves_no_process_and_no_file(launch, form):
    job = launch(form).wait_training()
    o = outcome_of(job, "SIGKILL of the parent", lambda: job.signal_parent(signal.SIGKILL))
    problems = survivor_problems(o, job) + leak_problems(o, job)
    assert not problems, report(job, o, problems)


@pytest.mark.parametrize("form", ["parallel", "distributed", "mpiexec"])
def test_a_killed_worker_fails_the_job_as_a_whole(launch, form):
    job = launch(form).wait_training()
    o = outcome_of(job, f"SIGKILL of {WHO[form]}", lambda: job.kill_worker(1))
    problems = survivor_problems(o, job)
    if form == "mpiexec":
        # An outer mpiexec SIGKILLs every other rank at once and picks its own exit code;
        # no rank can report, so metrics.json keeps its "not reported" failure (mpiexec's
        # own banner names the rank on the terminal).
        problems += exit_problems(o, nonzero=True)
        if o.code is not None:
            problems += leak_problems(o, job) + status_problems(job, "failed")
            problems += files_problems(job, o)
    else:
        problems += exit_problems(o, 1)
        if o.code is not None:
            problems += leak_problems(o, job) + failed_problems(job, WHO[form])
            problems += files_problems(job, o, must_have_learned=True)
    assert not problems, report(job, o, problems)


@pytest.mark.parametrize(
    "form",
    [case("parallel"), case("distributed"), case("single", full=True), case("mpiexec", full=True)],
)
def test_a_second_ctrl_c_stops_at_once_and_leaves_consistent_files(launch, form):
    job = launch(form).wait_training()
    o = outcome_of(job, "Ctrl+C twice", lambda: ctrl_c_twice(job))
    problems = survivor_problems(o, job)
    if form == "mpiexec":
        # A second Ctrl+C makes an outer mpiexec kill the ranks (its own exit code): rank
        # 0 reported (interrupted) or was killed first ("not reported", failed); the files
        # agree either way.
        problems += exit_problems(o, nonzero=True)
        if o.code is not None:
            problems += leak_problems(o, job) + files_problems(job, o)
    else:
        problems += exit_problems(o, 130)
        if o.code is not None:
            problems += leak_problems(o, job) + traceback_problems(o)
            problems += status_problems(job, "interrupted") + files_problems(job, o)
    assert not problems, report(job, o, problems)


@pytest.mark.parametrize(
    "form",
    [case("parallel"), case("distributed"), case("single", full=True), case("mpiexec", full=True)],
)
def test_ctrl_c_during_start_up_stops_the_job(launch, form):
    job = launch(form)
    time.sleep(max(0.0, STARTUP_FAULT_S - (time.monotonic() - job.started_at)))
    o = outcome_of(job, "Ctrl+C during start-up", lambda: job.signal_group(signal.SIGINT))
    problems = exit_problems(o, 130) + survivor_problems(o, job)
    if o.code is not None:
        problems += leak_problems(o, job) + traceback_problems(o) + files_problems(job, o)
        # Under an outer mpiexec a rank still starting aborts every rank (none may wait
        # for it in a collective): if rank 0 was already training, its metrics.json keeps
        # the "not reported" failure.
        allowed = ("interrupted", "failed") if form == "mpiexec" else ("interrupted",)
        metrics = job.metrics()
        if metrics is not None and metrics.get("status") not in allowed:
            problems.append(f"status {metrics.get('status')!r}, expected one of {allowed}")
    assert not problems, report(job, o, problems)


FAKE_JOB = """
import os, time
fd = os.open(f"/dev/shm/dcrl_{os.getpid()}_harness_check", os.O_CREAT | os.O_RDWR)
if os.fork() == 0:
    time.sleep(120)
time.sleep(120)
"""


def test_the_harness_follows_an_orphan_and_finds_what_it_left(tmp_path):
    """The helpers themselves, on a stand-in job (a process and its child, holding a
    /dev/shm entry open): after SIGKILL of the parent the orphan is still known and
    reported, the entry counts as the job's leak, and cleanup removes both."""
    job = Job("single", tmp_path, cmd=[sys.executable, "-c", FAKE_JOB]).start()
    try:
        deadline = time.monotonic() + 30
        while len(job.tree()) < 2 or not job.leaks(settle_s=0):
            assert time.monotonic() < deadline, job.tail()
            time.sleep(0.05)
        tree = job.tree()
        o = outcome_of(job, "SIGKILL of the parent", lambda: job.signal_parent(signal.SIGKILL))
        assert o.code == -signal.SIGKILL and o.tree == tree
        assert o.survivors == tree - {job.pid}  # the orphan, reparented
        assert o.leaks == [f"/dev/shm/dcrl_{job.pid}_harness_check"]
    finally:
        killed = job.kill_all()
        removed = job.remove_leaks()
    assert len(killed) == 1 and removed == o.leaks
    assert not job.tree() and not job.leaks(settle_s=0)


def test_ctrl_c_while_numba_compiles_stops_without_noise(tmp_path):
    """With an empty Numba cache (a fresh install) the first seconds are JIT compilation,
    where an interrupt can land in llvmlite's callbacks: the job still stops, says
    interrupted with nothing learned, and prints no "Exception ignored" traceback."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    out = tmp_path / "job"
    proc = subprocess.Popen(
        command("single", out),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "metrics.json").exists():  # the job is built: warm-up compiles now
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    time.sleep(0.5)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < BOUND_S, stderr
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["steps"] == 0
    assert metrics["q_table_saved"] is False and not (out / "q_table.npy").exists()
