"""The Sweeps page's charts: the learning-rate robustness map, the fair comparison at each
optimizer's own best learning rate, and the distribution of steps over many starts. A tidy sweep
table (:func:`adamem_core.sweep.sweep`, or the MLP lab's learning-rate sweep) in, Plotly figures
out; no Streamlit. Cells, best learning rates and stable windows come from
:mod:`adamem_core.sweep` (figures only place and colour them)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from ..specs import OptimizerSpec
from ..sweep import DIVERGED, NEVER, OK, best_per_row, cells, stable_windows
from .style import OKABE_ITO, Theme, _fmt, _layout, _legend_rows, assign_styles, theme

__all__ = ["robustness_map", "row_order", "STATE_COLORS", "fair_comparison_figure",
           "starts_figure", "lr_ticks"]

# Sequential scale for the value (YlGnBu without its palest end, so that no value looks like
# the light-grey "never" state): dark navy = best, pale green = worst, fading towards the grey
# of "never within budget".
_VALUE_SCALE = pc.sequential.YlGnBu[2:]
# The two failure states: a light neutral grey (with a "∞" glyph: the run would need more than
# the budget) and a dark red (with a "✕"): neither occurs in the value scale, and the glyphs
# carry the state without colour (DESIGN §5).
STATE_COLORS = {NEVER: "#C8C8C8", DIVERGED: "#8E1B1B"}
_GLYPH = {NEVER: "∞", DIVERGED: "✕"}
_GLYPH_COLOR = {NEVER: "#333333", DIVERGED: "#FFFFFF"}
_BOUND_COLOR = OKABE_ITO["black"]


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def lr_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick positions (log₁₀ η) and labels for a log learning-rate axis from ``lo`` to ``hi``:
    every decade, and 2× and 5× when the span is under two decades (labels like 0.01, 1e-05)."""
    a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    mult = (1, 2, 5) if b - a <= 2 else (1,)
    vals, text = [], []
    for e in range(a, b + 1):
        for m in mult:
            v = m * 10.0 ** e
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                vals.append(math.log10(v))
                text.append(f"{v:g}")
    if not vals:
        vals, text = [math.log10(lo)], [f"{lo:.2g}"]
    return vals, text


