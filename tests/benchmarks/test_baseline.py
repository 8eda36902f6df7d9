"""Speed against the stored baseline, run by ``pytest tests/benchmarks --benchmark-only``.

The `benchmark` fixture makes a plain ``pytest`` skip this test (``--benchmark-skip`` in
pyproject's addopts) and puts every calibrated figure and ratio into
``--benchmark-json``. The comparison itself is `baseline.compare`, unit-tested on
synthetic figures in `test_baseline_compare.py`.
"""

from __future__ import annotations

import pytest

from benchmarks import calibration
from tests.benchmarks import baseline
from tests.benchmarks.workloads import WORKLOADS


def test_speed_matches_the_stored_baseline(benchmark):
    stored = baseline.load()
    benchmark.pedantic(calibration.numpy_work, rounds=3, iterations=1)
    current = baseline.measure(rounds=5)
    result = baseline.compare(stored, current)
    if result.regressions:
        # load can stay high for a while: a suspect is measured again, and its figure
        # comes from the rounds of both measurements
        suspects = {c.name for c in result.regressions}
        again = baseline.measure([w for w in WORKLOADS if w.name in suspects], rounds=10)
        result = baseline.compare(stored, baseline.merge(current, again))
    benchmark.extra_info.update(
        {f"{c.name} now/baseline": round(c.ratio, 3) for c in result.changes}
    )
    print("\n" + baseline.report_table(result))
    if not result.ok:
        pytest.fail(baseline.failure_message(result), pytrace=False)
