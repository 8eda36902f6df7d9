"""A parallel learning curve evaluates, at each point, the table that holds all the
learning up to that point's steps (the workers merge their share first), so it tells
the same story as the single-runtime curve of the same job."""

from __future__ import annotations

import numpy as np
import pytest

import dist_classicrl as dc

STEPS, POINTS = 1_200_000, 8  # points 150,000 steps apart: past the noise of Taxi's start


def _curve(runtime: str, **options) -> list[dict]:
    agent = dc.QLearning("taxi", runtime=runtime, seed=0, eval_points=POINTS, **options)
    return agent.learn(STEPS).result.curve


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_parallel_curve_holds_the_learning_of_each_points_steps_as_the_single_one(workers):
    single = _curve("single")
    parallel = _curve("parallel", num_workers=workers)
    # each point's table holds exactly the learning of its steps: the evaluation points,
    # each worker's share rounded up to its whole batches of 64 envs (one worker learns in
    # the shared table itself and stops where the single runtime does)
    points = [round(k * STEPS / POINTS) for k in range(1, POINTS + 1)]
    steps = [r["step"] for r in parallel]
    if workers == 1:
        assert steps == [r["step"] for r in single]
    else:
        assert all(p <= s < p + workers * 64 for p, s in zip(points, steps, strict=True))
        assert steps[-1] == STEPS
    untrained = dc.make_env("taxi", seed=0).evaluate_greedy(np.zeros((500, 6)), 0.99)
    half = untrained["optimality_gap"] / 2
    # where the single runtime's greedy policy has learned, the parallel one has too, at
    # most one point later (its workers learn apart between merges); a curve evaluated on
    # a table that lags its steps (the fault this guards) stays at the untrained value
    for k, row in enumerate(single[:-1]):
        if row["eval_optimality_gap"] < half:
            assert parallel[k + 1]["eval_optimality_gap"] < half, (k, single, parallel)
    assert single[-1]["eval_optimality_gap"] <= 0.01
    assert parallel[-1]["eval_optimality_gap"] <= 0.01
