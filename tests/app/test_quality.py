"""Learning quality of the shipped configs, checked against independent references:
exact game enumeration for TicTacToe, value iteration on P for the toy-text envs."""

from __future__ import annotations

import pytest

from dist_classicrl.app.job import build


def train_default(cfg):
    agent = build(cfg)
    agent.runtime.progress = False
    return agent.learn(cfg.steps).result


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


def epsilon_greedy_fixed_point_gap(env, epsilon: float, discount: float) -> float:
    """Optimality gap of the greedy policy of Expected SARSA's fixed point at `epsilon`:
    value iteration on P with the backup ``(1-eps) max Q + eps mean Q`` (independent of
    the learners). At eps = 0 this is Q-learning's optimum."""
    import numpy as np

    from dist_classicrl.envs.tabular_model import optimality_gap

    model, values = env.model, np.zeros(env.n_states)
    for _ in range(100_000):
        q = model.q_backup(values, discount)
        new = (1 - epsilon) * q.max(axis=1) + epsilon * q.mean(axis=1)
        if np.max(np.abs(new - values)) < 1e-10:
            break
        values = new
    return optimality_gap(model, q.argmax(axis=1), discount)["optimality_gap"]


@pytest.mark.parametrize(
    ("env", "rule"),
    [("taxi", "sarsa"), ("taxi", "expected_sarsa"), ("cliffwalking", "expected_sarsa")],
)
def test_on_policy_rules_reach_two_percent_with_the_env_defaults(compose_config, env, rule):
    cfg = compose_config([f"env={env}", f"algorithm.rule={rule}"])
    if env == "cliffwalking":  # the bar needs a fixed point on the edge (see below)
        eps = cfg.schedule.epsilon.end
        agent = build(cfg)
        assert epsilon_greedy_fixed_point_gap(agent.env, eps, agent.algorithm.discount) == 0
    result = train_default(cfg)
    assert -1e-8 <= result.eval["optimality_gap"] <= 0.02


def test_sarsa_on_cliffwalking_defaults_reaches_the_goal_without_falling(compose_config):
    # SARSA's sampled a' makes it keep some edge values learned from rare falls (its
    # greedy path is 15 steps, not 13: docs/algorithms.md); the issue asks for its gap and
    # on-policy return to be reported, and a greedy policy that walks into a wall (-200)
    # or falls (-100) would show here.
    result = train_default(compose_config(["env=cliffwalking", "algorithm.rule=sarsa"]))
    assert result.eval["optimality_gap"] <= 0.3  # at most two rows above the edge
    assert result.eval["mean_return"] >= -17
    assert result.curve[-1]["train_mean_return"] >= -20


def test_cliffwalking_classic_comparison_at_epsilon_0_1(compose_config):
    # Sutton & Barto, Example 6.6 (epsilon 0.1): Q-learning learns the optimal path along
    # the cliff edge and falls off while exploring; SARSA and Expected SARSA learn the
    # value of the epsilon-greedy policy, whose best path keeps away from the edge. Their
    # greedy gap to Q* is that of Expected SARSA's own fixed point at epsilon 0.1 (two
    # steps longer) or, for SARSA, one row further; their return while exploring is better.
    overrides = ["env=cliffwalking", "schedule.epsilon.start=0.1", "schedule.epsilon.end=0.1"]
    results = {
        rule: train_default(compose_config([*overrides, f"algorithm.rule={rule}"]))
        for rule in ("q_learning", "sarsa", "expected_sarsa")
    }
    agent = build(compose_config(overrides))
    safe_gap = epsilon_greedy_fixed_point_gap(agent.env, 0.1, agent.algorithm.discount)
    assert 0.1 < safe_gap < 0.2  # the reference itself: not Q* (gap 0) at epsilon 0.1
    assert results["q_learning"].eval["optimality_gap"] <= 0.02
    assert results["expected_sarsa"].eval["optimality_gap"] == pytest.approx(safe_gap, abs=0.02)
    assert safe_gap - 0.02 <= results["sarsa"].eval["optimality_gap"] <= 0.3
    q_on_policy = results["q_learning"].curve[-1]["train_mean_return"]
    for rule in ("sarsa", "expected_sarsa"):
        on_policy = results[rule].curve[-1]["train_mean_return"]
        assert on_policy > q_on_policy + 15, rule  # measured: about -21 against -46
