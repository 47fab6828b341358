"""Tests of the MLP lab's figures (``adamem_core.figures.mlp``): plain records in, Plotly
figures out — titles and axes, legend names = ``OptimizerSpec.label``, the playground's colours
(``figures.assign_styles``), the β heatmap's rows = the layer names, one boundary panel per run
whose animation frames only touch the heatmaps, confusion-matrix counts, lecture sizes."""

from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest

from adamem_core import figures
from adamem_core.figures import mlp as mf
from adamem_core.mlp import make_dataset, train
from adamem_core.specs import OptimizerSpec

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

SPECS = [OptimizerSpec("am_sgd", 0.3, lam=0.1, beta_max=0.9),
         OptimizerSpec("am_adamw", 0.01, lam=0.1, betas=(0.9, 0.999), weight_decay=0.0),
         OptimizerSpec("sgd_ema", 0.3, beta=0.9),
         OptimizerSpec("adamw", 0.01, beta1=0.9, weight_decay=0.0)]
LABELS = [s.label for s in SPECS]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def moons():
    return make_dataset("moons", n=120, noise=0.2, seed=0)


@pytest.fixture(scope="module")
def runs(moons):
    return train(moons, (8,), "tanh", SPECS, 40, seed=0, device="cpu", boundary_every=10,
                 grid=20)


@pytest.fixture(scope="module")
def mini_runs(moons):
    return train(moons, (8,), "tanh", SPECS[:2], 60, batch_size=16, seed=0, device="cpu")


@pytest.fixture(scope="module")
def blobs():
    return make_dataset("blobs", n=150, noise=1.0, n_classes=4, seed=1)


@pytest.fixture(scope="module")
def blob_runs(blobs):
    return train(blobs, (8,), "tanh", SPECS[:3], 20, seed=0, device="cpu", boundary_every=5,
                 grid=16)


@pytest.fixture(scope="module")
def digits():
    return make_dataset("digits", n=200, seed=0)


@pytest.fixture(scope="module")
def digit_runs(digits):
    return train(digits, (16,), "tanh", SPECS[:2], 15, seed=0, device="cpu")


def legend_names(fig) -> list[str]:
    return [d.name for d in fig.data if d.showlegend is not False and d.type == "scatter"]


def title(fig) -> str:
    return fig.layout.title.text


def roles(fig, role) -> list:
    return [d for d in fig.data if (d.meta or {}).get("role") == role]


# ----------------------------------------------------------------------------- curves
def test_curves_figure_axes_legend_and_styles(runs):
    fig = mf.curves_figure(runs, n_classes=2)
    assert title(fig) == "Training loss and accuracy"
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.title.text == "training loss"
    assert fig.layout.yaxis2.title.text == "training accuracy"
    assert fig.layout.yaxis3.title.text == "test accuracy"
    for ax in (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.xaxis3):
        assert ax.title.text == "step t" and list(ax.range) == [0, 39]
    # one legend entry per run, named by its spec, in order
    assert legend_names(fig) == LABELS
    styles = figures.assign_styles(SPECS)
    for d in roles(fig, "loss") + roles(fig, "test_acc") + roles(fig, "train_acc"):
        st = styles[d.meta["run"]]
        assert d.line.color == st["color"] and d.line.dash == st["dash"]
        assert d.marker.symbol == st["symbol"]
    # the same colours as the playground's single-optimizer style for the AM runs
    assert roles(fig, "loss")[0].line.color == figures.style_for(SPECS[0])["color"]
    assert roles(fig, "loss")[1].line.color == figures.style_for(SPECS[1])["color"]
    # accuracies only where they were evaluated; the chance level is drawn
    test_acc = roles(fig, "test_acc")[0]
    assert list(test_acc.x) == list(runs[0].eval_steps)
    assert np.all((np.asarray(test_acc.y) >= 0) & (np.asarray(test_acc.y) <= 1))
    assert any("chance 50%" in (a.text or "") for a in fig.layout.annotations)
    pio.to_json(fig, validate=True)


