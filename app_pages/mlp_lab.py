"""MLP lab: the same optimizers train one small network on a toy dataset, side by side.

Widgets and layout only: the datasets, the limits and the training come from
adamem_core.mlp, the validation from adamem_core.mlp_scene, the charts from
adamem_core.figures.mlp. State: the scene (validated controls) and the last results live in
st.session_state (per user); a training runs only when Train is pressed.

Stop: a click on any widget while the script runs makes Streamlit interrupt it (a
RerunException raised from the next st call, i.e. inside the training's progress callback).
The callback keeps the latest partial records in st.session_state, so the next run shows them
with a "stopped at step N" notice.
"""

from __future__ import annotations

import math
import time

import streamlit as st
import torch

from adamem_core.figures import mlp as mf
from adamem_core.figures.sweep import fair_comparison_figure, robustness_map
from adamem_core.mlp import (ACTIVATIONS, DATASETS, LIMITS, SWEEP_LIMITS, calibrate,
                             clamp_config, clamp_sweep, make_dataset, pick_device,
                             runs_to_dataframe, sweep, sweep_table, train)
from adamem_core.mlp_scene import (BATCH_CHOICES, DEVICES, LR_CHOICES, MAX_RUNS,
                                   MAX_SWEEP_RUNS, MODES, PRESET_TOKENS, SEED_RANGE,
                                   STEPS_RANGE, SWEEP_NLR_RANGE, SWEEP_SEEDS_RANGE,
                                   SWEEP_VALUES, WIDTH_CHOICES, MLPScene, parse_query,
                                   token_label)
from adamem_core.sweep import best_per_row, cells, stable_windows
from adamem_core.scene import BETA_MAX_RANGE, LAM_RANGE
from ui.admission import admitted
from ui.common import apply_lecture_css, lecture_exit_button, lecture_on

SCENE_KEY = "ml_scene"            # the validated scene (MLPScene)
URL_NOTICES_KEY = "ml_url_notices"
RESULT_KEY = "ml_result"          # the last training's results (dict)
LIVE_KEY = "ml_live"              # a training in progress (its latest partial records)
SWEEP_KEY = "ml_sweep_result"     # the last sweep's results (dict)
SWEEP_LIVE_KEY = "ml_sweep_live"  # a sweep in progress (its latest partial records)
MODE_LABELS = {"compare": "Compare optimizers", "sweep": "Learning-rate sweep"}
GRID = 50                         # decision-boundary grid (points per axis)
FRAMES = 40                       # about this many boundary snapshots
DEVICE_LABELS = {"auto": "auto (CUDA when available)", "cpu": "cpu", "cuda": "cuda (GPU)"}


@st.cache_data(max_entries=16, show_spinner=False)
def dataset_for(name: str, n: int, noise: float, seed: int, n_classes: int | None):
    return make_dataset(name, n=n, noise=noise, seed=seed, n_classes=n_classes)


def scene_dataset(sc: MLPScene):
    kw = sc.dataset_kwargs()
    return dataset_for(kw["name"], kw["n"], kw["noise"], kw["seed"], kw.get("n_classes"))


@st.cache_data(max_entries=32, ttl=120, show_spinner=False)
def _step_timing(ds_key: tuple, hidden: tuple, activation: str, spec_key: tuple, _specs: tuple,
                 batch: int | None, device: str, grid: int | None, lrs: tuple | None,
                 seeds: tuple):
    ds = dataset_for(*ds_key)
    return calibrate(ds, hidden, activation, list(_specs), batch, device, seeds, grid,
                     lrs=None if lrs is None else list(lrs))


def step_timing(ds_key: tuple, hidden: tuple, activation: str, specs: tuple, batch: int | None,
                device: str, grid: int | None, lrs: tuple | None = None,
                seeds: tuple = (0,)):
    """A few real steps of this configuration timed on this server (the limits extrapolate
    them); cached for two minutes per configuration, so that load changes are seen again."""
    return _step_timing(ds_key, tuple(hidden), activation, tuple(repr(s) for s in specs),
                        tuple(specs), batch, device, grid, lrs, tuple(seeds))


def _ds_key(sc: MLPScene) -> tuple:
    kw = sc.dataset_kwargs()
    return (kw["name"], kw["n"], kw["noise"], kw["seed"], kw.get("n_classes"))


def _options(choices, current) -> list:
    """A fixed list of choices, plus the current value if a link brought another one."""
    return sorted(set(choices) | {current})


