"""The :class:`Landscape` record shared by the catalogue (``landscapes.py``) and custom
functions (``expressions.py``).

A landscape is a smooth function f: R^2 -> R with exact gradient and Hessian. ``value``
accepts a NumPy array *or* a torch tensor of shape (..., 2) (torch: differentiable with
autograd, so the real ``torch.optim`` optimizers can be run on it); ``grad`` and ``hessian``
take and return NumPy float64 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class ParamSpec:
    """A numeric parameter of a landscape family (e.g. condition number kappa)."""

    label: str
    default: float
    min: float
    max: float
    log: bool = False
    latex: str = ""


@dataclass(frozen=True)
class Landscape:
    name: str                      # key in LANDSCAPES (or "custom")
    title: str                     # human-readable name
    latex: str                     # f(x, y) in LaTeX
    value: Callable[[Any], Any]    # (..., 2) -> (...), NumPy or torch
    grad: Callable[[Array], Array]     # (..., 2) -> (..., 2)
    hessian: Callable[[Array], Array]  # (..., 2) -> (..., 2, 2)
    domain: tuple[tuple[float, float], tuple[float, float]]
    minima: list[tuple[tuple[float, float], float]]   # global minimisers and values; [] if none
    start: tuple[float, float]
    lr: dict[str, float]           # suggested learning rate per optimizer family: "sgd", "adamw"
    note: str                      # one-line teaching note: what it shows about momentum
    convex: bool
    params: dict[str, float] = field(default_factory=dict)            # current parameter values
    param_specs: dict[str, ParamSpec] = field(default_factory=dict)   # what can be changed
    factory: Callable[..., "Landscape"] | None = field(default=None, repr=False, compare=False)
    # optional: (..., 2) NumPy -> (value, grad), the same numbers as ``value`` and ``grad`` in
    # one call sharing their subexpressions (the 2-D engine asks for both at every step)
    value_and_grad: Callable[[Array], tuple[Array, Array]] | None = field(
        default=None, repr=False, compare=False)

    @property
    def f_star(self) -> float | None:
        """The global minimum value, or None when the function is unbounded below / unknown."""
        return min(v for _, v in self.minima) if self.minima else None

    def with_params(self, **kw: float) -> "Landscape":
        """The same family with some parameters changed (clamped to their ranges)."""
        if not self.param_specs or self.factory is None:
            if kw:
                raise ValueError(f"landscape {self.name!r} has no parameters")
            return self
        p = dict(self.params)
        for k, v in kw.items():
            if k not in self.param_specs:
                raise ValueError(f"landscape {self.name!r} has no parameter {k!r}; "
                                 f"it has {sorted(self.param_specs)}")
            s = self.param_specs[k]
            p[k] = float(min(max(float(v), s.min), s.max))
        return self.factory(**p)

    def suggested_lr(self, family: str) -> float:
        return self.lr.get(family, self.lr.get("sgd", 1e-2))


def with_fields(land: Landscape, **kw: Any) -> Landscape:
    return replace(land, **kw)
