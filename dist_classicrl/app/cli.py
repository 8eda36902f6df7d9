"""The Hydra app behind ``python -m dist_classicrl.run [overrides]`` (``-m`` for a sweep).

Bad input is reported by `preflight` in one line with exit code 2 before Hydra starts;
each job then runs `app.job.run_job` and writes its files into Hydra's output directory.

Exit codes: 0 completed, 1 a job failed, 2 bad input, 130 after SIGINT, 143 after
SIGTERM. During training the runtime's driver handles the signals (the job stops and
saves); before and after it, a signal ends the command at once.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from dist_classicrl.app.compose_once import composed_once
from dist_classicrl.app.figures import FigureDrawer
from dist_classicrl.app.job import JobFilesError, run_job, summary_text
from dist_classicrl.app.objective import objective_of, sweeper_direction, value_for_sweeper
from dist_classicrl.app.preflight import preflight, runs_one_job
from dist_classicrl.app.sweep import summarize
from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes.driver import note_early_signal, pending_early_signal


@hydra.main(version_base="1.3", config_path="pkg://dist_classicrl.conf", config_name="config")
def hydra_app(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    try:
        # a one-job command's figures are drawn by the helper `main` started; a sweep's
        # jobs draw theirs in this process, which imports matplotlib once
        drawer = _drawer[0] if _drawer and hydra_cfg.mode != RunMode.MULTIRUN else None
        metrics = run_job(cfg, out_dir, dict(hydra_cfg.runtime.choices), overrides, drawer)
    except JobFilesError as exc:
        raise JobEnded(1, str(exc)) from None
    except Exception as exc:
        signum = pending_early_signal()
        if signum is not None:  # the interrupt landed in a library (Numba compiling)
            message = "interrupted before training; nothing saved"
            raise JobEnded(128 + signum, message, together=False) from None
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise
        _sweep_job_failed(out_dir, f"{type(exc).__name__}: {exc}")
        return None
    if metrics["status"] == "other-rank":
        return 0.0
    if metrics.get("skipped"):
        print(f"dist_classicrl: job {out_dir.name} completed earlier: kept, not rerun")
        return _for_sweeper(metrics, cfg, hydra_cfg)
    print(summary_text(metrics, out_dir), flush=True)
    if metrics["status"] == "interrupted":  # stop the sweep as well
        saved = "partial results are saved" if metrics["q_table_saved"] else "no table saved"
        signum = signal.SIGTERM if metrics.get("stop_signal") == "SIGTERM" else signal.SIGINT
        message = f"interrupted; {saved} in {out_dir} (status: interrupted)"
        if hydra_cfg.mode == RunMode.MULTIRUN:
            _stopped_sweep.append(Path(hydra_cfg.sweep.dir))
            message += f"; resume the sweep with: {sweep_resume_command(hydra_cfg.sweep.dir)}"
        raise JobEnded(128 + signum, message)
    if metrics["status"] == "failed":
        error = metrics["error"].splitlines()[0]
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise JobEnded(1, f"job failed: {error}")
        _sweep_job_failed(out_dir, error)
        return None
    if "late_signal" in metrics:  # it came while the files were written: they are complete
        signum = metrics["late_signal"]
        raise JobEnded(128 + signum, f"interrupted after the job ended; its files are in {out_dir}")
    return _for_sweeper(metrics, cfg, hydra_cfg)


def _for_sweeper(metrics: dict, cfg: DictConfig, hydra_cfg: Any) -> float:
    """The job's objective (`app.objective`; metrics.json has it), oriented for the
    running sweeper."""
    objective = metrics.get("objective") or objective_of(metrics, cfg.objective)
    return value_for_sweeper(objective, sweeper_direction(hydra_cfg.get("sweeper")))


#: The figures' helper of a one-job command (`main` starts it first thing).
_drawer: list[FigureDrawer] = []
#: Sweep jobs that failed in this process (the basic launcher runs them here).
_failed_jobs: list[str] = []
#: The sweep directory of a sweep stopped by a signal (its summary is still written).
_stopped_sweep: list[Path] = []


def sweep_resume_command(sweep_dir: str) -> str:
    """The command line of this sweep, into its own directory, resuming it."""
    kept = [a for a in sys.argv[1:] if a.split("=", 1)[0] not in ("hydra.sweep.dir", "resume")]
    kept = [a for a in kept if not a.startswith("hydra.run.dir=")]
    words = ["python", "-m", "dist_classicrl.run", *kept]
    words += [f"hydra.sweep.dir={sweep_dir}", f"resume={sweep_dir}"]
    return " ".join(shlex.quote(w) for w in words)


def _sweep_job_failed(out_dir: Path, error: str) -> None:
    """A sweep goes on past a failed job: its metrics.json says failed (with the
    traceback), the summary lists it, and the command exits 1 at the end. It returns no
    value (None), which sweepers record as a failed trial (Optuna's FAIL state)."""
    print(f"dist_classicrl: job {out_dir.name} failed: {error}", file=sys.stderr)
    _failed_jobs.append(str(out_dir))


class JobEnded(BaseException):
    """Ends the command with `code` after a job stopped or failed (not an `Exception`:
    Hydra would print a traceback for one). `together`: every MPI rank ends here too
    (the ranks agreed on the stop), so MPI can be finalized rather than aborted."""

    def __init__(self, code: int, message: str, together: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.together = together


def _stop_now(signum: int, frame: object) -> None:
    """Outside training (start-up, Hydra, writing files), a signal ends the command (and
    is noted, in case a library swallows the exception)."""
    note_early_signal(signum)
    raise JobEnded(128 + signum, "interrupted before training; nothing saved", together=False)


def _mpi_rank() -> int:
    """This process's rank when started by mpiexec or srun (0 otherwise)."""
    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def _quiet_rank_overrides() -> list[str]:
    """Ranks other than 0 run the same job but write nothing: their Hydra directory is
    the working directory (it exists; nothing is created in it), without logs or a config
    copy, so a killed rank leaves no directory behind."""
    if _mpi_rank() == 0:
        return []
    return [
        f"hydra.run.dir={os.getcwd()}",
        "hydra.output_subdir=null",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
    ]


def main() -> None:
    """Check the command line, then run Hydra (`dist_classicrl.run.main` calls this)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_now)
    one_job = runs_one_job(sys.argv[1:])
    if one_job and _mpi_rank() == 0:
        # the helper imports matplotlib while the config is composed and the job trains
        _drawer.append(FigureDrawer())
    try:
        with composed_once() if one_job else contextlib.nullcontext():
            _checked_and_run()
    finally:
        _ignore_signals()  # the command is ending: a Ctrl+C now must not interrupt this
        while _drawer:
            _drawer.pop().close()


def _checked_and_run() -> None:
    try:
        preflight(sys.argv[1:])
    except ConfigError as exc:
        print(f"dist_classicrl: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except JobEnded as ended:
        print(f"dist_classicrl: {ended}", file=sys.stderr)
        sys.exit(ended.code)
    sys.argv += _quiet_rank_overrides()
    try:
        hydra_app()
        if _failed_jobs:
            raise JobEnded(1, f"{len(_failed_jobs)} job(s) of the sweep failed: {_failed_jobs}")
    except JobEnded as ended:
        _ignore_signals()  # the command is ending: one more Ctrl+C must not kill it halfway
        for sweep_dir in _stopped_sweep:  # Hydra skips its end-of-sweep callback
            summarize(sweep_dir)
        if _mpi_rank() == 0:
            print(f"dist_classicrl: {ended}", file=sys.stderr)
        if ended.together and ended.code != 1:
            _finalize_mpi()  # else mpi4py's runner aborts every rank: none is left waiting
        sys.exit(ended.code)
    _ignore_signals()


def _finalize_mpi() -> None:
    """Under ranks you started, a stopped job ends every rank normally: finalize here, or
    mpi4py's runner turns a non-zero exit into MPI_Abort (and mpiexec prints an abort)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        mpi.Finalize()


def _ignore_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
