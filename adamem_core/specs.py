"""``OptimizerSpec``: one optimizer configuration, shared by the 2-D engine and the MLP lab.

A spec names an entry of :data:`adamem_core.optim.OPTIMIZERS` and its hyper-parameters with that
optimizer's own keyword names (``beta``, ``beta1``, ``beta_max``, ``lam``, ``loss_gap``,
``betas``, ``eps``, ``weight_decay``). It is immutable and hashable (usable as a cache key).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .optim import OPTIMIZERS, OptimizerEntry

__all__ = ["OptimizerSpec"]

_HYPER_SYMBOL = {"beta": "β", "beta1": "β₁", "beta_max": "β_max", "lam": "λ",
                 "weight_decay": "wd", "eps": "ε", "loss_gap": "gap", "betas": "β₁max,β₂"}


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


class OptimizerSpec:
    """``OptimizerSpec(name, lr, **hyper)``; validated against the registry at construction."""

    __slots__ = ("name", "lr", "_hyper")

    def __init__(self, name: str, lr: float, **hyper: Any) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) \
                or lr <= 0:
            raise ValueError(f"Invalid lr for {name}: {lr!r} (must be a finite number > 0)")
        entry = OPTIMIZERS[name]
        unknown = set(hyper) - set(entry.defaults)
        if unknown:
            raise ValueError(f"{name} does not take {sorted(unknown)}; it takes "
                             f"{sorted(entry.defaults)}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "lr", float(lr))
        object.__setattr__(self, "_hyper", tuple(sorted((k, _freeze(v)) for k, v in hyper.items())))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("OptimizerSpec is immutable")

    @property
    def hyper(self) -> dict[str, Any]:
        """The hyper-parameters given explicitly."""
        return dict(self._hyper)

    @property
    def entry(self) -> OptimizerEntry:
        return OPTIMIZERS[self.name]

    def resolved(self) -> dict[str, Any]:
        """Every hyper-parameter of the optimizer, defaults filled in."""
        return {**self.entry.defaults, **self.hyper}

    @property
    def fixed_beta(self) -> float | None:
        """The constant momentum of a baseline (β, or β₁ for the AdamW family; 0 for plain
        SGD), or None for the adaptive optimizers."""
        if self.entry.adaptive:
            return None
        if self.name == "sgd":
            return 0.0
        r = self.resolved()
        return float(r["beta"] if "beta" in r else r["beta1"])

    def get(self, key: str) -> Any:
        return self.resolved()[key]

    def make(self, params: Iterable) -> Any:
        """Build the real ``torch.optim`` optimizer for these parameters."""
        return self.entry(params, self.lr, **self.hyper)

    def replace(self, lr: float | None = None, **hyper: Any) -> "OptimizerSpec":
        return OptimizerSpec(self.name, self.lr if lr is None else lr, **{**self.hyper, **hyper})

    @property
    def label(self) -> str:
        """Legend text naming the optimizer and its key hyper-parameters,
        e.g. ``"EMA momentum β=0.9, η=0.1"``."""
        r = self.resolved()
        bits = []
        if "beta" in r and self.name not in ("am_sgd", "sgd"):
            bits.append(f"β={r['beta']:g}")
        if "beta1" in r:
            bits.append(f"β₁={r['beta1']:g}")
        if self.entry.adaptive:
            bits.append(f"λ={r['lam']:g}")
            cap = r["beta_max"] if "beta_max" in r else r["betas"][0]
            bits.append(f"β_max={cap:g}")
            if r.get("loss_gap") == "exact":
                bits.append("exact gap")
        bits.append(f"η={self.lr:g}")
        return f"{self.entry.label} " + ", ".join(bits)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, OptimizerSpec) and self.name == other.name
                and self.lr == other.lr and self._hyper == other._hyper)

    def __hash__(self) -> int:
        return hash((self.name, self.lr, self._hyper))

    def __repr__(self) -> str:
        kw = "".join(f", {k}={v!r}" for k, v in self._hyper)
        return f"OptimizerSpec({self.name!r}, {self.lr!r}{kw})"

    def __reduce__(self):  # picklable (st.cache_data hashes its arguments)
        return (_rebuild, (self.name, self.lr, self._hyper))


def _rebuild(name: str, lr: float, hyper: tuple) -> OptimizerSpec:
    return OptimizerSpec(name, lr, **dict(hyper))
