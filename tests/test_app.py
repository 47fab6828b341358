"""AppTest (streamlit.testing.v1) tests of every page, asserting on what the user sees.

* Playground: the default scene tells DESIGN.md §5's story without a click; changing the function
  (Beale, Rosenbrock, a custom formula); bad formulas show the parser's message under the box and
  nothing crashes; a hostile URL (every key of the scene set in turn to nan, -1, 1e308, a
  5,000-character string, markup, nothing) renders with a "Some values were corrected" notice and
  never echoes markup unescaped; a diverging learning rate is named with its step while the
  other runs still show; lecture mode (toggle, ``?lecture=1``, exit button) enlarges the figures;
  the URL round trip reproduces the scene; leaving for another page and coming back keeps it.
* Inside one step: the numbers of the closed form, another run, a later step, a torch-only scene.
* About and MLP lab render.

No timed assertions here: the rerun time is printed by ``benchmarks/app_latency.py``.
"""

from __future__ import annotations

import json

import pytest

from adamem_core.expressions import ExpressionError, custom
from adamem_core.landscapes import LANDSCAPES
from adamem_core.scene import LECTURE_SCENES

pytestmark = [pytest.mark.numerical, pytest.mark.timeout(300)]

PLAYGROUND = "app_pages/playground.py"
INSIDE = "app_pages/inside_step.py"
ABOUT = "app_pages/about.py"
MLP = "app_pages/mlp_lab.py"
CORRECTED = "Some values were corrected"
SCENE_KEYS = ["f", "x0", "y0", "opt", "lr", "lrmode", "steps", "lam", "bmax", "gap", "t", "tol",
              "p_kappa", "p_angle", "expr", "lecture", "surface", "mbeta"]
HOSTILE = ["nan", "-1", "1e308", "x" * 5000, "<script>alert(1)</script>", ""]
HOSTILE_IDS = ["nan", "minus1", "1e308", "5000chars", "markup", "empty"]


# ----------------------------------------------------------------------------- helpers
def run(at):
    """Run (or rerun) and insist that nothing raised."""
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def story(at) -> str:
    """The playground's one-line story (the markdown naming every run)."""
    texts = [m.value for m in at.main.markdown if "<style" not in m.value]
    return "\n".join(texts)


def warnings(at) -> str:
    return "\n".join(w.value for w in at.warning)


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def trace_names(fig: dict) -> set[str]:
    return {d.get("name") or "" for d in fig["data"]}


def assert_no_unescaped_markup(at) -> None:
    """User text never reaches the page as HTML: no markdown element carries it, and the only
    HTML the app writes (the lecture-mode stylesheet) holds no user text."""
    for m in at.markdown:
        assert "<script" not in m.value.lower(), m.value[:200]
        if m.proto.allow_html:
            assert m.value.lstrip().startswith("<style"), m.value[:200]
    for el in list(at.title) + list(at.caption) + list(at.get("html")):
        assert "<script" not in str(getattr(el, "value", "")).lower()


