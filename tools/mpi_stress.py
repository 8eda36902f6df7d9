"""Stress the distributed runtime: many short runs at several rank counts, each bounded.

    python tools/mpi_stress.py --runs 20 --ranks 2 3 4

Prints, per rank count, how many runs completed with the exact step budget, failed or
timed out (a hang shows as a timeout, never as a stuck command).
"""

from __future__ import annotations

import argparse
import time

from dist_classicrl.algorithms import OptimalQLearning
from dist_classicrl.envs import TicTacToeEnv
from dist_classicrl.runtimes import DistributedRuntime, WorkerError
from dist_classicrl.schedules import Schedule


def one_run(ranks: int, seed: int, steps: int, timeout_s: float) -> str:
    env = TicTacToeEnv(16, seed=seed)
    algo = OptimalQLearning(env.n_states, env.n_actions, epsilon=0.5, seed=seed)
    runtime = DistributedRuntime(
        ranks=ranks, sync_every=10_000, eval_points=2, progress=False, timeout_s=timeout_s
    )
    try:
        result = runtime.train(
            algo, env, steps, Schedule(0.5, 0.5, 0), Schedule(0.1, 0.1, 0), seed=seed
        )
    except WorkerError as exc:
        return "timeout" if "did not finish" in str(exc) else "failed"
    return "completed" if result.steps == steps else "failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/mpi_stress.py")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    ok = True
    for ranks in args.ranks:
        start = time.perf_counter()
        outcomes = [one_run(ranks, seed, args.steps, args.timeout) for seed in range(args.runs)]
        counts = {k: outcomes.count(k) for k in ("completed", "failed", "timeout")}
        ok &= counts["completed"] == args.runs
        print(
            f"{ranks} ranks: {counts['completed']}/{args.runs} completed, "
            f"{counts['failed']} failed, {counts['timeout']} timed out "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
