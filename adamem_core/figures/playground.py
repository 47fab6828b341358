"""The Playground's charts: the animated trajectory contour (light animation frames), f(x_t) − f*,
β_t, and the summary table. Engine results (:class:`~adamem_core.engine.Trajectory`) in, Plotly
figures out; no Streamlit."""

from __future__ import annotations

import base64
import math
from typing import Any, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from ..engine import gap_to_optimum
from .style import (GAP_FLOOR, Theme, _SURFACE_SCALE, _SYMBOL_3D, _diverged_label,
                    _diverged_suffix, _domain, _exit_index, _finite_range, _fmt, _height, _inside,
                    _last_finite, _layout, _pad_range, _points, _shown_last, _vline,
                    assign_styles, controls_height, fixed_margins, theme, tick_labels)
from .contour import _contour_image, _contour_trace, _display_height
from .spec import SpecFigure, scatter as _Scatter


_COLORBAR_XPAD = 10     # px either side of the colour bar (plotly's default)


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
                      frame_bytes: int = 1_000_000, pick_grid: int = 0,
                      resolution_px: int = 4800, hover_grid: int = 48,
                      frozen: bool = False, raster: dict | None = None) -> go.Figure:
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

    What is drawn need not carry every iterate: a path keeps an iterate only when it lies at
    least 1/``resolution_px`` of the domain's larger side from the last one kept (a quarter of
    a pixel on a chart 1,200 px wide: markers and lines land on the same pixels), and always
    its block ends, its last drawn iterate and, in each frame, its current point. A converging
    run's hundreds of iterates piled up at the minimum travel once, not in every frame; the
    hover of every drawn marker still names its true step. ``resolution_px=0`` keeps all.
    The contour under an animated figure is the raster (``raster``: ``contour_raster(grid)``
    when the caller keeps it, as the page does per landscape; computed here otherwise); its
    invisible trace (hover values,
    colour bar) is sampled on a ``hover_grid``² grid with the full grid's levels.

    ``pick_grid=n`` (2-D) adds an invisible n×n grid of points over the domain (last trace,
    never animated): with Streamlit's point selection, a click on the contour picks a start.

    ``surface3d=True``: a 3-D surface of the display heights with the paths lifted onto it
    (heights from the trajectories' f values, same transform), no animation.

    ``frozen=True`` (2-D): the figure is built as plain dicts (:mod:`.spec`) and returned as a
    :class:`~adamem_core.figures.frozen.FrozenFigure`, what the page sends, without plotly.py's
    validating object model (same JSON as the default, a validated ``go.Figure``; tested).

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

    fig = SpecFigure()     # plain dicts; a go.Figure (or the frozen spec) at the end
    image = ((raster if raster is not None else _contour_image(grid))
             if animate and trajectories else None)
    fig.add_trace(_contour_trace(grid, th, cb_title, transparent=image is not None,
                                 validate=False))
    fig.data[0].meta = {"role": "contour"}
    if image is not None and hover_grid:
        # levels and colour bar stay those of the full grid (set explicitly by _contour_trace);
        # the invisible trace only answers hovers: a coarser grid is plenty and much lighter
        fig.data[0].update(**_coarse(grid, hover_grid))
    if image is not None:
        fig.add_layout_image(image)
    if mins:   # below the paths: a converged run's current point stays visible
        fig.add_trace(_Scatter(
            x=[p[0] for p in mins], y=[p[1] for p in mins], mode="markers", name="minimum",
            legendrank=901,
            marker=dict(symbol="cross", size=th.special, color="white",
                        line=dict(color="black", width=2 if th.lecture else 1.5)),
            hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>", meta={"role": "minimum"}))


    ks = _frame_steps(T, t, frame_stride, max_frames) if animate and trajectories else [t]
    tol = (max(dom[0][1] - dom[0][0], dom[1][1] - dom[1][0]) / resolution_px
           if resolution_px else 0.0)
    lasts = [_shown_last(tr, dom) for tr in trajectories]
    kept0 = [_visible_iterates(np.asarray(tr.x, dtype=float), last, tol, (last,))
             for tr, last in zip(trajectories, lasts)]
    spans = _block_spans(lasts, ks, T, frame_bytes, kept0) if animate else []
    step_dtype = np.uint16 if T < 65535 else np.uint32
    layout_of: list[dict] = []      # per run: indices of its animated traces
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        last = lasts[r]
        must = {last} | {min(v, last) for span in spans for v in span}
        kept = _visible_iterates(np.asarray(tr.x, dtype=float), last, tol, must)
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
            sl = kept[(kept >= lo) & (kept <= hi)]
            fig.add_trace(_Scatter(x=xy[sl, 0], y=xy[sl, 1], customdata=cd[sl], opacity=0,
                                     hoverinfo="skip", name=tr.label,
                                     meta={"role": "block", "run": r, "lo": lo, "hi": hi},
                                     **common))
            idx["blocks"].append(len(fig.data) - 1)
            idx["spans"].append((lo, hi))
        fig.add_trace(_Scatter(x=[], y=[], name=tr.label, meta={"role": "head", "run": r},
                                 **common))
        idx["head"] = len(fig.data) - 1
        fig.add_trace(_Scatter(
            x=[], y=[], mode="markers", legendgroup=group, showlegend=False, name=tr.label,
            marker=dict(color=st["color"], symbol=st["symbol"], size=th.marker,
                        line=dict(color="white", width=1.5 if not th.lecture else 2.5)),
            hovertemplate=f"<b>{tr.label}</b><br>current point (%{{x:.4g}}, %{{y:.4g}})"
                          "<extra></extra>",
            meta={"role": "point", "run": r}))
        idx["point"] = len(fig.data) - 1
        if tr.diverged_at is not None:
            j = _exit_index(tr, dom)
            fig.add_trace(_Scatter(
                x=[float(tr.x[j, 0])], y=[float(tr.x[j, 1])], mode="markers",
                legendgroup=group, showlegend=False, name=_diverged_label(tr),
                marker=dict(symbol="x", size=th.special, color=st["color"],
                            line=dict(color="black", width=1.5)),
                opacity=0,
                hovertemplate=f"<b>{_diverged_label(tr)}</b><extra></extra>",
                meta={"role": "diverged", "run": r}))
            idx["diverged"] = len(fig.data) - 1
            idx["exit"] = j
        idx.update(tr=tr, last=last, xy=xy, cd=cd, kept=kept)
        layout_of.append(idx)

    animated = [i for idx in layout_of for i in _animated_indices(idx)]
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        fig.add_trace(_Scatter(
            x=[None], y=[None], mode="lines+markers", name=_diverged_label(tr),
            legendgroup=f"run{r}", showlegend=True, legendrank=100 + r,
            line=dict(color=st["color"], dash=st["dash"], width=st["width"]),
            marker=dict(color=st["color"], symbol=st["symbol"], size=th.marker * 0.8),
            hoverinfo="skip", meta={"role": "legend", "run": r}))
    if start is not None:
        fig.add_trace(_Scatter(
            x=[float(start[0])], y=[float(start[1])], mode="markers", name="start x₀",
            legendrank=900,
            marker=dict(symbol="star", size=th.special + 4, color="black",
                        line=dict(color="white", width=1.5)),
            hovertemplate="start x₀ = (%{x:.4g}, %{y:.4g})<extra></extra>",
            meta={"role": "start"}))
    if pick_grid:   # invisible points under everything: a click on one picks a new start
        (pxa, pxb), (pya, pyb) = dom
        PX, PY = np.meshgrid(np.linspace(pxa, pxb, pick_grid), np.linspace(pya, pyb, pick_grid))
        fig.add_trace(_Scatter(
            x=PX.ravel().astype(np.float32), y=PY.ravel().astype(np.float32), mode="markers",
            name="pick a start", showlegend=False,
            # one marker drawn, not pick_grid² invisible ones (~0.1 s of browser per redraw):
            # a click still selects the grid point under it (plotly picks from the data)
            marker=dict(size=max(6.0, 420.0 / pick_grid), opacity=0.0, color="#000000",
                        maxdisplayed=1),
            hovertemplate="click to start here: (%{x:.3g}, %{y:.3g})<extra></extra>",
            meta={"role": "pick"}))
    # the state at step t
    for idx in layout_of:
        for i, upd in zip(_animated_indices(idx), _state_at(idx, t)):
            fig.data[i].update(upd)

    (xa, xb), (ya, yb) = dom
    # on a projector the plot, not the axes' names, gets the room (the ticks stay)
    named = not th.lecture
    controls = (_controls_top(th, named) + 2 * _button_row(th) + 3 * th.tick) if animate else 90
    _layout(fig, th, title, "x" if named else "", "y" if named else "",
            uirevision or f"trajectory:{landscape_title}",
            height=_height(th, fig, None, True, bottom=controls)
            + (160 if th.lecture else 120))
    fig.update_xaxes(range=[xa, xb], constrain="domain", constraintoward="right", showgrid=False)
    fig.update_yaxes(range=[ya, yb], scaleanchor="x", scaleratio=1, constrain="domain",
                     constraintoward="top", showgrid=False)
    fig.layout.meta = {"animated_traces": animated}
    # margins set here, autoexpand off: plotly draws the chart once, not twice (see
    # style.fixed_margins); the colour bar at the plot's right edge + its 10 px pad (plotly's
    # default puts it 2 % of the plot's width further): its room does not depend on the width
    c0 = fig.data[0]
    zr = ((c0.zmin, c0.zmax) if c0.zmin is not None
          else _finite_range(grid["display"]) or (0.0, 1.0))
    fig.data[0].update(colorbar=dict(x=1.0, xanchor="left", xpad=_COLORBAR_XPAD))
    fig.update_layout(margin=fixed_margins(
        th, top=fig.layout.margin.t, ylabels=tick_labels(ya, yb), xlabels=tick_labels(xa, xb),
        xtitle=named, ytitle=named,
        colorbar=dict(range=zr, len=c0.colorbar.len or 1.0, thickness=c0.colorbar.thickness,
                      xpad=_COLORBAR_XPAD), height=fig.layout.height,
        controls=(controls_height(th, _controls_top(th, named), _button_row(th))
                  if animate and trajectories else 0)))
    if th.lecture:    # a projector's narrow column: the title from the chart's left edge, not
        # the plot's (the y labels' margin would push a long title out of the chart)
        fig.update_layout(title=dict(xref="container", x=0.0, pad=dict(l=10)))

    if animate and trajectories:
        frames = []
        for k in ks:
            data = []
            for idx in layout_of:
                data.extend(_state_at(idx, k))
            frames.append({"data": data, "traces": animated, "name": str(k)})
        _animation_controls(fig, th, ks, t, speed_ms, named)
        return fig.build(frozen, frames)
    return fig.build(frozen)


class LazyFramesFigure(go.Figure):
    """A ``go.Figure`` whose animation frames stay plain dicts until someone reads ``.frames``.

    Building thousands of validated ``go.Scatter`` objects for the frames costs about a second;
    the browser only needs the JSON. ``to_dict`` (used by ``to_json``, ``to_html`` and
    ``st.plotly_chart``) emits the raw frames directly; reading ``fig.frames`` validates them
    once, on demand (tests do; the pages don't)."""

    @classmethod
    def wrap(cls, fig: go.Figure, frames: list[dict]) -> "LazyFramesFigure":
        out = cls(fig)
        out._set_lazy_frames(frames)
        return out

    def _set_lazy_frames(self, frames: list[dict]) -> None:
        self.__dict__["_lazy_frames"] = frames

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
            d = self._with_typed_frames({**d, "frames": lazy})
        return d

    @staticmethod
    def _with_typed_frames(d: dict) -> dict:
        """``d`` with its raw frames' arrays as typed-array specs (see :func:`_typed`)."""
        return {**d, "frames": [{**f, "data": [{k: _typed(v) for k, v in tr.items()}
                                               for tr in f["data"]]} for f in d["frames"]]}


_JS_TYPES = {"f8": "f8", "f4": "f4", "i1": "i1", "u1": "u1", "i2": "i2", "u2": "u2",
             "i4": "i4", "u4": "u4"}


def _typed(v: Any) -> Any:
    """NumPy arrays as plotly.js typed-array specs (base64), as validated figures send them;
    one or two numbers as a plain list."""
    if not isinstance(v, np.ndarray) or v.size == 0 or v.dtype.kind not in "fiu":
        return v
    if v.size <= 2 and v.ndim == 1:
        # a current point: two plain numbers are shorter than a typed-array spec (7
        # significant digits hold a float32 exactly enough: far below a pixel)
        return [float(f"{x:.7g}") if v.dtype.kind == "f" else int(x) for x in v.tolist()]
    if v.dtype.str[1:] not in _JS_TYPES:       # int64 / uint64: plotly.js has no 64-bit ints
        v = v.astype(np.float64 if v.dtype.kind == "f" else np.int32)
    a = np.ascontiguousarray(v)
    spec = {"dtype": _JS_TYPES[a.dtype.str[1:]],
            "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = ", ".join(str(n) for n in a.shape)
    return spec


def _visible_iterates(x: np.ndarray, last: int, tol: float, must: Iterable[int] = ()
                      ) -> np.ndarray:
    """Indices 0 … ``last`` of the iterates worth drawing: each one at least ``tol`` (max-norm)
    from the previously kept one, plus those in ``must``. ``tol=0`` keeps every iterate."""
    if tol <= 0 or last < 2:
        return np.arange(last + 1)
    keep = np.zeros(last + 1, dtype=bool)
    keep[0] = True
    for i in must:
        if 0 <= i <= last:
            keep[i] = True
    ref = x[0]
    pts = x[:last + 1]
    for i in range(1, last + 1):
        if keep[i] or not np.all(np.abs(pts[i] - ref) < tol):
            keep[i] = True
            ref = pts[i]
    return np.flatnonzero(keep)


def _coarse(grid: dict, n: int) -> dict:
    """The contour grid's x, y and display heights on about n × n of its own points (always
    the edges), float32."""
    xs, ys = np.asarray(grid["xs"]), np.asarray(grid["ys"])
    D = np.asarray(grid["display"])
    ix = np.unique(np.linspace(0, xs.size - 1, min(n, xs.size)).round().astype(int))
    iy = np.unique(np.linspace(0, ys.size - 1, min(n, ys.size)).round().astype(int))
    return dict(x=xs[ix].astype(np.float32), y=ys[iy].astype(np.float32),
                z=D[np.ix_(iy, ix)].astype(np.float32))


def _block_spans(lasts: Sequence[int], ks: list[int], T: int, budget: int,
                 kept: Sequence[np.ndarray] | None = None,
                 max_blocks: int = 12) -> list[tuple[int, int]]:
    """Blocks [lo, hi] (steps, inclusive) for the frames' paths: none when the frames fit in
    ``budget`` bytes without them, else the number of blocks (≤ ``max_blocks``: each is a
    trace the browser draws) that makes the frames lightest. Estimate: 8 bytes x/y + 2 bytes
    step per point sent, base64 4/3, plus ~45 bytes per block shown or hidden per frame;
    ``lasts``: the last step drawn of each run; ``kept``: the iterates each run draws
    (default: all)."""
    if kept is None:
        kept = [np.arange(last + 1) for last in lasts]

    def spans_of(nb: int) -> list[tuple[int, int]]:
        L = math.ceil(T / (nb + 1)) if nb else T + 1
        return [(b * L, min((b + 1) * L, T)) for b in range(nb)]

    def estimate(spans: list[tuple[int, int]]) -> float:
        pts = 0
        for last, kp in zip(lasts, kept):
            ends = sorted({min(hi, last) for b_lo, hi in spans if b_lo <= last})
            for k in ks:
                kk = min(k, last)
                lo = max([e for e in ends if e <= kk], default=0)
                pts += int(np.searchsorted(kp, kk, side="right")
                           - np.searchsorted(kp, lo, side="left")) + 1
        return pts * 10 * 4 / 3 + len(ks) * len(lasts) * len(spans) * 45

    best = (estimate([]), [])
    if best[0] <= budget:
        return []
    for nb in range(1, max_blocks + 1):
        spans = spans_of(nb)
        if spans and spans[-1][0] >= T:       # blocks shorter than a step: no use
            break
        est = estimate(spans)
        if est < best[0]:
            best = (est, spans)
    return best[1]


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
    kept = idx["kept"]
    sl = kept[(kept >= lo) & (kept <= kk)]
    if not sl.size or sl[-1] != kk:                   # the path ends at the current point
        sl = np.append(sl, kk)
    out.append({"type": "scatter", "x": xy[sl, 0], "y": xy[sl, 1], "customdata": cd[sl]})
    out.append({"type": "scatter", "x": xy[kk:kk + 1, 0], "y": xy[kk:kk + 1, 1]})
    if "diverged" in idx:
        out.append({"type": "scatter", "opacity": 1 if k > idx["exit"] else 0})
    return out


def _controls_top(th: Theme, xtitle: bool = True) -> int:
    """Pixels from the plot's bottom to the animation buttons (below tick labels and "x")."""
    return int(th.tick * 1.6 + (th.axis_title * 1.4 if xtitle else 0) + 16)


def _button_row(th: Theme) -> int:
    """Height of the row of animation buttons (px)."""
    return int(th.tick * 2.2 + 14)


def _animation_controls(fig: go.Figure, th: Theme, ks: list[int], t: int, speed_ms: int,
                        xtitle: bool = True) -> None:
    """Play / fast / pause buttons and a step slider. Frames only move the scatter traces
    (``redraw: False``, smooth); the contour stays as the layout image under them."""
    def play(ms: int) -> list:
        return [None, {"frame": {"duration": ms, "redraw": False}, "fromcurrent": True,
                       "transition": {"duration": 0}, "mode": "immediate"}]

    pause = [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
                      "transition": {"duration": 0}}]
    fs = th.tick
    pad_t = _controls_top(th, xtitle)
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
               lecture: bool | Theme = False, uirevision: str | None = None,
               frozen: bool = False) -> go.Figure:
    """f(x_t) − f* against step t on a log axis (f(x_t) on a linear axis when f* is unknown).

    One line per run in its style; values ≤ 0 are drawn at a floor (``GAP_FLOOR``, or lower when
    a run is already below it); a diverged run ends with an ✕ at its last finite value (the
    y range stops a few decades above the start, so a blow-up does not flatten the rest);
    a dotted vertical line marks step t.
    ``frozen=True``: a :class:`FrozenFigure` built as plain dicts (see ``trajectory_figure``)."""
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
    fig = SpecFigure()
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
        fig.add_trace(_Scatter(
            x=steps, y=y, mode="lines+markers", name=_diverged_label(tr, wrap=th.lecture),
            legendgroup=f"run{r}",
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
            fig.add_trace(_Scatter(
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
    yr = yrange or [0.0, 1.0]
    fig.update_layout(margin=fixed_margins(     # one draw, not two (style.fixed_margins)
        th, top=fig.layout.margin.t, ylabels=tick_labels(*yr, log=log),
        xlabels=tick_labels(0, max(T, 1))))
    return fig.build(frozen)


def beta_figure(trajectories: Sequence[Any], t: int | None = None, show_model_beta: bool = False,
                show_effective: bool = False, lecture: bool | Theme = False,
                uirevision: str | None = None, frozen: bool = False) -> go.Figure:
    """β_t against step t: the β each adaptive run chose (``trajectory.beta``), the constant β of
    every baseline as a flat line ("… (constant)", its own ``trajectory.beta``).

    ``show_model_beta``: for the baselines also ``trajectory.model_beta``, the β the model would
    have chosen along their path (thin dotted, "… — model's β"). ``show_effective``: the
    adaptive runs' effective momentum (β_t+λ)/(1+λ) (``trajectory.effective_momentum``, thin
    dashed). A dotted vertical line marks step t.
    ``frozen=True``: a :class:`FrozenFigure` built as plain dicts (see ``trajectory_figure``)."""
    th = theme(lecture)
    trajectories = list(trajectories)
    styles = assign_styles([tr.spec for tr in trajectories], th)
    fig = SpecFigure()
    for r, (tr, st) in enumerate(zip(trajectories, styles)):
        steps = np.arange(tr.beta.size)
        adaptive = tr.spec.entry.adaptive
        if not adaptive and tr.spec.fixed_beta is None:
            continue
        name = (tr.label if adaptive else f"{tr.label} (constant)") \
            + _diverged_suffix(tr, wrap=th.lecture)
        fig.add_trace(_Scatter(
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
            fig.add_trace(_Scatter(
                x=steps, y=tr.model_beta, mode="lines", name=f"{tr.label} — model's β",
                legendrank=101 + 3 * r,
                line=dict(color=st["color"], dash="dot", width=th.line_thin),
                opacity=0.85,
                hovertemplate=f"<b>{tr.label}</b><br>step t = %{{x}}<br>model's β = "
                              "%{y:.4g}<extra></extra>",
                meta={"role": "model_beta", "run": r}))
        if show_effective and adaptive and np.isfinite(tr.effective_momentum).any():
            fig.add_trace(_Scatter(
                x=steps, y=tr.effective_momentum, mode="lines",
                name=f"{tr.label} — effective momentum (β<sub>t</sub>+λ)/(1+λ)",
                legendrank=102 + 3 * r, line=dict(color=st["color"], dash="dash",
                                                  width=th.line_thin), opacity=0.7,
                hovertemplate=f"<b>{tr.label}</b><br>step t = %{{x}}<br>effective momentum = "
                              "%{y:.4g}<extra></extra>",
                meta={"role": "effective", "run": r}))
    _layout(fig, th, "Momentum β<sub>t</sub> chosen at each step", "step t", "β<sub>t</sub>",
            uirevision or "beta")
    dtick = 0.1 if not th.lecture else 0.2
    fig.update_yaxes(range=[-0.02, 1.02], dtick=dtick)
    T = max([tr.steps for tr in trajectories], default=0)
    fig.update_xaxes(range=[0, max(T - 1, 1)])
    if t is not None:
        _vline(fig, th, t, f" t = {t}")
    fig.update_layout(margin=fixed_margins(     # one draw, not two (style.fixed_margins)
        th, top=fig.layout.margin.t, ylabels=tick_labels(-0.02, 1.02, dtick=dtick),
        xlabels=tick_labels(0, max(T - 1, 1))))
    return fig.build(frozen)


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


