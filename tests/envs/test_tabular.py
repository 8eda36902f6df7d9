"""TabularModel (Gymnasium's P as arrays), its planners, and the compiled TabularEnv.

References are built straight from ``env.unwrapped.P`` (not from the model's arrays), and
the planners are checked against ``np.linalg.solve`` and Monte-Carlo runs of Gymnasium.
"""

from __future__ import annotations

from collections import defaultdict

import gymnasium as gym
import numpy as np
import pytest

from dist_classicrl.envs.tabular import TabularEnv
from dist_classicrl.envs.tabular_model import (
    TabularModel,
    finite_horizon_return,
    optimality_gap,
    policy_value,
    value_iteration,
)

MAP_5X5 = ["SFFFF", "FHFHF", "FFFHF", "HFFFF", "FFHFG"]

ENV_SPECS = {
    "frozenlake4x4": ("FrozenLake-v1", {"map_name": "4x4", "is_slippery": True}),
    "frozenlake8x8": ("FrozenLake-v1", {"map_name": "8x8", "is_slippery": True}),
    "frozenlake5x5_custom": ("FrozenLake-v1", {"desc": MAP_5X5, "is_slippery": True}),
    "frozenlake_success_0.6": (
        "FrozenLake-v1",
        {"map_name": "4x4", "is_slippery": True, "success_rate": 0.6},
    ),
    "taxi": ("Taxi-v4", {}),
    "taxi_rainy": ("Taxi-v4", {"is_rainy": True}),
    "cliffwalking": ("CliffWalking-v1", {}),
    "cliffwalking_slippery": ("CliffWalking-v1", {"is_slippery": True}),
}


def make(name: str, **extra) -> gym.Env:
    env_id, kwargs = ENV_SPECS[name]
    return gym.make(env_id, **kwargs, **extra)


def merged(outcomes) -> dict[tuple[int, float, bool], float]:
    """Outcomes as {(next_state, reward, terminated): total probability}."""
    out: dict[tuple[int, float, bool], float] = defaultdict(float)
    for p, s2, r, term in outcomes:
        out[(int(s2), float(r), bool(term))] += float(p)
    return dict(out)


def reference_arrays(table: dict, discount: float, policy: np.ndarray):
    """``P_pi[s, s']`` (continuing mass only) and ``r_pi[s]`` from Gymnasium's own P."""
    n = len(table)
    p_pi, r_pi = np.zeros((n, n)), np.zeros(n)
    for s in range(n):
        for p, s2, r, term in table[s][int(policy[s])]:
            r_pi[s] += p * r
            if not term:
                p_pi[s, s2] += p
    return p_pi, r_pi


def solve_policy(table: dict, discount: float, policy: np.ndarray) -> np.ndarray:
    p_pi, r_pi = reference_arrays(table, discount, policy)
    return np.linalg.solve(np.eye(len(table)) - discount * p_pi, r_pi)


def policy_iteration(table: dict, discount: float) -> tuple[np.ndarray, np.ndarray]:
    """Howard's policy iteration with exact evaluation by linear solve; (V*, pi*)."""
    n, n_actions = len(table), len(table[0])
    policy = np.zeros(n, dtype=np.int64)
    for _ in range(1000):
        v = solve_policy(table, discount, policy)
        q = np.zeros((n, n_actions))
        for s in range(n):
            for a in range(n_actions):
                q[s, a] = sum(
                    p * (r + (0.0 if t else discount * v[s2])) for p, s2, r, t in table[s][a]
                )
        best = q.argmax(axis=1)
        # Only switch when strictly better, so the loop cannot cycle between ties.
        improve = q[np.arange(n), best] > q[np.arange(n), policy] + 1e-12
        if not improve.any():
            return v, policy
        policy = np.where(improve, best, policy)
    raise AssertionError("policy iteration did not converge")


# --------------------------------------------------------------------------- from_gym


