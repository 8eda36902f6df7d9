"""The one exception type for user errors, and the small checks that raise it.

A `ConfigError` means "the input is wrong": the app prints its message as one line and
exits non-zero, without a traceback. Programming errors keep raising ordinary exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class ConfigError(ValueError):
    """Bad user input: a config value, an env id, a file. The message is one line."""


def check_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise `ConfigError` unless ``low (<|<=) value (<|<=) high``, naming the rule."""
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ConfigError(
            f"{name}={value!r} is out of range: allowed is {left}{low}, {high}{right}"
        )


def check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    """Raise `ConfigError` unless `value` is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} is not allowed: it must be an integer >= {minimum}")


@contextmanager
def config_key(prefix: str) -> Iterator[None]:
    """Name the key of a `ConfigError` raised inside as ``prefix.KEY``: a class's rules
    name its own fields (``start=1.5 is out of range ...``), the app names where the value
    sits in its config (``schedule.epsilon.start=1.5 ...``)."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(f"{prefix}.{exc}") from None


def needs_extra(feature: str, extra: str) -> ConfigError:
    """The one-line error for `feature` when the packages of its extra (pyproject.toml's
    optional dependencies: ``app``, ``mpi``, ``pettingzoo``) are not installed:
    ``raise needs_extra("runtime=distributed", "mpi") from None``."""
    return ConfigError(f"{feature} needs the {extra} extra: pip install 'dist_classicrl[{extra}]'")
