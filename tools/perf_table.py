"""The README's performance table, every figure beside the one it is measured against.

    python tools/perf_table.py            # about 6 minutes on 2 cores
    python tools/perf_table.py --quick    # fewer repeats, about 3 minutes

Each row is a pair measured in this one run, A and B alternating (A B A B ...), and the
ratio is the median of the pairs' ratios: pairing keeps a ratio meaningful on a shared
machine whose speed drifts during the run. Whole commands are timed from outside, from
start to exit, as a user waits for them; throughput comes from the job's own
``metrics.json`` (learned steps per second of training), so every figure is of what users
run:

- the default job ``python -m dist_classicrl.run`` against the import floor
  ``python -c "import numpy, numba, hydra, omegaconf"``: what the job adds to the
  libraries it cannot do without;
- the same job on an empty Numba cache (the first run after an install compiles the
  kernels) against the same floor;
- a 12-job sweep (``-m seed=0,...,11``), per job, against the same floor;
- ``runtime=distributed runtime.ranks=2`` and ``runtime=parallel runtime.num_workers=2``
  against ``runtime=single`` and one worker: the speed-up of a second core, beside the
  machine's own ceiling for it: two independent ``runtime=single`` jobs at once, summed,
  against one alone.

Prints the table in Markdown (the README's "Performance" section is this output).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

APP = [sys.executable, "-m", "dist_classicrl.run"]
FLOOR = [sys.executable, "-c", "import numpy, numba, hydra, omegaconf"]
FLOOR_TEXT = '`python -c "import numpy, numba, hydra, omegaconf"`'


@dataclass
class Row:
    what: str
    a: str  # the figure measured, with its unit
    b: str  # the one it is measured against
    ratio: float
    target: str


def _run(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of `command`, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return seconds


def paired(
    a: Callable[[], float], b: Callable[[], float], repeats: int
) -> tuple[float, float, float]:
    """(median of A, median of B, median of the pairs' A/B), A and B alternating, after
    one unmeasured run of each (disk caches, Numba's cache)."""
    a(), b()
    pairs = [(a(), b()) for _ in range(repeats)]
    return (
        statistics.median(x for x, _ in pairs),
        statistics.median(y for _, y in pairs),
        statistics.median(x / y for x, y in pairs),
    )


def startup_rows(work: Path, repeats: int) -> list[Row]:
    rows = []
    job = [*APP, f"hydra.run.dir={work / 'job'}"]
    a, b, ratio = paired(lambda: _run(job), lambda: _run(FLOOR), repeats)
    rows.append(
        Row("default job, wall time", f"{a:.2f} s", f"{b:.2f} s (import floor)", ratio, "<= 1.6x")
    )

    def cold() -> float:  # a fresh install: nothing in Numba's cache yet
        cache = Path(tempfile.mkdtemp(prefix="dcrl_numba_cache_", dir=work))
        try:
            return _run(job, env={"NUMBA_CACHE_DIR": str(cache)})
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    a, b, ratio = paired(cold, lambda: _run(FLOOR), max(2, repeats // 2))
    rows.append(
        Row(
            "first run (empty Numba cache)",
            f"{a:.2f} s",
            f"{b:.2f} s (import floor)",
            ratio,
            "<= 6x",
        )
    )
    seeds = ",".join(str(s) for s in range(12))
    sweep = [*APP, "-m", f"seed={seeds}", f"hydra.sweep.dir={work / 'sweep'}"]
    a, b, ratio = paired(lambda: _run(sweep) / 12, lambda: _run(FLOOR), max(2, repeats // 2))
    rows.append(
        Row("12-job sweep, wall time per job", f"{a:.2f} s", f"{b:.2f} s (import floor)", ratio, "")
    )
    return rows


def _steps_per_s(work: Path, overrides: list[str]) -> float:
    out = work / "scaling"
    shutil.rmtree(out, ignore_errors=True)
    _run([*APP, *overrides, f"hydra.run.dir={out}", "checkpoint.every=null"])
    return float(json.loads((out / "metrics.json").read_text())["steps_per_s"])


def _two_at_once_steps_per_s(work: Path, steps: int) -> float:
    """The machine's own ceiling for a second core: two independent ``runtime=single`` jobs
    started together (different seeds), their ``steps_per_s`` summed. Nothing is shared
    between them, so what they lose against one job alone is the hardware's (the cores'
    shared cache and memory, a VM's neighbours), which the runtimes cannot win back."""
    procs, outs = [], []
    for copy in range(2):
        out = work / f"alone_{copy}"
        shutil.rmtree(out, ignore_errors=True)
        outs.append(out)
        command = [*APP, "runtime=single", f"steps={steps}", f"seed={copy}"]
        command += [f"hydra.run.dir={out}", "checkpoint.every=null"]
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"a runtime=single job failed ({proc.returncode}): {err[-500:]!r}")
    return sum(float(json.loads((o / "metrics.json").read_text())["steps_per_s"]) for o in outs)


def scaling_rows(work: Path, repeats: int, steps: int) -> list[Row]:
    # The jobs run twice as many steps as the one-core job, as the runtimes' jobs do, so
    # that their start a few milliseconds apart barely shifts their training windows.
    a, b, ratio = paired(
        functools.partial(_two_at_once_steps_per_s, work, 2 * steps),
        functools.partial(_steps_per_s, work, ["runtime=single", f"steps={steps}"]),
        repeats,
    )
    rows = [
        Row(
            "two single jobs at once, summed (the machine's ceiling)",
            f"{a / 1e6:.1f} M steps/s",
            f"{b / 1e6:.1f} M steps/s",
            ratio,
            "",
        )
    ]
    for what, more, base, target in (
        (
            "distributed, 2 ranks",
            ["runtime=distributed", "runtime.ranks=2"],
            ["runtime=single"],
            ">= 1.85x",
        ),
        (
            "parallel, 2 workers",
            ["runtime=parallel", "runtime.num_workers=2"],
            ["runtime=parallel", "runtime.num_workers=1"],
            ">= 1.9x",
        ),
    ):
        a, b, ratio = paired(
            functools.partial(_steps_per_s, work, [*more, f"steps={2 * steps}"]),
            functools.partial(_steps_per_s, work, [*base, f"steps={steps}"]),
            repeats,
        )
        rows.append(
            Row(
                f"{what}, app job (TicTacToe)",
                f"{a / 1e6:.1f} M steps/s",
                f"{b / 1e6:.1f} M steps/s",
                ratio,
                target,
            )
        )
    return rows


def markdown(rows: list[Row], command: str) -> str:
    lines = [
        f"Measured {date.today().isoformat()} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}: "
        f"`{command}`. Each ratio is the median of pairs run one after the other.",
        "",
        "| what | figure | measured against | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.what} | {r.a} | {r.b} | {r.ratio:.2f}x | {r.target} |" for r in rows]
    lines.append("")
    lines.append(f"The import floor is {FLOOR_TEXT}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python tools/perf_table.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--steps", type=int, default=60_000_000, help="single-core steps of a scaling job"
    )
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    command = "python tools/perf_table.py" + (" --quick" if args.quick else "")
    with tempfile.TemporaryDirectory(prefix="dcrl_perf_") as tmp:
        work = Path(tmp)
        rows = startup_rows(work, repeats) + scaling_rows(work, max(2, repeats // 2), args.steps)
    print(markdown(rows, command))


if __name__ == "__main__":
    main()
