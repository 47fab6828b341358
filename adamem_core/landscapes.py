"""A catalogue of 2-D test functions for the AdaMem lab.

Every entry of :data:`LANDSCAPES` is a :class:`~adamem_core.landscape_base.Landscape`:

* ``value(xy)`` takes a NumPy array *or* a torch tensor of shape (..., 2) and returns shape
  (...); on a tensor it is built from torch operations, so autograd works through it (the real
  ``torch.optim`` optimizers can run on it);
* ``grad(xy)`` -> (..., 2) and ``hessian(xy)`` -> (..., 2, 2) are exact, hand-written formulas
  in NumPy float64, vectorised over the leading dimensions (the 2-D engine calls them thousands of
  times on small batches, so they are plain array arithmetic);
* ``minima`` lists *all* global minimisers with their values (``[]`` when f is unbounded below);
  the non-rational ones are refined with Newton's method at import (a few 2x2 solves);
* ``start`` and ``lr`` ("sgd": a step size at which plain gradient descent from ``start`` does not
  blow up on the way, except where the scene is *about* instability; "adamw": a step of the order of
  1-5 % of the domain) give a scene that tells something about momentum, summed up in ``note``.

Families with parameters (``ill_conditioned_quadratic``: ``kappa``, ``angle``) carry a ``factory``,
so ``LANDSCAPES["ill_conditioned_quadratic"].with_params(kappa=10)`` builds a new member.

Sources for the standard functions, domains and minima: S. Surjanovic and D. Bingham, *Virtual
Library of Simulation Experiments* (sfu.ca/~ssurjano); M. Jamil and X.-S. Yang, "A literature survey
of benchmark functions for global optimization problems" (2013); S. Boyd and L. Vandenberghe,
*Convex Optimization*, ex. 9.20 (the log-sum-exp scene).

This module imports only NumPy (torch is used only if the caller passes a tensor).
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

import numpy as np

from .landscape_base import Landscape, ParamSpec

__all__ = ["LANDSCAPES", "LANDSCAPE_NAMES", "get_landscape"]

PI = math.pi
TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------- helpers

def _xp(xy: Any) -> tuple[Any, Any]:
    """(namespace, array): ``torch`` for a torch tensor, else ``numpy`` with a float64 array."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(xy, torch.Tensor):
        return torch, xy
    return np, np.asarray(xy, dtype=np.float64)


def _xy(xy: Any) -> tuple[Any, Any, Any]:
    xp, a = _xp(xy)
    return xp, a[..., 0], a[..., 1]


