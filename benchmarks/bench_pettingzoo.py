"""PettingZoo self-play (``tictactoe_v3``): moves learned through the training loop. A
Python env: its cost is mostly PettingZoo's own ``observe``/``step``
(docs/environments_tictactoe.md), which this follows across commits and versions."""

from dist_classicrl.envs import make_env
from dist_classicrl.runtimes import TrainingLoop

from .common import make_algorithm


class PettingZooSelfPlay:
    timeout = 120

    def setup(self):
        env = make_env("pettingzoo", 16, id="tictactoe_v3", seed=0)
        self.loop = TrainingLoop(make_algorithm("optimal", env), env)
        self.loop.warm_up()
        self.loop.start(seed=0)

    def time_learn_1000_moves(self):
        # both seats, 16 games side by side; the games go on from call to call
        self.loop.run(1000)
