"""The MLP lab: its scene (``adamem_core.mlp_scene``: URL ↔ controls, validated) and the page
(``app_pages/mlp_lab.py``) through Streamlit's AppTest, asserting on what the user sees.

* defaults render the controls and no chart until Train is pressed;
* a tiny training (few points, 30 steps, two optimizers): the charts appear, the summary names
  both optimizers, the URL holds the scene; digits show a confusion matrix;
* hostile URL values for every MLP key: no exception, a "Some values were corrected" notice,
  no markup echoed; a huge number of steps: the limits notice;
* results survive a visit to another page (not recomputed); a stopped training keeps its
  partial results; lecture mode; CUDA requested where there is none.

No timed assertions (speed is the core's cost model and its benchmark).
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from adamem_core.mlp import DATASETS, LIMITS, make_dataset, train
from adamem_core.mlp_scene import KEYS, MLPScene, parse_query, token_label
from adamem_core.specs import OptimizerSpec

pytestmark = [pytest.mark.numerical, pytest.mark.timeout(300)]

MLP = "app_pages/mlp_lab.py"
PLAYGROUND = "app_pages/playground.py"
ABOUT = "app_pages/about.py"
CORRECTED = "Some values were corrected"
HOSTILE = ["nan", "-1", "1e308", "x" * 5000, "<script>alert(1)</script>", ""]
HOSTILE_IDS = ["nan", "minus1", "1e308", "5000chars", "markup", "empty"]
FLAGS = ("lecture", "m_mbeta")                 # on/off: anything but "1"/"true"/… is off
VALUE_KEYS = [k for k in KEYS if k not in FLAGS]
TINY = {"m_n": "100", "m_steps": "30", "m_opt": "am_sgd,sgd_ema:0.9", "m_hidden": "8"}


# ============================================================================= scene (pure)
def test_scene_defaults_round_trip():
    sc, notices = parse_query({})
    assert notices == [] and sc == MLPScene()
    q = sc.to_query()
    assert set(q) <= set(KEYS) and all(k.startswith("m_") for k in q)
    assert parse_query(q) == (sc, [])
    assert [s.name for s in sc.specs()] == ["am_sgd", "am_adamw", "sgd_ema", "adamw"]


def test_scene_specs_take_the_controls():
    sc, notices = parse_query({"m_opt": "am_sgd,am_adamw,nesterov:0.8,torch_adamw:0.5,sgd@0.05",
                               "m_lrs": "0.5", "m_lra": "0.002", "m_lam": "0.3",
                               "m_bmax": "0.95", "m_batch": "64", "m_hidden": "16,8",
                               "m_ds": "blobs", "m_k": "4", "lecture": "1"})
    assert notices == []
    am_sgd, am_adamw, nest, tadamw, sgd = sc.specs()
    assert am_sgd == OptimizerSpec("am_sgd", 0.5, lam=0.3, beta_max=0.95)
    assert am_adamw == OptimizerSpec("am_adamw", 0.002, lam=0.3, betas=(0.95, 0.999),
                                     weight_decay=0.0)
    assert nest == OptimizerSpec("nesterov", 0.5, beta=0.8)
    assert tadamw == OptimizerSpec("torch_adamw", 0.002, beta1=0.5, weight_decay=0.0)
    assert sgd.lr == 0.05                                  # a run's own η wins
    assert sc.batch_size == 64 and sc.hidden == (16, 8) and sc.lecture
    assert sc.dataset_kwargs() == dict(name="blobs", n=500, noise=1.0, seed=0, n_classes=4)
    assert parse_query(sc.to_query())[0] == sc
    assert token_label("sgd_ema:0.9") == "EMA momentum β=0.9"
    assert token_label("adamw:0.9") == "AdamW β₁=0.9"


@pytest.mark.parametrize("key", VALUE_KEYS)
@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_scene_hostile_values(key, value):
    sc, notices = parse_query({key: value})
    assert isinstance(sc, MLPScene)
    q = sc.to_query()
    assert parse_query(q) == (sc, [])                     # what it writes back is clean
    info = DATASETS[sc.dataset].params
    assert info["n"].lo <= sc.n <= info["n"].hi
    assert 1 <= sc.steps <= LIMITS.max_steps and 1 <= len(sc.runs) <= LIMITS.max_specs
    for w in sc.hidden:
        assert LIMITS.min_width <= w <= LIMITS.max_width
    if key == "m_k":                                      # read for blobs only
        assert notices == []
        _, notices = parse_query({"m_ds": "blobs", key: value})
    assert notices, (key, value)
    assert all(len(n) < 300 for n in notices)             # long values are cut


def test_scene_duplicates_and_too_many_optimizers():
    sc, notices = parse_query({"m_opt": "am_sgd,am_sgd," + ",".join(["sgd_ema:0.%d" % i
                                                                      for i in range(1, 10)])})
    assert len(sc.runs) == LIMITS.max_specs
    assert any("listed twice" in n for n in notices)
    assert any("at most" in n for n in notices)


# ============================================================================= page helpers
def run(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_mlp(new_app, query: dict | None = None):
    """A session whose MLP page is opened with ``query`` in the URL (as a copied link).
    AppTest starts on the default page (app.py registers its pages on the first run, and the
    playground then writes its own URL), so the MLP keys are put back before switching; the
    lecture flag, read by app.py once per session, goes in from the start."""
    query = dict(query or {})
    at = run(new_app({"lecture": query["lecture"]} if "lecture" in query else None))
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(MLP)
    return run(at)


def warnings(at) -> str:
    return "\n".join(w.value for w in at.warning)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titles(at) -> list[str]:
    return [(f["layout"].get("title") or {}).get("text", "") for f in charts(at)]


def qp(at, key):
    v = at.query_params[key]
    return v[-1] if isinstance(v, list) else v


def train_click(at):
    at.button(key="ml_train").click()
    return run(at)


def summary_optimizers(at) -> list[str]:
    tables = [d.value for d in at.dataframe] or [t.value for t in at.table]
    assert tables, "no summary table"
    return list(tables[-1]["Optimizer"])


def assert_no_unescaped_markup(at) -> None:
    for m in at.markdown:
        assert "<script" not in m.value.lower(), m.value[:200]
        if m.proto.allow_html:
            assert m.value.lstrip().startswith("<style"), m.value[:200]
    for el in list(at.title) + list(at.caption) + list(at.info):
        assert "<script" not in str(el.value).lower()


# ============================================================================= page
def test_defaults_render_the_controls(new_app):
    at = open_mlp(new_app)
    assert at.title[0].value.startswith("MLP lab")
    for key in ("ml_ds", "ml_act", "ml_dev"):
        assert at.selectbox(key=key).value is not None
    assert at.selectbox(key="ml_ds").value == "moons"
    assert at.multiselect(key="ml_runs").value == ["am_sgd", "am_adamw", "sgd_ema:0.9",
                                                   "adamw:0.9"]
    assert at.number_input(key="ml_steps").value == 300
    assert at.select_slider(key="ml_lrs").value == 0.3
    assert at.select_slider(key="ml_lra").value == 0.01
    assert at.select_slider(key="ml_batch").value == 0
    assert at.slider(key="ml_layers").value == 2
    assert at.button(key="ml_train").proto.label.endswith("Train")
    assert not at.get("plotly_chart")                       # nothing until Train
    assert any("Press **Train**" in i.value for i in at.info)
    assert CORRECTED not in warnings(at)
    text = "\n".join(m.value for m in at.main.markdown)
    assert "**Two moons**" in text and "375 training / 125 test points" in text
    assert "device **cpu**" in text or "device **cuda" in text
    assert qp(at, "m_ds") == "moons" and qp(at, "m_steps") == "300"
    assert "f" not in at.query_params                       # only the MLP keys on this page


def test_tiny_training_shows_the_charts(new_app):
    at = open_mlp(new_app, TINY)
    assert CORRECTED not in warnings(at)
    assert at.number_input(key="ml_steps").value == 30
    train_click(at)
    titles = chart_titles(at)
    assert titles[0] == "Training loss and accuracy"
    assert any(t.startswith("Global momentum") for t in titles)
    assert any(t == "Decision boundary of each optimizer" for t in titles)
    labels = ["AM-SGD λ=0.1, β_max=0.9, η=0.3", "EMA momentum β=0.9, η=0.3"]
    assert summary_optimizers(at) == labels
    curves = charts(at)[0]
    assert [d["name"] for d in curves["data"] if d.get("showlegend", True)
            and (d.get("meta") or {}).get("role") == "loss"] == labels
    boundary = next(f for f in charts(at) if "Decision" in f["layout"]["title"]["text"])
    assert sum(d["type"] == "heatmap" for d in boundary["data"]) == 2
    assert boundary["frames"]
    # no AM-AdamW in this comparison: the page says where its heatmap would be
    assert any("Add AM-AdamW" in i.value for i in at.info)
    story = "\n".join(m.value for m in at.main.markdown)
    assert "**AM-SGD λ=0.1, β_max=0.9, η=0.3** reached" in story
    assert any("trained after 30 of 30 steps" in c.value for c in at.caption)
    assert [d.proto.label for d in at.get("download_button")] == ["Runs (CSV, one row per step)"]
    assert qp(at, "m_steps") == "30" and qp(at, "m_opt") == "am_sgd,sgd_ema:0.9"


def test_model_beta_toggle_from_the_url(new_app):
    at = open_mlp(new_app, {**TINY, "m_mbeta": "1"})
    assert at.toggle(key="ml_mbeta").value is True
    train_click(at)
    beta = next(f for f in charts(at) if f["layout"]["title"]["text"].startswith("Global"))
    assert "EMA momentum β=0.9, η=0.3 — model's β" in [d["name"] for d in beta["data"]]
    at.toggle(key="ml_mbeta").set_value(False)
    run(at)
    assert "m_mbeta" not in at.query_params
    beta = next(f for f in charts(at) if f["layout"]["title"]["text"].startswith("Global"))
    assert not any("model's β" in d["name"] for d in beta["data"])
    assert not any("controls have changed" in i.value for i in at.info)   # display only


def test_am_adamw_beta_heatmap(new_app):
    at = open_mlp(new_app, {**TINY, "m_opt": "am_adamw,adamw:0.9", "m_batch": "16"})
    train_click(at)
    figs = charts(at)
    heat = [f for f in figs if f["layout"]["title"]["text"].startswith("β₁ per tensor")]
    assert len(heat) == 1
    assert heat[0]["data"][0]["y"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert any("Add AM-SGD" in i.value for i in at.info)      # no SGD-family run
    assert summary_optimizers(at) == ["AM-AdamW λ=0.1, β_max=0.9, η=0.01",
                                      "AdamW β₁=0.9, η=0.01"]


def test_digits_show_a_confusion_matrix(new_app):
    at = open_mlp(new_app, {**TINY, "m_ds": "digits", "m_n": "150", "m_steps": "20"})
    train_click(at)
    titles = chart_titles(at)
    assert any(t.startswith("Confusion matrix on the test set") for t in titles)
    assert any(t.startswith("Misclassified test images") for t in titles)
    assert not any("Decision" in t for t in titles)
    cm = next(f for f in charts(at) if f["layout"]["title"]["text"].startswith("Confusion"))
    n_test = make_dataset("digits", n=150, seed=0).n_test
    z = cm["data"][0]["z"]
    total = sum(sum(row) for row in z) if isinstance(z, list) else None
    if total is not None:
        assert total == n_test
    # another run's matrix
    assert at.radio(key="ml_cm_run").value == 0
    at.radio(key="ml_cm_run").set_value(1)
    run(at)
    cm2 = next(f for f in charts(at) if f["layout"]["title"]["text"].startswith("Confusion"))
    assert "EMA momentum" in cm2["layout"]["title"]["subtitle"]["text"]


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_url_every_key_at_once(new_app, value):
    at = open_mlp(new_app, {k: value for k in KEYS})
    if value != "":
        assert CORRECTED in warnings(at)
    assert_no_unescaped_markup(at)
    assert at.title[0].value.startswith("MLP lab")
    # the URL is rewritten with valid values
    sc, notices = parse_query({k: qp(at, k) for k in at.query_params})
    assert notices == []
    assert 1 <= int(qp(at, "m_steps")) <= LIMITS.max_steps


@pytest.mark.parametrize("key", VALUE_KEYS)
@pytest.mark.parametrize("value", ["nan", "<script>alert(1)</script>"], ids=["nan", "markup"])
def test_hostile_url_each_key(new_app, key, value):
    query = {key: value}
    if key == "m_k":
        query["m_ds"] = "blobs"
    at = open_mlp(new_app, query)
    assert CORRECTED in warnings(at), (key, value)
    assert_no_unescaped_markup(at)
    assert at.button(key="ml_train") is not None


def test_limits_notice_for_a_huge_training(new_app):
    at = open_mlp(new_app, {"m_steps": "1e308", "m_n": "2000", "m_hidden": "128,128,128",
                            "m_opt": "am_sgd,am_adamw,sgd,sgd_ema:0.9,sgd_ema:0.5,nesterov:0.9,"
                                     "adamw:0.9,torch_sgd:0.9"})
    w = warnings(at)
    assert CORRECTED in w
    assert f"steps: 1e+308 is outside [1, {LIMITS.max_steps}]" in w
    assert f"steps reduced from {LIMITS.max_steps} to" in w
    assert f"(the limit keeps one training under {LIMITS.time_budget_s:g} s)" in w
    text = "\n".join(m.value for m in at.main.markdown)
    assert "8 optimizers ×" in text and "estimated ≤" in text


def test_widget_change_updates_the_url_and_the_notice(new_app):
    at = open_mlp(new_app)
    at.number_input(key="ml_steps").set_value(5000)
    at.slider(key="ml_n").set_value(2000)
    at.slider(key="ml_layers").set_value(3)
    run(at)
    at.select_slider(key="ml_w1").set_value(128)
    at.select_slider(key="ml_w2").set_value(128)
    at.select_slider(key="ml_w3").set_value(128)
    run(at)
    assert qp(at, "m_steps") == "5000" and qp(at, "m_hidden") == "128,128,128"
    assert "steps reduced from 5000 to" in warnings(at)
    # the copied link reopens the same controls
    q = {k: qp(at, k) for k in at.query_params}
    at2 = open_mlp(new_app, q)
    assert at2.number_input(key="ml_steps").value == 5000
    assert at2.slider(key="ml_layers").value == 3
    assert at2.select_slider(key="ml_w3").value == 128
    assert "steps: " not in warnings(at2)            # no URL correction, only the limit


def test_dataset_change_takes_its_defaults(new_app):
    at = open_mlp(new_app)
    at.selectbox(key="ml_ds").set_value("digits")
    run(at)
    assert at.slider(key="ml_n").value == DATASETS["digits"].params["n"].default
    assert qp(at, "m_ds") == "digits"
    at.selectbox(key="ml_ds").set_value("blobs")
    run(at)
    assert at.slider(key="ml_k").value == 3 and qp(at, "m_k") == "3"


def test_results_persist_across_pages(new_app):
    at = open_mlp(new_app, TINY)
    train_click(at)
    caption = [c.value for c in at.caption if c.value.startswith("Last training")]
    table = summary_optimizers(at)
    for page in (PLAYGROUND, ABOUT, MLP):
        at.switch_page(page)
        run(at)
    # the same results (same wall time: not trained again), the same controls
    assert [c.value for c in at.caption if c.value.startswith("Last training")] == caption
    assert summary_optimizers(at) == table
    assert at.number_input(key="ml_steps").value == 30
    assert at.multiselect(key="ml_runs").value == ["am_sgd", "sgd_ema:0.9"]
    assert qp(at, "m_steps") == "30"
    # changing a control does not retrain; the page says the results are older
    at.number_input(key="ml_steps").set_value(40)
    run(at)
    assert [c.value for c in at.caption if c.value.startswith("Last training")] == caption
    assert any("controls have changed" in i.value for i in at.info)


def test_a_stopped_training_keeps_its_partial_results(new_app):
    """A click during a training interrupts the script inside the progress callback; the page
    keeps the callback's latest records. Simulated with a callback that stops at step 20."""
    sc, _ = parse_query(TINY)
    ds = make_dataset(**sc.dataset_kwargs())
    seen = {}

    class Interrupt(Exception):
        pass

    def cb(step, recs):
        seen["recs"], seen["step"] = recs, step
        if step >= 20:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(ds, sc.hidden, sc.activation, sc.specs(), 60, seed=0, device="cpu",
              callback=cb, callback_every=10)
    at = open_mlp(new_app, TINY)
    at.session_state["ml_live"] = {"scene": sc, "dataset": ds, "device": "cpu", "notices": [],
                                   "runs": seen["recs"], "step": 20, "planned": 60,
                                   "started": time.perf_counter()}
    run(at)
    assert "Training stopped at step 20 of 60" in warnings(at)
    assert summary_optimizers(at) == [s.label for s in sc.specs()]
    steps = set((at.dataframe[0].value)["Steps"])
    assert steps == {"20"}
    assert chart_titles(at)[0] == "Training loss and accuracy"
    # shown once; the partial results stay
    run(at)
    assert "Training stopped" not in warnings(at)
    assert any("stopped after 20 of 60 steps" in c.value for c in at.caption)