# ----------------------------------------------------------------------------- playground
def test_defaults_tell_the_story(new_app):
    at = run(new_app())
    assert at.title[0].value.startswith("Playground")
    s = story(at)
    assert "**AM-SGD λ=0.1, β_max=0.9, η=0.1** reached f − f* < 1e-06 in 42 steps" in s
    assert "**EMA momentum β=0.9, η=0.1** reached f − f* < 1e-06 in 146 steps" in s
    assert "**EMA momentum β=0.5, η=0.1** diverged at step 17" in s
    # the diverged run is named with its step; no correction notice for a clean URL
    assert "EMA momentum β=0.5, η=0.1 diverged at step 17" in warnings(at)
    assert CORRECTED not in warnings(at)
    assert not errors(at)
    figs = charts(at)
    assert len(figs) == 3
    traj, gap, beta = figs
    assert "Ill-conditioned quadratic" in traj["layout"]["title"]["text"]
    assert [x.value for x in at.latex][0].count("f(x, y) =") == 1
    for fig in figs:        # every run is named in every chart
        for label in ("AM-SGD λ=0.1, β_max=0.9, η=0.1", "EMA momentum β=0.9, η=0.1"):
            assert any(label in n for n in trace_names(fig)), (label, trace_names(fig))
    # the animation: frames carry only the trajectory traces, the contour is sent once
    assert traj["data"][0]["type"] == "contour"
    assert traj["frames"], "the trajectory chart should be animated"
    for fr in traj["frames"]:
        assert all(d.get("type", "scatter") != "contour" for d in fr["data"])
        assert 0 not in fr.get("traces", [])
    df = at.dataframe[0].value
    assert list(df["Optimizer"]) == ["AM-SGD λ=0.1, β_max=0.9, η=0.1",
                                     "AM-AdamW λ=0.1, β_max=0.9, η=0.1",
                                     "EMA momentum β=0.9, η=0.1", "EMA momentum β=0.5, η=0.1"]
    assert str(df.iloc[0, 1]) == "42" and str(df.iloc[3, 3]) == "17"
    # the device, the downloads, the URL
    assert any("torch device: **cpu" in c.value or "torch device: **cuda" in c.value
               for c in at.sidebar.caption)
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["⬇ Lecture deck", "Trajectories (CSV)",
                      "Trajectory figure (standalone HTML)"]
    assert _qp(at, "f") == "ill_conditioned_quadratic" and _qp(at, "steps") == "150"
    assert "pg_exit_lecture" not in [b.key for b in at.button]


def _qp(at, key):
    v = at.query_params[key]
    return v[-1] if isinstance(v, list) else v


@pytest.mark.parametrize("name", ["beale", "rosenbrock", "custom"])
def test_changing_the_landscape(new_app, name):
    at = run(new_app())
    before = story(at)
    at.selectbox(key="pg_land").select(name)
    run(at)
    assert _qp(at, "f") == name
    assert story(at) != before
    figs = charts(at)
    assert len(figs) == 3
    title = figs[0]["layout"]["title"]["text"]
    if name == "custom":
        assert at.text_input(key="pg_formula").value == "x**2 + 10*y**2 + sin(3*x)"
        assert not errors(at) and not at.sidebar.error
    else:
        assert LANDSCAPES[name].title in title
        # its own start and suggested learning rate (Beale: η = 0.03, DESIGN.md §5)
        land = LANDSCAPES[name]
        assert (at.number_input(key="pg_x0").value, at.number_input(key="pg_y0").value) == \
            pytest.approx(land.start)
        assert at.select_slider(key="pg_lr").value == pytest.approx(land.suggested_lr("sgd"))
    if name == "beale":     # every constant β ≥ 0.5 diverges while AM converges
        assert "EMA momentum β=0.9, η=0.03** diverged" in story(at)
        assert "EMA momentum β=0.5, η=0.03** diverged" in story(at)
        assert "AM-SGD λ=0.1, β_max=0.9, η=0.03** diverged" not in story(at)


def test_custom_formula(new_app):
    at = run(new_app())
    at.selectbox(key="pg_land").select("custom")
    run(at)
    at.text_input(key="pg_formula").input("x**2 + 10*y**2 + sin(3*x)")
    run(at)
    assert not errors(at) and not at.sidebar.error
    assert len(charts(at)) == 3
    assert any("sin" in x.value for x in at.latex)
    assert _qp(at, "expr") == "x**2 + 10*y**2 + sin(3*x)"
    assert "AM-SGD" in story(at)
    # another formula: the story follows it
    before = story(at)
    at.text_input(key="pg_formula").input("(x - 1)**2 + 3*(y + 0.5)**2")
    run(at)
    assert len(charts(at)) == 3 and story(at) != before


