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

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

VIEWPORT = {"width": 1600, "height": 1000}
LOAD_MS = 90_000          # first load on a busy 2-core machine: imports, torch, first runs


# ----------------------------------------------------------------------------- helpers
def wait_idle(page, timeout_ms: int = LOAD_MS) -> None:
    """Wait until Streamlit has finished its run (no "Running…" status widget for a while) and
    Plotly has drawn every chart on the page."""
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        busy = page.evaluate(
            """() => {
                const running = document.querySelector('[data-testid="stStatusWidget"]');
                const skeleton = document.querySelector('[data-testid="stSkeleton"]');
                const undrawn = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
                    .some(c => !c.querySelector('.js-plotly-plot .main-svg'));
                return Boolean(running || skeleton || undrawn);
            }""")
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.8:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the app did not become idle")


def assert_no_error_box(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()[:2000]
    err = page.locator('[data-testid="stAlertContentError"]')
    assert err.count() == 0, err.first.inner_text()[:2000]
    # Streamlit's "Page not found" dialog and connection errors are modal dialogs
    dialogs = page.locator('[role="dialog"]')
    assert dialogs.count() == 0, dialogs.first.inner_text()[:500]


def chart_count(page) -> int:
    return page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').count()


def chart_titles(page) -> list[str]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
                 .map(p => (p.querySelector('.gtitle') || {}).textContent || '')""")


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
    page.wait_for_timeout(600)
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(300)


def story(page) -> str:
    return page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').all_inner_texts()


def goto_page(page, link_text: str, title: str) -> None:
    """Follow a sidebar navigation link (same session: the scene is kept)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=link_text).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=LOAD_MS)
    wait_idle(page)


# ----------------------------------------------------------------------------- the tests
def test_a_deep_link_is_the_first_visit(streamlit_server, chromium):
    """A copied link to a page other than the first, opened as the server's very first session
    (runs before the other test on the module's fresh server): the page, and no dialog."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(streamlit_server + "/inside?f=beale&lr=0.03", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Inside one step").first.wait_for(timeout=LOAD_MS)
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')"
            ".length >= 4", timeout=LOAD_MS)
        wait_idle(page)
        assert_no_error_box(page)
        assert "η=0.03" in page.locator("body").inner_text()     # the linked scene's runs
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
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot').length >= 3",
            timeout=LOAD_MS)
        wait_idle(page)
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

        # --- changing the landscape updates the charts
        box = page.get_by_role("combobox", name="Function")
        box.click()
        page.get_by_role("option", name="Beale", exact=True).click()
        page.wait_for_function(
            """() => { const t = document.querySelector('.js-plotly-plot .gtitle');
                       return t && t.textContent.includes('Beale'); }""", timeout=LOAD_MS)
        wait_idle(page)
        assert_no_error_box(page)
        assert chart_count(page) == 3
        assert "Beale" in chart_titles(page)[0]
        assert "\n".join(story(page)) != text
        assert "f=beale" in page.url
        full_page_screenshot(page, "playground_beale")

        # --- every page, through the sidebar (the scene stays Beale)
        goto_page(page, "Inside one step", "Inside one step")
        assert_no_error_box(page)
        assert chart_count(page) == 4
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        assert page.locator(".katex").count() >= 5          # the numbers of the closed form
        full_page_screenshot(page, "inside_step")

        goto_page(page, "MLP lab", "MLP lab")
        assert_no_error_box(page)
        full_page_screenshot(page, "mlp_lab")
        # a training from the default controls: live curves, then the results and the summary
        page.get_by_role("button", name="▶ Train").click()
        page.get_by_role("heading", name="Summary").first.wait_for(timeout=LOAD_MS)
        wait_idle(page)
        assert_no_error_box(page)
        assert chart_count(page) >= 3, chart_count(page)
        assert all(n > 0 for n in drawn_traces(page)), drawn_traces(page)
        full_page_screenshot(page, "mlp_lab_trained")

        goto_page(page, "About", "About AdaMem Lab")
        assert_no_error_box(page)
        assert page.locator(".katex").count() >= 5
        full_page_screenshot(page, "about")

        goto_page(page, "Playground", "Playground")
        assert "Beale" in chart_titles(page)[0]

        # --- lecture mode from a link: no controls, big type; the exit button brings them back
        page.goto(streamlit_server + "/?lecture=1", wait_until="domcontentloaded")
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot').length >= 3",
            timeout=LOAD_MS)
        wait_idle(page)
        assert_no_error_box(page)
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
        page.get_by_role("button", name="Exit lecture mode").click()
        page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=LOAD_MS)
        wait_idle(page)
        assert_no_error_box(page)
        assert "lecture=1" not in page.url
        assert not console_errors, console_errors
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
        pages["sweeps"] = ("/sweeps?lecture=1", ("sw_map",), "css:[data-testid='stCaption']")
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
        page.locator("h1").first.wait_for(timeout=LOAD_MS)
        # charts far below the first screen may wait to be scrolled into view before they
        # draw (wait_idle would wait for them): wait for the run to end and the main ones
        for key in keys:
            page.locator(f".st-key-{key} .js-plotly-plot .main-svg").first.wait_for(
                timeout=LOAD_MS)
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
