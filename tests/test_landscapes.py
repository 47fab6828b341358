"""Tests for adamem_core.landscapes: minima against literature values, exact derivatives against
finite differences, the torch path, vectorisation, parameters, and the default scene's curvature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from adamem_core.landscapes import LANDSCAPE_NAMES, LANDSCAPES, get_landscape

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

# Literature values, written out independently of the module (high-precision coordinates were
# computed separately with mpmath.findroot at 40 digits).
_HB = [(3.0, 2.0), (-2.805118086952745, 3.131312518250573),
       (-3.779310253377747, -3.283185991286169), (3.584428340330492, -1.848126526964404)]
_SH = (0.08984201310031806, -0.7126564030207396)
_ST = -2.903534027771177
LITERATURE: dict[str, list[tuple[tuple[float, float], float]]] = {
    "quadratic": [((0.0, 0.0), 0.0)],
    "ill_conditioned_quadratic": [((0.0, 0.0), 0.0)],
    "booth": [((1.0, 3.0), 0.0)],
    "matyas": [((0.0, 0.0), 0.0)],
    # Boyd & Vandenberghe: minimiser (-ln 2 / 2, 0), value 1.5 ln 2 - 0.1
    "log_sum_exp": [((-0.34657359027997264, 0.0), 0.9397207708399179)],
    "rosenbrock": [((1.0, 1.0), 0.0)],
    "curved_valley": [((1.0, 0.0), 0.0)],
    "beale": [((3.0, 0.5), 0.0)],
    "himmelblau": [(p, 0.0) for p in _HB],
    "rastrigin": [((0.0, 0.0), 0.0)],
    "ackley": [((0.0, 0.0), 0.0)],
    "three_hump_camel": [((0.0, 0.0), 0.0)],
    "six_hump_camel": [(_SH, -1.0316284534898774), ((-_SH[0], -_SH[1]), -1.0316284534898774)],
    "goldstein_price": [((0.0, -1.0), 3.0)],
    "styblinski_tang": [((_ST, _ST), -78.33233140754283)],
    "saddle": [],
    "monkey_saddle": [],
}
REQUIRED = set(LITERATURE)
CONVEX = {"quadratic", "ill_conditioned_quadratic", "booth", "matyas", "log_sum_exp"}
NAMES = list(LANDSCAPES)
# Derivative checks run on every landscape and on a rotated, non-default member of the family.
VARIANTS = {name: LANDSCAPES[name] for name in NAMES}
VARIANTS["ill_conditioned_quadratic(kappa=10,angle=30)"] = (
    LANDSCAPES["ill_conditioned_quadratic"].with_params(kappa=10, angle=30))
VARIANTS["ill_conditioned_quadratic(kappa=3000,angle=-75)"] = (
    LANDSCAPES["ill_conditioned_quadratic"].with_params(kappa=3000, angle=-75))


def _random_points(land, n=20, seed=0, margin=0.0):
    (x0, x1), (y0, y1) = land.domain
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(n, 2))
    wx, wy = x1 - x0, y1 - y0
    return np.stack([x0 + margin * wx + (1 - 2 * margin) * wx * u[:, 0],
                     y0 + margin * wy + (1 - 2 * margin) * wy * u[:, 1]], -1)


# Allowed rounding difference between two NumPy evaluations of the same formula through
# different loops, in ulps of the terms: NumPy's float64 SIMD exp/log/sin/cos are within ~4 ulp
# of the correctly rounded result (its umath accuracy tables), a landscape chains at most a few
# such calls and small sums, so 4 ulp × 4 stages × 2 (both sides may err) ≈ 32.
ULPS = 32


def _grid_points(land, n: int) -> np.ndarray:
    """An n×n grid over the landscape's plotted domain, as (n·n, 2) points."""
    (x0, x1), (y0, y1) = land.domain
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.stack([X.ravel(), Y.ravel()], -1)


def _inside(p, domain, margin=0.0):
    (x0, x1), (y0, y1) = domain
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return x0 + mx <= p[0] <= x1 - mx and y0 + my <= p[1] <= y1 - my


# --------------------------------------------------------------------------- catalogue

def test_catalogue_has_every_required_landscape_and_only_documented_ones():
    assert set(LANDSCAPES) == REQUIRED
    assert set(LANDSCAPE_NAMES) == set(LANDSCAPES)
    assert len(LANDSCAPE_NAMES) == len(set(LANDSCAPE_NAMES))
    assert LANDSCAPE_NAMES[0] == "ill_conditioned_quadratic"


