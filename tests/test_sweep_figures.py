"""The robustness map and the other sweep charts: what is drawn follows the table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from adamem_core.figures.sweep import (STATE_COLORS, fair_comparison_figure, lr_ticks,
                                       robustness_map, starts_figure)
from adamem_core.sweep import best_per_row, cells, row_label, stable_windows


def _table() -> pd.DataFrame:
    """A hand-made sweep: 2 rows × 4 lrs × 2 seeds; every cell's outcome chosen on purpose."""
    recs = []
    lrs = [0.001, 0.01, 0.1, 1.0]
    # (steps_to_tol per seed, diverged_at per seed)
    am = {0.001: ((np.nan, np.nan), (np.nan, np.nan)),   # never
          0.01: ((80, 90), (np.nan, np.nan)),
          0.1: ((20, 30), (np.nan, np.nan)),              # best
          1.0: ((np.nan, np.nan), (5, 7))}                # diverged
    ema = {0.001: ((np.nan, np.nan), (np.nan, np.nan)),
           0.01: ((100, np.nan), (np.nan, np.nan)),        # 1 of 2 → median = +inf? no: see below
           0.1: ((np.nan, np.nan), (3, np.nan)),          # 1 diverged, 1 never: tie → never
           1.0: ((np.nan, np.nan), (2, 2))}
    for name, label, beta, lam, d in (("am_sgd", "AM-SGD λ=0.1, β_max=0.9", np.nan, 0.1, am),
                                      ("sgd_ema", "EMA momentum β=0.9", 0.9, 0.0, ema)):
        for lr in lrs:
            steps, div = d[lr]
            for seed in (0, 1):
                recs.append(dict(name=name, label=f"{label}, η={lr:g}", lr=lr, beta=beta,
                                 lam=lam, start_x=-1.0, start_y=1.0, seed=seed,
                                 steps_to_tol=steps[seed], final_gap=1e-3 if np.isnan(
                                     steps[seed]) else 1e-7,
                                 diverged_at=div[seed], mean_beta=0.5))
    return pd.DataFrame(recs)


def test_row_label_drops_only_the_learning_rate():
    assert row_label("EMA momentum β=0.9, η=0.1") == "EMA momentum β=0.9"
    assert row_label("AM-SGD λ=0.1, β_max=0.9, η=1e-05") == "AM-SGD λ=0.1, β_max=0.9"
    assert row_label("SGD η=0.3") == "SGD"


def test_cells_states_medians_and_best():
    ct = cells(_table())
    am = ct[ct["row"] == "AM-SGD λ=0.1, β_max=0.9"].set_index("lr")
    assert list(am["state"]) == ["never", "ok", "ok", "diverged"]
    assert am.loc[0.1, "value"] == 25.0 and am.loc[0.01, "value"] == 85.0
    assert am.loc[1.0, "first_diverged"] == 5
    ema = ct[ct["row"] == "EMA momentum β=0.9"].set_index("lr")
    # 1 success of 2: the median of (100, +inf) is +inf → not ok
    assert ema.loc[0.01, "state"] == "never" and ema.loc[0.01, "success_rate"] == 0.5
    assert ema.loc[0.1, "state"] == "never"       # 1 diverged vs 1 never: not a majority
    assert ema.loc[1.0, "state"] == "diverged"
    best = best_per_row(ct)
    assert best.loc["AM-SGD λ=0.1, β_max=0.9", "lr"] == 0.1
    assert math.isnan(best.loc["EMA momentum β=0.9", "lr"])
    win = stable_windows(ct)
    assert win.loc["AM-SGD λ=0.1, β_max=0.9", "decades"] == pytest.approx(1.0)
    assert win.loc["AM-SGD λ=0.1, β_max=0.9", "n_ok"] == 2
    assert math.isnan(win.loc["EMA momentum β=0.9", "decades"])


def test_higher_is_better_flips_the_best():
    t = _table().assign(acc=lambda d: np.where(d["steps_to_tol"].isna(), np.nan,
                                               1.0 / d["steps_to_tol"]))
    ct = cells(t, "acc", lower_is_better=False)
    best = best_per_row(ct, lower_is_better=False)
    assert best.loc["AM-SGD λ=0.1, β_max=0.9", "lr"] == 0.1   # 1/25 > 1/85


def _role(fig, role):
    return [d for d in fig.data if (d.meta or {}).get("role") == role]


