"""The plain-Gymnasium TicTacToe and the compiled one are the same game."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dist_classicrl.envs.tictactoe import exact_outcomes
from dist_classicrl.policies import greedy_actions


def test_gym_tictactoe_outcomes_match_the_exact_enumeration_of_the_compiled_game():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(3**9, 9)).astype(np.float32)
    env = gym.make("dist_classicrl/TicTacToe-v0")
    outcomes = np.zeros(3)  # win, draw, loss
    games = 20_000
    obs, info = env.reset(seed=1)
    for _ in range(games):
        done = False
        while not done:
            action = int(greedy_actions(q[obs][None], info["action_mask"][None].astype(bool))[0])
            obs, reward, done, _, info = env.step(action)
        outcomes[{1.0: 0, 0.0: 1, -1.0: 2}[reward]] += 1
        obs, info = env.reset()
    exact = np.array(exact_outcomes(q))
    sigma = np.sqrt(exact * (1 - exact) / games)
    assert np.all(np.abs(outcomes / games - exact) < 5 * sigma + 1e-12), (outcomes / games, exact)


def test_gym_tictactoe_illegal_move_loses_and_leaves_the_board():
    env = gym.make("dist_classicrl/TicTacToe-v0")
    obs, info = env.reset(seed=3)
    obs, _, done, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    assert not done  # one move each cannot end a game
    occupied = int(np.flatnonzero(info["action_mask"] == 0)[0])
    after, reward, done, truncated, _ = env.step(occupied)
    assert (reward, done, truncated) == (-1.0, True, False)
    assert after == obs
