"""`OptimalQLearning`: a float32 table and Numba-compiled kernels (``cache=True``).

Each batch operation is one compiled loop over the batch with no allocation beyond the
result, so the Python cost is one call per batch whatever ``num_envs`` is. Random numbers
come from the variant's own seeded SplitMix64 state (`dist_classicrl.rng`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dist_classicrl.algorithms import fused
from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.algorithms.rules import EXPECTED_SARSA, SARSA, expected_value, td_update
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.envs.tabular import TabularEnv
from dist_classicrl.envs.tictactoe import TicTacToeEnv
from dist_classicrl.jit import njit
from dist_classicrl.rng import AGENT_STREAM, make_state, randint, uniform
from dist_classicrl.stats import TrainingStatistics

#: ``run(n_steps, stats)``: train `n_steps` transitions in one compiled call.
FusedTrainer = Callable[[int, TrainingStatistics], None]

_NO_MASK = np.ones((1, 1), dtype=np.bool_)
_NO_VISITS = np.zeros((1, 1), dtype=np.int32)
_NO_ACTIONS = np.zeros(1, dtype=np.int64)


@njit(cache=True, inline="always")
def _greedy(q_row, mask_row, masked):
    best, best_value = -1, -np.inf
    for a in range(q_row.shape[0]):
        if (not masked or mask_row[a]) and q_row[a] > best_value:
            best, best_value = a, q_row[a]
    return max(best, 0)


@njit(cache=True, inline="always")
def _random_legal(mask_row, n_actions, masked, rng):
    if not masked:
        return randint(rng, n_actions)
    n_legal = 0
    for a in range(n_actions):
        n_legal += mask_row[a]
    k = randint(rng, max(n_legal, 1))
    for a in range(n_actions):
        if mask_row[a]:
            if k == 0:
                return a
            k -= 1
    return 0


@njit(cache=True, inline="always")
def _bootstrap(q_row, mask_row, masked, rule, next_action, epsilon):
    """The rule's value of a next state: 0 without a legal action."""
    best, total, n_legal = -np.inf, 0.0, 0
    for a in range(q_row.shape[0]):
        if not masked or mask_row[a]:
            n_legal += 1
            total += q_row[a]
            if q_row[a] > best:
                best = q_row[a]
    if n_legal == 0:
        return 0.0
    if rule == SARSA:
        return q_row[next_action]
    if rule == EXPECTED_SARSA:
        return expected_value(best, total, n_legal, epsilon)
    return best


@njit(cache=True)
def select_actions_kernel(q, states, masks, masked, epsilon, rng, out):
    """Epsilon-greedy over a batch; `masks` is ignored unless `masked`."""
    n_actions = q.shape[1]
    for i in range(states.shape[0]):
        row = masks[i] if masked else masks[0]
        if uniform(rng) < epsilon:
            out[i] = _random_legal(row, n_actions, masked, rng)
        else:
            out[i] = _greedy(q[states[i]], row, masked)


@njit(cache=True)
def batch_update_kernel(
    q,
    states,
    actions,
    rewards,
    next_states,
    terminated,
    next_masks,
    masked,
    learning_rate,
    discount,
    rule,
    next_actions,
    epsilon,
    targets,
    visits,
    count,
):
    """The documented batch semantics: all targets from the pre-batch table, then the
    updates in batch order. `rule` is a code of `algorithms.rules`; `next_actions` are
    SARSA's a' (read only under SARSA); `targets` is caller-provided scratch of length n;
    `visits` counts the updates per (state, action) if `count`."""
    n = states.shape[0]
    for i in range(n):
        boot = 0.0
        if not terminated[i]:
            row = next_masks[i] if masked else next_masks[0]
            a2 = next_actions[i] if rule == SARSA else 0
            boot = _bootstrap(q[next_states[i]], row, masked, rule, a2, epsilon)
        targets[i] = rewards[i] + discount * boot
    for i in range(n):
        s, a = states[i], actions[i]
        q[s, a] = td_update(q[s, a], targets[i], learning_rate)
        if count:
            visits[s, a] += 1


