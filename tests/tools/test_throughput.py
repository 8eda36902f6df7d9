"""The throughput benchmark (tools/throughput.py) runs end to end and writes its table and
plot. (Its figures are measurements, not asserted here: speed is checked by benchmarks.)"""

from __future__ import annotations

import csv

from tools.throughput import main


def test_throughput_command_writes_rows_for_every_measurement(tmp_path):
    out = tmp_path / "tp"
    code = main(
        [
            "--envs",
            "taxi",
            "--variants",
            "numpy",
            "optimal",
            "--num-envs",
            "1",
            "8",
            "--seconds",
            "0.05",
            "--repeats",
            "1",
            "--workers",
            "1",
            "--ranks",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = list(csv.DictReader((out / "throughput.csv").open()))
    kinds = [(r["variant"], r["runtime"], r["num_envs"]) for r in rows]
    assert ("gymnasium loop", "python loop", "1") in kinds
    for variant in ("numpy", "optimal"):
        assert (variant, "single", "1") in kinds and (variant, "single", "8") in kinds
    assert ("optimal", "parallel x1", "64") in kinds
    assert ("optimal", "distributed x2", "64") in kinds
    assert all(float(r["steps_per_s"]) > 0 for r in rows)
    assert (out / "throughput.png").read_bytes()[:4] == b"\x89PNG"
    assert "| env | variant | runtime |" in (out / "throughput.md").read_text()
