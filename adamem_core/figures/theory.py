"""The Theory page's figures: the sandbox (the model around x_t, the slice along the step, the
dual), the β map, and AM-SGD against Polyak's heavy ball. Plain data from
:mod:`adamem_core.model` / :mod:`adamem_core.theory` in, Plotly figures out; no Streamlit."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from .style import GEOM, OKABE_ITO, Theme, _finite_range, _layout, _pad_range, _rgba, _vline, theme

_MAP_SCALE = [[0.0, "#f7f7f7"], [0.35, "#9ecae1"], [0.7, "#3182bd"], [1.0, "#08306b"]]
REGION_NAMES = {0: "β = 0", 1: "interior: 0 < β < β<sub>max</sub>", 2: "clipped: β = β<sub>max</sub>"}


def _beta_title(sb: dict, what: str) -> str:
    return f"{what}: β = {sb['beta']:.3g}"


def _arrow(fig: go.Figure, v: np.ndarray, name: str, color: str, dash: str, th: Theme,
           rank: int, role: str) -> None:
    fig.add_trace(go.Scatter(
        x=[0.0, v[0]], y=[0.0, v[1]], mode="lines+markers", name=name, legendrank=rank,
        line=dict(color=color, width=th.line + (1 if dash == "solid" else 0), dash=dash),
        marker=dict(symbol=["circle", "arrow"], angleref="previous", size=[0, th.special + 2],
                    color=color, line=dict(width=0)),
        hovertemplate=f"{name}<br>(%{{x:.3g}}, %{{y:.3g}})<extra></extra>", meta={"role": role}))


def sandbox_plane_figure(sb: dict, surf: dict, lecture: bool | Theme = False) -> go.Figure:
    """The neighbourhood of x_t (offsets u): where each plane is on top of the max (tinted),
    the crease ℓ_g = ℓ_m, contour lines of the model m_t, and the vectors −ηg, −ηd, the step
    u(β) and (when the cap binds) the model's own minimiser."""
    th = theme(lecture)
    xs, ys = surf["xs"], surf["ys"]
    top = (np.asarray(surf["mem_plane"]) > np.asarray(surf["grad_plane"])).astype(float)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, z=top, zmin=0, zmax=1, showscale=False, hoverinfo="skip",
        colorscale=[[0, _rgba(GEOM["grad"], 0.16)], [0.5, _rgba(GEOM["grad"], 0.16)],
                    [0.5, _rgba(GEOM["mem"], 0.16)], [1, _rgba(GEOM["mem"], 0.16)]],
        meta={"role": "which_plane"}))
    m = np.asarray(surf["model"], dtype=float)
    fig.add_trace(go.Contour(
        x=xs, y=ys, z=m, contours=dict(coloring="none", showlabels=False), ncontours=18,
        line=dict(color=_rgba(GEOM["new"], 0.55), width=1.5), showscale=False,
        name="levels of m<sub>t</sub>", showlegend=True, legendrank=9,
        hovertemplate="u = (%{x:.3g}, %{y:.3g})<br>m<sub>t</sub> = %{z:.4g}<extra></extra>",
        meta={"role": "model"}))
    # the crease ℓ_g = ℓ_m: gap + ⟨d − g, u⟩ = 0, a line (none when d = g)
    w = np.asarray(sb["d"]) - np.asarray(sb["g"])
    r = float(surf["radius"])
    if np.linalg.norm(w) > 0:
        p0 = -sb["gap"] * w / (w @ w)
        t = np.array([-w[1], w[0]]) / np.linalg.norm(w)
        pts = np.stack([p0 - 3 * r * t, p0 + 3 * r * t])
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="lines",
                                 name="ℓ<sub>g</sub> = ℓ<sub>m</sub>", legendrank=8,
                                 line=dict(color=GEOM["max"], width=th.line_thin, dash="dot"),
                                 hoverinfo="skip", meta={"role": "crease"}))
    lr = sb["lr"]
    _arrow(fig, -lr * np.asarray(sb["g"]), "−ηg", GEOM["grad"], "dot", th, 1,
           "grad")
    _arrow(fig, -lr * np.asarray(sb["d"]), "−ηd", GEOM["mem"], "dash", th, 2,
           "mem")
    _arrow(fig, np.asarray(sb["u"]), "step u = −ηd<sub>t+1</sub>",
           GEOM["next"], "solid", th, 3, "step")
    um = np.asarray(sb["u_model_min"])
    if np.linalg.norm(um - np.asarray(sb["u"])) > 1e-12 * max(1.0, np.linalg.norm(um)):
        fig.add_trace(go.Scatter(
            x=[um[0]], y=[um[1]], mode="markers", legendrank=4,
            name=f"minimiser of m<sub>t</sub> (β = {sb['beta_model_min']:.3g}, above the cap)",
            marker=dict(symbol="x", size=th.marker, color=GEOM["new"]),
            meta={"role": "model_min"}))
    fig.add_trace(go.Scatter(x=[0.0], y=[0.0], mode="markers", name="x<sub>t</sub>",
                             legendrank=5, marker=dict(symbol="circle", size=th.marker * 0.8,
                                                       color="black",
                                                       line=dict(color="white", width=1.5)),
                             meta={"role": "x_t"}))
    _layout(fig, th, _beta_title(sb, "The model around x<sub>t</sub>"),
            "u₁ = x₁ − x<sub>t,1</sub>", "u₂", uirevision="th_plane")
    # in the plot's own corner ("x domain"): the square plot is narrower than the paper,
    # whose corner lies over the y tick labels
    fig.add_annotation(x=0.01, y=0.01, xref="x domain", yref="y domain", xanchor="left",
                       yanchor="bottom", showarrow=False, bgcolor="rgba(255,255,255,0.8)",
                       text=(f"<span style='color:{GEOM['grad']}'>■</span> ℓ<sub>g</sub> on top   "
                             f"<span style='color:{GEOM['mem']}'>■</span> ℓ<sub>m</sub> on top"),
                       font=dict(size=th.tick))
    fig.update_xaxes(range=[-r, r], constrain="domain", showgrid=False)
    fig.update_yaxes(range=[-r, r], scaleanchor="x", scaleratio=1, constrain="domain",
                     showgrid=False)
    return fig


