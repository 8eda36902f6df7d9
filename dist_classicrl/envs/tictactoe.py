"""TicTacToe against a built-in opponent, stepped in batches inside Numba.

Description
    The learning agent plays noughts and crosses against an opponent. Who starts is drawn
    at random (probability 1/2) for every episode; when the opponent starts, its first
    mark is already on the board in the observation the agent receives after a reset.

Opponents (``opponent=``)
    ``random``
        Uniform among the empty cells.
    ``perfect``
        A perfect player: uniform (env RNG) among the moves that keep the game-theoretic
        value of the position (win > draw > loss). The values come from one exhaustive
        negamax search with memoisation over every reachable position (`minimax_tables`,
        computed once per process); the compiled step only looks moves up.
    ``self``
        The learner's own current Q-table, from the opponent's point of view: the
        opponent sees ``swap(code)`` (marks 1 and 2 exchanged, `swap_table`) and plays
        epsilon-greedy with the learner's current epsilon: with probability epsilon a
        uniform empty cell, else the empty cell of highest ``Q[swap(code), cell]``, ties
        to the lowest cell (the library's greedy rule). Its random numbers come from the
        env RNG. It reads the table the learner is training (`bind_learner`; the fused
        kernel passes it directly), so its moves improve as the table does; only the
        agent's own moves are learned from.

State encoding (observation)
    ``sum(cell[i] * 3**i for i in range(9))`` with cells row-major, ``0`` empty, ``1`` the
    agent's mark and ``2`` the opponent's mark, whoever started. 3**9 = 19683 states.

Actions
    ``0..8``: the cell to mark, row-major. The action mask is ``cell == 0``; in a terminal
    state every action is masked.

Evaluation (`evaluate_greedy`)
    Exact outcome probabilities of the greedy policy, each seat half of the games:
    ``win_rate``, ``draw_rate``, ``loss_rate`` (and ``mean_return``) against the *random*
    player whatever the training opponent, and ``vs_perfect_{win,draw,loss}_rate``
    against the perfect player choosing uniformly among its optimal moves (every optimal
    reply is enumerated, so ``vs_perfect_loss_rate == 0`` means the policy never loses to
    any perfect player).

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

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.errors import ConfigError
from dist_classicrl.jit import njit
from dist_classicrl.rng import ENV_STREAM, below, make_state, randint, split, uniform, unit

N_CELLS = 9
N_STATES = 3**N_CELLS
EMPTY, AGENT, OPPONENT = 0, 1, 2
POW3 = 3 ** np.arange(N_CELLS, dtype=np.int64)
#: ``env.opponent`` values and the code the compiled step switches on.
OPPONENTS = ("random", "perfect", "self")
RANDOM, MINIMAX, SELF = range(3)
#: ``counts[i]`` of a copy reset but not started (`TicTacToeEnv.reset_unstarted`): the
#: next compiled step (the env's or the fused kernel's) starts its episode first.
UNSTARTED = -1
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


@lru_cache(maxsize=1)
def swap_table() -> np.ndarray:
    """``int64[19683]``: the code of the same board with marks 1 and 2 exchanged, i.e.
    the position seen by the other player."""
    cells = decode(np.arange(N_STATES))
    return encode(np.where(cells == EMPTY, EMPTY, 3 - cells))


@lru_cache(maxsize=1)
def minimax_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(value int8[S], best_cells int64[S, 9], n_best int64[S])`` for the side to move.

    Codes are relative to the side to move (mark 1 = the mover's). ``value`` is the
    game-theoretic result with perfect play (+1 win, 0 draw, -1 loss; 0 where the code is
    not a reachable, unfinished position with mark 1 to move), ``best_cells[code, :n_best]``
    the moves that keep it, in increasing order. One negamax pass with memoisation over
    every position reachable from the empty board with either side starting (4520
    positions); plain Python, ~20 ms, computed once per process.
    """
    winner = winner_table()
    swap = swap_table()
    empty_cells = empty_cells_table()
    value = np.zeros(N_STATES, dtype=np.int8)
    best_cells = np.full((N_STATES, N_CELLS), -1, dtype=np.int64)
    n_best = np.zeros(N_STATES, dtype=np.int64)
    solved = np.zeros(N_STATES, dtype=np.bool_)
    pow3 = POW3.tolist()

    def negamax(code: int, count: int) -> int:
        if solved[code]:
            return int(value[code])
        scores = []
        for c in empty_cells[code, : N_CELLS - count].tolist():
            after = code + pow3[c]
            if winner[after] == AGENT:
                scores.append((1, c))
            elif count + 1 == N_CELLS:
                scores.append((0, c))
            else:  # the other side moves next: its value, negated
                scores.append((-negamax(int(swap[after]), count + 1), c))
        best = max(v for v, _ in scores)
        keep = [c for v, c in scores if v == best]
        value[code], n_best[code], solved[code] = best, len(keep), True
        best_cells[code, : len(keep)] = keep
        return best

    negamax(0, 0)  # also solves every position where the other side started
    return value, best_cells, n_best