def test_curves_figure_minibatch_smoothing(mini_runs):
    fig = mf.curves_figure(mini_runs)
    raw = roles(fig, "loss_raw")
    assert len(raw) == 2 and all(d.showlegend is False and d.opacity < 0.5 for d in raw)
    assert "mean of the last" in fig.layout.title.subtitle.text
    assert legend_names(fig) == LABELS[:2]


def test_partial_records_span_the_planned_steps(moons):
    seen = {}

    def cb(step, recs):
        seen.setdefault("first", (step, recs))

    train(moons, (8,), "tanh", SPECS[:2], 50, seed=0, device="cpu", callback=cb,
          callback_every=10)
    step, recs = seen["first"]
    assert step == 10 and recs[0].steps == 10 and recs[0].planned_steps == 50
    fig = mf.curves_figure(recs, planned_steps=50)
    assert list(fig.layout.xaxis.range) == [0, 49]
    bfig = mf.beta_figure(recs, planned_steps=50)
    assert list(bfig.layout.xaxis.range) == [0, 49]
    assert "reached" in mf.story_text(recs)


def test_diverged_run_is_named_and_marked(moons):
    recs = train(moons, (8,), "relu", [OptimizerSpec("sgd_ema", 100.0, beta=0.9),
                                       OptimizerSpec("am_sgd", 0.3)], 30, seed=0,
                 device="cpu")
    assert recs[0].diverged_at is not None
    fig = mf.curves_figure(recs)
    names = legend_names(fig)
    assert names[0] == f"{recs[0].label} — diverged at step {recs[0].diverged_at}"
    assert roles(fig, "diverged")
    assert "diverged at step" in mf.story_text(recs)
    table = mf.summary_frame(recs)
    assert table.loc[0, "Diverged at step"] == str(recs[0].diverged_at)
    pio.to_json(fig, validate=True)


# ----------------------------------------------------------------------------- β
def test_beta_figure_global_beta_and_constant_lines(runs):
    assert mf.global_beta_runs(runs) == [0, 2]
    assert mf.tensor_beta_runs(runs) == [1]
    fig = mf.beta_figure(runs)
    assert "Global momentum" in title(fig)
    assert fig.layout.xaxis.title.text == "step t"
    assert fig.layout.yaxis.title.text == "β<sub>t</sub>"
    assert list(fig.layout.yaxis.range) == [-0.02, 1.02]
    assert legend_names(fig) == [LABELS[0], f"{LABELS[2]} (constant)"]
    styles = figures.assign_styles(SPECS)
    beta = roles(fig, "beta")
    assert [d.line.color for d in beta] == [styles[0]["color"], styles[2]["color"]]
    assert np.allclose(beta[1].y, 0.9)                     # the constant-β line is flat
    np.testing.assert_allclose(beta[0].y, runs[0].beta)     # AM-SGD's β, as recorded
    assert not roles(fig, "model_beta")
    fig2 = mf.beta_figure(runs, show_model_beta=True)
    mb = roles(fig2, "model_beta")
    assert len(mb) == 1 and mb[0].name == f"{LABELS[2]} — model's β"


def test_beta_figure_without_sgd_runs_says_so(runs):
    fig = mf.beta_figure([runs[1], runs[3]])
    assert not fig.data
    assert any("no SGD-family run" in (a.text or "") for a in fig.layout.annotations)


def test_beta_heatmap_rows_are_the_layer_names(runs):
    r = runs[1]
    fig = mf.beta_heatmap_figure(r, beta_max=0.9)
    (hm,) = fig.data
    assert hm.type == "heatmap"
    assert list(hm.y) == r.layer_names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(fig.layout.yaxis.ticktext) == ["layer 1 W", "layer 1 b", "output W", "output b"]
    z = np.asarray(hm.z, dtype=float)
    assert z.shape == (4, 40)
    np.testing.assert_allclose(z, r.beta.T, rtol=1e-6)
    assert (hm.zmin, hm.zmax) == (0.0, 1.0)
    assert title(fig).startswith("β₁ per tensor — " + LABELS[1])
    assert fig.layout.xaxis.title.text == "step t"
    # many steps are averaged in bins (the hover says which steps)
    binned = mf.beta_heatmap_figure(r, max_columns=8)
    zb = np.asarray(binned.data[0].z, dtype=float)
    assert zb.shape == (4, 8)
    np.testing.assert_allclose(zb[:, 0], r.beta[:5].mean(axis=0), rtol=1e-6)
    assert "mean β" in binned.data[0].hovertemplate


