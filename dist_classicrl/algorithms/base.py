"""`BaseAlgorithm`: the interface and the one update semantics of every variant.

Action selection (``select_action``, ``select_actions``)
    Epsilon-greedy. With probability ``epsilon`` an action is drawn uniformly among the
    *legal* actions (all actions when no mask is given); otherwise the greedy action is
    taken: the legal action of highest Q-value, ties broken towards the lowest action
    index. An illegal action is never chosen while a legal one exists.

Update (``update``: one transition)
    ``Q[s,a] += lr * (r + discount * boot - Q[s,a])`` where ``boot`` is 0 if the
    transition *terminated* or ``s'`` has no legal action, else, by ``rule``
    (`dist_classicrl.algorithms.rules`), over the legal ``a'`` of ``s'`` (all actions
    without a mask):

    - ``q_learning`` (default): ``max_a' Q[s', a']``;
    - ``sarsa``: ``Q[s', a']`` for the next action ``a'`` passed in (``next_action(s)``);
    - ``expected_sarsa``: ``sum_a' pi(a'|s') Q[s', a'] = (1-eps) max_a' Q[s', a'] +
      eps mean_a' Q[s', a']``, ``pi`` the epsilon-greedy policy above with the epsilon in
      force at the update (greedy = the lowest maximal index, ties not split; any maximal
      action is worth the max, so ties do not change the value).

    A truncated transition is not terminated: it bootstraps.

Batch update (``batch_update``: n transitions, e.g. one step of ``num_envs`` envs)
    The transitions of a batch are simultaneous: every target is computed from the table
    as it was *before* the batch, then the updates are applied one after the other in
    batch order. A pair (s, a) that appears ``k`` times with targets ``t_1..t_k`` thus
    receives ``k`` ordinary updates and ends at
    ``(1-lr)^k Q + sum_j lr (1-lr)^(k-j) t_j``: every sample counts, and the result stays
    a convex combination (no ``np.add.at``-style summing of k full steps, which diverges).
    A batch without duplicates is the usual vectorised update; a batch of one is `update`.

SARSA's next action (``next_actions``, used by the runtimes' loop and the fused kernels)
    After a vector step and *before* the batch update (textbook SARSA picks ``A'`` before
    updating ``Q[S, A]``), every copy draws the action it will execute next, from the
    observation it acts on next (the new episode's first state if it auto-reset); those
    draws are the ``a'`` of the targets, and they are executed at the next step, so no
    exploration draw is doubled. A *truncated* copy has reset, so its executed action
    belongs to the new episode; its target draws one extra action for the true next
    state (never executed), after the batch's executed draws, in copy order. A
    terminated copy needs no ``a'``. Q-learning and Expected SARSA keep the plain order
    (choose, step, update).

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

from dist_classicrl.algorithms.rules import RULES, SARSA, check_replay_support, rule_code
from dist_classicrl.buffers import ReplayConfig
from dist_classicrl.envs.base import StepResult
from dist_classicrl.errors import check_positive_int, check_range
from dist_classicrl.policies import greedy_actions


class BaseAlgorithm(ABC):
    """Tabular TD control over `n_states` x `n_actions` (module docstring for semantics)."""

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
        rule: str = "q_learning",
    ) -> None:
        self.rule_code = rule_code(rule)
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
        check_replay_support(rule, self.replay.capacity)

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
        next_action: int | None = None,
    ) -> None:
        """Learn from one transition (a batch of one: the textbook update); `next_action`
        is SARSA's ``a'``."""
        masks = None if next_mask is None else np.asarray(next_mask, dtype=np.bool_)[None, :]
        self.batch_update(
            np.array([state], dtype=np.int64),
            np.array([action], dtype=np.int64),
            np.array([reward], dtype=np.float64),
            np.array([next_state], dtype=np.int64),
            np.array([terminated]),
            masks,
            None if next_action is None else np.array([next_action], dtype=np.int64),
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
        next_actions: np.ndarray | None = None,
    ) -> None:
        """Learn from a batch of simultaneous transitions (module docstring);
        `next_actions` ``int64[n]`` are SARSA's ``a'`` (ignored by the other rules)."""

    @property
    def rule(self) -> str:
        """The update rule (``algorithm.rule``), fixed at construction."""
        return RULES[self.rule_code]

    @property
    def needs_next_actions(self) -> bool:
        """Whether `batch_update` needs the next actions (the rule is SARSA)."""
        return self.rule_code == SARSA

    def _check_next_actions(self, next_actions: np.ndarray | None) -> None:
        if next_actions is None and self.rule_code == SARSA:
            raise ValueError("rule=sarsa: batch_update needs next_actions (SARSA's a')")

    def next_actions(self, step: StepResult) -> tuple[np.ndarray, np.ndarray]:
        """SARSA after a vector `step`: (actions the copies execute next, the ``a'`` of
        each transition's target). Draw order in the module docstring."""
        executed = self.select_actions(step.obs, step.mask)
        cut = np.flatnonzero(step.truncated & ~step.terminated)
        if cut.size == 0:
            return executed, executed
        targets = executed.copy()
        masks = None if step.next_mask is None else step.next_mask[cut]
        targets[cut] = self.select_actions(step.next_obs[cut], masks)
        return executed, targets

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to continue exactly: the table in the variant's own
        precision, its random stream and its counters (arrays and JSON values)."""
        return {
            "q": np.array(self._native_table()),
            "step_count": self.step_count,
            "episode_count": self.episode_count,
            **self._random_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from `state` (from `state()`, possibly through a checkpoint)."""
        self.load_q_values(state["q"])
        self.step_count = int(state["step_count"])
        self.episode_count = int(state["episode_count"])
        self._load_random_state(state)

    def _native_table(self) -> Any:
        """The table as stored (``list`` keeps float64 values); float32 by default."""
        return self.q_values()

    @abstractmethod
    def _random_state(self) -> dict[str, Any]:
        """The variant's random stream as arrays or JSON values."""

    @abstractmethod
    def _load_random_state(self, state: dict[str, Any]) -> None:
        """Restore what `_random_state` returned."""

    def warm_up(self, env: Any = None) -> None:
        """Compile (or load) the variant's kernels before training is timed. No-op for
        variants that compile nothing."""

    def warm_up_fused(self, env: Any) -> bool:
        """Compile (or load) only the fused kernel for `env`; False if there is none (the
        default): the runtime then warms up everything (`warm_up`)."""
        return False

    def fused_trainer(self, env: Any) -> Any:
        """A ``run(n_steps, stats)`` that chooses, steps `env` and learns in one compiled
        loop, or None (the runtime then runs the batch loop). None by default."""
        return None

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
        mask = None if mask is None else np.asarray(mask, bool)
        action = self.select_action(int(obs), mask)
        total, done = 0.0, False
        while not done:
            obs_next, reward, terminated, truncated, info = env.step(action)
            next_mask = info.get("action_mask")
            next_mask = None if next_mask is None else np.asarray(next_mask, bool)
            # SARSA draws a' before its update (and executes it); the others after.
            sarsa = self.rule_code == SARSA
            next_action = 0  # no a' after a terminal step
            if sarsa and not terminated:
                next_action = self.select_action(int(obs_next), next_mask)
            self.update(
                int(obs),
                action,
                float(reward),
                int(obs_next),
                bool(terminated),
                next_mask,
                next_action,
            )
            obs, mask = obs_next, next_mask
            done = terminated or truncated
            if not done:
                action = next_action if sarsa else self.select_action(int(obs), mask)
            total += float(reward)
            self.step_count += 1
        self.episode_count += 1
        return total
