"""The visual language shared by every figure (DESIGN §5): the Okabe–Ito palette, one style per
optimizer (:func:`style_for`, :func:`assign_styles`), the normal and lecture themes, axes, legends,
layout, number formatting and small geometry helpers. No Streamlit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import plotly.io as pio

from ..specs import OptimizerSpec


# ============================================================================ palette and styles
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
_AM_COLOR = {"am_sgd": OKABE_ITO["vermillion"], "am_adamw": OKABE_ITO["blue"]}
# constant-β ramps, light (small β) → dark (large β); the lightest keeps ≥ 3:1 contrast on white
_RAMP_SGD = ("#A89400", "#009E73", "#005A4B", "#062B26")   # olive → bluish green → dark teal
_RAMP_ADAMW = ("#C0608F", "#9A3F86", "#5E1F63", "#2E0B33")  # pink → purple → aubergine
_DASH = {"am_sgd": "solid", "am_adamw": "solid", "sgd_ema": "dash", "nesterov": "dot",
         "sgd": "dashdot", "adamw": "longdash", "torch_sgd": "longdashdot",
         "torch_adamw": "longdashdot"}
_SYMBOL = {"am_sgd": "circle", "am_adamw": "diamond", "sgd_ema": "square",
           "nesterov": "triangle-up", "sgd": "star-diamond", "adamw": "pentagon",
           "torch_sgd": "triangle-down", "torch_adamw": "hexagon"}
_EXTRA_SYMBOLS = ("hexagram", "star-square", "bowtie", "triangle-right", "octagon", "hourglass",
                  "triangle-left", "star")
_SYMBOL_3D = {"circle": "circle", "diamond": "diamond", "square": "square",
              "triangle-up": "diamond-open", "star-diamond": "cross", "pentagon": "square-open",
              "triangle-down": "circle-open", "hexagon": "x"}
# colours of the geometry figures (inside one step)
GEOM = {"grad": OKABE_ITO["orange"], "mem": OKABE_ITO["reddish_purple"], "max": "#444444",
        "model": OKABE_ITO["sky_blue"], "f": "#222222", "next": OKABE_ITO["vermillion"],
        "new": OKABE_ITO["blue"], "chosen": OKABE_ITO["vermillion"],
        "fixed": OKABE_ITO["bluish_green"]}
FONT = "Inter, 'Helvetica Neue', Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"
GAP_FLOOR = 1e-16            # f − f* ≤ 0 is drawn here on a log axis (or lower, see gap_figure)
_CONTOUR_SCALE = [[0.0, "#fbfbfb"], [0.35, "#e9eaec"], [0.7, "#cfd2d6"], [1.0, "#a9adb3"]]
_SURFACE_SCALE = [[0.0, "#f2f2f2"], [0.5, "#cdd2d8"], [1.0, "#8f969e"]]
_F_LOCAL_SCALE = [[0.0, "#8a8f96"], [1.0, "#3d4248"]]      # f near x_t: darker than the planes


def _rgb(c: str) -> tuple[float, float, float]:
    """'#RRGGBB' → (r, g, b) in [0, 1]."""
    return tuple(v / 255.0 for v in pc.hex_to_rgb(c))  # type: ignore[return-value]


def _hex(rgb: Iterable[float]) -> str:
    return "#" + "".join(f"{int(round(min(max(v, 0.0), 1.0) * 255)):02X}" for v in rgb)


def _mix(a: str, b: str, w: float) -> str:
    """(1−w)·a + w·b in sRGB (plotly.colors' linear interpolation)."""
    return _hex(pc.find_intermediate_color(_rgb(a), _rgb(b), w))


def _ramp(stops: Sequence[str], p: float) -> str:
    """The colour at position p ∈ [0, 1] of a piecewise-linear ramp through ``stops``."""
    p = min(max(p, 0.0), 1.0)
    scale = [[i / (len(stops) - 1), c] for i, c in enumerate(stops)]
    return _hex(v / 255.0 for v in pc.unlabel_rgb(pc.sample_colorscale(scale, [p])[0]))


def _rgba(c: str, alpha: float) -> str:
    r, g, b = (int(round(v * 255)) for v in _rgb(c))
    return f"rgba({r},{g},{b},{alpha:g})"


def _beta_position(beta: float) -> float:
    """Where β sits on its ramp: half linear, half in −log₁₀(1−β), so 0.9, 0.95, 0.99 stay
    apart as well as 0 and 0.5."""
    b = min(max(beta, 0.0), 0.999)
    return 0.5 * b + 0.25 * min(-math.log10(1.0 - b), 2.0)


@dataclass(frozen=True)
class Theme:
    """Sizes for normal (screen) or lecture (projector) mode."""

    lecture: bool
    font: int
    title: int
    axis_title: int
    tick: int
    legend: int
    line: float          # main lines
    line_thin: float     # secondary lines (model's β, grid-like helpers)
    path_marker: float   # each iterate on a trajectory
    marker: float        # highlighted points (current point, chosen β)
    special: float       # start star, minima, diverged ✕


_NORMAL = Theme(False, 14, 18, 15, 13, 13, 2.0, 1.5, 4, 11, 14)
_LECTURE = Theme(True, 20, 26, 22, 20, 20, 4.0, 3.0, 7, 18, 22)


def theme(lecture: bool | Theme = False) -> Theme:
    """The :class:`Theme` for ``lecture`` (a Theme passes through)."""
    if isinstance(lecture, Theme):
        return lecture
    return _LECTURE if lecture else _NORMAL


def style_for(spec: OptimizerSpec, lecture: bool | Theme = False) -> dict[str, Any]:
    """The base style of one optimizer: ``dict(color, dash, symbol, width)``.

    AM-SGD / AM-AdamW: the two strongest Okabe–Ito colours, solid; constant-β baselines: a
    ramp by β (teal: SGD family, purple: AdamW family), a dash and a marker per kind.
    Use :func:`assign_styles` for several runs (it separates duplicates)."""
    th = theme(lecture)
    name = spec.name
    if name in _AM_COLOR:
        color = _AM_COLOR[name]
    else:
        beta = spec.fixed_beta
        ramp = _RAMP_ADAMW if spec.entry.family == "adamw" else _RAMP_SGD
        color = _ramp(ramp, _beta_position(beta if beta is not None else 0.5))
    return {"color": color, "dash": _DASH.get(name, "longdashdot"),
            "symbol": _SYMBOL.get(name, "circle"), "width": th.line}


def _shade(color: str, k: int) -> str:
    """The k-th alternative shade of a colour (k ≥ 1): darker, lighter, darker still, …"""
    amount = 0.22 + 0.14 * ((k - 1) // 2)
    return _mix(color, "#000000" if k % 2 else "#FFFFFF", min(amount, 0.6))


def assign_styles(specs: Sequence[OptimizerSpec], lecture: bool | Theme = False) -> list[dict]:
    """One style per run, in order: :func:`style_for`, then runs that would look the same (same
    optimizer and β, or simply the same colour) get a different shade and marker. Deterministic:
    the same list of specs gives the same styles in every figure."""
    out: list[dict] = []
    used: set[str] = set()
    seen: dict[tuple, int] = {}
    for spec in specs:
        st = style_for(spec, lecture)
        key = (spec.name, spec.fixed_beta)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n:
            st["symbol"] = _EXTRA_SYMBOLS[(n - 1) % len(_EXTRA_SYMBOLS)]
        base, k = st["color"], n
        color = _shade(base, k) if k else base
        while color in used:
            k += 1
            color = _shade(base, k)
        st["color"] = color
        used.add(color)
        out.append(st)
    return out


# ============================================================================ layout helpers
def _axis(th: Theme, title: str | None, **kw: Any) -> dict[str, Any]:
    ax = dict(title=dict(text=title or "", font=dict(size=th.axis_title)),
              tickfont=dict(size=th.tick), showgrid=True, gridcolor="#ececec",
              zeroline=False, linecolor="#888888", showline=True, mirror=False, ticks="outside",
              tickcolor="#888888", automargin=True)
    ax.update(kw)
    return ax


def _layout(fig: go.Figure, th: Theme, title: str, xtitle: str | None = None,
            ytitle: str | None = None, uirevision: str | None = None,
            height: int | None = None, legend: bool = True, **kw: Any) -> go.Figure:
    """The common look: white template, light grid, fonts of the theme, title top-left, legend
    in one horizontal band above the plot (never over the data), tight margins."""
    fig.update_layout(
        # the template object, not its name: a figure built without validation (the
        # Playground's) would otherwise send the bare name, which plotly.js does not know
        template=pio.templates["plotly_white"],
        font=dict(size=th.font, family=FONT, color="#222222"),
        title=dict(text=title, font=dict(size=th.title), x=0.0, xref="paper", xanchor="left",
                   y=1.0, yref="container", yanchor="top", pad=dict(t=8, b=6),
                   automargin=False),
        showlegend=legend,
        legend=dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom",
                    font=dict(size=th.legend), bgcolor="rgba(255,255,255,0)",
                    itemsizing="trace", itemwidth=40 if th.lecture else 30,
                    groupclick="togglegroup"),
        margin=dict(l=10, r=10, t=_top_margin(th, _legend_names(fig) if legend else []),
                    b=10, pad=0),
        hoverlabel=dict(font=dict(size=th.tick, family=FONT)),
        uirevision=uirevision or title,
        height=_height(th, fig, height, legend),
        plot_bgcolor="white", paper_bgcolor="white",
    )
    if xtitle is not None:
        fig.update_xaxes(**_axis(th, xtitle))
    if ytitle is not None:
        fig.update_yaxes(**_axis(th, ytitle))
    if kw:
        fig.update_layout(**kw)
    return fig


def apply_lecture(fig: go.Figure, lecture: bool | Theme) -> go.Figure:
    """Re-size an existing figure for the theme: fonts, every scatter line and marker.
    (All figure functions here already take ``lecture``; this is for figures built elsewhere.)"""
    th = theme(lecture)
    if not th.lecture:
        return fig
    fig.update_layout(font=dict(size=max(th.font, (fig.layout.font.size or 0))),
                      legend=dict(font=dict(size=th.legend)),
                      title=dict(font=dict(size=th.title)))
    fig.update_xaxes(tickfont=dict(size=th.tick), title_font=dict(size=th.axis_title))
    fig.update_yaxes(tickfont=dict(size=th.tick), title_font=dict(size=th.axis_title))
    for tr in fig.data:
        if tr.type in ("scatter", "scatter3d", "scattergl") and "lines" in (tr.mode or "lines"):
            tr.line.width = max(tr.line.width or 0, th.line_thin)
    return fig


def _legend_rows(th: Theme, names: Sequence[str], width: float) -> int:
    """Rows a horizontal legend needs at about ``width`` px (a rough text-width estimate)."""
    import re

    rows, used = 1, 0.0
    for n in names:
        text = re.sub(r"<[^>]+>", "", n or "")
        w = (40 if th.lecture else 30) + 16 + 0.6 * th.legend * len(text)
        if used and used + w > width:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def _height(th: Theme, fig: go.Figure, height: int | None, legend: bool,
            bottom: int = 90) -> int:
    """The figure height: the default (or ``height``), raised so that the plot keeps at least
    360 px (lecture 440 px) under the title and legend."""
    top = _top_margin(th, _legend_names(fig) if legend else [])
    return max(height or (720 if th.lecture else 560), top + (440 if th.lecture else 360) + bottom)


def _legend_names(fig: go.Figure) -> list[str]:
    """Names of the traces that show in the legend."""
    out = []
    for d in fig.data:
        shown = d.showlegend if d.showlegend is not None else d.type not in (
            "contour", "surface", "heatmap")
        if shown and d.visible is not False:
            out.append(d.name or "")
    return out


def _top_margin(th: Theme, names: Sequence[str]) -> int:
    """Top margin (px) for the title and a horizontal legend above the plot: set here rather
    than by plotly's title auto-margin, which misplaces a contour when the figure also has a
    slider, and lets a 3-D scene's legend run over the title."""
    if not names:
        return int(th.title * 1.3 + 24)
    # assume a narrow container (a page column): too much room beats a legend over the title
    rows = _legend_rows(th, names, 760 if th.lecture else 480)
    return int(th.title * 1.3 + 20 + rows * (th.legend * 1.6 + 10) + 8)


def _vline(fig: go.Figure, th: Theme, x: float, text: str, color: str = "#555555",
           dash: str = "dot", position: str = "top") -> None:
    fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, xref="x", yref="paper",
                  line=dict(color=color, width=th.line_thin + 0.5, dash=dash), layer="above")
    fig.add_annotation(x=x, y=1.0 if position == "top" else 0.0, xref="x", yref="paper",
                       text=text, showarrow=False, xanchor="left",
                       yanchor="top" if position == "top" else "bottom",
                       font=dict(size=th.tick, color=color), bgcolor="rgba(255,255,255,0.75)")


