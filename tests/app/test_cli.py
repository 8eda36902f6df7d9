"""The command line, end to end, in subprocesses: a job, a sweep, bad input, a wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "dist_classicrl.run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def check_job_dir(job: Path, algorithm: str, steps: int) -> dict:
    metrics = json.loads((job / "metrics.json").read_text())
    for key in (
        "algorithm",
        "rule",
        "runtime",
        "env",
        "workers",
        "num_envs",
        "steps",
        "seed",
        "steps_per_s",
        "train_time_s",
        "compile_time_s",
        "episodes",
        "eval",
        "status",
    ):
        assert key in metrics, key
    assert metrics["algorithm"] == algorithm
    assert metrics["status"] == "completed"
    assert metrics["steps"] == steps
    assert metrics["steps_per_s"] > 0
    assert {"win_rate", "draw_rate", "loss_rate", "mean_return"} <= set(metrics["eval"])
    q = np.load(job / "q_table.npy", allow_pickle=False)
    assert q.dtype == np.float32 and q.shape == (3**9, 9)
    assert np.abs(q).sum() > 0
    header = (job / "learning_curve.csv").read_text().splitlines()[0]
    assert header.startswith("step,")
    assert (job / "learning_curve.png").read_bytes()[:8] == PNG_MAGIC
    return metrics


def test_default_job_writes_every_contract_file(tmp_path):
    out = tmp_path / "job"
    proc = run_cli(["steps=50000", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_job_dir(out, "optimal", 50_000)
    assert "win" in proc.stdout and "loss" in proc.stdout  # the one-screen summary


def test_multirun_over_the_three_variants_writes_a_summary(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["-m", "algorithm=list,numpy,optimal", "steps=20000", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for i, name in enumerate(["list", "numpy", "optimal"]):
        check_job_dir(sweep / str(i), name, 20_000)
    table = (sweep / "summary.md").read_text().split("\n\n")[0].splitlines()  # per-job table
    assert len(table) == 2 + 3
    assert [line.split("|")[3].strip() for line in table[2:]] == ["list", "numpy", "optimal"]
    csv_lines = (sweep / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == 4 and "steps_per_s" in csv_lines[0]
    assert (sweep / "throughput.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "args",
    [
        ["algorithm=foo"],
        ["steps=0"],
        ["env=gym", "env.id=Nope-v0"],
        ["-m", "algorithm=list,foo"],
        ["env.num_envs=abc"],
        ["-m", "hydra/launcher=jobllib", "algorithm=list,numpy"],
        # keys nothing would read: refused, and never "add it with +key"
        ["+foo=1"],
        ["setps=100"],
        ["+algorithm.learning_rate=0.3"],
        ["env.id=Taxi-v4"],
        ["env.max_episode_steps=3"],
        ["+env.kwargs.foo=1"],
        # a rule that joins two keys, hit only by the sweep's third combination
        ["-m", "runtime=parallel", "algorithm=numpy,list", "runtime.sync=merge,shared"],
        ["checkpoint.every=-1"],
        ["env=base_env"],  # the schemas are not options (they are outside the groups)
        ["env=env_schema"],
        ["runtime=runtime_schema"],
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, args):
    proc = run_cli(
        [*args, f"hydra.run.dir={tmp_path / 'x'}", f"hydra.sweep.dir={tmp_path / 'y'}"],
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dist_classicrl: error: ")
    assert "Traceback" not in proc.stderr + proc.stdout and "+setps" not in proc.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # no work done


def unwritable_dir(tmp_path, kind):
    """An output dir the job cannot write (as root, modes do not stop it)."""
    if kind == "through a file":
        (tmp_path / "afile").write_text("")
        return tmp_path / "afile" / "out"
    if kind == "/proc":
        return Path("/proc/dist_classicrl_out")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(read_only)])
    if mount.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    return read_only / "out"


@pytest.mark.parametrize("kind", ["through a file", "/proc", "read-only mount"])
def test_an_unwritable_output_dir_is_refused_before_any_work(tmp_path, kind):
    out = unwritable_dir(tmp_path, kind)
    try:
        proc = run_cli([f"hydra.run.dir={out}"], cwd=tmp_path, timeout=60)
    finally:
        if kind == "read-only mount":
            subprocess.run(["umount", str(tmp_path / "ro")])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"hydra.run.dir={out}" in lines[0], proc.stderr


def test_configs_are_found_from_a_built_wheel_in_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("dist_classicrl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dist_classicrl/conf/config.yaml" in names
    assert "dist_classicrl/conf/algorithm/optimal.yaml" in names
    assert "dist_classicrl/conf/hydra/launcher/local_parallel.yaml" in names
    assert "dist_classicrl/wrappers/discretize.py" in names
    assert "dist_classicrl/conf/wrapper/discretize.yaml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    where = subprocess.run(
        [sys.executable, "-c", "import dist_classicrl.conf as c; print(c.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    proc = run_cli(
        ["steps=5000", "env.num_envs=8", f"hydra.run.dir={elsewhere / 'run'}"],
        cwd=elsewhere,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    check_job_dir(elsewhere / "run", "optimal", 5000)


def test_sigterm_stops_the_job_and_keeps_its_results(tmp_path):
    import signal
    import time

    out = tmp_path / "job"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dist_classicrl.run",
            "algorithm=list",
            "steps=1000000000",
            f"hydra.run.dir={out}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (out / "run.log").exists() and time.monotonic() < deadline:  # the job started
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr  # 128 + SIGTERM
    assert "Traceback" not in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    assert 0 <= metrics["steps"] < 1_000_000_000
    assert np.load(out / "q_table.npy", allow_pickle=False).shape == (3**9, 9)


@pytest.mark.parametrize("checkpoint_every", ["0", "null"])
def test_a_full_disk_leaves_no_truncated_file_and_says_so_in_one_line(tmp_path, checkpoint_every):
    """A 300 KB filesystem (a private mount) cannot hold the 700 KB TicTacToe table: the
    job fails with one line and exit 1, metrics.json keeps its "did not report" failure,
    and no truncated q_table.npy or checkpoint is left."""
    disk, out = tmp_path / "disk", tmp_path / "disk" / "job"
    disk.mkdir()
    app = [sys.executable, "-m", "dist_classicrl.run", "steps=100000"]
    app += [f"checkpoint.every={checkpoint_every}", f"hydra.run.dir={out}"]
    script = f"mount -t tmpfs -o size=300k tmpfs {disk} && " + " ".join(app)
    script += f" ; code=$? ; ls -A {out} ; cat {out}/metrics.json ; exit $code"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a private mount here (needs root and unshare)")
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0], proc.stderr
    listing, metrics = proc.stdout.split("{", 1)
    assert set(listing.split()) == {".hydra", "metrics.json", "run.log"}, listing
    metrics = json.loads("{" + metrics)
    assert metrics["status"] == "failed" and metrics["q_table_saved"] is False


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path):
    """Job 0's env raises mid-run: the sweep still runs job 1, writes its summary with
    job 0 as failed (the traceback in its metrics.json), and exits 1."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    sweep = tmp_path / "sweep"
    ids = "tests.app.failing_env:Failing-v0,Taxi-v4"
    args = ["-m", "env=gym", f"env.id={ids}", "steps=5000", "env.num_envs=2"]
    proc = run_cli([*args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("dist_classicrl: 1 job(s)")
    failed = json.loads((sweep / "0" / "metrics.json").read_text())
    assert failed["status"] == "failed" and "boom in the env" in failed["error"]
    assert not (sweep / "0" / "q_table.npy").exists()
    done = json.loads((sweep / "1" / "metrics.json").read_text())
    assert done["status"] == "completed" and done["steps"] == 5000
    per_job = (sweep / "summary.md").read_text().split("\n\n")[0].splitlines()
    statuses = [line.split("|")[16].strip() for line in per_job[2:]]
    assert statuses == ["failed", "completed"]


def test_help_offers_only_real_options_no_schema(tmp_path):
    proc = run_cli(["--help"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    groups = proc.stdout.split("== Config ==")[0]
    assert "env: blackjack, cartpole" in groups
    assert "runtime: distributed, parallel, single" in groups
    assert "schema" not in groups and "base_" not in groups


@pytest.mark.parametrize(
    ("bad", "reason"),
    [("-2", "seed=-2 is not allowed"), ("x", "seed=x: Value 'x' of type 'str' could not be")],
)
def test_a_bad_seed_among_many_is_refused_before_the_first_job(tmp_path, bad, reason):
    """Every seed of a sweep is checked (on the first job's config: a compose per seed
    would cost seconds for a 100-seed sweep) before any job runs."""
    seeds = ",".join([*map(str, range(40)), bad])
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", f"seed={seeds}", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"dist_classicrl: error: {reason}")
    assert not sweep.exists()
