"""The command line with the TicTacToe opponents and the PettingZoo adapter: a short job
reports both evaluations; bad games and opponents fail in one line before any work."""

from __future__ import annotations

import json

import pytest

from tests.app.test_cli import run_cli


def test_pettingzoo_job_reports_results_against_random_and_perfect(tmp_path):
    job = tmp_path / "job"
    proc = run_cli(["env=pettingzoo_tictactoe", "steps=3000", f"hydra.run.dir={job}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["env"] == "tictactoe_v3" and metrics["steps"] == 3000
    ev = metrics["eval"]
    for against in ("", "vs_perfect_"):
        rates = [ev[f"{against}{k}_rate"] for k in ("win", "draw", "loss")]
        assert sum(rates) == pytest.approx(1.0)
    assert "vs perfect" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["env.id=connect_four_v3"], "env.id=connect_four_v3: its observation Box(6, 7, 2)"),
        (["env.id=tictactoe"], "is not a PettingZoo classic game: allowed are chess_v6"),
    ],
)
def test_untabulable_or_unknown_games_exit_2_with_one_line(tmp_path, args, message):
    proc = run_cli(
        ["env=pettingzoo_tictactoe", *args, f"hydra.run.dir={tmp_path / 'x'}"],
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dist_classicrl: error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "x").exists()


def test_unknown_opponent_exits_2_listing_the_opponents(tmp_path):
    proc = run_cli(
        ["env.opponent=minimax", f"hydra.run.dir={tmp_path / 'x'}"], cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "dist_classicrl: error: env.opponent='minimax' is unknown: "
        "allowed are random, perfect, self (the minimax player is called perfect)"
    )
