"""Learning quality of the shipped configs, checked against independent references:
exact game enumeration for TicTacToe, value iteration on P for the toy-text envs."""

from __future__ import annotations

import pytest

from dist_classicrl.app.job import build


def train_default(cfg):
    algorithm, env, runtime, epsilon, learning_rate = build(cfg)
    runtime.progress = False
    return runtime.train(algorithm, env, cfg.steps, epsilon, learning_rate, seed=cfg.seed)


def test_default_job_beats_the_random_opponent(compose_config):
    cfg = compose_config([])
    assert cfg.algorithm._target_.endswith("OptimalQLearning") and cfg.env.kind == "tictactoe"
    result = train_default(cfg)
    # Exact over every opponent choice, opponent starting half of the games.
    assert result.eval["loss_rate"] <= 0.01
    assert result.eval["win_rate"] >= 0.94
    total = result.eval["win_rate"] + result.eval["draw_rate"] + result.eval["loss_rate"]
    assert total == pytest.approx(1.0)


@pytest.mark.parametrize("env", ["frozenlake", "taxi", "cliffwalking"])
def test_env_defaults_reach_two_percent_of_the_value_iteration_optimum(compose_config, env):
    result = train_default(compose_config([f"env={env}"]))
    assert -1e-8 <= result.eval["optimality_gap"] <= 0.02


def test_frozenlake8x8_with_its_documented_budget_reaches_two_percent(compose_config):
    # README: env=frozenlake8x8 needs steps=10000000 schedule.learning_rate.end=0.001
    overrides = ["env=frozenlake8x8", "steps=10000000", "schedule.learning_rate.end=0.001"]
    result = train_default(compose_config(overrides))
    assert -1e-8 <= result.eval["optimality_gap"] <= 0.02
