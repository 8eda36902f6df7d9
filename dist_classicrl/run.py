"""``python -m dist_classicrl.run [overrides]``: the app's entry point (`app.cli`).

It handles SIGINT and SIGTERM before anything heavy is imported (Hydra, NumPy, Numba,
matplotlib take a second or more): an interrupt during start-up ends the command with
one line and exit code 130 or 143, not a traceback.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_at_start(signum: int, frame: object) -> None:
    sys.stderr.write("dist_classicrl: interrupted during start-up; nothing saved\n")
    sys.stderr.flush()
    os._exit(128 + signum)  # nothing to clean up yet: no file, no process


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupted_at_start)
    from dist_classicrl.app.cli import main as run_app

    run_app()


if __name__ == "__main__":
    main()
