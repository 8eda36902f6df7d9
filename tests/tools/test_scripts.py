"""Every tool runs as its docs say, ``python tools/NAME.py``, wherever the command starts:
it needs no ``-m`` and nothing but the installed package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = sorted(p.stem for p in (ROOT / "tools").glob("*.py") if p.stem != "__init__")


def test_the_tools_are_the_four_moved_out_of_the_package_the_perf_table_and_the_model():
    assert TOOLS == [
        "check_asv_report",
        "mpi_stress",
        "perf_table",
        "replay_study",
        "scaling_model",
        "throughput",
    ]


@pytest.mark.parametrize("name", TOOLS)
def test_tool_runs_as_a_script_from_another_directory(name, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / f"{name}.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python tools/{name}.py")
