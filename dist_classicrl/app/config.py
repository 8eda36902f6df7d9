"""Structured configs: the schema of every config group, registered in Hydra's ConfigStore.

YAML files under ``conf/`` hold values only and start with ``defaults: [<schema>, _self_]``.
OmegaConf rejects unknown keys and wrong types while composing; the range rules below run
in ``__post_init__`` when `validate` converts the composed config to these dataclasses,
before any job starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from dist_classicrl.algorithms.rules import check_replay_support, rule_code
from dist_classicrl.buffers import ReplayConfig
from dist_classicrl.envs.tictactoe import check_opponent
from dist_classicrl.errors import ConfigError, check_positive_int, check_range
from dist_classicrl.schedules import KINDS


@dataclass
class AlgorithmConfig:
    """``algorithm`` group: which variant, and its fixed hyper-parameters."""

    _target_: str = MISSING
    replay: ReplayConfig = field(default_factory=ReplayConfig)  # capacity 0: off
    discount: float = 0.99
    rule: str = "q_learning"  # q_learning | sarsa | expected_sarsa

    def __post_init__(self) -> None:
        check_range("algorithm.discount", self.discount, 0.0, 1.0)
        rule_code(self.rule)  # ConfigError listing the allowed rules
        check_replay_support(self.rule, self.replay.capacity)


@dataclass
class ScheduleConfig:
    """From `start` to `end` over the first `fraction` of the steps, then constant."""

    start: float = 1.0
    end: float = 1.0
    kind: str = "linear"
    fraction: float = 1.0


@dataclass
class SchedulesConfig:
    """``schedule`` node: the runtime sets epsilon and the learning rate from these."""

    epsilon: ScheduleConfig = field(
        default_factory=lambda: ScheduleConfig(start=1.0, end=0.05, kind="linear", fraction=0.5)
    )
    learning_rate: ScheduleConfig = field(
        default_factory=lambda: ScheduleConfig(start=0.5, end=0.01, kind="linear", fraction=1.0)
    )

    def __post_init__(self) -> None:
        for name, sched, low_open in (
            ("epsilon", self.epsilon, False),
            ("learning_rate", self.learning_rate, True),
        ):
            for end in ("start", "end"):
                check_range(
                    f"schedule.{name}.{end}", getattr(sched, end), 0.0, 1.0, low_open=low_open
                )
            if sched.kind not in KINDS:
                raise ConfigError(
                    f"schedule.{name}.kind={sched.kind!r} is unknown: "
                    f"allowed are {', '.join(KINDS)}"
                )
            check_range(f"schedule.{name}.fraction", sched.fraction, 0.0, 1.0, low_open=True)
            if sched.kind == "exponential" and min(sched.start, sched.end) <= 0:
                raise ConfigError(
                    f"schedule.{name}: an exponential schedule needs start and "
                    f"end > 0, got {sched.start} and {sched.end}"
                )


@dataclass
class RuntimeConfig:
    """``runtime=single``: one process."""

    _target_: str = "dist_classicrl.runtimes.SingleRuntime"
    eval_points: int = 10
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    fused: bool = True  # use the variant's fused kernel when the env has one

    def __post_init__(self) -> None:
        check_positive_int("runtime.eval_points", self.eval_points)


@dataclass
class ParallelRuntimeConfig(RuntimeConfig):
    """``runtime=parallel``: worker processes and a shared-memory Q-table."""

    _target_: str = "dist_classicrl.runtimes.ParallelRuntime"
    num_workers: int | None = None  # None: every usable core
    sync: str = "merge"  # merge | shared
    sync_every: int = 100_000  # merge: steps of one worker between merges
    lock: bool = False  # shared: a lock around every batch update

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_workers is not None:
            check_positive_int("runtime.num_workers", self.num_workers)
        if self.sync not in ("merge", "shared"):
            raise ConfigError(f"runtime.sync={self.sync!r} is unknown: allowed are merge, shared")
        check_positive_int("runtime.sync_every", self.sync_every)


@dataclass
class DistributedRuntimeConfig(RuntimeConfig):
    """``runtime=distributed``: MPI ranks through mpi4py."""

    _target_: str = "dist_classicrl.runtimes.DistributedRuntime"
    ranks: int = 2  # started with mpiexec unless already running under MPI
    sync: str = "allreduce"  # allreduce | param_server
    sync_every: int = 100_000  # steps of one rank between synchronisations
    timeout_s: float = 3600.0  # the launcher gives up after this long

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("runtime.ranks", self.ranks)
        if self.sync not in ("allreduce", "param_server"):
            raise ConfigError(
                f"runtime.sync={self.sync!r} is unknown for runtime=distributed: "
                "allowed are allreduce, param_server"
            )
        check_positive_int("runtime.sync_every", self.sync_every)
        check_range("runtime.timeout_s", self.timeout_s, 0.0, float("inf"), low_open=True)


@dataclass
class EnvConfig:
    """``env`` group: arguments of `dist_classicrl.envs.make_env`."""

    _target_: str = "dist_classicrl.envs.make_env"
    kind: str = "tictactoe"
    id: str | None = None
    num_envs: int = 64
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    backend: str = "auto"
    eval_episodes: int = 100
    opponent: str = "random"  # built-in tictactoe: random | perfect | self

    def __post_init__(self) -> None:
        check_opponent(self.opponent)
        check_positive_int("env.num_envs", self.num_envs)
        check_positive_int("env.eval_episodes", self.eval_episodes)
        if self.max_episode_steps is not None:
            check_positive_int("env.max_episode_steps", self.max_episode_steps)


@dataclass
class WrapperConfig:
    """``wrapper`` group: ``_target_`` is called with each Gymnasium env copy (and the
    other keys of the node); null for none. Wrappers fit ``env.kind=gym`` only."""

    _target_: str | None = None


@dataclass
class DiscretizeWrapperConfig(WrapperConfig):
    """``wrapper=discretize``: a Box observation binned into a grid, one index per cell.

    One value per dimension; ``low``/``high`` null take the space's own (finite) bounds.
    The wrapper checks them against the space when the env is built.
    """

    _target_: str | None = "dist_classicrl.wrappers.BinnedObservation"
    bins: list[int] = field(default_factory=lambda: [10])
    low: list[float] | None = None
    high: list[float] | None = None


@dataclass
class CheckpointConfig:
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

    algorithm: AlgorithmConfig = MISSING
    runtime: RuntimeConfig = MISSING
    env: EnvConfig = MISSING
    wrapper: WrapperConfig = MISSING
    schedule: SchedulesConfig = field(default_factory=SchedulesConfig)
    # env transitions learned, over all envs, workers and ranks; 0 only evaluates
    steps: int = 3_000_000
    seed: int = 0
    init_q_table: str | None = None  # a saved q_table.npy to start from (warm start)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    resume: str | None = None  # a checkpoint file or job directory to continue exactly

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps, minimum=0)
        if self.steps == 0 and not self.init_q_table:
            raise ConfigError(
                "steps=0 evaluates a saved table without training: give init_q_table=PATH "
                "too, or steps >= 1"
            )
        check_positive_int("seed", self.seed, minimum=0)
        if self.resume and self.init_q_table:
            raise ConfigError(
                "resume=PATH continues a run with its whole state; init_q_table=PATH starts "
                "a new one from a table: give one of them"
            )


def register_configs() -> None:
    """Store the schemas under the names the YAML defaults lists use: outside the config
    groups, so that `--help`, tab completion and `env=...` offer only real options."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(name="algorithm_schema", node=AlgorithmConfig)
    cs.store(name="runtime_schema", node=RuntimeConfig)
    cs.store(name="parallel_runtime_schema", node=ParallelRuntimeConfig)
    cs.store(name="distributed_runtime_schema", node=DistributedRuntimeConfig)
    cs.store(name="env_schema", node=EnvConfig)
    cs.store(name="wrapper_schema", node=WrapperConfig)
    cs.store(name="discretize_wrapper_schema", node=DiscretizeWrapperConfig)


def validate(cfg: DictConfig) -> Config:
    """Run every range rule (the dataclasses' ``__post_init__``); raises `ConfigError`."""
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


register_configs()
