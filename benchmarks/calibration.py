"""Fixed calibration workloads: the yardstick the stored baseline and the asv suite's
calibrated throughput are measured with.

The one copy, here in `benchmarks/` because asv imports this package with the project
installed from a wheel, where `tests` is not importable; `tests/benchmarks/` imports it
from here (`from benchmarks import calibration`).

A machine twice as fast runs both a benchmark and its calibration twice as fast, so their
quotient travels between machines far better than seconds do. Python, NumPy and compiled
code do not speed up alike from one machine (or interpreter) to the next, so there is one
yardstick per kind, each shaped like the work it calibrates: a tabular update on Python
lists, the same on NumPy arrays in batches, and the same in a Numba loop.

These functions never use the project's code (a regression there must not move the
yardstick) and must not change: changing one invalidates `tests/benchmarks/baseline.json`
(refresh it then: ``python -m tests.benchmarks.baseline --write``) and breaks the asv
history of ``CalibratedThroughput.track_steps_per_calibration`` at that commit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

N_STATES, N_ACTIONS = 2048, 9


def python_work() -> None:
    """40 k table updates in pure Python, states drawn by a linear congruential generator."""
    table = [[0.0] * N_ACTIONS for _ in range(N_STATES)]
    s = 1
    for _ in range(40_000):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        row = table[s % N_STATES]
        a = max(range(N_ACTIONS), key=row.__getitem__) if s & 1 else s % N_ACTIONS
        row[a] += 0.1 * (1.0 - row[a])


_RNG_STATES = np.random.default_rng(0).integers(0, N_STATES, (50, 4096))


def numpy_work() -> None:
    """50 batches of 4096 greedy updates on a NumPy table (gather, argmax, scatter)."""
    table = np.zeros((N_STATES, N_ACTIONS), dtype=np.float32)
    rows = np.arange(4096)
    for states in _RNG_STATES:
        q = table[states]
        actions = q.argmax(axis=1)
        target = 1.0 + 0.9 * q.max(axis=1)
        table[states, actions] += 0.1 * (target - q[rows, actions])


@njit(cache=True)
def _compiled_loop(table: np.ndarray, n: int) -> float:
    s = np.uint64(88172645463325252)
    total = 0.0
    for _ in range(n):
        # xorshift64: the kind of inline RNG the fused kernels use
        s ^= s << np.uint64(13)
        s ^= s >> np.uint64(7)
        s ^= s << np.uint64(17)
        state = s % np.uint64(N_STATES)
        best, a = table[state, 0], 0
        for j in range(1, N_ACTIONS):
            if table[state, j] > best:
                best, a = table[state, j], j
        table[state, a] += 0.1 * (1.0 - best)
        total += best
    return total


def compiled_work() -> None:
    """2 M greedy table updates in one Numba loop (compiled by `warm_up`)."""
    _compiled_loop(np.zeros((N_STATES, N_ACTIONS), dtype=np.float32), 2_000_000)


KINDS: dict[str, Callable[[], None]] = {
    "python": python_work,
    "numpy": numpy_work,
    "compiled": compiled_work,
}


def warm_up() -> None:
    """Compile the Numba yardstick outside any measurement."""
    _compiled_loop(np.zeros((N_STATES, N_ACTIONS), dtype=np.float32), 10)
