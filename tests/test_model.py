"""Tests of the two-plane model (``adamem_core.model``) against numerical optimisation.

The model m_t is written out here from DESIGN.md §1, independently of ``model.py``:

* SGD form:   m(u) = max{ℓ_g(u), ℓ_m(u)} + ‖u‖²/(2η) + (λ/2η)‖u + ηd‖²
* AdamW form: with ũ = u + ημx_t and a diagonal P > 0,
              m(u) = max{ℓ_g(u), ℓ_m(u)} + ‖ũ‖²_P/(2η) + (λ/2η)‖Pũ + ηd‖²

with ℓ_g(u) = f + ⟨g,u⟩ and ℓ_m(u) = f + gap + ⟨d,u⟩. Its dual D(β) = min_u (1−β)ℓ_g + βℓ_m +
prox is computed with BFGS over u (never with the closed-form u(β)); β* is found by a bounded
1-D search of D over [0, β_max]; the minimiser of the nonsmooth model is found with SLSQP on its
epigraph form. The closed forms in ``model.py`` must agree with all three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, minimize_scalar

from adamem_core import model

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

N_INSTANCES = 240          # per form: 3 values of λ × 2 gap modes × 40
LAMS = (0.0, 0.1, 1.0)
GAPS = ("exact", "taylor")
BETA_TOL = 1e-5            # bounded 1-D search has finite precision
STEP_TOL = 1e-5


# ----------------------------------------------------------------------------- the model, by hand
@dataclass
class Instance:
    form: str                  # "sgd" or "adamw"
    n: int
    f: float
    g: np.ndarray
    d: np.ndarray
    lr: float
    lam: float
    beta_max: float
    gap_mode: str              # "exact" (a random f̂ − f, both signs) or "taylor"
    gap: float                 # the value of f̂ − f used by the model
    P: np.ndarray | None = None
    wd: float = 0.0
    x: np.ndarray | None = None

    # prox(u) and its gradient, written from DESIGN.md §1
    def prox(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        lr, lam, d = self.lr, self.lam, self.d
        if self.form == "sgd":
            w = u + lr * d
            val = u @ u / (2 * lr) + lam * (w @ w) / (2 * lr)
            grad = u / lr + lam * w / lr
            return val, grad
        P = self.P
        ut = u + lr * self.wd * self.x
        w = P * ut + lr * d
        val = ut @ (P * ut) / (2 * lr) + lam * (w @ w) / (2 * lr)
        grad = P * ut / lr + lam * P * w / lr
        return val, grad

    def planes(self, u: np.ndarray) -> tuple[float, float]:
        return self.f + self.g @ u, self.f + self.gap + self.d @ u

    def model(self, u: np.ndarray) -> float:
        lg, lm = self.planes(u)
        return max(lg, lm) + self.prox(u)[0]


def make_instance(rng: np.random.Generator, form: str, lam: float, gap_mode: str) -> Instance:
    n = int(rng.integers(2, 7))
    g = rng.normal(size=n) * 10 ** rng.uniform(-1, 1)
    # memory: a mix of "aligned with g", "opposed" and unrelated directions, sometimes zero
    kind = rng.integers(0, 6)
    if kind == 0 and form == "adamw":
        d = np.zeros(n)                                        # AdamW's d_0 = 0
    else:
        d = rng.uniform(-1.0, 2.0) * g + rng.normal(size=n) * np.linalg.norm(g) / math.sqrt(n) \
            * rng.uniform(0.1, 1.5)
    lr = 10 ** rng.uniform(-2, 0)
    beta_max = float(rng.choice([0.9, 0.999]))
    f = float(rng.normal())
    inst = Instance(form, n, f, g, d, lr, lam, beta_max, gap_mode, 0.0)
    if form == "adamw":
        inst.P = 10 ** rng.uniform(-1, 0.7, size=n)
        inst.wd = float(rng.choice([0.0, 0.01, 0.1]))
        inst.x = rng.normal(size=n)
    if gap_mode == "taylor":       # η⟨g,d⟩ (SGD) or η⟨g,d⟩_{P⁻¹} (AdamW)
        inst.gap = lr * (g @ d if form == "sgd" else g @ (d / inst.P))
    else:                          # a measured f(x_{t-1}) − f(x_t): any sign
        inst.gap = lr * rng.normal() * (g @ g + d @ d) / 2
    return inst


def instances(form: str) -> list[Instance]:
    rng = np.random.default_rng(20261130 if form == "sgd" else 4242)
    out = []
    for i in range(N_INSTANCES):
        lam = LAMS[i % 3]
        gap_mode = GAPS[(i // 3) % 2]
        out.append(make_instance(rng, form, lam, gap_mode))
    return out


def numerical_dual(inst: Instance, beta: float) -> tuple[float, np.ndarray]:
    """D(β) = min_u (1−β)ℓ_g + βℓ_m + prox, by BFGS from u = 0 (not the closed form)."""
    c = (1 - beta) * inst.g + beta * inst.d

    def fun(u):
        pv, pg = inst.prox(u)
        return inst.f + beta * inst.gap + c @ u + pv, c + pg

    res = minimize(fun, np.zeros(inst.n), jac=True, method="BFGS",
                   options={"gtol": 1e-11, "maxiter": 2000})
    assert np.linalg.norm(fun(res.x)[1]) < 1e-7 * (1 + np.linalg.norm(c)), res
    return float(res.fun), res.x


def numerical_beta(inst: Instance, hi: float) -> float:
    res = minimize_scalar(lambda b: -numerical_dual(inst, b)[0], bounds=(0.0, hi),
                          method="bounded", options={"xatol": 1e-11, "maxiter": 500})
    b = float(res.x)
    # the bounded search never returns the bound itself: snap when the bound is at least as good
    for edge in (0.0, hi):
        if abs(b - edge) < 1e-6 and numerical_dual(inst, edge)[0] >= -res.fun:
            b = edge
    return b


def numerical_model_minimiser(inst: Instance, cap: float) -> tuple[np.ndarray, float]:
    """argmin_u max{ℓ_g, (1−cap)ℓ_g + cap·ℓ_m} + prox(u) (cap = 1: the model m_t itself;
    cap = β_max: the model whose max is taken over β ∈ [0, β_max]), by SLSQP on the epigraph."""
    n = inst.n

    def obj(z):
        return z[n] + inst.prox(z[:n])[0]

    def obj_jac(z):
        return np.append(inst.prox(z[:n])[1], 1.0)

    slope_m = (1 - cap) * inst.g + cap * inst.d
    cons = [
        {"type": "ineq", "fun": lambda z: z[n] - inst.f - inst.g @ z[:n],
         "jac": lambda z: np.append(-inst.g, 1.0)},
        {"type": "ineq", "fun": lambda z: z[n] - inst.f - cap * inst.gap - slope_m @ z[:n],
         "jac": lambda z: np.append(-slope_m, 1.0)},
    ]
    best = None
    for start in (np.zeros(n), -inst.lr * inst.g, -inst.lr * inst.d):
        z0 = np.append(start, max(inst.planes(start)) + 1.0)
        res = minimize(obj, z0, jac=obj_jac, constraints=cons, method="SLSQP",
                       options={"ftol": 1e-15, "maxiter": 1000})
        if best is None or res.fun < best.fun:
            best = res
    return best.x[:n], float(best.fun)


def closed_form(inst: Instance, beta_max: float) -> model.BetaTerms:
    gap = None if inst.gap_mode == "taylor" else inst.gap
    if inst.form == "sgd":
        gg, gd, dd = model.sgd_sums(inst.g, inst.d)
        return model.beta_sgd(gg, gd, dd, inst.lr, inst.lam, beta_max, gap)
    return model.beta_adamw(inst.g, inst.d, inst.P, inst.lr, inst.lam, beta_max, inst.wd,
                            inst.x, gap)


def closed_step(inst: Instance, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(u(β) from model.u_of_beta, the optimizer's step x_{t+1} − x_t from the direction update)."""
    if inst.form == "sgd":
        u = model.u_of_beta(inst.g, inst.d, beta, inst.lr, inst.lam)
        step = -inst.lr * model.update_direction(inst.g, inst.d, beta, inst.lam)
        return u, step
    u = model.u_of_beta(inst.g, inst.d, beta, inst.lr, inst.lam, inst.P, inst.wd, inst.x)
    d_new = model.update_direction_adamw(inst.g, inst.d, beta, inst.lam, inst.P)
    step = -inst.lr * inst.wd * inst.x - inst.lr * d_new / inst.P
    return u, step


