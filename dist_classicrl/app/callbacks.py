"""Hydra callbacks registered in ``conf/config.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dist_classicrl.app.sweep import summarize


class SweepSummary(Callback):
    """After a multirun, write the sweep's summary table and plot (see `app.sweep`)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = summarize(sweep_dir)
        if rows:
            print(f"sweep summary of {len(rows)} jobs: {sweep_dir / 'summary.md'}")
            print((sweep_dir / "summary.md").read_text())
