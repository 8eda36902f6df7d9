"""The summary of a multirun: one row per job, as CSV, Markdown and a plot.

Hydra's ``on_multirun_end`` does not receive the jobs' return values, so the summary is
read back from the files every job writes; `summarize` also works on an old sweep
directory: ``python -m dist_classicrl.app.sweep multirun/2026-11-24/12-00-00``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from dist_classicrl.app.report import (
    plot_learning_curves,
    plot_sweep_throughput,
    plot_throughput_heatmap,
    varying_labels,
    write_csv,
    write_markdown,
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


def _job_row(metrics_path: Path) -> dict[str, Any]:
    metrics = json.loads(metrics_path.read_text())
    job_dir = metrics_path.parent
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    row = {"job": job_dir.name, "overrides": " ".join(overrides or [])}
    row.update({k: v for k, v in metrics.items() if k != "eval" and not isinstance(v, dict)})
    row.update({f"eval.{k}": v for k, v in (metrics.get("eval") or {}).items()})
    row.update({f"replay.{k}": v for k, v in (metrics.get("replay") or {}).items()})
    return row


def summarize(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write ``summary.csv``, ``summary.md``, ``throughput.png`` (a bar per job),
    ``learning_curves.png`` (every job's greedy evaluation overlaid) and, when the sweep
    varies ``num_envs`` or the worker count, ``throughput_heatmap.png`` into `sweep_dir`."""
    paths = sorted(
        sweep_dir.glob("*/metrics.json"),
        key=lambda p: (
            not p.parent.name.isdigit(),
            int(p.parent.name) if p.parent.name.isdigit() else 0,
            p.parent.name,
        ),
    )
    rows = [_job_row(p) for p in paths]
    if not rows:
        return rows
    write_csv(sweep_dir / "summary.csv", rows)
    eval_columns = sorted({k for r in rows for k in r if k.startswith(("eval.", "replay."))})
    write_markdown(sweep_dir / "summary.md", rows, COLUMNS + eval_columns)
    plot_sweep_throughput(rows, sweep_dir / "throughput.png")
    labels = varying_labels([row["overrides"] or row["job"] for row in rows])
    curves = {
        label: sweep_dir / row["job"] / "learning_curve.csv"
        for label, row in zip(labels, rows, strict=True)
    }
    plot_learning_curves(
        {k: p for k, p in curves.items() if p.exists()}, sweep_dir / "learning_curves.png"
    )
    if len({r.get("num_envs") for r in rows}) > 1 or len({r.get("workers") for r in rows}) > 1:
        plot_throughput_heatmap(rows, sweep_dir / "throughput_heatmap.png")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print(
            "usage: python -m dist_classicrl.app.sweep SWEEP_DIR (an existing directory)",
            file=sys.stderr,
        )
        return 2
    rows = summarize(Path(args[0]))
    print(f"summarised {len(rows)} jobs into {args[0]}/summary.md")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