def _finite_range(*arrays: Any) -> tuple[float, float] | None:
    vals = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return None
    return float(vals.min()), float(vals.max())


def _pad_range(lo: float, hi: float, frac: float) -> list[float]:
    span = hi - lo
    if span <= 0:
        span = max(abs(hi), 1.0) * 0.1
    return [lo - frac * span, hi + frac * span]


def _fmt(v: Any, digits: int = 3) -> str:
    """Readable number: ``0.64``, ``146``, ``1.2e-08``; ``—`` for None/NaN."""
    if v is None:
        return "—"
    v = float(v)
    if not math.isfinite(v):
        return "—" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if v == 0:
        return "0"
    if abs(v) < 1e-3 or abs(v) >= 1e5:
        return f"{v:.{max(digits - 2, 1)}e}"
    return f"{v:.{digits}g}"


def _last_finite(tr: Any) -> int:
    """Index of the last finite iterate of a trajectory."""
    return int(tr.last_valid())


def _diverged_label(tr: Any, wrap: bool = False) -> str:
    """The run's label, with " — diverged at step N" if it diverged (``wrap``: on a second
    line, for a projector's legend, whose entries never wrap by themselves)."""
    return tr.label + _diverged_suffix(tr, wrap)


def _diverged_suffix(tr: Any, wrap: bool = False) -> str:
    if tr.diverged_at is None:
        return ""
    return ("<br>" if wrap else " ") + f"— diverged at step {tr.diverged_at}"


