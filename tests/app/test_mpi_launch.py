"""The two ways to start the distributed runtime, end to end: the app starting its own
ranks (alone and inside a multirun), and the app started by ``mpiexec`` (with ``-n`` and
with a hostfile, as on a cluster). Each writes its files once, where Hydra says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.app.test_cli import check_job_dir, run_cli

pytestmark = pytest.mark.timeout(300)

MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
STEPS = 200_000


def job_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("metrics.json"))


def test_the_app_starts_its_own_ranks_and_writes_once(tmp_path):
    proc = run_cli(
        ["runtime=distributed", "runtime.ranks=2", f"steps={STEPS}", "hydra.run.dir=job"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["job"]  # nothing else in the cwd
    metrics = check_job_dir(tmp_path / "job", "optimal", STEPS)
    assert metrics["workers"] == 2 and metrics["ranks"] == 2


def test_a_multirun_over_rank_counts_starts_each_job_s_ranks(tmp_path):
    proc = run_cli(
        ["-m", "runtime=distributed", "runtime.ranks=1,2", f"steps={STEPS}", "hydra.sweep.dir=s"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = job_dirs(tmp_path / "s")
    assert [json.loads((j / "metrics.json").read_text())["ranks"] for j in jobs] == [1, 2]
    assert (tmp_path / "s" / "summary.csv").exists()


@pytest.mark.parametrize("launch", ["-n", "hostfile"])
def test_ranks_started_by_mpiexec_write_one_job_directory(tmp_path, launch):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("localhost:2\n")  # MPICH's hostfile syntax, as on a cluster's nodes
    where = ["-f", str(hosts), "-n", "2"] if launch == "hostfile" else ["-n", "2"]
    cwd = tmp_path / "work"
    cwd.mkdir()
    app = [sys.executable, "-m", "mpi4py", "-m", "dist_classicrl.run"]
    proc = subprocess.run(
        [MPIEXEC, *where, *app, "runtime=distributed", f"steps={STEPS}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = job_dirs(cwd)
    assert len(jobs) == 1, jobs  # rank 1 wrote nothing where the user looks
    assert len(list((cwd / "outputs").glob("*/*"))) == 1  # one outputs/<date>/<time>
    metrics = check_job_dir(jobs[0], "optimal", STEPS)
    assert metrics["ranks"] == 2
    assert proc.stdout.count("dist_classicrl: optimal") == 1  # one summary, from rank 0


def test_an_evaluation_under_mpiexec_is_written_once(tmp_path):
    table = tmp_path / "q.npy"
    np.save(table, np.random.default_rng(0).normal(size=(19683, 9)).astype(np.float32))
    app = [sys.executable, "-m", "mpi4py", "-m", "dist_classicrl.run"]
    args = ["runtime=distributed", "steps=0", f"init_q_table={table}", "hydra.run.dir=job"]
    proc = subprocess.run(
        [MPIEXEC, "-n", "2", *app, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("evaluated, not trained") == 1  # rank 1 wrote nothing
    metrics = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["steps"] == 0