@pytest.mark.parametrize("name", sorted(ENV_SPECS))
def test_from_gym_reproduces_every_outcome_of_p_and_the_start_distribution(name):
    env = make(name)
    un = env.unwrapped
    model = TabularModel.from_gym(un)
    n_states, n_actions = env.observation_space.n, env.action_space.n
    assert model.n_states == n_states and model.n_actions == n_actions
    k = model.probs.shape[2]
    for arr in (model.next_states, model.rewards, model.terminated):
        assert arr.shape == (n_states, n_actions, k)
    for s in range(n_states):
        for a in range(n_actions):
            outs = un.P[s][a]
            n = int(model.n_outcomes[s, a])
            assert n == len(outs)
            got = [
                (
                    model.probs[s, a, j],
                    model.next_states[s, a, j],
                    model.rewards[s, a, j],
                    model.terminated[s, a, j],
                )
                for j in range(n)
            ]
            assert merged(got) == merged(outs), (s, a)
            # Padding carries no probability.
            assert (model.probs[s, a, n:] == 0).all()
    np.testing.assert_allclose(model.probs.sum(axis=2), 1.0, atol=1e-12)
    np.testing.assert_array_equal(model.initial, np.asarray(un.initial_state_distrib))
    assert model.initial.dtype == np.float64
    env.close()


def test_from_gym_rejects_an_env_without_transition_table():
    from dist_classicrl.errors import ConfigError

    env = gym.make("CartPole-v1")
    with pytest.raises(ConfigError, match="CartPoleEnv"):
        TabularModel.from_gym(env.unwrapped)
    env.close()


def test_from_gym_time_limit_defaults_to_the_spec_and_can_be_overridden():
    assert TabularEnv.from_gym(make("frozenlake4x4")).max_episode_steps == 100
    assert TabularEnv.from_gym(make("taxi")).max_episode_steps == 200
    assert TabularEnv.from_gym(make("frozenlake4x4"), max_episode_steps=7).max_episode_steps == 7
    assert not TabularEnv.from_gym(make("cliffwalking")).max_episode_steps


# --------------------------------------------------------------------------- dynamics


def assert_frequencies_match(counts: dict, expected: dict[int, float], n: int, what: str):
    assert set(counts) <= {s for s, p in expected.items() if p > 0}, (what, counts, expected)
    for s2, p in expected.items():
        freq = counts.get(s2, 0) / n
        sigma = np.sqrt(p * (1 - p) / n)
        assert abs(freq - p) <= 5 * sigma + 1e-12, (what, s2, freq, p)


STOCHASTIC_PAIRS = [
    ("frozenlake4x4", 0, 0),  # duplicate outcomes (two moves bump into the wall)
    ("frozenlake4x4", 6, 1),  # two holes (terminal) and one safe cell
    ("frozenlake4x4", 14, 2),  # the goal (reward 1) among the outcomes
    ("frozenlake_success_0.6", 9, 1),  # unequal probabilities 0.6 / 0.2 / 0.2
    ("taxi_rainy", 0, 0),
]


@pytest.mark.parametrize(("name", "state", "action"), STOCHASTIC_PAIRS)
def test_compiled_and_gymnasium_steps_both_sample_next_states_with_p(name, state, action):
    gym_env = make(name)
    table = gym_env.unwrapped.P
    outcomes = merged(table[state][action])
    assert len(outcomes) >= 2  # really stochastic
    by_state: dict[int, float] = defaultdict(float)
    for (s2, _, _), p in outcomes.items():
        by_state[s2] += p

    n = 40_000
    env = TabularEnv.from_gym(gym_env, num_envs=n, seed=17)
    env.reset()
    env.states[:] = state
    res = env.step(np.full(n, action))
    values, counts = np.unique(res.next_obs, return_counts=True)
    assert_frequencies_match(
        dict(zip(values.tolist(), counts.tolist(), strict=True)), by_state, n, "compiled"
    )
    # Reward and terminated flag belong to the sampled outcome.
    for s2, r, term in zip(res.next_obs, res.reward, res.terminated, strict=True):
        assert (int(s2), float(r), bool(term)) in outcomes

    n_gym = 8_000
    un = gym_env.unwrapped
    gym_env.reset(seed=3)
    gym_counts: dict[int, int] = defaultdict(int)
    for _ in range(n_gym):
        un.s = state
        s2, r, term, _, _ = un.step(action)
        assert (int(s2), float(r), bool(term)) in outcomes
        gym_counts[int(s2)] += 1
    assert_frequencies_match(gym_counts, by_state, n_gym, "gymnasium")
    gym_env.close()


