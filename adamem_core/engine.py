r"""Batched 2-D runs: many optimizer specs from one start point, all at once.

:func:`simulate` runs every spec together, vectorised across runs in NumPy float64, calling the
same :mod:`adamem_core.model` functions as ``AMSGD``/``AMAdamW`` (a test proves the trajectories
equal the real ``torch.optim`` optimizers run one at a time with autograd). It records everything
the figures need: iterates, values, gradients, the memory, β and the terms that chose it, the
two planes, and where a run diverged.

:func:`step_geometry`, :func:`local_surface` and :func:`step_slice` assemble, from the model's
functions, what the "Inside one step" page draws at step t.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import model
from .landscape_base import Landscape
from .specs import OptimizerSpec

__all__ = ["OptimizerSpec", "Trajectory", "simulate", "step_geometry", "local_surface",
           "contour_grid", "summarize", "steps_to_tolerance", "gap_to_optimum", "trajectories_frame",
           "step_slice", "SGD_FORM", "ADAMW_FORM", "DIVERGENCE_BOUND"]

SGD_FORM = ("am_sgd", "sgd", "sgd_ema", "nesterov")     # AMSGD code path
ADAMW_FORM = ("am_adamw", "adamw")                      # AMAdamW code path
DIVERGENCE_BOUND = 1e8   # |x| beyond this many domain widths from the start, or |f| > 1e100


@dataclass
class Trajectory:
    """One run. Per-step arrays have ``steps`` rows (index t: what step t computed at x_t);
    ``x``, ``f`` and ``direction`` have ``steps+1`` (x_0 … x_T; d_0 … d_T). Entries after
    ``diverged_at`` are NaN."""

    spec: OptimizerSpec
    x: np.ndarray            # (T+1, 2)
    f: np.ndarray            # (T+1,)
    grad: np.ndarray         # (T+1, 2)  g_t (as used by the optimizer: incl. coupled decay)
    direction: np.ndarray    # (T+1, 2)  the memory d_t entering step t (d_{T} after the last)
    beta: np.ndarray         # (T,) the β used
    model_beta: np.ndarray   # (T,) the β the model chose (closed form; NaN for torch_* runs)
    unclipped: np.ndarray    # (T,)
    numerator: np.ndarray    # (T,)
    denominator: np.ndarray  # (T,)
    loss_gap: np.ndarray     # (T,) f̂_t − f(x_t)
    effective_momentum: np.ndarray  # (T,)
    grad_height: np.ndarray  # (T,) ℓ_g(x_t) = f(x_t)
    grad_slope: np.ndarray   # (T, 2) g_t
    mem_height: np.ndarray   # (T,) ℓ_m(x_t) = f̂_t
    mem_slope: np.ndarray    # (T, 2) d_t
    precond: np.ndarray | None = None   # (T, 2) AM-AdamW's P_t (None for the SGD form)
    diverged_at: int | None = None
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def form(self) -> str:
        n = self.spec.name
        return "sgd" if n in SGD_FORM else "adamw" if n in ADAMW_FORM else n

    def last_valid(self) -> int:
        """Index of the last finite iterate."""
        return self.steps if self.diverged_at is None else max(self.diverged_at - 1, 0)


# ----------------------------------------------------------------------------- helpers
def _col(v: np.ndarray) -> np.ndarray:
    return v[:, None]


def _fixed(spec: OptimizerSpec) -> float:
    """The spec's constant β as a number (NaN for the adaptive runs)."""
    b = spec.fixed_beta
    return np.nan if b is None else b


def _lam(spec: OptimizerSpec) -> float:
    return float(spec.resolved()["lam"]) if spec.name in ("am_sgd", "am_adamw") else 0.0


