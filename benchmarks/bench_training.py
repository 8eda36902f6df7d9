"""The whole training loop: choose, step, learn (the fused kernel for ``optimal``)."""

import time

from dist_classicrl.runtimes import TrainingLoop

from . import calibration
from .common import (
    ENV_NAMES,
    VARIANT_NAMES,
    calibration_kind,
    interleaved,
    make_algorithm,
    make_env_named,
)

#: Steps per measurement, scaled to each variant's speed so that one run takes ~0.1-0.5 s.
STEPS = {"list": 50_000, "numpy": 200_000, "optimal": 2_000_000}
#: Steps per slice of `CalibratedThroughput`, so that a slice lasts about as long as a
#: calibration run (10-30 ms here): both halves of a pair then meet the same load.
SLICE_STEPS = {"list": 10_000, "numpy": 20_000, "optimal": 200_000}


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


class CalibratedThroughput:
    """Learned steps per calibration run: a history that moves with the code, not with the
    machine's load (docs/benchmarks.md, "Reading the calibrated history").

    The training loop and a fixed calibration workload of the same kind of code
    (`calibration.KINDS`, chosen by `calibration_kind`) alternate in short slices, timed
    in CPU time (`interleaved`); the figure is the steps learned in the CPU time of one
    calibration run. Load from other processes reaches both alike, so it holds still
    while the absolute figure beside it, `track_steps_per_s` (wall time, as in
    `TrainingThroughput`), moves with the load.
    """

    params = [VARIANT_NAMES, ENV_NAMES, [1, 64]]
    param_names = ["variant", "env", "num_envs"]
    timeout = 120
    pairs = 20  # pairs per measurement (~0.5-1 s); a test makes it and `steps` tiny

    def setup(self, variant, env_name, num_envs):
        env = make_env_named(env_name, num_envs)
        self.loop = TrainingLoop(make_algorithm(variant, env), env)
        self.loop.warm_up()
        calibration.warm_up()
        self.loop.start(0)
        self.calibrate = calibration.KINDS[calibration_kind(variant, num_envs)]
        self.steps = SLICE_STEPS[variant]
        if variant != "optimal" and num_envs == 1:
            self.steps //= 20  # Python variants are ~20x slower with one env than with a batch
        self.calibrate()  # first calls outside the timing
        self.loop.run(self.steps)

    def _measure(self):
        return interleaved(lambda: self.loop.run(self.steps), self.calibrate, self.pairs)

    def track_steps_per_calibration(self, variant, env_name, num_envs):
        ratio, _ = self._measure()
        return self.steps * ratio

    track_steps_per_calibration.unit = "steps/calibration run"

    def track_steps_per_s(self, variant, env_name, num_envs):
        _, work_s = self._measure()
        return self.steps / work_s

    track_steps_per_s.unit = "steps/s"
