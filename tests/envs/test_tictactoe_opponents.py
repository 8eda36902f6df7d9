"""TicTacToe opponents: the minimax table against brute force, each opponent's moves,
evaluation against the perfect player, bad values.

References here do not use the module's search: brute-force negamax is plain recursion
without memoisation over hand-decoded boards (`ref_cells` of test_tictactoe)."""

from __future__ import annotations

import numpy as np
import pytest

from dist_classicrl.app.preflight import preflight
from dist_classicrl.envs import make_env
from dist_classicrl.envs.tictactoe import (
    N_STATES,
    TicTacToeEnv,
    decode,
    exact_outcomes,
    minimax_tables,
    swap_table,
)
from dist_classicrl.errors import ConfigError
from tests.envs.test_tictactoe import REF_LINES, ref_cells, ref_code


def ref_has_line(cells: list[int], mark: int) -> bool:
    return any(cells[a] == cells[b] == cells[c] == mark for a, b, c in REF_LINES)


def ref_negamax(cells: list[int], me: int) -> int:
    """Value for `me` to move on `cells` (marks 1, 2), by full search without memo."""
    other = 3 - me
    best = -2
    for c in range(9):
        if cells[c] == 0:
            cells[c] = me
            if ref_has_line(cells, me):
                v = 1
            elif 0 not in cells:
                v = 0
            else:
                v = -ref_negamax(cells, other)
            cells[c] = 0
            best = max(best, v)
    return best


def ref_best_moves(cells: list[int]) -> set[int]:
    """Cells that keep the value, for mark 1 to move."""
    values = {}
    for c in range(9):
        if cells[c] == 0:
            cells[c] = 1
            if ref_has_line(cells, 1):
                values[c] = 1
            elif 0 not in cells:
                values[c] = 0
            else:
                values[c] = -ref_negamax(cells, 2)
            cells[c] = 0
    best = max(values.values())
    return {c for c, v in values.items() if v == best}


def reachable_mover_positions() -> list[int]:
    """Unfinished positions with mark 1 to move, either side having started."""
    seen: set[int] = set()
    visited: set[tuple[int, int]] = set()

    def walk(cells: list[int], mover: int) -> None:
        key = (ref_code(cells), mover)
        if key in visited or ref_has_line(cells, 1) or ref_has_line(cells, 2) or 0 not in cells:
            return
        visited.add(key)
        if mover == 1:
            seen.add(key[0])
        for c in range(9):
            if cells[c] == 0:
                cells[c] = mover
                walk(cells, 3 - mover)
                cells[c] = 0

    walk([0] * 9, 1)
    walk([0] * 9, 2)
    return sorted(seen)


# ------------------------------------------------------------------------- minimax table


def test_empty_board_is_a_draw_with_every_first_move_optimal():
    value, best_cells, n_best = minimax_tables()
    assert value[0] == 0
    assert n_best[0] == 9 and list(best_cells[0]) == list(range(9))


def test_minimax_table_covers_exactly_the_reachable_positions():
    _, _, n_best = minimax_tables()
    reachable = reachable_mover_positions()
    assert set(np.flatnonzero(n_best > 0)) == set(reachable)


def test_minimax_values_and_moves_agree_with_brute_force_negamax_on_sampled_positions():
    value, best_cells, n_best = minimax_tables()
    reachable = reachable_mover_positions()
    rng = np.random.default_rng(0)
    deep = [c for c in reachable if sum(x != 0 for x in ref_cells(c)) >= 3]
    sample = rng.choice(deep, size=100, replace=False).tolist()
    for code in sample:
        cells = ref_cells(code)
        assert value[code] == ref_negamax(cells, 1), code
        assert set(best_cells[code, : n_best[code]].tolist()) == ref_best_moves(cells), code
    assert {int(value[c]) for c in sample} == {-1, 0, 1}  # the sample sees every outcome


def test_swap_table_exchanges_the_two_marks():
    swap = swap_table()
    for code in np.random.default_rng(1).integers(0, N_STATES, 300):
        expected = [{0: 0, 1: 2, 2: 1}[x] for x in ref_cells(int(code))]
        assert swap[code] == ref_code(expected)
    np.testing.assert_array_equal(swap[swap], np.arange(N_STATES))


