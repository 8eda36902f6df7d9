"""The batched environment interface every runtime steps.

A `DistClassicRLEnv` is a vector of `num_envs` copies of one tabular environment
(the seed's "agents"), observed as integer states and driven by integer actions.

Auto-reset and truncation rules (the one place they are stated):

* ``step(actions)`` returns a `StepResult`. For env ``i`` the transition it learned from
  is ``(obs[i], actions[i], reward[i], next_obs[i], terminated[i])``.
* ``next_obs`` is always the true state the transition led to, also when the episode
  ended there. When an episode ends (``terminated | truncated``) the env resets that
  copy *in the same call*: ``obs[i]`` (and ``mask[i]``) are then the first observation of
  the next episode, which is what the agent acts on next. Otherwise ``obs == next_obs``.
* ``terminated`` means the next state is terminal: do not bootstrap from it.
  ``truncated`` means the episode was cut (time limit): the transition is an ordinary one
  and still bootstraps from ``next_obs``.
* Envs with illegal actions expose boolean masks ``[num_envs, n_actions]``: ``mask`` for
  ``obs`` and ``next_mask`` for ``next_obs`` (the bootstrap takes the max over legal
  actions only). Envs without them return ``None`` for both.
* Turn-based self-play (`PettingZooSelfPlayEnv`) learns a seat's move only once the other
  seat has replied, one step later. Such an env sets ``learned``, a `DeferredTransitions` of the
  transitions the step completed (at most one per copy, ``valid`` says which); the
  runtime learns from those instead, and ``reward``/``terminated``/``truncated`` then
  describe the game, for the episode statistics only.

Returned arrays are fresh for every call, so a runtime may keep them across steps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np


class DeferredTransitions(NamedTuple):
    """Transitions a step completed that are not ``(obs, actions) -> next_obs``: copy ``i``
    has one when ``valid[i]`` (module docstring)."""

    valid: np.ndarray  # bool[n]
    obs: np.ndarray  # int64[n]
    actions: np.ndarray  # int64[n]
    reward: np.ndarray  # float64[n]
    next_obs: np.ndarray  # int64[n]
    terminated: np.ndarray  # bool[n]
    next_mask: np.ndarray | None  # bool[n, n_actions]

    def batch(self, take: int, target_actions: np.ndarray | None) -> tuple | None:
        """The `batch_update` arguments of the valid ones among the first `take` copies
        (None if there are none); `target_actions` are SARSA's ``a'`` of those copies."""
        keep = np.flatnonzero(self.valid[:take])
        if keep.size == 0:
            return None
        return (
            self.obs[keep],
            self.actions[keep],
            self.reward[keep],
            self.next_obs[keep],
            self.terminated[keep],
            None if self.next_mask is None else self.next_mask[keep],
            None if target_actions is None else target_actions[keep],
        )


class StepResult(NamedTuple):
    """What one vector step returns; see the module docstring for the rules."""

    next_obs: np.ndarray  # int64[n]
    reward: np.ndarray  # float64[n]
    terminated: np.ndarray  # bool[n]
    truncated: np.ndarray  # bool[n]
    next_mask: np.ndarray | None  # bool[n, n_actions]
    obs: np.ndarray  # int64[n]
    mask: np.ndarray | None  # bool[n, n_actions]
    learned: DeferredTransitions | None = None  # turn-based self-play only


class DistClassicRLEnv(ABC):
    """Base class of batched tabular environments (see the module docstring)."""

    #: Short name used in metrics and file names.
    name: str = "env"
    #: The figures `evaluate_greedy` always reports (a sweep's ``objective`` is one).
    evaluation_keys: tuple[str, ...] = ("mean_return",)

    def __init__(self, num_envs: int, n_states: int, n_actions: int) -> None:
        self.num_envs = num_envs
        self.n_states = n_states
        self.n_actions = n_actions

    # The seed calls these sizes observation_space_size / action_space_size.
    @property
    def observation_space_size(self) -> int:
        return self.n_states

    @property
    def action_space_size(self) -> int:
        return self.n_actions

    @property
    def has_action_mask(self) -> bool:
        return False

    def legal_actions(self, states: np.ndarray) -> np.ndarray | None:
        """``bool[n, A]``: the legal actions in `states` (observed indices), or None when
        every action is legal everywhere (or the env cannot tell from the index alone)."""
        return None

    @abstractmethod
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Start a new episode in every copy: ``(obs int64[n], mask bool[n, A] | None)``."""

    def reset_unstarted(self, seed: int | None = None) -> None:
        """`reset` for a fused kernel (`algorithms.fused`), which reads the env's state
        rather than an observation. An env whose kernel can start episodes itself leaves
        them to it (TicTacToe's), so that a job on a fresh install does not compile the
        env's own reset; by default, `reset`."""
        self.reset(seed=seed)

    @abstractmethod
    def step(self, actions: np.ndarray) -> StepResult:
        """Apply ``actions[i]`` in copy ``i``; auto-reset the copies whose episode ended."""

    @abstractmethod
    def evaluate_greedy(self, q_table: np.ndarray, discount: float) -> dict[str, Any]:
        """Evaluate the greedy policy of `q_table` (ties: lowest action index).

        Returns at least ``mean_return`` (undiscounted return per episode); envs that can
        do better than sampling compute the figures exactly.
        """

    def close(self) -> None:
        """Release resources (subprocesses, files). Safe to call twice."""

    def warm_up(self) -> None:
        """Compile (or load from cache) whatever the env runs compiled, on a throwaway
        copy, so that training time excludes JIT compilation. No-op by default."""

    #: Whether `state` holds everything the env's future depends on, so that a run
    #: continued from a checkpoint is exactly the run that was stopped. Envs that step
    #: Python objects (Gymnasium's vector envs, PettingZoo) cannot promise it.
    exact_state: bool = False

    def state(self) -> dict[str, Any]:
        """The env's state as arrays or JSON values (a checkpoint's ``env`` part). None
        by default: a resumed run then starts new episodes."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `state` returned (after `reset`)."""

    def bind_learner(self, learner: Any) -> None:
        """Give the env the learner whose table an opponent plays from (TicTacToe's
        self-play). No-op by default."""
