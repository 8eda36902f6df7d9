"""The documented semantics (algorithms/base.py), pinned the same way for every variant."""

from __future__ import annotations

import numpy as np
import pytest

from dist_classicrl.algorithms import VARIANTS, BaseAlgorithm
from dist_classicrl.algorithms.rules import RULES
from dist_classicrl.envs.base import StepResult
from dist_classicrl.errors import ConfigError

NAMES = sorted(VARIANTS)


def make(name: str, n_states: int = 6, n_actions: int = 4, **kwargs) -> BaseAlgorithm:
    kwargs.setdefault("learning_rate", 0.3)
    kwargs.setdefault("discount", 0.9)
    kwargs.setdefault("seed", 0)
    return VARIANTS[name](n_states, n_actions, **kwargs)


def random_batch(
    rng: np.random.Generator, n: int, n_states: int, n_actions: int, masked: bool, duplicates: bool
):
    high = 2 if duplicates else n_states  # few states: many repeated (s, a) pairs
    states = rng.integers(0, high, n)
    actions = rng.integers(0, n_actions if not duplicates else 2, n)
    rewards = rng.normal(size=n)
    next_states = rng.integers(0, n_states, n)
    terminated = rng.random(n) < 0.25
    masks = rng.random((n, n_actions)) < 0.6 if masked else None
    next_actions = rng.integers(0, n_actions, n)  # SARSA's a' (only read for that rule)
    return states, actions, rewards, next_states, terminated, masks, next_actions


def epsilon_greedy_probabilities(row: np.ndarray, legal: np.ndarray, epsilon: float):
    """pi(.|s') action by action: epsilon spread over the legal actions, the rest on the
    lowest-index maximal legal action."""
    probs = np.zeros(len(row))
    probs[legal] = epsilon / legal.size
    probs[legal[np.argmax(row[legal])]] += 1.0 - epsilon
    return probs


def reference_batch_update(
    q: np.ndarray, batch, lr: float, gamma: float, rule: str = "q_learning", epsilon: float = 0.0
) -> np.ndarray:
    """The rule written out one transition at a time, in float64 (independent of variants)."""
    q = q.astype(np.float64).copy()
    states, actions, rewards, next_states, terminated, masks, next_actions = batch
    targets = []
    for i in range(len(states)):
        row = q[next_states[i]]
        legal = np.arange(len(row)) if masks is None else np.flatnonzero(masks[i])
        if terminated[i] or legal.size == 0:
            boot = 0.0
        elif rule == "q_learning":
            boot = row[legal].max()
        elif rule == "sarsa":
            boot = row[next_actions[i]]
        else:
            boot = epsilon_greedy_probabilities(row, legal, epsilon) @ row
        targets.append(rewards[i] + gamma * boot)
    for i in range(len(states)):
        s, a = states[i], actions[i]
        q[s, a] += lr * (targets[i] - q[s, a])
    return q


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("duplicates", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_batch_update_matches_the_documented_rule(name, masked, duplicates, rule):
    rng = np.random.default_rng(1)
    algo = make(name, rule=rule, epsilon=0.3)
    q = np.zeros((6, 4))
    for _ in range(20):
        batch = random_batch(rng, 64, 6, 4, masked, duplicates)
        algo.batch_update(*batch)
        q = reference_batch_update(q, batch, 0.3, 0.9, rule, epsilon=0.3)
    np.testing.assert_allclose(algo.q_values(), q, rtol=1e-5, atol=1e-5)
    assert np.abs(q).max() > 0.1  # the batches did move the table


def test_the_rules_give_different_tables_on_the_same_batches():
    rng = np.random.default_rng(4)
    batches = [random_batch(rng, 64, 6, 4, True, False) for _ in range(10)]
    tables = []
    for rule in RULES:
        algo = make("numpy", rule=rule, epsilon=0.3)
        for batch in batches:
            algo.batch_update(*batch)
        tables.append(algo.q_values().copy())
    for i in range(len(RULES)):
        for j in range(i):
            assert np.abs(tables[i] - tables[j]).max() > 1e-3, (RULES[i], RULES[j])


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_actions", [5, 70])  # 70: masks wider than one machine word
@pytest.mark.parametrize("masked", [False, True])
def test_all_variants_produce_the_same_table_and_greedy_actions(masked, n_actions, rule):
    rng = np.random.default_rng(7)
    algos = {
        name: make(name, 40, n_actions, learning_rate=0.5, discount=0.95, rule=rule, epsilon=0.2)
        for name in NAMES
    }
    for _ in range(50):
        batch = random_batch(rng, 128, 40, n_actions, masked, duplicates=bool(rng.random() < 0.5))
        for algo in algos.values():
            algo.batch_update(*batch)
    tables = {name: algo.q_values() for name, algo in algos.items()}
    for name in NAMES[1:]:
        np.testing.assert_allclose(tables[name], tables[NAMES[0]], rtol=1e-5, atol=1e-6)
    states = np.arange(40)
    masks = rng.random((40, n_actions)) < 0.7 if masked else None
    if masks is not None:
        masks[:, 0] = True
    greedy = {name: algo.greedy_actions(states, masks) for name, algo in algos.items()}
    for algo in algos.values():  # epsilon 0 selection is the greedy choice
        algo.epsilon = 0.0
    for name in NAMES:
        np.testing.assert_array_equal(greedy[name], greedy[NAMES[0]])
        np.testing.assert_array_equal(algos[name].select_actions(states, masks), greedy[name])


def test_duplicates_get_one_ordinary_update_each_in_closed_form():
    # k updates of one pair toward targets t_1..t_k: (1-lr)^k Q + sum lr (1-lr)^(k-j) t_j
    for name in NAMES:
        algo = make(name, 3, 2, learning_rate=0.5, discount=0.0)
        algo.load_q_values(np.full((3, 2), 1.0, dtype=np.float32))
        rewards = np.array([2.0, 4.0, 8.0])
        n = len(rewards)
        algo.batch_update(
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            rewards,
            np.ones(n, dtype=np.int64),
            np.zeros(n, dtype=bool),
        )
        expected = 0.125 * 1.0 + 0.5 * (0.25 * 2.0 + 0.5 * 4.0 + 1.0 * 8.0)
        assert algo.q_values()[0, 0] == pytest.approx(expected, rel=1e-6), name
        # np.add.at would have given 1 + 0.5 * ((2-1) + (4-1) + (8-1)) = 6.5
        assert algo.q_values()[0, 0] != pytest.approx(6.5)


@pytest.mark.parametrize("name", NAMES)
def test_single_update_is_the_textbook_rule_and_terminal_does_not_bootstrap(name):
    algo = make(name, 3, 2, learning_rate=0.5, discount=0.9)
    algo.load_q_values(np.array([[0, 0], [10, 4], [0, 0]], dtype=np.float32))
    algo.update(0, 1, 1.0, 1, False)
    assert algo.q_values()[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * 10))
    algo.update(2, 0, 1.0, 1, True)
    assert algo.q_values()[2, 0] == pytest.approx(0.5)
    # masked bootstrap: only legal next actions count
    algo.update(2, 1, 0.0, 1, False, next_mask=np.array([False, True]))
    assert algo.q_values()[2, 1] == pytest.approx(0.5 * 0.9 * 4)


