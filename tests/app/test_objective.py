"""Sweepers optimise learning: a job returns its objective (by default the env's learning
metric), oriented for the sweeper; Optuna's best trial is the job with the lowest gap;
failed trials are failed, not crashes; bad objectives and ranges are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from dist_classicrl.app.objective import objective_of, sweeper_direction, value_for_sweeper
from dist_classicrl.app.preflight import preflight
from dist_classicrl.errors import ConfigError
from tests.app.test_cli import run_cli


@pytest.mark.parametrize(
    ("evaluation", "name"),
    [
        ({"optimality_gap": 0.1, "mean_return": 7.0}, "eval.optimality_gap"),
        ({"loss_rate": 0.02, "win_rate": 0.9, "mean_return": 0.88}, "eval.loss_rate"),
        ({"mean_return": 195.0, "terminated_rate": 0.1}, "eval.mean_return"),
    ],
)
def test_the_default_objective_is_the_envs_learning_metric(evaluation, name):
    metrics = {"env": "x", "steps_per_s": 1e6, "eval": evaluation}
    objective = objective_of(metrics, None)
    assert objective["name"] == name
    assert objective["value"] == evaluation[name.removeprefix("eval.")]


def test_the_value_is_oriented_for_the_sweeper():
    gap = {"name": "eval.optimality_gap", "value": 0.25, "direction": "minimize"}
    ret = {"name": "eval.mean_return", "value": 8.0, "direction": "maximize"}
    assert value_for_sweeper(gap, "minimize") == 0.25
    assert value_for_sweeper(gap, "maximize") == -0.25
    assert value_for_sweeper(ret, "minimize") == -8.0
    assert value_for_sweeper(ret, "maximize") == 8.0
    assert value_for_sweeper(ret, None) == 8.0  # the basic sweeper only runs the jobs


def test_the_sweepers_direction_is_read_from_its_config():
    assert sweeper_direction(OmegaConf.create({"direction": "maximize"})) == "maximize"
    assert sweeper_direction(OmegaConf.create({"direction": "minimize"})) == "minimize"
    assert sweeper_direction(OmegaConf.create({"optim": {"maximize": True}})) == "maximize"
    assert sweeper_direction(OmegaConf.create({"max_batch_size": None})) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["objective=reward"], "objective='reward' is unknown: allowed are eval.optimality_gap"),
        (
            ["env=taxi", "objective=eval.win_rate"],
            "objective=eval.win_rate: this env's evaluation does not report it; it reports "
            "eval.optimality_gap, eval.mean_return",
        ),
        (
            ["-m", "env=taxi", "schedule.learning_rate.start=interval(0.5,2.0)"],
            "schedule.learning_rate.start=interval(0.5,2.0) may sample a bad value: "
            "schedule.learning_rate.start=1.25 is out of range",
        ),
        (
            ["-m", "hydra.sweeper.params.seed=choice(1,2)"],
            "Hydra's own keys take one value",
        ),
        (
            # the experiment's own search space (epsilon.end from 0.0) is checked too
            ["-m", "experiment=tune_taxi", "schedule.epsilon.kind=exponential"],
            "kind=exponential needs start and end > 0",
        ),
    ],
)
def test_bad_objectives_and_ranges_are_refused_in_one_line(argv, message, tmp_path):
    with pytest.raises(ConfigError) as info:
        preflight([*argv, f"hydra.sweep.dir={tmp_path / 's'}", f"hydra.run.dir={tmp_path / 'r'}"])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def _trials(sweep: Path) -> list[dict]:
    """Each job's metrics, with its directory's name as ``job``."""
    return [
        {**json.loads(p.read_text()), "job": p.parent.name}
        for p in sorted(sweep.glob("*/metrics.json"))
    ]


def _override(job_dir: Path, key: str) -> float:
    """The value Optuna gave `key` in a trial (Hydra's record of the job's overrides)."""
    for line in yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()):
        name, _, value = line.partition("=")
        if name == key:
            return float(value)
    raise KeyError(key)


def test_optuna_picks_the_trial_with_the_lowest_optimality_gap(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["-m", "experiment=tune_taxi", "hydra.sweeper.n_trials=6", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    trials = _trials(sweep)
    assert len(trials) == 6
    gaps = [t["eval"]["optimality_gap"] for t in trials]
    assert len(set(gaps)) > 1  # the learning rate matters at this budget: a real choice
    for t in trials:
        assert t["objective"] == {
            "name": "eval.optimality_gap",
            "value": t["eval"]["optimality_gap"],
            "direction": "minimize",
        }
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == min(gaps)
    chosen = [t["job"] for t in trials if t["eval"]["optimality_gap"] == min(gaps)]
    starts = {_override(sweep / job, "schedule.learning_rate.start") for job in chosen}
    assert best["best_params"]["schedule.learning_rate.start"] in starts


def test_a_failed_trial_is_a_failed_trial_and_the_study_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        [
            "-m",
            "hydra/sweeper=optuna",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.sampler.seed=0",
            "hydra.sweeper.max_failure_rate=1.0",
            "env=gym",
            "env.id=choice(tests.app.failing_env:Failing-v0,Taxi-v4)",
            "steps=20000",
            "objective=eval.mean_return",
            f"hydra.sweep.dir={sweep}",
        ],
        Path(__file__).resolve().parents[2],  # where `tests` imports from
    )
    trials = _trials(sweep)
    failed = [t for t in trials if t["status"] == "failed"]
    completed = [t for t in trials if t["status"] == "completed"]
    assert failed and completed, proc.stderr  # seed 0 draws both
    assert proc.returncode == 1  # a job failed: the command says so at the end
    assert "Traceback" not in proc.stderr.split("sweep summary")[0].split("Failed experiment")[0]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    # Optuna minimises by default: the mean return comes back negated, the best is Taxi's
    assert best["best_params"]["env.id"] == "Taxi-v4"
    assert best["best_value"] == -max(t["eval"]["mean_return"] for t in completed)
