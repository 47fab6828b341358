"""The Theory page's scene: every control's value, validated and clamped, to and from the URL;
and the named cases (settings + a two-sentence explanation whose claims are checked against the
numbers the page shows).

Plain data (no Streamlit), like :mod:`adamem_core.scene`. Query keys start with ``th_`` so they
never collide with the other pages' keys:

    th_g     ‖g‖ (gradient length)              th_d     ‖d‖ (memory length)
    th_ang   angle between g and d, degrees     th_gap   "taylor" or a number: the exact gap f̂ − f
    th_lr    η                                  th_lam   λ
    th_bmax  β_max                              th_cl    the comparison's step size η·L
    th_case  a named case (its settings are the other keys)
    lecture  "1": lecture mode
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from . import model
from .scene import MAX_VALUE_CHARS, _flag, _num, _short

G_RANGE = (0.01, 10.0)
D_RANGE = (0.0, 10.0)
ANGLE_RANGE = (0.0, 180.0)
GAP_RANGE = (-100.0, 100.0)
LR_RANGE = (1e-4, 10.0)
LAM_RANGE = (0.0, 10.0)
BETA_MAX_RANGE = (0.0, 0.999)
CL_RANGE = (0.1, 20.0)       # η·L of the classical comparison
MAP_RATIO_MAX = 4.0          # the β map's ‖d‖/‖g‖ axis: [0, 4]
KEYS = ("th_g", "th_d", "th_ang", "th_gap", "th_lr", "th_lam", "th_bmax", "th_cl", "th_case",
        "lecture")


@dataclass(frozen=True)
class TheoryScene:
    g_norm: float = 1.0
    d_norm: float = 1.5
    angle: float = 60.0
    gap: float | None = None     # None: taylor; a number: the exact gap f̂ − f
    lr: float = 0.1
    lam: float = 0.1
    beta_max: float = 0.9
    cl_scale: float = 10.0       # η·L: κ = 100 at η = 0.1 is the Playground's default scene
    case: str = ""
    lecture: bool = False

    def sandbox(self) -> dict[str, Any]:
        return model.sandbox(self.g_norm, self.d_norm, self.angle, self.lr, self.lam,
                             self.beta_max, self.gap)

    def gap_unit(self) -> float | None:
        """The exact gap in units of η‖g‖² (the β map's parameter), None for taylor."""
        return None if self.gap is None else self.gap / (self.lr * self.g_norm ** 2)

    def to_query(self) -> dict[str, str]:
        q = {"th_g": f"{self.g_norm:g}", "th_d": f"{self.d_norm:g}", "th_ang": f"{self.angle:g}",
             "th_gap": "taylor" if self.gap is None else f"{self.gap:g}",
             "th_lr": f"{self.lr:g}", "th_lam": f"{self.lam:g}", "th_bmax": f"{self.beta_max:g}",
             "th_cl": f"{self.cl_scale:g}"}
        if self.case:
            q["th_case"] = self.case
        if self.lecture:
            q["lecture"] = "1"
        return q

    def replace(self, **kw: Any) -> "TheoryScene":
        return replace(self, **kw)

    def settings(self) -> tuple:
        """The values a named case sets (to tell whether the scene is still that case)."""
        return (self.g_norm, self.d_norm, self.angle, self.gap, self.lr, self.lam, self.beta_max)


def parse_query(query: Mapping[str, Any]) -> tuple[TheoryScene, list[str]]:
    """A valid :class:`TheoryScene` from untrusted query parameters (keys other than
    :data:`KEYS` are ignored), and the notices for what was corrected."""
    notices: list[str] = []
    d = TheoryScene()
    q = {str(k)[:40]: (v[-1] if isinstance(v, (list, tuple)) and v else v)
         for k, v in dict(query).items()}
    q = {k: (str(v)[:MAX_VALUE_CHARS] if not isinstance(v, (int, float)) else v)
         for k, v in q.items() if k in KEYS}
    g = _num(q.get("th_g", d.g_norm), "‖g‖", *G_RANGE, d.g_norm, notices)
    dn = _num(q.get("th_d", d.d_norm), "‖d‖", *D_RANGE, d.d_norm, notices)
    ang = _num(q.get("th_ang", d.angle), "angle", *ANGLE_RANGE, d.angle, notices)
    raw_gap = str(q.get("th_gap", "taylor")).strip()
    gap: float | None = None
    if raw_gap.lower() != "taylor":
        try:
            ok = math.isfinite(float(raw_gap))
        except (TypeError, ValueError, OverflowError):
            ok = False
        if ok:
            gap = _num(raw_gap, "gap f̂ − f", *GAP_RANGE, 0.0, notices)
        else:
            notices.append(f"gap f̂ − f: {_short(raw_gap)} is neither 'taylor' nor a finite "
                           "number — using the taylor gap.")
    lr = _num(q.get("th_lr", d.lr), "η", *LR_RANGE, d.lr, notices)
    lam = _num(q.get("th_lam", d.lam), "λ", *LAM_RANGE, d.lam, notices)
    bmax = _num(q.get("th_bmax", d.beta_max), "β_max", *BETA_MAX_RANGE, d.beta_max, notices)
    cl = _num(q.get("th_cl", d.cl_scale), "η·L", *CL_RANGE, d.cl_scale, notices)
    case = str(q.get("th_case", "")).strip()
    sc = TheoryScene(float(g), float(dn), float(ang), None if gap is None else float(gap),
                     float(lr), float(lam), float(bmax), float(cl), "",
                     _flag(q.get("lecture", "")))
    if case:
        if case not in CASES:
            notices.append(f"named case {_short(case)} unknown (choose from "
                           f"{', '.join(CASES)}) — ignored.")
        elif CASES[case].scene(sc).settings() == sc.settings():
            sc = sc.replace(case=case)
    return sc, notices


# ----------------------------------------------------------------------------- named cases
@dataclass(frozen=True)
class Case:
    """A one-click setting with its explanation. ``values`` are the settings it makes;
    ``text(sb, other)`` writes the two sentences with the sandbox's numbers; ``check(sb, other)``
    returns the claims of those sentences as (description, holds) pairs, checked by the page
    against the very numbers it shows (``other``: the sandbox with the taylor gap, for the
    exact-gap case)."""

    key: str
    label: str
    values: dict[str, Any]
    text: Callable[[dict, dict], str]
    check: Callable[[dict, dict], list[tuple[str, bool]]]

    def scene(self, base: TheoryScene) -> TheoryScene:
        vals = dict(g_norm=1.0, d_norm=1.5, angle=60.0, gap=None, lr=0.1, lam=0.1,
                    beta_max=0.9)
        vals.update(self.values)
        return base.replace(**vals, case=self.key)


def _f(v: float) -> str:
    return f"{v:.3g}"


CASES: dict[str, Case] = {c.key: c for c in (
    Case("agree", "Memory agrees (d = g)", dict(d_norm=1.0, angle=0.0),
         lambda sb, o: (
             f"The memory equals the gradient, so ‖d − g‖² = {_f(sb['denominator'])} and the "
             "two planes are the same plane: there is nothing to choose. The closed form sets "
             f"β = {_f(sb['beta'])}, and the new memory is g whatever β is."),
         lambda sb, o: [("‖d − g‖² = 0", sb["denominator"] == 0.0),
                        ("β = 0", sb["beta"] == 0.0),
                        ("new memory = g", bool(abs(sb["d_next"] - sb["g"]).max() < 1e-12))]),
    Case("against", "Memory points against g", dict(d_norm=1.0, angle=180.0),
         lambda sb, o: (
             "The memory points against the gradient: the last step overshot the valley floor. "
             f"The model keeps little of it — β = {_f(sb['beta'])}, far below β_max = "
             f"{_f(sb['beta_max'])} — and the effective momentum drops to "
             f"{_f(sb['effective_momentum'])}."),
         lambda sb, o: [("β < β_max / 2", sb["beta"] < sb["beta_max"] / 2),
                        ("a < 0.5", sb["effective_momentum"] < 0.5)]),
    Case("long", "Memory much longer than g", dict(d_norm=5.0, angle=30.0),
         lambda sb, o: (
             "A memory five times longer than the gradient is stale: the λ term makes the "
             f"numerator ‖g‖² + 2λ⟨g,d⟩ − λ‖d‖² = {_f(sb['numerator'])} negative. So β = "
             f"{_f(sb['beta'])} and only the floor of momentum, λ/(1+λ) = "
             f"{_f(sb['effective_momentum'])}, remains."),
         lambda sb, o: [("numerator < 0", sb["numerator"] < 0), ("β = 0", sb["beta"] == 0.0),
                        ("a = λ/(1+λ)", math.isclose(sb["effective_momentum"],
                                                     sb["lam"] / (1 + sb["lam"])))]),
    Case("lam0", "λ → 0", dict(lam=0.0),
         lambda sb, o: (
             f"Without the λ term the numerator is just ‖g‖² = {_f(sb['gg'])} > 0, so β is "
             f"never 0: here β = ‖g‖²/‖d − g‖² = {_f(sb['gg'])}/{_f(sb['denominator'])} = "
             f"{_f(sb['beta'])}. The effective momentum is β itself, "
             f"{_f(sb['effective_momentum'])}."),
         lambda sb, o: [("numerator = ‖g‖²", math.isclose(sb["numerator"], sb["gg"])),
                        ("β > 0", sb["beta"] > 0),
                        ("a = β", math.isclose(sb["effective_momentum"], sb["beta"]))]),
    Case("lam_big", "Large λ", dict(lam=10.0),
         lambda sb, o: (
             f"With λ = {_f(sb['lam'])} the numerator ≈ λ(2⟨g,d⟩ − ‖d‖²) = "
             f"{_f(sb['lam'] * (2 * sb['gd'] - sb['dd']))} "
             + ("≤ 0, so β = 0" if sb["beta"] == 0 else f"> 0, so β = {_f(sb['beta'])}")
             + f". Yet the effective momentum (β + λ)/(1 + λ) = {_f(sb['effective_momentum'])} "
             "is close to 1 whatever β is: the step follows the memory."),
         lambda sb, o: [("a > 0.9", sb["effective_momentum"] > 0.9),
                        ("sign of λ(2⟨g,d⟩ − ‖d‖²) decides β > 0",
                         (sb["beta"] > 0) == (sb["numerator"] > 0))]),
    Case("exact", "Exact gap > taylor", dict(gap=0.1),
         lambda sb, o: (
             f"The measured gap f̂ − f = {_f(sb['gap'])} exceeds the first-order estimate "
             f"η⟨g, d⟩ = {_f(o['gap'])}, as it does on any convex f. The memory plane sits "
             f"higher, so the model gives it more weight: β = {_f(sb['beta'])} instead of "
             f"{_f(o['beta'])} with the taylor gap."),
         lambda sb, o: [("exact gap > taylor gap", sb["gap"] > o["gap"]),
                        ("β(exact) > β(taylor)", sb["beta"] > o["beta"])]),
)}


def case_sandboxes(sc: TheoryScene) -> tuple[dict, dict]:
    """(the scene's sandbox, the same with the taylor gap) — what a case's text and check use."""
    sb = sc.sandbox()
    other = sb if sc.gap is None else sc.replace(gap=None).sandbox()
    return sb, other
