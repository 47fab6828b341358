"""End to end: ``streamlit run app.py`` on a free localhost port, driven by Playwright in Debian's
headless Chromium (/usr/bin/chromium; never ``playwright install``).

The page loads, the three charts render, changing the landscape redraws them, there is no
error box; every page (Playground, Inside one step, MLP lab, About, and the Playground in
lecture mode) renders and is saved as a full-page screenshot under artifacts/screenshots/ for a
human to look at.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import assert_no_error_box, chart_count, chart_titles, rerun, wait_rendered

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

# hang guards, not speed checks: a cold server on a shared, busy 2-core machine is slow
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

VIEWPORT = {"width": 1600, "height": 1000}
LOAD_MS = 180_000         # first load on a busy 2-core machine: imports, torch, first runs


# ----------------------------------------------------------------------------- helpers
def wait_idle(page, timeout_ms: int = LOAD_MS) -> None:
    """A finished run of this session is on the page (its run marker) and Plotly has drawn
    every chart. After an interaction that reruns the app, use ``rerun(page, action)`` (or
    ``wait_rendered(page, after=…)``) instead: it waits for the NEW run's marker."""
    wait_rendered(page, timeout_ms=timeout_ms)


def drawn_traces(page) -> list[int]:
    """For each chart, how many data traces Plotly actually drew."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(p =>
                 p.querySelectorAll('.scatterlayer .trace, .contourlayer .contour, '
                                    + '.heatmaplayer .hm, .gl-container canvas, '
                                    + '.scene canvas, svg .trace').length)""")


