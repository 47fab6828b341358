"""adamem_core.figures.spec: the Playground's charts built as plain dicts (``frozen=True``) send
exactly the JSON of the validated ``go.Figure`` (``frozen=False``), and ``SpecFigure`` merges
like plotly.py's ``update``.

Why it matters: the page sends the frozen spec, which plotly.py never validates. These tests
build every Playground chart both ways on scenes that exercise every branch (diverged runs,
path blocks, pick grid, lecture sizes, an unknown f*, the model's β and the effective momentum)
and require the same JSON text, so a misspelt property or a value validation would change
fails here instead of reaching a browser."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from adamem_core import engine
from adamem_core import figures as F
from adamem_core.figures.frozen import FrozenFigure, freeze
from adamem_core.figures.spec import Obj, SpecFigure, scatter
from adamem_core.landscapes import LANDSCAPES
from adamem_core.specs import OptimizerSpec as S

LAND = LANDSCAPES["ill_conditioned_quadratic"]
# the benchmark's heavy scene in small: two runs diverge, the others converge
SPECS = [S("am_sgd", 0.1), S("am_adamw", 0.1), S("sgd_ema", 0.1, beta=0.9),
         S("sgd_ema", 0.1, beta=0.5), S("sgd_ema", 0.1, beta=0.7), S("nesterov", 0.1, beta=0.9),
         S("adamw", 0.1), S("torch_sgd", 0.1)]


@pytest.fixture(scope="module")
def runs():
    out = engine.simulate(LAND, SPECS, LAND.start, 160)
    assert any(tr.diverged_at is not None for tr in out)      # the ✕ branch is exercised
    return out


@pytest.fixture(scope="module")
def grid():
    return engine.contour_grid(LAND, n=60)


def _text(fig: go.Figure) -> str:
    """The figure's JSON, keys sorted (NaN written as NaN on both sides)."""
    d = fig.spec if isinstance(fig, FrozenFigure) else json.loads(pio.to_json(fig,
                                                                              validate=False))
    return json.dumps(d, sort_keys=True)


def _both(build):
    frozen, checked = build(frozen=True), build()
    assert isinstance(frozen, FrozenFigure)
    assert not isinstance(checked, FrozenFigure) and isinstance(checked, go.Figure)
    return frozen, checked


TRAJ_CASES = {
    "animated, small budget (path blocks), pick grid": dict(t=80, max_frames=30,
                                                            frame_bytes=20_000, pick_grid=9),
    "animated, at the end, lecture": dict(max_frames=50, lecture=True),
    "static": dict(t=40, animate=False),
}


@pytest.mark.parametrize("case", list(TRAJ_CASES))
def test_frozen_trajectory_chart_is_the_validated_figure(runs, grid, case):
    kw = TRAJ_CASES[case]
    frozen, checked = _both(lambda **f: F.trajectory_figure(
        grid, runs, LAND.title, [m[0] for m in LAND.minima], LAND.start, **kw, **f))
    assert _text(frozen) == _text(checked)
    # and the page's path (freeze of the frozen figure) changes nothing
    assert freeze(frozen) is frozen
    roles = {(d.get("meta") or {}).get("role") for d in frozen.spec["data"]}
    assert {"contour", "point", "legend", "start", "diverged"} <= roles
    if kw.get("animate", True):
        assert frozen.spec["frames"] and frozen.spec["layout"]["images"]
    if kw.get("frame_bytes") == 20_000:
        assert "block" in roles and "pick" in roles


@pytest.mark.parametrize("f_star", [0.0, None])
@pytest.mark.parametrize("lecture", [False, True])
def test_frozen_gap_chart_is_the_validated_figure(runs, f_star, lecture):
    frozen, checked = _both(lambda **f: F.gap_figure(runs, f_star, t=37, lecture=lecture, **f))
    assert _text(frozen) == _text(checked)
    assert frozen.spec["layout"]["shapes"] and frozen.spec["layout"]["annotations"]   # step t
    assert (frozen.spec["layout"]["yaxis"].get("type") == "log") == (f_star is not None)


@pytest.mark.parametrize("extras", [dict(), dict(show_model_beta=True, show_effective=True)])
def test_frozen_beta_chart_is_the_validated_figure(runs, extras):
    frozen, checked = _both(lambda **f: F.beta_figure(runs, t=12, **extras, **f))
    assert _text(frozen) == _text(checked)
    roles = {(d.get("meta") or {}).get("role") for d in frozen.spec["data"]}
    assert ("model_beta" in roles) == bool(extras)