@pytest.mark.parametrize("name", NAMES)
def test_sarsa_bootstraps_from_the_next_action_and_expected_sarsa_from_the_policy(name):
    table = np.array([[0, 0, 0], [10, 4, 1], [0, 0, 0]], dtype=np.float32)
    sarsa = make(name, 3, 3, learning_rate=0.5, discount=0.9, rule="sarsa")
    sarsa.load_q_values(table)
    sarsa.update(0, 1, 1.0, 1, False, next_action=2)  # a' = 2 although 0 is greedy
    assert sarsa.q_values()[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * 1))
    sarsa.update(2, 0, 1.0, 1, True, next_action=0)  # terminal: no bootstrap
    assert sarsa.q_values()[2, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="next_actions"):
        sarsa.update(0, 0, 1.0, 1, False)
    expected = make(name, 3, 3, learning_rate=0.5, discount=0.9, rule="expected_sarsa")
    expected.load_q_values(table)
    expected.epsilon = 0.3  # the epsilon in force at the update
    expected.update(0, 1, 1.0, 1, False)
    boot = 0.7 * 10 + 0.3 * (10 + 4 + 1) / 3
    assert expected.q_values()[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * boot))
    expected.update(2, 1, 0.0, 1, False, next_mask=np.array([False, True, True]))
    assert expected.q_values()[2, 1] == pytest.approx(0.5 * 0.9 * (0.7 * 4 + 0.3 * 2.5))
    expected.update(2, 2, 0.0, 1, False, next_mask=np.zeros(3, dtype=bool))
    assert expected.q_values()[2, 2] == 0.0  # no legal next action: nothing to bootstrap


@pytest.mark.parametrize("name", NAMES)
def test_expected_sarsa_ties_do_not_change_the_value(name):
    algo = make(name, 2, 4, learning_rate=1.0, discount=1.0, rule="expected_sarsa")
    algo.load_q_values(np.array([[0, 0, 0, 0], [3, 3, 3, 1]], dtype=np.float32))
    algo.epsilon = 0.5
    algo.update(0, 0, 0.0, 1, False)
    assert algo.q_values()[0, 0] == pytest.approx(0.5 * 3 + 0.5 * 10 / 4)


