"""`ListQLearning`: pure Python, the table a list of lists of floats.

The reference variant: every line reads like the textbook update, with no NumPy in the
learning path (arrays from the env are converted to lists once per batch).
"""

from __future__ import annotations

import random

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm


class ListQLearning(BaseAlgorithm):
    """Q-learning in pure Python (semantics in `dist_classicrl.algorithms.base`)."""

    name = "list"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rng = random.Random(self.seed)

    def _initialize_q_table(self) -> list[list[float]]:
        return [[0.0] * self.n_actions for _ in range(self.n_states)]

    def q_values(self) -> np.ndarray:
        return np.array(self.q_table, dtype=np.float32)

    def load_q_values(self, values: np.ndarray) -> None:
        self.q_table = np.asarray(values, dtype=np.float64).tolist()

    def _choose(self, row: list[float], legal: list[bool] | None) -> int:
        if self.rng.random() < self.epsilon:
            if legal is None:
                return self.rng.randrange(self.n_actions)
            return self.rng.choice([a for a, ok in enumerate(legal) if ok])
        if legal is None:
            return row.index(max(row))
        best, best_value = -1, float("-inf")
        for a, ok in enumerate(legal):
            if ok and row[a] > best_value:  # strict: ties keep the lowest index
                best, best_value = a, row[a]
        return best

    def _bootstrap(self, next_state: int, terminated: bool, legal: list[bool] | None) -> float:
        if terminated:
            return 0.0
        row = self.q_table[next_state]
        if legal is None:
            return max(row)
        values = [v for v, ok in zip(row, legal, strict=True) if ok]
        return max(values) if values else 0.0

    def select_action(self, state: int, mask: np.ndarray | None = None) -> int:
        return self._choose(self.q_table[state], None if mask is None else mask.tolist())

    def select_actions(self, states: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        q = self.q_table
        if masks is None:
            actions = [self._choose(q[s], None) for s in states.tolist()]
        else:
            actions = [
                self._choose(q[s], m) for s, m in zip(states.tolist(), masks.tolist(), strict=True)
            ]
        return np.array(actions, dtype=np.int64)

    def update(
        self,
        state: int,
        action: int,
        reward: float,
        next_state: int,
        terminated: bool,
        next_mask: np.ndarray | None = None,
    ) -> None:
        legal = None if next_mask is None else next_mask.tolist()
        target = reward + self.discount * self._bootstrap(next_state, terminated, legal)
        row = self.q_table[state]
        row[action] += self.learning_rate * (target - row[action])

    def batch_update(
        self, states, actions, rewards, next_states, terminated, next_masks=None
    ) -> None:
        legal = [None] * len(states) if next_masks is None else next_masks.tolist()
        gamma, lr, q = self.discount, self.learning_rate, self.q_table
        # Targets first, from the table as it was before the batch; then apply in order.
        targets = [
            r + gamma * self._bootstrap(s2, d, m)
            for r, s2, d, m in zip(
                rewards.tolist(), next_states.tolist(), terminated.tolist(), legal, strict=True
            )
        ]
        for s, a, target in zip(states.tolist(), actions.tolist(), targets, strict=True):
            row = q[s]
            row[a] += lr * (target - row[a])
