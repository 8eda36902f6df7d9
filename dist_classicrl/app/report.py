"""Tables and plots: a job's learning curve, and a sweep's summary.

A sweep's plots never put two envs on one axis (Taxi's returns are about 8, FrozenLake's
between 0 and 1): one panel per env, and per metric where several are drawn.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from types import ModuleType

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` with the Agg backend (files only; never needs a display),
    imported when a figure is drawn: the import takes a third of a second, and a job
    draws its figures in a helper process (`app.figures`) that imports it while the
    job trains."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows with possibly different keys; columns in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def format_cell(v: Any) -> str:
    """A table cell: a float with 4 significant digits (whole from 10,000), None empty."""
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return "" if v is None else str(v)


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    fmt = format_cell
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    path.write_text(markdown_table(rows, columns))


GAP_FLOOR = 1e-6  # an optimality gap of 0 is drawn here on a log axis


def plot_learning_curve(
    curve: list[dict[str, float]],
    path: Path,
    title: str,
    train_label: str = "training (epsilon-greedy)",
) -> None:
    """Training return and greedy evaluation against env steps."""
    steps = [r["step"] for r in curve]
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(steps, [r["train_mean_return"] for r in curve], "o-", label=train_label)
    top.plot(
        steps, [r.get("eval_mean_return", float("nan")) for r in curve], "s-", label="greedy policy"
    )
    top.set_ylabel("mean return per episode")
    top.legend()
    top.grid(alpha=0.3)
    if curve and "eval_win_rate" in curve[0]:
        for key, label in (
            ("eval_win_rate", "win"),
            ("eval_draw_rate", "draw"),
            ("eval_loss_rate", "loss"),
        ):
            if "eval_vs_perfect_loss_rate" in curve[0]:
                label += " vs random"
            bottom.plot(steps, [r[key] for r in curve], "o-", label=label)
        if "eval_vs_perfect_loss_rate" in curve[0]:  # TicTacToe: also the perfect player
            losses = [r["eval_vs_perfect_loss_rate"] for r in curve]
            bottom.plot(steps, losses, "x--", color="black", label="loss vs perfect")
        bottom.set_ylabel("greedy outcome rate (exact)")
        bottom.legend()
    elif curve and "eval_optimality_gap" in curve[0]:
        gaps = [r["eval_optimality_gap"] for r in curve]
        bottom.plot(steps, [max(g, GAP_FLOOR) for g in gaps], "o-")  # a log axis has no 0
        bottom.set_yscale("log")
        floor = " (0 drawn at 1e-6)" if min(gaps) < GAP_FLOOR else ""
        bottom.set_ylabel(f"optimality gap of greedy policy{floor}")
    else:
        bottom.plot(steps, [r["epsilon"] for r in curve], "o-", label="epsilon")
        bottom.plot(steps, [r["learning_rate"] for r in curve], "o-", label="learning rate")
        bottom.legend()
    bottom.set_xlabel("env steps learned")
    bottom.grid(alpha=0.3)
    fig.suptitle(title)
    # fixed margins: every job draws this, and tight_layout takes 40% of its time
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.08, top=0.93, hspace=0.07)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def varying_labels(overrides: list[str]) -> list[str]:
    """Per job, only the overrides that differ between jobs (what a reader compares)."""
    return varying_override_labels([o.split() for o in overrides])


def varying_override_labels(overrides: list[list[str]]) -> list[str]:
    """`varying_labels` for lists of overrides (a value may hold a space)."""
    common = set.intersection(*(set(o) for o in overrides)) if overrides else set()
    return [" ".join(o for o in os if o not in common) or "defaults" for os in overrides]


def env_title(row: Mapping[str, Any]) -> str:
    """The env a job or configuration ran, for a panel title: the config option and, when it
    says something more, the env's name (``frozenlake8x8 (FrozenLake-v1)``)."""
    option, name = row.get("env_config"), row.get("env")
    if option and name and str(option).lower() != str(name).lower():
        return f"{option} ({name})"
    return str(option or name or "unknown env")


def _by_env(items: list[Any], titles: list[str]) -> dict[str, list[Any]]:
    """`items` split by env title, envs and items in first-seen order."""
    groups: dict[str, list[Any]] = {}
    for item, title in zip(items, titles, strict=True):
        groups.setdefault(title, []).append(item)
    return groups


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and np.isfinite(value) else None


def plot_sweep_throughput(configs: list[dict[str, Any]], path: Path) -> Figure:
    """Learned M env steps/s per configuration: the mean over its completed seeds with the
    95% interval as an error bar; one panel per env. `configs` are the rows of
    ``summary_by_config.csv`` (`app.sweep`)."""
    groups = _by_env(configs, [env_title(c) for c in configs])
    plt = pyplot()
    fig, axes = plt.subplots(
        len(groups),
        1,
        figsize=(9, 0.45 * len(configs) + 1.1 * len(groups) + 0.6),
        height_ratios=[len(g) + 1.5 for g in groups.values()],
        squeeze=False,
        layout="constrained",  # leaves room for the figure's title, unlike tight_layout
    )
    for ax, (title, group) in zip(axes[:, 0], groups.items(), strict=True):
        means = [(_finite(c.get("steps_per_s_mean")) or 0.0) / 1e6 for c in group]
        halves = [
            (high - mean) / 1e6
            if (mean := _finite(c.get("steps_per_s_mean"))) is not None
            and (high := _finite(c.get("steps_per_s_ci95_high"))) is not None
            else 0.0
            for c in group
        ]
        ax.barh(range(len(group)), means, 0.6, xerr=halves, capsize=3, color="tab:blue")
        ax.set_yticks(range(len(group)), [str(c["config"]) for c in group], fontsize=8)
        ax.invert_yaxis()
        for i, (mean, half, c) in enumerate(zip(means, halves, group, strict=True)):
            if not c.get("n_completed"):
                text = " no completed job"
            elif c.get("steps") == 0:  # steps=0: init_q_table evaluated, no training
                text = " evaluation only (steps=0)"
            else:
                text = f" {mean:.2f}" + (f" ± {half:.2f}" if half else "")
                text += f"  (n={c['n_completed']})"
            ax.text(mean + half, i, text, va="center", fontsize=8)
        right = max((m + h for m, h in zip(means, halves, strict=True)), default=0.0)
        ax.set_xlim(0, right * 1.35 or 1.0)  # room for the labels; all 0 stays readable
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("M env steps / s (training); mean and 95% interval over seeds")
    fig.suptitle("Throughput per configuration")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


