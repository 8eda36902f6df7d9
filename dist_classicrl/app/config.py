"""Structured configs: the schema of every config group, registered in Hydra's ConfigStore.

Each schema is made from the signature of the callable it configures
(`schema_of`, the pattern of hydra-zen's ``builds(..., populate_full_signature=True)``):
the constructor's defaults are the config's defaults, and its range rules run when the
job (or preflight) builds the objects, so that every default and rule is written once,
beside the class, and the Python API (`dist_classicrl.QLearning`) and the app share them.
YAML files under ``conf/`` hold values only and start with ``defaults: [<schema>, _self_]``;
OmegaConf rejects unknown keys and wrong types while composing. The rules of the job as a
whole (``steps``, ``seed``, ``resume``, ``checkpoint``) belong to the app and live here.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from dist_classicrl.app.objective import check_objective
from dist_classicrl.buffers import ReplayConfig
from dist_classicrl.envs.presets import (
    DEFAULT_EPSILON,
    DEFAULT_LEARNING_RATE,
    DEFAULT_NUM_ENVS,
    DEFAULT_STEPS,
    PRESETS,
    WRAPPERS,
)
from dist_classicrl.errors import ConfigError, check_positive_int
from dist_classicrl.wrappers import BinnedObservation


def schema_of(
    target: str | None,
    name: str,
    *,
    signature_of: str | None = None,
    exclude: tuple[str, ...] = (),
    types: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    bases: tuple[type, ...] = (),
    targeted: bool = True,
) -> type:
    """A dataclass with ``_target_ = target`` and one field per parameter of the callable
    `target` names (or `signature_of`, when ``_target_`` is left to the YAML: None), its
    type and default taken from the signature. `exclude`: parameters the job fills in
    (``seed``, the env's sizes); `types` and `defaults` replace those of a parameter whose
    annotation OmegaConf cannot hold. ``targeted=False``: no ``_target_`` (a node the job
    reads itself)."""
    path = signature_of or target
    if path is None:
        raise TypeError("schema_of needs a target or signature_of")
    module, _, attr = path.rpartition(".")
    obj = getattr(importlib.import_module(module), attr)
    func = obj.__init__ if inspect.isclass(obj) else obj
    hints = {**typing.get_type_hints(func), **(types or {})}
    fields: list[tuple[str, Any, Any]] = []
    if targeted:
        fields.append(("_target_", str, field(default=target or MISSING)))
    for p in inspect.signature(func).parameters.values():
        if p.name == "self" or p.name in exclude or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        default = (defaults or {}).get(p.name, MISSING if p.default is p.empty else p.default)
        kind = hints[p.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind) and default in (None, MISSING):
            fields.append((p.name, kind, field(default_factory=kind)))
        elif isinstance(default, list | dict):  # a fresh copy per config
            fields.append((p.name, kind, field(default_factory=partial(copy.copy, default))))
        else:
            fields.append((p.name, kind, field(default=default)))
    schema = dataclasses.make_dataclass(name, fields, bases=bases)
    # Importable as dist_classicrl.app.config.<name> (each is a module global of that name),
    # so that pickle refers to it instead of copying it: a launcher's worker process
    # (joblib's loky) would otherwise rebuild it with a copy of dataclasses.MISSING.
    schema.__module__ = __name__
    return schema


RuntimeSchema = schema_of("dist_classicrl.runtimes.SingleRuntime", "RuntimeSchema")
ParallelRuntimeSchema = schema_of(
    "dist_classicrl.runtimes.ParallelRuntime", "ParallelRuntimeSchema", bases=(RuntimeSchema,)
)
DistributedRuntimeSchema = schema_of(
    "dist_classicrl.runtimes.DistributedRuntime",
    "DistributedRuntimeSchema",
    bases=(RuntimeSchema,),
)
#: The variant's class is the YAML's ``_target_``; the job sets the table's size, the
#: seed and the schedules' first values.
AlgorithmSchema = schema_of(
    None,
    "AlgorithmSchema",
    signature_of="dist_classicrl.algorithms.base.BaseAlgorithm",
    exclude=("n_states", "n_actions", "learning_rate", "epsilon", "seed"),
    types={"replay": ReplayConfig},
)
#: `make_env`'s arguments; the job passes the seed and the ``wrapper`` group's wrapper.
EnvSchema = schema_of(
    "dist_classicrl.envs.make_env",
    "EnvSchema",
    exclude=("seed", "wrapper"),
    types={"kwargs": dict[str, Any], "num_envs": int},
    # each env config names its kind; kwargs a dict, so that +env.kwargs.KEY=VALUE can add
    # keys; num_envs shown as the number make_env takes when no preset names one
    defaults={"kind": MISSING, "kwargs": {}, "num_envs": DEFAULT_NUM_ENVS},
)
ScheduleSchema = schema_of(
    None, "ScheduleSchema", signature_of="dist_classicrl.schedules.ScheduleSpec", targeted=False
)


@dataclass
class WrapperSchema:
    """``wrapper`` group: ``_target_`` is called with each Gymnasium env copy (and the
    other keys of the node); null for none. Wrappers fit ``env.kind=gym`` only."""

    _target_: str | None = None


DiscretizeWrapperSchema = schema_of(
    "dist_classicrl.wrappers.BinnedObservation",
    "DiscretizeWrapperSchema",
    exclude=("env",),
    # an int or one per dimension: BinnedObservation checks them (one line, as wrapper.bins)
    types={"bins": Any, "low": Any, "high": Any},
    bases=(WrapperSchema,),
)


@dataclass
class SchedulesSchema:
    """``schedule`` node: `dist_classicrl.schedules.ScheduleSpec` for epsilon and the
    learning rate over the job's budget (the runtime sets both from them)."""

    epsilon: ScheduleSchema = field(  # type: ignore[valid-type]
        default_factory=lambda: ScheduleSchema(**dataclasses.asdict(DEFAULT_EPSILON))
    )
    learning_rate: ScheduleSchema = field(  # type: ignore[valid-type]
        default_factory=lambda: ScheduleSchema(**dataclasses.asdict(DEFAULT_LEARNING_RATE))
    )


@dataclass
class CheckpointSchema:
    """``checkpoint``: the training state written to the job's ``checkpoint.npz``
    (`dist_classicrl.runtimes.checkpoint`) every ``every`` steps; 0: only at the end and
    when the job is stopped; null: never."""

    every: int | None = 0

    def __post_init__(self) -> None:
        if self.every is not None:
            check_positive_int("checkpoint.every", self.every, minimum=0)


@dataclass
class Config:
    """The whole job."""

    algorithm: AlgorithmSchema = MISSING  # type: ignore[valid-type]
    runtime: RuntimeSchema = MISSING  # type: ignore[valid-type]
    env: EnvSchema = MISSING  # type: ignore[valid-type]
    wrapper: WrapperSchema = MISSING
    schedule: SchedulesSchema = field(default_factory=SchedulesSchema)
    # env transitions learned, over all envs, workers and ranks; 0 only evaluates
    steps: int = DEFAULT_STEPS
    seed: int = 0
    init_q_table: str | None = None  # a saved q_table.npy to start from (warm start)
    checkpoint: CheckpointSchema = field(default_factory=CheckpointSchema)
    resume: str | None = None  # a checkpoint file or job directory to continue exactly
    # the metrics.json figure a sweeper optimises (app/objective.py); null: the env's
    # learning metric (optimality gap, loss rate or greedy return)
    objective: str | None = None

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps, minimum=0)
        if self.steps == 0 and not self.init_q_table:
            raise ConfigError(
                "steps=0 evaluates a saved table without training: give init_q_table=PATH "
                "too, or steps >= 1"
            )
        check_positive_int("seed", self.seed, minimum=0)
        check_objective(self.objective)
        if self.resume and self.init_q_table:
            raise ConfigError(
                "resume=PATH continues a run with its whole state; init_q_table=PATH starts "
                "a new one from a table: give one of them"
            )


