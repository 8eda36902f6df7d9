"""One training job: build the objects from the config, train, write the job's files.

Files (the contract in DESIGN.md): ``metrics.json``, ``q_table.npy`` (float32
``[n_states, n_actions]``), ``learning_curve.csv``, ``learning_curve.png``, ``policy.png``
(the greedy policy drawn on the env: `app.policy_plot`) and ``checkpoint.npz``.

The files always tell the truth. ``metrics.json`` is written first as ``failed`` with an
error saying the job has not reported (what stays if the process is killed), and
replaced at the end. ``q_table.npy`` is written only when a table holds exactly the
learning counted in ``steps`` (``q_table_saved``); every file goes to a temporary name
and is renamed, so none is left truncated.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import signal
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from dist_classicrl.agent import QLearning
from dist_classicrl.app.figures import Figure, FigureDrawer, FigureError
from dist_classicrl.app.objective import objective_of
from dist_classicrl.app.report import write_csv
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.errors import ConfigError, config_key
from dist_classicrl.q_table_file import load_q_table
from dist_classicrl.runtimes import TrainResult, WorkerError, checkpoint
from dist_classicrl.runtimes.driver import evaluate_table
from dist_classicrl.schedules import ScheduleSpec, check_learning_rate_schedule

#: What ``metrics.json`` says until the job reports: true if it never does.
NOT_REPORTED = (
    "the job has not reported a result: it is still running, or its process was killed "
    "(SIGKILL, the OOM killer, or an MPI rank's death under mpiexec) before it could"
)


class JobFilesError(Exception):
    """The job ran but its files could not be written (one line for the user)."""


def build_wrapper(cfg: DictConfig) -> Callable[[Any], Any] | None:
    """The ``wrapper`` node as a callable that wraps one Gymnasium env, or None."""
    if cfg.wrapper._target_ is None:
        return None
    return instantiate(cfg.wrapper, _partial_=True, _convert_="all")


def build_env(cfg: DictConfig) -> DistClassicRLEnv:
    """The env of the job; the wrapper wraps each Gymnasium env copy inside it."""
    return instantiate(cfg.env, seed=cfg.seed, wrapper=build_wrapper(cfg), _convert_="all")


def build_schedules(cfg: DictConfig) -> tuple[ScheduleSpec, ScheduleSpec]:
    """(epsilon, learning rate) schedules relative to the job's budget; their rules are
    `ScheduleSpec`'s and `check_learning_rate_schedule` (`ConfigError`), named here by
    where the values sit in the config."""
    with config_key("schedule.epsilon"):
        epsilon = ScheduleSpec(**cfg.schedule.epsilon)
    with config_key("schedule.learning_rate"):
        learning_rate = ScheduleSpec(**cfg.schedule.learning_rate)
        check_learning_rate_schedule(learning_rate)
    return epsilon, learning_rate


def _as_dict(node: DictConfig) -> dict[str, Any]:
    """A config node as plain Python, interpolations resolved."""
    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))


def build(cfg: DictConfig) -> QLearning:
    """The job's agent: the library's `QLearning` over the config's env, runtime, variant
    and schedules (the job trains it with ``agent.learn(cfg.steps, ...)``)."""
    epsilon, learning_rate = build_schedules(cfg)
    options = _as_dict(cfg.algorithm)
    target = options.pop("_target_")
    try:
        variant = get_class(target)
    except Exception as exc:  # ImportError, ValueError: one line, as for any bad value
        raise ConfigError(f"algorithm._target_={target}: {str(exc).splitlines()[0]}") from None
    agent = QLearning(
        build_env(cfg),
        variant,
        instantiate(cfg.runtime),
        learning_rate=learning_rate,
        epsilon=epsilon,
        seed=cfg.seed,
        **options,
    )
    algorithm, env = agent.algorithm, agent.env
    if cfg.get("init_q_table"):  # warm start, checked before any work
        algorithm.load_q_values(load_q_table(cfg.init_q_table, env.n_states, env.n_actions))
    if cfg.resume and not is_sweep_dir(cfg.resume):  # checked before any work; a sweep's
        load_resume(cfg, algorithm, env)  # jobs check their own checkpoints as they start
    return agent


#: Keys that do not change what a job learns: a resumed job may differ in them.
_NOT_LEARNING = ("resume", "checkpoint")


def job_identity(cfg: DictConfig, algorithm: Any, env: DistClassicRLEnv) -> dict[str, Any]:
    """What a checkpoint must share with the job that resumes from it."""
    config = _as_dict(cfg)
    for key in _NOT_LEARNING:
        config.pop(key, None)
    config.get("runtime", {}).pop("progress", None)
    return {
        "env": env.name,
        "n_states": env.n_states,
        "n_actions": env.n_actions,
        "algorithm": algorithm.name,
        "rule": algorithm.rule,
        "config_hash": checkpoint.config_hash(config),
    }


def is_sweep_dir(path: str | Path) -> bool:
    """A multirun's directory (Hydra writes ``multirun.yaml`` into it)."""
    return (Path(path) / "multirun.yaml").is_file()