class _Runs:
    """Hyper-parameters of all runs as arrays, in the single form every run shares.

    Every optimizer here is the W-weighted update of :mod:`model` with per-run coefficients:
    the AMSGD path is the AM-AdamW form with P = I, μ = 0 and a coupled weight decay (same β,
    numerator and denominator rescaled by :func:`model.sgd_form`); torch's AdamW is the AdamW
    form with λ = 0 and a fixed β₁; torch's SGD is d ← μd + g (a = μ, b = 1)."""

    def __init__(self, specs: Sequence[OptimizerSpec]):
        names = [s.name for s in specs]
        r = [s.resolved() for s in specs]
        self.lr = np.array([s.lr for s in specs])
        self.lam = np.array([_lam(s) for s in specs])
        self.fixed = np.array([_fixed(s) for s in specs])
        self.adaptive = np.isnan(self.fixed)
        self.sgd_form = np.array([n in SGD_FORM for n in names])
        self.adam = np.array([n in ADAMW_FORM or n == "torch_adamw" for n in names])
        self.torch_sgd = np.array([n == "torch_sgd" for n in names])
        self.torch_any = np.array([n.startswith("torch_") for n in names])
        self.nesterov = np.array([n == "nesterov" for n in names])
        self.exact = np.array([rr.get("loss_gap") == "exact" for rr in r])
        wd = np.array([float(rr.get("weight_decay", 0.0)) for rr in r])
        self.wd_coupled = np.where(self.adam, 0.0, wd)
        self.wd_decoupled = np.where(self.adam, wd, 0.0)
        bmax = []
        for s, rr in zip(specs, r):
            if s.name in ADAMW_FORM or s.name == "torch_adamw":
                bmax.append(_fixed(s) if s.name != "am_adamw" else float(rr["betas"][0]))
            else:
                bmax.append(float(rr.get("beta_max", 0.9)))
        self.beta_max = np.array(bmax)
        self.beta2 = np.array([float(rr["betas"][1]) if "betas" in rr else 0.0 for rr in r])
        self.eps = np.array([float(rr["eps"]) if "eps" in rr else 1.0 for rr in r])


def _starts(start: Any, R: int) -> np.ndarray:
    """The (R, 2) start points: one point shared by every run, or one per run."""
    x0 = np.asarray(start, dtype=np.float64)
    if x0.shape == (2,):
        return np.tile(x0, (R, 1))
    if x0.shape == (R, 2):
        return x0.copy()
    raise ValueError(f"start must be a point (x, y) or one point per run ({R}, 2), "
                     f"got shape {x0.shape}")


def noise_sequence(seed: int, steps: int) -> np.ndarray:
    """ξ_0 … ξ_steps ~ N(0, I₂) i.i.d., shape (steps+1, 2): the noise a run with this seed sees
    (NumPy's PCG64 ``default_rng(seed)``, standard normals drawn row by row, so a longer run
    with the same seed sees the same first steps)."""
    return np.random.default_rng(int(seed)).standard_normal((int(steps) + 1, 2))


def _noise(noise: Any, seed: Any, R: int, T: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(σ per run as an (R, 2) array, ξ as a (T+1, R, 2) array), or (None, None) without noise.
    Each run's ξ depends only on its own seed (common random numbers across runs and calls)."""
    sig = np.asarray(noise, dtype=np.float64)
    if sig.ndim == 0:
        sig = np.full(R, float(sig))
    if sig.shape != (R,) or not np.all(np.isfinite(sig)) or np.any(sig < 0):
        raise ValueError(f"noise must be a finite number >= 0 (or one per run), got {noise!r}")
    if not np.any(sig > 0):
        return None, None
    seeds = np.asarray(seed)
    if seeds.ndim == 0:
        seeds = np.full(R, seeds)
    if seeds.shape != (R,) or seeds.dtype.kind not in "iu" and not (
            seeds.dtype.kind == "f" and np.all(seeds == np.round(seeds))):
        raise ValueError(f"seed must be an integer (or one per run), got {seed!r}")
    seeds = seeds.astype(np.int64)
    if np.any(seeds < 0):
        raise ValueError("seeds must be >= 0")
    uniq, inv = np.unique(seeds, return_inverse=True)
    xi = np.stack([noise_sequence(s, T) for s in uniq], axis=1)      # (T+1, n_seeds, 2)
    return np.ascontiguousarray(np.broadcast_to(sig[:, None], (R, 2))), xi[:, inv]


def simulate(landscape: Landscape, specs: Sequence[OptimizerSpec], start: Sequence[float],
             steps: int, *, noise: Any = 0.0, seed: Any = 0) -> list[Trajectory]:
    """Run every spec from ``start`` for ``steps`` steps on ``landscape``; one
    :class:`Trajectory` per spec, in order. A run whose iterate or value becomes non-finite or
    leaves the bound stops there (``diverged_at``); the others go on.

    ``start``: one point (x, y) for every run, or an (R, 2) array, one start per run.

    Gradient noise: with ``noise`` = σ > 0 every gradient an optimizer sees is
    ∇f(x_t) + σ ξ_t with ξ_t ~ N(0, I₂) i.i.d. over steps, ξ from :func:`noise_sequence`
    (``seed``: one integer for every run, or one per run). Runs with the same seed see the same
    ξ sequence (common random numbers), whatever other runs share the call. ``Trajectory.f``
    stays the noise-free f at the iterate; ``grad`` is the gradient the optimizer used (the
    last, unused one at x_T with ξ_T). ``noise`` may also be one σ per run. ``noise=0`` runs
    exactly the noise-free code."""
    return _trajectories(specs, _run(landscape, specs, start, steps, noise, seed))


def _value_and_grad(landscape: Landscape) -> Any:
    """f and ∇f in one call: the landscape's own ``value_and_grad`` where it has one (shared
    subexpressions, the same numbers), else ``value`` then ``grad``."""
    vg = getattr(landscape, "value_and_grad", None)
    if vg is not None:
        return vg
    value, grad = landscape.value, landscape.grad
    return lambda xy: (value(xy), grad(xy))


def _first_out_of_bounds(X: np.ndarray, F: np.ndarray, x0: np.ndarray,
                         bound: float) -> list[int | None]:
    """Per run, the first t whose iterate or value breaks the divergence criterion (non-finite,
    |f| > 1e100, or |x − x_0|∞ > bound), or None: the same test as the step-by-step one."""
    ok = (np.abs(F) <= 1e100) & (np.abs(X - x0).max(axis=2) <= bound)    # NaN fails both
    bad = ~ok
    first = bad.argmax(axis=0)
    return [int(first[r]) if bad[first[r], r] else None for r in range(F.shape[1])]


# A recording run checks the divergence criterion after the loop, on the whole record (the
# rows never mix, so a run past the bound cannot disturb the others), and only every
# _PROBE steps whether every run is out of bounds (then the loop stops early).
_PROBE = 16


def _run(landscape: Landscape, specs: Sequence[OptimizerSpec], start: Any, steps: int,
         noise: Any = 0.0, seed: Any = 0, record: bool = True) -> dict[str, Any]:
    """The batched computation behind :func:`simulate`, returning the arrays (time first).
    ``record=False`` keeps only x, f, β and the divergence (what a sweep needs).

    One step is the AM-AdamW form of :mod:`model` for every run at once (see :class:`_Runs`):
    ``taylor_gap``, ``preconditioner``, ``adamw_parts``, ``combine`` and
    ``direction_coefficients_adamw``, each called once per step on the (runs, 2) arrays; every
    branch a batch does not need (noise, weight decay, the exact gap, Nesterov, torch's SGD,
    AdamW's preconditioner, constant βs) is decided once, before the loop."""
    specs = list(specs)
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not specs:
        return {}
    for s in specs:
        if not isinstance(s, OptimizerSpec):
            raise ValueError(f"expected OptimizerSpec, got {s!r}")
        if s.resolved().get("maximize"):
            raise ValueError("the 2-D engine minimises: maximize=True is not supported")
    R, T = len(specs), steps
    X0 = _starts(start, R)
    sig_c, NOISE = _noise(noise, seed, R, T)
    if NOISE is not None:
        np.multiply(NOISE, sig_c, out=NOISE)   # σ ξ_t for every step (a fresh array of _noise)
    (xa, xb), (ya, yb) = landscape.domain
    bound = DIVERGENCE_BOUND * max(xb - xa, yb - ya, 1e-12)
    value_and_grad = _value_and_grad(landscape)
    taylor_gap, taylor_gap_along = model.taylor_gap, model.taylor_gap_along
    parts_of, beta_from_sums = model.adamw_parts_lean, model.beta_from_sums
    coefficients, proximal_scale = model.direction_coefficients_adamw, model.proximal_scale

    k = _Runs(specs)
    # Per-run constants, pre-broadcast to the (R, 2) shape of the iterates (same-shape NumPy
    # operations are cheaper than broadcasting ones; the values are the same).
    def full(v: Any) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(_col(np.asarray(v, dtype=np.float64)), (R, 2)))

    lr, beta_max = k.lr, k.beta_max
    lr_positive = bool(np.all(k.lr > 0))   # (η never changes: model.combine need not check)
    lr_c, lam_c = full(k.lr), full(k.lam)
    wdc_c = full(k.wd_coupled) if k.wd_coupled.any() else None
    decay_c = full(1.0 - k.lr * k.wd_decoupled) if k.wd_decoupled.any() else None
    any_adam = bool(k.adam.any())
    any_exact, any_nest, any_tsgd = bool(k.exact.any()), bool(k.nesterov.any()), bool(k.torch_sgd.any())
    any_fixed = bool((~k.adaptive).any())
    adaptive, fixed, exact, adam = k.adaptive, np.nan_to_num(k.fixed), k.exact, k.adam
    # The preconditioner of every run in one call: on the SGD paths 1 − β₂ is 0 (v stays 0),
    # ε = 1 and β₁max → 0, which make P = (0 + 1)·1 = 1 exactly. β₂ as a number when every
    # AdamW run shares it (the SGD rows' v is 0: their β₂ does not matter).
    b2_c, omb2_c = full(k.beta2), full(np.where(k.adam, 1.0 - k.beta2, 0.0))
    b2s = np.unique(k.beta2[k.adam])
    b2_pre = float(b2s[0]) if b2s.size == 1 else b2_c
    eps_c = full(k.eps)
    bc1_max_c = full(np.where(k.adam, k.beta_max, 0.0))
    prod_c = np.ones((R, 2))        # ∏ β₁ so far, per run (both columns)
    ones = np.ones((R, 2))          # P on the SGD paths
    tsgd_c, not_nest_c = full(k.torch_sgd).astype(bool), full(~k.nesterov).astype(bool)
    mom_c = full(np.nan_to_num(k.fixed))
    init_g = full(~k.adam).astype(bool)   # d_0 = g_0 on the SGD paths, 0 (AdamW's m_0) otherwise
    lam_first = model.first_step_lam(lam_c, _col(k.adam)) if any_adam else lam_c
    # the taylor gap after the first step: s·⟨g, P'⁻¹d + μ'x⟩ (model.taylor_gap_factors; η' and
    # μ' never change), one inner product; the decoupled decay's μ for the parts (a, c)
    gap_s, gap_m = model.taylor_gap_factors(k.lr, k.wd_decoupled)
    gap_m = full(gap_m) if k.wd_decoupled.any() else None
    wd_x = k.wd_decoupled if k.wd_decoupled.any() else None
    # 1 + λP on a batch of SGD paths only (P = 1 exactly): W⁻¹ = P(1 + λP) is the same array
    lp_sgd = proximal_scale(lam_c, 1.0)

    x = X0.copy()
    x0 = X0
    d = np.zeros((R, 2))
    q = d                   # P_{t−1}⁻¹ d_t: the memory's share of the previous step
    v = np.zeros((R, 2))
    P = ones
    alive = np.ones(R, dtype=bool)
    all_alive = any_alive = True
    check_each_step = not record    # (a recording run checks afterwards: see _PROBE)
    quick_bound = bound - np.abs(x0).max()          # |x|∞ below this ⇒ every run in bound
    qb2 = quick_bound * quick_bound if quick_bound > 0 else -1.0
    diverged_at: list[int | None] = [None] * R
    f_prev = None
    # the record, written as the loop goes (NaN where nothing was computed); a recording run
    # computes x_{t+1} and d_{t+1} straight into it
    F = np.full((T + 1, R), np.nan)
    B = np.full((T, R), np.nan)
    if record:
        X = np.full((T + 1, R, 2), np.nan)
        G = np.full((T + 1, R, 2), np.nan)
        D = np.full((T + 1, R, 2), np.nan)
        PRE = np.full((T, R, 2), np.nan if any_adam else 1.0)
        TERMS = np.full((5, T, R), np.nan)   # model β, unclipped, numerator, denominator, gap
        X[0] = X0
        x = X[0]
    n_x = n_done = 0
    with np.errstate(all="ignore"):
        for t in range(T + 1):
            f, g = value_and_grad(x)
            if type(f) is not np.ndarray or f.shape != (R,) or f.dtype != np.float64:
                f = np.broadcast_to(np.asarray(f, dtype=np.float64), (R,))
            if check_each_step:
                # cheap test on the whole batch first (Σf² ≤ 1e200 ⇒ every |f| ≤ 1e100, Σx² ≤
                # b² ⇒ every |x| ≤ b; NaN fails both); the exact per-run test only when it fails
                xf = x.reshape(-1)
                if not (f @ f <= 1e200 and xf @ xf <= qb2):
                    ok = (np.abs(f) <= 1e100) & (np.abs(x - x0).max(axis=1) <= bound)
                    for i in np.flatnonzero(alive & ~ok):
                        diverged_at[i] = t
                    alive &= ok
                    all_alive, any_alive = bool(alive.all()), bool(alive.any())
                    x = np.where(_col(alive), x, np.nan)
                    f = np.where(alive, f, np.nan)
            elif t % _PROBE == 0 and t:
                # every run out of bounds now ⇒ every run has diverged: nothing left to compute
                ok = (np.abs(f) <= 1e100) & (np.abs(x - x0).max(axis=1) <= bound)
                any_alive = bool(ok.any())
            F[t] = f
            n_x += 1
            if t == T or not any_alive:
                break
            if type(g) is not np.ndarray or g.dtype != np.float64:
                g = np.asarray(g, dtype=np.float64)
            if NOISE is not None:
                g = g + NOISE[t]
            if wdc_c is not None:
                g = g + wdc_c * x
            if t == 0:
                d = q = np.where(init_g, g, 0.0)
                if record:
                    D[0] = d
                    d = q = D[0]
            if not all_alive:
                g = np.where(_col(alive), g, np.nan)
            # the taylor gap ⟨g_t, x_{t−1} − x_t⟩ along the previous step (its P and decay; at
            # t = 0: η⟨g_0, d_0⟩), or the measured f(x_{t−1}) − f(x_t)
            if t == 0 or gap_m is None:
                gap = taylor_gap(g, q, lr, None, 0.0, x, dim=-1)
            else:
                gap = taylor_gap_along(g, q, x, gap_s, gap_m, dim=-1)
            first = t == 0 and any_adam   # AdamW's first step (model.first_step_lam/_beta)
            lam_t = lam_first if first else lam_c
            if any_adam:
                v = v * b2_c + (g * g) * omb2_c
                P = model.preconditioner(v, t + 1, b2_pre, eps_c,
                                         model.bias_correction1(bc1_max_c, prod_c))
                lp = proximal_scale(lam_t, P)
                a, c = parts_of(g, d, P, P * lp, wd_x, x if wd_x is not None else None, dim=-1)
            else:
                lp = lp_sgd                 # (no AdamW row: λ at the first step is λ)
                a, c = parts_of(g, d, None, lp, dim=-1)
            if any_exact and t > 0:
                gap = np.where(exact, f_prev - f, gap)
            # (model.combine with one part: ω = η)
            terms = beta_from_sums(gap, a, c, lr, beta_max, positive=lr_positive)
            beta = np.where(adaptive, terms.beta, fixed) if any_fixed else terms.beta
            if first:
                beta = model.first_step_beta(beta, beta_max, adam)
            beta_col = beta[:, None]
            a_c, b_c = coefficients(beta_col, lam_t, P, lp)
            if any_tsgd:   # torch.optim.SGD(momentum=μ): d ← μ d + g (a_c, b_c are fresh arrays)
                np.copyto(a_c, mom_c if t > 0 else 0.0, where=tsgd_c)
                np.copyto(b_c, 1.0, where=tsgd_c)
            B[t] = beta
            n_done += 1
            if record:
                G[t] = g
                if any_adam:
                    PRE[t] = P
                for i in range(5):
                    TERMS[i, t] = terms[i]
                d = np.add(a_c * d, b_c * g, out=D[t + 1])
            else:
                d = a_c * d + b_c * g
            q = d / P if any_adam else d
            if any_nest:   # the look-ahead a d_{t+1} + b g_t on the Nesterov rows (P = 1)
                step_dir = a_c * d + b_c * g
                np.copyto(step_dir, q, where=not_nest_c)
            else:
                step_dir = q
            xd = x if decay_c is None else x * decay_c
            x = np.subtract(xd, lr_c * step_dir, out=X[t + 1]) if record else xd - lr_c * step_dir
            if not all_alive:
                x = np.where(_col(alive), x, np.nan)
            if any_adam:
                prod_c = prod_c * beta_col
            f_prev = f
    # n_done: steps actually computed (< T when every run stopped)
    if not record:
        for r, dv in enumerate(diverged_at):
            if dv is not None:
                B[dv:, r] = np.nan
        return {"f": F, "beta": B, "x_final": np.where(_col(alive), x, np.nan),
                "diverged_at": diverged_at, "steps": T}
    diverged_at = _first_out_of_bounds(X[:n_x], F[:n_x], x0, bound)
    alive = np.array([dv is None for dv in diverged_at])
    per = {"beta": B, **dict(zip(("model_beta", "unclipped", "numerator", "denominator", "gap"),
                                 TERMS))}
    PRE[n_done:] = np.nan
    if n_done:
        if n_done == T:
            if alive.any():     # the gradient at the last iterate, for the record
                with np.errstate(all="ignore"):
                    gT = np.asarray(landscape.grad(X[T]), dtype=np.float64)
                if NOISE is not None:
                    gT = gT + NOISE[T]
                if wdc_c is not None:
                    gT = gT + wdc_c * X[T]
                G[T] = np.where(_col(alive), gT, np.nan)
    for r, dv in enumerate(diverged_at):   # nothing at or after the divergence is meaningful
        if dv is not None:
            for arr in (X, F, G, D):
                arr[dv:, r] = np.nan
            for arr in (*per.values(), PRE):
                arr[dv:, r] = np.nan
    # reporting: the SGD path in AMSGD's own form; torch's optimizers report no model
    num_sgd, den_sgd = model.sgd_form(per["numerator"], per["denominator"], k.lam)
    per["numerator"] = np.where(k.sgd_form, num_sgd, per["numerator"])
    per["denominator"] = np.where(k.sgd_form, den_sgd, per["denominator"])
    for key in ("model_beta", "unclipped", "numerator", "denominator", "gap"):
        per[key] = np.where(k.torch_any, np.nan, per[key])
    lam_p = np.broadcast_to(k.lam[:, None], (T, R, 1)).copy()
    lam_p[:1] = model.first_step_lam(lam_p[:1], _col(k.adam))   # (AdamW's first step: λ = 0)
    eff = np.where(k.sgd_form, model.effective_momentum(per["beta"], k.lam),
                   model.effective_momentum_adamw(per["beta"][..., None], lam_p,
                                                  PRE).mean(axis=-1))
    eff = np.where(k.torch_any, per["beta"], eff)
    return {"X": X, "F": F, "G": G, "D": D, "per": per, "PRE": PRE, "eff": eff,
            "adam": k.adam, "diverged_at": diverged_at, "steps": T}


