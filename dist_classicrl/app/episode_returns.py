"""The return of each training episode, averaged over seeds: Sutton and Barto's way of
comparing on-line performance (Figure 6.4: "sum of rewards during episode").

A job's ``learning_curve.csv`` has, per evaluation window, the episodes that ended in it
(``episodes``) and their mean return (``train_mean_return``); each episode of a window is
given that mean, so the per-episode curve is smoothed over the window (give
``runtime.eval_points`` enough points: a window of a few episodes). The curves of a
configuration's seeds are averaged episode by episode, with a 95% interval.

`EpisodeReturnFigure` (a Hydra callback, set by ``experiment=sutton_barto_6_4``) writes the
figure and a CSV of the curves into the sweep directory at the end of the multirun.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dist_classicrl.app.report import pyplot, write_csv
from dist_classicrl.app.sweep import (
    Configuration,
    group_configurations,
    job_overrides,
    job_row,
    mean_ci95,
)


@dataclass
class EpisodeCurve:
    """A configuration's mean training return per episode (1-based episode ``i`` at
    index ``i - 1``), its 95% interval, and the seeds it averages."""

    label: str
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_seeds: int

    def average(self, first: int, last: int) -> float:
        """The mean return of episodes `first`..`last` (1-based, inclusive)."""
        return float(np.nanmean(self.mean[first - 1 : last]))


def episode_series(curve_csv: Path) -> np.ndarray:
    """A job's return per training episode (each window's mean for its episodes)."""
    with curve_csv.open() as f:
        rows = list(csv.DictReader(f))
    parts = [
        np.full(int(float(r["episodes"])), float(r["train_mean_return"]))
        for r in rows
        if r.get("episodes") and float(r["episodes"]) > 0
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def episode_curves(sweep_dir: Path, episodes: int) -> list[EpisodeCurve]:
    """One `EpisodeCurve` of `episodes` episodes per configuration of the sweep (jobs
    whose overrides differ only by ``seed``); a seed with fewer episodes counts where
    it has them."""
    jobs = []
    for path in sorted(sweep_dir.glob("*/metrics.json")):
        overrides = job_overrides(path.parent)
        jobs.append((job_row(path, overrides), overrides))
    curves = []
    for config in group_configurations(jobs):
        curves.append(_curve(config, sweep_dir, episodes))
    return [c for c in curves if c.n_seeds]


def _curve(config: Configuration, sweep_dir: Path, episodes: int) -> EpisodeCurve:
    matrix = np.full((len(config.completed), episodes), np.nan)
    for i, job in enumerate(config.completed):
        series = episode_series(sweep_dir / str(job["job"]) / "learning_curve.csv")[:episodes]
        matrix[i, : len(series)] = series
    mean, low, high = mean_ci95(matrix)
    return EpisodeCurve(config.label, mean, low, high, len(config.completed))


def plot_episode_returns(
    curves: list[EpisodeCurve], path: Path, title: str, ylim: tuple[float, float] | None
) -> None:
    """Each configuration's mean return per episode with a shaded 95% band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for curve in curves:
        x = np.arange(1, len(curve.mean) + 1)
        (line,) = ax.plot(x, curve.mean, label=f"{curve.label} ({curve.n_seeds} runs)")
        ax.fill_between(x, curve.low, curve.high, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("episodes")
    ax.set_ylabel("sum of rewards during episode")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


class EpisodeReturnFigure(Callback):
    """After a multirun: `file` (a PNG) and the same name with ``.csv`` in the sweep
    directory, the mean training return of each of the first `episodes` episodes per
    configuration; prints each configuration's mean over episodes `report_from`..end."""

    def __init__(
        self,
        file: str,
        episodes: int,
        title: str,
        ylim: list[float] | None = None,
        report_from: int = 1,
    ) -> None:
        self.file, self.episodes, self.title = file, episodes, title
        self.ylim = (float(ylim[0]), float(ylim[1])) if ylim else None
        self.report_from = report_from

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        curves = episode_curves(sweep_dir, self.episodes)
        if not curves:
            return
        figure = sweep_dir / self.file
        plot_episode_returns(curves, figure, self.title, self.ylim)
        rows: list[dict[str, Any]] = [{"episode": i + 1} for i in range(self.episodes)]
        for curve in curves:
            for i, row in enumerate(rows):
                row |= {
                    f"{curve.label} mean": float(curve.mean[i]),
                    f"{curve.label} ci95_low": float(curve.low[i]),
                    f"{curve.label} ci95_high": float(curve.high[i]),
                }
        write_csv(figure.with_suffix(".csv"), rows)
        span = f"episodes {self.report_from}-{self.episodes}"
        for curve in curves:
            average = curve.average(self.report_from, self.episodes)
            print(f"{curve.label}: mean return over {span}: {average:.1f} ({curve.n_seeds} runs)")
        print(f"figure: {figure}")