# ----------------------------------------------------------------------------- widget state
def _seed_widgets(sc: MLPScene) -> None:
    ss = st.session_state
    ss["ml_ds"] = sc.dataset
    ss["ml_n"] = int(sc.n)
    ss["ml_noise"] = float(sc.noise)
    ss["ml_k"] = int(sc.n_classes)
    ss["ml_layers"] = len(sc.hidden)
    for i in range(LIMITS.max_hidden_layers):
        ss[f"ml_w{i + 1}"] = int(sc.hidden[min(i, len(sc.hidden) - 1)])
    ss["ml_act"] = sc.activation
    ss["ml_runs"] = [r.token() for r in sc.runs]
    ss["ml_lrs"] = float(sc.lr_sgd)
    ss["ml_lra"] = float(sc.lr_adamw)
    ss["ml_lam"] = float(sc.lam)
    ss["ml_bmax"] = float(sc.beta_max)
    ss["ml_batch"] = int(sc.batch)
    ss["ml_steps"] = int(sc.steps)
    ss["ml_seed"] = int(sc.seed)
    ss["ml_dev"] = sc.device
    ss["ml_mbeta"] = bool(sc.model_beta)
    _seed_mode_widgets(sc, force=True)


def _seed_mode_widgets(sc: MLPScene, force: bool = False) -> None:
    """The widgets of one mode are not drawn in the other, and Streamlit then forgets their
    state: give them back the scene's values when they reappear."""
    ss = st.session_state
    vals = {"ml_mode": sc.mode, "ml_runs": [r.token() for r in sc.runs],
            "ml_lrs": float(sc.lr_sgd), "ml_lra": float(sc.lr_adamw),
            "ml_mbeta": bool(sc.model_beta),
            "ml_sopt": [r.token() for r in sc.sweep_runs], "ml_slo": float(sc.sweep_lr_lo),
            "ml_shi": float(sc.sweep_lr_hi), "ml_snlr": int(sc.sweep_n_lrs),
            "ml_sseeds": int(sc.sweep_seeds), "ml_sval": sc.sweep_value}
    for k, v in vals.items():
        if force or k not in ss:
            ss[k] = v


def _on_dataset_change() -> None:
    """A new dataset starts from its own default size and noise."""
    ss = st.session_state
    info = DATASETS[ss["ml_ds"]]
    ss["ml_n"] = int(info.params["n"].default)
    ss["ml_noise"] = float(info.params["noise"].default)
    if "n_classes" in info.params:
        ss["ml_k"] = int(info.params["n_classes"].default)


def _widget_query() -> dict[str, str]:
    """The widgets' values as a query, so that they pass the same validation as a link."""
    ss = st.session_state
    layers = int(ss.get("ml_layers", 2))
    q = {"m_ds": ss["ml_ds"], "m_n": str(ss["ml_n"]), "m_noise": repr(float(ss["ml_noise"])),
         "m_k": str(ss.get("ml_k", 3)),
         "m_hidden": ",".join(str(ss.get(f"ml_w{i + 1}", 32)) for i in range(layers)),
         "m_act": ss["ml_act"], "m_opt": ",".join(ss.get("ml_runs", [])),
         "m_lrs": repr(float(ss["ml_lrs"])), "m_lra": repr(float(ss["ml_lra"])),
         "m_lam": repr(float(ss["ml_lam"])), "m_bmax": repr(float(ss["ml_bmax"])),
         "m_batch": "full" if int(ss["ml_batch"]) == 0 else str(ss["ml_batch"]),
         "m_steps": str(ss["ml_steps"]), "m_seed": str(ss["ml_seed"]), "m_dev": ss["ml_dev"],
         "m_mbeta": "1" if ss.get("ml_mbeta") else "", "m_mode": ss["ml_mode"],
         "m_sopt": ",".join(ss.get("ml_sopt", [])), "m_slo": repr(float(ss["ml_slo"])),
         "m_shi": repr(float(ss["ml_shi"])), "m_snlr": str(ss["ml_snlr"]),
         "m_sseeds": str(ss["ml_sseeds"]), "m_sval": ss["ml_sval"]}
    return q


