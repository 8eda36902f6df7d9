"""The sweep report: table, and plots that are real pictures (size, not blank)."""

from __future__ import annotations

import csv
import json

import matplotlib.image
import numpy as np

from dist_classicrl.app.report import varying_labels
from dist_classicrl.app.sweep import main, summarize


def fake_job(sweep, job, overrides, num_envs, workers, rate):
    d = sweep / str(job)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    metrics = {
        "algorithm": "optimal",
        "runtime": "parallel",
        "env": "tictactoe",
        "workers": workers,
        "num_envs": num_envs,
        "steps": 1000,
        "seed": 0,
        "steps_per_s": rate,
        "status": "completed",
        "eval": {"mean_return": 0.5},
    }
    (d / "metrics.json").write_text(json.dumps(metrics))
    with (d / "learning_curve.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "eval_mean_return"])
        writer.writeheader()
        writer.writerows(
            {"step": s, "eval_mean_return": s / 1000 * rate / 4e7} for s in (250, 500, 1000)
        )


def assert_real_picture(path, min_width=300):
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert width >= min_width and height >= 150
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 20  # not blank


def test_summary_and_plots_of_a_sweep_over_workers_and_num_envs(tmp_path):
    sweep = tmp_path / "sweep"
    jobs = [(1, 16, 1.0e7), (1, 256, 1.2e7), (2, 16, 1.8e7), (2, 256, 2.1e7)]
    for job, (workers, num_envs, rate) in enumerate(jobs):
        fake_job(
            sweep,
            job,
            ["runtime=parallel", f"runtime.num_workers={workers}", f"env.num_envs={num_envs}"],
            num_envs,
            workers,
            rate,
        )
    assert main([str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [float(r["steps_per_s"]) for r in rows] == [r for _, _, r in jobs]
    assert len((sweep / "summary.md").read_text().splitlines()) == 2 + len(jobs)
    for name in ("throughput.png", "learning_curves.png", "throughput_heatmap.png"):
        assert_real_picture(sweep / name)


def test_no_heatmap_when_neither_workers_nor_num_envs_vary(tmp_path):
    sweep = tmp_path / "sweep"
    for job, seed in enumerate((0, 1)):
        fake_job(sweep, job, [f"seed={seed}"], 64, 1, 1e7)
    summarize(sweep)
    assert (sweep / "learning_curves.png").exists()
    assert not (sweep / "throughput_heatmap.png").exists()


def test_labels_keep_only_what_differs_between_jobs():
    labels = varying_labels(["runtime=parallel a=1 b=2", "runtime=parallel a=1 b=3"])
    assert labels == ["b=2", "b=3"]
    assert varying_labels(["x=1"]) == ["defaults"]


def test_regenerating_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "usage" in capsys.readouterr().err
