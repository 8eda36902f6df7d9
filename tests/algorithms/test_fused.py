"""The fused kernels of ``optimal`` are the unfused path, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from dist_classicrl.algorithms import OptimalQLearning
from dist_classicrl.algorithms.rules import RULES
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.runtimes import SingleRuntime
from dist_classicrl.schedules import Schedule


def make_env_named(name: str, num_envs: int):
    if name.startswith("tictactoe"):  # tictactoe-<opponent>
        return TicTacToeEnv(num_envs, seed=11, opponent=name.partition("-")[2] or "random")
    if name == "frozenlake":
        return make_env("gym", num_envs, id="FrozenLake-v1", seed=11)
    return make_env("gym", num_envs, id="Taxi-v4", seed=11, max_episode_steps=30)


def train(env_name: str, num_envs: int, fused: bool, steps: int, rule: str = "q_learning"):
    env = make_env_named(env_name, num_envs)
    algo = OptimalQLearning(
        env.n_states, env.n_actions, learning_rate=0.5, discount=0.9, epsilon=1.0, seed=5, rule=rule
    )
    runtime = SingleRuntime(eval_points=2, progress=False, fused=fused)
    result = runtime.train(
        algo, env, steps, Schedule(1.0, 0.1, steps // 2), Schedule(0.5, 0.05, steps), seed=11
    )
    return algo, result


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    "env_name", ["tictactoe", "tictactoe-perfect", "tictactoe-self", "frozenlake", "taxi"]
)
@pytest.mark.parametrize("num_envs", [1, 7, 64])
def test_fused_and_unfused_training_give_identical_tables(env_name, num_envs, rule):
    # Taxi is cut at 30 steps: SARSA's extra draw for truncated copies is exercised.
    steps = 20_003  # not a multiple of num_envs: the last batch is partial
    algo_f, fused = train(env_name, num_envs, True, steps, rule)
    algo_u, unfused = train(env_name, num_envs, False, steps, rule)
    assert algo_f.fused_trainer(make_env_named(env_name, num_envs)) is not None
    np.testing.assert_array_equal(fused.q_table, unfused.q_table)
    assert np.abs(fused.q_table).sum() > 0
    assert fused.statistics["episodes"] == unfused.statistics["episodes"] > 0
    assert fused.statistics["mean_return"] == pytest.approx(unfused.statistics["mean_return"])
    np.testing.assert_array_equal(algo_f.rng_state, algo_u.rng_state)


def test_the_opponents_lead_to_different_training():
    tables = [train(f"tictactoe-{o}", 7, True, 20_003)[1].q_table for o in ("perfect", "self")]
    assert not np.array_equal(tables[0], tables[1])
    assert not np.array_equal(tables[0], train("tictactoe", 7, True, 20_003)[1].q_table)


def test_envs_without_a_compiled_step_have_no_fused_trainer():
    env = make_env("gym", 2, id="FrozenLake-v1", backend="vector", seed=0)
    assert OptimalQLearning(16, 4).fused_trainer(env) is None


ALLOCATION_PROBE = """
import numpy as np
from numba.core.runtime import rtsys
from dist_classicrl.algorithms import OptimalQLearning
from dist_classicrl.envs import TicTacToeEnv, make_env
from dist_classicrl.stats import TrainingStatistics
envs = [TicTacToeEnv(16, seed=0, opponent=o) for o in ("random", "perfect", "self")]
envs += [make_env("gym", n, id="Taxi-v4", seed=0) for n in (1, 16)]
rules = ("q_learning", "sarsa", "expected_sarsa")
for env, rule in [(env, rule) for env in envs for rule in rules]:
    algo = OptimalQLearning(env.n_states, env.n_actions, epsilon=0.1, seed=0, rule=rule)
    if hasattr(env, "bind_learner"):
        env.bind_learner(algo)
    env.reset(seed=0)
    run, stats = algo.fused_trainer(env), TrainingStatistics(env.num_envs)
    run(100, stats)
    counts = []
    for steps in (1_000, 1_000_000):
        before = rtsys.get_allocation_stats().alloc
        run(steps, stats)
        counts.append(rtsys.get_allocation_stats().alloc - before)
    print(*counts)
"""


def test_fused_kernels_allocate_nothing_per_step():
    # Numba counts its own allocations when NUMBA_NRT_STATS=1 is set before it is imported.
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_NRT_STATS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", ALLOCATION_PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout.split("\n")
    assert len(list(filter(None, out))) == 5 * 3  # 5 envs x 3 rules
    for line in filter(None, out):
        short, long = map(int, line.split())
        assert short == long  # a call costs a fixed number (boxing its arguments), not per step


RESET_PROBE = """
from dist_classicrl.algorithms import OptimalQLearning
from dist_classicrl.envs import TicTacToeEnv, tictactoe
from dist_classicrl.runtimes import SingleRuntime
from dist_classicrl.schedules import Schedule

for opponent in ("random", "perfect", "self"):
    env = TicTacToeEnv(4, seed=0, opponent=opponent)
    algo = OptimalQLearning(env.n_states, env.n_actions, seed=0)
    SingleRuntime(eval_points=1, progress=False).train(
        algo, env, 1000, Schedule(0.5, 0.5, 0, "constant"), Schedule(0.3, 0.3, 0, "constant")
    )
print(sum(len(reset.signatures) for reset, _ in tictactoe._ENV_KERNELS))
"""


def test_training_through_the_fused_kernel_compiles_no_env_reset():
    # the kernel starts the episodes itself (`TicTacToeEnv.reset_unstarted`): a first run
    # on a fresh install compiles one kernel, not also the env's reset (0.3 s and more)
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", RESET_PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.split() == ["0"]


@pytest.mark.parametrize("rule", ["q_learning", "sarsa"])
@pytest.mark.parametrize("env_name", ["tictactoe", "taxi"])
@pytest.mark.parametrize("num_envs", [1, 8])  # 1: the sequential tabular kernel
def test_fused_and_unfused_count_the_same_visits(env_name, num_envs, rule):
    tables = []
    for fused in (True, False):
        env = make_env_named(env_name, num_envs)
        algo = OptimalQLearning(env.n_states, env.n_actions, epsilon=0.5, seed=1, rule=rule)
        algo.count_visits()
        SingleRuntime(eval_points=1, progress=False, fused=fused).train(
            algo, env, 5_001, Schedule(0.5, 0.5, 0), Schedule(0.1, 0.1, 0), seed=2
        )
        tables.append(algo.visits.copy())
    np.testing.assert_array_equal(tables[0], tables[1])
    assert tables[0].sum() == 5_001
