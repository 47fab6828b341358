r"""The two-plane model of adaptive memory momentum: the single source of truth for its maths.

Reference: V. Topollai and A. Choromanska, "Adaptive Memory Momentum via a Model-Based Framework
for Deep Learning Optimization", arXiv 2510.04988 (AISTATS 2026). The derivation and every
convention followed here are written down in ``docs/method.md`` (section anchors ``#dual``, …).

Every function is pure and works on NumPy arrays *and* torch tensors with any leading batch
shape: inner products run over ``dim`` (an int, a tuple, or ``None`` for all dimensions).
``AMSGD``/``AMAdamW`` (``optim.py``), the batched 2-D engine (``engine.py``) and the figures all
call these functions, so what the app draws is exactly what the optimizers compute.

Notation: iterate :math:`x_t`, gradient :math:`g`, memory :math:`d`, step size :math:`\eta`,
model weight :math:`\lambda`, :math:`u = x - x_t`.

**AM-SGD.** Planes :math:`\ell_g = f(x_t) + \langle g, u\rangle`,
:math:`\ell_m = \hat f_t + \langle d, u\rangle`; model

.. math::
    m_t(x) = \max\{\ell_g, \ell_m\} + \frac{\|u\|^2}{2\eta} + \frac{\lambda}{2\eta}\|u + \eta d\|^2 .

For :math:`\beta\in[0,1]` (the max written as :math:`(1-\beta)\ell_g + \beta\ell_m`) the minimiser
is :math:`u(\beta) = -\eta[(1-\beta)g + (\beta+\lambda)d]/(1+\lambda)` and the dual
:math:`D(\beta) = \min_u \ldots` is a concave quadratic with
:math:`D'(\beta) = \hat f_t - f(x_t) + \langle d-g, u(\beta)\rangle`. Its maximiser is

.. math::
    \beta_t = \mathrm{clip}\Big(\frac{(1+\lambda)(\hat f_t - f(x_t))/\eta
              - \langle d-g,\, g+\lambda d\rangle}{\|d-g\|^2},\ 0,\ \beta_{\max}\Big),

with the taylor gap :math:`\hat f_t - f(x_t) \approx \eta\langle g, d\rangle` (numerator
:math:`\|g\|^2 + 2\lambda\langle g,d\rangle - \lambda\|d\|^2`), then
:math:`d_{t+1} = [(\beta+\lambda)d + (1-\beta)g]/(1+\lambda)`, :math:`x_{t+1} = x_t - \eta d_{t+1}`.

**AM-AdamW.** With a diagonal preconditioner :math:`P`, decoupled weight decay :math:`\mu` and
:math:`\tilde u = u + \eta\mu x_t` the model is

.. math::
    m_t(x) = \max\{\ell_g, \ell_m\} + \frac{\|\tilde u\|_P^2}{2\eta}
             + \frac{\lambda}{2\eta}\|P\tilde u + \eta d\|^2 ,

whose minimiser for fixed β is :math:`u(\beta) = -\eta\mu x_t - \eta W[g + \lambda P d +
\beta(d-g)]`, :math:`W = P^{-1}(I+\lambda P)^{-1}`. The same stationarity condition gives

.. math::
    \beta_t = \mathrm{clip}\Big(\frac{(\hat f_t - f(x_t))/\eta - \mu\langle d-g, x_t\rangle
              - \langle d-g,\, g+\lambda P d\rangle_W}{\|d-g\|_W^2},\ 0,\ \beta_{\max}\Big),

taylor gap of :func:`taylor_gap` (below), and
:math:`d_{t+1} = (I+\lambda P)^{-1}[(1-\beta)g + (\lambda P+\beta I)d]`,
:math:`x_{t+1} = (1-\eta\mu)x_t - \eta P^{-1}d_{t+1}`. With :math:`P = I`, :math:`\mu = 0` the two
forms give the same β (the AdamW-form numerator and denominator are the SGD form divided by
:math:`1+\lambda`).

Global β over several tensors (or parameter groups with different η, λ) sums each tensor's
contributions weighted by :math:`\eta_i w_i` (``w = 1/(1+\lambda)`` for the SGD form, 1 for the
weighted form): see :func:`combine`.

**Conventions** (one definition each, used by ``AMSGD``, ``AMAdamW`` and the engine):

* *Taylor gap* (:func:`taylor_gap`): the first-order change of f along the step actually taken,
  :math:`\hat f_t - f(x_t) = \langle g_t, x_{t-1} - x_t\rangle`. The previous step was
  :math:`x_t = (1-\eta'\mu')x_{t-1} - \eta' P'^{-1} d_t` (primes: the previous step's η, decoupled
  weight decay μ and preconditioner P; AM-SGD: :math:`P' = I`, :math:`\mu' = 0`), so
  :math:`x_{t-1} - x_t = [\eta' P'^{-1} d_t + \eta'\mu' x_t]/(1-\eta'\mu')` and

  .. math::
      \mathrm{gap}_t = \frac{\eta'\langle g_t, P'^{-1}d_t\rangle + \eta'\mu'\langle g_t, x_t
      \rangle}{1-\eta'\mu'}\qquad(\text{AM-SGD: }\eta'\langle g_t, d_t\rangle).

  With a constant η and μ = 0 (AM-SGD) it is :math:`\eta\langle g, d\rangle` and η drops out of
  β as before. If :math:`\eta'\mu' = 1` (the previous step zeroed x: x_{t−1} is lost) the decay
  part is left out. At the very first step there is no previous step: AM-SGD's
  :math:`d_0 = g_0` acts as a previous step :math:`\eta_0 d_0` (gap :math:`\eta_0\|g_0\|^2`, β = 0
  anyway because d = g); AM-AdamW's :math:`d_0 = 0` gives gap 0. With Nesterov look-ahead the gap
  follows the memory step :math:`\eta' d_t` (the look-ahead's own displacement is not stored).
  Stochastic gradients: g_t is the current mini-batch's gradient, so this is the mini-batch's
  first-order change.
* *First AM-AdamW step* (a tensor whose memory is still AdamW's :math:`m_0 = 0`): β is
  :math:`\beta_{1\max}` and λ is not applied, :math:`d_1 = (1-\beta_{1\max})g_0`, so with
  :math:`P_1 = (1-\beta_{1\max})(\sqrt{\hat v_1}+\epsilon)` the step is exactly AdamW's first step,
  whatever μ and x (:func:`first_step_lam`, :func:`first_step_beta`). The closed form is still
  evaluated (with λ = 0) and reported as ``model_beta``.
* *η = 0* is a normal value: nothing moves, and the state follows the limit :math:`\eta\to0^+` of
  the update (:func:`gap_over_lr`): gap/η → 0 if the gap is 0 (e.g. the previous step was also at
  η = 0), otherwise ±∞, so β → β_max (gap > 0) or 0 (gap < 0); the memory, the second moment and
  the step counters advance as at any η. ``numerator`` and ``unclipped`` are then reported as their
  clipped limits (``unclipped = β``, ``numerator = β·denominator``), so every statistic stays
  finite. In a global β, a tensor or group at η = 0 has weight ω = 0: it does not move, so it
  has no say in β (the limit of its weight); if every η is 0 the weights are the η → 0⁺ limit of
  a common schedule (``kappas`` of :func:`combine`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

try:  # torch is optional for the NumPy users of this module (the engine, the figures)
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

Dim = int | tuple[int, ...] | None


# ----------------------------------------------------------------------------- array helpers
def _is_torch(a: Any) -> bool:
    # (a NumPy array answers first: isinstance against torch.Tensor goes through torch's
    # metaclass, ~0.3 µs, and the 2-D engine asks a few times per step)
    return type(a) is not np.ndarray and torch is not None and isinstance(a, torch.Tensor)


def acc_dtype(dtype: Any) -> Any:
    """Accumulation dtype for inner products: float32 or better (float64 stays float64)."""
    if torch is not None and isinstance(dtype, torch.dtype):
        return torch.float64 if dtype == torch.float64 else torch.float32
    return np.float64


def inner(a: Any, b: Any, dim: Dim = None, weight: Any = None) -> Any:
    r""":math:`\sum a\,b\,w` over ``dim`` (all dimensions when ``None``), accumulated in float32
    or better. Works on NumPy arrays and torch tensors."""
    if type(a) is np.ndarray and weight is None and dim is not None:
        p = a * b
        if dim == -1 and p.shape[-1] == 2:
            # the 2-D engine's hot path, (runs, 2): p₀ + p₁ in one call instead of the
            # reduction's heavier set-up; the same number, bit for bit, except that the
            # reduction (p₀ + (0 + p₁)) turns −0 + −0 into +0 where this keeps −0 (equal zeros)
            return np.add(p[..., 0], p[..., 1])
        return np.add.reduce(p, axis=dim)
    if _is_torch(a):
        acc = acc_dtype(a.dtype)
        if weight is not None:
            a = a * weight
        if dim is None and torch.compiler.is_compiling():   # (a product and a sum fuse with the
            return (a.to(acc) * b.to(acc)).sum()            # rest of a compiled kernel; dot not)
        if dim is None:   # (the optimizers' hot path: no-op conversions skipped)
            a, b = a.reshape(-1), b.reshape(-1)
            return torch.dot(a if a.dtype == acc else a.to(acc),
                             b if b.dtype == acc else b.to(acc))
        return (a.to(acc) * b.to(acc)).sum(dim=dim)
    prod = a * b if weight is None else a * b * weight
    if dim is None:
        return np.sum(prod, dtype=np.float64)
    return np.add.reduce(prod, axis=dim)   # (the engine's hot path: float64 arrays)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if type(cond) is bool:   # Python scalars (the optimizers' β on a CPU host) stay Python
        return a if cond else b
    if _is_torch(cond):
        if _is_torch(a) or _is_torch(b):   # a Python scalar stays one: no host→device copy
            return torch.where(cond, a, b)
        if not _is_torch(a):
            a = torch.as_tensor(a, dtype=b.dtype if _is_torch(b) else torch.float64,
                                device=cond.device)
        if not _is_torch(b):
            b = torch.as_tensor(b, dtype=a.dtype, device=cond.device)
        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def _clip(a: Any, lo: Any, hi: Any) -> Any:
    if type(a) is float and type(hi) is float:   # (NaN stays NaN, as with the arrays)
        return min(max(a, lo), hi)
    if _is_torch(a):
        return a.clamp(min=lo, max=hi) if not _is_torch(hi) else torch.minimum(a.clamp(min=lo), hi)
    return np.minimum(np.maximum(a, lo), hi)


# ----------------------------------------------------------------------------- the closed form
class BetaTerms(NamedTuple):
    """Everything the closed form computed at one step (any batch shape)."""

    beta: Any          # clip(unclipped, 0, beta_max); 0 where the denominator vanishes
    unclipped: Any     # numerator / denominator (0 where the denominator vanishes)
    numerator: Any
    denominator: Any
    gap: Any           # f_hat - f(x_t): the memory plane's height above the gradient plane at x_t


def _inf_limit(gap: Any) -> Any:
    """lim_{η→0⁺} gap/η: 0 where the gap is 0, ±∞ with the gap's sign elsewhere (NaN stays)."""
    if _is_torch(gap):
        return torch.where(gap == 0, torch.zeros_like(gap), torch.sign(gap) * math.inf)
    if isinstance(gap, np.ndarray):
        with np.errstate(invalid="ignore"):
            return np.where(gap == 0, 0.0, np.sign(gap) * np.inf)
    gap = float(gap)
    return 0.0 if gap == 0 else (math.copysign(math.inf, gap) if gap == gap else gap)


