"""`Replayer`: experience replay inside `TrainingLoop`, one call per env batch learned.

After the loop has learned a batch of env transitions, `after_batch` stores it in an
`ExperienceBuffer` and pays the replay owed for it (`ReplayConfig`): whole batches sampled
uniformly from the buffer, each learned with the variant's ordinary ``batch_update``, so a
replayed batch has exactly the documented batch semantics. The number of replayed
updates depends only on the env transitions learned, not on ``num_envs`` or on how a
runtime chunks its budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dist_classicrl.buffers import ExperienceBuffer, ReplayConfig

#: Mixed into the loop's seed so the sampling stream is independent of the others.
REPLAY_STREAM = 0x52504C59

#: Why the fused kernel is off when replay is on (recorded in metrics.json).
FUSED_OFF_REASON = (
    "algorithm.replay is on: the fused kernel learns from env steps only, "
    "so the batch loop runs instead"
)


class Replayer:
    """Stores learned batches and replays sampled ones (module docstring)."""

    def __init__(self, config: ReplayConfig, seed: int | None = None) -> None:
        self.config = config
        self.rng = np.random.default_rng(None if seed is None else [seed, REPLAY_STREAM])
        self.buffer: ExperienceBuffer | None = None  # made at the first batch (masks or not)
        self.owed = 0.0  # replayed updates owed, less than one batch between calls
        self.updates = 0  # replayed transitions learned
        self.batches = 0

    def after_batch(self, learn: Callable[..., Any], batch: tuple) -> None:
        """Store the transitions of `batch` (its first six fields, in ``batch_update``'s
        order: states, actions, rewards, next states, terminated, next masks or None) and
        replay what is owed for them through `learn` (``batch_update`` or a locked wrapper)."""
        transition = batch[:6]
        if self.buffer is None:
            masks = transition[5]
            width = None if masks is None else masks.shape[1]
            self.buffer = ExperienceBuffer(self.config.capacity, self.rng, width)
        buffer, size = self.buffer, self.config.batch_size
        buffer.add(*transition)
        if len(buffer) < self.config.warmup:
            return
        self.owed += self.config.updates_per_step * len(batch[0])
        while self.owed >= size:
            learn(*buffer.sample(size))
            self.owed -= size
            self.updates += size
            self.batches += 1

    def counts(self) -> np.ndarray:
        """``[replayed updates, replayed batches]`` so far."""
        return np.array([self.updates, self.batches], dtype=np.int64)


def replay_details(config: ReplayConfig, counts: np.ndarray) -> dict[str, Any]:
    """metrics.json entries for replay from `counts` ``int64[workers, 3]``: per worker (or
    rank, or the one loop) its replayed updates, replayed batches, and 1 if replay turned
    a fused kernel off. Empty when replay is off."""
    if not config.enabled:
        return {}
    updates, batches, fused_off = (int(c) for c in np.asarray(counts).sum(axis=0))
    details: dict[str, Any] = {
        "replay": {
            "capacity": config.capacity,
            "batch_size": config.batch_size,
            "updates_per_step": config.updates_per_step,
            "warmup": config.warmup,
            "updates": updates,
            "batches": batches,
        }
    }
    if fused_off:
        details["fused_off_reason"] = FUSED_OFF_REASON
    return details