def _earlier_run(cfg: DictConfig, out_dir: Path) -> tuple[dict | None, Path | None]:
    """``resume=SWEEP_DIR`` rerunning a sweep: this job's completed metrics (to skip it),
    or its checkpoint (to continue it), or neither (to run it)."""
    if not (cfg.resume and is_sweep_dir(cfg.resume)):
        return None, None
    if Path(cfg.resume).resolve() != out_dir.parent.resolve():
        raise ConfigError(
            f"resume={cfg.resume} is a sweep directory: rerun the sweep into it "
            f"(hydra.sweep.dir={cfg.resume}) to resume its jobs"
        )
    try:
        previous = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        previous = None
    if previous is not None and previous.get("status") == "completed":
        return previous, None
    saved = out_dir / checkpoint.FILE_NAME
    return None, saved if saved.is_file() else None


def load_resume(cfg: DictConfig, algorithm: Any, env: DistClassicRLEnv) -> checkpoint.Checkpoint:
    """The checkpoint ``resume=PATH`` names, checked against this job (`ConfigError`)."""
    return checkpoint.load(cfg.resume, job_identity(cfg, algorithm, env))


def resume_command(overrides: list[str], out_dir: Path) -> str:
    """The command that continues a stopped job in its own directory."""
    kept = [
        o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in ("resume", "hydra.run.dir")
    ]
    words = [
        "python",
        "-m",
        "dist_classicrl.run",
        *kept,
        f"hydra.run.dir={out_dir}",
        f"resume={out_dir}",
    ]
    return " ".join(shlex.quote(w) for w in words)


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def run_job(
    cfg: DictConfig,
    out_dir: Path,
    choices: dict[str, str],
    overrides: list[str] | None = None,
    drawer: FigureDrawer | None = None,
) -> dict[str, Any]:
    """Train as `cfg` says and write the job's files into `out_dir`; returns the metrics
    (``status`` ``other-rank`` in an MPI rank that does not write). `drawer`: the helper
    process that draws the figures, started by the caller (`app.figures`); without one,
    they are drawn in this process."""
    completed, saved = _earlier_run(cfg, out_dir)
    if completed is not None:  # resuming a sweep: this job finished before; keep its files
        return {**completed, "skipped": True}
    agent = build(cfg)
    algorithm, env, runtime = agent.algorithm, agent.env, agent.runtime
    if cfg.steps == 0 and runtime.is_secondary_rank():
        env.close()  # evaluation only, under ranks you started: rank 0 writes the job
        return {"status": "other-rank"}
    writes = not runtime.is_secondary_rank()
    metrics: dict[str, Any] = {
        "algorithm": algorithm.name,
        "rule": algorithm.rule,
        "runtime": runtime.name,
        "env": env.name,
        "env_config": choices.get("env", env.name),
        "workers": runtime.learners,
        "num_envs": env.num_envs,
        "steps": 0,
        "seed": cfg.seed,
        "n_states": env.n_states,
        "n_actions": env.n_actions,
        "status": "failed",
        "q_table_saved": False,
        "error": NOT_REPORTED,
    }
    if cfg.get("init_q_table"):
        metrics["init_q_table"] = str(cfg.init_q_table)  # the table the job started from
    if writes:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "q_table.npy").unlink(missing_ok=True)  # a rerun into the same dir
        _write_json(out_dir / "metrics.json", metrics)
    identity = job_identity(cfg, algorithm, env)
    plan = None
    if writes and cfg.checkpoint.every is not None and cfg.steps > 0:
        manifest = {**identity, "seed": cfg.seed, "steps": cfg.steps}
        plan = checkpoint.CheckpointPlan(
            out_dir / checkpoint.FILE_NAME, cfg.checkpoint.every, manifest
        )
    resume = None
    if saved is not None:  # resuming a sweep: continue this job from its own checkpoint
        resume = checkpoint.load(saved, identity)
    elif cfg.resume and not is_sweep_dir(cfg.resume):
        resume = load_resume(cfg, algorithm, env)
    if drawer is None:
        drawer = FigureDrawer(apart=False)
    if writes:  # the helper takes a copy of the env now, while the job trains
        drawer.use_env(env)
    result: TrainResult | None
    try:
        if cfg.steps == 0:  # evaluate init_q_table's table in this process, no training
            result = evaluate_table(runtime, agent.training_job(0))
        else:  # None: an MPI rank other than 0
            result = agent.learn(cfg.steps, checkpoint=plan, resume=resume).result
    except WorkerError as exc:
        result = exc.result
        if result is None:
            raise
    except checkpoint.WriteError as exc:  # the disk is full: no result can be saved either
        env.close()
        raise JobFilesError(f"{exc.strerror}; metrics.json says the job did not report") from None
    except Exception:
        if writes:
            metrics["error"] = traceback.format_exc(limit=-3)
            _write_json(out_dir / "metrics.json", metrics)
        raise
    finally:
        env.close()
    if result is None:  # an MPI rank other than 0: rank 0 writes the job's files
        return {**metrics, "status": "other-rank"}
    if plan is not None and plan.path.exists():
        metrics["checkpoint"] = str(plan.path)
        if result.status != "completed":  # stopped, or failed: continue from the checkpoint
            metrics["resume_command"] = resume_command(overrides or [], out_dir)
    if resume is not None:
        metrics["resumed_from"] = str(cfg.resume)
        metrics["resumed_at_step"] = int(resume.manifest["steps_done"])
    with _signals_deferred() as late:
        try:
            _write_results(cfg, out_dir, metrics, result, algorithm, runtime, env, drawer)
        except (OSError, FigureError) as exc:  # a full disk: nothing half-written is left
            reason = (exc.strerror if isinstance(exc, OSError) else None) or exc
            raise JobFilesError(
                f"cannot write the job's files in {out_dir}: {reason}; "
                "metrics.json still says the job did not report"
            ) from None
    if late and result.status != "interrupted":  # the files are complete; stop the sweep
        metrics["late_signal"] = late[0]
    return metrics


