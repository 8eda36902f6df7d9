"""Gymnasium wrappers that give an env the ``Discrete`` spaces tabular Q-learning needs.

``wrapper=flatten`` is `FlattenMultiDiscreteWrapper` (``Tuple`` / ``MultiDiscrete`` to one
index, observations and actions); ``wrapper=discretize`` is `BinnedObservation`
(``Box`` observations binned into a grid).
"""

from dist_classicrl.wrappers.discretize import BinnedObservation
from dist_classicrl.wrappers.flatten import (
    FlattenDiscreteAction,
    FlattenDiscreteObservation,
    FlattenMultiDiscreteWrapper,
)

__all__ = [
    "BinnedObservation",
    "FlattenDiscreteAction",
    "FlattenDiscreteObservation",
    "FlattenMultiDiscreteWrapper",
]
