"""Training statistics: episode returns and lengths, aggregated per learning-curve window."""

from __future__ import annotations

import time

import numpy as np


class TrainingStatistics:
    """Tracks the episodes that finish during training, for a vector of `num_envs` envs.

    Per-step bookkeeping is two vector additions; finished episodes are only summed, so
    the cost does not grow with the number of episodes. `window()` returns the aggregates
    since the previous call (one learning-curve point) and `summary()` the totals.
    """

    #: ``running_return`` / ``running_length`` hold the unfinished episode of each env;
    #: fused kernels update them in place and report finished episodes as sums.

    def __init__(self, num_envs: int) -> None:
        self.start_time = time.perf_counter()
        self.running_return = np.zeros(num_envs)
        self.running_length = np.zeros(num_envs, dtype=np.int64)
        self.episodes = 0
        self._return_sum = 0.0
        self._return_sq_sum = 0.0
        self._length_sum = 0
        self._window = [0, 0.0, 0]

    def record_batch(self, rewards: np.ndarray, done: np.ndarray) -> None:
        """Add one vector step: `rewards[i]` and whether env i's episode ended.

        A shorter batch (the last, cut to the step budget) covers the first envs."""
        n = len(rewards)
        running_return, running_length = self.running_return[:n], self.running_length[:n]
        running_return += rewards
        running_length += 1
        if done.any():
            returns = running_return[done]
            lengths = running_length[done]
            self.record_episodes(
                len(returns),
                float(returns.sum()),
                int(lengths.sum()),
                float(np.square(returns).sum()),
            )
            running_return[done] = 0.0
            running_length[done] = 0

    def record_episodes(
        self, count: int, return_sum: float, length_sum: int, return_sq_sum: float = float("nan")
    ) -> None:
        """Add `count` finished episodes given by their sums (used by fused kernels)."""
        self.episodes += count
        self._return_sum += return_sum
        self._return_sq_sum += return_sq_sum
        self._length_sum += length_sum
        self._window[0] += count
        self._window[1] += return_sum
        self._window[2] += length_sum

    def totals(self) -> tuple[float, float, float, float]:
        """(episodes, return sum, squared-return sum, length sum) so far: what a parallel
        worker publishes for the main process to aggregate."""
        return (
            float(self.episodes),
            self._return_sum,
            self._return_sq_sum,
            float(self._length_sum),
        )

    def state(self) -> dict[str, object]:
        """Everything a checkpoint needs to continue the statistics exactly."""
        return {
            "running_return": self.running_return.copy(),
            "running_length": self.running_length.copy(),
            "sums": [self.episodes, self._return_sum, self._return_sq_sum, self._length_sum],
            "window": list(self._window),
        }

    def load_state(self, state: dict) -> None:
        self.running_return[:] = state["running_return"]
        self.running_length[:] = state["running_length"]
        episodes, self._return_sum, self._return_sq_sum, length_sum = state["sums"]
        self.episodes, self._length_sum = int(episodes), int(length_sum)
        count, return_sum, window_length = state["window"]
        self._window = [int(count), float(return_sum), int(window_length)]

    def window(self) -> dict[str, float]:
        """Episodes finished since the last call, with their mean return and length."""
        count, return_sum, length_sum = self._window
        self._window = [0, 0.0, 0]
        return {
            "episodes": count,
            "mean_return": return_sum / count if count else float("nan"),
            "mean_length": length_sum / count if count else float("nan"),
        }

    def summary(self) -> dict[str, float]:
        """Totals over the whole run (the seed's `get_summary`)."""
        n = self.episodes
        mean = self._return_sum / n if n else float("nan")
        var = self._return_sq_sum / n - mean * mean if n else float("nan")
        return {
            "episodes": n,
            "mean_return": mean,
            "std_return": float(np.sqrt(max(var, 0.0)))
            if n and not np.isnan(var)
            else float("nan"),
            "mean_episode_length": self._length_sum / n if n else float("nan"),
            "wall_time_s": time.perf_counter() - self.start_time,
        }
