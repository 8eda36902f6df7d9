"""Speed against a baseline stored in the repository (``tests/benchmarks/baseline.json``).

Seconds do not travel between machines, and on a shared machine wall time mostly measures
the other processes. So each figure is the *CPU time* of the process (not wall time: time
spent waiting for a core is not counted) per unit of work, *calibrated*: divided by the CPU
time of a fixed yardstick of the same kind (`calibration.KINDS`), timed right before the
workload in every round; the figure is the shortest workload time over the shortest
yardstick time. A figure is flagged when it is more than `TOLERANCE` times its baseline:
wide enough for noise, tight enough for a lost 2x.

Measured on the 2-core machine shared with five other busy sessions (load average 5-8),
four runs of every workload: with wall time the figures spread by up to 2.1x from run to
run (a lost 2x would be invisible); with CPU time by at most 1.10x.

    python -m tests.benchmarks.baseline            # measure and compare, print the table
    python -m tests.benchmarks.baseline --write    # refresh the stored baseline

``pytest tests/benchmarks --benchmark-only`` runs the comparison (`test_baseline.py`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import calibration
from tests.benchmarks.workloads import WORKLOADS, Workload

BASELINE_PATH = Path(__file__).with_name("baseline.json")
TOLERANCE = 1.6
REFRESH_COMMAND = "python -m tests.benchmarks.baseline --write"


@dataclass(frozen=True)
class Change:
    """One workload's calibrated figure now against its baseline (`ratio` > 1: slower)."""

    name: str
    baseline: float
    current: float

    @property
    def ratio(self) -> float:
        return self.current / self.baseline


@dataclass(frozen=True)
class Comparison:
    changes: list[Change]
    tolerance: float
    missing: list[str]  # in the baseline but not measured: the catalogue changed
    new: list[str]  # measured but not in the baseline

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.ratio > self.tolerance]

    @property
    def speedups(self) -> list[Change]:
        return [c for c in self.changes if c.ratio < 1 / self.tolerance]

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing


def calibrated(record: dict) -> dict[str, float]:
    """Each workload's shortest time per unit over its yardstick's shortest time (the least
    disturbed round of each: what remains of other processes' load makes times longer)."""
    return {
        name: min(r[1] for r in w["rounds"]) / w["units"] / min(r[0] for r in w["rounds"])
        for name, w in record["workloads"].items()
    }


def cpu_seconds(work: Callable[[], object]) -> float:
    """CPU time of this process spent in one call of `work`."""
    start = time.process_time()
    work()
    return time.process_time() - start


def compare(baseline: dict, current: dict, tolerance: float = TOLERANCE) -> Comparison:
    """Compare two records as `measure` makes them (the baseline: `load`)."""
    base, now = calibrated(baseline), calibrated(current)
    return Comparison(
        changes=[Change(n, base[n], now[n]) for n in base if n in now],
        tolerance=tolerance,
        missing=[n for n in base if n not in now],
        new=[n for n in now if n not in base],
    )


def failure_message(result: Comparison, baseline_path: Path = BASELINE_PATH) -> str:
    """What failed, one line per workload, and how to refresh the baseline."""
    lines = [
        f"speed regression against {baseline_path.name} "
        f"(tolerance {result.tolerance:g}x of the calibrated time per unit):"
    ]
    lines += [
        f"  {c.name}: {c.ratio:.2f}x slower than the baseline "
        f"({c.baseline:.4g} -> {c.current:.4g} calibration units)"
        for c in sorted(result.regressions, key=lambda c: -c.ratio)
    ]
    if result.missing:
        lines.append(f"  not measured any more: {', '.join(result.missing)}")
    lines.append(f"if the change is intended, refresh the baseline: {REFRESH_COMMAND}")
    return "\n".join(lines)


def report_table(result: Comparison) -> str:
    """Every workload's ratio to the baseline, as a small Markdown table."""
    rows = ["| workload | baseline | now | now / baseline |", "|---|---:|---:|---:|"]
    for c in result.changes:
        flag = " (slower)" if c in result.regressions else ""
        flag = " (faster: refresh?)" if c in result.speedups else flag
        rows.append(f"| {c.name} | {c.baseline:.4g} | {c.current:.4g} | {c.ratio:.2f}{flag} |")
    rows += [f"| {n} | - | new | - |" for n in result.new]
    return "\n".join(rows)


def measure(workloads: list[Workload] = WORKLOADS, rounds: int = 5) -> dict:
    """Time every workload `rounds` times, each time right after its kind's yardstick.

    Returns ``{"workloads": {name: {"kind", "units", "rounds": [[yardstick_s, work_s]]}}}``.
    """
    calibration.warm_up()
    work = [(w, w.make()) for w in workloads]
    timed = {w.name: {"kind": w.kind, "units": w.units, "rounds": []} for w in workloads}
    for _ in range(rounds):
        for w, call in work:
            pair = [cpu_seconds(calibration.KINDS[w.kind]), cpu_seconds(call)]
            timed[w.name]["rounds"].append(pair)
    return {"workloads": timed}


def merge(*records: dict) -> dict:
    """One record with the rounds of all `records` (a figure then uses them all)."""
    merged = json.loads(json.dumps(records[0]))
    for record in records[1:]:
        for name, w in record["workloads"].items():
            if name in merged["workloads"]:
                merged["workloads"][name]["rounds"] += w["rounds"]
            else:
                merged["workloads"][name] = json.loads(json.dumps(w))
    return merged


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _machine() -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }


def load(path: Path = BASELINE_PATH) -> dict:
    return json.loads(path.read_text())


def write(record: dict, path: Path = BASELINE_PATH) -> dict:
    """Store `record` (with the machine it was measured on and its figures, for readers)."""
    stored = {
        "measured_on": _machine(),
        "tolerance": TOLERANCE,
        "calibrated": calibrated(record),
        **record,
    }
    path.write_text(json.dumps(stored, indent=2) + "\n")
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the stored baseline")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--passes", type=int, default=3, help="passes for --write (default 3)")
    args = parser.parse_args(argv)
    if args.write:
        passes = [measure(rounds=args.rounds) for _ in range(args.passes)]
        print(report_table(compare(merge(*passes), passes[0])))
        write(merge(*passes))
        print(f"wrote {BASELINE_PATH} ({args.passes} passes; the first shown against all)")
        return 0
    result = compare(load(), measure(rounds=args.rounds))
    print(report_table(result))
    if not result.ok:
        print(failure_message(result), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
