"""The library API against the runtime it drives: `dist_classicrl.QLearning.learn` and
`SingleRuntime.run` on the same job train through the same compiled kernels, so their
learned steps per second must stay the same (issue 16: the API must not cost speed)."""

import dist_classicrl as dc
from dist_classicrl.runtimes import SingleRuntime, TrainingJob
from dist_classicrl.schedules import Schedule

from .common import ENV_NAMES

STEPS = 3_000_000


def _named(env_name):
    return "taxi" if env_name == "taxi" else "tictactoe"


class ApiLearn:
    params = [ENV_NAMES]
    param_names = ["env"]
    timeout = 120

    def setup(self, env_name):
        self.agent = dc.QLearning(_named(env_name), variant="optimal", seed=0)
        self.agent.learn(64 * 100)  # compile or load the kernels

    def track_api_steps_per_s(self, env_name):
        return self.agent.learn(STEPS).result.steps_per_s

    track_api_steps_per_s.unit = "steps/s"

    def track_runtime_steps_per_s(self, env_name):
        """The same job handed to the runtime directly, as the app does."""
        agent = self.agent
        job = TrainingJob(
            agent.algorithm,
            agent.env,
            STEPS,
            Schedule(1.0, 0.05, STEPS // 2),
            Schedule(0.5, 0.01, STEPS),
            0,
        )
        return SingleRuntime(progress=False).run(job).steps_per_s

    track_runtime_steps_per_s.unit = "steps/s"