def _np_xy(xy: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(xy, dtype=np.float64)
    return a[..., 0], a[..., 1]


def _g(gx: Any, gy: Any, x: np.ndarray) -> np.ndarray:
    """Stack two gradient components (arrays or scalars) into shape x.shape + (2,)."""
    out = np.empty((x.shape if type(x) is np.ndarray else np.shape(x)) + (2,))
    out[..., 0] = gx
    out[..., 1] = gy
    return out


def _h(hxx: Any, hxy: Any, hyy: Any, x: np.ndarray) -> np.ndarray:
    """Assemble a symmetric Hessian of shape x.shape + (2, 2)."""
    out = np.empty(np.shape(x) + (2, 2))
    out[..., 0, 0] = hxx
    out[..., 0, 1] = hxy
    out[..., 1, 0] = hxy
    out[..., 1, 1] = hyy
    return out


def _newton(grad: Callable, hessian: Callable, p: tuple[float, float], steps: int = 30
            ) -> tuple[float, float]:
    """Refine a stationary point by Newton's method on the gradient."""
    z = np.array(p, dtype=np.float64)
    for _ in range(steps):
        dz = np.linalg.solve(hessian(z), grad(z))
        z = z - dz
        if np.max(np.abs(dz)) < 1e-15 * (1.0 + np.max(np.abs(z))):
            break
    return float(z[0]), float(z[1])


def _refined(value: Callable, grad: Callable, hessian: Callable,
             approx: list[tuple[float, float]]) -> list[tuple[tuple[float, float], float]]:
    out = []
    for p in approx:
        q = _newton(grad, hessian, p)
        out.append((q, float(value(np.array(q)))))
    return out


# --------------------------------------------------------------------------- quadratics

def _quadratic() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return 0.5 * (x * x + y * y)

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(x, y, x)

    def hessian(xy):
        x, _ = _np_xy(xy)
        return _h(1.0, 0.0, 1.0, x)

    return Landscape(
        name="quadratic", title="Isotropic quadratic",
        latex=r"f(x, y) = \tfrac12\,(x^2 + y^2)",
        value=value, grad=grad, hessian=hessian,
        domain=((-3.0, 3.0), (-3.0, 3.0)),
        minima=[((0.0, 0.0), 0.0)],
        start=(-2.5, 2.0),
        lr={"sgd": 0.1, "adamw": 0.05},
        note="A round bowl: the gradient already points at the minimum, so memory only "
             "rescales the step — it helps when η is small and only adds overshoot when η is "
             "large.",
        convex=True,
    )


ILL_SPECS = {
    "kappa": ParamSpec("condition number κ", 100.0, 1.0, 1e4, log=True, latex=r"\kappa"),
    "angle": ParamSpec("rotation θ (degrees)", 0.0, -90.0, 90.0, latex=r"\theta"),
}


def ill_conditioned_quadratic(kappa: float = 100.0, angle: float = 0.0) -> Landscape:
    """f = ½(p² + κ q²) with (p, q) = (x, y) rotated by ``angle`` degrees; Hessian eigenvalues 1, κ.

    p = cos θ x + sin θ y, q = −sin θ x + cos θ y; minimiser (0, 0), value 0. The largest curvature
    is L = κ, so plain gradient descent is stable only for η < 2/κ, and EMA momentum
    d ← βd + (1−β)g only for η < 2(1+β)/((1−β)κ).
    """
    kappa = float(kappa)
    angle = float(angle)
    th = math.radians(angle)
    c, s = math.cos(th), math.sin(th)
    axx = c * c + kappa * s * s
    axy = (1.0 - kappa) * c * s
    ayy = s * s + kappa * c * c

    def value(xy):
        _, x, y = _xy(xy)
        p = c * x + s * y
        q = -s * x + c * y
        return 0.5 * (p * p + kappa * q * q)

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(axx * x + axy * y, axy * x + ayy * y, x)

    def hessian(xy):
        x, _ = _np_xy(xy)
        return _h(axx, axy, ayy, x)

    return Landscape(
        name="ill_conditioned_quadratic", title="Ill-conditioned quadratic (κ, θ)",
        latex=r"f(x, y) = \tfrac12\,(p^2 + \kappa\, q^2),\quad "
              r"\begin{pmatrix} p \\ q \end{pmatrix} = "
              r"\begin{pmatrix} \cos\theta & \sin\theta \\ -\sin\theta & \cos\theta \end{pmatrix}"
              r"\begin{pmatrix} x \\ y \end{pmatrix}",
        value=value, grad=grad, hessian=hessian,
        domain=((-3.0, 3.0), (-3.0, 3.0)),
        minima=[((0.0, 0.0), 0.0)],
        start=(-2.6, 0.8),
        # 0.1 is the default scene (η·L = 10 at κ = 100: plain GD diverges, momentum does not);
        # for larger κ keep η·L = 10.
        lr={"sgd": 0.1 * min(1.0, 100.0 / kappa), "adamw": 0.05},
        note="A narrow valley: plain GD zig-zags across it; momentum (fixed or adaptive) "
             "builds speed along it.",
        convex=True,
        params={"kappa": kappa, "angle": angle},
        param_specs=dict(ILL_SPECS),
        factory=ill_conditioned_quadratic,
    )


def _booth() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    def grad(xy):
        x, y = _np_xy(xy)
        a = x + 2 * y - 7
        b = 2 * x + y - 5
        return _g(2 * a + 4 * b, 4 * a + 2 * b, x)

    def hessian(xy):
        x, _ = _np_xy(xy)
        return _h(10.0, 8.0, 10.0, x)

    return Landscape(
        name="booth", title="Booth",
        latex=r"f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        minima=[((1.0, 3.0), 0.0)],
        start=(-7.0, -6.0),
        lr={"sgd": 0.05, "adamw": 0.3},
        note="A tilted quadratic bowl (κ = 9): mild ill-conditioning, where a little momentum "
             "helps and a lot of it only adds spirals.",
        convex=True,
    )


def _matyas() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return 0.26 * (x * x + y * y) - 0.48 * x * y

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x, x)

    def hessian(xy):
        x, _ = _np_xy(xy)
        return _h(0.52, -0.48, 0.52, x)

    return Landscape(
        name="matyas", title="Matyas",
        latex=r"f(x, y) = 0.26\,(x^2 + y^2) - 0.48\,xy",
        value=value, grad=grad, hessian=hessian,
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        minima=[((0.0, 0.0), 0.0)],
        start=(-8.0, 2.0),
        lr={"sgd": 1.0, "adamw": 0.3},
        note="A flat diagonal trough (curvatures 1 and 0.04): gradient descent crawls along "
             "the floor, momentum accumulates the small, consistent gradients.",
        convex=True,
    )


