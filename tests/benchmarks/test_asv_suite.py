"""The asv suite still runs against the library: every benchmark of `benchmarks/`, once,
with its first parameters (asv itself only finds out at `asv run`, minutes later), and the
calibrated throughput gives a figure (no timing is asserted: its stability is measured in
docs/benchmarks.md)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import pkgutil

import pytest

import benchmarks
from benchmarks import calibration
from benchmarks.bench_training import CalibratedThroughput
from benchmarks.common import calibration_kind
from tests.benchmarks import baseline

PREFIXES = ("time_", "track_", "peakmem_", "mem_")


def suite() -> list[tuple[str, type, str]]:
    found = []
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for method in dir(cls):
                if method.startswith(PREFIXES):
                    found.append((f"{info.name}.{name}.{method}", cls, method))
    return found


BENCHMARKS = suite()


def test_the_suite_is_found():
    files = {name.split(".")[0] for name, _, _ in BENCHMARKS}
    assert {"bench_algorithms", "bench_envs", "bench_training", "bench_pettingzoo"} <= files


@pytest.mark.parametrize(("name", "cls", "method"), BENCHMARKS, ids=[b[0] for b in BENCHMARKS])
def test_every_benchmark_runs_once_with_its_first_parameters(name, cls, method):
    params = getattr(cls, "params", [])
    if params and not isinstance(params[0], list):
        params = [params]  # one parameter: asv allows a flat list
    args = [values[0] for values in params]
    bench = cls()
    if hasattr(bench, "setup"):
        bench.setup(*args)
    result = getattr(bench, method)(*args)
    if method.startswith("track_"):
        assert result > 0, name
    if hasattr(bench, "teardown"):
        bench.teardown(*args)


@pytest.mark.parametrize(
    ("variant", "num_envs"), [("optimal", 1), ("optimal", 64), ("numpy", 64), ("list", 1)]
)
def test_the_calibrated_throughput_is_a_positive_finite_ratio_beside_the_absolute(
    variant, num_envs
):
    """Its shape, not the machine's speed: a few short slices keep this test fast."""
    bench = CalibratedThroughput()
    bench.setup(variant, "tictactoe", num_envs)
    bench.steps, bench.pairs = 1280, 3
    ratio = bench.track_steps_per_calibration(variant, "tictactoe", num_envs)
    absolute = bench.track_steps_per_s(variant, "tictactoe", num_envs)
    assert math.isfinite(ratio) and ratio > 0
    assert math.isfinite(absolute) and absolute > 0


def test_each_loop_is_calibrated_by_the_kind_of_code_it_runs():
    assert calibration_kind("optimal", 1) == calibration_kind("optimal", 64) == "compiled"
    assert calibration_kind("numpy", 64) == "numpy"
    assert calibration_kind("numpy", 1) == calibration_kind("list", 64) == "python"


def test_asv_and_the_stored_baseline_share_one_calibration():
    """One copy, importable by asv (which cannot import `tests`): the stored baseline uses it."""
    assert baseline.calibration is calibration
    assert importlib.util.find_spec("tests.benchmarks.calibration") is None
