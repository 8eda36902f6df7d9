"""`SingleRuntime`: one process steps a batch of `num_envs` envs and learns from it.

The runtime owns the loop, the schedules, evaluation, progress and the statistics; the
algorithm variant inside is interchangeable. Training runs in chunks (about 1/200 of the
budget each): schedules are set and progress is drawn between chunks, never per step.
Timing covers the training loop only: JIT warm-up and evaluation are measured apart.
Each chunk runs through `TrainingLoop`: one compiled call when the variant has a fused
kernel for the env (``optimal`` on a compiled env), else the batch loop.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import check_positive_int
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.schedules import Schedule

#: Chunks per run: how often schedules are updated and progress is drawn.
CHUNKS_PER_RUN = 200


@dataclass
class TrainResult:
    """What a runtime returns; the app turns it into the job's files."""

    q_table: np.ndarray
    steps: int
    train_time_s: float
    compile_time_s: float
    eval_time_s: float
    status: str
    statistics: dict[str, float]
    eval: dict[str, Any]
    curve: list[dict[str, float]] = field(default_factory=list)
    workers: int = 1
    details: dict[str, Any] = field(default_factory=dict)  # runtime-specific metrics

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.train_time_s if self.train_time_s > 0 else float("nan")


class SingleRuntime:
    """Single-process training (module docstring)."""

    name = "single"

    def __init__(
        self, eval_points: int = 10, progress: bool | None = None, fused: bool = True
    ) -> None:
        check_positive_int("runtime.eval_points", eval_points)
        self.eval_points = eval_points
        self.progress = progress
        self.fused = fused

    def _progress_bar(self, total: int, label: str) -> tqdm:
        enabled = sys.stderr.isatty() if self.progress is None else self.progress
        return tqdm(
            total=total,
            disable=not enabled,
            unit="step",
            unit_scale=True,
            desc=label,
            leave=False,
            mininterval=0.2,
        )

    def train(
        self,
        algorithm: BaseAlgorithm,
        env: DistClassicRLEnv,
        steps: int,
        epsilon: Schedule,
        learning_rate: Schedule,
        seed: int | None = None,
    ) -> TrainResult:
        """Learn from exactly `steps` env transitions (summed over the batch)."""
        check_positive_int("steps", steps)
        loop = TrainingLoop(algorithm, env, fused=self.fused)
        stats = loop.stats
        chunk = max(env.num_envs, math.ceil(steps / CHUNKS_PER_RUN / env.num_envs) * env.num_envs)
        eval_every = steps / self.eval_points
        next_eval, done, train_time, eval_time, compile_time = eval_every, 0, 0.0, 0.0, 0.0
        curve: list[dict[str, float]] = []
        status = "completed"
        bar = self._progress_bar(steps, f"{algorithm.name}/{env.name}")
        try:
            compile_start = time.perf_counter()
            loop.warm_up()
            compile_time = time.perf_counter() - compile_start
            loop.start(seed)
            while done < steps:
                algorithm.epsilon = epsilon(done)
                algorithm.learning_rate = learning_rate(done)
                chunk_end = min(steps, done + chunk)
                start = time.perf_counter()
                loop.run(chunk_end - done)
                done = chunk_end
                train_time += time.perf_counter() - start
                bar.update(chunk_end - bar.n)
                if done >= next_eval - 0.5 or done >= steps:
                    eval_time += self._record(curve, algorithm, env, stats, done, train_time)
                    next_eval += eval_every
        except KeyboardInterrupt:
            status = "interrupted"
            eval_time += self._record(curve, algorithm, env, stats, done, train_time)
        finally:
            bar.close()
        algorithm.step_count += done
        algorithm.episode_count += stats.episodes
        final_eval = {k[len("eval_") :]: v for k, v in curve[-1].items() if k.startswith("eval_")}
        return TrainResult(
            np.array(algorithm.q_values(), dtype=np.float32),
            done,
            train_time,
            compile_time,
            eval_time,
            status,
            stats.summary(),
            final_eval,
            curve,
            details=loop.details(),
        )

    @staticmethod
    def _record(curve, algorithm, env, stats, done, train_time) -> float:
        """Append one learning-curve point (greedy evaluation); returns its duration."""
        start = time.perf_counter()
        window = stats.window()
        row = {
            "step": done,
            "train_time_s": train_time,
            "epsilon": algorithm.epsilon,
            "learning_rate": algorithm.learning_rate,
            "episodes": window["episodes"],
            "train_mean_return": window["mean_return"],
        }
        row.update(evaluation_row(env, algorithm.q_values(), algorithm.discount))
        curve.append(row)
        return time.perf_counter() - start


def evaluation_row(env: DistClassicRLEnv, q_table: np.ndarray, discount: float) -> dict:
    """The env's greedy evaluation of `q_table` as ``eval_*`` learning-curve columns."""
    evaluation = env.evaluate_greedy(q_table, discount)
    return {f"eval_{k}": float(v) for k, v in evaluation.items() if isinstance(v, int | float)}


def curve_from_snapshots(
    snapshots: list[tuple[int, np.ndarray, np.ndarray, float]],
    env: DistClassicRLEnv,
    epsilon: Schedule,
    learning_rate: Schedule,
    discount: float,
) -> tuple[list[dict], float, dict[str, float], dict[str, Any]]:
    """Evaluate tables saved during a multi-process run, after it: snapshots are
    ``(global step, table, cumulative [episodes, return sum, squared sum, length sum],
    seconds since the start)``. Returns (curve, evaluation seconds, statistics, final eval).
    """
    start = time.perf_counter()
    curve, previous = [], np.zeros(4)
    for step, table, totals, elapsed in snapshots:
        window = totals - previous
        previous = totals
        row = {
            "step": step,
            "train_time_s": elapsed,
            "epsilon": epsilon(step),
            "learning_rate": learning_rate(step),
            "episodes": int(window[0]),
            "train_mean_return": window[1] / window[0] if window[0] else float("nan"),
        }
        row.update(evaluation_row(env, table, discount))
        curve.append(row)
    totals = snapshots[-1][2]
    n = totals[0]
    statistics = {
        "episodes": int(n),
        "mean_return": totals[1] / n if n else float("nan"),
        "mean_episode_length": totals[3] / n if n else float("nan"),
    }
    final_eval = {k[len("eval_") :]: v for k, v in curve[-1].items() if k.startswith("eval_")}
    return curve, time.perf_counter() - start, statistics, final_eval