def _close(a, b, tol, scale=1.0) -> bool:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) <= tol * scale


# -------------------------------------------------------------------------- closed form vs numerics
@pytest.mark.parametrize("form", ["sgd", "adamw"])
def test_closed_form_beta_maximises_the_numerical_dual(form):
    """β from model.beta_sgd / beta_adamw = argmax over [0, β_max] of the numerically computed
    dual, on N_INSTANCES random instances (λ ∈ {0, 0.1, 1}, exact and taylor gaps)."""
    failures, where = [], {"0": 0, "interior": 0, "beta_max": 0}
    for k, inst in enumerate(instances(form)):
        terms = closed_form(inst, inst.beta_max)
        beta = float(terms.beta)
        b_num = numerical_beta(inst, inst.beta_max)
        where["0" if beta == 0 else "beta_max" if beta == inst.beta_max else "interior"] += 1
        if abs(beta - b_num) > BETA_TOL:
            failures.append((k, inst.form, inst.lam, inst.gap_mode, beta, b_num))
    assert not failures, f"{len(failures)} instances disagree, e.g. {failures[:5]}"
    # the instances exercise the interior and both bounds
    assert min(where.values()) >= N_INSTANCES // 20, where


@pytest.mark.parametrize("form", ["sgd", "adamw"])
def test_closed_form_step_minimises_the_model(form):
    """u(β*) = the numerical minimiser of the nonsmooth model, and so is the optimizer's step
    built from the direction update; the dual at β* equals the model's minimum (no duality gap);
    model.dual_value and model.model_value agree with the numerics."""
    bad = []
    for k, inst in enumerate(instances(form)):
        scale = 1.0 + np.linalg.norm(inst.lr * inst.g) + np.linalg.norm(inst.lr * inst.d)
        vscale = 1.0 + abs(inst.f) + abs(inst.gap) + scale ** 2 / inst.lr

        # (a) the model with the cap: max over β ∈ [0, β_max]; minimiser u(β_t)
        beta = float(closed_form(inst, inst.beta_max).beta)
        u_cf, step = closed_step(inst, beta)
        u_num, val_num = numerical_model_minimiser(inst, inst.beta_max)
        if not (_close(u_cf, u_num, STEP_TOL, scale) and _close(step, u_num, STEP_TOL, scale)):
            bad.append((k, "capped minimiser", u_cf, step, u_num))
        d_star = numerical_dual(inst, beta)[0]
        if abs(d_star - val_num) > 1e-7 * vscale:
            bad.append((k, "duality gap", d_star, val_num))

        # (b) m_t itself (max over β ∈ [0, 1]): minimiser u(clip(β̂, 0, 1))
        beta1 = float(closed_form(inst, 1.0).beta)
        u_cf1, _ = closed_step(inst, beta1)
        u_num1, val_num1 = numerical_model_minimiser(inst, 1.0)
        if not _close(u_cf1, u_num1, STEP_TOL, scale):
            bad.append((k, "model minimiser", u_cf1, u_num1))
        mv = model.model_value(u_num1, inst.f, inst.gap, inst.g, inst.d, inst.lr, inst.lam,
                               inst.P, inst.wd, inst.x)
        if abs(mv - inst.model(u_num1)) > 1e-10 * vscale or abs(mv - val_num1) > 1e-7 * vscale:
            bad.append((k, "model_value", mv, inst.model(u_num1), val_num1))

        # (c) model.dual_value = the numerical dual, at a few β
        for b in (0.0, beta, 0.5, inst.beta_max):
            dv = model.dual_value(b, inst.f, inst.gap, inst.g, inst.d, inst.lr, inst.lam,
                                  inst.P, inst.wd, inst.x)
            dn = numerical_dual(inst, b)[0]
            if abs(dv - dn) > 1e-9 * vscale:
                bad.append((k, "dual_value", b, dv, dn))
    assert not bad, f"{len(bad)} mismatches, e.g. {bad[:4]}"


