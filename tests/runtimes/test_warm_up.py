"""A loop warms up only the kernels it will run: on an empty Numba cache each one is
compiled, and the batch kernels and the env's step add about 2.5 s to TicTacToe's first
run, which trains through the fused kernel alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(300)

WARM_UP = """
from dist_classicrl.algorithms import OptimalQLearning, optimal
from dist_classicrl.envs import make_env, tictactoe
from dist_classicrl.runtimes.loop import TrainingLoop

env = make_env({env!r}, 4, seed=0)
algo = OptimalQLearning(env.n_states, env.n_actions, seed=0{replay})
TrainingLoop(algo, env).warm_up()
print(len(optimal.select_actions_kernel.signatures), len(optimal.batch_update_kernel.signatures),
      sum(len(step.signatures) for _, step in tictactoe._ENV_KERNELS))
"""


def _compiled(env: str, replay: str = "") -> list[int]:
    """Signatures of (select_actions, batch_update, TicTacToe's steps) after a warm-up in
    a fresh process."""
    code = WARM_UP.format(env=env, replay=replay)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=240
    )
    return [int(x) for x in out.stdout.split()]


def test_a_fused_loop_compiles_the_fused_kernel_alone():
    assert _compiled("tictactoe") == [0, 0, 0]


def test_a_batch_loop_compiles_the_batch_kernels():
    """Experience replay runs the batch loop: its kernels are warmed up as before."""
    selected, updated, stepped = _compiled("tictactoe", ", replay={'capacity': 1000}")
    assert selected > 0 and updated > 0 and stepped > 0
