"""The fused kernel against a hand-fused TicTacToe-only reference, timed in one process.

A ratio of two kernels timed alternately on the same machine moment is what stays
comparable across commits and noisy machines; the absolute figures sit beside it.
Issue 18 targets ``ratio >= 0.9`` at 1 env and at the best ``num_envs``.
"""

from .reference_tictactoe import measure


class KernelVsReference:
    params = [[1, 64]]
    param_names = ["num_envs"]
    timeout = 120

    def setup(self, num_envs):
        self.figures = measure(num_envs)

    def track_ratio(self, num_envs):
        return self.figures["ratio"]

    track_ratio.unit = "ours/reference"

    def track_steps_per_s(self, num_envs):
        return self.figures["ours"]

    track_steps_per_s.unit = "steps/s"

    def track_reference_steps_per_s(self, num_envs):
        return self.figures["reference"]

    track_reference_steps_per_s.unit = "steps/s"
