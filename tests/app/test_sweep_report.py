"""The sweep report: tables per job and per configuration (seeds aggregated), plots that
are real pictures (size, not blank) with a panel per env, and the terminal's short table."""

from __future__ import annotations

import csv
import json
import math

import matplotlib.image
import numpy as np
import pytest
from matplotlib.container import BarContainer
from omegaconf import OmegaConf

from dist_classicrl.app.callbacks import SweepSummary
from dist_classicrl.app.report import plot_learning_curves, plot_sweep_throughput, varying_labels
from dist_classicrl.app.sweep import (
    group_configurations,
    main,
    mean_ci95,
    mean_curve,
    summarize,
    t_975,
    write_report,
)
from tests.app.test_cli import run_cli


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
    per_job, by_config = (sweep / "summary.md").read_text().split("\n## By configuration\n")
    assert len(per_job.splitlines()) == 2 + len(jobs)
    assert len([line for line in by_config.splitlines() if line.startswith("| ")]) == 1 + 4
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


# -- seeds aggregated per configuration ----------------------------------------------------


def write_job(sweep, job, overrides, metrics, curve=None):
    """A job directory as `app.job` leaves it: metrics.json, overrides, learning_curve.csv."""
    d = sweep / str(job)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    base = {"algorithm": "numpy", "runtime": "single", "env": "Taxi-v4", "env_config": "taxi"}
    (d / "metrics.json").write_text(json.dumps({**base, "status": "completed", **metrics}))
    if curve:
        with (d / "learning_curve.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(curve[0]))
            writer.writeheader()
            writer.writerows(curve)


def ci95(values):
    """Computed here, independently of `app.sweep`: Student t with t_{0.975, 2} = 4.303."""
    values = np.asarray(values, dtype=float)
    assert len(values) == 3
    half = 4.303 * values.std(ddof=1) / np.sqrt(3)
    return values.mean(), values.mean() - half, values.mean() + half


# two configurations (algorithm=list, algorithm=numpy) x seeds 0, 1, 2
KNOWN = {
    "list": {"steps_per_s": [1.0e6, 1.3e6, 0.8e6], "gap": [0.5, 0.25, 0.0], "ret": [-3, 1, 5]},
    "numpy": {"steps_per_s": [4.0e6, 4.4e6, 3.9e6], "gap": [0.1, 0.1, 0.4], "ret": [7, 8, 8.5]},
}


def known_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    job = 0
    for algorithm, known in KNOWN.items():
        for seed in range(3):
            metrics = {
                "seed": seed,
                "steps": 1000,
                "steps_per_s": known["steps_per_s"][seed],
                "train_mean_return": known["ret"][seed] - 1,
                "eval": {"mean_return": known["ret"][seed], "optimality_gap": known["gap"][seed]},
            }
            curve = [
                {"step": s, "eval_mean_return": known["ret"][seed] * s / 1000} for s in (500, 1000)
            ]
            write_job(sweep, job, [f"algorithm={algorithm}", f"seed={seed}", "steps=1000"],
                      metrics, curve)  # fmt: skip
            job += 1
    return sweep


def test_by_config_csv_has_the_mean_and_t_interval_of_each_metric_over_seeds(tmp_path):
    sweep = known_sweep(tmp_path)
    assert len(summarize(sweep)) == 6
    assert len(list(csv.DictReader((sweep / "summary.csv").open()))) == 6  # per job, still
    rows = list(csv.DictReader((sweep / "summary_by_config.csv").open()))
    assert [r["overrides"] for r in rows] == [
        "algorithm=list steps=1000",
        "algorithm=numpy steps=1000",
    ]
    assert [r["config"] for r in rows] == ["algorithm=list", "algorithm=numpy"]
    for row, known in zip(rows, KNOWN.values(), strict=True):
        assert (row["n_seeds"], row["seeds"], row["status"]) == ("3", "0 1 2", "3 completed")
        for column, values in (
            ("steps_per_s", known["steps_per_s"]),
            ("eval.optimality_gap", known["gap"]),
            ("eval.mean_return", known["ret"]),
            ("train_mean_return", [r - 1 for r in known["ret"]]),
        ):
            got = [float(row[f"{column}_{s}"]) for s in ("mean", "ci95_low", "ci95_high")]
            assert got == pytest.approx(ci95(values), rel=1e-12), column
    # summary.csv: each job carries its configuration's mean and interval too
    jobs = list(csv.DictReader((sweep / "summary.csv").open()))
    for job in jobs:
        (config,) = [r for r in rows if r["config"] == job["config"]]
        assert job["n_seeds"] == "3"
        for column in ("eval.optimality_gap_mean", "eval.optimality_gap_ci95_low"):
            assert job[column] == config[column]
    assert jobs[0]["eval.optimality_gap_mean"] != jobs[3]["eval.optimality_gap_mean"]
    section = (sweep / "summary.md").read_text().split("## By configuration")[1]
    assert "| algorithm=numpy steps=1000 | 3 | 3 completed |" in section
    assert f"| {4.1e6:,.0f} ± {ci95([4.0e6, 4.4e6, 3.9e6])[2] - 4.1e6:,.0f} |" in section


def test_a_failed_seed_counts_but_its_figures_do_not_and_one_seed_has_no_interval(tmp_path):
    sweep = tmp_path / "sweep"
    for job, (seed, status, rate) in enumerate([(0, "completed", 2e6), (1, "failed", None)]):
        metrics = {"seed": seed, "steps": 10, "status": status, "steps_per_s": rate}
        write_job(sweep, job, [f"seed={seed}"], metrics)
    (row,) = write_report(sweep).configs
    assert (row["n_seeds"], row["n_completed"], row["status"]) == (2, 1, "1 completed, 1 failed")
    assert row["steps_per_s_mean"] == 2e6
    assert row["steps_per_s_ci95_low"] is None and row["steps_per_s_ci95_high"] is None


def test_t_quantiles_and_the_interval_of_columns_with_missing_values():
    assert (t_975(1), t_975(2), t_975(30), t_975(31), t_975(1000)) == (
        12.706, 4.303, 2.042, 1.96, 1.96,
    )  # fmt: skip
    assert math.isnan(t_975(0))
    stats = pytest.importorskip("scipy.stats")  # not a dependency: checked where installed
    assert [t_975(df) for df in range(1, 31)] == [
        pytest.approx(stats.t.ppf(0.975, df), abs=5e-4) for df in range(1, 31)
    ]
    values = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, 4.0, np.nan]])
    mean, low, high = mean_ci95(values)
    assert mean[:2].tolist() == [3.0, 3.0] and math.isnan(mean[2])
    assert high[0] - mean[0] == pytest.approx(4.303 * 2 / np.sqrt(3))
    assert high[1] - mean[1] == pytest.approx(12.706 * np.sqrt(2) / np.sqrt(2))
    assert math.isnan(low[2]) and math.isnan(high[2])


