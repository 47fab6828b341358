"""Gradient noise in the 2-D engine (issue 9, test 2): the stationary mean of noisy gradient
descent on a quadratic, common random numbers per seed, a run's noise independent of the batch,
and noise = 0 as the noise-free engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adamem_core.engine import Trajectory, noise_sequence, simulate
from adamem_core.landscapes import LANDSCAPES
from adamem_core.specs import OptimizerSpec

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

EPS = np.finfo(np.float64).eps


def _quad(kappa: float, angle: float = 0.0):
    return LANDSCAPES["ill_conditioned_quadratic"].with_params(kappa=kappa, angle=angle)


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_noisy_gd_settles_at_the_stationary_mean(angle):
    r"""Plain GD with gradient noise on f = ½ xᵀHx: x_{t+1} = (I − ηH)x_t − ησξ_t. Along an
    eigenvector with curvature h the coordinate is an AR(1) process with ρ = 1 − ηh and
    stationary variance v = η²σ²/(1 − ρ²) = ησ²/(h(2 − ηh)), so E[f] = Σᵢ ½hᵢvᵢ
    = Σᵢ ησ²/(2(2 − ηhᵢ)) (the rotation does not change it)."""
    kappa, lr, sigma = 20.0, 0.05, 0.7
    h = np.array([1.0, kappa])
    burn, N, S = 400, 3000, 96
    land = _quad(kappa, angle)
    spec = OptimizerSpec("sgd", lr)
    trs = simulate(land, [spec] * S, (0.0, 0.0), burn + N, noise=sigma, seed=np.arange(S))
    assert all(tr.diverged_at is None for tr in trs)
    late = np.array([tr.f[burn + 1:] for tr in trs])          # (S, N)
    est = late.mean()
    expected = float(np.sum(lr * sigma ** 2 / (2.0 * (2.0 - lr * h))))
    # Tolerance from the estimator's own spread: per coordinate ½h x² with x ~ N(0, v) has
    # variance 2(½hv)², and lag-k autocovariance 2(½hv)²ρ^{2k}; the mean over N steps then has
    # variance ≈ 2(½hv)²(1 + ρ²)/((1 − ρ²)N); seeds are independent (÷S). The transient from
    # x_0 = 0 is ρ^{2·burn} ≤ 0.95^800 ≈ 1e-18 of v: negligible. 5 standard errors.
    rho = 1.0 - lr * h
    v = lr * sigma ** 2 / (h * (2.0 - lr * h))
    var = np.sum(2.0 * (0.5 * h * v) ** 2 * (1 + rho ** 2) / (1 - rho ** 2)) / (N * S)
    tol = 5.0 * math.sqrt(var)
    assert abs(est - expected) <= tol, (est, expected, tol)
    assert tol < 0.03 * expected     # the test can tell σ from σ·1.03 (a real check)


def _noise_seen(land, tr: Trajectory) -> np.ndarray:
    """(g_used − ∇f(x_t)) per step: the noise the optimizer added."""
    return tr.grad - np.asarray(land.grad(tr.x), dtype=np.float64)


def test_common_random_numbers_and_independence_from_the_batch():
    land = LANDSCAPES["rosenbrock"]
    sigma, T = 0.3, 60
    am = OptimizerSpec("am_sgd", 1e-3)
    ema = OptimizerSpec("sgd_ema", 1e-3, beta=0.9)
    alone = simulate(land, [am], land.start, T, noise=sigma, seed=7)[0]
    batch = simulate(land, [ema, am, am, OptimizerSpec("am_adamw", 0.02)], land.start, T,
                     noise=sigma, seed=[7, 3, 7, 11])
    # every run saw exactly σ·ξ of its own seed, whoever shared the call: the difference is
    # the rounding of g + σξ − g, at most an ulp of |g| + σ|ξ| per coordinate (×2 margin)
    for tr, seed in zip(batch + [alone], (7, 3, 7, 11, 7)):
        seen = _noise_seen(land, tr)
        xi = noise_sequence(seed, T)
        bound = 2 * EPS * (np.abs(tr.grad) + sigma * np.abs(xi))
        assert np.all(np.abs(seen - sigma * xi) <= bound), seed
    # same spec and seed: the same run, alone or in a batch. The batched ops are elementwise
    # on rows; NumPy may dispatch a different SIMD loop for another batch length, so allow a
    # few ulps per step: 4 ε |x| × T steps (the run is not chaotic at this η).
    tol = 4 * EPS * T * (1 + np.nanmax(np.abs(alone.x)))
    assert np.nanmax(np.abs(batch[2].x - alone.x)) <= tol
    assert np.nanmax(np.abs(batch[2].x - batch[0].x)) > 1e-6      # EMA ≠ AM (sanity)
    # different seeds: different runs
    assert np.nanmax(np.abs(batch[1].x - batch[2].x)) > 1e-4
    # same seed, same call: identical (literally the same arithmetic on two rows)
    twin = simulate(land, [am, am], land.start, T, noise=sigma, seed=[5, 5])
    assert np.array_equal(twin[0].x, twin[1].x)
    again = simulate(land, [am, am], land.start, T, noise=sigma, seed=[5, 5])
    assert np.array_equal(again[0].x, twin[0].x)


def test_f_stays_noise_free_and_grad_is_the_used_one():
    land = _quad(100.0)
    tr = simulate(land, [OptimizerSpec("sgd", 0.005)], (-2.6, 0.8), 40, noise=2.0, seed=1)[0]
    f_true = np.asarray(land.value(tr.x), dtype=np.float64)
    assert np.allclose(tr.f, f_true, rtol=4 * EPS, atol=0)
    # plain GD: x_{t+1} = x_t − η g_t with the recorded (noisy) g_t
    step = tr.x[:-1] - 0.005 * tr.grad[:-1]
    assert np.allclose(tr.x[1:], step, rtol=2 * EPS, atol=2 * EPS)
    assert np.abs(tr.grad - np.asarray(land.grad(tr.x))).max() > 0.5   # the noise is there


def test_noise_zero_is_the_noise_free_engine():
    land = LANDSCAPES["beale"]
    specs = [OptimizerSpec("am_sgd", 0.03), OptimizerSpec("sgd_ema", 0.03, beta=0.9),
             OptimizerSpec("am_adamw", 0.05)]
    a = simulate(land, specs, land.start, 80)
    b = simulate(land, specs, land.start, 80, noise=0.0, seed=12345)
    for ta, tb in zip(a, b):
        for k in ("x", "f", "grad", "direction", "beta", "model_beta", "loss_gap"):
            assert np.array_equal(getattr(ta, k), getattr(tb, k), equal_nan=True), k
        assert ta.diverged_at == tb.diverged_at
    c = simulate(land, specs, land.start, 80, noise=1e-3, seed=0)
    assert not np.array_equal(a[0].x, c[0].x, equal_nan=True)


def test_per_run_starts():
    land = _quad(10.0)
    spec = OptimizerSpec("am_sgd", 0.05)
    starts = np.array([[1.0, 2.0], [-2.0, 0.5]])
    both = simulate(land, [spec, spec], starts, 30)
    for i in range(2):
        one = simulate(land, [spec], starts[i], 30)[0]
        assert np.allclose(both[i].x, one.x, rtol=0, atol=4 * EPS * 30 * 3)
        assert np.array_equal(both[i].x[0], starts[i])


@pytest.mark.parametrize("kw, msg", [
    (dict(noise=-1.0), "noise"), (dict(noise=float("nan")), "noise"),
    (dict(noise=0.1, seed=1.5), "seed"), (dict(noise=0.1, seed=[1, 2, 3]), "seed"),
    (dict(noise=0.1, seed=-3), "seed"), (dict(noise=[0.1, 0.2, 0.3]), "noise")])
def test_bad_noise_arguments(kw, msg):
    land = _quad(10.0)
    with pytest.raises(ValueError, match=msg):
        simulate(land, [OptimizerSpec("sgd", 0.1)] * 2, (1.0, 1.0), 5, **kw)
    with pytest.raises(ValueError, match="start"):
        simulate(land, [OptimizerSpec("sgd", 0.1)] * 2, np.zeros((3, 2)), 5)