def _value_ticks(lo: float, hi: float, log: bool) -> tuple[list[float], list[str]] | None:
    """Colour-bar ticks at 1-2-5 values between lo and hi (in log₁₀ when ``log``)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if not log:
        return None
    vals, text = [], []
    for e in range(math.floor(lo) - 1, math.ceil(hi) + 1):
        for m in (1, 2, 5):
            v = math.log10(m) + e
            if lo - 1e-9 <= v <= hi + 1e-9:
                vals.append(v)
                text.append(_fmt(m * 10.0 ** e))
    if len(vals) > 8:   # keep the decades only
        keep = [i for i, v in enumerate(vals) if abs(v - round(v)) < 1e-9]
        vals, text = [vals[i] for i in keep], [text[i] for i in keep]
    return (vals, text) if vals else None


def row_order(cell_table) -> tuple[list[str], list[str]]:
    """(adaptive rows, constant-β rows): adaptive rows (β is NaN) first in the table's order,
    then the constant-β rows grouped by optimizer kind and sorted by β."""
    firsts = cell_table.drop_duplicates("row")
    adaptive = [r for r, b in zip(firsts["row"], firsts["beta"]) if not np.isfinite(b)]
    const = firsts[np.isfinite(firsts["beta"].to_numpy(dtype=float))]
    kinds = list(dict.fromkeys(const["name"]))
    const = const.assign(_k=const["name"].map({k: i for i, k in enumerate(kinds)}))
    const = const.sort_values(["_k", "beta"], kind="stable")
    return adaptive, list(const["row"])


def robustness_map(table, *, value: str = "steps_to_tol",
                   value_title: str = "steps to f − f* < tol",
                   log: bool = True, lower_is_better: bool = True,
                   never_label: str = "never within budget", diverged_label: str = "diverged",
                   bounds: Mapping[str, float] | None = None,
                   bound_label: str = "stability bound (theory)",
                   title: str | None = None, x_title: str = "learning rate η (log scale)",
                   value_format: str | None = None, mark_best: bool = True,
                   lecture: bool | Theme = False, height: int | None = None) -> go.Figure:
    """The learning-rate robustness map of a tidy sweep table.

    x: the learning rate (log axis), y: one row per optimizer configuration (every identity
    column but ``lr``; adaptive rows on top, set apart from the constant-β rows by an empty band
    and a rule). Colour: ``value`` (the median over a cell's starts and seeds, see
    :func:`adamem_core.sweep.cells`), on a log scale when ``log``; best = darkest whether
    ``lower_is_better`` or not. Cells where most runs failed are drawn in two fixed colours with
    a glyph — ``never_label`` (light grey, "∞") and ``diverged_label`` (dark red, "✕") — named in
    the legend. Each row's best learning rate is a white star (``mark_best``). ``bounds`` maps a
    row label (:func:`adamem_core.sweep.row_label`) to a theoretical largest stable learning
    rate, drawn as a black bar across that row. Hover (on an invisible marker per cell, the last
    trace, role "cells", ``customdata = [row index, lr]``) gives the numbers; with Streamlit's
    point selection a click on a cell selects that run.

    ``value_format``: a Python format for hover numbers (default: 3 significant digits).
    Every trace carries ``meta = {"role": …}``."""
    th = theme(lecture)
    ct = cells(table, value, lower_is_better=lower_is_better)
    fig = go.Figure()
    if ct.empty:
        _layout(fig, th, title or "Robustness map: no runs", x_title, None, legend=False,
                height=height)
        return fig
    adaptive, const = row_order(ct)
    rows = adaptive + ([""] if adaptive and const else []) + const   # "" = the gap row
    y_of = {r: i for i, r in enumerate(rows)}
    lrs = np.array(sorted(set(ct["lr"].astype(float))))
    lx = np.log10(lrs)
    col_of = {float(v): j for j, v in enumerate(lrs)}
    R, C = len(rows), len(lrs)

    Z = np.full((R, C), np.nan)
    S = np.full((R, C), "", dtype=object)
    hover = np.full((R, C), "", dtype=object)
    fmt = (lambda v: format(v, value_format)) if value_format else (lambda v: _fmt(v))
    for rec in ct.itertuples(index=False):
        i, j = y_of[rec.row], col_of[float(rec.lr)]
        S[i, j] = rec.state
        runs = f"{rec.n} run{'s' if rec.n != 1 else ''}"
        head = f"<b>{rec.row}</b><br>η = {_fmt(rec.lr)}<br>"
        if rec.state == OK:
            Z[i, j] = math.log10(rec.value) if log and rec.value > 0 else rec.value
            txt = f"{value_title}: <b>{fmt(rec.value)}</b>" + (
                f" (median of {runs})" if rec.n > 1 else "")
        elif rec.state == NEVER:
            txt = f"<b>{never_label}</b>"
        else:
            txt = f"<b>{diverged_label}</b>" + (
                f" (first at step {int(rec.first_diverged)})"
                if math.isfinite(rec.first_diverged) else "")
        txt += f"<br>success: {rec.n_success}/{rec.n}"
        if rec.n_diverged:
            txt += f", diverged: {rec.n_diverged}"
        mfg = getattr(rec, "median_final_gap", None)
        if mfg is not None and value != "final_gap":
            txt += f"<br>final f − f*: {_fmt(mfg)}" + (" (median)" if rec.n > 1 else "")
        hover[i, j] = head + txt
    if log and np.isfinite(Z).any():
        pass
    finite = Z[np.isfinite(Z)]
    zlo, zhi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if zhi - zlo < 1e-9:
        zlo, zhi = zlo - 0.5, zhi + 0.5
    scale = [[k / (len(_VALUE_SCALE) - 1), c] for k, c in enumerate(_VALUE_SCALE)]
    ticks = _value_ticks(zlo, zhi, log)
    colorbar = dict(title=dict(text=value_title + (" (log)" if log else ""), side="right",
                               font=dict(size=th.axis_title)),
                    tickfont=dict(size=th.tick), thickness=22 if th.lecture else 16,
                    len=1.0, y=0.5, yanchor="middle", outlinewidth=0)
    if ticks:
        colorbar.update(tickvals=ticks[0], ticktext=ticks[1])
    dx = float(np.median(np.diff(lx))) if C > 1 else 0.5
    fig.add_trace(go.Heatmap(
        x=lx, y=list(range(R)), z=Z, zmin=zlo, zmax=zhi, colorscale=scale,
        reversescale=lower_is_better,   # the best value is the darkest
        colorbar=colorbar, hoverinfo="skip",
        xgap=1, ygap=1, name=value_title, meta={"role": "value"}))
    for state, label in ((NEVER, never_label), (DIVERGED, diverged_label)):
        mask = S == state
        zs = np.where(mask, 1.0, np.nan)
        color = STATE_COLORS[state]
        fig.add_trace(go.Heatmap(
            x=lx, y=list(range(R)), z=zs, zmin=0, zmax=1, showscale=False,
            colorscale=[[0, color], [1, color]], hoverinfo="skip", xgap=1, ygap=1,
            name=label, meta={"role": state}))
        ii, jj = np.nonzero(mask)
        fig.add_trace(go.Scatter(
            x=lx[jj], y=ii, mode="text", text=[_GLYPH[state]] * len(ii), showlegend=False,
            textfont=dict(size=th.tick + (2 if state == NEVER else 0),
                          color=_GLYPH_COLOR[state]),
            hoverinfo="skip", meta={"role": f"{state}_glyph"}))
        # the legend entry: a square of the state's colour with its glyph named
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=f"{_GLYPH[state]} {label}",
            marker=dict(symbol="square", size=th.legend, color=color,
                        line=dict(width=1, color="#555555")),
            meta={"role": f"{state}_legend"}))
    best = best_per_row(ct, lower_is_better=lower_is_better)
    if mark_best and not best.empty:
        bx, by, bt = [], [], []
        for row, b in best.iterrows():
            if math.isfinite(b["lr"]) and row in y_of:
                bx.append(math.log10(b["lr"]))
                by.append(y_of[row])
                bt.append(f"best η for {row}: {_fmt(b['lr'])} ({value_title} {fmt(b['value'])})")
        fig.add_trace(go.Scatter(
            x=bx, y=by, mode="markers", name="★ best η",
            marker=dict(symbol="star", size=th.marker + 4, color="#FFFFFF",
                        line=dict(width=2 if th.lecture else 1.5, color="#000000")),
            hoverinfo="skip", text=bt, meta={"role": "best"}))
    if bounds:
        first = True
        for row, b in bounds.items():
            if row not in y_of or b is None or not math.isfinite(b) or b <= 0:
                continue
            xb = math.log10(b)
            if not (lx[0] - dx / 2 <= xb <= lx[-1] + dx / 2):
                continue
            i = y_of[row]
            fig.add_trace(go.Scatter(
                x=[xb, xb], y=[i - 0.5, i + 0.5], mode="lines", name=bound_label,
                legendgroup="bound", showlegend=first,
                line=dict(color=_BOUND_COLOR, width=th.line + 1),
                hoverinfo="skip", meta={"role": "bound", "row": row}))
            first = False
    # the cells as invisible markers: hover text and point selection
    ii, jj = np.nonzero(S != "")
    fig.add_trace(go.Scatter(
        x=lx[jj], y=ii, mode="markers", showlegend=False, name="cells",
        marker=dict(symbol="square", size=max(8.0, min(40.0, 900.0 / max(C, 1))), opacity=0.0,
                    color="#000000"),
        customdata=np.stack([ii, lrs[jj]], axis=1), hovertext=hover[ii, jj],
        hovertemplate="%{hovertext}<extra></extra>", meta={"role": "cells"}))

    tv, tt = lr_ticks(float(lrs[0]), float(lrs[-1]))
    n_ok = int((S == OK).sum())
    title = title or (f"Robustness map: {value_title} over {C} learning rates "
                      f"({n_ok} of {int((S != '').sum())} cells succeed)")
    row_h = 44 if th.lecture else 30
    h = height or max(360, 170 + row_h * R + (60 if th.lecture else 40))
    _layout(fig, th, title, x_title, None, height=h, uirevision=f"sweepmap:{value}")
    # the map spans the page: its legend (four short entries) takes one row, not the narrow
    # column _layout assumes
    names = [d.name for d in fig.data if d.showlegend is not False and d.type == "scatter"
             and (d.meta or {}).get("role") in ("never_legend", "diverged_legend", "best", "bound")]
    rows_l = _legend_rows(th, names, 900)
    fig.update_layout(height=h, margin=dict(
        t=int(th.title * 1.3 + 20 + rows_l * (th.legend * 1.6 + 10) + 8), b=10, l=10, r=10))
    fig.update_xaxes(tickvals=tv, ticktext=tt, range=[lx[0] - dx / 2, lx[-1] + dx / 2],
                     showgrid=False, zeroline=False)
    fig.update_yaxes(tickvals=[y_of[r] for r in rows if r], ticktext=[r for r in rows if r],
                     range=[R - 0.5, -0.5], showgrid=False, zeroline=False,
                     tickfont=dict(size=th.tick), automargin=True, ticks="")
    if adaptive and const:
        g = y_of[""]
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=g, y1=g, yref="y",
                      line=dict(color="#888888", width=1, dash="dot"))
        fig.add_annotation(xref="paper", x=0.0, y=g, yref="y", xanchor="left", showarrow=False,
                           text="<i>above: adaptive β · below: constant β</i>",
                           font=dict(size=th.tick - 2, color="#555555"),
                           bgcolor="rgba(255,255,255,0.85)")
    fig.update_layout(meta={"rows": [r for r in rows], "lrs": [float(v) for v in lrs]})
    return fig


# ============================================================================ fair comparison
def _spec_like(name: str, beta: float) -> OptimizerSpec | None:
    """A spec of the row's kind (for its colour); None for names outside the registry."""
    try:
        if math.isfinite(beta) and name in ("sgd_ema", "nesterov", "torch_sgd"):
            return OptimizerSpec(name, 0.1, beta=beta)
        if math.isfinite(beta) and name in ("adamw", "torch_adamw"):
            return OptimizerSpec(name, 0.1, beta1=beta)
        return OptimizerSpec(name, 0.1)
    except ValueError:
        return None