@pytest.mark.parametrize("name", ["taxi", "frozenlake5x5_custom", "cliffwalking"])
def test_compiled_resets_sample_the_initial_state_distribution(name):
    gym_env = make(name)
    initial = np.asarray(gym_env.unwrapped.initial_state_distrib)
    n = 150_000
    env = TabularEnv.from_gym(gym_env, num_envs=n, seed=5)
    obs, mask = env.reset()
    assert mask is None
    values, counts = np.unique(obs, return_counts=True)
    assert_frequencies_match(
        dict(zip(values.tolist(), counts.tolist(), strict=True)),
        {s: float(p) for s, p in enumerate(initial) if p > 0},
        n,
        name,
    )
    gym_env.close()


@pytest.mark.parametrize(
    ("name", "limit"), [("frozenlake4x4", 4), ("taxi", 6), ("frozenlake5x5_custom", 9)]
)
def test_time_limit_truncates_exactly_at_step_k_with_true_next_state(name, limit):
    gym_env = make(name)
    table = gym_env.unwrapped.P
    initial = np.asarray(gym_env.unwrapped.initial_state_distrib)
    n = 256
    env = TabularEnv.from_gym(gym_env, num_envs=n, max_episode_steps=limit, seed=8)
    rng = np.random.default_rng(1)
    obs, _ = env.reset()
    assert (initial[obs] > 0).all()
    steps = np.zeros(n, dtype=np.int64)
    n_trunc = n_term = 0
    trunc_not_start = 0
    for _ in range(120):
        actions = rng.integers(0, env.n_actions, n)
        res = env.step(actions)
        steps += 1
        term, trunc = res.terminated, res.truncated
        assert not (term & trunc).any()
        np.testing.assert_array_equal(trunc, ~term & (steps == limit))
        assert (steps <= limit).all()
        for i in range(n):  # the transition really is one of P's outcomes
            key = (int(res.next_obs[i]), float(res.reward[i]), bool(term[i]))
            assert key in merged(table[int(obs[i])][int(actions[i])])
        ended = term | trunc
        np.testing.assert_array_equal(res.obs[~ended], res.next_obs[~ended])
        assert (initial[res.obs[ended]] > 0).all()
        n_trunc += int(trunc.sum())
        n_term += int(term.sum())
        trunc_not_start += int((trunc & (initial[res.next_obs] == 0)).sum())
        steps[ended] = 0
        obs = res.obs
    assert n_trunc > 100 and trunc_not_start > 0
    if name != "taxi":  # random actions rarely finish a taxi ride
        assert n_term > 100


