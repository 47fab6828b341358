"""About: the method in LaTeX, how to read each figure, the reference."""

from __future__ import annotations

import streamlit as st

from ui.common import apply_lecture_css, lecture_exit_button

apply_lecture_css()
st.title("About AdaMem Lab")
lecture_exit_button("ab_exit_lecture")

st.markdown(
    "Plain momentum keeps its coefficient fixed (β = 0.9 forever). **Adaptive memory momentum** "
    "(Topollai & Choromanska) chooses β afresh at every step by minimising a small *model* of "
    "the loss built from two planes — one from the current gradient, one from the accumulated "
    "memory — and a proximal term. This app shows that choice on 2-D functions and small MLPs.")

st.header("The method")
st.markdown("At step *t*, with iterate $x_t$, gradient $g_t$, memory (direction) $d_t$, step "
            "size $\\eta$, model weight $\\lambda \\ge 0$ and $u = x - x_t$, two planes:")
st.latex(r"\ell_g(x) = f(x_t) + \langle g_t, u\rangle \qquad\text{(gradient plane)}")
st.latex(r"\ell_m(x) = \hat f_t + \langle d_t, u\rangle \qquad\text{(memory plane)}")
st.markdown("$\\hat f_t$ is the memory plane's height at $x_t$: $f(x_{t-1})$ (*exact* gap) or "
            "the first-order estimate $\\hat f_t - f(x_t) \\approx \\eta\\langle g_t, d_t\\rangle$ "
            "(*taylor* gap, the default, safe with mini-batches). The step minimises")
st.latex(r"m_t(x) = \max\{\ell_g(x), \ell_m(x)\} + \frac{\|u\|^2}{2\eta} + "
         r"\frac{\lambda}{2\eta}\|u + \eta d_t\|^2 .")
st.markdown("Writing the max as $(1-\\beta)\\ell_g + \\beta\\ell_m$ maximised over "
            "$\\beta\\in[0,1]$, the dual is a concave quadratic in β, maximised at")
st.latex(r"\beta_t = \mathrm{clip}\!\left(\frac{(1+\lambda)(\hat f_t - f(x_t))/\eta - "
         r"\langle d_t - g_t,\ g_t + \lambda d_t\rangle}{\|d_t - g_t\|^2},\ 0,\ "
         r"\beta_{\max}\right)")
st.markdown("(with the taylor gap the numerator is $\\|g\\|^2 + 2\\lambda\\langle g,d\\rangle - "
            "\\lambda\\|d\\|^2$), and then")
st.latex(r"d_{t+1} = \frac{(\beta_t + \lambda)\,d_t + (1-\beta_t)\,g_t}{1+\lambda}, \qquad "
         r"x_{t+1} = x_t - \eta\, d_{t+1}.")
st.markdown(
    "- $d_0 = g_0$: the first step is a gradient step; when $d_t = g_t$, $\\beta_t = 0$.\n"
    "- The effective momentum is $(\\beta_t + \\lambda)/(1+\\lambda)$. Defaults: "
    "$\\lambda = 0.1$, $\\beta_{\\max} = 0.9$.\n"
    "- A fixed β with $\\lambda = 0$ is exactly EMA heavy ball, $d \\leftarrow \\beta d + "
    "(1-\\beta) g$: the constant-β baselines run the same code, so each can also show the β the "
    "model *would* have chosen.\n"
    "- **AM-AdamW** uses AdamW's second moment: a diagonal preconditioner "
    "$P_t = (1-\\beta_{1\\max}\\prod_{i<t}\\beta_{1,i})(\\sqrt{\\hat v_t}+\\epsilon)$, the "
    "proximal term $\\|u\\|_P^2/2\\eta$, and "
    "$d_{t+1} = (I+\\lambda P)^{-1}[(1-\\beta)g + (\\lambda P + \\beta I)d]$, "
    "$x_{t+1} = (1-\\eta\\mu)x_t - \\eta P^{-1} d_{t+1}$. With a fixed β₁ and λ = 0 it is "
    "exactly AdamW.")

st.header("How to read the figures")
st.markdown(
    "- **Trajectories** (Playground, left): contour lines of f (log scale of f − f* where the "
    "minimum is known); each optimizer has one colour, line dash and marker in every chart. "
    "The black star is the start, white crosses are the minima, ✕ marks where a run diverged. "
    "Press ▶ to animate, or drag the step slider.\n"
    "- **f(x_t) − f\\*** (log scale): how far each run is from the minimum value at step t.\n"
    "- **β_t**: the β that AM chose at each step; constant-β baselines are flat lines. Turn on "
    "“show the β the model would choose” to see, for a baseline, what the model would have "
    "picked along that baseline's own path.\n"
    "- **Summary table**: steps until f − f* falls below the tolerance, the final gap, and the "
    "step at which a run diverged.\n"
    "- **Inside one step**: the surface near $x_t$ with both planes and the proximal model; a "
    "1-D slice along the step (s = 1 is $x_{t+1}$); the vectors $-\\eta g_t$, $-\\eta d_t$, "
    "$-\\eta d_{t+1}$; the dual $D(\\beta)$ whose maximiser is β_t, clipped at β_max; and the "
    "numbers of the closed form as the optimizer computed them.\n"
    "- **MLP lab**: the same comparison on small neural networks: loss, accuracy, β (one for "
    "AM-SGD, one per layer for AM-AdamW), decision boundaries.")

st.header("Use the optimizers in your own training")
st.code(
    "pip install -e .   # from this repository\n\n"
    "from adamem_core import AMSGD, AMAdamW\n"
    "opt = AMSGD(model.parameters(), lr=0.1)            # lam=0.1, beta_max=0.9\n"
    "opt = AMAdamW(model.parameters(), lr=1e-3)         # per-tensor β₁\n"
    "...\n"
    "loss.backward(); opt.step(); opt.last_stats['beta']",
    language="python")

st.header("Reference")
st.markdown(
    "V. Topollai and A. Choromanska, *Adaptive Memory Momentum via a Model-Based Framework for "
    "Deep Learning Optimization*, arXiv:2510.04988 (AISTATS 2026).\n\n"
    "The method as this project implements it — the derivation, both gaps, global and "
    "per-tensor β, AM-AdamW, the defaults and every choice made where the paper gives no "
    "detail — is written down in the repository's `docs/method.md`, readable here: "
    "[**The method, written down**](/method). The formulas are computed in "
    "`adamem_core/model.py`; the optimizers, the 2-D engine and every chart call that one "
    "module.")