def test_mean_curve_on_the_first_seed_s_steps_and_others_interpolated(tmp_path):
    sweep = tmp_path / "sweep"
    curves = [
        [{"step": s, "eval_mean_return": s / 100} for s in (100, 200, 300)],
        [{"step": s, "eval_mean_return": s / 100 + 1} for s in (100, 200, 300)],
        [{"step": s, "eval_mean_return": s / 100 + 2} for s in (150, 250)],  # other steps
    ]
    for job, curve in enumerate(curves):
        write_job(sweep, job, [f"seed={job}"], {"seed": job}, curve)
    rows = [json.loads((sweep / str(j) / "metrics.json").read_text()) for j in range(3)]
    jobs = [({**r, "job": str(j)}, [f"seed={j}"]) for j, r in enumerate(rows)]
    (config,) = group_configurations(jobs)
    curve = mean_curve(config, sweep)
    assert curve is not None and curve.steps.tolist() == [100, 200, 300]
    mean = curve.mean["eval_mean_return"]
    # at 200 the third curve interpolates to 4.0; at 100 and 300 it has no value
    assert mean.tolist() == pytest.approx([1.5, (2 + 3 + 4) / 3, 3.5])
    half = curve.high["eval_mean_return"] - mean
    assert half.tolist() == pytest.approx(
        [12.706 * np.std([1, 2], ddof=1) / np.sqrt(2), 4.303 * 1 / np.sqrt(3), half[2]]
    )


def test_two_envs_get_their_own_panels_with_their_own_y_ranges(tmp_path):
    sweep = tmp_path / "sweep"
    envs = {"taxi": ("Taxi-v4", -200.0, 8.0), "frozenlake": ("FrozenLake-v1", 0.0, 0.74)}
    job = 0
    for option, (name, start, end) in envs.items():
        for seed in range(3):
            metrics = {"env": name, "env_config": option, "seed": seed, "steps_per_s": 1e6}
            curve = [
                {"step": s, "eval_mean_return": start + (end - start) * s / 4 + 0.01 * seed}
                for s in range(5)
            ]
            write_job(sweep, job, [f"env={option}", f"seed={seed}"], metrics, curve)
            job += 1
    report = write_report(sweep)
    assert_real_picture(sweep / "learning_curves.png")
    configs = group_configurations(
        [(row, row["overrides"].split()) for row in report.jobs]
    )  # as write_report groups them
    curves = [c for c in (mean_curve(c, sweep) for c in configs) if c]
    figure = plot_learning_curves(curves, tmp_path / "curves.png")
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["taxi (Taxi-v4)", "frozenlake (FrozenLake-v1)"]
    (taxi_low, taxi_high), (lake_low, lake_high) = (ax.get_ylim() for ax in axes)
    assert taxi_low < -150 and taxi_high > 0
    assert -0.5 < lake_low < 0.1 and 0.7 < lake_high < 1.0  # not squashed by Taxi's range
    bars = plot_sweep_throughput(report.configs, tmp_path / "bars.png")
    assert [ax.get_title() for ax in bars.axes] == ["taxi (Taxi-v4)", "frozenlake (FrozenLake-v1)"]


def test_throughput_bars_carry_the_interval_as_error_bars(tmp_path):
    sweep = known_sweep(tmp_path)
    report = write_report(sweep)
    figure = plot_sweep_throughput(report.configs, tmp_path / "bars.png")
    (ax,) = figure.axes
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [b.get_width() for b in bars] == pytest.approx([1.0333333, 4.1], rel=1e-6)
    (segments,) = [c.get_segments() for c in bars.errorbar.lines[2]]
    for segment, known in zip(segments, KNOWN.values(), strict=True):
        _, low, high = ci95(known["steps_per_s"])
        assert [x for x, _ in segment] == pytest.approx([low / 1e6, high / 1e6])


def test_the_terminal_table_of_60_jobs_is_short_and_narrow(tmp_path):
    sweep = tmp_path / "sweep"
    long = "+env.kwargs.map_name=a_rather_long_value_that_would_never_fit_in_a_terminal_column"
    for job in range(60):
        config, seed = divmod(job, 2)
        metrics = {"seed": seed, "steps_per_s": 1e6 * (config + 1) + seed, "steps": 100,
                   "eval": {"mean_return": 1.0 * config + seed}}  # fmt: skip
        write_job(sweep, job, [f"env.num_envs={config}", long, f"seed={seed}"], metrics)
    text = write_report(sweep).terminal()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, text
    assert len(lines) <= 25, text
    assert "sweep: 60 jobs in 30 configurations" in lines[0]
    assert "... 10 more, see summary.md" in text
    assert str(sweep) in text and "summary_by_config.csv" in text
    # configuration 0: seeds with returns 0 and 1 -> 0.5 +- 12.706 * 0.7071 / 1.414
    assert lines[2].split()[:5] == ["env.num_envs=0", "2", "2", "ok", "0.5"]
    assert f"+- {12.706 * np.std([0, 1], ddof=1) / np.sqrt(2):.2g}" in lines[2]


def test_the_end_of_a_sweep_prints_the_short_table_not_the_markdown(tmp_path, capsys):
    sweep = known_sweep(tmp_path)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    SweepSummary().on_multirun_end(config=config)
    out = capsys.readouterr().out
    assert "sweep: 6 jobs in 2 configurations" in out and "optimality gap" in out
    assert "|" not in out and (sweep / "summary_by_config.csv").exists()


def test_a_real_sweep_over_two_envs_and_two_seeds(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["-m", "env=taxi,frozenlake", "seed=0,1", "steps=20000", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((sweep / "summary_by_config.csv").open()))
    assert [(r["config"], r["n_seeds"], r["n_completed"]) for r in rows] == [
        ("env=taxi", "2", "2"),
        ("env=frozenlake", "2", "2"),
    ]
    for row in rows:
        for metric in ("steps_per_s", "eval.mean_return", "eval.optimality_gap"):
            low, mean, high = (
                float(row[f"{metric}_{s}"]) for s in ("ci95_low", "mean", "ci95_high")
            )
            assert low <= mean <= high, (metric, row)
    assert "sweep: 4 jobs in 2 configurations" in proc.stdout
    assert "| job |" not in proc.stdout  # the wide Markdown table stays in summary.md
    assert_real_picture(sweep / "learning_curves.png")
