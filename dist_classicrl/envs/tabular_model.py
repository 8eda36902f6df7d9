"""A Gymnasium toy-text transition table ``P`` as arrays, and exact planning on it.

``P[s][a]`` is a list of ``(probability, next_state, reward, terminated)``. `TabularModel`
pads it to ``K`` outcomes per (state, action) so that both the compiled env and the
planners below work on dense arrays. The planners are the independent reference that
learned Q-tables are checked against (value iteration, exact policy evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dist_classicrl.errors import ConfigError


@dataclass(frozen=True)
class TabularModel:
    """Dense arrays of a tabular MDP; padded outcomes have probability 0."""

    probs: np.ndarray  # float64[S, A, K]
    next_states: np.ndarray  # int64[S, A, K]
    rewards: np.ndarray  # float64[S, A, K]
    terminated: np.ndarray  # bool[S, A, K]
    n_outcomes: np.ndarray  # int64[S, A]
    initial: np.ndarray  # float64[S], the start distribution

    @property
    def n_states(self) -> int:
        return self.probs.shape[0]

    @property
    def n_actions(self) -> int:
        return self.probs.shape[1]

    @classmethod
    def from_gym(cls, unwrapped: object) -> TabularModel:
        """Read ``P`` and ``initial_state_distrib`` from an unwrapped toy-text env."""
        table = getattr(unwrapped, "P", None)
        if not isinstance(table, dict):
            raise ConfigError(f"{type(unwrapped).__name__} has no transition table P")
        n_states = len(table)
        n_actions = len(table[0])
        k = max(len(outs) for row in table.values() for outs in row.values())
        probs = np.zeros((n_states, n_actions, k))
        next_states = np.zeros((n_states, n_actions, k), dtype=np.int64)
        rewards = np.zeros((n_states, n_actions, k))
        terminated = np.zeros((n_states, n_actions, k), dtype=np.bool_)
        n_outcomes = np.zeros((n_states, n_actions), dtype=np.int64)
        for s, row in table.items():
            for a, outcomes in row.items():
                n_outcomes[s, a] = len(outcomes)
                for j, (p, s2, r, term) in enumerate(outcomes):
                    probs[s, a, j] = p
                    next_states[s, a, j] = s2
                    rewards[s, a, j] = r
                    terminated[s, a, j] = term
        initial = getattr(unwrapped, "initial_state_distrib", None)
        if initial is None:
            start = int(getattr(unwrapped, "start_state_index", 0))
            initial = np.eye(n_states)[start]
        return cls(
            probs,
            next_states,
            rewards,
            terminated,
            n_outcomes,
            np.asarray(initial, dtype=np.float64),
        )

    def expected_reward(self) -> np.ndarray:
        """``R[s, a] = sum_k p_k r_k``."""
        return (self.probs * self.rewards).sum(axis=2)

    def q_backup(self, values: np.ndarray, discount: float) -> np.ndarray:
        """One Bellman backup: ``Q[s,a] = sum_k p_k (r_k + discount * (1 - term_k) V[s'_k])``."""
        cont = np.where(self.terminated, 0.0, values[self.next_states])
        return (self.probs * (self.rewards + discount * cont)).sum(axis=2)


def value_iteration(
    model: TabularModel, discount: float, tol: float = 1e-10, max_iter: int = 100_000
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal ``(V*, Q*)`` of the infinite-horizon discounted MDP."""
    values = np.zeros(model.n_states)
    for _ in range(max_iter):
        q = model.q_backup(values, discount)
        new = q.max(axis=1)
        if np.max(np.abs(new - values)) < tol:
            return new, q
        values = new
    return values, model.q_backup(values, discount)


def policy_value(
    model: TabularModel,
    policy: np.ndarray,
    discount: float,
    tol: float = 1e-10,
    max_iter: int = 100_000,
    where: np.ndarray | None = None,
) -> np.ndarray:
    """``V^pi`` of a deterministic policy (``policy[s]`` = action), discounted; converged
    on the states of the mask `where` (all by default): undiscounted, the states the
    policy reaches from the start, whose values are finite when it is proper there, while
    a loop elsewhere would keep the iteration going to `max_iter`."""
    s = np.arange(model.n_states)
    probs, nxt = model.probs[s, policy], model.next_states[s, policy]
    rew, term = model.rewards[s, policy], model.terminated[s, policy]
    values = np.zeros(model.n_states)
    check = np.ones(model.n_states, dtype=bool) if where is None else where
    for _ in range(max_iter):
        new = (probs * (rew + discount * np.where(term, 0.0, values[nxt]))).sum(axis=1)
        if np.max(np.abs(new - values)[check]) < tol:
            return new
        values = new
    return values


def finite_horizon_return(model: TabularModel, policy: np.ndarray, horizon: int) -> float:
    """Expected undiscounted return of an episode cut after `horizon` steps, from the
    start distribution: exactly what a sampled mean return estimates under a time limit."""
    s = np.arange(model.n_states)
    probs, nxt = model.probs[s, policy], model.next_states[s, policy]
    rew, term = model.rewards[s, policy], model.terminated[s, policy]
    values = np.zeros(model.n_states)
    for _ in range(horizon):
        values = (probs * (rew + np.where(term, 0.0, values[nxt]))).sum(axis=1)
    return float(model.initial @ values)


def reached_states(model: TabularModel, policy: np.ndarray) -> np.ndarray:
    """The states the policy reaches from the start distribution (a mask)."""
    s = np.arange(model.n_states)
    probs, nxt = model.probs[s, policy], model.next_states[s, policy]
    moves = (probs > 0) & ~model.terminated[s, policy]  # [S, K]: continuing outcomes
    seen = model.initial > 0
    frontier = seen.copy()
    while frontier.any():
        successors = np.zeros(model.n_states, dtype=bool)
        successors[nxt[frontier][moves[frontier]]] = True
        frontier = successors & ~seen
        seen |= successors
    return seen


def divergent_value(model: TabularModel, policy: np.ndarray) -> float | None:
    """Undiscounted, a policy that can reach from the start a set of states it never
    leaves (no terminating transition) has an infinite value if rewards flow there:
    ``-inf`` for costs (CliffWalking's -1 per step), ``+inf`` for gains, NaN for both.
    None when the policy reaches a terminal state surely or earns nothing meanwhile."""
    s = np.arange(model.n_states)
    probs, nxt = model.probs[s, policy], model.next_states[s, policy]
    rew, term = model.rewards[s, policy], model.terminated[s, policy]
    moves = (probs > 0) & ~term  # [S, K]: continuing outcomes
    can_end = ((probs > 0) & term).any(axis=1)
    changed = True
    while changed:  # states from which termination is reachable, by backward closure
        reach = can_end | (moves & can_end[nxt]).any(axis=1)
        changed = bool((reach != can_end).any())
        can_end = reach
    seen = reached_states(model, policy)
    trapped = seen & ~can_end
    flows = rew[trapped][moves[trapped]]
    if not trapped.any() or not flows.any():
        return None
    if (flows <= 0).all():
        return float("-inf")
    return float("inf") if (flows >= 0).all() else float("nan")


def optimality_gap(model: TabularModel, policy: np.ndarray, discount: float) -> dict[str, float]:
    """Relative gap between the optimal and the policy's discounted start value. With
    ``discount=1`` an improper policy (`divergent_value`) is reported as such, at once,
    instead of iterating its diverging value."""
    v_star, _ = value_iteration(model, discount)
    start_star = float(model.initial @ v_star)
    if discount >= 1.0:
        divergent = divergent_value(model, policy)
        if divergent is not None:
            return {
                "optimal_value": start_star,
                "policy_value": divergent,
                "optimality_gap": float("inf"),
                "improper": 1.0,  # does not reach a terminal state
            }
    where = reached_states(model, policy) if discount >= 1.0 else None
    v_pi = policy_value(model, policy, discount, where=where)
    start_pi = float(model.initial @ v_pi)
    scale = abs(start_star) if start_star != 0 else 1.0
    return {
        "optimal_value": start_star,
        "policy_value": start_pi,
        "optimality_gap": (start_star - start_pi) / scale,
    }
