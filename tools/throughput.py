"""Throughput benchmark: learned env steps per second of every variant, and the baseline.

    python tools/throughput.py              # full table, ~3 minutes
    python tools/throughput.py --quick      # shorter runs, ~1 minute

It also measures the parallel runtime (``optimal``, 64 envs per worker) with each of
``--workers`` (default 1 2), and the distributed runtime with each of ``--ranks`` (none
by default; 64 envs per rank), against the single runtime in the same run, and prints
the ratios (the scaling figures of docs/parallel.md and docs/distributed.md).

For each env (TicTacToe, Taxi-v4), variant (list, numpy, optimal) and ``num_envs``
(1, 16, 256, 4096 by default) it trains through the product's own path
(`SingleRuntime`, epsilon 0.1, learning rate 0.1) for about ``--seconds`` and reports
learned env steps per second of training time; JIT compilation is measured apart and
evaluation is excluded. Each figure is the best of ``--repeats`` runs: on a shared
machine the best run is the least disturbed one. In the same process it measures the
loop a Gymnasium user would write (the tutorial shape: ``env.step`` in a Python loop and
a NumPy table) and prints every variant's speed-up over it.

Writes ``throughput.csv``, ``throughput.md`` and ``throughput.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.app.report import pyplot, write_csv, write_markdown
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.runtimes import DistributedRuntime, ParallelRuntime, SingleRuntime
from dist_classicrl.schedules import Schedule

plt = pyplot()  # files only (the Agg backend)

ENVS = {"tictactoe": "dist_classicrl/TicTacToe-v0", "taxi": "Taxi-v4"}
EPSILON = LEARNING_RATE = 0.1
DISCOUNT = 0.99


def _make(env_name: str, num_envs: int, seed: int):
    if env_name == "tictactoe":
        return TicTacToeEnv(num_envs, seed=seed)
    return make_env("gym", num_envs, id=ENVS[env_name], seed=seed)


def _train(
    variant: str,
    env_name: str,
    num_envs: int,
    steps: int,
    seed: int,
    workers: int = 0,
    ranks: int = 0,
):
    """One timed training run: the single runtime, or the parallel one with `workers`, or
    the distributed one with `ranks` (started through mpiexec)."""
    env = _make(env_name, num_envs, seed)
    algorithm = VARIANTS[variant](
        env.n_states,
        env.n_actions,
        learning_rate=LEARNING_RATE,
        discount=DISCOUNT,
        epsilon=EPSILON,
        seed=seed,
    )
    fixed_eps = Schedule(EPSILON, EPSILON, 0, "constant")
    fixed_lr = Schedule(LEARNING_RATE, LEARNING_RATE, 0, "constant")
    if ranks:
        runtime = DistributedRuntime(ranks=ranks, eval_points=1, progress=False)
    elif workers:
        runtime = ParallelRuntime(num_workers=workers, eval_points=1, progress=False)
    else:
        runtime = SingleRuntime(eval_points=1, progress=False)
    return runtime.train(algorithm, env, steps, fixed_eps, fixed_lr, seed=seed)


def measure_variant(
    variant: str,
    env_name: str,
    num_envs: int,
    seconds: float,
    repeats: int,
    workers: int = 0,
    ranks: int = 0,
) -> dict[str, Any]:
    """Best steps/s over `repeats` runs of about `seconds` each, and the JIT time."""
    probe = _train(variant, env_name, num_envs, max(num_envs, 2_000), 0, workers, ranks)
    compile_time = probe.compile_time_s
    rate = probe.steps_per_s
    for _ in range(3):  # grow the probe until it runs long enough to estimate the rate
        steps = int(min(max(rate * seconds / 4, num_envs), 5e8))
        rate = _train(variant, env_name, num_envs, steps, 0, workers, ranks).steps_per_s
    steps = int(min(max(rate * seconds, num_envs), 2e9))
    rates = [
        _train(variant, env_name, num_envs, steps, r, workers, ranks).steps_per_s
        for r in range(repeats)
    ]
    return {
        "env": env_name,
        "variant": variant,
        "num_envs": num_envs,
        "steps": steps,
        "runtime": f"distributed x{ranks}"
        if ranks
        else (f"parallel x{workers}" if workers else "single"),
        "steps_per_s": max(rates),
        "median_steps_per_s": float(np.median(rates)),
        "compile_time_s": compile_time,
    }


def gymnasium_baseline(env_name: str, seconds: float, repeats: int) -> dict[str, Any]:
    """The Gymnasium tutorial's Q-learning loop: env.step in Python, a NumPy table."""
    env = gym.make(ENVS[env_name])
    q = np.zeros((env.observation_space.n, env.action_space.n))
    rng = np.random.default_rng(0)
    masked = env_name == "tictactoe"

    def run(deadline: float) -> float:
        steps = 0
        obs, info = env.reset(seed=0)
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            for _ in range(1000):
                mask = info.get("action_mask") if masked else None
                if rng.random() < EPSILON:
                    action = int(env.action_space.sample(mask=mask))
                elif mask is not None:
                    action = int(np.argmax(np.where(mask, q[obs], -np.inf)))
                else:
                    action = int(np.argmax(q[obs]))
                nxt, reward, terminated, truncated, info = env.step(action)
                if masked and not terminated:
                    future = np.max(np.where(info["action_mask"], q[nxt], -np.inf))
                else:
                    future = 0.0 if terminated else np.max(q[nxt])
                q[obs, action] += LEARNING_RATE * (reward + DISCOUNT * future - q[obs, action])
                obs = nxt
                if terminated or truncated:
                    obs, info = env.reset()
            steps += 1000
        return steps / (time.perf_counter() - start)

    rates = [run(time.perf_counter() + seconds) for _ in range(repeats)]
    return {
        "env": env_name,
        "variant": "gymnasium loop",
        "runtime": "python loop",
        "num_envs": 1,
        "steps": None,
        "steps_per_s": max(rates),
        "median_steps_per_s": float(np.median(rates)),
        "compile_time_s": 0.0,
    }