def full_page_screenshot(page, name: str) -> None:
    """Streamlit scrolls inside its own container, so a 'full page' screenshot needs a viewport
    as tall as that container's content."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
                              '[data-testid="stSidebarContent"]']
                 .map(s => document.querySelector(s)).filter(Boolean)
                 .map(e => e.scrollHeight), document.body.scrollHeight)""")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, 1000), 7000)})
    page.wait_for_timeout(600)            # Plotly re-lays out its charts to the new width
    wait_rendered(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(300)


def story(page) -> str:
    return page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').all_inner_texts()


def goto_page(page, link_text: str, title: str, path: str | None = None) -> dict:
    """Follow a sidebar navigation link (same session: the scene is kept) and wait for that
    page's run to finish (``path``: its url_path, when the test knows it)."""
    marker = rerun(page, lambda: page.locator('[data-testid="stSidebarNav"] a',
                                              has_text=link_text).first.click(),
                   path=path, timeout_ms=LOAD_MS)
    page.get_by_role("heading", name=title).first.wait_for(timeout=LOAD_MS)
    return marker


# ----------------------------------------------------------------------------- the tests
def test_a_deep_link_is_the_first_visit(streamlit_server, chromium):
    """A copied link to a page other than the first, opened as the server's very first session
    (runs before the other tests on the module's fresh server): the page, and no dialog."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/inside?f=beale&lr=0.03", wait_until="domcontentloaded")
        wait_rendered(page, path="inside", query={"f": "beale"}, timeout_ms=LOAD_MS)
        page.get_by_role("heading", name="Inside one step").first.wait_for(timeout=LOAD_MS)
        assert_no_error_box(page)
        assert chart_count(page) == 4
        assert "η=0.03" in page.locator("body").inner_text()     # the linked scene's runs
    finally:
        context.close()


def test_every_page_path_is_a_deep_link(streamlit_server, chromium):
    """Each page's own path, opened as a new session with a scene in the query: that page, no
    "Page not found" dialog. The paths are the sidebar's links (pages added later are covered
    too) plus /playground, the default page's own path (Streamlit serves the default page at
    "/", so that link needs app.py's hidden twin)."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/", wait_until="domcontentloaded")
        wait_rendered(page, path="/", timeout_ms=LOAD_MS)
        hrefs = page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-testid="stSidebarNav"] a'))
                     .map(a => new URL(a.href).pathname)""")
        paths = sorted({h.strip("/") for h in hrefs} - {""} | {"playground"})
        assert {"playground", "inside", "mlp", "about"} <= set(paths), hrefs
        for path in paths:
            page.goto(f"{streamlit_server}/{path}?f=beale", wait_until="domcontentloaded")
            marker = wait_rendered(page, path=path, timeout_ms=LOAD_MS)
            assert_no_error_box(page)
            assert marker["status"] in ("done", "stopped"), marker
            assert page.url.split("?")[0].rstrip("/").endswith("/" + path), page.url
        # the default page's own path opens the Playground on the linked scene
        page.goto(streamlit_server + "/playground?f=beale", wait_until="domcontentloaded")
        wait_rendered(page, path="playground", query={"f": "beale"}, timeout_ms=LOAD_MS)
        assert_no_error_box(page)
        page.get_by_role("heading", name="Playground").first.wait_for(timeout=LOAD_MS)
        assert chart_count(page) == 3 and "Beale" in chart_titles(page)[0], chart_titles(page)
    finally:
        context.close()


def test_app_in_a_browser(streamlit_server, chromium):
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    try:
        # --- the Playground loads with its three charts
        page.goto(streamlit_server + "/", wait_until="domcontentloaded")
        wait_rendered(page, path="/", timeout_ms=LOAD_MS)
        assert_no_error_box(page)
        assert chart_count(page) == 3
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        titles = chart_titles(page)
        assert "Ill-conditioned quadratic" in titles[0], titles
        text = "\n".join(story(page))
        assert "reached f − f* < 1e-06 in 42 steps" in text
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "torch device:" in sidebar
        full_page_screenshot(page, "playground")

        # --- changing the landscape updates the charts (the run drawn for f=beale)
        page.get_by_role("combobox", name="Function").click()
        rerun(page, lambda: page.get_by_role("option", name="Beale", exact=True).click(),
              query={"f": "beale"}, timeout_ms=LOAD_MS)
        assert_no_error_box(page)
        assert chart_count(page) == 3
        assert "Beale" in chart_titles(page)[0]
        assert "\n".join(story(page)) != text
        assert "f=beale" in page.url
        full_page_screenshot(page, "playground_beale")

        # --- every page, through the sidebar (the scene stays Beale)
        goto_page(page, "Inside one step", "Inside one step", path="inside")
        assert_no_error_box(page)
        assert chart_count(page) == 4
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        assert page.locator(".katex").count() >= 5          # the numbers of the closed form
        full_page_screenshot(page, "inside_step")

        goto_page(page, "MLP lab", "MLP lab", path="mlp")
        assert_no_error_box(page)
        full_page_screenshot(page, "mlp_lab")
        # a training from the default controls: live curves, then the results and the summary
        rerun(page, lambda: page.get_by_role("button", name="▶ Train").click(), path="mlp",
              timeout_ms=LOAD_MS)
        page.get_by_role("heading", name="Summary").first.wait_for(timeout=LOAD_MS)
        assert_no_error_box(page)
        assert chart_count(page) >= 3, chart_count(page)
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        full_page_screenshot(page, "mlp_lab_trained")

        goto_page(page, "About", "About AdaMem Lab", path="about")
        assert_no_error_box(page)
        assert page.locator(".katex").count() >= 5
        full_page_screenshot(page, "about")

        goto_page(page, "Playground", "Playground", path="/")
        assert "Beale" in chart_titles(page)[0]

        # --- lecture mode from a link: no controls, big type; the exit button brings them back
        page.goto(streamlit_server + "/?lecture=1", wait_until="domcontentloaded")
        wait_rendered(page, path="/", query={"lecture": "1"}, timeout_ms=LOAD_MS)
        assert_no_error_box(page)
        assert chart_count(page) == 3
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        font = page.evaluate(
            "() => parseFloat(getComputedStyle(document.querySelector('.js-plotly-plot .gtitle'))"
            ".fontSize) || parseFloat(document.querySelector('.js-plotly-plot .gtitle')"
            ".style.fontSize)")
        assert font >= 20, font
        # the page's own text is big too: the story, the divergence notice, the table
        sizes = page.evaluate(
            """() => ['[data-testid="stMain"] .stMarkdown p',
                      '[data-testid="stAlertContainer"] p',
                      '[data-testid="stTable"] td']
                 .map(s => document.querySelector(s))
                 .map(e => e ? parseFloat(getComputedStyle(e).fontSize) : 0)""")
        assert min(sizes) >= 20, sizes
        full_page_screenshot(page, "playground_lecture")
        marker = rerun(page, lambda: page.get_by_role("button", name="Exit lecture mode").click(),
                       timeout_ms=LOAD_MS)
        assert "lecture" not in marker["query"], marker
        page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=LOAD_MS)
        assert_no_error_box(page)
        assert "lecture=1" not in page.url
        assert not console_errors, console_errors
    finally:
        context.close()


@pytest.mark.timeout(600)   # a fresh session and its first sweep
def test_a_click_on_the_contour_picks_the_start(streamlit_server, chromium):
    """The pick grid draws a single (invisible) marker (``maxdisplayed``: 625 SVG markers cost
    the browser ~0.1 s per redraw), yet a click anywhere on the contour still selects the grid
    point under it and the runs start there."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/", wait_until="domcontentloaded")
        wait_rendered(page, path="/", timeout_ms=LOAD_MS)
        assert "x0=-2.6" in page.url and "y0=0.8" in page.url
        # the pick layer draws one marker, not one per grid point
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('.js-plotly-plot')[0]
                                .querySelectorAll('.scatterlayer .trace'))
                     .map(t => t.querySelectorAll('.point').length)""")
        assert max(drawn) < 625, drawn
        box = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first \
            .bounding_box()
        # upper right of the plot, away from every path: the grid point (1.75, 1.75)
        x, y = box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2
        page.mouse.move(x, y)
        rerun(page, lambda: page.mouse.click(x, y), timeout_ms=LOAD_MS)
        page.wait_for_function("() => location.search.includes('x0=1.75')", timeout=LOAD_MS)
        assert "x0=1.75" in page.url and "y0=1.75" in page.url, page.url
        assert_no_error_box(page)
    finally:
        context.close()


# Each chart's data and layout drawn again, off screen, at the same size with
# margin.autoexpand on (plotly.js of the plotly package: Streamlit's bundle keeps no global):
# the margins plotly would then choose, and the ones the page drew with.
_PLOTLY_JS = Path(__import__("plotly").__file__).parent / "package_data" / "plotly.min.js"
_MARGINS_BOTH_WAYS_JS = """async () => {
    const out = [];
    for (const gd of document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
        const fl = gd._fullLayout;
        const div = document.createElement('div');
        div.style.cssText = 'position:absolute;left:-9000px;top:0;width:' + fl.width + 'px';
        document.body.appendChild(div);
        const layout = Object.assign({}, gd.layout, {width: fl.width, height: fl.height,
            margin: Object.assign({}, gd.layout.margin, {autoexpand: true})});
        await Plotly.newPlot(div, gd.data.map(t => Object.assign({}, t)), layout);
        const a = div._fullLayout._size, s = fl._size;
        out.push({title: (gd.querySelector('.gtitle') || {}).textContent,
                  autoexpand: fl.margin.autoexpand,
                  ours: {l: s.l, r: s.r, t: s.t, b: s.b}, auto: {l: a.l, r: a.r, t: a.t, b: a.b}});
        Plotly.purge(div);
        div.remove();
    }
    return out; }"""


@pytest.mark.parametrize("query", ["", "lecture=1"], ids=["normal", "lecture"])
def test_playground_margins_are_set_and_clip_nothing(streamlit_server, chromium, query):
    """The Playground's three charts carry their own margins with ``autoexpand`` off (plotly
    draws them once instead of twice); drawn again with autoexpand on, plotly would not widen
    any of them: the tick labels, axis titles, colour bar, legend and animation controls fit."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/?" + query, wait_until="domcontentloaded")
        wait_rendered(page, path="/", timeout_ms=LOAD_MS)
        assert chart_count(page) >= 3
        page.add_script_tag(path=str(_PLOTLY_JS))
        charts = page.evaluate(_MARGINS_BOTH_WAYS_JS)
        assert len(charts) >= 3, charts
        for c in charts:
            assert c["autoexpand"] is False, c
            for side in "lrtb":
                # (sub-pixel rounding aside) autoexpand would have added nothing
                assert c["auto"][side] <= c["ours"][side] + 0.5, (side, c)
        assert_no_error_box(page)
    finally:
        context.close()


