"""The timed work shared by the speed guards and the stored-baseline comparison.

Each `Workload` builds its training loop once, warms it up outside the measurement, and
returns a callable that learns from `units` env steps. Its `kind` names the calibration
workload it is divided by (`calibration.KINDS`): the code it spends its time in, pure
Python, NumPy, or compiled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.runtimes import TrainingLoop

NUM_ENVS = 1024


def make_loop(variant: str, env_name: str, num_envs: int, fused: bool = True) -> TrainingLoop:
    """A warmed-up loop of `variant` on TicTacToe or (compiled) Taxi, one batch already run."""
    env = (
        TicTacToeEnv(num_envs, seed=0)
        if env_name == "tictactoe"
        else make_env("gym", num_envs, id="Taxi-v4", seed=0)
    )
    algo = VARIANTS[variant](env.n_states, env.n_actions, learning_rate=0.1, epsilon=0.1, seed=0)
    loop = TrainingLoop(algo, env, fused=fused)
    loop.warm_up()
    loop.start(0)
    loop.run(num_envs)  # first call outside the measurement
    return loop


def best_time(work: Callable[[], object], repeats: int = 5) -> float:
    """Shortest wall time of `repeats` calls: the least disturbed one on a shared machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def best_rate(loop: TrainingLoop, steps: int, repeats: int = 5) -> float:
    """Best learned steps/s over `repeats` runs of `steps` steps."""
    return steps / best_time(lambda: loop.run(steps), repeats)


@dataclass(frozen=True)
class Workload:
    """`make()` returns a callable that does `units` units of work of `kind`."""

    name: str
    kind: str
    units: int
    make: Callable[[], Callable[[], object]]


def _training(variant: str, env_name: str, num_envs: int, steps: int, fused: bool = True):
    def make() -> Callable[[], None]:
        loop = make_loop(variant, env_name, num_envs, fused=fused)
        return lambda: loop.run(steps)

    return make


#: What the stored baseline covers: each variant on each env and the batch loop around the
#: compiled kernels; each call takes ~0.05-0.2 s here. The batch update alone is left out:
#: it reads a 700 kB table at random, and its figure moved by 2x from run to run while
#: other processes shared the caches (it is timed in `test_guards.py` instead).
WORKLOADS = [
    *(
        Workload(f"{env}/{variant}", kind, steps, _training(variant, env, NUM_ENVS, steps))
        for env in ("tictactoe", "taxi")
        for variant, kind, steps in (
            ("list", "python", 20 * NUM_ENVS),
            ("numpy", "numpy", 200 * NUM_ENVS),
            ("optimal", "compiled", 2000 * NUM_ENVS),
        )
    ),
    Workload(
        "tictactoe/optimal-batch-loop",
        "numpy",
        100_000,
        _training("optimal", "tictactoe", 64, 100_000, fused=False),
    ),
]
