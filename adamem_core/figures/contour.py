"""The contour background of the 2-D charts: display heights, round-number levels, the filled
contour trace and its raster (a PNG layout image, encoded with Pillow). No Streamlit."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from .style import Theme, _CONTOUR_SCALE, _finite_range, _rgb


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
                   transparent: bool = False, validate: bool = True) -> go.Contour:
    """Filled contour of ``grid["display"]`` in light greys (``transparent``: invisible, kept
    for its hover values and colour bar over the raster of :func:`_contour_image`).
    ``validate=False``: built without plotly.py's property validation, for a figure that is
    built unvalidated too (see ``playground.trajectory_figure``)."""
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
        name="f", showlegend=False, _validate=validate)


def _png_data_uri(rgba: np.ndarray) -> str:
    """An (h, w, 4) uint8 array as a PNG data URI (encoded by Pillow)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), mode="RGBA").save(
        buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


