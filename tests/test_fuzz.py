"""Fuzzing the two inputs a user hands the app: override lists and checkpoint files. The
outcome is always a job that would run or one line naming what is wrong (`ConfigError`);
never another exception, a hang or a partial file. The preflight is fuzzed in process
(fast, many examples); whole app runs of generated override lists check that what the
preflight accepts then runs to complete files (``DCRL_FUZZ_RUNS`` examples, 8 by
default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dist_classicrl.app.preflight import preflight
from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes import checkpoint

#: Values per key, valid and not: a key's value is drawn from here or from junk.
VALUES = {
    "algorithm": ["list", "numpy", "optimal", "foo", ""],
    "runtime": ["single", "parallel", "distributed", "runtime_schema", "base_runtime", "nope"],
    "env": ["tictactoe", "taxi", "frozenlake", "cliffwalking", "blackjack", "gym", "x"],
    "wrapper": ["none", "flatten", "discretize", "zzz"],
    "steps": ["0", "1", "1000", "-5", "abc", "1e9", "10**11"],
    "seed": ["0", "7", "-1", "x"],
    "env.num_envs": ["1", "64", "0", "-3", "abc"],
    "env.opponent": ["random", "perfect", "self", "human"],
    "env.id": ["Taxi-v4", "Nope-v0", "FrozenLake-v1", "CartPole-v1"],
    "algorithm.rule": ["q_learning", "sarsa", "expected_sarsa", "td"],
    "algorithm.discount": ["0.9", "1.0", "1.5", "-0.1", "x"],
    "runtime.num_workers": ["1", "2", "10000", "0"],
    "runtime.sync": ["merge", "shared", "allreduce", "bad"],
    "runtime.eval_points": ["1", "10", "0"],
    "schedule.epsilon.end": ["0.05", "1.5", "-1"],
    "schedule.learning_rate.start": ["0.5", "0", "2"],
    "schedule.epsilon.kind": ["linear", "exponential", "cubic"],
    "checkpoint.every": ["0", "null", "100", "-1"],
    "+foo": ["1"],
    "+algorithm.learning_rate": ["0.3"],
    "setps": ["100"],
}
overrides = st.lists(
    st.sampled_from(sorted(VALUES)).flatmap(
        lambda key: st.sampled_from(VALUES[key]).map(lambda value: f"{key}={value}")
    ),
    max_size=5,
    unique_by=lambda o: o.split("=")[0],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides)
def test_any_override_list_is_accepted_or_refused_in_one_line(tmp_path_factory, argv):
    out = tmp_path_factory.mktemp("out")
    try:
        preflight([*argv, f"hydra.run.dir={out}/job"])
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).strip(), str(exc)
    assert not (out / "job").exists()  # preflight starts nothing


#: For whole runs: the same keys, with budgets a test can afford (a refused value of
#: every kind is still among them).
RUN_VALUES = {
    **VALUES,
    "steps": ["1", "20000", "-5", "abc", "1e9"],
    "env.opponent": ["random", "self", "human"],  # the perfect player is slow to build
}
run_overrides = st.lists(
    st.sampled_from(sorted(RUN_VALUES)).flatmap(
        lambda key: st.sampled_from(RUN_VALUES[key]).map(lambda value: f"{key}={value}")
    ),
    max_size=4,
    unique_by=lambda o: o.split("=")[0],
)


@settings(
    max_examples=int(os.environ.get("DCRL_FUZZ_RUNS", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(run_overrides)
def test_any_override_list_runs_to_complete_files_or_exits_2_in_one_line(tmp_path, argv):
    """The app itself: exit 0 with a completed job's files, or exit 2 with one line on
    stderr and no job directory; never a traceback, a hang or a half-written job."""
    if not any(o.startswith("steps=") for o in argv):
        argv = [*argv, "steps=20000"]  # the default budget is minutes for some envs
    out = tmp_path / f"job{len(list(tmp_path.iterdir()))}"
    proc = subprocess.run(
        [sys.executable, "-m", "dist_classicrl.run", *argv, f"hydra.run.dir={out}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 2:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dist_classicrl: error: "), proc.stderr
        assert not out.exists()
        return
    assert proc.returncode == 0, (argv, proc.stderr)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["q_table_saved"] is True, metrics
    assert (out / "q_table.npy").is_file() and (out / "learning_curve.csv").is_file()


IDENTITY = {"env": "fuzz"}


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    import numpy as np

    path = tmp_path_factory.mktemp("ck") / "checkpoint.npz"
    parts = {"algorithm": {"q": np.arange(60, dtype=np.float32).reshape(10, 6), "n": 3}}
    checkpoint.save(path, parts, IDENTITY)
    return path.read_bytes()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_damaged_checkpoint_loads_intact_or_is_refused_in_one_line(
    tmp_path_factory, checkpoint_bytes, data
):
    raw = bytearray(checkpoint_bytes)
    cut = data.draw(st.integers(0, len(raw)), label="truncate at")
    raw = raw[:cut]
    for position in data.draw(st.lists(st.integers(0, max(len(raw) - 1, 0)), max_size=4)):
        if raw:
            raw[position] ^= 1 << data.draw(st.integers(0, 7))
    path = tmp_path_factory.mktemp("bad") / "checkpoint.npz"
    path.write_bytes(bytes(raw))
    try:
        loaded = checkpoint.load(path, IDENTITY)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"resume={path}: ")
    else:  # only bytes the content does not depend on changed (zip metadata)
        assert loaded.part("algorithm")["n"] == 3
        assert loaded.part("algorithm")["q"].tolist() == [
            list(range(6 * i, 6 * i + 6)) for i in range(10)
        ]
