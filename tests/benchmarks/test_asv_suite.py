"""The asv suite still runs against the library: every benchmark of `benchmarks/`, once,
with its first parameters (asv itself only finds out at `asv run`, minutes later)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import benchmarks

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