def test_the_perfect_player_never_loses_to_random_in_either_seat():
    """Every optimal choice of the perfect player, every random reply, both seats."""
    _, best_cells, n_best = minimax_tables()

    def lines(cells: list[int], perfect_to_move: bool) -> tuple[int, int]:
        """(games the perfect player (mark 1) loses, games it wins), over all branches."""
        if ref_has_line(cells, 2):
            return 1, 0
        if ref_has_line(cells, 1):
            return 0, 1
        if 0 not in cells:
            return 0, 0
        if perfect_to_move:
            code = ref_code(cells)
            moves, mark = best_cells[code, : n_best[code]].tolist(), 1
        else:
            moves, mark = [c for c in range(9) if cells[c] == 0], 2
        lost = won = 0
        for c in moves:
            cells[c] = mark
            lo, wo = lines(cells, not perfect_to_move)
            cells[c] = 0
            lost, won = lost + lo, won + wo
        return lost, won

    for perfect_starts in (True, False):
        lost, won = lines([0] * 9, perfect_starts)
        assert lost == 0
        assert won > 0


# ----------------------------------------------------------------------- env opponents


def play_random_legal(env: TicTacToeEnv, steps: int, seed: int):
    """Yield (code before the agent's move, action, next code, terminated) per copy."""
    rng = np.random.default_rng(seed)
    obs, mask = env.reset(seed=seed)
    for _ in range(steps):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        res = env.step(actions)
        for i in range(env.num_envs):
            yield int(obs[i]), int(actions[i]), int(res.next_obs[i]), bool(res.terminated[i])
        obs, mask = res.obs, res.mask


def opponent_cell(code: int, action: int, next_code: int) -> int | None:
    """The cell the opponent marked in this step, or None if it did not move."""
    added = decode(next_code) - decode(code + 3**action)
    moved = np.flatnonzero(added)
    assert len(moved) <= 1 and (len(moved) == 0 or added[moved[0]] == 2)
    return int(moved[0]) if len(moved) else None


def test_the_perfect_opponent_only_plays_optimal_moves_and_varies_among_them():
    _, best_cells, n_best = minimax_tables()
    swap = swap_table()
    env = TicTacToeEnv(8, seed=3, opponent="perfect")
    chosen: dict[int, set[int]] = {}
    replies = 0
    for code, action, nxt, _ in play_random_legal(env, 400, seed=3):
        cell = opponent_cell(code, action, nxt)
        if cell is None:
            continue
        mine = int(swap[code + 3**action])
        assert cell in best_cells[mine, : n_best[mine]].tolist()
        chosen.setdefault(mine, set()).add(cell)
        replies += 1
    assert replies > 500
    assert any(len(cells) > 1 for cells in chosen.values())  # ties are broken at random


class StubLearner:
    def __init__(self, q: np.ndarray, epsilon: float) -> None:
        self.q, self.epsilon = q, epsilon

    def q_values(self) -> np.ndarray:
        return self.q


def test_self_opponent_plays_greedy_on_the_swapped_code_of_the_learners_table():
    q = np.random.default_rng(4).random((N_STATES, 9)).astype(np.float32)
    swap = swap_table()
    env = TicTacToeEnv(4, seed=5, opponent="self")
    env.bind_learner(StubLearner(q, epsilon=0.0))
    replies = 0
    for code, action, nxt, _ in play_random_legal(env, 200, seed=5):
        cell = opponent_cell(code, action, nxt)
        if cell is None:
            continue
        after = code + 3**action
        legal = np.flatnonzero(decode(after) == 0)
        assert cell == legal[np.argmax(q[swap[after], legal])]
        replies += 1
    assert replies > 300


def test_self_opponent_explores_with_the_learners_epsilon():
    q = np.random.default_rng(6).random((N_STATES, 9)).astype(np.float32)
    swap = swap_table()
    off_greedy = {}
    for epsilon in (0.0, 0.5):
        env = TicTacToeEnv(4, seed=7, opponent="self")
        env.bind_learner(StubLearner(q, epsilon))
        moves = misses = 0
        for code, action, nxt, _ in play_random_legal(env, 300, seed=7):
            cell = opponent_cell(code, action, nxt)
            if cell is not None:
                after = code + 3**action
                legal = np.flatnonzero(decode(after) == 0)
                misses += cell != legal[np.argmax(q[swap[after], legal])]
                moves += 1
        off_greedy[epsilon] = misses / moves
    assert off_greedy[0.0] == 0.0
    assert 0.2 < off_greedy[0.5] < 0.5  # epsilon/2 .. epsilon: a random pick may hit greedy


