"""Reading a tidy sweep table: cells of the robustness map, each row's best learning rate and its
stable learning-rate window. Pure pandas/NumPy (no engine, no Streamlit), shared by the 2-D
sweeps (:mod:`adamem_core.sweep`) and the MLP lab's learning-rate sweep.

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
from typing import Any

import numpy as np

__all__ = ["row_label", "cells", "best_per_row", "stable_windows", "OK", "NEVER", "DIVERGED"]

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
