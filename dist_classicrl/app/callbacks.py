"""Hydra callbacks registered in ``conf/config.yaml``."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from dist_classicrl.app.sweep import write_report


class SweepSummary(Callback):
    """After a multirun, write the sweep's summary tables and plots (see `app.sweep`) and
    print a short table of its configurations."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        report = write_report(Path(config.hydra.sweep.dir))
        if report.jobs:
            print(report.terminal())


class ReleaseJob(Callback):
    """After each job of a multirun, free what the job leaves behind, so that a sweep of
    many jobs in one process (Hydra's basic launcher) keeps its memory flat.

    - Hydra's launcher keeps every job's `JobReturn` until the sweep ends, with deep copies
      of the job's config and of Hydra's (about 150 KiB a job). Nothing reads them after
      the job (the sweeper reads the return value, the summary the job's files): dropped.
    - A job's garbage is mostly reference cycles (closed matplotlib figures, OmegaConf
      nodes that point to their parents), which only a full collection frees; CPython
      runs one every few jobs, and meanwhile the heap grows by several jobs' worth and is
      not all given back. Collected after every job instead.

    A full collection walks every object (about 170 ms once Numba and matplotlib are
    loaded): after the first job, what is alive is frozen (`gc.freeze`), and the next
    collections walk only what later jobs make (about 15 ms). Frozen objects are never
    collected: the first job's configs, still referenced then, stay (once, not per job).
    """

    def __init__(self) -> None:
        self._frozen = False

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:  # one job: the process ends with it
            return
        job_return.cfg = None
        job_return.hydra_cfg = None
        gc.collect()
        if not self._frozen:
            gc.freeze()
            self._frozen = True