# Boyd & Vandenberghe's example f = log(e^{x+3y-0.1} + e^{x-3y-0.1} + e^{-x-0.1}).
_LSE_A = np.array([[1.0, 3.0], [1.0, -3.0], [-1.0, 0.0]])
_LSE_B = -0.1


def _log_sum_exp() -> Landscape:
    def _z(xp, x, y):
        return xp.stack([x + 3 * y + _LSE_B, x - 3 * y + _LSE_B, -x + _LSE_B], -1)

    def value(xy):
        xp, x, y = _xy(xy)
        z = _z(xp, x, y)
        if xp is np:
            m = np.max(z, axis=-1)
            return m + np.log(np.sum(np.exp(z - m[..., None]), axis=-1))
        return xp.logsumexp(z, dim=-1)

    def _weights(xy):
        x, y = _np_xy(xy)
        z = _z(np, x, y)
        w = np.exp(z - np.max(z, axis=-1, keepdims=True))
        return x, w / np.sum(w, axis=-1, keepdims=True)

    def grad(xy):
        x, w = _weights(xy)
        return np.broadcast_to(w @ _LSE_A, np.shape(x) + (2,)).copy()

    def hessian(xy):
        x, w = _weights(xy)
        g = w @ _LSE_A
        second = np.einsum("...i,ij,ik->...jk", w, _LSE_A, _LSE_A)
        return second - g[..., :, None] * g[..., None, :]

    # Minimiser: y = 0 by symmetry, and 2 e^{x} = e^{-x}, i.e. x = -ln(2)/2;
    # value -0.1 + log(2·2^{-1/2} + 2^{1/2}) = -0.1 + 1.5 ln 2.
    x_star = -0.5 * math.log(2.0)
    return Landscape(
        name="log_sum_exp", title="Log-sum-exp (Boyd's example)",
        latex=r"f(x, y) = \log\!\left(e^{x + 3y - 0.1} + e^{x - 3y - 0.1} + e^{-x - 0.1}\right)",
        value=value, grad=grad, hessian=hessian,
        domain=((-3.0, 3.0), (-2.0, 2.0)),
        minima=[((x_star, 0.0), 1.5 * math.log(2.0) - 0.1)],
        start=(2.5, 1.5),
        lr={"sgd": 0.1, "adamw": 0.05},
        note="Smooth and convex but not quadratic: the slope is nearly constant far away and "
             "curvature appears only near the minimum, so momentum tuned for a bowl must "
             "adapt.",
        convex=True,
    )


# --------------------------------------------------------------------------- valleys

def _rosenbrock() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def grad(xy):
        x, y = _np_xy(xy)
        r = y - x * x
        return _g(-2 * (1 - x) - 400 * x * r, 200 * r, x)

    def value_and_grad(xy):   # value and grad above, sharing 1 − x and y − x²
        x, y = _np_xy(xy)     # (float literals: the same numbers, NumPy takes them faster)
        omx = 1.0 - x
        r = y - x * x
        return omx ** 2 + 100.0 * r ** 2, _g(-2.0 * omx - 400.0 * x * r, 200.0 * r, x)

    def hessian(xy):
        x, y = _np_xy(xy)
        return _h(2 - 400 * (y - x * x) + 800 * x * x, -400 * x, 200.0, x)

    return Landscape(
        name="rosenbrock", title="Rosenbrock",
        latex=r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
        value=value, grad=grad, hessian=hessian, value_and_grad=value_and_grad,
        domain=((-2.0, 2.0), (-1.0, 3.0)),
        minima=[((1.0, 1.0), 0.0)],
        start=(-1.2, 1.0),
        lr={"sgd": 1e-3, "adamw": 0.05},
        note="A curved banana valley: the iterate reaches the floor quickly, then crawls "
             "along its bend, and momentum speeds up the crawl.",
        convex=False,
    )


CURVED_VALLEY_KAPPA = 25.0