def test_self_opponent_without_a_learner_is_a_programming_error():
    env = TicTacToeEnv(2, seed=0, opponent="self")
    with pytest.raises(RuntimeError, match="bind_learner"):
        env.reset()


def test_random_and_perfect_opponents_open_with_the_same_draw():
    # Every first move is optimal, so the perfect opponent's opening is the random one's:
    # one uniform draw over the 9 cells from the same env stream.
    a, b = TicTacToeEnv(16, seed=9), TicTacToeEnv(16, seed=9, opponent="perfect")
    obs_a, obs_b = a.reset()[0], b.reset()[0]
    np.testing.assert_array_equal(obs_a, obs_b)
    assert 0 < np.count_nonzero(obs_a) < 16  # some copies start with the opponent's mark


@pytest.mark.parametrize("bad", ["Perfect", "Random", ""])
def test_unknown_opponent_is_one_line_listing_the_allowed_values(bad):
    with pytest.raises(ConfigError) as info:
        TicTacToeEnv(1, opponent=bad)
    assert str(info.value) == (
        f"env.opponent={bad!r} is unknown: allowed are random, perfect, self"
    )
    with pytest.raises(ConfigError, match="allowed are random, perfect, self"):
        preflight([f"env.opponent={bad or 'x'}"])


def test_opponent_on_a_gym_env_is_refused():
    with pytest.raises(
        ConfigError, match=r"not read by env\.kind=gym: it applies to env\.kind=tictactoe"
    ):
        make_env("gym", 1, id="Taxi-v4", opponent="perfect")


# --------------------------------------------------------------- evaluation vs perfect


def perfect_q_table() -> np.ndarray:
    """A table whose greedy policy is a perfect player's (optimal cells score 1)."""
    _, best_cells, n_best = minimax_tables()
    q = np.zeros((N_STATES, 9), dtype=np.float32)
    for code in np.flatnonzero(n_best):
        q[code, best_cells[code, : n_best[code]]] = 1.0
    return q


def test_a_perfect_policy_never_loses_to_the_perfect_or_the_random_player():
    q = perfect_q_table()
    win, draw, loss = exact_outcomes(q, opponent="perfect")
    assert (win, draw, loss) == (0.0, 1.0, 0.0)  # perfect vs perfect is always a draw
    assert exact_outcomes(q)[2] == 0.0
    ev = TicTacToeEnv(1).evaluate_greedy(q)
    assert ev["vs_perfect_loss_rate"] == 0.0 and ev["loss_rate"] == 0.0
    assert ev["win_rate"] > 0.9


def test_a_lowest_cell_policy_loses_to_the_perfect_player():
    win, draw, loss = exact_outcomes(np.zeros((N_STATES, 9)), opponent="perfect")
    assert (win, draw, loss) == (0.0, 0.0, 1.0)
    assert exact_outcomes(np.zeros((N_STATES, 9)))[0] > 0  # yet it beats random often


def test_exact_outcomes_vs_perfect_match_games_sampled_against_the_perfect_opponent():
    q = np.random.default_rng(8).random((N_STATES, 9))
    q[:, 4] += 0.6  # a policy that sometimes survives the perfect player
    exact = np.array(exact_outcomes(q, opponent="perfect"))
    env = TicTacToeEnv(256, seed=8, opponent="perfect")
    obs, _ = env.reset()
    counts, games = np.zeros(3), 0
    legal_q = np.where(decode(np.arange(N_STATES)) == 0, q, -np.inf)
    while games < 40_000:
        res = env.step(np.argmax(legal_q[obs], axis=1))
        r = res.reward[res.terminated]
        counts += [(r > 0).sum(), (r == 0).sum(), (r < 0).sum()]
        games += int(res.terminated.sum())
        obs = res.obs
    sampled = counts / games
    assert exact[2] > 0.05 and exact[1] > 0.05
    np.testing.assert_allclose(sampled, exact, atol=0.01)