def _positive(w: Any) -> bool:
    """True when w is known, without a host read of a device value, to be > 0 everywhere."""
    if isinstance(w, (int, float)):
        return w > 0
    if isinstance(w, np.ndarray):
        return bool(w.size) and w.min() > 0
    return False   # a tensor: handled elementwise (reading it would sync a device)


def gap_over_lr(gap: Any, lr: Any, positive: bool | None = None) -> Any:
    r""":math:`\mathrm{gap}/\eta` with its limit :math:`\eta\to0^+` where η = 0 (0 for a zero
    gap, ±∞ otherwise): the only place the closed form divides by η. ``positive``: the caller's
    ``_positive(lr)``, if it has it already."""
    if _positive(lr) if positive is None else positive:
        return gap / lr
    if isinstance(lr, (int, float)):
        return _inf_limit(gap)
    pos = lr > 0
    return _where(pos, gap / _where(pos, lr, 1.0), _inf_limit(gap))


def _finite_limits(numerator: Any, denominator: Any, beta: Any, unclipped: Any,
                   lr: Any, positive: bool | None = None) -> tuple[Any, Any]:
    """At η = 0 with a nonzero gap the numerator and the unclipped β are ±∞: report their
    clipped limits (numerator = β·denominator, unclipped = β) so every statistic stays finite."""
    if _positive(lr) if positive is None else positive:
        return numerator, unclipped
    if _is_torch(numerator):
        inf = torch.isinf(numerator)
    else:
        inf = np.isinf(numerator)
    return _where(inf, beta * denominator, numerator), _where(inf, beta, unclipped)


def clip_beta(numerator: Any, denominator: Any, beta_max: Any) -> tuple[Any, Any]:
    """(beta, unclipped): numerator/denominator clipped to [0, beta_max]; 0 when the
    denominator is not positive (d = g: the direction does not change whatever beta is)."""
    ok = denominator > 0.0   # (a float: NumPy compares with a Python int more slowly)
    if isinstance(numerator, np.ndarray) and isinstance(denominator, np.ndarray):
        out = (np.zeros(numerator.shape, numerator.dtype) if type(numerator) is np.ndarray
               else np.zeros_like(numerator))   # (np.zeros_like: the same, through Python)
        unclipped = np.divide(numerator, denominator, out=out, where=ok)
    else:
        safe = _where(ok, denominator, 1.0)
        unclipped = _where(ok, numerator / safe, 0.0)
    return _clip(unclipped, 0.0, beta_max), unclipped


def sgd_sums(g: Any, d: Any, dim: Dim = None) -> tuple[Any, Any, Any]:
    r"""(⟨g,g⟩, ⟨g,d⟩, ⟨d,d⟩): the three inner products AM-SGD needs."""
    return inner(g, g, dim), inner(g, d, dim), inner(d, d, dim)


def sgd_sums_each(gs: list, ds: list) -> Any:
    r"""The three inner products of :func:`sgd_sums` for each pair of torch tensors
    ``(gs[i], ds[i])``, as one contiguous float64 tensor of shape ``(3, n)`` (rows ⟨g,g⟩,
    ⟨g,d⟩, ⟨d,d⟩): the optimizers' hot path, the same numbers as :func:`sgd_sums` per tensor
    (each tensor flattened once, one kernel per product, its three one after the other while
    it is in cache, one stack for all)."""
    gg, gd, dd = [], [], []
    for g, d in zip(gs, ds):
        acc = acc_dtype(g.dtype)
        g, d = g.reshape(-1), d.reshape(-1)
        if g.dtype != acc:
            g, d = g.to(acc), d.to(acc)
        gg.append(torch.dot(g, g))
        gd.append(torch.dot(g, d))
        dd.append(torch.dot(d, d))
    return torch.stack(gg + gd + dd).view(3, -1).to(torch.float64)


def taylor_gap_sgd(gd: Any, lr: Any) -> Any:
    r"""AM-SGD's :func:`taylor_gap` from :math:`\langle g, d\rangle`: :math:`\eta'\langle g,
    d\rangle` (η' the previous step's η)."""
    return lr * gd


