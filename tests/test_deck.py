"""The lecture deck: one standalone HTML file built from scene.LECTURE_SCENES (the Playground's
◀ / ▶ list). Every scene is a slide with its title, caption and three interactive charts;
plotly.js is inlined and nothing points to the network; the document is well formed (parsed
with the standard library's HTMLParser, every non-void tag closed in order, ids unique); a
scene added to the list appears in the deck; the Playground offers the download. The browser
check (file://, network blocked and recorded, keyboard navigation) is in test_e2e.py."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from adamem_core.figures.deck import Slide, deck_html
from adamem_core.lecture_deck import lecture_deck_html, lecture_slides
from adamem_core.scene import LECTURE_SCENES

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Checker(HTMLParser):
    """Well-formedness: balanced, properly nested tags; unique ids; what refers outside."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.slides: list[dict] = []
        self.external: list[str] = []
        self.scripts_with_src: list[str] = []
        self.doctype = False
        self.text_in: list[tuple[str, str]] = []

    def handle_decl(self, decl):
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "script" and "src" in a:
            self.scripts_with_src.append(a["src"])
        for k in ("src", "href"):
            if k in a and re.match(r"^(https?:)?//", a[k] or ""):
                self.external.append(a[k])
        if tag == "section" and "slide" in (a.get("class") or ""):
            self.slides.append({"id": a.get("id"), "title": a.get("data-title")})
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("h1", "p"):
            self.text_in.append((self.stack[-1], data))


@pytest.fixture(scope="module")
def deck() -> str:
    return lecture_deck_html()


def check(doc: str) -> Checker:
    c = Checker()
    c.feed(doc)
    c.close()
    return c


def test_deck_is_well_formed_standalone_html(deck):
    c = check(deck)
    assert c.doctype
    assert c.errors == [] and c.stack == []
    assert len(c.ids) == len(set(c.ids))
    assert c.external == []
    # plotly.js inlined once; no script loaded from anywhere
    assert c.scripts_with_src == []
    from plotly.offline import get_plotlyjs
    assert deck.count(get_plotlyjs()[:2000]) == 1
    assert deck.count("Plotly.newPlot(") == 3 * len(LECTURE_SCENES)


def test_every_scene_is_a_slide_in_order_with_its_caption(deck):
    c = check(deck)
    assert len(c.slides) == len(LECTURE_SCENES)
    h1 = [t for tag, t in c.text_in if tag == "h1"]
    ps = [t for tag, t in c.text_in if tag == "p"]
    for i, (title, caption, _) in enumerate(LECTURE_SCENES):
        assert c.slides[i]["id"] == f"slide-{i + 1}"
        assert h1[i] == f"{i + 1}. {title}"
        assert caption in ps
        # the three charts of that slide, drawn in lecture mode
        for part in ("main", "side1", "side2"):
            assert f'id="s{i + 1}-{part}"' in deck


def test_slides_carry_the_playground_charts_in_lecture_mode():
    slides = lecture_slides(LECTURE_SCENES[:1])
    s = slides[0]
    assert s.main.layout.title.font.size >= 20
    assert all(f.layout.title.font.size >= 20 for f in s.side)
    names = {t.name for t in s.main.data if t.name}
    assert any("AM-SGD" in n for n in names)


def test_a_new_scene_appears_in_the_deck():
    extra = ("Rosenbrock's banana", "A test scene.",
             {"f": "rosenbrock", "opt": "am_sgd,sgd_ema:0.9", "lr": "0.001", "steps": "50"})
    doc = lecture_deck_html(tuple(LECTURE_SCENES[:1]) + (extra,))
    c = check(doc)
    assert len(c.slides) == 2 and c.errors == []
    assert "A test scene." in doc and "2. Rosenbrock" in doc


def test_text_is_escaped():
    import plotly.graph_objects as go
    doc = deck_html([Slide("<b>t</b>", "a < b & c", go.Figure())])
    assert "&lt;b&gt;t&lt;/b&gt;" in doc and "a &lt; b &amp; c" in doc
    assert check(doc).errors == []


def test_invalid_scene_is_refused():
    with pytest.raises(ValueError, match="not valid"):
        lecture_slides((("bad", "x", {"f": "no_such_function"}),))


def test_playground_offers_the_deck_next_to_the_scene_buttons(new_app):
    at = new_app()
    at.run()
    assert not at.exception
    dl = [e for e in at.get("download_button") if getattr(e, "proto", None) is not None
          and "Lecture deck" in e.proto.label]
    assert len(dl) == 1
    assert html.unescape(dl[0].proto.help).startswith("Download lecture deck")
