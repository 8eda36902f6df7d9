"""A Gymnasium env that raises after a few steps, for tests of failing jobs. Importing
this module registers it: ``env=gym env.id=tests.app.failing_env:Failing-v0``."""

from __future__ import annotations

import gymnasium as gym


class FailingEnv(gym.Env):
    """Two states, two actions; `step` raises on its 200th call."""

    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.calls = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        self.calls += 1
        if self.calls == 200:
            raise RuntimeError("boom in the env")
        return 1, 0.0, self.calls % 10 == 0, False, {}


gym.register("Failing-v0", entry_point=FailingEnv, max_episode_steps=50)
