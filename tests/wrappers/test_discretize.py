"""Binning Box observations: bin edges, clipping, the index rule, and bad bins or bounds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from dist_classicrl.errors import ConfigError
from dist_classicrl.wrappers import BinnedObservation

CARTPOLE = {"bins": [1, 3, 6, 3], "low": [-2.4, -1, -0.21, -0.87], "high": [2.4, 1, 0.21, 0.87]}


def mountaincar(**kwargs) -> BinnedObservation:
    return BinnedObservation(gym.make("MountainCar-v0"), **kwargs)


def test_equal_width_bins_between_the_bounds_index_row_major():
    env = mountaincar(bins=[4, 2])  # the space's own bounds: [-1.2, 0.6] x [-0.07, 0.07]
    assert env.observation_space == spaces.Discrete(8)
    edges = np.linspace(-1.2, 0.6, 5)
    for i in range(4):
        for j, v in enumerate((-0.035, 0.035)):
            x = (edges[i] + edges[i + 1]) / 2
            assert env.observation(np.array([x, v], dtype=np.float32)) == i * 2 + j


def test_values_outside_the_bounds_are_clipped_into_the_end_bins():
    env = BinnedObservation(gym.make("CartPole-v1"), **CARTPOLE)
    assert env.observation_space == spaces.Discrete(54)
    far_low = env.observation(np.array([-4.0, -9.0, -0.4, -9.0], dtype=np.float32))
    far_high = env.observation(np.array([4.0, 9.0, 0.4, 9.0], dtype=np.float32))
    assert far_low == 0 and far_high == 53
    at_high = env.observation(np.array(CARTPOLE["high"], dtype=np.float32))
    assert at_high == 53


def test_a_single_bin_ignores_its_dimension_and_one_count_fits_every_dimension():
    env = BinnedObservation(gym.make("CartPole-v1"), **CARTPOLE)
    a = env.observation(np.array([-2.0, 0.0, 0.0, 0.0], dtype=np.float32))
    b = env.observation(np.array([2.0, 0.0, 0.0, 0.0], dtype=np.float32))
    assert a == b
    assert mountaincar(bins=[7]).observation_space == spaces.Discrete(49)


def test_every_observation_of_an_episode_is_a_valid_index():
    env = BinnedObservation(gym.make("CartPole-v1"), **CARTPOLE)
    obs, _ = env.reset(seed=0)
    seen = {obs}
    for t in range(200):
        obs, _, terminated, truncated, _ = env.step(t % 2)
        assert env.observation_space.contains(obs)
        seen.add(obs)
        if terminated or truncated:
            obs, _ = env.reset()
    assert len(seen) > 5


BAD = [
    ({"bins": [10, 10, 10]}, "wrapper.bins=[10, 10, 10] does not fit a 2-dimensional Box"),
    ({"bins": [0, 10]}, "wrapper.bins=[0, 10]: every count must be an integer >= 1"),
    ({"bins": [2.5, 10]}, "every count must be an integer >= 1"),
    ({"low": [0.5, 0.0], "high": [0.2, 0.05]}, "low must be < high, not in dimension 0"),
    ({"low": [-1.2], "high": [0.6, 0.07, 1.0]}, "wrapper.high=[0.6, 0.07, 1] does not fit"),
    ({"low": [1.0, -0.07], "high": [2.0, 0.07]}, "dimension 0 lies outside the space's range"),
    ({"low": [-1.2, -0.5], "high": [0.6, -0.2]}, "dimension 1 lies outside"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD, ids=[m for _, m in BAD])
def test_bins_that_do_not_cover_the_space_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ConfigError) as info:
        mountaincar(**kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_unbounded_dimension_needs_explicit_bounds():
    with pytest.raises(ConfigError, match="bounds must be finite"):
        BinnedObservation(gym.make("CartPole-v1"), bins=[2, 2, 2, 2])


@pytest.mark.parametrize(
    ("env_id", "hint"),
    [("Taxi-v4", "already Discrete: use wrapper=none"), ("Blackjack-v1", "use wrapper=flatten")],
)
def test_a_space_that_is_not_a_box_is_refused_naming_the_right_wrapper(env_id, hint):
    with pytest.raises(ConfigError) as info:
        BinnedObservation(gym.make(env_id))
    assert "wrapper=discretize needs a Box" in str(info.value) and hint in str(info.value)