def taylor_gap(g: Any, d: Any, lr_prev: Any, P_prev: Any = None, wd_prev: Any = 0.0,
               x: Any = None, dim: Dim = None) -> Any:
    r"""The taylor gap: the first-order change of f along the step actually taken,
    :math:`\hat f_t - f(x_t) = \langle g_t, x_{t-1} - x_t\rangle`, where the previous step was
    :math:`x_t = (1-\eta'\mu')x_{t-1} - \eta' P'^{-1}d_t`:

    .. math::
        \langle g_t, x_{t-1}-x_t\rangle = \frac{\eta'\langle g_t, P'^{-1}d_t\rangle
        + \eta'\mu'\langle g_t, x_t\rangle}{1-\eta'\mu'} .

    ``lr_prev`` η', ``P_prev`` P' (``None``: P' = I, AM-SGD), ``wd_prev`` μ' with ``x`` =
    :math:`x_t` (``None`` or μ' = 0: no decay). Where :math:`\eta'\mu' = 1` the decay part is
    left out (x_{t−1} cannot be recovered from x_t). Any batch shape (``dim`` as :func:`inner`)."""
    gd = inner(g, d if P_prev is None else d / P_prev, dim)
    if x is None or (isinstance(wd_prev, (int, float)) and wd_prev == 0.0):
        return lr_prev * gd
    return taylor_gap_from_sums(gd, inner(g, x, dim), lr_prev, wd_prev)


def taylor_gap_factors(lr_prev: Any, wd_prev: Any) -> tuple[Any, Any]:
    r"""(s, m) with :func:`taylor_gap` :math:`= s\,\langle g_t, P'^{-1}d_t + m\,x_t\rangle`:
    :math:`s = \eta'/(1-\eta'\mu')`, :math:`m = \mu'` (where :math:`\eta'\mu' = 1`:
    :math:`s = \eta'`, :math:`m = 0`, the decay part left out as there). NumPy arrays or
    numbers: for a caller whose η' and μ' stay fixed (the 2-D engine), computed once."""
    keep = 1.0 - lr_prev * wd_prev
    ok = keep != 0
    return (np.where(ok, lr_prev / np.where(ok, keep, 1.0), lr_prev),
            np.where(ok, wd_prev, 0.0))


def taylor_gap_along(g: Any, q: Any, x: Any, scale: Any, m: Any, dim: Dim = None) -> Any:
    r""":func:`taylor_gap` as one inner product, from :func:`taylor_gap_factors`' (s, m):
    :math:`s\,\langle g, q + m\,x\rangle` with ``q`` :math:`= P'^{-1}d_t` (the same quantity
    regrouped; where m = 0 it is :math:`\eta'\langle g, q\rangle` to the last bit)."""
    return scale * inner(g, q + m * x, dim)


def taylor_gap_from_sums(gd: Any, gx: Any, lr_prev: Any, wd_prev: Any = 0.0) -> Any:
    r""":func:`taylor_gap` from its inner products, summed by the caller over any set of
    coordinates (one tensor, or each tensor of a batch at once: see :func:`adamw_sum_terms`):
    ``gd`` :math:`=\langle g_t, P'^{-1}d_t\rangle`, ``gx`` :math:`=\langle g_t, x_t\rangle`
    (``None`` or μ' = 0: no decay part)."""
    if gx is None or (isinstance(wd_prev, (int, float)) and wd_prev == 0.0):
        return lr_prev * gd
    decay = lr_prev * wd_prev
    keep = 1.0 - decay
    if isinstance(keep, (int, float)) or (isinstance(keep, np.ndarray) and keep.all()):
        if isinstance(keep, (int, float)) and keep == 0.0:
            return lr_prev * gd
        return (lr_prev * gd + decay * gx) / keep
    ok = keep != 0
    return _where(ok, (lr_prev * gd + _where(ok, decay, 0.0) * gx) / _where(ok, keep, 1.0),
                  lr_prev * gd)


def first_step_lam(lam: Any, first: Any) -> Any:
    r"""λ at AM-AdamW's first step (``first``: the memory is still AdamW's :math:`m_0 = 0`,
    a bool or a boolean array broadcasting against λ): 0, in the model and in the update (there
    is no memory to stay close to); λ elsewhere."""
    if isinstance(first, bool):
        return 0.0 if first else lam
    return _where(first, 0.0, lam)


def first_step_beta(beta: Any, beta1_max: Any, first: Any) -> Any:
    r"""β used at AM-AdamW's first step: :math:`\beta_{1\max}`, so that with λ = 0
    (:func:`first_step_lam`) :math:`d_1 = (1-\beta_{1\max})g` and, with
    :math:`P_1 = (1-\beta_{1\max})(\sqrt{\hat v_1}+\epsilon)`, the step is exactly AdamW's first
    step whatever μ and x; the closed form's β elsewhere."""
    if isinstance(first, bool):
        return beta1_max if first else beta
    return _where(first, beta1_max, beta)


def beta_sgd(gg: Any, gd: Any, dd: Any, lr: Any, lam: Any, beta_max: Any,
             gap: Any = None) -> BetaTerms:
    r"""Closed-form AM-SGD β from the inner products (any batch shape).

    numerator :math:`= (1+\lambda)\,\mathrm{gap}/\eta - \langle d-g, g+\lambda d\rangle`,
    denominator :math:`= \|d-g\|^2`; ``gap=None`` is the taylor gap
    :math:`\eta\langle g,d\rangle` (then numerator :math:`=\|g\|^2 + 2\lambda\langle g,d\rangle
    - \lambda\|d\|^2`, η drops out).
    """
    denominator = dd - 2.0 * gd + gg                       # ‖d − g‖²
    if gap is None:
        gap = taylor_gap_sgd(gd, lr)
        numerator = gg + 2.0 * lam * gd - lam * dd
        lr = 1.0                                           # (no division by η: finite)
    else:
        numerator = (1.0 + lam) * gap_over_lr(gap, lr) - sgd_parts(gg, gd, dd, lam)[1]
    beta, unclipped = clip_beta(numerator, denominator, beta_max)
    numerator, unclipped = _finite_limits(numerator, denominator, beta, unclipped, lr)
    return BetaTerms(beta, unclipped, numerator, denominator, gap)


def sgd_parts(gg: Any, gd: Any, dd: Any, lam: Any) -> tuple[Any, Any, Any]:
    r"""One tensor's parts for :func:`combine`, SGD form: (:math:`\langle g,d\rangle`,
    :math:`\langle d-g, g+\lambda d\rangle`, :math:`\|d-g\|^2`); weight
    :math:`\omega = \eta/(1+\lambda)`."""
    return gd, (gd - gg) + lam * (dd - gd), dd - 2.0 * gd + gg


def sum_weights(omegas: list[float], kappas: list[float] | None = None) -> tuple[float, list[float]]:
    r"""(ω_ref, ŵ): the reference weight and the normalised weights :math:`\hat w_i = \omega_i/
    \omega_{\mathrm{ref}}` of a global β over parts with weights ω_i (Python numbers).

    :math:`\omega_{\mathrm{ref}} = \omega_0`, or the largest ω if :math:`\omega_0 = 0` (η = 0 for
    the first group: it has no say). If every ω is 0 (every η = 0) the limit of a common schedule
    η → 0⁺ weights the parts by ``kappas`` (:math:`\omega_i/\eta_i`, default 1), normalised the
    same way, and ω_ref = 0 (gap/η then takes its limit in :func:`beta_from_sums`)."""
    if omegas[0] > 0 or max(omegas) > 0:
        w_ref = omegas[0] if omegas[0] > 0 else max(omegas)
        return w_ref, [w / w_ref for w in omegas]
    ks = list(kappas) if kappas is not None else [1.0] * len(omegas)
    k_ref = ks[0] if ks[0] > 0 else max(ks)
    return 0.0, [k / k_ref if k_ref > 0 else 0.0 for k in ks]


