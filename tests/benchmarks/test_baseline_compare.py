"""The stored-baseline comparison on synthetic figures (plain ``pytest``, no timing)."""

from __future__ import annotations

import pytest

from benchmarks.calibration import KINDS
from tests.benchmarks import baseline
from tests.benchmarks.workloads import WORKLOADS

#: name -> (kind, yardstick seconds, workload seconds per unit) on the baseline machine
BASE_FIGURES = {
    "taxi/list": ("python", 0.04, 1e-6),
    "taxi/numpy": ("numpy", 0.02, 2e-7),
    "taxi/optimal": ("compiled", 0.01, 4e-8),
}
UNITS = 1000


def record(
    slower: dict[str, float] | None = None,
    machine: float = 1.0,
    rounds: int = 5,
    burst: tuple[int, float] | None = None,
) -> dict:
    """A record as `baseline.measure` writes it: every round times the yardstick, then the
    workload. `machine` scales both; `slower` scales a workload alone; `burst` = (round,
    factor) slows one round's workload only, as a burst of load from another process does."""
    slower = slower or {}
    workloads = {}
    for name, (kind, yardstick_s, per_unit_s) in BASE_FIGURES.items():
        pairs = []
        for r in range(rounds):
            work_s = per_unit_s * UNITS * machine * slower.get(name, 1.0)
            if burst and burst[0] == r:
                work_s *= burst[1]
            pairs.append([yardstick_s * machine, work_s])
        workloads[name] = {"kind": kind, "units": UNITS, "rounds": pairs}
    return {"workloads": workloads}


BASE = record()


def test_a_lost_2x_is_caught_and_named_with_its_factor():
    result = baseline.compare(BASE, record({"taxi/numpy": 2.0}))
    assert not result.ok
    assert [c.name for c in result.regressions] == ["taxi/numpy"]
    message = baseline.failure_message(result)
    assert "taxi/numpy: 2.00x slower than the baseline" in message
    assert "taxi/list" not in message and "taxi/optimal" not in message
    assert baseline.REFRESH_COMMAND in message
    assert "Traceback" not in message and len(message.splitlines()) == 3


def test_a_20_percent_slowdown_passes():
    result = baseline.compare(BASE, record(dict.fromkeys(["taxi/list", "taxi/numpy"], 1.2)))
    assert result.ok, baseline.failure_message(result)
    assert [round(c.ratio, 2) for c in result.changes] == [1.2, 1.2, 1.0]


def test_the_tolerance_sits_between_noise_and_a_lost_2x():
    assert 1.25 < baseline.TOLERANCE < 2.0
    assert baseline.compare(BASE, record({"taxi/list": 1.55})).ok
    assert not baseline.compare(BASE, record({"taxi/list": 1.65})).ok


@pytest.mark.parametrize("machine", [0.3, 3.0])
def test_a_faster_or_slower_machine_is_not_a_regression(machine):
    """The yardstick moves with the machine, so the calibrated figures do not."""
    assert baseline.compare(BASE, record(machine=machine)).ok
    result = baseline.compare(BASE, record({"taxi/optimal": 2.0}, machine=machine))
    assert [c.name for c in result.regressions] == ["taxi/optimal"]


def test_a_burst_of_load_in_one_round_is_not_a_regression():
    assert baseline.compare(BASE, record(burst=(2, 3.0))).ok


def test_each_workload_is_divided_by_the_yardstick_of_its_own_kind():
    """A slower compiled yardstick makes compiled figures look faster, nothing else."""
    current = record({"taxi/list": 2.0})
    for pair in current["workloads"]["taxi/optimal"]["rounds"]:
        pair[0] *= 2.0
    result = baseline.compare(BASE, current)
    assert [(c.name, round(c.ratio, 2)) for c in result.regressions] == [("taxi/list", 2.0)]
    assert [(c.name, round(c.ratio, 2)) for c in result.speedups] == [("taxi/optimal", 0.5)]
    assert "(faster: refresh?)" in baseline.report_table(result)


def test_a_workload_dropped_from_the_catalogue_fails_and_a_new_one_is_listed():
    current = record()
    del current["workloads"]["taxi/list"]
    current["workloads"]["taxi/new"] = {"kind": "numpy", "units": 1, "rounds": [[1.0, 1.0]]}
    result = baseline.compare(BASE, current)
    assert not result.ok and result.missing == ["taxi/list"] and result.new == ["taxi/new"]
    assert "not measured any more: taxi/list" in baseline.failure_message(result)
    assert "| taxi/new | - | new | - |" in baseline.report_table(result)


def test_a_remeasured_suspect_is_judged_on_the_rounds_of_both_measurements():
    """5 slow rounds (2x), then 10 normal ones: the normal rounds count."""
    first = record({"taxi/numpy": 2.0})
    again = record(rounds=10)
    assert not baseline.compare(BASE, first).ok
    assert baseline.compare(BASE, baseline.merge(first, again)).ok
    assert len(baseline.merge(first, again)["workloads"]["taxi/numpy"]["rounds"]) == 15


def test_a_written_baseline_reads_back_and_compares(tmp_path):
    stored = baseline.write(baseline.merge(BASE, record(machine=2.0)), tmp_path / "b.json")
    assert baseline.load(tmp_path / "b.json") == stored
    assert stored["calibrated"] == pytest.approx(baseline.calibrated(BASE))
    assert baseline.compare(stored, record({"taxi/numpy": 1.5})).ok
    assert not baseline.compare(stored, record({"taxi/numpy": 2.0})).ok


def test_the_stored_baseline_covers_every_workload_with_a_known_kind():
    stored = baseline.load()
    assert set(stored["workloads"]) == {w.name for w in WORKLOADS}
    assert {w["kind"] for w in stored["workloads"].values()} <= set(KINDS)
    assert all(len(w["rounds"]) >= 5 for w in stored["workloads"].values())
    assert stored["calibrated"] == pytest.approx(baseline.calibrated(stored))
