"""Named envs (``"taxi"``, ``"frozenlake"``, ...): how each is built, and the training
defaults that suit it.

`make_env("taxi")` and `dist_classicrl.QLearning("taxi")` read these. The app's
``env=<name>`` configs (``conf/env/<name>.yaml``) hold the same values for Hydra; a test
(``tests/envs/test_presets.py``) keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from dist_classicrl.schedules import ScheduleSpec
from dist_classicrl.wrappers import BinnedObservation, FlattenMultiDiscreteWrapper

#: The budget and schedules of an env that names none (the app's defaults too).
DEFAULT_STEPS = 3_000_000
DEFAULT_EPSILON = ScheduleSpec(start=1.0, end=0.05, fraction=0.5)
DEFAULT_LEARNING_RATE = ScheduleSpec(start=0.5, end=0.01, fraction=1.0)
DEFAULT_NUM_ENVS = 64


@dataclass(frozen=True)
class EnvPreset:
    """A named env: `make_env`'s arguments (``kind``, ``id``, ``kwargs``, ...), the wrapper
    around each Gymnasium copy, and the budget and schedules it trains well with."""

    env: dict[str, Any]
    wrapper: Callable[..., Any] | None = None
    steps: int = DEFAULT_STEPS
    epsilon: ScheduleSpec = DEFAULT_EPSILON
    learning_rate: ScheduleSpec = DEFAULT_LEARNING_RATE

    @property
    def num_envs(self) -> int:
        return int(self.env.get("num_envs", DEFAULT_NUM_ENVS))


def _gym(env_id: str, **more: Any) -> dict[str, Any]:
    return {"kind": "gym", "id": env_id, **more}


PRESETS: dict[str, EnvPreset] = {
    "tictactoe": EnvPreset({"kind": "tictactoe"}),
    "taxi": EnvPreset(_gym("Taxi-v4")),
    "frozenlake": EnvPreset(_gym("FrozenLake-v1", kwargs={"map_name": "4x4", "is_slippery": True})),
    "frozenlake8x8": EnvPreset(
        _gym(
            "FrozenLake-v1",
            kwargs={"map_name": "8x8", "is_slippery": True},
            max_episode_steps=200,
        )
    ),
    # Sutton & Barto's setting: an almost greedy policy, so that the learner meets the cliff
    "cliffwalking": EnvPreset(
        _gym("CliffWalking-v1", max_episode_steps=200),
        epsilon=ScheduleSpec(start=0.001, end=0.001, fraction=1.0),
    ),
    "blackjack": EnvPreset(
        _gym("Blackjack-v1", kwargs={"sab": False}, eval_episodes=100_000),
        wrapper=FlattenMultiDiscreteWrapper,
        steps=10_000_000,
        learning_rate=ScheduleSpec(start=0.5, end=0.001, fraction=1.0),
    ),
    "cartpole": EnvPreset(
        _gym("CartPole-v1", num_envs=16),
        wrapper=partial(
            BinnedObservation,
            bins=[1, 3, 6, 3],
            low=[-2.4, -1.0, -0.21, -0.87],
            high=[2.4, 1.0, 0.21, 0.87],
        ),
        steps=100_000,
        epsilon=ScheduleSpec(start=1.0, end=0.01, fraction=0.5),
        learning_rate=ScheduleSpec(start=0.5, end=0.1, fraction=1.0),
    ),
    "mountaincar": EnvPreset(
        _gym("MountainCar-v0", num_envs=16),
        wrapper=partial(BinnedObservation, bins=[20, 20], low=[-1.2, -0.07], high=[0.6, 0.07]),
        steps=500_000,
        epsilon=ScheduleSpec(start=0.1, end=0.0, fraction=0.5),
        learning_rate=ScheduleSpec(start=0.5, end=0.01, fraction=1.0),
    ),
    "pettingzoo_tictactoe": EnvPreset(
        {"kind": "pettingzoo", "id": "tictactoe_v3", "num_envs": 16}, steps=500_000
    ),
}