def test_sweeps_page_in_a_browser(streamlit_server, chromium):
    """/sweeps from a link: the robustness map and the fair comparison draw, no error box; a
    full-page screenshot (its lecture-mode first screen is checked with the other pages' in
    test_lecture_mode_first_screen_on_a_projector)."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/sweeps?s_nlr=12&s_steps=200", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Sweeps").first.wait_for(timeout=2 * LOAD_MS)
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')"
            ".length >= 2", timeout=2 * LOAD_MS)   # a new session: imports, the sweep
        wait_idle(page)
        assert_no_error_box(page)
        assert chart_count(page) == 2
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        titles = chart_titles(page)
        assert "steps to f − f* < 1e-06" in titles[0] and "best of 12" in titles[1], titles
        assert "s_nlr=12" in page.url
        full_page_screenshot(page, "sweeps")
    finally:
        context.close()


# ----------------------------------------------------------------------------- lecture deck
def test_lecture_deck_opens_offline_and_navigates_with_the_keyboard(chromium, tmp_path):
    """The downloaded deck from file:// with every network request blocked and recorded: none
    is made; ← / → move through every lecture scene, each slide's three charts drawn."""
    from adamem_core.lecture_deck import lecture_deck_html
    from adamem_core.scene import LECTURE_SCENES

    path = tmp_path / "deck.html"
    path.write_text(lecture_deck_html(), encoding="utf-8")
    url = path.as_uri()
    ctx = chromium.new_context(viewport={"width": 1280, "height": 720}, offline=True)
    requests: list[str] = []
    blocked: list[str] = []
    for pattern in ("http://**/*", "https://**/*", "ws://**/*", "wss://**/*"):
        ctx.route(pattern, lambda route: (blocked.append(route.request.url), route.abort()))
    page = ctx.new_page()
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=LOAD_MS)
        n = len(LECTURE_SCENES)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            page.wait_for_function(
                f"document.body.getAttribute('data-slide') === '{i + 1}' && "
                f"document.querySelectorAll('#slide-{i + 1} .main-svg').length >= 3",
                timeout=LOAD_MS)
            title = page.locator(f"#slide-{i + 1} h1").inner_text()
            assert title == f"{i + 1}. {LECTURE_SCENES[i][0]}"
            assert page.locator(".slide.active").count() == 1
            assert page.locator(f"#slide-{i + 1}").is_visible()
            box = page.locator(f"#slide-{i + 1}-main, #s{i + 1}-main").first.bounding_box()
            assert box and box["height"] > 200 and box["y"] + box["height"] <= 720 + 1
            page.screenshot(path=str(SCREENSHOTS / f"deck_slide_{i + 1}.png"))
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        assert page.evaluate("document.body.getAttribute('data-slide')") == str(n)   # stays
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(f"document.body.getAttribute('data-slide') === '{n - 1}'")
        page.keyboard.press("Home")
        page.wait_for_function("document.body.getAttribute('data-slide') === '1'")
    finally:
        ctx.close()
    assert blocked == []
    assert set(requests) <= {url}, [u for u in requests if u != url]


