"""Update rules: what a target bootstraps from (``algorithm.rule``).

The rules differ only in the value of the next state ``s'`` that a target
``r + discount * boot`` uses (the module docstring of `dist_classicrl.algorithms.base`
states them in full):

- ``q_learning``: ``max_a' Q(s', a')`` over the legal actions (off-policy);
- ``sarsa``: ``Q(s', a')`` for the action ``a'`` the policy actually draws in ``s'``;
- ``expected_sarsa``: ``sum_a' pi(a'|s') Q(s', a')`` under the epsilon-greedy policy.

Compiled kernels take the rule as a small int code (one well-predicted branch per step),
so the Q-learning path costs what it cost before rules existed.
"""

from __future__ import annotations

from dist_classicrl.errors import ConfigError
from dist_classicrl.jit import njit

#: Rule names, in the order of their kernel codes.
RULES = ("q_learning", "sarsa", "expected_sarsa")
Q_LEARNING, SARSA, EXPECTED_SARSA = range(len(RULES))


def rule_code(rule: str) -> int:
    """The kernel code of `rule`; `ConfigError` naming the allowed rules otherwise."""
    if rule not in RULES:
        raise ConfigError(f"algorithm.rule={rule!r} is unknown: allowed are {', '.join(RULES)}")
    return RULES.index(rule)


def check_replay_support(rule: str, replay_capacity: int) -> None:
    """SARSA's target needs the action actually taken next, which a replayed transition
    does not carry: refuse the combination before any work."""
    if rule == "sarsa" and replay_capacity > 0:
        raise ConfigError(
            "algorithm.rule=sarsa cannot learn from replayed transitions (its target needs "
            "the next action taken): use algorithm.rule=q_learning or expected_sarsa, or "
            "algorithm.replay.capacity=0"
        )


@njit(cache=True, inline="always")
def expected_value(best, total, n_legal, epsilon):
    """``sum_a pi(a) Q(a)`` for epsilon-greedy over `n_legal` actions whose values sum to
    `total` and peak at `best`: the greedy action (whichever of tied maxima) is worth
    `best`, so the tie rule does not change the value. Every kernel uses this expression
    so that fused and unfused tables agree bit for bit."""
    return (1.0 - epsilon) * best + epsilon * (total / n_legal)


@njit(cache=True, inline="always")
def td_update(value, target, learning_rate):
    """`value` (a table entry) moved a `learning_rate` step toward `target`: the update of
    every compiled kernel (`optimal`, `fused`), in one expression so that their tables
    agree bit for bit. Inlined at each use: the kernels run as fast as with the expression
    written out (``python -m benchmarks.reference_tictactoe``, two runs each in turn,
    2026-12-07: 1.01-1.04x / 1.03-1.04x the reference at 1 / 64 envs, against 1.05-1.06x /
    1.01-1.02x before), and inlined by Numba rather than left to LLVM, a job's first run
    does not compile it as a function of its own (30-50 ms; Numba's compile events). The
    ``list`` and ``numpy`` variants keep their own Python and NumPy forms (NumPy's closed
    form for repeated pairs): independent implementations, so that the tests comparing the
    variants' tables (tests/algorithms/test_semantics.py) check this one too. An array
    helper for the whole in-order loop ran the TicTacToe kernel at 0.6-0.75x at 1 env."""
    return value + learning_rate * (target - value)
