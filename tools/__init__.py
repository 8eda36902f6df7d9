"""The team's own tools: benchmarks, studies and checks run from a checkout, not part of
the package (the wheel holds none of them). Each is a script run from the repository
root, e.g. ``python tools/throughput.py --quick``; tests import them as ``tools.NAME``."""
