"""Playground: several optimizers leave the same start on a 2-D function; AM's β moves.

Widgets and layout only: the runs come from adamem_core.engine, the charts from
adamem_core.figures, the validation from adamem_core.scene.
"""

from __future__ import annotations

import math

import streamlit as st

from adamem_core.engine import trajectories_frame
from adamem_core.landscapes import LANDSCAPES
from adamem_core.figures.frozen import FrozenFigure
from adamem_core.lecture_deck import lecture_deck_html
from adamem_core.scene import (BETA_MAX_RANGE, CUSTOM, LAM_RANGE, LECTURE_SCENES, LR_RANGE,
                               MAX_RUNS, NOISE_RANGE, NOISE_SEEDS, SEED_RANGE, STEPS_RANGE,
                               RunChoice, Scene, parse_query, token_label)
from ui import shared_figures
from ui.common import (NOTICE_KEY, PAGE_KEY, apply_lecture_css, current_scene,
                       function_controls, lecture_exit_button, lecture_on, scene_runs,
                       set_scene, show_notices, try_landscape)
from ui.common import stop_page  # instead of st.stop(): writes the run marker first
from ui.sweeps import noisy_charts

LR_GRID = sorted({round(m * 10.0 ** e, 12) for e in range(-5, 1) for m in (1, 1.5, 2, 3, 5, 7)}
                 | {10.0})
TOL_GRID = [1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
PRESET_TOKENS = ["am_sgd", "am_adamw", "sgd", "sgd_ema:0.5", "sgd_ema:0.7", "sgd_ema:0.9",
                 "sgd_ema:0.95", "sgd_ema:0.99", "nesterov:0.9", "adamw:0.5", "adamw:0.9",
                 "torch_sgd:0.9", "torch_adamw:0.9"]
KINDS_WITH_BETA = {"sgd_ema": "EMA momentum", "nesterov": "Nesterov (EMA)", "adamw": "AdamW",
                   "torch_sgd": "torch SGD momentum", "torch_adamw": "torch AdamW"}


def _base_token(rc: RunChoice) -> str:
    return RunChoice(rc.name, rc.beta, None).token()


# ----------------------------------------------------------------------------- widget state
def _seed_widgets(scene: Scene) -> None:
    """Put a scene into the widgets' session state (first visit, or a landscape change)."""
    ss = st.session_state
    ss["pg_land"] = scene.landscape
    ss["pg_formula"] = scene.formula
    for k, v in scene.params:
        ss[f"pg_p_{k}"] = float(v)
    ss["pg_x0"], ss["pg_y0"] = float(scene.x0), float(scene.y0)
    ss["pg_runs"] = [_base_token(r) for r in scene.runs]
    for r in scene.runs:
        if r.lr is not None:
            ss[f"pg_lr_{_base_token(r)}"] = float(r.lr)
    ss["pg_lr"] = float(scene.lr)
    ss["pg_lrmode"] = scene.lr_mode
    ss["pg_steps"] = int(scene.steps)
    ss["pg_lam"] = float(scene.lam)
    ss["pg_bmax"] = float(scene.beta_max)
    ss["pg_gap"] = scene.gap
    ss["pg_t"] = int(scene.t)
    ss["pg_tol"] = float(scene.tol)
    ss["pg_surface"] = scene.surface3d
    ss["pg_mbeta"] = scene.model_beta
    ss["pg_noise"], ss["pg_seed"] = float(scene.noise), int(scene.seed)
    ss["pg_seeded"] = True


def _on_landscape_change() -> None:
    """A new function: its own start, parameters and suggested learning rate."""
    ss = st.session_state
    name = ss["pg_land"]
    q = {"f": name, "opt": ",".join(ss.get("pg_runs", [])) or "am_sgd"}
    if name == CUSTOM:
        q["expr"] = ss.get("pg_formula", Scene().formula)
    scene, _ = parse_query(q, LANDSCAPES)
    ss["pg_x0"], ss["pg_y0"] = float(scene.x0), float(scene.y0)
    for k, v in scene.params:
        ss[f"pg_p_{k}"] = float(v)
    ss["pg_lr"] = float(scene.lr)


def _on_pick_start() -> None:
    """A click on the contour sets the start point."""
    ev = st.session_state.get("pg_contour")
    try:
        pts = ev["selection"]["points"]
    except (KeyError, TypeError):
        return
    if pts:
        p = pts[0]
        if "x" in p and "y" in p:
            land = LANDSCAPES.get(st.session_state.get("pg_land", ""))
            (xa, xb), (ya, yb) = land.domain if land is not None else ((-3.0, 3.0), (-3.0, 3.0))
            try:
                x, y = float(p["x"]), float(p["y"])
            except (TypeError, ValueError):
                return
            if math.isfinite(x) and math.isfinite(y):   # a click on a path: keep it in range
                st.session_state["pg_x0"] = min(max(x, xa), xb)
                st.session_state["pg_y0"] = min(max(y, ya), yb)


def _add_baseline() -> None:
    ss = st.session_state
    tok = RunChoice(ss["pg_new_kind"], float(ss["pg_new_beta"]), None).token()
    runs = list(ss.get("pg_runs", []))
    if tok not in runs and len(runs) < MAX_RUNS:
        runs.append(tok)
    ss["pg_runs"] = runs


def _widget_query() -> dict[str, str]:
    """The widgets' values as a query, so that they pass the same validation as a URL."""
    ss = st.session_state
    name = ss["pg_land"]
    toks = []
    for tok in ss.get("pg_runs", []):
        if ss.get("pg_lrmode") == "per" and f"pg_lr_{tok}" in ss:
            toks.append(f"{tok}@{ss[f'pg_lr_{tok}']:g}")
        else:
            toks.append(tok)
    q = {"f": name, "x0": repr(ss["pg_x0"]), "y0": repr(ss["pg_y0"]),
         "opt": ",".join(toks) if toks else "", "lr": repr(ss["pg_lr"]),
         "lrmode": ss["pg_lrmode"], "steps": str(ss["pg_steps"]), "lam": repr(ss["pg_lam"]),
         "bmax": repr(ss["pg_bmax"]), "gap": ss["pg_gap"], "t": str(ss.get("pg_t", 0)),
         "tol": repr(ss["pg_tol"])}
    if name == CUSTOM:
        q["expr"] = ss.get("pg_formula", "")
    land = LANDSCAPES.get(name)
    if land is not None:
        for k in land.param_specs:
            if f"pg_p_{k}" in ss:
                q[f"p_{k}"] = repr(ss[f"pg_p_{k}"])
    if ss.get("lecture_mode"):
        q["lecture"] = "1"
    if ss.get("pg_surface"):
        q["surface"] = "1"
    if ss.get("pg_mbeta"):
        q["mbeta"] = "1"
    if ss.get("pg_noise"):
        q["noise"], q["seed"] = repr(ss["pg_noise"]), str(ss.get("pg_seed", 0))
    return q


# ----------------------------------------------------------------------------- controls
def controls(scene: Scene) -> tuple[Scene, str | None, list[str]]:
    ss = st.session_state
    formula_error = None
    with st.sidebar:
        st.header("Scene")
        land, dom, formula_error = function_controls(
            "pg", _on_landscape_change,
            lambda f: try_landscape(scene.replace(landscape=CUSTOM, formula=f))[1])
        c1, c2 = st.columns(2)
        c1.number_input("start x₀", min_value=float(dom[0][0]), max_value=float(dom[0][1]),
                        key="pg_x0", step=0.1, format="%.4g")
        c2.number_input("start y₀", min_value=float(dom[1][0]), max_value=float(dom[1][1]),
                        key="pg_y0", step=0.1, format="%.4g")
        st.caption("…or click the contour to pick a start.")

        st.header("Optimizers")
        options = list(dict.fromkeys(PRESET_TOKENS + list(ss.get("pg_runs", []))))
        st.multiselect("Compare", options, key="pg_runs", format_func=token_label,
                       max_selections=MAX_RUNS,
                       help="AM-SGD / AM-AdamW adapt β at every step; the others keep it fixed.")
        with st.expander("Add a constant-β baseline"):
            st.selectbox("kind", list(KINDS_WITH_BETA), key="pg_new_kind",
                         format_func=KINDS_WITH_BETA.get)
            st.number_input("β", min_value=0.0, max_value=0.999, value=0.8, step=0.05,
                            key="pg_new_beta")
            st.button("Add", key="pg_add", on_click=_add_baseline)

        st.header("Learning rate and model")
        if ss["pg_lr"] not in LR_GRID:
            grid = sorted(set(LR_GRID) | {ss["pg_lr"]})
        else:
            grid = LR_GRID
        st.select_slider("learning rate η (log scale)", options=grid, key="pg_lr",
                         format_func=lambda v: f"{v:g}")
        st.radio("η for", ["shared", "per"], key="pg_lrmode", horizontal=True,
                 format_func={"shared": "all optimizers", "per": "each optimizer"}.get)
        if ss["pg_lrmode"] == "per":
            for tok in ss.get("pg_runs", []):
                k = f"pg_lr_{tok}"
                if k not in ss:
                    ss[k] = float(ss["pg_lr"])
                st.number_input(f"η — {token_label(tok)}", min_value=LR_RANGE[0],
                                max_value=LR_RANGE[1], key=k, format="%g", step=0.01)
        st.slider("steps", min_value=STEPS_RANGE[0], max_value=STEPS_RANGE[1], key="pg_steps")
        st.number_input("λ (model weight)", min_value=LAM_RANGE[0], max_value=LAM_RANGE[1],
                        key="pg_lam", step=0.05, format="%g")
        st.slider("β_max (cap of the adaptive β)", min_value=BETA_MAX_RANGE[0],
                  max_value=BETA_MAX_RANGE[1], key="pg_bmax", step=0.001, format="%.3f")
        st.radio("loss gap f̂ − f", ["taylor", "exact"], key="pg_gap", horizontal=True,
                 help="taylor: η⟨g, d⟩ (safe with mini-batches); exact: f(x_{t−1}) − f(x_t).")
        st.select_slider("tolerance for the table", options=TOL_GRID, key="pg_tol",
                         format_func=lambda v: f"{v:g}")
        c1, c2 = st.columns(2)
        c1.number_input("gradient noise σ", min_value=NOISE_RANGE[0], max_value=NOISE_RANGE[1],
                        key="pg_noise", step=0.01, format="%g",
                        help="Every gradient becomes ∇f + σξ, ξ ~ N(0, I); the gap chart then "
                             f"shows the median and 10–90 % band over {NOISE_SEEDS} seeds.")
        c2.number_input("noise seed", min_value=SEED_RANGE[0], max_value=SEED_RANGE[1],
                        key="pg_seed", disabled=not ss.get("pg_noise"))
        st.header("Display")
        st.toggle("3-D surface", key="pg_surface")
        st.toggle("show the β the model would choose for baselines", key="pg_mbeta")

    new_scene, notices = parse_query(_widget_query(), LANDSCAPES)
    return new_scene, formula_error, notices


# ----------------------------------------------------------------------------- lecture scenes
def _load_lecture_scene(i: int) -> None:
    """Put lecture scene i into the widgets (a button callback: runs before they exist)."""
    i %= len(LECTURE_SCENES)
    q = dict(LECTURE_SCENES[i][2])
    scene, _ = parse_query(q, LANDSCAPES)
    _seed_widgets(scene)
    st.session_state["pg_scene_idx"] = i


@st.cache_data(max_entries=1, show_spinner="Building the lecture deck…")
def _lecture_deck() -> str:
    return lecture_deck_html(LECTURE_SCENES)


def lecture_scene_bar(lecture: bool = False):
    """◀ / ▶ through a sequence of prepared scenes, with what each one shows (also in
    lecture mode, where the sidebar is hidden), and the lecture deck's download. In lecture
    mode the buttons share one row and the caption gets the full width under them; with no
    prepared scene chosen it returns that caption's slot, for the story of the runs shown."""
    i = st.session_state.get("pg_scene_idx")
    n = len(LECTURE_SCENES)
    if lecture:
        c1, c3, c4, _ = st.columns([1.2, 1.2, 1.2, 2.4], vertical_alignment="center")
        c2 = st.container()
    else:
        c1, c2, c3, c4 = st.columns([1.2, 5, 1.2, 1.3], vertical_alignment="center")
    c1.button("◀ Previous scene", key="pg_scene_prev", on_click=_load_lecture_scene,
              args=((i - 1) if i is not None else n - 1,), width="stretch")
    c3.button("Next scene ▶", key="pg_scene_next", on_click=_load_lecture_scene,
              args=((i + 1) if i is not None else 0,), width="stretch")
    c4.download_button("⬇ Lecture deck", _lecture_deck, file_name="adamem_lecture_deck.html",
                       mime="text/html", key="pg_deck", on_click="ignore", width="stretch",
                       help=f"Download lecture deck: the {n} lecture scenes in one HTML file "
                            "(interactive charts, opens offline, ← → to move, for a projector).")
    if i is None and lecture:
        return c2.empty()
    if i is None:
        c2.caption(f"Lecture scenes: {n} prepared scenes that each tell one part of the story "
                   "— press “Next scene ▶”.")
    else:
        title, caption, _ = LECTURE_SCENES[i]
        c2.markdown(f"**Scene {i + 1}/{n} — {title}.** {caption}")
    return None


def _lecture_sized(fig, **layout):
    """A shared (frozen) chart re-sized for a projector: a new figure with a new top-level
    layout; the spec every session shares is not touched."""
    spec = fig.spec if isinstance(fig, FrozenFigure) else fig.to_dict()
    lay = dict(spec.get("layout", {}))
    for k, v in layout.items():
        lay[k] = {**lay.get(k, {}), **v} if isinstance(v, dict) else v
    return FrozenFigure({**spec, "layout": lay})


def _lecture_height(fig, least_plot: int = 160) -> int:
    """``LECTURE_H``, or more where the chart's title and legend band would leave its plot less
    than ``least_plot`` px (many optimizers: the page scrolls rather than squash the plot)."""
    spec = fig.spec if isinstance(fig, FrozenFigure) else fig.to_dict()
    m = spec.get("layout", {}).get("margin", {})
    return max(LECTURE_H, int(m.get("t", 0)) + int(m.get("b", 0)) + least_plot)


# ----------------------------------------------------------------------------- page
def story(rows: list[dict], tol: float) -> str:
    bits = []
    for r in rows:
        if r["diverged_at"] is not None:
            bits.append(f"**{r['optimizer']}** diverged at step {r['diverged_at']}")
        elif r["steps_to_tol"] is not None:
            bits.append(f"**{r['optimizer']}** reached f − f* < {tol:g} in "
                        f"{r['steps_to_tol']} steps")
        elif r["final_gap"] is not None and math.isfinite(r["final_gap"]):
            bits.append(f"**{r['optimizer']}** ended at f − f* = {r['final_gap']:.2g}")
        else:
            bits.append(f"**{r['optimizer']}** ended at f = {r['final_f']:.3g}")
    return "; ".join(bits) + "."


scene = current_scene()
# Streamlit drops the state of widgets that were not drawn in the last run, so after a visit to
# another page the playground's widgets come back empty: seed them again from the scene. The
# same happens on a switch between the Playground's two page objects ("/" and its /playground
# twin, app.py): widget identities include the page, so the keys survive but their values fall
# back to each widget's default.
_page = st.session_state.get(PAGE_KEY)
if (not st.session_state.get("pg_seeded") or "pg_land" not in st.session_state
        or st.session_state.get("pg_page") != _page):
    _seed_widgets(scene)
st.session_state["pg_page"] = _page
if st.session_state.get("pg_t", 0) > st.session_state.get("pg_steps", 0):
    st.session_state["pg_t"] = st.session_state["pg_steps"]
elif st.session_state.get("pg_t") == st.session_state.get("pg_steps_shown"):
    # t was at the end of the runs: it stays there when the number of steps grows
    st.session_state["pg_t"] = st.session_state["pg_steps"]
st.session_state["pg_steps_shown"] = st.session_state["pg_steps"]

apply_lecture_css()
lecture = lecture_on()
scene, formula_error, widget_notices = controls(scene)
scene = scene.replace(lecture=lecture)
set_scene(scene)

if not lecture:   # lecture: the scene's caption and its charts are the first screen
    st.title("Playground — adaptive memory momentum in 2-D")
lecture_exit_button("pg_exit_lecture")
story_slot = lecture_scene_bar(lecture)
# lecture mode: the main picture (trajectories and β) comes right under the scene's caption
chart_box = st.container() if lecture else None
show_notices(widget_notices)
st.session_state[NOTICE_KEY] = []        # URL notices are shown once

land, err = try_landscape(scene)
if err or formula_error:
    st.error(f"The function can't be used: {err or formula_error}", icon="✏️")
    st.info("Fix the formula in the sidebar (the message says where the problem is); "
            "the charts come back as soon as it parses.")
    stop_page()
if not scene.runs:
    st.info("Choose at least one optimizer in the sidebar.")
    stop_page()

st.caption(f"**{land.title}** — {land.note}")
# every landscape's LaTeX already starts with "f(x, y) =" (the custom parser's too)
st.latex(land.latex if land.latex.lstrip().startswith("f(") else f"f(x, y) = {land.latex}")

# every chart and the summary are built once per scene and shared by every session showing it
# (with gradient noise: this session's own charts, noisy runs and the seeds' median and band)
charts = noisy_charts(scene) if scene.noise else None
src = shared_figures if charts is None else charts
rows, table = shared_figures.summary(scene) if charts is None else charts.summary()
if story_slot is not None:      # lecture mode: the story is the caption over the charts
    story_slot.markdown(story(rows, scene.tol))
else:
    st.markdown(story(rows, scene.tol))
if scene.noise:
    st.caption(f"Noisy gradients: every gradient is ∇f + σξ with σ = {scene.noise:g}, "
               f"ξ ~ N(0, I) (seed {scene.seed}, the same noise for every optimizer). The gap "
               f"chart adds each optimizer's median over {NOISE_SEEDS} seeds (dotted) and the "
               "band between the 10 % and 90 % quantiles.")
div = [r for r in rows if r["diverged_at"] is not None]
if div:
    st.warning("  \n".join(
        f"⚠ {r['optimizer']} diverged at step {r['diverged_at']} (its value or iterate left "
        f"every bound); it is marked ✕ where it left, the other runs go on." for r in div))

t = st.slider("step t (moves the markers on every chart and the point on each trajectory)",
              min_value=0, max_value=scene.steps, key="pg_t")
LECTURE_H = 490     # px: a 1280×720 projector shows these charts under the caption
with (chart_box if lecture else st.container()):
    # lecture: the paths' square plot needs less width than the β chart's legend
    left, right = st.columns([0.8, 1.2] if lecture else [1.15, 1], gap="medium")
with left:
    fig_traj = src.trajectory_chart(scene, t)
    if lecture:     # the β chart beside it carries the legend (same styles in both)
        fig_traj = _lecture_sized(fig_traj, height=LECTURE_H, showlegend=False,
                                  title={"text": land.title},
                                  margin={"t": int(26 * 1.3 + 24)})
    if scene.surface3d:
        st.plotly_chart(fig_traj, key="pg_contour3d", width="stretch")
    else:
        st.plotly_chart(fig_traj, key="pg_contour", width="stretch",
                        on_select=_on_pick_start, selection_mode="points")
with right:
    fig_gap = src.gap_chart(scene, t)
    fig_beta = src.beta_chart(scene, t)
    if lecture:     # β first, beside the paths; the gap chart under it
        st.plotly_chart(_lecture_sized(fig_beta, height=_lecture_height(fig_beta)),
                        key="pg_beta_fig",
                        width="stretch")
        st.plotly_chart(fig_gap, key="pg_gap_fig", width="stretch")
    else:
        st.plotly_chart(fig_gap, key="pg_gap_fig", width="stretch")
        st.plotly_chart(fig_beta, key="pg_beta_fig", width="stretch")

st.subheader("Summary")
if lecture:     # a plain table takes the lecture stylesheet's type size (the grid is a canvas)
    st.table(table, hide_index=True)
else:
    st.dataframe(table, hide_index=True, width="stretch")

c1, c2, c3 = st.columns(3)
c1.download_button("Trajectories (CSV)",
                   lambda: trajectories_frame(scene_runs(scene) if charts is None
                                              else charts.runs).to_csv(index=False),
                   file_name="adamem_trajectories.csv", mime="text/csv", key="pg_dl_csv",
                   on_click="ignore")
c2.download_button("Trajectory figure (standalone HTML)",
                   lambda: fig_traj.to_html(include_plotlyjs=True, full_html=True),
                   file_name="adamem_trajectories.html", mime="text/html", key="pg_dl_html",
                   on_click="ignore")
c3.caption("The URL holds the whole scene: copy it to reopen exactly this view.")