def controls() -> tuple[MLPScene, list[str]]:
    ss = st.session_state
    with st.sidebar:
        if "ml_mode" not in ss:
            ss["ml_mode"] = ss[SCENE_KEY].mode
        st.radio("Mode", list(MODES), key="ml_mode", format_func=MODE_LABELS.get,
                 horizontal=True)
        st.header("Data")
        st.selectbox("Dataset", list(DATASETS), key="ml_ds", on_change=_on_dataset_change,
                     format_func=lambda k: DATASETS[k].label)
        info = DATASETS[ss["ml_ds"]]
        st.caption(info.description)
        pn, pz = info.params["n"], info.params["noise"]
        st.slider("samples (train + test)", int(pn.lo), int(pn.hi), step=int(pn.step),
                  key="ml_n", help=pn.help)
        st.slider(pz.label, float(pz.lo), float(pz.hi), step=float(pz.step), key="ml_noise",
                  help=pz.help)
        if "n_classes" in info.params:
            pk = info.params["n_classes"]
            st.slider("classes", int(pk.lo), int(pk.hi), key="ml_k", help=pk.help)

        st.header("Network")
        st.slider("hidden layers", 1, LIMITS.max_hidden_layers, key="ml_layers")
        for i in range(int(ss["ml_layers"])):
            k = f"ml_w{i + 1}"
            if k not in ss:
                ss[k] = 32
            st.select_slider(f"width of hidden layer {i + 1}",
                             options=_options(WIDTH_CHOICES, int(ss[k])), key=k)
        st.selectbox("activation", list(ACTIVATIONS), key="ml_act")

        fmt = lambda v: f"{v:g}"  # noqa: E731
        _seed_mode_widgets(ss[SCENE_KEY])
        st.header("Optimizers")
        if ss["ml_mode"] == "sweep":
            options = list(dict.fromkeys(list(PRESET_TOKENS) + list(ss.get("ml_sopt", []))))
            st.multiselect("Sweep", options, key="ml_sopt", format_func=token_label,
                           max_selections=MAX_SWEEP_RUNS,
                           help="Every optimizer is trained at every learning rate of the "
                                "grid, from every seed: one cell of the map per (optimizer, "
                                "η), the median over the seeds.")
            st.select_slider("smallest η", options=_options(LR_CHOICES, float(ss["ml_slo"])),
                             key="ml_slo", format_func=fmt)
            st.select_slider("largest η", options=_options(LR_CHOICES, float(ss["ml_shi"])),
                             key="ml_shi", format_func=fmt)
            st.slider("learning rates (log-spaced)", *SWEEP_NLR_RANGE, key="ml_snlr")
            st.slider("seeds per cell (initial weights, batches)", *SWEEP_SEEDS_RANGE,
                      key="ml_sseeds")
            st.radio("the map shows", list(SWEEP_VALUES), key="ml_sval",
                     format_func=SWEEP_VALUES.get, horizontal=True)
        else:
            options = list(dict.fromkeys(list(PRESET_TOKENS) + list(ss.get("ml_runs", []))))
            st.multiselect("Compare", options, key="ml_runs", format_func=token_label,
                           max_selections=MAX_RUNS,
                           help="AM-SGD / AM-AdamW choose β at every step; the others keep "
                                "it fixed. Every optimizer starts from the same initial "
                                "weights and sees the same mini-batches.")
            st.select_slider("η — SGD family (AM-SGD, SGD, EMA, Nesterov, torch SGD)",
                             options=_options(LR_CHOICES, float(ss["ml_lrs"])), key="ml_lrs",
                             format_func=fmt)
            st.select_slider("η — AdamW family (AM-AdamW, AdamW, torch AdamW)",
                             options=_options(LR_CHOICES, float(ss["ml_lra"])), key="ml_lra",
                             format_func=fmt)
        st.number_input("λ (model weight, AM runs)", min_value=LAM_RANGE[0],
                        max_value=LAM_RANGE[1], key="ml_lam", step=0.05, format="%g")
        st.slider("β_max (cap of the adaptive β)", min_value=BETA_MAX_RANGE[0],
                  max_value=BETA_MAX_RANGE[1], key="ml_bmax", step=0.001, format="%.3f")

        st.header("Training")
        st.select_slider("batch size", options=[0] + _options(BATCH_CHOICES,
                                                               int(ss["ml_batch"]) or 16),
                         key="ml_batch",
                         format_func=lambda b: "full batch" if b == 0 else str(b))
        st.number_input("steps", min_value=STEPS_RANGE[0], max_value=STEPS_RANGE[1],
                        step=50, key="ml_steps",
                        help="Reduced on the server if one training would take more than "
                             f"{LIMITS.time_budget_s:g} s.")
        st.number_input("seed (data, initial weights, batches)", min_value=SEED_RANGE[0],
                        max_value=SEED_RANGE[1], step=1, key="ml_seed")
        st.selectbox("device", list(DEVICES), key="ml_dev", format_func=DEVICE_LABELS.get)
        if ss["ml_mode"] != "sweep":
            st.header("Display")
            st.toggle("show the β the model would choose for the baselines", key="ml_mbeta")
    return parse_query(_widget_query())


