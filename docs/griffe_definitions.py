"""A Griffe extension for the API reference: reST definition lists become Markdown ones.

The package's docstrings are plain text in the reST habit: a section is a line followed
by an indented body, e.g. in `dist_classicrl.algorithms.base`::

    Update (``update``: one transition)
        ``Q[s,a] += lr * (r + discount * boot - Q[s,a])`` where ...

Rendered as Markdown, the term and the first body line run together into one paragraph
and a body's nested list becomes a code block. This extension, loaded by mkdocstrings
(``extensions`` in mkdocs.yml), rewrites each such section in Markdown's definition-list
syntax (the ``def_list`` extension), term then ``:   body``, nested sections included.
Everything else, indented code blocks after a blank line included, is left as it is.
It only changes what the site renders; the docstrings are not touched.
"""

from __future__ import annotations

from typing import Any

import griffe

INDENT = "    "


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_term(lines: list[str], i: int) -> bool:
    """A definition term: an unindented line, not a list item, after a blank line or the
    end of a previous definition (an indented line), followed by a line indented 4."""
    line = lines[i]
    if not line.strip() or line[0] == " " or line.lstrip().startswith(("- ", "* ", "```")):
        return False
    if i + 1 >= len(lines) or not lines[i + 1].strip() or _indent(lines[i + 1]) < 4:
        return False
    return i == 0 or not lines[i - 1].strip() or lines[i - 1].startswith(" ")


def definition_lists(text: str) -> str:
    """`text` with its reST definition lists written as Markdown definition lists."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not _is_term(lines, i):
            out.append(lines[i])
            i += 1
            continue
        end = i + 1  # the body: indented and blank lines, without the trailing blanks
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= 4):
            end += 1
        while not lines[end - 1].strip():
            end -= 1
        body = definition_lists("\n".join(line[4:] for line in lines[i + 1 : end])).split("\n")
        if out and out[-1].strip():
            out.append("")
        out += [lines[i], f":   {body[0]}"]
        out += [INDENT + line if line.strip() else "" for line in body[1:]]
        if end < len(lines) and lines[end].strip():
            out.append("")  # the next line starts a new paragraph, not a lazy continuation
        i = end
    return "\n".join(out).rstrip("\n")


class DefinitionLists(griffe.Extension):
    """Rewrite every docstring with `definition_lists` as its object is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = definition_lists(obj.docstring.value)
