"""One training job: build the objects from the config, train, write the job's files.

Files (the contract in DESIGN.md): ``metrics.json``, ``q_table.npy`` (float32
``[n_states, n_actions]``), ``learning_curve.csv`` and ``learning_curve.png``. They are
written whatever the outcome: ``status`` says ``completed``, ``interrupted`` or
``failed``.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dist_classicrl.app.report import plot_learning_curve, write_csv
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.q_table_file import load_q_table
from dist_classicrl.runtimes.single import TrainResult, evaluation_row
from dist_classicrl.schedules import Schedule
from dist_classicrl.stats import TrainingStatistics


def build_wrapper(cfg: DictConfig) -> Callable[[Any], Any] | None:
    """The ``wrapper`` node as a callable that wraps one Gymnasium env, or None."""
    if cfg.wrapper._target_ is None:
        return None
    return instantiate(cfg.wrapper, _partial_=True, _convert_="all")


def build_env(cfg: DictConfig) -> DistClassicRLEnv:
    """The env of the job; the wrapper wraps each Gymnasium env copy inside it."""
    return instantiate(cfg.env, seed=cfg.seed, wrapper=build_wrapper(cfg), _convert_="all")


def build_schedules(cfg: DictConfig) -> tuple[Schedule, Schedule]:
    """(epsilon, learning rate) schedules over the job's step budget."""

    def one(node: DictConfig) -> Schedule:
        return Schedule(node.start, node.end, math.ceil(node.fraction * cfg.steps), node.kind)

    return one(cfg.schedule.epsilon), one(cfg.schedule.learning_rate)


def build(cfg: DictConfig) -> tuple[Any, DistClassicRLEnv, Any, Schedule, Schedule]:
    """(algorithm, env, runtime, epsilon schedule, learning-rate schedule)."""
    env = build_env(cfg)
    epsilon, learning_rate = build_schedules(cfg)
    algorithm = instantiate(
        cfg.algorithm,
        n_states=env.n_states,
        n_actions=env.n_actions,
        learning_rate=learning_rate(0),
        epsilon=epsilon(0),
        seed=cfg.seed,
    )
    if cfg.get("init_q_table"):  # warm start, checked before any work
        algorithm.load_q_values(load_q_table(cfg.init_q_table, env.n_states, env.n_actions))
    runtime = instantiate(cfg.runtime)
    return algorithm, env, runtime, epsilon, learning_rate


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def run_job(cfg: DictConfig, out_dir: Path, choices: dict[str, str]) -> dict[str, Any]:
    """Train as `cfg` says and write the job's files into `out_dir`; returns the metrics."""
    algorithm, env, runtime, epsilon, learning_rate = build(cfg)
    if cfg.steps == 0 and getattr(runtime, "is_secondary_rank", lambda: False)():
        env.close()  # evaluation only, under ranks you started: rank 0 writes the job
        return {"status": "other-rank"}
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {
        "algorithm": algorithm.name,
        "rule": algorithm.rule,
        "runtime": runtime.name,
        "env": env.name,
        "env_config": choices.get("env", env.name),
        "workers": 1,
        "num_envs": env.num_envs,
        "steps": 0,
        "seed": cfg.seed,
        "n_states": env.n_states,
        "n_actions": env.n_actions,
        "status": "failed",
    }
    if cfg.get("init_q_table"):
        metrics["init_q_table"] = str(cfg.init_q_table)  # the table the job started from
    try:
        if cfg.steps == 0:  # evaluate init_q_table's table in this process, no training
            result = evaluate_only(algorithm, env)
        else:
            result = runtime.train(algorithm, env, cfg.steps, epsilon, learning_rate, seed=cfg.seed)
    except Exception:
        metrics["error"] = traceback.format_exc(limit=-3)
        _write_json(out_dir / "metrics.json", metrics)
        np.save(out_dir / "q_table.npy", np.asarray(algorithm.q_values(), dtype=np.float32))
        raise
    finally:
        env.close()
    if result is None:  # an MPI rank other than 0: rank 0 writes the job's files
        return {**metrics, "status": "other-rank"}
    metrics.update(
        {
            "workers": result.workers,
            "steps": result.steps,
            "steps_per_s": result.steps_per_s,
            "train_time_s": result.train_time_s,
            "compile_time_s": result.compile_time_s,
            "eval_time_s": result.eval_time_s,
            "episodes": result.statistics["episodes"],
            "train_mean_return": result.statistics["mean_return"],
            "eval": result.eval,
            "status": result.status,
            **result.details,
        }
    )
    np.save(out_dir / "q_table.npy", result.q_table)
    write_csv(out_dir / "learning_curve.csv", result.curve)
    plot_learning_curve(
        result.curve,
        out_dir / "learning_curve.png",
        title=f"{algorithm.name} / {runtime.name} / {env.name}",
        train_label=getattr(env, "training_return_label", "training (epsilon-greedy)"),
    )
    _write_json(out_dir / "metrics.json", metrics)
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return metrics


