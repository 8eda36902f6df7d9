"""`SingleRuntime`: one process steps a batch of `num_envs` envs and learns from it.

Its one learner runs the driver's loop (`dist_classicrl.runtimes.driver`) in this process
and combines with nobody. Each chunk runs through `TrainingLoop`: one compiled call when
the variant has a fused kernel for the env (``optimal`` on a compiled env), else the
batch loop. Evaluation points fall on schedule ticks and are evaluated when reached, so
the learning curve, like the table, does not depend on how fast the machine is.
"""

from __future__ import annotations

import numpy as np

from dist_classicrl.runtimes.base import Outcome
from dist_classicrl.runtimes.driver import (
    Coordinator,
    Learner,
    Runtime,
    Session,
    schedule_tick,
    warm_up,
)
from dist_classicrl.runtimes.loop import TrainingLoop


class _Alone(Coordinator):
    """The whole budget is this learner's; evaluation points are taken at ticks, and
    checkpoints every ``checkpoint.every`` steps."""

    def __init__(self, session: Session, loop: TrainingLoop) -> None:
        self.session, self.loop = session, loop
        self.steps = session.job.steps
        self.tick = schedule_tick(self.steps, loop.env.num_envs)
        self.learner: Learner | None = None
        self.taken = 0
        plan = session.job.checkpoint
        self.checkpoint_every = plan.every if plan is not None else 0
        self.next_checkpoint = self.checkpoint_every

    def save_checkpoint(self) -> None:
        learner, loop = self.learner, self.loop
        assert learner is not None  # set by SingleRuntime.execute before training
        parts = {
            "algorithm": loop.algorithm.state(),
            "env": loop.env.state(),
            "loop": loop.state(),
            "driver": {"train_time_s": learner.train_time_s, "taken": self.taken},
        }
        self.session.save_checkpoint(parts, learner.done)

    def restore(self, checkpoint) -> None:
        """Continue the run `checkpoint` holds (after `TrainingLoop.start`)."""
        loop, learner = self.loop, self.learner
        assert learner is not None  # set by SingleRuntime.execute before training
        loop.algorithm.load_state(checkpoint.part("algorithm"))
        loop.env.load_state(checkpoint.part("env"))
        if loop.env.exact_state:
            loop.load_state(checkpoint.part("loop"))
        else:  # new episodes in a fresh env: keep the statistics only
            loop.stats.load_state(
                {
                    k.removeprefix("stats_"): v
                    for k, v in checkpoint.part("loop").items()
                    if k.startswith("stats_")
                }
            )
        driver = self.session.restore_driver()
        learner.done = int(driver["done"])
        learner.train_time_s = float(driver["train_time_s"])
        self.taken = int(driver["taken"])
        if self.checkpoint_every:
            self.next_checkpoint = (
                learner.done // self.checkpoint_every + 1
            ) * self.checkpoint_every

    def boundary(self, done: int) -> int:
        return self.steps

    def combine(self, done: int, stopping: bool) -> bool:
        return False  # nobody to combine with: at the boundary or on a stop, finish

    def after_chunk(self, done: int) -> None:
        session, learner = self.session, self.learner
        assert learner is not None  # set by SingleRuntime.execute before training
        session.progress(done)
        if self.checkpoint_every and done >= self.next_checkpoint and done < self.steps:
            self.save_checkpoint()
            self.next_checkpoint = (done // self.checkpoint_every + 1) * self.checkpoint_every
        at_tick = done % self.tick == 0 or done == self.steps
        while at_tick and done < self.steps and session.eval_due(done, self.taken):
            table = self.loop.algorithm.q_values()
            session.evaluate(done, table, self.loop.stats.totals(), learner.train_time_s)
            self.taken += 1


class SingleRuntime(Runtime):
    """Single-process training (module docstring)."""

    name = "single"

    def execute(self, session: Session) -> Outcome:
        job = session.job
        loop = TrainingLoop(job.algorithm, job.env, fused=self.fused)
        compile_time = warm_up(session, loop)
        loop.start(job.seed)
        coordinator = _Alone(session, loop)
        learner = Learner(loop, job, coordinator, lambda: session.stop.requested)
        coordinator.learner = learner
        if job.resume is not None:  # the counters below continue from the checkpoint's
            coordinator.restore(job.resume)
        learner.run()
        if job.checkpoint is not None:  # at the end, and when stopped
            coordinator.save_checkpoint()
        job.algorithm.step_count += learner.done
        job.algorithm.episode_count += loop.stats.episodes
        return Outcome(
            q_table=np.array(job.algorithm.q_values(), dtype=np.float32),
            steps=learner.done,
            totals=np.array(loop.stats.totals()),
            train_time_s=learner.train_time_s,
            compile_time_s=compile_time,
            details=loop.details(),
        )
