"""Named envs (``"taxi"``, ``"frozenlake"``, ...): how each is built, and the training
defaults that suit it; and the named wrappers they use.

The one place these are written. `make_env("taxi")` and `dist_classicrl.QLearning("taxi")`
read them, and the app registers each as its ``env=<name>`` option (and each wrapper as
``wrapper=<name>``) in Hydra's ConfigStore (`dist_classicrl.app.config.register_presets`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from dist_classicrl.schedules import ScheduleSpec
from dist_classicrl.wrappers import BinnedObservation, FlattenMultiDiscreteWrapper

#: Wrappers by name (the app's ``wrapper=<name>``): each wraps one Gymnasium env copy.
WRAPPERS: dict[str, Callable[..., Any]] = {
    # Tuple-of-Discrete / MultiDiscrete observations and actions become one Discrete index
    # each (row-major, the last component fastest): Blackjack-v1 -> Discrete(704)
    "flatten": FlattenMultiDiscreteWrapper,
    # CartPole-v1 (x, x_dot, theta, theta_dot) in 1 x 3 x 6 x 3 = 54 cells: the cart
    # position is ignored, the pole angle within +-12 degrees (where the episode ends)
    # gets 6 bins
    "discretize_cartpole": partial(
        BinnedObservation,
        bins=[1, 3, 6, 3],
        low=[-2.4, -1.0, -0.21, -0.87],
        high=[2.4, 1.0, 0.21, 0.87],
    ),
    # MountainCar-v0 (position, velocity) in a 20 x 20 grid
    "discretize_mountaincar": partial(
        BinnedObservation, bins=[20, 20], low=[-1.2, -0.07], high=[0.6, 0.07]
    ),
}

#: The budget and schedules of an env that names none (the app's defaults too).
DEFAULT_STEPS = 3_000_000
DEFAULT_EPSILON = ScheduleSpec(start=1.0, end=0.05, fraction=0.5)
DEFAULT_LEARNING_RATE = ScheduleSpec(start=0.5, end=0.01, fraction=1.0)
DEFAULT_NUM_ENVS = 64


@dataclass(frozen=True)
class EnvPreset:
    """A named env: `make_env`'s arguments (``kind``, ``id``, ``kwargs``, ...), the name of
    the wrapper around each Gymnasium copy (`WRAPPERS`), the budget and schedules it trains
    well with, and one paragraph on what it is (``--help`` of the app shows the names)."""

    env: dict[str, Any]
    about: str
    wrapper: str | None = None
    steps: int = DEFAULT_STEPS
    epsilon: ScheduleSpec = DEFAULT_EPSILON
    learning_rate: ScheduleSpec = DEFAULT_LEARNING_RATE

    @property
    def num_envs(self) -> int:
        return int(self.env.get("num_envs", DEFAULT_NUM_ENVS))

    @property
    def wrapper_callable(self) -> Callable[..., Any] | None:
        return None if self.wrapper is None else WRAPPERS[self.wrapper]


def _gym(env_id: str, **more: Any) -> dict[str, Any]:
    return {"kind": "gym", "id": env_id, **more}


PRESETS: dict[str, EnvPreset] = {
    "tictactoe": EnvPreset(
        {"kind": "tictactoe"},
        "Built-in TicTacToe (3^9 = 19683 states x 9 actions); the opponent starts half of "
        "the games. env.opponent: random (a uniform empty cell) | perfect (a minimax "
        "player) | self (the learner's own table, epsilon-greedy). Evaluated exactly vs "
        "random and vs perfect.",
    ),
    "taxi": EnvPreset(
        _gym("Taxi-v4"), "Taxi (Dietterich 2000): 500 states, 6 actions; 200-step time limit."
    ),
    "frozenlake": EnvPreset(
        _gym("FrozenLake-v1", kwargs={"map_name": "4x4", "is_slippery": True}),
        "FrozenLake 4x4, slippery (the Gymnasium default): 16 states, 4 actions.",
    ),
    "frozenlake8x8": EnvPreset(
        _gym(
            "FrozenLake-v1",
            kwargs={"map_name": "8x8", "is_slippery": True},
            max_episode_steps=200,
        ),
        "FrozenLake 8x8, slippery: 64 states, 4 actions; 200-step time limit. It needs a "
        "longer run than the default budget: steps=10000000 "
        "schedule.learning_rate.end=0.001.",
    ),
    # Exploration comes from optimistic initial values (Sutton and Barto, 2.6), not from a
    # large epsilon: every reward is negative and the table starts at 0, so the greedy
    # policy itself tries each untried action. A small constant epsilon keeps Expected
    # SARSA's fixed point on the optimal path along the edge (at epsilon >= 0.01 it keeps
    # two rows away, 14.3% longer), and early random walks no longer teach the on-policy
    # rules that the edge is worse than it is (docs/algorithms.md).
    "cliffwalking": EnvPreset(
        _gym("CliffWalking-v1", max_episode_steps=200),
        "CliffWalking (Sutton and Barto, Example 6.6): 48 states, 4 actions; episodes cut "
        "at 200 steps (version 1 has no limit). A constant epsilon of 0.001; the classic "
        "comparison: schedule.epsilon.start=0.1 schedule.epsilon.end=0.1.",
        epsilon=ScheduleSpec(start=0.001, end=0.001, fraction=1.0),
    ),
    # sab=False: a natural then pays like any other 21, so the observation is a Markov
    # state and the rules give an exact tabular model (envs/blackjack.py): compiled and
    # evaluated exactly. The optimal policy is the same as under the default sab=True.
    "blackjack": EnvPreset(
        _gym("Blackjack-v1", kwargs={"sab": False}, eval_episodes=100_000),
        "Blackjack-v1 (Sutton and Barto, Example 5.1) flattened by wrapper=flatten: 704 "
        "states (player sum 32 x dealer card 11 x usable ace 2), 2 actions (stick, hit). "
        "With env.kwargs.sab=true or env.backend=vector the job steps Gymnasium itself "
        "and samples env.eval_episodes.",
        wrapper="flatten",
        steps=10_000_000,
        learning_rate=ScheduleSpec(start=0.5, end=0.001, fraction=1.0),
    ),
    "cartpole": EnvPreset(
        _gym("CartPole-v1", num_envs=16),
        "CartPole-v1 binned by wrapper=discretize_cartpole: 54 states, 2 actions (push "
        "left, right); +1 per step, 500-step limit.",
        wrapper="discretize_cartpole",
        steps=100_000,
        epsilon=ScheduleSpec(start=1.0, end=0.01, fraction=0.5),
        learning_rate=ScheduleSpec(start=0.5, end=0.1, fraction=1.0),
    ),
    # A zero-initialised table is optimistic (every true value is negative), so it
    # explores by itself: a little epsilon, none after half the budget.
    "mountaincar": EnvPreset(
        _gym("MountainCar-v0", num_envs=16),
        "MountainCar-v0 binned by wrapper=discretize_mountaincar: 400 states, 3 actions "
        "(push left, none, right); -1 per step, 200-step limit. The goal rate (episodes "
        "that terminate) is eval.terminated_rate.",
        wrapper="discretize_mountaincar",
        steps=500_000,
        epsilon=ScheduleSpec(start=0.1, end=0.0, fraction=0.5),
        learning_rate=ScheduleSpec(start=0.5, end=0.01, fraction=1.0),
    ),
    "pettingzoo_tictactoe": EnvPreset(
        {"kind": "pettingzoo", "id": "tictactoe_v3", "num_envs": 16},
        "Self-play in PettingZoo's tictactoe_v3 (AEC API), both seats learning into one "
        "table with the built-in TicTacToe's encoding (19683 states x 9 actions). Python "
        "speed (~10^4 steps/s), hence its own step budget.",
        steps=500_000,
    ),
}