def _curved_valley() -> Landscape:
    c = 0.5 * CURVED_VALLEY_KAPPA

    def value(xy):
        _, x, y = _xy(xy)
        u = x * x + y * y - 1
        return c * u * u + (x - 1) ** 2 + y * y

    def grad(xy):
        x, y = _np_xy(xy)
        u = x * x + y * y - 1
        return _g(4 * c * u * x + 2 * (x - 1), 4 * c * u * y + 2 * y, x)

    def hessian(xy):
        x, y = _np_xy(xy)
        u = x * x + y * y - 1
        return _h(4 * c * (u + 2 * x * x) + 2, 8 * c * x * y, 4 * c * (u + 2 * y * y) + 2, x)

    # Both terms are >= 0 and vanish together only at (1, 0).
    return Landscape(
        name="curved_valley", title="Curved (ring) valley",
        latex=r"f(x, y) = \tfrac{25}{2}\,(x^2 + y^2 - 1)^2 + (x - 1)^2 + y^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        minima=[((1.0, 0.0), 0.0)],
        start=(-0.6, 1.0),
        lr={"sgd": 0.01, "adamw": 0.02},
        note="A narrow valley bent into a ring: memory speeds up the trip round the bend, "
             "but a long fixed memory keeps the old heading and cuts across the ring.",
        convex=False,
    )


# --------------------------------------------------------------------------- classic benchmarks

def _beale() -> Landscape:
    cs = (1.5, 2.25, 2.625)

    def value(xy):
        _, x, y = _xy(xy)
        return ((cs[0] - x + x * y) ** 2 + (cs[1] - x + x * y ** 2) ** 2
                + (cs[2] - x + x * y ** 3) ** 2)

    def _terms(xy):
        x, y = _np_xy(xy)
        out = []
        for k, ck in enumerate(cs, start=1):
            t = ck - x + x * y ** k
            tx = y ** k - 1
            ty = k * x * y ** (k - 1)
            txy = k * y ** (k - 1)
            tyy = k * (k - 1) * x * y ** (k - 2) if k >= 2 else 0.0
            out.append((t, tx, ty, txy, tyy))
        return x, out

    def grad(xy):
        x, terms = _terms(xy)
        gx = sum(2 * t * tx for t, tx, _, _, _ in terms)
        gy = sum(2 * t * ty for t, _, ty, _, _ in terms)
        return _g(gx, gy, x)

    def hessian(xy):
        x, terms = _terms(xy)
        hxx = sum(2 * tx * tx for _, tx, _, _, _ in terms)
        hxy = sum(2 * (tx * ty + t * txy) for t, tx, ty, txy, _ in terms)
        hyy = sum(2 * (ty * ty + t * tyy) for t, _, ty, _, tyy in terms)
        return _h(hxx, hxy, hyy, x)

    return Landscape(
        name="beale", title="Beale",
        latex=r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-4.5, 4.5), (-4.5, 4.5)),
        minima=[((3.0, 0.5), 0.0)],
        start=(1.0, 1.5),
        lr={"sgd": 0.03, "adamw": 0.1},
        note="Flat plateaus next to steep walls: a fixed large β that speeds up the plateau "
             "crashes into the wall, an adaptive β can brake in time.",
        convex=False,
    )


def _himmelblau() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def grad(xy):
        x, y = _np_xy(xy)
        a = x * x + y - 11
        b = x + y * y - 7
        return _g(4 * x * a + 2 * b, 2 * a + 4 * y * b, x)

    def hessian(xy):
        x, y = _np_xy(xy)
        a = x * x + y - 11
        b = x + y * y - 7
        return _h(4 * a + 8 * x * x + 2, 4 * (x + y), 2 + 4 * b + 8 * y * y, x)

    # At each minimiser both squares vanish, so every minimum value is exactly 0.
    minima = [(p, 0.0) for p, _ in _refined(value, grad, hessian, [
        (3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)])]
    return Landscape(
        name="himmelblau", title="Himmelblau",
        latex=r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        minima=minima,
        start=(0.0, 4.0),
        lr={"sgd": 0.01, "adamw": 0.05},
        note="Four equal minima around a hill: how much memory an optimizer keeps decides "
             "which basin it ends up in.",
        convex=False,
    )


