"""Compiled env steps (TicTacToe, Taxi) for a batch of copies."""

import numpy as np

from .common import ENV_NAMES, NUM_ENVS, make_env_named


class EnvStep:
    params = [ENV_NAMES, NUM_ENVS]
    param_names = ["env", "num_envs"]

    def setup(self, env_name, num_envs):
        self.env = make_env_named(env_name, num_envs)
        self.env.warm_up()
        _, mask = self.env.reset(seed=0)
        # the first legal action of every copy: always a valid move
        self.actions = np.zeros(num_envs, dtype=np.int64) if mask is None else mask.argmax(1)

    def time_step(self, env_name, num_envs):
        self.env.step(self.actions)
