from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

import dist_classicrl.app.config  # noqa: F401  (registers the schemas)


@pytest.fixture
def compose_config():
    """compose(overrides) -> DictConfig, with the app's own config module."""

    def _compose(overrides: list[str] | None = None):
        with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
            return compose(config_name="config", overrides=overrides or [])

    return _compose


#: Markers whose tests run only when selected with ``-m`` (the plain ``pytest`` stays a
#: few minutes): ``pytest tests/reliability -m "faults_full or not faults_full"`` runs the
#: whole fault matrix, ``pytest tests/soak -m soak`` the soak benchmarks.
OPT_IN = {
    "faults_full": "the slower fault-injection cases (other signal targets, start forms)",
    "soak": "long soak benchmarks (DCRL_SOAK_SECONDS, 600 by default)",
}


def pytest_configure(config):
    for marker, what in OPT_IN.items():
        config.addinivalue_line("markers", f"{marker}: {what}; run with -m {marker}")


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", False):
        # `pytest --benchmark-only` runs the benchmarks alone: the other tests are
        # deselected (one line in the summary), not skipped one by one (a line each)
        benchmarks = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=[i for i in items if i not in benchmarks])
        items[:] = benchmarks
    selected = config.getoption("markexpr") or ""
    for marker in OPT_IN:
        if marker in selected:
            continue
        skip = pytest.mark.skip(reason=f"opt-in: select it with -m {marker}")
        for item in items:
            if item.get_closest_marker(marker):
                item.add_marker(skip)
