"""`ExperienceBuffer` and `ReplayConfig` (dist_classicrl/buffers.py)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dist_classicrl.buffers import ExperienceBuffer, ReplayConfig
from dist_classicrl.errors import ConfigError

N_ACTIONS = 5


def transitions(first: int, n: int, masked: bool = False):
    """Transitions numbered first..first+n-1: every field is a function of the number, so
    a stored or sampled row can be checked against the number in its `states` field."""
    ids = np.arange(first, first + n, dtype=np.int64)
    masks = mask_of(ids) if masked else None
    return ids, ids % N_ACTIONS, ids * 0.5, ids + 1000, ids % 3 == 0, masks


def mask_of(ids: np.ndarray) -> np.ndarray:
    return (ids[:, None] >> np.arange(N_ACTIONS)) & 1 == 1


def assert_consistent(batch) -> None:
    states, actions, rewards, next_states, terminated, masks = batch
    np.testing.assert_array_equal(actions, states % N_ACTIONS)
    np.testing.assert_array_equal(rewards, states * 0.5)
    np.testing.assert_array_equal(next_states, states + 1000)
    np.testing.assert_array_equal(terminated, states % 3 == 0)
    if masks is not None:
        np.testing.assert_array_equal(masks, mask_of(states))


def make(capacity: int, masked: bool = False, seed: int = 0) -> ExperienceBuffer:
    return ExperienceBuffer(capacity, np.random.default_rng(seed), N_ACTIONS if masked else None)


def test_batches_fill_the_ring_in_order_and_wrap_around_over_the_oldest():
    buffer = make(5)
    buffer.add(*transitions(0, 3))
    assert len(buffer) == 3 and buffer.position == 3
    np.testing.assert_array_equal(buffer.contents().states, [0, 1, 2])
    buffer.add(*transitions(3, 4))  # 2 slots to the end, then 2 over the oldest
    assert len(buffer) == 5 and buffer.position == 2
    contents = buffer.contents()
    np.testing.assert_array_equal(contents.states, [2, 3, 4, 5, 6])  # oldest first
    assert_consistent(contents)


def test_a_batch_longer_than_the_buffer_keeps_its_newest_transitions():
    buffer = make(4, masked=True)
    buffer.add(*transitions(0, 3, masked=True))
    buffer.add(*transitions(3, 10, masked=True))  # 3..12: only 9..12 survive
    assert len(buffer) == 4
    contents = buffer.contents()
    np.testing.assert_array_equal(contents.states, [9, 10, 11, 12])
    assert_consistent(contents)


@pytest.mark.parametrize("masked", [False, True])
def test_samples_come_only_from_filled_slots_uniformly_with_every_field_and_mask(masked):
    buffer = make(1000, masked=masked)
    buffer.add(*transitions(100, 10, masked=masked))
    seen = []
    for _ in range(200):
        batch = buffer.sample(50)
        assert (batch.next_masks is not None) == masked
        assert_consistent(batch)
        seen.append(batch.states.copy())
    counts = np.bincount(np.concatenate(seen) - 100)
    assert counts.size == 10  # nothing outside the 10 stored transitions (slots 10.. are 0)
    expected = 10_000 / 10
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_same_seed_same_samples_and_another_seed_other_samples():
    def draws(seed):
        buffer = make(64, seed=seed)
        buffer.add(*transitions(0, 64))
        return np.concatenate([buffer.sample(16).states.copy() for _ in range(10)])

    np.testing.assert_array_equal(draws(3), draws(3))
    assert (draws(3) != draws(4)).any()


def test_adding_and_sampling_allocate_nothing_that_stays():
    buffer = make(2048, masked=True)
    fields = [f.__array_interface__["data"][0] for f in buffer._fields]
    batch = transitions(0, 64, masked=True)

    def cycle(times):
        for _ in range(times):
            buffer.add(*batch)
            buffer.sample(32)

    cycle(100)  # fill the ring and create the sample outputs
    tracemalloc.start()
    try:
        cycle(10)
        before = tracemalloc.get_traced_memory()[0]
        cycle(2000)  # 128k transitions through a 2k ring
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16_384, grown
    assert [f.__array_interface__["data"][0] for f in buffer._fields] == fields
    out = buffer.sample(32)
    assert out.states is buffer.sample(32).states  # the outputs are reused, not reallocated


def test_masks_must_match_how_the_buffer_was_made_and_an_empty_buffer_cannot_sample():
    with pytest.raises(ValueError, match="pass next_masks"):
        make(8, masked=True).add(*transitions(0, 2))
    with pytest.raises(ValueError, match="next_masks must be None"):
        make(8).add(*transitions(0, 2, masked=True))
    with pytest.raises(ValueError, match="empty"):
        make(8).sample(4)


BAD_CONFIGS = [
    ({"capacity": -1}, "algorithm.replay.capacity=-1 is not allowed"),
    ({"capacity": 1.5}, "algorithm.replay.capacity=1.5 is not allowed"),
    ({"batch_size": 0}, "algorithm.replay.batch_size=0 is not allowed"),
    ({"updates_per_step": 0.0}, "algorithm.replay.updates_per_step=0.0 is out of range"),
    ({"updates_per_step": float("inf")}, "algorithm.replay.updates_per_step=inf is out"),
    ({"warmup": -3}, "algorithm.replay.warmup=-3 is not allowed"),
    ({"capacity": 10, "batch_size": 64}, "batch_size=64 is larger than algorithm.replay.cap"),
    ({"capacity": 100, "warmup": 101}, "warmup=101 is larger than algorithm.replay.capacity"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_replay_settings_are_one_line_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as info:
        ReplayConfig(**kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_replay_is_off_by_default_and_settings_come_from_a_mapping():
    assert not ReplayConfig().enabled
    config = ReplayConfig.from_any({"capacity": 100, "batch_size": 8})
    assert config.enabled and config.batch_size == 8
    assert ReplayConfig.from_any(config) is config
    assert not ReplayConfig.from_any(None).enabled
