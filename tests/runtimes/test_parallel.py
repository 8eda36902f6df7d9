"""ParallelRuntime: exact budgets, learning quality, and no leaks or hangs on any exit path."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes import ParallelRuntime, WorkerError
from dist_classicrl.schedules import Schedule

SHM = Path("/dev/shm")


def shm_entries() -> set[str]:
    return set(os.listdir(SHM)) if SHM.exists() else set()


@pytest.fixture(autouse=True)
def no_leftovers():
    before = shm_entries()
    yield
    assert not shm_entries() - before, "a /dev/shm entry was left behind"
    assert not multiprocessing.active_children(), "a worker process outlived the run"


def train(variant="optimal", env=None, steps=200_000, **runtime_kwargs):
    env = env or TicTacToeEnv(16, seed=0)
    algo = VARIANTS[variant](
        env.n_states, env.n_actions, learning_rate=0.5, discount=0.99, epsilon=1.0, seed=0
    )
    runtime = ParallelRuntime(progress=False, eval_points=4, **runtime_kwargs)
    result = runtime.train(
        algo, env, steps, Schedule(1.0, 0.05, steps // 2), Schedule(0.5, 0.01, steps), seed=0
    )
    return algo, result


COMBINATIONS = [
    ("list", "merge"),
    ("numpy", "merge"),
    ("numpy", "shared"),
    ("optimal", "merge"),
    ("optimal", "shared"),
]  # list cannot share (below)


@pytest.mark.parametrize(("variant", "sync"), COMBINATIONS)
def test_every_variant_learns_exactly_the_budget_in_both_modes(variant, sync):
    steps = 100_003 if variant != "list" else 30_001
    algo, result = train(variant, steps=steps, num_workers=2, sync=sync, sync_every=5_000)
    assert result.steps == steps and result.workers == 2
    assert result.status == "completed"
    assert len(result.details["per_worker_steps_per_s"]) == 2
    assert all(rate > 0 for rate in result.details["per_worker_steps_per_s"])
    assert np.abs(result.q_table).sum() > 0
    np.testing.assert_array_equal(algo.q_values(), result.q_table)
    assert result.statistics["episodes"] > steps / 10


@pytest.mark.parametrize(("steps", "expected"), [(1_000_000, 100_000), (12_000_000, 120_000)])
def test_by_default_workers_merge_about_50_times_a_run_at_least_100000_steps_apart(steps, expected):
    """A merge scans the table: 100,000 steps apart it cost 10-30% of a long run."""
    _, result = train(steps=steps, num_workers=2)
    assert result.details["sync_every"] == expected
    _, result = train(steps=steps, num_workers=2, sync_every=7_000)
    assert result.details["sync_every"] == 7_000


def test_list_variant_cannot_share_its_table():
    with pytest.raises(ConfigError, match=r"runtime\.sync=merge"):
        train("list", num_workers=2, sync="shared")


def test_schedules_follow_the_global_step_of_all_workers():
    _, result = train(steps=400_000, num_workers=2)
    eps = [row["epsilon"] for row in result.curve]
    assert eps[-1] == pytest.approx(0.05)
    assert eps[0] > eps[-1]
    assert [row["step"] for row in result.curve][-1] == 400_000


@pytest.mark.parametrize("sync", ["merge", "shared"])
def test_two_workers_reach_the_single_runtime_quality_bars(compose_config, sync):
    from dist_classicrl.app.job import build

    for env_name, check in (
        ("tictactoe", lambda ev: ev["loss_rate"] <= 0.01 and ev["win_rate"] >= 0.94),
        ("taxi", lambda ev: ev["optimality_gap"] <= 0.02),
    ):
        cfg = compose_config(
            [f"env={env_name}", "runtime=parallel", "runtime.num_workers=2", f"runtime.sync={sync}"]
        )
        agent = build(cfg)
        agent.runtime.progress = False
        result = agent.learn(cfg.steps).result
        assert check(result.eval), (env_name, result.eval)


class FailingEnv(TicTacToeEnv):
    """Raises in the first worker process that steps it (a file decides which one)."""

    def __init__(self, flag: Path, **kwargs):
        super().__init__(**kwargs)
        self.flag, self.parent, self.calls = flag, os.getpid(), 0

    def step(self, actions):
        self.calls += 1
        if os.getpid() != self.parent and self.calls == 50:
            try:
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super().step(actions)
            raise RuntimeError("boom in a worker")
        return super().step(actions)


def test_a_failing_worker_fails_the_run_with_its_error_and_stops_the_others(tmp_path):
    env = FailingEnv(tmp_path / "flag", num_envs=4, seed=0)
    start = time.monotonic()
    with pytest.raises(WorkerError, match="boom in a worker"):
        train(env=env, steps=50_000_000, num_workers=2, fused=False)
    assert time.monotonic() - start < 30


def test_a_killed_worker_fails_the_run_instead_of_hanging(tmp_path):
    class KilledEnv(TicTacToeEnv):
        def step(self, actions):
            if os.getpid() != parent and not (tmp_path / "k").exists():
                (tmp_path / "k").touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().step(actions)

    parent = os.getpid()
    start = time.monotonic()
    with pytest.raises(
        WorkerError, match=r"worker [01] \(pid [0-9]+\) died: killed by signal 9 \(SIGKILL\)"
    ):
        train(env=KilledEnv(4, seed=0), steps=50_000_000, num_workers=2, fused=False)
    assert time.monotonic() - start < 30


def run_cli(tmp_path: Path, name: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dist_classicrl.run",
            "runtime=parallel",
            "runtime.num_workers=2",
            *args,
            f"hydra.run.dir={tmp_path / name}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_job_start(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not (out / "run.log").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    time.sleep(1.5)  # the workers are running


@pytest.mark.parametrize(
    ("how", "extra"),
    [
        ("ctrl-c", ()),
        ("sigterm", ()),
        ("ctrl-c", ("algorithm=numpy", "runtime.sync=shared")),  # no 30 s join any more
        ("sigterm", ("runtime.sync_every=1000000000",)),  # merged at the stop: not all zeros
    ],
)
def test_interrupt_stops_every_worker_saves_and_releases(tmp_path, how, extra):
    proc = run_cli(tmp_path, "job", "algorithm=list", *extra, "steps=1000000000")
    wait_for_job_start(tmp_path / "job", proc)
    start = time.monotonic()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # a terminal sends it to the whole group
    else:
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - start < 10
    assert proc.returncode == (130 if how == "ctrl-c" else 143), stderr
    assert "Traceback" not in stderr
    metrics = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["workers"] == 2
    assert 0 < metrics["steps"] < 1_000_000_000
    assert np.abs(np.load(tmp_path / "job" / "q_table.npy")).sum() > 0


def test_two_parallel_runs_at_once_do_not_collide(tmp_path):
    procs = [run_cli(tmp_path, name, "steps=2000000") for name in ("a", "b")]
    for name, proc in zip(("a", "b"), procs, strict=True):
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert metrics["status"] == "completed" and metrics["steps"] == 2_000_000


def test_one_worker_needs_no_merges_and_learns_like_the_single_runtime():
    env = make_env("gym", 8, id="Taxi-v4", seed=0)
    _, result = train(env=env, steps=300_000, num_workers=1)
    assert result.details["per_worker_merge_time_s"] == [0.0]
    assert result.eval["optimality_gap"] < 0.5


@pytest.mark.parametrize(("variant", "sync"), [("optimal", "merge"), ("numpy", "shared")])
def test_sarsa_learns_taxi_in_two_workers(compose_config, variant, sync):
    # optimal/merge: the fused kernel carries a' between chunks and merges; numpy/shared:
    # the batch loop's next actions on a shared table.
    from dist_classicrl.app.job import build

    overrides = [
        "env=taxi",
        f"algorithm={variant}",
        "algorithm.rule=sarsa",
        "runtime=parallel",
        "runtime.num_workers=2",
        f"runtime.sync={sync}",
    ]
    if variant == "numpy":
        overrides += ["steps=1000000", "env.num_envs=256"]  # Python per batch: fewer steps
    cfg = compose_config(overrides)
    agent = build(cfg)
    agent.runtime.progress = False
    result = agent.learn(cfg.steps).result
    assert agent.algorithm.rule == "sarsa" and result.steps == cfg.steps
    assert result.eval["optimality_gap"] <= (0.02 if variant == "optimal" else 0.5)


def test_the_shared_table_does_not_live_in_dev_shm_so_dockers_64_mb_is_no_limit(tmp_path):
    """Docker's default /dev/shm is 64 MB, and writing past a tmpfs limit is a SIGBUS. The
    shared mapping is anonymous: a 48 MB table plus a 48 MB snapshot slot trains under a
    64 MB /dev/shm (a private mount namespace, as root)."""
    out = tmp_path / "job"
    app = [
        sys.executable,
        "-m",
        "dist_classicrl.run",
        "runtime=parallel",
        "runtime.num_workers=2",
        "runtime.eval_points=2",
        "env=mountaincar",
        "wrapper.bins=[2000,2000]",
        "steps=50000",
        f"hydra.run.dir={out}",
    ]
    script = "mount -t tmpfs -o size=64m tmpfs /dev/shm && exec " + " ".join(f"'{a}'" for a in app)
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=64m tmpfs /dev/shm"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("cannot mount a private /dev/shm here (needs root and unshare)")
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["steps"] == 50_000
    assert metrics["n_states"] * metrics["n_actions"] * 4 > 40 * 2**20


@pytest.mark.parametrize("variant", ["optimal", "list"])
def test_evaluation_points_do_not_change_what_one_worker_learns(variant):
    """Half of 4 x 1001 steps ends inside a batch of 4 envs: the evaluation point's chunk
    still ends on a whole batch (a partial one would drop transitions mid-run)."""
    env = TicTacToeEnv(4, seed=0)

    def run(eval_points):
        algo = VARIANTS[variant](env.n_states, env.n_actions, epsilon=0.3, seed=0)
        runtime = ParallelRuntime(num_workers=1, progress=False, eval_points=eval_points)
        constant = Schedule(0.3, 0.3, 0, "constant"), Schedule(0.5, 0.5, 0, "constant")
        return runtime.train(algo, TicTacToeEnv(4, seed=0), 4 * 1001, *constant, seed=0)

    plain, evaluated = run(1), run(2)
    steps = [point["step"] for point in evaluated.curve]
    assert len(steps) == 2 and steps[0] >= 2002 and steps[-1] == 4004
    assert all(step % 4 == 0 for step in steps)
    np.testing.assert_array_equal(plain.q_table, evaluated.q_table)


@pytest.mark.parametrize("variant", ["optimal", "list"])
def test_a_stopped_run_saves_a_table_holding_exactly_the_steps_it_counts(variant):
    """SIGINT one second in: the worker stops at a chunk boundary (``list`` merges its
    private table then), and its table equals that of an uninterrupted run of exactly the
    counted steps (one worker, constant schedules: chunking does not change learning; the
    merges do, for ``list``, whose table of Python floats a merge rounds to float32, so
    both runs merge on one schedule: the default's depends on the budget)."""
    import threading

    def run(steps):
        env = TicTacToeEnv(4, seed=0)
        algo = VARIANTS[variant](env.n_states, env.n_actions, epsilon=0.3, seed=0)
        runtime = ParallelRuntime(num_workers=1, progress=False, eval_points=2, sync_every=100_000)
        constant = Schedule(0.3, 0.3, 0, "constant"), Schedule(0.5, 0.5, 0, "constant")
        return runtime.train(algo, env, steps, *constant, seed=0)

    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    stopped = run(10**11)
    timer.join()
    assert stopped.status == "interrupted" and stopped.stop_signal == "SIGINT"
    assert 0 < stopped.steps < 10**11
    again = run(stopped.steps)
    assert again.status == "completed" and again.steps == stopped.steps
    np.testing.assert_array_equal(stopped.q_table, again.q_table)
