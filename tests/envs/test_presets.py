"""The named envs of the Python API (`envs.presets.PRESETS`) are the app's ``env=<name>``
options (registered from them, not written again in YAML): same envs, budgets, schedules
and wrappers."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import get_class
from omegaconf import OmegaConf

from dist_classicrl.envs import make_env
from dist_classicrl.envs.presets import PRESETS, WRAPPERS
from dist_classicrl.schedules import ScheduleSpec

CONF = Path(__file__).parents[2] / "conf"
NAMED = sorted(PRESETS)


def test_no_named_env_or_wrapper_is_written_again_in_yaml():
    assert not {p.stem for p in (CONF / "env").glob("*.yaml")} & set(PRESETS)
    assert not {p.stem for p in (CONF / "wrapper").glob("*.yaml")} & set(WRAPPERS)


@pytest.mark.parametrize("name", NAMED)
def test_a_preset_equals_the_app_config_of_the_same_name(name):
    with initialize_config_module(config_module="dist_classicrl.conf", version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[f"env={name}"]), resolve=True)
    preset = PRESETS[name]
    env = cfg["env"]
    for key, value in preset.env.items():
        assert env[key] == value, key
    defaults = {"kwargs": {}, "max_episode_steps": None, "eval_episodes": 100, "num_envs": 64}
    for key, default in defaults.items():
        assert env[key] == preset.env.get(key, default), key
    wrapper = cfg["wrapper"]
    if preset.wrapper is None:
        assert wrapper["_target_"] is None
    else:
        named = preset.wrapper_callable
        target = named.func if isinstance(named, partial) else named
        assert get_class(wrapper["_target_"]) is target
        keywords = named.keywords if isinstance(named, partial) else {}
        assert {k: v for k, v in wrapper.items() if k != "_target_"} == keywords
    assert cfg["steps"] == preset.steps
    for which in ("epsilon", "learning_rate"):
        assert ScheduleSpec(**cfg["schedule"][which]) == getattr(preset, which), which


@pytest.mark.parametrize("name", ["taxi", "frozenlake8x8", "blackjack", "tictactoe"])
def test_make_env_builds_a_named_env_with_its_values_and_overrides(name):
    env = make_env(name, seed=0)
    assert env.num_envs == PRESETS[name].num_envs
    assert make_env(name, 3, seed=0).num_envs == 3
    env.close()