def sandbox_slice_figure(sl: dict, sb: dict, lecture: bool | Theme = False) -> go.Figure:
    """Along the step (s = 1 is x_t + u(β)): ℓ_g, ℓ_m, their max, the two proximal terms and
    the model m_t = max + proximal terms; its minimiser on the line."""
    th = theme(lecture)
    s = np.asarray(sl["s"], dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s, y=sl["max_plane"], mode="lines",
                             name="max{ℓ<sub>g</sub>, ℓ<sub>m</sub>}",
                             line=dict(color=_rgba(GEOM["max"], 0.28), width=th.line * 3.5),
                             meta={"role": "max_plane"}))
    for key, name, color, dash in (
            ("grad_plane", "gradient plane ℓ<sub>g</sub>", GEOM["grad"], "dot"),
            ("mem_plane", "memory plane ℓ<sub>m</sub>", GEOM["mem"], "dash"),
            ("prox", "‖u‖²/2η", "#777777", "longdash"),
            ("prox_lam", "(λ/2η)‖u + ηd‖²", OKABE_ITO["bluish_green"], "dashdot"),
            ("model", "model m<sub>t</sub>", GEOM["new"], "solid")):
        fig.add_trace(go.Scatter(x=s, y=sl[key], mode="lines", name=name,
                                 line=dict(color=color, width=th.line, dash=dash),
                                 hovertemplate=f"s = %{{x:.3g}}<br>{name} = %{{y:.4g}}"
                                               "<extra></extra>", meta={"role": key}))
    rng = _finite_range(sl["model"], sl["grad_plane"], sl["mem_plane"])
    _layout(fig, th, _beta_title(sb, "Along the step"), "s (in steps; s = 1 is x<sub>t+1</sub>)",
            "value − f(x<sub>t</sub>)", uirevision="th_slice")
    if rng is not None:
        fig.update_yaxes(range=_pad_range(rng[0], rng[1], 0.08))
    fig.update_xaxes(range=[float(s[0]), float(s[-1])], zeroline=False)
    _vline(fig, th, 0.0, " x<sub>t</sub>", color="#333333", dash="solid")
    _vline(fig, th, 1.0, " x<sub>t+1</sub>", color=GEOM["next"], dash="solid")
    smin = float(sl.get("s_model_min", np.nan))
    if np.isfinite(smin) and abs(smin - 1.0) > 1e-9 and s[0] <= smin <= s[-1]:
        _vline(fig, th, smin, " minimiser of m<sub>t</sub>", color=GEOM["new"], dash="dash",
               position="bottom")
    return fig


