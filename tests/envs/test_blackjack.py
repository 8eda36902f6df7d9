"""The Blackjack rules model against Gymnasium's Blackjack-v1 (sab=False), sampled."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dist_classicrl.envs import GymVectorEnv, TabularEnv, make_env
from dist_classicrl.envs.blackjack import HIT, STICK, rules_model
from dist_classicrl.envs.tabular_model import finite_horizon_return, value_iteration
from dist_classicrl.wrappers import FlattenMultiDiscreteWrapper

DIMS = (32, 11, 2)


def wrapped(**kwargs) -> gym.Env:
    return FlattenMultiDiscreteWrapper(gym.make("Blackjack-v1", sab=False, **kwargs))


@pytest.fixture(scope="module")
def model():
    return rules_model(wrapped())


def hit_below(threshold: int) -> np.ndarray:
    sums = np.unravel_index(np.arange(704), DIMS)[0]
    return np.where(sums < threshold, HIT, STICK)


def sampled_mean_return(env: gym.Env, policy: np.ndarray, episodes: int, seed: int) -> float:
    total = 0.0
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(policy[obs]))
            total += reward
            done = terminated or truncated
        obs, _ = env.reset()
    return total / episodes


def test_every_row_is_a_distribution_and_the_start_is_one(model):
    np.testing.assert_allclose(model.probs.sum(axis=2), 1.0, atol=1e-12)
    assert model.initial.sum() == pytest.approx(1.0)
    starts = np.unravel_index(np.flatnonzero(model.initial), DIMS)
    assert starts[0].min() == 4 and starts[0].max() == 21 and set(starts[1]) == set(range(1, 11))


def test_start_distribution_matches_gymnasium_resets(model):
    env, n = wrapped(), 20_000
    counts = np.zeros(704)
    for i in range(n):
        obs, _ = env.reset(seed=i)
        counts[obs] += 1
    expected = model.initial * n
    mask = expected > 0
    assert counts[~mask].sum() == 0  # nothing the model calls impossible
    chi2 = (((counts - expected)[mask]) ** 2 / expected[mask]).sum()
    assert chi2 < mask.sum() + 5 * np.sqrt(2 * mask.sum())  # dof + 5 sd


@pytest.mark.parametrize("threshold", [12, 20])
def test_exact_policy_returns_match_gymnasium_within_four_standard_errors(model, threshold):
    policy = hit_below(threshold)
    exact = finite_horizon_return(model, policy, horizon=20)
    sampled = sampled_mean_return(wrapped(), policy, 20_000, seed=threshold)
    assert abs(sampled - exact) < 4 * 1.0 / np.sqrt(20_000)


def test_optimal_value_is_the_known_basic_strategy_figure(model):
    values, q = value_iteration(model, 1.0)
    assert model.initial @ values == pytest.approx(-0.0466, abs=5e-4)
    hard = np.ravel_multi_index  # a few textbook decisions
    assert q[hard((20, 10, 0), DIMS)].argmax() == STICK
    assert q[hard((11, 10, 0), DIMS)].argmax() == HIT
    assert q[hard((16, 10, 0), DIMS)].argmax() == HIT
    assert q[hard((13, 5, 0), DIMS)].argmax() == STICK


def test_only_the_flattened_markov_variant_gets_a_model():
    assert rules_model(FlattenMultiDiscreteWrapper(gym.make("Blackjack-v1"))) is None  # sab
    assert rules_model(wrapped(natural=True)) is None
    assert rules_model(FlattenMultiDiscreteWrapper(gym.make("Taxi-v4"))) is None


def test_factory_compiles_blackjack_sab_false_and_steps_the_default_through_gymnasium():
    env = make_env(
        kind="gym", id="Blackjack-v1", kwargs={"sab": False}, wrapper=FlattenMultiDiscreteWrapper
    )
    assert isinstance(env, TabularEnv) and (env.n_states, env.n_actions) == (704, 2)
    vector = make_env(kind="gym", id="Blackjack-v1", wrapper=FlattenMultiDiscreteWrapper)
    assert isinstance(vector, GymVectorEnv) and vector.n_states == 704
    vector.close()