def beta_from_sums(gap: Any, s_a: Any, s_c: Any, w_ref: Any, beta_max: Any,
                   positive: bool | None = None) -> BetaTerms:
    r"""β from the global sums: the gap, :math:`s_a = \sum_i\hat w_i a_i`,
    :math:`s_c = \sum_i\hat w_i c_i` (normalised weights of :func:`sum_weights`):
    numerator :math:`= \mathrm{gap}/\omega_{\mathrm{ref}} - s_a`, denominator :math:`= s_c`
    (gap/ω by :func:`gap_over_lr`: its η → 0⁺ limit where ω = 0). ``positive``: whether every
    ω_ref > 0, when the caller knows it already (the 2-D engine: its η never change); checked
    here when ``None``."""
    # (once: on an array of per-run weights it is a reduction)
    pos = _positive(w_ref) if positive is None else positive
    numerator = gap_over_lr(gap, w_ref, pos) - s_a
    beta, unclipped = clip_beta(numerator, s_c, beta_max)
    numerator, unclipped = _finite_limits(numerator, s_c, beta, unclipped, w_ref, pos)
    return BetaTerms(beta, unclipped, numerator, s_c, gap)


def combine(parts: list[tuple[Any, Any, Any]], lrs: list[Any], omegas: list[Any], gap: Any,
            beta_max: Any, kappas: list[float] | None = None,
            positive: bool | None = None) -> BetaTerms:
    r"""One β over several tensors / parameter groups.

    ``parts[i] = (γ_i, a_i, c_i)`` from :func:`sgd_parts` (:math:`\omega_i = \eta_i/(1+\lambda_i)`)
    or :func:`adamw_parts` (:math:`\omega_i = \eta_i`). The stationarity condition
    :math:`\mathrm{gap} + \sum_i\langle d_i-g_i, u_i(\beta)\rangle = 0` gives
    :math:`\beta = [\mathrm{gap} - \sum_i\omega_i a_i]/\sum_i\omega_i c_i`; ``gap=None`` uses
    :math:`\sum_i\eta_i\gamma_i` (the taylor gap of a constant η; the optimizers pass
    :func:`taylor_gap`). The reported numerator and denominator are divided by ω_ref of
    :func:`sum_weights` (ω_0 unless it is 0), so that with one tensor they are the single-tensor
    formulas. η = 0: see :func:`sum_weights` and :func:`beta_from_sums`. ``positive``: whether
    every entry of ω_0 is > 0, if the caller knows (``None``: checked here).
    """
    if len(parts) == 1:   # the common case, kept lean (the 2-D engine calls it every step)
        if gap is None:
            gap = lrs[0] * parts[0][0]
        return beta_from_sums(gap, parts[0][1], parts[0][2], omegas[0], beta_max, positive)
    if gap is None:
        gap = sum(lr * p[0] for p, lr in zip(parts, lrs))
    if all(isinstance(w, (int, float)) for w in omegas):
        w_ref, ws = sum_weights(omegas, kappas)
        s_a = sum(w * p[1] for p, w in zip(parts, ws))
        s_c = sum(w * p[2] for p, w in zip(parts, ws))
    else:   # array weights (per run): normalised by ω_0
        w_ref = omegas[0]
        safe = w_ref if _positive(w_ref) else _where(w_ref > 0, w_ref, 1.0)
        s_a = sum(w * p[1] for p, w in zip(parts, omegas)) / safe
        s_c = sum(w * p[2] for p, w in zip(parts, omegas)) / safe
    return beta_from_sums(gap, s_a, s_c, w_ref, beta_max)


def sgd_form(numerator: Any, denominator: Any, lam: Any) -> tuple[Any, Any]:
    r"""The W-weighted numerator and denominator with :math:`P = I`, :math:`\mu = 0` (where
    :math:`W = 1/(1+\lambda)`) rescaled to the AM-SGD form of :func:`beta_sgd` (same β)."""
    return numerator * (1.0 + lam), denominator * (1.0 + lam)


def direction_coefficients(beta: Any, lam: Any) -> tuple[Any, Any]:
    r"""(a, b) with :math:`d_{t+1} = a\,d_t + b\,g_t`: :math:`a=(\beta+\lambda)/(1+\lambda)`,
    :math:`b=(1-\beta)/(1+\lambda)`; ``a`` is the effective momentum."""
    return (beta + lam) / (1.0 + lam), (1.0 - beta) / (1.0 + lam)


def update_direction(g: Any, d: Any, beta: Any, lam: Any) -> Any:
    r""":math:`d_{t+1} = [(\beta+\lambda)d + (1-\beta)g]/(1+\lambda)` (β broadcast over the
    trailing dimensions by the caller)."""
    a, b = direction_coefficients(beta, lam)
    return a * d + b * g


def effective_momentum(beta: Any, lam: Any) -> Any:
    r""":math:`(\beta+\lambda)/(1+\lambda)`: the weight of the old memory in the new one."""
    return (beta + lam) / (1.0 + lam)


# ----------------------------------------------------------------------------- AM-AdamW pieces
def bias_correction1(beta1_max: Any, prod_beta: Any) -> Any:
    r""":math:`1 - \beta_{1\max}\prod_{i<t}\beta_{1,i}`: the bias correction of an EMA whose β
    varies (the current factor bounded by :math:`\beta_{1\max}`)."""
    return 1.0 - beta1_max * prod_beta


def precond_scalars(step: Any, beta2: Any, eps: Any, bc1: Any) -> tuple[Any, Any]:
    r"""(s, e) with :math:`P = \sqrt v\cdot s + e`: :math:`s = \mathrm{bc}_1/\sqrt{1-\beta_2^t}`,
    :math:`e = \mathrm{bc}_1\epsilon` (``step`` a number, or a tensor under ``torch.compile``)."""
    return precond_scalars_from(bc1, bias_correction2_root(step, beta2), eps)


def bias_correction2_root(step: Any, beta2: Any) -> Any:
    r""":math:`\sqrt{1-\beta_2^t}`, the second moment's bias correction under its root."""
    return (1.0 - beta2 ** step) ** 0.5


def precond_scalars_from(bc1: Any, root: Any, eps: Any) -> tuple[Any, Any]:
    r""":func:`precond_scalars` from :math:`\mathrm{bc}_1` and :func:`bias_correction2_root`
    (elementwise: the optimizers form it for all tensors at once)."""
    return bc1 / root, bc1 * eps


def preconditioner(v: Any, step: Any, beta2: Any, eps: Any, bc1: Any) -> Any:
    r""":math:`P = (1-\beta_{1\max}\prod\beta_1)(\sqrt{v/(1-\beta_2^t)} + \epsilon)`,
    computed as :math:`\sqrt v\cdot s + \mathrm{bc}_1\epsilon` with
    :math:`s = \mathrm{bc}_1/\sqrt{1-\beta_2^t}` (two passes over v)."""
    return precondition(v, *precond_scalars(step, beta2, eps, bc1))


def precondition(v: Any, s: Any, e: Any) -> Any:
    r""":math:`P = \sqrt v\cdot s + e` from :func:`precond_scalars`."""
    if _is_torch(v):
        if _is_torch(s):
            s = s.to(v.dtype)
        if _is_torch(e):
            e = e.to(v.dtype)
        return torch.addcmul(torch.as_tensor(e, dtype=v.dtype, device=v.device),
                             v.sqrt(), torch.as_tensor(s, dtype=v.dtype, device=v.device))
    return np.sqrt(v) * s + e


def adamw_parts(g: Any, d: Any, P: Any, lam: Any, wd: Any = 0.0, x: Any = None,
                dim: Dim = None, with_gap: bool = True) -> tuple[Any, Any, Any]:
    r"""One tensor's parts for :func:`combine` (weight :math:`\omega = \eta`), W-weighted form:
    (:math:`\langle g, d\rangle_{P^{-1}}`,
    :math:`\langle d-g, g+\lambda Pd\rangle_W + \mu\langle d-g, x\rangle`,
    :math:`\|d-g\|_W^2`) with :math:`W = P^{-1}(I+\lambda P)^{-1}`.

    Computed with few passes over memory, using :math:`g + \lambda Pd = (I+\lambda P)d - (d-g)`
    and :math:`W(I+\lambda P) = P^{-1}`:
    :math:`\langle d-g, g+\lambda Pd\rangle_W = \langle d-g, P^{-1}d\rangle - \|d-g\|^2_W`.
    Low-precision torch tensors are summed on float32 copies. ``with_gap=False`` skips the
    first product (returned as 0.0) for callers that pass :func:`taylor_gap` to :func:`combine`."""
    g, d, P, x = _summable(g, d, P, x)
    decayed = x is not None and not (isinstance(wd, (int, float)) and wd == 0.0)
    a, c = adamw_parts_lean(g, d, P, P * proximal_scale(lam, P), wd, x if decayed else None,
                            dim)
    return (inner(g, d / P, dim) if with_gap else 0.0), a, c