def sandbox_dual_figure(sb: dict, lecture: bool | Theme = False) -> go.Figure:
    """D(β) on [0, 1] with the region beyond β_max shaded, the stationary point (the unclipped
    closed form) and the β chosen (clipped)."""
    th = theme(lecture)
    b = np.asarray(sb["dual_betas"], dtype=float)
    D = np.asarray(sb["dual"], dtype=float)
    bmax, unc = sb["beta_max"], sb["unclipped"]
    fig = go.Figure()
    fig.add_vrect(x0=bmax, x1=1.05, fillcolor="#9e9e9e", opacity=0.18, line_width=0,
                  layer="below")
    fig.add_annotation(x=(bmax + 1.0) / 2, y=0.02, xref="x", yref="paper", showarrow=False,
                       text=f"β > β<sub>max</sub> = {bmax:g}", yanchor="bottom",
                       textangle=-90 if (1.0 - bmax) < 0.2 else 0,
                       font=dict(size=th.tick, color="#555555"))
    fig.add_trace(go.Scatter(x=b, y=D, mode="lines", name="dual D(β)",
                             line=dict(color="#222222", width=th.line), meta={"role": "dual"}))
    if sb["denominator"] > 0 and -0.05 <= unc <= 1.05:
        fig.add_trace(go.Scatter(x=[unc, unc], y=[float(D.min()), float(D.max())], mode="lines",
                                 name=f"stationary point {unc:.3g}",
                                 line=dict(color=GEOM["model"], width=th.line_thin, dash="dash"),
                                 hoverinfo="skip", meta={"role": "unclipped"}))
    fig.add_trace(go.Scatter(x=[sb["beta"]], y=[sb["dual_at_beta"]], mode="markers",
                             name=f"β = clip(…, 0, β<sub>max</sub>) = {sb['beta']:.3g}",
                             marker=dict(symbol="circle", size=th.marker, color=GEOM["chosen"],
                                         line=dict(color="white", width=1.5)),
                             meta={"role": "chosen"}))
    note = "" if -0.05 <= unc <= 1.05 or sb["denominator"] == 0 else \
        f" (stationary point {unc:.3g}, off the chart)"
    _layout(fig, th, f"The dual D(β){note}", "β", "D(β)", uirevision="th_dual")
    fig.update_xaxes(range=[-0.02, 1.02])
    r = _finite_range(D)
    if r is not None:
        fig.update_yaxes(range=_pad_range(r[0], r[1], 0.1))
    return fig


def _region_label_points(bm: dict) -> dict[int, tuple[float, float]]:
    """For each region present, the cell of that region farthest (in normalised grid units)
    from any other region and from the plot's edges (a Euclidean distance transform): a label
    placed there stays inside it."""
    from scipy.ndimage import distance_transform_edt

    reg = np.asarray(bm["region"])
    A, R = bm["angles"], bm["ratios"]
    n, m = reg.shape
    out = {}
    for k in (0, 1, 2):
        mask = reg == k
        if not mask.any():
            continue
        padded = np.pad(mask, 1, constant_values=False)     # the edges count as "other"
        d = distance_transform_edt(padded, sampling=(1.0 / n, 1.0 / m))[1:-1, 1:-1]
        i, j = np.unravel_index(int(np.argmax(np.where(mask, d, -1.0))), mask.shape)
        out[k] = (float(A[j]), float(R[i]))
    return out


