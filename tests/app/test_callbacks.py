"""The Hydra callbacks: a sweep's finished job leaves nothing behind in the process."""

from __future__ import annotations

import gc

from hydra import compose, initialize_config_module
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from dist_classicrl.app.callbacks import ReleaseJob


def test_a_sweep_job_s_return_keeps_only_its_value_and_a_single_run_s_is_untouched():
    for mode, kept in ((RunMode.RUN, True), (RunMode.MULTIRUN, False)):
        config = OmegaConf.create({"seed": 0, "hydra": {"mode": mode}})
        job = JobReturn(cfg=config, hydra_cfg=config, status=JobStatus.COMPLETED)
        job.return_value = 1.5
        try:
            ReleaseJob().on_job_end(config=config, job_return=job)
        finally:
            gc.unfreeze()  # the callback freezes what is alive: not this test process's
        assert (job.cfg is not None, job.hydra_cfg is not None) == (kept, kept)
        assert job.return_value == 1.5


def test_the_release_is_registered_first_so_other_callbacks_see_the_job_before_it():
    with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    assert next(iter(cfg.hydra.callbacks)) == "release_job"
    assert cfg.hydra.callbacks.release_job._target_ == "dist_classicrl.app.callbacks.ReleaseJob"