# ============================================================================ trajectories
def _points(minima: Iterable[Any]) -> list[tuple[float, float]]:
    """Accepts ``Landscape.minima`` (``[((x, y), f), …]``) or plain points ``[(x, y), …]``."""
    pts = []
    for m in minima or ():
        if len(m) == 2 and np.ndim(m[0]) == 1:
            m = m[0]
        pts.append((float(m[0]), float(m[1])))
    return pts


def _domain(grid: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    xs, ys = np.asarray(grid["xs"]), np.asarray(grid["ys"])
    return (float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1]))


def _inside(p: np.ndarray, dom: tuple, margin: float = 0.0) -> bool:
    (xa, xb), (ya, yb) = dom
    mx, my = margin * (xb - xa), margin * (yb - ya)
    return bool(np.all(np.isfinite(p)) and xa - mx <= p[0] <= xb + mx
                and ya - my <= p[1] <= yb + my)


def _shown_last(tr: Any, dom: tuple) -> int:
    """The last iterate a path is drawn to: the last finite one, and for a diverged run the
    first one after it left the picture for good (one segment out of the view, no more)."""
    last = _last_finite(tr)
    if tr.diverged_at is not None:
        last = min(last, _exit_index(tr, dom) + 1)
    return last


def _exit_index(tr: Any, dom: tuple) -> int:
    """Where a diverged run left the picture for good: the last iterate inside the domain
    (±2 %) before it diverged (its last finite iterate if that is inside)."""
    i = _last_finite(tr)
    j = i
    while j > 0 and not _inside(tr.x[j], dom, 0.02):
        j -= 1
    return j