def _trajectories(specs: Sequence[OptimizerSpec], res: dict[str, Any]) -> list[Trajectory]:
    """One :class:`Trajectory` per spec from :func:`_run`'s arrays."""
    if not res:
        return []
    X, F, G, D, per, PRE, eff = (res[k] for k in ("X", "F", "G", "D", "per", "PRE", "eff"))
    T, diverged_at, adam = res["steps"], res["diverged_at"], res["adam"]
    out = []
    for r, spec in enumerate(specs):
        dv = diverged_at[r]
        tr = Trajectory(
            spec=spec, x=X[:, r].copy(), f=F[:, r].copy(), grad=G[:, r].copy(),
            direction=D[:, r].copy(), beta=per["beta"][:, r].copy(),
            model_beta=per["model_beta"][:, r].copy(), unclipped=per["unclipped"][:, r].copy(),
            numerator=per["numerator"][:, r].copy(), denominator=per["denominator"][:, r].copy(),
            loss_gap=per["gap"][:, r].copy(), effective_momentum=eff[:, r].copy(),
            grad_height=F[:T, r].copy(), grad_slope=G[:T, r].copy(),
            mem_height=F[:T, r] + per["gap"][:, r], mem_slope=D[:T, r].copy(),
            precond=PRE[:, r].copy() if adam[r] else None, diverged_at=dv, steps=T)
        if dv is not None:   # nothing computed at or after the divergence is meaningful
            for arr in (tr.grad, tr.direction, tr.grad_slope, tr.mem_slope):
                arr[dv:] = np.nan
            for arr in (tr.beta, tr.model_beta, tr.unclipped, tr.numerator, tr.denominator,
                        tr.loss_gap, tr.effective_momentum, tr.grad_height, tr.mem_height):
                arr[dv:] = np.nan
            if tr.precond is not None:
                tr.precond[dv:] = np.nan
        out.append(tr)
    return out