def _summable(g: Any, d: Any, P: Any, x: Any) -> tuple[Any, Any, Any, Any]:
    """(g, d, P, x) as AM-AdamW's parts sum them: low-precision torch tensors (bf16, fp16) as
    float32 copies, anything else as it is (``x`` may be None)."""
    if _is_torch(g) and g.dtype not in (torch.float32, torch.float64):
        return g.float(), d.float(), P.float(), None if x is None else x.float()
    return g, d, P, x


def proximal_scale(lam: Any, P: Any) -> Any:
    r""":math:`1+\lambda P` per coordinate (:math:`W = P^{-1}(1+\lambda P)^{-1}`; the direction
    weight's denominator): for a caller that needs it twice in a step."""
    return 1.0 + lam * P


def adamw_parts_lean(g: Any, d: Any, P: Any, pw: Any, wd: Any = 0.0, x: Any = None,
                     dim: Dim = None) -> tuple[Any, Any]:
    r"""The parts (a, c) of :func:`adamw_parts` (which calls this), for a caller that has
    :math:`P(1+\lambda P)` already (``pw``, from :func:`proximal_scale`) and P = I as
    ``P=None`` (then ``pw`` = 1 + λ): the 2-D engine's batches, where every operation is a
    call."""
    diff = d - g
    a = inner(diff, d if P is None else d / P, dim)
    wdiff = diff / pw                                    # W(d − g)
    c = inner(wdiff, diff, dim)
    return adamw_parts_from_sums(a, c, None if x is None else inner(diff, x, dim), wd), c


def adamw_parts_from_sums(diff_u: Any, c: Any, diff_x: Any = None, wd: Any = 0.0) -> Any:
    r"""The part :math:`a` of :func:`adamw_parts` from inner products summed by the caller
    over any set of coordinates (:func:`adamw_sum_terms`): ``diff_u``
    :math:`=\langle d-g, P^{-1}d\rangle`, ``c`` :math:`=\|d-g\|_W^2`, ``diff_x``
    :math:`=\langle d-g, x\rangle` (``None``: no decay):
    :math:`a = \langle d-g, P^{-1}d\rangle - \|d-g\|_W^2 + \mu\langle d-g, x\rangle`."""
    a = diff_u - c
    if diff_x is not None and not (isinstance(wd, (int, float)) and wd == 0.0):
        a = a + wd * diff_x
    return a


def adamw_sum_terms(g: Any, d: Any, P: Any, lam: Any, x: Any = None, with_gap: bool = True,
                    P_prev: Any = None, out: Any = None) -> Any:
    r"""The elementwise products whose sums are the inner products of AM-AdamW's step, for a
    program that sums them itself (e.g. per tensor for many tensors and runs at once, with one
    matrix product against a coordinate→tensor indicator), in this order:

    - with ``with_gap``: :math:`g\,P'^{-1}d` (the sum is ``gd`` of
      :func:`taylor_gap_from_sums`) and, with ``x``, :math:`g\,x` (its ``gx``);
    - :math:`(d-g)\,P^{-1}d`, :math:`(d-g)\,W(d-g)` and, with ``x``, :math:`(d-g)\,x`
      (:math:`W = P^{-1}(I+\lambda P)^{-1}`): the sums are ``diff_u``, ``c`` and ``diff_x`` of
      :func:`adamw_parts_from_sums`.

    ``P`` / ``P_prev`` ``None`` is the identity (AMSGD's form: :math:`W = I/(1+\lambda)`; with
    :math:`P = P' = I` and μ = 0 these sums give AM-SGD's β, see :func:`sgd_form`). The products
    are :func:`adamw_parts`'s and :func:`taylor_gap`'s, operation by operation. ``lam``
    broadcasts against P (a number or a per-row column). Returns a list, or with ``out`` (torch:
    a buffer with at least as many rows as products) ``out[:k]``, the products written there."""
    pairs = []
    if with_gap:
        pairs.append((g, d if P_prev is None else d / P_prev))
        if x is not None:
            pairs.append((g, x))
    diff = d - g
    pairs.append((diff, d if P is None else d / P))
    pairs.append((diff, diff / (proximal_scale(lam, 1.0) if P is None
                                else P * proximal_scale(lam, P))))
    if x is not None:
        pairs.append((diff, x))
    if out is None:
        return [u * v for u, v in pairs]
    for i, (u, v) in enumerate(pairs):
        torch.mul(u, v, out=out[i])
    return out[:len(pairs)]


def beta_adamw(g: Any, d: Any, P: Any, lr: Any, lam: Any, beta_max: Any, wd: Any = 0.0,
               x: Any = None, gap: Any = None, dim: Dim = None) -> BetaTerms:
    r"""Closed-form AM-AdamW β for one tensor (or a batch over ``dim``):
    numerator :math:`=\mathrm{gap}/\eta - \mu\langle d-g,x\rangle - \langle d-g, g+\lambda
    Pd\rangle_W`, denominator :math:`=\|d-g\|^2_W`; ``gap=None`` is the taylor gap
    :math:`\eta\langle g,d\rangle_{P^{-1}}`."""
    return combine([adamw_parts(g, d, P, lam, wd, x, dim)], [lr], [lr], gap, beta_max)


def update_direction_adamw(g: Any, d: Any, beta: Any, lam: Any, P: Any) -> Any:
    r""":math:`d_{t+1} = (I+\lambda P)^{-1}[(1-\beta)g + (\lambda P+\beta I)d]
    = d + (1-\beta)(g-d)/(1+\lambda P)`."""
    return d + (1.0 - beta) * (g - d) / (1.0 + lam * P)


def adamw_direction_weight(beta: Any, lam: Any, P: Any, lp: Any = None) -> Any:
    r"""The per-coordinate weight :math:`z = (1-\beta)/(1+\lambda P)` of
    :math:`d_{t+1} = d + z\,(g - d)` (a lerp from d towards g); ``lp``: :math:`1+\lambda P`
    when the caller has it (:func:`proximal_scale`)."""
    return (1.0 - beta) / (proximal_scale(lam, P) if lp is None else lp)


def direction_coefficients_adamw(beta: Any, lam: Any, P: Any, lp: Any = None
                                 ) -> tuple[Any, Any]:
    r"""Per-coordinate (a, b) with :math:`d_{t+1} = a\,d_t + b\,g_t`:
    :math:`b = (1-\beta)/(1+\lambda P)`, :math:`a = 1-b`; with :math:`P = 1` these are the
    AM-SGD coefficients of :func:`direction_coefficients` (``lp`` as in
    :func:`adamw_direction_weight`)."""
    b = adamw_direction_weight(beta, lam, P, lp)
    return 1.0 - b, b


def effective_momentum_adamw(beta: Any, lam: Any, P: Any) -> Any:
    r"""Per-coordinate effective momentum :math:`(\lambda P + \beta)/(1+\lambda P)`."""
    return (lam * P + beta) / (1.0 + lam * P)


def effective_momentum_mean(beta: Any, mean_inv: Any) -> Any:
    r"""The mean over coordinates of :func:`effective_momentum_adamw`,
    :math:`1 - (1-\beta)\,\mathrm{mean}(1/(1+\lambda P))`, from that mean."""
    return 1.0 - (1.0 - beta) * mean_inv


