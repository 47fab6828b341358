"""The playground's scene: every control's value, validated and clamped, to and from the URL.

A :class:`Scene` is plain data (no Streamlit). :func:`parse_query` turns untrusted query
parameters (``st.query_params``) into a valid scene plus a list of human-readable notices for
everything that had to be corrected; :meth:`Scene.to_query` writes it back, so a copied link
reopens the same scene. Nothing here evaluates text: numbers go through ``float`` and range
checks, names through whitelists, the formula only through :mod:`adamem_core.expressions`
(by the page, which shows its message).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from .optim import OPTIMIZERS
from .specs import OptimizerSpec

# ----------------------------------------------------------------------------- limits
LR_RANGE = (1e-5, 10.0)
STEPS_RANGE = (1, 2000)
LAM_RANGE = (0.0, 10.0)
BETA_MAX_RANGE = (0.0, 0.999)
BETA_RANGE = (0.0, 0.999)
TOL_RANGE = (1e-14, 1e-1)
NOISE_RANGE = (0.0, 100.0)   # gradient noise σ
SEED_RANGE = (0, 999_999)
NOISE_SEEDS = 16             # seeds drawn for the median and band of the gap chart (σ > 0)
COORD_LIMIT = 1e4            # start coordinates (further clamped to the landscape's domain)
MAX_RUNS = 8
MAX_FORMULA = 300
MAX_VALUE_CHARS = 400        # longer query values are cut before anything reads them
CUSTOM = "custom"
GAPS = ("taylor", "exact")
PICKABLE = ("am_sgd", "am_adamw", "sgd", "sgd_ema", "nesterov", "adamw", "torch_sgd",
            "torch_adamw")
HAS_BETA = {"sgd_ema": "beta", "nesterov": "beta", "torch_sgd": "beta", "adamw": "beta1",
            "torch_adamw": "beta1"}

DEFAULT_RUNS = ("am_sgd", "am_adamw", "sgd_ema:0.9", "sgd_ema:0.5")


@dataclass(frozen=True)
class RunChoice:
    """One optimizer in the comparison: registry name, constant β (baselines), own η."""

    name: str
    beta: float | None = None
    lr: float | None = None      # None: the shared learning rate

    def token(self) -> str:
        t = self.name
        if self.beta is not None:
            t += f":{self.beta:g}"
        if self.lr is not None:
            t += f"@{self.lr:g}"
        return t


@dataclass(frozen=True)
class Scene:
    landscape: str = "ill_conditioned_quadratic"
    params: tuple[tuple[str, float], ...] = (("kappa", 100.0), ("angle", 0.0))
    formula: str = "x**2 + 10*y**2 + sin(3*x)"
    x0: float = -2.6
    y0: float = 0.8
    runs: tuple[RunChoice, ...] = field(default_factory=lambda: tuple(
        _parse_token(t)[0] for t in DEFAULT_RUNS))
    lr: float = 0.1
    lr_mode: str = "shared"      # "shared" | "per"
    steps: int = 150
    lam: float = 0.1
    beta_max: float = 0.9
    gap: str = "taylor"
    t: int = 150
    tol: float = 1e-6
    lecture: bool = False
    surface3d: bool = False
    model_beta: bool = False
    noise: float = 0.0           # gradient noise σ (every gradient is ∇f + σξ, ξ ~ N(0, I))
    seed: int = 0                # the noise seed of the runs drawn

    # ------------------------------------------------------------------ specs
    def specs(self) -> list[OptimizerSpec]:
        """The optimizer specs of this scene (AM runs take λ, β_max and the gap mode)."""
        out = []
        for r in self.runs:
            lr = r.lr if (self.lr_mode == "per" and r.lr is not None) else self.lr
            kw: dict[str, Any] = {}
            if r.name == "am_sgd":
                kw = dict(lam=self.lam, beta_max=self.beta_max, loss_gap=self.gap)
            elif r.name == "am_adamw":
                kw = dict(lam=self.lam, betas=(self.beta_max, 0.999), loss_gap=self.gap,
                          weight_decay=0.0)
            elif r.name in ("adamw", "torch_adamw"):
                kw = dict(weight_decay=0.0)
            if r.name in HAS_BETA and r.beta is not None:
                kw[HAS_BETA[r.name]] = r.beta
            out.append(OptimizerSpec(r.name, lr, **kw))
        return out

    def to_query(self) -> dict[str, str]:
        q = {
            "f": self.landscape,
            "x0": f"{self.x0:.6g}", "y0": f"{self.y0:.6g}",
            "opt": ",".join(r.token() for r in self.runs),
            "lr": f"{self.lr:g}", "lrmode": self.lr_mode, "steps": str(self.steps),
            "lam": f"{self.lam:g}", "bmax": f"{self.beta_max:g}", "gap": self.gap,
            "t": str(self.t), "tol": f"{self.tol:g}",
        }
        for k, v in self.params:
            q[f"p_{k}"] = f"{v:g}"
        if self.landscape == CUSTOM:
            q["expr"] = self.formula
        if self.noise > 0:
            q["noise"] = f"{self.noise:g}"
            q["seed"] = str(self.seed)
        for key, on in (("lecture", self.lecture), ("surface", self.surface3d),
                        ("mbeta", self.model_beta)):
            if on:
                q[key] = "1"
        return q

    def replace(self, **kw: Any) -> "Scene":
        return replace(self, **kw)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- parsing helpers
def _short(v: Any) -> str:
    s = str(v)
    s = s if len(s) <= 40 else s[:37] + "…"
    return repr(s)


def _num(raw: Any, name: str, lo: float, hi: float, default: float, notices: list[str],
         integer: bool = False) -> float:
    """A finite number in [lo, hi]; anything else is replaced (with a notice)."""
    try:
        if isinstance(raw, bool):
            raise ValueError
        v = float(str(raw).strip()[:MAX_VALUE_CHARS]) if not isinstance(raw, (int, float)) \
            else float(raw)
    except (TypeError, ValueError, OverflowError):
        notices.append(f"{name}: {_short(raw)} is not a number — using {default:g}.")
        return default
    if not math.isfinite(v):
        notices.append(f"{name}: {_short(raw)} is not finite — using {default:g}.")
        return default
    if integer:
        v = float(round(v))
    if v < lo or v > hi:
        c = min(max(v, lo), hi)
        notices.append(f"{name}: {v:g} is outside [{lo:g}, {hi:g}] — clamped to {c:g}.")
        v = c
    return int(v) if integer else v


def _flag(raw: Any) -> bool:
    return str(raw).strip().lower() in ("1", "true", "yes", "on")


def _parse_token(tok: str) -> tuple[RunChoice | None, str | None]:
    """``name[:beta][@lr]`` → RunChoice, or an error message."""
    tok = tok.strip()
    if not tok:
        return None, None
    lr = beta = None
    body = tok
    if "@" in body:
        body, lr_s = body.split("@", 1)
        try:
            lr = float(lr_s)
        except ValueError:
            return None, f"optimizer {_short(tok)}: learning rate {_short(lr_s)} is not a number"
        if not math.isfinite(lr) or lr <= 0:
            return None, f"optimizer {_short(tok)}: learning rate must be a positive number"
        lr = min(max(lr, LR_RANGE[0]), LR_RANGE[1])
    if ":" in body:
        body, b_s = body.split(":", 1)
        try:
            beta = float(b_s)
        except ValueError:
            return None, f"optimizer {_short(tok)}: β {_short(b_s)} is not a number"
        if not math.isfinite(beta):
            return None, f"optimizer {_short(tok)}: β must be finite"
        beta = min(max(beta, BETA_RANGE[0]), BETA_RANGE[1])
    name = body.strip()
    if name not in PICKABLE:
        return None, (f"unknown optimizer {_short(name)} (choose from "
                      f"{', '.join(PICKABLE)})")
    if name not in HAS_BETA:
        beta = None
    elif beta is None:
        beta = float(OPTIMIZERS[name].defaults[HAS_BETA[name]])
    return RunChoice(name, beta, lr), None


def token_label(tok: str) -> str:
    """What an optimizer token looks like in a menu: ``"EMA momentum β=0.9"``, ``"AM-SGD"``
    (the learning rate, λ and β_max are set elsewhere on the page; an own ``@lr`` is shown)."""
    rc, _ = _parse_token(tok)
    if rc is None:
        return tok
    entry = OPTIMIZERS[rc.name]
    text = entry.label
    if rc.beta is not None:
        text += f" {'β₁' if entry.family == 'adamw' else 'β'}={rc.beta:g}"
    if rc.lr is not None:
        text += f" (η={rc.lr:g})"
    return text


def parse_runs(raw: str, notices: list[str]) -> tuple[RunChoice, ...]:
    runs: list[RunChoice] = []
    for tok in str(raw)[:MAX_VALUE_CHARS].split(","):
        rc, err = _parse_token(tok)
        if err:
            notices.append(err + " — ignored.")
        elif rc is not None:
            if len(runs) >= MAX_RUNS:
                notices.append(f"at most {MAX_RUNS} optimizers at once — the rest were ignored.")
                break
            runs.append(rc)
    if not runs:
        notices.append("no valid optimizer was given — using the default comparison.")
        return Scene().runs
    return tuple(runs)


def _choice(raw: Any, name: str, choices: tuple[str, ...] | list[str], default: str,
            notices: list[str]) -> str:
    """``raw`` if it is one of ``choices``, else ``default`` with a notice."""
    v = str(raw).strip()[:MAX_VALUE_CHARS]
    if v in choices:
        return v
    notices.append(f"{name}: {_short(raw)} unknown (choose from {', '.join(choices)}) — "
                   f"using {default!r}.")
    return default


def _plain_query(query: Mapping[str, Any], keep: Any = None) -> dict[str, Any]:
    """Untrusted query parameters as {key: its last value}, keys and text cut to size before
    anything reads them; ``keep(key)`` filters the keys (all when None)."""
    q = {str(k)[:40]: (v[-1] if isinstance(v, (list, tuple)) and v else v)
         for k, v in dict(query).items()}
    return {k: (str(v)[:MAX_VALUE_CHARS] if not isinstance(v, (int, float)) else v)
            for k, v in q.items() if keep is None or keep(k)}


def _landscape_choice(q: Mapping[str, Any], landscapes: Mapping[str, Any], notices: list[str],
                      default: Any, key: str = "f", expr_key: str = "expr",
                      param_prefix: str = "p_") -> tuple[str, str, Any, tuple]:
    """(name, formula, landscape or None for a custom formula, parameters) named by a query:
    an unknown name falls back to ``default.landscape``, a formula is cut to MAX_FORMULA
    characters (the parser, run by the page, says what else is wrong with it), each parameter
    is clamped to its family's range (defaults: ``default.params`` on the default landscape,
    else the landscape's own)."""
    name = str(q.get(key, default.landscape)).strip()[:MAX_VALUE_CHARS]
    if name != CUSTOM and name not in landscapes:
        notices.append(f"unknown function {_short(name)} — showing the default "
                       f"({default.landscape}).")
        name = default.landscape
    formula = default.formula
    if name == CUSTOM:
        formula = str(q.get(expr_key, default.formula))
        if len(formula) > MAX_FORMULA:
            notices.append(f"formula longer than {MAX_FORMULA} characters — cut.")
            formula = formula[:MAX_FORMULA]
    land = landscapes.get(name) if name != CUSTOM else None
    params: tuple[tuple[str, float], ...] = ()
    if land is not None and land.param_specs:
        ps = []
        for k, spec in land.param_specs.items():
            dflt = float(dict(default.params).get(k, land.params.get(k, spec.default))) \
                if name == default.landscape else float(land.params.get(k, spec.default))
            raw = q.get(f"{param_prefix}{k}", dflt)
            ps.append((k, float(_num(raw, spec.label or k, spec.min, spec.max, dflt, notices))))
        params = tuple(ps)
    return name, formula, land, params


