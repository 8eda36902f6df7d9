"""init_q_table on the command line: a job starts from a saved table (here a built-in
TicTacToe table evaluated, steps=0, in PettingZoo's game: the interchangeable encoding),
every runtime keeps it, and a bad file stops the job in one line before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dist_classicrl.envs.tictactoe import N_STATES
from tests.app.test_cli import run_cli
from tests.app.test_quality import train_default

FROZEN = ["schedule.learning_rate.start=1e-9", "schedule.learning_rate.end=1e-9"]


def test_a_built_in_table_plays_the_same_after_loading_into_pettingzoo(tmp_path):
    built_in = tmp_path / "built_in"
    proc = run_cli(["env.opponent=self", "steps=300000", f"hydra.run.dir={built_in}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = {}
    table = built_in / "q_table.npy"
    for name, extra in (("warm", ["steps=0", f"init_q_table={table}"]), ("cold", ["steps=16"])):
        job = tmp_path / name
        args = ["env=pettingzoo_tictactoe", *FROZEN, *extra, f"hydra.run.dir={job}"]
        proc = run_cli(args, tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[name] = json.loads((job / "metrics.json").read_text())
    trained = json.loads((built_in / "metrics.json").read_text())["eval"]
    warm = runs["warm"]
    assert warm["status"] == "completed" and warm["steps"] == 0
    assert warm["init_q_table"] == str(table)
    np.testing.assert_array_equal(np.load(tmp_path / "warm" / "q_table.npy"), np.load(table))
    for key in ("win_rate", "loss_rate", "vs_perfect_loss_rate"):
        assert warm["eval"][key] == pytest.approx(trained[key], abs=1e-12), key
    cold = runs["cold"]["eval"]  # the table at zero: loading is what made the difference
    assert cold["vs_perfect_loss_rate"] > trained["vs_perfect_loss_rate"] + 0.5


def test_steps_zero_without_a_table_is_refused(compose_config):
    from dist_classicrl.app.config import validate
    from dist_classicrl.errors import ConfigError

    with pytest.raises(ConfigError, match="steps=0 evaluates a saved table"):
        validate(compose_config(["steps=0"]))


@pytest.mark.parametrize("runtime", ["single", "parallel", "distributed"])
def test_every_runtime_starts_from_the_loaded_table(compose_config, tmp_path, runtime):
    table = np.random.default_rng(1).normal(size=(N_STATES, 9)).astype(np.float32)
    np.save(tmp_path / "q.npy", table)
    overrides = [f"runtime={runtime}", "steps=2000", *FROZEN, f"init_q_table={tmp_path / 'q.npy'}"]
    result = train_default(compose_config(overrides))
    np.testing.assert_allclose(result.q_table, table, atol=1e-5)  # lr 1e-9: barely moved


def test_a_damaged_table_stops_the_job_in_one_line(tmp_path):
    bad = tmp_path / "q_table.npy"
    bad.write_bytes(b"\x93NUMPY damaged")
    proc = run_cli([f"init_q_table={bad}", f"hydra.run.dir={tmp_path / 'x'}"], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"dist_classicrl: error: init_q_table={bad}: a damaged")
    assert not (tmp_path / "x").exists()
