"""`QLearning`: the library's face, with Stable-Baselines3's names and semantics.

    import gymnasium as gym
    import dist_classicrl as dc

    agent = dc.QLearning(gym.make("FrozenLake-v1"), variant="optimal", seed=0)
    agent.learn(total_timesteps=3_000_000)
    action, _ = agent.predict(obs, deterministic=True)
    agent.save("frozenlake.npz")
    agent = dc.QLearning.load("frozenlake.npz")
    report = agent.evaluate()

The Hydra app is a layer over this class: a job builds one `QLearning` from its config
(`dist_classicrl.app.job.build`), calls `learn` (with the job's checkpoints), and writes
files; configs, sweeps and reports are the app's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dist_classicrl.algorithms import VARIANTS
from dist_classicrl.algorithms.base import BaseAlgorithm
from dist_classicrl.buffers import ReplayConfig
from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.envs.factory import make_env, make_env_from
from dist_classicrl.envs.presets import (
    DEFAULT_EPSILON,
    DEFAULT_LEARNING_RATE,
    DEFAULT_NUM_ENVS,
    PRESETS,
)
from dist_classicrl.errors import ConfigError, check_positive_int, config_key
from dist_classicrl.policies import greedy_actions
from dist_classicrl.runtimes import (
    DistributedRuntime,
    ParallelRuntime,
    Runtime,
    SingleRuntime,
    TrainingJob,
    TrainResult,
    checkpoint,
)
from dist_classicrl.runtimes.checkpoint import Checkpoint, CheckpointPlan
from dist_classicrl.schedules import Schedule, ScheduleSpec, check_learning_rate_schedule

RUNTIMES = {"single": SingleRuntime, "parallel": ParallelRuntime, "distributed": DistributedRuntime}
#: ``kind`` of a file `QLearning.save` writes (the app's checkpoints have none).
SAVED_KIND = "agent"


def _schedule_spec(name: str, value: float | Schedule | ScheduleSpec | None, default: ScheduleSpec):
    """A float is a constant; a `ScheduleSpec` is relative to each `learn` budget; a
    `Schedule` is used as it is (its horizon in steps)."""
    if value is None:
        return default
    with config_key(name):  # the rules are the schedules' (dist_classicrl.schedules)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = ScheduleSpec(float(value), float(value), 1.0, "constant")
        if isinstance(value, Schedule | ScheduleSpec):
            if name == "learning_rate":
                check_learning_rate_schedule(value)
            return value
    raise ConfigError(
        f"{name}={value!r}: give a float, a dist_classicrl.ScheduleSpec (relative to the "
        "budget) or a dist_classicrl.Schedule"
    )


def _given(**options: Any) -> dict[str, Any]:
    """The options given (not None): the others keep the default of the class they
    configure, which is written there only."""
    return {k: v for k, v in options.items() if v is not None}


class QLearning:
    """Tabular TD control (Q-learning, SARSA, Expected SARSA) on a discrete env.

    `env`: a named env (``"taxi"``, ``"frozenlake"``, ``"tictactoe"``, ... :
    `dist_classicrl.envs.presets.PRESETS`; its schedules become the defaults), a Gymnasium
    id (``"CliffWalking-v1"``), a Gymnasium env object (copies are made from its spec), a
    PettingZoo AEC game (self-play) or a batched env of this package. `variant`: ``list``,
    ``numpy`` or ``optimal`` (Numba; the fastest). `runtime`: ``single``, ``parallel``
    (``num_workers``, ``sync``, ...) or ``distributed`` (``ranks``, ...), whose options
    are passed as keyword arguments. `learning_rate` and `epsilon`: a float (constant), a
    `ScheduleSpec` (from start to end over a fraction of each `learn` budget) or a
    `Schedule`; by default the named env's, else `presets.DEFAULT_LEARNING_RATE` and
    `presets.DEFAULT_EPSILON`. `rule`, `discount` and `eval_points` left at None take the
    defaults of the variant's and the runtime's classes.
    """

    def __init__(
        self,
        env: Any,
        variant: str | type[BaseAlgorithm] = "optimal",
        runtime: str | Runtime = "single",
        *,
        rule: str | None = None,
        discount: float | None = None,
        replay: ReplayConfig | Mapping[str, Any] | None = None,
        learning_rate: float | Schedule | ScheduleSpec | None = None,
        epsilon: float | Schedule | ScheduleSpec | None = None,
        num_envs: int | None = None,
        seed: int | None = None,
        eval_points: int | None = None,
        progress: bool = False,
        **runtime_options: Any,
    ) -> None:
        if isinstance(variant, str) and variant not in VARIANTS:
            raise ConfigError(f"variant={variant!r} is unknown: allowed are {', '.join(VARIANTS)}")
        if isinstance(runtime, str) and runtime not in RUNTIMES:
            raise ConfigError(f"runtime={runtime!r} is unknown: allowed are {', '.join(RUNTIMES)}")
        if num_envs is not None:
            check_positive_int("num_envs", num_envs)
        self.env_source = _describe(env)
        self.env = _build_env(env, num_envs, seed)
        try:  # a bad option: release an env made here (a vector env's copies)
            preset = PRESETS.get(env) if isinstance(env, str) else None
            self.learning_rate = _schedule_spec(
                "learning_rate",
                learning_rate,
                preset.learning_rate if preset else DEFAULT_LEARNING_RATE,
            )
            self.epsilon = _schedule_spec(
                "epsilon", epsilon, preset.epsilon if preset else DEFAULT_EPSILON
            )
            self.seed = seed
            self.runtime_options = dict(runtime_options)
            if isinstance(runtime, Runtime):  # built by the caller (the app): its options hold
                if runtime_options or eval_points is not None:
                    raise ConfigError("runtime: give its options to the runtime object, not here")
                self.runtime = runtime
            else:
                try:
                    self.runtime = RUNTIMES[runtime](
                        progress=progress, **_given(eval_points=eval_points), **runtime_options
                    )
                except TypeError as exc:
                    raise ConfigError(f"runtime={runtime}: {exc}") from None
            self.runtime_name = self.runtime.name
            self.runtime.check_capacity(self.env)  # before the table is allocated
            variant_class = VARIANTS[variant] if isinstance(variant, str) else variant
            self.algorithm = variant_class(
                self.env.n_states,
                self.env.n_actions,
                learning_rate=self._at_start(self.learning_rate),
                epsilon=self._at_start(self.epsilon),
                seed=seed,
                **_given(discount=discount, rule=rule, replay=replay),
            )
            self.runtime.check_compatible(self.algorithm, self.env)
        except BaseException:
            if self.env is not env:
                self.env.close()
            raise
        #: Env steps learned over every `learn` call (Stable-Baselines3's name).
        self.num_timesteps = 0
        #: The last `learn`'s result: status, statistics, learning curve, timings.
        self.result: TrainResult | None = None

    @staticmethod
    def _at_start(spec: Schedule | ScheduleSpec) -> float:
        return spec(0) if isinstance(spec, Schedule) else spec.start

    # -- training ---------------------------------------------------------------------

    def learn(
        self,
        total_timesteps: int,
        *,
        checkpoint: CheckpointPlan | None = None,
        resume: Checkpoint | None = None,
    ) -> QLearning:
        """Learn from `total_timesteps` env steps (over all envs, workers and ranks); a
        second call continues from the table learned so far, with fresh random streams
        and the schedules run again over the new budget. Stops early, keeping what was
        learned, on Ctrl+C or SIGTERM (``self.result.status == "interrupted"``).
        `checkpoint` writes the training state as it goes, `resume` continues a stopped
        run from one (`dist_classicrl.runtimes.checkpoint`; the app's jobs use both)."""
        check_positive_int("total_timesteps", total_timesteps)
        self.result = self.runtime.run(self.training_job(total_timesteps, checkpoint, resume))
        if self.result is not None:  # None: an MPI rank other than 0 (rank 0 reports)
            self.num_timesteps += self.result.steps
        return self

    def training_job(
        self,
        total_timesteps: int,
        checkpoint: CheckpointPlan | None = None,
        resume: Checkpoint | None = None,
    ) -> TrainingJob:
        """What `learn` hands its runtime: the schedules over `total_timesteps`, and the
        seed (the given one in the first call, a fresh stream derived from it after)."""
        seed = self.seed
        if self.num_timesteps and seed is not None:  # not the first call's streams again
            words = [seed, self.num_timesteps]
            seed = int(np.random.SeedSequence(words).generate_state(1)[0])
        return TrainingJob(
            self.algorithm,
            self.env,
            total_timesteps,
            self._schedule(self.epsilon, total_timesteps),
            self._schedule(self.learning_rate, total_timesteps),
            seed,
            checkpoint=checkpoint,
            resume=resume,
        )

    @staticmethod
    def _schedule(spec: Schedule | ScheduleSpec, steps: int) -> Schedule:
        return spec if isinstance(spec, Schedule) else spec.over(steps)

    # -- using what was learned ---------------------------------------------------------

    @property
    def q_table(self) -> np.ndarray:
        """The learned table, ``float32[n_states, n_actions]`` (a copy)."""
        return np.array(self.algorithm.q_values(), dtype=np.float32)

    def predict(
        self,
        observation: int | np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[int | np.ndarray, None]:
        """``(action, None)`` for one observation (an int), ``(actions, None)`` for an
        array of them. Greedy with `deterministic`, else epsilon-greedy at the last
        epsilon learned with. Illegal moves (TicTacToe) are never chosen. `state` and
        `episode_start` exist for Stable-Baselines3's signature (a table has no state)."""
        states = np.asarray(observation)
        one = states.ndim == 0
        states = np.atleast_1d(states).astype(np.int64, copy=False)
        if states.ndim != 1 or ((states < 0) | (states >= self.env.n_states)).any():
            raise ConfigError(
                f"observation={observation!r}: give state indices in [0, {self.env.n_states})"
            )
        masks = self.env.legal_actions(states)
        actions = greedy_actions(self.q_table[states], masks)
        if not deterministic:
            rng = np.random.default_rng()
            explore = rng.random(len(states)) < self.algorithm.epsilon
            for i in np.flatnonzero(explore):
                allowed = np.flatnonzero(masks[i]) if masks is not None else None
                n = len(allowed) if allowed is not None else self.env.n_actions
                if n:
                    pick = int(rng.integers(n))
                    actions[i] = allowed[pick] if allowed is not None else pick
        return (int(actions[0]) if one else actions), None

    def evaluate(self) -> dict[str, Any]:
        """The greedy policy's evaluation, as a job reports it: exact where the env's model
        is known (TicTacToe's game tree, value iteration on ``P``: ``optimality_gap``),
        sampled otherwise."""
        return self.env.evaluate_greedy(self.q_table, self.algorithm.discount)

    # -- saving -----------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the agent to `path` (``.npz``, no pickle: `runtimes.checkpoint`'s format):
        the table and the variant's state, the env to rebuild, schedules and counters."""
        if self.env_source is None:
            raise ConfigError(
                f"save: env {self.env.name} cannot be described to rebuild it; save the table "
                "(agent.q_table) or pass env= to QLearning.load"
            )
        algorithm = self.algorithm
        settings = {
            "variant": algorithm.name,
            "runtime": self.runtime_name,
            "runtime_options": self.runtime_options,
            "rule": algorithm.rule,
            "discount": algorithm.discount,
            "learning_rate": _spec_json(self.learning_rate),
            "epsilon": _spec_json(self.epsilon),
            "num_envs": self.env.num_envs,
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
            "env": self.env_source,
            "eval_points": self.runtime.eval_points,
        }
        manifest = {
            "kind": SAVED_KIND,
            "env": self.env.name,
            "n_states": self.env.n_states,
            "n_actions": self.env.n_actions,
            "algorithm": algorithm.name,
            "rule": algorithm.rule,
            "steps_done": self.num_timesteps,
        }
        parts = {"algorithm": algorithm.state(), "agent": settings}
        checkpoint.save(Path(path), parts, manifest)

    @classmethod
    def load(cls, path: str | Path, env: Any = None, **overrides: Any) -> QLearning:
        """An agent `save` wrote, with its table, schedules and counters; `env` replaces
        the saved one (it must have the same state and action counts), `overrides` any
        other constructor argument (``runtime="parallel"``, ``num_workers=2``, ...)."""
        saved = checkpoint.load(path, {}, what="load")
        if saved.manifest.get("kind") != SAVED_KIND:
            raise ConfigError(f"load={path}: not a file QLearning.save wrote")
        settings = saved.part("agent")
        source = env if env is not None else _rebuild(settings["env"])
        arguments = {
            "variant": settings["variant"],
            "runtime": settings["runtime"],
            "rule": settings["rule"],
            "discount": settings["discount"],
            "learning_rate": _spec_from_json(settings["learning_rate"]),
            "epsilon": _spec_from_json(settings["epsilon"]),
            "num_envs": settings["num_envs"],
            "seed": settings["seed"],
            "eval_points": settings["eval_points"],
            **settings["runtime_options"],
            **overrides,
        }
        agent = cls(source, **arguments)
        shape = (saved.manifest["n_states"], saved.manifest["n_actions"])
        if (agent.env.n_states, agent.env.n_actions) != tuple(shape):
            raise ConfigError(
                f"load={path}: the saved table is {shape[0]} x {shape[1]}, env "
                f"{agent.env.name} has {agent.env.n_states} x {agent.env.n_actions}"
            )
        if agent.algorithm.name == settings["variant"]:
            agent.algorithm.load_state(saved.part("algorithm"))
        else:  # another variant: the table carries over, its random stream does not
            agent.algorithm.load_q_values(saved.part("algorithm")["q"])
        agent.num_timesteps = int(settings["num_timesteps"])
        return agent

    def __repr__(self) -> str:
        return (
            f"QLearning({self.env.name!r}, variant={self.algorithm.name!r}, "
            f"runtime={self.runtime_name!r}, rule={self.algorithm.rule!r}, "
            f"num_timesteps={self.num_timesteps})"
        )


def _build_env(env: Any, num_envs: int | None, seed: int | None) -> DistClassicRLEnv:
    if isinstance(env, str):
        if env in PRESETS:
            return make_env(env, num_envs, seed=seed)
        return make_env("gym", num_envs or DEFAULT_NUM_ENVS, id=env, seed=seed)
    return make_env_from(env, num_envs or DEFAULT_NUM_ENVS, seed)


def _describe(env: Any) -> dict[str, Any] | None:
    """How to rebuild `env` when loading (JSON), or None when it cannot be described."""
    if isinstance(env, str):
        return {"name": env}
    spec = getattr(env, "spec", None)
    if spec is not None and hasattr(spec, "to_json"):
        try:
            return {"gym_spec": spec.to_json()}
        except Exception:  # kwargs that are not JSON (a callable, an array)
            return None
    return None


def _rebuild(source: dict[str, Any]) -> Any:
    if "name" in source:
        return source["name"]
    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    return gym.make(EnvSpec.from_json(source["gym_spec"]))


def _spec_json(spec: Schedule | ScheduleSpec) -> dict[str, Any]:
    kind = "schedule" if isinstance(spec, Schedule) else "spec"
    return {"type": kind, **spec.__dict__}


def _spec_from_json(data: dict[str, Any]) -> Schedule | ScheduleSpec:
    fields = {k: v for k, v in data.items() if k != "type"}
    return Schedule(**fields) if data["type"] == "schedule" else ScheduleSpec(**fields)