# ----------------------------------------------------------------------------- training
def _training_summary(sc: MLPScene, ds, cfg, device: str) -> str:
    arch = " → ".join(str(w) for w in (ds.n_features, *cfg.hidden, ds.n_classes))
    batch = "full batch" if cfg.batch_size is None else f"mini-batches of {cfg.batch_size}"
    return (f"**{DATASETS[ds.name].label}**: {ds.n_train} training / {ds.n_test} test points · "
            f"network {arch} ({sc.activation}) · {len(cfg.specs)} optimizers × {cfg.steps} "
            f"steps, {batch} · device **{device}** · estimated ≤ {cfg.estimated_seconds:.1f} s")


def run_training(sc: MLPScene, ds, cfg, device: str, device_used: str,
                 notices: list[str], timing=None) -> None:
    """Train with a progress bar and live curves; store the results; rerun to show them."""
    ss = st.session_state
    T = cfg.steps
    prog = st.progress(0.0, text=f"Training … step 0 / {T}")
    ph_curves = st.empty()
    ph_beta = st.empty()
    lecture = lecture_on()
    live = {"scene": sc, "dataset": ds, "device": device_used, "notices": list(notices),
            "runs": None, "step": 0, "planned": T, "started": time.perf_counter()}
    ss[LIVE_KEY] = live
    draw = {"at": 0.0, "cost": 0.0}

    def callback(step: int, runs) -> None:
        live["runs"], live["step"] = runs, step
        prog.progress(min(step / T, 1.0), text=f"Training … step {step} / {T} "
                                                "(press Stop to keep what is done)")
        now = time.perf_counter()
        # redraw at most every 0.5 s, and spend at most about a fifth of the time drawing
        if step < T and now - draw["at"] < max(0.5, 4.0 * draw["cost"]):
            return
        ph_curves.plotly_chart(mf.curves_figure(runs, lecture, T, ds.n_classes),
                               width="stretch")
        if mf.global_beta_runs(runs):
            ph_beta.plotly_chart(mf.beta_figure(runs, lecture, T, width=1200), width="stretch")
        draw["at"] = time.perf_counter()
        draw["cost"] = draw["at"] - now

    try:
        with admitted("MLP training", key="m_adm"):   # at most N trainings per server
            runs = train(ds, cfg.hidden, sc.activation, list(cfg.specs), cfg.steps,
                         cfg.batch_size, seed=sc.seed, device=device,
                         boundary_every=cfg.boundary_every, grid=GRID, callback=callback,
                         callback_every=max(10, math.ceil(T / 40)), timing=timing)
    except (ValueError, RuntimeError) as e:   # a refused value, CUDA out of memory, …
        ss.pop(LIVE_KEY, None)
        prog.empty()
        st.error(f"The training could not run: {e}", icon="🛑")
        return
    ss[RESULT_KEY] = {"scene": sc, "dataset": ds, "device": device_used,
                      "notices": list(notices),
                      "runs": runs, "stopped": runs[0].stopped_early, "step": runs[0].steps,
                      "planned": T, "wall": time.perf_counter() - live["started"]}
    ss.pop(LIVE_KEY, None)
    st.rerun()


def _adopt_interrupted() -> str | None:
    """A training interrupted by a click (Stop, or any widget): keep its partial results."""
    ss = st.session_state
    live = ss.pop(LIVE_KEY, None)
    if live is None:
        return None
    if live["runs"] is None:
        return "The training was stopped before its first results."
    finished = all(r.finished for r in live["runs"])
    ss[RESULT_KEY] = {**live, "stopped": not finished,
                      "wall": time.perf_counter() - live["started"]}
    if finished:
        return None
    return (f"Training stopped at step {live['step']} of {live['planned']}: the results below "
            "are partial (what was done until then).")


_SHARED = ("dataset", "n", "noise", "n_classes", "hidden", "activation", "lam", "beta_max",
           "batch", "steps", "seed", "device")


def _training_key(sc: MLPScene) -> tuple:
    return tuple(getattr(sc, f) for f in _SHARED + ("runs", "lr_sgd", "lr_adamw"))


def _sweep_key(sc: MLPScene) -> tuple:
    return tuple(getattr(sc, f) for f in _SHARED + ("sweep_runs", "sweep_lr_lo", "sweep_lr_hi",
                                                    "sweep_n_lrs", "sweep_seeds"))


# ----------------------------------------------------------------------------- sweep
def _sweep_summary(ds, cfg, device: str) -> str:
    arch = " → ".join(str(w) for w in (ds.n_features, *cfg.hidden, ds.n_classes))
    batch = "full batch" if cfg.batch_size is None else f"mini-batches of {cfg.batch_size}"
    lrs = ", ".join(f"{v:g}" for v in cfg.lrs)
    return (f"**{DATASETS[ds.name].label}**: {ds.n_train} training / {ds.n_test} test points · "
            f"network {arch} · **{cfg.n_runs} networks** = {len(cfg.specs)} optimizers × "
            f"{len(cfg.lrs)} learning rates (η = {lrs}) × {len(cfg.seeds)} seeds, "
            f"{cfg.steps} steps each, {batch}, trained as one batched program · device "
            f"**{device}** · estimated {cfg.estimated_seconds:.1f} s (measured on this server; "
            f"stopped at {SWEEP_LIMITS.time_budget_s:g} s)")


def run_sweep(sc: MLPScene, ds, cfg, device: str, device_used: str, notices: list[str],
              timing=None) -> None:
    """Run the sweep with a progress bar; store the results; rerun to show them. (One
    function, so that an admission queue can wrap it.)"""
    ss = st.session_state
    T = cfg.steps
    prog = st.progress(0.0, text=f"Sweep … step 0 / {T} of {cfg.n_runs} networks")
    live = {"scene": sc, "dataset": ds, "device": device_used, "notices": list(notices),
            "runs": None, "step": 0, "planned": T, "started": time.perf_counter(),
            "config": cfg}
    ss[SWEEP_LIVE_KEY] = live

    def callback(step: int, runs) -> None:
        live["runs"], live["step"] = runs, step
        prog.progress(min(step / T, 1.0), text=f"Sweep … step {step} / {T} of {cfg.n_runs} "
                                                "networks (press Stop to keep what is done)")

    try:
        with admitted("sweep", key="m_sadm"):   # a sweep takes a training slot too
            res = sweep(ds, cfg.hidden, sc.activation, list(cfg.specs), list(cfg.lrs),
                        list(cfg.seeds), T, cfg.batch_size, device=device, callback=callback,
                        callback_every=max(5, math.ceil(T / 40)), timing=timing)
    except (ValueError, RuntimeError) as e:   # a refused value, CUDA out of memory, …
        ss.pop(SWEEP_LIVE_KEY, None)
        prog.empty()
        st.error(f"The sweep could not run: {e}", icon="🛑")
        return
    ss[SWEEP_KEY] = {"scene": sc, "dataset": ds, "device": device_used, "config": cfg,
                     "table": res.table, "notices": list(notices) + list(res.notices),
                     "stopped": res.stopped_early, "step": res.runs[0].steps, "planned": T,
                     "time_limited": res.runs[0].time_limited,
                     "wall": time.perf_counter() - live["started"]}
    ss.pop(SWEEP_LIVE_KEY, None)
    st.rerun()


def _adopt_interrupted_sweep() -> str | None:
    """A sweep interrupted by a click (Stop, or any widget): keep what it measured."""
    ss = st.session_state
    live = ss.pop(SWEEP_LIVE_KEY, None)
    if live is None:
        return None
    if live["runs"] is None:
        return "The sweep was stopped before its first results."
    ss[SWEEP_KEY] = {**{k: live[k] for k in ("scene", "dataset", "device", "config", "notices",
                                             "step", "planned")},
                     "table": sweep_table(live["runs"]), "stopped": True,
                     "time_limited": False, "wall": time.perf_counter() - live["started"]}
    return (f"Sweep stopped at step {live['step']} of {live['planned']}: the map below shows "
            "each network's last measured values (partial).")