@pytest.mark.parametrize("formula", ["x**2 + __import__('os')", "sin(x", "x $ y"])
def test_bad_formula_shows_the_parsers_message(new_app, formula):
    with pytest.raises(ExpressionError) as exc:
        custom(formula)
    message = str(exc.value)
    at = run(new_app())
    at.selectbox(key="pg_land").select("custom")
    run(at)
    at.text_input(key="pg_formula").input(formula)
    run(at)
    # under the box (sidebar) and in the page: the parser's own message
    assert [e.value for e in at.sidebar.error] == [message]
    assert any(message in e for e in errors(at))
    assert not at.get("plotly_chart")
    assert any("Fix the formula" in i.value for i in at.info)
    assert_no_unescaped_markup(at)
    # fixing it brings the charts back
    at.text_input(key="pg_formula").input("x**2 + y**2")
    run(at)
    assert not at.sidebar.error and len(charts(at)) == 3


def _expect_correction(key: str, value: str) -> bool:
    """Whether the parser must report a correction for ``key=value`` on the default scene."""
    if key in ("lecture", "surface", "mbeta"):
        return False                    # flags: anything but 1/true/yes/on means off
    if key == "expr":
        return len(value) > 300         # a formula is judged by the parser (an error), not cut
    if value == "-1":                   # within the range of these three
        return key not in ("x0", "y0", "p_angle")
    return True


@pytest.mark.parametrize("key", SCENE_KEYS)
def test_hostile_url(new_app, key):
    for value, vid in zip(HOSTILE, HOSTILE_IDS):
        query = {key: value}
        if key == "expr":
            query["f"] = "custom"
        at = run(new_app(query))
        where = f"{key}={vid}"
        assert at.title and at.title[0].value.startswith("Playground"), where
        assert_no_unescaped_markup(at)
        corrected = CORRECTED in warnings(at)
        if _expect_correction(key, value):
            assert corrected, where
        if key == "expr":
            if value == "-1":
                assert len(charts(at)) == 3, where
            else:           # the parser's message under the box, no charts, no crash
                assert at.sidebar.error, where
                assert any("can't be used" in e for e in errors(at)), where
        else:
            assert len(charts(at)) == 3, where
            assert len(at.dataframe) == 1, where
        # the URL now holds the corrected scene: numbers only where numbers belong
        for k in ("lr", "steps", "lam", "bmax", "t", "tol", "x0", "y0"):
            float(_qp(at, k))
        assert 1 <= int(_qp(at, "steps")) <= 2000
        assert 1e-5 <= float(_qp(at, "lr")) <= 10
        if key == "lecture" and value == "":
            assert "lecture" not in at.query_params


