"""Theory: the two-plane model by hand. Set the gradient, the memory, the gap, η, λ, β_max and
watch β respond (the sandbox, instant); the β map over (angle, ‖d‖/‖g‖); the named cases;
AM-SGD against Polyak's heavy ball on ½(x² + κy²).

Widgets and layout only: the numbers come from adamem_core.model (sandbox, map, Polyak), the
engine runs from adamem_core.theory, the validation and the cases from
adamem_core.theory_scene, the charts from adamem_core.figures.theory.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from adamem_core import model
from adamem_core.figures import theory as tf
from adamem_core.figures.style import latex_number, latex_vector
from adamem_core.method_doc import link
from adamem_core.theory import KAPPAS, classical_comparison, classical_summary
from adamem_core.theory_scene import (ANGLE_RANGE, BETA_MAX_RANGE, CASES, CL_RANGE, D_RANGE,
                                      G_RANGE, GAP_RANGE, LAM_RANGE, LR_RANGE, MAP_RATIO_MAX,
                                      TheoryScene, case_sandboxes, parse_query)
from ui.common import apply_lecture_css, lecture_exit_button, lecture_on

SCENE_KEY = "th_scene"
NOTICES_KEY = "th_notices"
ss = st.session_state


# ----------------------------------------------------------------------------- widget state
def _seed(sc: TheoryScene) -> None:
    ss["th_w_g"], ss["th_w_d"], ss["th_w_ang"] = sc.g_norm, sc.d_norm, sc.angle
    ss["th_w_gapmode"] = "taylor" if sc.gap is None else "exact"
    ss["th_w_gap"] = 0.1 if sc.gap is None else sc.gap
    ss["th_w_lr"], ss["th_w_lam"], ss["th_w_bmax"] = sc.lr, sc.lam, sc.beta_max
    ss["th_w_cl"] = sc.cl_scale
    ss["th_case_on"] = sc.case


def _widget_query() -> dict[str, str]:
    q = {"th_g": repr(ss["th_w_g"]), "th_d": repr(ss["th_w_d"]), "th_ang": repr(ss["th_w_ang"]),
         "th_gap": "taylor" if ss["th_w_gapmode"] == "taylor" else repr(ss["th_w_gap"]),
         "th_lr": repr(ss["th_w_lr"]), "th_lam": repr(ss["th_w_lam"]),
         "th_bmax": repr(ss["th_w_bmax"]), "th_cl": repr(ss["th_w_cl"])}
    if ss.get("th_case_on"):
        q["th_case"] = ss["th_case_on"]
    return q


def _pick_case(key: str) -> None:
    _seed(CASES[key].scene(ss[SCENE_KEY]).replace(cl_scale=ss[SCENE_KEY].cl_scale))


if SCENE_KEY not in ss:
    sc0, notes = parse_query(st.query_params.to_dict())
    ss[SCENE_KEY] = sc0
    ss[NOTICES_KEY] = notes
if "th_w_g" not in ss:           # first visit, or back from another page: widgets from the scene
    _seed(ss[SCENE_KEY])

apply_lecture_css()
lecture = lecture_on()

with st.sidebar:
    st.subheader("The sandbox")
    st.slider("‖g‖ (gradient length)", *G_RANGE, step=0.01, key="th_w_g")
    st.slider("‖d‖ (memory length)", *D_RANGE, step=0.01, key="th_w_d")
    st.slider("angle between g and d (degrees)", *ANGLE_RANGE, step=1.0, key="th_w_ang")
    st.radio("gap f̂ − f", ["taylor", "exact"], key="th_w_gapmode", horizontal=True,
             format_func=lambda v: "taylor: η⟨g, d⟩" if v == "taylor" else "exact: a number",
             help="The memory plane's height above the gradient plane at x_t.")
    if ss["th_w_gapmode"] == "exact":
        st.number_input("exact gap f̂ − f = f(x_{t−1}) − f(x_t)", *GAP_RANGE, step=0.01,
                        key="th_w_gap", format="%.4g")
    st.number_input("η (step size)", *LR_RANGE, step=0.01, key="th_w_lr", format="%.4g")
    st.slider("λ (model weight)", *LAM_RANGE, step=0.01, key="th_w_lam")
    st.slider("β_max (cap)", *BETA_MAX_RANGE, step=0.001, key="th_w_bmax")
    st.subheader("Against classical theory")
    st.slider("AM-SGD's η in units of 1/L (η·L)", *CL_RANGE, step=0.1, key="th_w_cl",
              help="η = (this)/κ on ½(x² + κy²), so every κ gets the same relative step.")

sc, wnotes = parse_query(_widget_query())
sc = sc.replace(lecture=lecture)
if ss.get("th_case_on") and not sc.case:      # a slider moved away from the case's values
    ss["th_case_on"] = ""
ss[SCENE_KEY] = sc
q = sc.to_query()
if st.query_params.to_dict() != q:
    st.query_params.from_dict(q)

st.title("Theory — the two-plane model by hand")
lecture_exit_button("th_exit_lecture")
notes = list(ss.get(NOTICES_KEY, [])) + wnotes
ss[NOTICES_KEY] = []
if notes:
    st.warning("**Some values were corrected:**\n\n" + "\n".join(f"- {n}" for n in notes),
               icon="⚠️")

sb, sb_taylor = case_sandboxes(sc)
bm_state = ("interior" if 0 < sb["unclipped"] < sc.beta_max else
            ("clipped at β_max" if sb["unclipped"] >= sc.beta_max and sb["denominator"] > 0
             else "zero"))
gap_txt = (f"the taylor gap η⟨g, d⟩ = {sb['gap']:.4g}" if sc.gap is None
           else f"an exact gap f̂ − f = {sb['gap']:.4g}")
st.markdown(
    f"**‖g‖ = {sc.g_norm:g}, ‖d‖ = {sc.d_norm:g} at {sc.angle:g}°**, {gap_txt}, η = {sc.lr:g}, "
    f"λ = {sc.lam:g}: the model chooses **β = {sb['beta']:.4f}** ({bm_state}); the effective "
    f"momentum is (β+λ)/(1+λ) = **{sb['effective_momentum']:.4f}**."
    + ("" if lecture else " The orange region is where the gradient plane is on top of the max, "
       "the purple one the memory plane; the step lands where the model is lowest."))

c1, c2 = st.columns(2, gap="medium")
surf = model.sandbox_surface(sb)
sl = model.sandbox_slice(sb)
fig_plane = tf.sandbox_plane_figure(sb, surf, lecture)
fig_slice = tf.sandbox_slice_figure(sl, sb, lecture)
if lecture:      # a 1280×720 projector shows both under the title and the caption
    fig_plane.update_layout(height=480)
    fig_slice.update_layout(height=480)
c1.plotly_chart(fig_plane, key="th_fig_plane", width="stretch")
c2.plotly_chart(fig_slice, key="th_fig_slice", width="stretch")
if lecture:
    st.caption("Orange: the gradient plane is on top of the max; purple: the memory plane. "
               "The step lands where the model is lowest.")

# ----------------------------------------------------------------------------- named cases
st.subheader("Named cases")
cols = st.columns(3) + st.columns(3)
for col, (key, case) in zip(cols, CASES.items()):
    col.button(case.label, key=f"th_case_{key}", on_click=_pick_case, args=(key,),
               width="stretch", type="primary" if sc.case == key else "secondary")
if sc.case:
    case = CASES[sc.case]
    checks = case.check(sb, sb_taylor)
    if all(ok for _, ok in checks):
        st.info(f"**{case.label}.** " + case.text(sb, sb_taylor), icon="💡")
    else:
        bad = ", ".join(d for d, ok in checks if not ok)
        st.error(f"The explanation of “{case.label}” does not hold for these numbers ({bad}).")
else:
    st.caption("Each button sets the sandbox to a textbook situation and explains what β does "
               "there (the explanation is checked against the numbers shown).")

# ----------------------------------------------------------------------------- closed form
d1, d2 = st.columns([2, 3], gap="medium")
d1.plotly_chart(tf.sandbox_dual_figure(sb, lecture), key="th_fig_dual", width="stretch")
with d2:
    st.markdown("**The closed form, with these numbers** — " + link("closed-form", "derivation"))
    st.latex(rf"g = {latex_vector(sb['g'])},\ d = {latex_vector(sb['d'])},\quad \|g\|^2 = {latex_number(sb['gg'])},\ "
             rf"\langle g, d\rangle = {latex_number(sb['gd'])},\ \|d\|^2 = {latex_number(sb['dd'])}")
    if sc.gap is None:
        st.latex(rf"\hat f - f = \eta\langle g, d\rangle = {latex_number(sb['gap'])}")
        st.latex(rf"\text{{numerator}} = \|g\|^2 + 2\lambda\langle g,d\rangle - \lambda\|d\|^2"
                 rf" = {latex_number(sb['numerator'])}")
    else:
        st.latex(rf"\hat f - f = {latex_number(sb['gap'])}")
        st.latex(rf"\text{{numerator}} = \frac{{(1+\lambda)(\hat f - f)}}{{\eta}} - "
                 rf"\langle d-g,\ g+\lambda d\rangle = {latex_number(sb['numerator'])}")
    st.latex(rf"\text{{denominator}} = \|d-g\|^2 = {latex_number(sb['denominator'])}")
    if sb["denominator"] > 0:
        st.latex(rf"\beta = \mathrm{{clip}}\Big(\frac{{{latex_number(sb['numerator'])}}}"
                 rf"{{{latex_number(sb['denominator'])}}} = {latex_number(sb['unclipped'])},\ 0,\ "
                 rf"{latex_number(sc.beta_max)}\Big) = {latex_number(sb['beta'])}")
    else:
        st.latex(r"d = g:\ \text{denominator} = 0,\ \beta = 0")
    a, b = sb["coefficients"]
    st.latex(rf"d_{{t+1}} = {latex_number(a)}\,d + {latex_number(b)}\,g = {latex_vector(sb['d_next'])}")
    st.latex(rf"u = -\eta\, d_{{t+1}} = {latex_vector(sb['u'])}")
    p1, p2 = sb["prox_at_step"]
    lg, lm = sb["planes_at_step"]
    st.latex(rf"\ell_g(u) = {latex_number(lg)},\quad \ell_m(u) = {latex_number(lm)}")
    st.latex(rf"\tfrac{{\|u\|^2}}{{2\eta}} = {latex_number(p1)},\quad \tfrac{{\lambda}}{{2\eta}}"
             rf"\|u+\eta d\|^2 = {latex_number(p2)}")
    st.latex(rf"m_t(x_t + u) = {latex_number(sb['model_at_step'])},\quad "
             rf"D(\beta) = {latex_number(sb['dual_at_beta'])}")
    st.caption("The dual's maximum equals the model's minimum (" + link("dual", "why") + "); "
               "with β clipped at β_max they differ by what the cap costs.")

# ----------------------------------------------------------------------------- the β map
st.subheader("The β map")
angles = np.linspace(0.0, 180.0, 181)
ratios = np.linspace(0.0, MAP_RATIO_MAX, 161)
gu = sc.gap_unit()
bm = model.beta_map(angles, ratios, sc.lam, sc.beta_max, gu)
bounds = {"angles": angles, "zero": model.beta_map_boundary(angles, sc.lam, 0.0, gu),
          "cap": model.beta_map_boundary(angles, sc.lam, sc.beta_max, gu)}
sub = (f"taylor gap, λ = {sc.lam:g}, β_max = {sc.beta_max:g}" if gu is None else
       f"exact gap = {gu:.3g}·η‖g‖², λ = {sc.lam:g}, β_max = {sc.beta_max:g}")
ratio = sc.d_norm / sc.g_norm
st.plotly_chart(tf.beta_map_figure(bm, bounds, (sc.angle, min(ratio, MAP_RATIO_MAX)), lecture,
                                   subtitle=sub), key="th_fig_map", width="stretch")
st.caption(
    "Each point is a memory d at that angle from g and that length relative to ‖g‖; the colour "
    "is the β the closed form picks. β depends only on these two numbers (and λ, β_max): η and "
    "the scale of g drop out with the taylor gap. The lines are where the unclipped value "
    "crosses 0 and β_max. " + link("beta-map", "How the boundaries are derived")
    + ("" if ratio <= MAP_RATIO_MAX else
       f" (The sandbox's ‖d‖/‖g‖ = {ratio:.3g} is off the map: marked at its top edge.)"))

# ----------------------------------------------------------------------------- classical theory
st.subheader("Against classical theory: Polyak's heavy ball on ½(x² + κy²)")


@st.cache_data(max_entries=16, show_spinner="Running AM-SGD for 13 condition numbers…")
def _classical(cl: float, lam: float, bmax: float):
    return classical_comparison(cl, lam, bmax)


rows = _classical(sc.cl_scale, sc.lam, sc.beta_max)
e1, e2 = st.columns(2, gap="medium")
e1.plotly_chart(tf.classical_momentum_figure(rows, sc.lam, sc.beta_max, sc.cl_scale, lecture),
                key="th_fig_cl_mom", width="stretch")
e2.plotly_chart(tf.classical_rate_figure(rows, sc.cl_scale, lecture), key="th_fig_cl_rate",
                width="stretch")

sent = classical_summary(rows, sc.lam, sc.beta_max, sc.cl_scale)
sent[0] += f" ({link('heavy-ball-form', 'why')})."
st.markdown(" ".join(sent))
st.caption(f"AM-SGD (λ = {sc.lam:g}, β_max = {sc.beta_max:g}, taylor gap) from (1, 1), "
           f"{len(KAPPAS)} values of κ from 1 to 10⁴; β and a are medians of the last 100 "
           "steps before f fell below 10⁻²⁴·f(x₀) (or of the last 100 of 2000), the measured "
           "rate the contraction of ‖x_t‖ over the same steps. Polyak's heavy ball uses its own "
           "optimal step 4/(√L+√μ)². " + link("classical", "The formulas"))