def show_sweep(res: dict, scene: MLPScene, lecture: bool) -> None:
    table, ds, rsc, cfg = res["table"], res["dataset"], res["scene"], res["config"]
    if _sweep_key(rsc) != _sweep_key(scene):
        st.info("These are the results of the last sweep; the controls have changed since — "
                "press **Run sweep** to run it with them.", icon="ℹ️")
    state = "stopped" if res["stopped"] else "done"
    st.caption(f"Last sweep: {DATASETS[ds.name].label}, {len(table)} networks, {state} after "
               f"{res['step']} of {res['planned']} steps on **{res['device']}** in "
               f"{res['wall']:.1f} s.")
    if res.get("time_limited"):
        st.warning(f"⏱ The sweep reached the server's time limit of "
                   f"{SWEEP_LIMITS.time_budget_s:g} s and stopped after {res['step']} of "
                   f"{res['planned']} steps: the map shows the networks at that step (partial)."
                   " Fewer learning rates, seeds or steps fit in the limit.", icon="⏱️")
    key = scene.sweep_value
    acc = key == "acc"
    value = "final_test_acc" if acc else "final_loss"
    vtitle = "final test accuracy" if acc else "final training loss"
    seeds = len(cfg.seeds)
    st.plotly_chart(robustness_map(
        table, value=value, value_title=vtitle, log=not acc, lower_is_better=not acc,
        never_label="no result", diverged_label="diverged",
        title=f"{vtitle.capitalize()} after {res['step']} steps — median over {seeds} "
              f"seed{'s' if seeds > 1 else ''} per cell", lecture=lecture,
        value_format=".3f" if acc else ".3g"), key="ml_fig_sweep_map", width="stretch")
    st.caption("Each row is an optimizer, each column a learning rate η (log scale); the colour "
               f"is the {vtitle} (its scale on the right), ✕ marks cells where most seeds "
               "diverged, the white star each row's best η. Adaptive β (top rows) against "
               "constant β (below): does adaptive β widen the range of η that trains?")
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        st.plotly_chart(fair_comparison_figure(
            table, value=value, value_title=vtitle, lower_is_better=not acc, log=not acc,
            lecture=lecture, title="Each optimizer at its own best η"),
            key="ml_fig_sweep_fair", width="stretch")
    with c2:
        ct = cells(table, value, lower_is_better=not acc)
        best = best_per_row(ct, lower_is_better=not acc)
        win = stable_windows(ct, lower_is_better=not acc)
        rows = []
        for r in best.index:
            b = best.loc[r]
            w = win.loc[r] if r in win.index else None
            rows.append({"Optimizer": r,
                         "best η": "—" if b["lr"] != b["lr"] else f"{b['lr']:g}",
                         vtitle: "—" if b["value"] != b["value"] else
                         (f"{b['value']:.3f}" if acc else f"{b['value']:.3g}"),
                         "η range that trains": "—" if w is None or w["decades"] !=
                         w["decades"] else f"{w['lo']:g}–{w['hi']:g} ({w['decades']:.1f})"})
        import pandas as pd
        frame = pd.DataFrame(rows)
        if lecture:
            st.table(frame, hide_index=True)
        else:
            st.dataframe(frame, hide_index=True, width="stretch")
        st.download_button("Sweep table (CSV, one row per network)",
                           lambda: table.to_csv(index=False),
                           file_name=f"adamem_mlp_sweep_{ds.name}.csv", mime="text/csv",
                           key="ml_dl_sweep", on_click="ignore")