def _domain_and_start(land: Any) -> tuple[tuple[float, float], tuple[float, float],
                                          tuple[float, float]]:
    """(x range, y range, start) of a landscape; a custom formula (``land`` None) gets the
    parser's default domain [−3, 3]² and start (−2, 2)."""
    if land is not None:
        return tuple(land.domain[0]), tuple(land.domain[1]), tuple(land.start)
    return (-3.0, 3.0), (-3.0, 3.0), (-2.0, 2.0)


def parse_query(query: Mapping[str, Any], landscapes: Mapping[str, Any]) -> tuple[Scene, list[str]]:
    """A valid :class:`Scene` from untrusted query parameters, and the notices for what was
    corrected. ``landscapes`` is the catalogue (name → Landscape) used to check the name, the
    parameters and the start's domain."""
    notices: list[str] = []
    d = Scene()
    q = _plain_query(query)
    name, formula, land, params = _landscape_choice(q, landscapes, notices, d)

    (xa, xb), (ya, yb), (sx, sy) = _domain_and_start(land)
    if name == d.landscape and "x0" not in q:
        sx, sy = d.x0, d.y0
    x0 = _num(q.get("x0", sx), "start x", xa, xb, sx, notices)
    y0 = _num(q.get("y0", sy), "start y", ya, yb, sy, notices)

    runs = parse_runs(q["opt"], notices) if "opt" in q else d.runs
    lr_default = d.lr if land is None or name == d.landscape else land.suggested_lr("sgd")
    lr = _num(q.get("lr", lr_default), "learning rate η", *LR_RANGE, lr_default, notices)
    lr_mode = str(q.get("lrmode", "shared"))
    if lr_mode not in ("shared", "per"):
        notices.append(f"learning-rate mode {_short(lr_mode)} unknown — using 'shared'.")
        lr_mode = "shared"
    steps = _num(q.get("steps", d.steps), "steps", *STEPS_RANGE, d.steps, notices, integer=True)
    lam = _num(q.get("lam", d.lam), "λ", *LAM_RANGE, d.lam, notices)
    bmax = _num(q.get("bmax", d.beta_max), "β_max", *BETA_MAX_RANGE, d.beta_max, notices)
    gap = str(q.get("gap", d.gap))
    if gap not in GAPS:
        notices.append(f"gap mode {_short(gap)} unknown — using 'taylor'.")
        gap = "taylor"
    t = _num(q.get("t", steps), "step t", 0, steps, steps, notices, integer=True)
    tol = _num(q.get("tol", d.tol), "tolerance", *TOL_RANGE, d.tol, notices)
    noise = _num(q.get("noise", d.noise), "gradient noise σ", *NOISE_RANGE, d.noise, notices)
    seed = _num(q.get("seed", d.seed), "noise seed", *SEED_RANGE, d.seed, notices, integer=True)
    scene = Scene(landscape=name, params=params, formula=formula, x0=float(x0), y0=float(y0),
                  runs=runs, lr=float(lr), lr_mode=lr_mode, steps=int(steps), lam=float(lam),
                  beta_max=float(bmax), gap=gap, t=int(t), tol=float(tol),
                  lecture=_flag(q.get("lecture", "")), surface3d=_flag(q.get("surface", "")),
                  model_beta=_flag(q.get("mbeta", "")), noise=float(noise), seed=int(seed))
    return scene, notices


