"""Check a command line before Hydra starts any job, and say what is wrong in one line.

Every override is composed with the same config Hydra will use; a sweep is checked value
by value (each swept value with the other overrides at their first value), so that a bad
value in job 7 of a sweep stops the sweep before job 1. The composed config is then
validated (`app.config.validate`) and its env built once, which catches unknown
Gymnasium ids and non-discrete spaces.
"""

from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import (
    HydraException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import OmegaConfBaseException

from dist_classicrl.app.config import validate
from dist_classicrl.app.job import build
from dist_classicrl.errors import ConfigError

CONFIG_MODULE = "dist_classicrl.conf"
CONFIG_NAME = "config"

#: Flags after which Hydra does something other than running jobs: leave it to Hydra.
_HYDRA_INFO_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--version",
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
}


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _explain(exc: BaseException) -> str:
    """One line out of Hydra's and OmegaConf's multi-line errors."""
    if isinstance(exc, MissingConfigException):
        missing = str(exc.missing_cfg_file or "")
        group, _, option = missing.rpartition("/")
        options = ", ".join(o for o in (exc.options or []) if not o.startswith("base_"))
        if group and options:
            return f"{group}={option} is not a known option: allowed are {options}"
        return _first_line(str(exc))
    message = _first_line(str(exc))
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        reason = _first_line(str(cause))
        if "not in" in reason and key:
            return f"{key}: no such key ({reason}); add new keys with +{key}=..."
        return f"{key}: {reason}" if key else f"{message} {reason}"
    if isinstance(exc, OmegaConfBaseException):
        key = getattr(exc, "full_key", None)
        return f"{key}: {message}" if key else message
    return message


def _job_override_sets(overrides: list[str]) -> list[list[str]]:
    """The override lists to check: one per swept value, others at their first value."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    kept = [o for o in parsed if not o.key_or_group.startswith("hydra")]
    values: list[list[str]] = []
    for o in kept:
        if o.is_sweep_override():
            try:
                values.append([f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
            except Exception:  # glob() and friends need the config: Hydra checks them
                values.append([])
        else:
            values.append([o.input_line])
    first = [v[0] for v in values if v]
    sets = [first]
    for i, vals in enumerate(values):
        for v in vals[1:]:
            sets.append([v if j == i else f for j, f in enumerate(first)])
    return sets


def check_job(overrides: list[str]) -> None:
    """Compose, validate and build the env for one job; raises `ConfigError`."""
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(config_name=CONFIG_NAME, overrides=overrides)
        validate(cfg)
    except ConfigError:
        raise
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(_explain(exc)) from None
    try:
        algorithm, env, runtime, _, _ = build(cfg)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        # e.g. a key added with + that the constructor does not take
        target = _first_line(str(exc)).removeprefix("Error in call to target ").rstrip(":")
        reason = _first_line(str(cause)) if cause else _first_line(str(exc))
        raise ConfigError(f"cannot build {target}: {reason}") from None
    try:
        runtime.check_compatible(algorithm, env)
    finally:
        env.close()


def preflight(argv: list[str]) -> None:
    """Check every job that `argv` would run; raises `ConfigError` with one line."""
    if any(a.split("=", 1)[0] in _HYDRA_INFO_FLAGS for a in argv):
        return
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        sets = _job_override_sets(overrides)
    except OverrideParseException as exc:
        raise ConfigError(f"cannot parse the overrides: {_first_line(str(exc))}") from None
    check_hydra_groups([o for o in overrides if o.lstrip("~+").startswith("hydra/")])
    for job_overrides in sets:
        check_job(job_overrides)


def check_hydra_groups(overrides: list[str]) -> None:
    """Hydra's own group choices (``hydra/launcher=...``, ``hydra/sweeper=...``): a typo
    would otherwise end in Hydra's multi-line error after the sweep has started."""
    if not overrides:
        return
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_explain(exc)) from None