@pytest.mark.parametrize("form", ["sgd", "adamw"])
def test_unclipped_ratio_is_the_stationary_point_of_the_dual(form):
    """numerator/denominator is where D'(β) = 0 (D is a concave quadratic: check by numerical
    differences of the BFGS dual), so numerator and denominator are right separately too."""
    for inst in instances(form)[:60]:
        terms = closed_form(inst, inst.beta_max)
        den = float(terms.denominator)
        if den <= 1e-8:
            continue
        b0 = float(terms.unclipped)
        h = 1e-2 * max(1.0, abs(b0))
        dm, d0, dp = (numerical_dual(inst, b0 + s * h)[0] for s in (-1, 0, 1))
        slope = (dp - dm) / (2 * h)
        curv = (dp - 2 * d0 + dm) / h ** 2
        # D'' = −η‖d−g‖²/(1+λ) (SGD form) or −η‖d−g‖²_W (AdamW form): the reported
        # denominator is that curvature divided by the weight ω (η/(1+λ) or η)
        omega = inst.lr / (1 + inst.lam) if form == "sgd" else inst.lr
        assert curv == pytest.approx(-omega * den, rel=1e-4, abs=1e-9)
        assert abs(slope) <= 1e-5 * abs(curv) * max(1.0, abs(b0)) + 1e-9


