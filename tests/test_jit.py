"""`dist_classicrl.jit`: a kernel loaded from Numba's cache skips the registries' refresh,
and whatever compiles after it still finds every rule it uses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# A cached kernel, in a module of its own: Numba caches only functions defined in files.
KERNEL = """
import numpy as np
from dist_classicrl.jit import njit

@njit(cache=True)
def scaled_sum(values, factor):
    total = 0.0
    for v in values:
        total += v * factor
    return total
"""

# Loads the kernel, counts the refreshes, then compiles code that needs rules the refresh
# would have loaded (sorting, typed dicts, math): all must work and agree with NumPy.
LOAD_THEN_COMPILE = """
import math
import numpy as np
from numba.core import base
from numba import typed, types

refreshes = []
original = base.BaseContext.refresh
def counting(self):
    refreshes.append(1)
    return original(self)
base.BaseContext.refresh = counting

import kernel
from dist_classicrl.jit import njit

values = np.arange(10.0)
assert kernel.scaled_sum(values, 2.0) == 90.0
assert sum(kernel.scaled_sum.stats.cache_hits.values()) == 1, kernel.scaled_sum.stats
print("refreshes_after_load", len(refreshes))

@njit
def uses_many_rules(x):
    d = typed.Dict.empty(types.int64, types.float64)
    for i in range(x.shape[0]):
        d[i] = math.sqrt(x[i])
    return np.sort(x)[::-1], d[3]

descending, root = uses_many_rules(np.array([4.0, 9.0, 1.0, 16.0]))
assert list(descending) == [16.0, 9.0, 4.0, 1.0], descending
assert root == 4.0, root
print("refreshes_after_compile", len(refreshes))
"""


def _run(code: str, where: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(where / "numba_cache")}
    env["PYTHONPATH"] = os.pathsep.join([str(where), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_cache_load_skips_the_refresh_and_later_compiles_still_work(tmp_path):
    (tmp_path / "kernel.py").write_text(KERNEL)
    # the first process compiles and saves the kernel
    _run("import numpy as np, kernel; print(kernel.scaled_sum(np.ones(3), 1.0))", tmp_path)
    out = dict(line.split() for line in _run(LOAD_THEN_COMPILE, tmp_path).splitlines())
    assert out["refreshes_after_load"] == "0"  # Numba's own load refreshes once
    assert int(out["refreshes_after_compile"]) >= 1  # the compile loaded the rules itself
