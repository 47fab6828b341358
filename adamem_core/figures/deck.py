"""A lecture deck: slides (title, caption, Plotly figures) → one standalone HTML file.

plotly.js is embedded once (no server, no network: the file opens offline from a USB stick);
one slide shows at a time, full screen, readable on a projector; ← / → (also PageUp/PageDown,
Space, Home/End) move between slides and the slide number lives in the URL's #hash. Pure: no
Streamlit, no engine — :mod:`adamem_core.lecture_deck` builds the slides from the scene list.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from .style import _legend_names, _legend_rows, theme


@dataclass
class Slide:
    title: str
    caption: str
    main: go.Figure                       # the big picture (left, tall)
    side: list[go.Figure] = field(default_factory=list)   # stacked on the right
    note: str = ""                        # a small line under the caption (settings)


_CSS = """
html, body {margin: 0; height: 100%; background: #fff; color: #222;
  font-family: Inter, 'Helvetica Neue', Helvetica, Arial, 'Liberation Sans', sans-serif;}
.slide {display: none; box-sizing: border-box; height: 100vh; width: 100vw;
  padding: 1.2vh 1.6vw 0.6vh; flex-direction: column;}
.slide.active {display: flex;}
.slide h1 {font-size: clamp(22px, 3.4vh, 44px); margin: 0 0 0.6vh;}
.slide .caption {font-size: clamp(18px, 2.4vh, 32px); line-height: 1.3; margin: 0 0 0.4vh;}
.slide .note {font-size: clamp(14px, 1.6vh, 22px); color: #555; margin: 0 0 0.6vh;}
.charts {flex: 1 1 auto; display: flex; gap: 1vw; min-height: 0;}
.charts .main {flex: 1.5 1 0; min-width: 0;}
.charts .side {flex: 1 1 0; display: flex; flex-direction: column; gap: 1vh; min-width: 0;}
.charts .side > div {flex: 1 1 0; min-height: 0;}
.plot {width: 100%; height: 100%;}
.footer {font-size: clamp(14px, 1.6vh, 22px); color: #666; text-align: right; height: 3vh;}
.footer kbd {border: 1px solid #bbb; border-radius: 4px; padding: 0 5px; background: #f5f5f5;}
"""

_JS = """
(function () {
  var slides = Array.prototype.slice.call(document.querySelectorAll('.slide'));
  var n = slides.length, cur = -1;
  function show(i) {
    i = Math.max(0, Math.min(n - 1, i));
    if (i === cur) return;
    slides.forEach(function (s, k) { s.classList.toggle('active', k === i); });
    cur = i;
    document.body.setAttribute('data-slide', String(i + 1));
    if (location.hash !== '#' + (i + 1)) history.replaceState(null, '', '#' + (i + 1));
    slides[i].querySelectorAll('.js-plotly-plot').forEach(function (p) {
      if (window.Plotly) { Plotly.Plots.resize(p); }
    });
  }
  document.addEventListener('keydown', function (e) {
    var k = e.key;
    if (k === 'ArrowRight' || k === 'PageDown' || k === ' ' || k === 'Enter') { show(cur + 1); e.preventDefault(); }
    else if (k === 'ArrowLeft' || k === 'PageUp' || k === 'Backspace') { show(cur - 1); e.preventDefault(); }
    else if (k === 'Home') { show(0); e.preventDefault(); }
    else if (k === 'End') { show(n - 1); e.preventDefault(); }
  });
  window.addEventListener('resize', function () {
    if (cur >= 0) slides[cur].querySelectorAll('.js-plotly-plot').forEach(function (p) { Plotly.Plots.resize(p); });
  });
  var h = parseInt((location.hash || '#1').slice(1), 10);
  show(isNaN(h) ? 0 : h - 1);
})();
"""


def _plot_div(fig: go.Figure, div_id: str, role: str) -> str:
    """A figure as a div that fills its box (the figure's fixed height is dropped). On a slide
    the main figure carries the one legend (under the plot; the colour bar of a contour gives
    way to it) and the side figures none: the runs have the same colour, dash and marker in
    every chart."""

    f = go.Figure(fig)
    f.update_layout(height=None, width=None, autosize=True)
    top = int((f.layout.title.font.size or 20) * 1.3 + 24)
    if role == "main":
        f.update_traces(showscale=False, selector=dict(type="contour"))
        f.update_traces(showscale=False, selector=dict(type="heatmap"))
        # room for the legend's rows (as wide as the main column on a 1280 px projector,
        # ~760 px; plotly spaces them legend font × 1.5 + 9 px) and the x tick labels above
        th = theme(True)
        rows = _legend_rows(th, _legend_names(f), 760)
        f.update_layout(legend=dict(orientation="h", x=0.0, xanchor="left", y=0.0,
                                    yanchor="bottom", yref="container"),
                        margin=dict(t=top, r=10,
                                    b=int(rows * (th.legend * 1.5 + 9) + th.tick * 1.8 + 8)))
    else:
        f.update_layout(showlegend=False, margin=dict(t=top))
    return f.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                     default_width="100%", default_height="100%",
                     config={"responsive": True, "displaylogo": False})


def deck_html(slides: list[Slide], title: str = "AdaMem Lab — lecture deck") -> str:
    """One self-contained HTML document: every slide in order, plotly.js inlined."""
    parts = []
    n = len(slides)
    for i, s in enumerate(slides):
        side = "".join(f'<div>{_plot_div(f, f"s{i + 1}-side{j + 1}", "side")}</div>'
                       for j, f in enumerate(s.side))
        parts.append(
            f'<section class="slide" id="slide-{i + 1}" data-title={json.dumps(s.title)}>'
            f"<h1>{html.escape(s.title)}</h1>"
            f'<p class="caption">{html.escape(s.caption)}</p>'
            + (f'<p class="note">{html.escape(s.note)}</p>' if s.note else "")
            + f'<div class="charts"><div class="main">{_plot_div(s.main, f"s{i + 1}-main", "main")}</div>'
            + (f'<div class="side">{side}</div>' if s.side else "")
            + f'</div><div class="footer">{i + 1} / {n} · <kbd>←</kbd> <kbd>→</kbd></div>'
            "</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_CSS}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script>'
            "</head><body>" + "".join(parts) + f"<script>{_JS}</script></body></html>")
