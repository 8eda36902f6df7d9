"""Shared set-up for the asv suite (append-only: existing names keep their meaning)."""

import statistics
import time

import numpy as np

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.envs import TicTacToeEnv, make_env

VARIANT_NAMES = ["list", "numpy", "optimal"]
ENV_NAMES = ["tictactoe", "taxi"]
NUM_ENVS = [1, 64, 4096]


def make_env_named(name, num_envs, seed=0):
    if name == "tictactoe":
        return TicTacToeEnv(num_envs, seed=seed)
    return make_env("gym", num_envs, id="Taxi-v4", seed=seed)


def make_algorithm(variant, env, seed=0):
    return VARIANTS[variant](
        env.n_states, env.n_actions, learning_rate=0.1, discount=0.99, epsilon=0.1, seed=seed
    )


def random_batch(env, num_envs, seed=0):
    """A batch of transitions shaped like one env step (with masks for TicTacToe)."""
    rng = np.random.default_rng(seed)
    masks = rng.random((num_envs, env.n_actions)) < 0.6 if env.has_action_mask else None
    if masks is not None:
        masks[:, 0] = True
    return (
        rng.integers(0, env.n_states, num_envs),
        rng.integers(0, env.n_actions, num_envs),
        rng.normal(size=num_envs),
        rng.integers(0, env.n_states, num_envs),
        rng.random(num_envs) < 0.2,
        masks,
    )


def calibration_kind(variant, num_envs):
    """The calibration workload (`calibration.KINDS`) doing the kind of work that bounds a
    training loop's speed."""
    if variant == "optimal":
        return "compiled"  # the fused kernel: one Numba loop, no Python per step
    if variant == "numpy" and num_envs > 1:
        return "numpy"
    return "python"  # lists, or NumPy calls on batches of one: the interpreter's overhead


def interleaved(work, calibrate, pairs):
    """Call `calibrate` then `work`, `pairs` times over, so that whatever else loads the
    machine meets both in the same stretch of time.

    Returns the shortest calibration time over the shortest work time, both in CPU time of
    this process (the time it waits for a core while others run is not counted), and the
    median wall time of one `work` call. The shortest of each is its least disturbed call:
    on the loaded 2-core machine this held closer than the median of per-pair ratios
    (docs/benchmarks.md, "Reading the calibrated history").
    """
    calibration_s, work_s, walls = [], [], []
    for _ in range(pairs):
        start = time.process_time()
        calibrate()
        calibration_s.append(time.process_time() - start)
        start_wall, start = time.perf_counter(), time.process_time()
        work()
        work_s.append(time.process_time() - start)
        walls.append(time.perf_counter() - start_wall)
    return min(calibration_s) / min(work_s), statistics.median(walls)