# The compiled game keeps only the state code and the move count of each copy; the
# winner and empty-cell tables replace board arrays, so a move is an add and two lookups.
# Compiled code reads these tables as module constants (Numba freezes them into the
# machine code), not as array arguments: an array passed to an inlined helper costs a
# pair of atomic reference-count updates per call that Numba does not prune when several
# arrays interleave, ten per step of the fused kernel, which halved its speed (issue 18).
_WINNER = winner_table()
_EMPTY_BITS = empty_bits_table()
#: `empty_cells_table` as uint8 (255 past the empty cells): an unsigned cell indexes an
#: array without the negative-index fix-up, and the table is 8x smaller in cache.
_EMPTY_CELLS = empty_cells_table().astype(np.uint8)


@njit(cache=True, inline="always")
def _opponent_cell(code, count, rng, kind, swap, best_cells, n_best, q, epsilon):
    """The opponent's cell in `code` (agent-relative). ``kind, swap, best_cells, n_best``
    are the fields of `TicTacToeEnv.opponent_args`; `q` and `epsilon` are the learner's,
    read only by ``self``. Random and perfect draw one
    number, ``self`` one or two."""
    n_legal = 9 - count
    if kind == MINIMAX:
        mine = swap[code]
        return best_cells[mine, randint(rng, n_best[mine])]
    if kind == SELF and uniform(rng) >= epsilon:
        mine = swap[code]
        best, best_value = _EMPTY_CELLS[code, 0], -np.inf
        for j in range(n_legal):  # cells ascending: ties keep the lowest
            c = _EMPTY_CELLS[code, j]
            if q[mine, c] > best_value:
                best, best_value = c, q[mine, c]
        return best
    return _EMPTY_CELLS[code, randint(rng, n_legal)]


@njit(cache=True, inline="always")
def _start_vs_random(x):
    """A new episode: ``(code, count, x)``; the opponent starts with probability 1/2. `x`
    is the env's RNG state as a local (`rng.split`), returned advanced."""
    x, bits = split(x)
    if unit(bits) < 0.5:
        x, bits = split(x)
        return 2 * POW3[below(bits, 9)], 1, x  # = empty cell k of 0: the draw of `_start`
    return 0, 0, x


@njit(cache=True, inline="always")
def _start(rng, kind, swap, best_cells, n_best, q, epsilon):
    """`_start_vs_random` against any opponent."""
    if uniform(rng) < 0.5:
        cell = _opponent_cell(0, 0, rng, kind, swap, best_cells, n_best, q, epsilon)
        return 2 * POW3[cell], 1
    return 0, 0


@njit(cache=True, inline="always")
def _start_unstarted_vs_random(codes, counts, x):
    """Start every UNSTARTED copy (`TicTacToeEnv.reset_unstarted`) in copy order against
    the random opponent; `x` the env's RNG state as a local, returned advanced. The one
    copy of this loop: the env's `reset_all` and the fused kernel's first step call it,
    so both draw the same numbers."""
    for i in range(codes.shape[0]):
        if counts[i] == UNSTARTED:
            codes[i], counts[i], x = _start_vs_random(x)
    return x


@njit(cache=True, inline="always")
def _start_unstarted(codes, counts, rng, kind, swap, best_cells, n_best, q, epsilon):
    """`_start_unstarted_vs_random` against any opponent (`_start`)."""
    for i in range(codes.shape[0]):
        if counts[i] == UNSTARTED:
            codes[i], counts[i] = _start(rng, kind, swap, best_cells, n_best, q, epsilon)