# ----------------------------------------------------------------------------- one pass per phase
# The optimizers' ``fused=True`` path (``adamem_core.fused``) compiles these functions with
# ``torch.compile``: every line is the maths above, composed so that the compiler fuses each
# function into a single pass over memory — the sums of a step in one pass (reading g, d, v, x
# once), the update in another. Scalars arrive packed in small float64 tensors (a new learning
# rate or step count is a new value, not a new program) and nothing branches on a value.
def _scalars_like(t: Any, packed: Any) -> list[Any]:
    """The packed scalars as 0-dim tensors in the precision the eager path computes ``t``'s
    elementwise maths in (float32 for float32 and lower, float64 for float64): a float64 scalar
    would otherwise make a compiled kernel work in float64 throughout."""
    return list(packed.to(acc_dtype(t.dtype)).unbind(0))


def adamw_second_moment(v: Any, g: Any, beta2: Any) -> Any:
    r"""AdamW's second moment after this step, :math:`\beta_2 v + (1-\beta_2)g^2` (one
    expression for both fused passes, so both compute the same numbers)."""
    return v * beta2 + (1 - beta2) * (g * g)


def adamw_step_sums(g: Any, d: Any, v: Any, x: Any, hyper: Any, scales: Any) -> Any:
    r"""One AM-AdamW tensor's step before β, in one pass that only reads: the taylor gap along
    the previous step (its preconditioner :math:`P' = \sqrt{v}\,s' + e'` from v *before* this
    step), AdamW's second moment :math:`v_+ = \beta_2 v + (1-\beta_2)g^2` (formed on the fly;
    :func:`adamw_step_update` stores it), the new :math:`P = \sqrt{v_+}\,s + e`, the parts of
    :func:`adamw_parts` and :math:`h = \sum 1/(1+\lambda P)` (the effective momentum's mean is
    :func:`effective_momentum_mean` of h/n). ``hyper`` = (β₂, η', μ', λ, μ), ``scales`` =
    (s', e', s, e). Returns the stacked (gap, a, c, h). A tensor at its first step (d = 0)
    passes λ = 0 and any finite s', e': its gap is then 0.

    (Writing v here cost the kernel two extra passes over memory: inductor, torch 2.13, stored
    v_+ into a buffer inside the reduction loop and copied it into v in a second loop.)"""
    beta2, lr_prev, wd_prev, lam, wd = _scalars_like(v, hyper)
    s_prev, e_prev, s, e = _scalars_like(v, scales)
    gap = taylor_gap(g, d, lr_prev, precondition(v, s_prev, e_prev), wd_prev, x)
    P = precondition(adamw_second_moment(v, g, beta2), s, e)
    # adamw_parts with two reciprocals instead of four divisions (a division is the costliest
    # step of the generated kernel): P⁻¹ and q = (1+λP)⁻¹ give u = P⁻¹d, W(d−g) = P⁻¹q(d−g)
    # and h = Σq
    g, d, P, x = _summable(g, d, P, x)                  # (as adamw_parts)
    inv_p, q = 1.0 / P, 1.0 / proximal_scale(lam, P)
    diff = d - g
    c = inner(diff * (inv_p * q), diff)
    a = adamw_parts_from_sums(inner(diff, d * inv_p), c,
                              None if x is None else inner(diff, x), wd)
    h = q.sum(dtype=acc_dtype(P.dtype))
    return torch.stack([gap.to(h.dtype), a.to(h.dtype), c.to(h.dtype), h])


def adamw_step_update(g: Any, d: Any, v: Any, x: Any, hyper: Any, scales: Any) -> None:
    r"""One AM-AdamW tensor's update, in one pass and **in place**: AdamW's second moment
    :math:`v \leftarrow \beta_2 v + (1-\beta_2)g^2`, :math:`P = \sqrt v\,s + e`,
    :math:`d \leftarrow d + z(g-d)`, :math:`z` of :func:`adamw_direction_weight`, and
    :math:`x \leftarrow (1-\eta\mu)x - \eta P^{-1}d`. ``hyper`` = (λ, η, μ, β₂), ``scales`` =
    (β, s, e)."""
    lam, lr, wd, beta2 = _scalars_like(v, hyper)
    beta, s, e = _scalars_like(v, scales)
    v.copy_(adamw_second_moment(v, g, beta2))
    P = precondition(v, s, e)
    d.copy_(d + adamw_direction_weight(beta, lam, P) * (g - d))
    x.copy_(x * (1 - lr * wd) - lr * (d / P))


def sgd_step_sums(g: Any, d: Any, x: Any, hyper: Any) -> Any:
    r"""One AM-SGD tensor's :func:`sgd_sums` in one pass, stacked (⟨g,g⟩, ⟨g,d⟩, ⟨d,d⟩), with
    the coupled weight decay :math:`g + \mu x` formed on the fly (``hyper`` = (μ, η);
    ``x=None``: no decay)."""
    if x is not None:
        g = g + _scalars_like(g, hyper)[0] * x
    return torch.stack(sgd_sums(g, d))


def sgd_step_update(g: Any, d: Any, x: Any, hyper: Any, b: Any, nesterov: bool) -> None:
    r"""One AM-SGD tensor's update, in one pass and **in place**: :math:`d \leftarrow d + b(g-d)`
    (:func:`direction_coefficients`' b; g with its coupled decay :math:`g + \mu x`), then
    :math:`x \leftarrow x - \eta d` (Nesterov: :math:`x - \eta[d + b(g-d)]`). ``hyper`` =
    (μ, η)."""
    wd, lr = _scalars_like(d, hyper)
    b = b.to(acc_dtype(d.dtype))
    g = g + wd * x
    d.copy_(d + b * (g - d))
    x.copy_(x - lr * (d + b * (g - d) if nesterov else d))


# ----------------------------------------------------------------------------- model geometry
def planes(f: Any, gap: Any, g: Any, d: Any) -> dict[str, Any]:
    """Both planes at x_t: heights (ℓ_g: f(x_t), ℓ_m: f̂_t = f + gap) and slopes (g, d)."""
    return {"grad_height": f, "grad_slope": g, "mem_height": f + gap, "mem_slope": d}


def u_of_beta(g: Any, d: Any, beta: Any, lr: Any, lam: Any, P: Any = None, wd: Any = 0.0,
              x: Any = None) -> Any:
    r"""Minimiser of the β-mixed model, as an offset :math:`u = x - x_t`.

    SGD form (``P=None``): :math:`-\eta[(1-\beta)g + (\beta+\lambda)d]/(1+\lambda)`;
    weighted form: :math:`-\eta\mu x_t - \eta W[g + \lambda Pd + \beta(d-g)]`."""
    if P is None:
        return -lr * ((1.0 - beta) * g + (beta + lam) * d) / (1.0 + lam)
    u = -lr * (g + lam * P * d + beta * (d - g)) / (P * (1.0 + lam * P))
    if x is not None:
        u = u - lr * wd * x
    return u


def proximal(u: Any, d: Any, lr: Any, lam: Any, P: Any = None, wd: Any = 0.0, x: Any = None,
             dim: Dim = None) -> tuple[Any, Any]:
    r"""The two proximal terms at offset u: (:math:`\|\tilde u\|_P^2/2\eta`,
    :math:`\frac{\lambda}{2\eta}\|P\tilde u + \eta d\|^2`); SGD form with ``P=None``."""
    ut = u if x is None else u + lr * wd * x
    if P is None:
        w = ut + lr * d
        return inner(ut, ut, dim) / (2 * lr), lam * inner(w, w, dim) / (2 * lr)
    w = P * ut + lr * d
    return inner(ut, ut, dim, P) / (2 * lr), lam * inner(w, w, dim) / (2 * lr)


def model_value(u: Any, f: Any, gap: Any, g: Any, d: Any, lr: Any, lam: Any, P: Any = None,
                wd: Any = 0.0, x: Any = None, dim: Dim = None) -> Any:
    r""":math:`m_t(x_t+u) = \max\{\ell_g,\ell_m\} + \text{proximal terms}`."""
    lg = f + inner(g, u, dim)
    lm = f + gap + inner(d, u, dim)
    p1, p2 = proximal(u, d, lr, lam, P, wd, x, dim)
    mx = np.maximum(lg, lm) if not _is_torch(lg) else torch.maximum(lg, lm)
    return mx + p1 + p2


