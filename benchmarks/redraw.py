"""How long the browser takes to draw the Playground's three charts after a widget change,
with the charts' own margins (``margin.autoexpand`` off: one draw) against the same figures with
plotly's auto-expanding margins (the layout they had before: l = r = b = 10 px, autoexpand on,
colour bar at plotly's default place), measured in the same run.

    python benchmarks/redraw.py [--samples 7]

The figures are the page's own (``ui.shared_figures``) for the default scene and the 8 × 500
scene, normal and lecture mode, at the widths the page gives them at a 1600 px viewport. In
Debian's headless Chromium (plotly.js of the plotly package) each chart is drawn afresh for
η = 0.1 (``Plotly.newPlot``: a first view, or a chart Streamlit mounts anew), then updated
to η = 0.07 (``Plotly.react``: a learning-rate change), each timed with ``performance.now()``
up to the next animation frame: the page's main thread after Streamlit has the figures. A third variant, "lines only", draws the paths without their marker per
iterate (not what the page draws): what those markers cost. Variants alternate sample by sample (the machine is shared and noisy:
the ratio is the figure to read). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = "/usr/bin/chromium"
BIG = {"opt": "am_sgd,am_adamw,sgd_ema:0.9,sgd_ema:0.5,sgd_ema:0.7,nesterov:0.9,adamw:0.9,sgd",
       "steps": "500"}
WIDTHS = {False: (594, 514, 514), True: (560, 848, 848)}    # page columns at 1600 px

JS = """async ([a, b, widths, samples]) => {
    const out = {newPlot: {}, react: {}};
    const variants = Object.keys(a[0]);
    for (const variant of variants) for (const k in out) out[k][variant] = a.map(() => []);
    for (let s = 0; s < samples; s++) {
        for (const variant of variants) {
            for (let i = 0; i < a.length; i++) {
                const div = document.createElement('div');
                div.style.width = widths[i] + 'px';
                document.body.appendChild(div);
                const fa = a[i][variant], fb = b[i][variant];
                let t0 = performance.now();
                await Plotly.newPlot(div, fa.data, fa.layout, {responsive: false});
                await new Promise(r => requestAnimationFrame(r));
                out.newPlot[variant][i].push(performance.now() - t0);
                await new Promise(r => setTimeout(r, 0));
                t0 = performance.now();
                await Plotly.react(div, fb.data, fb.layout);
                await new Promise(r => requestAnimationFrame(r));
                out.react[variant][i].push(performance.now() - t0);
                Plotly.purge(div); div.remove();
            }
        }
    }
    return out; }"""


def autoexpanding(spec: dict) -> dict:
    """The same figure with the layout the charts had before: small margins plotly widens."""
    lay = dict(spec["layout"])
    lay["margin"] = {"l": 10, "r": 10, "t": lay.get("margin", {}).get("t", 80), "b": 10, "pad": 0}
    data = []
    for tr in spec["data"]:
        if "colorbar" in tr:
            tr = {**tr, "colorbar": {k: v for k, v in tr["colorbar"].items()
                                     if k not in ("x", "xanchor", "xpad")}}
        data.append(tr)
    return {"data": data, "layout": lay}


def lines_only(spec: dict) -> dict:
    """The page's figure with its paths drawn without a marker per iterate (not what the page
    draws: how much those markers cost)."""
    data = [{**tr, "mode": "lines"} if (tr.get("meta") or {}).get("role") in ("block", "head",
                                                                            "gap", "beta")
            else tr for tr in spec["data"]]
    return {"data": data, "layout": spec["layout"]}


def charts(query: dict, lr: str, lecture: bool) -> list[dict]:
    from adamem_core.landscapes import LANDSCAPES
    from adamem_core.scene import parse_query
    from ui import shared_figures as sf

    q = {**query, "lr": lr, **({"lecture": "1"} if lecture else {})}
    scene, _ = parse_query(q, LANDSCAPES)
    t = scene.steps
    out = []
    for fig in (sf.trajectory_chart(scene, t), sf.gap_chart(scene, t), sf.beta_chart(scene, t)):
        spec = json.loads(json.dumps(fig.spec))     # a private copy: the frozen spec is shared
        spec.pop("frames", None)          # the animation frames are not drawn on a change
        out.append({"fixed": {"data": spec["data"], "layout": spec["layout"]},
                    "autoexpand": autoexpanding(spec), "lines only": lines_only(spec)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=7)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import logging
    logging.disable(logging.WARNING)
    import plotly
    from playwright.sync_api import sync_playwright

    pjs = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(pjs))
        for name, query in (("default scene (4 × 150)", {}), ("8 optimizers × 500", BIG)):
            for lecture in (False, True):
                a = charts(query, "0.1", lecture)
                b = charts(query, "0.07", lecture)
                both = page.evaluate(JS, [a, b, list(WIDTHS[lecture]), args.samples])
                mode = "lecture" if lecture else "normal"
                for how, res in both.items():
                    tot = {v: statistics.median([sum(x) for x in zip(*res[v])]) for v in res}
                    per = {v: [statistics.median(x) for x in res[v]] for v in res}
                    print(f"{name}, {mode}: Plotly.{how} of trajectory / gap / β, median of "
                          f"{args.samples} (ms)")
                    for v in ("autoexpand", "fixed", "lines only"):
                        print(f"  {v:10s}: " + " / ".join(f"{m:6.1f}" for m in per[v])
                              + f"   all three {tot[v]:7.1f}")
                    print(f"  fixed / autoexpand: {tot['fixed'] / tot['autoexpand']:.2f}")
        browser.close()


if __name__ == "__main__":
    main()
