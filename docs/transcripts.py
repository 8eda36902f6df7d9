"""Re-run the shell transcripts of a Markdown page and write their real output back.

    python docs/transcripts.py docs/getting-started.md [--workdir /tmp/docs_work]

A transcript is a fenced block whose first line starts with ``$ ``. Every ``$ `` line is
a command; the lines after it, up to the next command, are its output. The commands of a
block run in one bash script, in `--workdir` (made empty first), so ``echo $?`` reports
the command before it; stderr is merged into stdout, as on a terminal. Markers, each on
the line before a block:

* ``<!-- transcript: skip -->``: leave the block as written.
* ``<!-- transcript: repo -->``: run the block at the root of the repository this script
  is in, not in `--workdir` (for the team's tools, ``python tools/NAME.py``).
* ``<!-- transcript: head N -->`` / ``tail N``: keep the first / last N output lines of
  each command of the block (for long outputs the page only excerpts).
* ``<!-- file: NAME -->`` before any fenced block: write its body to ``workdir/NAME``
  first (so that ``$ python example.py`` runs the page's own example).

Timings and paths differ on every run: read the diff (``git diff``) before committing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```")
MARKER = re.compile(r"^<!-- (transcript|file): (.+?) -->$")
SEPARATOR = "@@transcript-separator@@"
#: Where ``<!-- transcript: repo -->`` blocks run: the checkout that holds this script.
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Block:
    """A fenced block: where it sits in the page and the marker before it, if any."""

    start: int  # index of the opening fence line
    end: int  # index of the closing fence line
    body: list[str]
    marker: tuple[str, str] | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def is_transcript(self) -> bool:
        return bool(self.body) and self.body[0].startswith("$ ")


def find_blocks(lines: list[str]) -> list[Block]:
    """Every fenced block of the page, with the marker on the line before it."""
    blocks, i = [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            j = i + 1
            while j < len(lines) and not FENCE.match(lines[j]):
                j += 1
            prev = MARKER.match(lines[i - 1].strip()) if i > 0 else None
            block = Block(i, j, lines[i + 1 : j], prev.groups() if prev else None)
            block.commands = [line[2:] for line in block.body if line.startswith("$ ")]
            blocks.append(block)
            i = j + 1
        else:
            i += 1
    return blocks


def run_block(commands: list[str], workdir: Path, env: dict[str, str]) -> list[list[str]]:
    """The output lines of each command, run in order in one bash script."""
    script = ["exec 2>&1"]
    for command in commands:
        # keep the command's exit status for a following `echo $?`
        script += [command, f'__rc=$?; echo "{SEPARATOR}"; (exit $__rc)']
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    chunks = proc.stdout.split(SEPARATOR + "\n")
    return [chunk.splitlines() for chunk in chunks[: len(commands)]]


def excerpt(output: list[str], marker: tuple[str, str] | None) -> list[str]:
    if marker is None or marker[0] != "transcript":
        return output
    kind, _, count = marker[1].partition(" ")
    if kind == "head":
        return output[: int(count)]
    if kind == "tail":
        return output[-int(count) :]
    return output


def regenerate(page: Path, workdir: Path) -> int:
    """Rewrite `page` with fresh outputs; returns the number of transcripts whose text
    changed."""
    lines = page.read_text().splitlines()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    changed, out = 0, list(lines)
    blocks = find_blocks(lines)
    for block in blocks:  # files first: a transcript may run a file defined after it
        if block.marker and block.marker[0] == "file":
            (workdir / block.marker[1]).write_text("\n".join(block.body) + "\n")
    fresh: dict[int, list[str]] = {}
    for block in blocks:
        if not block.is_transcript or block.marker == ("transcript", "skip"):
            continue
        print(f"{page}:{block.start + 1}: {' ; '.join(block.commands)}", file=sys.stderr)
        cwd = REPO if block.marker == ("transcript", "repo") else workdir
        outputs = run_block(block.commands, cwd, env)
        body = []
        for command, output in zip(block.commands, outputs, strict=True):
            body += [f"$ {command}", *excerpt(output, block.marker)]
        if body != block.body:
            changed += 1
            fresh[block.start] = body
    for block in reversed(blocks):  # from the end: earlier indices stay valid
        if block.start in fresh:
            out[block.start + 1 : block.end] = fresh[block.start]
    page.write_text("\n".join(out) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/docs_work"))
    args = parser.parse_args(argv)
    changed = regenerate(args.page, args.workdir)
    print(f"{changed} transcript(s) rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
