"""Learning-rate × β × start × seed grids on the batched 2-D engine → tidy tables, and how to
read them: cells of the robustness map, each row's best learning rate and its stable
learning-rate window, the constant-β stability bound on quadratics. No Streamlit.

:func:`sweep` runs every (optimizer row, lr, start, seed) of the grid in ONE batched engine pass
(runs are the batch dimension, each with its own start and noise seed; the noise of a seed is
the same for every optimizer: common random numbers). The table readers (:func:`cells`,
:func:`best_per_row`, :func:`stable_windows`) are pure pandas/NumPy and serve the MLP lab's
learning-rate sweep too.

A *table* has one line per run, with identity columns ``name``, ``label``, ``lr`` (and, where
they apply, ``beta``, ``lam``, ``start_x``, ``start_y``, ``seed``) and value columns
(``steps_to_tol``, ``final_gap``, ``diverged_at``, ``mean_beta`` for the 2-D sweeps; a final test
accuracy or loss for the MLP lab). A *row* of the map is an optimizer configuration: every
identity but the learning rate (and the start and seed, which a cell aggregates). A *cell* is a
(row, lr) pair; it aggregates its runs (starts × seeds).

Failure: a run fails when its value is NaN (never reached the tolerance, or no value) or when it
diverged (``diverged_at`` is a number). A cell's value is the median over its runs with failures
counted as the worst possible value (+∞ when lower is better, −∞ otherwise), so the value is
finite exactly when at least half of the runs succeeded; otherwise the cell's state is
"diverged" (more runs diverged than merely failed) or "never".
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import engine, model
from .landscape_base import Landscape
from .specs import OptimizerSpec

__all__ = ["sweep", "SweepLimits", "LIMITS", "limit_request", "stability_bounds", "quadratic_L",
           "lr_grid", "row_label", "cells", "best_per_row", "stable_windows", "OK", "NEVER",
           "DIVERGED", "COLUMNS"]

OK, NEVER, DIVERGED = "ok", "never", "diverged"
_ETA = re.compile(r"(,\s*)?η=[^,]*$")


def row_label(label: str) -> str:
    """An optimizer's legend label without its learning rate: ``"EMA momentum β=0.9, η=0.1"`` →
    ``"EMA momentum β=0.9"`` (the map's rows differ in everything but η)."""
    out = _ETA.sub("", str(label)).strip()
    return out.rstrip(",").strip() or str(label)


def _failed(df, value: str) -> np.ndarray:
    v = df[value].to_numpy(dtype=float)
    bad = ~np.isfinite(v)
    if "diverged_at" in df:
        bad |= np.isfinite(df["diverged_at"].to_numpy(dtype=float))
    return bad


def cells(table, value: str = "steps_to_tol", *, lower_is_better: bool = True):
    """One line per (row, lr): ``row`` (:func:`row_label`), ``name``, ``beta``, ``lam``, ``lr``,
    ``n`` runs, ``n_success``, ``n_diverged``, ``success_rate``, ``value`` (the median described
    in the module docstring; NaN unless ``state == "ok"``), ``state``, ``median_final_gap``
    (when the table has ``final_gap``) and the first run's ``start_x``, ``start_y``, ``seed``
    (to reopen it). Rows keep the table's order of first appearance; lrs ascend."""
    import pandas as pd

    if value not in table:
        raise ValueError(f"the table has no column {value!r} (columns: {', '.join(table)})")
    df = table.copy()
    df["row"] = [row_label(s) for s in df["label"]] if "label" in df else df["name"]
    df["_fail"] = _failed(df, value)
    df["_div"] = (np.isfinite(df["diverged_at"].to_numpy(dtype=float)) if "diverged_at" in df
                  else np.zeros(len(df), dtype=bool))
    worst = math.inf if lower_is_better else -math.inf
    df["_v"] = np.where(df["_fail"], worst, df[value].to_numpy(dtype=float))
    order = {r: i for i, r in enumerate(dict.fromkeys(df["row"]))}
    out = []
    for (row, lr), g in df.groupby(["row", "lr"], sort=False):
        n = len(g)
        med = float(np.median(g["_v"].to_numpy())) if n else math.nan
        n_succ = int((~g["_fail"]).sum())
        n_div = int(g["_div"].sum())
        if math.isfinite(med):
            state = OK
        else:
            state = DIVERGED if n_div > (n - n_succ) - n_div else NEVER
            med = math.nan
        first = g.iloc[0]
        rec: dict[str, Any] = {
            "row": row, "name": first.get("name", row), "lr": float(lr),
            "beta": float(first["beta"]) if "beta" in g else math.nan,
            "lam": float(first["lam"]) if "lam" in g else math.nan,
            "n": n, "n_success": n_succ, "n_diverged": n_div,
            "success_rate": n_succ / n if n else math.nan, "value": med, "state": state,
            "first_diverged": float(np.nanmin(g["diverged_at"])) if n_div else math.nan,
        }
        if "final_gap" in g:
            fg = g["final_gap"].to_numpy(dtype=float)
            rec["median_final_gap"] = float(np.median(np.where(np.isfinite(fg), fg, math.inf)))
        for c in ("start_x", "start_y", "seed"):
            if c in g:
                rec[c] = first[c]
        out.append(rec)
    res = pd.DataFrame(out)
    if res.empty:
        return res
    res["_o"] = res["row"].map(order)
    return res.sort_values(["_o", "lr"], kind="stable").drop(columns="_o").reset_index(drop=True)


def best_per_row(cell_table, *, lower_is_better: bool = True):
    """Per row, the learning rate whose cell has the best value (ties: the higher success rate,
    then the smaller lr), with ``value`` and ``success_rate``; a row with no successful cell
    has NaN lr. Returns a DataFrame indexed by row."""
    import pandas as pd

    recs = []
    for row, g in cell_table.groupby("row", sort=False):
        ok = g[g["state"] == OK]
        if ok.empty:
            recs.append({"row": row, "lr": math.nan, "value": math.nan, "success_rate": 0.0})
            continue
        key = ok["value"] if lower_is_better else -ok["value"]
        ok = ok.assign(_k=key.to_numpy(), _s=-ok["success_rate"].to_numpy())
        b = ok.sort_values(["_k", "_s", "lr"], kind="stable").iloc[0]
        recs.append({"row": row, "lr": float(b["lr"]), "value": float(b["value"]),
                     "success_rate": float(b["success_rate"])})
    return pd.DataFrame(recs).set_index("row") if recs else pd.DataFrame(
        columns=["lr", "value", "success_rate"])


def stable_windows(cell_table, *, lower_is_better: bool = True):
    """Per row, the stable learning-rate window: the longest contiguous run of grid lrs whose
    cells succeed (state "ok", i.e. at least half of the runs reach the tolerance within the
    budget) that contains the row's best lr. Columns ``lo``, ``hi``, ``n_ok`` (grid points in the
    window) and ``decades`` = log₁₀(hi/lo) (0 for a single lr, NaN when nothing succeeds)."""
    import pandas as pd

    best = best_per_row(cell_table, lower_is_better=lower_is_better)
    recs = []
    for row, g in cell_table.groupby("row", sort=False):
        g = g.sort_values("lr")
        lrs = g["lr"].to_numpy(dtype=float)
        ok = (g["state"] == OK).to_numpy()
        b = best.loc[row, "lr"]
        if not ok.any() or not math.isfinite(b):
            recs.append({"row": row, "lo": math.nan, "hi": math.nan, "n_ok": 0,
                         "decades": math.nan})
            continue
        i = int(np.flatnonzero(lrs == b)[0])
        lo = i
        while lo > 0 and ok[lo - 1]:
            lo -= 1
        hi = i
        while hi < len(ok) - 1 and ok[hi + 1]:
            hi += 1
        recs.append({"row": row, "lo": lrs[lo], "hi": lrs[hi], "n_ok": hi - lo + 1,
                     "decades": math.log10(lrs[hi] / lrs[lo])})
    return pd.DataFrame(recs).set_index("row")


# ============================================================================ running a sweep
COLUMNS = ("name", "label", "lr", "beta", "lam", "start_x", "start_y", "seed", "steps_to_tol",
           "final_gap", "diverged_at", "mean_beta")


@dataclass(frozen=True)
class SweepLimits:
    """Server-side limits of one sweep request. ``max_work`` bounds runs × steps (the engine's
    cost is about proportional to it: 2.4 M run-steps take a few seconds on one core)."""

    max_work: int = 1_200_000
    max_runs: int = 6_000
    max_lrs: int = 40
    min_lrs: int = 5
    max_rows: int = 12
    max_starts: int = 50
    max_seeds: int = 20
    max_steps: int = 2_000


LIMITS = SweepLimits()


def limit_request(n_rows: int, n_lrs: int, n_starts: int, n_seeds: int, steps: int,
                  limits: SweepLimits = LIMITS) -> tuple[dict[str, int], list[str]]:
    """Cut a requested grid down to the limits: first each size to its own maximum, then, while
    runs × steps is over ``max_work`` (or runs over ``max_runs``), the starts, then the seeds,
    then the learning rates (to no fewer than ``min_lrs``), then the steps. Returns the sizes
    kept (``lrs``, ``starts``, ``seeds``, ``steps``, ``rows``) and one notice per cut."""
    notices: list[str] = []
    size = {"rows": int(n_rows), "lrs": int(n_lrs), "starts": max(int(n_starts), 1),
            "seeds": max(int(n_seeds), 1), "steps": max(int(steps), 1)}
    caps = {"rows": limits.max_rows, "lrs": limits.max_lrs, "starts": limits.max_starts,
            "seeds": limits.max_seeds, "steps": limits.max_steps}
    words = {"rows": "optimizer rows", "lrs": "learning rates", "starts": "starts",
             "seeds": "noise seeds", "steps": "steps"}
    for k, cap in caps.items():
        if size[k] > cap:
            notices.append(f"{words[k]}: {size[k]} requested — at most {cap}; using {cap}.")
            size[k] = cap

    def runs() -> int:
        return size["rows"] * size["lrs"] * size["starts"] * size["seeds"]

    def over() -> bool:
        return runs() * size["steps"] > limits.max_work or runs() > limits.max_runs

    if over():
        before = dict(size)
        for k, floor in (("starts", 1), ("seeds", 1), ("lrs", limits.min_lrs), ("steps", 1)):
            while over() and size[k] > floor:
                if k == "steps":
                    size[k] = max(floor, min(size[k] - 1,
                                             limits.max_work // max(runs(), 1)))
                else:
                    size[k] -= 1
        cut = ", ".join(f"{words[k]} {before[k]} → {size[k]}" for k in size
                        if size[k] != before[k])
        notices.append(
            f"this sweep ({before['rows'] * before['lrs'] * before['starts'] * before['seeds']:,}"
            f" runs × {before['steps']:,} steps) is over the server's limit of "
            f"{limits.max_work:,} run-steps — cut down: {cut}.")
    return size, notices


def lr_grid(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` learning rates evenly spaced in log₁₀ from ``lo`` to ``hi`` (rounded to 4
    significant digits, so that a link and the table show the same numbers)."""
    if not (0 < lo <= hi) or n < 1:
        raise ValueError(f"need 0 < lo <= hi and n >= 1, got {lo!r}, {hi!r}, {n!r}")
    v = np.logspace(math.log10(lo), math.log10(hi), int(n)) if n > 1 else np.array([lo])
    return np.array([float(f"{x:.4g}") for x in v])


def _lam(spec: OptimizerSpec) -> float:
    return float(spec.resolved()["lam"]) if spec.name in ("am_sgd", "am_adamw") else 0.0


def sweep(landscape: Landscape, rows: Sequence[OptimizerSpec], lrs: Sequence[float], *,
          steps: int, tol: float, starts: Any = None, noise: float = 0.0,
          seeds: Sequence[int] = (0,), f_star: float | None = None,
          limits: SweepLimits | None = LIMITS):
    """Every (row, lr, start, seed) of the grid, in ONE batched :func:`engine._run` pass, as a
    tidy table (one line per run, in that nesting order: rows outermost, seeds innermost).

    ``rows``: optimizer specs (their own lr is replaced by each value of ``lrs``); ``starts``:
    a (K, 2) array (None: the landscape's start); ``noise``: gradient noise σ; ``seeds``: the
    noise seeds (the same seeds for every row and lr: common random numbers).

    Columns (:data:`COLUMNS`): ``name``, ``label`` (the spec's legend label at that lr), ``lr``,
    ``beta`` (the constant β, NaN for adaptive rows), ``lam``, ``start_x``, ``start_y``, ``seed``,
    ``steps_to_tol`` (first t with f(x_t) − f* < tol; NaN if never, or if it diverged before),
    ``final_gap`` (f − f* at the last finite iterate), ``diverged_at`` (NaN if not),
    ``mean_beta`` (mean β used over the steps computed). f* is the landscape's, or ``f_star``;
    when neither is known, the lowest f any run of the sweep reached (``table.attrs
    ["f_star_estimated"]`` is then True). ``table.attrs`` also holds ``steps``, ``tol``,
    ``noise`` and ``f_star``.

    ``limits``: refuse (ValueError) a grid over ``limits.max_work`` run-steps or
    ``limits.max_runs`` runs (the page cuts requests down first with :func:`limit_request`);
    ``None`` for no limit (benchmarks)."""
    import pandas as pd

    rows = list(rows)
    lrs = [float(v) for v in lrs]
    steps = int(steps)
    if not rows or not lrs:
        raise ValueError("a sweep needs at least one optimizer row and one learning rate")
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    if any(not (math.isfinite(v) and v > 0) for v in lrs):
        raise ValueError("learning rates must be finite numbers > 0")
    S0 = np.asarray(landscape.start if starts is None else starts, dtype=np.float64)
    S0 = S0.reshape(-1, 2)
    if not np.all(np.isfinite(S0)):
        raise ValueError("start points must be finite")
    seeds = [int(s) for s in seeds] or [0]
    n_runs = len(rows) * len(lrs) * len(S0) * len(seeds)
    if limits is not None and (n_runs * steps > limits.max_work or n_runs > limits.max_runs):
        raise ValueError(f"{n_runs:,} runs × {steps:,} steps is over the limit of "
                         f"{limits.max_work:,} run-steps ({limits.max_runs:,} runs)")
    specs = [r.replace(lr=lr) for r in rows for lr in lrs]
    K, S = len(S0), len(seeds)
    run_specs = [s for s in specs for _ in range(K * S)]
    run_starts = np.tile(np.repeat(S0, S, axis=0), (len(specs), 1))
    run_seeds = np.tile(np.asarray(seeds, dtype=np.int64), len(specs) * K)
    res = engine._run(landscape, run_specs, run_starts, steps, noise, run_seeds, record=False)
    F, B, div = res["f"], res["beta"], res["diverged_at"]
    fstar, estimated = landscape.f_star if f_star is None else float(f_star), False
    if fstar is None:
        fin = F[np.isfinite(F)]
        fstar, estimated = (float(fin.min()) if fin.size else 0.0), True
    gap = F - fstar
    n = len(run_specs)
    divv = np.array([np.nan if d is None else float(d) for d in div])
    hit = gap < tol                                            # NaN compares False
    first = np.where(hit.any(axis=0), hit.argmax(axis=0), -1).astype(float)
    first[first < 0] = np.nan
    last = np.where(np.isnan(divv), steps, np.maximum(divv - 1, 0)).astype(int)
    final = gap[last, np.arange(n)]
    with np.errstate(all="ignore"):
        cnt = np.isfinite(B).sum(axis=0)
        mean_beta = np.where(cnt > 0, np.nansum(B, axis=0) / np.maximum(cnt, 1), np.nan)
    per_spec = {s: (s.label, s.fixed_beta, _lam(s)) for s in specs}
    table = pd.DataFrame({
        "name": [s.name for s in run_specs],
        "label": [per_spec[s][0] for s in run_specs],
        "lr": np.array([s.lr for s in run_specs]),
        "beta": np.array([np.nan if per_spec[s][1] is None else per_spec[s][1]
                          for s in run_specs], dtype=float),
        "lam": np.array([per_spec[s][2] for s in run_specs], dtype=float),
        "start_x": run_starts[:, 0], "start_y": run_starts[:, 1],
        "seed": run_seeds,
        "steps_to_tol": first, "final_gap": final, "diverged_at": divv,
        "mean_beta": mean_beta,
    })
    table.attrs.update(steps=steps, tol=float(tol), noise=float(noise), f_star=float(fstar),
                       f_star_estimated=estimated)
    return table


# ============================================================================ stability bound
_BOUND_KIND = {"sgd": "ema", "sgd_ema": "ema", "nesterov": "nesterov", "torch_sgd": "heavy_ball"}


def quadratic_L(landscape: Landscape, n: int = 5) -> float | None:
    """The largest curvature L of a quadratic landscape (its constant Hessian's largest
    eigenvalue), or None when the Hessian is not the same (to 1e-9 relative) at an n×n grid of
    the domain, or not positive semi-definite: the landscape is then not a convex quadratic."""
    if getattr(landscape, "hessian", None) is None:
        return None
    (xa, xb), (ya, yb) = landscape.domain
    X, Y = np.meshgrid(np.linspace(xa, xb, n), np.linspace(ya, yb, n))
    try:
        with np.errstate(all="ignore"):
            H = np.asarray(landscape.hessian(np.stack([X, Y], -1)), dtype=np.float64)
    except Exception:   # a landscape without a vectorised Hessian
        return None
    H = H.reshape(-1, 2, 2)
    if not np.all(np.isfinite(H)):
        return None
    scale = max(float(np.abs(H).max()), 1e-300)
    if np.abs(H - H[0]).max() > 1e-9 * scale:
        return None
    eig = np.linalg.eigvalsh(H[0])
    if eig.min() < -1e-12 * scale:
        return None
    return float(eig.max())


def stability_bounds(landscape: Landscape, rows: Sequence[OptimizerSpec]) -> dict[str, float]:
    """{row label: the largest stable lr} for the constant-β SGD-family rows on a quadratic
    landscape (:func:`adamem_core.model.momentum_stability_bound` with L =
    :func:`quadratic_L`); empty on other landscapes. Keys are :func:`row_label` labels."""
    L = quadratic_L(landscape)
    if L is None or L <= 0:
        return {}
    out = {}
    for r in rows:
        kind = _BOUND_KIND.get(r.name)
        if kind is None:
            continue
        b = r.fixed_beta
        out[row_label(r.label)] = model.momentum_stability_bound(b, L, kind)
    return out


# ============================================================================ noise over seeds
def seed_bands(landscape: Landscape, specs: Sequence[OptimizerSpec], start: Sequence[float],
               steps: int, noise: float, seeds: Sequence[int], q: tuple[float, float] = (0.1, 0.9),
               f_star: float | None = None) -> dict[str, Any]:
    """f(x_t) − f* of every spec over several noise seeds (ONE batched engine pass, the same
    seeds for every spec): per spec and step the median and the ``q`` quantiles over the seeds
    that are still finite, and how many diverged. Arrays are (len(specs), steps+1); f* is the
    landscape's (or ``f_star``), 0 when unknown (then the values are f itself)."""
    specs = list(specs)
    seeds = [int(s) for s in seeds]
    S = len(seeds)
    run_specs = [s for s in specs for _ in range(S)]
    res = engine._run(landscape, run_specs, start, steps, noise, np.tile(seeds, len(specs)),
                      record=False)
    fstar = landscape.f_star if f_star is None else f_star
    F = res["f"] - (fstar if fstar is not None else 0.0)              # (T+1, R)
    F = F.T.reshape(len(specs), S, steps + 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # all seeds diverged at a step
        med = np.nanmedian(F, axis=1)
        lo = np.nanquantile(F, q[0], axis=1)
        hi = np.nanquantile(F, q[1], axis=1)
    div = np.array([sum(d is not None for d in res["diverged_at"][i * S:(i + 1) * S])
                    for i in range(len(specs))])
    return {"median": med, "lo": lo, "hi": hi, "q": q, "seeds": seeds, "diverged": div,
            "f_star": fstar}