def test_without_time_limit_nothing_is_ever_truncated():
    env = TabularEnv.from_gym(make("cliffwalking"), num_envs=64, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert not env.step(rng.integers(0, 4, 64)).truncated.any()


def test_same_seed_same_trajectory_and_different_seed_differs():
    def run(seed):
        env = TabularEnv.from_gym(make("frozenlake8x8"), num_envs=64, seed=seed)
        obs, _ = env.reset()
        rng = np.random.default_rng(0)
        out = [obs]
        for _ in range(50):
            res = env.step(rng.integers(0, 4, 64))
            out += [res.next_obs, res.reward, res.terminated, res.truncated, res.obs]
        return np.concatenate([x.astype(np.float64) for x in out])

    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


# --------------------------------------------------------------------------- planners


def chain_model() -> TabularModel:
    """Three states: 0 --advance (p=.5, else stay)--> 1 --advance--> 2 (terminal, reward 1).

    Action 0 stays put: reward 0.05 in state 0, 0 elsewhere. State 2 is absorbing.
    """
    probs = np.zeros((3, 2, 2))
    nxt = np.zeros((3, 2, 2), dtype=np.int64)
    rew = np.zeros((3, 2, 2))
    term = np.zeros((3, 2, 2), dtype=bool)
    probs[:, 0, 0] = 1.0
    nxt[:, 0, 0] = [0, 1, 2]
    rew[0, 0, 0] = 0.05
    probs[0, 1] = [0.5, 0.5]
    nxt[0, 1] = [1, 0]
    probs[1, 1, 0] = 1.0
    nxt[1, 1, 0] = 2
    rew[1, 1, 0] = 1.0
    term[1, 1, 0] = True
    probs[2, 1, 0] = 1.0
    nxt[2, 1, 0] = 2
    term[2, :, 0] = True
    n_out = np.array([[1, 2], [1, 1], [1, 1]])
    return TabularModel(probs, nxt, rew, term, n_out, np.array([1.0, 0.0, 0.0]))


def test_value_iteration_on_hand_solved_chain():
    gamma = 0.9
    v, q = value_iteration(chain_model(), gamma)
    # V(1) = 1 (advance); V(0) = .5 g V(1) + .5 g V(0) = .45 / .55 = 9/11 beats staying
    # forever (0.05 / (1 - g) = 0.5); V(2) = 0.
    np.testing.assert_allclose(v, [9 / 11, 1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(
        q, [[0.05 + gamma * 9 / 11, 9 / 11], [gamma, 1.0], [0.0, 0.0]], atol=1e-9
    )


def test_value_iteration_matches_policy_iteration_with_linear_solve_on_frozenlake():
    gamma = 0.99
    env = make("frozenlake4x4")
    table = env.unwrapped.P
    v_ref, pi_ref = policy_iteration(table, gamma)
    model = TabularModel.from_gym(env.unwrapped)
    v, q = value_iteration(model, gamma)
    np.testing.assert_allclose(v, v_ref, atol=1e-7)
    np.testing.assert_allclose(q.max(axis=1), v, atol=1e-12)
    assert model.initial @ v == pytest.approx(v_ref[0], abs=1e-7)
    assert 0.5 < v_ref[0] < 0.6  # the known optimal start value (~0.542) of slippery 4x4
    # Policy iteration's optimal policy is greedy for Q*, and Q*'s greedy policy is optimal.
    np.testing.assert_allclose(q[np.arange(16), pi_ref], v, atol=1e-9)
    np.testing.assert_allclose(solve_policy(table, gamma, q.argmax(axis=1)), v_ref, atol=1e-7)


@pytest.mark.parametrize("name", ["frozenlake8x8", "taxi_rainy", "cliffwalking_slippery"])
def test_policy_value_of_random_policy_matches_linear_solve(name):
    gamma = 0.95
    env = make(name)
    model = TabularModel.from_gym(env.unwrapped)
    policy = np.random.default_rng(10).integers(0, model.n_actions, model.n_states)
    expected = solve_policy(env.unwrapped.P, gamma, policy)
    got = policy_value(model, policy, gamma)
    assert np.abs(expected).max() > 0.01  # not a trivial all-zero comparison
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_finite_horizon_return_matches_monte_carlo_of_gymnasium():
    horizon = 15
    env = make("frozenlake4x4", max_episode_steps=horizon)
    model = TabularModel.from_gym(env.unwrapped)
    _, q = value_iteration(model, 0.99)
    policy = q.argmax(axis=1)
    exact = finite_horizon_return(model, policy, horizon)
    assert 0.05 < exact < 0.95  # the time limit bites: a real comparison

    n = 4000
    total, lengths = 0.0, []
    obs, _ = env.reset(seed=123)
    for _ in range(n):
        done, t = False, 0
        while not done:
            obs, r, term, trunc, _ = env.step(int(policy[obs]))
            total += r
            t += 1
            done = term or trunc
        lengths.append(t)
        obs, _ = env.reset()
    assert max(lengths) == horizon
    sigma = np.sqrt(exact * (1 - exact) / n)
    assert abs(total / n - exact) < 5 * sigma

    # Horizon 1 from the start state: the expected immediate reward (0 on FrozenLake 4x4).
    assert finite_horizon_return(model, policy, 1) == 0.0
    env.close()


def test_evaluate_greedy_on_optimal_q_has_zero_gap_and_bad_policy_has_positive_gap():
    gamma = 0.99
    gym_env = make("frozenlake4x4")
    env = TabularEnv.from_gym(gym_env, num_envs=4, seed=0)
    _, q_star = value_iteration(env.model, gamma)
    report = env.evaluate_greedy(q_star, gamma)
    assert abs(report["optimality_gap"]) < 1e-9
    assert report["optimal_value"] == pytest.approx(report["policy_value"], abs=1e-9)
    assert report["mean_return"] == pytest.approx(
        finite_horizon_return(env.model, q_star.argmax(axis=1), 100), abs=1e-12
    )

    bad_q = np.zeros_like(q_star)
    bad_q[:, 3] = 1.0  # always "up": never reaches the goal on this map
    bad = env.evaluate_greedy(bad_q, gamma)
    assert bad["policy_value"] == pytest.approx(0.0, abs=1e-12)
    assert bad["optimality_gap"] == pytest.approx(1.0, abs=1e-12)
    assert bad["mean_return"] == pytest.approx(0.0, abs=1e-12)

    direct = optimality_gap(env.model, np.full(16, 3), gamma)
    assert direct["optimality_gap"] == bad["optimality_gap"]
    gym_env.close()


# --------------------------------------------------------------------------- rare draw


def _splitmix_state_for_output(out: int) -> int:
    """The SplitMix64 state whose next draw is `out` (inverts dist_classicrl.rng.next_u64)."""
    mask = (1 << 64) - 1
    golden, mix1, mix2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB

    def unxorshift(x: int, k: int) -> int:
        y = x
        for _ in range(64 // k + 1):
            y = x ^ (y >> k)
        return y

    z = unxorshift(out, 31) * pow(mix2, -1, 1 << 64) & mask
    z = unxorshift(z, 27) * pow(mix1, -1, 1 << 64) & mask
    return (unxorshift(z, 30) - golden) & mask


def _state_for_largest_uniform() -> np.ndarray:
    return np.array([_splitmix_state_for_output((1 << 64) - 1)], dtype=np.uint64)


def test_crafted_rng_state_gives_the_largest_uniform_draw():
    from dist_classicrl.rng import uniform

    assert uniform(_state_for_largest_uniform()) == 1.0 - 2.0**-53
    # Taxi's start distribution sums (in floating point) to slightly less than that.
    cum = np.cumsum(TabularModel.from_gym(make("taxi").unwrapped).initial)
    assert cum[-1] < 1.0 - 2.0**-53


def test_reset_never_starts_in_a_state_with_zero_start_probability():
    env = TabularEnv.from_gym(make("taxi"), num_envs=1, seed=0)
    env.rng_state[:] = _state_for_largest_uniform()
    obs, _ = env.reset()
    assert env.model.initial[obs[0]] > 0, obs


def test_an_improper_policy_undiscounted_is_reported_at_once_not_iterated():
    """discount=1: on CliffWalking a policy that walks into the wall forever costs -1 per
    step without end (-inf, found from the policy's graph, not after 100,000 sweeps); the
    optimal policy is proper and keeps its exact value; on FrozenLake a policy stuck in a
    reward-free loop has a finite value (the chance of reaching the goal)."""
    from dist_classicrl.envs import make_env
    from dist_classicrl.envs.tabular_model import divergent_value, optimality_gap, value_iteration

    cliff = make_env("gym", 1, id="CliffWalking-v1", max_episode_steps=200, seed=0).model
    _, q_star = value_iteration(cliff, 1.0)
    optimal = q_star.argmax(axis=1)
    assert divergent_value(cliff, optimal) is None
    assert optimality_gap(cliff, optimal, 1.0)["optimality_gap"] == pytest.approx(0.0)
    up = np.zeros(cliff.n_states, dtype=np.int64)  # action 0: up, into the top wall
    report = optimality_gap(cliff, up, 1.0)  # iterating it gave -100,000 after 100,000 sweeps
    assert report["improper"] == 1.0 and report["policy_value"] == float("-inf")
    lake = make_env("gym", 1, id="FrozenLake-v1", seed=0).model
    left = np.zeros(lake.n_states, dtype=np.int64)
    assert divergent_value(lake, left) is None  # loops earn nothing: a finite value
