"""init_q_table: a saved table is read back as float32; every kind of bad file is one
line that names the file and what is wrong with it."""

from __future__ import annotations

import numpy as np
import pytest

from dist_classicrl.errors import ConfigError
from dist_classicrl.q_table_file import load_q_table


def test_a_saved_table_comes_back_as_float32(tmp_path):
    table = np.random.default_rng(0).normal(size=(500, 6))
    np.save(tmp_path / "q.npy", table)
    loaded = load_q_table(tmp_path / "q.npy", 500, 6)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, table.astype(np.float32))


def _write(tmp_path, kind):
    path = tmp_path / f"{kind}.npy"
    if kind == "json":
        path.write_text('{"not": "a table"}')
    elif kind == "object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "truncated":
        np.save(path, np.zeros((500, 6)))
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "strings":
        np.save(path, np.full((500, 6), "x"))
    elif kind == "shape":
        np.save(path, np.zeros((6, 500)))
    elif kind in ("nan", "huge"):
        table = np.zeros((500, 6))
        table[3, 2] = np.nan if kind == "nan" else 1e300  # finite in float64, inf in float32
        np.save(path, table)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "no such file"),
        ("json", "not a .npy file"),
        ("object", "a damaged or unreadable .npy file (Object arrays cannot be loaded"),
        ("truncated", "a damaged or unreadable .npy file"),
        ("strings", "its values are <U1, not numbers"),
        ("shape", "its shape (6, 500) does not fit this env's table of 500 states x 6 actions"),
        ("nan", "it holds nan, which is not a finite float32"),
        ("huge", "it holds 1e+300, which is not a finite float32"),
    ],
)
def test_bad_files_are_one_line_naming_the_file(tmp_path, kind, message):
    path = tmp_path / "missing.npy" if kind == "missing" else _write(tmp_path, kind)
    with pytest.raises(ConfigError) as info:
        load_q_table(path, 500, 6)
    text = str(info.value)
    assert text.startswith(f"init_q_table={path}: ") and message in text
    assert "\n" not in text
