"""Sweeps beyond one sequential process: the launcher configs in ``conf/hydra/launcher/``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module


def compose_launcher(*overrides: str):
    with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    return cfg.hydra.launcher


@pytest.mark.parametrize(
    ("launcher", "runtime_overrides", "workers"),
    [
        ("joblib", [], 1),
        # loky worker processes that fork the parallel runtime's own workers
        ("local_parallel", ["runtime=parallel", "runtime.num_workers=2", "env.num_envs=8"], 2),
    ],
)
def test_joblib_launcher_writes_every_job_and_the_sweep_report(
    tmp_path, launcher, runtime_overrides, workers
):
    sweep = tmp_path / "sweep"
    segments_before = {p for p in os.listdir("/dev/shm") if p.startswith("dcrl_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dist_classicrl.run",
            "-m",
            f"hydra/launcher={launcher}",
            "algorithm=list,numpy",
            "steps=20000",
            *runtime_overrides,
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Joblib.Parallel(n_jobs=-1" in proc.stdout + proc.stderr
    for job, algorithm in (("0", "list"), ("1", "numpy")):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert (metrics["algorithm"], metrics["status"]) == (algorithm, "completed")
        assert (metrics["workers"], metrics["steps"]) == (workers, 20000)
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["algorithm"] for r in rows) == ["list", "numpy"]
    assert (sweep / "summary.md").is_file() and (sweep / "throughput.png").is_file()
    segments_after = {p for p in os.listdir("/dev/shm") if p.startswith("dcrl_")}
    assert segments_after <= segments_before  # every worker's shared memory released


def test_local_parallel_is_the_joblib_launcher_with_one_job_per_core():
    launcher = compose_launcher("hydra/launcher=local_parallel")
    assert launcher._target_.endswith("joblib_launcher.JoblibLauncher")
    assert (launcher.n_jobs, launcher.backend) == (-1, "loky")


def test_slurm_config_composes_for_submitit_with_user_overrides(tmp_path):
    launcher = compose_launcher(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=cpu",
        "hydra.launcher.cpus_per_task=8",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert (
        launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    )
    assert (launcher.partition, launcher.cpus_per_task, launcher.tasks_per_node) == ("cpu", 8, 1)
    assert launcher.timeout_min == 60
    assert Path(launcher.submitit_folder) == tmp_path / ".submitit" / "%j"


def test_slurm_config_is_printed_by_the_command_line():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dist_classicrl.run",
            "hydra/launcher=slurm",
            "--cfg",
            "hydra",
            "-p",
            "hydra.launcher",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "_target_: hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in (
        proc.stdout
    )
    assert "cpus_per_task: 4" in proc.stdout