def beta_map_figure(bm: dict, boundaries: dict[str, np.ndarray], point: tuple[float, float],
                    lecture: bool | Theme = False, subtitle: str = "") -> go.Figure:
    """The heatmap of the chosen β over angle(g, d) × ‖d‖/‖g‖, the boundaries where the
    unclipped closed form crosses 0 and β_max (``boundaries``: level name → (angles, 2) roots
    from :func:`adamem_core.model.beta_map_boundary`), each region labelled, the sandbox's point
    marked."""
    th = theme(lecture)
    A, R = bm["angles"], bm["ratios"]
    bmax = float(np.nanmax(bm["beta"])) if np.isfinite(bm["beta"]).any() else 1.0
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=A, y=R, z=bm["beta"], colorscale=_MAP_SCALE, zmin=0.0, zmax=max(bmax, 1e-9),
        colorbar=dict(title=dict(text="β", font=dict(size=th.axis_title)),
                      tickfont=dict(size=th.tick), thickness=18 if th.lecture else 14, len=0.9),
        hovertemplate="angle %{x:.0f}°<br>‖d‖/‖g‖ = %{y:.2f}<br>β = %{z:.3f}<extra></extra>",
        name="β", meta={"role": "beta"}))
    styles = {"zero": ("edge of β = 0 (unclipped β = 0)", "#111111", "solid"),
              "cap": ("edge of the cap (unclipped β = β<sub>max</sub>)", OKABE_ITO["vermillion"],
                      "dash")}
    angles = boundaries.get("angles")
    for key, (name, color, dash) in styles.items():
        roots = boundaries.get(key)
        if roots is None:
            continue
        first = True
        for col in range(roots.shape[1]):
            y = np.where(roots[:, col] <= R[-1], roots[:, col], np.nan)
            if not np.isfinite(y).any():
                continue
            fig.add_trace(go.Scatter(x=angles, y=y, mode="lines", name=name, legendgroup=key,
                                     showlegend=first, connectgaps=False,
                                     line=dict(color=color, width=th.line, dash=dash),
                                     hoverinfo="skip", meta={"role": f"boundary_{key}"}))
            first = False
    for k, (x, y) in _region_label_points(bm).items():
        fig.add_annotation(x=x, y=y, text=f"<b>{REGION_NAMES[k]}</b>", showarrow=False,
                           font=dict(size=th.legend, color="#111111" if k == 0 else
                                     ("#ffffff" if k == 2 else "#111111")),
                           bgcolor="rgba(255,255,255,0.75)" if k != 2 else "rgba(8,48,107,0.6)",
                           borderpad=4, name=f"label_{k}")
    fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers",
                             name="the sandbox's g and d",
                             marker=dict(symbol="star", size=th.marker * 2.2,
                                         color=OKABE_ITO["yellow"],
                                         line=dict(color="black", width=2)),
                             meta={"role": "point"}))
    title = "Which β the model chooses" + (f" ({subtitle})" if subtitle else "")
    _layout(fig, th, title, "angle between g and d (degrees)", "‖d‖ / ‖g‖",
            uirevision="th_map")
    fig.update_xaxes(range=[float(A[0]), float(A[-1])], dtick=30, showgrid=False)
    fig.update_yaxes(range=[float(R[0]), float(R[-1])], showgrid=False)
    return fig


