"""The summary of a multirun: one row per job, and one per configuration (the jobs whose
overrides differ only by ``seed``, aggregated over the seeds), as CSV, Markdown, plots and
a short table for the terminal.

Hydra's ``on_multirun_end`` does not receive the jobs' return values, so the summary is
read back from the files every job writes; `summarize` also works on an old sweep
directory: ``python -m dist_classicrl.app.sweep multirun/2026-11-24/12-00-00``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dist_classicrl.app.report import (
    CURVE_METRICS,
    MeanCurve,
    env_title,
    format_cell,
    markdown_table,
    plot_learning_curves,
    plot_sweep_throughput,
    plot_throughput_heatmap,
    varying_override_labels,
    write_csv,
)

COLUMNS = [
    "job",
    "overrides",
    "algorithm",
    "rule",
    "runtime",
    "env",
    "env_config",
    "workers",
    "num_envs",
    "steps",
    "seed",
    "steps_per_s",
    "train_time_s",
    "compile_time_s",
    "episodes",
    "status",
]

# Student t quantiles t_{0.975, df} for df = 1..30 (scipy is not a dependency). Beyond 30
# degrees of freedom the normal quantile 1.96 stands in: t_{0.975, 31} is 2.040, so such an
# interval is at most 4% too narrow.
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

# the learning metric the terminal table shows: the first that every configuration has
MAIN_METRICS = {
    "eval.optimality_gap": "optimality gap",
    "eval.mean_return": "greedy return",
    "train_mean_return": "train return",
}


def t_975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (NaN below 1)."""
    if df < 1:
        return math.nan
    return T_975[df - 1] if df <= len(T_975) else 1.96


