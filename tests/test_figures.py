"""adamem_core.figures: engine results → plotly figures (visual language of DESIGN §5)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from adamem_core import engine
from adamem_core import figures as F
from adamem_core.specs import OptimizerSpec as S

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

try:
    from adamem_core.landscapes import LANDSCAPES
    LAND = LANDSCAPES["ill_conditioned_quadratic"]
except Exception:  # pragma: no cover - the catalogue is being written alongside
    from adamem_core.landscape_base import Landscape

    _H = np.diag([1.0, 100.0])

    def _value(x):
        return 0.5 * (x[..., 0] ** 2 + 100.0 * x[..., 1] ** 2)

    LAND = Landscape(
        name="quad", title="Ill-conditioned quadratic", latex="", value=_value,
        grad=lambda x: np.asarray(x, float) * np.array([1.0, 100.0]),
        hessian=lambda x: np.broadcast_to(_H, np.shape(x)[:-1] + (2, 2)),
        domain=((-3.0, 3.0), (-3.0, 3.0)), minima=[((0.0, 0.0), 0.0)], start=(-2.6, 0.8),
        lr={"sgd": 0.1, "adamw": 0.05}, note="", convex=True)

SPECS = [S("am_sgd", 0.1), S("am_adamw", 0.05), S("sgd_ema", 0.1, beta=0.5),
         S("sgd_ema", 0.1, beta=0.9), S("adamw", 0.05), S("torch_sgd", 0.1)]
AM_SGD, AM_ADAMW, EMA5, EMA9, ADAMW, TORCH = range(6)
LINE_TYPES = ("scatter", "scatter3d", "scattergl")


@pytest.fixture(scope="module")
def runs():
    return engine.simulate(LAND, SPECS, LAND.start, 120)


@pytest.fixture(scope="module")
def grid():
    return engine.contour_grid(LAND, n=60)


@pytest.fixture(scope="module")
def step(runs):
    tr = runs[AM_SGD]
    t = 5
    return (engine.step_geometry(tr, t), engine.local_surface(LAND, tr, t, n=21),
            engine.step_slice(LAND, tr, t, n=81))


def traj_fig(runs, grid, **kw):
    return F.trajectory_figure(grid, runs, LAND.title, LAND.minima, LAND.start, **kw)


@pytest.fixture(scope="module")
def figures(runs, grid, step):
    cache = {}

    def get(lecture):
        if lecture not in cache:
            cache[lecture] = all_figures(runs, grid, step, lecture)
        return cache[lecture]
    return get


def all_figures(runs, grid, step, lecture):
    geom, surf, sl = step
    return {
        "trajectory": traj_fig(runs, grid, t=30, lecture=lecture),
        "trajectory3d": traj_fig(runs, grid, surface3d=True, lecture=lecture),
        "gap": F.gap_figure(runs, LAND.f_star, t=30, lecture=lecture),
        "beta": F.beta_figure(runs, t=30, show_model_beta=True, show_effective=True,
                              lecture=lecture),
        "planes": F.planes_figure(surf, geom, lecture=lecture, show_max=True),
        "slice": F.slice_figure(sl, geom, lecture=lecture),
        "vectors": F.vectors_figure(grid, geom, lecture=lecture),
        "dual": F.dual_figure(geom, lecture=lecture),
    }


def legend_names(fig):
    return [d.name for d in fig.data if d.showlegend is not False and d.name
            and d.type not in ("contour", "surface") or (d.type == "surface" and d.showlegend)]


def color_of(fig, run, roles):
    for d in fig.data:
        if d.meta and d.meta.get("run") == run and d.meta.get("role") in roles:
            return d.line.color
    raise AssertionError(f"no trace of run {run} with role in {roles}")


def by_role(fig, role):
    return [d for d in fig.data if d.meta and d.meta.get("role") == role]


def plain(text):
    return re.sub(r"<[^>]+>", "", text or "")


# ----------------------------------------------------------------------------- styles
def test_am_runs_get_the_two_strongest_colours_and_baselines_a_graded_family():
    styles = F.assign_styles(SPECS)
    assert styles[AM_SGD]["color"] == F.OKABE_ITO["vermillion"]
    assert styles[AM_ADAMW]["color"] == F.OKABE_ITO["blue"]
    am = {styles[AM_SGD]["color"], styles[AM_ADAMW]["color"]}
    for i in (EMA5, EMA9, ADAMW, TORCH):
        assert styles[i]["color"] not in am
    assert styles[EMA5]["color"] != styles[EMA9]["color"]
    assert styles[AM_SGD]["dash"] == styles[AM_ADAMW]["dash"] == "solid"
    assert styles[AM_SGD]["symbol"] != styles[AM_ADAMW]["symbol"]
    # a distinct dash per kind: nothing essential by colour alone
    kinds = {n: F.style_for(S(n, 0.1))["dash"] for n in
             ("sgd_ema", "nesterov", "sgd", "adamw", "torch_sgd")}
    assert kinds == {"sgd_ema": "dash", "nesterov": "dot", "sgd": "dashdot",
                     "adamw": "longdash", "torch_sgd": "longdashdot"}
    # graded by β: larger β is darker (lower luminance), the lightest still visible on white
    lum = [_luminance(F.style_for(S("sgd_ema", 0.1, beta=b))["color"])
           for b in (0.0, 0.5, 0.9, 0.99)]
    assert lum == sorted(lum, reverse=True) and len(set(lum)) == 4
    assert _contrast(F.style_for(S("sgd", 0.1))["color"], "#FFFFFF") >= 3.0


def test_runs_that_would_look_alike_get_distinct_colours_and_markers():
    specs = [S("sgd_ema", 0.1, beta=0.9), S("sgd_ema", 0.05, beta=0.9),
             S("sgd_ema", 0.02, beta=0.9), S("torch_sgd", 0.1, beta=0.9), S("am_sgd", 0.1),
             S("am_sgd", 0.05)]
    styles = F.assign_styles(specs)
    colors = [s["color"] for s in styles]
    assert len(set(colors)) == len(colors)
    assert len({s["symbol"] for s in styles[:3]}) == 3
    assert F.assign_styles(specs) == styles            # deterministic
    assert styles[0] == F.style_for(specs[0])          # the first keeps its base style


def test_lecture_styles_are_thick():
    assert F.style_for(S("am_sgd", 0.1), lecture=True)["width"] >= 3
    assert F.style_for(S("am_sgd", 0.1))["width"] == 2


# ----------------------------------------------------------------------------- all figures
@pytest.mark.parametrize("lecture", [False, True])
def test_every_function_returns_a_figure_with_titled_axes(figures, lecture):
    figs = figures(lecture)
    for name, fig in figs.items():
        assert isinstance(fig, go.Figure), name
        assert fig.layout.title.text, name
        assert fig.layout.template.layout.plot_bgcolor in ("white", "#fff", "#ffffff", None)
        assert fig.layout.uirevision, name
    ax = lambda f, a: plain(getattr(f.layout, a).title.text)  # noqa: E731
    # on a projector the paths' plot takes the axis titles' room (the ticks stay)
    assert (ax(figs["trajectory"], "xaxis"), ax(figs["trajectory"], "yaxis")) == \
        (("", "") if lecture else ("x", "y"))
    assert (ax(figs["gap"], "xaxis"), ax(figs["gap"], "yaxis")) == ("step t", "f(xt) − f*")
    assert (ax(figs["beta"], "xaxis"), ax(figs["beta"], "yaxis")) == ("step t", "βt")
    assert ax(figs["slice"], "xaxis") == "s (in steps; s = 1 is xt+1)"
    assert ax(figs["slice"], "yaxis") == "value"
    assert (ax(figs["dual"], "xaxis"), ax(figs["dual"], "yaxis")) == ("β", "D(β)")
    assert (ax(figs["vectors"], "xaxis"), ax(figs["vectors"], "yaxis")) == ("x", "y")
    for name in ("planes", "trajectory3d"):
        sc = figs[name].layout.scene
        assert (sc.xaxis.title.text, sc.yaxis.title.text) == ("x", "y")
    assert figs["planes"].layout.scene.zaxis.title.text == "f"
    assert figs["trajectory3d"].layout.scene.zaxis.title.text == "log₁₀(f − f*)"
    # contour colour bar says what the shading is
    assert figs["trajectory"].data[0].colorbar.title.text == "log₁₀(f − f*)"


def test_lecture_mode_fonts_and_lines(figures):
    for name, fig in figures(True).items():
        lay = fig.layout
        assert lay.font.size >= 20, name
        assert lay.title.font.size >= 24, name
        assert lay.legend.font.size >= 20, name
        for axis in (lay.xaxis, lay.yaxis, lay.scene.xaxis, lay.scene.yaxis, lay.scene.zaxis):
            if axis.tickfont.size is not None:
                assert axis.tickfont.size >= 20, name
        for ann in lay.annotations:
            assert ann.font.size >= 20, name
        for d in fig.data:
            if d.type in LINE_TYPES and "lines" in (d.mode or ""):
                assert d.line.width >= 3, (name, d.name, d.line.width)
        for shape in lay.shapes:
            if shape.type == "line":
                assert shape.line.width >= 3, name
        for sl in lay.sliders:
            assert sl.font.size >= 20 and sl.currentvalue.font.size >= 20
    normal = figures(False)
    assert normal["gap"].layout.font.size < 20
    widths = {d.line.width for d in normal["gap"].data if "lines" in (d.mode or "")}
    assert widths == {2}


def test_legends_name_the_optimizer_and_its_hyper_parameters(runs, grid):
    figs = [traj_fig(runs, grid), traj_fig(runs, grid, surface3d=True),
            F.gap_figure(runs, LAND.f_star)]
    for fig in figs:
        names = [d.name for d in fig.data if d.showlegend is not False]
        for tr in runs:
            assert any(tr.label in n for n in names), (tr.label, names)
    assert "EMA momentum β=0.9, η=0.1" in [tr.label for tr in runs]
    beta_names = [d.name for d in F.beta_figure(runs).data]
    assert f"{runs[EMA9].label} (constant)" in beta_names
    assert runs[AM_SGD].label in beta_names


def test_one_colour_per_optimizer_across_charts(runs, grid):
    tf, gf, bf = traj_fig(runs, grid), F.gap_figure(runs, LAND.f_star), F.beta_figure(runs)
    styles = F.assign_styles([tr.spec for tr in runs])
    for r in range(len(runs)):
        c = styles[r]["color"]
        assert color_of(tf, r, ("head", "legend")) == c
        assert color_of(gf, r, ("gap",)) == c
        assert color_of(bf, r, ("beta",)) == c
        assert next(d for d in tf.data if d.meta and d.meta.get("run") == r
                    and d.meta["role"] == "point").marker.symbol == styles[r]["symbol"]
    assert len({s["color"] for s in styles}) == len(runs)


# ----------------------------------------------------------------------------- trajectory figure
def test_trajectory_figure_marks_start_minima_and_current_points(runs, grid):
    fig = traj_fig(runs, grid, t=30, animate=False)
    assert fig.data[0].type == "contour"
    start = by_role(fig, "start")[0]
    assert start.name == "start x₀" and start.marker.symbol == "star"
    assert (start.x[0], start.y[0]) == pytest.approx(LAND.start)
    mins = by_role(fig, "minimum")[0]
    assert mins.name == "minimum" and mins.marker.symbol == "cross" and mins.marker.color == "white"
    tr = runs[AM_SGD]
    head = next(d for d in by_role(fig, "head") if d.meta["run"] == AM_SGD)
    np.testing.assert_allclose(head.x, tr.x[:31, 0], rtol=1e-6)
    np.testing.assert_allclose(head.y, tr.x[:31, 1], rtol=1e-6)
    point = next(d for d in by_role(fig, "point") if d.meta["run"] == AM_SGD)
    assert (point.x[0], point.y[0]) == pytest.approx(tuple(tr.x[30]), rel=1e-6)
    (xa, xb), (ya, yb) = LAND.domain
    assert tuple(fig.layout.xaxis.range) == (xa, xb) and tuple(fig.layout.yaxis.range) == (ya, yb)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert not fig.frames


def test_a_diverged_run_is_marked_where_it_left(runs, grid):
    tr = runs[EMA5]
    assert tr.diverged_at is not None, "β=0.5 at η=0.1 should diverge on κ=100"
    for fig in (traj_fig(runs, grid), F.gap_figure(runs, LAND.f_star)):
        names = [d.name for d in fig.data if d.showlegend is not False]
        assert f"{tr.label} — diverged at step {tr.diverged_at}" in names
        marks = [d for d in by_role(fig, "diverged") if d.meta["run"] == EMA5]
        assert len(marks) == 1 and marks[0].marker.symbol == "x"
    fig = traj_fig(runs, grid, animate=False)
    mark = next(d for d in by_role(fig, "diverged") if d.meta["run"] == EMA5)
    (xa, xb), (ya, yb) = LAND.domain
    assert xa - 0.2 <= mark.x[0] <= xb + 0.2 and ya - 0.2 <= mark.y[0] <= yb + 0.2
    assert mark.opacity == 1
    assert traj_fig(runs, grid, t=0, animate=False).data[mark_index(fig, EMA5)].opacity == 0
    assert not [d for d in by_role(fig, "diverged") if d.meta["run"] == AM_SGD]


def mark_index(fig, run):
    return next(i for i, d in enumerate(fig.data) if d.meta and d.meta.get("role") == "diverged"
                and d.meta["run"] == run)


def test_animated_frames_touch_only_the_trajectory_traces(runs, grid):
    fig = traj_fig(runs, grid, t=40)
    animated = list(fig.layout.meta["animated_traces"])
    assert 0 not in animated
    roles = {fig.data[i].meta["role"] for i in animated}
    assert roles <= {"block", "head", "point", "diverged"}
    assert {"head", "point"} <= roles
    assert all(fig.data[i].meta["role"] in ("contour", "minimum", "start", "legend")
               for i in range(len(fig.data)) if i not in animated)
    assert 2 <= len(fig.frames) <= 121
    for fr in fig.frames:
        assert list(fr.traces) == animated
        assert len(fr.data) == len(animated)
        assert all(d.type == "scatter" for d in fr.data)
        assert fr.layout is None or not fr.layout.to_plotly_json()
    names = [fr.name for fr in fig.frames]
    assert names[0] == "0" and names[-1] == str(runs[0].steps) and "40" in names
    # plotly.js drops non-animated SVG traces while it animates scatter traces: the contour
    # background is a layout image, the contour trace stays (invisible) for hover + colour bar
    image = fig.layout.images[0]
    assert image.source.startswith("data:image/png;base64,") and image.layer == "below"
    assert (image.x, image.y, image.sizex, image.sizey) == (-3, 3, 6, 6)
    assert fig.data[0].opacity == 0 and fig.data[0].colorbar.title.text == "log₁₀(f − f*)"
    assert not traj_fig(runs, grid, animate=False).layout.images
    assert traj_fig(runs, grid, animate=False).data[0].opacity == 1
    slider = fig.layout.sliders[0]
    assert slider.steps[slider.active].label == "40"
    assert [b.label for b in fig.layout.updatemenus[0].buttons][-1].endswith("Pause")
    json.loads(fig.to_json())                          # serialisable


def _decode_png(uri):
    """A PNG data URI → (h, w, 4) uint8 RGBA (decoded by Pillow, an independent decoder)."""
    import base64
    import io

    from PIL import Image

    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    assert img.mode == "RGBA"
    return np.asarray(img)


def test_contour_image_matches_the_landscape(grid):
    img = _decode_png(F._contour_image(grid, pixels=120)["source"])
    assert img.shape == (120, 120, 4) and (img[..., 3] == 255).all()
    lum = img[..., :3].astype(float).mean(axis=-1)
    # the valley y ≈ 0 (small f − f*) is light, the top and bottom edges (large f) dark
    assert lum[50:71].mean() > lum[:10].mean() + 10 and lum[50:71].mean() > lum[-10:].mean() + 10
    assert lum[:, :].max() >= 240 and lum[0, 0] < 190
    holes = dict(grid, display=np.where(np.arange(60)[None, :] < 30, np.nan, grid["display"]))
    img = _decode_png(F._contour_image(holes, pixels=60)["source"])
    assert (img[:, :25, 3] == 0).all() and (img[:, 35:, 3] == 255).all()
    low = dict(grid, display=np.where(np.asarray(grid["ys"])[:, None] < 0, np.nan, grid["display"]))
    img = _decode_png(F._contour_image(low, pixels=60)["source"])     # rows: top = largest y
    assert (img[35:, :, 3] == 0).all() and (img[:25, :, 3] == 255).all()


def test_frame_stride_and_frame_cap(runs, grid):
    assert len(traj_fig(runs, grid, frame_stride=10).frames) == 13       # 0, 10, …, 120
    long = engine.simulate(LAND, SPECS[:2], LAND.start, 1000)
    assert len(traj_fig(long, grid).frames) <= 121


def _path_at_frame(fig, frame, run):
    """The points of one run a viewer sees after ``frame``: visible blocks + head, checking
    the line is unbroken (each piece starts where the previous one ended)."""
    state = {i: d for i, d in zip(frame.traces, frame.data)}
    pts = []
    ends = {0}
    for i, d in enumerate(fig.data):
        if not d.meta or d.meta.get("run") != run:
            continue
        role = d.meta["role"]
        if role == "block" and state[i].opacity == 1:
            pts.append((d.meta["lo"], np.column_stack([d.x, d.y]), d.customdata))
            ends.add(int(d.customdata[-1]))
        elif role == "head":
            pts.append((None, np.column_stack([state[i].x, state[i].y]), state[i].customdata))
    for lo, _, cd in pts:
        first = int(cd[0])
        assert first in ends, f"piece starting at step {first} leaves a gap"
    steps = {}
    for _, xy, cd in pts:
        for s, p in zip(np.asarray(cd, int), xy):
            steps[int(s)] = p
    return steps


@pytest.mark.parametrize("resolution", [0, 4800])
@pytest.mark.parametrize("budget", [10_000_000, 20_000])
def test_every_frame_shows_exactly_the_path_up_to_its_step(runs, grid, budget, resolution):
    """Each frame draws the path from the start to its step, unbroken; with
    ``resolution_px=0`` every iterate, else every iterate but those within 1/resolution of the
    domain's larger side (max-norm) of the last one drawn: the same pixels on any screen up to
    ``resolution`` px wide."""
    fig = traj_fig(runs, grid, frame_bytes=budget, resolution_px=resolution)
    has_blocks = bool(by_role(fig, "block"))
    assert has_blocks == (budget < 1_000_000)
    (xa, xb), (ya, yb) = (grid["xs"][0], grid["xs"][-1]), (grid["ys"][0], grid["ys"][-1])
    tol = max(xb - xa, yb - ya) / resolution if resolution else 0.0
    skipped = 0
    for fr in fig.frames[::7] + (fig.frames[-1],):
        k = int(fr.name)
        for r, tr in enumerate(runs):
            seen = _path_at_frame(fig, fr, r)
            assert seen, (k, r)
            upto = max(seen)
            if tr.diverged_at is None:
                assert upto == k
            else:
                assert upto <= k
            drawn = sorted(seen)
            assert drawn[0] == 0 and drawn[-1] == upto
            if not resolution:
                assert drawn == list(range(upto + 1))
            for s in range(upto + 1):          # a skipped iterate: under the last one drawn
                if s not in seen:
                    prev = max(d for d in drawn if d < s)
                    assert np.max(np.abs(tr.x[s] - tr.x[prev])) < tol, (k, r, s, prev)
                    skipped += 1
            for s, p in seen.items():
                np.testing.assert_allclose(p, tr.x[s], rtol=1e-6)
            point = fr.data[list(fr.traces).index(
                next(i for i, d in enumerate(fig.data) if d.meta and d.meta.get("run") == r
                     and d.meta["role"] == "point"))]
            np.testing.assert_allclose([point.x[0], point.y[0]], tr.x[upto], rtol=1e-6)
    assert (skipped > 0) == bool(resolution)     # converged runs do pile up at the minimum


def test_animated_figure_stays_small_with_8_runs_of_500_steps(grid):
    specs = SPECS + [S("nesterov", 0.1, beta=0.9), S("sgd", 0.05)]
    runs = engine.simulate(LAND, specs, LAND.start, 500)
    fig = traj_fig(runs, grid=engine.contour_grid(LAND))
    size = len(fig.to_json())
    assert size < 2_000_000, size
    # the contour is sent once: no frame mentions it
    assert all(0 not in fr.traces for fr in fig.frames)
    assert sum(d.type == "contour" for d in fig.data) == 1


def test_surface3d_lifts_paths_onto_the_display_surface(runs, grid):
    fig = traj_fig(runs, grid, surface3d=True, t=20)
    assert fig.data[0].type == "surface"
    path = next(d for d in fig.data if d.meta and d.meta.get("role") == "path3d"
                and d.meta["run"] == AM_SGD)
    assert len(path.x) == 21
    inside = np.isfinite(np.asarray(path.z, float))
    assert inside.sum() >= 10
    assert not fig.frames


# ----------------------------------------------------------------------------- gap and β
def test_gap_figure_log_axis_when_f_star_is_known(runs):
    fig = F.gap_figure(runs, LAND.f_star, t=25)
    assert fig.layout.yaxis.type == "log"
    gap = next(d for d in by_role(fig, "gap") if d.meta["run"] == AM_SGD)
    expected = engine.gap_to_optimum(runs[AM_SGD], LAND.f_star)
    pos = expected > 0
    np.testing.assert_allclose(np.asarray(gap.y)[pos], expected[pos])
    assert np.all(np.asarray(gap.y)[np.isfinite(gap.y)] > 0)       # nothing ≤ 0 on a log axis
    assert "step t = %{x}" in gap.hovertemplate
    assert any(s.type == "line" and s.x0 == s.x1 == 25 for s in fig.layout.shapes)
    assert "diverged at step" in by_role(fig, "diverged")[0].name


def test_gap_figure_clips_non_positive_gaps_to_a_floor(runs):
    fig = F.gap_figure(runs, f_star=float(np.nanmin([np.nanmin(tr.f) for tr in runs])))
    ys = np.concatenate([np.asarray(d.y, float) for d in by_role(fig, "gap")])
    assert np.nanmin(ys) > 0 and np.nanmin(ys) <= F.GAP_FLOOR


def test_gap_figure_linear_axis_without_f_star(runs):
    fig = F.gap_figure(runs, None)
    assert fig.layout.yaxis.type in (None, "linear", "-")
    assert plain(fig.layout.yaxis.title.text) == "f(xt)"
    gap = next(d for d in by_role(fig, "gap") if d.meta["run"] == EMA9)
    np.testing.assert_allclose(gap.y, runs[EMA9].f)


def test_beta_figure_traces_come_from_the_trajectory(runs):
    fig = F.beta_figure(runs, t=12, show_model_beta=True)
    am = next(d for d in by_role(fig, "beta") if d.meta["run"] == AM_SGD)
    np.testing.assert_array_equal(np.asarray(am.y, float), runs[AM_SGD].beta)
    flat = next(d for d in by_role(fig, "beta") if d.meta["run"] == EMA9)
    y = np.asarray(flat.y, float)
    assert flat.name == f"{runs[EMA9].label} (constant)"
    assert np.all(y[np.isfinite(y)] == 0.9) and np.isfinite(y).sum() == runs[EMA9].steps
    model = next(d for d in by_role(fig, "model_beta") if d.meta["run"] == EMA9)
    np.testing.assert_array_equal(np.asarray(model.y, float), runs[EMA9].model_beta)
    assert model.name.endswith("— model's β") and model.line.dash == "dot"
    assert not [d for d in by_role(fig, "model_beta") if d.meta["run"] in (AM_SGD, TORCH)]
    assert tuple(fig.layout.yaxis.range)[0] <= 0 and tuple(fig.layout.yaxis.range)[1] >= 1
    assert tuple(fig.layout.yaxis.range) == pytest.approx((-0.02, 1.02))
    assert any(s.type == "line" and s.x0 == 12 for s in fig.layout.shapes)
    assert not by_role(F.beta_figure(runs), "model_beta")
    eff = by_role(F.beta_figure(runs, show_effective=True), "effective")
    assert {d.meta["run"] for d in eff} == {AM_SGD, AM_ADAMW}
    np.testing.assert_array_equal(np.asarray(eff[0].y, float), runs[AM_SGD].effective_momentum)


# ----------------------------------------------------------------------------- table
def test_summary_table_formatting(runs):
    rows = engine.summarize(runs, LAND, tol=1e-6)
    df = F.summary_table(rows, tol=1e-6)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["Optimizer", "Steps to f − f* < 1e-06", "Final f − f*",
                                "Diverged at step", "Mean β"]
    assert list(df["Optimizer"]) == [tr.label for tr in runs]
    steps = df.iloc[:, 1]
    assert steps[EMA5] == "never" and steps[AM_SGD].isdigit()
    assert int(steps[AM_SGD]) == rows[AM_SGD]["steps_to_tol"]
    assert df["Diverged at step"][AM_SGD] == "—"
    assert df["Diverged at step"][EMA5] == str(runs[EMA5].diverged_at)
    assert re.fullmatch(r"-?\d\.\de[+-]\d\d", df["Final f − f*"][AM_SGD])
    assert df["Mean β"][EMA9] == "0.9"
    assert df["Mean β"][TORCH] == "0.9"
    unknown = [dict(r, steps_to_tol=None, final_gap=None) for r in rows]
    df2 = F.summary_table(unknown, tol=1e-3)
    assert "Final f" in df2.columns and set(df2.iloc[:, 1]) == {"—"}
    assert list(F.summary_table([], 1e-6).columns)[0] == "Optimizer"


# ----------------------------------------------------------------------------- inside one step
def test_planes_figure(step):
    geom, surf, _ = step
    fig = F.planes_figure(surf, geom, show_max=True)
    roles = {d.meta["role"]: d for d in fig.data if d.meta}
    assert {"f", "grad_plane", "mem_plane", "max_plane", "model", "x_t", "x_next"} <= set(roles)
    assert "ℓ<sub>g</sub>" in roles["grad_plane"].name
    assert "ℓ<sub>m</sub>" in roles["mem_plane"].name
    assert roles["grad_plane"].showlegend and roles["mem_plane"].showlegend
    assert roles["grad_plane"].colorscale[0][1] != roles["mem_plane"].colorscale[0][1]
    lo, hi = fig.layout.scene.zaxis.range
    for role in ("grad_plane", "mem_plane"):
        z = np.asarray(roles[role].z, float)
        assert np.all((z[np.isfinite(z)] >= lo) & (z[np.isfinite(z)] <= hi))
    fz = np.asarray(surf["f"], float)
    assert lo <= fz.min() and hi >= fz.max()
    assert "max_plane" not in {d.meta["role"] for d in F.planes_figure(surf, geom).data if d.meta}
    assert roles["x_t"].z[0] == pytest.approx(geom["f"])


def test_slice_figure(step):
    geom, _, sl = step
    fig = F.slice_figure(sl, geom)
    roles = {d.meta["role"]: d for d in fig.data}
    assert set(roles) == {"f", "grad_plane", "mem_plane", "max_plane", "model"}
    np.testing.assert_array_equal(roles["grad_plane"].y, sl["grad_plane"])
    np.testing.assert_array_equal(roles["model"].y, sl["model"])
    assert roles["mem_plane"].line.dash == "dash"
    assert roles["max_plane"].line.width > roles["model"].line.width
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert 0.0 in xs and 1.0 in xs
    texts = " ".join(plain(a.text) for a in fig.layout.annotations)
    assert "xt" in texts and "xt+1" in texts and "model's minimiser" in texts


def test_vectors_figure(grid, step, runs):
    geom = step[0]
    fig = F.vectors_figure(grid, geom)
    vecs = by_role(fig, "vector")
    names = [plain(d.name) for d in vecs]
    assert any(n.startswith("−η gt") for n in names)
    assert any(n.startswith("−η dt ") for n in names)
    assert any(n.startswith("−η dt+1") for n in names)
    colors, dashes = [d.line.color for d in vecs], [d.line.dash for d in vecs]
    assert len(set(colors)) == len(vecs) and len(set(dashes)) == len(vecs)
    new = next(d for d in vecs if plain(d.name).startswith("−η dt+1"))
    np.testing.assert_allclose([new.x[1], new.y[1]], geom["x_next"], rtol=1e-9, atol=1e-12)
    assert all(list(d.marker.symbol)[-1] == "arrow" for d in vecs)
    assert fig.layout.yaxis.scaleanchor == "x"
    # AM-AdamW: shown in the preconditioned coordinates the step uses
    ga = engine.step_geometry(runs[AM_ADAMW], 5)
    names = [plain(d.name) for d in by_role(F.vectors_figure(grid, ga), "vector")]
    assert any("P⁻¹" in n for n in names) and any("step taken" in n for n in names)


def test_dual_figure(step, runs):
    geom = step[0]
    fig = F.dual_figure(geom)
    roles = {d.meta["role"]: d for d in fig.data}
    np.testing.assert_array_equal(roles["dual"].y, geom["dual"])
    assert roles["chosen"].x[0] == pytest.approx(geom["model_beta"])
    assert "fixed" not in roles
    assert any(s.type == "rect" and s.x0 == pytest.approx(geom["beta_max"])
               for s in fig.layout.shapes)
    if 0 <= geom["unclipped"] <= 1.2:
        assert roles["unclipped"].x[0] == pytest.approx(geom["unclipped"])
    gf = engine.step_geometry(runs[EMA9], 5)
    roles = {d.meta["role"]: d for d in F.dual_figure(gf).data}
    assert roles["fixed"].x[0] == 0.9 and "fixed β used" in roles["fixed"].name


# ----------------------------------------------------------------------------- no Streamlit
def test_figures_never_import_streamlit():
    src = Path(F.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+streamlit", src, re.M)
    code = ("import sys, adamem_core.figures as f; "
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_apply_lecture_thickens_a_foreign_figure():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], line=dict(width=1)))
    F.apply_lecture(fig, True)
    assert fig.data[0].line.width >= 3 and fig.layout.font.size >= 20


# ----------------------------------------------------------------------------- helpers
def _luminance(hex_color):
    c = [int(hex_color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _contrast(a, b):
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_pick_grid_is_an_invisible_unanimated_layer_over_the_domain(runs, grid):
    fig = traj_fig(runs, grid, t=10, pick_grid=11)
    picks = [i for i, d in enumerate(fig.data) if (d.meta or {}).get("role") == "pick"]
    assert len(picks) == 1
    tr = fig.data[picks[0]]
    assert len(tr.x) == 121 and tr.marker.opacity == 0 and tr.showlegend is False
    assert tr.marker.maxdisplayed == 1       # one SVG marker drawn; clicks pick from the data
    (xa, xb), (ya, yb) = LAND.domain
    assert min(tr.x) == xa and max(tr.x) == xb and min(tr.y) == ya and max(tr.y) == yb
    assert picks[0] not in fig.layout.meta["animated_traces"]
    plain = traj_fig(runs, grid, t=10)
    assert not any((d.meta or {}).get("role") == "pick" for d in plain.data)
