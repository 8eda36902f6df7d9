"""Environment layer: batched tabular envs (see `base` for the stepping contract)."""

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.envs.factory import REGISTRY, make_env, make_gym
from dist_classicrl.envs.gym_vector import GymVectorEnv
from dist_classicrl.envs.tabular import TabularEnv
from dist_classicrl.envs.tabular_model import TabularModel, value_iteration
from dist_classicrl.envs.tictactoe import TicTacToeEnv

__all__ = [
    "REGISTRY",
    "DistClassicRLEnv",
    "GymVectorEnv",
    "StepResult",
    "TabularEnv",
    "TabularModel",
    "TicTacToeEnv",
    "make_env",
    "make_gym",
    "value_iteration",
]