# ----------------------------------------------------------------------------- one step's geometry
def _step_args(tr: Trajectory, t: int) -> dict[str, Any]:
    if not 0 <= t < tr.steps or not np.isfinite(tr.f[t]) or not np.isfinite(tr.beta[t]):
        raise ValueError(f"step {t} is not available for {tr.label} "
                         f"(run of {tr.steps} steps{'' if tr.diverged_at is None else f', diverged at step {tr.diverged_at}'})")
    spec = tr.spec
    r = spec.resolved()
    adamw = tr.form == "adamw"
    return dict(
        f=float(tr.f[t]), gap=float(tr.loss_gap[t]), g=tr.grad[t].copy(), d=tr.direction[t].copy(),
        lr=spec.lr, lam=_lam(spec) if not (adamw and t == 0) else 0.0,   # (first step: λ = 0)
        P=tr.precond[t].copy() if adamw else None,
        wd=float(r.get("weight_decay", 0.0)) if adamw else 0.0,
        x=tr.x[t].copy() if adamw else None)


def step_geometry(tr: Trajectory, t: int) -> dict[str, Any]:
    """Everything the β computation at step t used and produced, from the trajectory's record and
    the model's functions: planes, the β terms, u(β), x_{t+1}, the dual D(β) on a grid."""
    if tr.form not in ("sgd", "adamw"):
        raise ValueError(f"{tr.label} is torch's own optimizer: it has no two-plane model "
                         "(choose an AM run or one of adamem_core's constant-β baselines)")
    a = _step_args(tr, t)
    beta_used = float(tr.beta[t])
    beta_model = float(tr.model_beta[t])
    u_used = np.asarray(model.u_of_beta(a["g"], a["d"], beta_used, a["lr"], a["lam"], a["P"],
                                        a["wd"], a["x"]))
    u_model = np.asarray(model.u_of_beta(a["g"], a["d"], beta_model, a["lr"], a["lam"], a["P"],
                                         a["wd"], a["x"]))
    bmax = float(tr.spec.resolved().get("beta_max", tr.spec.resolved().get("betas", (0.9,))[0]))
    betas = np.linspace(0.0, 1.0, 201)
    dual = np.array([float(model.dual_value(b, a["f"], a["gap"], a["g"], a["d"], a["lr"],
                                            a["lam"], a["P"], a["wd"], a["x"], dim=-1))
                     for b in betas])
    pl = model.planes(a["f"], a["gap"], a["g"], a["d"])
    gg, gd, dd = (float(v) for v in model.sgd_sums(a["g"], a["d"], dim=-1))
    nesterov = tr.spec.name == "nesterov"
    return dict(
        t=t, x=tr.x[t].copy(), x_next=tr.x[t + 1].copy(), f=a["f"], f_next=float(tr.f[t + 1]),
        g=a["g"], d=a["d"], d_next=tr.direction[t + 1].copy(), lr=a["lr"], lam=a["lam"],
        P=a["P"], wd=a["wd"], form=tr.form, nesterov=nesterov,
        beta=beta_used, model_beta=beta_model, fixed=not tr.spec.entry.adaptive,
        unclipped=float(tr.unclipped[t]), numerator=float(tr.numerator[t]),
        denominator=float(tr.denominator[t]), gap=a["gap"], beta_max=bmax,
        effective_momentum=float(tr.effective_momentum[t]),
        exact_gap=tr.spec.resolved().get("loss_gap") == "exact" and t > 0,
        gg=gg, gd=gd, dd=dd,
        u=u_used, u_model=u_model, planes=pl, dual_betas=betas, dual=dual,
        model_at_step=float(model.model_value(u_used, a["f"], a["gap"], a["g"], a["d"], a["lr"],
                                              a["lam"], a["P"], a["wd"], a["x"], dim=-1)),
    )