def mean_ci95(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of `values` (seeds x points), over its finite entries: the mean and the
    bounds of the 95% interval mean ± t_{0.975, n-1} * sd / sqrt(n) (sd with n - 1).
    The mean is NaN without a value, the bounds with fewer than 2."""
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0).sum(axis=0) / n
        var = (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        half = np.array([t_975(int(k) - 1) for k in n]) * np.sqrt(var / n)
    half = np.where(n >= 2, half, np.nan)
    return mean, mean - half, mean + half


def _number(value: Any) -> float:
    """A metric as a float; NaN for what is not a number (None: NaN in ``metrics.json``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def job_overrides(job_dir: Path) -> list[str]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.exists():
        return []
    return [str(o) for o in yaml.safe_load(overrides_file.read_text()) or []]


def job_row(metrics_path: Path, overrides: list[str]) -> dict[str, Any]:
    metrics = json.loads(metrics_path.read_text())
    row = {"job": metrics_path.parent.name, "overrides": " ".join(overrides)}
    row.update({k: v for k, v in metrics.items() if k != "eval" and not isinstance(v, dict)})
    row.update({f"eval.{k}": v for k, v in (metrics.get("eval") or {}).items()})
    row.update({f"replay.{k}": v for k, v in (metrics.get("replay") or {}).items()})
    return row


def _is_seed(override: str) -> bool:
    return override.lstrip("+~").split("=", 1)[0] == "seed"


@dataclass
class Configuration:
    """The jobs of a sweep whose overrides differ only by ``seed``."""

    overrides: list[str]  # the jobs' overrides without seed
    jobs: list[dict[str, Any]] = field(default_factory=list)  # their summary.csv rows
    label: str = "defaults"  # the overrides that differ between configurations

    @property
    def completed(self) -> list[dict[str, Any]]:
        """The jobs the figures are taken from: an interrupted or failed job's are not of
        the configuration's full run."""
        return [j for j in self.jobs if j.get("status", "completed") == "completed"]


def group_configurations(jobs: list[tuple[dict[str, Any], list[str]]]) -> list[Configuration]:
    """(row, overrides) per job -> configurations, in order of their first job."""
    groups: dict[tuple[str, ...], Configuration] = {}
    for row, overrides in jobs:
        key = tuple(o for o in overrides if not _is_seed(o))
        groups.setdefault(key, Configuration(list(key))).jobs.append(row)
    configs = list(groups.values())
    if len(configs) == 1:  # nothing to tell apart: say what it ran
        configs[0].label = " ".join(configs[0].overrides) or "defaults"
    else:
        labels = varying_override_labels([c.overrides for c in configs])
        for config, label in zip(configs, labels, strict=True):
            config.label = label
    return configs


def numeric_metrics(rows: list[dict[str, Any]]) -> list[str]:
    """The per-job figures a configuration averages: ``steps_per_s``, ``train_mean_return``
    and every numeric ``eval.*`` and ``replay.*`` column."""
    numeric = {k for r in rows for k, v in r.items() if math.isfinite(_number(v))}
    head = [k for k in ("steps_per_s", "train_mean_return") if any(k in r for r in rows)]
    return head + sorted(k for k in numeric if k.startswith(("eval.", "replay.")))


def _status_counts(jobs: list[dict[str, Any]]) -> str:
    counts = Counter(str(j.get("status", "completed")) for j in jobs)
    return ", ".join(f"{n} {status}" for status, n in counts.most_common())


def config_row(config: Configuration, metrics: list[str]) -> dict[str, Any]:
    """A row of ``summary_by_config.csv``: the configuration, its seeds and, per metric, the
    mean and 95% interval over its completed jobs (None where undefined)."""
    first = config.jobs[0]
    done = config.completed
    row: dict[str, Any] = {
        "config": config.label,
        "overrides": " ".join(config.overrides),
        "env_config": first.get("env_config"),
        "env": first.get("env"),
        "steps": first.get("steps"),
        "n_seeds": len(config.jobs),
        "seeds": " ".join(str(j.get("seed")) for j in config.jobs),
        "n_completed": len(done),
        "status": _status_counts(config.jobs),
    }
    for metric in metrics:
        values = np.array([_number(j.get(metric)) for j in done], dtype=float)
        mean, low, high = (_or_none(float(a[0])) for a in mean_ci95(values[:, None]))
        row |= {f"{metric}_mean": mean, f"{metric}_ci95_low": low, f"{metric}_ci95_high": high}
    return row


def _read_curve(path: Path) -> dict[str, np.ndarray]:
    """``step`` and the `CURVE_METRICS` a job's ``learning_curve.csv`` has."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    columns = ["step", *(m for m in CURVE_METRICS if rows and m in rows[0])]
    return {c: np.array([float(r[c] or "nan") for r in rows]) for c in columns}


def mean_curve(config: Configuration, sweep_dir: Path) -> MeanCurve | None:
    """The mean learning curve of a configuration's completed jobs, on the first one's
    steps (a curve with other steps is interpolated, and NaN outside its range)."""
    paths = [sweep_dir / str(j["job"]) / "learning_curve.csv" for j in config.completed]
    curves = [c for c in (_read_curve(p) for p in paths if p.exists()) if len(c["step"])]
    if not curves:
        return None
    grid = curves[0]["step"]
    result = MeanCurve(config.label, env_title(config.jobs[0]), grid, len(curves))
    for metric in CURVE_METRICS:
        if not any(metric in c for c in curves):
            continue
        matrix = np.full((len(curves), len(grid)), np.nan)
        for i, curve in enumerate(curves):
            if metric not in curve:
                continue
            if np.array_equal(curve["step"], grid):
                matrix[i] = curve[metric]
            else:
                matrix[i] = np.interp(grid, curve["step"], curve[metric], np.nan, np.nan)
        result.mean[metric], result.low[metric], result.high[metric] = mean_ci95(matrix)
    return result


@dataclass
class SweepReport:
    """What `write_report` wrote: the rows of ``summary.csv`` and ``summary_by_config.csv``."""

    sweep_dir: Path
    jobs: list[dict[str, Any]]
    configs: list[dict[str, Any]]

    def terminal(self, width: int = 100, max_rows: int = 20) -> str:
        """A short table for the terminal: a row per configuration (the first `max_rows`),
        with its seeds, their statuses, the main learning metric and the throughput as
        mean +- half the 95% interval; then where the full tables are."""
        metric = main_metric(self.configs)
        headers = ["configuration", "seeds", "status"]
        headers += [MAIN_METRICS[metric] if metric else "", "M steps/s"]
        cells = [
            [
                str(c["config"]),
                str(c["n_seeds"]),
                _short_status(c),
                _plus_minus(c, metric) if metric else "",
                _plus_minus(c, "steps_per_s"),
            ]
            for c in self.configs[:max_rows]
        ]
        widths = [max(len(r[i]) for r in [headers, *cells]) for i in range(len(headers))]
        widths[0] = max(12, min(widths[0], width - sum(widths[1:]) - 2 * (len(widths) - 1)))

        def line(row: list[str]) -> str:
            label = row[0] if len(row[0]) <= widths[0] else row[0][: widths[0] - 3] + "..."
            parts = [label.ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
            parts += [row[3].rjust(widths[3]), row[4].rjust(widths[4])]
            return "  ".join(parts).rstrip()

        lines = [
            f"sweep: {len(self.jobs)} jobs in {len(self.configs)} configurations"
            " (mean +- 95% interval over the completed seeds)",
            line(headers),
            *(line(row) for row in cells),
        ]
        if len(self.configs) > max_rows:
            lines.append(f"... {len(self.configs) - max_rows} more, see summary.md")
        files = "full tables: summary.md, summary_by_config.csv, summary.csv, plots in"
        where = f"{files} {self.sweep_dir}"
        lines += [where] if len(where) <= width else [files, f"  {self.sweep_dir}"]
        return "\n".join(lines)


def main_metric(configs: list[dict[str, Any]]) -> str | None:
    """The first of `MAIN_METRICS` every configuration with a completed job has."""
    measured = [c for c in configs if c["n_completed"]]
    for metric in MAIN_METRICS:
        if measured and all(c.get(f"{metric}_mean") is not None for c in measured):
            return metric
    present = (m for m in MAIN_METRICS if any(c.get(f"{m}_mean") is not None for c in configs))
    return next(present, None)


def _short_status(config: dict[str, Any]) -> str:
    return str(config["status"]).replace("completed", "ok")


# how the terminal writes a metric: scale, format of the mean, of the half-interval
TERMINAL_FORMATS = {
    "eval.optimality_gap": (100.0, "{:.2f}%", "{:.2f}%"),  # a fraction of the optimal value
    "steps_per_s": (1e-6, "{:.2f}", "{:.2f}"),  # in millions, as the header says
}


def _plus_minus(config: dict[str, Any], metric: str) -> str:
    """A configuration's `metric` for the terminal: mean +- half the 95% interval."""
    mean, high = config.get(f"{metric}_mean"), config.get(f"{metric}_ci95_high")
    if mean is None:
        return "-"
    scale, mean_format, half_format = TERMINAL_FORMATS.get(metric, (1.0, "{:.4g}", "{:.2g}"))
    text = mean_format.format(mean * scale)
    if float(text.rstrip("%")) == 0:
        text = text.removeprefix("-")  # a gap of -1e-11 is 0.00%, not -0.00%
    return text if high is None else f"{text} +- {half_format.format((high - mean) * scale)}"


def write_report(sweep_dir: Path) -> SweepReport:
    """Write into `sweep_dir`:

    - ``summary.csv``: a row per job; ``summary.md``: the same as a Markdown table, then a
      section with a row per configuration;
    - ``summary_by_config.csv``: a row per configuration (jobs whose overrides differ only by
      ``seed``): its overrides without seed, ``n_seeds`` and, for every numeric metric,
      ``<metric>_mean``, ``<metric>_ci95_low``, ``<metric>_ci95_high`` over its completed
      jobs;
    - ``throughput.png`` (a bar per configuration, with error bars) and
      ``learning_curves.png`` (a mean curve per configuration, with a 95% band), a panel
      per env; when the sweep varies ``num_envs`` or the worker count,
      ``throughput_heatmap.png``.
    """
    paths = sorted(
        sweep_dir.glob("*/metrics.json"),
        key=lambda p: (
            not p.parent.name.isdigit(),
            int(p.parent.name) if p.parent.name.isdigit() else 0,
            p.parent.name,
        ),
    )
    jobs = []
    for path in paths:
        overrides = job_overrides(path.parent)
        jobs.append((job_row(path, overrides), overrides))
    rows = [row for row, _ in jobs]
    if not rows:
        return SweepReport(sweep_dir, [], [])
    configurations = group_configurations(jobs)
    metrics = numeric_metrics(rows)
    configs = [config_row(c, metrics) for c in configurations]
    write_csv(sweep_dir / "summary.csv", _with_config_columns(rows, configurations, configs))
    write_csv(sweep_dir / "summary_by_config.csv", configs)
    _write_summary_md(sweep_dir / "summary.md", rows, configs, metrics)
    plot_sweep_throughput(configs, sweep_dir / "throughput.png")
    curves = [mean_curve(c, sweep_dir) for c in configurations]
    plot_learning_curves([c for c in curves if c], sweep_dir / "learning_curves.png")
    if len({r.get("num_envs") for r in rows}) > 1 or len({r.get("workers") for r in rows}) > 1:
        plot_throughput_heatmap(rows, sweep_dir / "throughput_heatmap.png")
    return SweepReport(sweep_dir, rows, configs)


def _with_config_columns(
    rows: list[dict[str, Any]], configurations: list[Configuration], configs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``summary.csv``'s rows: each job, then its configuration's ``config``, ``n_seeds``
    and mean and 95% interval columns (the same in every job of the configuration), so
    that one file answers both "what did this seed do" and "how sure is the mean"."""
    by_job = {}
    for configuration, config in zip(configurations, configs, strict=True):
        aggregate = {"config": config["config"], "n_seeds": config["n_seeds"]}
        aggregate |= {k: v for k, v in config.items() if k.endswith(("_mean", "_low", "_high"))}
        for job in configuration.jobs:
            by_job[id(job)] = aggregate
    return [{**row, **by_job.get(id(row), {})} for row in rows]


def _write_summary_md(
    path: Path, rows: list[dict[str, Any]], configs: list[dict[str, Any]], metrics: list[str]
) -> None:
    extra = sorted({k for r in rows for k in r if k.startswith(("eval.", "replay."))})
    by_config = [
        {
            "overrides (without seed)": c["overrides"] or "defaults",
            "n_seeds": c["n_seeds"],
            "status": c["status"],
            **{m: _md_cell(c, m) for m in metrics},
        }
        for c in configs
    ]
    path.write_text(
        markdown_table(rows, COLUMNS + extra)
        + "\n## By configuration\n\n"
        + "Jobs whose overrides differ only by `seed`: mean ± half the 95% interval (Student t)"
        + " over the completed seeds; the bounds are in `summary_by_config.csv`.\n\n"
        + markdown_table(by_config, list(by_config[0]))
    )


def _md_cell(config: dict[str, Any], metric: str) -> str:
    mean, high = config.get(f"{metric}_mean"), config.get(f"{metric}_ci95_high")
    if mean is None:
        return ""
    return format_cell(mean) + (f" ± {format_cell(high - mean)}" if high is not None else "")


def summarize(sweep_dir: Path) -> list[dict[str, Any]]:
    """`write_report`, returning the per-job rows (``summary.csv``)."""
    return write_report(sweep_dir).jobs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print(
            "usage: python -m dist_classicrl.app.sweep SWEEP_DIR (an existing directory)",
            file=sys.stderr,
        )
        return 2
    report = write_report(Path(args[0]))
    if not report.jobs:
        print(f"no job (*/metrics.json) in {args[0]}", file=sys.stderr)
        return 1
    print(report.terminal())
    return 0


if __name__ == "__main__":
    sys.exit(main())
