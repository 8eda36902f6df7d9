"""The wrappers follow Gymnasium's conventions: they record their arguments, so
``env.spec`` describes them, ``gym.make(env.spec)`` rebuilds them and ``check_env``
passes; so a wrapped env object can be handed to `dist_classicrl.QLearning`, which makes
its copies from the spec."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dist_classicrl as dc
from dist_classicrl.envs import TabularEnv
from dist_classicrl.wrappers import (
    BinnedObservation,
    FlattenDiscreteAction,
    FlattenDiscreteObservation,
    FlattenMultiDiscreteWrapper,
)

CARTPOLE = {"bins": [1, 3, 6, 3], "low": [-2.4, -1, -0.21, -0.87], "high": [2.4, 1, 0.21, 0.87]}
WRAPPED = {
    "flatten": lambda: FlattenMultiDiscreteWrapper(gym.make("Blackjack-v1", sab=False)),
    "flatten-parts": lambda: FlattenDiscreteAction(
        FlattenDiscreteObservation(gym.make("Blackjack-v1"))
    ),
    "binned": lambda: BinnedObservation(gym.make("CartPole-v1"), **CARTPOLE),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # check_env prefers unwrapped envs
@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_a_wrapped_env_passes_check_env_and_is_rebuilt_from_its_spec(name):
    env = WRAPPED[name]()
    check_env(env, skip_render_check=True)
    again = gym.make(env.spec)
    assert type(again) is type(env) and again.observation_space == env.observation_space
    obs, _ = env.reset(seed=3)
    obs_again, _ = again.reset(seed=3)
    assert obs == obs_again
    for action in (0, 1, 1, 0):
        assert env.step(action)[:3] == again.step(action)[:3]


def test_an_agent_takes_a_wrapped_env_object_and_compiles_its_known_model():
    agent = dc.QLearning(WRAPPED["flatten"](), seed=0, num_envs=4)
    assert isinstance(agent.env, TabularEnv) and agent.env.n_states == 704
    binned = dc.QLearning(WRAPPED["binned"](), variant="numpy", seed=0, num_envs=2)
    assert binned.env.n_states == 54
    binned.learn(2_000)
    assert np.isfinite(binned.q_table).all()


def test_gymnasiums_discretize_observation_keeps_its_name():
    assert gym.wrappers.DiscretizeObservation is not BinnedObservation
    with pytest.raises(dc.ConfigError, match=r"gymnasium\.wrappers\.DiscretizeAction"):
        dc.QLearning(BinnedObservation(gym.make("Pendulum-v1"), bins=4))  # Box actions
