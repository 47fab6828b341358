"""The Theory page's maths, figures, scene and page.

* The sandbox's β is the numerical maximiser of the dual (SciPy, bounded Brent) for random
  settings, both gaps; at an interior β the model's value at the step equals the dual's (strong
  duality), and the model's own minimiser is a SciPy minimiser of m_t.
* The β map's region boundaries are where the closed form's unclipped value crosses 0 and β_max
  (roots checked against beta_sgd; every sign change on the grid brackets a root, every root
  in range lies at a sign change).
* Polyak: κ = 100 gives β* = 0.669…, rate 0.818… (textbook), the heavy-ball rate formula agrees,
  and the engine's EMA heavy ball with β* and η = α*/(1 − β*) contracts at that rate.
* The κ sweep runs one batched engine call whose rows equal the catalogue's quadratic; the plain
  summary follows its rows.
* Scene: URL round trip, hostile values per key corrected with notices; the named cases' claims
  hold at their settings.
* AppTest: the default page shows model.py's numbers; every named case; a hostile URL per key;
  moved sliders show the new numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from adamem_core import model
from adamem_core.engine import simulate
from adamem_core.figures.style import latex_number
from adamem_core.landscapes import ill_conditioned_quadratic
from adamem_core.specs import OptimizerSpec
from adamem_core.theory import (KAPPAS, START, classical_comparison, classical_summary,
                                measured_rate, quadratic_family)
from adamem_core.theory_scene import CASES, KEYS, TheoryScene, case_sandboxes, parse_query

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

EPS = np.finfo(float).eps
THEORY = "app_pages/theory.py"


def random_settings(rng, n):
    for _ in range(n):
        yield dict(g_norm=float(rng.uniform(0.05, 5)), d_norm=float(rng.uniform(0, 5)),
                   angle_deg=float(rng.uniform(0, 180)), lr=float(10 ** rng.uniform(-3, 0.5)),
                   lam=float(rng.choice([0.0, rng.uniform(0, 3)])),
                   beta_max=float(rng.uniform(0.3, 0.999)),
                   gap=None if rng.random() < 0.5 else float(rng.normal(0, 1)))


# ----------------------------------------------------------------------------- the sandbox
def test_sandbox_beta_is_the_numerical_maximiser_of_the_dual():
    rng = np.random.default_rng(0)
    for kw in random_settings(rng, 60):
        sb = model.sandbox(**kw)
        g, d = sb["g"], sb["d"]

        def negdual(b):
            return -float(model.dual_value(b, 0.0, sb["gap"], g, d, kw["lr"], kw["lam"]))

        res = minimize_scalar(negdual, bounds=(0.0, kw["beta_max"]), method="bounded",
                              options={"xatol": 1e-12})
        # D is a concave quadratic with curvature c = η‖d−g‖²/(1+λ): a numerical maximiser is
        # only determined to within √(2·(rounding of D)/c); the rounding of D is a few ulps of
        # its largest term (the gap, η‖g‖², ‖d‖²·η·λ …)
        c = kw["lr"] * sb["denominator"] / (1 + kw["lam"])
        scale = abs(sb["gap"]) + kw["lr"] * (sb["gg"] + sb["dd"]) * (1 + kw["lam"])
        tol = math.sqrt(2 * 64 * EPS * scale / c) + 1e-9 if c > 0 else 1.0
        assert abs(sb["beta"] - res.x) <= tol, (kw, sb["beta"], res.x, tol)
        # and the closed form's value is never below the numerical one
        assert -negdual(sb["beta"]) >= -res.fun - 64 * EPS * scale
        assert sb["dual_at_beta"] == -negdual(sb["beta"])


def test_sandbox_model_minimum_equals_dual_maximum_and_scipy_minimiser():
    rng = np.random.default_rng(1)
    checked = 0
    for kw in random_settings(rng, 40):
        sb = model.sandbox(**kw)
        if sb["denominator"] < 1e-3:
            continue
        lr, lam = kw["lr"], kw["lam"]

        def m(u):
            return float(model.model_value(np.asarray(u), 0.0, sb["gap"], sb["g"], sb["d"], lr,
                                           lam))

        um = sb["u_model_min"]
        # the nonsmooth model: Nelder–Mead from the closed-form minimiser perturbed, and from 0
        for x0 in (um + 0.3 * lr * np.array([1.0, -0.5]), np.zeros(2)):
            res = minimize(m, x0, method="Nelder-Mead",
                           options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20000})
            assert m(um) <= res.fun + 1e-9 * (1 + abs(res.fun))
        if 0 < sb["unclipped"] < sb["beta_max"]:
            # interior β: the step is the model's minimiser, the planes cross there, and the
            # model's minimum is the dual's maximum (strong duality)
            scale = abs(sb["gap"]) + lr * (sb["gg"] + sb["dd"]) * (1 + lam)
            assert np.allclose(sb["u"], um, rtol=0, atol=64 * EPS * lr * (1 + kw["g_norm"] +
                                                                            kw["d_norm"]))
            lg, lm = sb["planes_at_step"]
            assert abs(lg - lm) <= 64 * EPS * scale
            assert abs(sb["model_at_step"] - sb["dual_at_beta"]) <= 64 * EPS * scale
            checked += 1
    assert checked >= 5


def test_sandbox_slice_passes_through_the_step_and_surface_contains_it():
    sb = model.sandbox(1.0, 1.5, 60.0, 0.1, 0.1, 0.9)
    sl = model.sandbox_slice(sb, n=301, lo=-1.0, hi=2.0)
    i = int(np.argmin(np.abs(sl["s"] - 1.0)))
    assert sl["s"][i] == pytest.approx(1.0)
    assert sl["model"][i] == pytest.approx(sb["model_at_step"], rel=1e-12)
    assert sl["s_model_min"] == pytest.approx(1.0)     # interior β: the step is the minimiser
    assert np.argmin(sl["model"]) == i
    surf = model.sandbox_surface(sb)
    assert surf["radius"] > np.linalg.norm(sb["u"])
    assert np.allclose(surf["model"], surf["max_plane"] + surf["prox"] + surf["prox_lam"])


# ----------------------------------------------------------------------------- the β map
@pytest.mark.parametrize("lam,bmax,gap_unit", [(0.1, 0.9, None), (0.5, 0.6, None),
                                               (0.0, 0.9, None), (0.1, 0.9, 1.5),
                                               (2.0, 0.95, -0.3)])
def test_beta_map_boundaries_are_where_the_unclipped_value_crosses_0_and_beta_max(lam, bmax,
                                                                                   gap_unit):
    angles = np.linspace(0.0, 180.0, 91)
    ratios = np.linspace(0.0, 4.0, 401)
    bm = model.beta_map(angles, ratios, lam, bmax, gap_unit)
    unc = bm["unclipped"]
    # the regions are the clip of the unclipped value
    assert np.array_equal(bm["region"] == model.MAP_ZERO, (unc <= 0) & (bm["region"] != 3))
    assert np.array_equal(bm["region"] == model.MAP_CLIPPED, (unc >= bmax) & (bm["region"] != 3))
    for level in (0.0, bmax):
        roots = model.beta_map_boundary(angles, lam, level, gap_unit)
        for j, th in enumerate(angles):
            # every root: the closed form's unclipped value there is the level
            for rho in roots[j][np.isfinite(roots[j])]:
                g, d = model.sandbox_vectors(1.0, rho, th)
                gg, gd, dd = model.sgd_sums(g, d)
                if dd - 2 * gd + gg < 1e-9:
                    continue
                gap = None if gap_unit is None else gap_unit * gg
                u = float(model.beta_sgd(gg, gd, dd, 1.0, lam, bmax, gap).unclipped)
                assert u == pytest.approx(level, abs=1e-9), (th, rho)
            # every crossing of the level between neighbouring grid points brackets a root, and
            # every root inside the grid lies at a crossing
            col = unc[:, j] - level
            ok = bm["region"][:, j] != 3
            cross = np.flatnonzero((np.sign(col[:-1]) != np.sign(col[1:])) & ok[:-1] & ok[1:]
                                   & (col[:-1] != 0) & (col[1:] != 0))
            rr = roots[j][np.isfinite(roots[j]) & (roots[j] < ratios[-1])]
            for i in cross:
                assert any(ratios[i] <= r <= ratios[i + 1] for r in rr), (th, ratios[i])
            for r in rr:
                i = int(np.searchsorted(ratios, r)) - 1
                if 0 <= i < len(ratios) - 1 and ok[i] and ok[i + 1] and r > 1e-9:
                    assert i in cross or col[i] == 0 or col[i + 1] == 0, (th, r)


def test_beta_map_is_the_closed_form_at_every_cell():
    angles = np.linspace(0, 180, 19)
    ratios = np.linspace(0, 4, 17)
    bm = model.beta_map(angles, ratios, 0.3, 0.8, None)
    for i, r in enumerate(ratios):
        for j, a in enumerate(angles):
            sb = model.sandbox(2.0, 2.0 * r, a, 0.05, 0.3, 0.8)   # scale and η drop out
            assert bm["beta"][i, j] == pytest.approx(sb["beta"], abs=1e-12)


# ----------------------------------------------------------------------------- Polyak
def test_polyak_textbook_values():
    p = model.polyak_heavy_ball(100.0)
    assert p["a"] == pytest.approx((9 / 11) ** 2, rel=1e-15)
    assert f"{p['a']:.4f}" == "0.6694" and f"{p['rate']:.4f}" == "0.8182"
    assert p["alpha"] == pytest.approx(4 / 121, rel=1e-15)
    assert p["ema_lr"] == pytest.approx(0.1, rel=1e-14)
    # the rate formula at Polyak's constants: a double root √a* at both extreme curvatures
    # (the discriminant is 0 up to rounding, so the root is exact to about √eps)
    r = model.heavy_ball_rate(p["alpha"], p["a"], [1.0, 100.0])
    assert r == pytest.approx(p["rate"], abs=1e-7)
    # and any other constants are slower
    for da, dal in ((0.05, 0), (-0.05, 0), (0, 0.003), (0, -0.003)):
        assert model.heavy_ball_rate(p["alpha"] + dal, p["a"] + da, [1.0, 100.0]) > p["rate"]
    # gradient descent (a = 0) at its best step 2/(L+μ): (κ−1)/(κ+1)
    assert model.heavy_ball_rate(2 / 101, 0.0, [1.0, 100.0]) == pytest.approx(99 / 101)


def test_engine_heavy_ball_with_polyak_beta_achieves_the_rate():
    p = model.polyak_heavy_ball(100.0)
    land = ill_conditioned_quadratic(kappa=100.0)
    tr = simulate(land, [OptimizerSpec("sgd_ema", float(p["ema_lr"]), beta=float(p["a"]))],
                  (1.0, 1.0), 400)[0]
    assert tr.diverged_at is None
    r = float(p["rate"])
    t1, t2 = 200, 400
    meas = measured_rate(tr.x, t1, t2)
    # at Polyak's constants both modes are double roots: ‖x_t‖ ≈ (c₁ + c₂t)·r^t, so the
    # measured ratio over [t1, t2] is r·((c₁+c₂t₂)/(c₁+c₂t₁))^(1/(t₂−t₁)) ∈ [r, r·(t₂/t₁)^(1/(t₂−t₁))]
    assert r * (1 - 1e-6) <= meas <= r * (t2 / t1) ** (1 / (t2 - t1)) * (1 + 1e-6), meas
    # the engine's EMA form is heavy ball with step η(1−β) = α*
    assert p["ema_lr"] * (1 - p["a"]) == pytest.approx(p["alpha"], rel=1e-14)


# ----------------------------------------------------------------------------- the κ sweep
def test_quadratic_family_rows_equal_the_catalogue_quadratic():
    ks = (1.0, 10.0, 1000.0)
    specs = [OptimizerSpec("am_sgd", 10.0 / k, lam=0.1, beta_max=0.9) for k in ks]
    batch = simulate(quadratic_family(ks), specs, START, 300)
    for k, spec, tb in zip(ks, specs, batch):
        ts = simulate(ill_conditioned_quadratic(kappa=k), [spec], START, 300)[0]
        # same operations in the same order on the same numbers (c = 1, s = 0 in the rotation)
        np.testing.assert_allclose(tb.x, ts.x, rtol=1e-13, atol=0)
        np.testing.assert_allclose(tb.beta, ts.beta, rtol=1e-12, atol=1e-15)


def test_classical_comparison_and_its_plain_summary():
    rows = classical_comparison(10.0, 0.1, 0.9, steps=1500)
    assert [r.kappa for r in rows] == list(KAPPAS) and KAPPAS[0] == 1 and KAPPAS[-1] == 1e4
    for r in rows:
        assert r.polyak_a == pytest.approx(float(model.polyak_heavy_ball(r.kappa)["a"]))
        if math.isfinite(r.am_beta):
            assert 0 <= r.am_beta <= 0.9
            assert r.am_a == pytest.approx((r.am_beta + 0.1) / 1.1)
    k100 = next(r for r in rows if r.kappa == 100)
    # DESIGN §5's scene (κ = 100, η = 0.1): AM settles near β = 0.64…0.7, a near Polyak's a*
    assert abs(k100.am_a - k100.polyak_a) < 0.05
    text = " ".join(classical_summary(rows, 0.1, 0.9, 10.0))
    close = [r.kappa for r in rows if math.isfinite(r.am_a) and abs(r.am_a - r.polyak_a) <= 0.05]
    assert ("within 0.05 of Polyak's optimum for κ = 100" in text) == (close[0] == 100)
    capped = [r for r in rows if math.isfinite(r.am_beta) and r.am_beta >= 0.9 - 1e-9]
    assert ("sits at the cap" in text) == bool(capped)
    assert "as many steps as tuned heavy ball" in text
    # a different step size gives different sentences (they follow the rows)
    assert " ".join(classical_summary(classical_comparison(1.0, 0.1, 0.9, steps=1500),
                                      0.1, 0.9, 1.0)) != text


# ----------------------------------------------------------------------------- scene and cases
def test_scene_round_trip_and_defaults():
    sc = TheoryScene(g_norm=2.5, d_norm=0.3, angle=135.0, gap=-0.25, lr=0.02, lam=1.5,
                     beta_max=0.75, cl_scale=4.0, lecture=True)
    back, notes = parse_query(sc.to_query())
    assert back == sc and notes == []
    assert parse_query({}) == (TheoryScene(), [])


@pytest.mark.parametrize("key", [k for k in KEYS if k != "lecture"])
@pytest.mark.parametrize("bad", ["nan", "-1e308", "1e308", "<b>x</b>", "x" * 5000, ""])
def test_scene_hostile_values_are_corrected_with_a_notice(key, bad):
    sc, notes = parse_query({key: bad})
    assert isinstance(sc, TheoryScene)
    for v in (sc.g_norm, sc.d_norm, sc.angle, sc.lr, sc.lam, sc.beta_max, sc.cl_scale):
        assert math.isfinite(v)
    assert sc.gap is None or math.isfinite(sc.gap)
    back, again = parse_query(sc.to_query())
    assert back == sc and again == []
    if key == "th_case" and bad == "":
        assert notes == []             # an empty case is no case
    else:
        assert notes, (key, bad)
    assert all(len(n) < 300 for n in notes)


@pytest.mark.parametrize("key", list(CASES))
def test_named_case_claims_hold_at_its_settings(key):
    case = CASES[key]
    sc = case.scene(TheoryScene())
    sb, other = case_sandboxes(sc)
    checks = case.check(sb, other)
    assert checks and all(ok for _, ok in checks), checks
    text = case.text(sb, other)
    assert text.count(". ") + text.endswith(".") >= 2          # two sentences
    assert f"{sb['beta']:.3g}" in text
    # the case survives the URL
    back, _ = parse_query(sc.to_query())
    assert back.case == key


def test_named_case_check_catches_a_wrong_claim():
    # the "memory points against g" explanation claims β < β_max/2: not true for a memory that
    # agrees with g, and the check says so
    sb, other = case_sandboxes(TheoryScene(d_norm=1.2, angle=5.0))
    assert not all(ok for _, ok in CASES["against"].check(sb, other))


# ----------------------------------------------------------------------------- the page (AppTest)
def open_theory(new_app, query=None):
    at = new_app(query)
    at.switch_page(THEORY)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown_numbers_match(at, sc: TheoryScene) -> None:
    """Every number of the closed form the page shows is model.py's for this scene."""
    sb = model.sandbox(sc.g_norm, sc.d_norm, sc.angle, sc.lr, sc.lam, sc.beta_max, sc.gap)
    latex = "\n".join(x.value for x in at.latex)
    for key in ("gg", "gd", "dd", "numerator", "denominator", "model_at_step", "dual_at_beta"):
        assert f"= {latex_number(sb[key])}" in latex, (key, sb[key])
    if sb["denominator"] > 0:
        assert rf"= {latex_number(sb['unclipped'])},\ 0,\ {latex_number(sc.beta_max)}\Big) = {latex_number(sb['beta'])}" in latex
    story = "\n".join(m.value for m in at.main.markdown)
    assert f"β = {sb['beta']:.4f}" in story
    assert f"(β+λ)/(1+λ) = **{sb['effective_momentum']:.4f}**" in story


