"""The replay study (tools/replay_study.py): its summary of learning curves."""

from __future__ import annotations

import pytest

from tools.replay_study import summarize


def test_study_summary_reports_gaps_and_steps_to_one_percent():
    def curve(setting, seed, gaps):
        return [
            {"setting": setting, "seed": seed, "step": 10 * (i + 1), "train_time_s": i + 1.0}
            | {"gap": g, "steps_per_s": 100.0, "replayed_updates": 0}
            for i, g in enumerate(gaps)
        ]

    rows = curve("off", 0, [5, 1, 0.5, 0.0]) + curve("off", 1, [5, 3, 0.005, 0.0])
    rows += curve("on", 0, [5, 2, 1, 0.5])
    off, on = summarize(rows, 40)
    assert off["gap at 50%"] == pytest.approx(2.0) and off["gap at 100%"] == 0.0
    assert off["steps to 1% (median)"] == 35.0  # seed 0 at 40, seed 1 at 30
    assert off["seconds to 1% (median)"] == 3.5
    assert on["steps to 1% (median)"] == "not reached"
