"""Environment layer: batched tabular envs (see `base` for the stepping contract)."""

import gymnasium as gym

from dist_classicrl.envs.base import DeferredTransitions, DistClassicRLEnv, StepResult
from dist_classicrl.envs.factory import REGISTRY, make_env, make_gym
from dist_classicrl.envs.gym_vector import GymVectorEnv
from dist_classicrl.envs.pettingzoo_adapter import PettingZooSelfPlayEnv
from dist_classicrl.envs.tabular import TabularEnv
from dist_classicrl.envs.tabular_model import TabularModel, value_iteration
from dist_classicrl.envs.tictactoe import TicTacToeEnv
from dist_classicrl.envs.tictactoe_gym import TicTacToeGymEnv

if "dist_classicrl/TicTacToe-v0" not in gym.registry:
    # gymnasium types entry_point as a `(**kwargs) -> Env` factory; this env takes no
    # arguments (gym.make passes none unless asked to)
    gym.register("dist_classicrl/TicTacToe-v0", entry_point=TicTacToeGymEnv)  # type: ignore[arg-type]

__all__ = [
    "REGISTRY",
    "DeferredTransitions",
    "DistClassicRLEnv",
    "GymVectorEnv",
    "PettingZooSelfPlayEnv",
    "StepResult",
    "TabularEnv",
    "TabularModel",
    "TicTacToeEnv",
    "TicTacToeGymEnv",
    "make_env",
    "make_gym",
    "value_iteration",
]
