"""The wheel holds the product alone: the package and its configs, none of the team's tools
(tools/), and its metadata asks for the core dependencies only, the rest being extras.

The wheel is built (``python -m build --wheel``, about 7 s) from a copy of the files git
sees (tracked or not ignored), not in the work tree: setuptools puts everything under
``build/lib`` into a wheel, so a stale ``build/`` left by an older tree would add
modules that the sources no longer have, and a build here would write ``build/`` and the
egg-info into the tree.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The team's tools, by module name: none may ship, whichever folder it would land in.
TOOLS = {path.stem for path in (ROOT / "tools").glob("*.py")} - {"__init__"}
CORE = {"numpy", "numba", "gymnasium", "tqdm"}


def _copy_sources(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know which files are sources")
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    _copy_sources(src)
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = out.glob("*.whl")
    with zipfile.ZipFile(path) as whl:
        yield whl


def test_the_wheel_holds_no_tool_and_every_config(wheel):
    names = wheel.namelist()
    assert not [n for n in names if n.startswith("tools/") or "/tools/" in n]
    assert {"throughput", "perf_table"} <= TOOLS  # the names are found, not assumed
    assert not [n for n in names if Path(n).stem in TOOLS]
    assert "dist_classicrl/app/cli.py" in names and "dist_classicrl/run.py" in names
    configs = sorted(
        p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")
    )
    assert "config.yaml" in configs
    missing = [c for c in configs if f"dist_classicrl/conf/{c}" not in names]
    assert missing == []


def test_the_wheel_requires_the_core_and_offers_the_extras(wheel):
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    message = email.message_from_bytes(wheel.read(metadata))
    requires = message.get_all("Requires-Dist")
    core = {r.split(">")[0].split("<")[0].split("=")[0].strip() for r in requires if ";" not in r}
    assert core == CORE
    assert set(message.get_all("Provides-Extra")) == {"app", "mpi", "pettingzoo", "dev"}

    def extra_of(package: str) -> set[str]:
        return {r.split('extra == "')[1].rstrip('"') for r in requires if r.startswith(package)}

    assert extra_of("hydra-core") == extra_of("matplotlib") == {"app"}
    assert extra_of("mpi4py") == extra_of("mpich") == {"mpi"}
    assert extra_of("pettingzoo") == extra_of("pygame-ce") == {"pettingzoo"}
    assert extra_of("dist_classicrl") == {"dev"}  # dev = app + mpi + pettingzoo + test tools
