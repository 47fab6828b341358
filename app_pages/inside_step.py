"""Inside one step: the two planes that chose β_t, the model, the step, and the numbers.

Every number shown comes from the run's Trajectory and adamem_core.engine.step_geometry, i.e.
from the computation the optimizer performed; this page only lays them out.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from adamem_core import figures
from adamem_core.figures.style import latex_number, latex_vector
from adamem_core.engine import local_surface, step_geometry, step_slice
from ui.common import (apply_lecture_css, current_scene, lecture_exit_button, lecture_on,
                       scene_grid, scene_runs, set_scene, try_landscape)
from ui.common import stop_page  # instead of st.stop(): writes the run marker first


apply_lecture_css()
lecture = lecture_on()
scene = current_scene()
set_scene(scene)   # the URL holds the scene here too: a copied link reopens this step's run
st.title("Inside one step — the two planes behind β_t")
lecture_exit_button("is_exit_lecture")

land, err = try_landscape(scene)
if err:
    st.error(f"The playground's function can't be used: {err}", icon="✏️")
    stop_page()
trajs = scene_runs(scene)
candidates = [i for i, tr in enumerate(trajs) if tr.form in ("sgd", "adamw")]
if not candidates:
    st.info("This page needs an AM run or one of adamem_core's constant-β baselines "
            "(torch's own optimizers have no two-plane model). Add one on the Playground.")
    stop_page()

default_run = next((i for i in candidates if trajs[i].spec.entry.adaptive), candidates[0])
if st.session_state.get("is_run") not in candidates:
    st.session_state["is_run"] = default_run
c1, c2 = st.columns([1, 2])
c1.selectbox("run", candidates, key="is_run", format_func=lambda i: trajs[i].label)
tr = trajs[st.session_state["is_run"]]
last = tr.steps - 1 if tr.diverged_at is None else tr.diverged_at - 1
if last < 0:
    st.error(f"{tr.label} diverged at step {tr.diverged_at}: there is no step to inspect.")
    stop_page()
if "is_t" not in st.session_state:
    if scene.t < scene.steps:      # the playground's step slider was moved: follow it
        st.session_state["is_t"] = min(max(scene.t, 1), last)
    else:                          # otherwise open on an early step where β was not clipped
        r = tr.spec.resolved()
        cap = float(r.get("beta_max", r.get("betas", (0.9,))[0]))
        mb = tr.model_beta[1:last + 1]
        inner = np.flatnonzero((mb > 0) & (mb < cap))
        st.session_state["is_t"] = int(inner[0]) + 1 if inner.size else min(1, last)
notice = None
if st.session_state["is_t"] > last:
    notice = (f"{tr.label} " + (f"diverged at step {tr.diverged_at}" if tr.diverged_at is not None
                                else f"ran {tr.steps} steps")
              + f": showing step {last}, its last complete step.")
    st.session_state["is_t"] = last
c2.slider("step t", min_value=0, max_value=max(last, 1), key="is_t",
          disabled=last == 0)
if notice:
    st.info(notice)
t = min(int(st.session_state["is_t"]), last)

geom = step_geometry(tr, t)
surface = local_surface(land, tr, t)
sl = step_slice(land, tr, t)
grid = scene_grid(scene)

lam, lr = geom["lam"], geom["lr"]
st.markdown(
    f"**{tr.label}** at step **t = {t}**: x_t = ({geom['x'][0]:.4g}, {geom['x'][1]:.4g}), "
    f"f(x_t) = {geom['f']:.4g}. The gradient plane ℓ_g and the memory plane ℓ_m meet the "
    f"proximal model; β_t = **{geom['beta']:.4f}** "
    + ("(fixed — the model would have chosen "
       f"{geom['model_beta']:.4f})" if geom["fixed"] else "(the model's choice)") + ".")

fig_planes = figures.planes_figure(surface, geom, lecture=lecture)
fig_slice = figures.slice_figure(sl, geom, lecture=lecture)
if lecture:     # a 1280×720 projector: both main charts on the first screen, short titles
    b = f"β<sub>t</sub> = {geom['beta']:.3g}"
    fig_planes.update_layout(height=440, title_text=f"Planes and model: {b}")
    fig_slice.update_layout(height=440, title_text=f"Along the step: {b}")
    for ann in fig_slice.layout.annotations:     # a label at s = 1 reads leftwards, inside
        if ann.x == 1.0 and ann.xanchor == "left" and "minimiser" in (ann.text or ""):
            ann.update(xanchor="right", text="model's minimiser = ")
left, right = st.columns(2, gap="medium")
with left:
    st.plotly_chart(fig_planes, key="is_planes", width="stretch")
with right:
    st.plotly_chart(fig_slice, key="is_slice", width="stretch")
left2, right2 = st.columns(2, gap="medium")
with left2:
    st.plotly_chart(figures.vectors_figure(grid, geom, lecture=lecture), key="is_vectors",
                    width="stretch")
with right2:
    st.plotly_chart(figures.dual_figure(geom, lecture=lecture), key="is_dual",
                    width="stretch")

st.subheader("How β_t was computed")
N, D, u, b = geom["numerator"], geom["denominator"], geom["unclipped"], geom["model_beta"]
gap_txt = (r"f(x_{t-1}) - f(x_t)" if geom["exact_gap"] else
           (r"\eta\langle g_t, d_t\rangle" if geom["form"] == "sgd"
            else r"\eta\langle g_t, d_t\rangle_{P^{-1}}"))
st.latex(rf"\hat f_t - f(x_t) = {gap_txt} = {latex_number(geom['gap'])}")
if geom["form"] == "sgd":
    st.latex(rf"g_t = {latex_vector(geom['g'])},\quad d_t = {latex_vector(geom['d'])},\quad "
             rf"\|g_t\|^2 = {latex_number(geom['gg'])},\ \langle g_t, d_t\rangle = {latex_number(geom['gd'])},\ "
             rf"\|d_t\|^2 = {latex_number(geom['dd'])}")
    if geom["exact_gap"]:
        st.latex(rf"\text{{numerator}} = \frac{{(1+\lambda)(\hat f_t - f(x_t))}}{{\eta}} - "
                 rf"\langle d_t - g_t,\ g_t + \lambda d_t\rangle = {latex_number(N)}"
                 rf"\qquad (\lambda = {latex_number(lam)},\ \eta = {latex_number(lr)})")
    else:
        st.latex(rf"\text{{numerator}} = \|g_t\|^2 + 2\lambda\langle g_t, d_t\rangle - "
                 rf"\lambda\|d_t\|^2 = {latex_number(N)}\qquad (\lambda = {latex_number(lam)})")
    st.latex(rf"\text{{denominator}} = \|d_t - g_t\|^2 = {latex_number(D)}")
else:
    st.latex(rf"P_t = {latex_vector(geom['P'])},\quad W = P^{{-1}}(I + \lambda P)^{{-1}},\quad "
             rf"\mu = {latex_number(geom['wd'])}")
    st.latex(rf"\text{{numerator}} = \frac{{\hat f_t - f(x_t)}}{{\eta}} - "
             rf"\mu\langle d_t - g_t, x_t\rangle - \langle d_t - g_t,\ g_t + \lambda P d_t"
             rf"\rangle_W = {latex_number(N)}")
    st.latex(rf"\text{{denominator}} = \|d_t - g_t\|_W^2 = {latex_number(D)}")
if D > 0:
    clip_txt = ("inside the interval, kept" if 0 <= u <= geom["beta_max"] else
                ("below 0, clipped to 0" if u < 0 else "above β_max, clipped to β_max"))
    st.latex(rf"\beta^{{\star}} = \frac{{{latex_number(N)}}}{{{latex_number(D)}}} = {latex_number(u)}\ \Rightarrow\ "
             rf"\beta_t^{{\mathrm{{model}}}} = \mathrm{{clip}}({latex_number(u)},\ 0,\ {latex_number(geom['beta_max'])})"
             rf" = {latex_number(b)}")
    st.caption(f"The unclipped maximiser of the dual is {u:.4g}: {clip_txt}.")
else:
    st.latex(r"d_t = g_t\ \Rightarrow\ \text{denominator} = 0,\ \beta_t = 0"
             r"\ \text{(the memory equals the gradient; the direction does not change)}")
if geom["fixed"]:
    st.latex(rf"\beta_t^{{\mathrm{{used}}}} = {latex_number(geom['beta'])}\ \text{{(constant)}}")
if geom["form"] == "sgd":
    st.latex(rf"\text{{effective momentum}}\ \frac{{\beta_t + \lambda}}{{1 + \lambda}} = "
             rf"{latex_number(geom['effective_momentum'])},\qquad d_{{t+1}} = "
             rf"\frac{{(\beta_t+\lambda)\,d_t + (1-\beta_t)\,g_t}}{{1+\lambda}} = "
             rf"{latex_vector(geom['d_next'])}")
    step_txt = (r"x_t - \eta\,[a\,d_{t+1} + (1-a)\,g_t]" if geom["nesterov"]
                else r"x_t - \eta\, d_{t+1}")
    st.latex(rf"x_{{t+1}} = {step_txt} = {latex_vector(geom['x_next'])},\qquad "
             rf"f(x_{{t+1}}) = {latex_number(geom['f_next'])}")
else:
    st.latex(rf"\text{{effective momentum (mean over coordinates)}} = "
             rf"{latex_number(geom['effective_momentum'])},\qquad d_{{t+1}} = {latex_vector(geom['d_next'])}")
    st.latex(rf"x_{{t+1}} = (1-\eta\mu)x_t - \eta P^{{-1}} d_{{t+1}} = {latex_vector(geom['x_next'])},"
             rf"\qquad f(x_{{t+1}}) = {latex_number(geom['f_next'])}")