def _rastrigin() -> Landscape:
    def value(xy):
        xp, x, y = _xy(xy)
        return 20 + x * x + y * y - 10 * (xp.cos(TWO_PI * x) + xp.cos(TWO_PI * y))

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(2 * x + 20 * PI * np.sin(TWO_PI * x), 2 * y + 20 * PI * np.sin(TWO_PI * y), x)

    def hessian(xy):
        x, y = _np_xy(xy)
        k = 40 * PI * PI
        return _h(2 + k * np.cos(TWO_PI * x), 0.0, 2 + k * np.cos(TWO_PI * y), x)

    return Landscape(
        name="rastrigin", title="Rastrigin",
        latex=r"f(x, y) = 20 + x^2 + y^2 - 10\,(\cos 2\pi x + \cos 2\pi y)",
        value=value, grad=grad, hessian=hessian,
        domain=((-5.12, 5.12), (-5.12, 5.12)),
        minima=[((0.0, 0.0), 0.0)],
        start=(-1.3, 1.1),
        lr={"sgd": 0.004, "adamw": 0.05},
        note="A bowl covered in bumps: plain descent stops in the first local minimum; "
             "momentum can roll over a bump or two before it settles.",
        convex=False,
    )


ACKLEY_EPS = 0.05


def _ackley() -> Landscape:
    eps = ACKLEY_EPS
    # Shift so that f(0, 0) = 0 exactly: -20 e^0 - e^1 + e + 20.
    const = math.e + 20.0

    def value(xy):
        xp, x, y = _xy(xy)
        r = xp.sqrt(0.5 * (x * x + y * y) + eps * eps) - eps
        return (-20 * xp.exp(-0.2 * r)
                - xp.exp(0.5 * (xp.cos(TWO_PI * x) + xp.cos(TWO_PI * y))) + const)

    def _parts(xy):
        x, y = _np_xy(xy)
        s = np.sqrt(0.5 * (x * x + y * y) + eps * eps)
        e1 = np.exp(-0.2 * (s - eps))
        e2 = np.exp(0.5 * (np.cos(TWO_PI * x) + np.cos(TWO_PI * y)))
        return x, y, s, e1, e2

    def grad(xy):
        x, y, s, e1, e2 = _parts(xy)
        # d/dx_i [-20 e^{-0.2 r}] = 4 e^{-0.2 r} r_i with r_i = x_i / (2 s)
        return _g(2 * e1 * x / s + e2 * PI * np.sin(TWO_PI * x),
                  2 * e1 * y / s + e2 * PI * np.sin(TWO_PI * y), x)

    def hessian(xy):
        x, y, s, e1, e2 = _parts(xy)
        rx, ry = 0.5 * x / s, 0.5 * y / s
        rxx = 0.5 / s - rx * rx / s
        ryy = 0.5 / s - ry * ry / s
        rxy = -rx * ry / s
        sx, sy = np.sin(TWO_PI * x), np.sin(TWO_PI * y)
        p2 = PI * PI
        hxx = 4 * e1 * (rxx - 0.2 * rx * rx) - e2 * p2 * sx * sx + 2 * p2 * e2 * np.cos(TWO_PI * x)
        hyy = 4 * e1 * (ryy - 0.2 * ry * ry) - e2 * p2 * sy * sy + 2 * p2 * e2 * np.cos(TWO_PI * y)
        hxy = 4 * e1 * (rxy - 0.2 * rx * ry) - e2 * p2 * sx * sy
        return _h(hxx, hxy, hyy, x)

    return Landscape(
        name="ackley", title="Ackley (smoothed at the origin)",
        latex=r"f(x, y) = -20\,e^{-0.2\,r_\varepsilon} - e^{\frac12(\cos 2\pi x + \cos 2\pi y)} "
              r"+ e + 20,\quad r_\varepsilon = \sqrt{\tfrac12(x^2 + y^2) + \varepsilon^2}"
              r" - \varepsilon,\ \varepsilon = 0.05",
        value=value, grad=grad, hessian=hessian,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        minima=[((0.0, 0.0), 0.0)],
        start=(-1.3, 1.1),
        lr={"sgd": 0.02, "adamw": 0.05},
        note="A rippled plateau around a sharp central funnel: the ripples trap plain "
             "descent, while a long memory can roll through them into the funnel.",
        convex=False,
    )


