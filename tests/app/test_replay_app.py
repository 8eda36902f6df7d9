"""``algorithm.replay`` from the command line: bad values stop before any work, a job
with replay writes what it replayed (the replay study's summary: tests/tools)."""

from __future__ import annotations

import json

import pytest

from dist_classicrl.app.job import build
from dist_classicrl.app.preflight import preflight
from dist_classicrl.app.sweep import summarize as summarize_sweep
from dist_classicrl.errors import ConfigError
from tests.app.test_cli import ROOT, run_cli

BAD = [
    (["algorithm.replay.capacity=-1"], "algorithm.replay.capacity=-1 is not allowed"),
    (
        ["algorithm.replay.capacity=1e4"],
        "algorithm.replay.capacity: Value '10000.0' of type 'float'",
    ),
    (["algorithm.replay.batch_size=0"], "algorithm.replay.batch_size=0 is not allowed"),
    (
        ["algorithm.replay.updates_per_step=0"],
        "algorithm.replay.updates_per_step=0.0 is out of range: allowed is (0.0, inf)",
    ),
    (
        ["algorithm.replay.capacity=32", "algorithm.replay.batch_size=64"],
        "algorithm.replay.batch_size=64 is larger than algorithm.replay.capacity=32",
    ),
    (
        ["algorithm.replay.capacity=100", "algorithm.replay.warmup=500"],
        "replay would never start",
    ),
    (["algorithm.replay.size=10"], "algorithm.replay.size: no such key"),
    (["-m", "algorithm.replay.capacity=0,-5"], "algorithm.replay.capacity=-5 is not allowed"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_replay_values_are_one_line_before_any_work(argv, message):
    with pytest.raises(ConfigError) as info:
        preflight(argv)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_replay_is_off_by_default_and_reaches_every_variant(compose_config):
    for variant in ("list", "numpy", "optimal"):
        agent = build(compose_config([f"algorithm={variant}"]))
        assert not agent.algorithm.replay.enabled
        agent.env.close()
        overrides = [f"algorithm={variant}", "algorithm.replay.capacity=1000"]
        agent = build(compose_config(overrides))
        assert agent.algorithm.replay.capacity == 1000 and agent.algorithm.replay.batch_size == 64
        agent.env.close()


def test_a_job_with_replay_writes_its_replay_metrics_and_the_sweep_table_shows_them(tmp_path):
    out = tmp_path / "job"
    args = [
        "env=taxi",
        "algorithm=optimal",
        "steps=20000",
        "algorithm.replay.capacity=5000",
        "algorithm.replay.updates_per_step=0.5",
        f"hydra.run.dir={out}",
    ]
    proc = run_cli(args, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["steps"] == 20_000
    replay = metrics["replay"]
    assert replay["capacity"] == 5000 and replay["updates_per_step"] == 0.5
    assert replay["updates"] == 64 * (10_000 // 64) and replay["batches"] == 10_000 // 64
    assert "fused kernel" in metrics["fused_off_reason"]
    assert (out / "q_table.npy").exists() and (out / "learning_curve.csv").exists()
    assert "replay         9,984 replayed updates (capacity 5,000" in proc.stdout
    (row,) = summarize_sweep(tmp_path)  # tmp_path as a sweep directory of one job
    assert row["replay.updates"] == 9984 and row["replay.capacity"] == 5000
    header = (tmp_path / "summary.md").read_text().splitlines()[0]
    assert "replay.updates" in header and "replay.updates_per_step" in header


def test_a_bad_replay_value_on_the_command_line_exits_2_with_one_line(tmp_path):
    proc = run_cli(["algorithm.replay.batch_size=-3"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "algorithm.replay.batch_size=-3" in lines[0]
    assert not (tmp_path / "outputs").exists()
