"""The stored-baseline comparison on synthetic figures (plain ``pytest``, no timing)."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks import baseline
from tests.benchmarks.workloads import WORKLOADS


def record(calibration_s: dict[str, float], seconds: dict[str, tuple[str, float]]) -> dict:
    return {
        "calibration_s": calibration_s,
        "workloads": {
            name: {"kind": kind, "seconds_per_unit": s} for name, (kind, s) in seconds.items()
        },
    }


BASE = record(
    {"python": 0.04, "numpy": 0.02, "compiled": 0.01},
    {
        "taxi/list": ("python", 1e-6),
        "taxi/numpy": ("numpy", 2e-7),
        "taxi/optimal": ("compiled", 4e-8),
    },
)


def slowed(factors: dict[str, float], machine: float = 1.0) -> dict:
    """BASE on a machine `machine` times slower, with some workloads slower still."""
    out = json.loads(json.dumps(BASE))
    out["calibration_s"] = {k: s * machine for k, s in out["calibration_s"].items()}
    for name, w in out["workloads"].items():
        w["seconds_per_unit"] *= machine * factors.get(name, 1.0)
    return out


def test_a_lost_2x_is_caught_and_named_with_its_factor():
    result = baseline.compare(BASE, slowed({"taxi/numpy": 2.0}))
    assert not result.ok
    assert [c.name for c in result.regressions] == ["taxi/numpy"]
    message = baseline.failure_message(result)
    assert "taxi/numpy: 2.00x slower" in message
    assert "taxi/list" not in message and "taxi/optimal" not in message
    assert baseline.REFRESH_COMMAND in message


def test_a_20_percent_slowdown_passes():
    result = baseline.compare(BASE, slowed(dict.fromkeys(["taxi/list", "taxi/numpy"], 1.2)))
    assert result.ok, baseline.failure_message(result)
    assert [round(c.ratio, 2) for c in result.changes] == [1.2, 1.2, 1.0]


@pytest.mark.parametrize("machine", [0.3, 3.0])
def test_a_faster_or_slower_machine_is_not_a_regression(machine):
    """The calibration moves with the machine, so the calibrated figures do not."""
    assert baseline.compare(BASE, slowed({}, machine)).ok
    result = baseline.compare(BASE, slowed({"taxi/optimal": 2.0}, machine))
    assert [c.name for c in result.regressions] == ["taxi/optimal"]


def test_each_workload_is_divided_by_the_yardstick_of_its_own_kind():
    """A slower compiled yardstick makes compiled figures look faster, nothing else."""
    current = slowed({"taxi/list": 2.0})
    current["calibration_s"]["compiled"] *= 2.0
    result = baseline.compare(BASE, current)
    assert [(c.name, round(c.ratio, 2)) for c in result.regressions] == [("taxi/list", 2.0)]
    assert [(c.name, round(c.ratio, 2)) for c in result.speedups] == [("taxi/optimal", 0.5)]
    assert "(faster: refresh?)" in baseline.report_table(result)


def test_a_workload_dropped_from_the_catalogue_fails_and_a_new_one_is_listed():
    current = slowed({})
    del current["workloads"]["taxi/list"]
    current["workloads"]["taxi/new"] = {"kind": "numpy", "seconds_per_unit": 1e-7}
    result = baseline.compare(BASE, current)
    assert not result.ok and result.missing == ["taxi/list"] and result.new == ["taxi/new"]
    assert "not measured any more: taxi/list" in baseline.failure_message(result)
    assert "| taxi/new | - | new | - |" in baseline.report_table(result)


def test_merge_best_keeps_the_shorter_time_of_each_figure():
    merged = baseline.merge_best(slowed({"taxi/numpy": 3.0}), slowed({"taxi/list": 3.0}))
    assert baseline.compare(BASE, merged).changes == baseline.compare(BASE, BASE).changes


def test_the_stored_baseline_covers_every_workload_with_a_known_kind():
    from tests.benchmarks.calibration import KINDS

    stored = baseline.load()
    assert set(stored["workloads"]) == {w.name for w in WORKLOADS}
    assert set(stored["calibration_s"]) == set(KINDS)
    assert all(v > 0 for v in baseline.calibrated(stored).values())
