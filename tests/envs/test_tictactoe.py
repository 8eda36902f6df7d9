"""TicTacToe against a random opponent: encoding, winner table, stepping rules, exact outcomes.

Every reference here is written independently of `dist_classicrl.envs.tictactoe`: the
8 lines are hard-coded, boards are decoded with plain integer arithmetic and the game
tree is enumerated with plain recursion.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

from dist_classicrl.envs.tictactoe import (
    N_STATES,
    TicTacToeEnv,
    decode,
    encode,
    exact_outcomes,
    winner_table,
)
from dist_classicrl.policies import greedy_actions

# Rows, columns, diagonals of a row-major 3x3 board, written out by hand.
REF_LINES = (
    (0, 1, 2),
    (3, 4, 5),
    (6, 7, 8),
    (0, 3, 6),
    (1, 4, 7),
    (2, 5, 8),
    (0, 4, 8),
    (2, 4, 6),
)


def ref_cells(code: int) -> list[int]:
    """Plain-Python decode: base-3 digits, least significant first."""
    cells = []
    for _ in range(9):
        cells.append(code % 3)
        code //= 3
    return cells


def ref_code(cells: list[int]) -> int:
    code = 0
    for i in reversed(range(9)):
        code = code * 3 + cells[i]
    return code


def ref_winner(cells: list[int]) -> int:
    """1 if the agent owns a line, else 2 if the opponent does, else 0 (agent first)."""
    agent = opponent = False
    for a, b, c in REF_LINES:
        if cells[a] == cells[b] == cells[c] != 0:
            if cells[a] == 1:
                agent = True
            else:
                opponent = True
    return 1 if agent else (2 if opponent else 0)


@lru_cache(maxsize=1)
def ref_winner_table() -> np.ndarray:
    return np.array([ref_winner(ref_cells(code)) for code in range(3**9)], dtype=np.int64)


@lru_cache(maxsize=1)
def ref_board_table() -> np.ndarray:
    return np.array([ref_cells(code) for code in range(3**9)], dtype=np.int64)


# --------------------------------------------------------------------------- encoding


def test_winner_table_matches_plain_python_line_check_for_all_codes():
    table = winner_table()
    assert table.shape == (N_STATES,)
    assert N_STATES == 19683
    expected = ref_winner_table()
    mismatches = np.flatnonzero(table.astype(np.int64) != expected)
    assert mismatches.size == 0, f"first mismatching codes: {mismatches[:10]}"
    # Sanity of the reference itself on a few boards written by hand.
    assert ref_winner([1, 1, 1, 0, 2, 2, 0, 0, 0]) == 1
    assert ref_winner([2, 1, 1, 0, 2, 1, 0, 0, 2]) == 2
    assert ref_winner([1, 2, 1, 1, 2, 2, 2, 1, 1]) == 0


def test_decode_matches_base3_digits_and_encode_inverts_it_for_all_codes():
    codes = np.arange(N_STATES)
    cells = decode(codes)
    assert cells.shape == (N_STATES, 9)
    np.testing.assert_array_equal(cells, ref_board_table())
    np.testing.assert_array_equal(encode(cells), codes)
    # Scalars too, and encode agrees with the plain-Python encoder.
    for code in (0, 1, 2, 3, 13122, 19682, 8463):
        assert int(encode(decode(code))) == code == ref_code(ref_cells(code))


# --------------------------------------------------------------------------- stepping


def random_legal_actions(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    scores = np.where(mask, rng.random(mask.shape), -1.0)
    return scores.argmax(axis=1)


def test_random_legal_play_respects_every_stepping_invariant():
    n_envs, n_steps = 256, 2500
    env = TicTacToeEnv(num_envs=n_envs, seed=1234)
    rng = np.random.default_rng(7)
    winner = ref_winner_table()
    boards = ref_board_table()

    obs, mask = env.reset()
    assert obs.dtype == np.int64 and obs.shape == (n_envs,)
    assert mask.dtype == np.bool_ and mask.shape == (n_envs, 9)
    start_cells = boards[obs]
    assert ((start_cells == 1).sum(1) == 0).all()
    opponent_started = (start_cells == 2).sum(1)
    assert set(np.unique(opponent_started)) <= {0, 1}
    episodes, opponent_starts = n_envs, int(opponent_started.sum())
    first_cell = np.zeros(9, dtype=np.int64)  # where the opponent's opening mark goes
    first_cell += np.bincount(start_cells.argmax(1)[opponent_started == 1], minlength=9)
    # reply_rank[m, k]: the opponent replied in the k-th of m empty cells (row-major order).
    reply_rank = np.zeros((10, 9), dtype=np.int64)
    outcomes = {1.0: 0, 0.0: 0, -1.0: 0}

    for _ in range(n_steps):
        np.testing.assert_array_equal(mask, boards[obs] == 0)
        actions = random_legal_actions(rng, mask)
        res = env.step(actions)
        nxt, term = res.next_obs, res.terminated
        for arr in (res.next_obs, res.obs):
            assert arr.dtype == np.int64
            assert ((arr >= 0) & (arr < N_STATES)).all()
        assert not res.truncated.any()
        assert set(np.unique(res.reward)) <= {-1.0, 0.0, 1.0}

        before, after = boards[obs], boards[nxt]
        rows = np.arange(n_envs)
        # The agent's mark is where it played; at most one other cell changed, to 2.
        assert (before[rows, actions] == 0).all()
        assert (after[rows, actions] == 1).all()
        changed = before != after
        changed[rows, actions] = False
        n_opp_moves = changed.sum(1)
        assert (n_opp_moves <= 1).all()
        assert (after[changed] == 2).all()
        assert (before[before != 0] == after[before != 0]).all()

        n_agent, n_opp = (after == 1).sum(1), (after == 2).sum(1)
        full = (after != 0).all(1)
        win = winner[nxt]
        # Masks: next_mask is the empty cells of next_obs, all False when terminated.
        np.testing.assert_array_equal(res.next_mask[term], np.zeros((term.sum(), 9), bool))
        np.testing.assert_array_equal(res.next_mask[~term], after[~term] == 0)
        np.testing.assert_array_equal(res.mask, boards[res.obs] == 0)
        # Terminated exactly when someone won or the board is full.
        np.testing.assert_array_equal(term, (win != 0) | full)

        live = ~term
        np.testing.assert_array_equal(res.obs[live], nxt[live])
        assert (res.reward[live] == 0.0).all()
        assert (n_opp_moves[live] == 1).all()
        np.testing.assert_array_equal(n_opp[live] - n_agent[live], opponent_started[live])

        won = res.reward == 1.0
        lost = res.reward == -1.0
        drew = term & (res.reward == 0.0)
        np.testing.assert_array_equal(won, term & (win == 1))
        np.testing.assert_array_equal(lost, term & (win == 2))
        assert (n_opp_moves[won] == 0).all()  # the agent's line ends it before any reply
        assert (n_opp_moves[lost] == 1).all()
        assert full[drew].all() and (win[drew] == 0).all()
        outcomes[1.0] += int(won.sum())
        outcomes[0.0] += int(drew.sum())
        outcomes[-1.0] += int(lost.sum())

        replied = n_opp_moves == 1
        empty_before_reply = (after == 0) | changed  # the board right after the agent's move
        m = empty_before_reply[replied].sum(1)
        k = (np.cumsum(empty_before_reply, axis=1) - 1)[changed]
        np.add.at(reply_rank, (m, k), 1)

        # Reset copies start empty or with exactly one opponent mark, nothing else.
        fresh = boards[res.obs[term]]
        assert ((fresh == 1).sum(1) == 0).all()
        fresh_opp = (fresh == 2).sum(1)
        assert ((fresh_opp == 0) | (fresh_opp == 1)).all()
        opponent_started = opponent_started.copy()
        opponent_started[term] = fresh_opp
        episodes += int(term.sum())
        opponent_starts += int(fresh_opp.sum())
        first_cell += np.bincount(fresh.argmax(1)[fresh_opp == 1], minlength=9)

        obs, mask = res.obs, res.mask

    assert episodes > 100_000
    frac = opponent_starts / episodes
    assert abs(frac - 0.5) < 5 * np.sqrt(0.25 / episodes), frac
    # Random play does produce every outcome.
    assert min(outcomes.values()) > 1000, outcomes
    # The opponent opens in each cell with probability 1/9 ...
    assert first_cell.sum() == opponent_starts
    sigma = np.sqrt(opponent_starts * (1 / 9) * (8 / 9))
    assert (np.abs(first_cell - opponent_starts / 9) < 5 * sigma).all(), first_cell
    # ... and replies uniformly among the empty cells.
    for m in range(2, 9):
        total = reply_rank[m].sum()
        assert total > 1000 and reply_rank[m, m:].sum() == 0
        sigma = np.sqrt(total * (1 / m) * (1 - 1 / m))
        assert (np.abs(reply_rank[m, :m] - total / m) < 5 * sigma).all(), (m, reply_rank[m])


def test_illegal_action_gives_minus_one_terminates_and_leaves_board_unchanged():
    env = TicTacToeEnv(num_envs=64, seed=3)
    obs, mask = env.reset()
    boards = ref_board_table()
    # Play one legal move everywhere so every board has marks.
    res = env.step(mask.argmax(axis=1))
    live = ~res.terminated
    assert live.all()
    obs = res.obs
    # Occupied cell (the agent's own mark), an out-of-range low and high index.
    occupied = (boards[obs] != 0).argmax(axis=1)
    for actions in (occupied, np.full(64, -1), np.full(64, 9)):
        before = obs.copy()
        res = env.step(actions)
        assert (res.reward == -1.0).all()
        assert res.terminated.all()
        assert not res.truncated.any()
        np.testing.assert_array_equal(res.next_obs, before)
        assert not res.next_mask.any()
        fresh = boards[res.obs]
        assert ((fresh == 1).sum(1) == 0).all() and ((fresh == 2).sum(1) <= 1).all()
        np.testing.assert_array_equal(res.mask, fresh == 0)
        # Get back to boards with marks for the next illegal kind.
        res = env.step(res.mask.argmax(axis=1))
        assert not res.terminated.any()
        obs = res.obs


def test_illegal_move_on_opponent_mark_right_after_reset_is_rejected():
    env = TicTacToeEnv(num_envs=200, seed=11)
    obs, _ = env.reset()
    cells = ref_board_table()[obs]
    opp_start = (cells == 2).any(axis=1)
    assert opp_start.any() and (~opp_start).any()
    actions = np.where(opp_start, (cells == 2).argmax(axis=1), 4)
    res = env.step(actions)
    np.testing.assert_array_equal(res.reward[opp_start], -1.0)
    assert res.terminated[opp_start].all()
    np.testing.assert_array_equal(res.next_obs[opp_start], obs[opp_start])


def rollout(env: TicTacToeEnv, n_steps: int, policy_seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(policy_seed)
    obs, mask = env.reset()
    out = [obs, mask]
    for _ in range(n_steps):
        res = env.step(random_legal_actions(rng, mask))
        out.extend(res[:4])
        out.extend([res.next_mask, res.obs, res.mask])
        mask = res.mask
    return out


def test_same_seed_gives_identical_trajectories():
    a = rollout(TicTacToeEnv(num_envs=32, seed=99), 200, policy_seed=5)
    b = rollout(TicTacToeEnv(num_envs=32, seed=99), 200, policy_seed=5)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_seeds_give_different_trajectories():
    a = rollout(TicTacToeEnv(num_envs=32, seed=99), 200, policy_seed=5)
    b = rollout(TicTacToeEnv(num_envs=32, seed=100), 200, policy_seed=5)
    # The next_obs arrays: items 2, 9, 16, ... of a rollout (7 arrays per step).
    a_obs = np.concatenate(a[2::7])
    b_obs = np.concatenate(b[2::7])
    assert a_obs.shape == b_obs.shape
    assert (a_obs != b_obs).mean() > 0.5


@pytest.mark.parametrize("opponent", ["random", "perfect", "self"])
def test_an_unstarted_reset_steps_as_a_reset_does(opponent):
    # `reset_unstarted` leaves the episodes' first draws to the next compiled step; the
    # batch path's step makes them first, so trajectories match `reset`'s exactly, also
    # through a checkpoint of the unstarted state
    class Zero:
        epsilon = 0.2

        def q_values(self):
            return np.zeros((N_STATES, 9), dtype=np.float32)

    def trajectory(env):
        rng = np.random.default_rng(0)
        out = []
        for _ in range(40):
            step = env.step(rng.integers(0, 9, size=env.num_envs))
            out += [step.obs, step.next_obs, step.reward, step.mask]
        return out

    envs = [TicTacToeEnv(num_envs=16, seed=1, opponent=opponent) for _ in range(3)]
    for env in envs:
        env.bind_learner(Zero())
    envs[0].reset(seed=7)
    envs[1].reset_unstarted(seed=7)
    assert (envs[1].counts == -1).all()
    envs[2].reset()
    envs[2].load_state(envs[1].state())
    expected = trajectory(envs[0])
    for env in envs[1:]:
        for x, y in zip(expected, trajectory(env), strict=True):
            np.testing.assert_array_equal(x, y)


def test_reset_with_seed_restarts_the_random_stream():
    env = TicTacToeEnv(num_envs=32, seed=1)
    rollout(env, 30, policy_seed=0)
    env.reset(seed=42)
    fresh = TicTacToeEnv(num_envs=32, seed=42)
    fresh.reset()
    actions = np.full(32, 4)
    fresh_res, env_res = fresh.step(actions), env.step(actions)
    for x, y in zip(fresh_res, env_res, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- exact outcomes


def enumerate_outcomes(choose) -> tuple[Fraction, Fraction, Fraction]:
    """(win, draw, loss) of the deterministic agent `choose(cells) -> cell` against a
    uniform opponent who starts half the games, by plain recursion over boards."""

    def agent_turn(cells: list[int]) -> tuple[Fraction, Fraction, Fraction]:
        c = choose(cells)
        assert cells[c] == 0
        cells = cells.copy()
        cells[c] = 1
        if ref_winner(cells) == 1:
            return Fraction(1), Fraction(0), Fraction(0)
        if all(cells):
            return Fraction(0), Fraction(1), Fraction(0)
        return opponent_turn(cells)

    def opponent_turn(cells: list[int]) -> tuple[Fraction, Fraction, Fraction]:
        empty = [i for i in range(9) if cells[i] == 0]
        total = [Fraction(0)] * 3
        for c in empty:
            nxt = cells.copy()
            nxt[c] = 2
            if ref_winner(nxt) == 2:
                part = (Fraction(0), Fraction(0), Fraction(1))
            elif all(nxt):
                part = (Fraction(0), Fraction(1), Fraction(0))
            else:
                part = agent_turn(nxt)
            total = [t + p for t, p in zip(total, part, strict=True)]
        return tuple(t / len(empty) for t in total)

    first = agent_turn([0] * 9)
    second = opponent_turn([0] * 9)
    return tuple((x + y) / 2 for x, y in zip(first, second, strict=True))


def test_exact_outcomes_sum_to_one_for_random_q_tables():
    rng = np.random.default_rng(0)
    for _ in range(3):
        q = rng.normal(size=(N_STATES, 9))
        out = exact_outcomes(q)
        assert len(out) == 3
        assert all(0.0 <= p <= 1.0 for p in out)
        assert sum(out) == pytest.approx(1.0, abs=1e-12)


def test_exact_outcomes_of_zero_q_table_match_lowest_empty_cell_enumeration():
    expected = enumerate_outcomes(lambda cells: cells.index(0))
    got = exact_outcomes(np.zeros((N_STATES, 9)))
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(float(e), abs=1e-12)
    # The reference is not degenerate: this policy wins, draws and loses sometimes.
    assert all(e > 0 for e in expected)


def test_exact_outcomes_of_random_q_table_match_plain_recursive_enumeration():
    q = np.random.default_rng(21).normal(size=(N_STATES, 9))

    def choose(cells: list[int]) -> int:
        row = q[ref_code(cells)]
        legal = [i for i in range(9) if cells[i] == 0]
        return max(legal, key=lambda i: (row[i], -i))

    expected = enumerate_outcomes(choose)
    got = exact_outcomes(q)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(float(e), abs=1e-12)


def test_evaluate_greedy_reports_exact_outcomes():
    q = np.random.default_rng(4).normal(size=(N_STATES, 9))
    win, draw, loss = exact_outcomes(q)
    report = TicTacToeEnv(num_envs=1, seed=0).evaluate_greedy(q, 0.9)
    assert report["win_rate"] == win and report["draw_rate"] == draw
    assert report["loss_rate"] == loss
    assert report["mean_return"] == pytest.approx(win - loss, abs=1e-15)


def test_exact_outcomes_match_sampled_games_played_in_the_env():
    q = np.random.default_rng(2024).normal(size=(N_STATES, 9))
    n_envs, per_env = 20_000, 10  # 200k games, the first `per_env` of each copy
    env = TicTacToeEnv(num_envs=n_envs, seed=555)
    obs, mask = env.reset()
    done = np.zeros(n_envs, dtype=np.int64)
    counts = {1.0: 0, 0.0: 0, -1.0: 0}
    while (done < per_env).any():
        res = env.step(greedy_actions(q[obs], mask))
        counted = res.terminated & (done < per_env)
        for r in counts:
            counts[r] += int((counted & (res.reward == r)).sum())
        done += res.terminated
        obs, mask = res.obs, res.mask
    n = n_envs * per_env
    assert sum(counts.values()) == n
    for p, r in zip(exact_outcomes(q), (1.0, 0.0, -1.0), strict=True):
        freq = counts[r] / n
        sigma = np.sqrt(p * (1 - p) / n)
        assert abs(freq - p) < 5 * sigma + 1e-9, (r, freq, p)
