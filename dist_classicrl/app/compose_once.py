"""One compose of the config per one-job command, instead of three.

A one-job command composes its config three times: `preflight` composes it to check it,
then Hydra composes it once to learn the run mode (``Hydra.get_mode``) and once more to
run it (``Hydra.run``). Each compose takes 0.07-0.12 s, about as long as the default
job trains (measured by timing ``Hydra.compose_config`` in ``python -m
dist_classicrl.run``). The three see the same config name and overrides (the third
with ``hydra.mode=RUN`` added, which Hydra appends when the config sets no mode), so
inside `composed_once` Hydra's config loader keeps the first config it composed for
them and hands out copies of it (with that override applied, as a compose would).

The copy is equal to what a new compose gives: the loader's result depends on the config
name, the overrides, the environment and the working directory, which a one-job command
does not change between the composes; the run mode changes only which errors a compose
raises (a sweep override in a run, a missing default), and the first compose, in run
mode, has raised those already. Only configs composed in run mode are kept, so the
first compose always runs in full. Sweeps compose each job from other overrides and do
not use this.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.types import RunMode

#: The override Hydra adds to run one job of a config that sets no ``hydra.mode``.
_RUN_MODE = "hydra.mode=RUN"


@contextmanager
def composed_once() -> Iterator[None]:
    """While inside, equal (config name, overrides) composes return copies of the first."""
    original = ConfigLoaderImpl.load_configuration
    kept: dict[tuple[Any, ...], Any] = {}

    def load_configuration(
        self: ConfigLoaderImpl,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> Any:
        key = (config_name, tuple(overrides))
        if key in kept:
            return copy.deepcopy(kept[key])
        if overrides and overrides[-1] == _RUN_MODE and (config_name, key[1][:-1]) in kept:
            cfg = copy.deepcopy(kept[(config_name, key[1][:-1])])
            cfg.hydra.mode = RunMode.RUN  # what the override sets, recorded as a compose does
            cfg.hydra.overrides.hydra.append(_RUN_MODE)
            return cfg
        cfg = original(
            self,
            config_name=config_name,
            overrides=overrides,
            run_mode=run_mode,
            from_shell=from_shell,
            validate_sweep_overrides=validate_sweep_overrides,
        )
        if run_mode == RunMode.RUN:
            kept[key] = copy.deepcopy(cfg)
        return cfg

    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]
    try:
        yield
    finally:
        ConfigLoaderImpl.load_configuration = original  # type: ignore[method-assign]