def _steps_per_decade(rate: Any) -> np.ndarray:
    """Steps to reduce the error 10×: −1/log₁₀(rate) (NaN where rate ∉ (0, 1))."""
    r = np.asarray(rate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((r > 0) & (r < 1), -1.0 / np.log10(r), np.nan)


def classical_momentum_figure(rows: Sequence[Any], lam: float, beta_max: float,
                              lr_scale: float, lecture: bool | Theme = False) -> go.Figure:
    """Polyak's a* and AM-SGD's settled effective momentum a (and its β) over κ."""
    th = theme(lecture)
    k = np.array([r.kappa for r in rows])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=k, y=[r.polyak_a for r in rows], mode="lines+markers",
                             name="Polyak's optimal a* = ((√κ−1)/(√κ+1))²",
                             line=dict(color="#222222", width=th.line),
                             marker=dict(symbol="square", size=th.marker * 0.8),
                             meta={"role": "polyak"}))
    fig.add_trace(go.Scatter(x=k, y=[r.am_a for r in rows], mode="lines+markers",
                             name=f"AM-SGD's effective momentum a = (β+λ)/(1+λ), η = {lr_scale:g}/L",
                             line=dict(color=OKABE_ITO["vermillion"], width=th.line),
                             marker=dict(symbol="circle", size=th.marker),
                             meta={"role": "am_a"}))
    fig.add_trace(go.Scatter(x=k, y=[r.am_beta for r in rows], mode="lines+markers",
                             name="AM-SGD's β (median of the last steps)",
                             line=dict(color=OKABE_ITO["vermillion"], width=th.line_thin,
                                       dash="dot"),
                             marker=dict(symbol="circle-open", size=th.marker * 0.8),
                             meta={"role": "am_beta"}))
    cap = (beta_max + lam) / (1 + lam)
    fig.add_hline(y=cap, line=dict(color="#888888", width=th.line_thin, dash="dash"))
    fig.add_annotation(x=1.0, xref="paper", y=cap, yref="y", xanchor="right", yanchor="bottom",
                       showarrow=False, text=f"AM's ceiling (β<sub>max</sub>+λ)/(1+λ) = {cap:.3g}",
                       font=dict(size=th.tick, color="#555555"))
    _layout(fig, th, "Momentum: Polyak's a* vs AM-SGD's a",
            "condition number κ = L/μ", "momentum coefficient", uirevision="th_cl_mom")
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[0, 1.02])
    return fig


def classical_rate_figure(rows: Sequence[Any], lr_scale: float,
                          lecture: bool | Theme = False) -> go.Figure:
    """Steps per 10× less error, −1/log₁₀(rate), over κ: Polyak's heavy ball (its textbook
    rate), AM-SGD as measured on the engine's run, and the heavy-ball rate at AM's settled
    constants."""
    th = theme(lecture)
    k = np.array([r.kappa for r in rows])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=k, y=_steps_per_decade([r.polyak_rate for r in rows]),
                             mode="lines+markers", name="Polyak's heavy ball (tuned with μ and L)",
                             line=dict(color="#222222", width=th.line),
                             marker=dict(symbol="square", size=th.marker * 0.8),
                             meta={"role": "polyak"}))
    fig.add_trace(go.Scatter(x=k, y=_steps_per_decade([r.am_rate for r in rows]),
                             mode="lines+markers", name=f"AM-SGD, measured (η = {lr_scale:g}/L)",
                             line=dict(color=OKABE_ITO["vermillion"], width=th.line),
                             marker=dict(symbol="circle", size=th.marker),
                             meta={"role": "am_rate"}))
    fig.add_trace(go.Scatter(x=k, y=_steps_per_decade([r.am_rate_linear for r in rows]),
                             mode="lines", name="heavy ball at AM's settled (α, a)",
                             line=dict(color=OKABE_ITO["vermillion"], width=th.line_thin,
                                       dash="dot"), meta={"role": "am_linear"}))
    _layout(fig, th, "Speed: steps to reduce the error 10×", "condition number κ = L/μ",
            "steps per 10× (log scale)", uirevision="th_cl_rate")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig
