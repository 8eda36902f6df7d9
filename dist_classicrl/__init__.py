"""dist_classicrl: fast tabular Q-learning and a Hydra benchmark harness around it."""

from dist_classicrl.errors import ConfigError

__version__ = "0.1.0"
__all__ = ["ConfigError", "__version__"]
