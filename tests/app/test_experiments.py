"""The ``experiment=`` presets (conf/experiment/): Sutton and Barto's Figure 6.4 comes
out of its preset with the book's values, from the per-episode training returns."""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np

from dist_classicrl.app.episode_returns import episode_series
from tests.app.test_cli import run_cli


def test_episode_series_gives_each_episode_its_windows_mean(tmp_path):
    curve = tmp_path / "learning_curve.csv"
    curve.write_text("step,episodes,train_mean_return\n100,2,-50.0\n200,0,\n300,3,-20.0\n")
    np.testing.assert_array_equal(episode_series(curve), [-50, -50, -20, -20, -20])


def test_figure_6_4_shows_sarsa_safer_than_q_learning_as_in_the_book(tmp_path):
    sweep = tmp_path / "sweep"
    # the command's seeds win over the preset's ten runs
    proc = run_cli(
        ["-m", "experiment=sutton_barto_6_4", "seed=0,1,2", f"hydra.sweep.dir={sweep}"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list(sweep.glob("*/metrics.json"))) == 6
    with (sweep / "figure_6_4.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 500

    def mean(label: str) -> float:  # episodes 100-500, as the printed line says
        return float(np.mean([float(r[f"algorithm.rule={label} mean"]) for r in rows[99:]]))

    sarsa, q_learning = mean("sarsa"), mean("q_learning")
    # the book: SARSA about -25 (the safe path), Q-learning about -50 (falls while exploring)
    assert -35 <= sarsa <= -18, sarsa
    assert -65 <= q_learning <= -40, q_learning
    assert f"algorithm.rule=sarsa: mean return over episodes 100-500: {sarsa:.1f}" in proc.stdout
    image = plt.imread(sweep / "figure_6_4.png")
    assert image.std() > 0.05 and len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 50
