"""make_env / make_gym: which backend each config selects, and one-line ConfigErrors."""

from __future__ import annotations

from functools import partial

import gymnasium as gym
import numpy as np
import pytest

from dist_classicrl.envs import GymVectorEnv, TabularEnv, TicTacToeEnv, make_env, make_gym
from dist_classicrl.errors import ConfigError
from dist_classicrl.wrappers import BinnedObservation, FlattenMultiDiscreteWrapper


def test_default_kind_is_tictactoe_with_the_requested_batch_and_seed():
    env = make_env(num_envs=5, seed=3)
    assert isinstance(env, TicTacToeEnv)
    assert env.num_envs == 5 and env.n_states == 3**9 and env.n_actions == 9
    twin = make_env(kind="tictactoe", num_envs=5, seed=3)
    assert (env.reset()[0] == twin.reset()[0]).all()


def test_taxi_auto_backend_compiles_to_tabular_env_with_spec_time_limit():
    env = make_env(kind="gym", id="Taxi-v4", num_envs=7, seed=0)
    assert isinstance(env, TabularEnv)
    assert (env.num_envs, env.n_states, env.n_actions) == (7, 500, 6)
    assert env.max_episode_steps == 200
    assert env.name == "Taxi-v4"
    assert isinstance(make_env(kind="gym", id="Taxi-v4", backend="compiled"), TabularEnv)


def test_vector_backend_returns_gym_vector_env():
    env = make_env(kind="gym", id="Taxi-v4", backend="vector", num_envs=2)
    assert isinstance(env, GymVectorEnv)
    assert (env.num_envs, env.n_states, env.n_actions) == (2, 500, 6)
    env.close()


def test_kwargs_and_time_limit_reach_the_compiled_env():
    env = make_env(kind="gym", id="FrozenLake-v1", kwargs={"map_name": "8x8"}, max_episode_steps=50)
    assert isinstance(env, TabularEnv)
    assert env.n_states == 64 and env.max_episode_steps == 50
    # Non-slippery: every (s, a) has a single outcome.
    det = make_env(kind="gym", id="FrozenLake-v1", kwargs={"is_slippery": False})
    assert (det.model.n_outcomes == 1).all()
    assert (make_env(kind="gym", id="FrozenLake-v1").model.n_outcomes == 3).any()


def test_fickle_taxi_uses_vector_env_under_auto_and_is_rejected_by_compiled():
    env = make_env(kind="gym", id="Taxi-v4", kwargs={"fickle_passenger": True})
    assert isinstance(env, GymVectorEnv)
    env.close()
    with pytest.raises(ConfigError, match="compiled") as info:
        make_env(kind="gym", id="Taxi-v4", kwargs={"fickle_passenger": True}, backend="compiled")
    assert "Taxi-v4" in str(info.value)


