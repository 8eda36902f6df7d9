"""TicTacToe opponents with the shipped defaults: the greedy policy never loses to the
perfect player (exact enumeration of every optimal reply, both seats)."""

from __future__ import annotations

import pytest

from tests.app.test_quality import train_default


@pytest.mark.parametrize("opponent", ["perfect", "self"])
def test_training_against_the_perfect_player_or_itself_never_loses_to_the_perfect_player(
    compose_config, opponent
):
    result = train_default(compose_config([f"env.opponent={opponent}"]))
    assert result.eval["vs_perfect_loss_rate"] == 0.0
    assert result.eval["vs_perfect_draw_rate"] == 1.0  # nobody beats a perfect player
    if opponent == "self":  # self-play also meets the random player's bar
        assert result.eval["loss_rate"] <= 0.01


def test_the_random_opponent_alone_does_not_teach_perfect_defence(compose_config):
    # What the opponents are for: the default job loses to the perfect player.
    result = train_default(compose_config([]))
    assert result.eval["vs_perfect_loss_rate"] > 0.05


@pytest.mark.parametrize("sync", ["shared", "merge"])
def test_self_play_learns_through_the_parallel_runtime(compose_config, sync):
    # Each worker's opponent reads the table that worker learns into (shared or private).
    overrides = ["env.opponent=self", "runtime=parallel", "runtime.num_workers=2"]
    result = train_default(compose_config([*overrides, f"runtime.sync={sync}"]))
    assert result.eval["vs_perfect_loss_rate"] == 0.0
    assert result.eval["loss_rate"] <= 0.01


def test_pettingzoo_self_play_defaults_never_lose_to_perfect_and_beat_random(compose_config):
    # The bar for env=pettingzoo_tictactoe with its defaults (about 20 s here):
    # both seats learn every game; exact evaluation in both seats.
    result = train_default(compose_config(["env=pettingzoo_tictactoe"]))
    assert result.eval["vs_perfect_loss_rate"] == 0.0
    assert result.eval["loss_rate"] <= 0.01
    assert result.statistics["episodes"] > 50_000  # games: every step is a move of either seat
