"""SingleRuntime: budgets, schedules, evaluation, and learning quality against references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.runtimes import SingleRuntime
from dist_classicrl.schedules import Schedule


def train(name: str, env, steps: int, eval_points: int = 4, seed: int = 0, rule="q_learning"):
    eps = Schedule(1.0, 0.05, steps // 2, "linear")
    lr = Schedule(0.5, 0.01, steps, "linear")
    algo = VARIANTS[name](
        env.n_states,
        env.n_actions,
        learning_rate=0.5,
        discount=0.99,
        epsilon=1.0,
        seed=seed,
        rule=rule,
    )
    runtime = SingleRuntime(eval_points=eval_points, progress=False)
    return algo, runtime.train(algo, env, steps, eps, lr, seed=seed)


@pytest.mark.parametrize("num_envs", [1, 7, 64])
def test_learns_exactly_the_step_budget_even_when_it_is_not_a_multiple_of_num_envs(num_envs):
    algo, result = train("numpy", TicTacToeEnv(num_envs, seed=0), 1001)
    assert result.steps == 1001
    assert algo.step_count == 1001
    assert result.status == "completed"
    assert [row["step"] for row in result.curve][-1] == 1001
    assert len(result.curve) == 4


@pytest.mark.parametrize("rule", ["sarsa", "expected_sarsa"])
@pytest.mark.parametrize("name", ["list", "numpy", "optimal"])
def test_every_variant_learns_taxi_with_the_other_rules(name, rule):
    # 7 copies cut at 50 steps: truncated copies draw SARSA's extra a' (list, numpy: batch loop)
    env = make_env("gym", 7, id="Taxi-v4", seed=0, max_episode_steps=50)
    algo, result = train(name, env, 60_001, rule=rule)
    assert result.steps == 60_001 and algo.rule == rule
    untrained = env.evaluate_greedy(np.zeros((env.n_states, env.n_actions)), 0.99)
    assert result.eval["optimality_gap"] < untrained["optimality_gap"] / 2


def test_schedules_are_applied_by_global_step():
    _, result = train("optimal", TicTacToeEnv(16, seed=0), 20_000, eval_points=10)
    eps = [row["epsilon"] for row in result.curve]
    lrs = [row["learning_rate"] for row in result.curve]
    assert eps[0] > eps[3] > eps[-1] == pytest.approx(0.05)  # reaches its end at half-way
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_same_seed_gives_the_same_q_table_and_another_seed_does_not():
    _, a = train("optimal", TicTacToeEnv(8, seed=3), 30_000, seed=3)
    _, b = train("optimal", TicTacToeEnv(8, seed=3), 30_000, seed=3)
    _, c = train("optimal", TicTacToeEnv(8, seed=4), 30_000, seed=4)
    np.testing.assert_array_equal(a.q_table, b.q_table)
    assert not np.array_equal(a.q_table, c.q_table)


def test_untrained_policy_is_far_from_optimal_so_the_gap_bar_means_something():
    env = make_env("gym", num_envs=4, seed=0, id="Taxi-v4")
    result = env.evaluate_greedy(np.zeros((env.n_states, env.n_actions), np.float32), 0.99)
    assert result["optimality_gap"] > 1.0


@pytest.mark.parametrize("fused", [False, True])
def test_a_signal_stops_at_a_chunk_boundary_and_the_table_holds_exactly_the_counted_steps(
    monkeypatch, fused
):
    """SIGINT during training: the run stops after the current chunk, says interrupted,
    and its table is byte-identical to an uninterrupted run of exactly the counted steps
    (constant schedules, so the budget does not change the learning)."""
    import os
    import signal

    def run(steps, signal_after=None):
        env = TicTacToeEnv(4, seed=0)
        algo = VARIANTS["optimal"](env.n_states, env.n_actions, epsilon=0.3, seed=0)
        calls = {"n": 0}

        def signal_once(func):
            def wrapped(*args):
                calls["n"] += 1
                if calls["n"] == signal_after:
                    os.kill(os.getpid(), signal.SIGINT)  # handled between chunks
                return func(*args)

            return wrapped

        if signal_after is not None and fused:
            make_trainer = algo.fused_trainer
            monkeypatch.setattr(algo, "fused_trainer", lambda e: signal_once(make_trainer(e)))
        elif signal_after is not None:
            monkeypatch.setattr(env, "step", signal_once(env.step))
        runtime = SingleRuntime(eval_points=4, progress=False, fused=fused)
        constant = Schedule(0.3, 0.3, 0, "constant"), Schedule(0.5, 0.5, 0, "constant")
        return runtime.train(algo, env, steps, *constant, seed=0)

    stopped = run(10**11, signal_after=5 if fused else 2000)
    assert stopped.status == "interrupted" and stopped.stop_signal == "SIGINT"
    assert 0 < stopped.steps < 10**11
    assert "win_rate" in stopped.eval
    again = run(stopped.steps)
    assert again.status == "completed"
    np.testing.assert_array_equal(stopped.q_table, again.q_table)


@pytest.mark.parametrize("variant", ["list", "numpy", "optimal"])
def test_the_table_does_not_depend_on_how_the_machine_chunks_the_run(monkeypatch, variant):
    """Chunks are sized by time, so they fall differently on every run: with decaying
    schedules the table must still be the same (schedules change at fixed ticks)."""
    from dist_classicrl.runtimes import driver

    def run(target_s):
        monkeypatch.setattr(driver, "TARGET_CHUNK_S", target_s)
        env = TicTacToeEnv(8, seed=0)
        algo = VARIANTS[variant](env.n_states, env.n_actions, epsilon=1.0, seed=0)
        steps = 40_000
        runtime = SingleRuntime(eval_points=3, progress=False)
        schedules = Schedule(1.0, 0.05, steps // 2), Schedule(0.5, 0.01, steps)
        return runtime.train(algo, env, steps, *schedules, seed=0)

    fine, coarse = run(1e-5), run(10.0)  # chunks of one batch, and whole ticks
    np.testing.assert_array_equal(fine.q_table, coarse.q_table)
    assert [r["step"] for r in fine.curve] == [r["step"] for r in coarse.curve]