@njit(cache=True, inline="always")
def _play_vs_random(code, count, action, x):
    """The agent's `action` and a random reply: ``(code, count, reward, done, x)``, `x`
    the env's RNG state as a local (`rng.split`), returned advanced.

    Works on scalars so that compiled callers keep the game state in registers. The
    random opponent has this copy of `_play` of its own: the fused kernel against it
    measured ~30% faster without the other opponents' arguments in its loop. Codes index
    as uint64: they are never negative, and an unsigned index spares Numba's negative-index
    fix-up (three instructions a lookup; ~5% of the fused kernel's time at one env)."""
    if action < 0 or action >= 9 or not (_EMPTY_BITS[np.uint64(code)] >> action) & 1:
        return code, count, -1.0, True, x  # illegal: board unchanged, episode lost
    code += POW3[action]
    count += 1
    if _WINNER[np.uint64(code)] == 1:
        return code, count, 1.0, True, x
    if count == 9:
        return code, count, 0.0, True, x
    x, bits = split(x)
    code += 2 * POW3[_EMPTY_CELLS[np.uint64(code), below(bits, 9 - count)]]
    count += 1
    if _WINNER[np.uint64(code)] == 2:
        return code, count, -1.0, True, x
    if count == 9:
        return code, count, 0.0, True, x
    return code, count, 0.0, False, x


@njit(cache=True, inline="always")
def _play(
    code,
    count,
    action,
    rng,
    kind,
    swap,
    best_cells,
    n_best,
    q,
    epsilon,
):
    """`_play_vs_random` against any opponent (`_opponent_cell`)."""
    if action < 0 or action >= 9 or not (_EMPTY_BITS[code] >> action) & 1:
        return code, count, -1.0, True
    code += POW3[action]
    count += 1
    if _WINNER[code] == 1:
        return code, count, 1.0, True
    if count == 9:
        return code, count, 0.0, True
    cell = _opponent_cell(code, count, rng, kind, swap, best_cells, n_best, q, epsilon)
    code += 2 * POW3[cell]
    count += 1
    if _WINNER[code] == 2:
        return code, count, -1.0, True
    if count == 9:
        return code, count, 0.0, True
    return code, count, 0.0, False


@njit(cache=True, inline="always")
def _write_mask(bits, mask_row):
    for c in range(9):
        mask_row[c] = (bits >> c) & 1


def _env_kernels(kind: int):
    """The reset and the step of every copy against opponent `kind`, a closure constant:
    Numba's dead-branch pruning drops the other opponents' code before typing it, so a
    job compiles only its own opponent's moves (as `algorithms.fused` does)."""

    @njit(cache=True)  # cached per closure value: Numba's cache key hashes the cells
    def reset_all(codes, counts, rng, tables, q, epsilon, obs, mask):
        """Start the episode of every UNSTARTED copy, in copy order (the fused kernels
        draw the same numbers: `algorithms.fused`); observe every copy."""
        swap, best_cells, n_best = tables  # `TicTacToeEnv.opponent_args[1:]`
        if kind == RANDOM:  # pruned before typing: `kind` is a constant
            rng[0] = _start_unstarted_vs_random(codes, counts, rng[0])
        else:
            _start_unstarted(codes, counts, rng, kind, swap, best_cells, n_best, q, epsilon)
        for i in range(codes.shape[0]):
            obs[i] = codes[i]
            _write_mask(_EMPTY_BITS[codes[i]], mask[i])

    @njit(cache=True)
    def step_all(
        actions,
        codes,
        counts,
        rng,
        tables,
        q,
        epsilon,
        next_obs,
        reward,
        terminated,
        next_mask,
        obs,
        mask,
    ):
        # Bound: two table lookups per move and ~2 random draws per step; no allocation.
        swap, best_cells, n_best = tables  # `TicTacToeEnv.opponent_args[1:]`
        for i in range(codes.shape[0]):
            if kind == RANDOM:  # the random opponent's own step, as in the fused kernel
                x = rng[0]
                code, count, r, done, x = _play_vs_random(codes[i], counts[i], actions[i], x)
                rng[0] = x
            else:
                code, count, r, done = _play(
                    codes[i],
                    counts[i],
                    actions[i],
                    rng,
                    kind,
                    swap,
                    best_cells,
                    n_best,
                    q,
                    epsilon,
                )
            next_obs[i] = code
            reward[i] = r
            terminated[i] = done
            _write_mask(0 if done else _EMPTY_BITS[code], next_mask[i])
            if done and kind == RANDOM:
                code, count, rng[0] = _start_vs_random(rng[0])
            elif done:
                code, count = _start(rng, kind, swap, best_cells, n_best, q, epsilon)
            codes[i], counts[i] = code, count
            obs[i] = code
            _write_mask(_EMPTY_BITS[code], mask[i])

    return reset_all, step_all


