"""`ListQLearning`: pure Python, the table a list of lists of floats.

The reference variant: every line reads like the textbook update, with no NumPy in the
learning path (arrays from the env are converted to lists once per batch). The batch
methods are written as flat loops over local names, because in pure Python the cost is
the interpreter's per-operation overhead: a method call per transition would double it.
A mask is turned into one integer per row (a bitset, once per batch); each distinct bitset
maps to its tuple of legal actions and an ``operator.itemgetter`` that picks their
Q-values at C speed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm

#: Picks a row's Q-values of the legal actions as a tuple: an ``itemgetter``, or a
#: function returning ``()`` when no action is legal.
_Getter = Callable[[Any], tuple]


class ListQLearning(BaseAlgorithm):
    """TD control in pure Python (semantics in `dist_classicrl.algorithms.base`)."""

    name = "list"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reseed(self.seed)
        self._legal: dict[int, tuple[tuple[int, ...], _Getter]] = {}
        self._bit_values = 1 << np.arange(min(self.n_actions, 62), dtype=np.int64)

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def _random_state(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        return {"rng": [version, list(internal), gauss]}

    def _load_random_state(self, state: dict) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))

    def _native_table(self) -> np.ndarray:
        return np.array(self.q_table, dtype=np.float64)  # float64: resumed runs stay exact

    def _initialize_q_table(self) -> list[list[float]]:
        return [[0.0] * self.n_actions for _ in range(self.n_states)]

    def q_values(self) -> np.ndarray:
        return np.array(self.q_table, dtype=np.float32)

    def load_q_values(self, values: np.ndarray) -> None:
        self.q_table = np.asarray(values, dtype=np.float64).tolist()

    def select_actions(self, states: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        q, eps, rand = self.q_table, self.epsilon, self.rng.random
        n_actions = self.n_actions
        chosen = []
        if masks is None:
            for s in states.tolist():
                if rand() < eps:
                    chosen.append(int(rand() * n_actions))
                else:
                    row = q[s]
                    chosen.append(row.index(max(row)))  # index(): the lowest maximal action
        else:
            legal_of = self._legal_actions
            for s, bits in zip(states.tolist(), self._bitsets(masks), strict=True):
                legal, values_of = legal_of(bits)
                if not legal:  # nothing is legal (a terminal state): action 0, as numpy does
                    chosen.append(0)
                elif rand() < eps:
                    chosen.append(legal[int(rand() * len(legal))])
                else:
                    values = values_of(q[s])
                    chosen.append(legal[values.index(max(values))])  # the lowest maximal
        return np.array(chosen, dtype=np.int64)

    def _bitsets(self, masks: np.ndarray) -> list[int]:
        """One int per mask row, bit a set when action a is legal."""
        if self.n_actions <= 62:
            return (masks @ self._bit_values).tolist()
        packed = np.packbits(masks, axis=1, bitorder="little")  # wide action spaces
        return [int.from_bytes(row.tobytes(), "little") for row in packed]

    def _legal_actions(self, bits: int) -> tuple[tuple[int, ...], _Getter]:
        """(legal actions, getter of their Q-values as a tuple) for a mask bitset."""
        if bits not in self._legal:
            legal = tuple(a for a in range(self.n_actions) if bits >> a & 1)
            # itemgetter of one index returns a bare value: repeat it to keep a tuple
            keys = legal if len(legal) != 1 else legal * 2
            self._legal[bits] = (keys, itemgetter(*keys) if keys else (lambda row: ()))
        return self._legal[bits]

    def batch_update(
        self, states, actions, rewards, next_states, terminated, next_masks=None, next_actions=None
    ) -> None:
        self._check_next_actions(next_actions)
        q, gamma, lr = self.q_table, self.discount, self.learning_rate
        rewards, next_states, terminated = (
            rewards.tolist(),
            next_states.tolist(),
            terminated.tolist(),
        )
        # Targets first, from the table as it was before the batch; then apply in order.
        if self.rule != "q_learning":
            targets = self._other_rule_targets(
                rewards, next_states, terminated, next_masks, next_actions
            )
        elif next_masks is None:
            targets = [
                r if done else r + gamma * max(q[s2])
                for r, s2, done in zip(rewards, next_states, terminated, strict=True)
            ]
        else:
            legal_of = self._legal_actions
            targets = [
                r if done or not bits else r + gamma * max(legal_of(bits)[1](q[s2]))
                for r, s2, done, bits in zip(
                    rewards, next_states, terminated, self._bitsets(next_masks), strict=True
                )
            ]
        for s, a, target in zip(states.tolist(), actions.tolist(), targets, strict=True):
            row = q[s]
            row[a] += lr * (target - row[a])
        if self.visits is not None:
            np.add.at(self.visits, (states, actions), 1)

    def _other_rule_targets(
        self, rewards, next_states, terminated, next_masks, next_actions
    ) -> list[float]:
        """Targets of SARSA (``Q[s', a']``) and Expected SARSA (``(1-eps) max + eps mean``
        over the legal actions); 0 to bootstrap from without a legal action."""
        q, gamma, eps = self.q_table, self.discount, self.epsilon
        if next_masks is None:
            bitsets = [(1 << self.n_actions) - 1] * len(next_states)
        else:
            bitsets = self._bitsets(next_masks)
        if next_actions is None:
            next_actions = np.zeros(len(next_states), dtype=np.int64)
        targets = []
        for r, s2, done, bits, a2 in zip(
            rewards, next_states, terminated, bitsets, next_actions.tolist(), strict=True
        ):
            if done or not bits:
                targets.append(r)
            elif self.rule == "sarsa":
                targets.append(r + gamma * q[s2][a2])
            else:
                # one legal action comes back twice (see _legal_actions): same mean
                values = self._legal_actions(bits)[1](q[s2])
                expected = (1.0 - eps) * max(values) + eps * (sum(values) / len(values))
                targets.append(r + gamma * expected)
        return targets
