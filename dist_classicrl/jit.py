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

And loading a kernel from Numba's cache refreshes the compiler's registries first (every
typing and lowering rule Numba has: 0.06 s of each warm job, three times what loading the
default job's kernel takes), though a loaded kernel is machine code that nothing types or
lowers again. So a cache load here only starts Numba's runtime, whose symbols the loaded
code links against; a cache miss compiles, and every compilation refreshes the registries
itself (``numba.core.compiler.CompilerBase``), so no rule is ever missing where one is
used. Measured with ``python -m dist_classicrl.run`` (docs/performance.md).
"""

from __future__ import annotations

import sys

import numba
from numba import njit
from numba.core import caching
from numba.core.runtime import rtsys

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


def _load_overload_without_refresh(
    self: caching.Cache, sig: object, target_context: object
) -> object:
    """`numba.core.caching.Cache.load_overload` less the registries' refresh."""
    rtsys.initialize(target_context)
    with self._guard_against_spurious_io_errors():
        return self._load_overload(sig, target_context)
    return None  # the `with` swallowed an I/O error: a miss, as in Numba's own


def _load_cached_kernels_without_refresh() -> None:
    needs = ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")
    if all(hasattr(caching.Cache, name) for name in needs):  # else a Numba this predates
        caching.Cache.load_overload = _load_overload_without_refresh  # type: ignore[method-assign]


_load_registries_without_scipy()
_load_cached_kernels_without_refresh()
