"""Shared set-up for the asv suite (append-only: existing names keep their meaning)."""

import numpy as np

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.envs import TicTacToeEnv, make_env

VARIANT_NAMES = ["list", "numpy", "optimal"]
ENV_NAMES = ["tictactoe", "taxi"]
NUM_ENVS = [1, 64, 4096]


def make_env_named(name, num_envs, seed=0):
    if name == "tictactoe":
        return TicTacToeEnv(num_envs, seed=seed)
    return make_env("gym", num_envs, id="Taxi-v4", seed=seed)


def make_algorithm(variant, env, seed=0):
    return VARIANTS[variant](
        env.n_states, env.n_actions, learning_rate=0.1, discount=0.99, epsilon=0.1, seed=seed
    )


def random_batch(env, num_envs, seed=0):
    """A batch of transitions shaped like one env step (with masks for TicTacToe)."""
    rng = np.random.default_rng(seed)
    masks = rng.random((num_envs, env.n_actions)) < 0.6 if env.has_action_mask else None
    if masks is not None:
        masks[:, 0] = True
    return (
        rng.integers(0, env.n_states, num_envs),
        rng.integers(0, env.n_actions, num_envs),
        rng.normal(size=num_envs),
        rng.integers(0, env.n_states, num_envs),
        rng.random(num_envs) < 0.2,
        masks,
    )