#: ``(reset_all, step_all)`` for each opponent kind (`TicTacToeEnv.opponent_args[0]`).
_ENV_KERNELS = tuple(_env_kernels(kind) for kind in (RANDOM, MINIMAX, SELF))


_NO_TABLE = np.zeros((1, N_CELLS), dtype=np.float32)  # the q argument when no one reads it


class _ZeroLearner:
    """What `TicTacToeEnv.bind_learner` needs of a learner, with an all-zero table."""

    epsilon = 0.0

    def q_values(self) -> np.ndarray:
        return np.zeros((N_STATES, N_CELLS), dtype=np.float32)


def check_opponent(opponent: str) -> None:
    """Raise `ConfigError` unless `opponent` is one of `OPPONENTS`."""
    if opponent not in OPPONENTS:
        renamed = " (the minimax player is called perfect)" if opponent == "minimax" else ""
        raise ConfigError(
            f"env.opponent={opponent!r} is unknown: allowed are {', '.join(OPPONENTS)}{renamed}"
        )


#: What `greedy_report` returns.
REPORT_KEYS = (
    "win_rate",
    "draw_rate",
    "loss_rate",
    "mean_return",
    "vs_perfect_win_rate",
    "vs_perfect_draw_rate",
    "vs_perfect_loss_rate",
)


class TicTacToeEnv(DistClassicRLEnv):
    """A batch of `num_envs` TicTacToe games against a built-in opponent (module docstring)."""

    name = "tictactoe"
    evaluation_keys = REPORT_KEYS

    def __init__(
        self, num_envs: int = 1, seed: int | None = None, opponent: str = "random"
    ) -> None:
        check_opponent(opponent)
        super().__init__(num_envs, N_STATES, N_CELLS)
        self.opponent = opponent
        self.codes = np.zeros(num_envs, dtype=np.int64)
        self.counts = np.zeros(num_envs, dtype=np.int64)
        self.rng_state = make_state(seed, ENV_STREAM)
        _, best_cells, n_best = minimax_tables()
        #: What the compiled step needs to know of the opponent (`_opponent_cell`).
        self.opponent_args = (OPPONENTS.index(opponent), swap_table(), best_cells, n_best)
        self.learner: Any = None
        #: Whether some copy may be UNSTARTED (`reset_unstarted`, `load_state`).
        self._unstarted = False

    def bind_learner(self, learner: Any) -> None:
        """Let ``opponent=self`` play with `learner`'s table: it reads
        ``learner.q_values()`` and ``learner.epsilon`` at every step. Runtimes call this
        before training (`TrainingLoop.start`); other opponents ignore it."""
        self.learner = learner

    def _learner_policy(self) -> tuple[np.ndarray, float]:
        if self.opponent != "self":
            return _NO_TABLE, 0.0
        if self.learner is None:
            raise RuntimeError("opponent=self needs the learner: call env.bind_learner first")
        q = np.ascontiguousarray(self.learner.q_values(), dtype=np.float32)  # a view if it can
        return q, float(self.learner.epsilon)

    @property
    def has_action_mask(self) -> bool:
        return True

    exact_state = True

    def legal_actions(self, states: np.ndarray) -> np.ndarray:
        return _legal_masks()[np.asarray(states)]

    def state(self) -> dict:
        return {
            "codes": self.codes.copy(),
            "counts": self.counts.copy(),
            "rng": self.rng_state.copy(),
        }

    def load_state(self, state: dict) -> None:
        self.codes[:] = state["codes"]
        self.counts[:] = state["counts"]
        self.rng_state[:] = state["rng"]
        self._unstarted = bool((self.counts == UNSTARTED).any())

    def reset_unstarted(self, seed: int | None = None) -> None:
        """Every copy reset but UNSTARTED: the fused kernel starts each at its first step
        with the draws `reset` would make, so a job that trains through it never needs
        `reset`'s compiled loop (0.3-0.5 s of a first run on an empty Numba cache)."""
        if seed is not None:
            self.rng_state = make_state(seed, ENV_STREAM)
        self.codes[:] = 0
        self.counts[:] = UNSTARTED
        self._unstarted = True

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        self.reset_unstarted(seed)
        return self._start_unstarted()

    def _start_unstarted(self) -> tuple[np.ndarray, np.ndarray]:
        """Start the UNSTARTED copies (`reset_all`); the observation of every copy."""
        obs = np.empty(self.num_envs, dtype=np.int64)
        mask = np.empty((self.num_envs, N_CELLS), dtype=np.bool_)
        q, epsilon = self._learner_policy()
        reset_all = _ENV_KERNELS[self.opponent_args[0]][0]
        reset_all(
            self.codes,
            self.counts,
            self.rng_state,
            self.opponent_args[1:],
            q,
            epsilon,
            obs,
            mask,
        )
        self._unstarted = False
        return obs, mask

    def step(self, actions: np.ndarray) -> StepResult:
        if self._unstarted:  # only after `reset_unstarted` or such a state: not on the hot path
            self._start_unstarted()
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
        q, epsilon = self._learner_policy()
        step_all = _ENV_KERNELS[self.opponent_args[0]][1]
        step_all(
            np.asarray(actions, dtype=np.int64),
            self.codes,
            self.counts,
            self.rng_state,
            self.opponent_args[1:],
            q,
            epsilon,
            out.next_obs,
            out.reward,
            out.terminated,
            out.next_mask,
            out.obs,
            out.mask,
        )
        return out

    def warm_up(self) -> None:
        # a reset and a step are compiled per opponent (`_env_kernels`); ``self`` plays
        # from a learner's table: an all-zero one of the real shape stands in
        twin = TicTacToeEnv(num_envs=1, seed=0, opponent=self.opponent)
        twin.bind_learner(_ZeroLearner())
        twin.reset()
        twin.step(np.zeros(1, dtype=np.int64))

    def evaluate_greedy(self, q_table: np.ndarray, discount: float = 1.0) -> dict[str, Any]:
        return greedy_report(q_table)