@pytest.mark.parametrize("name", NAMES)
def test_sarsa_next_actions_are_executed_and_truncated_copies_draw_one_more(name):
    algo = make(name, 4, 3, epsilon=0.0, rule="sarsa")
    algo.load_q_values(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32))
    step = StepResult(
        next_obs=np.array([1, 2, 2]),
        reward=np.zeros(3),
        terminated=np.array([False, True, False]),
        truncated=np.array([False, False, True]),
        next_mask=None,
        obs=np.array([1, 3, 3]),  # copies 1 and 2 reset to state 3
        mask=None,
    )
    executed, targets = algo.next_actions(step)
    np.testing.assert_array_equal(executed, [1, 0, 0])  # greedy in obs: what runs next
    np.testing.assert_array_equal(targets, [1, 0, 2])  # copy 2: a' of its true next state


def test_an_unknown_rule_is_one_config_error_naming_the_allowed_ones():
    for name in NAMES:
        with pytest.raises(
            ConfigError,
            match=r"^algorithm.rule='td_lambda' is unknown: allowed are q_learning, sarsa, "
            r"expected_sarsa$",
        ):
            make(name, rule="td_lambda")


@pytest.mark.parametrize("name", NAMES)
def test_masked_epsilon_greedy_never_picks_an_illegal_action(name):
    rng = np.random.default_rng(3)
    algo = make(name, 10, 9, epsilon=0.5)
    algo.load_q_values(rng.normal(size=(10, 9)).astype(np.float32))
    states = rng.integers(0, 10, 5000)
    masks = rng.random((5000, 9)) < 0.3
    masks[np.arange(5000), rng.integers(0, 9, 5000)] = True
    actions = algo.select_actions(states, masks)
    assert masks[np.arange(5000), actions].all()
    explored = actions != algo.greedy_actions(states, masks)
    assert 0.3 < explored.mean() < 0.5  # about epsilon * (1 - 1/n_legal) of the choices
    for i in range(200):
        assert masks[i, algo.select_action(int(states[i]), masks[i])]


@pytest.mark.parametrize("name", NAMES)
def test_greedy_ties_go_to_the_lowest_legal_index(name):
    algo = make(name, 2, 5, epsilon=0.0)
    algo.load_q_values(np.array([[1, 3, 3, 0, 3], [0, 0, 0, 0, 0]], dtype=np.float32))
    assert algo.select_action(0) == 1
    assert algo.select_action(0, np.array([True, False, True, True, True])) == 2
    assert algo.select_action(1, np.array([False, False, False, True, True])) == 3
    np.testing.assert_array_equal(algo.greedy_actions(np.array([0, 1])), [1, 0])


@pytest.mark.parametrize("name", NAMES)
def test_exploration_is_uniform_over_legal_actions(name):
    algo = make(name, 1, 6, epsilon=1.0)
    mask = np.array([[True, False, True, False, True, True]])
    actions = algo.select_actions(np.zeros(60_000, dtype=np.int64), np.repeat(mask, 60_000, 0))
    counts = np.bincount(actions, minlength=6)
    assert counts[[1, 3]].sum() == 0
    expected = 60_000 / 4
    assert np.all(np.abs(counts[[0, 2, 4, 5]] - expected) < 5 * np.sqrt(expected))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_actions_and_different_seed_different_actions(name):
    states = np.zeros(200, dtype=np.int64)
    a = make(name, 1, 9, epsilon=1.0, seed=5).select_actions(states)
    b = make(name, 1, 9, epsilon=1.0, seed=5).select_actions(states)
    c = make(name, 1, 9, epsilon=1.0, seed=6).select_actions(states)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.0},
        {"learning_rate": 1.5},
        {"discount": -0.1},
        {"discount": 1.1},
        {"epsilon": 2.0},
    ],
)
def test_out_of_range_hyper_parameters_raise_config_error(name, kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        make(name, **kwargs)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", NAMES)
def test_train_episode_runs_to_truncation_and_learns_on_a_gymnasium_env(name, rule):
    import gymnasium as gym

    env = gym.make("CliffWalking-v1", max_episode_steps=20)
    algo = make(name, 48, 4, epsilon=1.0, learning_rate=0.5, discount=0.9, rule=rule)
    total = algo.train_episode(env)
    assert algo.step_count <= 20 and algo.episode_count == 1
    assert total <= -algo.step_count  # every CliffWalking step costs at least 1
    assert (algo.q_values() < 0).any()


@pytest.mark.parametrize("name", NAMES)
def test_visit_counts_count_every_applied_update(name):
    rng = np.random.default_rng(2)
    algo = make(name, 6, 4)
    assert algo.visits is None
    visits = algo.count_visits()
    expected = np.zeros((6, 4), dtype=np.int64)
    for duplicates in (False, True, True):
        batch = random_batch(rng, 50, 6, 4, masked=True, duplicates=duplicates)
        algo.batch_update(*batch)
        np.add.at(expected, (batch[0], batch[1]), 1)
    np.testing.assert_array_equal(visits, expected)
    assert algo.visits is visits