def _three_hump_camel() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return 2 * x ** 2 - 1.05 * x ** 4 + x ** 6 / 6 + x * y + y * y

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(4 * x - 4.2 * x ** 3 + x ** 5 + y, x + 2 * y, x)

    def hessian(xy):
        x, _ = _np_xy(xy)
        return _h(4 - 12.6 * x * x + 5 * x ** 4, 1.0, 2.0, x)

    return Landscape(
        name="three_hump_camel", title="Three-hump camel",
        latex=r"f(x, y) = 2x^2 - 1.05\,x^4 + \tfrac{x^6}{6} + xy + y^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        minima=[((0.0, 0.0), 0.0)],
        start=(1.0, 1.5),
        lr={"sgd": 0.02, "adamw": 0.02},
        note="A central minimum between two shallow side basins: the start decides the "
             "basin, and memory decides how fast the iterate gets to the bottom.",
        convex=False,
    )


def _six_hump_camel() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return (4 - 2.1 * x ** 2 + x ** 4 / 3) * x ** 2 + x * y + (-4 + 4 * y ** 2) * y ** 2

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(8 * x - 8.4 * x ** 3 + 2 * x ** 5 + y, x - 8 * y + 16 * y ** 3, x)

    def hessian(xy):
        x, y = _np_xy(xy)
        return _h(8 - 25.2 * x * x + 10 * x ** 4, 1.0, -8 + 48 * y * y, x)

    minima = _refined(value, grad, hessian, [(0.0898, -0.7126), (-0.0898, 0.7126)])
    return Landscape(
        name="six_hump_camel", title="Six-hump camel",
        latex=r"f(x, y) = \left(4 - 2.1\,x^2 + \tfrac{x^4}{3}\right)x^2 + xy "
              r"+ (-4 + 4y^2)\,y^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-2.0, 2.0), (-1.0, 1.0)),
        minima=minima,
        start=(-1.6, -0.8),
        lr={"sgd": 0.02, "adamw": 0.02},
        note="Two global minima and four local ones packed close together: from here plain "
             "descent stops in the nearest side basin and a long memory rolls into another.",
        convex=False,
    )


def _goldstein_price() -> Landscape:
    # f = A · B with A = 1 + s² P(x, y), s = x + y + 1 and B = 30 + t² Q(x, y), t = 2x - 3y.
    def value(xy):
        _, x, y = _xy(xy)
        s = x + y + 1
        t = 2 * x - 3 * y
        p = 19 - 14 * x + 3 * x * x - 14 * y + 6 * x * y + 3 * y * y
        q = 18 - 32 * x + 12 * x * x + 48 * y - 36 * x * y + 27 * y * y
        return (1 + s * s * p) * (30 + t * t * q)

    def _factor(h, a, r, rd, rdd):
        """g = c + h² r with h linear (gradient a): derivatives of h² r."""
        v = h * h * r
        d = [2 * h * a[i] * r + h * h * rd[i] for i in range(2)]
        dd = [[2 * a[i] * a[j] * r + 2 * h * (a[i] * rd[j] + a[j] * rd[i]) + h * h * rdd[i][j]
               for j in range(2)] for i in range(2)]
        return v, d, dd

    def _parts(xy):
        x, y = _np_xy(xy)
        s = x + y + 1
        t = 2 * x - 3 * y
        p = 19 - 14 * x + 3 * x * x - 14 * y + 6 * x * y + 3 * y * y
        pd = (-14 + 6 * x + 6 * y, -14 + 6 * x + 6 * y)
        q = 18 - 32 * x + 12 * x * x + 48 * y - 36 * x * y + 27 * y * y
        qd = (-32 + 24 * x - 36 * y, 48 - 36 * x + 54 * y)
        av, ad, add = _factor(s, (1.0, 1.0), p, pd, ((6.0, 6.0), (6.0, 6.0)))
        bv, bd, bdd = _factor(t, (2.0, -3.0), q, qd, ((24.0, -36.0), (-36.0, 54.0)))
        return x, 1 + av, ad, add, 30 + bv, bd, bdd

    def grad(xy):
        x, a, ad, _, b, bd, _ = _parts(xy)
        return _g(ad[0] * b + a * bd[0], ad[1] * b + a * bd[1], x)

    def hessian(xy):
        x, a, ad, add, b, bd, bdd = _parts(xy)

        def hij(i, j):
            return add[i][j] * b + ad[i] * bd[j] + ad[j] * bd[i] + a * bdd[i][j]

        return _h(hij(0, 0), hij(0, 1), hij(1, 1), x)

    return Landscape(
        name="goldstein_price", title="Goldstein–Price",
        latex=r"f(x, y) = \left[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)\right]"
              r"\left[30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)\right]",
        value=value, grad=grad, hessian=hessian,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        minima=[((0.0, -1.0), 3.0)],
        start=(-0.6, 0.4),
        lr={"sgd": 3e-5, "adamw": 0.01},
        note="Values spanning six orders of magnitude: plain descent stalls in a side basin, "
             "a fixed large β explodes on the cliffs, an adaptive β can get through.",
        convex=False,
    )


