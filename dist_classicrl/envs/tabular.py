"""Tabular MDPs compiled from a Gymnasium toy-text env, stepped in batches inside Numba.

Description
    Any Gymnasium env whose dynamics are exactly its transition table ``env.unwrapped.P``
    (FrozenLake at any map, Taxi, CliffWalking) becomes a batch of `num_envs` copies
    that step in one compiled loop, typically 100x faster than ``gymnasium.vector``.

Dynamics (the same as Gymnasium's ``step``)
    From state ``s`` with action ``a`` the outcome ``k`` of ``P[s][a]`` is drawn with its
    probability; the copy moves to its next state, receives its reward and terminates if
    its flag says so. Start states are drawn from ``initial_state_distrib``. The episode is
    truncated after `max_episode_steps` steps (the Gymnasium spec's time limit unless
    given), and a truncated transition bootstraps as usual.

Observations and actions
    The env's own ``Discrete`` indices; no action mask.

Not compiled
    Taxi with ``fickle_passenger=True`` changes the destination outside ``P``; it is
    rejected here and runs through `GymVectorEnv` instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.envs.tabular_model import TabularModel, finite_horizon_return, optimality_gap
from dist_classicrl.jit import njit
from dist_classicrl.policies import greedy_actions
from dist_classicrl.rng import ENV_STREAM, make_state, uniform


def is_compilable(unwrapped: object) -> bool:
    """True when the env's dynamics are entirely its table ``P``."""
    return isinstance(getattr(unwrapped, "P", None), dict) and not getattr(
        unwrapped, "fickle_passenger", False
    )


def _cumulative(probs: np.ndarray, n_outcomes: ArrayLike) -> np.ndarray:
    """Cumulative probabilities along the last axis whose last real outcome is exactly 1.

    A float cumsum can end at 1 - 4e-15 (Taxi's start distribution); a draw above it would
    then fall through to an outcome of probability 0."""
    cum = np.cumsum(probs, axis=-1)
    last = np.take_along_axis(cum, np.asarray(n_outcomes)[..., None] - 1, axis=-1)
    cum = np.minimum(cum / last, 1.0)
    np.put_along_axis(cum, np.asarray(n_outcomes)[..., None] - 1, 1.0, axis=-1)
    return cum


@njit(cache=True, inline="always")
def _sample(cum: np.ndarray, n: int, rng: np.ndarray) -> int:
    if n == 1:  # deterministic outcome: no random draw (Taxi, CliffWalking)
        return 0
    u = uniform(rng)
    k = 0
    while k < n - 1 and u >= cum[k]:
        k += 1
    return k


@njit(cache=True, inline="always")
def _sample_outcome(cum: np.ndarray, s: int, a: int, n: int, rng: np.ndarray) -> int:
    """`_sample` over the outcomes of (s, a), indexing `cum` directly (no row view)."""
    if n == 1:
        return 0
    u = uniform(rng)
    k = 0
    while k < n - 1 and u >= cum[s, a, k]:
        k += 1
    return k


@njit(cache=True)
def _reset_all(states, t, initial_states, initial_cum, rng, obs):
    n_init = initial_cum.shape[0]
    for i in range(states.shape[0]):
        states[i] = initial_states[_sample(initial_cum, n_init, rng)]
        t[i] = 0
        obs[i] = states[i]


@njit(cache=True)
def _step_all(
    actions,
    states,
    t,
    cum,
    next_states,
    rewards,
    terminated,
    n_outcomes,
    initial_states,
    initial_cum,
    max_steps,
    rng,
    out_next,
    out_reward,
    out_term,
    out_trunc,
    out_obs,
):
    # Bound: one or two random draws and a few table reads per step; no allocation.
    n_init = initial_cum.shape[0]
    for i in range(states.shape[0]):
        s = states[i]
        a = actions[i]
        k = _sample_outcome(cum, s, a, n_outcomes[s, a], rng)
        s2 = next_states[s, a, k]
        term = terminated[s, a, k]
        t[i] += 1
        trunc = (not term) and max_steps > 0 and t[i] >= max_steps
        out_next[i] = s2
        out_reward[i] = rewards[s, a, k]
        out_term[i] = term
        out_trunc[i] = trunc
        if term or trunc:
            s2 = initial_states[_sample(initial_cum, n_init, rng)]
            t[i] = 0
        states[i] = s2
        out_obs[i] = s2


