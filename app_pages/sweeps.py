"""Sweeps: does adaptive β pay off? Learning-rate × β robustness maps, a fair comparison at each
optimizer's own best learning rate, many starts, noisy gradients.

Widgets and layout only: the runs come from adamem_core.sweep (one batched engine pass), the
charts from adamem_core.figures.sweep, the validation and limits from adamem_core.sweep_scene.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from adamem_core.figures import sweep as fs
from adamem_core.landscapes import LANDSCAPES
from adamem_core.scene import CUSTOM
from adamem_core.sweep import (LIMITS, best_per_row, cells, row_label, stability_bounds,
                               stable_windows)
from adamem_core.sweep_scene import (ADAPTIVE, BASELINES, SweepScene, parse_query,
                                     playground_query)
from ui.common import (LECTURE_KEY, apply_lecture_css, function_controls, lecture_exit_button,
                       lecture_on, stop_page)
from ui.sweeps import landscape_of, run_sweep

SCENE = "sw_scene"
NOTES = "sw_notices"
LR_CHOICES = sorted({round(m * 10.0 ** e, 12) for e in range(-5, 1) for m in (1, 2, 3, 5)}
                    | {10.0})
TOL_CHOICES = [1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
STEP_CHOICES = [50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000]


def _fmt(v: float) -> str:
    return f"{v:.3g}"


# ----------------------------------------------------------------------------- widget state
def _seed_widgets(sc: SweepScene) -> None:
    ss = st.session_state
    ss["sw_land"] = sc.landscape
    ss["sw_formula"] = sc.formula
    for k, v in sc.params:
        ss[f"sw_p_{k}"] = float(v)
    ss["sw_start"] = sc.start_mode
    ss["sw_x0"], ss["sw_y0"] = float(sc.x0), float(sc.y0)
    ss["sw_k"] = int(sc.n_starts)
    ss["sw_sseed"] = int(sc.start_seed)
    ss["sw_steps"] = int(sc.steps)
    ss["sw_tol"] = float(sc.tol)
    ss["sw_lrmin"], ss["sw_lrmax"] = float(sc.lr_min), float(sc.lr_max)
    ss["sw_nlr"] = int(sc.n_lrs)
    ss["sw_base"] = sc.baseline
    ss["sw_betas"] = ", ".join(f"{b:g}" for b in sc.betas)
    ss["sw_am"] = list(sc.adaptive)
    ss["sw_lam"] = float(sc.lam)
    ss["sw_bmax"] = float(sc.beta_max)
    ss["sw_noise"] = float(sc.noise)
    ss["sw_seeds"] = int(sc.n_seeds)
    ss["sw_lr"] = "best" if sc.starts_lr is None else float(sc.starts_lr)
    ss["sw_seeded"] = True


def _on_landscape_change() -> None:
    ss = st.session_state
    q = {"s_f": ss["sw_land"]}
    if ss["sw_land"] == CUSTOM:
        q["s_expr"] = ss.get("sw_formula", SweepScene().formula)
    sc, _ = parse_query(q, LANDSCAPES)
    ss["sw_x0"], ss["sw_y0"] = float(sc.x0), float(sc.y0)
    for k, v in sc.params:
        ss[f"sw_p_{k}"] = float(v)


def _widget_query() -> dict[str, str]:
    """The widgets' values as a query, so that they pass the same validation as a URL."""
    ss = st.session_state
    lo, hi = ss["sw_lrmin"], ss["sw_lrmax"]
    q = {"s_f": ss["sw_land"], "s_start": ss["sw_start"], "s_x0": repr(ss["sw_x0"]),
         "s_y0": repr(ss["sw_y0"]), "s_k": str(ss["sw_k"]), "s_sseed": str(ss["sw_sseed"]),
         "s_steps": str(ss["sw_steps"]), "s_tol": repr(ss["sw_tol"]),
         "s_lrmin": repr(lo), "s_lrmax": repr(hi), "s_nlr": str(ss["sw_nlr"]),
         "s_base": ss["sw_base"], "s_betas": ss["sw_betas"],
         "s_am": ",".join(ss["sw_am"]) or "-", "s_lam": repr(ss["sw_lam"]),
         "s_bmax": repr(ss["sw_bmax"]), "s_noise": repr(ss["sw_noise"]),
         "s_seeds": str(ss["sw_seeds"]),
         "s_lr": "best" if ss["sw_lr"] == "best" else repr(ss["sw_lr"])}
    if ss["sw_land"] == CUSTOM:
        q["s_expr"] = ss.get("sw_formula", "")
    land = LANDSCAPES.get(ss["sw_land"])
    if land is not None:
        for k in land.param_specs:
            if f"sw_p_{k}" in ss:
                q[f"s_p_{k}"] = repr(ss[f"sw_p_{k}"])
    if ss.get(LECTURE_KEY):
        q["lecture"] = "1"
    return q