def _public_path(obj: Any) -> str:
    """``dist_classicrl.wrappers.BinnedObservation``: the package's name for `obj` when the
    package exports it, else its defining module's."""
    module, name = obj.__module__, obj.__qualname__
    package = module.rpartition(".")[0]
    exported = package and getattr(importlib.import_module(package), name, None) is obj
    return f"{package if exported else module}.{name}"


def register_presets(cs: ConfigStore) -> None:
    """The named wrappers and envs of `dist_classicrl.envs.presets` as the ``wrapper=<name>``
    and ``env=<name>`` options: written once, in Python, for the API and the app. An env
    option is a global config (``# @package _global_``): it sets ``env``, and ``steps``,
    ``schedule`` and the wrapper where the preset's differ from the defaults."""
    for name, wrapper in WRAPPERS.items():
        func = wrapper.func if isinstance(wrapper, partial) else wrapper
        keywords = wrapper.keywords if isinstance(wrapper, partial) else {}
        schema = "discretize_wrapper_schema" if func is BinnedObservation else "wrapper_schema"
        node = {"defaults": [f"/{schema}@_here_", "_self_"], "_target_": _public_path(func)}
        cs.store(group="wrapper", name=name, node={**node, **keywords})
    for name, preset in PRESETS.items():
        defaults: list[Any] = ["/env_schema@env"]
        if preset.wrapper is not None:
            defaults.append({"override /wrapper": preset.wrapper})
        env_node: dict[str, Any] = {"defaults": [*defaults, "_self_"], "env": dict(preset.env)}
        if preset.steps != DEFAULT_STEPS:
            env_node["steps"] = preset.steps
        schedules = {
            key: dataclasses.asdict(spec)
            for key, spec, default in (
                ("epsilon", preset.epsilon, DEFAULT_EPSILON),
                ("learning_rate", preset.learning_rate, DEFAULT_LEARNING_RATE),
            )
            if spec != default
        }
        if schedules:
            env_node["schedule"] = schedules
        cs.store(group="env", name=name, node=env_node, package="_global_")


def register_configs() -> None:
    """Store the schemas under the names the YAML defaults lists use: outside the config
    groups, so that `--help`, tab completion and `env=...` offer only real options."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(name="algorithm_schema", node=AlgorithmSchema)
    cs.store(name="runtime_schema", node=RuntimeSchema)
    cs.store(name="parallel_runtime_schema", node=ParallelRuntimeSchema)
    cs.store(name="distributed_runtime_schema", node=DistributedRuntimeSchema)
    cs.store(name="env_schema", node=EnvSchema)
    cs.store(name="wrapper_schema", node=WrapperSchema)
    cs.store(name="discretize_wrapper_schema", node=DiscretizeWrapperSchema)
    register_presets(cs)


def validate(cfg: DictConfig) -> Config:
    """The job-wide rules (`Config.__post_init__`) and the types; the rules of each part
    run when `dist_classicrl.app.job.build` builds it. Raises `ConfigError`."""
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


register_configs()