def row_styles(cell_table, lecture: bool | Theme = False) -> dict[str, dict]:
    """One style per map row (the optimizer's colour, DESIGN §5)."""
    firsts = cell_table.drop_duplicates("row")
    specs = [_spec_like(n, float(b)) for n, b in zip(firsts["name"], firsts["beta"])]
    known = [s for s in specs if s is not None]
    styles = iter(assign_styles(known, lecture))
    out = {}
    for row, s in zip(firsts["row"], specs):
        out[row] = next(styles) if s is not None else {"color": "#555555", "dash": "solid",
                                                         "symbol": "circle", "width": 2}
    return out


def fair_comparison_figure(table, *, value: str = "steps_to_tol",
                           value_title: str = "steps to f − f* < tol",
                           lower_is_better: bool = True, log: bool = False,
                           lecture: bool | Theme = False, title: str | None = None,
                           height: int | None = None) -> go.Figure:
    """Each row at its own best learning rate of the grid: a horizontal bar of ``value`` there
    (label: the best η and the stable window's width in decades). Rows that never succeed get
    an empty bar named "never within budget at any η". Bars in the optimizer's colour."""
    th = theme(lecture)
    ct = cells(table, value, lower_is_better=lower_is_better)
    fig = go.Figure()
    if ct.empty:
        _layout(fig, th, title or "Fair comparison: no runs", value_title, None, legend=False)
        return fig
    n_lr = ct["lr"].nunique()
    best = best_per_row(ct, lower_is_better=lower_is_better)
    win = stable_windows(ct, lower_is_better=lower_is_better)
    adaptive, const = row_order(ct)
    rows = adaptive + const
    styles = row_styles(ct, th)
    vals, txt, cols, hov = [], [], [], []
    for r in rows:
        b = best.loc[r]
        w = win.loc[r]
        ok = math.isfinite(b["lr"])
        vals.append(b["value"] if ok else 0.0)
        cols.append(styles[r]["color"])
        if ok:
            txt.append(f"{_fmt(b['value'])} at η={_fmt(b['lr'])} · window "
                       f"{w['decades']:.2g} dec")
            hov.append(f"<b>{r}</b><br>best η = {_fmt(b['lr'])}<br>{value_title}: "
                       f"{_fmt(b['value'])}<br>stable window: {_fmt(w['lo'])} … {_fmt(w['hi'])}"
                       f" ({w['decades']:.2g} decades, {int(w['n_ok'])} of {n_lr} η)")
        else:
            txt.append("never within budget at any η")
            hov.append(f"<b>{r}</b><br>no learning rate of the grid succeeds")
    fig.add_trace(go.Bar(
        y=rows, x=vals, orientation="h", marker=dict(color=cols, line=dict(width=0)),
        text=txt, textposition="outside", cliponaxis=False,
        textfont=dict(size=th.tick), hovertext=hov, hovertemplate="%{hovertext}<extra></extra>",
        showlegend=False, meta={"role": "bars"}))
    # (lecture mode: a title that fits a 1280-px projector; the page's heading says the rest)
    title = title or (f"Each optimizer at its best η (best of {n_lr})" if th.lecture else
                      f"Fair comparison: each optimizer at its own best η (best of {n_lr} "
                      "learning rates)")
    row_h = 44 if th.lecture else 30
    h = height or max(320, 150 + row_h * len(rows))
    _layout(fig, th, title, value_title + (" (log)" if log else ""), None, height=h,
            legend=False, uirevision="sweepfair")
    finite = [v for v in vals if v > 0]
    hi = max(finite) if finite else 1.0
    if log:
        fig.update_xaxes(type="log")
    else:
        fig.update_xaxes(range=[0, hi * 1.9])   # room for the labels outside the bars
    fig.update_yaxes(autorange="reversed", showgrid=False, ticks="", tickfont=dict(size=th.tick))
    return fig


