"""Tables and plots: a job's learning curve, and a sweep's summary."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows with possibly different keys; columns in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_markdown(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    path.write_text("\n".join(lines) + "\n")


def plot_learning_curve(
    curve: list[dict[str, float]],
    path: Path,
    title: str,
    train_label: str = "training (epsilon-greedy)",
) -> None:
    """Training return and greedy evaluation against env steps."""
    steps = [r["step"] for r in curve]
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
        bottom.plot(steps, [max(g, 1e-6) for g in gaps], "o-")  # a log axis has no 0
        bottom.set_yscale("log")
        floor = " (0 drawn at 1e-6)" if min(gaps) < 1e-6 else ""
        bottom.set_ylabel(f"optimality gap of greedy policy{floor}")
    else:
        bottom.plot(steps, [r["epsilon"] for r in curve], "o-", label="epsilon")
        bottom.plot(steps, [r["learning_rate"] for r in curve], "o-", label="learning rate")
        bottom.legend()
    bottom.set_xlabel("env steps learned")
    bottom.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def varying_labels(overrides: list[str]) -> list[str]:
    """Per job, only the overrides that differ between jobs (what a reader compares)."""
    tokens = [o.split() for o in overrides]
    common = set.intersection(*(set(t) for t in tokens)) if tokens else set()
    return [" ".join(t for t in ts if t not in common) or "defaults" for ts in tokens]


def plot_sweep_throughput(rows: list[dict[str, Any]], path: Path) -> None:
    """One horizontal bar per job: learned env steps per second, labelled by what the job
    changes relative to the others."""
    # every row names its job (`app.sweep`)
    labels = varying_labels([cast(str, r.get("overrides") or r.get("job")) for r in rows])
    values = [(r.get("steps_per_s") or 0.0) / 1e6 for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    ax.barh(range(len(rows)), values, color="tab:blue")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    for i, (v, row) in enumerate(zip(values, rows, strict=True)):
        trained = row.get("steps") != 0  # steps=0: init_q_table evaluated, no training
        label = f" {v:.2f}" if trained else " evaluation only (steps=0)"
        ax.text(v, i, label, va="center", fontsize=8)
    ax.set_xlim(left=0)  # all zero (evaluation only) would centre the axis on 0
    ax.set_xlabel("M env steps / s (training)")
    ax.set_title("Throughput per job")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_learning_curves(curves: dict[str, Path], path: Path) -> None:
    """Every job's greedy-evaluation curve (``eval_mean_return`` against steps), overlaid."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, csv_path in curves.items():
        with csv_path.open() as f:
            rows = list(csv.DictReader(f))
        steps = [float(r["step"]) for r in rows]
        values = [float(r.get("eval_mean_return") or "nan") for r in rows]
        ax.plot(steps, values, "o-", markersize=3, label=label)
    ax.set_xlabel("env steps learned")
    ax.set_ylabel("greedy mean return")
    ax.set_title("Learning curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_throughput_heatmap(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean training throughput for each (num_envs, workers) pair of a sweep."""
    envs = sorted({int(r.get("num_envs") or 0) for r in rows})
    workers = sorted({int(r.get("workers") or 1) for r in rows})
    grid = [[float("nan")] * len(envs) for _ in workers]
    for wi, w in enumerate(workers):
        for ei, e in enumerate(envs):
            values = [
                r["steps_per_s"]
                for r in rows
                if r.get("steps_per_s")
                and int(r.get("num_envs") or 0) == e
                and int(r.get("workers") or 1) == w
            ]
            if values:
                grid[wi][ei] = sum(values) / len(values) / 1e6
    fig, ax = plt.subplots(figsize=(1.3 * len(envs) + 3, 0.9 * len(workers) + 2))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(envs)), [str(e) for e in envs])
    ax.set_yticks(range(len(workers)), [str(w) for w in workers])
    ax.set_xlabel("num_envs (per worker or rank)")
    ax.set_ylabel("workers / ranks")
    for wi in range(len(workers)):
        for ei in range(len(envs)):
            ax.text(ei, wi, f"{grid[wi][ei]:.1f}", ha="center", va="center", color="white")
    fig.colorbar(image, label="M env steps / s")
    ax.set_title("Throughput (mean over jobs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