def _on_cell() -> None:
    """A click on a map cell: remember (row, lr) for the "open in Playground" link."""
    ev = st.session_state.get("sw_map")
    try:
        pts = ev["selection"]["points"]
    except (KeyError, TypeError):
        return
    for p in pts or []:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)) and len(cd) == 2:
            try:
                st.session_state["sw_cell"] = (int(cd[0]), float(cd[1]))
            except (TypeError, ValueError):
                continue
            return


# ----------------------------------------------------------------------------- controls
def controls(sc: SweepScene) -> tuple[str | None, list[str]]:
    ss = st.session_state
    err = None
    with st.sidebar:
        st.header("Function and starts")
        land, dom, err = function_controls(
            "sw", _on_landscape_change,
            lambda f: landscape_of(sc.replace(landscape=CUSTOM, formula=f))[1])
        st.radio("start", ["point", "random"], key="sw_start", horizontal=True,
                 format_func={"point": "one start point", "random": "K random starts"}.get)
        if ss["sw_start"] == "point":
            c1, c2 = st.columns(2)
            c1.number_input("start x₀", min_value=float(dom[0][0]),
                            max_value=float(dom[0][1]), key="sw_x0", step=0.1, format="%.4g")
            c2.number_input("start y₀", min_value=float(dom[1][0]),
                            max_value=float(dom[1][1]), key="sw_y0", step=0.1, format="%.4g")
        else:
            c1, c2 = st.columns(2)
            c1.number_input("K starts", min_value=2, max_value=LIMITS.max_starts, key="sw_k")
            c2.number_input("seed", min_value=0, max_value=999_999, key="sw_sseed")
        c1, c2 = st.columns(2)
        if ss["sw_steps"] not in STEP_CHOICES:
            ss["sw_steps"] = min(STEP_CHOICES, key=lambda v: abs(v - ss["sw_steps"]))
        c1.selectbox("step budget", STEP_CHOICES, key="sw_steps")
        c2.selectbox("tolerance on f − f*", TOL_CHOICES, key="sw_tol",
                     format_func=lambda v: f"{v:g}")

        st.header("Learning rates")
        grid = sorted(set(LR_CHOICES) | {ss["sw_lrmin"], ss["sw_lrmax"]})
        c1, c2 = st.columns(2)
        c1.selectbox("smallest η", grid, key="sw_lrmin", format_func=lambda v: f"{v:g}")
        c2.selectbox("largest η", grid, key="sw_lrmax", format_func=lambda v: f"{v:g}",
                     help="The grid is spaced evenly in log η between the two.")
        st.slider("number of learning rates", min_value=LIMITS.min_lrs,
                  max_value=LIMITS.max_lrs, key="sw_nlr")

        st.header("Optimizers")
        st.multiselect("adaptive β", list(ADAPTIVE), key="sw_am", format_func=ADAPTIVE.get)
        c1, c2 = st.columns(2)
        c1.number_input("λ", min_value=0.0, max_value=10.0, key="sw_lam", step=0.05,
                        format="%g")
        c2.number_input("β_max", min_value=0.0, max_value=0.999, key="sw_bmax", step=0.01,
                        format="%g")
        st.selectbox("baseline family", list(BASELINES), key="sw_base",
                     format_func=BASELINES.get)
        st.text_input("constant β rows (comma separated)", key="sw_betas",
                      help="One baseline row per β, e.g. 0, 0.5, 0.8, 0.9, 0.95, 0.99.")

        st.header("Noise")
        c1, c2 = st.columns(2)
        c1.number_input("gradient noise σ", min_value=0.0, max_value=100.0, key="sw_noise",
                        step=0.01, format="%g")
        c2.number_input("seeds", min_value=1, max_value=LIMITS.max_seeds, key="sw_seeds")
        st.selectbox("η of the many-starts chart", ["best"] + LR_CHOICES, key="sw_lr",
                     format_func=lambda v: "each row's own best η" if v == "best" else f"{v:g}")
    return err, []


# ----------------------------------------------------------------------------- reading guides
def map_guide(sc: SweepScene, ct, best, win, bounds, n_lr: int, land, short: bool = False) -> str:
    """The reading guide under the map; ``short`` (lecture mode): the legend in a few words and
    what the adaptive rows do, so that map and caption fit one projector screen."""
    rows = list(dict.fromkeys(ct["row"]))
    adaptive = [r for r in rows if r.startswith(("AM-SGD", "AM-AdamW"))]
    const = [r for r in rows if r not in adaptive]
    runs = ct["n"].iloc[0] if len(ct) else 1
    if short:
        bits = [f"Colour: steps to f − f* < {sc.tol:g} (darker = faster); ∞ not within "
                f"{sc.steps} steps; ✕ diverged; ★ each row's best η"
                + ("; black bar: the theory's stability limit of constant β" if bounds else "")
                + "."]
        for r in adaptive:
            if r in win.index and math.isfinite(win.loc[r, "decades"]):
                bits.append(f"**{r.split(' ')[0]}** succeeds over {win.loc[r, 'decades']:.2g} "
                            f"decades of η ({_fmt(win.loc[r, 'lo'])}–{_fmt(win.loc[r, 'hi'])}).")
        cw = [(r, win.loc[r, "decades"]) for r in const if r in win.index
              and math.isfinite(win.loc[r, "decades"])]
        if cw:
            r0, w0 = max(cw, key=lambda p: p[1])
            bits.append(f"Best constant β: **{r0.split(' ')[-1]}**, {w0:.2g} decades.")
        return " ".join(bits)
    bits = [f"Each cell is one optimizer (row) at one learning rate (column) on "
            f"**{land.title}**: its colour is the number of steps to reach f − f* < "
            f"{sc.tol:g} (darker = faster)"
            + (f", the median over {runs} runs ({_runs_what(sc)})" if runs > 1 else "")
            + f"; grey ∞ = not within {sc.steps} steps, dark red ✕ = diverged; ★ = the row's "
              f"best η."]
    wide = [(r, win.loc[r, "decades"]) for r in rows if r in win.index
            and math.isfinite(win.loc[r, "decades"])]
    if const:
        cw = [(r, w) for r, w in wide if r in const]
        if cw:
            r0, w0 = max(cw, key=lambda p: p[1])
            bits.append(f"Among the constant-β rows the widest stable window is **{r0}** "
                        f"({w0:.2g} decades of η).")
        if len(const) >= 2:
            his = [(r, win.loc[r, "hi"]) for r in const if r in win.index
                   and math.isfinite(win.loc[r, "hi"])]
            if len(his) >= 2:
                bits.append(f"The band moves with β: its upper end goes from η = "
                            f"{_fmt(his[0][1])} ({his[0][0]}) to η = {_fmt(his[-1][1])} "
                            f"({his[-1][0]}).")
    for r in adaptive:
        if r in win.index and math.isfinite(win.loc[r, "decades"]):
            bits.append(f"**{r}** succeeds from η = {_fmt(win.loc[r, 'lo'])} to "
                        f"{_fmt(win.loc[r, 'hi'])} ({win.loc[r, 'decades']:.2g} decades), "
                        f"fastest at η = {_fmt(best.loc[r, 'lr'])} "
                        f"({best.loc[r, 'value']:.0f} steps).")
        else:
            bits.append(f"**{r}** does not reach the tolerance at any of the {n_lr} η.")
    if bounds:
        bits.append("The black bar on each constant-β row is the theory's stability limit "
                    "η < 2(1+β)/((1−β)L) (L = largest curvature"
                    + (", Nesterov's own bound" if sc.baseline == "nesterov" else "")
                    + "): right of it the runs must diverge.")
    return " ".join(bits)


def _runs_what(sc: SweepScene) -> str:
    parts = []
    if sc.start_mode == "random":
        parts.append(f"{sc.n_starts} starts")
    if sc.n_seeds > 1:
        parts.append(f"{sc.n_seeds} noise seeds")
    return " × ".join(parts) or "1 run"


def fair_guide(ct, best, win, n_lr: int) -> str:
    ok = [(r, best.loc[r, "value"], best.loc[r, "lr"]) for r in best.index
          if math.isfinite(best.loc[r, "lr"])]
    if not ok:
        return (f"No optimizer reaches the tolerance at any of the {n_lr} learning rates: "
                "widen the η range, raise the step budget or loosen the tolerance.")
    r, v, lr = min(ok, key=lambda p: p[1])
    bits = [f"Every optimizer is shown at its own best learning rate out of {n_lr} (the same "
            f"tuning budget for all): the fastest is **{r}**, {v:.0f} steps at η = {_fmt(lr)}."]
    wide = [(q, win.loc[q, "decades"]) for q in win.index if math.isfinite(win.loc[q, "decades"])]
    if wide:
        q, w = max(wide, key=lambda p: p[1])
        bits.append(f"The widest stable window (how far η may be off and still succeed) is "
                    f"**{q}**'s, {w:.2g} decades.")
    never = [q for q in best.index if not math.isfinite(best.loc[q, "lr"])]
    if never:
        bits.append(f"{len(never)} row{'s' if len(never) > 1 else ''} never succeed"
                    f"{'' if len(never) > 1 else 's'}: {', '.join(never)}.")
    return " ".join(bits)


# ----------------------------------------------------------------------------- page
ss = st.session_state
if SCENE not in ss:
    sc0, notes0 = parse_query(dict(st.query_params.to_dict()), LANDSCAPES)
    ss[SCENE], ss[NOTES] = sc0, notes0   # (app.py already set lecture mode from the URL)
if not ss.get("sw_seeded") or "sw_land" not in ss:
    _seed_widgets(ss[SCENE])

apply_lecture_css()
lecture = lecture_on()
formula_error, _ = controls(ss[SCENE])
sc, widget_notes = parse_query(_widget_query(), LANDSCAPES)
sc = sc.replace(lecture=lecture)
ss[SCENE] = sc
q = sc.to_query()
if dict(st.query_params.to_dict()) != q:
    st.query_params.from_dict(q)

if lecture:   # the map and its caption are the first screen (1280×720 and up)
    st.markdown("<style>div[data-testid='stMainBlockContainer'] {padding-top: 1.2rem !important;}"
                "</style>", unsafe_allow_html=True)
else:
    st.title("Sweeps — does adaptive β pay off?")
notes = list(ss.get(NOTES, [])) + widget_notes
if notes:
    st.warning("**Some values were corrected or cut down:**\n\n"
               + "\n".join(f"- {n}" for n in notes), icon="⚠️")
ss[NOTES] = []

land, err = landscape_of(sc)
if err or formula_error:
    st.error(f"The function can't be used: {err or formula_error}", icon="✏️")
    st.info("Fix the formula in the sidebar (the message says where the problem is); "
            "the sweep comes back as soon as it parses.")
    stop_page()

with st.spinner(f"Running {sc.n_runs:,} runs × {sc.steps} steps…"):
    table = run_sweep(sc, land)
ct = cells(table)
best = best_per_row(ct)
win = stable_windows(ct)
rows = sc.rows()
bounds = stability_bounds(land, rows)
n_lr = len(sc.lrs())
est = table.attrs.get("f_star_estimated")

value_title = f"steps to f − f* < {sc.tol:g}"
title = (f"{land.title}: steps to f − f* < {sc.tol:g}"
         + ("" if lecture else f" over {n_lr} learning rates")
         + (f", σ = {sc.noise:g}" if sc.noise > 0 else ""))
fig_map = fs.robustness_map(table, value_title=value_title, bounds=bounds, title=title,
                            never_label=f"not within {sc.steps} steps", lecture=lecture,
                            height=(500 if lecture else None))
st.plotly_chart(fig_map, key="sw_map", width="stretch", on_select=_on_cell,
                selection_mode="points")
st.caption(map_guide(sc, ct, best, win, bounds, n_lr, land, short=lecture)
           + (" f* is unknown for this function: the gap is measured to the lowest value "
              "any run reached." if est else ""))
