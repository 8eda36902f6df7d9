"""Does experience replay help sample efficiency? Learning curves on Taxi, replay off vs on.

    python tools/replay_study.py                       # numpy, ~1-2 minutes
    python tools/replay_study.py --algorithm optimal   # fused kernel when off

Run from the repository root (``--out`` defaults to ``docs/figures/replay``).

Every job is the app's own: the config is composed as ``python -m dist_classicrl.run
env=taxi algorithm=ALGORITHM steps=STEPS seed=S runtime.eval_points=POINTS
algorithm.replay.capacity=C algorithm.replay.updates_per_step=U`` would compose it (the
shipped schedules, 64 envs), and trained by the single runtime. Each setting ``C:U`` runs
with the same seeds. The curve is the greedy policy's optimality gap against value
iteration (exact) at each evaluation point, against env transitions learned (replayed
updates are not steps) and against training seconds (evaluation and JIT excluded).

Writes ``replay_<algorithm>.csv`` (every curve point), ``replay_<algorithm>.md`` (one row
per setting) and ``replay_<algorithm>.png`` into ``--out`` (``--name`` changes the stem;
``--overrides`` adds app overrides to every job, e.g. ``env.num_envs=16``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_module

from dist_classicrl.app.config import validate
from dist_classicrl.app.job import build
from dist_classicrl.app.report import pyplot, write_csv, write_markdown

plt = pyplot()  # files only (the Agg backend)

#: A greedy policy this close to the optimum counts as solved (the quality bar is 2%).
SOLVED_GAP = 0.01
#: Gaps are drawn on a log axis: an optimal policy (gap 0) is drawn at this floor.
GAP_FLOOR = 1e-4


def train_curve(overrides: list[str]) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Compose the app's config with `overrides`, train, return (curve, details)."""
    with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    validate(cfg)
    agent = build(cfg)
    agent.runtime.progress = False
    try:
        result = agent.learn(cfg.steps).result
    finally:
        agent.env.close()
    return result.curve, {"steps_per_s": result.steps_per_s, **result.details}


def _first_solved(points: list[dict[str, Any]], key: str) -> float:
    """The `key` value (step or seconds) of the first point at or below `SOLVED_GAP`
    (infinite if none: a median over seeds then says "not reached" when most miss)."""
    return next((p[key] for p in points if p["gap"] <= SOLVED_GAP), float("inf"))