def latex_number(v: float | None, digits: int = 4) -> str:
    """A number for LaTeX captions and closed forms: ``digits`` significant digits, scientific
    notation (``m \\times 10^{e}``) when tiny or huge, ``\\mathrm{n/a}`` when not finite."""
    if v is None or not math.isfinite(v):
        return r"\mathrm{n/a}"
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}g}"
    m, e = f"{v:.{digits - 1}e}".split("e")
    return rf"{m}\times 10^{{{int(e)}}}"


def latex_vector(v: Any) -> str:
    """A 2-vector as a LaTeX column (``pmatrix``) of :func:`latex_number` entries."""
    return (r"\begin{pmatrix}" + latex_number(float(v[0])) + r"\\" + latex_number(float(v[1]))
            + r"\end{pmatrix}")


# ============================================================================ fixed margins
# Plotly's ``margin.autoexpand`` grows the margins to whatever the tick labels, axis titles,
# colour bar, legend and animation controls need — found only after a first full draw, so every
# chart is drawn twice (a quarter of the Playground's redraw time in the browser). The charts that
# redraw often set their margins here instead, from the theme's font sizes and their longest tick
# label, with autoexpand off: one draw. Estimates err on the wide side (a few px of white).
_EM_DIGIT = 0.64     # a digit's advance / font size: Arial/Liberation 0.556, DejaVu Sans 0.636
_EM_MINUS = 0.84     # "−" (U+2212, what plotly draws): DejaVu Sans 0.838, Arial 0.584
_LINE = 1.3          # a line of text / its font size
_TICKLEN = 5         # plotly's default tick length (ticks="outside")
_LABEL_GAP = 5       # tick → its label (plotly: ~3 px)
_TITLE_STANDOFF = 10  # tick labels → axis title (plotly's default standoff: 10 px + …)
_TITLE_EXTRA = 18    # … + the title line itself is its font size + this (px), calibrated against
                     # plotly's own autoexpand in Chromium for 13–22 px fonts (tests/test_e2e.py)


