"""PettingZoo self-play adapter: the encoding and the rules are the built-in TicTacToe's,
the self-play transitions are the documented ones, untabulable games are refused.

References: PettingZoo's own board (``board.squares``: 0 empty, 1 player_1, 2 player_2)
decoded by hand, the hand-written line check and base-3 code of test_tictactoe."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.classic.tictactoe import tictactoe

from dist_classicrl.algorithms import OptimalQLearning
from dist_classicrl.envs import make_env
from dist_classicrl.envs.pettingzoo_adapter import BoardEncoder, PettingZooSelfPlayEnv
from dist_classicrl.envs.tictactoe import N_STATES, decode, exact_outcomes, swap_table
from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes.loop import TrainingLoop
from tests.envs.test_tictactoe import ref_code, ref_winner
from tests.envs.test_tictactoe_opponents import StubLearner


def squares_code(squares: list[int], me: int) -> int:
    """Built-in code of PettingZoo's board seen by player `me` (1 or 2)."""
    return ref_code([0 if v == 0 else (1 if v == me else 2) for v in squares])


def test_codes_and_outcomes_agree_with_the_built_in_game_on_random_games():
    game = tictactoe.env()  # with PettingZoo's checks, unlike the adapter
    seat = game.possible_agents[0]
    encode = BoardEncoder("tictactoe_v3", game.observation_space(seat), 9)
    rng = np.random.default_rng(0)
    positions = 0
    for episode in range(150):
        game.reset(seed=episode)
        while not any(game.terminations.values()):
            mover = game.agent_selection
            me = game.possible_agents.index(mover) + 1
            squares = list(game.unwrapped.board.squares)
            code = encode(game.observe(mover)["observation"])
            assert code == squares_code(squares, me)
            other = game.possible_agents[2 - me]
            assert encode(game.observe(other)["observation"]) == swap_table()[code]
            legal = np.flatnonzero(game.observe(mover)["action_mask"])
            np.testing.assert_array_equal(legal, np.flatnonzero(decode(code) == 0))
            action = int(rng.choice(legal))
            game.step(action)
            after = code + 3**action  # the built-in rule: action i marks cell i
            assert after == squares_code(list(game.unwrapped.board.squares), me)
            built_in = ref_winner(list(decode(after)))
            if game.terminations[mover]:
                assert game.rewards[mover] == (1 if built_in == 1 else 0)
                assert built_in == 1 or 0 not in decode(after)
            else:
                assert built_in == 0
            positions += 1
    assert positions > 800


def test_a_q_table_plays_the_same_in_pettingzoo_as_in_the_built_in_game():
    q = np.random.default_rng(1).random((N_STATES, 9)).astype(np.float32)
    env = PettingZooSelfPlayEnv("tictactoe_v3", 1, seed=0, eval_episodes=6000)
    sampled = env._sampled_vs_random(q)  # greedy vs random, played in PettingZoo
    win, draw, loss = exact_outcomes(q)  # the built-in enumeration
    assert sampled["win_rate"] == pytest.approx(win, abs=0.025)
    assert sampled["draw_rate"] == pytest.approx(draw, abs=0.025)
    assert sampled["loss_rate"] == pytest.approx(loss, abs=0.025)
    assert env.evaluate_greedy(q)["loss_rate"] == loss  # tictactoe_v3 evaluates exactly


def test_self_play_transitions_are_the_learning_seats_own():
    """obs is the learning seat's state; next_obs is its next state after the other
    seat's greedy reply from the same table, swapped to its own view."""
    q = np.random.default_rng(2).random((N_STATES, 9)).astype(np.float32)
    swap = swap_table()
    env = PettingZooSelfPlayEnv("tictactoe_v3", 8, seed=3)
    env.bind_learner(StubLearner(q, epsilon=0.0))
    obs, mask = env.reset()
    rng = np.random.default_rng(3)
    started = {True: 0, False: 0}
    rewards = {-1.0: 0, 0.0: 0, 1.0: 0}
    for _ in range(300):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        res = env.step(actions)
        for i in range(env.num_envs):
            cells = decode(int(obs[i]))
            mine, theirs = (cells == 1).sum(), (cells == 2).sum()
            assert theirs in (mine, mine + 1)  # the learning seat is to move
            started[bool(mine == theirs)] += 1
            after = int(obs[i]) + 3 ** int(actions[i])
            nxt = int(res.next_obs[i])
            if res.terminated[i]:
                w = ref_winner(list(decode(nxt)))
                expected = 1.0 if w == 1 else (-1.0 if w == 2 else 0.0)
                assert res.reward[i] == expected
                rewards[expected] += 1
                continue
            assert res.reward[i] == 0.0
            reply = np.flatnonzero(decode(nxt) - decode(after))
            assert len(reply) == 1 and decode(nxt)[reply[0]] == 2
            legal = np.flatnonzero(decode(after) == 0)
            assert reply[0] == legal[np.argmax(q[swap[after], legal])]
            np.testing.assert_array_equal(res.next_mask[i], decode(nxt) == 0)
        obs, mask = res.obs, res.mask
    assert min(started.values()) > 200  # both seats learn
    assert min(rewards.values()) > 10


def test_an_illegal_action_loses_and_leaves_the_board():
    env = PettingZooSelfPlayEnv("tictactoe_v3", 4, seed=4)
    env.bind_learner(StubLearner(np.zeros((N_STATES, 9), np.float32), 0.5))
    obs, mask = env.reset()
    actions = np.array([np.flatnonzero(~m)[0] if (~m).any() else 9 for m in mask])
    res = env.step(actions)
    np.testing.assert_array_equal(res.next_obs, obs)
    assert res.terminated.all() and (res.reward == -1.0).all()
    assert not res.next_mask.any()


def test_self_play_without_a_learner_is_a_programming_error():
    with pytest.raises(RuntimeError, match="bind_learner"):
        PettingZooSelfPlayEnv("tictactoe_v3", 2, seed=0).reset()


def test_a_short_self_play_run_learns_through_the_runtime_loop():
    env = make_env("pettingzoo", 16, id="tictactoe_v3", seed=0)
    algo = OptimalQLearning(env.n_states, env.n_actions, learning_rate=0.5, epsilon=0.3, seed=0)
    loop = TrainingLoop(algo, env)  # binds the learner
    loop.start(0)
    loop.run(20_000)
    assert loop.stats.totals()[0] > 2_000  # episodes
    before = env.evaluate_greedy(np.zeros((N_STATES, 9), np.float32))
    after = env.evaluate_greedy(algo.q_table)
    assert after["loss_rate"] < before["loss_rate"] - 0.1


@pytest.mark.parametrize(
    ("game", "message"),
    [
        ("connect_four_v3", "env.id=connect_four_v3: its observation Box(6, 7, 2) has 3**42"),
        ("rps_v2", "env.id=rps_v2: its observation Discrete(4) is not a board of 0/1 planes"),
        ("nope_v1", "env.id='nope_v1' is not a PettingZoo classic game: allowed are"),
        ("tictactoe", "allowed are chess_v6, connect_four_v3,"),
    ],
)
def test_games_that_cannot_be_tabulated_are_one_line(game, message):
    with pytest.raises(ConfigError) as info:
        make_env("pettingzoo", 2, id=game)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    if "allowed" in message:
        assert "tictactoe_v3" in str(info.value)


def test_pettingzoo_kind_needs_an_id():
    with pytest.raises(ConfigError, match=r"needs env\.id"):
        make_env("pettingzoo", 2)