def greedy_report(q_table: np.ndarray) -> dict[str, float]:
    """Exact outcome probabilities of the greedy policy of `q_table` against the random
    and the perfect player (module docstring; `exact_outcomes`)."""
    win, draw, loss = exact_outcomes(q_table)
    p_win, p_draw, p_loss = exact_outcomes(q_table, opponent="perfect")
    return {
        "win_rate": win,
        "draw_rate": draw,
        "loss_rate": loss,
        "mean_return": win - loss,
        "vs_perfect_win_rate": p_win,
        "vs_perfect_draw_rate": p_draw,
        "vs_perfect_loss_rate": p_loss,
    }


@lru_cache(maxsize=1)
def _legal_masks() -> np.ndarray:
    return decode(np.arange(N_STATES)) == EMPTY


def exact_outcomes(q_table: np.ndarray, opponent: str = "random") -> tuple[float, float, float]:
    """(win, draw, loss) probabilities of the greedy policy of `q_table`, by enumerating
    every opponent choice (no sampling); the opponent starts half of the games. Greedy
    ties go to the lowest legal cell. ``opponent="random"``: uniform among the empty
    cells; ``"perfect"``: uniform among the minimax-optimal cells (`minimax_tables`)."""
    from dist_classicrl.policies import greedy_actions

    if opponent not in ("random", "perfect"):
        raise ValueError(f"opponent={opponent!r}: allowed are random, perfect")
    policy = greedy_actions(np.asarray(q_table), _legal_masks())
    winner = winner_table()
    swap = swap_table()
    _, best_cells, n_best = minimax_tables()
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
        if opponent == "random":
            choices = np.flatnonzero(decode(code) == EMPTY)
        else:
            mine = int(swap[code])
            choices = best_cells[mine, : n_best[mine]]
        w = d = lo = 0.0
        for c in choices:
            nxt = code + 2 * int(POW3[c])
            if winner[nxt] == OPPONENT:
                lo += 1.0
            elif count + 1 == N_CELLS:
                d += 1.0
            else:
                pw, pd, pl = agent_to_move(nxt, count + 1)
                w, d, lo = w + pw, d + pd, lo + pl
        k = len(choices)
        return w / k, d / k, lo / k

    first = agent_to_move(0, 0)
    second = opponent_to_move(0, 0)
    return tuple(0.5 * (a + b) for a, b in zip(first, second, strict=True))  # type: ignore[return-value]