SCALING_NUM_ENVS = 64


def measure_scaling(env_name: str, args: argparse.Namespace, baseline: float) -> list[dict]:
    """``optimal`` under the parallel runtime with each worker count and the distributed
    runtime with each rank count, next to the single runtime measured again in the same
    run, and the ratios between them."""
    single = measure_variant("optimal", env_name, SCALING_NUM_ENVS, args.seconds, args.repeats)
    rows = []
    counts = [("workers", n) for n in args.workers] + [("ranks", n) for n in args.ranks]
    for what, count in counts:
        row = measure_variant(
            "optimal", env_name, SCALING_NUM_ENVS, args.seconds, args.repeats, **{what: count}
        )
        row["speedup"] = row["steps_per_s"] / baseline
        row["vs_single"] = row["steps_per_s"] / single["steps_per_s"]
        rows.append(row)
        print(
            f"{env_name:10s} optimal  x{count} {what:7s}  {row['steps_per_s'] / 1e6:8.3f} M/s"
            f"  = {row['vs_single']:.2f} x single ({single['steps_per_s'] / 1e6:.3f} M/s, "
            f"{SCALING_NUM_ENVS} envs per {what[:-1]})",
            flush=True,
        )
    by_workers = {r["runtime"]: r["steps_per_s"] for r in rows}
    if "parallel x1" in by_workers:
        for row in rows:
            row["vs_one_worker"] = row["steps_per_s"] / by_workers["parallel x1"]
    return rows


def plot_throughput(rows: list[dict[str, Any]], path: Path) -> None:
    """Throughput against num_envs, one line per variant, one panel per env (log-log);
    the Gymnasium-loop baseline as a dashed line."""
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4.5), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        env_rows = [
            r
            for r in rows
            if r["env"] == env and r.get("runtime", "single") in ("single", "python loop")
        ]
        for variant in dict.fromkeys(r["variant"] for r in env_rows):
            points = sorted(
                (r["num_envs"], r["steps_per_s"]) for r in env_rows if r["variant"] == variant
            )
            if variant == "gymnasium loop":
                ax.axhline(points[0][1], color="gray", linestyle="--", label=variant)
            else:
                ax.plot(*zip(*points, strict=True), "o-", label=variant)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("num_envs (batch of env copies)")
        ax.set_ylabel("learned env steps / s")
        ax.set_title(env)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/throughput.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 16, 256, 4096])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers",
        nargs="*",
        type=int,
        default=[1, 2],
        help="parallel runtime worker counts to measure (optimal, 64 envs)",
    )
    parser.add_argument(
        "--ranks",
        nargs="*",
        type=int,
        default=[],
        help="distributed runtime rank counts to measure (optimal, 64 envs per rank)",
    )
    parser.add_argument("--quick", action="store_true", help="--seconds 0.3 --repeats 2")
    parser.add_argument("--out", type=Path, default=Path("throughput"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 0.3, 2
    if (
        min(args.num_envs) < 1
        or args.seconds <= 0
        or args.repeats < 1
        or min(args.workers + args.ranks, default=1) < 1
    ):
        parser.error(
            "--num-envs, --workers and --ranks must be >= 1, --seconds > 0, --repeats >= 1"
        )
    args.out.mkdir(parents=True, exist_ok=True)

    rows = []
    for env_name in args.envs:
        baseline = gymnasium_baseline(env_name, args.seconds, args.repeats)
        rows.append(baseline)
        print(
            f"{env_name:10s} gymnasium loop     {baseline['steps_per_s'] / 1e6:8.3f} M/s",
            flush=True,
        )
        for variant in args.variants:
            for n in args.num_envs:
                row = measure_variant(variant, env_name, n, args.seconds, args.repeats)
                row["speedup"] = row["steps_per_s"] / baseline["steps_per_s"]
                rows.append(row)
                print(
                    f"{env_name:10s} {variant:8s} n={n:<6d} {row['steps_per_s'] / 1e6:8.3f} M/s"
                    f"  x{row['speedup']:7.1f}  (JIT {row['compile_time_s']:.2f} s)",
                    flush=True,
                )
        if (args.workers or args.ranks) and "optimal" in args.variants:
            rows += measure_scaling(env_name, args, baseline["steps_per_s"])
    for row in rows:
        row.setdefault("speedup", 1.0)
    write_csv(args.out / "throughput.csv", rows)
    header = (
        f"Learned env steps/s (best of {args.repeats} runs of ~{args.seconds} s), "
        f"{platform.machine()}, {os.cpu_count()} cores; speedup: over the Gymnasium loop; "
        "vs_single / vs_one_worker: parallel runtime against the single runtime / one "
        "worker, measured in the same run.\n\n"
    )
    write_markdown(
        args.out / "throughput.md",
        rows,
        [
            "env",
            "variant",
            "runtime",
            "num_envs",
            "steps_per_s",
            "median_steps_per_s",
            "speedup",
            "vs_single",
            "vs_one_worker",
            "compile_time_s",
        ],
    )
    (args.out / "throughput.md").write_text(header + (args.out / "throughput.md").read_text())
    plot_throughput(rows, args.out / "throughput.png")
    print(f"wrote {args.out}/throughput.csv, throughput.md and throughput.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