@pytest.mark.parametrize("value", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_url_every_key_every_page(new_app, value):
    """Every key hostile at once, on every page."""
    query = {k: value for k in SCENE_KEYS}
    at = run(new_app(query))
    assert_no_unescaped_markup(at)
    assert CORRECTED in warnings(at)
    for page in (INSIDE, ABOUT, MLP, PLAYGROUND):
        at.switch_page(page)
        run(at)
        assert at.title, page
        assert_no_unescaped_markup(at)


def test_diverging_learning_rate(new_app):
    at = run(new_app())
    at.select_slider(key="pg_lr").set_value(5.0)
    run(at)
    w = warnings(at)
    assert "AM-SGD λ=0.1, β_max=0.9, η=5 diverged at step 5" in w
    assert "EMA momentum β=0.9, η=5 diverged at step" in w
    assert "AM-AdamW λ=0.1, β_max=0.9, η=5 diverged" not in w
    # AM-AdamW's steps are bounded by η per coordinate whatever g is: it stays finite, and the
    # story reports where it ended (the table's number), not a divergence
    adamw = story(at).split("**AM-AdamW λ=0.1, β_max=0.9, η=5**")[1].split(";")[0]
    assert "diverged" not in adamw and ("reached" in adamw or "ended at" in adamw), adamw
    figs = charts(at)
    assert len(figs) == 3
    names = trace_names(figs[0])
    # the diverged runs are marked where they left, the others still drawn
    assert "AM-SGD λ=0.1, β_max=0.9, η=5 — diverged at step 5" in names
    assert "AM-AdamW λ=0.1, β_max=0.9, η=5" in names
    df = at.dataframe[0].value
    assert str(df.loc[df["Optimizer"].str.startswith("AM-SGD"), "Diverged at step"].iloc[0]) == "5"
    adamw_row = df.loc[df["Optimizer"].str.startswith("AM-AdamW")].iloc[0]
    assert str(adamw_row["Diverged at step"]) == "—" and float(adamw_row["Final f − f*"]) < 1.0
    if "ended at" in adamw:
        assert f"f − f* = {float(adamw_row['Final f − f*']):.2g}" in adamw
    assert _qp(at, "lr") == "5"


def _font_sizes(at) -> list[float]:
    return [fig["layout"].get("font", {}).get("size", 12) for fig in charts(at)]


def _line_widths(fig: dict) -> set[float]:
    return {(d.get("line") or {}).get("width", 2) for d in fig["data"]
            if "lines" in (d.get("mode") or "")}


def test_lecture_mode_toggle_and_exit(new_app):
    at = run(new_app())
    assert "pg_exit_lecture" not in [b.key for b in at.button]
    small = _font_sizes(at)
    at.toggle(key="lecture_mode").set_value(True)
    run(at)
    assert _qp(at, "lecture") == "1"
    assert "pg_exit_lecture" in [b.key for b in at.button]
    big = _font_sizes(at)
    assert len(big) == 3 and min(big) >= 20 and min(big) > max(small)
    for fig in charts(at):
        assert min(_line_widths(fig)) >= 3
    # the same numbers, only bigger (the summary as a plain table, which takes the big type)
    assert "in 42 steps" in story(at)
    assert not at.dataframe and len(at.table) == 1
    assert "42" in at.table[0].value.to_string()
    at.button(key="pg_exit_lecture").click()
    run(at)
    assert "pg_exit_lecture" not in [b.key for b in at.button]
    assert at.toggle(key="lecture_mode").value is False
    assert "lecture" not in at.query_params
    assert max(_font_sizes(at)) < 20


@pytest.mark.parametrize("page", [PLAYGROUND, INSIDE, ABOUT, MLP])
def test_lecture_mode_from_the_url(new_app, page):
    at = run(new_app({"lecture": "1"}))
    if page != PLAYGROUND:
        at.switch_page(page)
        run(at)
    # (the Playground's first screen is its scene bar, caption and charts: no page title)
    assert bool(at.title) == (page != PLAYGROUND)
    # the stylesheet that hides the controls and enlarges the type
    css = [m.value for m in at.markdown if m.proto.allow_html]
    assert any("stSidebar" in c and "display: none" in c for c in css)
    if page in (PLAYGROUND, INSIDE, ABOUT):
        assert any(b.label.startswith("Exit lecture mode") for b in at.button)
    sizes = _font_sizes(at)
    if page in (PLAYGROUND, INSIDE):
        assert sizes and min(sizes) >= 20


def test_url_round_trip(new_app):
    at = run(new_app())
    at.selectbox(key="pg_land").select("rosenbrock")
    run(at)
    at.slider(key="pg_steps").set_value(400)
    run(at)
    at.select_slider(key="pg_lr").set_value(0.0005)
    run(at)
    at.multiselect(key="pg_runs").unselect("sgd_ema:0.5").select("nesterov:0.9")
    run(at)
    at.number_input(key="pg_lam").set_value(0.3)
    run(at)
    q = {k: _qp(at, k) for k in at.query_params}
    assert q["f"] == "rosenbrock" and q["steps"] == "400" and q["lr"] == "0.0005"
    assert q["opt"] == "am_sgd,am_adamw,sgd_ema:0.9,nesterov:0.9" and q["lam"] == "0.3"
    assert q["t"] == "400"          # t was at the end and followed the steps
    s = story(at)
    assert "λ=0.3" in s and "η=0.0005" in s and "Nesterov" in s
    table = at.dataframe[0].value

    at2 = run(new_app(q))           # the copied link
    assert CORRECTED not in warnings(at2)
    assert story(at2) == s
    assert at2.dataframe[0].value.equals(table)
    assert at2.slider(key="pg_steps").value == 400
    assert at2.multiselect(key="pg_runs").value == ["am_sgd", "am_adamw", "sgd_ema:0.9",
                                                    "nesterov:0.9"]
    assert {k: _qp(at2, k) for k in at2.query_params} == q


def test_scene_survives_a_visit_to_another_page(new_app):
    at = run(new_app())
    at.selectbox(key="pg_land").select("beale")
    run(at)
    at.slider(key="pg_steps").set_value(300)
    run(at)
    before = story(at)
    for page in (INSIDE, ABOUT, MLP, PLAYGROUND):
        at.switch_page(page)
        run(at)
    assert at.selectbox(key="pg_land").value == "beale"
    assert at.slider(key="pg_steps").value == 300
    assert story(at) == before and len(charts(at)) == 3


def test_step_slider_moves_the_markers(new_app):
    at = run(new_app())
    at.slider(key="pg_t").set_value(20)
    run(at)
    slider = charts(at)[0]["layout"]["sliders"][0]       # the animation opens at step t
    assert slider["steps"][slider["active"]]["label"] == "20"
    assert _qp(at, "t") == "20"


# ----------------------------------------------------------------------------- inside one step
def _latex(at) -> str:
    return "\n".join(x.value for x in at.latex)


def test_inside_one_step_defaults(new_app):
    at = run(new_app())
    at.switch_page(INSIDE)
    run(at)
    assert at.title[0].value.startswith("Inside one step")
    assert at.selectbox(key="is_run").value == 0        # AM-SGD, the adaptive run
    text = story(at)
    # with the playground's step slider at the end, the page opens on the first step where
    # AM-SGD's β was not clipped (step 1 on the default scene: β = 0.79 < β_max)
    assert "**AM-SGD λ=0.1, β_max=0.9, η=0.1** at step **t = 1**" in text
    assert at.slider(key="is_t").value == 1
    assert "(the model's choice)" in text
    tex = _latex(at)
    assert r"\text{numerator}" in tex and r"\text{denominator}" in tex
    assert r"\beta^{\star}" in tex and "effective momentum" in tex
    assert len(at.get("plotly_chart")) == 4
    assert not errors(at)


def test_inside_one_step_another_run_and_step(new_app):
    at = run(new_app())
    at.switch_page(INSIDE)
    run(at)
    at.slider(key="is_t").set_value(10)
    run(at)
    assert "at step **t = 10**" in story(at)
    beta_am = story(at)
    at.selectbox(key="is_run").set_value(2)                 # EMA momentum β = 0.9
    run(at)
    text = story(at)
    assert "**EMA momentum β=0.9, η=0.1** at step **t = 10**" in text
    assert "fixed — the model would have chosen" in text and text != beta_am
    assert r"\beta_t^{\mathrm{used}} = 0.9" in _latex(at)
    # the diverged run: its last complete step, with a notice
    at.selectbox(key="is_run").set_value(3)                 # EMA β = 0.5 diverged at step 17
    run(at)
    at.slider(key="is_t").set_value(16)
    run(at)
    assert "at step **t = 16**" in story(at)
    assert r"\text{numerator}" in _latex(at)


def test_inside_one_step_am_adamw_and_exact_gap(new_app):
    at = run(new_app({"gap": "exact", "opt": "am_adamw,am_sgd"}))
    at.switch_page(INSIDE)
    run(at)
    assert "AM-AdamW" in story(at)
    tex = _latex(at)
    assert r"\|d_t - g_t\|_W^2" in tex and "P_t" in tex
    at.selectbox(key="is_run").set_value(1)
    run(at)
    assert "f(x_{t-1}) - f(x_t)" in _latex(at)


def test_inside_one_step_torch_only_scene(new_app):
    at = run(new_app({"opt": "torch_sgd:0.9,torch_adamw:0.9"}))
    at.switch_page(INSIDE)
    run(at)
    assert any("needs an AM run" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_inside_one_step_bad_formula(new_app):
    at = run(new_app({"f": "custom", "expr": "sin(x"}))
    at.switch_page(INSIDE)
    run(at)
    assert any("can't be used" in e and "never closed" in e for e in errors(at))


# ----------------------------------------------------------------------------- about, MLP
def test_about_page(new_app):
    at = run(new_app())
    at.switch_page(ABOUT)
    run(at)
    assert at.title[0].value == "About AdaMem Lab"
    assert len(at.latex) >= 4
    assert any(r"\beta_t = \mathrm{clip}" in x.value for x in at.latex)
    assert any("arXiv:2510.04988" in m.value for m in at.markdown)
    assert not errors(at)


def test_mlp_page_renders(new_app):
    at = run(new_app())
    at.switch_page(MLP)
    run(at)
    assert at.title and "MLP" in at.title[0].value
    assert not errors(at)


# ----------------------------------------------------------------------------- lecture scenes
def test_lecture_scenes_step_through_and_follow_the_url(new_app):
    at = run(new_app())
    seen = []
    for _ in range(len(LECTURE_SCENES) + 1):
        at.button(key="pg_scene_next").click()
        run(at)
        bar = [m.value for m in at.markdown if m.value.startswith("**Scene")]
        assert len(bar) == 1
        seen.append(bar[0])
        assert _qp(at, "f") == at.selectbox(key="pg_land").value
    titles = [t for t, _, _ in LECTURE_SCENES]
    for k, text in enumerate(seen):
        assert titles[k % len(titles)] in text          # wraps around after the last one
    assert _qp(at, "f") == LECTURE_SCENES[0][2]["f"]
    at.button(key="pg_scene_prev").click()
    run(at)
    assert _qp(at, "f") == LECTURE_SCENES[-1][2]["f"] and _qp(at, "p_kappa") == "1000"
    assert "**Beale" not in story(at)


def test_lecture_scene_in_lecture_mode(new_app):
    at = new_app()
    at.query_params["lecture"] = "1"
    run(at)
    at.button(key="pg_scene_next").click()
    run(at)
    at.button(key="pg_scene_next").click()
    run(at)
    assert _qp(at, "f") == "beale" and _qp(at, "lecture") == "1"
    assert any("diverged at step 5" in w.value for w in at.warning)


def test_switch_between_the_playgrounds_two_paths_keeps_the_scene(new_app):
    """"/" and its /playground twin (app.py) run the same script as two page objects, whose
    widgets Streamlit tells apart by page: a switch between them must re-seed the controls from
    the session's scene instead of letting every widget fall back to its minimum (which ran a
    1-step scene at η = 1e-5 from the domain's corner, or crashed on the step slider)."""
    at = run(new_app({"f": "beale", "steps": "77", "lr": "0.02"}))
    before = at.session_state["scene"].to_query()
    at.switch_page("app_pages/playground.py")      # the other page object of the same script
    run(at)
    after = at.session_state["scene"].to_query()
    assert after == before and after["steps"] == "77" and after["f"] == "beale"
    assert at.slider(key="pg_steps").value == 77


def test_inside_one_step_keeps_the_scene_in_its_url(new_app):
    """After a switch from the Playground, Inside one step's own URL holds the scene, so that a
    link copied there reopens the same runs (the first visit of that link reads it back)."""
    at = run(new_app({"f": "beale", "lr": "0.02", "steps": "90"}))
    at.switch_page("app_pages/inside_step.py")
    for k in list(at.query_params):          # a sidebar link opens the page without a query
        del at.query_params[k]
    run(at)
    q = {k: at.query_params[k] for k in at.query_params}
    assert q.get("f") == ["beale"] or q.get("f") == "beale", q
    link = {k: (v[0] if isinstance(v, list) else v) for k, v in q.items()}
    again = new_app(link)
    again.switch_page("app_pages/inside_step.py")
    run(again)
    assert again.session_state["scene"].to_query() == at.session_state["scene"].to_query()
