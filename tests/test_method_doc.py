"""docs/method.md: the reference the code cites is in the repository, its section anchors are
stable and every link to them (inside the document, from the code, from the pages) resolves;
the app's Method page renders every section under its anchor; About links to it."""

from __future__ import annotations

import re
from pathlib import Path

from adamem_core.method_doc import METHOD_PATH, anchors, method_text, sections

REPO = Path(__file__).resolve().parents[1]
# the anchors the code and the Theory page link to: renaming one breaks those links
REQUIRED = {"notation", "model", "dual", "closed-form", "gap", "update", "heavy-ball-form",
            "special-cases", "beta-map", "scope", "groups", "am-adamw", "bias-correction",
            "first-step", "lr-zero", "distributed", "defaults", "vs-ema", "classical", "choices"}


def test_the_document_is_in_the_repository_with_every_anchor_once():
    assert METHOD_PATH == REPO / "docs" / "method.md" and METHOD_PATH.is_file()
    found = anchors()
    assert len(found) == len(set(found)), "duplicate anchors"
    assert REQUIRED <= set(found), REQUIRED - set(found)
    pre, secs = sections(method_text())
    assert pre.startswith("# ") and all(s.title and s.body for s in secs)


def test_every_link_to_a_section_resolves():
    have = set(anchors())
    text = method_text()
    inner = set(re.findall(r"\]\(#([a-z0-9-]+)\)", text))
    assert inner and inner <= have, inner - have
    # links from the code and the pages: method.md#x and /method#x
    cited = set()
    for path in list((REPO / "adamem_core").rglob("*.py")) + list((REPO / "app_pages").glob("*.py")):
        src = path.read_text(encoding="utf-8")
        cited |= set(re.findall(r"method(?:\.md)?#([a-z0-9-]+)", src))
        cited |= set(re.findall(r"""(?:link|method_link)\(\s*["']([a-z0-9-]+)["']""", src))
    assert cited <= have, cited - have


def test_code_cites_the_document_not_a_file_outside_the_repository():
    for rel in ("adamem_core/model.py", "adamem_core/optim.py", "README.md", "app_pages/about.py"):
        src = (REPO / rel).read_text(encoding="utf-8")
        assert "docs/method.md" in src, rel
        assert "DESIGN.md" not in src, rel


def test_method_page_renders_every_section_and_about_links_to_it(new_app):
    at = new_app()
    at.run()
    assert not at.exception
    at.switch_page("app_pages/method.py")
    at.run()
    assert not at.exception
    heads = [h.value for h in at.header]
    assert heads == [s.title for s in sections(method_text())[1]]
    assert at.header[0].proto.anchor == "notation"   # the stable anchor, not a slug
    at.switch_page("app_pages/about.py")
    at.run()
    assert not at.exception
    assert any("](/method)" in m.value and "docs/method.md" in m.value for m in at.markdown)
