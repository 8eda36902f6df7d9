"""Checkpoints and resume. Single runtime: a run stopped anywhere and resumed gives the
table of the run that was never stopped, byte for byte, in every variant and built-in
env. Parallel and distributed: a resumed run continues from the saved table, counters,
schedules and learning curve. A checkpoint that is damaged or belongs to another job is
refused in one line."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.envs import make_env
from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes import (
    DistributedRuntime,
    ParallelRuntime,
    SingleRuntime,
    TrainingJob,
    checkpoint,
)
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.schedules import Schedule
from dist_classicrl.wrappers import FlattenMultiDiscreteWrapper

STEPS = 120_000
ENVS = [
    ("tictactoe", {}),
    ("tictactoe", {"opponent": "self"}),
    ("gym", {"id": "Taxi-v4", "max_episode_steps": 50}),
    ("gym", {"id": "FrozenLake-v1"}),
    ("gym", {"id": "CliffWalking-v1", "max_episode_steps": 100}),
    (
        "gym",
        {"id": "Blackjack-v1", "kwargs": {"sab": False}, "wrapper": FlattenMultiDiscreteWrapper},
    ),
]
IDENTITY = {"env": "test"}


def job(variant, env_spec, rule, plan=None, resume=None):
    kind, kwargs = env_spec
    env = make_env(kind, 8, seed=0, **kwargs)
    algo = VARIANTS[variant](env.n_states, env.n_actions, epsilon=1.0, seed=0, rule=rule)
    schedules = Schedule(1.0, 0.05, STEPS // 2), Schedule(0.5, 0.01, STEPS)
    return TrainingJob(algo, env, STEPS, *schedules, 0, checkpoint=plan, resume=resume)


def run(job_):
    return SingleRuntime(eval_points=4, progress=False).run(job_)


@pytest.mark.parametrize("rule", ["q_learning", "sarsa"])
@pytest.mark.parametrize("variant", ["list", "numpy", "optimal"])
@pytest.mark.parametrize("env_spec", ENVS, ids=lambda e: e[1].get("id", e[1].get("opponent", e[0])))
def test_a_stopped_and_resumed_run_equals_the_run_never_stopped(
    monkeypatch, tmp_path, env_spec, variant, rule
):
    if env_spec[1].get("opponent") == "self" and variant != "optimal":
        pytest.skip("self-play's opponent reads the table in the compiled step (optimal)")
    whole = run(job(variant, env_spec, rule))

    calls = {"n": 0}
    chunk = TrainingLoop.run

    def signal_on_the_seventh_chunk(self, n_steps):
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGINT)  # handled at the chunk's end
        return chunk(self, n_steps)

    monkeypatch.setattr(TrainingLoop, "run", signal_on_the_seventh_chunk)
    plan = checkpoint.CheckpointPlan(tmp_path / "checkpoint.npz", 30_000, IDENTITY)
    stopped = run(job(variant, env_spec, rule, plan))
    monkeypatch.setattr(TrainingLoop, "run", chunk)
    assert stopped.status == "interrupted" and 0 < stopped.steps < STEPS

    saved = checkpoint.load(plan.path, IDENTITY)
    assert saved.manifest["steps_done"] == stopped.steps
    resumed = run(job(variant, env_spec, rule, plan, resume=saved))
    assert resumed.status == "completed" and resumed.steps == STEPS
    np.testing.assert_array_equal(resumed.q_table, whole.q_table)
    assert resumed.statistics["episodes"] == whole.statistics["episodes"]
    assert resumed.eval == whole.eval
    untimed = [{k: v for k, v in r.items() if k != "train_time_s"} for r in whole.curve]
    assert [{k: v for k, v in r.items() if k != "train_time_s"} for r in resumed.curve] == untimed


def a_checkpoint(tmp_path: Path) -> Path:
    plan = checkpoint.CheckpointPlan(tmp_path / "checkpoint.npz", 0, IDENTITY)
    run(job("optimal", ENVS[0], "q_learning", plan))
    return plan.path


def test_damaged_or_foreign_checkpoints_are_refused_in_one_line(tmp_path):
    good = a_checkpoint(tmp_path)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.npz"
    with np.load(good, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["algorithm.q"] = arrays["algorithm.q"].copy()
    arrays["algorithm.q"].flat[123] += 1.0  # a tampered value, manifest unchanged
    with open(flipped, "wb") as f:
        np.savez(f, **arrays)
    manifest = json.loads(arrays["manifest"].tobytes())
    edited = tmp_path / "edited.npz"  # a counter in the manifest changed, arrays intact
    with np.load(good, allow_pickle=False) as npz:
        intact = {k: npz[k] for k in npz.files}
    changed = {**manifest, "steps_done": manifest["steps_done"] - 1}
    intact["manifest"] = np.frombuffer(json.dumps(changed).encode(), dtype=np.uint8)
    with open(edited, "wb") as f:
        np.savez(f, **intact)
    manifest["format_version"] = 99
    future = tmp_path / "future.npz"
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    with open(future, "wb") as f:
        np.savez(f, **arrays)
    # the zip directory's entry of the first member says compressed (deflate, bzip2, lzma,
    # an unknown method) or encrypted: each ran a decompressor, or asked for a password
    entry = data.index(b"PK\x01\x02")  # the central directory's first entry
    directory_damage = {}
    for name, offset, value in (
        ("deflate", 10, 8),
        ("bzip2", 10, 12),
        ("lzma", 10, 14),
        ("unknown", 10, 99),
        ("encrypted", 8, 1),
    ):
        damaged = bytearray(data)
        damaged[entry + offset : entry + offset + 2] = value.to_bytes(2, "little")
        directory_damage[tmp_path / f"{name}.npz"] = bytes(damaged)
    for path, content in directory_damage.items():
        path.write_bytes(content)
    cases = {
        tmp_path / "missing.npz": "no checkpoint",
        truncated: "not a readable checkpoint",
        **{path: "not a readable checkpoint" for path in directory_damage},
        flipped: "do not match the manifest's sha256",
        edited: "do not match the manifest's sha256",
        future: "format version 99",
    }
    for path, words in cases.items():
        with pytest.raises(ConfigError, match=words) as info:
            checkpoint.load(path, IDENTITY)
        assert "\n" not in str(info.value)
    for key, value in (("env", "Taxi-v4"), ("n_actions", 6), ("algorithm", "numpy")):
        with pytest.raises(ConfigError, match=f"for {key}=.*this job has {key}="):
            checkpoint.load(good, {**IDENTITY, key: value})


def app(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dist_classicrl.run", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_the_app_resumes_a_job_stopped_by_ctrl_c_to_the_same_table(tmp_path):
    """As a user does it: the uninterrupted job; the same job stopped by Ctrl+C (SIGINT to
    its process group) mid-run; the resume command its metrics.json prints; ``cmp``."""
    common = ["steps=60000000", "checkpoint.every=10000000"]
    whole = app(*common, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    stopped = app(*common, f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "job" / "checkpoint.npz").exists():  # training is under way
        assert stopped.poll() is None and time.monotonic() < deadline, stopped.stderr.read()
        time.sleep(0.05)
    os.killpg(stopped.pid, signal.SIGINT)
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 130, stderr
    metrics = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 0 < metrics["steps"] < 60_000_000
    command = metrics["resume_command"].split()
    assert command[:3] == ["python", "-m", "dist_classicrl.run"]
    resumed = app(*command[3:], cwd=tmp_path)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    final = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert final["status"] == "completed" and final["resumed_at_step"] == metrics["steps"]
    whole_table = (tmp_path / "whole" / "q_table.npy").read_bytes()
    assert (tmp_path / "job" / "q_table.npy").read_bytes() == whole_table
    reference = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    for key in ("steps", "episodes", "train_mean_return", "eval"):
        assert final[key] == reference[key], key


def test_a_tampered_checkpoint_or_another_config_is_refused_before_any_work(tmp_path):
    job_dir = tmp_path / "job"
    done = app("steps=200000", f"hydra.run.dir={job_dir}", cwd=tmp_path)
    assert done.wait(timeout=300) == 0
    other = app(
        "steps=300000", f"hydra.run.dir={tmp_path / 'x'}", f"resume={job_dir}", cwd=tmp_path
    )
    _, stderr = other.communicate(timeout=120)
    assert other.returncode == 2 and "config_hash" in stderr and len(stderr.splitlines()) == 1
    raw = bytearray((job_dir / "checkpoint.npz").read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    (job_dir / "checkpoint.npz").write_bytes(bytes(raw))
    tampered = app(
        "steps=200000", f"hydra.run.dir={tmp_path / 'y'}", f"resume={job_dir}", cwd=tmp_path
    )
    _, stderr = tampered.communicate(timeout=120)
    assert tampered.returncode == 2 and len(stderr.splitlines()) == 1, stderr
    assert f"resume={job_dir}" in stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_an_interrupted_sweep_resumes_keeping_finished_jobs_and_continuing_the_stopped_one(
    tmp_path,
):
    """Ctrl+C in job 1 of 3: the sweep still writes its summary and prints the command
    that resumes it; that command keeps job 0 untouched, continues job 1 from its
    checkpoint (its table then equals the same job never stopped) and runs job 2."""
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2", "steps=40000000", "checkpoint.every=5000000"]
    first = app(*args, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    deadline = time.monotonic() + 240
    while not (sweep / "1" / "checkpoint.npz").exists():
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130, stderr
    assert (
        len((sweep / "summary.md").read_text().split("\n\n")[0].splitlines()) == 2 + 2
    )  # jobs 0, 1
    command = stderr.strip().split("resume the sweep with: ")[1].split()
    assert command[-1] == f"resume={sweep}"
    job0 = (sweep / "0" / "q_table.npy").stat().st_mtime_ns
    again = app(*command[3:], cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert "job 0 completed earlier: kept, not rerun" in stdout
    assert (sweep / "0" / "q_table.npy").stat().st_mtime_ns == job0
    statuses = [json.loads((sweep / j / "metrics.json").read_text()) for j in "012"]
    assert [m["status"] for m in statuses] == ["completed"] * 3
    assert "resumed_at_step" in statuses[1] and "resumed_at_step" not in statuses[2]
    alone = app("seed=1", *args[2:], f"hydra.run.dir={tmp_path / 'alone'}", cwd=tmp_path)
    assert alone.wait(timeout=300) == 0
    assert (sweep / "1" / "q_table.npy").read_bytes() == (
        tmp_path / "alone" / "q_table.npy"
    ).read_bytes()
    assert len((sweep / "summary.md").read_text().split("\n\n")[0].splitlines()) == 2 + 3


@pytest.mark.parametrize(
    "runtime",
    [
        ParallelRuntime(num_workers=2, eval_points=4, progress=False),
        ParallelRuntime(num_workers=2, sync="shared", eval_points=4, progress=False),
        DistributedRuntime(ranks=1, eval_points=4, progress=False),
    ],
    ids=["parallel-merge", "parallel-shared", "distributed"],
)
def test_a_combined_checkpoint_holds_the_table_and_curve_it_reports(tmp_path, runtime):
    """Resuming a finished combined run's checkpoint learns nothing more: the result is
    exactly the table, step count, statistics and learning curve the run reported (so
    every one of them is saved and put back)."""
    plan = checkpoint.CheckpointPlan(tmp_path / "c.npz", 0, IDENTITY)
    first = runtime.run(job("optimal", ENVS[0], "q_learning", plan))
    saved = checkpoint.load(plan.path, IDENTITY)
    again = runtime.run(job("optimal", ENVS[0], "q_learning", resume=saved))
    assert again.status == "completed" and again.steps == first.steps == STEPS
    np.testing.assert_array_equal(again.q_table, first.q_table)
    assert again.statistics == first.statistics
    # the points taken during training (NaN, a window without episodes, equals itself)
    np.testing.assert_equal(again.curve[:-1], first.curve[:-1])
    untimed = [
        {k: v for k, v in run.curve[-1].items() if k != "train_time_s"} for run in (again, first)
    ]
    np.testing.assert_equal(*untimed)  # the end point (the resumed run took a few ms more)
    assert first.train_time_s <= again.train_time_s < first.train_time_s + 1.0


def read_curve(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "runtime",
    [
        ["runtime=parallel", "runtime.num_workers=2"],
        ["runtime=parallel", "runtime.num_workers=2", "runtime.sync=shared"],
        ["runtime=distributed", "runtime.ranks=2"],
    ],
    ids=["parallel-merge", "parallel-shared", "distributed"],
)
def test_a_combined_run_stopped_by_ctrl_c_resumes_from_its_table_counters_and_curve(
    tmp_path, runtime
):
    """Ctrl+C after the first periodic checkpoint: the checkpoint then holds exactly the
    table and step count the stopped job reports; the printed resume command finishes the
    budget, keeps the curve points taken before the stop, continues the schedules (the
    epsilon of every point is the schedule's at its step) and learns as well as the run
    never stopped."""
    steps = 30_000_000
    common = [*runtime, f"steps={steps}", "checkpoint.every=4000000"]
    whole = app(*common, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    job_dir = tmp_path / "job"
    stopped = app(*common, f"hydra.run.dir={job_dir}", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (job_dir / "checkpoint.npz").exists():  # training is under way
        assert stopped.poll() is None and time.monotonic() < deadline, stopped.stderr.read()
        time.sleep(0.02)
    os.killpg(stopped.pid, signal.SIGINT)
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 130, stderr
    metrics = json.loads((job_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 0 < metrics["steps"] < steps, metrics
    saved = checkpoint.load(job_dir, {})
    assert saved.manifest["steps_done"] == metrics["steps"]
    np.testing.assert_array_equal(saved.part("table")["q"], np.load(job_dir / "q_table.npy"))
    before = read_curve(job_dir / "learning_curve.csv")

    command = metrics["resume_command"].split()
    resumed = app(*command[3:], cwd=tmp_path)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    final = json.loads((job_dir / "metrics.json").read_text())
    assert final["status"] == "completed" and final["steps"] == steps
    assert final["resumed_at_step"] == metrics["steps"]
    assert final["episodes"] > metrics["episodes"]
    after = read_curve(job_dir / "learning_curve.csv")
    points = [int(row["step"]) for row in after]
    assert len(after) == 10 and points == sorted(points) and points[-1] == steps
    kept = before[:-1]  # the last row of the stopped job is its final table, not a point
    assert after[: len(kept)] == kept
    epsilon = Schedule(1.0, 0.05, math.ceil(0.5 * steps))  # the default epsilon schedule
    for row in after:
        assert float(row["epsilon"]) == pytest.approx(epsilon(int(row["step"])))
    reference = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert final["eval"]["mean_return"] == pytest.approx(reference["eval"]["mean_return"], abs=0.03)
