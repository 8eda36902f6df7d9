"""Runtime layer: loops that train any algorithm variant on any batched env."""

from dist_classicrl.runtimes.single import SingleRuntime, TrainResult

__all__ = ["SingleRuntime", "TrainResult"]