def _model_terms(a: dict[str, Any], U: np.ndarray) -> dict[str, np.ndarray]:
    """ℓ_g, ℓ_m, their max and the model m_t at offsets U (..., 2)."""
    lg = a["f"] + model.inner(U, a["g"], dim=-1)
    lm = a["f"] + a["gap"] + model.inner(U, a["d"], dim=-1)
    m = model.model_value(U, a["f"], a["gap"], a["g"], a["d"], a["lr"], a["lam"], a["P"],
                          a["wd"], a["x"], dim=-1)
    return {"grad_plane": lg, "mem_plane": lm, "max_plane": np.maximum(lg, lm), "model": m}


def local_surface(landscape: Landscape, tr: Trajectory, t: int, n: int = 41,
                  radius: float | None = None) -> dict[str, np.ndarray]:
    """f, both planes, their max and the model m_t on an n×n grid around x_t (radius defaults to
    1.5× the step length, at least a small fraction of the domain)."""
    a = _step_args(tr, t)
    step = np.linalg.norm(tr.x[t + 1] - tr.x[t]) if np.all(np.isfinite(tr.x[t + 1])) else 0.0
    (xa, xb), (ya, yb) = landscape.domain
    if radius is None:
        radius = max(1.5 * step, 0.02 * max(xb - xa, yb - ya))
    xs = tr.x[t, 0] + np.linspace(-radius, radius, n)
    ys = tr.x[t, 1] + np.linspace(-radius, radius, n)
    XX, YY = np.meshgrid(xs, ys)
    pts = np.stack([XX, YY], axis=-1)
    with np.errstate(all="ignore"):
        fv = np.asarray(landscape.value(pts), dtype=np.float64)
        terms = _model_terms(a, pts - tr.x[t])
    return {"xs": xs, "ys": ys, "f": fv, **terms, "radius": radius}


