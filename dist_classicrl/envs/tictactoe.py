"""TicTacToe against a random opponent, stepped in batches inside Numba.

Description
    The learning agent plays noughts and crosses against an opponent who picks uniformly
    among the empty cells. Who starts is drawn at random (probability 1/2) for every
    episode; when the opponent starts, its first mark is already on the board in the
    observation the agent receives after a reset.

State encoding (observation)
    ``sum(cell[i] * 3**i for i in range(9))`` with cells row-major, ``0`` empty, ``1`` the
    agent's mark and ``2`` the opponent's mark, whoever started. 3**9 = 19683 states.

Actions
    ``0..8``: the cell to mark, row-major. The action mask is ``cell == 0``; in a terminal
    state every action is masked.

Rewards and episode end
    ``+1`` when the agent completes a line, ``-1`` when the opponent does, ``0`` for a draw
    (full board) and for every other step. An *illegal* action (an occupied cell or an
    index outside 0..8) ends the episode with reward ``-1`` and leaves the board as it was
    (the seed's rule). There is no time limit: an episode has at most 5 agent moves.

Batching
    Follows `dist_classicrl.envs.base`: same-step auto-reset, fresh result arrays. One
    ``step`` call runs a compiled loop over all copies: agent move, win/draw check, the
    opponent's reply, win/draw check, reset. Win checks are one lookup in a precomputed
    3**9 winner table; random numbers come from a seeded SplitMix64 state.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.rng import ENV_STREAM, make_state, randint, uniform

N_CELLS = 9
N_STATES = 3**N_CELLS
EMPTY, AGENT, OPPONENT = 0, 1, 2
POW3 = 3 ** np.arange(N_CELLS, dtype=np.int64)
LINES = np.array(
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]]
)


def decode(code: int | np.ndarray) -> np.ndarray:
    """Cells ``[..., 9]`` (0 empty, 1 agent, 2 opponent) of state code(s)."""
    return (np.asarray(code)[..., None] // POW3) % 3


def encode(cells: np.ndarray) -> np.ndarray:
    """State code(s) of cells ``[..., 9]``; the inverse of `decode`."""
    return np.asarray(cells, dtype=np.int64) @ POW3


@lru_cache(maxsize=1)
def winner_table() -> np.ndarray:
    """``int8[19683]``: 1 if the agent has a line, 2 if the opponent has, else 0.

    Codes where both have a line cannot occur in play; they map to 1.
    """
    cells = decode(np.arange(N_STATES))
    line_cells = cells[:, LINES]  # [S, 8, 3]
    full = (line_cells == line_cells[:, :, :1]).all(axis=2)
    agent = (full & (line_cells[:, :, 0] == AGENT)).any(axis=1)
    opponent = (full & (line_cells[:, :, 0] == OPPONENT)).any(axis=1)
    return np.where(agent, AGENT, np.where(opponent, OPPONENT, EMPTY)).astype(np.int8)


@lru_cache(maxsize=1)
def empty_bits_table() -> np.ndarray:
    """``int64[19683]``: bit c set when cell c is empty (the action mask as a bitset)."""
    empty = decode(np.arange(N_STATES)) == EMPTY
    return (empty * (1 << np.arange(N_CELLS))).sum(axis=1).astype(np.int64)


@lru_cache(maxsize=1)
def empty_cells_table() -> np.ndarray:
    """``int64[19683, 9]``: the empty cells of each state in increasing order, then -1.

    The k-th empty cell is one lookup, and loops over legal actions visit only those."""
    empty = decode(np.arange(N_STATES)) == EMPTY
    order = np.argsort(~empty, axis=1, kind="stable")  # empty cells first, ascending
    return np.where(np.take_along_axis(empty, order, axis=1), order, -1).astype(np.int64)


# The compiled game keeps only the state code and the move count of each copy; the
# winner and empty-cell tables replace board arrays, so a move is an add and two lookups.


@njit(cache=True, inline="always")
def _start(rng, pow3):
    """A new episode: ``(code, count)``; the opponent starts with probability 1/2."""
    if uniform(rng) < 0.5:
        return 2 * pow3[randint(rng, 9)], 1
    return 0, 0


@njit(cache=True, inline="always")
def _play(code, count, action, rng, winner, empty_bits, empty_cells, pow3):
    """The agent's `action` and the opponent's reply: ``(code, count, reward, done)``.

    Works on scalars so that compiled callers keep the game state in registers."""
    if action < 0 or action >= 9 or not (empty_bits[code] >> action) & 1:
        return code, count, -1.0, True  # illegal: board unchanged, episode lost
    code += pow3[action]
    count += 1
    if winner[code] == 1:
        return code, count, 1.0, True
    if count == 9:
        return code, count, 0.0, True
    code += 2 * pow3[empty_cells[code, randint(rng, 9 - count)]]
    count += 1
    if winner[code] == 2:
        return code, count, -1.0, True
    if count == 9:
        return code, count, 0.0, True
    return code, count, 0.0, False


@njit(cache=True, inline="always")
def _write_mask(bits, mask_row):
    for c in range(9):
        mask_row[c] = (bits >> c) & 1


@njit(cache=True)
def _reset_all(codes, counts, rng, empty_bits, pow3, obs, mask):
    for i in range(codes.shape[0]):
        codes[i], counts[i] = _start(rng, pow3)
        obs[i] = codes[i]
        _write_mask(empty_bits[codes[i]], mask[i])


@njit(cache=True)
def _step_all(
    actions,
    codes,
    counts,
    rng,
    winner,
    empty_bits,
    empty_cells,
    pow3,
    next_obs,
    reward,
    terminated,
    next_mask,
    obs,
    mask,
):
    # Bound: two table lookups per move and ~2 random draws per step; no allocation.
    for i in range(codes.shape[0]):
        code, count, r, done = _play(
            codes[i], counts[i], actions[i], rng, winner, empty_bits, empty_cells, pow3
        )
        next_obs[i] = code
        reward[i] = r
        terminated[i] = done
        _write_mask(0 if done else empty_bits[code], next_mask[i])
        if done:
            code, count = _start(rng, pow3)
        codes[i], counts[i] = code, count
        obs[i] = code
        _write_mask(empty_bits[code], mask[i])


class TicTacToeEnv(DistClassicRLEnv):
    """A batch of `num_envs` TicTacToe games against a random opponent (module docstring)."""

    name = "tictactoe"

    def __init__(self, num_envs: int = 1, seed: int | None = None) -> None:
        super().__init__(num_envs, N_STATES, N_CELLS)
        self.codes = np.zeros(num_envs, dtype=np.int64)
        self.counts = np.zeros(num_envs, dtype=np.int64)
        self.rng_state = make_state(seed, ENV_STREAM)
        self.winner = winner_table()
        self.empty_bits = empty_bits_table()
        self.empty_cells = empty_cells_table()

    @property
    def has_action_mask(self) -> bool:
        return True

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if seed is not None:
            self.rng_state = make_state(seed, ENV_STREAM)
        obs = np.empty(self.num_envs, dtype=np.int64)
        mask = np.empty((self.num_envs, N_CELLS), dtype=np.bool_)
        _reset_all(self.codes, self.counts, self.rng_state, self.empty_bits, POW3, obs, mask)
        return obs, mask

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.num_envs
        out = StepResult(
            next_obs=np.empty(n, dtype=np.int64),
            reward=np.empty(n),
            terminated=np.empty(n, dtype=np.bool_),
            truncated=np.zeros(n, dtype=np.bool_),
            next_mask=np.empty((n, N_CELLS), dtype=np.bool_),
            obs=np.empty(n, dtype=np.int64),
            mask=np.empty((n, N_CELLS), dtype=np.bool_),
        )
        _step_all(
            np.asarray(actions, dtype=np.int64),
            self.codes,
            self.counts,
            self.rng_state,
            self.winner,
            self.empty_bits,
            self.empty_cells,
            POW3,
            out.next_obs,
            out.reward,
            out.terminated,
            out.next_mask,
            out.obs,
            out.mask,
        )
        return out

    def warm_up(self) -> None:
        twin = TicTacToeEnv(num_envs=1, seed=0)
        twin.reset()
        twin.step(np.zeros(1, dtype=np.int64))

    def evaluate_greedy(self, q_table: np.ndarray, discount: float = 1.0) -> dict[str, Any]:
        """Exact win/draw/loss probabilities of the greedy policy (see `exact_outcomes`)."""
        win, draw, loss = exact_outcomes(q_table)
        return {"win_rate": win, "draw_rate": draw, "loss_rate": loss, "mean_return": win - loss}


@lru_cache(maxsize=1)
def _legal_masks() -> np.ndarray:
    return decode(np.arange(N_STATES)) == EMPTY


def exact_outcomes(q_table: np.ndarray) -> tuple[float, float, float]:
    """(win, draw, loss) probabilities of the greedy policy of `q_table` against the
    uniformly random opponent, who starts half of the games, by enumerating every
    opponent choice (no sampling). Greedy ties go to the lowest legal cell."""
    from dist_classicrl.policies import greedy_actions

    policy = greedy_actions(np.asarray(q_table), _legal_masks())
    winner = winner_table()
    memo: dict[int, tuple[float, float, float]] = {}

    def agent_to_move(code: int, count: int) -> tuple[float, float, float]:
        if code in memo:
            return memo[code]
        code_after = code + int(POW3[policy[code]])
        if winner[code_after] == AGENT:
            result = (1.0, 0.0, 0.0)
        elif count + 1 == N_CELLS:
            result = (0.0, 1.0, 0.0)
        else:
            result = opponent_to_move(code_after, count + 1)
        memo[code] = result
        return result

    def opponent_to_move(code: int, count: int) -> tuple[float, float, float]:
        empty = np.flatnonzero(decode(code) == EMPTY)
        w = d = lo = 0.0
        for c in empty:
            nxt = code + 2 * int(POW3[c])
            if winner[nxt] == OPPONENT:
                lo += 1.0
            elif count + 1 == N_CELLS:
                d += 1.0
            else:
                pw, pd, pl = agent_to_move(nxt, count + 1)
                w, d, lo = w + pw, d + pd, lo + pl
        k = len(empty)
        return w / k, d / k, lo / k

    first = agent_to_move(0, 0)
    second = opponent_to_move(0, 0)
    return tuple(0.5 * (a + b) for a, b in zip(first, second, strict=True))  # type: ignore[return-value]