# ----------------------------------------------------------------------------- results
def show_results(res: dict, scene: MLPScene, lecture: bool) -> None:
    ss = st.session_state
    runs, ds, rsc = res["runs"], res["dataset"], res["scene"]
    T = res["planned"]
    if _training_key(rsc) != _training_key(scene):
        st.info("These are the results of the last training; the controls have changed since "
                "— press **Train** to train with them.", icon="ℹ️")
    state = "stopped" if res["stopped"] else "trained"
    st.caption(f"Last training: {DATASETS[ds.name].label}, {len(runs)} optimizers, {state} "
               f"after {runs[0].steps} of {T} steps on **{res['device']}** in "
               f"{res['wall']:.1f} s.")
    if runs[0].time_limited:
        st.warning(f"⏱ The training reached the server's time limit of "
                   f"{runs[0].meta.get('time_limit_s') or LIMITS.time_budget_s:g} s and stopped "
                   f"after {runs[0].steps} of {T} steps: the results below are partial (the "
                   "model at that step). Fewer steps, a smaller network or fewer optimizers "
                   "fit in the limit.", icon="⏱️")
    st.markdown(mf.story_text(runs))
    div = [r for r in runs if r.diverged_at is not None]
    if div:
        st.warning("  \n".join(f"⚠ {r.label} diverged at step {r.diverged_at} (its loss became "
                               "non-finite or huge); it stopped there, the other runs went on."
                               for r in div))
    st.plotly_chart(mf.curves_figure(runs, lecture, T, ds.n_classes), key="ml_fig_curves",
                    width="stretch")

    st.subheader("Momentum β")
    glob, tens = mf.global_beta_runs(runs), mf.tensor_beta_runs(runs)
    c1, c2 = st.columns(2, gap="medium")
    with c1:
        if glob:
            st.plotly_chart(mf.beta_figure(runs, lecture, T,
                                           show_model_beta=scene.model_beta),
                            key="ml_fig_beta", width="stretch")
            st.caption("AM-SGD chooses one β for the whole network at every step (capped at "
                       f"β_max = {rsc.beta_max:g}); the constant-β baselines are the flat lines.")
        else:
            st.info("Add AM-SGD or a constant-β SGD baseline to see the global β.")
    with c2:
        if tens:
            for i in tens:
                st.plotly_chart(mf.beta_heatmap_figure(runs[i], lecture, beta_max=rsc.beta_max,
                                                       planned_steps=T),
                                key=f"ml_fig_bheat_{i}", width="stretch")
            st.caption("AM-AdamW chooses β₁ per weight/bias tensor (W: weights, b: biases); "
                       "dark = little memory, yellow = much.")
        else:
            st.info("Add AM-AdamW to see its β per layer.")

    if ds.is_2d:
        st.subheader("Decision boundaries")
        if any(r.boundaries for r in runs):
            st.plotly_chart(mf.boundary_figure(ds, runs, lecture, max_frames=FRAMES),
                            key="ml_fig_boundary", width="stretch")
            st.caption("Colour: the network's prediction on the plane (same scale in every "
                       "panel); markers: the training points by class. Press ▶ Play or drag "
                       "the slider to watch the boundaries form during training.")
        else:
            st.info("No boundary snapshot yet (the training was stopped very early).")
    else:
        st.subheader("Test set: confusion matrix and mistakes")
        done = [i for i, r in enumerate(runs) if r.confusion is not None]
        if not done:
            st.info("The confusion matrix needs a finished run (this training was stopped or "
                    "every run diverged).")
        else:
            if ss.get("ml_cm_run") not in done:
                ss["ml_cm_run"] = next((i for i in done if runs[i].spec.entry.adaptive),
                                       done[0])
            st.radio("run", done, key="ml_cm_run", horizontal=True,
                     format_func=lambda i: runs[i].label)
            r = runs[ss["ml_cm_run"]]
            c1, c2 = st.columns(2, gap="medium")
            c1.plotly_chart(mf.confusion_figure(r, ds.class_names, lecture), key="ml_fig_cm",
                            width="stretch")
            with c2:
                st.plotly_chart(mf.misclassified_figure(ds, r, k=8, cols=4, lecture=lecture,
                                                        width=850 if lecture else 600),
                                key="ml_fig_mis", width="stretch")

    st.subheader("Summary")
    table = mf.summary_frame(runs)
    if lecture:
        st.table(table, hide_index=True)
    else:
        st.dataframe(table, hide_index=True, width="stretch")
    c1, c2 = st.columns([1, 3])
    c1.download_button("Runs (CSV, one row per step)",
                       lambda: runs_to_dataframe(runs).to_csv(index=False),
                       file_name=f"adamem_mlp_{ds.name}.csv", mime="text/csv", key="ml_dl_csv",
                       on_click="ignore")
    c2.caption("The URL holds the whole setup: copy it to reopen these controls (press Train "
               "to reproduce the results — same seed, same numbers on the same device).")


# ----------------------------------------------------------------------------- page
ss = st.session_state
if SCENE_KEY not in ss:
    sc0, url_notices = parse_query(st.query_params.to_dict())
    ss[SCENE_KEY] = sc0
    ss[URL_NOTICES_KEY] = url_notices
# Streamlit drops the state of widgets that were not drawn in the last run: after a visit to
# another page the widgets come back empty, so seed them again from the scene.
if "ml_ds" not in ss:
    _seed_widgets(ss[SCENE_KEY])

apply_lecture_css()
lecture = lecture_on()
scene, widget_notices = controls()
sweep_mode = scene.mode == "sweep"
no_runs = not ss.get("ml_sopt" if sweep_mode else "ml_runs")
scene = scene.replace(lecture=lecture)
if not no_runs:
    ss[SCENE_KEY] = scene
    q = scene.to_query()
    if st.query_params.to_dict() != q:
        st.query_params.from_dict(q)

