"""A job's figures are drawn by a helper process that imports matplotlib while the job
trains (`app.figures`): it draws what the job sends, reports what went wrong, and never
outlives the job."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dist_classicrl.app import figures
from dist_classicrl.app.figures import PROCESS_NAME, FigureDrawer, FigureError
from dist_classicrl.envs import make_env
from tests.app.test_policy_plot import assert_not_blank
from tests.reliability.harness import alive, children_map, comm, descendants

CURVE = [
    {"step": s, "train_mean_return": r, "eval_mean_return": r, "epsilon": 0.1, "learning_rate": 0.1}
    for s, r in ((1000, 0.1), (2000, 0.5))
]


def _figures(directory: Path) -> list[figures.Figure]:
    q = np.random.default_rng(0).random((16, 4))
    return [
        ("learning_curve", directory / "curve.png", {"curve": CURVE, "title": "t"}),
        ("policy", directory / "policy.png", {"q_table": q, "title": "t"}),
    ]


def _helpers() -> set[int]:
    """This process's figure helpers still running."""
    return {p for p in alive(descendants(os.getpid(), children_map())) if comm(p) == PROCESS_NAME}


def _one_helper(timeout_s: float = 30.0) -> int:
    """The helper of the drawer just made, once it has named itself (it does so first
    thing, but a loaded machine may take a while to run it)."""
    deadline = time.monotonic() + timeout_s
    while not (found := _helpers()) and time.monotonic() < deadline:
        time.sleep(0.01)
    (helper,) = found
    return helper


@pytest.fixture
def frozenlake():
    env = make_env("frozenlake", 1, seed=0)
    yield env
    env.close()


def test_the_helper_draws_the_figures_and_ends_with_the_drawer(tmp_path, frozenlake):
    with FigureDrawer(frozenlake) as drawer:
        helper = _one_helper()
        drawer.draw(_figures(tmp_path))()
        assert_not_blank(tmp_path / "curve.png")
        assert_not_blank(tmp_path / "policy.png")
    assert not alive({helper})


def test_without_a_fork_the_figures_are_drawn_in_this_process(tmp_path, frozenlake, monkeypatch):
    monkeypatch.setattr(figures, "_fork_is_safe", lambda: False)  # as in an MPI rank
    with FigureDrawer(frozenlake) as drawer:
        assert not _helpers()
        drawer.draw(_figures(tmp_path))()
    assert_not_blank(tmp_path / "policy.png")


def test_a_sweeps_jobs_draw_in_the_sweeps_process(tmp_path, frozenlake):
    """One matplotlib import for the whole sweep, not one per job."""
    with FigureDrawer(frozenlake, apart=False) as drawer:
        assert not _helpers()
        drawer.draw(_figures(tmp_path))()
    assert_not_blank(tmp_path / "curve.png")


def test_a_figure_that_cannot_be_written_raises_the_os_error(tmp_path, frozenlake):
    with FigureDrawer(frozenlake) as drawer:
        wait = drawer.draw(_figures(tmp_path / "missing"))
        with pytest.raises(OSError) as caught:
            wait()
        assert caught.value.errno == errno.ENOENT
        drawer.draw(_figures(tmp_path))()  # the helper lives on for the next figures
    assert_not_blank(tmp_path / "curve.png")


def test_a_helper_that_died_fails_the_figures_with_one_line(tmp_path, frozenlake):
    with FigureDrawer(frozenlake) as drawer:
        helper = _one_helper()
        os.kill(helper, signal.SIGKILL)
        time.sleep(0.2)  # gone before the figures are sent: the send meets a broken pipe
        with pytest.raises(FigureError, match="the process drawing the figures died"):
            drawer.draw(_figures(tmp_path))()


def test_the_helper_ignores_the_terminals_ctrl_c(tmp_path, frozenlake):
    """A Ctrl+C reaches the whole process group; the job stops and still wants its
    figures, so the helper must not die of it."""
    with FigureDrawer(frozenlake) as drawer:
        helper = _one_helper()
        # at once: the helper is born with both blocked and ignores them before unblocking
        os.kill(helper, signal.SIGINT)
        os.kill(helper, signal.SIGTERM)
        drawer.draw(_figures(tmp_path))()
    assert_not_blank(tmp_path / "policy.png")


def test_a_killed_job_leaves_no_helper(tmp_path):
    """SIGKILL of the job while it trains: its helper dies with it (PR_SET_PDEATHSIG)."""
    out = tmp_path / "job"
    job = subprocess.Popen(
        [sys.executable, "-m", "dist_classicrl.run", "steps=100000000000", f"hydra.run.dir={out}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        helpers: set[int] = set()
        while not helpers and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.1)
            tree = alive(descendants(job.pid, children_map()))
            helpers = {p for p in tree if comm(p) == PROCESS_NAME}
        assert helpers, "the job started no figure helper"
        job.kill()
        job.wait(timeout=30)
        deadline = time.monotonic() + 10
        while alive(helpers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(helpers)
    finally:
        job.kill()
        job.wait(timeout=30)


def test_a_drawer_started_before_the_env_draws_once_given_it(tmp_path, frozenlake):
    """A one-job command starts the helper first thing (`app.cli`) and sends the env
    when the job has built it."""
    with FigureDrawer() as drawer:
        helper = _one_helper()
        drawer.use_env(frozenlake)
        drawer.draw(_figures(tmp_path))()
        assert alive({helper})  # drawn by the helper (and its fork), not here
    assert_not_blank(tmp_path / "curve.png")
    assert_not_blank(tmp_path / "policy.png")
    assert not alive({helper})


class _Unpicklable:
    """An env attribute that does not pickle (a handle, a lock, a lambda)."""

    def __reduce__(self):
        raise TypeError("cannot pickle this env")


def test_an_env_that_does_not_pickle_is_drawn_in_this_process(tmp_path, frozenlake):
    frozenlake.handle = _Unpicklable()
    with FigureDrawer() as drawer:
        helper = _one_helper()
        drawer.use_env(frozenlake)
        assert not alive({helper})  # ended at once: this process draws
        drawer.draw(_figures(tmp_path))()
    assert_not_blank(tmp_path / "policy.png")


def test_each_figure_is_drawn_and_a_failed_one_is_reported(tmp_path, frozenlake):
    """The second figure is drawn in a fork of the helper: its error comes back too."""
    good, bad = _figures(tmp_path)
    bad = (bad[0], tmp_path / "missing" / "policy.png", bad[2])
    with FigureDrawer(frozenlake) as drawer:
        with pytest.raises(OSError) as caught:
            drawer.draw([good, bad])()
        assert caught.value.errno == errno.ENOENT
    assert_not_blank(tmp_path / "curve.png")
