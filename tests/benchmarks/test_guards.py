"""Speed guards, run by ``pytest --benchmark-only`` (skipped by a plain ``pytest``).

Absolute times differ between machines and between runs of one shared machine, so the
guards assert *ratios measured in the same run*: each variant against the others on the
same work, with bounds far below the measured ratios (a lost 2x still trips them). The
timed figures go to pytest-benchmark's table and ``--benchmark-json``.
"""

from __future__ import annotations

import numpy as np
import pytest

from dist_classicrl.algorithms import OptimalQLearning
from tests.benchmarks.workloads import NUM_ENVS, best_rate, make_loop


@pytest.mark.parametrize("env_name", ["tictactoe", "taxi"])
def test_variants_keep_their_speed_order(benchmark, env_name):
    loops = {v: make_loop(v, env_name, NUM_ENVS) for v in ("list", "numpy", "optimal")}
    steps = {"list": 20 * NUM_ENVS, "numpy": 200 * NUM_ENVS, "optimal": 2000 * NUM_ENVS}
    benchmark.pedantic(loops["optimal"].run, args=(steps["optimal"],), rounds=5, iterations=1)
    rates = {v: best_rate(loop, steps[v]) for v, loop in loops.items()}
    benchmark.extra_info.update({f"{v}_steps_per_s": r for v, r in rates.items()})
    # Measured on the 2-core machine (docs/performance.md): optimal/numpy ~5x, numpy/list ~4x.
    assert rates["optimal"] > 2.0 * rates["numpy"], rates
    assert rates["numpy"] > 1.5 * rates["list"], rates


def test_fused_kernel_beats_the_batch_loop(benchmark):
    fused = make_loop("optimal", "tictactoe", 64)
    unfused = make_loop("optimal", "tictactoe", 64, fused=False)
    benchmark.pedantic(fused.run, args=(1_000_000,), rounds=5, iterations=1)
    rate_fused, rate_unfused = best_rate(fused, 1_000_000), best_rate(unfused, 100_000)
    benchmark.extra_info.update(fused=rate_fused, batch_loop=rate_unfused)
    assert rate_fused > 2.0 * rate_unfused, (rate_fused, rate_unfused)


def test_batch_update_kernels(benchmark):
    rng = np.random.default_rng(0)
    algo = OptimalQLearning(3**9, 9, seed=0)
    n = 4096
    batch = (
        rng.integers(0, 3**9, n),
        rng.integers(0, 9, n),
        rng.normal(size=n),
        rng.integers(0, 3**9, n),
        rng.random(n) < 0.2,
        rng.random((n, 9)) < 0.6,
    )
    algo.batch_update(*batch)
    benchmark.pedantic(algo.batch_update, args=batch, rounds=50, iterations=10)
