"""dist_classicrl: fast tabular Q-learning and a Hydra benchmark harness around it.

    import dist_classicrl as dc
    agent = dc.QLearning("taxi", seed=0).learn(total_timesteps=3_000_000)

The names below are imported when first used, so that ``import dist_classicrl`` (and the
app's start-up) does not load Numba, Gymnasium and the runtimes until they are needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from dist_classicrl.errors import ConfigError

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "QLearning": "dist_classicrl.agent",
    "make_env": "dist_classicrl.envs.factory",
    "PRESETS": "dist_classicrl.envs.presets",
    "Schedule": "dist_classicrl.schedules",
    "ScheduleSpec": "dist_classicrl.schedules",
}

__all__ = ["ConfigError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dist_classicrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
