"""What a job returns to Hydra: the value a sweeper (Optuna, Nevergrad, ...) optimises.

``objective=<metric>`` names one figure of the job's ``metrics.json``; left null, it is the
env's learning metric, the first of `LEARNING_METRICS` the env's evaluation reports (the
optimality gap of a compiled env, the exact loss rate of TicTacToe, the greedy mean
return otherwise). Each metric has a direction (`OBJECTIVES`). A sweeper that minimises
(Optuna's default) gets the value of a ``minimize`` metric as it is and the negated value
of a ``maximize`` one, and the other way round for a maximising sweeper, so the best trial
is always the best job; ``metrics.json`` records the metric, its value and its direction.
A failed job returns NaN, which sweepers record as a failed trial.
"""

from __future__ import annotations

from typing import Any

from dist_classicrl.errors import ConfigError

#: The metrics a sweep may optimise, and which way is better.
OBJECTIVES: dict[str, str] = {
    "eval.optimality_gap": "minimize",
    "eval.loss_rate": "minimize",
    "eval.vs_perfect_loss_rate": "minimize",
    "eval.win_rate": "maximize",
    "eval.mean_return": "maximize",
    "eval.terminated_rate": "maximize",
    "train_mean_return": "maximize",
    "steps_per_s": "maximize",
}
#: ``objective=null``: the first of these the job's evaluation reports.
LEARNING_METRICS = ("eval.optimality_gap", "eval.loss_rate", "eval.mean_return")


def check_objective(objective: str | None) -> None:
    """Raise `ConfigError` unless `objective` is null or one of `OBJECTIVES`."""
    if objective is not None and objective not in OBJECTIVES:
        raise ConfigError(
            f"objective={objective!r} is unknown: allowed are {', '.join(OBJECTIVES)} "
            "(null: the env's learning metric)"
        )


def check_reported(objective: str | None, evaluation_keys: tuple[str, ...]) -> None:
    """Raise `ConfigError` when `objective` is an ``eval.*`` figure that an env whose
    evaluation reports `evaluation_keys` (`DistClassicRLEnv.evaluation_keys`) lacks."""
    if objective is None or not objective.startswith("eval."):
        return
    if objective.removeprefix("eval.") not in evaluation_keys:
        reported = [f"eval.{k}" for k in evaluation_keys if f"eval.{k}" in OBJECTIVES]
        raise ConfigError(
            f"objective={objective}: this env's evaluation does not report it; it reports "
            f"{', '.join(reported)} (and steps_per_s, train_mean_return)"
        )


def _lookup(metrics: dict[str, Any], name: str) -> Any:
    node: Any = metrics
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def objective_of(metrics: dict[str, Any], objective: str | None) -> dict[str, Any]:
    """``{"name", "value", "direction"}`` of a completed job's `metrics`; raises
    `ConfigError` when the env does not report the metric asked for."""
    name = objective
    if name is None:
        name = next((m for m in LEARNING_METRICS if _lookup(metrics, m) is not None), None)
        if name is None:  # every evaluation reports mean_return; a safety net only
            name = "steps_per_s"
    value = _lookup(metrics, name)
    if not isinstance(value, int | float):
        reported = [m for m in OBJECTIVES if isinstance(_lookup(metrics, m), int | float)]
        raise ConfigError(
            f"objective={name}: env {metrics.get('env')} does not report it; it reports "
            f"{', '.join(reported)}"
        )
    return {"name": name, "value": float(value), "direction": OBJECTIVES[name]}


def sweeper_direction(sweeper: Any) -> str | None:
    """Which way the running sweeper optimises: ``minimize``, ``maximize`` or None (the
    basic sweeper, which only runs the jobs). Optuna says ``direction``, Nevergrad
    ``optim.maximize``."""
    direction = getattr(sweeper, "direction", None) if sweeper is not None else None
    if direction is not None:
        text = str(direction).lower()  # a string, or optuna's StudyDirection
        return "maximize" if "maximize" in text else "minimize"
    optim = getattr(sweeper, "optim", None) if sweeper is not None else None
    if optim is not None and getattr(optim, "maximize", None) is not None:
        return "maximize" if optim.maximize else "minimize"
    return None


def value_for_sweeper(objective: dict[str, Any], direction: str | None) -> float:
    """The objective's value, negated when the sweeper optimises the other way."""
    value = float(objective["value"])
    return -value if direction is not None and direction != objective["direction"] else value