@pytest.mark.parametrize("lecture", [False, True])
def test_robustness_map_draws_each_state_and_the_best(lecture):
    fig = robustness_map(_table(), lecture=lecture,
                         bounds={"EMA momentum β=0.9": 0.05})
    rows = fig.layout.meta["rows"]
    # adaptive row on top, then the gap row, then the constant-β row
    assert rows == ["AM-SGD λ=0.1, β_max=0.9", "", "EMA momentum β=0.9"]
    (val,) = _role(fig, "value")
    assert val.reversescale is True       # fewer steps = darker
    z = np.array(val.z, dtype=float)
    assert z[0, 2] == pytest.approx(math.log10(25)) and z[0, 1] == pytest.approx(math.log10(85))
    assert np.isnan(z[0, 0]) and np.isnan(z[0, 3]) and np.isnan(z[1]).all()
    (never,) = _role(fig, "never")
    (div,) = _role(fig, "diverged")
    assert np.array(never.z, dtype=float)[0, 0] == 1 and np.array(div.z, dtype=float)[0, 3] == 1
    assert never.colorscale[0][1] == STATE_COLORS["never"]
    assert div.colorscale[0][1] == STATE_COLORS["diverged"]
    assert STATE_COLORS["never"] != STATE_COLORS["diverged"]
    names = [d.name for d in fig.data if d.showlegend is not False and d.type == "scatter"]
    assert "∞ never within budget" in names and "✕ diverged" in names and "★ best η" in names
    (best,) = _role(fig, "best")
    assert list(best.x) == [pytest.approx(-1.0)] and list(best.y) == [0]
    (bound,) = _role(fig, "bound")
    assert list(bound.x) == [pytest.approx(math.log10(0.05))] * 2
    assert list(bound.y) == [1.5, 2.5]
    (cellm,) = _role(fig, "cells")
    k = [i for i, (r, lr) in enumerate(cellm.customdata) if r == 0 and lr == 0.1][0]
    assert "25" in cellm.hovertext[k] and "median of 2 runs" in cellm.hovertext[k]
    th_font = fig.layout.font.size
    assert th_font >= (20 if lecture else 12)
    assert fig.layout.xaxis.title.text and fig.layout.coloraxis is not None


def test_map_for_an_mlp_accuracy_sweep():
    """The MLP lab's use: higher is better, linear colour, its own state names."""
    t = _table().drop(columns=["steps_to_tol"]).assign(
        test_acc=np.linspace(0.5, 0.99, 16))
    fig = robustness_map(t, value="test_acc", value_title="final test accuracy", log=False,
                         lower_is_better=False, never_label="no value")
    (val,) = _role(fig, "value")
    assert val.reversescale is False      # higher accuracy = darker
    z = np.array(val.z, dtype=float)
    assert np.nanmax(z) <= 0.99 and np.isfinite(z[0, 0])   # linear, not log
    (best,) = _role(fig, "best")
    # AM-SGD: lr 1 diverged, so its best is 0.1; EMA: 0.1 has one diverged run and one at
    # 0.92 (median of −∞ and 0.92 is −∞: a failure) and 1 diverged, so its best is 0.01
    assert list(best.x) == [pytest.approx(-1.0), pytest.approx(-2.0)]
    (div,) = _role(fig, "diverged")
    assert np.array(div.z, dtype=float)[2, 2] == 1
    assert "final test accuracy" in fig.layout.title.text


def test_lr_ticks():
    v, t = lr_ticks(1e-4, 1.0)
    assert t == ["0.0001", "0.001", "0.01", "0.1", "1"]
    v, t = lr_ticks(0.01, 0.3)
    assert "0.05" in t and "0.2" in t


def test_fair_and_starts_figures():
    t = _table()
    fig = fair_comparison_figure(t)
    (bars,) = _role(fig, "bars")
    assert list(bars.y) == ["AM-SGD λ=0.1, β_max=0.9", "EMA momentum β=0.9"]
    assert bars.x[0] == 25 and "η=0.1" in bars.text[0] and "1 dec" in bars.text[0]
    assert "never" in bars.text[1]
    assert "best of 4 learning rates" in fig.layout.title.text
    fig = starts_figure(t, budget=100)
    (ecdf,) = _role(fig, "ecdf")
    assert ecdf.y[-1] == 1.0 and ecdf.x[-1] == 100 and "100% succeed" in ecdf.name