# ============================================================================ many starts
def starts_figure(table, lr: float | None = None, *, value: str = "steps_to_tol",
                  value_title: str = "steps to f − f* < tol", budget: int | None = None,
                  lecture: bool | Theme = False, title: str | None = None,
                  height: int | None = None) -> go.Figure:
    """ECDF of ``value`` over the runs (starts × seeds) of each row at learning rate ``lr``
    (default: each row's own best lr): the fraction of runs that reached the tolerance within
    t steps. The curve's final height is the success rate (in the legend). One colour and dash
    per optimizer."""
    th = theme(lecture)
    ct = cells(table, value)
    fig = go.Figure()
    if ct.empty:
        _layout(fig, th, title or "Many starts: no runs", value_title, "fraction of runs",
                legend=False)
        return fig
    best = best_per_row(ct)
    adaptive, const = row_order(ct)
    styles = row_styles(ct, th)
    from ..sweep import row_label
    tab = table.assign(_row=[row_label(s) for s in table["label"]])
    T = budget
    if T is None:
        v = tab[value].to_numpy(dtype=float)
        T = int(np.nanmax(v)) if np.isfinite(v).any() else 1
    for r in adaptive + const:
        if lr is not None:
            lrs = np.array(sorted(tab.loc[tab["_row"] == r, "lr"].unique()))
            use = float(lrs[np.argmin(np.abs(np.log(lrs) - math.log(lr)))]) if lrs.size else None
        else:
            use = best.loc[r, "lr"] if r in best.index else math.nan
            if not math.isfinite(use):
                continue
        g = tab[(tab["_row"] == r) & (tab["lr"] == use)]
        if g.empty:
            continue
        v = g[value].to_numpy(dtype=float)
        if "diverged_at" in g:
            v = np.where(np.isfinite(g["diverged_at"].to_numpy(dtype=float)), np.nan, v)
        n = len(v)
        ok = np.sort(v[np.isfinite(v)])
        rate = ok.size / n
        xs = np.concatenate([[0], np.repeat(ok, 2), [T]])
        ys = np.concatenate([[0, 0], np.repeat(np.arange(1, ok.size + 1) / n, 2)[:-1], [rate]]) \
            if ok.size else np.array([0.0, 0.0])
        if not ok.size:
            xs = np.array([0, T])
        st = styles[r]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=f"{r}, η={_fmt(use)}: {rate:.0%} succeed",
            line=dict(color=st["color"], dash=st["dash"], width=th.line, shape="linear"),
            hovertemplate=f"{r}<br>%{{y:.0%}} of {n} runs within %{{x}} steps<extra></extra>",
            meta={"role": "ecdf", "row": r}))
    title = title or ("Many starts: fraction of runs at f − f* < tol within t steps"
                      + ("" if lr is None else f" (η ≈ {_fmt(lr)})"))
    _layout(fig, th, title, value_title, "fraction of runs", height=height,
            uirevision="sweepstarts")
    fig.update_yaxes(range=[-0.02, 1.05], tickformat=".0%")
    fig.update_xaxes(range=[0, T])
    return fig


