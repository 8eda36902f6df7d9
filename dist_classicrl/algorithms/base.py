"""`BaseAlgorithm`: the interface and the one update semantics of every Q-learning variant.

Action selection (``select_action``, ``select_actions``)
    Epsilon-greedy. With probability ``epsilon`` an action is drawn uniformly among the
    *legal* actions (all actions when no mask is given); otherwise the greedy action is
    taken: the legal action of highest Q-value, ties broken towards the lowest action
    index. An illegal action is never chosen while a legal one exists.

Update (``update``: one transition)
    ``Q[s,a] += lr * (r + discount * boot - Q[s,a])`` where ``boot`` is 0 if the
    transition *terminated*, else ``max Q[s', a']`` over the legal ``a'`` of ``s'`` (over
    all actions without a mask; 0 if ``s'`` has no legal action). A truncated transition
    is not terminated: it bootstraps.

Batch update (``batch_update``: n transitions, e.g. one step of ``num_envs`` envs)
    The transitions of a batch are simultaneous: every target is computed from the table
    as it was *before* the batch, then the updates are applied one after the other in
    batch order. A pair (s, a) that appears ``k`` times with targets ``t_1..t_k`` thus
    receives ``k`` ordinary updates and ends at
    ``(1-lr)^k Q + sum_j lr (1-lr)^(k-j) t_j``: every sample counts, and the result stays
    a convex combination (no ``np.add.at``-style summing of k full steps, which diverges).
    A batch without duplicates is the usual vectorised update; a batch of one is `update`.

Every variant (``list``, ``numpy``, ``optimal``) implements exactly this, so on the same
transitions they produce the same Q-table up to float32 rounding.

Experience replay (``replay``, a `dist_classicrl.buffers.ReplayConfig`)
    Settings carried by the algorithm and carried out by the runtime's `TrainingLoop`: it
    stores every learned batch and learns from batches sampled from the buffer through
    ``batch_update``, so a replayed batch has the semantics above. ``train_episode``
    learns online only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from dist_classicrl.buffers import ReplayConfig
from dist_classicrl.errors import check_positive_int, check_range
from dist_classicrl.policies import greedy_actions


class BaseAlgorithm(ABC):
    """Tabular Q-learning over `n_states` x `n_actions` (module docstring for semantics)."""

    #: The config name of the variant (``list``, ``numpy``, ``optimal``).
    name: ClassVar[str]

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        learning_rate: float = 0.1,
        discount: float = 0.99,
        epsilon: float = 0.1,
        seed: int | None = None,
        replay: ReplayConfig | Mapping | None = None,
    ) -> None:
        check_positive_int("n_states", n_states)
        check_positive_int("n_actions", n_actions)
        check_range("algorithm.learning_rate", learning_rate, 0.0, 1.0, low_open=True)
        check_range("algorithm.discount", discount, 0.0, 1.0)
        check_range("algorithm.epsilon", epsilon, 0.0, 1.0)
        self.n_states = n_states
        self.n_actions = n_actions
        self.learning_rate = float(learning_rate)
        self.discount = float(discount)
        self.epsilon = float(epsilon)
        self.seed = seed
        self.q_table = self._initialize_q_table()
        self.visits: np.ndarray | None = None  # updates per (state, action), when counted
        self.step_count = 0
        self.episode_count = 0
        #: Experience replay done by the runtime's loop (`dist_classicrl.buffers`).
        self.replay = ReplayConfig.from_any(replay)

    @abstractmethod
    def reseed(self, seed: int | None) -> None:
        """Restart the variant's random stream from `seed` (each parallel worker does)."""

    @abstractmethod
    def _initialize_q_table(self) -> Any:
        """A zero table in the variant's own representation."""

    @abstractmethod
    def q_values(self) -> np.ndarray:
        """The table as a float32 array ``[n_states, n_actions]`` (a copy or a view)."""

    @abstractmethod
    def load_q_values(self, values: np.ndarray) -> None:
        """Replace the table by `values` ``[n_states, n_actions]``."""

    def select_action(self, state: int, mask: np.ndarray | None = None) -> int:
        """Epsilon-greedy action for one state (a batch of one)."""
        masks = None if mask is None else np.asarray(mask, dtype=np.bool_)[None, :]
        return int(self.select_actions(np.array([state], dtype=np.int64), masks)[0])

    @abstractmethod
    def select_actions(self, states: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Epsilon-greedy actions ``int64[n]`` for a batch of states."""

    def update(
        self,
        state: int,
        action: int,
        reward: float,
        next_state: int,
        terminated: bool,
        next_mask: np.ndarray | None = None,
    ) -> None:
        """Learn from one transition (a batch of one: the textbook update)."""
        masks = None if next_mask is None else np.asarray(next_mask, dtype=np.bool_)[None, :]
        self.batch_update(
            np.array([state], dtype=np.int64),
            np.array([action], dtype=np.int64),
            np.array([reward], dtype=np.float64),
            np.array([next_state], dtype=np.int64),
            np.array([terminated]),
            masks,
        )

    @abstractmethod
    def batch_update(
        self,
        states: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_states: np.ndarray,
        terminated: np.ndarray,
        next_masks: np.ndarray | None = None,
    ) -> None:
        """Learn from a batch of simultaneous transitions (module docstring)."""

    def count_visits(self) -> np.ndarray:
        """From now on count the updates of every (state, action) into ``self.visits``
        (int32, zeroed here). The parallel runtime's merge needs the counts."""
        self.visits = np.zeros((self.n_states, self.n_actions), dtype=np.int32)
        return self.visits

    def greedy_actions(self, states: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Greedy actions (no exploration), ties to the lowest index."""
        return greedy_actions(self.q_values()[np.asarray(states)], masks)

    def train_episode(self, env: Any) -> float:
        """Train on one episode of a plain Gymnasium env with Discrete spaces.

        Runs until the episode is terminated *or* truncated; a truncated last step still
        bootstraps. Uses ``info["action_mask"]`` when the env provides one.
        """
        obs, info = env.reset()
        mask = info.get("action_mask")
        total, done = 0.0, False
        while not done:
            action = self.select_action(int(obs), None if mask is None else np.asarray(mask, bool))
            obs_next, reward, terminated, truncated, info = env.step(action)
            next_mask = info.get("action_mask")
            self.update(
                int(obs),
                action,
                float(reward),
                int(obs_next),
                bool(terminated),
                None if next_mask is None else np.asarray(next_mask, bool),
            )
            obs, mask = obs_next, next_mask
            total += float(reward)
            self.step_count += 1
            done = terminated or truncated
        self.episode_count += 1
        return total