def text_px(text: str, size: float) -> float:
    """About how wide ``text`` is at ``size`` px (digits, signs, ``<sup>`` at 0.8 size (plotly: 0.7, shifted);
    generous: the widest fonts of the page's font stack)."""
    import re

    width, scale = 0.0, 1.0
    for tok in re.split(r"(<[^>]+>)", text):
        if tok.startswith("<"):
            scale = 0.8 if tok.lower() == "<sup>" else 1.0 if tok.lower() == "</sup>" else scale
            continue
        for ch in tok:
            width += scale * size * (_EM_MINUS if ch in "−-+" else 0.36 if ch in ".,"
                                     else _EM_DIGIT if ch.isdigit() else 0.72)
    return width


def _nice_step(span: float, n: int) -> float:
    raw = max(span, 1e-300) / n
    e = math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** e >= raw:
            return m * 10 ** e
    return 10 ** (e + 1)


def tick_labels(lo: float, hi: float, log: bool = False, dtick: float | None = None,
                max_ticks: int = 10) -> list[str]:
    """The labels plotly's automatic ticks may draw on an axis ``[lo, hi]`` (a log axis: the
    range in decades, labels 10<sup>k</sup> as with ``exponentformat="power"``). With no
    ``dtick``, every step plotly could choose from 2 to ``max_ticks`` ticks: the longest label
    among them bounds the one drawn."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ["0"]
    lo, hi = min(lo, hi), max(lo, hi)
    if log:
        return [f"10<sup>{int(k)}</sup>".replace("-", "−")
                for k in range(math.ceil(lo), math.floor(hi) + 1)] or ["10"]
    steps = [dtick] if dtick else sorted({_nice_step(hi - lo, n) for n in range(2, max_ticks + 1)})
    out = []
    for s in steps:
        dec = max(0, -math.floor(math.log10(s) + 1e-9)) + (1 if str(s).rstrip("0").endswith("25")
                                                             else 0)
        k0, k1 = math.ceil(lo / s - 1e-9), math.floor(hi / s + 1e-9)
        for k in {k0, k1, k0 + 1, k1 - 1}:
            v = k * s
            if abs(v) >= 1e4:     # plotly's SI suffixes (exponentformat "B"): 12k, 1.5M
                txt = f"{v / 1e3:.4g}k"
            else:        # plotly drops trailing zeros: 0.5, 1, 1.5
                txt = f"{v:.{dec}f}"
                txt = txt.rstrip("0").rstrip(".") if "." in txt else txt
                txt = "0" if txt in ("-0", "") else txt
            out.append(txt.replace("-", "−"))
    return out or ["0"]


def longest_px(labels: Sequence[str], size: float) -> float:
    return max((text_px(s, size) for s in labels), default=0.0)


def fixed_margins(th: Theme, *, top: int, ylabels: Sequence[str], xlabels: Sequence[str],
                  ytitle: bool = True, xtitle: bool = True, colorbar: dict | None = None,
                  controls: int = 0, height: int | None = None) -> dict[str, Any]:
    """``layout.margin`` for a 2-D chart, wide enough for what autoexpand would add, with
    ``autoexpand=False`` (one draw). ``top``: the title and legend band
    (:func:`_top_margin`); ``ylabels``/``xlabels``: the tick labels an axis may show
    (:func:`tick_labels`); ``colorbar``: ``dict(range=(zmin, zmax), len=…, thickness=…, xpad=…)``
    for a vertical colour bar right of the plot (``x=1``, left-anchored, ``xpad`` px of room
    either side, title on its right side) in a figure ``height`` px tall;
    ``controls``: px from the plot's bottom edge to the bottom of the animation buttons and
    slider under it (:func:`controls_height`).

    Plotly's geometry: a tick label sits ``ticklen`` + ~3 px from the axis; an axis title
    10 px beyond the labels (plotly's standoff) and about its font size + 18 px deep."""
    tick_h = th.tick * _LINE
    title_room = _TITLE_STANDOFF + th.axis_title + _TITLE_EXTRA
    left = _TICKLEN + _LABEL_GAP + longest_px(ylabels, th.tick) + (title_room if ytitle else 0)
    bottom = max(_TICKLEN + _LABEL_GAP + tick_h + (title_room if xtitle else 0), controls)
    # the last x label is centred on the plot's right edge: half of it sticks out (plotly
    # pushes that half + ~10 px)
    right = max(10.0, 0.5 * longest_px(xlabels, th.tick) + 12)
    top = max(top, int(tick_h / 2) + 4)    # the top y label is centred on the plot's top edge
    if colorbar is not None:
        # plotly's automatic ticks on a colour bar: about one per 80 px of its length (4 … 10);
        # the bar is ``len`` × the plot's height, at most the figure's less its margins
        length = colorbar.get("len", 1.0) * max((height or 0) - top - bottom, 0)
        labels = tick_labels(*colorbar["range"],
                             max_ticks=int(min(max(length / 80.0, 4), 9)) + 1)
        # the bar with ``xpad`` either side, its labels, then the title (rotated: one line)
        right = max(right, 2 * colorbar.get("xpad", 10) + colorbar["thickness"] + _LABEL_GAP
                    + longest_px(labels, th.tick) + 1.5 * th.axis_title)
    return dict(l=math.ceil(left), r=math.ceil(right), t=int(top), b=math.ceil(bottom), pad=0,
                autoexpand=False)


def controls_height(th: Theme, top: int, buttons: int) -> int:
    """Height (px, from the plot's bottom edge) of an animation slider placed ``top`` +
    ``buttons`` px under the plot: its current-value line, rail and grip, ticks and step labels
    (plotly: currentvalue offset 10, rail + grip 18, ticks 7, labels 8 px off) and 4 px pad."""
    return int(top + buttons + 2 * th.tick * _LINE + 10 + 18 + 7 + 8 + 4 + 5)
