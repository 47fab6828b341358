"""Shared fixtures for the app tests.

* ``new_app``: a factory of Streamlit ``AppTest`` objects for app.py (optionally with query
  parameters, i.e. an opened link);
* ``streamlit_server``: ``streamlit run app.py`` on a free localhost port, healthy, torn down with
  its whole process group;
* ``chromium``: Debian's headless Chromium driven by Playwright (never ``playwright install``);
  missing Chromium fails in CI (``CI`` set) and skips locally.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage"]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


# ----------------------------------------------------------------------------- AppTest
_COMPONENTS: dict[str, object] = {}


@pytest.fixture
def one_cpu_thread() -> Iterator[None]:
    """torch on one thread for the test (and the previous count restored): reductions then add
    in one order, whatever the machine's core count."""
    import torch   # (only the tests that ask for it pay for the import)

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def new_app() -> Callable[..., "object"]:
    """``new_app(query=None, timeout=90)`` → an AppTest of app.py (not yet run); ``query`` is
    the URL's query string, as a dict (a link being opened)."""
    from streamlit.testing.v1 import AppTest

    def make(query: Mapping[str, str] | None = None, timeout: float = 90):
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        # Each AppTest scans every installed distribution for v2 components on its first run
        # (~0.3 s); the result is the same for all of them, so share one registry.
        if "manager" in _COMPONENTS and hasattr(at, "_bidi_component_manager"):
            at._bidi_component_manager = _COMPONENTS["manager"]
        for k, v in (query or {}).items():
            at.query_params[k] = v
        orig_run = at.run

        def run_and_share(*a, **kw):
            out = orig_run(*a, **kw)
            mgr = getattr(at, "_bidi_component_manager", None)
            if mgr is not None:
                _COMPONENTS.setdefault("manager", mgr)
            return out

        at.run = run_and_share
        return at

    return make


# ----------------------------------------------------------------------------- live server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(port: int, log_path: Path | None = None) -> subprocess.Popen:
    """``streamlit run app.py`` in its own process group (so teardown can kill all of it)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before it was "
                               "healthy")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError as e:          # connection refused while it starts
            last = e
        time.sleep(0.25)
    raise RuntimeError(f"streamlit was not healthy after {timeout:.0f} s ({last})")


def stop_streamlit(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def streamlit_server(tmp_path_factory) -> Iterator[str]:
    """The base URL of a freshly started app (module scope: one server per test module)."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    proc = start_streamlit(port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url)
    except RuntimeError as e:
        stop_streamlit(proc)
        pytest.fail(f"{e}\n--- server log ---\n{log.read_text(errors='replace')[-4000:]}")
    try:
        yield url
    finally:
        stop_streamlit(proc)


# ----------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def chromium() -> Iterator["object"]:
    """A headless Chromium (Debian's /usr/bin/chromium) launched through Playwright."""
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        msg = (f"Chromium not found at {CHROMIUM}: install Debian's package "
               "(apt-get install chromium; scripts/test.sh does it)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ----------------------------------------------------------------------------- run marker
# Every run of the app ends with a hidden marker (ui.common.mark_rendered, written by app.py
# after the page has run): <div class="adamem-rendered" data-run data-status data-page
# data-query>. Its arrival with a new run number proves the rerun finished (Streamlit sends a
# run's elements in order); Streamlit's "Running…" indicator proves nothing (it may never
# appear), so the browser tests wait on the marker, never on the absence of an indicator.
RENDERED_JS = """() => {
    const m = document.querySelector('.adamem-rendered');
    return m ? {run: Number(m.dataset.run), status: m.dataset.status, page: m.dataset.page,
                query: m.dataset.query} : null; }"""
CHARTS_DRAWN_JS = """() => {
    const charts = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'));
    return !document.querySelector('[data-testid="stSkeleton"]')
        && charts.every(c => c.querySelector('.js-plotly-plot .main-svg')); }"""


def rendered(page) -> dict | None:
    """The run marker now on the page (``{run, status, page, query}``), or None."""
    return page.evaluate(RENDERED_JS)


def wait_rendered(page, *, after: int = 0, path: str | None = None,
                  query: Mapping[str, str] | None = None, timeout_ms: int = 90_000) -> dict:
    """Wait for a finished run newer than run number ``after`` (0: any run of this session),
    optionally drawn for page ``path`` (its url_path, "/" for the default page) and a URL query
    containing ``query``; then for Plotly to have drawn every chart. Returns the marker."""
    from urllib.parse import parse_qsl

    deadline = time.monotonic() + timeout_ms / 1000
    marker = None
    while time.monotonic() < deadline:
        marker = rendered(page)
        if (marker and marker["run"] > after and (path is None or marker["page"] == path)
                and all(dict(parse_qsl(marker["query"])).get(k) == v
                        for k, v in (query or {}).items())):
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError(f"no finished run after run {after} for page {path!r} and query "
                             f"{query!r} within {timeout_ms / 1000:.0f} s; last marker: {marker}")
    # Plotly draws after the elements arrive (a 3-D chart in software WebGL on a busy machine
    # can take minutes): its own allowance, not what the run left over
    page.wait_for_function(CHARTS_DRAWN_JS, timeout=timeout_ms)
    return marker


def rerun(page, action: Callable[[], object], **expect) -> dict:
    """Do ``action`` (a click, a choice) and wait until the rerun it triggers has finished
    (``wait_rendered`` with ``after`` = the run shown before the action)."""
    before = rendered(page)
    action()
    return wait_rendered(page, after=before["run"] if before else 0, **expect)


# ----------------------------------------------------------------------------- page checks
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