def _styblinski_tang() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return 0.5 * (x ** 4 - 16 * x ** 2 + 5 * x + y ** 4 - 16 * y ** 2 + 5 * y)

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(2 * x ** 3 - 16 * x + 2.5, 2 * y ** 3 - 16 * y + 2.5, x)

    def hessian(xy):
        x, y = _np_xy(xy)
        return _h(6 * x * x - 16, 0.0, 6 * y * y - 16, x)

    # Each coordinate minimises x⁴ - 16x² + 5x: the smallest root of 4x³ - 32x + 5 = 0.
    z = -2.9
    for _ in range(50):
        dz = (4 * z ** 3 - 32 * z + 5) / (12 * z * z - 32)
        z -= dz
        if abs(dz) < 1e-16:
            break
    f1 = 0.5 * (z ** 4 - 16 * z ** 2 + 5 * z)
    return Landscape(
        name="styblinski_tang", title="Styblinski–Tang",
        latex=r"f(x, y) = \tfrac12\left(x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y\right)",
        value=value, grad=grad, hessian=hessian,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        minima=[((z, z), 2 * f1)],
        start=(-1.0, 4.0),
        lr={"sgd": 0.01, "adamw": 0.05},
        note="Four basins of different depths: plain descent settles in the basin next to the "
             "start; enough momentum carries the iterate across the ridge to the deepest.",
        convex=False,
    )


# --------------------------------------------------------------------------- saddles

def _saddle() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return x * x - y * y

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(2 * x, -2 * y, x)

    def hessian(xy):
        x, _ = _np_xy(xy)
        return _h(2.0, 0.0, -2.0, x)

    return Landscape(
        name="saddle", title="Saddle",
        latex=r"f(x, y) = x^2 - y^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        minima=[],
        start=(-1.8, 0.02),
        lr={"sgd": 0.02, "adamw": 0.02},
        note="No minimum: from a start almost on the ridge, descent first slides towards the "
             "saddle point, then escapes along y; memory of the inward pull delays the "
             "escape.",
        convex=False,
    )


def _monkey_saddle() -> Landscape:
    def value(xy):
        _, x, y = _xy(xy)
        return x ** 3 - 3 * x * y * y

    def grad(xy):
        x, y = _np_xy(xy)
        return _g(3 * x * x - 3 * y * y, -6 * x * y, x)

    def hessian(xy):
        x, y = _np_xy(xy)
        return _h(6 * x, -6 * y, -6 * x, x)

    return Landscape(
        name="monkey_saddle", title="Monkey saddle",
        latex=r"f(x, y) = x^3 - 3xy^2",
        value=value, grad=grad, hessian=hessian,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        minima=[],
        start=(1.8, 0.05),
        lr={"sgd": 0.02, "adamw": 0.02},
        note="A flat, degenerate saddle with three downhill valleys: plain descent turns "
             "into the nearest one, momentum coasts through the flat centre into the one "
             "opposite.",
        convex=False,
    )


# --------------------------------------------------------------------------- catalogue

LANDSCAPES: dict[str, Landscape] = {
    land.name: land for land in (
        ill_conditioned_quadratic(),
        _beale(),
        _rosenbrock(),
        _curved_valley(),
        _quadratic(),
        _matyas(),
        _booth(),
        _log_sum_exp(),
        _saddle(),
        _monkey_saddle(),
        _himmelblau(),
        _six_hump_camel(),
        _three_hump_camel(),
        _styblinski_tang(),
        _rastrigin(),
        _ackley(),
        _goldstein_price(),
    )
}

#: Display order: the story-telling scenes first (the default scene leads).
LANDSCAPE_NAMES: tuple[str, ...] = tuple(LANDSCAPES)


def get_landscape(name: str, **params: float) -> Landscape:
    """The landscape ``name``, with ``params`` applied (clamped to their ranges)."""
    try:
        land = LANDSCAPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown landscape {name!r}; valid names: "
                         f"{', '.join(LANDSCAPE_NAMES)}") from None
    return land.with_params(**params) if params else land
