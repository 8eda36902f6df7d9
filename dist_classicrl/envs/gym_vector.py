"""Any Gymnasium env with Discrete observation and action spaces, through ``gymnasium.vector``.

This is the general path: every step runs the env's own Python ``step``, so it is as fast
as the env (10^4 to 10^5 steps/s). Tabular toy-text envs take the compiled path instead
(`dist_classicrl.envs.tabular`). Each copy is made by one callable (`make_one`), which
applies the job's wrapper (`dist_classicrl.wrappers`) when the env's own spaces are not
Discrete, so every copy, and every evaluation copy, is wrapped alike.

The vector env uses Gymnasium's ``SAME_STEP`` auto-reset, whose ``final_obs`` info gives
the true last state of an ended episode; that matches the rules in
`dist_classicrl.envs.base`. Episodes without a time limit are cut at
`max_episode_steps` if given.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from gymnasium.spaces import Discrete
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.policies import greedy_actions

#: Greedy evaluation stops an episode after this many steps when the env has no limit,
#: so that a policy that walks in circles cannot hang a job.
EVAL_STEP_CAP = 10_000

#: Greedy evaluation runs episodes side by side: this many per copy, at most this many copies.
EVAL_EPISODES_PER_COPY = 100
EVAL_BATCH = 1024


class GymVectorEnv(DistClassicRLEnv):
    """`num_envs` copies of a Gymnasium env stepped by ``gymnasium.vector.SyncVectorEnv``."""

    evaluation_keys = ("mean_return", "std_return", "terminated_rate", "episodes")

    def __init__(
        self,
        make_one: Any,
        num_envs: int = 1,
        seed: int | None = None,
        name: str = "gym",
        eval_episodes: int = 100,
    ) -> None:
        self._make_one = make_one
        self.vector = SyncVectorEnv(
            [make_one for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP
        )
        # Discrete by contract (module docstring; `envs.factory` checks)
        space = cast(Discrete, self.vector.single_observation_space)
        action_space = cast(Discrete, self.vector.single_action_space)
        super().__init__(num_envs, int(space.n), int(action_space.n))
        self.name = name
        self.seed = seed
        self.eval_episodes = eval_episodes

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, None]:
        obs, _ = self.vector.reset(seed=self.seed if seed is None else seed)
        return np.asarray(obs, dtype=np.int64), None

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, terminated, truncated, info = self.vector.step(np.asarray(actions))
        obs = np.asarray(obs, dtype=np.int64)
        next_obs = obs.copy()
        ended = np.flatnonzero(info.get("_final_obs", ()))
        for i in ended:
            next_obs[i] = info["final_obs"][i]
        return StepResult(
            next_obs,
            np.asarray(reward, dtype=np.float64),
            np.asarray(terminated, dtype=np.bool_),
            np.asarray(truncated, dtype=np.bool_),
            None,
            obs,
            None,
        )

    def evaluate_greedy(self, q_table: np.ndarray, discount: float) -> dict[str, Any]:
        """Sampled: `eval_episodes` greedy episodes, run side by side in a vector of copies
        that play `EVAL_EPISODES_PER_COPY` episodes each (at most `EVAL_BATCH` copies; a
        copy that is done idles until the last one is, so few long episodes run one after
        the other, and many short ones, such as Blackjack's, in a batch).

        Reports the mean undiscounted return and ``terminated_rate``, the share
        of episodes that ended by termination rather than the time limit (MountainCar's
        goal rate)."""
        policy = greedy_actions(np.asarray(q_table))
        batch = min(EVAL_BATCH, max(1, self.eval_episodes // EVAL_EPISODES_PER_COPY))
        vector = SyncVectorEnv(
            [self._make_one for _ in range(batch)], autoreset_mode=AutoresetMode.SAME_STEP
        )
        # Copy i plays episodes i, i + batch, ...: each copy has a fixed quota.
        quota = np.full(batch, self.eval_episodes // batch)
        quota[: self.eval_episodes % batch] += 1
        returns: list[float]
        returns, terminated_count, done = [], 0, np.zeros(batch, dtype=np.int64)
        running, length = np.zeros(batch), np.zeros(batch, dtype=np.int64)
        obs, _ = vector.reset(seed=10_000 if self.seed is None else self.seed + 10_000)
        while (done < quota).any():
            obs, reward, terminated, truncated, _ = vector.step(policy[np.asarray(obs)])
            running += reward
            length += 1
            capped = length >= EVAL_STEP_CAP
            ended = terminated | truncated | capped
            counted = ended & (done < quota)
            returns.extend(running[counted])
            terminated_count += int((terminated & counted).sum())
            done += ended
            done[capped] = quota[capped]  # the copy goes on with that episode: retire it
            running[ended], length[ended] = 0.0, 0
        vector.close()
        values = np.asarray(returns)
        return {
            "mean_return": float(values.mean()),
            "std_return": float(values.std()),
            "terminated_rate": terminated_count / len(values),
            "episodes": len(values),
        }

    def close(self) -> None:
        self.vector.close()
