"""The Sweeps page's scene: every control's value, validated and clamped, to and from the URL.

Plain data (no Streamlit), like :mod:`adamem_core.scene` (the Playground) and
:mod:`adamem_core.mlp_scene`. :func:`parse_query` turns untrusted query parameters into a valid
:class:`SweepScene` plus one human-readable notice per correction, including the server-side
limit on runs × steps (:func:`adamem_core.sweep.limit_request`); :meth:`SweepScene.to_query`
writes it back, so a copied link reopens the same sweep. Numbers go through ``float`` and range
checks, names through whitelists; the formula only through :mod:`adamem_core.expressions` (by
the page, which shows its message). Nothing is evaluated.

Keys (prefixed ``s_`` so that they never collide with the Playground's or the MLP lab's;
``lecture`` is shared by every page)::

    s_f      function name (a key of LANDSCAPES, or "custom")   s_expr  the custom formula
    s_p_<k>  the function's parameters (e.g. s_p_kappa)
    s_start  "point" or "random"          s_x0, s_y0  the start point
    s_k      number of random starts      s_sseed     their seed (uniform inside the domain)
    s_steps  step budget                  s_tol       tolerance on f − f*
    s_lrmin, s_lrmax, s_nlr               the learning-rate grid (log spaced)
    s_base   baseline family: sgd_ema | nesterov | adamw
    s_betas  the constant-β rows, e.g. "0,0.5,0.8,0.9,0.95,0.99"
    s_am     adaptive rows: "am_sgd,am_adamw" (or one, or none: "-")
    s_lam, s_bmax                         λ and β_max of the adaptive rows
    s_noise  gradient noise σ             s_seeds   number of noise seeds
    s_lr     the learning rate of the many-starts chart ("best": each row's own best)
    lecture  "1": lecture mode
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .landscape_base import Landscape
from .scene import (BETA_MAX_RANGE, BETA_RANGE, CUSTOM, LAM_RANGE, LR_RANGE,
                    MAX_VALUE_CHARS, Scene, RunChoice, TOL_RANGE, _choice, _flag,
                    _domain_and_start, _landscape_choice, _num, _plain_query,
                    _short)
from .specs import OptimizerSpec
from .sweep import LIMITS, SweepLimits, limit_request, lr_grid

__all__ = ["SweepScene", "parse_query", "KEYS", "BASELINES", "ADAPTIVE", "DEFAULT_BETAS",
           "random_starts", "playground_query", "MAX_BETAS", "NOISE_RANGE"]

BASELINES = {"sgd_ema": "EMA momentum", "nesterov": "Nesterov (EMA)", "adamw": "AdamW β₁"}
ADAPTIVE = {"am_sgd": "AM-SGD", "am_adamw": "AM-AdamW"}
DEFAULT_BETAS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)
MAX_BETAS = 10
NOISE_RANGE = (0.0, 100.0)
STARTS = ("point", "random")
SSEED_RANGE = (0, 999_999)
KEYS = ("s_f", "s_expr", "s_start", "s_x0", "s_y0", "s_k", "s_sseed", "s_steps", "s_tol",
        "s_lrmin", "s_lrmax", "s_nlr", "s_base", "s_betas", "s_am", "s_lam", "s_bmax",
        "s_noise", "s_seeds", "s_lr", "lecture")


@dataclass(frozen=True)
class SweepScene:
    """Every control of the Sweeps page (valid values only: build it with :func:`parse_query`)."""

    landscape: str = "ill_conditioned_quadratic"
    params: tuple[tuple[str, float], ...] = (("kappa", 100.0), ("angle", 0.0))
    formula: str = "x**2 + 10*y**2 + sin(3*x)"
    start_mode: str = "point"
    x0: float = -2.6
    y0: float = 0.8
    n_starts: int = 20
    start_seed: int = 0
    steps: int = 300
    tol: float = 1e-6
    lr_min: float = 1e-3
    lr_max: float = 3.0
    n_lrs: int = 25
    baseline: str = "sgd_ema"
    betas: tuple[float, ...] = DEFAULT_BETAS
    adaptive: tuple[str, ...] = ("am_sgd", "am_adamw")
    lam: float = 0.1
    beta_max: float = 0.9
    noise: float = 0.0
    n_seeds: int = 1
    starts_lr: float | None = None      # None: each row at its own best lr
    lecture: bool = False

    # ------------------------------------------------------------------ what to run
    def rows(self) -> list[OptimizerSpec]:
        """The optimizer rows (lr is a placeholder: the sweep replaces it): the adaptive rows,
        then one baseline per β. No weight decay anywhere: rows differ only in their momentum."""
        out = []
        for a in self.adaptive:
            if a == "am_sgd":
                out.append(OptimizerSpec("am_sgd", 0.1, lam=self.lam, beta_max=self.beta_max))
            else:
                out.append(OptimizerSpec("am_adamw", 0.1, lam=self.lam,
                                         betas=(self.beta_max, 0.999), weight_decay=0.0))
        for b in self.betas:
            if self.baseline == "adamw":
                out.append(OptimizerSpec("adamw", 0.1, beta1=b, weight_decay=0.0))
            else:
                out.append(OptimizerSpec(self.baseline, 0.1, beta=b))
        return out

    def lrs(self) -> np.ndarray:
        return lr_grid(self.lr_min, self.lr_max, self.n_lrs)

    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.n_seeds))

    def starts(self, landscape: Landscape) -> np.ndarray:
        if self.start_mode == "random":
            return random_starts(landscape, self.n_starts, self.start_seed)
        return np.array([[self.x0, self.y0]])

    @property
    def n_runs(self) -> int:
        k = self.n_starts if self.start_mode == "random" else 1
        return len(self.rows()) * self.n_lrs * k * self.n_seeds

    def to_query(self) -> dict[str, str]:
        q = {"s_f": self.landscape, "s_start": self.start_mode,
             "s_x0": f"{self.x0:.6g}", "s_y0": f"{self.y0:.6g}",
             "s_steps": str(self.steps), "s_tol": f"{self.tol:g}",
             "s_lrmin": f"{self.lr_min:g}", "s_lrmax": f"{self.lr_max:g}",
             "s_nlr": str(self.n_lrs), "s_base": self.baseline,
             "s_betas": ",".join(f"{b:g}" for b in self.betas),
             "s_am": ",".join(self.adaptive) or "-",
             "s_lam": f"{self.lam:g}", "s_bmax": f"{self.beta_max:g}",
             "s_noise": f"{self.noise:g}", "s_seeds": str(self.n_seeds),
             "s_lr": "best" if self.starts_lr is None else f"{self.starts_lr:g}"}
        if self.start_mode == "random":
            q["s_k"] = str(self.n_starts)
            q["s_sseed"] = str(self.start_seed)
        for k, v in self.params:
            q[f"s_p_{k}"] = f"{v:g}"
        if self.landscape == CUSTOM:
            q["s_expr"] = self.formula
        if self.lecture:
            q["lecture"] = "1"
        return q

    def replace(self, **kw: Any) -> "SweepScene":
        return replace(self, **kw)


def random_starts(landscape: Landscape, k: int, seed: int) -> np.ndarray:
    """``k`` start points drawn uniformly inside the middle 90 % of the landscape's domain
    (NumPy ``default_rng(seed)``: the same seed gives the same starts), rounded to 4 decimals so
    that a link to one of them reopens exactly that run."""
    (xa, xb), (ya, yb) = landscape.domain
    rng = np.random.default_rng(int(seed))
    u = rng.uniform(0.05, 0.95, size=(int(k), 2))
    pts = np.stack([xa + u[:, 0] * (xb - xa), ya + u[:, 1] * (yb - ya)], axis=1)
    return np.round(pts, 4)


def playground_query(scene: SweepScene, spec: OptimizerSpec, lr: float, start: tuple[float, float],
                     seed: int) -> dict[str, str]:
    """The Playground's URL query (:meth:`adamem_core.scene.Scene.to_query`) of one run of the
    sweep: that optimizer at that lr, start and noise seed, with the sweep's steps and
    tolerance (the sweep's learning rates are inside the Playground's range)."""
    beta = spec.fixed_beta if spec.name in ("sgd_ema", "nesterov", "adamw") else None
    pg = Scene(landscape=scene.landscape, params=scene.params, formula=scene.formula,
               x0=float(start[0]), y0=float(start[1]), runs=(RunChoice(spec.name, beta, None),),
               lr=float(lr), steps=scene.steps, lam=scene.lam, beta_max=scene.beta_max,
               t=scene.steps, tol=scene.tol, noise=scene.noise, seed=int(seed))
    return pg.to_query()


# ----------------------------------------------------------------------------- parsing


def _betas(raw: Any, notices: list[str]) -> tuple[float, ...]:
    out: list[float] = []
    for tok in str(raw)[:MAX_VALUE_CHARS].replace(";", ",").split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            b = float(tok)
        except ValueError:
            notices.append(f"constant β: {_short(tok)} is not a number — ignored.")
            continue
        if not math.isfinite(b):
            notices.append(f"constant β: {_short(tok)} is not finite — ignored.")
            continue
        if not BETA_RANGE[0] <= b <= BETA_RANGE[1]:
            c = min(max(b, BETA_RANGE[0]), BETA_RANGE[1])
            notices.append(f"constant β: {b:g} is outside [{BETA_RANGE[0]:g}, "
                           f"{BETA_RANGE[1]:g}] — clamped to {c:g}.")
            b = c
        b = float(f"{b:.4g}")
        if b in out:
            continue
        if len(out) >= MAX_BETAS:
            notices.append(f"at most {MAX_BETAS} constant-β rows — the rest were ignored.")
            break
        out.append(b)
    return tuple(sorted(out))


def _adaptive(raw: Any, notices: list[str]) -> tuple[str, ...]:
    s = str(raw).strip()[:MAX_VALUE_CHARS]
    if s in ("-", "", "none"):
        return ()
    out: list[str] = []
    for tok in s.split(","):
        tok = tok.strip()
        if tok in ADAPTIVE and tok not in out:
            out.append(tok)
        elif tok and tok not in ADAPTIVE:
            notices.append(f"adaptive optimizer {_short(tok)} unknown (choose from "
                           f"{', '.join(ADAPTIVE)}) — ignored.")
    return tuple(out)


def parse_query(query: Mapping[str, Any], landscapes: Mapping[str, Landscape],
                limits: SweepLimits = LIMITS) -> tuple[SweepScene, list[str]]:
    """A valid :class:`SweepScene` from untrusted query parameters (keys other than
    :data:`KEYS` and ``s_p_*`` are ignored), and the notices for what was corrected or cut
    down to the server's limits."""
    notices: list[str] = []
    d = SweepScene()
    q = _plain_query(query, lambda k: k in KEYS or k.startswith("s_p_"))
    name, formula, land, params = _landscape_choice(q, landscapes, notices, d, "s_f",
                                                    "s_expr", "s_p_")

    (xa, xb), (ya, yb), (sx, sy) = _domain_and_start(land)
    if name == d.landscape:
        sx, sy = d.x0, d.y0
    start_mode = _choice(q.get("s_start", d.start_mode), "start", STARTS, d.start_mode, notices)
    x0 = _num(q.get("s_x0", sx), "start x", xa, xb, sx, notices)
    y0 = _num(q.get("s_y0", sy), "start y", ya, yb, sy, notices)
    k = _num(q.get("s_k", d.n_starts), "random starts", 2, 10_000, d.n_starts, notices,
             integer=True)
    sseed = _num(q.get("s_sseed", d.start_seed), "seed of the starts", *SSEED_RANGE,
                 d.start_seed, notices, integer=True)
    steps = _num(q.get("s_steps", d.steps), "steps", 1, 100_000, d.steps, notices, integer=True)
    tol = _num(q.get("s_tol", d.tol), "tolerance", *TOL_RANGE, d.tol, notices)
    lr_min = _num(q.get("s_lrmin", d.lr_min), "smallest learning rate", *LR_RANGE, d.lr_min,
                  notices)
    lr_max = _num(q.get("s_lrmax", d.lr_max), "largest learning rate", *LR_RANGE, d.lr_max,
                  notices)
    if lr_max < lr_min:
        notices.append(f"learning rates: the largest ({lr_max:g}) is below the smallest "
                       f"({lr_min:g}) — swapped.")
        lr_min, lr_max = lr_max, lr_min
    n_lrs = _num(q.get("s_nlr", d.n_lrs), "number of learning rates", limits.min_lrs, 10_000,
                 d.n_lrs,
                 notices, integer=True)
    base = _choice(q.get("s_base", d.baseline), "baseline family", tuple(BASELINES),
                   d.baseline, notices)
    betas = _betas(q["s_betas"], notices) if "s_betas" in q else d.betas
    adaptive = _adaptive(q["s_am"], notices) if "s_am" in q else d.adaptive
    if not betas and not adaptive:
        notices.append("no optimizer row was given — using the default rows.")
        betas, adaptive = d.betas, d.adaptive
    lam = _num(q.get("s_lam", d.lam), "λ", *LAM_RANGE, d.lam, notices)
    bmax = _num(q.get("s_bmax", d.beta_max), "β_max", *BETA_MAX_RANGE, d.beta_max, notices)
    noise = _num(q.get("s_noise", d.noise), "noise σ", *NOISE_RANGE, d.noise, notices)
    n_seeds = _num(q.get("s_seeds", d.n_seeds), "noise seeds", 1, 10_000, d.n_seeds, notices,
                   integer=True)
    raw_lr = str(q.get("s_lr", "best")).strip()
    starts_lr = None
    if raw_lr != "best":
        starts_lr = _num(raw_lr, "learning rate of the many-starts chart", *LR_RANGE, 0.1,
                         notices)
    # the server's limits on the grid (runs × steps)
    rows = len(adaptive) + len(betas)
    size, cut = limit_request(rows, int(n_lrs), int(k) if start_mode == "random" else 1,
                              int(n_seeds), int(steps), limits)
    notices.extend(cut)
    scene = SweepScene(
        landscape=name, params=params, formula=formula, start_mode=start_mode,
        x0=float(x0), y0=float(y0),
        n_starts=int(size["starts"]) if start_mode == "random" else int(
            min(k, limits.max_starts)),
        start_seed=int(sseed), steps=int(size["steps"]), tol=float(tol),
        lr_min=float(lr_min), lr_max=float(lr_max), n_lrs=int(size["lrs"]), baseline=base,
        betas=betas, adaptive=adaptive, lam=float(lam), beta_max=float(bmax),
        noise=float(noise), n_seeds=int(size["seeds"]), starts_lr=starts_lr,
        lecture=_flag(q.get("lecture", "")))
    return scene, notices