def config_error(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        make_env(**kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    return message


def test_unknown_id_names_it_and_suggests_the_close_match():
    message = config_error(kind="gym", id="Taxi-v9")
    assert "'Taxi-v9'" in message
    assert "did you mean" in message and "Taxi-v4" in message


def test_unknown_id_without_close_match_has_no_suggestion():
    message = config_error(kind="gym", id="zzzzzzzzzzzzqqqqq")
    assert "zzzzzzzzzzzzqqqqq" in message and "did you mean" not in message


@pytest.mark.parametrize(
    ("env_id", "space", "hint"),
    [
        ("CartPole-v1", "Box", "wrapper=discretize"),
        ("Blackjack-v1", "Tuple", "wrapper=flatten"),
        ("Acrobot-v1", "Box", "wrapper=discretize"),
    ],
)
def test_non_discrete_observation_space_is_rejected_naming_the_wrapper_that_fits(
    env_id, space, hint
):
    message = config_error(kind="gym", id=env_id)
    assert env_id in message and space in message and "Discrete" in message and hint in message
    ready = {"CartPole-v1": "env=cartpole", "Blackjack-v1": "env=blackjack"}.get(env_id)
    assert (ready in message) if ready else ("ready config" not in message)


def test_the_wrapper_wraps_every_vector_copy_and_the_evaluation_env():
    bins = partial(
        BinnedObservation,
        bins=[1, 3, 6, 3],
        low=[-2.4, -1, -0.21, -0.87],
        high=[2.4, 1, 0.21, 0.87],
    )
    env = make_env(kind="gym", id="CartPole-v1", num_envs=3, seed=0, wrapper=bins)
    assert isinstance(env, GymVectorEnv) and (env.n_states, env.n_actions) == (54, 2)
    assert all(isinstance(copy, BinnedObservation) for copy in env.vector.envs)
    obs, _ = env.reset()
    assert ((obs >= 0) & (obs < 54)).all()
    result = env.evaluate_greedy(np.zeros((54, 2)), 0.99)  # always push left: falls fast
    assert result["terminated_rate"] == 1.0 and result["mean_return"] < 20
    env.close()


def test_a_wrapper_that_does_not_fit_the_space_is_one_line():
    assert "already Discrete: use wrapper=none" in config_error(
        kind="gym", id="Taxi-v4", wrapper=BinnedObservation
    )
    assert "wrapper=flatten cannot flatten the observation space Box(4,)" in config_error(
        kind="gym", id="CartPole-v1", wrapper=FlattenMultiDiscreteWrapper
    )
    assert "env.kind=tictactoe takes wrapper=none" in config_error(
        kind="tictactoe", wrapper=FlattenMultiDiscreteWrapper
    )


def test_a_wrapped_toy_text_env_is_not_compiled_from_its_unwrapped_table():
    env = make_env(kind="gym", id="Taxi-v4", wrapper=FlattenMultiDiscreteWrapper)
    assert isinstance(env, GymVectorEnv)
    env.close()
    assert "no exact tabular model" in config_error(
        kind="gym",
        id="CartPole-v1",
        backend="compiled",
        wrapper=partial(BinnedObservation, low=-1.0, high=1.0),
    )


def test_missing_id_for_gym_kind_is_rejected():
    for missing in (None, ""):
        assert "env.id" in config_error(kind="gym", id=missing)


def test_unknown_kind_is_rejected_listing_allowed_kinds():
    message = config_error(kind="atari")
    assert "'atari'" in message and "tictactoe" in message and "gym" in message


@pytest.mark.parametrize("bad", [0, -3, True, 2.0, "4"])
def test_non_positive_or_non_integer_num_envs_is_rejected(bad):
    message = config_error(num_envs=bad)
    assert f"env.num_envs={bad!r}" in message


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_bad_max_episode_steps_is_rejected(bad):
    assert f"env.max_episode_steps={bad!r}" in config_error(
        kind="gym", id="Taxi-v4", max_episode_steps=bad
    )


def test_unknown_backend_is_rejected_listing_allowed_backends():
    message = config_error(kind="gym", id="Taxi-v4", backend="gpu")
    assert "'gpu'" in message and "auto" in message and "vector" in message


@pytest.mark.parametrize(
    ("env_id", "kwargs", "named"),
    [
        ("Taxi-v4", {"bogus": 1}, "bogus"),
        ("FrozenLake-v1", {"map_name": "9x9"}, "9x9"),
        ("Taxi-v4", "not-a-mapping", "not-a-mapping"),
    ],
)
def test_bad_kwargs_are_rejected_naming_them(env_id, kwargs, named):
    message = config_error(kind="gym", id=env_id, kwargs=kwargs)
    assert env_id in message and named in message


def test_make_gym_returns_a_time_limited_discrete_env():
    env = make_gym("FrozenLake-v1", {"map_name": "4x4"}, max_episode_steps=9)
    assert isinstance(env.observation_space, gym.spaces.Discrete)
    assert env.spec.max_episode_steps == 9
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(0)
        steps += 1
        done = term or trunc
    assert steps <= 9
    env.close()


def test_non_string_id_is_a_config_error():
    config_error(kind="gym", id=123)


def test_tuple_space_message_has_no_none_shape():
    assert "None" not in config_error(kind="gym", id="Blackjack-v1")
