"""Config groups compose, validate and build; bad values fail with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dist_classicrl.app.config import validate
from dist_classicrl.app.job import build
from dist_classicrl.app.preflight import preflight
from dist_classicrl.envs.presets import PRESETS, WRAPPERS
from dist_classicrl.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"
YAML = {
    g: sorted(p.stem for p in (CONF / g).glob("*.yaml"))
    for g in ("algorithm", "runtime", "env", "wrapper")
}
#: Every option: the YAML files, and the named envs and wrappers registered from Python.
GROUPS = {
    **YAML,
    "env": sorted([*YAML["env"], *PRESETS]),
    "wrapper": sorted([*YAML["wrapper"], *WRAPPERS]),
}
ENV_NEEDS = {
    "gym": ["env.id=Taxi-v4"],
    # wrappers fit Gymnasium envs of the right space only
    "discretize": ["env=gym", "env.id=MountainCar-v0"],
    "discretize_mountaincar": ["env=gym", "env.id=MountainCar-v0"],
    "discretize_cartpole": ["env=gym", "env.id=CartPole-v1"],
    "flatten": ["env=gym", "env.id=Blackjack-v1"],
}
OPTIONS = [(g, o) for g, opts in GROUPS.items() for o in opts]


def test_default_config_is_optimal_single_tictactoe_no_wrapper(compose_config):
    cfg = compose_config()
    assert cfg.algorithm._target_ == "dist_classicrl.algorithms.OptimalQLearning"
    assert cfg.runtime._target_ == "dist_classicrl.runtimes.SingleRuntime"
    assert cfg.env.kind == "tictactoe"
    assert cfg.wrapper._target_ is None


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_of_every_group_composes_validates_and_builds(compose_config, group, option):
    cfg = compose_config([f"{group}={option}", *ENV_NEEDS.get(option, [])])
    validate(cfg)
    agent = build(cfg)
    algorithm, env, runtime = agent.algorithm, agent.env, agent.runtime
    assert algorithm.q_values().shape == (env.n_states, env.n_actions)
    assert algorithm.epsilon == cfg.schedule.epsilon.start
    assert runtime.name == cfg.runtime._target_.rsplit(".", 1)[-1].removesuffix("Runtime").lower()
    env.close()


@pytest.mark.parametrize("rule", ["q_learning", "sarsa", "expected_sarsa"])
@pytest.mark.parametrize("option", GROUPS["algorithm"])
def test_every_rule_builds_in_every_variant(compose_config, option, rule):
    cfg = compose_config([f"algorithm={option}", f"algorithm.rule={rule}"])
    validate(cfg)
    agent = build(cfg)
    assert (agent.algorithm.name, agent.algorithm.rule) == (option, rule)
    agent.env.close()


def test_the_default_rule_is_q_learning(compose_config):
    agent = build(compose_config())
    assert agent.algorithm.rule == "q_learning"
    agent.env.close()


def test_documented_override_names_exist(compose_config):
    cfg = compose_config(["steps=123", "seed=4", "env.num_envs=3"])
    assert (cfg.steps, cfg.seed, cfg.env.num_envs) == (123, 4, 3)


def test_each_algorithm_option_builds_its_variant(compose_config):
    for option in GROUPS["algorithm"]:
        agent = build(compose_config([f"algorithm={option}"]))
        assert agent.algorithm.name == option
        agent.env.close()


BAD = [
    (["algorithm=foo"], "algorithm=foo is not a known option: allowed are list, numpy, optimal"),
    (["env=nope"], "env=nope is not a known option"),
    (["algorithm.lerning_rate=0.1"], "algorithm.lerning_rate: no such key"),
    (["steps=abc"], "steps: Value 'abc'"),
    (["env.num_envs=ten"], "env.num_envs: Value 'ten'"),
    (["steps=0"], "steps=0 evaluates a saved table without training: give init_q_table"),
    (["steps=-5"], "steps=-5 is not allowed: it must be an integer >= 0"),
    (["steps=-5"], "steps=-5 is not allowed"),
    (["env.num_envs=0"], "env.num_envs=0 is not allowed"),
    (["schedule.learning_rate.start=0"], "schedule.learning_rate.start=0.0 is out of range"),
    (["schedule.learning_rate.end=1.5"], "schedule.learning_rate.end=1.5 is out of range"),
    (["algorithm.discount=1.01"], "algorithm.discount=1.01 is out of range"),
    (["algorithm.discount=-0.5"], "algorithm.discount=-0.5 is out of range"),
    (
        ["algorithm.rule=td_lambda"],
        "algorithm.rule='td_lambda' is unknown: allowed are q_learning, sarsa, expected_sarsa",
    ),
    (["schedule.epsilon.start=1.2"], "schedule.epsilon.start=1.2 is out of range"),
    (["schedule.epsilon.kind=cosine"], "schedule.epsilon.kind='cosine' is unknown"),
    (["env=gym", "env.id=NoSuchEnv-v0"], "env.id='NoSuchEnv-v0' is not a registered"),
    (["env=gym", "env.id=Taxi-v9"], "did you mean Taxi-v4"),
    (["env=gym", "env.id=CartPole-v1"], "observation space is Box(4,), not Discrete"),
    (["env=gym"], "env.kind=gym needs env.id"),
    (["env=frozenlake", "env.kwargs.map_name=5x5"], "failed: KeyError"),
    (["-m", "algorithm=list,nope"], "algorithm=nope is not a known option"),
    (["-m", "steps=10,0"], "steps=0 evaluates a saved table"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_naming_the_value(argv, message):
    with pytest.raises(ConfigError) as info:
        preflight(argv)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_good_sweep_passes_preflight():
    preflight(["-m", "algorithm=list,numpy,optimal", "steps=1000", "hydra.sweep.dir=/tmp/x"])


def test_config_yaml_files_hold_values_under_a_schema():
    for group, options in YAML.items():
        for option in options:
            data = OmegaConf.load(CONF / group / f"{option}.yaml")
            defaults = list(data.get("defaults", []))
            assert defaults[-1] == "_self_", f"{group}/{option}"
            # a schema, or an option that starts from one (env=gym, wrapper=discretize)
            parent = {"env": ("gym", "/env/gym@env"), "wrapper": ("discretize",)}.get(group, ())
            schema = defaults[0].startswith("/") and "_schema@" in defaults[0]
            assert schema or defaults[0] in parent, f"{group}/{option}"


def test_a_key_added_with_plus_that_nothing_reads_says_where_the_value_belongs():
    with pytest.raises(ConfigError, match=r"set schedule\.learning_rate\.start"):
        preflight(["+algorithm.lr=0.1"])


def test_list_variant_with_shared_parallel_table_is_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"use runtime\.sync=merge"):
        preflight(["algorithm=list", "runtime=parallel", "runtime.sync=shared"])
