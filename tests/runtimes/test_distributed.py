"""DistributedRuntime: ranks started by the runtime itself through the mpich wheel's
mpiexec. Every test is bounded (runtime.timeout_s and pytest-timeout)."""

from __future__ import annotations

import math
import os
import signal
import time

import numpy as np
import pytest

from dist_classicrl.algorithms import OptimalQLearning
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.runtimes import DistributedRuntime, WorkerError
from dist_classicrl.schedules import Schedule

pytestmark = pytest.mark.timeout(300)


def train(env, steps=300_000, ranks=2, rule="q_learning", **kwargs):
    algo = OptimalQLearning(
        env.n_states, env.n_actions, learning_rate=0.5, epsilon=1.0, seed=0, rule=rule
    )
    runtime = DistributedRuntime(
        ranks=ranks, progress=False, eval_points=3, timeout_s=120, **kwargs
    )
    result = runtime.train(
        algo, env, steps, Schedule(1.0, 0.05, steps // 2), Schedule(0.5, 0.01, steps), seed=0
    )
    return algo, result


@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_learn_exactly_the_budget_and_report_communication(ranks):
    algo, result = train(TicTacToeEnv(16, seed=0), steps=300_001, ranks=ranks, sync_every=20_000)
    assert result.status == "completed"
    assert result.steps == 300_001 and result.workers == ranks
    d = result.details
    assert d["ranks"] == ranks and d["sync"] == "allreduce"
    # rounds of sync_every steps per rank, after a short first round that measures speed
    rounds = math.ceil(math.ceil(300_001 / ranks) / 20_000)
    assert rounds <= d["syncs"] <= rounds + 1
    # only the changed entries travel: (index, k * dQ, k), less than a dense [k * dQ, k]
    assert 12 * 100 < d["bytes_per_sync"] < 2 * 3**9 * 9 * 4
    assert 0 <= d["comm_share"] < 1 and len(d["per_rank_steps_per_s"]) == ranks
    np.testing.assert_array_equal(algo.q_values(), result.q_table)
    assert np.abs(result.q_table).sum() > 0
    assert [row["step"] for row in result.curve][-1] == 300_001


@pytest.mark.parametrize("rule", ["q_learning", "sarsa"])
def test_two_ranks_reach_the_taxi_quality_bar(rule):
    algo, result = train(make_env("gym", 64, id="Taxi-v4", seed=0), steps=3_000_000, rule=rule)
    assert algo.rule == rule
    assert result.eval["optimality_gap"] <= 0.02


def test_two_ranks_match_the_single_runtime_on_tictactoe_for_the_same_steps():
    from dist_classicrl.runtimes import SingleRuntime

    steps = 3_000_000  # the default job's budget, schedules and default sync_every
    _, distributed = train(TicTacToeEnv(64, seed=0), steps=steps)
    algo = OptimalQLearning(3**9, 9, learning_rate=0.5, epsilon=1.0, seed=0)
    single = SingleRuntime(eval_points=1, progress=False).train(
        algo,
        TicTacToeEnv(64, seed=0),
        steps,
        Schedule(1.0, 0.05, steps // 2),
        Schedule(0.5, 0.01, steps),
        seed=0,
    )
    # exact evaluation against the random opponent; one point of slack for the seed
    assert distributed.eval["loss_rate"] <= single.eval["loss_rate"] + 0.01
    assert distributed.eval["win_rate"] >= single.eval["win_rate"] - 0.02


class FailingEnv(TicTacToeEnv):
    """Raises in MPI rank 1 after a few steps (pickled into the ranks)."""

    def step(self, actions):
        from mpi4py import MPI

        self.calls = getattr(self, "calls", 0) + 1
        if MPI.COMM_WORLD.Get_rank() == 1 and self.calls == 20:
            raise RuntimeError("boom in rank 1")
        return super().step(actions)


class KilledEnv(TicTacToeEnv):
    """SIGKILLs MPI rank 1 after a few steps."""

    def step(self, actions):
        from mpi4py import MPI

        self.calls = getattr(self, "calls", 0) + 1
        if MPI.COMM_WORLD.Get_rank() == 1 and self.calls == 20:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().step(actions)


class KilledOnLoadEnv(TicTacToeEnv):
    """SIGKILLs MPI rank 1 as it unpickles the job, milliseconds after it started: MPICH
    kills rank 0 a moment later, and the app must still see rank 1 die first."""

    def __setstate__(self, state):
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        self.__dict__.update(state)


@pytest.mark.parametrize(
    ("env_class", "message"),
    [
        (FailingEnv, r"rank 1 \(pid [0-9]+\) failed: RuntimeError: boom in rank 1"),
        # MPICH's banner names one dead rank, not always the first: the app sees which
        # rank ended first and says so when the banner names another
        (
            KilledEnv,
            r"rank 1 \(pid [0-9]+\) died(: killed by signal 9 \(SIGKILL\)| first; mpiexec)",
        ),
        (
            KilledOnLoadEnv,
            r"rank 1 \(pid [0-9]+\) died(: killed by signal 9 \(SIGKILL\)| first; mpiexec)",
        ),
    ],
)
def test_a_failing_or_killed_rank_ends_every_rank_quickly(env_class, message):
    shm_before = set(os.listdir("/dev/shm"))
    start = time.monotonic()
    with pytest.raises(WorkerError, match=message):
        train(env_class(4, seed=0), steps=50_000_000, ranks=3, fused=False)
    assert time.monotonic() - start < 60
    # MPICH's segment was unlinked before any rank could die (mpi_job unlinks it first)
    assert set(os.listdir("/dev/shm")) - shm_before == set()


def test_one_rank_runs_in_process_without_mpiexec():
    _, result = train(TicTacToeEnv(8, seed=0), steps=50_000, ranks=1)
    assert result.steps == 50_000 and result.details["ranks"] == 1


def test_param_server_mode_learns_and_reports_its_traffic():
    _, result = train(
        make_env("gym", 16, id="Taxi-v4", seed=0),
        steps=400_000,
        ranks=3,
        sync="param_server",
        sync_every=20_000,
    )
    assert result.steps == 400_000 and result.details["sync"] == "param_server"
    assert result.details["bytes_per_sync"] >= 3 * 500 * 6 * 4  # table, counts, table back
    assert np.abs(result.q_table).sum() > 0


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_stops_every_rank_and_saves_rank_0(tmp_path, how):
    import json
    import subprocess
    import sys

    out = tmp_path / "job"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dist_classicrl.run",
            "runtime=distributed",
            "runtime.ranks=2",
            "algorithm=list",
            "steps=1000000000",
            f"hydra.run.dir={out}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (out / "run.log").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    time.sleep(4.0)  # the ranks are training
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends
    else:
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == (130 if how == "ctrl-c" else 143), stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["ranks"] == 2
    assert 0 < metrics["steps"] < 1_000_000_000
    assert np.abs(np.load(out / "q_table.npy")).sum() > 0


def test_sparse_exchange_gives_the_visit_weighted_mean_of_the_ranks_changes():
    # Three simulated ranks: pack each one's changes, concatenate the messages as
    # Allgatherv would, apply them, and compare with the dense formula written out.
    from dist_classicrl.runtimes.distributed import apply_mean_changes, pack_changes

    rng = np.random.default_rng(0)
    size = 50
    base = rng.normal(size=size).astype(np.float32)
    tables, visit_counts, messages, counts = [], [], [], []
    for _ in range(3):
        visits = np.where(rng.random(size) < 0.3, rng.integers(1, 5, size), 0).astype(np.int32)
        table = base + np.where(visits > 0, rng.normal(size=size), 0).astype(np.float32)
        tables.append(table)
        visit_counts.append(visits.copy())
        message = np.empty(3 * size, np.int32)
        n = pack_changes(message, table, base, visits)
        assert n == np.count_nonzero(visit_counts[-1]) and not visits.any()  # counts reset
        messages.append(message[: 3 * n])
        counts.append(n)
    k = np.array(visit_counts, dtype=np.float64)
    weighted = sum(k[r] * (tables[r] - base) for r in range(3))
    expected = base + np.divide(weighted, k.sum(0), out=np.zeros(size), where=k.sum(0) > 0)

    private = tables[0].copy()
    num, den = np.zeros(size), np.zeros(size)
    combined = base.copy()
    apply_mean_changes(combined, private, np.concatenate(messages), np.array(counts), num, den)
    np.testing.assert_allclose(combined, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(private, combined)  # rank 0's table takes the new base
    assert not num.any() and not den.any()  # scratch left zero for the next round
    untouched = k.sum(0) == 0
    assert untouched.any() and np.array_equal(combined[untouched], base[untouched])


def test_rounds_are_split_by_speed_in_whole_steps_that_add_up():
    from dist_classicrl.runtimes.distributed import ROUND_SECONDS, ROUND_STEPS, allot, rebalance

    assert allot(10, np.array([0.5, 0.5])).tolist() == [5, 5]
    assert allot(7, np.array([0.5, 0.5])).tolist() == [4, 3]  # remainder to the lower rank
    assert allot(1, np.array([0.2, 0.8])).tolist() == [0, 1]
    split = allot(200_000, np.array([0.3, 0.5, 0.2]))
    assert split.sum() == 200_000 and split.tolist() == [60_000, 100_000, 40_000]
    # rank 1 ran twice as fast last round: its share grows (smoothed, half way)
    totals = np.zeros((2, 8))
    totals[:, ROUND_STEPS] = 100_000
    totals[:, ROUND_SECONDS] = [0.010, 0.005]
    weights = rebalance(np.array([0.5, 0.5]), totals)
    assert weights[1] > weights[0] and weights.sum() == pytest.approx(1.0)
    assert weights[1] / weights.sum() == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    totals[0, ROUND_STEPS] = 0  # a rank without work last round: keep the weights
    np.testing.assert_array_equal(rebalance(weights, totals), weights)
