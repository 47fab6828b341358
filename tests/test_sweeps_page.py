"""The Sweeps page: its scene (``adamem_core.sweep_scene``: URL ↔ controls, validated, limited)
and the page (``app_pages/sweeps.py``) through Streamlit's AppTest, asserting on what the user
sees: the map and the fair comparison render from the defaults with captions that follow the
controls; hostile URL values for every key are corrected with a notice (every key and value
through the scene parser, all keys at once through the page); a custom formula; a bad formula's
message; the limits notice; many starts; noise; a clicked cell's Playground link reopens
exactly that run."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from adamem_core import scene as pg_scene
from adamem_core.landscapes import LANDSCAPES
from adamem_core.sweep import LIMITS, row_label, sweep
from adamem_core.sweep_scene import KEYS, SweepScene, parse_query, playground_query, random_starts

pytestmark = pytest.mark.timeout(300)

SWEEPS = "app_pages/sweeps.py"
HOSTILE = ["nan", "-1", "1e308", "x" * 5000, "<script>alert(1)</script>", ""]
HOSTILE_IDS = ["nan", "minus1", "1e308", "5000chars", "markup", "empty"]
CORRECTED = "Some values were corrected"


# ============================================================================= scene (pure)
def test_scene_defaults_round_trip():
    sc, notes = parse_query({}, LANDSCAPES)
    assert notes == [] and sc == SweepScene()
    q = sc.to_query()
    assert all(k.startswith("s_") or k == "lecture" for k in q)
    assert parse_query(q, LANDSCAPES) == (sc, [])
    rows = sc.rows()
    assert [r.name for r in rows] == ["am_sgd", "am_adamw"] + ["sgd_ema"] * 6
    assert [r.fixed_beta for r in rows[2:]] == [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]
    assert len(sc.lrs()) == 25 and sc.lrs()[0] == 1e-3 and sc.lrs()[-1] == 3.0


def test_scene_takes_every_control():
    q = {"s_f": "beale", "s_start": "random", "s_k": "7", "s_sseed": "3", "s_steps": "400",
         "s_tol": "1e-4", "s_lrmin": "1e-4", "s_lrmax": "0.1", "s_nlr": "12",
         "s_base": "adamw", "s_betas": "0.9, 0.5,0.5", "s_am": "am_adamw", "s_lam": "0.3",
         "s_bmax": "0.95", "s_noise": "0.2", "s_seeds": "4", "s_lr": "0.01", "lecture": "1"}
    sc, notes = parse_query(q, LANDSCAPES)
    assert notes == []
    assert (sc.landscape, sc.start_mode, sc.n_starts, sc.start_seed, sc.steps, sc.tol) == \
        ("beale", "random", 7, 3, 400, 1e-4)
    assert sc.betas == (0.5, 0.9) and sc.adaptive == ("am_adamw",) and sc.lecture
    assert [(r.name, r.fixed_beta) for r in sc.rows()] == [("am_adamw", None), ("adamw", 0.5),
                                                          ("adamw", 0.9)]
    assert sc.rows()[0].get("betas") == (0.95, 0.999) and sc.rows()[0].get("lam") == 0.3
    assert sc.starts(LANDSCAPES["beale"]).shape == (7, 2) and sc.seeds() == (0, 1, 2, 3)
    assert parse_query(sc.to_query(), LANDSCAPES) == (sc, [])


@pytest.mark.parametrize("key", [k for k in KEYS if k != "lecture"] + ["s_p_kappa"])
@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_every_key_hostile(key, value):
    """Every key, every hostile value: a valid scene, and a notice unless the value is one the
    key accepts (an empty formula is a formula; the page shows the parser's message)."""
    q = {key: value}
    if key == "s_expr":
        q["s_f"] = "custom"
    sc, notes = parse_query(q, LANDSCAPES)
    # valid whatever came in
    assert sc.landscape in LANDSCAPES or sc.landscape == "custom"
    assert 1 <= sc.steps <= LIMITS.max_steps and 1e-5 <= sc.lr_min <= sc.lr_max <= 10
    assert LIMITS.min_lrs <= sc.n_lrs <= LIMITS.max_lrs or sc.n_lrs < LIMITS.min_lrs
    assert 0 <= sc.noise <= 100 and 1 <= sc.n_seeds <= LIMITS.max_seeds
    assert sc.rows() and all(0 <= b <= 0.999 for b in sc.betas)
    assert len(sc.formula) <= pg_scene.MAX_FORMULA
    if key == "s_expr":
        assert bool(notes) == (len(value) > pg_scene.MAX_FORMULA)
    elif key in ("s_betas", "s_am") and value == "":
        pass        # an empty list: the other rows stay (a notice only if no row is left)
    elif key in ("s_x0", "s_y0") and value == "-1":
        assert notes == []      # inside the domain: a valid start
    elif key == "s_lr" and value in ("1e308",):
        assert notes and sc.starts_lr == 10.0
    else:
        assert notes, (key, value)
    for n in notes:            # notices quote at most 40 characters of the value
        assert "x" * 41 not in n


def test_limits_cut_a_huge_request_and_say_so():
    q = {"s_start": "random", "s_k": "50", "s_seeds": "20", "s_nlr": "40", "s_steps": "2000",
         "s_noise": "0.1"}
    sc, notes = parse_query(q, LANDSCAPES)
    assert sc.n_runs * sc.steps <= LIMITS.max_work
    assert any("cut down" in n and "server" in n for n in notes)


def test_random_starts_are_seeded_and_inside():
    land = LANDSCAPES["himmelblau"]
    a, b = random_starts(land, 30, 5), random_starts(land, 30, 5)
    assert np.array_equal(a, b) and not np.array_equal(a, random_starts(land, 30, 6))
    (xa, xb), (ya, yb) = land.domain
    assert np.all((a[:, 0] > xa) & (a[:, 0] < xb) & (a[:, 1] > ya) & (a[:, 1] < yb))


def test_playground_query_reopens_exactly_that_run():
    """The link of one cell: the Playground scene it opens runs that spec at that lr, start
    and noise seed, and gives the same result as the sweep's line."""
    sc, _ = parse_query({"s_f": "beale", "s_noise": "0.05", "s_seeds": "2", "s_steps": "200",
                         "s_tol": "1e-3"}, LANDSCAPES)
    land = LANDSCAPES["beale"]
    tab = sweep(land, sc.rows(), sc.lrs()[::6], steps=sc.steps, tol=sc.tol,
                starts=sc.starts(land), noise=sc.noise, seeds=sc.seeds())
    line = tab.iloc[len(tab) // 2 + 1]
    spec = next(r for r in sc.rows() if row_label(r.label) == row_label(line["label"]))
    q = playground_query(sc, spec, line["lr"], (line["start_x"], line["start_y"]),
                         int(line["seed"]))
    pscene, notes = pg_scene.parse_query(q, LANDSCAPES)
    assert notes == []
    (pspec,) = pscene.specs()
    assert pspec == spec.replace(lr=line["lr"])
    assert (pscene.noise, pscene.seed, pscene.steps) == (sc.noise, int(line["seed"]), sc.steps)
    from adamem_core.engine import simulate
    tr = simulate(land, [pspec], (pscene.x0, pscene.y0), pscene.steps, noise=pscene.noise,
                  seed=pscene.seed)[0]
    gap = tr.f[tr.last_valid()] - land.f_star
    assert abs(gap - line["final_gap"]) <= 1e-9 * abs(gap) + 1e-300   # same run (see test_sweep)


# ============================================================================= page (AppTest)
def run(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_sweeps(new_app, query=None):
    """A session whose Sweeps page is opened with ``query`` in the URL (a copied link).
    AppTest starts on the default page, which writes its own URL, so the sweep's keys are put
    back before switching (as tests/test_mlp_page.py does); the lecture flag, read by app.py
    once per session, goes in from the start."""
    query = dict(query or {})
    at = run(new_app({"lecture": query["lecture"]} if "lecture" in query else None))
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(SWEEPS)
    return run(at)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def warnings(at) -> str:
    return "\n".join(w.value for w in at.warning)


def no_markup(at) -> None:
    for m in at.markdown:
        assert "<script" not in m.value.lower()
        if m.proto.allow_html:
            assert m.value.lstrip().startswith("<style")
    for el in list(at.title) + list(at.caption) + list(at.get("html")):
        assert "<script" not in str(getattr(el, "value", "")).lower()
    # (notices quote the value as text: Streamlit escapes markup in st.warning's markdown)


def test_defaults_tell_the_story(new_app):
    at = open_sweeps(new_app)
    assert at.title[0].value.startswith("Sweeps")
    figs = charts(at)
    assert len(figs) == 2                                   # the map and the fair comparison
    m = figs[0]
    assert m["layout"]["meta"]["rows"][:2] == ["AM-SGD λ=0.1, β_max=0.9",
                                               "AM-AdamW λ=0.1, β_max=0.9"]
    bounds = [d for d in m["data"] if (d.get("meta") or {}).get("role") == "bound"]
    assert len(bounds) >= 4                                  # drawn on the quadratic
    cap = captions(at)
    assert "not within 300 steps" in cap and "f − f* < 1e-06" in cap
    assert "best learning rate out of 25" in cap
    assert at.query_params["s_nlr"] == "25" and at.query_params["s_f"] == \
        "ill_conditioned_quadratic"
    assert len(at.dataframe) == 1                             # the fair-comparison table
    # captions follow the controls: a new tolerance and step budget
    at.selectbox(key="sw_tol").set_value(1e-4)
    at.selectbox(key="sw_steps").set_value(150)
    run(at)
    cap = captions(at)
    assert "f − f* < 0.0001" in cap and "not within 150 steps" in cap
    assert at.query_params["s_tol"] == "0.0001" and at.query_params["s_steps"] == "150"
    assert "steps to f − f* < 0.0001" in charts(at)[0]["layout"]["title"]["text"]


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_every_key_hostile_on_the_page(new_app, value):
    q = {k: value for k in KEYS if k != "lecture"}
    q["s_p_kappa"] = value
    at = open_sweeps(new_app, q)
    no_markup(at)
    assert CORRECTED in warnings(at)
    # s_f was hostile → the default function; the map is there
    assert len(charts(at)) >= 2
    for k in ("s_steps", "s_nlr", "s_lrmin", "s_lrmax", "s_noise", "s_seeds"):
        float(at.query_params[k])


def test_custom_formula_and_a_bad_one(new_app):
    at = open_sweeps(new_app, {"s_f": "custom", "s_expr": "(x-1)**2 + 5*(y+0.5)**2",
                               "s_steps": "200", "s_nlr": "10"})
    figs = charts(at)
    assert len(figs) == 2
    assert "f* is unknown" in captions(at)            # a custom formula has no known minimum
    assert any((d.get("meta") or {}).get("role") == "bound" for d in figs[0]["data"])  # L = 10
    at.text_input(key="sw_formula").set_value("x**2 + (")
    run(at)
    assert at.sidebar.error and any("can't be used" in e.value for e in at.error)
    assert len(charts(at)) == 0
    at.text_input(key="sw_formula").set_value("x**2 + y**2 + sin(x)")
    run(at)
    assert len(charts(at)) == 2 and "f* is unknown" in captions(at)


def test_limits_notice_on_the_page(new_app):
    at = open_sweeps(new_app, {"s_start": "random", "s_k": "50", "s_seeds": "20",
                               "s_nlr": "40", "s_steps": "2000"})
    w = warnings(at)
    assert "cut down" in w and "server" in w
    assert int(at.query_params["s_steps"]) * 8 * int(at.query_params["s_nlr"]) * int(
        at.query_params["s_k"]) * int(at.query_params["s_seeds"]) <= LIMITS.max_work


def test_many_starts_noise_and_the_cell_link(new_app):
    at = open_sweeps(new_app, {"s_start": "random", "s_k": "4", "s_noise": "0.05",
                               "s_seeds": "2", "s_nlr": "8", "s_steps": "200",
                               "s_betas": "0.5,0.9"})
    figs = charts(at)
    assert len(figs) == 3                                    # + the many-runs ECDF
    assert "σ = 0.05" in figs[0]["layout"]["title"]["text"]
    ecdf = [d for d in figs[2]["data"] if (d.get("meta") or {}).get("role") == "ecdf"]
    assert ecdf and all("succeed" in d["name"] for d in ecdf)
    assert "4 starts × 2 noise seeds" in captions(at)
    # a click on a cell (row 0 = AM-SGD, the 5th lr): the Playground link of that exact run
    lr = figs[0]["layout"]["meta"]["lrs"][4]
    at.session_state["sw_cell"] = (0, lr)
    run(at)
    (btn,) = at.get("link_button")
    url = btn.proto.url
    assert url.startswith("playground?")
    q = dict(parse_qsl(urlsplit(url).query))
    assert q["opt"] == "am_sgd" and float(q["lr"]) == lr and q["noise"] == "0.05"
    sc, notes = pg_scene.parse_query(q, LANDSCAPES)
    assert notes == [] and sc.specs()[0].lr == lr


def test_lecture_mode(new_app):
    at = open_sweeps(new_app, {"lecture": "1"})
    assert not at.title                                      # the map is the first thing
    m = charts(at)[0]
    assert m["layout"]["font"]["size"] >= 20 and m["layout"]["height"] <= 520
    assert at.button(key="sw_exit_lecture")


# ============================================================================= Playground noise
@pytest.mark.parametrize("query, corrected", [({"noise": "0.3", "seed": "4"}, False),
                                              ({"noise": "-2", "seed": "x"}, True),
                                              ({"noise": "<script>", "seed": "1e308"}, True)])
def test_playground_noise_control(new_app, query, corrected):
    """σ and seed from the URL (validated): with σ > 0 the gap chart adds each run's median and
    band over the seeds, and the runs drawn are the noisy ones; σ = 0 leaves the URL as before."""
    at = run(new_app(query))
    no_markup(at)
    assert (CORRECTED in warnings(at)) == corrected
    figs = charts(at)
    gap = figs[1]
    roles = [(d.get("meta") or {}).get("role") for d in gap["data"]]
    if corrected:                                  # clamped to σ = 0: the noise-free scene
        assert "band" not in roles and "noise" not in at.query_params
        return
    assert roles.count("band") == roles.count("median") == 4 and "band_legend" in roles
    assert at.query_params["noise"] == "0.3" and at.query_params["seed"] == "4"
    assert "σ = 0.3" in captions(at)
    noisy = [d for d in gap["data"] if (d.get("meta") or {}).get("role") == "gap"][0]["y"]
    at.number_input(key="pg_noise").set_value(0.0)
    run(at)
    clean = [d for d in charts(at)[1]["data"] if (d.get("meta") or {}).get("role") == "gap"][0]
    assert "noise" not in at.query_params
    assert not np.allclose(_arr(noisy)[:20], _arr(clean["y"])[:20])


def _arr(v) -> np.ndarray:
    """A figure's array from its JSON: a plain list, or Plotly's typed array (dtype, bdata)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(float)
    return np.asarray(v, dtype=float)
