"""`dist_classicrl.QLearning`, the Stable-Baselines3-style API: the issue's snippet learns
near-optimal policies (checked against value iteration), predicts, saves and loads; a
second `learn` continues; bad arguments are refused in one line."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import dist_classicrl as dc
from dist_classicrl.envs import make_env
from dist_classicrl.envs.tictactoe import decode


def test_the_snippet_learns_predicts_saves_and_loads(tmp_path):
    agent = dc.QLearning(gym.make("FrozenLake-v1"), variant="optimal", seed=0)
    agent.learn(total_timesteps=3_000_000)
    assert agent.num_timesteps == 3_000_000 and agent.result.status == "completed"
    report = agent.evaluate()  # exact: value iteration on the env's own table P
    assert report["optimality_gap"] <= 0.02
    action, state = agent.predict(0, deterministic=True)
    assert isinstance(action, int) and state is None
    agent.save(tmp_path / "frozenlake.npz")
    loaded = dc.QLearning.load(tmp_path / "frozenlake.npz")
    np.testing.assert_array_equal(loaded.q_table, agent.q_table)
    assert loaded.num_timesteps == 3_000_000
    assert loaded.evaluate() == report

    taxi = dc.QLearning("taxi", runtime="parallel", num_workers=2, seed=0)
    taxi.learn(total_timesteps=3_000_000)
    actions, _ = taxi.predict(np.arange(500), deterministic=True)
    assert actions.shape == (500,) and actions.dtype == np.int64
    np.testing.assert_array_equal(actions, taxi.q_table.argmax(axis=1))
    assert taxi.evaluate()["optimality_gap"] <= 0.02


def test_a_gymnasium_id_and_a_pettingzoo_game_are_envs_too():
    cliff = dc.QLearning("CliffWalking-v1", variant="numpy", seed=0, num_envs=8)
    assert cliff.env.n_states == 48 and cliff.env.num_envs == 8
    cliff.learn(20_000)
    from pettingzoo.classic import tictactoe_v3

    selfplay = dc.QLearning(tictactoe_v3.env(), num_envs=4, seed=0)
    selfplay.learn(5_000)
    assert selfplay.num_timesteps == 5_000


def test_predict_never_plays_an_illegal_tictactoe_move():
    agent = dc.QLearning("tictactoe", seed=0).learn(200_000)
    states = np.arange(agent.env.n_states)
    for deterministic in (True, False):
        actions, _ = agent.predict(states, deterministic=deterministic)
        cells = decode(states)
        playable = (cells == 0).any(axis=1)  # a full board has no legal move at all
        assert (cells[playable, actions[playable]] == 0).all()


def test_a_second_learn_continues_from_the_table_learned():
    agent = dc.QLearning("frozenlake", seed=0).learn(500_000)
    before = agent.q_table
    assert np.abs(before).max() > 0
    agent.learning_rate = dc.ScheduleSpec(1e-9, 1e-9)  # learns (almost) nothing more
    agent.learn(64_000)
    assert agent.num_timesteps == 564_000
    np.testing.assert_allclose(agent.q_table, before, atol=1e-5)


def test_schedules_take_a_float_a_relative_spec_or_a_schedule():
    agent = dc.QLearning("taxi", seed=0, epsilon=0.2, learning_rate=dc.ScheduleSpec(0.5, 0.1))
    agent.learn(400_000)
    curve = agent.result.curve
    assert {row["epsilon"] for row in curve} == {0.2}
    assert curve[-1]["learning_rate"] == pytest.approx(0.1)
    fixed = dc.QLearning("taxi", seed=0, epsilon=dc.Schedule(1.0, 0.0, 100_000))
    fixed.learn(400_000)
    assert fixed.result.curve[-1]["epsilon"] == 0.0


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: dc.QLearning("taxi", variant="fast"), "variant='fast' is unknown"),
        (lambda: dc.QLearning("taxi", runtime="gpu"), "runtime='gpu' is unknown"),
        (lambda: dc.QLearning("Taxi-v9"), "not a registered Gymnasium env"),
        (lambda: dc.QLearning("taxi", learning_rate=0.0), "learning_rate"),
        (lambda: dc.QLearning("taxi", epsilon="high"), "epsilon='high'"),
        (lambda: dc.QLearning("taxi", runtime="parallel", workers=2), "runtime=parallel"),
        (lambda: dc.QLearning(object()), "is not a Gymnasium env"),
        (lambda: dc.QLearning("taxi").learn(0), "total_timesteps"),
        (lambda: dc.QLearning("taxi").predict(500), "observation=500"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(make, words):
    with pytest.raises(dc.ConfigError, match=words) as info:
        make()
    assert "\n" not in str(info.value)


def test_load_refuses_other_files_and_envs_of_another_shape(tmp_path):
    np.savez(tmp_path / "table.npz", q=np.zeros((3, 3)))
    with pytest.raises(dc.ConfigError, match="load="):
        dc.QLearning.load(tmp_path / "table.npz")
    dc.QLearning("frozenlake", seed=0).save(tmp_path / "lake.npz")
    with pytest.raises(dc.ConfigError, match="16 x 4, env Taxi-v4 has 500 x 6"):
        dc.QLearning.load(tmp_path / "lake.npz", env="taxi")
    with pytest.raises(dc.ConfigError, match="cannot be described"):
        dc.QLearning(make_env("taxi", 2, seed=0)).save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