# ----------------------------------------------------------------------------- algebraic identities
def test_taylor_numerator_identity_and_eta_drops_out():
    rng = np.random.default_rng(1)
    for _ in range(50):
        g, d = rng.normal(size=(2, 5))
        lam = float(rng.choice(LAMS))
        gg, gd, dd = model.sgd_sums(g, d)
        t1 = model.beta_sgd(gg, gd, dd, 0.1, lam, 0.9)
        t2 = model.beta_sgd(gg, gd, dd, 0.7, lam, 0.9)
        t3 = model.beta_sgd(gg, gd, dd, 0.1, lam, 0.9, gap=0.1 * gd)   # the same gap, given
        assert t1.numerator == pytest.approx(gg + 2 * lam * gd - lam * dd, rel=1e-12)
        assert t1.numerator == pytest.approx(t3.numerator, rel=1e-10, abs=1e-12)
        assert t1.beta == t2.beta
        assert t1.gap == pytest.approx(0.1 * gd)
        assert t1.denominator == pytest.approx(np.sum((d - g) ** 2), rel=1e-12)


def test_beta_is_zero_when_memory_equals_gradient():
    g = np.array([1.0, -2.0, 3.0])
    gg, gd, dd = model.sgd_sums(g, g)
    for gap in (None, 0.5, -0.5):
        t = model.beta_sgd(gg, gd, dd, 0.1, 0.1, 0.9, gap)
        assert t.beta == 0 and t.unclipped == 0 and t.denominator == 0
    t = model.beta_adamw(g, g.copy(), np.ones(3), 0.1, 0.1, 0.9)
    assert t.beta == 0


def test_clip_to_bounds():
    gg, gd, dd = 1.0, 0.0, 1.0     # ‖d−g‖² = 2
    assert model.beta_sgd(gg, gd, dd, 1.0, 0.0, 0.9, gap=10.0).beta == 0.9
    assert model.beta_sgd(gg, gd, dd, 1.0, 0.0, 0.9, gap=-10.0).beta == 0.0
    t = model.beta_sgd(gg, gd, dd, 1.0, 0.0, 0.9, gap=0.5)
    assert t.beta == pytest.approx(0.5 / 2 + 0.5)   # (gap − ⟨d−g, g⟩)/‖d−g‖² = (0.5+1)/2
    assert t.unclipped == t.beta


def test_weighted_form_with_identity_preconditioner_equals_sgd_form():
    rng = np.random.default_rng(2)
    for _ in range(40):
        n = 4
        g, d = rng.normal(size=(2, n))
        lam = float(rng.choice(LAMS))
        lr = float(10 ** rng.uniform(-2, 0))
        gap = None if rng.random() < 0.5 else float(rng.normal())
        ts = model.beta_sgd(*model.sgd_sums(g, d), lr, lam, 0.9, gap)
        ta = model.beta_adamw(g, d, np.ones(n), lr, lam, 0.9, 0.0, None, gap)
        assert ta.beta == pytest.approx(ts.beta, abs=1e-12)
        assert ta.numerator * (1 + lam) == pytest.approx(ts.numerator, rel=1e-10, abs=1e-12)
        assert ta.denominator * (1 + lam) == pytest.approx(ts.denominator, rel=1e-10)
        np.testing.assert_allclose(model.update_direction_adamw(g, d, ts.beta, lam, np.ones(n)),
                                   model.update_direction(g, d, ts.beta, lam), rtol=1e-12,
                                   atol=1e-14)


def test_direction_update_coefficients():
    for beta in (0.0, 0.3, 0.9):
        for lam in LAMS:
            a, b = model.direction_coefficients(beta, lam)
            assert a + b == pytest.approx(1.0)
            assert a == pytest.approx(model.effective_momentum(beta, lam))
            assert a == pytest.approx((beta + lam) / (1 + lam))
    g, d = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    # fixed β with λ = 0: EMA heavy ball d ← βd + (1−β)g
    np.testing.assert_allclose(model.update_direction(g, d, 0.9, 0.0), 0.9 * d + 0.1 * g)
    P = np.array([0.5, 2.0])
    np.testing.assert_allclose(model.update_direction_adamw(g, d, 0.3, 0.4, P),
                               ((1 - 0.3) * g + (0.4 * P + 0.3) * d) / (1 + 0.4 * P))
    np.testing.assert_allclose(model.effective_momentum_adamw(0.3, 0.4, P),
                               (0.4 * P + 0.3) / (1 + 0.4 * P))


def test_combine_global_beta_equals_beta_on_concatenation():
    """One β over several tensors (same η, λ) = the single-tensor formula on the concatenation."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        sizes = rng.integers(1, 5, size=3)
        g = [rng.normal(size=s) for s in sizes]
        d = [rng.normal(size=s) for s in sizes]
        P = [10 ** rng.uniform(-1, 0.5, size=s) for s in sizes]
        x = [rng.normal(size=s) for s in sizes]
        lr, lam, wd = 0.05, float(rng.choice(LAMS)), 0.01
        gap = None if rng.random() < 0.5 else float(rng.normal())
        G, D, PP, X = (np.concatenate(v) for v in (g, d, P, x))
        # SGD form
        whole = model.beta_sgd(*model.sgd_sums(G, D), lr, lam, 0.9, gap)
        parts = [model.sgd_parts(*model.sgd_sums(a, b), lam) for a, b in zip(g, d)]
        comb = model.combine(parts, [lr] * 3, [lr / (1 + lam)] * 3, gap, 0.9)
        for k in ("beta", "unclipped", "numerator", "denominator", "gap"):
            assert getattr(comb, k) == pytest.approx(getattr(whole, k), rel=1e-10, abs=1e-12)
        # AdamW form
        whole = model.beta_adamw(G, D, PP, lr, lam, 0.9, wd, X, gap)
        parts = [model.adamw_parts(a, b, p, lam, wd, xx) for a, b, p, xx in zip(g, d, P, x)]
        comb = model.combine(parts, [lr] * 3, [lr] * 3, gap, 0.9)
        for k in ("beta", "unclipped", "numerator", "denominator", "gap"):
            assert getattr(comb, k) == pytest.approx(getattr(whole, k), rel=1e-10, abs=1e-12)


def test_combine_with_different_step_sizes_maximises_the_joint_dual():
    """Parameter groups with different (η_i, λ_i): the joint model max{ℓ_g, ℓ_m} + Σ_i prox_i
    has its dual maximised (numerically) at model.combine's β."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        sizes = [2, 3]
        g = [rng.normal(size=s) for s in sizes]
        d = [rng.normal(size=s) for s in sizes]
        lrs = [float(10 ** rng.uniform(-2, 0)) for _ in sizes]
        lams = [float(rng.choice(LAMS)) for _ in sizes]
        gap = float(rng.normal()) * 0.1

        def dual(beta):
            total = gap * beta
            for gi, di, lr, lam in zip(g, d, lrs, lams):
                cc = (1 - beta) * gi + beta * di

                def fun(u):
                    w = u + lr * di
                    return (cc @ u + u @ u / (2 * lr) + lam * (w @ w) / (2 * lr),
                            cc + u / lr + lam * w / lr)
                total += minimize(fun, np.zeros(gi.size), jac=True, method="BFGS",
                                  options={"gtol": 1e-12}).fun
            return total

        b_num = minimize_scalar(lambda b: -dual(b), bounds=(0, 0.9), method="bounded",
                                options={"xatol": 1e-11}).x
        parts = [model.sgd_parts(*model.sgd_sums(a, b), lam) for a, b, lam in zip(g, d, lams)]
        comb = model.combine(parts, lrs, [lr / (1 + lam) for lr, lam in zip(lrs, lams)], gap, 0.9)
        assert comb.beta == pytest.approx(b_num, abs=BETA_TOL)


# ------------------------------------------------------------------ arrays: numpy / torch / batches
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numpy_and_torch_and_batches_agree(dtype):
    rng = np.random.default_rng(5)
    B, n = 7, 5
    g, d, x = rng.normal(size=(3, B, n))
    P = 10 ** rng.uniform(-1, 0.5, size=(B, n))
    lr, lam = 0.1, 0.1
    t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    # SGD form, batched over the leading dimension
    np_terms = model.beta_sgd(*model.sgd_sums(g, d, dim=-1), lr, lam, 0.9)
    th_terms = model.beta_sgd(*model.sgd_sums(t(g), t(d), dim=-1), lr, lam, 0.9)
    for i in range(B):
        one = model.beta_sgd(*model.sgd_sums(g[i], d[i]), lr, lam, 0.9)
        assert np_terms.beta[i] == pytest.approx(one.beta, abs=1e-12)
    np.testing.assert_allclose(th_terms.beta.double().numpy(), np_terms.beta, atol=tol)
    # AdamW form
    np_terms = model.beta_adamw(g, d, P, lr, lam, 0.9, 0.01, x, dim=-1)
    th_terms = model.beta_adamw(t(g), t(d), t(P), lr, lam, 0.9, 0.01, t(x), dim=-1)
    for i in range(B):
        one = model.beta_adamw(g[i], d[i], P[i], lr, lam, 0.9, 0.01, x[i])
        assert np_terms.beta[i] == pytest.approx(one.beta, abs=1e-12)
    np.testing.assert_allclose(th_terms.beta.double().numpy(), np_terms.beta, atol=tol * 10)


def test_inner_accumulates_in_float32_or_better():
    assert model.acc_dtype(torch.bfloat16) == torch.float32
    assert model.acc_dtype(torch.float16) == torch.float32
    assert model.acc_dtype(torch.float32) == torch.float32
    assert model.acc_dtype(torch.float64) == torch.float64
    # 4096 ones in bfloat16: a bfloat16 accumulator would stall at 256
    a = torch.ones(4096, dtype=torch.bfloat16)
    s = model.inner(a, a)
    assert s.dtype == torch.float32 and float(s) == 4096.0
    s = model.inner(a.reshape(64, 64), a.reshape(64, 64), dim=1)
    assert s.dtype == torch.float32 and torch.all(s == 64)


def test_preconditioner_matches_adamw_denominator():
    """P = (1 − β₁^t)(√v̂ + ε) for a fixed β₁ (prod of the previous t−1 β₁'s is β₁^{t−1})."""
    v = torch.tensor([1e-6, 0.25, 4.0], dtype=torch.float64)
    beta1, beta2, eps, t = 0.9, 0.999, 1e-8, 7
    bc1 = model.bias_correction1(beta1, beta1 ** (t - 1))
    assert bc1 == pytest.approx(1 - beta1 ** t)
    P = model.preconditioner(v, t, beta2, eps, bc1)
    expect = (1 - beta1 ** t) * (v.sqrt() / math.sqrt(1 - beta2 ** t) + eps)
    torch.testing.assert_close(P, expect, rtol=1e-14, atol=0)


def test_planes():
    g, d = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    pl = model.planes(2.0, 0.5, g, d)
    assert pl["grad_height"] == 2.0 and pl["mem_height"] == 2.5
    assert pl["grad_slope"] is g and pl["mem_slope"] is d


# ------------------------------------------------------------------ conventions (issue 11)
def test_taylor_gap_is_the_first_order_change_along_the_displacement():
    """model.taylor_gap = ⟨g, x_{t−1} − x_t⟩ for the step x_t = (1 − η'μ')x_{t−1} − η'P'⁻¹d:
    built here from x_{t−1}, compared with the formula in x_t (NumPy and torch, batched)."""
    rng = np.random.default_rng(11)
    B, n = 6, 4
    x_prev, d, g = rng.normal(size=(3, B, n))
    P = 10 ** rng.uniform(-1, 0.5, size=(B, n))
    lr, wd = 10 ** rng.uniform(-3, -1, size=(B, 1)), rng.uniform(0, 0.5, size=(B, 1))
    x = (1 - lr * wd) * x_prev - lr * d / P
    direct = np.sum(g * (x_prev - x), axis=-1)
    got = model.taylor_gap(g, d, lr[:, 0], P, wd[:, 0], x, dim=-1)
    np.testing.assert_allclose(got, direct, rtol=1e-9)
    got_t = model.taylor_gap(*(torch.as_tensor(a) for a in (g, d)), torch.as_tensor(lr[:, 0]),
                             torch.as_tensor(P), torch.as_tensor(wd[:, 0]), torch.as_tensor(x),
                             dim=-1)
    np.testing.assert_allclose(got_t.numpy(), direct, rtol=1e-9)
    # AM-SGD (P = I, μ = 0): η'⟨g, d⟩; one instance, scalar η'
    assert model.taylor_gap(g[0], d[0], 0.3) == pytest.approx(0.3 * g[0] @ d[0], rel=1e-14)
    # η'μ' = 1: the decay part is left out (x_{t−1} is lost)
    assert model.taylor_gap(g[0], d[0], 0.5, P[0], 2.0, x[0]) == pytest.approx(
        0.5 * g[0] @ (d[0] / P[0]), rel=1e-14)