class TabularEnv(DistClassicRLEnv):
    """A batch of copies of a tabular MDP (module docstring)."""

    evaluation_keys = ("optimal_value", "policy_value", "optimality_gap", "mean_return")

    def __init__(
        self,
        model: TabularModel,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        seed: int | None = None,
        name: str = "tabular",
    ) -> None:
        super().__init__(num_envs, model.n_states, model.n_actions)
        self.name = name
        self.model = model
        self.max_episode_steps = max_episode_steps
        self.cum = _cumulative(model.probs, model.n_outcomes)
        self.initial_states = np.flatnonzero(model.initial > 0)
        self.initial_cum = _cumulative(
            model.initial[self.initial_states], np.int64(len(self.initial_states))
        )
        self.states = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.rng_state = make_state(seed, ENV_STREAM)

    @classmethod
    def from_gym(
        cls,
        gym_env: Any,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> TabularEnv:
        """Compile `gym_env` (a made Gymnasium env); the time limit defaults to its spec's."""
        if max_episode_steps is None and gym_env.spec is not None:
            max_episode_steps = gym_env.spec.max_episode_steps
        return cls(
            TabularModel.from_gym(gym_env.unwrapped),
            num_envs,
            max_episode_steps,
            seed,
            name or (gym_env.spec.id if gym_env.spec else "tabular"),
        )

    exact_state = True

    def state(self) -> dict:
        return {"states": self.states.copy(), "t": self.t.copy(), "rng": self.rng_state.copy()}

    def load_state(self, state: dict) -> None:
        self.states[:] = state["states"]
        self.t[:] = state["t"]
        self.rng_state[:] = state["rng"]

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, None]:
        if seed is not None:
            self.rng_state = make_state(seed, ENV_STREAM)
        obs = np.empty(self.num_envs, dtype=np.int64)
        _reset_all(self.states, self.t, self.initial_states, self.initial_cum, self.rng_state, obs)
        return obs, None

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.num_envs
        out = StepResult(
            np.empty(n, dtype=np.int64),
            np.empty(n),
            np.empty(n, dtype=np.bool_),
            np.empty(n, dtype=np.bool_),
            None,
            np.empty(n, dtype=np.int64),
            None,
        )
        m = self.model
        _step_all(
            np.asarray(actions, dtype=np.int64),
            self.states,
            self.t,
            self.cum,
            m.next_states,
            m.rewards,
            m.terminated,
            m.n_outcomes,
            self.initial_states,
            self.initial_cum,
            self.max_episode_steps or 0,
            self.rng_state,
            out.next_obs,
            out.reward,
            out.terminated,
            out.truncated,
            out.obs,
        )
        return out

    def warm_up(self) -> None:
        twin = TabularEnv(self.model, 1, self.max_episode_steps, seed=0)
        twin.reset()
        twin.step(np.zeros(1, dtype=np.int64))

    def evaluate_greedy(self, q_table: np.ndarray, discount: float) -> dict[str, Any]:
        """Exact: the greedy policy's optimality gap against value iteration on ``P`` and
        its expected undiscounted return under the time limit."""
        policy = greedy_actions(np.asarray(q_table, dtype=np.float64))
        result = optimality_gap(self.model, policy, discount)
        horizon = self.max_episode_steps or 1000
        result["mean_return"] = finite_horizon_return(self.model, policy, horizon)
        return result
