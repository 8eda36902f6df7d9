"""Flattening discrete product spaces: the index rule, actions, and the spaces refused."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from dist_classicrl.errors import ConfigError
from dist_classicrl.wrappers import (
    FlattenDiscreteAction,
    FlattenDiscreteObservation,
    FlattenMultiDiscreteWrapper,
)


class EchoEnv(gym.Env):
    """Observes the last action it was given (a fixed start observation after reset)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.received = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        self.received = action
        return action, 0.0, False, False, {}


def test_blackjack_observations_become_row_major_indices_of_discrete_704():
    env = FlattenMultiDiscreteWrapper(gym.make("Blackjack-v1"))
    assert env.observation_space == spaces.Discrete(704)
    assert env.action_space == spaces.Discrete(2)
    assert env.observation((14, 10, 0)) == 14 * 22 + 10 * 2 + 0
    assert env.observation((31, 10, 1)) == 703
    obs, _ = env.reset(seed=3)
    raw = env.unwrapped._get_obs()
    assert obs == np.ravel_multi_index(raw, (32, 11, 2))


def test_every_multidiscrete_value_with_offsets_gets_its_own_index():
    space = spaces.MultiDiscrete([3, 2, 4], start=[5, -1, 0])
    wrapped = FlattenDiscreteObservation(EchoEnv(space, space))
    values = [np.array([a, b, c]) for a in range(5, 8) for b in (-1, 0) for c in range(4)]
    indices = [wrapped.observation(v) for v in values]
    assert indices == list(range(24))  # one-to-one, last component fastest


def test_flat_actions_unflatten_to_the_env_action_the_seed_computes():
    space = spaces.MultiDiscrete([2, 3, 4])
    env = FlattenMultiDiscreteWrapper(EchoEnv(space, space))
    assert env.action_space == spaces.Discrete(24)
    for flat in range(24):
        env.step(flat)
        remaining, seed_parts = flat, []
        for size in (4, 3, 2):  # the seed's _unflatten_action
            seed_parts.append(remaining % size)
            remaining //= size
        np.testing.assert_array_equal(env.unwrapped.received, seed_parts[::-1])
        assert space.contains(env.unwrapped.received)


def test_tuple_actions_come_back_as_tuples_and_discrete_start_is_shifted():
    tuple_env = FlattenDiscreteAction(
        EchoEnv(spaces.Discrete(2), spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))))
    )
    tuple_env.step(5)
    assert tuple_env.unwrapped.received == (1, 2)
    shifted = FlattenMultiDiscreteWrapper(
        EchoEnv(spaces.Discrete(3, start=-1), spaces.Discrete(3, start=-1))
    )
    assert shifted.action_space == spaces.Discrete(3)
    shifted.step(0)
    assert shifted.unwrapped.received == -1


@pytest.mark.parametrize(
    ("space", "hint"),
    [
        (spaces.Box(-1.0, 1.0, (4,)), "wrapper=discretize"),
        (spaces.Tuple((spaces.Discrete(2), spaces.Box(0.0, 1.0, (1,)))), "Tuple of Discrete"),
        (spaces.Dict({"a": spaces.Discrete(2)}), "Dict"),
    ],
)
def test_a_space_that_is_not_discrete_is_refused_in_one_line(space, hint):
    with pytest.raises(ConfigError) as info:
        FlattenMultiDiscreteWrapper(EchoEnv(space, spaces.Discrete(2)))
    message = str(info.value)
    assert "wrapper=flatten" in message and "observation" in message and hint in message
    assert "\n" not in message
