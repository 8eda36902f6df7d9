"""Utility layer: schedules and training statistics."""

from __future__ import annotations

import numpy as np
import pytest

from dist_classicrl.errors import ConfigError
from dist_classicrl.schedules import Schedule
from dist_classicrl.stats import TrainingStatistics


def test_linear_schedule_reaches_end_at_horizon_and_stays():
    s = Schedule(1.0, 0.1, 100, "linear")
    assert s(0) == 1.0
    assert s(50) == pytest.approx(0.55)
    assert s(100) == pytest.approx(0.1)
    assert s(10_000) == pytest.approx(0.1)


def test_exponential_schedule_is_geometric():
    s = Schedule(1.0, 0.01, 100, "exponential")
    assert s(50) == pytest.approx(0.1)
    assert s(200) == pytest.approx(0.01)


def test_constant_schedule_ignores_end():
    assert Schedule(0.3, 0.9, 10, "constant")(5) == 0.3


@pytest.mark.parametrize("kwargs", [{"kind": "cosine"}, {"kind": "exponential", "end": 0.0}])
def test_bad_schedule_raises_config_error(kwargs):
    args = {"start": 1.0, "end": 0.1, "horizon": 10, **kwargs}
    with pytest.raises(ConfigError):
        Schedule(**args)


def test_statistics_count_episodes_per_env_and_window():
    stats = TrainingStatistics(2)
    stats.record_batch(np.array([1.0, 2.0]), np.array([False, True]))
    stats.record_batch(np.array([3.0, 5.0]), np.array([True, False]))
    window = stats.window()
    assert window["episodes"] == 2
    assert window["mean_return"] == pytest.approx((2.0 + 4.0) / 2)
    assert window["mean_length"] == pytest.approx(1.5)
    stats.record_batch(np.array([1.0]), np.array([True]))  # a short last batch
    summary = stats.summary()
    assert summary["episodes"] == 3
    assert summary["mean_return"] == pytest.approx((2 + 4 + 1) / 3)
    assert stats.window()["episodes"] == 1
