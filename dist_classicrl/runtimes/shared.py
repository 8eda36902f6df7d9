"""`SharedArrays`: named NumPy arrays in one ``multiprocessing.shared_memory`` segment.

The segment gets a fresh random name (``dcrl_<pid>_<random>``), never a fixed one, so two
runs on one machine do not collide; the prefix lets tests find leftovers. It is unlinked
when the context exits, whatever happened inside; forked workers inherit the mapping and
never unlink it.
"""

from __future__ import annotations

import os
import secrets
from multiprocessing import shared_memory

import numpy as np

PREFIX = "dcrl_"


class SharedArrays:
    """``with SharedArrays(q=((S, A), np.float32), ...) as block: block.q[...]``."""

    def __init__(self, **layout: tuple[tuple[int, ...], type]) -> None:
        offsets, size = {}, 0
        for name, (shape, dtype) in layout.items():
            size = -(-size // 64) * 64  # 64-byte aligned: one array never shares a cache line
            offsets[name] = size
            size += int(np.prod(shape)) * np.dtype(dtype).itemsize
        self._shm = shared_memory.SharedMemory(
            name=f"{PREFIX}{os.getpid()}_{secrets.token_hex(6)}", create=True, size=max(size, 1)
        )
        for name, (shape, dtype) in layout.items():
            array = np.ndarray(shape, dtype=dtype, buffer=self._shm.buf, offset=offsets[name])
            array.fill(0)
            setattr(self, name, array)
        self._names = list(layout)

    @property
    def name(self) -> str:
        return self._shm.name

    def release(self) -> None:
        """Drop the views, close and unlink the segment (idempotent)."""
        if self._shm is None:
            return
        for name in self._names:
            setattr(self, name, None)
        try:
            self._shm.close()
        except BufferError:  # a view still exported somewhere: unlink all the same
            pass
        try:
            self._shm.unlink()
        except FileNotFoundError:
            pass
        self._shm = None

    def __enter__(self) -> SharedArrays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