def step_slice(landscape: Landscape, tr: Trajectory, t: int, n: int = 201,
               extent: float = 2.0) -> dict[str, np.ndarray]:
    """The 1-D slice through x_t along the step actually taken: s ∈ [−0.5, extent] in units of
    the step (s = 1 is x_{t+1}); f, ℓ_g, ℓ_m, their max and the model along it."""
    a = _step_args(tr, t)
    u_step = tr.x[t + 1] - tr.x[t]
    if not np.all(np.isfinite(u_step)) or np.linalg.norm(u_step) == 0:
        u_step = -a["lr"] * a["g"]
    s = np.linspace(-0.5, extent, n)
    U = s[:, None] * u_step[None, :]
    with np.errstate(all="ignore"):
        fv = np.asarray(landscape.value(tr.x[t] + U), dtype=np.float64)
        terms = _model_terms(a, U)
    i_min = int(np.nanargmin(terms["model"]))
    return {"s": s, "f": fv, **terms, "step_length": float(np.linalg.norm(u_step)),
            "s_min_grid": float(s[i_min])}


# ----------------------------------------------------------------------------- summaries for the page
def contour_grid(landscape: Landscape, n: int = 160) -> dict[str, Any]:
    """f on an n×n grid of the domain, and a display height for contours: log10(f − f* + δ)
    where the minimum is known (the valleys stay readable), f itself otherwise."""
    (xa, xb), (ya, yb) = landscape.domain
    xs = np.linspace(xa, xb, n)
    ys = np.linspace(ya, yb, n)
    XX, YY = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        Z = np.asarray(landscape.value(np.stack([XX, YY], axis=-1)), dtype=np.float64)
    Z = np.broadcast_to(Z, XX.shape).copy()
    finite = np.isfinite(Z)
    fstar = landscape.f_star
    if fstar is not None and finite.any():
        span = float(np.nanmax(Z[finite]) - fstar)
        delta = max(span * 1e-6, 1e-12)
        disp = np.log10(np.maximum(Z - fstar, 0.0) + delta)
        kind = "log"
    else:
        disp, kind = Z, "linear"
    disp = np.where(finite, disp, np.nan)
    return {"xs": xs, "ys": ys, "z": Z, "display": disp, "kind": kind, "f_star": fstar}


