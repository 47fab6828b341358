"""Figures: plain data (``engine`` results) → ``plotly.graph_objects.Figure``.

Pure presentation. Every number drawn comes from a :class:`~adamem_core.engine.Trajectory` or a
dict built by :mod:`adamem_core.engine` (``contour_grid``, ``summarize``, ``step_geometry``,
``local_surface``, ``step_slice``); this module only slices, clips and log-transforms for display.
It never imports Streamlit, so every function is testable alone.

Visual language (DESIGN §5):

- one style per optimizer, the same in every chart (:func:`assign_styles`): AM-SGD vermillion,
  AM-AdamW blue (Okabe–Ito, colour-blind safe), solid lines; constant-β baselines in a ramp
  graded by β (teal for the SGD family, purple for the AdamW family, light = small β, dark =
  large β) with a dash and a marker per optimizer kind, so nothing relies on colour alone;
- ``lecture=True`` on every function: fonts ≥ 20 px, lines ≥ 3 px, big markers;
- titled axes with symbols, legends naming the optimizer and its hyper-parameters
  (``OptimizerSpec.label``), white template with a light grid, ``uirevision`` so zoom survives
  reruns.

Public functions::

    style_for(spec, lecture=False) -> dict(color, dash, symbol, width)
    assign_styles(specs, lecture=False) -> list[dict]
    theme(lecture) -> Theme;  apply_lecture(fig, lecture) -> fig
    trajectory_figure(grid, trajectories, landscape_title="", minima=(), start=None, t=None,
                      animate=True, surface3d=False, lecture=False, frame_stride=None,
                      speed_ms=80, max_frames=120, uirevision=None,
                      frame_bytes=1_000_000) -> Figure
    gap_figure(trajectories, f_star, t=None, lecture=False, uirevision=None) -> Figure
    beta_figure(trajectories, t=None, show_model_beta=False, show_effective=False,
                lecture=False, uirevision=None) -> Figure
    summary_table(rows, tol) -> pandas.DataFrame
    planes_figure(surface, geom, lecture=False, show_max=False, show_model=True) -> Figure
    slice_figure(sl, geom, lecture=False) -> Figure
    vectors_figure(grid, geom, lecture=False, zoom=None) -> Figure
    dual_figure(geom, lecture=False) -> Figure
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from .engine import gap_to_optimum
from .specs import OptimizerSpec

__all__ = ["Theme", "theme", "apply_lecture", "style_for", "assign_styles", "OKABE_ITO",
           "trajectory_figure", "gap_figure", "beta_figure", "summary_table", "planes_figure",
           "slice_figure", "vectors_figure", "dual_figure", "GAP_FLOOR"]

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
    c = c.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def _hex(rgb: Iterable[float]) -> str:
    return "#" + "".join(f"{int(round(min(max(v, 0.0), 1.0) * 255)):02X}" for v in rgb)


def _mix(a: str, b: str, w: float) -> str:
    """(1−w)·a + w·b in sRGB."""
    return _hex((1 - w) * x + w * y for x, y in zip(_rgb(a), _rgb(b)))


def _ramp(stops: Sequence[str], p: float) -> str:
    p = min(max(p, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(p), len(stops) - 2)
    return _mix(stops[i], stops[i + 1], p - i)


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
        template="plotly_white",
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


def _diverged_label(tr: Any) -> str:
    return tr.label + (f" — diverged at step {tr.diverged_at}" if tr.diverged_at is not None
                       else "")


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


def _display_height(grid: dict) -> tuple[str, Any]:
    """z-axis title and the map f ↦ displayed height used by ``contour_grid``'s display
    (log₁₀(f − f* + δ) with the same δ, or f itself)."""
    if grid.get("kind") == "log" and grid.get("f_star") is not None:
        fstar = float(grid["f_star"])
        z = np.asarray(grid["z"], dtype=float)
        span = float(np.nanmax(z[np.isfinite(z)]) - fstar) if np.isfinite(z).any() else 1.0
        delta = max(span * 1e-6, 1e-12)       # as engine.contour_grid
        return "log₁₀(f − f*)", lambda f: np.log10(
            np.maximum(np.asarray(f, float) - fstar, 0.0) + delta)
    return "f", lambda f: np.asarray(f, dtype=float)


_N_LEVELS = 24                               # filled bands of the contour (and its raster)
_CONTOUR_LINE = (90, 95, 105, 0.45)          # contour line colour, RGBA


def _levels(display: np.ndarray) -> tuple[float, float, int] | None:
    """Contour lines at round numbers: (first line, spacing, number of lines), about
    _N_LEVELS bands over the finite display values."""
    rng = _finite_range(display)
    if rng is None or rng[1] <= rng[0]:
        return None
    lo, hi = rng
    raw = (hi - lo) / _N_LEVELS
    mag = 10.0 ** math.floor(math.log10(raw))
    size = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    first = math.floor(lo / size + 1) * size
    n = max(int(math.floor((hi - first) / size + 1e-9)) + 1, 1)
    return first, size, n


def _contour_trace(grid: dict, th: Theme, colorbar_title: str, showscale: bool = True,
                   transparent: bool = False) -> go.Contour:
    """Filled contour of ``grid["display"]`` in light greys (``transparent``: invisible, kept
    for its hover values and colour bar over the raster of :func:`_contour_image`)."""
    disp = np.asarray(grid["display"], dtype=np.float32)
    lv = _levels(disp)
    contours = dict(coloring="fill", showlines=True)
    if lv is not None:
        first, size, n = lv
        contours.update(start=first, end=first + (n - 1) * size, size=size)
    r, g, b, a = _CONTOUR_LINE
    return go.Contour(
        x=np.asarray(grid["xs"], dtype=np.float32), y=np.asarray(grid["ys"], dtype=np.float32),
        z=disp, colorscale=_CONTOUR_SCALE, autocontour=lv is None, ncontours=_N_LEVELS,
        zmin=lv[0] - lv[1] if lv else None, zmax=lv[0] + lv[2] * lv[1] if lv else None,
        contours=contours, opacity=0 if transparent else 1,
        line=dict(color=f"rgba({r},{g},{b},{a})", width=0.8, smoothing=0.8),
        showscale=showscale,
        colorbar=dict(title=dict(text=colorbar_title, side="right", font=dict(size=th.axis_title)),
                      tickfont=dict(size=th.tick), thickness=20 if th.lecture else 14,
                      len=0.9, outlinewidth=0),
        hovertemplate="x=%{x:.3g}, y=%{y:.3g}<br>" + colorbar_title + " = %{z:.3g}<extra></extra>",
        name="f", showlegend=False)


def _png_data_uri(rgba: np.ndarray) -> str:
    """An (h, w, 4) uint8 array as a PNG data URI (standard library only)."""
    import base64
    import struct
    import zlib

    h, w, _ = rgba.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgba.reshape(h, w * 4)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _contour_image(grid: dict, pixels: int = 480) -> dict | None:
    """The filled contour of :func:`_contour_trace` as a raster layout image (same bands,
    colours and lines; the grid resampled bilinearly for display).

    Why: during a Plotly animation the scatter transitions remove every other SVG trace of the
    subplot (plotly.js draws only the animated traces), so an animated contour figure keeps its
    background as a layout image, which animations leave alone."""
    xs, ys = np.asarray(grid["xs"], float), np.asarray(grid["ys"], float)
    D = np.asarray(grid["display"], float)
    lv = _levels(D)
    if lv is None or xs.size < 2 or ys.size < 2:
        return None
    first, size, n = lv
    (xa, xb), (ya, yb) = (xs[0], xs[-1]), (ys[0], ys[-1])
    w = pixels if (xb - xa) >= (yb - ya) else max(int(pixels * (xb - xa) / (yb - ya)), 2)
    h = pixels if (yb - ya) >= (xb - xa) else max(int(pixels * (yb - ya) / (xb - xa)), 2)
    fx = np.interp(np.linspace(xa, xb, w), xs, np.arange(xs.size))
    fy = np.interp(np.linspace(yb, ya, h), ys, np.arange(ys.size))      # top row = largest y
    ix, iy = np.minimum(fx.astype(int), xs.size - 2), np.minimum(fy.astype(int), ys.size - 2)
    wx, wy = (fx - ix)[None, :], (fy - iy)[:, None]
    V = ((1 - wy) * ((1 - wx) * D[np.ix_(iy, ix)] + wx * D[np.ix_(iy, ix + 1)])
         + wy * ((1 - wx) * D[np.ix_(iy + 1, ix)] + wx * D[np.ix_(iy + 1, ix + 1)]))
    ok = np.isfinite(V)
    # band k lies between lines k−1 and k (band 0 below the first line, band n above the last)
    band = np.clip(np.floor((np.where(ok, V, first) - first) / size) + 1, 0, n).astype(int)
    stops = [(p, _rgb(c)) for p, c in _CONTOUR_SCALE]
    lut = np.array([np.interp((k + 0.5) / (n + 1), [p for p, _ in stops],
                              [c[i] for _, c in stops]) for k in range(n + 1)
                    for i in range(3)]).reshape(n + 1, 3) * 255.0
    rgb = lut[band]
    edge = np.zeros_like(ok)
    edge[:, :-1] |= band[:, :-1] != band[:, 1:]
    edge[:-1, :] |= band[:-1, :] != band[1:, :]
    r, g, b, a = _CONTOUR_LINE
    rgb = np.where(edge[..., None], (1 - a) * rgb + a * np.array([r, g, b], float), rgb)
    rgba = np.concatenate([rgb, np.where(ok, 255.0, 0.0)[..., None]], axis=-1)
    return dict(source=_png_data_uri(np.round(rgba).astype(np.uint8)), xref="x", yref="y",
                x=xa, y=yb, sizex=xb - xa, sizey=yb - ya, xanchor="left", yanchor="top",
                sizing="stretch", layer="below", opacity=1)


def _frame_steps(T: int, t: int, stride: int | None, max_frames: int) -> list[int]:
    if stride is None:
        stride = max(1, math.ceil((T + 1) / max(max_frames - 2, 1)))
    stride = max(1, int(stride))
    return sorted(set(range(0, T + 1, stride)) | {T, t})


def trajectory_figure(grid: dict, trajectories: Sequence[Any], landscape_title: str = "",
                      minima: Iterable[Any] = (), start: Sequence[float] | None = None,
                      t: int | None = None, animate: bool = True, surface3d: bool = False,
                      lecture: bool | Theme = False, frame_stride: int | None = None,
                      speed_ms: int = 80, max_frames: int = 120,
                      uirevision: str | None = None,
                      frame_bytes: int = 1_000_000, pick_grid: int = 0) -> go.Figure:
    """Contour of ``grid["display"]`` with every run's path up to step ``t`` (default: the end).

    Each run: its path (line + a small marker per iterate), its current point in the
    optimizer's marker, and for a diverged run an ✕ where it left the picture and the legend
    text "… — diverged at step N". The start is a black star "start x₀", minima white crosses.

    ``animate=True`` adds Plotly frames (play / fast / pause buttons and a step slider) at most
    ``max_frames`` of them (every ``frame_stride`` steps). Frames touch only the trajectory
    traces (``go.Frame(traces=…)``): the contour is sent once. Each frame resends a run's path
    up to its step ("head") and its current point; when that would exceed about
    ``frame_bytes`` in all, the paths are cut into a few static blocks that frames only show or
    hide (by opacity), and the head restarts after the last finished block.

    ``pick_grid=n`` (2-D) adds an invisible n×n grid of points over the domain (last trace,
    never animated): with Streamlit's point selection, a click on the contour picks a start.

    ``surface3d=True``: a 3-D surface of the display heights with the paths lifted onto it
    (heights from the trajectories' f values, same transform), no animation.

    Trace order (2-D): 0 the contour; the minima; then per run its blocks, head, current point
    and (if it diverged) the ✕ — the animated traces, listed in ``layout.meta["animated_traces"]``;
    then per run a legend entry; then the start.
    Every trace carries ``meta = {"role": …, "run": r}``.
    """
    th = theme(lecture)
    trajectories = list(trajectories)
    styles = assign_styles([tr.spec for tr in trajectories], th)
    dom = _domain(grid)
    ztitle, height_of = _display_height(grid)
    cb_title = "log₁₀(f − f*)" if grid.get("kind") == "log" else "f"
    T = max([tr.steps for tr in trajectories], default=0)
    t = T if t is None else int(min(max(int(t), 0), T))
    if start is None:
        start = trajectories[0].x[0] if trajectories else None
    mins = _points(minima)
    # an animated figure's frames do not touch the layout: its step is on the slider
    what = "paths from the start x₀" if animate and not surface3d else f"paths up to step t = {t}"
    title = f"{landscape_title}: {what}" if landscape_title else what[0].upper() + what[1:]
    if surface3d:
        return _trajectory_3d(grid, trajectories, styles, th, title, mins, start, t, dom,
                              ztitle, height_of, uirevision)

    fig = go.Figure()
    image = _contour_image(grid) if animate and trajectories else None
    fig.add_trace(_contour_trace(grid, th, cb_title, transparent=image is not None))
    fig.data[0].meta = {"role": "contour"}
    if image is not None:
        fig.add_layout_image(image)
    if mins:   # below the paths: a converged run's current point stays visible
        fig.add_trace(go.Scatter(
            x=[p[0] for p in mins], y=[p[1] for p in mins], mode="markers", name="minimum",
            legendrank=901,
            marker=dict(symbol="cross", size=th.special, color="white",
                        line=dict(color="black", width=2 if th.lecture else 1.5)),
            hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>", meta={"role": "minimum"}))


    ks = _frame_steps(T, t, frame_stride, max_frames) if animate and trajectories else [t]
    spans = _block_spans([_shown_last(tr, dom) for tr in trajectories], ks, T,
                         frame_bytes) if animate else []
    step_dtype = np.uint16 if T < 65535 else np.uint32
    layout_of: list[dict] = []      # per run: indices of its animated traces
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        last = _shown_last(tr, dom)
        xy = np.asarray(tr.x, dtype=np.float32)
        cd = np.arange(tr.steps + 1, dtype=step_dtype)
        group = f"run{r}"
        hover = (f"<b>{tr.label}</b><br>step t = %{{customdata}}<br>"
                 "x = %{x:.4g}, y = %{y:.4g}<extra></extra>")
        common = dict(mode="lines+markers", legendgroup=group, showlegend=False,
                      line=dict(color=st["color"], dash=st["dash"], width=st["width"]),
                      marker=dict(color=st["color"], size=th.path_marker, symbol=st["symbol"],
                                  line=dict(width=0)),
                      hovertemplate=hover)
        idx: dict[str, Any] = {"blocks": [], "spans": [], "run": r}
        for lo, hi in spans:
            if lo >= last:            # nothing of this run left to show there
                break
            hi = min(hi, last)
            sl = slice(lo, hi + 1)
            fig.add_trace(go.Scatter(x=xy[sl, 0], y=xy[sl, 1], customdata=cd[sl], opacity=0,
                                     hoverinfo="skip", name=tr.label,
                                     meta={"role": "block", "run": r, "lo": lo, "hi": hi},
                                     **common))
            idx["blocks"].append(len(fig.data) - 1)
            idx["spans"].append((lo, hi))
        fig.add_trace(go.Scatter(x=[], y=[], name=tr.label, meta={"role": "head", "run": r},
                                 **common))
        idx["head"] = len(fig.data) - 1
        fig.add_trace(go.Scatter(
            x=[], y=[], mode="markers", legendgroup=group, showlegend=False, name=tr.label,
            marker=dict(color=st["color"], symbol=st["symbol"], size=th.marker,
                        line=dict(color="white", width=1.5 if not th.lecture else 2.5)),
            hovertemplate=f"<b>{tr.label}</b><br>current point (%{{x:.4g}}, %{{y:.4g}})"
                          "<extra></extra>",
            meta={"role": "point", "run": r}))
        idx["point"] = len(fig.data) - 1
        if tr.diverged_at is not None:
            j = _exit_index(tr, dom)
            fig.add_trace(go.Scatter(
                x=[float(tr.x[j, 0])], y=[float(tr.x[j, 1])], mode="markers",
                legendgroup=group, showlegend=False, name=_diverged_label(tr),
                marker=dict(symbol="x", size=th.special, color=st["color"],
                            line=dict(color="black", width=1.5)),
                opacity=0,
                hovertemplate=f"<b>{_diverged_label(tr)}</b><extra></extra>",
                meta={"role": "diverged", "run": r}))
            idx["diverged"] = len(fig.data) - 1
            idx["exit"] = j
        idx.update(tr=tr, last=last, xy=xy, cd=cd)
        layout_of.append(idx)

    animated = [i for idx in layout_of for i in _animated_indices(idx)]
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="lines+markers", name=_diverged_label(tr),
            legendgroup=f"run{r}", showlegend=True, legendrank=100 + r,
            line=dict(color=st["color"], dash=st["dash"], width=st["width"]),
            marker=dict(color=st["color"], symbol=st["symbol"], size=th.marker * 0.8),
            hoverinfo="skip", meta={"role": "legend", "run": r}))
    if start is not None:
        fig.add_trace(go.Scatter(
            x=[float(start[0])], y=[float(start[1])], mode="markers", name="start x₀",
            legendrank=900,
            marker=dict(symbol="star", size=th.special + 4, color="black",
                        line=dict(color="white", width=1.5)),
            hovertemplate="start x₀ = (%{x:.4g}, %{y:.4g})<extra></extra>",
            meta={"role": "start"}))
    if pick_grid:   # invisible points under everything: a click on one picks a new start
        (pxa, pxb), (pya, pyb) = dom
        PX, PY = np.meshgrid(np.linspace(pxa, pxb, pick_grid), np.linspace(pya, pyb, pick_grid))
        fig.add_trace(go.Scatter(
            x=PX.ravel(), y=PY.ravel(), mode="markers", name="pick a start", showlegend=False,
            marker=dict(size=max(6.0, 420.0 / pick_grid), opacity=0.0, color="#000000"),
            hovertemplate="click to start here: (%{x:.3g}, %{y:.3g})<extra></extra>",
            meta={"role": "pick"}))
    # the state at step t
    for idx in layout_of:
        for i, upd in zip(_animated_indices(idx), _state_at(idx, t)):
            fig.data[i].update(upd)

    (xa, xb), (ya, yb) = dom
    controls = (_controls_top(th) + 2 * _button_row(th) + 3 * th.tick) if animate else 90
    _layout(fig, th, title, "x", "y", uirevision or f"trajectory:{landscape_title}",
            height=_height(th, fig, None, True, bottom=controls)
            + (160 if th.lecture else 120))
    fig.update_xaxes(range=[xa, xb], constrain="domain", constraintoward="right", showgrid=False)
    fig.update_yaxes(range=[ya, yb], scaleanchor="x", scaleratio=1, constrain="domain",
                     constraintoward="top", showgrid=False)
    fig.layout.meta = {"animated_traces": animated}

    if animate and trajectories:
        frames = []
        for k in ks:
            data = []
            for idx in layout_of:
                data.extend(_state_at(idx, k))
            frames.append({"data": data, "traces": animated, "name": str(k)})
        fig = LazyFramesFigure.wrap(fig, frames)
        _animation_controls(fig, th, ks, t, speed_ms)
    return fig


class LazyFramesFigure(go.Figure):
    """A ``go.Figure`` whose animation frames stay plain dicts until someone reads ``.frames``.

    Building thousands of validated ``go.Scatter`` objects for the frames costs about a second;
    the browser only needs the JSON. ``to_dict`` (used by ``to_json``, ``to_html`` and
    ``st.plotly_chart``) emits the raw frames directly; reading ``fig.frames`` validates them
    once, on demand (tests do; the pages don't)."""

    @classmethod
    def wrap(cls, fig: go.Figure, frames: list[dict]) -> "LazyFramesFigure":
        out = cls(fig)
        out._lazy_frames = frames
        return out

    def _materialise(self) -> None:
        lazy = self.__dict__.get("_lazy_frames")
        if lazy is not None:
            self.__dict__["_lazy_frames"] = None
            go.Figure.frames.fset(self, lazy)

    @property
    def frames(self):  # type: ignore[override]
        self._materialise()
        return go.Figure.frames.fget(self)

    @frames.setter
    def frames(self, value):  # type: ignore[override]
        self.__dict__["_lazy_frames"] = None
        go.Figure.frames.fset(self, value)

    def to_dict(self) -> dict:
        d = super().to_dict()
        lazy = self.__dict__.get("_lazy_frames")
        if lazy is not None:
            d["frames"] = [{**f, "data": [{k: _typed(v) for k, v in tr.items()}
                                          for tr in f["data"]]} for f in lazy]
        return d


_JS_TYPES = {"f8": "f8", "f4": "f4", "i1": "i1", "u1": "u1", "i2": "i2", "u2": "u2",
             "i4": "i4", "u4": "u4"}


def _typed(v: Any) -> Any:
    """NumPy arrays as plotly.js typed-array specs (base64), as validated figures send them."""
    if not isinstance(v, np.ndarray) or v.size == 0 or v.dtype.kind not in "fiu":
        return v
    if v.dtype.str[1:] not in _JS_TYPES:       # int64 / uint64: plotly.js has no 64-bit ints
        v = v.astype(np.float64 if v.dtype.kind == "f" else np.int32)
    a = np.ascontiguousarray(v)
    spec = {"dtype": _JS_TYPES[a.dtype.str[1:]],
            "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = ", ".join(str(n) for n in a.shape)
    return spec


def _block_spans(lasts: Sequence[int], ks: list[int], T: int,
                 budget: int) -> list[tuple[int, int]]:
    """The fewest blocks [lo, hi] (steps, inclusive) that keep the frames' path data within
    ``budget`` bytes (estimate: 8 bytes x/y + 2 bytes step per point, base64 4/3, plus the
    per-block show/hide entries); ``lasts``: the last step drawn of each run."""
    spans: list[tuple[int, int]] = []
    for nb in range(0, 64):
        L = math.ceil(T / (nb + 1)) if nb else T + 1
        spans = [(b * L, min((b + 1) * L, T)) for b in range(nb)]
        pts = 0
        for last in lasts:
            for k in ks:
                kk = min(k, last)
                lo = max([min(hi, last) for b_lo, hi in spans
                          if b_lo <= last and min(hi, last) <= kk], default=0)
                pts += kk - lo + 1
        est = pts * 10 * 4 / 3 + len(ks) * len(lasts) * nb * 45
        if est <= budget or L <= 4:
            return spans
    return spans


def _animated_indices(idx: dict) -> list[int]:
    out = list(idx["blocks"]) + [idx["head"], idx["point"]]
    if "diverged" in idx:
        out.append(idx["diverged"])
    return out


def _state_at(idx: dict, k: int) -> list[dict]:
    """Per animated trace of one run, the (small) update showing the run at step k: finished
    blocks visible, the rest of the path up to k in the head, the current point, the ✕."""
    last, xy, cd = idx["last"], idx["xy"], idx["cd"]
    kk = min(k, last)                                  # nothing after the last drawn iterate
    out: list[dict] = []
    lo = 0
    for b_lo, b_hi in idx["spans"]:
        end = min(b_hi, last)
        done = b_lo <= last and end <= kk
        if done:
            lo = max(lo, end)
        out.append({"type": "scatter", "opacity": 1 if done else 0,
                    "hoverinfo": "all" if done else "skip"})
    sl = slice(lo, kk + 1)
    out.append({"type": "scatter", "x": xy[sl, 0], "y": xy[sl, 1], "customdata": cd[sl]})
    out.append({"type": "scatter", "x": xy[kk:kk + 1, 0], "y": xy[kk:kk + 1, 1]})
    if "diverged" in idx:
        out.append({"type": "scatter", "opacity": 1 if k > idx["exit"] else 0})
    return out


def _controls_top(th: Theme) -> int:
    """Pixels from the plot's bottom to the animation buttons (below tick labels and "x")."""
    return int(th.tick * 1.6 + th.axis_title * 1.4 + 16)


def _button_row(th: Theme) -> int:
    """Height of the row of animation buttons (px)."""
    return int(th.tick * 2.2 + 14)


def _animation_controls(fig: go.Figure, th: Theme, ks: list[int], t: int, speed_ms: int) -> None:
    """Play / fast / pause buttons and a step slider. Frames only move the scatter traces
    (``redraw: False``, smooth); the contour stays as the layout image under them."""
    def play(ms: int) -> list:
        return [None, {"frame": {"duration": ms, "redraw": False}, "fromcurrent": True,
                       "transition": {"duration": 0}, "mode": "immediate"}]

    pause = [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
                      "transition": {"duration": 0}}]
    fs = th.tick
    pad_t = _controls_top(th)
    fig.update_layout(
        updatemenus=[dict(
            type="buttons", direction="left", showactive=False, x=0.0, xanchor="left",
            y=0, yanchor="top", pad=dict(t=pad_t, r=8), font=dict(size=fs),
            buttons=[dict(label="▶ Play", method="animate", args=play(int(speed_ms))),
                     dict(label="▶▶ Fast", method="animate", args=play(max(int(speed_ms) // 4, 1))),
                     dict(label="❚❚ Pause", method="animate", args=pause)])],
        sliders=[dict(
            active=ks.index(t), x=0.0, len=1.0,     # under the buttons: fits any width
            xanchor="left", y=0, yanchor="top", pad=dict(t=pad_t + _button_row(th), b=4),
            currentvalue=dict(prefix="step t = ", font=dict(size=fs), visible=True),
            font=dict(size=fs), ticklen=3, minorticklen=0,
            steps=[dict(label=str(k), method="animate",
                        args=[[str(k)], {"mode": "immediate",
                                         "frame": {"duration": 0, "redraw": False},
                                         "transition": {"duration": 0}}])
                   for k in ks])],
    )


def _trajectory_3d(grid, trajectories, styles, th, title, mins, start, t, dom, ztitle,
                   height_of, uirevision) -> go.Figure:
    fig = go.Figure()
    zdisp = np.asarray(grid["display"], dtype=float)
    zr = _finite_range(zdisp) or (0.0, 1.0)
    lift = 0.01 * (zr[1] - zr[0])
    fig.add_trace(go.Surface(
        x=grid["xs"], y=grid["ys"], z=zdisp, colorscale=_SURFACE_SCALE, opacity=0.92,
        showscale=True, name="f",
        colorbar=dict(title=dict(text=ztitle, font=dict(size=th.axis_title)),
                      tickfont=dict(size=th.tick), len=0.75,
                      thickness=20 if th.lecture else 14),
        contours=dict(z=dict(show=True, color="rgba(80,80,90,0.35)", width=1)),
        hovertemplate="x=%{x:.3g}, y=%{y:.3g}<br>" + ztitle + " = %{z:.3g}<extra></extra>",
        meta={"role": "surface"}))
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        kk = min(t, _last_finite(tr))
        xy = tr.x[:kk + 1].astype(float).copy()
        z = height_of(tr.f[:kk + 1]) + lift
        out = ~np.array([_inside(p, dom, 0.0) for p in xy])
        xy[out] = np.nan
        z = np.where(out, np.nan, z)
        sym = _SYMBOL_3D.get(st["symbol"], "circle")
        fig.add_trace(go.Scatter3d(
            x=xy[:, 0], y=xy[:, 1], z=z, mode="lines+markers", name=_diverged_label(tr),
            legendgroup=f"run{r}", line=dict(color=st["color"], width=st["width"] + 2,
                                              dash=st["dash"]),
            marker=dict(size=th.path_marker * 0.6, color=st["color"], symbol="circle"),
            customdata=np.arange(kk + 1),
            hovertemplate=f"<b>{tr.label}</b><br>step t = %{{customdata}}<br>"
                          f"x = %{{x:.4g}}, y = %{{y:.4g}}<extra></extra>",
            meta={"role": "path3d", "run": r}))
        j = kk
        while j > 0 and not np.isfinite(z[j]):
            j -= 1
        if np.isfinite(z[j]):
            fig.add_trace(go.Scatter3d(
                x=[xy[j, 0]], y=[xy[j, 1]], z=[z[j]], mode="markers", showlegend=False,
                legendgroup=f"run{r}", name=tr.label,
                marker=dict(size=th.marker * 0.6, color=st["color"], symbol=sym,
                            line=dict(color="white", width=1)),
                hoverinfo="skip", meta={"role": "point3d", "run": r}))
    if start is not None:
        fig.add_trace(go.Scatter3d(
            x=[float(start[0])], y=[float(start[1])],
            z=[float(height_of([trajectories[0].f[0]])[0]) + lift] if trajectories else [zr[1]],
            mode="markers", name="start x₀", marker=dict(size=th.special * 0.5, color="black",
                                                         symbol="diamond"),
            meta={"role": "start"}))
    if mins:
        fig.add_trace(go.Scatter3d(
            x=[p[0] for p in mins], y=[p[1] for p in mins], z=[zr[0]] * len(mins),
            mode="markers", name="minimum",
            marker=dict(size=th.special * 0.45, color="white", symbol="cross",
                        line=dict(color="black", width=2)), meta={"role": "minimum"}))
    (xa, xb), (ya, yb) = dom
    _layout(fig, th, title, uirevision=uirevision or f"trajectory3d:{title}",
            height=760 if th.lecture else 620)
    ax = dict(tickfont=dict(size=th.tick), backgroundcolor="white",
              gridcolor="#e6e6e6", showbackground=True, nticks=6)
    fig.update_layout(scene=dict(
        xaxis=dict(title=dict(text="x", font=dict(size=th.axis_title)), range=[xa, xb], **ax),
        yaxis=dict(title=dict(text="y", font=dict(size=th.axis_title)), range=[ya, yb], **ax),
        zaxis=dict(title=dict(text=ztitle, font=dict(size=th.axis_title)),
                   range=_pad_range(zr[0], zr[1], 0.03), **ax),
        aspectmode="manual", aspectratio=dict(x=1, y=(yb - ya) / (xb - xa), z=0.6),
        camera=dict(eye=dict(x=1.2, y=-1.25, z=0.75))), margin=dict(l=0, r=0, b=0))
    return fig


# ============================================================================ curves against step
def gap_figure(trajectories: Sequence[Any], f_star: float | None, t: int | None = None,
               lecture: bool | Theme = False, uirevision: str | None = None) -> go.Figure:
    """f(x_t) − f* against step t on a log axis (f(x_t) on a linear axis when f* is unknown).

    One line per run in its style; values ≤ 0 are drawn at a floor (``GAP_FLOOR``, or lower when
    a run is already below it); a diverged run ends with an ✕ at its last finite value (the
    y range stops a few decades above the start, so a blow-up does not flatten the rest);
    a dotted vertical line marks step t."""
    th = theme(lecture)
    trajectories = list(trajectories)
    styles = assign_styles([tr.spec for tr in trajectories], th)
    log = f_star is not None
    ys = [np.asarray(gap_to_optimum(tr, f_star), dtype=float) for tr in trajectories]
    floor = GAP_FLOOR
    if log:
        pos = [y[np.isfinite(y) & (y > 0)] for y in ys]
        mins = [p.min() for p in pos if p.size]
        if mins:
            floor = min(GAP_FLOOR, min(mins))
        ys = [np.where(np.isfinite(y), np.maximum(y, floor), np.nan) for y in ys]
    fig = go.Figure()
    ymax_display, yrange = None, None
    starts = [y[0] for y in ys if y.size and np.isfinite(y[0])]
    finite = [y[np.isfinite(y)] for y in ys]
    finite = [y for y in finite if y.size]
    if starts and finite:
        lo_v, hi_v = min(y.min() for y in finite), max(y.max() for y in finite)
        if log:   # at most 4 decades above the highest start: a blow-up stays readable
            hi = min(math.log10(hi_v), math.log10(max(starts)) + 4)
            lo = math.log10(lo_v)
            ymax_display = 10 ** (hi + 0.3)
            yrange = [lo - 0.3, hi + 0.3]
        else:     # at most twice the initial spread above the highest start
            hi = min(hi_v, max(starts) + max(max(starts) - lo_v, 1e-12))
            yrange = _pad_range(lo_v, hi, 0.05)
            ymax_display = yrange[1]
    ytitle = "f(x<sub>t</sub>) − f*" if log else "f(x<sub>t</sub>)"
    for r, (tr, st, y) in enumerate(zip(trajectories, styles, ys)):
        steps = np.arange(y.size)
        fig.add_trace(go.Scatter(
            x=steps, y=y, mode="lines+markers", name=_diverged_label(tr), legendgroup=f"run{r}",
            line=dict(color=st["color"], dash=st["dash"], width=st["width"]),
            marker=dict(symbol=st["symbol"], color=st["color"], size=th.marker * 0.7,
                        maxdisplayed=14),
            hovertemplate=f"<b>{tr.label}</b><br>step t = %{{x}}<br>{ytitle} = "
                          "%{y:.4g}<extra></extra>",
            meta={"role": "gap", "run": r}))
        if tr.diverged_at is not None:
            j = _last_finite(tr)
            yv = float(y[j]) if np.isfinite(y[j]) else float("nan")
            yd = min(yv, ymax_display) if ymax_display is not None and np.isfinite(yv) else yv
            fig.add_trace(go.Scatter(
                x=[j], y=[yd], mode="markers", showlegend=False, legendgroup=f"run{r}",
                name=_diverged_label(tr), cliponaxis=False,
                marker=dict(symbol="x", size=th.special, color=st["color"],
                            line=dict(color="black", width=1.5)),
                hovertemplate=f"<b>{_diverged_label(tr)}</b><br>last finite value "
                              f"{_fmt(yv)} at step {j}<extra></extra>",
                meta={"role": "diverged", "run": r}))
    _layout(fig, th, "Gap to the optimum" if log else "Function value",
            "step t", ytitle, uirevision or "gap")
    if log:
        fig.update_yaxes(type="log", exponentformat="power")
    if yrange is not None:
        fig.update_yaxes(range=yrange)
    T = max([tr.steps for tr in trajectories], default=0)
    fig.update_xaxes(range=[0, max(T, 1)])
    if t is not None:
        _vline(fig, th, t, f" t = {t}")
    return fig


def beta_figure(trajectories: Sequence[Any], t: int | None = None, show_model_beta: bool = False,
                show_effective: bool = False, lecture: bool | Theme = False,
                uirevision: str | None = None) -> go.Figure:
    """β_t against step t: the β each adaptive run chose (``trajectory.beta``), the constant β of
    every baseline as a flat line ("… (constant)", its own ``trajectory.beta``).

    ``show_model_beta``: for the baselines also ``trajectory.model_beta``, the β the model would
    have chosen along their path (thin dotted, "… — model's β"). ``show_effective``: the
    adaptive runs' effective momentum (β_t+λ)/(1+λ) (``trajectory.effective_momentum``, thin
    dashed). A dotted vertical line marks step t."""
    th = theme(lecture)
    trajectories = list(trajectories)
    styles = assign_styles([tr.spec for tr in trajectories], th)
    fig = go.Figure()
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        steps = np.arange(tr.beta.size)
        adaptive = tr.spec.entry.adaptive
        if not adaptive and tr.spec.fixed_beta is None:
            continue
        name = tr.label if adaptive else f"{tr.label} (constant)"
        if tr.diverged_at is not None:
            name += f" — diverged at step {tr.diverged_at}"
        fig.add_trace(go.Scatter(
            x=steps, y=tr.beta, mode="lines+markers" if adaptive else "lines",
            name=name, legendrank=100 + 3 * r,
            line=dict(color=st["color"], dash=st["dash"], width=st["width"],
                      shape="linear" if adaptive else "hv"),
            marker=dict(symbol=st["symbol"], color=st["color"], size=th.marker * 0.55,
                        maxdisplayed=60),
            hovertemplate=f"<b>{tr.label}</b><br>step t = %{{x}}<br>β<sub>t</sub> = "
                          "%{y:.4g}<extra></extra>",
            meta={"role": "beta", "run": r, "adaptive": bool(adaptive)}))
        if show_model_beta and not adaptive and np.isfinite(tr.model_beta).any():
            fig.add_trace(go.Scatter(
                x=steps, y=tr.model_beta, mode="lines", name=f"{tr.label} — model's β",
                legendrank=101 + 3 * r,
                line=dict(color=st["color"], dash="dot", width=th.line_thin),
                opacity=0.85,
                hovertemplate=f"<b>{tr.label}</b><br>step t = %{{x}}<br>model's β = "
                              "%{y:.4g}<extra></extra>",
                meta={"role": "model_beta", "run": r}))
        if show_effective and adaptive and np.isfinite(tr.effective_momentum).any():
            fig.add_trace(go.Scatter(
                x=steps, y=tr.effective_momentum, mode="lines",
                name=f"{tr.label} — effective momentum (β<sub>t</sub>+λ)/(1+λ)",
                legendrank=102 + 3 * r, line=dict(color=st["color"], dash="dash",
                                                  width=th.line_thin), opacity=0.7,
                hovertemplate=f"<b>{tr.label}</b><br>step t = %{{x}}<br>effective momentum = "
                              "%{y:.4g}<extra></extra>",
                meta={"role": "effective", "run": r}))
    _layout(fig, th, "Momentum β<sub>t</sub> chosen at each step", "step t", "β<sub>t</sub>",
            uirevision or "beta")
    fig.update_yaxes(range=[-0.02, 1.02], dtick=0.1 if not th.lecture else 0.2)
    T = max([tr.steps for tr in trajectories], default=0)
    fig.update_xaxes(range=[0, max(T - 1, 1)])
    if t is not None:
        _vline(fig, th, t, f" t = {t}")
    return fig


# ============================================================================ table
def summary_table(rows: Sequence[dict], tol: float):
    """``engine.summarize`` rows → a display DataFrame with the columns
    Optimizer | Steps to f − f* < tol | Final f − f* (Final f when f* is unknown) |
    Diverged at step | Mean β — every cell a readable string ("1.2e-08", "never", "—")."""
    import pandas as pd

    known = any(r.get("final_gap") is not None for r in rows)
    steps_col = f"Steps to f − f* < {tol:g}"
    final_col = "Final f − f*" if known or not rows else "Final f"
    out = []
    for r in rows:
        if not known:
            steps = "—"
        elif r.get("steps_to_tol") is None:
            steps = "never"
        else:
            steps = str(int(r["steps_to_tol"]))
        final = r.get("final_gap") if known else r.get("final_f")
        out.append({
            "Optimizer": r.get("optimizer", ""),
            steps_col: steps,
            final_col: _fmt(final, 2) if final is not None else "—",
            "Diverged at step": "—" if r.get("diverged_at") is None else str(int(r["diverged_at"])),
            "Mean β": _fmt(r.get("mean_beta"), 3),
        })
    return pd.DataFrame(out, columns=["Optimizer", steps_col, final_col, "Diverged at step",
                                      "Mean β"])


# ============================================================================ inside one step
def _step_title(geom: dict, what: str) -> str:
    b = f"β<sub>t</sub> = {geom['beta']:.3g}"
    if geom.get("fixed"):
        b += f" (fixed; the model would choose {geom['model_beta']:.3g})"
    return f"{what} at step t = {geom['t']}: {b}"


def _flat(z: np.ndarray, color: str, name: str, opacity: float, role: str,
          xs: Any, ys: Any, lo: float, hi: float, th: Theme, legendrank: int) -> go.Surface:
    z = np.where((z >= lo) & (z <= hi), z, np.nan)
    return go.Surface(x=xs, y=ys, z=z, surfacecolor=np.zeros_like(z),
                      colorscale=[[0, color], [1, color]], cmin=0, cmax=1, showscale=False,
                      opacity=opacity, name=name, showlegend=True, legendrank=legendrank,
                      hovertemplate=f"{name}<br>x=%{{x:.3g}}, y=%{{y:.3g}}<br>value = %{{z:.4g}}"
                                    "<extra></extra>",
                      meta={"role": role})


def planes_figure(surface: dict, geom: dict, lecture: bool | Theme = False,
                  show_max: bool = False, show_model: bool = True) -> go.Figure:
    """3-D view near x_t: f (semi-transparent, grey), the gradient plane ℓ_g (orange) and the
    memory plane ℓ_m (purple), optionally their max, the model m_t (translucent blue with a
    wireframe), x_t on f and x_{t+1} (on f, and the model's value there).

    Planes are cut where they leave the z range of f and m_t over the patch (extended 20 %), so
    a steep plane cannot flatten the picture."""
    th = theme(lecture)
    xs, ys = surface["xs"], surface["ys"]
    f = np.asarray(surface["f"], dtype=float)
    m = np.asarray(surface["model"], dtype=float)
    rng = _finite_range(f, m, [geom["f"], geom.get("f_next", np.nan)]) or (0.0, 1.0)
    lo, hi = _pad_range(rng[0], rng[1], 0.2)
    fig = go.Figure()
    fig.add_trace(go.Surface(
        x=xs, y=ys, z=np.where((f >= lo) & (f <= hi), f, np.nan), colorscale=_F_LOCAL_SCALE,
        showscale=False, opacity=0.9, name="f", showlegend=True, legendrank=1,
        contours=dict(z=dict(show=True, color="rgba(60,60,60,0.35)", width=1)),
        hovertemplate="f<br>x=%{x:.3g}, y=%{y:.3g}<br>f = %{z:.4g}<extra></extra>",
        meta={"role": "f"}))
    fig.add_trace(_flat(np.asarray(surface["grad_plane"], float), GEOM["grad"],
                        "gradient plane ℓ<sub>g</sub>", 0.55, "grad_plane", xs, ys, lo, hi, th, 2))
    fig.add_trace(_flat(np.asarray(surface["mem_plane"], float), GEOM["mem"],
                        "memory plane ℓ<sub>m</sub>", 0.55, "mem_plane", xs, ys, lo, hi, th, 3))
    if show_max:
        fig.add_trace(_flat(np.asarray(surface["max_plane"], float), GEOM["max"],
                            "max{ℓ<sub>g</sub>, ℓ<sub>m</sub>}", 0.35, "max_plane", xs, ys,
                            lo, hi, th, 4))
    if show_model:
        mz = np.where((m >= lo) & (m <= hi), m, np.nan)
        fig.add_trace(go.Surface(
            x=xs, y=ys, z=mz, surfacecolor=np.zeros_like(mz),
            colorscale=[[0, GEOM["model"]], [1, GEOM["model"]]], cmin=0, cmax=1,
            showscale=False, opacity=0.35, name="model m<sub>t</sub>", showlegend=True,
            legendrank=5,
            contours=dict(x=dict(show=True, color=_rgba(GEOM["new"], 0.6), width=1),
                          y=dict(show=True, color=_rgba(GEOM["new"], 0.6), width=1)),
            hovertemplate="model m<sub>t</sub><br>x=%{x:.3g}, y=%{y:.3g}<br>value = %{z:.4g}"
                          "<extra></extra>", meta={"role": "model"}))
    x, xn = np.asarray(geom["x"], float), np.asarray(geom["x_next"], float)
    fig.add_trace(go.Scatter3d(
        x=[x[0]], y=[x[1]], z=[geom["f"]], mode="markers", name="x<sub>t</sub> on f",
        marker=dict(size=th.marker * 0.7, color="black", symbol="circle",
                    line=dict(color="white", width=2)), legendrank=6, meta={"role": "x_t"}))
    if np.all(np.isfinite(xn)):
        zn = [geom.get("f_next", np.nan), geom.get("model_at_step", np.nan)]
        fig.add_trace(go.Scatter3d(
            x=[xn[0], xn[0]], y=[xn[1], xn[1]], z=zn, mode="markers+lines",
            name="x<sub>t+1</sub>: f and m<sub>t</sub>",
            line=dict(color=GEOM["next"], width=th.line_thin, dash="dash"),
            marker=dict(size=th.marker * 0.7, color=GEOM["next"], symbol=["diamond", "circle-open"],
                        line=dict(color=GEOM["next"], width=3)),
            legendrank=7, meta={"role": "x_next"}))
    _layout(fig, th, _step_title(geom, "Two planes and the model"),
            uirevision=f"planes:{geom.get('t')}", height=760 if th.lecture else 620)
    ax = dict(tickfont=dict(size=th.tick), backgroundcolor="white",
              gridcolor="#e6e6e6", showbackground=True, nticks=6)
    fig.update_layout(
        scene=dict(xaxis=dict(title=dict(text="x", font=dict(size=th.axis_title)),
                              range=[float(xs[0]), float(xs[-1])], **ax),
                   yaxis=dict(title=dict(text="y", font=dict(size=th.axis_title)),
                              range=[float(ys[0]), float(ys[-1])], **ax),
                   zaxis=dict(title=dict(text="f", font=dict(size=th.axis_title)),
                              range=[lo, hi], **ax),
                   aspectmode="manual", aspectratio=dict(x=1, y=1, z=0.75),
                   camera=dict(eye=dict(x=1.25, y=-1.2, z=0.55))),
        margin=dict(l=0, r=0, b=0), uirevision="planes")
    return fig


def slice_figure(sl: dict, geom: dict, lecture: bool | Theme = False) -> go.Figure:
    """The 1-D slice along the step actually taken, s in units of the step (s = 1 is x_{t+1}):
    f, ℓ_g (dotted), ℓ_m (dashed), max{ℓ_g, ℓ_m} (thick), the model m_t; vertical lines at
    x_t, x_{t+1} and the model's minimiser on the slice (``sl["s_min_grid"]``).
    The y range covers the model and the planes (and f while it stays near them)."""
    th = theme(lecture)
    s = np.asarray(sl["s"], dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s, y=sl["max_plane"], mode="lines",
                             name="max{ℓ<sub>g</sub>, ℓ<sub>m</sub>}",
                             line=dict(color=_rgba(GEOM["max"], 0.28), width=th.line * 3.5),
                             hovertemplate="max = %{y:.4g}<extra></extra>",
                             meta={"role": "max_plane"}))
    fig.add_trace(go.Scatter(x=s, y=sl["f"], mode="lines", name="f along the step",
                             line=dict(color=GEOM["f"], width=th.line),
                             hovertemplate="s = %{x:.3g}<br>f = %{y:.4g}<extra></extra>",
                             meta={"role": "f"}))
    fig.add_trace(go.Scatter(x=s, y=sl["grad_plane"], mode="lines",
                             name="gradient plane ℓ<sub>g</sub>",
                             line=dict(color=GEOM["grad"], width=th.line, dash="dot"),
                             hovertemplate="ℓ<sub>g</sub> = %{y:.4g}<extra></extra>",
                             meta={"role": "grad_plane"}))
    fig.add_trace(go.Scatter(x=s, y=sl["mem_plane"], mode="lines",
                             name="memory plane ℓ<sub>m</sub>",
                             line=dict(color=GEOM["mem"], width=th.line, dash="dash"),
                             hovertemplate="ℓ<sub>m</sub> = %{y:.4g}<extra></extra>",
                             meta={"role": "mem_plane"}))
    fig.add_trace(go.Scatter(x=s, y=sl["model"], mode="lines", name="model m<sub>t</sub>",
                             line=dict(color=GEOM["new"], width=th.line),
                             hovertemplate="m<sub>t</sub> = %{y:.4g}<extra></extra>",
                             meta={"role": "model"}))
    core = _finite_range(sl["model"], sl["grad_plane"], sl["mem_plane"])
    f = np.asarray(sl["f"], dtype=float)
    near = f[(s >= 0) & (s <= 1.2)]
    if core is not None:
        lo, hi = core
        fr = _finite_range(near)
        if fr is not None:
            span = hi - lo
            lo, hi = min(lo, max(fr[0], lo - span)), max(hi, min(fr[1], hi + span))
        yrange = _pad_range(lo, hi, 0.08)
    else:
        yrange = None
    _layout(fig, th, _step_title(geom, "Along the step"),
            "s (in steps; s = 1 is x<sub>t+1</sub>)", "value",
            uirevision=f"slice:{geom.get('t')}")
    if yrange is not None:
        fig.update_yaxes(range=yrange)
    fig.update_xaxes(range=[float(s[0]), float(s[-1])], zeroline=False)
    _vline(fig, th, 0.0, " x<sub>t</sub>", color="#333333", dash="solid")
    _vline(fig, th, 1.0, " x<sub>t+1</sub>", color=GEOM["next"], dash="solid")
    smin = float(sl.get("s_min_grid", np.nan))
    if np.isfinite(smin) and abs(smin - 1.0) > 1e-9:
        _vline(fig, th, smin, " model's minimiser", color=GEOM["new"], dash="dash",
               position="bottom")
    elif np.isfinite(smin):
        fig.add_annotation(x=1.0, y=0.0, xref="x", yref="paper", showarrow=False,
                           xanchor="left", yanchor="bottom",
                           text=" = model's minimiser", font=dict(size=th.tick, color=GEOM["new"]),
                           bgcolor="rgba(255,255,255,0.75)")
    return fig


def vectors_figure(grid: dict, geom: dict, lecture: bool | Theme = False,
                   zoom: float | None = None) -> go.Figure:
    """The contour zoomed around x_t with the vectors of step t as arrows from x_t:
    −η g_t (gradient step), −η d_t (old memory), −η d_{t+1} (new direction) and, when it is
    not the same vector, the step actually taken x_{t+1} − x_t (Nesterov, AdamW form). For the
    AdamW form the vectors are shown in the preconditioned coordinates the step uses
    (−η P⁻¹g, …, element-wise by ``geom["P"]``) so they are comparable to the step.
    ``zoom``: half-width of the window (default: 1.35× the longest arrow)."""
    th = theme(lecture)
    x = np.asarray(geom["x"], dtype=float)
    xn = np.asarray(geom["x_next"], dtype=float)
    lr = float(geom["lr"])
    P = geom.get("P")
    adam = geom.get("form") == "adamw" and P is not None
    scale = (1.0 / np.asarray(P, dtype=float)) if adam else 1.0
    sub = "P⁻¹" if adam else ""
    vecs = [
        (f"−η {sub}g<sub>t</sub> (gradient step)", -lr * scale * np.asarray(geom["g"]),
         GEOM["grad"], "dot"),
        (f"−η {sub}d<sub>t</sub> (memory)", -lr * scale * np.asarray(geom["d"]), GEOM["mem"],
         "dash"),
    ]
    new = -lr * scale * np.asarray(geom["d_next"])
    step = xn - x
    same = bool(np.all(np.isfinite(step)) and np.allclose(new, step, rtol=1e-6, atol=1e-12))
    vecs.append((f"−η {sub}d<sub>t+1</sub>" + (" = x<sub>t+1</sub> − x<sub>t</sub> (step taken)"
                                              if same else " (new direction)"),
                 new, GEOM["new"], "solid"))
    if not same and np.all(np.isfinite(step)):
        vecs.append(("x<sub>t+1</sub> − x<sub>t</sub> (step taken)", step, GEOM["next"],
                     "longdash"))
    lengths = [float(np.linalg.norm(v)) for _, v, _, _ in vecs if np.all(np.isfinite(v))]
    (xa, xb), (ya, yb) = _domain(grid)
    half = zoom if zoom is not None else max(1.35 * max(lengths, default=0.0),
                                             0.03 * max(xb - xa, yb - ya))
    fig = go.Figure()
    fig.add_trace(_contour_trace(grid, th, "log₁₀(f − f*)" if grid.get("kind") == "log" else "f",
                                 showscale=False))
    fig.data[0].meta = {"role": "contour"}
    cx, cy = x
    _zoom_levels(fig.data[0], grid, (cx - half, cx + half), (cy - half, cy + half))
    fig.add_trace(go.Scatter(x=[x[0]], y=[x[1]], mode="markers", name="x<sub>t</sub>",
                             legendrank=10,
                             marker=dict(symbol="circle", size=th.marker * 0.8, color="black",
                                         line=dict(color="white", width=1.5)),
                             meta={"role": "x_t"}))
    if np.all(np.isfinite(xn)):
        fig.add_trace(go.Scatter(x=[xn[0]], y=[xn[1]], mode="markers", name="x<sub>t+1</sub>",
                                 legendrank=11, marker=dict(symbol="diamond", size=th.marker * 0.8,
                                             color=GEOM["next"],
                                             line=dict(color="white", width=1.5)),
                                 meta={"role": "x_next"}))
    for i, (name, v, color, dash) in enumerate(vecs):
        if not np.all(np.isfinite(v)):
            continue
        tip = x + v
        fig.add_trace(go.Scatter(
            x=[x[0], tip[0]], y=[x[1], tip[1]], mode="lines+markers", name=name, legendrank=1 + i,
            line=dict(color=color, width=th.line + (1 if dash == "solid" else 0), dash=dash),
            marker=dict(symbol=["circle", "arrow"], angleref="previous",
                        size=[0, th.special + 2], color=color, line=dict(width=0)),
            hovertemplate=f"{name}<br>tip = (%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
            meta={"role": "vector", "index": i}))
        short = name.split(" (")[0].split(" = ")[0]
        fig.add_annotation(x=tip[0], y=tip[1], text=short, showarrow=False,
                           xanchor="left" if v[0] >= 0 else "right",
                           yanchor="bottom" if v[1] >= 0 else "top",
                           xshift=6 if v[0] >= 0 else -6, font=dict(size=th.tick, color=color),
                           bgcolor="rgba(255,255,255,0.7)")
    _layout(fig, th, _step_title(geom, "The vectors"), "x", "y",
            uirevision=f"vectors:{geom.get('t')}")
    fig.update_xaxes(range=[cx - half, cx + half], constrain="domain", showgrid=False)
    fig.update_yaxes(range=[cy - half, cy + half], scaleanchor="x", scaleratio=1,
                     constrain="domain", showgrid=False)
    return fig


def _zoom_levels(contour: go.Contour, grid: dict, xr: tuple[float, float],
                 yr: tuple[float, float], n: int = 18) -> None:
    """Contour levels spread over the display values inside a zoom window (the default levels
    span the whole domain, so a small window would show one flat colour)."""
    xs, ys = np.asarray(grid["xs"]), np.asarray(grid["ys"])
    ix = (xs >= xr[0]) & (xs <= xr[1])
    iy = (ys >= yr[0]) & (ys <= yr[1])
    if ix.sum() < 2 or iy.sum() < 2:
        return
    rng = _finite_range(np.asarray(grid["display"])[np.ix_(iy, ix)])
    if rng is None or rng[1] <= rng[0]:
        return
    contour.update(autocontour=False, contours=dict(start=rng[0], end=rng[1],
                                                    size=(rng[1] - rng[0]) / n))


def dual_figure(geom: dict, lecture: bool | Theme = False) -> go.Figure:
    """The dual D(β) on β ∈ [0, 1] (``geom["dual_betas"]``, ``geom["dual"]``): the region
    beyond β_max shaded, the unconstrained maximiser (a dashed line, if it lies in [0, 1.2]),
    the β chosen (clipped) and, for a fixed-β baseline, the fixed β actually used.
    Marker heights are read off the drawn curve."""
    th = theme(lecture)
    b = np.asarray(geom["dual_betas"], dtype=float)
    D = np.asarray(geom["dual"], dtype=float)
    bmax = float(geom["beta_max"])
    unc = float(geom["unclipped"])
    fig = go.Figure()
    xr_hi = 1.0
    if np.isfinite(unc) and 1.0 < unc <= 1.2:
        xr_hi = unc + 0.03
    fig.add_vrect(x0=bmax, x1=max(xr_hi, 1.0) + 0.05, fillcolor="#9e9e9e", opacity=0.18,
                  line_width=0, layer="below")
    fig.add_annotation(x=(bmax + max(xr_hi, 1.0)) / 2, y=0.02, xref="x", yref="paper",
                       text=f"β > β<sub>max</sub> = {bmax:g}", showarrow=False, yanchor="bottom",
                       textangle=-90 if (1.0 - bmax) < 0.15 else 0,
                       font=dict(size=th.tick, color="#555555"))
    fig.add_trace(go.Scatter(x=b, y=D, mode="lines", name="dual D(β)",
                             line=dict(color="#222222", width=th.line),
                             hovertemplate="β = %{x:.3g}<br>D(β) = %{y:.5g}<extra></extra>",
                             meta={"role": "dual"}))

    def on_curve(beta: float) -> float:
        return float(np.interp(beta, b, D)) if b[0] <= beta <= b[-1] else float("nan")

    if np.isfinite(unc) and 0.0 <= unc <= 1.2:
        fig.add_trace(go.Scatter(
            x=[unc, unc], y=[float(np.nanmin(D)), float(np.nanmax(D))], mode="lines",
            name=f"unconstrained maximiser β* = {unc:.3g}",
            line=dict(color=GEOM["model"], width=th.line_thin, dash="dash"),
            hoverinfo="skip", meta={"role": "unclipped"}))
    chosen = float(geom["model_beta"])
    fig.add_trace(go.Scatter(
        x=[chosen], y=[on_curve(chosen)], mode="markers",
        name=(f"model's β (clipped to [0, β<sub>max</sub>]) = {chosen:.3g}" if geom.get("fixed")
              else f"chosen β<sub>t</sub> (clipped to [0, β<sub>max</sub>]) = {chosen:.3g}"),
        marker=dict(symbol="circle", size=th.marker, color=GEOM["chosen"],
                    line=dict(color="white", width=1.5)),
        hovertemplate="β = %{x:.4g}<br>D = %{y:.5g}<extra></extra>", meta={"role": "chosen"}))
    if geom.get("fixed"):
        used = float(geom["beta"])
        fig.add_trace(go.Scatter(
            x=[used], y=[on_curve(used)], mode="markers", name=f"fixed β used = {used:.3g}",
            marker=dict(symbol="square", size=th.marker, color=GEOM["fixed"],
                        line=dict(color="white", width=1.5)),
            hovertemplate="β = %{x:.4g}<br>D = %{y:.5g}<extra></extra>", meta={"role": "fixed"}))
    note = ""
    if np.isfinite(unc) and not 0.0 <= unc <= 1.2:
        note = f" (unconstrained maximiser β* = {unc:.3g}, off the chart)"
    _layout(fig, th, f"Dual of the model at step t = {geom['t']}{note}", "β", "D(β)",
            uirevision=f"dual:{geom.get('t')}")
    fig.update_xaxes(range=[-0.02, xr_hi + 0.02])
    rng = _finite_range(D)
    if rng is not None:
        fig.update_yaxes(range=_pad_range(rng[0], rng[1], 0.08))
    return fig
