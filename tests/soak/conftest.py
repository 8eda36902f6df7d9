"""The ``soak`` marker: long runs that are benchmarks, not part of the plain ``pytest``.
Run them with ``pytest tests/soak -m soak`` (``DCRL_SOAK_SECONDS`` sets the length of the
long job, 600 by default)."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long soak benchmarks, run with -m soak")


def pytest_collection_modifyitems(config, items):
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a soak benchmark: select it with -m soak")
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(skip)
