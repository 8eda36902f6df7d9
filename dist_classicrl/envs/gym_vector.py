"""Any Gymnasium env with Discrete observation and action spaces, through ``gymnasium.vector``.

This is the general path: every step runs the env's own Python ``step``, so it is as fast
as the env (10^4 to 10^5 steps/s). Tabular toy-text envs take the compiled path instead
(`dist_classicrl.envs.tabular`).

The vector env uses Gymnasium's ``SAME_STEP`` auto-reset, whose ``final_obs`` info gives
the true last state of an ended episode; that matches the rules in
`dist_classicrl.envs.base`. Episodes without a time limit are cut at
`max_episode_steps` if given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.policies import greedy_actions

#: Greedy evaluation stops an episode after this many steps when the env has no limit,
#: so that a policy that walks in circles cannot hang a job.
EVAL_STEP_CAP = 10_000


class GymVectorEnv(DistClassicRLEnv):
    """`num_envs` copies of a Gymnasium env stepped by ``gymnasium.vector.SyncVectorEnv``."""

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
        space = self.vector.single_observation_space
        super().__init__(num_envs, int(space.n), int(self.vector.single_action_space.n))
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
        """Sampled: mean undiscounted return of `eval_episodes` greedy episodes."""
        env = self._make_one()
        policy = greedy_actions(np.asarray(q_table))
        returns = np.empty(self.eval_episodes)
        seed = 10_000 if self.seed is None else self.seed + 10_000
        for e in range(self.eval_episodes):
            obs, _ = env.reset(seed=seed + e)
            total, done, t = 0.0, False, 0
            while not done and t < EVAL_STEP_CAP:
                obs, reward, terminated, truncated, _ = env.step(int(policy[obs]))
                total += float(reward)
                done = terminated or truncated
                t += 1
            returns[e] = total
        env.close()
        return {
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std()),
            "episodes": self.eval_episodes,
        }

    def close(self) -> None:
        self.vector.close()
