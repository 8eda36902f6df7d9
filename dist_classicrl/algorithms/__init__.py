"""Algorithm layer: tabular Q-learning in three variants with one semantics (see `base`)."""

from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.algorithms.list_q import ListQLearning
from dist_classicrl.algorithms.numpy_q import NumpyQLearning
from dist_classicrl.algorithms.optimal import OptimalQLearning

#: Variants by config name.
VARIANTS: dict[str, type[BaseAlgorithm]] = {
    cls.name: cls for cls in (ListQLearning, NumpyQLearning, OptimalQLearning)
}

__all__ = ["VARIANTS", "BaseAlgorithm", "ListQLearning", "NumpyQLearning", "OptimalQLearning"]
