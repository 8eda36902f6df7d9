"""GymVectorEnv: Gymnasium's SAME_STEP vector env mapped onto the batched contract."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dist_classicrl.envs import GymVectorEnv, make_env

LAKE = {"map_name": "4x4", "is_slippery": False}
LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3


def lake_vector(num_envs: int, limit: int, seed: int = 0, **kwargs) -> GymVectorEnv:
    env = make_env(
        kind="gym",
        id="FrozenLake-v1",
        kwargs={**LAKE, **kwargs},
        max_episode_steps=limit,
        backend="vector",
        num_envs=num_envs,
        seed=seed,
    )
    assert isinstance(env, GymVectorEnv)
    return env


def test_truncated_episode_reports_final_state_in_next_obs_and_reset_state_in_obs():
    env = lake_vector(num_envs=2, limit=3)
    obs, mask = env.reset()
    assert mask is None
    np.testing.assert_array_equal(obs, [0, 0])
    # Copy 0 walks right along the top row; copy 1 bumps into the left wall (stays at 0).
    for t in range(3):
        res = env.step(np.array([RIGHT, LEFT]))
        assert res.next_mask is None and res.mask is None
        assert res.next_obs.dtype == np.int64 and res.obs.dtype == np.int64
        np.testing.assert_array_equal(res.next_obs, [t + 1, 0])
        assert not res.terminated.any()
        if t < 2:
            assert not res.truncated.any()
            np.testing.assert_array_equal(res.obs, res.next_obs)
    np.testing.assert_array_equal(res.truncated, [True, True])
    np.testing.assert_array_equal(res.next_obs, [3, 0])  # final state, not the reset one
    np.testing.assert_array_equal(res.obs, [0, 0])  # the next episode's start
    # The new episode really started: one step right lands on 1 again.
    res = env.step(np.array([RIGHT, RIGHT]))
    np.testing.assert_array_equal(res.next_obs, [1, 1])
    assert not (res.terminated | res.truncated).any()
    env.close()


def test_terminated_episode_reports_the_terminal_state_and_its_reward():
    env = lake_vector(num_envs=3, limit=50)
    env.reset()
    # 0 -right-> 1 -down-> 5 (hole); 0 -down-> 4 -down-> 8; 14 -right-> 15 is the goal.
    res = env.step(np.array([RIGHT, DOWN, DOWN]))
    np.testing.assert_array_equal(res.next_obs, [1, 4, 4])
    res = env.step(np.array([DOWN, DOWN, DOWN]))
    np.testing.assert_array_equal(res.next_obs, [5, 8, 8])
    np.testing.assert_array_equal(res.terminated, [True, False, False])
    np.testing.assert_array_equal(res.obs, [0, 8, 8])
    for action in (RIGHT, DOWN, RIGHT, RIGHT):
        res = env.step(np.array([RIGHT, action, action]))
    np.testing.assert_array_equal(res.next_obs[1:], [15, 15])
    np.testing.assert_array_equal(res.reward[1:], [1.0, 1.0])
    assert res.terminated[1:].all() and not res.truncated[1:].any()
    np.testing.assert_array_equal(res.obs[1:], [0, 0])
    env.close()


def test_vector_env_matches_independently_stepped_gymnasium_envs():
    """Slippery lake, limit 3: every field equals single envs stepped and reset by hand."""
    n, limit, seed = 4, 3, 21
    env = lake_vector(num_envs=n, limit=limit, seed=seed, is_slippery=True)
    refs = [
        gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True, max_episode_steps=limit)
        for _ in range(n)
    ]
    obs, _ = env.reset()
    ref_obs = [r.reset(seed=seed + i)[0] for i, r in enumerate(refs)]
    np.testing.assert_array_equal(obs, ref_obs)
    rng = np.random.default_rng(0)
    n_ended = 0
    for _ in range(60):
        actions = rng.integers(0, 4, n)
        res = env.step(actions)
        for i, ref in enumerate(refs):
            s2, r, term, trunc, _ = ref.step(int(actions[i]))
            assert res.next_obs[i] == s2
            assert res.reward[i] == r
            assert res.terminated[i] == term and res.truncated[i] == trunc
            if term or trunc:
                n_ended += 1
                s2, _ = ref.reset()
            assert res.obs[i] == s2
    assert n_ended > 20
    env.close()


def test_evaluate_greedy_samples_mean_return_of_the_greedy_policy():
    env = lake_vector(num_envs=1, limit=20)
    q = np.zeros((16, 4))
    for s, a in {0: RIGHT, 1: RIGHT, 2: DOWN, 6: DOWN, 10: DOWN, 14: RIGHT}.items():
        q[s, a] = 1.0
    good = env.evaluate_greedy(q, 0.99)
    assert good["mean_return"] == 1.0 and good["episodes"] == 100
    assert good["std_return"] == 0.0
    bad = env.evaluate_greedy(np.zeros((16, 4)), 0.99)  # always left: stuck at the start
    assert bad["mean_return"] == 0.0
    env.close()


def test_fickle_taxi_runs_through_the_vector_env_with_discrete_sizes():
    env = make_env(kind="gym", id="Taxi-v4", kwargs={"fickle_passenger": True}, num_envs=3, seed=1)
    assert isinstance(env, GymVectorEnv)
    assert env.n_states == 500 and env.n_actions == 6
    obs, _ = env.reset()
    assert obs.shape == (3,) and ((obs >= 0) & (obs < 500)).all()
    res = env.step(np.array([0, 1, 2]))
    assert ((res.next_obs >= 0) & (res.next_obs < 500)).all()
    np.testing.assert_array_equal(res.reward, [-1.0, -1.0, -1.0])
    env.close()
    env.close()  # closing twice is allowed
