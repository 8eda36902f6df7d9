"""PettingZoo self-play adapter: the encoding and the rules are the built-in TicTacToe's,
every move of both seats is learned once, from the mover's view, untabulable games are refused.

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


def test_every_move_of_both_seats_is_learned_once_from_the_movers_own_view():
    """Each step reports the move the other seat has just replied to (or that ended the
    game), rebuilt here from the actions alone with the base-3 rule and the hand-written
    line check: own view, reward of the mover, both seats, each move exactly once."""
    env = PettingZooSelfPlayEnv("tictactoe_v3", 8, seed=3)
    obs, mask = env.reset()
    rng = np.random.default_rng(3)
    history = [[] for _ in range(env.num_envs)]  # per copy: (state, action) of each step
    learned = [[] for _ in range(env.num_envs)]
    seats = {True: 0, False: 0}
    outcomes = {-1.0: 0, 0.0: 0, 1.0: 0}
    for t in range(400):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        res = env.step(actions)
        got = res.learned
        for i in range(env.num_envs):
            state, action = int(obs[i]), int(actions[i])
            history[i].append((state, action))
            if t == 0:
                assert not got.valid[i]  # nothing to complete yet
                continue
            assert got.valid[i]  # every later step completes exactly one move
            move = (int(got.obs[i]), int(got.actions[i]))
            learned[i].append(move)
            cells = decode(move[0])
            seats[bool((cells == 1).sum() == (cells == 2).sum())] += 1  # first seat or not
            after = move[0] + 3 ** move[1]
            nxt = int(got.next_obs[i])
            if got.terminated[i]:
                w = ref_winner(list(decode(nxt)))
                expected = 1.0 if w == 1 else (-1.0 if w == 2 else 0.0)
                assert got.reward[i] == expected
                assert not got.next_mask[i].any()
                outcomes[expected] += 1
                continue
            # the other seat's reply is this step's action, in the mover's view a 2
            assert move == history[i][-2]
            assert nxt == after + 2 * 3**action and swap_table()[state] == after
            assert got.reward[i] == 0.0 and nxt == int(res.obs[i])
            np.testing.assert_array_equal(got.next_mask[i], decode(nxt) == 0)
        obs, mask = res.obs, res.mask
    for i in range(env.num_envs):
        # all moves but the ones still waiting for a reply, in order, once each
        assert learned[i] == history[i][: len(learned[i])]
        assert len(history[i]) - len(learned[i]) <= 2
    assert min(seats.values()) > 1000  # both seats learn
    assert min(outcomes.values()) > 50
    # each decisive game teaches one win and one loss (but the last, possibly unreported)
    assert abs(outcomes[1.0] - outcomes[-1.0]) <= env.num_envs


def test_an_episode_is_a_game_with_the_first_seats_result():
    env = PettingZooSelfPlayEnv("tictactoe_v3", 1, seed=5)
    _, mask = env.reset()
    rng = np.random.default_rng(5)
    plies, results = 0, []
    for _ in range(500):
        res = env.step(np.array([rng.choice(np.flatnonzero(mask[0]))]))
        plies += 1
        if res.terminated[0]:
            w = ref_winner(list(decode(int(res.next_obs[0]))))  # the mover's view
            mover_first = plies % 2 == 1
            expected = 0.0 if w == 0 else (1.0 if mover_first else -1.0)
            assert res.reward[0] == expected
            results.append(expected)
            assert int(res.obs[0]) == 0  # the next game starts on an empty board
            plies = 0
        else:
            assert res.reward[0] == 0.0
        mask = res.mask
    assert {-1.0, 0.0, 1.0} <= set(results)


def test_an_illegal_action_loses_and_leaves_the_board():
    env = PettingZooSelfPlayEnv("tictactoe_v3", 4, seed=4)
    obs, mask = env.reset()
    actions = np.array([np.flatnonzero(~m)[0] if (~m).any() else 9 for m in mask])
    res = env.step(actions)
    np.testing.assert_array_equal(res.next_obs, obs)
    assert res.terminated.all() and (res.reward == -1.0).all()  # the first seat moved
    got = res.learned
    assert got.valid.all() and got.terminated.all() and (got.reward == -1.0).all()
    np.testing.assert_array_equal(got.obs, obs)
    np.testing.assert_array_equal(got.actions, actions)
    assert not res.next_mask.any()


def test_a_short_self_play_run_learns_through_the_runtime_loop():
    env = make_env("pettingzoo", 16, id="tictactoe_v3", seed=0)
    algo = OptimalQLearning(env.n_states, env.n_actions, learning_rate=0.5, epsilon=0.3, seed=0)
    loop = TrainingLoop(algo, env)
    loop.start(0)
    loop.run(20_000)
    assert loop.stats.totals()[0] > 1_500  # games of 5-9 moves
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
