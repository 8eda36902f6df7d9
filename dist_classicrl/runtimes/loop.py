"""`TrainingLoop`: learn from a number of env steps, the part every runtime shares.

It carries the observation between calls, so a runtime can train in chunks (to set
schedules, draw progress, synchronise) without caring which path runs inside: the
variant's fused kernel when it has one for the env, else the batch loop
(``select_actions`` -> ``env.step`` -> ``batch_update``). Under SARSA the loop draws the
next actions before the update and executes them at the next step
(`BaseAlgorithm.next_actions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.runtimes.replay import FUSED_OFF_REASON, Replayer, replay_details
from dist_classicrl.stats import TrainingStatistics


class TrainingLoop:
    """Chunked training of `algorithm` on `env` (call `start` once, then `run`).

    With ``algorithm.replay`` on, the batch loop runs (the fused kernel does not replay)
    and every learned batch also goes to a `Replayer`, which stores it and learns from
    batches sampled from its buffer; ``steps`` still counts env transitions only.
    """

    def __init__(
        self,
        algorithm: BaseAlgorithm,
        env: DistClassicRLEnv,
        fused: bool = True,
        batch_lock: Any = None,
    ) -> None:
        self.algorithm = algorithm
        self.env = env
        self.stats = TrainingStatistics(env.num_envs)
        self.replayer: Replayer | None = None
        self.fused_off_reason: str | None = None  # why a fused kernel went unused
        self._use_fused = fused and batch_lock is None
        self._batch_lock = batch_lock  # held around each batch update when given
        self._fused: Any = None  # the variant's fused kernel (`fused_trainer`), or None
        self._obs: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        # SARSA: the next actions, drawn after a step, executed at the next one
        self._next_actions: np.ndarray | None = None

    def warm_up(self) -> None:
        """Compile (or load) the kernels this loop runs, on throwaway copies: the fused
        kernel alone when it will run (`start`), else the env's and the algorithm's."""
        if self._use_fused and not self.algorithm.replay.enabled:
            if self.algorithm.warm_up_fused(self.env):
                return
        self.env.warm_up()
        self.algorithm.warm_up(self.env)

    def start(self, seed: int | None) -> None:
        """Reset the env and pick the path (fused kernel or batch loop)."""
        self.env.bind_learner(self.algorithm)  # an opponent may play from the table
        if self._use_fused:
            self._fused = self.algorithm.fused_trainer(self.env)
        self._start_replay(seed)
        if self._fused is not None:  # the kernel reads the env's state, not an observation
            self.env.reset_unstarted(seed=seed)
        else:
            self._obs, self._mask = self.env.reset(seed=seed)
        self._next_actions = None

    @property
    def fused(self) -> bool:
        return self._fused is not None

    def _start_replay(self, seed: int | None) -> None:
        """With ``algorithm.replay`` on: a `Replayer`, and the batch loop, not the fused
        kernel."""
        if not self.algorithm.replay.enabled:
            return
        self.replayer = Replayer(self.algorithm.replay, seed)
        if self._fused is not None:
            self._fused, self.fused_off_reason = None, FUSED_OFF_REASON

    def _learn(self, *batch: Any) -> None:
        """``batch_update``, under the batch lock when the runtime gave one."""
        if self._batch_lock is None:
            self.algorithm.batch_update(*batch)
        else:
            with self._batch_lock:
                self.algorithm.batch_update(*batch)

    def state(self) -> dict[str, Any]:
        """What the loop carries between chunks (a checkpoint's ``loop`` part): the
        observation, SARSA's next actions, the fused kernel's carried arrays and the
        statistics."""
        state: dict[str, Any] = {f"stats_{k}": v for k, v in self.stats.state().items()}
        for name, value in (("obs", self._obs), ("mask", self._mask)):
            if value is not None:
                state[name] = np.array(value)
        if self._next_actions is not None:
            state["next_actions"] = np.array(self._next_actions)
        if self._fused is not None:
            for name, array in self._fused.carried.items():
                state[f"fused_{name}"] = array.copy()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from `state` (after `start`)."""
        self.stats.load_state(
            {k.removeprefix("stats_"): v for k, v in state.items() if k.startswith("stats_")}
        )
        self._obs = state.get("obs", self._obs)
        self._mask = state.get("mask", self._mask)
        self._next_actions = state.get("next_actions")
        if self._fused is not None:
            for name, array in self._fused.carried.items():
                array[...] = state[f"fused_{name}"]

    def replay_counts(self) -> np.ndarray:
        """``int64[3]``: replayed updates, replayed batches, 1 if replay turned the fused
        kernel off (multi-process runtimes sum these over workers for `replay_details`)."""
        counts = np.zeros(3, dtype=np.int64)
        if self.replayer is not None:
            counts[:2] = self.replayer.counts()
        counts[2] = self.fused_off_reason is not None
        return counts

    def details(self) -> dict[str, Any]:
        """metrics.json entries about replay (none when it is off)."""
        return replay_details(self.algorithm.replay, self.replay_counts()[None])

    def run(self, n_steps: int) -> None:
        """Learn from exactly `n_steps` transitions; a last partial batch steps every copy
        but learns from the first ones only."""
        if self._fused is not None:
            self._fused(n_steps, self.stats)
            return
        algorithm, env, stats = self.algorithm, self.env, self.stats
        obs, mask, n, done = self._obs, self._mask, env.num_envs, 0
        sarsa, next_actions = algorithm.needs_next_actions, self._next_actions
        assert obs is not None  # set by start()
        while done < n_steps:
            if next_actions is None:
                actions = algorithm.select_actions(obs, mask)
            else:
                actions = next_actions
            res = env.step(actions)
            take = min(n, n_steps - done)
            target_actions: np.ndarray | None = None
            if sarsa:
                next_actions, target_actions = algorithm.next_actions(res)
                target_actions = target_actions[:take]
            batch: tuple[Any, ...] | None
            if res.learned is None:
                batch = (
                    obs[:take],
                    actions[:take],
                    res.reward[:take],
                    res.next_obs[:take],
                    res.terminated[:take],
                    None if res.next_mask is None else res.next_mask[:take],
                    target_actions,
                )
            else:  # turn-based self-play: the moves the other seat has now replied to
                batch = res.learned.batch(take, target_actions)
            if batch is not None:
                self._learn(*batch)
                if self.replayer is not None:
                    self.replayer.after_batch(self._learn, batch)
            stats.record_batch(res.reward[:take], (res.terminated | res.truncated)[:take])
            obs, mask = res.obs, res.mask
            done += take
        self._obs, self._mask, self._next_actions = obs, mask, next_actions
