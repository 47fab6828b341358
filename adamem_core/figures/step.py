"""Inside one step: both planes and the model over the neighbourhood of x_t, a slice along the
step, the vectors g_t, d_t, d_{t+1}, and the dual D(β). Dicts from
:func:`~adamem_core.engine.step_geometry` in, Plotly figures out; no Streamlit."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .style import (GEOM, Theme, _F_LOCAL_SCALE, _domain, _finite_range, _layout, _pad_range,
                    _rgba, _vline, theme)
from .contour import _contour_trace


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
