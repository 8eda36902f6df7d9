"""The speed limit of Q-learning on TicTacToe: a hand-fused, game-only reference kernel.

`train_reference` is what someone who cares only about TicTacToe against a random
opponent would write: one game, an inline xorshift64* generator kept in a register, a
3**9 winner table, the agent always moving first, epsilon-greedy over the empty cells,
the one-step Q-learning update applied at once (a batch of one). Rewards and episode end
are those of `TicTacToeEnv` against ``opponent=random``: +1 for the agent's line, -1 for
the opponent's, 0 for a full board.

It shares no code with the package, so `measure` can time the library's fused kernel
exactly as users run it (``TrainingLoop(OptimalQLearning(...), TicTacToeEnv(n))``) against
it, interleaved in one process, and report the ratio that issue 18 targets (>= 0.9)::

    python -m benchmarks.reference_tictactoe            # 1 and 64 envs
    python -m benchmarks.reference_tictactoe 1 16 256   # other num_envs
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from numba import njit

from dist_classicrl.envs import TicTacToeEnv
from dist_classicrl.envs.tictactoe import winner_table
from dist_classicrl.runtimes import TrainingLoop

from .common import make_algorithm

#: The hyper-parameters of the asv suite (`benchmarks.common.make_algorithm`).
LEARNING_RATE, DISCOUNT, EPSILON = 0.1, 0.99, 0.1
_POW3 = 3 ** np.arange(9, dtype=np.int64)


@njit(cache=True)
def train_reference(q, n_steps, epsilon, learning_rate, discount, winner, pow3, seed):
    """`n_steps` Q-learning steps of one TicTacToe game from the empty board; returns
    ``(episodes, sum of episode returns)``."""
    # xorshift64* (Vigna 2016): three shifts and a multiply, the state in a register
    x = np.uint64(seed) | np.uint64(1)
    board = np.zeros(9, dtype=np.int8)
    code, count = 0, 0
    episodes, return_sum = 0, 0.0
    for _ in range(n_steps):
        x ^= x >> np.uint64(12)
        x ^= x << np.uint64(25)
        x ^= x >> np.uint64(27)
        r = x * np.uint64(0x2545F4914F6CDD1D)
        n_free = 9 - count
        if float(np.int64(r >> np.uint64(11))) * (1.0 / 9007199254740992.0) < epsilon:
            x ^= x >> np.uint64(12)
            x ^= x << np.uint64(25)
            x ^= x >> np.uint64(27)
            k = ((x * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)) * np.uint64(n_free)
            k = np.int64(k >> np.uint64(32))
            a = 0
            for c in range(9):  # the k-th empty cell
                if board[c] == 0:
                    if k == 0:
                        a = c
                        break
                    k -= 1
        else:
            a, best = 0, -np.inf
            for c in range(9):  # ties keep the lowest cell
                if board[c] == 0 and q[code, c] > best:
                    a, best = c, q[code, c]
        s = code
        board[a] = 1
        code += pow3[a]
        count += 1
        reward, done = 0.0, False
        if winner[code] == 1:
            reward, done = 1.0, True
        elif count == 9:
            done = True
        else:  # the random opponent's reply
            x ^= x >> np.uint64(12)
            x ^= x << np.uint64(25)
            x ^= x >> np.uint64(27)
            k = ((x * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)) * np.uint64(9 - count)
            k = np.int64(k >> np.uint64(32))
            for c in range(9):
                if board[c] == 0:
                    if k == 0:
                        board[c] = 2
                        code += 2 * pow3[c]
                        break
                    k -= 1
            count += 1
            if winner[code] == 2:
                reward, done = -1.0, True
        boot = 0.0
        if not done:
            boot = -np.inf
            for c in range(9):
                if board[c] == 0 and q[code, c] > boot:
                    boot = q[code, c]
        q[s, a] += learning_rate * (reward + discount * boot - q[s, a])
        if done:
            episodes += 1
            return_sum += reward  # only the last reward of an episode is not 0
            board[:] = 0
            code, count = 0, 0
    return episodes, return_sum


class Reference:
    """The reference kernel on its own table (warmed up: compiled outside any timing)."""

    def __init__(self, seed: int = 0) -> None:
        self.q = np.zeros((3**9, 9), dtype=np.float32)
        self.winner = winner_table()
        self.seed = seed
        self.run(1)

    def run(self, n_steps: int) -> None:
        self.seed += 1
        train_reference(
            self.q, n_steps, EPSILON, LEARNING_RATE, DISCOUNT, self.winner, _POW3, self.seed
        )


def ours(num_envs: int, seed: int = 0) -> TrainingLoop:
    """The library as users run it: ``optimal`` through `TrainingLoop` (its fused kernel)."""
    env = TicTacToeEnv(num_envs, seed=seed)
    loop = TrainingLoop(make_algorithm("optimal", env, seed), env)  # the suite's settings
    loop.warm_up()
    loop.start(seed)
    loop.run(num_envs)
    return loop


def _seconds(run, n_steps: int) -> float:
    start = time.perf_counter()
    run(n_steps)
    return time.perf_counter() - start


def measure(num_envs: int, n_steps: int = 1_000_000, repeats: int = 7) -> dict[str, float]:
    """Steps/s of ours and of the reference, timed alternately in this process, and the
    median of the per-pair ratios (ours / reference): a pair shares the machine's load."""
    loop, reference = ours(num_envs), Reference()
    ratios, mine, theirs = [], [], []
    for _ in range(repeats):
        t_ours = _seconds(loop.run, n_steps)
        t_ref = _seconds(reference.run, n_steps)
        ratios.append(t_ref / t_ours)
        mine.append(n_steps / t_ours)
        theirs.append(n_steps / t_ref)
    return {
        "ours": statistics.median(mine),
        "reference": statistics.median(theirs),
        "ratio": statistics.median(ratios),
    }


def main(argv: list[str]) -> None:
    for num_envs in [int(a) for a in argv] or [1, 64]:
        m = measure(num_envs)
        print(
            f"num_envs={num_envs:<5d} ours {m['ours'] / 1e6:6.2f} M steps/s   "
            f"reference {m['reference'] / 1e6:6.2f} M steps/s   ratio {m['ratio']:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