class OptimalQLearning(BaseAlgorithm):
    """TD control with Numba kernels (semantics in `dist_classicrl.algorithms.base`)."""

    name = "optimal"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reseed(self.seed)
        self._targets = np.empty(0)

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self.rng_state = make_state(seed, AGENT_STREAM)

    def _random_state(self) -> dict:
        return {"rng_state": self.rng_state.copy()}

    def _load_random_state(self, state: dict) -> None:
        self.rng_state[:] = state["rng_state"]

    def _initialize_q_table(self) -> np.ndarray:
        return np.zeros((self.n_states, self.n_actions), dtype=np.float32)

    def q_values(self) -> np.ndarray:
        return self.q_table

    def load_q_values(self, values: np.ndarray) -> None:
        self.q_table[...] = values

    def warm_up(self, env: DistClassicRLEnv | None = None) -> None:
        """Compile (or load from the cache) the kernels, on throwaway copies: the batch
        kernels, and the fused kernel for `env` if it has one."""
        twin = OptimalQLearning(self.n_states, self.n_actions, seed=0)
        s = np.zeros(1, dtype=np.int64)
        for masks in (None, np.ones((1, self.n_actions), dtype=np.bool_)):
            actions = twin.select_actions(s, masks)
            twin.batch_update(
                s, actions, np.zeros(1), s, np.zeros(1, dtype=np.bool_), masks, actions
            )
        if env is not None:
            self.warm_up_fused(env)

    def warm_up_fused(self, env: DistClassicRLEnv) -> bool:
        """Compile (or load) only the fused kernel for `env` (and the env's reset unless
        the kernel starts the episodes itself); False if `env` has none. A job that
        trains through the fused kernel needs nothing else: on an empty cache the batch
        kernels and the env's step would add about 2.5 s of compilation to TicTacToe's
        first run."""
        twin = OptimalQLearning(self.n_states, self.n_actions, seed=0)
        env_twin: TicTacToeEnv | TabularEnv
        if isinstance(env, TicTacToeEnv):
            env_twin = TicTacToeEnv(1, seed=0, opponent=env.opponent)  # a kernel per opponent
            env_twin.bind_learner(twin)
        elif isinstance(env, TabularEnv):
            env_twin = TabularEnv(env.model, 1, env.max_episode_steps, seed=0)
        else:
            return False
        env_twin.reset_unstarted()  # as `TrainingLoop.start`: the kernel starts the copies
        run = twin.fused_trainer(env_twin)
        if run is None:
            return False
        run(1, TrainingStatistics(1))
        return True

    def _visit_args(self) -> tuple[np.ndarray, bool]:
        """(visits array, count?) for the kernels; a dummy array when not counting."""
        return (_NO_VISITS, False) if self.visits is None else (self.visits, True)

    def fused_trainer(self, env: DistClassicRLEnv) -> FusedTrainer | None:
        """A trainer that runs choose-step-learn inside one Numba loop on `env`'s own
        state (`algorithms.fused`), or None if `env` does not step in Numba."""
        n = env.num_envs
        actions = np.empty(n, dtype=np.int64)
        states = np.empty(n, dtype=np.int64)
        targets = np.empty(n)
        totals = np.zeros(4)
        # SARSA: the next actions, truncated copies' true next states, "actions are drawn"
        next_actions = np.empty(n, dtype=np.int64)
        cut_states = np.empty(n, dtype=np.int64)
        carried = np.zeros(1, dtype=np.bool_)
        # SARSA: the actions drawn for the next call (the kernel keeps them in `actions`)
        carried_state = {
            "actions": actions,
            "next_actions": next_actions,
            "cut_states": cut_states,
            "carried": carried,
        }

        def finish(stats: TrainingStatistics) -> None:
            stats.record_episodes(
                int(totals[0]), float(totals[1]), int(totals[3]), float(totals[2])
            )

        if isinstance(env, TicTacToeEnv):

            def run(n_steps: int, stats: TrainingStatistics) -> None:
                totals[:] = 0.0
                fused.TRAIN_TICTACTOE[env.opponent_args[0], self.rule_code](
                    (
                        self.q_table,
                        n_steps,
                        self.epsilon,
                        self.learning_rate,
                        self.discount,
                        self.rng_state,
                        env.codes,
                        env.counts,
                        env.rng_state,
                        env.opponent_args[1:],
                        actions,
                        states,
                        targets,
                        stats.running_return,
                        stats.running_length,
                        totals,
                        *self._visit_args(),
                        next_actions,
                        carried,
                    )
                )
                finish(stats)

            # what a checkpoint must keep between calls (a function attribute, which mypy
            # does not model; TrainingLoop reads it)
            run.carried = carried_state  # type: ignore[attr-defined]
            return run
        if isinstance(env, TabularEnv):
            m = env.model

            def run(n_steps: int, stats: TrainingStatistics) -> None:
                totals[:] = 0.0
                fused.train_tabular(
                    self.q_table,
                    n_steps,
                    self.epsilon,
                    self.learning_rate,
                    self.discount,
                    self.rng_state,
                    env.states,
                    env.t,
                    env.cum,
                    m.next_states,
                    m.rewards,
                    m.terminated,
                    m.n_outcomes,
                    env.initial_states,
                    env.initial_cum,
                    env.max_episode_steps or 0,
                    env.rng_state,
                    actions,
                    states,
                    targets,
                    stats.running_return,
                    stats.running_length,
                    totals,
                    *self._visit_args(),
                    self.rule_code,
                    next_actions,
                    cut_states,
                    carried,
                )
                finish(stats)

            run.carried = carried_state  # type: ignore[attr-defined]  # as above
            return run
        return None

    def select_actions(self, states: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(len(states), dtype=np.int64)
        masked = masks is not None
        select_actions_kernel(
            self.q_table,
            np.asarray(states, dtype=np.int64),
            masks if masked else _NO_MASK,
            masked,
            self.epsilon,
            self.rng_state,
            out,
        )
        return out

    def batch_update(
        self, states, actions, rewards, next_states, terminated, next_masks=None, next_actions=None
    ) -> None:
        self._check_next_actions(next_actions)
        n = len(states)
        if self._targets.shape[0] < n:
            self._targets = np.empty(n)
        masked = next_masks is not None
        batch_update_kernel(
            self.q_table,
            np.asarray(states, dtype=np.int64),
            np.asarray(actions, dtype=np.int64),
            np.asarray(rewards, dtype=np.float64),
            np.asarray(next_states, dtype=np.int64),
            np.asarray(terminated, dtype=np.bool_),
            next_masks if masked else _NO_MASK,
            masked,
            self.learning_rate,
            self.discount,
            self.rule_code,
            _NO_ACTIONS if next_actions is None else np.asarray(next_actions, dtype=np.int64),
            self.epsilon,
            self._targets,
            *self._visit_args(),
        )
