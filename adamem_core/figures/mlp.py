"""Figures of the MLP lab: :class:`~adamem_core.mlp.RunRecord` / :class:`~adamem_core.mlp.Dataset`
(plain data) → ``plotly.graph_objects.Figure``. No Streamlit here, and no training: every number
drawn comes from the records; this module only slices, bins and encodes for display.

The visual language is the 2-D lab's (:mod:`adamem_core.figures`): one style per optimizer from
:func:`~adamem_core.figures.assign_styles` (same colour, dash and marker as on the playground),
its ``theme`` (``lecture=True``: fonts ≥ 20 px, lines ≥ 3 px) and its layout. Legends name each
run by ``OptimizerSpec.label``.

Public functions (``width``/``height`` in px size the layout for the page's columns)::

    curves_figure(runs, lecture=False, planned_steps=None, n_classes=None, smooth=None)
        -> Figure   (loss | training accuracy | test accuracy, one legend)
    global_beta_runs(runs) -> list[int];  tensor_beta_runs(runs) -> list[int]
    beta_figure(runs, lecture=False, planned_steps=None, show_model_beta=False) -> Figure
    beta_heatmap_figure(run, lecture=False, max_columns=150, beta_max=None) -> Figure
    layer_tick_labels(layer_names) -> list[str]
    boundary_figure(dataset, runs, lecture=False, max_frames=40, cols=None) -> Figure
    confusion_figure(run, class_names=None, lecture=False) -> Figure
    misclassified_figure(dataset, run, predicted=None, k=8, cols=None, lecture=False)
        -> Figure
    story_text(runs) -> str;  summary_frame(runs) -> pandas.DataFrame
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import (OKABE_ITO, Theme, _axis, _diverged_label, _fmt, _layout, _legend_names,
                    _legend_rows, _mix, assign_styles, theme)

__all__ = ["CLASS_COLORS", "CLASS_SYMBOLS", "curves_figure", "beta_figure",
           "beta_heatmap_figure", "boundary_figure", "confusion_figure", "misclassified_figure",
           "summary_frame", "story_text", "global_beta_runs", "tensor_beta_runs",
           "layer_tick_labels"]

# classes in the decision-boundary panels: Okabe–Ito hues that are not AM-SGD's vermillion or
# AM-AdamW's blue (those mean "optimizer" everywhere), each with its own marker
CLASS_COLORS = (OKABE_ITO["sky_blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"],
                OKABE_ITO["reddish_purple"], "#9A8A1E")
CLASS_SYMBOLS = ("circle", "diamond", "triangle-up", "square", "star")
_BAND = 50                       # multi-class boundary code: z = class * _BAND + confidence
_BETA_SCALE = "Cividis"          # β ∈ [0, 1]: colour-blind-safe sequential scale
_CONFUSION_SCALE = [[0.0, "#ffffff"], [1.0, "#0b4a7a"]]
_DIGIT_SCALE = [[0.0, "#ffffff"], [1.0, "#111111"]]


# ============================================================================ small helpers
def _pct(v: Any) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * float(v):.1f} %"


def _planned(runs: Sequence[Any], planned_steps: int | None) -> int:
    if planned_steps is not None:
        return int(planned_steps)
    return max([int(getattr(r, "planned_steps", r.steps)) for r in runs] + [1])


def _last_finite(a: np.ndarray) -> int | None:
    idx = np.flatnonzero(np.isfinite(a))
    return int(idx[-1]) if idx.size else None


def _styles(runs: Sequence[Any], th: Theme) -> list[dict]:
    return assign_styles([r.spec for r in runs], th)


def _smoothing(runs: Sequence[Any], T: int, smooth: int | None) -> tuple[bool, int]:
    """(mini-batch runs?, the trailing-mean window): ``smooth`` or 2 % of the steps, ≥ 5."""
    mini = any((r.meta or {}).get("batch_size") is not None for r in runs)
    return mini, (smooth if smooth is not None else max(5, T // 50))


def _nanmean(a: np.ndarray, axis: int | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _running_mean(y: np.ndarray, w: int) -> np.ndarray:
    """Trailing mean over the last ``w`` finite values (NaN where ``y`` is NaN)."""
    ok = np.isfinite(y)
    v = np.where(ok, y, 0.0)
    c = np.concatenate([[0.0], np.cumsum(v)])
    n = np.concatenate([[0], np.cumsum(ok)])
    i = np.arange(1, y.size + 1)
    lo = np.maximum(i - w, 0)
    cnt = n[i] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (c[i] - c[lo]) / cnt
    return np.where(ok, out, np.nan)


def _frame_layout(fig: go.Figure, th: Theme, title: str, plot_h: int, width: int,
                  uirevision: str, legend: bool = True, bottom: int = 10,
                  xtitle: str | None = None, ytitle: str | None = None,
                  subtitle: str | None = None) -> int:
    """The 2-D lab's look (:func:`adamem_core.figures._layout`), with the top margin and the
    height set here for the width the page gives the figure (``width`` px): the title (and a
    smaller grey ``subtitle`` line under it), then the legend band (as many rows as the names
    need at that width), then ``plot_h`` px of plot (axes and their labels included).
    Returns the top margin."""
    _layout(fig, th, title, xtitle, ytitle, uirevision, height=plot_h, legend=legend)
    if subtitle:
        fig.update_layout(title_subtitle=dict(text=subtitle,
                                              font=dict(size=th.tick, color="#555555")))
    names = _legend_names(fig) if legend else []
    top = int(th.title * 1.3 + 24) + (int(th.tick * 1.8 + 8) if subtitle else 0)
    if names:
        rows = _legend_rows(th, names, width - 40)
        top += int(rows * (th.legend * 1.6 + 8) - 2)
    fig.update_layout(margin=dict(t=top, b=bottom, l=10, r=10), height=int(top + plot_h + bottom))
    return top


def _diverged_marker(fig: go.Figure, r: Any, st: dict, th: Theme, x: int, y: float,
                     group: str, **subplot: Any) -> None:
    fig.add_trace(go.Scatter(
        x=[x], y=[y], mode="markers", showlegend=False, legendgroup=group,
        name=_diverged_label(r), cliponaxis=False,
        marker=dict(symbol="x", size=th.special, color=st["color"],
                    line=dict(color="black", width=1.5)),
        hovertemplate=f"<b>{r.label}</b><br>diverged at step {r.diverged_at}<extra></extra>",
        meta={"role": "diverged", "run": group}), **subplot)


# ============================================================================ curves
def _loss_display(r: Any) -> np.ndarray:
    """The loss to draw: non-finite values and the diverged row blanked, no zeros (log)."""
    y = np.asarray(r.loss, dtype=float).copy()
    y[~np.isfinite(y)] = np.nan
    if r.diverged_at is not None and r.diverged_at < y.size:
        y[r.diverged_at:] = np.nan            # the offending value is not a loss to draw
    pos = y[y > 0]
    return np.where(y <= 0, pos.min() if pos.size else 1e-12, y)


def curves_figure(runs: Sequence[Any], lecture: bool | Theme = False,
                  planned_steps: int | None = None, n_classes: int | None = None,
                  smooth: int | None = None, uirevision: str | None = None,
                  height: int | None = None, width: int | None = None) -> go.Figure:
    """Three panels against step t, one legend: the training loss (cross-entropy, log axis),
    the accuracy on the training set and on the test set (through the steps where they were
    evaluated, ``run.eval_steps``; the chance level 1/n_classes dotted when given).

    One line per run in its style. With mini-batches (``run.meta["batch_size"]``) the raw
    loss is drawn faint and a trailing mean over ``smooth`` steps (default: 2 % of the steps,
    at least 5) bold. A diverged run ends with an ✕ at its last finite loss. The x axes span
    the planned steps, so live (partial) curves grow across a fixed frame. ``height``: of the
    plot area (px, below the legend); ``width``: what the page gives the figure (px, sizes the
    legend band; default 1200, lecture 1700)."""
    th = theme(lecture)
    runs = list(runs)
    styles = _styles(runs, th)
    T = _planned(runs, planned_steps)
    mini, w = _smoothing(runs, T, smooth)
    fig = make_subplots(rows=1, cols=3, column_widths=[0.38, 0.31, 0.31],
                        horizontal_spacing=0.085)
    losses, accs = [], []
    for i, (r, st) in enumerate(zip(runs, styles)):
        g = f"run{i}"
        y = _loss_display(r)
        steps = np.arange(y.size)
        losses.append(y[np.isfinite(y)])
        hover = f"<b>{r.label}</b><br>step t = %{{x}}<br>loss = %{{y:.4g}}<extra></extra>"
        if mini and y.size > 2 * w:
            fig.add_trace(go.Scatter(
                x=steps, y=y, mode="lines", name=f"{r.label} (each mini-batch)",
                legendgroup=g, showlegend=False, opacity=0.22,
                line=dict(color=st["color"], width=max(th.line_thin - 0.5, 1.0)),
                hoverinfo="skip", meta={"role": "loss_raw", "run": i}), row=1, col=1)
            y_main = _running_mean(y, w)
            hover = (f"<b>{r.label}</b><br>step t = %{{x}}<br>loss (mean of {w} batches) = "
                     "%{y:.4g}<extra></extra>")
        else:
            y_main = y
        fig.add_trace(go.Scatter(
            x=steps, y=y_main, mode="lines+markers", name=_diverged_label(r), legendgroup=g,
            line=dict(color=st["color"], dash=st["dash"], width=st["width"]),
            marker=dict(symbol=st["symbol"], color=st["color"], size=th.marker * 0.7,
                        maxdisplayed=10),
            hovertemplate=hover, meta={"role": "loss", "run": i}), row=1, col=1)
        if r.diverged_at is not None:
            j = _last_finite(y_main)
            if j is not None:
                _diverged_marker(fig, r, st, th, j, float(y_main[j]), g, row=1, col=1)
        for col, (arr, which) in ((2, (r.train_acc, "train")), (3, (r.test_acc, "test"))):
            a = np.asarray(arr, dtype=float)
            ev = np.flatnonzero(np.isfinite(a))
            accs.append(a[ev])
            fig.add_trace(go.Scatter(
                x=ev, y=a[ev], mode="lines+markers", name=_diverged_label(r), legendgroup=g,
                showlegend=False,
                line=dict(color=st["color"], dash=st["dash"], width=st["width"]),
                marker=dict(symbol=st["symbol"], color=st["color"], size=th.marker * 0.7,
                            maxdisplayed=8),
                hovertemplate=f"<b>{r.label}</b><br>step t = %{{x}}<br>{which} accuracy = "
                              "%{y:.1%}<extra></extra>",
                meta={"role": f"{which}_acc", "run": i}), row=1, col=col)
    _frame_layout(fig, th, "Training loss and accuracy", height or (560 if th.lecture else 400),
                  width or (1700 if th.lecture else 1200), uirevision or "ml_curves",
                  subtitle=(f"loss: faint = each mini-batch, bold = mean of the last {w}"
                            if mini else None))
    fig.update_xaxes(**_axis(th, "step t"), range=[0, max(T - 1, 1)])
    fig.update_yaxes(**_axis(th, None))
    fig.update_yaxes(type="log", dtick="D2", tickformat=".2~g", row=1, col=1,
                     title=dict(text="training loss",
                                font=dict(size=th.axis_title)))
    vals = np.concatenate(losses) if losses else np.zeros(0)
    if vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        starts = [float(np.asarray(r.loss)[0]) for r in runs
                  if np.asarray(r.loss).size and np.isfinite(np.asarray(r.loss)[0])]
        if starts:                     # a blow-up does not flatten the rest
            hi = min(hi, max(starts) * 30)
        fig.update_yaxes(range=[math.log10(lo) - 0.1, math.log10(max(hi, lo * 1.01)) + 0.15],
                         row=1, col=1)
    a = np.concatenate(accs) if accs else np.zeros(0)
    lo = 0.0
    if a.size:
        lo = max(0.0, min(float(a.min()), 1.0 / n_classes if n_classes else 1.0) - 0.05)
    for col in (2, 3):
        fig.update_yaxes(range=[lo, 1.02], tickformat=".0%", row=1, col=col)
    fig.update_yaxes(title=dict(text="training accuracy",
                                font=dict(size=th.axis_title)), row=1, col=2)
    fig.update_yaxes(title=dict(text="test accuracy",
                                font=dict(size=th.axis_title)), matches="y2", row=1, col=3)
    if n_classes:
        chance = 1.0 / n_classes
        for col in (2, 3):
            fig.add_hline(y=chance, line=dict(color="#777777", dash="dot", width=th.line_thin),
                          row=1, col=col)
        fig.add_annotation(x=0.0, y=chance, xref="x2 domain", yref="y2", xanchor="left",
                           yanchor="bottom", showarrow=False, text=f"chance {chance:.0%}",
                           font=dict(size=th.tick, color="#555555"))
    return fig


# ============================================================================ β
def global_beta_runs(runs: Sequence[Any]) -> list[int]:
    """Indices of the runs with one β for the whole model (AM-SGD and the SGD-family
    baselines: SGD, EMA momentum, Nesterov, torch SGD)."""
    return [i for i, r in enumerate(runs)
            if r.spec.entry.family == "sgd" and np.asarray(r.beta).ndim == 1]


def tensor_beta_runs(runs: Sequence[Any]) -> list[int]:
    """Indices of the adaptive runs with one β per tensor (AM-AdamW)."""
    return [i for i, r in enumerate(runs)
            if r.spec.entry.adaptive and np.asarray(r.beta).ndim == 2]


def beta_figure(runs: Sequence[Any], lecture: bool | Theme = False,
                planned_steps: int | None = None, show_model_beta: bool = False,
                smooth: int | None = None, uirevision: str | None = None,
                height: int | None = None, width: int | None = None) -> go.Figure:
    """The model-wide β_t against step t for the SGD family: the β AM-SGD chose at each
    step, every constant-β baseline as a flat line ("… (constant)"); ``show_model_beta`` adds,
    for the baselines, the β the model would have chosen on their path (thin dotted).
    Runs are styled as in every other chart (styles assigned over all ``runs``). With
    mini-batches β jumps from step to step: the β chosen is drawn faint and its trailing mean
    over ``smooth`` steps (default as :func:`curves_figure`) bold."""
    th = theme(lecture)
    runs = list(runs)
    styles = _styles(runs, th)
    T = _planned(runs, planned_steps)
    mini, w = _smoothing(runs, T, smooth)
    fig = go.Figure()
    smoothed = False
    for i in global_beta_runs(runs):
        r, st = runs[i], styles[i]
        b = np.asarray(r.beta, dtype=float)
        steps = np.arange(b.size)
        adaptive = r.spec.entry.adaptive
        name = _diverged_label(r) if adaptive else f"{_diverged_label(r)} (constant)"
        hover = (f"<b>{r.label}</b><br>step t = %{{x}}<br>β<sub>t</sub> = "
                 "%{y:.3g}<extra></extra>")
        if adaptive and mini and b.size > 2 * w:
            fig.add_trace(go.Scatter(
                x=steps, y=b, mode="lines", name=f"{r.label} (each step)",
                legendgroup=f"run{i}", showlegend=False, opacity=0.25,
                line=dict(color=st["color"], width=max(th.line_thin - 0.5, 1.0)),
                hoverinfo="skip", meta={"role": "beta_raw", "run": i}))
            b = _running_mean(b, w)
            smoothed = True
            hover = (f"<b>{r.label}</b><br>step t = %{{x}}<br>mean β over {w} steps = "
                     "%{y:.3g}<extra></extra>")
        fig.add_trace(go.Scatter(
            x=steps, y=b, mode="lines+markers" if adaptive else "lines", name=name,
            legendgroup=f"run{i}",
            line=dict(color=st["color"], dash=st["dash"],
                      width=st["width"] if adaptive else th.line_thin + 0.5),
            marker=dict(symbol=st["symbol"], color=st["color"], size=th.marker * 0.6,
                        maxdisplayed=12),
            hovertemplate=hover, meta={"role": "beta", "run": i, "adaptive": bool(adaptive)}))
        mb = np.asarray(r.model_beta, dtype=float)
        if show_model_beta and not adaptive and mb.ndim == 1 and np.isfinite(mb).any():
            fig.add_trace(go.Scatter(
                x=steps, y=mb, mode="lines", name=f"{r.label} — model's β",
                legendgroup=f"run{i}", opacity=0.85,
                line=dict(color=st["color"], dash="dot", width=th.line_thin),
                hovertemplate=f"<b>{r.label}</b><br>step t = %{{x}}<br>model's β = "
                              "%{y:.3g}<extra></extra>",
                meta={"role": "model_beta", "run": i}))
    if not fig.data:
        fig.add_annotation(text="no SGD-family run (AM-SGD, EMA momentum, …) in this training",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font=dict(size=th.font, color="#555555"))
    _frame_layout(fig, th, "Global momentum β<sub>t</sub> (one β for the whole network)",
                  height or (480 if th.lecture else 380), width or (850 if th.lecture else 600),
                  uirevision or "ml_beta", xtitle="step t", ytitle="β<sub>t</sub>",
                  subtitle=(f"faint: the β of each step, bold: mean of the last {w}"
                            if smoothed else None))
    fig.update_yaxes(range=[-0.02, 1.02], dtick=0.2 if th.lecture else 0.1)
    fig.update_xaxes(range=[0, max(T - 1, 1)])
    return fig


def layer_tick_labels(layer_names: Sequence[str]) -> list[str]:
    """Readable names for the tensors of :func:`adamem_core.mlp.build_mlp`'s network:
    ``"0.weight"`` → ``"layer 1 W"``, ``"0.bias"`` → ``"layer 1 b"``, … (the last Linear is
    the output layer). Unknown names are kept."""
    idx = []
    for n in layer_names:
        head = n.split(".", 1)[0]
        idx.append(int(head) if head.isdigit() else None)
    linear = sorted({i for i in idx if i is not None})
    out = []
    for n, i in zip(layer_names, idx):
        if i is None or "." not in n:
            out.append(n)
            continue
        kind = n.split(".", 1)[1]
        k = linear.index(i)
        layer = "output" if k == len(linear) - 1 and len(linear) > 1 else f"layer {k + 1}"
        out.append(f"{layer} {'W' if kind == 'weight' else 'b' if kind == 'bias' else kind}")
    return out


def beta_heatmap_figure(run: Any, lecture: bool | Theme = False, max_columns: int = 150,
                        beta_max: float | None = None, planned_steps: int | None = None,
                        uirevision: str | None = None, height: int | None = None,
                        width: int | None = None) -> go.Figure:
    """β per tensor (AM-AdamW's β₁, one per weight/bias tensor) as a heatmap: x = step t,
    y = the tensor (``run.layer_names``; tick labels "layer 1 W", …), colour = β in [0, 1].
    More than ``max_columns`` steps are averaged in equal bins (the hover says so)."""
    th = theme(lecture)
    b = np.asarray(run.beta, dtype=float)
    if b.ndim == 1:
        b = b[:, None]
    T = b.shape[0]
    names = list(run.layer_names)[:b.shape[1]]
    if len(names) < b.shape[1]:
        names += [f"tensor {j}" for j in range(len(names), b.shape[1])]
    width = max(1, math.ceil(T / max(int(max_columns), 1)))
    if width > 1 and T:
        nb = math.ceil(T / width)
        pad = np.full((nb * width - T, b.shape[1]), np.nan)
        z = _nanmean(np.vstack([b, pad]).reshape(nb, width, b.shape[1]), axis=1)
        x = np.minimum(np.arange(nb) * width + (width - 1) / 2.0, T - 1)
        hover = "%{y}<br>steps %{customdata}<br>mean β = %{z:.3f}<extra></extra>"
        custom = np.array([[f"{k * width}–{min((k + 1) * width, T) - 1}"] * len(names)
                           for k in range(nb)]).T
    else:
        z = b
        x = np.arange(T)
        hover = "%{y}<br>step t = %{x}<br>β = %{z:.3f}<extra></extra>"
        custom = None
    fig = go.Figure(go.Heatmap(
        x=x, y=names, z=np.asarray(z, dtype=np.float32).T, zmin=0.0, zmax=1.0,
        colorscale=_BETA_SCALE, customdata=custom, hovertemplate=hover, xgap=0, ygap=1,
        colorbar=dict(title=dict(text="β₁" if run.spec.entry.family == "adamw" else "β",
                                 font=dict(size=th.axis_title)),
                      tickfont=dict(size=th.tick), thickness=20 if th.lecture else 14,
                      len=0.9),
        meta={"role": "beta_heatmap"}))
    sym = "β₁" if run.spec.entry.family == "adamw" else "β"
    title = f"{sym} per tensor — {_diverged_label(run)}"
    _frame_layout(fig, th, title, height or (len(names) * (48 if th.lecture else 32)
                                             + (110 if th.lecture else 80)),
                  width or (850 if th.lecture else 600), uirevision or f"ml_bheat:{run.label}",
                  legend=False, xtitle="step t")
    fig.update_yaxes(tickmode="array", tickvals=names, ticktext=layer_tick_labels(names),
                     autorange="reversed", showgrid=False, tickfont=dict(size=th.tick),
                     ticks="")
    fig.update_xaxes(showgrid=False, range=[-0.5, max(_planned([run], planned_steps), T) - 0.5])
    if beta_max is not None:
        fig.add_annotation(x=1.0, y=1.0, xref="paper", yref="paper", xanchor="right",
                           yanchor="bottom", showarrow=False,
                           text=f"cap β<sub>max</sub> = {beta_max:g}",
                           font=dict(size=th.tick, color="#555555"))
    return fig


# ============================================================================ decision boundary
def _boundary_scale(n_classes: int) -> tuple[list, dict]:
    """(colorscale, colorbar) of the shared colour axis. Two classes: P(class 1) in % (0-100),
    class 0's colour → white at 50 % → class 1's colour. More classes: band k of width _BAND
    holds class k, light (unsure) → strong (sure)."""
    if n_classes <= 2:
        c0, c1 = CLASS_COLORS[0], CLASS_COLORS[1]
        scale = [[0.0, _mix(c0, "#ffffff", 0.25)], [0.5, "#ffffff"],
                 [1.0, _mix(c1, "#ffffff", 0.25)]]
        bar = dict(tickvals=[0, 25, 50, 75, 100], ticktext=["0", "0.25", "0.5", "0.75", "1"],
                   title="P(class 1)")
        return scale, bar
    top = n_classes * _BAND - 1
    scale = []
    for k in range(n_classes):
        c = CLASS_COLORS[k % len(CLASS_COLORS)]
        scale.append([k * _BAND / top, _mix(c, "#ffffff", 0.85)])
        scale.append([(k * _BAND + _BAND - 1) / top, _mix(c, "#ffffff", 0.3)])
    bar = dict(tickvals=[k * _BAND + _BAND / 2 for k in range(n_classes)],
               ticktext=[f"class {k}" for k in range(n_classes)],
               title="predicted<br>(pale: unsure)")
    return scale, bar


def _encode(probs: np.ndarray, n_classes: int) -> np.ndarray:
    """A boundary snapshot as small integers (uint8: sent as 1 byte per cell): two classes,
    P(class 1) in whole percent; more, class·_BAND + confidence in [0, _BAND)."""
    p = np.asarray(probs, dtype=float)
    if p.ndim == 2:
        return np.clip(np.rint(100.0 * np.nan_to_num(p, nan=0.5)), 0, 100).astype(np.uint8)
    p = np.nan_to_num(p, nan=1.0 / n_classes)
    k = p.argmax(axis=-1)
    conf = (p.max(axis=-1) - 1.0 / n_classes) / (1.0 - 1.0 / n_classes)
    q = np.clip(np.rint(conf * (_BAND - 1)), 0, _BAND - 1)
    return (k * _BAND + q).astype(np.uint8)


def _frame_steps(runs: Sequence[Any], max_frames: int) -> list[int]:
    steps = sorted({int(s) for r in runs for s, _ in r.boundaries})
    if len(steps) <= max_frames:
        return steps
    pick = np.unique(np.rint(np.linspace(0, len(steps) - 1, max_frames)).astype(int))
    return [steps[i] for i in pick]


def _snapshot_at(run: Any, step: int) -> np.ndarray | None:
    """The run's last boundary snapshot at or before ``step`` (its first if none)."""
    best = None
    for s, p in run.boundaries:
        if s <= step or best is None:
            best = p
        if s > step:
            break
    return best


def _panel_title(r: Any, color: str) -> str:
    """Two short lines: the optimizer's name in its colour and how it ended, then its
    hyper-parameters."""
    name = r.spec.entry.label
    rest = r.label[len(name):].strip() if r.label.startswith(name) else r.label
    if r.diverged_at is not None:
        outcome = f" · diverged at step {r.diverged_at}"
    elif np.isfinite(getattr(r, "final_test_acc", np.nan)):
        outcome = f" · final test {100 * r.final_test_acc:.1f} %"
    else:
        outcome = ""
    return f"<span style='color:{color}'><b>{name}</b></span>{outcome}<br>{rest}"


def boundary_figure(dataset: Any, runs: Sequence[Any], lecture: bool | Theme = False,
                    max_frames: int = 40, cols: int | None = None, width: int | None = None,
                    uirevision: str | None = None) -> go.Figure:
    """The decision boundary of each run, side by side (one subplot per run, in order, titled
    with the optimizer in its colour), on one shared colour axis, with the training points over
    it (a colour and a marker per class). Animated over the recorded snapshots
    (``run.boundaries``): a slider and Play/Pause; the frames update only the heatmap traces
    (the points are sent once). The figure opens on the last snapshot.

    ``cols``: panels per row (default: all in one row up to 4, else two rows; lecture: 3);
    ``width``: the width in px the page will give the figure (for the height; default 1150,
    lecture 1700), so that the panels show the data at about its true aspect ratio."""
    th = theme(lecture)
    runs = list(runs)
    styles = _styles(runs, th)
    C = int(dataset.n_classes)
    n = max(len(runs), 1)
    if cols is None:
        cap = 3 if th.lecture else 4
        cols = n if n <= cap else math.ceil(n / math.ceil(n / cap))
    cols = max(1, min(int(cols), n))
    rows = math.ceil(n / cols)
    x0, x1, y0, y1 = dataset.bounds
    # sizes (px): the panels keep the data's aspect ratio
    W = width or (1700 if th.lecture else 1150)
    bar_px = 110 if th.lecture else 90
    hgap = 0.035 if cols > 1 else 0.0
    panel_w = (W - bar_px - 20) * (1 - hgap * (cols - 1)) / cols
    panel_h = min(max(panel_w * (y1 - y0) / max(x1 - x0, 1e-9), 140.0), 460.0)
    title_px = 2.6 * (th.tick + 1) + 8
    ks = _frame_steps(runs, max(int(max_frames), 1))
    title_band = th.title * 1.3 + 20
    top = int(title_band + th.legend * 1.6 + 14 + title_px)
    bottom = (130 if th.lecture else 105) if len(ks) > 1 else 40
    plot_h = rows * panel_h + (rows - 1) * (title_px + 30)
    height = int(top + plot_h + bottom)
    fig = make_subplots(rows=rows, cols=cols,
                        subplot_titles=[_panel_title(r, st["color"]) for r, st in
                                        zip(runs, styles)] or None,
                        horizontal_spacing=hgap,
                        vertical_spacing=((title_px + 30) / plot_h) if rows > 1 else 0.0)
    pts = dataset.to_original(dataset.X_train)
    y = np.asarray(dataset.y_train)
    scale, bar = _boundary_scale(C)
    last = ks[-1] if ks else None
    heat_idx: list[int] = []
    gx = gy = None
    psize = 8 if th.lecture else 5.5
    for i, r in enumerate(runs):
        row, col = i // cols + 1, i % cols + 1
        if r.grid_x is not None:
            gx, gy = np.asarray(r.grid_x), np.asarray(r.grid_y)
        snap = _snapshot_at(r, last) if last is not None else None
        if snap is None or gx is None:
            z = np.full((2, 2), 50 if C <= 2 else 0, dtype=np.uint8)
            hx, hy = np.array([x0, x1]), np.array([y0, y1])
        else:
            z, hx, hy = _encode(snap, C), gx, gy
        heat_idx.append(len(fig.data))
        fig.add_trace(go.Heatmap(
            x=hx, y=hy, z=z, coloraxis="coloraxis",
            zsmooth="best" if C <= 2 else False,     # codes of different classes: no blending
            hovertemplate=("x₁ = %{x:.2f}, x₂ = %{y:.2f}<br>P(class 1) = %{z} %"
                           "<extra>" + r.label + "</extra>") if C <= 2 else None,
            hoverinfo=None if C <= 2 else "skip", name=r.label, showlegend=False,
            meta={"role": "boundary", "run": i}), row=row, col=col)
        for k in range(C):
            m = y == k
            color = CLASS_COLORS[k % len(CLASS_COLORS)]
            fig.add_trace(go.Scatter(
                x=pts[m, 0], y=pts[m, 1], mode="markers", name=f"class {k} (training points)",
                legendgroup=f"class{k}", showlegend=i == 0,
                marker=dict(symbol=CLASS_SYMBOLS[k % len(CLASS_SYMBOLS)], size=psize,
                            color=_mix(color, "#000000", 0.35),
                            line=dict(color="white", width=0.6)),
                hovertemplate=f"class {k}<br>x₁ = %{{x:.2f}}, x₂ = %{{y:.2f}}<extra></extra>",
                meta={"role": "points", "class": k, "run": i}), row=row, col=col)
    cmax = 100 if C <= 2 else C * _BAND - 1
    _layout(fig, th, "Decision boundary of each optimizer", None, None,
            uirevision or "ml_boundary", height=height)
    fig.update_layout(
        margin=dict(t=top, b=bottom, l=10, r=10), height=height,
        coloraxis=dict(colorscale=scale, cmin=0, cmax=cmax,
                       colorbar=dict(title=dict(text=bar["title"],
                                                font=dict(size=th.axis_title - 2)),
                                     tickvals=bar["tickvals"], ticktext=bar["ticktext"],
                                     tickfont=dict(size=th.tick),
                                     thickness=18 if th.lecture else 12,
                                     len=1.0 if rows == 1 else 0.7, y=1.0, yanchor="top")),
        legend=dict(itemsizing="constant", yref="container", y=1.0 - title_band / height,
                    yanchor="top"))
    for ann in fig.layout.annotations:
        ann.font = dict(size=th.tick + 1)
    for j in range(len(runs)):
        sfx = "" if j == 0 else str(j + 1)
        fig.layout[f"xaxis{sfx}"].update(range=[x0, x1], showgrid=False, zeroline=False,
                                         showticklabels=j + cols >= len(runs),
                                         tickfont=dict(size=th.tick), mirror=True,
                                         showline=True, linecolor="#999999",
                                         ticks="outside", tickcolor="#999999")
        fig.layout[f"yaxis{sfx}"].update(range=[y0, y1], showgrid=False, zeroline=False,
                                         showticklabels=j % cols == 0,
                                         tickfont=dict(size=th.tick), mirror=True,
                                         showline=True, linecolor="#999999",
                                         ticks="outside", tickcolor="#999999")
    for j in range(len(runs), rows * cols):           # the empty cells of the last row
        sfx = "" if j == 0 else str(j + 1)
        fig.layout[f"xaxis{sfx}"].visible = False
        fig.layout[f"yaxis{sfx}"].visible = False
    if len(ks) > 1:
        frames = []
        for s in ks:
            data = []
            for r in runs:
                snap = _snapshot_at(r, s)
                data.append(go.Heatmap(z=_encode(snap, C)) if snap is not None
                            else go.Heatmap())
            frames.append(go.Frame(name=str(s), data=data, traces=heat_idx))
        fig.frames = frames
        _boundary_controls(fig, th, ks)
    return fig


def _boundary_controls(fig: go.Figure, th: Theme, ks: list[int]) -> None:
    """Play / Pause and a slider over the snapshot steps (heatmaps need ``redraw``)."""
    anim = {"frame": {"duration": 180, "redraw": True}, "fromcurrent": True,
            "transition": {"duration": 0}, "mode": "immediate"}
    fs = th.tick
    pad_t = 34 if th.lecture else 26
    fig.update_layout(
        updatemenus=[dict(
            type="buttons", direction="left", showactive=False, x=0.0, xanchor="left", y=0,
            yanchor="top", pad=dict(t=pad_t, r=8), font=dict(size=fs),
            buttons=[dict(label="▶ Play", method="animate", args=[None, anim]),
                     dict(label="❚❚ Pause", method="animate",
                          args=[[None], {"frame": {"duration": 0, "redraw": False},
                                         "mode": "immediate", "transition": {"duration": 0}}])])],
        sliders=[dict(
            active=len(ks) - 1, x=0.24 if th.lecture else 0.2, len=0.76 if th.lecture else 0.8,
            xanchor="left", y=0, yanchor="top", pad=dict(t=pad_t - 10, b=4),
            currentvalue=dict(prefix="after step t = ", font=dict(size=fs), visible=True),
            font=dict(size=fs), ticklen=3, minorticklen=0,
            steps=[dict(label=str(k), method="animate",
                        args=[[str(k)], {"mode": "immediate",
                                         "frame": {"duration": 0, "redraw": True},
                                         "transition": {"duration": 0}}]) for k in ks])])


# ============================================================================ digits
def confusion_figure(run: Any, class_names: Sequence[str] | None = None,
                     lecture: bool | Theme = False, uirevision: str | None = None,
                     height: int | None = None, width: int | None = None) -> go.Figure:
    """The final model's confusion matrix on the test set (``run.confusion[true, predicted]``)
    as a heatmap with the counts written in the cells; true classes top to bottom."""
    th = theme(lecture)
    cm = np.asarray(run.confusion, dtype=int)
    C = cm.shape[0]
    names = [str(c) for c in (class_names or range(C))]
    total = int(cm.sum())
    acc = np.trace(cm) / total if total else float("nan")
    fig = go.Figure(go.Heatmap(
        z=cm, x=names, y=names, colorscale=_CONFUSION_SCALE, zmin=0,
        zmax=max(int(cm.max()), 1), texttemplate="%{z}",
        textfont=dict(size=th.tick + (2 if th.lecture else 0)), xgap=1, ygap=1,
        colorbar=dict(title=dict(text="test images", font=dict(size=th.axis_title - 2)),
                      tickfont=dict(size=th.tick), thickness=18 if th.lecture else 12),
        hovertemplate="true %{y} → predicted %{x}: %{z} images<extra></extra>",
        meta={"role": "confusion"}))
    _frame_layout(fig, th, f"Confusion matrix on the test set — accuracy {_pct(acc)}",
                  height or (620 if th.lecture else 440), width or (850 if th.lecture else 560),
                  uirevision or f"ml_cm:{run.label}", legend=False,
                  xtitle="predicted class", ytitle="true class", subtitle=_diverged_label(run))
    fig.update_xaxes(type="category", showgrid=False, side="bottom", ticks="")
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False, ticks="",
                     scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def misclassified_figure(dataset: Any, run: Any, predicted: Sequence[int] | None = None,
                         k: int = 8, cols: int | None = None, lecture: bool | Theme = False,
                         uirevision: str | None = None, width: int | None = None) -> go.Figure:
    """At most ``k`` misclassified test images (8×8, dark = ink) of ``run``'s final model in a
    grid of ``cols`` per row (default: one row), each titled "true a → b". ``predicted``: the
    predicted class of every test image (defaults to ``run.test_pred`` if the record has it);
    without it the titles give the true class only. ``width``: what the page gives the figure
    (px), so the images stay square."""
    th = theme(lecture)
    idx = np.asarray(run.misclassified if run.misclassified is not None else [], dtype=int)
    idx = idx[:max(int(k), 0)]
    if predicted is None:
        predicted = getattr(run, "test_pred", None)
    imgs = dataset.images_test
    y = np.asarray(dataset.y_test)
    n = max(len(idx), 1)
    cols = max(1, min(int(cols or n), n))
    rows = math.ceil(n / cols)
    titles = []
    for j in idx:
        if predicted is not None:
            titles.append(f"true {y[j]} → {int(np.asarray(predicted)[j])}")
        else:
            titles.append(f"true {y[j]}")
    W = width or (1000 if th.lecture else 700)
    cap_px = th.tick * 1.6 + 10                       # an image's title
    side = min((W - 20) * (1 - 0.03 * (cols - 1)) / cols, 220.0)
    plot_h = rows * side + rows * cap_px
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles or None,
                        horizontal_spacing=0.03,
                        vertical_spacing=(cap_px / plot_h) if rows > 1 else 0.0)
    for c, j in enumerate(idx):
        fig.add_trace(go.Heatmap(
            z=np.asarray(imgs[j], dtype=float), colorscale=_DIGIT_SCALE, zmin=0, zmax=16,
            showscale=False, hovertemplate="pixel (%{x}, %{y}) = %{z:.0f}<extra></extra>",
            meta={"role": "digit", "index": int(j)}), row=c // cols + 1, col=c % cols + 1)
    what = "titles: true → predicted class" if predicted is not None else "titles: true class"
    title = "Misclassified test images"
    if not len(idx):
        title += ": none"
        fig.add_annotation(text="every test image is classified correctly", x=0.5, y=0.5,
                           xref="paper", yref="paper", showarrow=False,
                           font=dict(size=th.font, color="#555555"))
    top = _frame_layout(fig, th, title, int(plot_h - cap_px), W,
                        uirevision or f"ml_mis:{run.label}", legend=False,
                        subtitle=f"{_diverged_label(run)} · {what}")
    fig.update_layout(margin=dict(t=int(top + cap_px)), height=int(fig.layout.height + cap_px))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                     showline=True, linecolor="#bbbbbb", mirror=True)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                     showline=True, linecolor="#bbbbbb", mirror=True, autorange="reversed")
    for c in range(1, rows * cols + 1):
        sfx = "" if c == 1 else str(c)
        fig.layout[f"yaxis{sfx}"].update(scaleanchor=f"x{sfx}", scaleratio=1,
                                         constrain="domain")
        fig.layout[f"xaxis{sfx}"].update(constrain="domain")
    for ann in fig.layout.annotations:
        if ann.text and ann.text.startswith("true"):
            ann.font = dict(size=th.tick + (2 if th.lecture else 1))
    return fig