def study(
    algorithm: str,
    settings: list[tuple[int, float]],
    seeds: list[int],
    steps: int,
    points: int,
    extra: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Every curve point of every (setting, seed); `extra`: more app overrides."""
    rows = []
    for capacity, updates in settings:
        for seed in seeds:
            overrides = [
                "env=taxi",
                f"algorithm={algorithm}",
                f"steps={steps}",
                f"seed={seed}",
                f"runtime.eval_points={points}",
                f"algorithm.replay.capacity={capacity}",
                f"algorithm.replay.updates_per_step={updates}",
                *extra,
            ]
            curve, details = train_curve(overrides)
            if "eval_optimality_gap" not in curve[-1]:
                raise SystemExit("the study needs a compiled env (exact optimality gap)")
            replayed = details.get("replay", {}).get("updates", 0)
            for point in curve:
                rows.append(
                    {
                        "setting": label(capacity, updates),
                        "capacity": capacity,
                        "updates_per_step": updates,
                        "seed": seed,
                        "step": int(point["step"]),
                        "train_time_s": point["train_time_s"],
                        "gap": max(point["eval_optimality_gap"], 0.0),
                        "mean_return": point["eval_mean_return"],
                        "steps_per_s": details["steps_per_s"],
                        "replayed_updates": replayed,
                    }
                )
            print(f"{label(capacity, updates)} seed {seed}: {details['steps_per_s']:,.0f} steps/s")
    return rows


def label(capacity: int, updates: float) -> str:
    return "replay off" if capacity == 0 else f"capacity {capacity}, {updates:g} per step"


def summarize(rows: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """One row per setting: mean gaps at a quarter, half and all of the budget; median
    env steps and seconds to a gap of at most `SOLVED_GAP`; median speed."""
    table = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        runs = _runs(rows, setting)
        table.append(
            {
                "setting": setting,
                "seeds": len(runs),
                "gap at 25%": _mean_gap_at(runs, 0.25 * steps),
                "gap at 50%": _mean_gap_at(runs, 0.5 * steps),
                "gap at 100%": _mean_gap_at(runs, steps),
                "steps to 1% (median)": _median(_first_solved(p, "step") for p in runs),
                "seconds to 1% (median)": _median(_first_solved(p, "train_time_s") for p in runs),
                "steps/s (median)": float(np.median([p[0]["steps_per_s"] for p in runs])),
                "replayed per run": runs[0][0]["replayed_updates"],
            }
        )
    return table


def _median(values: Any) -> float | str:
    median = float(np.median(list(values)))
    return median if np.isfinite(median) else "not reached"


def _mean_gap_at(runs: list[list[dict[str, Any]]], step: float) -> float:
    """Mean over seeds of the gap at the first point at or after `step`."""
    return float(np.mean([next(p["gap"] for p in pts if p["step"] >= step - 0.5) for pts in runs]))


def _runs(rows: list[dict[str, Any]], setting: str) -> list[list[dict[str, Any]]]:
    """The curves of `setting`, one list of points per seed."""
    seeds = dict.fromkeys(r["seed"] for r in rows if r["setting"] == setting)
    return [[r for r in rows if r["setting"] == setting and r["seed"] == s] for s in seeds]


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Mean gap over seeds (line) and its min-max over seeds (band), against env steps
    learned and against training seconds."""
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for setting in dict.fromkeys(r["setting"] for r in rows):
        runs = _runs(rows, setting)
        gaps = np.maximum([[p["gap"] for p in pts] for pts in runs], GAP_FLOOR)
        steps = [p["step"] for p in runs[0]]
        seconds = np.mean([[p["train_time_s"] for p in pts] for pts in runs], axis=0)
        for ax, x in ((by_step, steps), (by_time, seconds)):
            (line,) = ax.plot(x, gaps.mean(axis=0), "o-", ms=3, label=setting)
            ax.fill_between(
                x, gaps.min(axis=0), gaps.max(axis=0), color=line.get_color(), alpha=0.15
            )
    by_step.set_xlabel("env transitions learned (replayed updates not counted)")
    by_time.set_xlabel("training seconds (mean over seeds; JIT and evaluation excluded)")
    by_step.set_ylabel(f"optimality gap of the greedy policy (log; 0 drawn at {GAP_FLOOR:g})")
    for ax in (by_step, by_time):
        ax.set_yscale("log")
        ax.axhline(SOLVED_GAP, color="grey", lw=0.8, ls="--")
        ax.grid(alpha=0.3)
    by_step.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _setting(text: str) -> tuple[int, float]:
    capacity, _, updates = text.partition(":")
    return int(capacity), float(updates or 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/replay_study.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--algorithm", default="numpy", choices=["list", "numpy", "optimal"])
    parser.add_argument(
        "--settings",
        nargs="+",
        type=_setting,
        default=[(0, 1.0), (50_000, 0.25), (50_000, 1.0), (50_000, 4.0), (5_000, 1.0)],
        help="CAPACITY:UPDATES_PER_STEP pairs (capacity 0: replay off)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-points", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("docs/figures/replay"))
    parser.add_argument(
        "--overrides", nargs="*", default=[], help="more app overrides, e.g. env.num_envs=16"
    )
    parser.add_argument("--name", default=None, help="file stem (default replay_ALGORITHM)")
    args = parser.parse_args(argv)
    rows = study(
        args.algorithm, args.settings, args.seeds, args.steps, args.eval_points, args.overrides
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (args.name or f"replay_{args.algorithm}")
    write_csv(stem.with_suffix(".csv"), rows)
    table = summarize(rows, args.steps)
    write_markdown(stem.with_suffix(".md"), table, list(table[0]))
    plot(
        rows,
        stem.with_suffix(".png"),
        f"Taxi-v4, algorithm={args.algorithm} {' '.join(args.overrides)}, {args.steps:,} steps, "
        f"seeds {', '.join(map(str, args.seeds))}",
    )
    print(stem.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
