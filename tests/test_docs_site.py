"""The documentation site (mkdocs.yml), checked without building it (CI builds it with
``mkdocs build --strict``): no page is left out of the nav, the nav names only pages that
exist, every API reference entry (``::: dotted.path``) names an object that imports, and
docs/griffe_definitions.py rewrites the docstrings' definition lists as it says."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
#: A reference entry: ``::: dotted.path``, then its options indented by 4 spaces.
ENTRY = re.compile(r"^::: (?P<path>[\w.]+)[ \t]*\n(?P<options>(?:(?: {4}.*)?\n)*)", re.M)


def nav_pages(items: Any) -> list[str]:
    """The page paths of a nav (a list of paths and ``{title: path or list}`` items)."""
    if isinstance(items, str):
        return [items]
    if isinstance(items, list):
        return [page for item in items for page in nav_pages(item)]
    if isinstance(items, dict):
        return [page for value in items.values() for page in nav_pages(value)]
    raise TypeError(f"unexpected nav item {items!r}")


def patterns(key: str) -> list[str]:
    return [line.strip() for line in CONFIG.get(key, "").splitlines() if line.strip()]


def test_every_page_is_in_the_nav_once_and_every_nav_entry_exists():
    assert CONFIG["docs_dir"] == "docs"
    nav = nav_pages(CONFIG["nav"])
    assert len(nav) == len(set(nav)), "a page is in the nav twice"
    pages = {
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if not any(
            fnmatch.fnmatch(path.relative_to(DOCS).as_posix(), pattern)
            for pattern in patterns("not_in_nav") + patterns("exclude_docs")
        )
    }
    assert pages - set(nav) == set(), "pages missing from mkdocs.yml's nav"
    assert set(nav) - pages == set(), "nav entries that are not pages"
    # the pages kept out of the nav on purpose are the tools' tables, and they exist
    assert patterns("not_in_nav") == ["figures/**/*.md"]
    assert list((DOCS / "figures").rglob("*.md"))


def reference_entries() -> list[tuple[str, str, dict]]:
    entries = []
    for page in sorted(DOCS.rglob("*.md")):
        for match in ENTRY.finditer(page.read_text()):
            options = yaml.safe_load("\n".join(line[4:] for line in match["options"].splitlines()))
            entries.append((page.relative_to(DOCS).as_posix(), match["path"], options or {}))
    return entries


def resolve(path: str) -> Any:
    """The object `path` names: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(path)


def test_the_reference_documents_the_public_api():
    documented = {path for _, path, _ in reference_entries()}
    for path in (
        "dist_classicrl.agent.QLearning",
        "dist_classicrl.envs.make_env",
        "dist_classicrl.envs.presets",
        "dist_classicrl.schedules",
        "dist_classicrl.runtimes.single",
        "dist_classicrl.runtimes.parallel",
        "dist_classicrl.runtimes.distributed",
        "dist_classicrl.algorithms.base",
        "dist_classicrl.wrappers",
        "dist_classicrl.buffers",
        "dist_classicrl.runtimes.checkpoint",
        "dist_classicrl.app.objective",
        "dist_classicrl.app.config.schema_of",
    ):
        assert path in documented
    assert all(page.startswith("reference/") for page, _, _ in reference_entries())


@pytest.mark.parametrize(
    ("page", "path", "options"), reference_entries(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_reference_entry_names_an_object_that_imports(page, path, options):
    obj = resolve(path)
    # `members:` limits what is rendered; a name that is not there would render nothing
    for member in options.get("options", {}).get("members", []):
        assert hasattr(obj, member), f"{page}: {path} has no member {member}"
    if isinstance(obj, type) or callable(obj):
        assert obj.__doc__, f"{page}: {path} has no docstring to render"


def test_the_examples_page_executes_python_blocks():
    text = (DOCS / "examples.md").read_text()
    assert len(re.findall(r'^```python exec="on"', text, re.M)) >= 3
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in CONFIG["plugins"]]
    assert "markdown-exec" in plugins and "mkdocstrings" in plugins


def test_ci_runs_the_build_command_the_readme_states():
    command = "mkdocs build --strict"
    assert command in (ROOT / "README.md").read_text()
    assert f"\n{command}\n" in (ROOT / ".ci" / "run").read_text()


@pytest.fixture(scope="module")
def definitions():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location(
        "griffe_definitions", DOCS / "griffe_definitions.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["griffe_definitions"] = module
    spec.loader.exec_module(module)
    return module


def test_definition_lists_become_markdown_ones(definitions):
    text = "\n".join(
        [
            "Summary line.",
            "",
            "Update (``update``)",
            "    The rule, on two",
            "    lines:",
            "",
            "    - a list item",
            "Batch",
            "    Simultaneous.",
            "Nested",
            "    ``random``",
            "        Uniform.",
            "",
            "Runs this:",
            "",
            "    code_block_stays()",
            "",
            "The end.",
        ]
    )
    assert definitions.definition_lists(text).split("\n") == [
        "Summary line.",
        "",
        "Update (``update``)",
        ":   The rule, on two",
        "    lines:",
        "",
        "    - a list item",
        "",
        "Batch",
        ":   Simultaneous.",
        "",
        "Nested",
        ":   ``random``",
        "    :   Uniform.",
        "",
        "Runs this:",
        "",
        "    code_block_stays()",
        "",
        "The end.",
    ]


def test_text_without_definition_lists_is_unchanged(definitions):
    for module in ("dist_classicrl", "dist_classicrl.envs.base", "dist_classicrl.schedules"):
        doc = inspect.cleandoc(importlib.import_module(module).__doc__)
        assert definitions.definition_lists(doc) == doc