def dual_value(beta: Any, f: Any, gap: Any, g: Any, d: Any, lr: Any, lam: Any, P: Any = None,
               wd: Any = 0.0, x: Any = None, dim: Dim = None) -> Any:
    r""":math:`D(\beta) = \min_u (1-\beta)\ell_g + \beta\ell_m + \text{prox}`, evaluated at
    :math:`u(\beta)`: a concave quadratic in β whose maximiser is the closed form."""
    u = u_of_beta(g, d, beta, lr, lam, P, wd, x)
    mixed = f + beta * gap + inner((1.0 - beta) * g + beta * d, u, dim)
    p1, p2 = proximal(u, d, lr, lam, P, wd, x, dim)
    return mixed + p1 + p2


# ----------------------------------------------------------------------------- constant-β stability
def momentum_stability_bound(beta: float, L: float, kind: str = "ema") -> float:
    r"""The largest stable learning rate of constant-β momentum on a quadratic whose largest
    curvature (Hessian eigenvalue) is L > 0: the run converges for every start iff η is below it.

    ``kind="ema"`` — EMA heavy ball :math:`d_{t+1} = \beta d_t + (1-\beta)g_t`,
    :math:`x_{t+1} = x_t - \eta d_{t+1}` (β = 0 is plain gradient descent):

    .. math:: \eta < \frac{2(1+\beta)}{(1-\beta)L}.

    Derivation: along an eigenvector of curvature h, g_t = h x_t and
    :math:`\eta d_t = x_{t-1} - x_t`, so :math:`x_{t+1} = (1 + \beta - a)x_t - \beta x_{t-1}` with
    :math:`a = \eta(1-\beta)h`. The characteristic polynomial :math:`z^2 - (1+\beta-a)z + \beta`
    has both roots inside the unit circle iff (Jury) :math:`|\beta| < 1` and
    :math:`|1+\beta-a| < 1+\beta`, i.e. :math:`0 < a < 2(1+\beta)`; at the upper end a root is
    z = −1 (the iterate flips sign and grows beyond it). The largest h = L binds.

    ``kind="heavy_ball"`` — torch's undampened :math:`d_{t+1} = \beta d_t + g_t`: the same
    recurrence with a = ηh, so :math:`\eta < 2(1+\beta)/L`.

    ``kind="nesterov"`` — the EMA Nesterov step :math:`x_{t+1} = x_t - \eta(\beta d_{t+1} +
    (1-\beta)g_t)`: with c = 1 − β the state (x, d) evolves by
    :math:`\begin{pmatrix}1-\eta ch(1+\beta) & -\eta\beta^2\\ ch & \beta\end{pmatrix}`, trace
    :math:`1+\beta-\eta ch(1+\beta)`, determinant :math:`\beta(1-\eta ch)`; Jury's conditions
    1 + det ± tr > 0, |det| < 1 leave :math:`\eta < 2(1+\beta)/((1-\beta)(1+2\beta)L)`.

    β ≥ 1 or L ≤ 0 (no curvature): ``inf``."""
    beta, L = float(beta), float(L)
    if not (0.0 <= beta) or not np.isfinite(L):
        raise ValueError(f"need 0 <= beta and a finite L, got beta={beta!r}, L={L!r}")
    if beta >= 1.0 or L <= 0.0:
        return float(np.inf)
    if kind == "ema":
        return 2.0 * (1.0 + beta) / ((1.0 - beta) * L)
    if kind == "heavy_ball":
        return 2.0 * (1.0 + beta) / L
    if kind == "nesterov":
        return 2.0 * (1.0 + beta) / ((1.0 - beta) * (1.0 + 2.0 * beta) * L)
    raise ValueError(f"kind must be 'ema', 'heavy_ball' or 'nesterov', got {kind!r}")


# ============================================================================= the Theory page
# A self-contained block (docs/method.md #special-cases, #beta-map, #classical): the sandbox's
# two vectors and its geometry, the β map over (angle, ‖d‖/‖g‖) and its region boundaries, and
# Polyak's heavy ball on the quadratic ½(μx² + Ly²). Pure NumPy; the Theory page only lays out.

def sandbox_vectors(g_norm: float, d_norm: float, angle_deg: float) -> tuple[Any, Any]:
    """The sandbox's gradient g = (‖g‖, 0) and memory d at ``angle_deg`` from it (2-D)."""
    th = np.radians(float(angle_deg))
    g = np.array([float(g_norm), 0.0])
    d = float(d_norm) * np.array([np.cos(th), np.sin(th)])
    return g, d


def sandbox(g_norm: float, d_norm: float, angle_deg: float, lr: float, lam: float,
            beta_max: float, gap: float | None = None, f: float = 0.0,
            n_dual: int = 201) -> dict[str, Any]:
    r"""Everything the Theory page's sandbox shows, from the functions above (AM-SGD form).

    ``gap=None`` is the taylor gap :math:`\eta\langle g, d\rangle` (the previous step taken as
    :math:`\eta d` at the same η); a number is an exact gap :math:`\hat f - f`. Returns the
    vectors, the three inner products, the closed form's :class:`BetaTerms` fields, the step
    :math:`u(\beta_t)` and the model's own minimiser :math:`u(\mathrm{clip}(\beta^\star,0,1))`
    (they differ only when the cap β_max binds), the new memory, the effective momentum, the
    dual :math:`D(\beta)` on ``n_dual`` points of [0, 1] and the model's value at the step."""
    g, d = sandbox_vectors(g_norm, d_norm, angle_deg)
    gg, gd, dd = sgd_sums(g, d)
    terms = beta_sgd(gg, gd, dd, lr, lam, beta_max, gap)
    beta = float(terms.beta)
    unc = float(terms.unclipped)
    beta_model_min = min(max(unc, 0.0), 1.0) if float(terms.denominator) > 0 else 0.0
    u = np.asarray(u_of_beta(g, d, beta, lr, lam))
    u_min = np.asarray(u_of_beta(g, d, beta_model_min, lr, lam))
    gap_v = float(terms.gap)
    betas = np.linspace(0.0, 1.0, n_dual)
    dual = np.array([float(dual_value(b, f, gap_v, g, d, lr, lam)) for b in betas])
    p1, p2 = proximal(u, d, lr, lam)
    return dict(
        g=g, d=d, gg=float(gg), gd=float(gd), dd=float(dd), f=float(f), gap=gap_v,
        taylor=gap is None, lr=float(lr), lam=float(lam), beta_max=float(beta_max),
        beta=beta, unclipped=unc, numerator=float(terms.numerator),
        denominator=float(terms.denominator), u=u, u_model_min=u_min,
        beta_model_min=beta_model_min, d_next=np.asarray(update_direction(g, d, beta, lam)),
        effective_momentum=float(effective_momentum(beta, lam)),
        coefficients=tuple(float(c) for c in direction_coefficients(beta, lam)),
        dual_betas=betas, dual=dual, dual_at_beta=float(dual_value(beta, f, gap_v, g, d, lr, lam)),
        model_at_step=float(model_value(u, f, gap_v, g, d, lr, lam)),
        prox_at_step=(float(p1), float(p2)),
        planes_at_step=(float(f + g @ u), float(f + gap_v + d @ u)))


def sandbox_terms(sb: dict[str, Any], U: Any) -> dict[str, Any]:
    """ℓ_g, ℓ_m, their max, the two proximal terms and the model m_t at offsets U (..., 2)."""
    U = np.asarray(U, dtype=float)
    lg = sb["f"] + inner(U, sb["g"], dim=-1)
    lm = sb["f"] + sb["gap"] + inner(U, sb["d"], dim=-1)
    p1, p2 = proximal(U, sb["d"], sb["lr"], sb["lam"], dim=-1)
    return {"grad_plane": lg, "mem_plane": lm, "max_plane": np.maximum(lg, lm),
            "prox": p1, "prox_lam": p2, "model": np.maximum(lg, lm) + p1 + p2}