# ============================================================================ noise bands
def add_seed_bands(fig: go.Figure, specs: Sequence[OptimizerSpec], bands: dict,
                   lecture: bool | Theme = False, floor: float | None = None) -> go.Figure:
    """Add to a gap chart (:func:`adamem_core.figures.gap_figure`) each run's median over the
    noise seeds (a dotted line) and the band between the quantiles of ``bands``
    (:func:`adamem_core.sweep.seed_bands`), in the run's own colour. Values ≤ 0 are drawn at
    ``floor`` on a log axis. Returns the figure (changed in place)."""
    th = theme(lecture)
    styles = assign_styles(list(specs), th)
    S = len(bands["seeds"])
    qlo, qhi = bands["q"]
    log = fig.layout.yaxis.type == "log"
    fl = floor if floor is not None else 1e-16

    def disp(a):
        a = np.asarray(a, dtype=float)
        return np.where(np.isfinite(a), np.maximum(a, fl), np.nan) if log else a

    for r, (spec, st) in enumerate(zip(specs, styles)):
        med, lo, hi = (disp(bands[k][r]) for k in ("median", "lo", "hi"))
        t = np.arange(med.size)
        ok = np.isfinite(lo) & np.isfinite(hi)
        tt = t[ok]
        fill = f"rgba{tuple(int(st['color'][i:i + 2], 16) for i in (1, 3, 5)) + (0.16,)}"
        fig.add_trace(go.Scatter(
            x=np.concatenate([tt, tt[::-1]]), y=np.concatenate([hi[ok], lo[ok][::-1]]),
            fill="toself", fillcolor=fill, line=dict(width=0), hoverinfo="skip",
            showlegend=False, legendgroup=f"band{r}", meta={"role": "band", "run": r}))
        nd = int(bands["diverged"][r])
        fig.add_trace(go.Scatter(
            x=t, y=med, mode="lines", legendgroup=f"band{r}", showlegend=False,
            name=f"{spec.label}: median of {S} seeds ({qlo:.0%}–{qhi:.0%} band)"
                 + (f", {nd} diverged" if nd else ""),
            line=dict(color=st["color"], dash="dot", width=max(th.line_thin, 1.5)),
            hovertemplate=f"<b>{spec.label}</b><br>median over {S} seeds<br>step %{{x}}: "
                          "%{y:.3g}<extra></extra>", meta={"role": "median", "run": r}))
    # one legend entry explains every band (each is in its run's colour)
    fig.add_trace(go.Scatter(
        x=[None], y=[None], mode="lines", name=f"dotted + band: median, {qlo:.0%}–{qhi:.0%} "
                                              f"of {S} noise seeds",
        line=dict(color="#555555", dash="dot", width=max(th.line_thin, 1.5)),
        meta={"role": "band_legend"}))
    return fig
