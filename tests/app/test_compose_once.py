"""`composed_once`: a one-job command composes its config once, and the copies Hydra is
handed are what a full compose gives."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from omegaconf import OmegaConf

import dist_classicrl.app.preflight  # noqa: F401  (registers the app's configs)
from dist_classicrl.app.compose_once import composed_once

OVERRIDES = ["env=taxi", "steps=1000", "hydra.run.dir=somewhere"]


@pytest.fixture
def full_composes(monkeypatch):
    """How many composes ran in full."""
    calls: list[list[str]] = []
    original = ConfigLoaderImpl._load_configuration_impl

    def counted(self, *args, **kwargs):
        calls.append(list(kwargs.get("overrides", args[1] if len(args) > 1 else [])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "_load_configuration_impl", counted)
    return calls


def _compose(overrides):
    with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_equal_composes_run_once_and_hand_out_independent_copies(full_composes):
    with composed_once():
        first = _compose(OVERRIDES)
        first.steps = 5  # a caller's change must not reach the next copy
        second = _compose(OVERRIDES)
        other = _compose(["env=frozenlake"])  # other overrides: composed in full
    assert len(full_composes) == 2
    assert second.steps == 1000 and other.env.id != second.env.id
    assert OmegaConf.to_container(second) == OmegaConf.to_container(_compose(OVERRIDES))
    assert len(full_composes) == 3  # outside, every compose runs


def test_the_run_mode_hydra_adds_is_applied_as_a_compose_applies_it(full_composes):
    with composed_once():
        _compose(OVERRIDES)
        kept = _compose([*OVERRIDES, "hydra.mode=RUN"])
    assert len(full_composes) == 1
    fresh = _compose([*OVERRIDES, "hydra.mode=RUN"])
    assert OmegaConf.to_container(kept) == OmegaConf.to_container(fresh)
    assert list(kept.hydra.overrides.hydra)[-1] == "hydra.mode=RUN"
