"""The Hydra app: ``python -m dist_classicrl.run [overrides]`` (``-m`` for a sweep).

Bad input is reported by `preflight` in one line with exit code 2 before Hydra starts;
each job then runs `app.job.run_job` and writes its files into Hydra's output directory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dist_classicrl.app.job import run_job, summary_text
from dist_classicrl.app.preflight import preflight
from dist_classicrl.errors import ConfigError


@hydra.main(version_base="1.3", config_path="pkg://dist_classicrl.conf", config_name="config")
def hydra_app(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    metrics = run_job(cfg, out_dir, dict(hydra_cfg.runtime.choices))
    if metrics["status"] == "other-rank":
        return 0.0
    print(summary_text(metrics, out_dir), flush=True)
    if metrics["status"] == "interrupted":
        raise KeyboardInterrupt  # results are saved; stop the sweep as well
    return metrics["steps_per_s"]


def _mpi_rank() -> int:
    """This process's rank when started by mpiexec or srun (0 otherwise)."""
    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def _quiet_rank_overrides() -> list[str]:
    """Ranks other than 0 run the same job but write nothing where the user looks: their
    Hydra directory is a temporary one, without logs or a config copy."""
    if _mpi_rank() == 0:
        return []
    scratch = tempfile.mkdtemp(prefix="dcrl_rank_")
    atexit.register(shutil.rmtree, scratch, True)
    return [
        f"hydra.run.dir={scratch}",
        "hydra.output_subdir=null",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
    ]


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the runtime then stops and the job saves its files


def main() -> None:
    try:
        preflight(sys.argv[1:])
    except ConfigError as exc:
        print(f"dist_classicrl: error: {exc}", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    sys.argv += _quiet_rank_overrides()
    try:
        hydra_app()
    except KeyboardInterrupt:
        print(
            "dist_classicrl: interrupted; the job's partial results are saved "
            "(status: interrupted)",
            file=sys.stderr,
        )
        sys.exit(130)


if __name__ == "__main__":
    main()
