"""The ``faults_full`` marker: the slower part of the fault matrix (the other signal
targets and start forms) runs only when selected, ``pytest tests/reliability -m
faults_full`` for it alone or ``-m "faults_full or not faults_full"`` for everything."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "faults_full: the slower fault-injection cases, run with -m faults_full"
    )


def pytest_collection_modifyitems(config, items):
    if "faults_full" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the full fault matrix: select it with -m faults_full")
    for item in items:
        if item.get_closest_marker("faults_full"):
            item.add_marker(skip)
