"""Numba's decorators, with Numba's start-up made cheaper: every compiled module of the
package imports `njit` from here.

The first compiled call in a process loads Numba's implementation registries, and one of
them (``numba.np.arraymath``) imports ``scipy.linalg`` if SciPy is installed (the app's
Optuna sweeper installs it), only to choose how ``np.correlate`` and ``np.convolve``
take inner products. That import is 0.1-0.15 s of every job's start-up on the machine
of docs/performance.md, more than the default job spends training
(``python -X importtime -m dist_classicrl.run`` shows it under ``numba.np.arraymath``).
So that registry is loaded here with SciPy's BLAS module hidden for the moment: those
two functions then use Numba's own loop, and everything else is unchanged
(``np.dot`` and ``np.linalg`` import SciPy when a kernel that uses them is compiled).
"""

from __future__ import annotations

import sys

import numba
from numba import njit

__all__ = ["njit", "numba"]

_SCIPY_BLAS = "scipy.linalg.cython_blas"


def _load_registries_without_scipy() -> None:
    if "numba.np.arraymath" in sys.modules or _SCIPY_BLAS in sys.modules:
        return  # loaded already, or SciPy is imported anyway: nothing to save
    sys.modules[_SCIPY_BLAS] = None  # type: ignore[assignment]  # its import raises
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get(_SCIPY_BLAS, 0) is None:
            del sys.modules[_SCIPY_BLAS]


_load_registries_without_scipy()