def sandbox_slice(sb: dict[str, Any], n: int = 241, lo: float = -0.75,
                  hi: float = 2.0) -> dict[str, Any]:
    """The 1-D slice through x_t along the step u(β_t): s ∈ [lo, hi] in steps (s = 1 is the
    step); if the step is 0, along −ηg."""
    step = np.asarray(sb["u"], dtype=float)
    if not np.linalg.norm(step) > 0:
        step = -sb["lr"] * np.asarray(sb["g"], dtype=float)
    s = np.linspace(lo, hi, n)
    out = sandbox_terms(sb, s[:, None] * step[None, :])
    # where the model's minimiser lies on this line (it is on it unless the cap binds)
    um = np.asarray(sb["u_model_min"], dtype=float)
    s_min = float(um @ step / (step @ step)) if step @ step > 0 else float("nan")
    return {"s": s, **out, "step": step, "s_model_min": s_min}


def sandbox_surface(sb: dict[str, Any], n: int = 61, radius: float | None = None
                    ) -> dict[str, Any]:
    """The model's pieces on an n×n grid of offsets around x_t (radius: 1.6× the longest of
    ηg, ηd and the step)."""
    if radius is None:
        lens = [np.linalg.norm(sb["lr"] * sb["g"]), np.linalg.norm(sb["lr"] * sb["d"]),
                np.linalg.norm(sb["u"])]
        radius = 1.6 * max(max(lens), 1e-12)
    xs = np.linspace(-radius, radius, n)
    XX, YY = np.meshgrid(xs, xs)
    out = sandbox_terms(sb, np.stack([XX, YY], axis=-1))
    return {"xs": xs, "ys": xs, **out, "radius": float(radius)}


def map_coefficients(angle_deg: Any, lam: float, gap_unit: float | None = None
                     ) -> tuple[Any, Any, Any, Any]:
    r"""The closed form on the sandbox's family d = ρ‖g‖(cos θ, sin θ), in units of ‖g‖²:
    numerator :math:`N/\|g\|^2 = n_0 + n_1\rho + n_2\rho^2` (returns :math:`n_0, n_1, n_2`) and
    :math:`\cos\theta` (denominator :math:`Q/\|g\|^2 = 1 - 2\rho\cos\theta + \rho^2`).
    Taylor gap (``gap_unit=None``): :math:`1 + 2\lambda\rho\cos\theta - \lambda\rho^2`; an exact
    gap of γ·η‖g‖² (``gap_unit=γ``): :math:`1 + (1+\lambda)\gamma - (1-\lambda)\rho\cos\theta -
    \lambda\rho^2`."""
    c = np.cos(np.radians(np.asarray(angle_deg, dtype=float)))
    if gap_unit is None:
        return np.ones_like(c), 2.0 * lam * c, -lam * np.ones_like(c), c
    return (1.0 + (1.0 + lam) * gap_unit) * np.ones_like(c), -(1.0 - lam) * c, \
        -lam * np.ones_like(c), c


MAP_ZERO, MAP_INTERIOR, MAP_CLIPPED, MAP_UNDEFINED = 0, 1, 2, 3


def beta_map(angles_deg: Any, ratios: Any, lam: float, beta_max: float,
             gap_unit: float | None = None) -> dict[str, Any]:
    """β over the grid angle (columns) × ρ = ‖d‖/‖g‖ (rows) by :func:`beta_sgd` (‖g‖ = 1,
    η = 1: β does not depend on them for the taylor gap, and the exact gap is given in units of
    η‖g‖²), with each cell's region: MAP_ZERO (unclipped ≤ 0), MAP_INTERIOR, MAP_CLIPPED
    (unclipped ≥ β_max), MAP_UNDEFINED (d = g)."""
    A, R = np.meshgrid(np.asarray(angles_deg, dtype=float), np.asarray(ratios, dtype=float))
    th = np.radians(A)
    gg = np.ones_like(A)
    gd = R * np.cos(th)
    dd = R * R
    gap = None if gap_unit is None else gap_unit * gg
    terms = beta_sgd(gg, gd, dd, 1.0, lam, beta_max, gap)
    unc = np.asarray(terms.unclipped)
    region = np.where(unc <= 0, MAP_ZERO, np.where(unc >= beta_max, MAP_CLIPPED, MAP_INTERIOR))
    region = np.where(np.asarray(terms.denominator) > 0, region, MAP_UNDEFINED)
    return {"angles": np.asarray(angles_deg, dtype=float), "ratios": np.asarray(ratios, float),
            "beta": np.asarray(terms.beta), "unclipped": unc, "region": region}


def beta_map_boundary(angles_deg: Any, lam: float, level: float,
                      gap_unit: float | None = None) -> Any:
    r"""The ρ ≥ 0 where the unclipped β equals ``level`` (0: the edge of the β = 0 region,
    β_max: the edge of the clipped one), per angle: the roots of
    :math:`(n_2 - k)\rho^2 + (n_1 + 2kc)\rho + (n_0 - k) = 0` (N = kQ), an array (angles, 2)
    with NaN where a root is missing or negative."""
    n0, n1, n2, c = map_coefficients(angles_deg, lam, gap_unit)
    k = float(level)
    A, B, C = n2 - k, n1 + 2.0 * k * c, n0 - k
    out = np.full(np.shape(c) + (2,), np.nan)
    with np.errstate(all="ignore"):
        disc = B * B - 4.0 * A * C
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        lin = np.abs(A) < 1e-14
        r1 = np.where(lin, -C / B, (-B - sq) / (2.0 * A))
        r2 = np.where(lin, np.nan, (-B + sq) / (2.0 * A))
    roots = np.stack([r1, r2], axis=-1)
    out = np.where(np.isfinite(roots) & (roots >= 0), roots, np.nan)
    return np.sort(out, axis=-1)


def polyak_heavy_ball(kappa: Any, mu: float = 1.0) -> dict[str, Any]:
    r"""Polyak's optimal heavy ball :math:`x_{t+1} = x_t - \alpha g_t + a(x_t - x_{t-1})` on a
    quadratic with curvatures in [μ, L = κμ]: :math:`a^* = ((\sqrt\kappa-1)/(\sqrt\kappa+1))^2`,
    :math:`\alpha^* = 4/(\sqrt L + \sqrt\mu)^2`, rate :math:`\sqrt{a^*} = (\sqrt\kappa-1)/
    (\sqrt\kappa+1)` per step. In the EMA form d ← a d + (1−a) g, x ← x − ηd it is a = a*,
    η = α*/(1−a*)."""
    k = np.asarray(kappa, dtype=float)
    sk = np.sqrt(k)
    rate = (sk - 1.0) / (sk + 1.0)
    a = rate * rate
    alpha = 4.0 / (np.sqrt(k * mu) + np.sqrt(mu)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ema_lr = np.where(a < 1, alpha / (1.0 - a), np.inf)
    return {"a": a, "alpha": alpha, "rate": rate, "ema_lr": ema_lr}


def heavy_ball_rate(alpha: Any, a: Any, curvatures: Any) -> Any:
    r"""The asymptotic rate of heavy ball with constants (α, a) on a quadratic with the given
    curvatures h: the largest modulus of the roots of :math:`z^2 - (1 + a - \alpha h)z + a`
    over h (≥ 1: no convergence)."""
    alpha = np.asarray(alpha, dtype=float)[..., None]
    a = np.asarray(a, dtype=float)[..., None]
    h = np.asarray(curvatures, dtype=float)
    p = 1.0 + a - alpha * h
    disc = p * p - 4.0 * a
    with np.errstate(invalid="ignore"):
        real = np.maximum(np.abs(p + np.sqrt(np.maximum(disc, 0.0))),
                          np.abs(p - np.sqrt(np.maximum(disc, 0.0)))) / 2.0
    mod = np.where(disc >= 0, real, np.sqrt(np.maximum(a, 0.0)))
    return mod.max(axis=-1)