def gap_to_optimum(tr: Trajectory, f_star: float | None) -> np.ndarray:
    """f(x_t) − f* per iterate (f itself when f* is unknown)."""
    return tr.f - f_star if f_star is not None else tr.f.copy()


def steps_to_tolerance(tr: Trajectory, f_star: float | None, tol: float) -> int | None:
    """First t with f(x_t) − f* < tol (None if never, or if f* is unknown)."""
    if f_star is None:
        return None
    hit = np.flatnonzero(tr.f - f_star < tol)
    return int(hit[0]) if hit.size else None


def summarize(trajectories: Sequence[Trajectory], landscape: Landscape,
              tol: float = 1e-6) -> list[dict[str, Any]]:
    """One row per run: steps to reach f − f* < tol, final gap, where it ended, divergence."""
    rows = []
    fstar = landscape.f_star
    for tr in trajectories:
        last = tr.last_valid()
        fin = float(tr.f[last]) if np.isfinite(tr.f[last]) else float("nan")
        betas = tr.beta[np.isfinite(tr.beta)]
        rows.append({
            "optimizer": tr.label,
            "name": tr.name,
            "steps_to_tol": steps_to_tolerance(tr, fstar, tol),
            "final_f": fin,
            "final_gap": (fin - fstar) if fstar is not None else None,
            "final_x": tuple(float(v) for v in tr.x[last]),
            "diverged_at": tr.diverged_at,
            "mean_beta": float(betas.mean()) if betas.size else None,
        })
    return rows


def trajectories_frame(trajectories: Sequence[Trajectory]):
    """All runs in one long table (one row per run and step), for CSV export."""
    import pandas as pd

    frames = []
    for r, tr in enumerate(trajectories):
        T = tr.steps
        pad = np.full(1, np.nan)
        frames.append(pd.DataFrame({
            "run": r, "optimizer": tr.label, "name": tr.name, "step": np.arange(T + 1),
            "x": tr.x[:, 0], "y": tr.x[:, 1], "f": tr.f,
            "grad_x": tr.grad[:, 0], "grad_y": tr.grad[:, 1],
            "d_x": tr.direction[:, 0], "d_y": tr.direction[:, 1],
            "beta": np.concatenate([tr.beta, pad]),
            "model_beta": np.concatenate([tr.model_beta, pad]),
            "numerator": np.concatenate([tr.numerator, pad]),
            "denominator": np.concatenate([tr.denominator, pad]),
            "loss_gap": np.concatenate([tr.loss_gap, pad]),
            "effective_momentum": np.concatenate([tr.effective_momentum, pad]),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
