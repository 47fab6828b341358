"""Benchmark of ``adamem_core.sweep.sweep`` (issue 9), printed, not asserted.

1. 30 learning rates × 8 optimizer rows × 500 steps (240 runs) on Rosenbrock in ONE sweep call:
   median wall time (target ≤ 0.5 s);
2. the same 240 runs one at a time through ``torch.optim`` with autograd (the real optimizers),
   in the same process: a subset of the runs is timed (every ``--torch-every``-th) and the total
   extrapolated by the number of runs (each run costs the same 500 steps; said in the output);
   ratio target ≥ 50×;
3. 30 × 8 × 20 random starts (4,800 runs) × 500 steps in one call (target ≤ 5 s);
4. with ``--browser``: the time in headless Chromium from a changed control on /sweeps (the
   tolerance) to the redrawn robustness map (its title shows the new tolerance), median of
   ``--browser-reps`` changes, on a ``streamlit run app.py`` started here.

The machine may be shared: the 1-minute load average is printed, and CPU (process) times next to
the wall clock. Run::

    python benchmarks/sweep.py [--reps 7] [--torch-every 10] [--browser]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import timed  # noqa: E402 (benchmarks/ is on sys.path)
from adamem_core.landscapes import LANDSCAPES  # noqa: E402
from adamem_core.specs import OptimizerSpec  # noqa: E402
from adamem_core.sweep import lr_grid, sweep  # noqa: E402
from adamem_core.sweep_scene import random_starts  # noqa: E402

TARGET_240 = 0.5
TARGET_RATIO = 50.0
TARGET_4800 = 5.0


def rows() -> list[OptimizerSpec]:
    return ([OptimizerSpec("am_sgd", 1e-3), OptimizerSpec("am_adamw", 1e-2, weight_decay=0.0)]
            + [OptimizerSpec("sgd_ema", 1e-3, beta=b) for b in (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)])


def torch_run(land, spec: OptimizerSpec, start, steps: int) -> np.ndarray:
    w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = spec.make([w])
    for _ in range(steps):
        opt.zero_grad()
        loss = land.value(w)
        if not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
    return w.detach().numpy().copy()


def browser_latency(reps: int) -> list[float]:
    """Seconds from selecting a new tolerance on /sweeps to the map's title showing it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import (CHROMIUM_ARGS, free_port, start_streamlit, stop_streamlit,  # noqa
                          wait_healthy)
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = start_streamlit(port)
    url = f"http://127.0.0.1:{port}"
    out = []
    try:
        wait_healthy(proc, url, 120)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                  args=CHROMIUM_ARGS)
            page = b.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url + "/sweeps", wait_until="domcontentloaded")
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=240_000)
            tols = ["0.0001", "1e-08", "0.001", "1e-06", "0.01", "1e-10", "1e-12"]
            for i in range(reps):
                tol = tols[i % len(tols)]
                page.get_by_role("combobox", name="tolerance on f − f*").click()
                t0 = time.perf_counter()
                page.get_by_role("option", name=tol, exact=True).click()
                page.wait_for_function(
                    "t => { const e = document.querySelector('.js-plotly-plot .gtitle');"
                    " return e && e.textContent.includes('< ' + t); }", arg=tol,
                    timeout=120_000)
                out.append(time.perf_counter() - t0)
                page.wait_for_timeout(500)
            b.close()
    finally:
        stop_streamlit(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--reps-big", type=int, default=3)
    ap.add_argument("--torch-every", type=int, default=10,
                    help="time every k-th of the 240 runs through torch.optim, extrapolate")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--browser", action="store_true")
    ap.add_argument("--browser-reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)

    land = LANDSCAPES["rosenbrock"]
    R = rows()
    lrs = lr_grid(1e-5, 3e-2, 30)
    steps = args.steps
    load0 = os.getloadavg()[0]

    tab = sweep(land, R, lrs, steps=steps, tol=1e-6, limits=None)        # warm-up + result
    w240, c240 = timed(lambda: sweep(land, R, lrs, steps=steps, tol=1e-6, limits=None),
                       args.reps)
    # torch.optim one run at a time: every k-th (spec, lr), extrapolated to all 240
    pairs = [(s.replace(lr=float(lr))) for s in R for lr in lrs]
    subset = pairs[::args.torch_every]
    torch_run(land, subset[0], land.start, 20)                           # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    finals = [torch_run(land, s, land.start, steps) for s in subset]
    t_sub, c_sub = time.perf_counter() - t0, time.process_time() - c0
    t_torch = t_sub * len(pairs) / len(subset)
    c_torch = c_sub * len(pairs) / len(subset)
    # agreement on the timed subset (final iterates of runs that did not diverge)
    idx = [pairs.index(s) for s in subset]
    devs = []
    for i, f in zip(idx, finals):
        line = tab.iloc[i]
        if np.isnan(line["diverged_at"]) and np.all(np.isfinite(f)):
            fv = float(land.value(f)) - land.f_star
            devs.append(abs(fv - line["final_gap"]) / (1 + abs(fv)))

    starts = random_starts(land, 20, 0)
    sweep(land, R, lrs, steps=steps, tol=1e-6, starts=starts, limits=None)   # warm-up
    w4800, c4800 = timed(lambda: sweep(land, R, lrs, steps=steps, tol=1e-6, starts=starts,
                                       limits=None), args.reps_big)
    load1 = os.getloadavg()[0]

    m240, m4800 = statistics.median(w240), statistics.median(w4800)
    ratio = t_torch / m240
    print(f"sweep benchmark: Rosenbrock, {len(R)} rows × {len(lrs)} lrs "
          f"({lrs[0]:g} … {lrs[-1]:g}) × {steps} steps")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, torch "
          f"{torch.__version__}, {os.cpu_count()} CPUs, load average (1 min) {load0:.2f} before"
          f" / {load1:.2f} after (a shared machine: wall times include waiting for a core)")
    print()
    print(f"  {'':46s} {'median':>9s} {'min':>9s} {'reps':>5s} {'target':>9s}  result  "
          f"{'CPU median':>10s}")
    print(f"  {'240 runs (30 lr × 8 rows), one sweep call':46s} {m240:8.3f}s {min(w240):8.3f}s "
          f"{len(w240):5d} {'≤ 0.5 s':>9s}  {'PASS' if m240 <= TARGET_240 else 'MISS':6s}"
          f"{statistics.median(c240):10.3f}s")
    print(f"  {'same 240 runs via torch.optim, one at a time':46s} {t_torch:8.2f}s {'':>9s} "
          f"{'':>5s} {'':>9s}  {'':6s}{c_torch:10.2f}s")
    print(f"    (timed {len(subset)} of the 240 runs — every {args.torch_every}th — in "
          f"{t_sub:.2f} s and extrapolated ×{len(pairs) / len(subset):g})")
    print(f"  {'ratio torch loop / sweep':46s} {ratio:8.0f}× {'':>9s} {'':>5s} "
          f"{'≥ 50×':>9s}  {'PASS' if ratio >= TARGET_RATIO else 'MISS':6s}"
          f"{c_torch / statistics.median(c240):9.0f}×")
    print(f"  {'4,800 runs (× 20 starts), one sweep call':46s} {m4800:8.3f}s "
          f"{min(w4800):8.3f}s {len(w4800):5d} {'≤ 5 s':>9s}  "
          f"{'PASS' if m4800 <= TARGET_4800 else 'MISS':6s}{statistics.median(c4800):10.3f}s")
    if devs:
        print(f"  agreement (timed torch runs that converged, {len(devs)}): largest "
              f"|Δ(f − f*)|/(1 + |f − f*|) = {max(devs):.1e}")
    print(f"  outcomes of the 240: {int(np.isfinite(tab['steps_to_tol']).sum())} reach 1e-6, "
          f"{int(np.isfinite(tab['diverged_at']).sum())} diverge")
    if args.browser:
        lat = browser_latency(args.browser_reps)
        print()
        print(f"  browser (headless Chromium): changed control → redrawn map, median "
              f"{statistics.median(lat):.2f} s (min {min(lat):.2f}, max {max(lat):.2f}, "
              f"{len(lat)} changes; default sweep: 8 rows × 25 lrs × 300 steps on κ = 100)")


if __name__ == "__main__":
    main()
