"""Read a saved Q-table (a job's ``q_table.npy``) to start training from, checked first.

``init_q_table=PATH`` on the command line warm-starts a job: continue a run, or move a
table between the built-in TicTacToe and PettingZoo's ``tictactoe_v3`` (same encoding).
A file that is missing, not a plain ``.npy`` array, of the wrong shape for the env, or
not finite is refused with one line (`ConfigError`) before any work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dist_classicrl.errors import ConfigError


def load_q_table(path: str | Path, n_states: int, n_actions: int) -> np.ndarray:
    """The float32 table stored at `path`, checked against the env's ``(states, actions)``."""
    where = f"init_q_table={path}"
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{where}: no such file (give a q_table.npy a job wrote)")
    with file.open("rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":  # numpy.lib.format.MAGIC_PREFIX
        raise ConfigError(f"{where}: not a .npy file (it lacks NumPy's header)")
    try:
        table = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where}: a damaged or unreadable .npy file ({reason})") from None
    if not np.issubdtype(table.dtype, np.number):
        raise ConfigError(f"{where}: its values are {table.dtype}, not numbers")
    if table.shape != (n_states, n_actions):
        raise ConfigError(
            f"{where}: its shape {table.shape} does not fit this env's table of "
            f"{n_states} states x {n_actions} actions"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = table.astype(np.float32)  # checked as trained: 1e300 is inf in float32
    if not np.isfinite(values).all():
        bad = table.ravel()[~np.isfinite(values.ravel())][0].item()
        raise ConfigError(
            f"{where}: it holds {bad!r}, which is not a finite float32 (|values| up to "
            f"{np.finfo(np.float32).max:.3g} are allowed)"
        )
    return values
