"""One owner per default and rule: the app's schemas are made from the signatures of the
classes they configure, its YAML repeats no default, and the Python API and the app
refuse a bad value with the same rule (the class's), each naming the value its own way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

import dist_classicrl as dc
from dist_classicrl.app import config
from dist_classicrl.app.preflight import preflight
from dist_classicrl.errors import ConfigError
from dist_classicrl.runtimes import DistributedRuntime, ParallelRuntime, SingleRuntime

CONF = Path(__file__).resolve().parents[2] / "conf"


def example(count: int, rate: float = 0.5, name: str | None = None, tags: list | None = None):
    """A callable for `schema_of`: one required parameter, three with defaults."""


def test_schema_of_takes_fields_types_and_defaults_from_the_signature():
    schema = config.schema_of(f"{__name__}.example", "ExampleSchema", exclude=("tags",))
    fields = {f.name: f for f in dataclasses.fields(schema)}
    assert list(fields) == ["_target_", "count", "rate", "name"]
    node = OmegaConf.structured(schema)
    assert node._target_ == f"{__name__}.example"
    assert OmegaConf.is_missing(node, "count")  # required: the YAML or the job fills it
    assert (node.rate, node.name) == (0.5, None)
    with pytest.raises(ValidationError):  # the annotation is enforced while composing
        OmegaConf.merge(node, {"rate": "fast"})


@pytest.mark.parametrize(
    ("schema", "cls"),
    [
        (config.RuntimeSchema, SingleRuntime),
        (config.ParallelRuntimeSchema, ParallelRuntime),
        (config.DistributedRuntimeSchema, DistributedRuntime),
    ],
)
def test_a_runtime_schema_is_its_constructor(schema, cls):
    node = OmegaConf.structured(schema)
    runtime = cls()  # every default from the constructor
    for key in node:
        if key != "_target_" and key != "num_workers":  # None: every usable core
            assert node[key] == getattr(runtime, key), key


def _schema_for(reference: str) -> type | None:
    """The dataclass a YAML's first defaults entry names (``/parallel_runtime_schema@...``)."""
    name = reference.lstrip("/").split("@")[0]
    by_name = {
        "algorithm_schema": config.AlgorithmSchema,
        "runtime_schema": config.RuntimeSchema,
        "parallel_runtime_schema": config.ParallelRuntimeSchema,
        "distributed_runtime_schema": config.DistributedRuntimeSchema,
        "env_schema": config.EnvSchema,
        "wrapper_schema": config.WrapperSchema,
        "discretize_wrapper_schema": config.DiscretizeWrapperSchema,
    }
    return by_name.get(name)


YAMLS = sorted(
    (p.parent.name, p.stem)
    for group in ("algorithm", "runtime", "env", "wrapper")
    for p in (CONF / group).glob("*.yaml")
)


@pytest.mark.parametrize(("group", "option"), YAMLS, ids=[f"{g}={o}" for g, o in YAMLS])
def test_no_yaml_value_repeats_its_schema_default(group, option):
    data = OmegaConf.load(CONF / group / f"{option}.yaml")
    schema = _schema_for(data.defaults[0])
    if schema is None:  # starts from another option (env=taxi from env=gym): checked there
        return
    if data.defaults[0].endswith("@env"):  # a global config (it sets steps too): its env
        data = data.env
    default = OmegaConf.structured(schema)
    for key in data:
        if key in ("defaults", "_target_") or OmegaConf.is_missing(default, key):
            continue  # the target, or a value every option must give
        if OmegaConf.is_missing(data, key):  # left for the command line (env=gym: env.id)
            continue
        assert data[key] != default[key], f"{group}/{option}.yaml repeats {key}={data[key]}"


#: (the API's arguments, the app's overrides, the rule's words both messages end with)
SAME_RULE = [
    (
        {"runtime": "parallel", "num_workers": 0},
        ["runtime=parallel", "runtime.num_workers=0"],
        "num_workers=0 is not allowed: it must be an integer >= 1",
    ),
    (
        {"runtime": "parallel", "sync": "gossip"},
        ["runtime=parallel", "runtime.sync=gossip"],
        "sync='gossip' is unknown",
    ),
    ({"discount": 1.5}, ["algorithm.discount=1.5"], "discount=1.5 is out of range"),
    ({"rule": "td_lambda"}, ["algorithm.rule=td_lambda"], "rule='td_lambda' is unknown"),
    (
        {"learning_rate": dc.ScheduleSpec(0.5, 0.0)},
        ["schedule.learning_rate.end=0"],
        "learning_rate.end=0.0 is out of range: allowed is (0.0, 1.0]",
    ),
    ({"epsilon": 1.5}, ["schedule.epsilon.start=1.5"], "start=1.5 is out of range"),
    ({"num_envs": 0}, ["env.num_envs=0"], "num_envs=0 is not allowed"),
]


@pytest.mark.parametrize(("api", "overrides", "rule"), SAME_RULE, ids=[r for *_, r in SAME_RULE])
def test_the_api_and_the_app_refuse_a_value_by_the_same_rule(api, overrides, rule):
    with pytest.raises(ConfigError) as from_api:
        dc.QLearning("taxi", **api)
    with pytest.raises(ConfigError) as from_app:
        preflight(overrides)
    assert rule in str(from_api.value), str(from_api.value)
    assert rule in str(from_app.value), str(from_app.value)


def test_the_app_names_where_a_schedule_value_sits():
    with pytest.raises(ConfigError, match=r"^schedule\.epsilon\.kind='cosine' is unknown"):
        preflight(["schedule.epsilon.kind=cosine"])
    with pytest.raises(ConfigError, match=r"^schedule\.learning_rate\.start=0\.0 is out of range"):
        preflight(["schedule.learning_rate.start=0"])


def test_make_env_and_the_app_build_the_same_number_of_envs_by_default(compose_config):
    from dist_classicrl.app.job import build_env

    env = build_env(compose_config(["env=gym", "env.id=Taxi-v4"]))
    assert env.num_envs == dc.make_env("gym", id="Taxi-v4").num_envs == 64
    env.close()