@pytest.mark.parametrize("name", NAMES)
def test_metadata(name):
    land = LANDSCAPES[name]
    assert land.name == name
    assert land.title and land.latex
    assert land.note and "\n" not in land.note
    assert set(land.lr) >= {"sgd", "adamw"}
    assert all(v > 0 for v in land.lr.values())
    assert land.convex == (name in CONVEX)


# --------------------------------------------------------------------------- minima

@pytest.mark.parametrize("name", NAMES)
def test_minima_match_literature(name):
    land = LANDSCAPES[name]
    lit = LITERATURE[name]
    assert len(land.minima) == len(lit)
    for p_lit, v_lit in lit:
        near = [(p, v) for p, v in land.minima if np.hypot(p[0] - p_lit[0], p[1] - p_lit[1]) < 1e-7]
        assert len(near) == 1, f"{name}: no listed minimiser at {p_lit}"
        p, v = near[0]
        tol = 1e-8 * max(1.0, abs(v_lit))
        assert abs(v - v_lit) <= tol
        assert abs(float(land.value(np.array(p))) - v_lit) <= tol
        assert np.linalg.norm(land.grad(np.array(p))) < 1e-6
        # a strict local minimum: positive definite Hessian
        assert np.all(np.linalg.eigvalsh(land.hessian(np.array(p))) > 0)


@pytest.mark.parametrize("name", NAMES)
def test_minima_and_start_inside_domain(name):
    land = LANDSCAPES[name]
    assert land.domain[0][0] < land.domain[0][1] and land.domain[1][0] < land.domain[1][1]
    assert _inside(land.start, land.domain, margin=0.02)
    for p, _ in land.minima:
        assert _inside(p, land.domain)


@pytest.mark.parametrize("name", [n for n in NAMES if LITERATURE[n]])
def test_f_star_is_the_global_minimum_on_a_dense_grid(name):
    land = LANDSCAPES[name]
    (x0, x1), (y0, y1) = land.domain
    xs, ys = np.linspace(x0, x1, 401), np.linspace(y0, y1, 401)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    F = land.value(np.stack([X, Y], -1))
    f_star = land.f_star
    assert f_star == min(v for _, v in LITERATURE[name])
    assert F.min() >= f_star - 1e-9 * max(1.0, abs(f_star))

    # Completeness: polish the grid's discrete local minima; every one that reaches f* must be a
    # listed minimiser (a missing global minimiser would show up here).
    inner = F[1:-1, 1:-1]
    is_min = np.ones_like(inner, dtype=bool)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                is_min &= inner <= F[1 + dx:F.shape[0] - 1 + dx, 1 + dy:F.shape[1] - 1 + dy]
    idx = np.argwhere(is_min)
    idx = idx[np.argsort(inner[is_min])][:40]
    listed = np.array([p for p, _ in land.minima])
    for i, j in idx:
        res = minimize(land.value, np.array([xs[i + 1], ys[j + 1]]), jac=land.grad,
                       hess=land.hessian, method="trust-exact", options={"gtol": 1e-12})
        if res.fun <= f_star + 1e-7 * max(1.0, abs(f_star)):
            assert np.min(np.linalg.norm(listed - res.x, axis=1)) < 1e-5, (name, res.x)


@pytest.mark.parametrize("name", ["saddle", "monkey_saddle"])
def test_saddles_have_no_minimum(name):
    land = LANDSCAPES[name]
    assert land.minima == []
    assert land.f_star is None


# --------------------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name", list(VARIANTS))
def test_grad_matches_central_differences(name):
    land = VARIANTS[name]
    h = 1e-6
    for p in _random_points(land):
        f = float(land.value(p))
        fd = np.array([(land.value(p + h * e) - land.value(p - h * e)) / (2 * h)
                       for e in np.eye(2)])
        np.testing.assert_allclose(land.grad(p), fd, rtol=1e-5, atol=1e-6 * (1 + abs(f)))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_hessian_matches_differences_of_grad_and_is_symmetric(name):
    land = VARIANTS[name]
    h = 1e-6
    for p in _random_points(land, seed=1):
        H = land.hessian(p)
        assert H.shape == (2, 2)
        assert H[0, 1] == H[1, 0]
        g = land.grad(p)
        fd = np.stack([(land.grad(p + h * e) - land.grad(p - h * e)) / (2 * h)
                       for e in np.eye(2)], -1)
        np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(g).max()))


@pytest.mark.parametrize("name", [n for n in VARIANTS if n.split("(")[0] in CONVEX])
def test_convex_landscapes_have_psd_hessian(name):
    land = VARIANTS[name]
    H = land.hessian(_random_points(land, n=200, seed=2))
    ev = np.linalg.eigvalsh(H)
    assert np.all(ev >= -1e-12 * (1 + np.abs(H).max()))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_torch_value_and_autograd_match_numpy(name):
    land = VARIANTS[name]
    p = _random_points(land, n=7, seed=3)
    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    v = land.value(t)
    assert isinstance(v, torch.Tensor) and v.shape == (7,)
    np.testing.assert_allclose(v.detach().numpy(), land.value(p), rtol=1e-12, atol=1e-12)
    v.sum().backward()
    g = land.grad(p)
    np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-9, atol=1e-9 * (1 + np.abs(g).max()))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_vectorised_shapes_and_values(name):
    land = VARIANTS[name]
    p = _random_points(land, n=12, seed=4)
    b = p.reshape(3, 4, 2)
    assert land.value(p[:5]).shape == (5,)
    assert land.value(b).shape == (3, 4)
    assert land.grad(b).shape == (3, 4, 2)
    assert land.hessian(b).shape == (3, 4, 2, 2)
    assert np.shape(land.value(p[0])) == ()
    assert land.grad(p[0]).shape == (2,)
    assert land.grad(p[0]).dtype == np.float64 and land.hessian(p[0]).dtype == np.float64
    # Batched and one-point evaluation are the same formulas on arrays of different lengths, so
    # NumPy may run them through different loops (a SIMD body vs its scalar tail, AVX-512 vs
    # AVX2 vs baseline): exp/log/sin/cos then differ by a few ulps, and matmul/einsum may sum in
    # another order. A difference of a few ulps of the TERMS an entry is made of survives
    # cancellation: log-sum-exp's Hessian entry 9(w0+w1) − g_y² ≈ 0.02 is a difference of two
    # terms ≈ 9 and differs by 2 ulps of 9 (3.6e-15) between AVX2 and the scalar tail. Every
    # entry of a landscape is a sum of a handful of terms none larger than (a small multiple of)
    # the largest |entry| over the plotted domain, so the tolerance is ULPS ulps of that.
    scale_pts = _grid_points(land, 21)
    for what, batched, single in (
            ("value", land.value(b).reshape(-1), [land.value(q) for q in p]),
            ("grad", land.grad(b).reshape(-1, 2), [land.grad(q) for q in p]),
            ("hessian", land.hessian(b).reshape(-1, 2, 2), [land.hessian(q) for q in p])):
        term_scale = np.max(np.abs(getattr(land, what)(scale_pts)))
        np.testing.assert_allclose(batched, single, rtol=1e-14,
                                   atol=ULPS * np.finfo(np.float64).eps * term_scale,
                                   err_msg=what)
    # a plain list works too
    assert float(land.value([float(p[0, 0]), float(p[0, 1])])) == pytest.approx(
        float(land.value(p[0])), rel=1e-15)


@pytest.mark.parametrize("name", [n for n in VARIANTS if VARIANTS[n].value_and_grad is not None])
def test_value_and_grad_is_value_and_grad(name):
    """A landscape's one-call ``value_and_grad`` (what the 2-D engine uses) returns the numbers
    of ``value`` and ``grad``, bit for bit: the same formulas on the same array, only their
    shared subexpressions computed once."""
    land = VARIANTS[name]
    for pts in (_random_points(land, n=37, seed=5), _random_points(land, n=12, seed=6).reshape(3, 4, 2),
                _random_points(land, n=1, seed=7)[0]):
        f, g = land.value_and_grad(pts)
        assert np.asarray(f).dtype == np.float64 and g.dtype == np.float64
        np.testing.assert_array_equal(f, land.value(pts))
        np.testing.assert_array_equal(g, land.grad(pts))


def test_some_landscapes_have_value_and_grad():
    assert LANDSCAPES["rosenbrock"].value_and_grad is not None   # (the engine benchmark's)


# --------------------------------------------------------------------------- parameters

def test_ill_conditioned_quadratic_defaults():
    land = LANDSCAPES["ill_conditioned_quadratic"]
    assert land.params == {"kappa": 100.0, "angle": 0.0}
    assert land.start == (-2.6, 0.8)
    np.testing.assert_allclose(land.hessian(np.zeros(2)), np.diag([1.0, 100.0]), atol=1e-12)
    assert land.param_specs["kappa"].log
    assert (land.param_specs["kappa"].min, land.param_specs["kappa"].max) == (1.0, 1e4)
    assert (land.param_specs["angle"].min, land.param_specs["angle"].max) == (-90.0, 90.0)
    assert land.value(np.array([-2.6, 0.8])) == pytest.approx(0.5 * (2.6 ** 2 + 100 * 0.8 ** 2))


@pytest.mark.parametrize("kappa,angle", [(10.0, 30.0), (1000.0, -60.0), (2.5, 90.0)])
def test_with_params_sets_condition_number_and_rotation(kappa, angle):
    land = LANDSCAPES["ill_conditioned_quadratic"].with_params(kappa=kappa, angle=angle)
    assert land.params == {"kappa": kappa, "angle": angle}
    assert land.factory is not None and land.param_specs
    ev, vec = np.linalg.eigh(land.hessian(np.array([0.3, -0.2])))
    assert ev[1] / ev[0] == pytest.approx(kappa, rel=1e-10)
    assert ev[0] == pytest.approx(1.0, rel=1e-10)
    th = math.radians(angle)
    # the flat direction (eigenvalue 1) is the rotated x axis (cos θ, sin θ)
    assert abs(vec[:, 0] @ np.array([math.cos(th), math.sin(th)])) == pytest.approx(1.0, abs=1e-10)
    assert land.minima == [((0.0, 0.0), 0.0)]
    # chaining keeps the other parameter
    again = land.with_params(kappa=4.0)
    assert again.params == {"kappa": 4.0, "angle": angle}


def test_with_params_clamps_and_rejects_unknown():
    land = LANDSCAPES["ill_conditioned_quadratic"]
    assert land.with_params(kappa=1e9, angle=500).params == {"kappa": 1e4, "angle": 90.0}
    assert land.with_params(kappa=0.01, angle=-500).params == {"kappa": 1.0, "angle": -90.0}
    with pytest.raises(ValueError, match="no parameter"):
        land.with_params(sigma=1.0)
    with pytest.raises(ValueError):
        LANDSCAPES["beale"].with_params(kappa=3.0)


def test_get_landscape():
    assert get_landscape("beale") is LANDSCAPES["beale"]
    land = get_landscape("ill_conditioned_quadratic", kappa=10, angle=45)
    assert land.params == {"kappa": 10.0, "angle": 45.0}
    with pytest.raises(ValueError) as err:
        get_landscape("no_such_landscape")
    msg = str(err.value)
    assert "no_such_landscape" in msg
    for name in LANDSCAPE_NAMES:
        assert name in msg


# --------------------------------------------------------------------------- behaviour

def _gd(land, lr, steps, beta=0.0):
    x = np.array(land.start, dtype=float)
    d = land.grad(x)
    for _ in range(steps):
        g = land.grad(x)
        d = beta * d + (1 - beta) * g
        x = x - lr * d
        if not np.all(np.isfinite(x)) or np.abs(x).max() > 1e6:
            return x, math.inf
    return x, float(land.value(x))


def test_default_scene_curvature():
    """Largest curvature 100: GD at η = 0.1 diverges (0.1·100 > 2), at η = 0.015 converges; EMA
    momentum (stable iff η L < 2(1+β)/(1−β)) diverges for β = 0.5 and converges for β = 0.9."""
    land = LANDSCAPES["ill_conditioned_quadratic"]
    _, f = _gd(land, 0.1, 150)
    assert f == math.inf
    _, f = _gd(land, 0.015, 2000)
    assert f < 1e-10
    _, f = _gd(land, 0.1, 150, beta=0.5)
    assert f == math.inf
    _, f = _gd(land, 0.1, 300, beta=0.9)  # not monotone: f first dips below 1e-6 near step 146
    assert f < 1e-6


@pytest.mark.parametrize(
    "name", [n for n in NAMES if LITERATURE[n] and n != "ill_conditioned_quadratic"])
def test_suggested_sgd_lr_keeps_plain_gd_bounded(name):
    land = LANDSCAPES[name]
    x, f = _gd(land, land.lr["sgd"], 500)
    assert math.isfinite(f)
    assert f <= float(land.value(np.array(land.start)))
    assert _inside(x, land.domain)