def evaluate_only(algorithm: Any, env: DistClassicRLEnv) -> TrainResult:
    """``steps=0``: the greedy evaluation of the loaded table, as a one-point result
    (status ``completed`` with 0 steps, as DESIGN.md's statuses allow; no worker or rank
    is started)."""
    start = time.perf_counter()
    row = evaluation_row(env, algorithm.q_values(), algorithm.discount)
    eval_time = time.perf_counter() - start
    curve = [
        {
            "step": 0,
            "train_time_s": 0.0,
            "epsilon": algorithm.epsilon,
            "learning_rate": algorithm.learning_rate,
            "episodes": 0,
            "train_mean_return": float("nan"),
            **row,
        }
    ]
    return TrainResult(
        q_table=np.array(algorithm.q_values(), dtype=np.float32),
        steps=0,
        train_time_s=0.0,
        compile_time_s=0.0,
        eval_time_s=eval_time,
        status="completed",
        statistics=TrainingStatistics(env.num_envs).summary(),
        eval={k[len("eval_") :]: v for k, v in row.items()},
        curve=curve,
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_clean(data), indent=2) + "\n")


def _rate(per_s: float) -> str:
    """Steps per second in M, or in k below a million (Python envs: 0.04 M says little)."""
    return f"{per_s / 1e6:.2f} M" if per_s >= 1e6 else f"{per_s / 1e3:.1f} k"


def summary_text(metrics: dict[str, Any], out_dir: Path) -> str:
    """The one-screen summary printed after a job."""
    ev = metrics.get("eval", {})
    rule = "" if metrics["rule"] == "q_learning" else f" {metrics['rule']}"  # the default
    lines = [
        f"dist_classicrl: {metrics['algorithm']}{rule} / {metrics['runtime']} / {metrics['env']}"
        f"  [{metrics['status']}]",
    ]
    if metrics["steps"] == 0 and metrics["status"] == "completed":
        table = metrics["init_q_table"]
        lines.append(f"  table          {table} (steps=0: evaluated, not trained)")
    else:
        lines += [
            f"  steps          {metrics['steps']:,} over {metrics['num_envs']} envs"
            f"{' x ' + str(metrics['workers']) + ' workers' if metrics['workers'] > 1 else ''}, "
            f"{metrics['episodes']:,} episodes, seed {metrics['seed']}",
            f"  speed          {_rate(metrics['steps_per_s'])} steps/s"
            f"{' over ' + str(metrics['workers']) + ' workers' if metrics['workers'] > 1 else ''} "
            f"(train {metrics['train_time_s']:.2f} s; JIT {metrics['compile_time_s']:.2f} s "
            f"and eval {metrics['eval_time_s']:.2f} s excluded)",
        ]
    if "replay" in metrics:
        r = metrics["replay"]
        lines.append(
            f"  replay         {r['updates']:,} replayed updates (capacity {r['capacity']:,}, "
            f"batch {r['batch_size']}, {r['updates_per_step']:g} per env step)"
            f"{'; batch loop instead of the fused kernel' if 'fused_off_reason' in metrics else ''}"
        )
    if "win_rate" in ev:
        lines.append(
            f"  greedy policy  win {ev['win_rate']:.2%}  draw {ev['draw_rate']:.2%}  "
            f"loss {ev['loss_rate']:.2%}  (exact, vs random opponent)"
        )
    if "vs_perfect_loss_rate" in ev:
        lines.append(
            f"  greedy policy  win {ev['vs_perfect_win_rate']:.2%}  "
            f"draw {ev['vs_perfect_draw_rate']:.2%}  loss {ev['vs_perfect_loss_rate']:.2%}  "
            "(exact, vs perfect player)"
        )
    if "optimality_gap" in ev:
        lines.append(
            f"  greedy policy  optimality gap {max(ev['optimality_gap'], 0.0):.2%} "
            f"(value {ev['policy_value']:.4f} vs optimum {ev['optimal_value']:.4f}, "
            "value iteration)"
        )
    if "terminated_rate" in ev:
        lines.append(
            f"  terminated     {ev['terminated_rate']:.0%} of {int(ev['episodes']):,} sampled "
            "greedy episodes ended before the time limit"
        )
    lines.append(f"  mean return    {ev.get('mean_return', float('nan')):.4f} (greedy)")
    lines.append(f"  outputs        {out_dir}")
    return "\n".join(lines)
