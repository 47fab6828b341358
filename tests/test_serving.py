"""Serving a lecture hall: what sessions share, and what they must not.

* Frozen figures (``adamem_core.figures.frozen``): serialised once, they send exactly the JSON of
  the figure they froze, to any number of readers, and a reader cannot change them.
* Shared figures (``ui.shared_figures``): two sessions opening the same scene build its three
  Playground charts once (counted by wrapping the figure functions the cache calls) and receive
  identical charts; a changed scene, even one that differs beyond the URL's 6 digits, builds
  again; the table's tolerance does not rebuild the charts.

No timed assertion: the CPU per page view is printed by ``benchmarks/load.py``.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import plotly.io as pio
import pytest

from adamem_core import engine, figures
from adamem_core.figures.frozen import FrozenFigure, freeze
from adamem_core.landscapes import LANDSCAPES
from adamem_core.specs import OptimizerSpec

pytestmark = pytest.mark.timeout(300)

CHARTS = ("trajectory_figure", "gap_figure", "beta_figure")


# ----------------------------------------------------------------------------- frozen figures
@pytest.fixture(scope="module")
def a_figure():
    land = LANDSCAPES["rosenbrock"]
    specs = [OptimizerSpec("am_sgd", lr=1e-3), OptimizerSpec("sgd_ema", lr=1e-3, beta=0.9)]
    runs = engine.simulate(land, specs, land.start, 60)
    return figures.trajectory_figure(engine.contour_grid(land, 40), runs, land.title,
                                     land.minima, land.start, t=30, max_frames=12, pick_grid=5)


def test_frozen_figure_sends_the_same_json(a_figure):
    frozen = freeze(a_figure)
    assert isinstance(frozen, FrozenFigure)
    want = json.loads(pio.to_json(a_figure, validate=False))
    assert json.loads(pio.to_json(frozen, validate=False)) == want
    assert json.loads(frozen.json) == want
    assert want["frames"] and want["layout"]["images"]      # the animated figure, raster and all
    # a standalone HTML export still carries the data
    html = frozen.to_html(include_plotlyjs=False, full_html=False)
    assert '"type":"contour"' in html and "Plotly.addFrames" in html


def test_frozen_figure_cannot_be_changed_by_a_reader(a_figure):
    frozen = freeze(a_figure)
    before = frozen.json
    d = frozen.to_dict()
    d["data"][0]["uid"] = "x"              # what plotly.io.to_json pops from every trace
    d["data"].append({"type": "scatter"})
    d["layout"] = {}
    assert json.loads(pio.to_json(frozen, validate=False)) == json.loads(before)
    assert freeze(frozen) is frozen


# ----------------------------------------------------------------------------- shared figures
@pytest.fixture
def built(monkeypatch):
    """Counts the builds of each Playground chart (every call of the figure function)."""
    from ui import shared_figures

    shared_figures.clear()
    counts: Counter = Counter()
    for name in CHARTS:
        orig = getattr(figures, name)

        def counted(*a, _orig=orig, _name=name, **kw):
            counts[_name] += 1
            return _orig(*a, **kw)

        monkeypatch.setattr(figures, name, counted)
    yield counts
    shared_figures.clear()


def run(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def chart_specs(at) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def test_two_sessions_on_one_scene_build_its_figures_once(new_app, built):
    first = run(new_app())
    assert built == Counter({c: 1 for c in CHARTS})
    second = run(new_app())                # another student, same link
    assert built == Counter({c: 1 for c in CHARTS})
    assert len(chart_specs(first)) == 3
    assert chart_specs(second) == chart_specs(first)
    # and what they share is the figure of this scene: the default scene's four runs
    legend = {d["name"] for d in json.loads(chart_specs(second)[0])["data"]
              if d.get("showlegend")}
    assert any("AM-SGD" in n for n in legend) and len(legend - {"minimum", "start x₀"}) == 4


def test_a_changed_scene_builds_again(new_app, built):
    run(new_app())
    run(new_app({"lr": "0.05"}))
    assert built == Counter({c: 2 for c in CHARTS})
    # a start that differs beyond the URL's 6 significant digits is still another scene
    run(new_app({"x0": "-2.6000001"}))
    assert built == Counter({c: 3 for c in CHARTS})
    run(new_app({"x0": "-2.6000001"}))
    assert built == Counter({c: 3 for c in CHARTS})


def test_a_widget_change_in_one_session_does_not_disturb_another(new_app, built):
    first, second = run(new_app()), run(new_app())
    before = chart_specs(second)
    first.slider(key="pg_t").set_value(40)
    run(first)
    # moving step t redraws all three charts (markers, the t line) for this session only
    assert built == Counter({c: 2 for c in CHARTS})
    assert all(a != b for a, b in zip(chart_specs(first), before))
    run(second)
    assert chart_specs(second) == before
    assert built == Counter({c: 2 for c in CHARTS})


def test_the_contour_raster_is_drawn_once_per_landscape(new_app, built, monkeypatch):
    """A learning-rate change redraws the paths, not the landscape's PNG raster; another
    landscape has its own; and what the page sends is the raster the figure would draw."""
    calls: Counter = Counter()
    orig = figures.contour_raster

    def counted(grid):
        calls["raster"] += 1
        return orig(grid)

    monkeypatch.setattr(figures, "contour_raster", counted)
    first = run(new_app())
    run(new_app({"lr": "0.05"}))
    run(new_app({"lr": "0.02", "steps": "60"}))
    assert built["trajectory_figure"] == 3 and calls["raster"] == 1
    run(new_app({"f": "beale"}))
    assert calls["raster"] == 2
    sent = json.loads(chart_specs(first)[0])["layout"]["images"]
    from ui.common import scene_grid
    from adamem_core.scene import Scene
    assert len(sent) == 1 and sent[0] == json.loads(json.dumps(orig(scene_grid(Scene()))))


def test_the_tables_tolerance_does_not_rebuild_the_charts(new_app, built):
    at = run(new_app())
    at.select_slider(key="pg_tol").set_value(1e-3)
    run(at)
    assert built == Counter({c: 1 for c in CHARTS})
    assert any("1e-03" in c or "0.001" in c for c in at.dataframe[0].value.columns)


def test_lecture_mode_is_its_own_figure(new_app, built):
    run(new_app())
    at = run(new_app({"lecture": "1"}))
    assert built == Counter({c: 2 for c in CHARTS})
    sizes = [json.loads(s)["layout"]["font"]["size"] for s in chart_specs(at)]
    assert min(sizes) >= 20
    assert np.isfinite(sizes).all()


# ----------------------------------------------------------------------------- small pages
def test_the_invisible_contour_is_coarse_with_the_full_grids_bands():
    land = LANDSCAPES["rosenbrock"]
    grid = engine.contour_grid(land, 160)
    runs = engine.simulate(land, [OptimizerSpec("am_sgd", lr=1e-3)], land.start, 30)
    full = figures.trajectory_figure(grid, runs, land.title, land.minima, land.start,
                                     hover_grid=0, max_frames=5)
    coarse = figures.trajectory_figure(grid, runs, land.title, land.minima, land.start,
                                       max_frames=5)
    a, b = full.data[0], coarse.data[0]
    assert a.type == b.type == "contour" and a.opacity == b.opacity == 0
    assert np.shape(a.z) == (160, 160) and np.shape(b.z) == (48, 48)
    # the same bands and colour bar: levels come from the full grid
    assert (a.contours.start, a.contours.size, a.contours.end) == \
        (b.contours.start, b.contours.size, b.contours.end)
    assert (a.zmin, a.zmax) == (b.zmin, b.zmax)
    # the coarse grid is the full grid's own points, edges included
    assert b.x[0] == a.x[0] and b.x[-1] == a.x[-1] and b.y[-1] == a.y[-1]
    assert np.asarray(b.z)[-1, -1] == np.asarray(a.z)[-1, -1]
    assert full.layout.images[0].source == coarse.layout.images[0].source


def test_a_widget_change_of_the_default_scene_sends_under_250_kb(new_app, built):
    at = run(new_app())
    at.select_slider(key="pg_lr").set_value(0.07)
    run(at)
    sent = sum(len(s.encode()) for s in chart_specs(at))
    assert built == Counter({c: 2 for c in CHARTS})
    # the three charts; the rest of the page (≈ 15 kB of small deltas) comes on top
    assert sent < 235_000, sent
    traces = json.loads(chart_specs(at)[0])["data"]
    assert any("η=0.07" in (d.get("name") or "") for d in traces)
