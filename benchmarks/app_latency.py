"""How fast the app answers: a Streamlit rerun in AppTest, and a widget change in a real browser.

    python benchmarks/app_latency.py [--samples 9] [--reruns 9] [--skip-browser]
                                     [--baseline-rev REV]

1. **AppTest rerun** (streamlit.testing.v1, no browser): the Playground with 8 optimizers ×
   500 steps (``opt=am_sgd,am_adamw,sgd_ema:0.9,sgd_ema:0.5,sgd_ema:0.7,nesterov:0.9,adamw:0.9,
   sgd&steps=500``). Printed: the cold first run, the median of plain reruns (every result
   cached: what a widget that changes nothing costs), and the median rerun after moving the
   step-t slider (figures rebuilt, runs cached). Target: median rerun ≤ 0.5 s. Also the size of
   each chart's JSON (the contour is sent once; animation frames carry only trajectories).
2. **Browser**: ``streamlit run app.py`` on a free localhost port, Debian's headless Chromium
   through Playwright. The learning-rate slider is moved one notch with the keyboard (each
   notch a new learning rate, so the runs are recomputed, not served from the cache); the time
   is measured *in the page* from just before the key press to the frame in which all three
   Plotly charts show the new η in their legends, visible at their measured width (i.e.
   Streamlit reran, sent the figures and Plotly drew them for good). Printed: every sample, the
   median and PASS/MISS against 1 s — for the default scene and for the 8 × 500 scene — the
   ``Plotly.react`` calls per chart, and the bytes the server sent over the websocket per
   change (target ≤ 250 KB for the default scene). Also printed: when the legends first showed
   the new η (Streamlit's first, hidden draw: what this benchmark measured when issue 12 was
   filed).
3. **The app as filed**: issue 12's "≤ 1 s" is a time on its machine, where the 8 × 500
   redraw took 1.67 s as filed. The app as filed (``--baseline-rev``, default the commit the
   issue was filed against; ``none`` skips it; ``benchmarks/_baseline.py``) is served too, and
   each change alternates between its page and today's. The verdict this machine can give:
   today / as filed ≤ 1 / 1.67, for both moments (legends, drawn; the larger ratio decides).

Numbers are wall-clock times on this machine (shared, 2 cores here); they are printed, never
asserted by the test-suite.

Where the browser's time goes (measured with a Chromium performance trace of one η change of
the 8 × 500 scene, Streamlit 1.67): the server's messages have all arrived about 0.3 s after
the key press; the page's main thread is then busy for almost all of the rest (1.56 of
1.63 s), drawing. ``st.plotly_chart`` hashes the figure's spec into the element's id, so every
change of the data is a new element: the three chart ``<div>``s are replaced (checked by
tagging them before a change) and Plotly draws each from scratch, including its per-trace
set-up, instead of ``Plotly.react`` on the existing chart. The same three figures take about
0.3 s in ``Plotly.newPlot`` alone (``benchmarks/redraw.py``); their animation frames add about
20 ms.

And each remounted chart is drawn twice (printed per sample: ``Plotly.react`` calls per chart,
counted by the ``plotly_react`` event): Streamlit's chart component renders before its
container's width is measured, so the first ``Plotly.react`` draws the chart hidden at plotly's
auto size; the second sets the measured width (a fraction of a pixel, e.g. 593.765625, never
the 593.766 plotly's auto size rounds to), which plotly.js redraws in full. The time above is
taken when the second draw is done (a chart counts as shown once it has its width and is
visible). Tried and dropped: sending the traces' arrays as plain lists with a
``layout.datarevision`` and without a template object, so that the second call keeps the
first one's computed data (it does: plotly.js's ``calcdata`` survives): the drawing, not the
data computation, is what costs, and the two ``Plotly.react`` calls of the three charts took
the same time as before (ratio 1.02–1.05, same figures, same page, alternated in one run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter

import _baseline  # benchmarks/ is on sys.path
from _server import APP, start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage"]
BIG = {"opt": "am_sgd,am_adamw,sgd_ema:0.9,sgd_ema:0.5,sgd_ema:0.7,nesterov:0.9,adamw:0.9,sgd",
       "steps": "500"}
RERUN_TARGET = 0.5
BROWSER_TARGET = 1.0
BYTES_TARGET_KB = 250           # per widget change of the default scene
ISSUE_REDRAW_S = 1.67           # issue 12: the 8 × 500 redraw "in 1.67 s today", as filed


# ----------------------------------------------------------------------------- 1. AppTest
def apptest_rerun(reruns: int) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    for k, v in BIG.items():
        at.query_params[k] = v
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    assert not at.exception, [e.message for e in at.exception]
    n_runs = len(at.dataframe[0].value) if at.dataframe else 0
    print(f"AppTest: Playground with {n_runs} optimizers × {BIG['steps']} steps")
    print(f"  cold first run (simulate, contour grid, figures): {cold:.3f} s")

    plain = []
    for _ in range(reruns):
        t0 = time.perf_counter()
        at.run()
        plain.append(time.perf_counter() - t0)
        assert not at.exception
    moved = []
    for i in range(reruns):
        at.slider(key="pg_t").set_value(100 + 37 * i)
        t0 = time.perf_counter()
        at.run()
        moved.append(time.perf_counter() - t0)
        assert not at.exception
    med_plain, med_moved = statistics.median(plain), statistics.median(moved)
    print("  plain rerun   samples: " + " ".join(f"{x:.3f}" for x in plain))
    print("  step-t rerun  samples: " + " ".join(f"{x:.3f}" for x in moved))
    worst = max(med_plain, med_moved)
    print(f"  median rerun {med_plain:.3f} s, after moving step t {med_moved:.3f} s "
          f"(target ≤ {RERUN_TARGET} s): {'PASS' if worst <= RERUN_TARGET else 'MISS'}")

    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        frames = len(json.dumps(spec.get("frames", [])))
        title = (spec["layout"].get("title") or {}).get("text", "?")
        print(f"  chart {title[:48]!r}: {len(c.proto.spec) / 1024:.0f} KiB JSON "
              f"({len(spec.get('frames', []))} frames, {frames / 1024:.0f} KiB of it)")
    return worst


# ----------------------------------------------------------------------------- 2. browser
# The time of one widget change, in the page: ``window.__first`` when all three charts show the
# new η in their legends (what this benchmark measured when issue 12 was filed: Streamlit's
# first, hidden draw already shows it), the returned value once all three are visible at their
# measured width (the second draw, done: the figure judged)
ALL_CHARTS_SHOW = r"""(eta) => {
    const plots = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'));
    if (plots.length < 3) return false;
    // "η=0.01" must not match the old "η=0.015": the value has to end there
    const needle = 'η=' + eta;
    const hit = (txt) => {
        for (let i = txt.indexOf(needle); i >= 0; i = txt.indexOf(needle, i + 1)) {
            if (!/[0-9.e]/.test(txt.charAt(i + needle.length))) return true;
        }
        return false;
    };
    const legends = plots.every(p => Array.from(p.querySelectorAll('.legendtext'))
                                         .some(t => hit(t.textContent)));
    if (!legends) return false;
    if (window.__first === null) window.__first = performance.now() - window.__t0;
    // Streamlit draws a newly mounted chart first hidden, before its width is known, then
    // again at the measured width: the chart is shown once it has a width and is visible
    const ok = plots.every(p => p.layout && p.layout.width !== undefined
                                && p.style.visibility !== 'hidden');
    return ok ? performance.now() - window.__t0 : false;
}"""


# Every chart's Plotly.react calls, counted by the "plotly_react" event plotly.js emits at
# the end of each: [chart number, layout.width at that call]
COUNT_REACTS = r"""(() => {
    window.__reacts = [];
    let n = 0;
    const watch = (gd) => {
        if (gd.__counted || !gd.emit) return;
        gd.__counted = ++n;
        const emit = gd.emit;
        gd.emit = function (name, ...rest) {
            if (name === 'plotly_react')
                window.__reacts.push([gd.__counted, gd.layout ? gd.layout.width ?? null : null]);
            return emit.call(this, name, ...rest);
        };
    };
    new MutationObserver(() => document.querySelectorAll('.js-plotly-plot').forEach(watch))
        .observe(document, {subtree: true, childList: true, attributes: true,
                            attributeFilter: ['class']});
})();"""


class Scene:
    """One Playground page in the browser, loaded and ready for learning-rate changes."""

    def __init__(self, page, url: str, label: str) -> None:
        self.page, self.label = page, label
        self.received = 0
        self.times: list[float] = []
        self.first: list[float] = []
        self.sent: list[float] = []
        self.draws: list[int] = []

        def on_ws(ws) -> None:       # what the server sends the page (Streamlit's websocket)
            ws.on("framereceived", lambda payload: setattr(
                self, "received", self.received + len(payload)))

        page.on("websocket", on_ws)
        page.add_init_script(COUNT_REACTS)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function(
            """() => document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot '
                                               + '.legendtext').length > 0
                     && document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')
                        .length >= 3
                     && !document.querySelector('[data-testid="stStatusWidget"]')""",
            timeout=180_000)
        page.wait_for_timeout(1500)
        self.slider = page.locator('[data-testid="stSlider"]', has_text="learning rate η") \
            .locator('input[type="range"]').first

    def change(self) -> None:
        """Move the learning rate one notch down; record the time until the charts show it."""
        page = self.page
        page.bring_to_front()
        self.slider.focus()
        before = self.slider.get_attribute("aria-valuetext") or ""
        self.received = 0
        page.evaluate("window.__t0 = performance.now(); window.__first = null; "
                      "window.__reacts = []")
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "(b) => { const s = document.activeElement; "
            "return s && s.getAttribute('aria-valuetext') !== b; }", arg=before, timeout=30_000)
        eta = self.slider.get_attribute("aria-valuetext")
        ms = page.wait_for_function(ALL_CHARTS_SHOW, arg=eta, polling="raf",
                                    timeout=120_000).json_value()
        first = page.evaluate("window.__first")
        self.times.append(ms / 1000)
        self.first.append(first / 1000)
        page.wait_for_timeout(400)          # the rest of the run (table, buttons) arrives
        self.sent.append(self.received / 1024)
        calls = page.evaluate("window.__reacts")
        per_chart = sorted(Counter(c[0] for c in calls).values())
        hidden = sum(1 for c in calls if c[1] is None)
        self.draws.append(len(calls))
        print(f"  {self.label} sample {len(self.times)}: η {before} → {eta}: {ms / 1000:.3f} s "
              f"(legends {first / 1000:.3f} s), {self.sent[-1]:.0f} KiB received, Plotly.react "
              f"per chart {per_chart} ({hidden} of them before the width was known)", flush=True)

    def report(self, bytes_target: bool = False) -> float:
        med = statistics.median(self.times)
        print(f"  {self.label}: median {med:.3f} s over {len(self.times)} changes "
              f"(target ≤ {BROWSER_TARGET} s): {'PASS' if med <= BROWSER_TARGET else 'MISS'}; "
              f"legends first showed the new η after {statistics.median(self.first):.3f} s")
        print(f"  {self.label}: median {statistics.median(self.draws):.0f} Plotly.react calls "
              "per change for the three charts")
        kib = statistics.median(self.sent)
        verdict = ("PASS" if kib * 1.024 <= BYTES_TARGET_KB else "MISS") if bytes_target \
            else "info"
        print(f"  {self.label}: median {kib:.0f} KiB sent per widget change "
              + (f"(target ≤ {BYTES_TARGET_KB} KB): " if bytes_target else "") + verdict)
        return med


def browser(samples: int, baseline_rev: str) -> None:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        print(f"browser: {CHROMIUM} not found (apt-get install chromium) — skipped")
        return
    servers = {"today": start_server()}
    try:
        if baseline_rev.lower() != "none":
            root, sha = _baseline.export(baseline_rev)
            if root is None:
                print(f"Browser: the app as filed skipped: {sha}")
            else:
                servers[f"as filed ({sha[:7]})"] = start_server(app=root / "app.py")
        query = "&".join(f"{k}={v}" for k, v in BIG.items())
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                print("Browser: widget change → all three charts redrawn with the new η"
                      + (", today's app and the app as filed alternating"
                         if len(servers) > 1 else ""))
                for scene, path, issue in (("default scene (4 × 150)", "/", False),
                                           ("8 optimizers × 500", "/?" + query, True)):
                    pages = {}
                    for name, (_, url) in servers.items():
                        page = b.new_page(viewport={"width": 1600, "height": 1000})
                        pages[name] = Scene(page, url + path, f"{scene}, {name}")
                    for _ in range(samples):
                        for sc in pages.values():
                            sc.change()
                    for name, sc in pages.items():
                        sc.report(bytes_target=(name == "today" and not issue))
                    if len(pages) > 1:
                        today, filed = pages["today"], list(pages.values())[1]
                        ratio = statistics.median(today.times) / statistics.median(filed.times)
                        first = statistics.median(today.first) / statistics.median(filed.first)
                        print(f"  {scene}: today / as filed {ratio:.3f}× (charts drawn), "
                              f"{first:.3f}× (legends first showing the new η)")
                        if issue:
                            worst = max(ratio, first)
                            print(f"  {scene}: " + _baseline.verdict(
                                worst, BROWSER_TARGET, ISSUE_REDRAW_S)
                                + " (the larger of the two ratios)")
                    for sc in pages.values():
                        sc.page.close()
            finally:
                b.close()
    finally:
        for proc, _ in servers.values():
            stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=9, help="browser widget changes (≥ 7)")
    ap.add_argument("--reruns", type=int, default=9, help="AppTest reruns per median")
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--baseline-rev", default=_baseline.ISSUE_REV,
                    help="the app as filed, served and measured alongside ('none': skip)")
    args = ap.parse_args()
    import torch
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    apptest_rerun(args.reruns)
    if not args.skip_browser:
        browser(max(args.samples, 1), args.baseline_rev)


if __name__ == "__main__":
    main()