@dataclass
class MeanCurve:
    """One configuration's learning curve: per metric (``eval_mean_return``, ...) the mean
    over its seeds at each step and the 95% interval (NaN where fewer than 2 seeds)."""

    label: str
    env: str  # the panel: `env_title`
    steps: np.ndarray
    n_seeds: int
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    low: dict[str, np.ndarray] = field(default_factory=dict)
    high: dict[str, np.ndarray] = field(default_factory=dict)


CURVE_METRICS = {
    "eval_mean_return": "greedy mean return",
    "eval_optimality_gap": "optimality gap (log)",
}


def plot_learning_curves(curves: list[MeanCurve], path: Path) -> Figure:
    """Each configuration's mean curve with a shaded 95% band; a column of panels per env
    (at most 3 envs a row), a row per metric of `CURVE_METRICS` that some curve has."""
    groups: dict[str, list[MeanCurve]] = _by_env(curves, [c.env for c in curves])
    metrics = [m for m in CURVE_METRICS if any(m in c.mean for c in curves)] or [
        next(iter(CURVE_METRICS))
    ]
    ncols = min(len(groups), 3) or 1
    blocks = -(-len(groups) // ncols) or 1
    nrows = blocks * len(metrics)
    plt = pyplot()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5.5 * ncols, 3.4 * nrows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.set_visible(False)  # the grid's unused cells
    for index, (env, group) in enumerate(groups.items()):
        block, col = divmod(index, ncols)
        for mi, metric in enumerate(metrics):
            ax = axes[block * len(metrics) + mi, col]
            ax.set_visible(True)
            _plot_metric(ax, group, metric)
            ax.set_title(env, fontsize=10)
            if mi == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Learning curves: mean and 95% interval over seeds")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def _plot_metric(ax: Axes, curves: list[MeanCurve], metric: str) -> None:
    drawn = False
    for curve in curves:
        if metric not in curve.mean:
            continue
        mean, low, high = curve.mean[metric], curve.low[metric], curve.high[metric]
        if metric == "eval_optimality_gap":  # a log axis has no 0
            mean, low, high = (np.maximum(a, GAP_FLOOR) for a in (mean, low, high))
        label = f"{curve.label} (n={curve.n_seeds})"
        (line,) = ax.plot(curve.steps, mean, "o-", markersize=3, label=label)
        ax.fill_between(curve.steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "not measured for this env", ha="center", transform=ax.transAxes)
    elif metric == "eval_optimality_gap":
        ax.set_yscale("log")
    ax.set_xlabel("env steps learned")
    ax.set_ylabel(CURVE_METRICS.get(metric, metric))
    ax.grid(alpha=0.3)


def plot_throughput_heatmap(rows: list[dict[str, Any]], path: Path) -> Figure:
    """Mean training throughput for each (num_envs, workers) pair of a sweep, over its
    completed jobs; one panel per env."""
    rows = [r for r in rows if r.get("status", "completed") == "completed"]
    groups = _by_env(rows, [env_title(r) for r in rows])
    envs = sorted({int(r.get("num_envs") or 0) for r in rows})
    workers = sorted({int(r.get("workers") or 1) for r in rows})
    plt = pyplot()
    fig, axes = plt.subplots(
        1,
        len(groups) or 1,
        figsize=((1.3 * len(envs) + 3) * max(len(groups), 1), 0.9 * len(workers) + 2),
        squeeze=False,
        layout="constrained",
    )
    for ax, (title, group) in zip(axes[0], groups.items(), strict=False):
        grid = np.full((len(workers), len(envs)), np.nan)
        for wi, w in enumerate(workers):
            for ei, e in enumerate(envs):
                values = [
                    cast(float, r["steps_per_s"])
                    for r in group
                    if r.get("steps_per_s")
                    and int(r.get("num_envs") or 0) == e
                    and int(r.get("workers") or 1) == w
                ]
                if values:
                    grid[wi, ei] = sum(values) / len(values) / 1e6
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(envs)), [str(e) for e in envs])
        ax.set_yticks(range(len(workers)), [str(w) for w in workers])
        ax.set_xlabel("num_envs (per worker or rank)")
        ax.set_ylabel("workers / ranks")
        for wi in range(len(workers)):
            for ei in range(len(envs)):
                ax.text(ei, wi, f"{grid[wi, ei]:.1f}", ha="center", va="center", color="white")
        fig.colorbar(image, ax=ax, label="M env steps / s")
        ax.set_title(title, fontsize=10)
    fig.suptitle("Throughput (mean over completed jobs)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig
