"""The whole training loop: choose, step, learn (the fused kernel for ``optimal``)."""

import time

from dist_classicrl.runtimes import TrainingLoop

from .common import ENV_NAMES, VARIANT_NAMES, make_algorithm, make_env_named

#: Steps per measurement, scaled to each variant's speed so that one run takes ~0.1-0.5 s.
STEPS = {"list": 50_000, "numpy": 200_000, "optimal": 2_000_000}


class TrainingThroughput:
    params = [VARIANT_NAMES, ENV_NAMES, [1, 256, 4096]]
    param_names = ["variant", "env", "num_envs"]
    timeout = 120

    def setup(self, variant, env_name, num_envs):
        env = make_env_named(env_name, num_envs)
        self.loop = TrainingLoop(make_algorithm(variant, env), env)
        self.loop.warm_up()
        self.loop.start(0)
        self.loop.run(num_envs)

    @staticmethod
    def steps_for(variant, num_envs):
        # Python variants are ~20x slower with one env than with a batch
        return STEPS[variant] if variant == "optimal" or num_envs > 1 else STEPS[variant] // 20

    def time_train(self, variant, env_name, num_envs):
        self.loop.run(self.steps_for(variant, num_envs))

    def track_steps_per_s(self, variant, env_name, num_envs):
        steps = self.steps_for(variant, num_envs)
        start = time.perf_counter()
        self.loop.run(steps)
        return steps / (time.perf_counter() - start)

    track_steps_per_s.unit = "steps/s"


class FusedMemory:
    """Peak memory of the fused kernel against the number of steps: flat when nothing is
    allocated per step."""

    params = [[100_000, 10_000_000]]
    param_names = ["steps"]

    def setup(self, steps):
        env = make_env_named("tictactoe", 64)
        self.loop = TrainingLoop(make_algorithm("optimal", env), env)
        self.loop.warm_up()
        self.loop.start(0)

    def peakmem_fused_train(self, steps):
        self.loop.run(steps)
