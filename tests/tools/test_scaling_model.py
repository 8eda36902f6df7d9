"""tools/scaling_model.py: the model's arithmetic, and the exchange it times."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import scaling_model  # noqa: E402


def test_without_synchronisations_the_prediction_is_the_ranks_share_of_the_cores():
    # 4e7 steps, 2 ranks at 10 M/s keeping 90%: 4e7 / 1.8e7 s
    assert scaling_model.predict(40_000_000, 2, 1e7, 0.9, 0, 0.001) == pytest.approx(1.8e7)


def test_each_synchronisation_adds_its_time():
    # compute 2 s, plus 100 synchronisations of 5 ms: 2.5 s for 4e7 steps
    assert scaling_model.predict(40_000_000, 2, 1e7, 1.0, 100, 0.005) == pytest.approx(1.6e7)


def test_ranks_beyond_the_cores_time_share_them():
    assert scaling_model.efficiency_at(1, 2, 0.9) == 1.0
    assert scaling_model.efficiency_at(2, 2, 0.9) == 0.9
    assert scaling_model.efficiency_at(4, 2, 0.9) == pytest.approx(0.45)


def test_the_changed_entries_come_from_the_bytes_a_rank_sent():
    metrics = {"steps_per_s": 1.0, "steps": 10, "n_states": 4, "n_actions": 2}
    job = scaling_model._job({**metrics, "syncs": 3, "bytes_per_sync": 72 + 12 * 50})
    assert (job.entries, job.syncs, job.changed) == (8, 3, 50)


def test_the_exchange_benchmark_times_the_runtimes_exchange_under_mpiexec():
    pytest.importorskip("mpi4py")
    seconds = scaling_model._sync_seconds(2, 3_000, 500, repeats=20)
    assert 0 < seconds < math.inf  # a time was measured (its size is for the benchmark)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "scaling_model.py"), "--exchange", "10", "3", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # one rank without mpiexec: the exchange still runs and reports
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split()[-1]) > 0
