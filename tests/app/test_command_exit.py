"""`dist_classicrl.run.command`: a one-job command ends without the interpreter's
teardown, but after the threads' shutdown and the `atexit` handlers. A sweep keeps the
teardown (joblib's loky workers clean up in it): `tests/app/test_launchers.py` runs one
through the command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(300)

# Registers an atexit handler and a non-daemon thread, and leaves an object whose
# __del__ only the interpreter's teardown calls; each writes a marker file. (Under
# `dist_classicrl.run.main`, which keeps the teardown, the object's marker is written.)
SCRIPT = textwrap.dedent(
    """
    import atexit, os, sys, threading, time
    from pathlib import Path

    out = Path(sys.argv.pop(1))

    class Teardown:
        def __init__(self, path):
            # its own references: the teardown clears the globals and builtins first
            self.path, self.create, self.flags = path, os.open, os.O_CREAT | os.O_WRONLY

        def __del__(self):
            self.create(self.path, self.flags)

    keep = Teardown(str(out / "teardown"))
    atexit.register(lambda: (out / "atexit").write_text("ran"))

    def late():
        time.sleep(0.5)
        (out / "thread").write_text("ran")

    threading.Thread(target=late).start()
    from dist_classicrl.run import command
    command()
    """
)


def _run(tmp_path, *overrides, steps="20000"):
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), *overrides, f"steps={steps}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_one_job_command_runs_exit_handlers_and_threads_but_skips_the_teardown(tmp_path):
    done = _run(tmp_path, f"hydra.run.dir={tmp_path / 'job'}")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "atexit").exists() and (tmp_path / "thread").exists()
    assert not (tmp_path / "teardown").exists()
    assert (tmp_path / "job" / "metrics.json").exists()


def test_a_one_job_command_keeps_its_exit_code(tmp_path):
    done = _run(tmp_path, steps="-1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("dist_classicrl: error: steps=-1")
    assert (tmp_path / "atexit").exists()
