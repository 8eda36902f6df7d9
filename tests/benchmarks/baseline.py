"""Speed against a baseline stored in the repository (``tests/benchmarks/baseline.json``).

Seconds do not travel between machines, and this machine alone varies 10-25% from run to
run. So each figure is *calibrated*: a workload's best time per unit of work divided by the
best time of a fixed yardstick of the same kind (`calibration.KINDS`) measured in the same
run, rounds interleaved so that both see the same load. A figure is flagged when it is more
than `TOLERANCE` times its baseline: wide enough for noise, tight enough for a lost 2x.

    python -m tests.benchmarks.baseline            # measure and compare, print the table
    python -m tests.benchmarks.baseline --write    # refresh the stored baseline

``pytest tests/benchmarks --benchmark-only`` runs the comparison (`test_baseline.py`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks import calibration
from tests.benchmarks.workloads import WORKLOADS, Workload, best_time

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
    """Each workload's seconds per unit divided by its kind's calibration seconds."""
    cal = record["calibration_s"]
    return {name: w["seconds_per_unit"] / cal[w["kind"]] for name, w in record["workloads"].items()}


def compare(baseline: dict, current: dict, tolerance: float = TOLERANCE) -> Comparison:
    """Compare two records as `measure` makes them (raw seconds + calibration seconds)."""
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


def measure(
    workloads: list[Workload] = WORKLOADS, rounds: int = 5, kinds: list[str] | None = None
) -> dict:
    """Best seconds per unit of every workload and of every calibration it needs.

    Rounds are interleaved (every calibration and workload once per round) so that a burst
    of load from another process slows both sides of a quotient alike.
    """
    calibration.warm_up()
    work = {w.name: w.make() for w in workloads}
    kinds = sorted(kinds or {w.kind for w in workloads})
    cal_best = dict.fromkeys(kinds, float("inf"))
    work_best = dict.fromkeys(work, float("inf"))
    for _ in range(rounds):
        for kind in kinds:
            cal_best[kind] = min(cal_best[kind], best_time(calibration.KINDS[kind], 1))
        for name, call in work.items():
            work_best[name] = min(work_best[name], best_time(call, 1))
    return {
        "calibration_s": cal_best,
        "workloads": {
            w.name: {"kind": w.kind, "seconds_per_unit": work_best[w.name] / w.units}
            for w in workloads
        },
    }


def merge_best(first: dict, second: dict) -> dict:
    """The better (shorter) of two measurements, figure by figure."""
    merged = json.loads(json.dumps(first))
    for kind, s in second["calibration_s"].items():
        merged["calibration_s"][kind] = min(s, merged["calibration_s"].get(kind, s))
    for name, w in second["workloads"].items():
        old = merged["workloads"].get(name, w)
        merged["workloads"][name] = min(old, w, key=lambda x: x["seconds_per_unit"])
    return merged


def _machine() -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
    }


def load(path: Path = BASELINE_PATH) -> dict:
    return json.loads(path.read_text())


def write(record: dict, path: Path = BASELINE_PATH) -> None:
    record = {"measured_on": _machine(), "tolerance": TOLERANCE, **record}
    record["calibrated"] = calibrated(record)  # for readers; `compare` recomputes it
    path.write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the stored baseline")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    args = parser.parse_args(argv)
    current = measure(rounds=args.rounds)
    if args.write:
        # two passes, the better of each: the baseline should be the undisturbed speed
        current = merge_best(current, measure(rounds=args.rounds))
        write(current)
        print(f"wrote {BASELINE_PATH}")
        return 0
    result = compare(load(), current)
    print(report_table(result))
    if not result.ok:
        print(failure_message(result), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
