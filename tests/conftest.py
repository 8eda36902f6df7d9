from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

import dist_classicrl.app.config  # noqa: F401  (registers the schemas)


@pytest.fixture
def compose_config():
    """compose(overrides) -> DictConfig, with the app's own config module."""

    def _compose(overrides: list[str] | None = None):
        with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
            return compose(config_name="config", overrides=overrides or [])

    return _compose
