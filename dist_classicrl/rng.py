"""Seeded random numbers inside Numba kernels.

Kernels take an explicit ``uint64[1]`` state array instead of using Numba's hidden global
``np.random`` state: runs are reproducible from the job seed, and two objects never share
a stream by accident. The generator is SplitMix64 (Steele et al. 2014): one add, two
multiplies and three xor-shifts per draw, which matters because random numbers are a
large share of a fused Q-learning step.
"""

from __future__ import annotations

import numpy as np

from dist_classicrl.jit import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


#: Stream identifiers: an env and an agent seeded with the same number must not draw the
#: same random numbers (exploration would be correlated with the opponent's moves).
ENV_STREAM, AGENT_STREAM = 1, 2


def make_state(seed: int | None, stream: int) -> np.ndarray:
    """A fresh ``uint64[1]`` kernel RNG state for (`seed`, `stream`); None: from the OS."""
    entropy = None if seed is None else [seed, stream]
    return np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)


@njit(cache=True, inline="always")
def split(x: np.uint64) -> tuple[np.uint64, np.uint64]:
    """One SplitMix64 step on a state held in a local variable: ``(next state, 64 random
    bits)``. A compiled loop keeps such a state in a register, where a ``uint64[1]``
    array's goes through memory at every draw (a store and a load in the draws' chain)."""
    x = x + _GOLDEN
    z = (x ^ (x >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return x, z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def unit(bits: np.uint64) -> float:
    """A float in [0, 1) from the top 53 of 64 random bits."""
    # via int64: a signed conversion is one instruction, an unsigned one is several
    return float(np.int64(bits >> np.uint64(11))) * _TO_UNIT


@njit(cache=True, inline="always")
def below(bits: np.uint64, n: int) -> np.int64:
    """An int in [0, n) for small n from 64 random bits (Lemire's multiply-shift on the
    top 32). `np.int64`, not `int`: Numba compiles the builtin as a function of its own."""
    return np.int64(((bits >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, inline="always")
def next_u64(state: np.ndarray) -> np.uint64:
    x, bits = split(state[0])
    state[0] = x
    return bits


@njit(cache=True, inline="always")
def uniform(state: np.ndarray) -> float:
    """A float in [0, 1) with 53 random bits."""
    return unit(next_u64(state))


@njit(cache=True, inline="always")
def randint(state: np.ndarray, n: int) -> np.int64:
    """An int in [0, n) for small n."""
    return below(next_u64(state), n)
