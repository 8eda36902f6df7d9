"""init_q_table on the command line: a job starts from a saved table (here a built-in
TicTacToe table evaluated in PettingZoo's game, the interchangeable encoding), every
runtime keeps it, and a bad file stops the job in one line before any work."""

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
    for name, extra in (("warm", [f"init_q_table={built_in / 'q_table.npy'}"]), ("cold", [])):
        job = tmp_path / name
        args = ["env=pettingzoo_tictactoe", "steps=16", *FROZEN, *extra, f"hydra.run.dir={job}"]
        proc = run_cli(args, tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[name] = json.loads((job / "metrics.json").read_text())["eval"]
    trained = json.loads((built_in / "metrics.json").read_text())["eval"]
    for key in ("win_rate", "loss_rate", "vs_perfect_loss_rate"):
        assert runs["warm"][key] == pytest.approx(trained[key], abs=1e-12), key
    assert runs["cold"]["vs_perfect_loss_rate"] > trained["vs_perfect_loss_rate"] + 0.5


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
