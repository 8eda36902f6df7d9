"""The greedy policy of a Q-table, with the tie rule every variant documents.

Ties are broken towards the *lowest action index* (``np.argmax`` semantics), so a greedy
policy is a deterministic function of the table; illegal actions are never chosen while
a legal one exists.
"""

from __future__ import annotations

import numpy as np


def greedy_actions(q_rows: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """Greedy action per row of `q_rows` ``[n, A]``, restricted to ``masks`` if given."""
    if masks is None:
        return np.argmax(q_rows, axis=1)
    return np.argmax(np.where(masks, q_rows, -np.inf), axis=1)