# ----------------------------------------------------------------------------- lecture mode
PROJECTORS = ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080})
# page → (URL path, the main picture's element keys, text of the caption that tells the story)
LECTURE_PAGES = {
    "playground": ("/?lecture=1", ("pg_contour", "pg_beta_fig"), "reached f − f*"),
    "inside": ("/inside?lecture=1", ("is_planes", "is_slice"), "at step"),
    "theory": ("/theory?lecture=1", ("th_fig_plane", "th_fig_slice"), "the model chooses"),
}


def _lecture_pages() -> dict:
    pages = dict(LECTURE_PAGES)
    if (Path(__file__).resolve().parents[1] / "app_pages" / "sweeps.py").exists():
        pages["sweeps"] = ("/sweeps?lecture=1", ("sw_map",), "")   # its caption: not located yet
    return pages


def _box_inside(page, selector: str, vp: dict) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not on the page"
    assert box["x"] >= -1 and box["y"] >= -1, (selector, box)
    assert box["x"] + box["width"] <= vp["width"] + 1, (selector, box)
    assert box["y"] + box["height"] <= vp["height"] + 1, (selector, box, vp)
    return box


def _truncations(page) -> list[str]:
    """Buttons whose label is cut (scrollWidth > clientWidth, or an ellipsis) and chart titles
    that run past their chart (Plotly clips the SVG text at the chart's edge)."""
    return page.evaluate(
        """() => {
            const out = [];
            document.querySelectorAll('[data-testid="stMain"] button').forEach(b => {
                if (!b.offsetParent) return;
                b.querySelectorAll('p, div, span').forEach(e => {
                    if (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
                        out.push('button: ' + b.innerText);
                });
                if (b.innerText.includes('…')) out.push('button: ' + b.innerText);
            });
            document.querySelectorAll('.js-plotly-plot').forEach(p => {
                const svg = p.querySelector('.main-svg');
                const t = p.querySelector('.gtitle');
                if (!svg || !t) return;
                const s = svg.getBoundingClientRect(), r = t.getBoundingClientRect();
                if (r.right > s.right + 1 || r.left < s.left - 1 || t.textContent.includes('…'))
                    out.push('title: ' + t.textContent);
            });
            return out;
        }""")