def test_lecture_mode(new_app):
    at = open_mlp(new_app, {**TINY, "lecture": "1"})
    css = [m.value for m in at.markdown if m.proto.allow_html]
    assert any("stSidebar" in c and "display: none" in c for c in css)
    assert any(b.label.startswith("Exit lecture mode") for b in at.button)
    train_click(at)
    figs = charts(at)
    assert figs and min(f["layout"]["font"]["size"] for f in figs) >= 20
    assert not at.dataframe and len(at.table) == 1          # the big-type table
    assert qp(at, "lecture") == "1"
    at.button(key="ml_exit_lecture").click()
    run(at)
    assert "lecture" not in at.query_params and qp(at, "m_steps") == "30"
    assert max(f["layout"]["font"]["size"] for f in charts(at)) < 20


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda(new_app):
    at = open_mlp(new_app, {**TINY, "m_dev": "cuda"})
    assert "CUDA is not available on this server — training on the CPU" in warnings(at)
    train_click(at)
    assert any("on **cpu**" in c.value for c in at.caption)


# ============================================================================= sweep mode
SWEEP_KEYS = ("m_mode", "m_sopt", "m_slo", "m_shi", "m_snlr", "m_sseeds", "m_sval")
TINY_SWEEP = {"m_mode": "sweep", "m_n": "100", "m_steps": "20", "m_hidden": "8",
              "m_sopt": "am_sgd,sgd_ema:0.9", "m_snlr": "3", "m_sseeds": "2",
              "m_slo": "0.01", "m_shi": "10"}


