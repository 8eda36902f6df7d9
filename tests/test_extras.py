"""The core install (numpy, numba, gymnasium, tqdm) is the whole library; each feature of
an extra (pyproject.toml: ``app``, ``mpi``, ``pettingzoo``) that is not installed ends
with one line naming the extra. A missing package is simulated in a fresh interpreter by
``sys.modules[name] = None``, which makes its import fail as if it were not installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

#: What the extras install, by import name.
OPTIONAL = ("hydra", "omegaconf", "matplotlib", "mpi4py", "pettingzoo", "pygame")


def run_without(missing: tuple[str, ...], code: str, env: dict[str, str] | None = None):
    script = f"import sys\nfor name in {missing!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_the_library_runs_on_the_core_alone():
    proc = run_without(
        OPTIONAL,
        """
        import dist_classicrl as dc
        dc.QLearning("taxi", seed=0, progress=False).learn(20_000)
        report = dc.QLearning("frozenlake", progress=False).evaluate()
        print("gap", report["optimality_gap"])
        dc.QLearning("taxi", runtime="parallel", num_workers=1, progress=False).learn(2_000)
        loaded = [m for m, module in sys.modules.items() if module is not None]
        print(sorted(m for m in loaded if m.partition(".")[0] in {OPTIONAL!r}))
        """.replace("{OPTIONAL!r}", repr(set(OPTIONAL))),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("gap ")
    assert proc.stdout.splitlines()[-1] == "[]"  # no module of an extra was loaded


APP = (
    "the app (python -m dist_classicrl.run) needs the app extra: pip install 'dist_classicrl[app]'"
)


@pytest.mark.parametrize("missing", ["hydra", "omegaconf", "matplotlib"])
def test_the_app_without_the_app_extra_exits_2_with_one_line(missing):
    proc = run_without(
        (missing,),
        """
        sys.argv = ["dist_classicrl.run", "steps=1000"]
        from dist_classicrl.run import main
        main()
        """,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"dist_classicrl: error: {APP} ({missing} is not installed)"
    ]


def test_ranks_without_the_mpi_extra_exit_2_with_one_line():
    proc = run_without(
        ("mpi4py",),
        """
        sys.argv = ["dist_classicrl.run", "runtime=distributed"]
        from dist_classicrl.run import main
        main()
        """,
        env={"PMI_SIZE": "2"},  # as if started by mpiexec -n 2
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "dist_classicrl: error: runtime=distributed needs the mpi extra: "
        "pip install 'dist_classicrl[mpi]' (mpi4py is not installed)"
    ]


def library_error(missing: tuple[str, ...], code: str) -> str:
    proc = run_without(
        missing,
        f"""
        import dist_classicrl as dc
        try:
            {code}
        except dc.ConfigError as exc:
            print("ConfigError:", exc)
        """,
    )
    return proc.stdout.strip() or (proc.stderr.strip().splitlines() or ["no error"])[-1]


@pytest.mark.parametrize("ranks", [1, 2])
def test_the_distributed_runtime_without_the_mpi_extra_names_it(ranks):
    error = library_error(
        ("mpi4py",), f'dc.QLearning("taxi", runtime="distributed", ranks={ranks})'
    )
    assert error == (
        "ConfigError: runtime=distributed needs the mpi extra: pip install 'dist_classicrl[mpi]'"
    )


@pytest.mark.parametrize("missing", ["pettingzoo", "pygame"])
def test_a_pettingzoo_env_without_the_pettingzoo_extra_names_it(missing):
    error = library_error((missing,), 'dc.make_env("pettingzoo", 2, id="tictactoe_v3")')
    assert error.startswith("ConfigError: ")
    assert error.endswith("needs the pettingzoo extra: pip install 'dist_classicrl[pettingzoo]'")