@pytest.mark.parametrize("name", list(_lecture_pages()))
@pytest.mark.parametrize("vp", PROJECTORS, ids=lambda v: f"{v['width']}x{v['height']}")
def test_lecture_mode_first_screen_on_a_projector(streamlit_server, chromium, vp, name):
    """At 1280×720 and 1920×1080 in lecture mode the first screen holds each page's main
    picture and the caption that tells the story, and nothing is cut off."""
    shots = Path("/work/wt/shots/wip-theory")
    path, keys, caption = _lecture_pages()[name]
    ctx = chromium.new_context(viewport=vp)
    page = ctx.new_page()
    try:
        page.goto(streamlit_server + path, timeout=LOAD_MS)
        # (the Sweeps page has no title in lecture mode: its map is the first thing)
        page.locator(f".st-key-{keys[0]}").first.wait_for(timeout=LOAD_MS)
        # charts far below the first screen may wait to be scrolled into view before they
        # draw (wait_idle would wait for them): wait for the run to end and the main ones
        for key in keys:     # (a 3-D chart draws on a canvas: its SVG layer is attached)
            page.locator(f".st-key-{key} .js-plotly-plot .main-svg").first.wait_for(
                state="attached", timeout=LOAD_MS)
        page.wait_for_function(
            "!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=LOAD_MS)
        page.wait_for_timeout(1500)
        assert_no_error_box(page)
        for key in keys:
            _box_inside(page, f".st-key-{key} .js-plotly-plot", vp)
        if caption.startswith("css:"):
            _box_inside(page, caption[4:], vp)
        elif caption:
            _box_inside(page, f'[data-testid="stMain"] [data-testid="stMarkdownContainer"]'
                              f':has-text("{caption}")', vp)
        bad = _truncations(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        fname = f"lecture_{name}_{vp['width']}x{vp['height']}.png"
        page.screenshot(path=str(SCREENSHOTS / fname))
        if shots.parent.exists():
            shots.mkdir(exist_ok=True)
            page.screenshot(path=str(shots / fname))
        assert bad == [], (name, vp, bad)
    finally:
        ctx.close()


SWEEP_MS = 240_000        # a server start, the measured limits and 30 networks, on a shared box


@pytest.mark.timeout(900)
def test_mlp_sweep_in_a_browser(streamlit_server, chromium):
    """The MLP lab's sweep mode from a link: a small sweep (3 optimizers × 5 learning rates × 2
    seeds), run with the button; the robustness map and the fair comparison are drawn, the best-η
    table is there; screenshot."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/mlp?m_mode=sweep&m_n=300&m_steps=60&m_hidden=16"
                  "&m_sopt=am_sgd,sgd_ema:0.9,sgd_ema:0.5&m_snlr=5&m_slo=0.01&m_shi=10"
                  "&m_sseeds=2", wait_until="domcontentloaded")
        page.get_by_role("heading", name="MLP lab").first.wait_for(timeout=SWEEP_MS)
        wait_rendered(page, path="mlp", query={"m_mode": "sweep"}, timeout_ms=SWEEP_MS)
        assert_no_error_box(page)
        assert "30 networks" in page.locator("body").inner_text()
        # the sweep's run ends with st.rerun(): wait for the run that draws its results
        rerun(page, lambda: page.get_by_role("button", name="▶ Run sweep").click(),
              path="mlp", timeout_ms=SWEEP_MS)
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.js-plotly-plot .gtitle'))
                     .some(t => t.textContent.includes('Final test accuracy after'))""",
            timeout=SWEEP_MS)
        wait_rendered(page, path="mlp", timeout_ms=SWEEP_MS)
        assert_no_error_box(page)
        assert chart_count(page) == 2, chart_titles(page)
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        assert "best η" in page.locator("body").inner_text()
        assert "m_mode=sweep" in page.url
        full_page_screenshot(page, "mlp_sweep")
    finally:
        context.close()
