"""Runtime layer: loops that train any algorithm variant on any batched env."""

from dist_classicrl.runtimes.distributed import DistributedRuntime
from dist_classicrl.runtimes.loop import TrainingLoop
from dist_classicrl.runtimes.parallel import ParallelRuntime, WorkerError
from dist_classicrl.runtimes.single import SingleRuntime, TrainResult

__all__ = [
    "DistributedRuntime",
    "ParallelRuntime",
    "SingleRuntime",
    "TrainResult",
    "TrainingLoop",
    "WorkerError",
]