def test_theory_page_defaults_show_model_numbers(new_app):
    at = open_theory(new_app)
    assert at.title[0].value.startswith("Theory")
    shown_numbers_match(at, TheoryScene())
    assert not at.warning
    assert dict(at.query_params)["th_g"] == ["1"] or at.query_params["th_g"] in ("1", ["1"])
    names = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(names) == 6           # plane, slice, dual, map, momentum, rate
    links = "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)
    for anchor in ("closed-form", "beta-map", "classical", "heavy-ball-form"):
        assert f"(/method#{anchor})" in links


def test_theory_page_follows_the_sliders(new_app):
    at = open_theory(new_app)
    rng = np.random.default_rng(3)
    for _ in range(2):
        g, dn, ang = (round(float(rng.uniform(0.2, 3)), 2), round(float(rng.uniform(0, 3)), 2),
                      float(int(rng.uniform(0, 180))))
        at.slider(key="th_w_g").set_value(g)
        at.slider(key="th_w_d").set_value(dn)
        at.slider(key="th_w_ang").set_value(ang)
        at.run()
        assert not at.exception
        shown_numbers_match(at, TheoryScene(g_norm=g, d_norm=dn, angle=ang))
    at.radio(key="th_w_gapmode").set_value("exact").run()
    at.number_input(key="th_w_gap").set_value(0.3).run()
    assert not at.exception
    shown_numbers_match(at, TheoryScene(g_norm=g, d_norm=dn, angle=ang, gap=0.3))


@pytest.mark.parametrize("key", list(CASES))
def test_theory_page_named_case(new_app, key):
    at = open_theory(new_app)
    at.button(key=f"th_case_{key}").click().run()
    assert not at.exception
    sc = CASES[key].scene(TheoryScene())
    shown_numbers_match(at, sc)
    sb, other = case_sandboxes(sc)
    infos = "\n".join(i.value for i in at.info)
    assert CASES[key].text(sb, other) in infos
    assert not at.error
    assert at.query_params["th_case"] in (key, [key])
    # moving a slider leaves the case (its explanation no longer applies)
    at.slider(key="th_w_ang").set_value(97.0).run()
    assert not at.exception
    assert CASES[key].text(sb, other) not in "\n".join(i.value for i in at.info)


@pytest.mark.parametrize("key", [k for k in KEYS if k != "lecture"])
def test_theory_page_hostile_url(new_app, key):
    at = open_theory(new_app, {key: "<script>alert(1)</script>"})
    warn = "\n".join(w.value for w in at.warning)
    assert "Some values were corrected" in warn
    assert "<script>" not in "\n".join(m.value for m in at.markdown)
    sc, _ = parse_query({key: "<script>alert(1)</script>"})
    shown_numbers_match(at, sc)