def _write_results(cfg, out_dir, metrics, result, algorithm, runtime, env, drawer) -> None:
    """Fill `metrics` from `result` and write every file of the job, metrics.json last."""
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
            "q_table_saved": result.q_table is not None,
            "error": result.error,
            "stop_signal": result.stop_signal,
            **result.details,
        }
    )
    if result.status == "completed" and result.eval:  # what a sweeper optimises
        metrics["objective"] = objective_of(metrics, cfg.get("objective"))
    figures: list[Figure] = []
    if result.curve:
        title = f"{algorithm.name} {algorithm.rule} / {runtime.name} / {env.name}"
        label = getattr(env, "training_return_label", "training (epsilon-greedy)")
        kwargs = {"curve": result.curve, "title": title, "train_label": label}
        figures.append(("learning_curve", out_dir / "learning_curve.png", kwargs))
    if result.q_table is not None:
        title = (
            f"{metrics['algorithm']} {metrics['rule']} / {metrics['runtime']} / "
            f"{metrics['env']}: greedy policy after {metrics['steps']:,} steps"
        )
        kwargs = {"q_table": result.q_table, "title": title}
        figures.append(("policy", out_dir / "policy.png", kwargs))
    # (temporary, final), renamed in this order; the figures' are drawn meanwhile
    staged = [(_temporary(path), path) for _, path, _ in figures]
    figures_drawn: Callable[[], None] | None = None
    try:
        to_draw = [(n, tmp, kw) for (n, _, kw), (tmp, _) in zip(figures, staged, strict=True)]
        figures_drawn = drawer.draw(to_draw)
        if result.curve:
            staged.insert(
                0, _stage(out_dir / "learning_curve.csv", lambda f: write_csv(f, result.curve))
            )
        staged.append(
            _stage(out_dir / "config.yaml", lambda f: f.write_text(OmegaConf.to_yaml(cfg)))
        )
        if result.q_table is not None:
            staged.append(_stage(out_dir / "q_table.npy", lambda f: np.save(f, result.q_table)))
        figures_drawn()
        staged.append(_stage(out_dir / "metrics.json", lambda f: _dump_json(f, metrics)))
        # Everything is on disk: the renames are back to back, the table just before the
        # metrics that describe it, so even a SIGKILL leaves them agreeing but for an instant.
        for temporary, final in staged:
            os.replace(temporary, final)
    finally:
        if figures_drawn is not None:  # the helper may still be drawing: let it finish
            with contextlib.suppress(Exception):
                figures_drawn()
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)


@contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """While the job's files are written (well under a second), SIGINT and SIGTERM are
    recorded instead of acted on: stopping halfway would leave files that disagree."""
    received: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in sigs}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stage(path: Path, write: Callable[[Path], Any]) -> tuple[Path, Path]:
    """`write` into a temporary name beside `path` and flush it to disk; returns
    ``(temporary, path)`` for the caller to rename. A full disk or a kill leaves the old
    file or none, never a truncated one."""
    temporary = _temporary(path)
    try:
        write(temporary)
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, path


def _temporary(path: Path) -> Path:
    """The name a file of the job is written under before it is renamed to `path`."""
    return path.with_name(f".{path.stem}.part{path.suffix}")


def _dump_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_clean(data), indent=2) + "\n")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary, final = _stage(path, lambda f: _dump_json(f, data))
    os.replace(temporary, final)


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
    if ev.get("improper"):
        lines.append(
            "  greedy policy  does not reach a terminal state: its undiscounted value is "
            f"{ev['policy_value']} (optimum {ev['optimal_value']:.4f}, value iteration)"
        )
    elif "optimality_gap" in ev:
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
    if ev:
        lines.append(f"  mean return    {ev.get('mean_return', float('nan')):.4f} (greedy)")
    if metrics.get("error"):
        lines.append(f"  error          {metrics['error'].splitlines()[0]}")
    if metrics.get("resume_command"):
        lines.append(f"  resume with    {metrics['resume_command']}")
    if not metrics["q_table_saved"]:
        lines.append("  q_table.npy    not saved: no table holds exactly the learning counted")
    lines.append(f"  outputs        {out_dir}")
    return "\n".join(lines)
