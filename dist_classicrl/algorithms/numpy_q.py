"""`NumpyQLearning`: a float32 NumPy table, every batch operation vectorised.

Duplicated (state, action) pairs in a batch are grouped with one stable sort so that the
documented sequential semantics holds in closed form:
``Q <- (1-lr)^k Q + sum_j lr (1-lr)^(k-j) t_j`` (see `dist_classicrl.algorithms.base`).
"""

from __future__ import annotations

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.policies import greedy_actions


class NumpyQLearning(BaseAlgorithm):
    """Q-learning with NumPy (semantics in `dist_classicrl.algorithms.base`)."""

    name = "numpy"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(self.seed)

    def _initialize_q_table(self) -> np.ndarray:
        return np.zeros((self.n_states, self.n_actions), dtype=np.float32)

    def q_values(self) -> np.ndarray:
        return self.q_table

    def load_q_values(self, values: np.ndarray) -> None:
        self.q_table[...] = values

    def select_action(self, state: int, mask: np.ndarray | None = None) -> int:
        masks = None if mask is None else mask[None, :]
        return int(self.select_actions(np.array([state]), masks)[0])

    def select_actions(self, states: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        n = len(states)
        actions = greedy_actions(self.q_table[states], masks)
        explore = self.rng.random(n) < self.epsilon
        if explore.any():
            if masks is None:
                random_actions = self.rng.integers(0, self.n_actions, n)
            else:
                # k-th legal action with k uniform in [0, number of legal actions).
                legal_count = masks.sum(axis=1)
                k = (self.rng.random(n) * legal_count).astype(np.int64)
                random_actions = np.argmax(np.cumsum(masks, axis=1) > k[:, None], axis=1)
            actions = np.where(explore, random_actions, actions)
        return actions.astype(np.int64, copy=False)

    def update(
        self,
        state: int,
        action: int,
        reward: float,
        next_state: int,
        terminated: bool,
        next_mask: np.ndarray | None = None,
    ) -> None:
        masks = None if next_mask is None else next_mask[None, :]
        self.batch_update(
            np.array([state]),
            np.array([action]),
            np.array([reward]),
            np.array([next_state]),
            np.array([terminated]),
            masks,
        )

    def _targets(self, rewards, next_states, terminated, next_masks) -> np.ndarray:
        rows = self.q_table[next_states]
        if next_masks is None:
            boot = rows.max(axis=1)
        else:
            boot = np.where(next_masks, rows, -np.inf).max(axis=1)
            boot[~next_masks.any(axis=1)] = 0.0
        return rewards + self.discount * np.where(terminated, 0.0, boot.astype(np.float64))

    def batch_update(
        self, states, actions, rewards, next_states, terminated, next_masks=None
    ) -> None:
        targets = self._targets(rewards, next_states, terminated, next_masks)
        lr = self.learning_rate
        flat_q = self.q_table.reshape(-1)
        flat = states * self.n_actions + actions
        order = np.argsort(flat, kind="stable")
        sorted_flat = flat[order]
        first = np.empty(len(flat), dtype=np.bool_)
        first[:1] = True
        np.not_equal(sorted_flat[1:], sorted_flat[:-1], out=first[1:])
        if first.all():  # no duplicates: the plain vectorised update
            flat_q[flat] += lr * (targets - flat_q[flat])
            return
        starts = np.flatnonzero(first)
        counts = np.diff(np.append(starts, len(flat)))
        group = np.cumsum(first) - 1
        remaining = counts[group] - (np.arange(len(flat)) - starts[group]) - 1  # k - j
        weighted = lr * (1.0 - lr) ** remaining * targets[order]
        pairs = sorted_flat[starts]
        flat_q[pairs] = (1.0 - lr) ** counts * flat_q[pairs] + np.add.reduceat(weighted, starts)
