"""docs/transcripts.py: a page's shell transcripts get their real output, exit codes
included; markers skip, excerpt and provide files; other blocks stay as written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("transcripts", ROOT / "docs" / "transcripts.py")
transcripts = importlib.util.module_from_spec(spec)
sys.modules["transcripts"] = transcripts  # dataclasses look their module up
spec.loader.exec_module(transcripts)

PAGE = """# Page

<!-- file: hello.py -->
```python
print("hello from the page")
```

```
$ python hello.py
stale output
$ ls /nonexistent-dir; echo $?
2
```

<!-- transcript: head 2 -->
```
$ seq 1 5
```

<!-- transcript: repo -->
```
$ test -f tools/throughput.py && echo at the repository root
```

<!-- transcript: skip -->
```
$ false
kept as written
```

```python
x = 1  # not a transcript
```
"""


def test_transcripts_are_rerun_and_written_back(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    changed = transcripts.regenerate(page, tmp_path / "work")
    text = page.read_text()
    assert changed == 3
    assert "$ python hello.py\nhello from the page\n$ ls /nonexistent-dir; echo $?\n" in text
    assert "No such file or directory\n2\n```" in text  # stderr merged, exit code real
    assert "$ seq 1 5\n1\n2\n```" in text  # head 2
    assert (
        "$ test -f tools/throughput.py && echo at the repository root\nat the repository root\n"
        in text
    )
    assert "$ false\nkept as written\n" in text  # skip
    assert "x = 1  # not a transcript" in text and "stale output" not in text


def test_exit_status_is_the_previous_commands(tmp_path):
    outputs = transcripts.run_block(["(exit 3)", "echo $?", "true", "echo $?"], tmp_path, {})
    assert outputs == [[], ["3"], [], ["0"]]