def test_layer_tick_labels():
    names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert mf.layer_tick_labels(names) == ["layer 1 W", "layer 1 b", "layer 2 W", "layer 2 b",
                                           "output W", "output b"]
    assert mf.layer_tick_labels(["flat"]) == ["flat"]


# ----------------------------------------------------------------------------- boundaries
def test_boundary_figure_panels_frames_and_shared_scale(moons, runs):
    fig = mf.boundary_figure(moons, runs)
    heat = [i for i, d in enumerate(fig.data) if d.type == "heatmap"]
    assert len(heat) == len(runs)                                    # one panel per run
    xaxes = [k for k in fig.layout if k.startswith("xaxis")]
    assert len(xaxes) == len(runs)
    assert all(fig.data[i].coloraxis == "coloraxis" for i in heat)  # one shared colour scale
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0, 100)
    # panel titles name each optimizer in its own colour
    styles = figures.assign_styles(SPECS)
    titles = [a.text for a in fig.layout.annotations]
    for spec, st, t in zip(SPECS, styles, titles):
        assert spec.entry.label in t and st["color"] in t
    # the training points over every panel, a marker per class
    pts = roles(fig, "points")
    assert len(pts) == 2 * len(runs)
    assert {d.marker.symbol for d in pts} == {"circle", "diamond"}
    assert sum(len(d.x) for d in pts if d.meta["run"] == 0) == moons.n_train
    # animated over the snapshots; frames carry heatmaps only, addressed to the heatmaps
    steps = [s for s, _ in runs[0].boundaries]
    assert steps == [0, 10, 20, 30, 40]
    assert [f.name for f in fig.frames] == [str(s) for s in steps]
    for fr in fig.frames:
        assert list(fr.traces) == heat
        assert all(d.type == "heatmap" for d in fr.data)
    assert fig.layout.sliders[0].active == len(steps) - 1
    # the figure opens on the last snapshot; P(class 1) in whole percent
    z_last = np.asarray(fig.frames[-1].data[0].z)
    np.testing.assert_array_equal(np.asarray(fig.data[heat[0]].z), z_last)
    np.testing.assert_array_equal(z_last, np.rint(100 * runs[0].boundaries[-1][1]))
    js = json.loads(pio.to_json(fig, validate=True))
    assert js["frames"] and js["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"


def test_boundary_figure_multiclass_and_layout(blobs, blob_runs):
    fig = mf.boundary_figure(blobs, blob_runs, cols=2)
    heat = [d for d in fig.data if d.type == "heatmap"]
    shown = [k for k in fig.layout if k.startswith("xaxis") and fig.layout[k].visible is not False]
    assert len(heat) == 3 and len(shown) == 3         # 2 × 2 grid, the empty cell hidden
    cmax = fig.layout.coloraxis.cmax
    assert cmax == 4 * 50 - 1
    for d in heat:
        z = np.asarray(d.z)
        assert z.min() >= 0 and z.max() <= cmax
        # the predicted class is the band
        probs = blob_runs[heat.index(d)].boundaries[-1][1]
        np.testing.assert_array_equal(z // 50, probs.argmax(axis=-1))
    assert list(fig.layout.coloraxis.colorbar.ticktext) == [f"class {k}" for k in range(4)]
    assert len(roles(fig, "points")) == 3 * 4


def test_boundary_figure_lecture_sizes(moons, runs):
    fig = mf.boundary_figure(moons, runs[:2], lecture=True)
    assert fig.layout.font.size >= 20 and fig.layout.title.font.size >= 20
    normal = mf.boundary_figure(moons, runs[:2])
    assert roles(fig, "points")[0].marker.size > roles(normal, "points")[0].marker.size


# ----------------------------------------------------------------------------- digits
def test_confusion_figure_counts(digits, digit_runs):
    r = digit_runs[0]
    fig = mf.confusion_figure(r, digits.class_names)
    (hm,) = fig.data
    z = np.asarray(hm.z)
    assert z.shape == (10, 10)
    assert z.sum() == digits.n_test
    np.testing.assert_array_equal(z, r.confusion)
    # the diagonal is the test accuracy of the final model
    assert np.trace(z) / z.sum() == pytest.approx(r.final_test_acc)
    assert hm.texttemplate == "%{z}"
    assert list(hm.x) == list(hm.y) == [str(k) for k in range(10)]
    assert fig.layout.xaxis.title.text == "predicted class"
    assert fig.layout.yaxis.title.text == "true class"
    assert fig.layout.yaxis.autorange == "reversed"
    assert f"{100 * r.final_test_acc:.1f} %" in title(fig)
    assert fig.layout.title.subtitle.text == r.label


def test_misclassified_figure(digits, digit_runs):
    r = digit_runs[0]
    assert len(r.misclassified) > 0
    fig = mf.misclassified_figure(digits, r, k=6, cols=3)
    imgs = [d for d in fig.data if d.type == "heatmap"]
    k = min(6, len(r.misclassified))
    assert len(imgs) == k
    np.testing.assert_array_equal(np.asarray(imgs[0].z), digits.images_test[r.misclassified[0]])
    titles = [a.text for a in fig.layout.annotations if a.text.startswith("true")]
    j0 = r.misclassified[0]      # the record keeps its predictions: "true → predicted"
    assert titles[0] == f"true {digits.y_test[j0]} → {r.test_pred[j0]}"
    assert r.test_pred[j0] != digits.y_test[j0]
    # predictions passed explicitly take precedence
    pred = np.array(digits.y_test)
    pred[r.misclassified] = (pred[r.misclassified] + 1) % 10
    fig2 = mf.misclassified_figure(digits, r, predicted=pred, k=3)
    t2 = [a.text for a in fig2.layout.annotations if a.text.startswith("true")]
    j = r.misclassified[0]
    assert t2[0] == f"true {digits.y_test[j]} → {pred[j]}"
    assert "true → predicted" in fig2.layout.title.subtitle.text


def test_misclassified_figure_none(digits, digit_runs):
    import copy
    r = copy.copy(digit_runs[0])
    r.misclassified = np.zeros(0, dtype=int)
    fig = mf.misclassified_figure(digits, r)
    assert not fig.data and title(fig).endswith(": none")


# ----------------------------------------------------------------------------- text, table
def test_summary_frame_and_story(runs):
    table = mf.summary_frame(runs)
    assert list(table["Optimizer"]) == LABELS
    assert list(table.columns) == ["Optimizer", "Loss", "Train accuracy", "Test accuracy",
                                   "Diverged at step", "Mean β", "Steps", "Time (s)"]
    assert table.loc[0, "Test accuracy"] == f"{100 * runs[0].final_test_acc:.1f} %"
    assert table.loc[2, "Mean β"] == "0.9" and set(table["Steps"]) == {"40"}
    s = mf.story_text(runs)
    assert all(f"**{lab}** reached" in s for lab in LABELS)


def test_lecture_sizes_on_every_figure(runs, digits, digit_runs):
    figs = [mf.curves_figure(runs, lecture=True), mf.beta_figure(runs, lecture=True),
            mf.beta_heatmap_figure(runs[1], lecture=True),
            mf.confusion_figure(digit_runs[0], lecture=True),
            mf.misclassified_figure(digits, digit_runs[0], lecture=True)]
    for fig in figs:
        assert fig.layout.font.size >= 20, title(fig)
        for d in fig.data:
            if d.type == "scatter" and "lines" in (d.mode or "") and d.opacity is None:
                assert d.line.width >= 3, (title(fig), d.name)
