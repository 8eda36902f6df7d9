"""TicTacToe against a random opponent as a plain, single-game ``gymnasium.Env``.

The same game as `dist_classicrl.envs.tictactoe` (same encoding, rewards, opponent and
illegal-move rule), written the way a Gymnasium user would write it: Python lists, one
game, ``info["action_mask"]``. It serves as the baseline of the throughput benchmark and
as an independent implementation the compiled game is tested against.

Registered as ``dist_classicrl/TicTacToe-v0``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


class TicTacToeGymEnv(gym.Env):
    """One game of TicTacToe against a uniformly random opponent who starts half the time.

    Observation: ``sum(cell[i] * 3**i)``, cells 0 empty, 1 agent, 2 opponent.
    Actions: cells 0..8. Reward +1 win, -1 loss or illegal move, 0 otherwise.
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Discrete(3**9)
        self.action_space = gym.spaces.Discrete(9)
        self.board = [0] * 9

    def _obs(self) -> int:
        return sum(c * 3**i for i, c in enumerate(self.board))

    def _info(self) -> dict[str, Any]:
        return {"action_mask": np.array([c == 0 for c in self.board], dtype=np.int8)}

    def _wins(self, mark: int) -> bool:
        return any(all(self.board[i] == mark for i in line) for line in _LINES)

    def _opponent_moves(self) -> None:
        empty = [i for i, c in enumerate(self.board) if c == 0]
        self.board[empty[int(self.np_random.integers(len(empty)))]] = 2

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.board = [0] * 9
        if self.np_random.random() < 0.5:
            self._opponent_moves()
        return self._obs(), self._info()

    def step(self, action: int):
        if not 0 <= action < 9 or self.board[action] != 0:
            return self._obs(), -1.0, True, False, self._info()
        self.board[action] = 1
        if self._wins(1):
            return self._obs(), 1.0, True, False, self._info()
        if 0 not in self.board:
            return self._obs(), 0.0, True, False, self._info()
        self._opponent_moves()
        if self._wins(2):
            return self._obs(), -1.0, True, False, self._info()
        return self._obs(), 0.0, 0 not in self.board, False, self._info()
