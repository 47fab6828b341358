"""``docs/method.md`` as sections with stable anchors, for the app's Method page and the links
other pages make to it (plain text processing; no Streamlit, no maths)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

METHOD_PATH = Path(__file__).resolve().parent.parent / "docs" / "method.md"
METHOD_URL = "/method"          # the app's page that renders the document

_ANCHOR = re.compile(r'^<a id="([a-z0-9-]+)"></a>\s*$')


class Section(NamedTuple):
    anchor: str     # stable id, e.g. "dual" (method.md#dual)
    title: str      # the heading text
    body: str       # markdown up to the next section


def method_text(path: Path = METHOD_PATH) -> str:
    return path.read_text(encoding="utf-8")


def sections(text: str) -> tuple[str, list[Section]]:
    """(preamble, sections): each section starts with ``<a id="…"></a>`` then a ``##`` heading."""
    lines = text.splitlines()
    pre: list[str] = []
    out: list[Section] = []
    cur: tuple[str, str, list[str]] | None = None
    i = 0
    while i < len(lines):
        m = _ANCHOR.match(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("## "):
            if cur is not None:
                out.append(Section(cur[0], cur[1], "\n".join(cur[2]).strip()))
            cur = (m.group(1), lines[i + 1][3:].strip(), [])
            i += 2
            continue
        (pre if cur is None else cur[2]).append(lines[i])
        i += 1
    if cur is not None:
        out.append(Section(cur[0], cur[1], "\n".join(cur[2]).strip()))
    return "\n".join(pre).strip(), out


def anchors(text: str | None = None) -> list[str]:
    return [s.anchor for s in sections(method_text() if text is None else text)[1]]


def link(anchor: str, label: str) -> str:
    """A markdown link to a section of the Method page."""
    return f"[{label}]({METHOD_URL}#{anchor})"