def test_the_frozen_chart_is_much_lighter_to_build(runs, grid):
    """Not a timing: plotly.py's object model is not used at all on the frozen path."""
    import plotly.basedatatypes as bdt

    calls = {"n": 0}
    orig = bdt.BasePlotlyType.__init__

    def counting(self, *a, **kw):
        calls["n"] += 1
        return orig(self, *a, **kw)

    bdt.BasePlotlyType.__init__ = counting
    try:
        F.gap_figure(runs, 0.0, t=3, frozen=True)
        F.beta_figure(runs, t=3, frozen=True)
        n_frozen = calls["n"]
        calls["n"] = 0
        F.gap_figure(runs, 0.0, t=3)
        n_checked = calls["n"]
    finally:
        bdt.BasePlotlyType.__init__ = orig
    # the frozen path builds no graph object but the empty FrozenFigure shell (its layout)
    assert n_frozen <= 4 < n_checked, (n_frozen, n_checked)


# ----------------------------------------------------------------------------- SpecFigure
def _same_calls(fig):
    """The same building calls, for a go.Figure or a SpecFigure."""
    fig.add_trace(scatter(x=np.arange(4, dtype=np.uint16), y=np.linspace(0, 1, 4),
                          line=dict(color="red", width=2), meta={"role": "a"}, name="a")
                  if isinstance(fig, SpecFigure) else
                  go.Scatter(x=np.arange(4, dtype=np.uint16), y=np.linspace(0, 1, 4),
                             line=dict(color="red", width=2), meta={"role": "a"}, name="a"))
    fig.add_trace(go.Contour(z=np.eye(3, dtype=np.float32), showscale=False, _validate=False))
    fig.data[0].update(line=dict(dash="dot"), opacity=0.5)       # merged, not replaced
    fig.data[1].meta = {"role": "contour"}
    fig.update_layout(template=pio.templates["plotly_white"],
                      title=dict(text="T", font=dict(size=20)), legend=dict(x=0.0))
    fig.update_layout(title=dict(x=0.1), legend=dict(font=dict(size=11)))
    fig.update_xaxes(range=[0, 3], title=dict(text="x"))
    fig.update_xaxes(title=dict(font=dict(size=9)), showgrid=False)
    fig.update_yaxes(type="log", range=[-2, 0])
    fig.add_shape(type="line", x0=1, x1=1, y0=0, y1=1, yref="paper", line=dict(width=2))
    fig.add_annotation(x=1, y=1, yref="paper", text="t = 1", showarrow=False)
    fig.add_layout_image(dict(source="data:image/png;base64,AAAA", xref="x", yref="y", x=0,
                              y=1, sizex=1, sizey=1, layer="below"))
    fig.update_layout(meta={"animated_traces": [0]})
    return fig


def test_spec_figure_merges_like_plotly():
    mine = _same_calls(SpecFigure()).build(frozen=True)
    want = _same_calls(go.Figure())
    assert _text(mine) == _text(want)
    assert mine.spec["layout"]["title"] == {"text": "T", "font": {"size": 20}, "x": 0.1}
    assert mine.spec["data"][0]["line"] == {"color": "red", "width": 2, "dash": "dot"}
    # the unfrozen build validates: the same figure as plotly's own
    assert _text(_same_calls(SpecFigure()).build()) == _text(want)


def test_unfrozen_build_rejects_what_plotly_rejects():
    fig = SpecFigure()
    fig.add_trace(scatter(x=[1, 2], y=[1, 2], linee=dict(width=2)))     # misspelt property
    with pytest.raises(ValueError):
        fig.build()
    fig = SpecFigure()
    fig.add_trace(scatter(x=[1, 2], y=[1, 2], opacity=2.0))             # out of range
    with pytest.raises(ValueError):
        fig.build()


def test_obj_reads_unset_properties_as_none_and_keeps_protocols():
    o = Obj(a=1, b=dict(c=2))
    assert o.a == 1 and o.b.c == 2 and o.missing is None
    o.update(b=dict(d=3))
    assert o == {"a": 1, "b": {"c": 2, "d": 3}}
    with pytest.raises(AttributeError):
        o._private          # noqa: B018 — private and protocol names are not properties
    import copy
    import pickle
    assert copy.deepcopy(o) == o and pickle.loads(pickle.dumps(o)) == o