# ----------------------------------------------------------------------------- lecture scenes
# A sequence of scenes for a lecture: (title, what to look at, query). Each caption states what
# the engine measures on that scene (tests/test_scene.py checks every claim).
LECTURE_SCENES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("A narrow valley (κ = 100)",
     "AM-SGD reaches f − f* < 1e-6 in 42 steps, EMA momentum β = 0.9 needs 146, and β = 0.5 "
     "diverges; watch AM's β swing early, then settle near 0.64.",
     {"f": "ill_conditioned_quadratic", "opt": "am_sgd,am_adamw,sgd_ema:0.9,sgd_ema:0.5",
      "lr": "0.1", "steps": "150"}),
    ("Beale at η = 0.03",
     "Every constant β ≥ 0.5 diverges within 5 steps, while AM-SGD, choosing β at each "
     "step, converges (f − f* < 1e-6 by step 459).",
     {"f": "beale", "opt": "am_sgd,sgd,sgd_ema:0.5,sgd_ema:0.9", "lr": "0.03",
      "steps": "500"}),
    ("Himmelblau: four minima",
     "From (0, 4), AM-SGD settles in the nearest minimum in about 26 steps; EMA momentum "
     "β = 0.9 is carried past it into another basin.",
     {"f": "himmelblau", "opt": "am_sgd,sgd_ema:0.9,am_adamw,adamw:0.9", "lr": "0.01",
      "steps": "300"}),
    ("A rotated valley (κ = 1000, θ = 30°)",
     "Too much memory hurts: with β = 0.99, EMA momentum ends far above where it started, "
     "while AM-SGD, choosing its β step by step, and β = 0.9 approach the minimum.",
     {"f": "ill_conditioned_quadratic", "p_kappa": "1000", "p_angle": "30",
      "opt": "am_sgd,sgd_ema:0.9,sgd_ema:0.99", "lr": "0.01", "steps": "400"}),
)