lecture_exit_button("sw_exit_lecture")

# the clicked cell → that exact run on the Playground
cell = ss.get("sw_cell")
meta_rows = list(fig_map.layout.meta["rows"])
if cell is not None and 0 <= cell[0] < len(meta_rows) and meta_rows[cell[0]]:
    rlabel, lr = meta_rows[cell[0]], cell[1]
    spec = next((s for s in rows if row_label(s.label) == rlabel), None)
    hit = table[(table["label"].map(row_label) == rlabel) & np.isclose(table["lr"], lr)]
    if spec is not None and len(hit):
        first = hit.iloc[0]
        pq = playground_query(sc, spec, float(first["lr"]),
                              (float(first["start_x"]), float(first["start_y"])),
                              int(first["seed"]))
        st.link_button(f"Open {rlabel} at η = {float(first['lr']):g} in the Playground",
                       "playground?" + urlencode(pq), type="primary")
else:
    st.caption("Click a cell to open that exact run in the Playground.")

c1, c2, c3 = st.columns(3)
c1.download_button("Sweep table (CSV)", lambda: table.to_csv(index=False),
                   file_name="adamem_sweep.csv", mime="text/csv", key="sw_dl_csv",
                   on_click="ignore")
c2.download_button("Robustness map (standalone HTML)",
                   lambda: fig_map.to_html(include_plotlyjs=True, full_html=True),
                   file_name="adamem_robustness_map.html", mime="text/html", key="sw_dl_html",
                   on_click="ignore")
c3.caption("The URL holds the whole sweep: copy it to reopen exactly this view.")

st.subheader("Fair comparison: each optimizer at its own best η")
fig_fair = fs.fair_comparison_figure(table, value_title=value_title, lecture=lecture)
st.plotly_chart(fig_fair, key="sw_fair", width="stretch")
st.caption(fair_guide(ct, best, win, n_lr))
link_rows = []
for s in rows:
    r = row_label(s.label)
    if r in best.index and math.isfinite(best.loc[r, "lr"]):
        hit = table[(table["label"].map(row_label) == r) & (table["lr"] == best.loc[r, "lr"])]
        f0 = hit.iloc[0]
        link = "playground?" + urlencode(playground_query(
            sc, s, float(f0["lr"]), (float(f0["start_x"]), float(f0["start_y"])),
            int(f0["seed"])))
        link_rows.append({"optimizer": r, "best η": f"{best.loc[r, 'lr']:g}",
                          value_title: f"{best.loc[r, 'value']:.0f}",
                          "success": f"{best.loc[r, 'success_rate']:.0%}",
                          "stable window (decades)": f"{win.loc[r, 'decades']:.2g}",
                          "Playground": link})
    else:
        link_rows.append({"optimizer": r, "best η": "—", value_title: "never",
                          "success": "0%", "stable window (decades)": "—", "Playground": None})
st.dataframe(link_rows, hide_index=True, width="stretch", key="sw_fair_table",
             column_config={"Playground": st.column_config.LinkColumn(
                 "Playground", display_text="open this run")})

if sc.start_mode == "random" or sc.n_seeds > 1:
    st.subheader("Many runs: how often, and how fast?")
    fig_starts = fs.starts_figure(table, sc.starts_lr, value_title=value_title,
                                  budget=sc.steps, lecture=lecture)
    st.plotly_chart(fig_starts, key="sw_starts", width="stretch")
    rates = []
    for tr in fig_starts.data:
        if (tr.meta or {}).get("role") == "ecdf":
            rates.append(f"{tr.name}")
    st.caption(
        f"Each curve is one optimizer at "
        + ("its own best η" if sc.starts_lr is None else f"η ≈ {sc.starts_lr:g}")
        + f": over {_runs_what(sc)}, the fraction of runs that reached f − f* < {sc.tol:g} "
          f"within t steps (a curve further left and higher is faster and more reliable; its "
          f"final height is the success rate). "
        + ("Every optimizer sees the same noise seeds (common random numbers). "
           if sc.n_seeds > 1 else "")
        + ("Success rates: " + "; ".join(rates) + "." if rates else ""))
elif not lecture:
    st.caption("Choose “K random starts” or more than one noise seed to see how reliable each "
               "optimizer is over many runs.")