# ============================================================================ text and table
def _last_value(final: float, arr: Any) -> float:
    """The final model's value if known, else the last recorded one (partial runs)."""
    if final is not None and np.isfinite(final):
        return float(final)
    a = np.asarray(arr, dtype=float)
    j = _last_finite(a)
    return float(a[j]) if j is not None else float("nan")


def story_text(runs: Sequence[Any]) -> str:
    """One markdown sentence naming every run and how it ended: "**AM-SGD …** reached 97.6 %
    test accuracy; **EMA momentum β=0.5, η=3** diverged at step 12." """
    bits = []
    for r in runs:
        if r.diverged_at is not None:
            bits.append(f"**{r.label}** diverged at step {r.diverged_at}")
            continue
        acc = _last_value(r.final_test_acc, r.test_acc)
        if np.isfinite(acc):
            bits.append(f"**{r.label}** reached {100 * acc:.1f} % test accuracy")
        else:
            bits.append(f"**{r.label}**: not evaluated yet")
    return "; ".join(bits) + "." if bits else ""


def summary_frame(runs: Sequence[Any]):
    """One row per run, every cell a readable string: Optimizer | Loss | Train accuracy |
    Test accuracy | Diverged at step | Mean β | Steps | Time (s). Finished runs show the final
    model's full-batch loss and accuracies; stopped (partial) runs their last recorded ones."""
    import pandas as pd

    out = []
    for r in runs:
        loss = np.asarray(r.loss, dtype=float)
        fl = r.final_loss if np.isfinite(r.final_loss) else (
            loss[_last_finite(loss)] if _last_finite(loss) is not None
            and r.diverged_at is None else float("nan"))

        b = np.asarray(r.beta, dtype=float)
        out.append({
            "Optimizer": r.label,
            "Loss": _fmt(fl, 3),
            "Train accuracy": _pct(_last_value(r.final_train_acc, r.train_acc)),
            "Test accuracy": _pct(_last_value(r.final_test_acc, r.test_acc)),
            "Diverged at step": "—" if r.diverged_at is None else str(int(r.diverged_at)),
            "Mean β": _fmt(_nanmean(b) if b.size and np.isfinite(b).any() else None, 3),
            "Steps": str(r.steps),
            "Time (s)": f"{r.seconds:.2f}",
        })
    return pd.DataFrame(out, columns=["Optimizer", "Loss", "Train accuracy", "Test accuracy",
                                      "Diverged at step", "Mean β", "Steps", "Time (s)"])
