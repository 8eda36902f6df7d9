"""Experience replay in the training loop: the same semantics in every variant, how much
is replayed, the fused fallback, and every runtime reporting it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.buffers import ReplayConfig
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.runtimes import DistributedRuntime, ParallelRuntime, SingleRuntime
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.replay import FUSED_OFF_REASON, Replayer
from dist_classicrl.schedules import Schedule
from tests.algorithms.test_semantics import NAMES, make
from tests.algorithms.test_semantics import random_batch as random_batch_with_extras

REPLAY = ReplayConfig(capacity=300, batch_size=32, updates_per_step=0.75, warmup=50)


def random_batch(*args, **kwargs) -> tuple:
    """A random batch of the six transition fields (what the buffer stores)."""
    return random_batch_with_extras(*args, **kwargs)[:6]


def reference_q_learning(q: np.ndarray, batch, lr: float, gamma: float) -> np.ndarray:
    """The batch rule written out one transition at a time, in float64: every target from
    the table before the batch, then the updates in order."""
    q = q.astype(np.float64).copy()
    states, actions, rewards, next_states, terminated, masks = batch
    targets = []
    for i in range(len(states)):
        legal = q[next_states[i]] if masks is None else q[next_states[i]][masks[i]]
        boot = 0.0 if terminated[i] or legal.size == 0 else legal.max()
        targets.append(rewards[i] + gamma * boot)
    for s, a, target in zip(states, actions, targets, strict=True):
        q[s, a] += lr * (target - q[s, a])
    return q


def taxi(num_envs: int = 16):
    return make_env("gym", num_envs, id="Taxi-v4", seed=0)


def agent(name: str, env, replay: ReplayConfig | None = REPLAY, epsilon: float = 0.5):
    return VARIANTS[name](
        env.n_states, env.n_actions, learning_rate=0.5, epsilon=epsilon, seed=0, replay=replay
    )


@pytest.mark.parametrize("masked", [False, True])
def test_all_variants_learn_the_same_table_with_replay_as_the_reference_rule(masked):
    """Fresh batches, each followed by the replay owed for it; replayed batches go through
    `batch_update` like any other, so the variants agree with the rule written out."""
    rng = np.random.default_rng(5)
    n_states, n_actions = 12, 4
    batches = [
        random_batch(rng, 24, n_states, n_actions, masked, duplicates=bool(rng.random() < 0.5))
        for _ in range(40)
    ]
    tables, counts = {}, {}
    for name in NAMES:
        algo = make(name, n_states, n_actions, learning_rate=0.5, discount=0.9)
        replayer = Replayer(REPLAY, seed=11)
        for batch in batches:
            algo.batch_update(*batch)
            replayer.after_batch(algo.batch_update, batch)
        tables[name], counts[name] = algo.q_values(), replayer.counts()
    # The reference: float64, one transition at a time, on the same samples (same seed).
    reference = np.zeros((n_states, n_actions))
    replayer = Replayer(REPLAY, seed=11)

    def learn(*batch):
        nonlocal reference
        reference = reference_q_learning(reference, batch, 0.5, 0.9)

    without_replay = np.zeros((n_states, n_actions))
    for batch in batches:
        learn(*batch)
        without_replay = reference_q_learning(without_replay, batch, 0.5, 0.9)
        replayer.after_batch(learn, batch)
    # 40 batches of 24; replay starts at the 3rd (48 < 50 stored before it): 38 * 24 * 0.75
    assert replayer.updates == 32 * math.floor(38 * 24 * 0.75 / 32) == 672
    for name in NAMES:
        np.testing.assert_array_equal(counts[name], replayer.counts())
        np.testing.assert_allclose(tables[name], reference, rtol=1e-5, atol=1e-5)
    assert np.abs(reference - without_replay).max() > 0.1  # replay did change the table


def test_replay_waits_for_warmup_and_carries_fractions_between_batches():
    config = ReplayConfig(capacity=1000, batch_size=64, updates_per_step=3.2, warmup=100)
    replayer = Replayer(config, seed=0)
    learned = []
    for k in range(12):
        batch = random_batch(np.random.default_rng(k), 10, 5, 3, False, False)
        replayer.after_batch(lambda *b: learned.append(len(b[0])), batch)
        if k < 9:  # 10..90 stored: below warmup, nothing owed
            assert replayer.updates == 0 and replayer.owed == 0
    # from the 10th batch on 32 updates are owed per batch: 96 owed, 64 paid, 32 carried
    assert learned == [64] and replayer.batches == 1 and replayer.owed == pytest.approx(32)


@pytest.mark.parametrize("num_envs", [1, 7, 64])
def test_replayed_updates_depend_on_env_steps_only_and_visits_count_them(num_envs):
    config = ReplayConfig(capacity=500, batch_size=16, updates_per_step=0.25)
    env = taxi(num_envs)
    algo = agent("numpy", env, config)
    visits = algo.count_visits()
    loop = TrainingLoop(algo, env)
    loop.start(0)
    for chunk in (333, 1, 666):  # chunks that do not divide the batch
        loop.run(chunk)
    assert loop.replayer.updates == 16 * math.floor(0.25 * 1000 / 16) == 240
    # the parallel merge and the distributed average rely on every update being counted
    assert visits.sum() == 1000 + 240


def test_optimal_with_replay_runs_the_batch_loop_and_says_why():
    env = taxi()
    plain = TrainingLoop(agent("optimal", env, None), env)
    plain.start(0)
    assert plain.fused and plain.details() == {}
    loop = TrainingLoop(agent("optimal", env), env)
    loop.start(0)
    loop.run(1000)
    assert not loop.fused
    details = loop.details()
    assert details["fused_off_reason"] == FUSED_OFF_REASON
    assert details["replay"]["updates"] == loop.replayer.updates > 0
    numpy_loop = TrainingLoop(agent("numpy", env), env)  # never had a fused kernel
    numpy_loop.start(0)
    assert "fused_off_reason" not in numpy_loop.details()


def test_replay_carries_tictactoe_masks_and_is_reproducible_per_seed():
    def train(replay, seed=0):
        env = TicTacToeEnv(8, seed=seed)
        algo = agent("optimal", env, replay, epsilon=1.0)
        loop = TrainingLoop(algo, env)
        loop.start(seed)
        loop.run(3000)
        return loop, algo.q_values().copy()

    loop, table = train(REPLAY)
    assert loop.replayer.buffer.masked
    stored = loop.replayer.buffer.contents().next_masks
    assert (~stored).any() and stored.any(axis=1).mean() > 0.5  # real masks, not all-ones
    np.testing.assert_array_equal(train(REPLAY)[1], table)
    assert (train(REPLAY, seed=1)[1] != table).any()
    assert (train(None)[1] != table).any()


def schedules(steps):
    return Schedule(1.0, 0.05, steps // 2), Schedule(0.5, 0.01, steps)


def test_single_runtime_reports_replay_and_learns_taxi_with_it():
    steps, env = 150_000, taxi(64)
    config = ReplayConfig(capacity=50_000, batch_size=64, updates_per_step=1.0)
    algo = agent("optimal", env, config, epsilon=1.0)
    result = SingleRuntime(eval_points=2, progress=False).train(
        algo, env, steps, *schedules(steps), seed=0
    )
    assert result.steps == steps  # replayed updates are not steps
    assert result.details["replay"]["updates"] == 64 * (steps // 64)
    assert result.details["fused_off_reason"] == FUSED_OFF_REASON
    assert result.eval["optimality_gap"] <= 0.02


@pytest.mark.parametrize(
    ("variant", "kwargs", "fused_off"),
    [
        ("list", {"sync": "merge"}, False),
        ("numpy", {"sync": "shared", "lock": True}, False),  # replays under the lock too
        ("optimal", {"sync": "merge"}, True),
        ("optimal", {"sync": "shared", "lock": True}, False),  # the lock had turned it off
    ],
)
def test_parallel_workers_replay_their_own_experience(variant, kwargs, fused_off):
    steps, env = 20_000, taxi(16)
    config = ReplayConfig(capacity=2000, batch_size=32, updates_per_step=0.5)
    algo = agent(variant, env, config, epsilon=1.0)
    runtime = ParallelRuntime(
        num_workers=2, sync_every=2000, eval_points=2, progress=False, **kwargs
    )
    result = runtime.train(algo, env, steps, *schedules(steps), seed=0)
    assert result.steps == steps and result.status == "completed"
    per_worker = 32 * math.floor(0.5 * (steps // 2) / 32)
    assert result.details["replay"]["updates"] == 2 * per_worker
    assert ("fused_off_reason" in result.details) == fused_off
    assert np.abs(result.q_table).sum() > 0


@pytest.mark.timeout(120)
def test_distributed_ranks_replay_and_rank_zero_reports_the_sum():
    steps, env = 20_000, taxi(16)
    config = ReplayConfig(capacity=2000, batch_size=32, updates_per_step=0.5)
    algo = agent("optimal", env, config, epsilon=1.0)
    runtime = DistributedRuntime(
        ranks=2, sync_every=5000, eval_points=2, progress=False, timeout_s=100
    )
    result = runtime.train(algo, env, steps, *schedules(steps), seed=0)
    assert result.steps == steps and result.status == "completed"
    # The ranks split the steps by their speed (`allot`), n_0 + n_1 = steps; each replays
    # floor(0.5 * n_r / 32) whole batches, so the sum is floor(0.5 * steps / 32) or one less.
    batches = math.floor(0.5 * steps / 32)
    assert result.details["replay"]["updates"] in (32 * (batches - 1), 32 * batches)
    assert result.details["fused_off_reason"] == FUSED_OFF_REASON