st.title("MLP lab — adaptive momentum on a small network")
lecture_exit_button("ml_exit_lecture")
stop_note = _adopt_interrupted() or _adopt_interrupted_sweep()

notices = list(ss.get(URL_NOTICES_KEY, [])) + list(widget_notices)
ss[URL_NOTICES_KEY] = []           # URL notices are shown once
device = scene.device
if device == "cuda" and not torch.cuda.is_available():
    notices.append("device: CUDA is not available on this server — training on the CPU.")
    device = "cpu"
device_used = str(pick_device(device))

ds = scene_dataset(scene)
cfg = timing = None
limit_notices: list[str] = []
if not no_runs and sweep_mode:
    scfg0, _ = clamp_sweep(ds, scene.hidden, scene.sweep_specs(), scene.sweep_lrs(),
                           scene.sweep_seed_list(), scene.steps, scene.batch_size)
    timing = step_timing(_ds_key(scene), scfg0.hidden, scene.activation, scfg0.specs,
                         scfg0.batch_size, device_used, None, scfg0.lrs, scfg0.seeds)
    cfg, limit_notices = clamp_sweep(ds, scene.hidden, scene.sweep_specs(), scene.sweep_lrs(),
                                     scene.sweep_seed_list(), scene.steps, scene.batch_size,
                                     timing=timing)
elif not no_runs:
    specs = scene.specs()
    cfg0, _ = clamp_config(ds, scene.hidden, specs, scene.steps, scene.batch_size, None,
                           None, GRID)
    timing = step_timing(_ds_key(scene), cfg0.hidden, scene.activation, cfg0.specs,
                         cfg0.batch_size, device_used, GRID if ds.is_2d else None,
                         seeds=(scene.seed,))
    be = None
    if ds.is_2d:    # about FRAMES snapshots over the steps the limits allow
        cfg1, _ = clamp_config(ds, scene.hidden, specs, scene.steps, scene.batch_size, None,
                               None, GRID, timing=timing)
        be = max(1, math.ceil(cfg1.steps / FRAMES))
    cfg, limit_notices = clamp_config(ds, scene.hidden, specs, scene.steps, scene.batch_size,
                                      None, be, GRID, timing=timing)
all_notices = notices + limit_notices
if all_notices:
    st.warning("**Some values were corrected:**\n\n" + "\n".join(f"- {n}" for n in all_notices),
               icon="⚠️")
if stop_note:
    st.warning(stop_note, icon="⏹️")

if no_runs:
    st.info("Choose at least one optimizer in the sidebar.")
elif sweep_mode:
    st.markdown(_sweep_summary(ds, cfg, device_used))
else:
    st.markdown(_training_summary(scene, ds, cfg, device_used))

c1, c2, _ = st.columns([1, 1, 4])
if sweep_mode:
    sweep_clicked = c1.button("▶ Run sweep", key="ml_sweep_run", type="primary",
                              disabled=no_runs, width="stretch")
    if sweep_clicked and cfg is not None:
        c2.button("■ Stop", key="ml_sweep_stop", width="stretch",
                  help="Stops the sweep and keeps what is done.")
        run_sweep(scene, ds, cfg, device, device_used, limit_notices, timing)
    sres = ss.get(SWEEP_KEY)
    if sres is None:
        st.info("Press **Run sweep** to train one network per optimizer, learning rate and "
                "seed — all at once, as one batched program. The map then shows, for each "
                "optimizer, which learning rates train and how well: does adaptive β widen "
                "the range that works?", icon="👆")
    else:
        show_sweep(sres, scene, lecture)
else:
    train_clicked = c1.button("▶ Train", key="ml_train", type="primary", disabled=no_runs,
                              width="stretch")
    if train_clicked and cfg is not None:
        c2.button("■ Stop", key="ml_stop", width="stretch",
                  help="Stops the training and keeps what is done.")
        run_training(scene, ds, cfg, device, device_used, limit_notices, timing)

    res = ss.get(RESULT_KEY)
    if res is None:
        st.info("Press **Train** to train one network per optimizer — all from the same "
                "initial weights, on the same batches. The loss, the accuracy and β are drawn "
                "live; then the decision boundaries (2-D data) or the confusion matrix "
                "(digits).", icon="👆")
    else:
        show_results(res, scene, lecture)
