"""Check a command line before Hydra starts any job, and say what is wrong in one line.

Every override is composed with the same config Hydra will use; a sweep is checked over
every combination of its swept values (`_job_override_sets`), so that a bad value in job 7
of a sweep stops the sweep before job 1. Each composed config is then validated
(`app.config.validate`: types and the job-wide rules) and its objects built once
(`app.job.build`: the constructors' rules; the env catches unknown Gymnasium ids and
non-discrete spaces).
"""

from __future__ import annotations

import difflib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, OverrideType
from hydra.errors import (
    HydraException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from dist_classicrl.app.config import validate
from dist_classicrl.app.job import build
from dist_classicrl.app.objective import check_reported
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
        options = ", ".join(exc.options or [])
        if group and options:
            return f"{group}={option} is not a known option: allowed are {options}"
        return _first_line(str(exc))
    message = _first_line(str(exc))
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        reason = _first_line(str(cause))
        if "not in" in reason and key:
            return f"{key}: no such key{_did_you_mean(key)}; the keys are listed by --cfg job"
        return f"{key}: {reason}" if key else f"{message} {reason}"
    if isinstance(exc, OmegaConfBaseException):
        key = getattr(exc, "full_key", None)
        return f"{key}: {message}" if key else message
    return message


def _schema_keys() -> list[str]:
    """Every dotted key of the default job config (what an override may set)."""
    if GlobalHydra.instance().is_initialized():  # inside `preflight`'s context
        cfg = compose(config_name=CONFIG_NAME)
    else:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(config_name=CONFIG_NAME)
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            keys.append(f"{prefix}{key}")
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")

    walk(OmegaConf.to_container(cfg), "")
    return keys


def _did_you_mean(key: str) -> str:
    """Where the value belongs (`_MOVED`), or the closest keys at the same depth."""
    if key in _MOVED:
        return f"; set {_MOVED[key]} instead"
    depth = key.count(".")
    keys = [k for k in _schema_keys() if k.count(".") == depth]
    close = difflib.get_close_matches(key, keys, n=2, cutoff=0.75)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


#: Keys people add with ``+`` that exist elsewhere: where the value belongs.
_MOVED = {
    "algorithm.learning_rate": "schedule.learning_rate.start (and .end)",
    "algorithm.epsilon": "schedule.epsilon.start (and .end)",
    "algorithm.lr": "schedule.learning_rate.start (and .end)",
}
#: Where ``+key`` may add keys: free-form dicts passed on as they are.
_OPEN_DICTS = ("env.kwargs.", "hydra.")


def check_added_keys(overrides: list[str]) -> None:
    """``+key=value`` adds a key the schema does not have, which nothing would read (or,
    for a constructor argument, which the schedules would override): refused, except in
    free-form dicts (`_OPEN_DICTS`) and for config groups (``+experiment=...``)."""
    groups = {d.name for d in resources.files(CONFIG_MODULE).iterdir() if d.is_dir()}
    for o in OverridesParser.create().parse_overrides(overrides):
        if o.type not in (OverrideType.ADD, OverrideType.FORCE_ADD):
            continue
        key = o.key_or_group
        if key.startswith(_OPEN_DICTS) or key.split("/")[0] in groups | {"hydra"}:
            continue
        raise ConfigError(
            f"{o.input_line}: the config has no key {key} and nothing reads one"
            f"{_did_you_mean(key)} "
            "(the keys are listed by --cfg job)"
        )


#: Keys whose every value is valid or not by itself (checked once each), so that a sweep
#: over many seeds does not multiply the combinations to check.
_CHECKED_ALONE = ("seed",)


def _swept_values(override: Any) -> list[Any]:
    """A sweep's values; for an ``interval(low, high)`` (a sweeper samples it: Optuna,
    Nevergrad) its low end, its middle and just below its high end, which stand for
    every value it may draw."""
    value = override.value()
    if not isinstance(value, IntervalSweep):
        return list(override.sweep_string_iterator())
    if value.start is None or value.end is None:  # not an interval a sweeper can sample
        raise ValueError(f"{override.input_line}: an interval needs both ends")
    low, high = float(value.start), float(value.end)
    if low.is_integer() and high.is_integer():  # an int range
        return sorted({int(low), (int(low) + int(high)) // 2, int(high)})
    return [low, (low + high) / 2, high - (high - low) * 1e-9]  # Optuna: low <= x < high


def _job_override_sets(overrides: list[str]) -> tuple[list[list[str]], list[str]]:
    """The override lists to check: every combination of the swept values (a rule may
    join two keys: ``algorithm=list`` with ``runtime.sync=shared``) with the first value
    of each key of `_CHECKED_ALONE`; and those keys' other values (``seed=7``), each to
    check on the first list's config."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    kept = [o for o in parsed if not o.key_or_group.startswith("hydra")]
    values: list[list[str]] = []
    alone: list[list[str]] = []
    for o in kept:
        if o.is_sweep_override():
            try:
                swept = [f"{o.get_key_element()}={v}" for v in _swept_values(o)]
            except Exception:  # glob() and friends need the config: Hydra checks them
                continue
            (alone if o.get_key_element().lstrip("+~") in _CHECKED_ALONE else values).append(swept)
        else:
            assert o.input_line is not None  # parse_overrides keeps every override's line
            values.append([o.input_line])
    firsts = [v[0] for v in alone]
    sets = [list(c) + firsts for c in itertools.product(*values)]
    return sets, [v for vals in alone for v in vals[1:]]


def check_value(cfg: DictConfig, override: str) -> None:
    """One more value of a `_CHECKED_ALONE` key (``seed=7``), on `cfg`, a checked job's
    config: the schema's type and the job-wide rules (a compose per seed of a 100-seed
    sweep would cost seconds)."""
    key, _, value = override.partition("=")
    parsed = OverridesParser.create().parse_override(override).value()
    with _config_errors(lambda exc: f"{key}={value}: {_first_line(str(exc))}"):
        varied = cfg.copy()
        OmegaConf.update(varied, key.lstrip("+~"), parsed, merge=False)
        validate(varied)


@contextmanager
def _config_errors(explain: Callable[[Exception], str]) -> Iterator[None]:
    """Hydra's and OmegaConf's errors as one `ConfigError` line (`explain`), or the
    `ConfigError` a rule raised inside them."""
    try:
        yield
    except ConfigError:
        raise
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(explain(exc)) from None


def check_job(overrides: list[str], composed: DictConfig | None = None) -> DictConfig:
    """Compose (inside `initialize_config_module`; or take `composed`, the same overrides
    composed with Hydra's node), validate and build one job; raises `ConfigError`."""
    with _config_errors(_explain):
        if composed is None:
            cfg = compose(config_name=CONFIG_NAME, overrides=overrides)
        else:
            cfg = composed.copy()
            with open_dict(cfg):
                del cfg["hydra"]
        validate(cfg)
    try:
        agent = build(cfg)  # the constructors' rules, the runtime's capacity and fit
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        # e.g. a key added with + that the constructor does not take
        target = _first_line(str(exc)).removeprefix("Error in call to target ").rstrip(":")
        reason = _first_line(str(cause)) if cause else _first_line(str(exc))
        raise ConfigError(f"cannot build {target}: {reason}") from None
    try:
        check_reported(cfg.objective, agent.env.evaluation_keys)
    finally:
        agent.env.close()
    return cfg


def runs_one_job(argv: list[str]) -> bool:
    """Whether `argv` asks for one training job (not a sweep, not one of Hydra's
    information flags such as ``--help`` or ``--cfg``)."""
    return not any(
        a in ("-m", "--multirun") or a.split("=", 1)[0] in _HYDRA_INFO_FLAGS for a in argv
    )


def preflight(argv: list[str]) -> None:
    """Check every job that `argv` would run; raises `ConfigError` with one line."""
    if any(a.split("=", 1)[0] in _HYDRA_INFO_FLAGS for a in argv):
        return
    overrides = [a for a in argv if not a.startswith("-")]
    multirun = any(a in ("-m", "--multirun") for a in argv)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigError(f"cannot parse the overrides: {_first_line(str(exc))}") from None
    for o in parsed:
        if o.key_or_group.startswith("hydra.") and o.is_sweep_override():
            raise ConfigError(
                f"{o.input_line}: Hydra's own keys take one value; give a sweeper's search "
                "space as KEY=interval(LOW,HIGH) or KEY=choice(A,B) on the command line"
            )
    check_added_keys(overrides)
    check_hydra_groups([o for o in overrides if o.lstrip("~+").startswith("hydra/")])
    # One job of one-value overrides: the config composed here is the job's (a compose
    # costs about a tenth of a second, as much as the default job's training).
    swept = any(o.is_sweep_override() for o in parsed)
    one_job = not swept and all("," not in o for o in overrides)  # all of them composed
    composed = _compose_fixed(overrides)
    hydra_node = composed.hydra
    check_output_dir(hydra_node, multirun)
    sampled = _sweeper_params(hydra_node) if multirun else []
    one_job = one_job and not sampled
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    sampled = [o for o in sampled if o.split("=", 1)[0] not in given]  # the command wins
    try:
        sets, more_values = _job_override_sets([*sampled, *overrides])
    except OverrideParseException as exc:
        raise ConfigError(f"cannot parse the overrides: {_first_line(str(exc))}") from None
    intervals = {
        o.key_or_group: o.input_line
        for o in OverridesParser.create().parse_overrides([*sampled, *overrides])
        if isinstance(o.value(), IntervalSweep)
    }
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            checked = [check_job(o, composed if one_job else None) for o in sets]
            for override in more_values:
                check_value(checked[0], override)
    except ConfigError as exc:  # a value drawn from an interval: name the interval
        key = str(exc).split("=", 1)[0]
        if key in intervals:
            raise ConfigError(f"{intervals[key]} may sample a bad value: {exc}") from None
        raise


def _compose_fixed(overrides: list[str]) -> DictConfig:
    """The config with Hydra's own node (``hydra.*``) as the command composes it from its
    one-value overrides (an experiment may set the sweeper and its search space)."""
    fixed = [o for o in overrides if "," not in o]
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=CONFIG_NAME, overrides=fixed, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_explain(exc)) from None


def _sweeper_params(hydra_node: Any) -> list[str]:
    """The search space a sweeper reads from its config (``hydra.sweeper.params``:
    Optuna's and Nevergrad's), as overrides, so that each is checked like the command's."""
    params = OmegaConf.select(hydra_node, "sweeper.params", default=None)
    if not params:
        return []
    return [f"{key}={value}" for key, value in params.items()]


def check_output_dir(hydra_node: Any, multirun: bool) -> None:
    """The job's (or sweep's) output directory can be created and written: the nearest
    existing ancestor is a directory in which a file can be made (root ignores file
    modes, so this tries; a read-only mount, /proc or a path through a file fail)."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        where = str(OmegaConf.select(hydra_node, key.removeprefix("hydra.")))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_explain(exc)) from None
    path = Path(where).absolute()
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key}={where}: {ancestor} is a file, not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".dcrl_write_check_", dir=ancestor))
    except OSError as exc:
        raise ConfigError(
            f"{key}={where}: cannot write under {ancestor} ({exc.strerror}); "
            f"give a writable {key}=DIR"
        ) from None


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
