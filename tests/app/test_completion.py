"""Tab completion (Hydra's, through the ``dist-classicrl`` console script) offers the
real options: the named envs registered from Python and the experiments, not the
internal schemas."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def complete(line: str) -> list[str]:
    script = shutil.which("dist-classicrl")
    if script is None:
        pytest.skip("the dist-classicrl console script is not installed")
    env = {**os.environ, "COMP_LINE": line, "COMP_POINT": str(len(line))}
    proc = subprocess.run(
        [script, "-sc", "query=bash"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_completion_lists_the_named_envs_and_no_schema():
    options = complete("dist-classicrl env=")
    assert {"env=taxi", "env=cartpole", "env=gym", "env=tictactoe"} <= set(options)
    assert not [o for o in options if "schema" in o]


def test_completion_lists_the_experiments():
    assert set(complete("dist-classicrl experiment=")) == {
        "experiment=sutton_barto_6_4",
        "experiment=tune_taxi",
    }