def test_scene_sweep_defaults_and_round_trip():
    sc, notices = parse_query({"m_mode": "sweep"})
    assert notices == [] and sc.mode == "sweep"
    assert [s.name for s in sc.sweep_specs()] == ["am_sgd", "am_adamw", "sgd_ema", "sgd_ema",
                                                  "adamw"]
    assert [s.get("beta") for s in sc.sweep_specs()[2:4]] == [0.9, 0.5]
    assert sc.sweep_lrs() == [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    assert sc.sweep_seed_list() == [0, 1, 2]
    assert parse_query(sc.to_query()) == (sc, [])
    sc2, n2 = parse_query({"m_mode": "sweep", "m_slo": "1", "m_shi": "0.01", "m_seed": "7",
                           "m_sseeds": "2", "m_sopt": "am_sgd@5,adamw:0.5"})
    assert (sc2.sweep_lr_lo, sc2.sweep_lr_hi) == (0.01, 1.0) and any("swapped" in n for n in n2)
    assert sc2.sweep_seed_list() == [7, 8]
    assert [s.lr for s in sc2.sweep_specs()] == [1.0, 1.0]     # a token's @lr: the grid wins


@pytest.mark.parametrize("key", SWEEP_KEYS)
@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_scene_sweep_hostile_values(key, value):
    q = {"m_mode": "sweep", key: value} if key != "m_mode" else {key: value}
    sc, notices = parse_query(q)
    assert notices and all(len(n) < 300 for n in notices)
    assert 2 <= sc.sweep_n_lrs <= 12 and 1 <= sc.sweep_seeds <= 5
    assert 1 <= len(sc.sweep_runs) <= 8 and sc.sweep_lr_lo <= sc.sweep_lr_hi
    assert sc.mode in ("compare", "sweep") and sc.sweep_value in ("acc", "loss")
    assert parse_query(sc.to_query()) == (sc, [])


def test_sweep_mode_defaults_on_the_page(new_app):
    at = open_mlp(new_app, {"m_mode": "sweep"})
    assert at.radio(key="ml_mode").value == "sweep"
    assert at.multiselect(key="ml_sopt").value == ["am_sgd", "am_adamw", "sgd_ema:0.9",
                                                   "sgd_ema:0.5", "adamw:0.9"]
    assert at.slider(key="ml_snlr").value == 8 and at.slider(key="ml_sseeds").value == 3
    assert at.select_slider(key="ml_slo").value == 0.001
    assert at.select_slider(key="ml_shi").value == 3.0
    text = "\n".join(m.value for m in at.markdown)
    assert "120 networks" in text and "5 optimizers × 8 learning rates" in text
    assert "× 3 seeds" in text and "η = 0.001, 0.003, 0.01" in text
    assert at.button(key="ml_sweep_run") is not None and not at.get("plotly_chart")
    assert qp(at, "m_mode") == "sweep" and qp(at, "m_snlr") == "8"
    # the compare mode's controls are not drawn, and come back with their values
    assert not [w for w in at.multiselect if w.key == "ml_runs"]
    at.radio(key="ml_mode").set_value("compare")
    run(at)
    assert at.multiselect(key="ml_runs").value == ["am_sgd", "am_adamw", "sgd_ema:0.9",
                                                   "adamw:0.9"]
    assert qp(at, "m_mode") == "compare"


def test_a_tiny_sweep_shows_the_robustness_map(new_app):
    at = open_mlp(new_app, TINY_SWEEP)
    at.button(key="ml_sweep_run").click()
    run(at)
    titles = chart_titles(at)
    assert any("Final test accuracy after 20 steps — median over 2 seeds" in t for t in titles)
    assert any("own best η" in t for t in titles)
    tables = [d.value for d in at.dataframe]
    best = tables[-1]
    assert list(best["Optimizer"]) == ["AM-SGD λ=0.1, β_max=0.9", "EMA momentum β=0.9"]
    assert "Last sweep" in "\n".join(c.value for c in at.caption)
    assert "12 networks" in "\n".join(c.value for c in at.caption)
    heat = [d for f in charts(at) for d in f["data"] if d.get("type") == "heatmap"]
    x = heat[0]["x"]
    if isinstance(x, dict):                                   # plotly's binary encoding
        import base64
        import numpy as np
        x = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
    assert len(x) == 3                                        # 3 learning-rate columns
    # the value shown follows the control, without training again
    at.radio(key="ml_sval").set_value("loss")
    run(at)
    assert any("Final training loss after 20 steps" in t for t in chart_titles(at))


@pytest.mark.parametrize("value", ["nan", "<script>alert(1)</script>", "-1"],
                         ids=["nan", "markup", "minus1"])
def test_sweep_hostile_url(new_app, value):
    at = open_mlp(new_app, {"m_mode": "sweep", **{k: value for k in SWEEP_KEYS[1:]}})
    assert CORRECTED in warnings(at)
    assert_no_unescaped_markup(at)
    assert at.radio(key="ml_mode").value == "sweep"


def test_sweep_limits_notice(new_app):
    at = open_mlp(new_app, {"m_mode": "sweep", "m_steps": "5000", "m_snlr": "12",
                            "m_sseeds": "5", "m_n": "100", "m_hidden": "8",
                            "m_sopt": "am_sgd,am_adamw,sgd,sgd_ema:0.9,sgd_ema:0.5,"
                                      "nesterov:0.9,adamw:0.9,torch_sgd:0.9"})
    w = warnings(at)
    assert CORRECTED in w and "seeds reduced to" in w and "at most 150 networks" in w
    assert "steps reduced from 5000" in w
    text = "\n".join(m.value for m in at.markdown)
    assert "networks" in text and "estimated" in text
