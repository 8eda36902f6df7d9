"""Runtime layer: one training driver (`driver`) and the runtimes that run its learners."""

from dist_classicrl.runtimes.base import TrainingJob, TrainResult, WorkerError
from dist_classicrl.runtimes.distributed import DistributedRuntime
from dist_classicrl.runtimes.driver import Runtime
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.parallel import ParallelRuntime
from dist_classicrl.runtimes.single import SingleRuntime

__all__ = [
    "DistributedRuntime",
    "ParallelRuntime",
    "Runtime",
    "SingleRuntime",
    "TrainResult",
    "TrainingJob",
    "TrainingLoop",
    "WorkerError",
]