def test_sum_terms_give_the_inner_products_of_taylor_gap_and_adamw_parts():
    """model.adamw_sum_terms summed over any grouping of coordinates (here: segments of one
    flat row per batch entry, as the batched MLP program sums them with one matrix product),
    then taylor_gap_from_sums / adamw_parts_from_sums, equal taylor_gap / adamw_parts on each
    segment; P = None is the identity (AMSGD's form: W = 1/(1+λ), and the β of beta_sgd).
    Sums of ≤ 7 terms in another order: a few ε relative (1e-12 leaves a margin; a wrong
    product or sign is O(1) off)."""
    rng = np.random.default_rng(12)
    B, sizes = 5, (3, 1, 7)
    n = sum(sizes)
    g, d, x = rng.normal(size=(3, B, n))
    P, Pp = 10 ** rng.uniform(-1, 0.5, size=(2, B, n))
    lr, wd = 10 ** rng.uniform(-3, -1, size=(B, 1)), rng.uniform(0, 0.5, size=(B, 1))
    lam = rng.choice(LAMS, size=(B, 1))
    segs = np.cumsum((0,) + sizes)

    def seg_sums(a):
        return np.stack([a[:, s:e].sum(1) for s, e in zip(segs[:-1], segs[1:])], 1)

    gd, gx, du, c, dx = (seg_sums(t) for t in
                         model.adamw_sum_terms(g, d, P, lam, x, True, Pp))
    gap = model.taylor_gap_from_sums(gd, gx, lr, wd)
    a = model.adamw_parts_from_sums(du, c, dx, wd)
    for k, (s, e) in enumerate(zip(segs[:-1], segs[1:])):
        for b in range(B):
            sl = (b, slice(s, e))
            ref_gap = model.taylor_gap(g[sl], d[sl], lr[b, 0], Pp[sl], wd[b, 0], x[sl])
            _, ref_a, ref_c = model.adamw_parts(g[sl], d[sl], P[sl], lam[b, 0], wd[b, 0], x[sl])
            assert gap[b, k] == pytest.approx(ref_gap, rel=1e-12, abs=1e-15)
            assert a[b, k] == pytest.approx(ref_a, rel=1e-12, abs=1e-15)
            assert c[b, k] == pytest.approx(ref_c, rel=1e-12, abs=1e-15)
    # torch tensors, no decay, no gap terms: the two parts, the same numbers as NumPy's
    tt = model.adamw_sum_terms(*(torch.as_tensor(v) for v in (g, d, P)), torch.as_tensor(lam),
                               with_gap=False)
    assert len(tt) == 2
    for t, ref in zip(tt, model.adamw_sum_terms(g, d, P, lam, with_gap=False)):
        np.testing.assert_array_equal(t.numpy(), ref)
    # P = I: AMSGD's β from the same sums (model.sgd_form: same β as beta_sgd)
    gd, du, c = (t.sum(1) for t in model.adamw_sum_terms(g, d, None, lam, None, True, None))
    a = model.adamw_parts_from_sums(du, c)
    got = model.beta_from_sums(lr[:, 0] * gd, a, c, lr[:, 0], 0.9)
    ref = model.beta_sgd(*model.sgd_sums(g, d, 1), lr[:, 0], lam[:, 0], 0.9)
    np.testing.assert_allclose(got.unclipped, ref.unclipped, rtol=1e-12)
    np.testing.assert_allclose(got.beta, ref.beta, rtol=1e-12, atol=1e-15)


def test_inner_over_a_trailing_pair_is_the_reduction_bit_for_bit():
    """The 2-D engine's (runs, 2) inner products take a short path (p₀ + p₁): the same numbers
    as the reduction, bit for bit, infinities, NaN and signed zeros included, except the one
    documented case −0 + −0 (the reduction gives +0, the short path −0: equal values)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 2)) * 10.0 ** rng.integers(-300, 300, size=(64, 2))
    b = rng.standard_normal((64, 2))
    a[:6] = [[-0.0, 0.0], [0.0, -0.0], [np.inf, 1.0], [np.nan, 2.0], [np.inf, -np.inf],
             [-0.0, -0.0]]
    b[:6] = 1.0
    with np.errstate(all="ignore"):
        got = model.inner(a, b, dim=-1)
        ref = np.add.reduce(a * b, axis=-1)
    assert got.shape == (64,) and np.array_equal(got, ref, equal_nan=True)   # (−0 == +0)
    same_bits = got.view(np.int64) == ref.view(np.int64)
    assert same_bits[:5].all() and same_bits[6:].all()
    assert got[5] == ref[5] == 0.0 and np.signbit(got[5]) and not np.signbit(ref[5])
    c = rng.standard_normal((5, 3, 2))
    assert np.array_equal(model.inner(c, c, dim=-1), np.add.reduce(c * c, axis=-1))


def test_combine_positive_hint_changes_nothing():
    """``combine(..., positive=True)`` (the caller knows every η > 0) gives the same terms as
    letting combine check; with an η = 0 among the runs the check must stay (the limit)."""
    rng = np.random.default_rng(4)
    lr = rng.uniform(0.01, 1.0, 6)
    parts = (None, rng.standard_normal(6), rng.uniform(0.0, 2.0, 6))
    gap = rng.standard_normal(6) * lr
    bmax = np.full(6, 0.9)
    a = model.combine([parts], [lr], [lr], gap, bmax)
    b = model.combine([parts], [lr], [lr], gap, bmax, positive=True)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    lr0 = lr.copy()
    lr0[2] = 0.0
    t = model.combine([parts], [lr0], [lr0], gap, bmax)
    assert np.all(np.isfinite(t.numerator)) and t.beta[2] in (0.0, 0.9)


def test_lr_zero_takes_the_limit_and_stays_finite():
    """gap/η at η = 0: 0 for a zero gap, ±∞ otherwise (β → β_max or 0); the reported numerator
    and unclipped β are their clipped limits; η = 1e-300 gives the same β."""
    gg, gd, dd = 2.0, 0.5, 1.5
    for gap, expect in ((0.3, 0.9), (-0.3, 0.0)):
        t0 = model.beta_sgd(gg, gd, dd, 0.0, 0.1, 0.9, gap)
        tiny = model.beta_sgd(gg, gd, dd, 1e-300, 0.1, 0.9, gap)
        assert t0.beta == tiny.beta == expect
        assert math.isfinite(t0.numerator) and t0.unclipped == expect
        assert t0.numerator == pytest.approx(expect * t0.denominator)
    t0 = model.beta_sgd(gg, gd, dd, 0.0, 0.1, 0.9, 0.0)            # nothing moved: gap/η → 0
    ref = model.beta_sgd(gg, gd, dd, 0.1, 0.1, 0.9, 0.0)
    assert t0.beta == ref.beta and t0.numerator == ref.numerator

    lr = torch.tensor([0.0, 0.1], dtype=torch.float64)
    r = model.gap_over_lr(torch.tensor([0.2, 0.4], dtype=torch.float64), lr)
    assert torch.isinf(r[0]) and r[0] > 0 and r[1] == pytest.approx(4.0)



def test_sum_weights_at_zero_learning_rates():
    assert model.sum_weights([0.1, 0.05]) == (0.1, [1.0, 0.5])
    assert model.sum_weights([0.0, 0.05]) == (0.05, [0.0, 1.0])     # group 0 frozen: no say
    assert model.sum_weights([0.0, 0.0], [1 / 1.1, 1 / 2.0]) == (0.0, [1.0, 1.1 / 2.0])


def test_first_step_is_adamws():
    assert model.first_step_beta(0.3, 0.9, True) == 0.9
    assert model.first_step_beta(0.3, 0.9, False) == 0.3
    assert model.first_step_lam(0.5, True) == 0.0 and model.first_step_lam(0.5, False) == 0.5
    b = model.first_step_beta(np.array([0.1, 0.2]), np.array([0.9, 0.8]), np.array([True, False]))
    np.testing.assert_array_equal(b, [0.9, 0.2])
