"""The MLP lab's scene: every control's value, validated and clamped, to and from the URL.

Plain data (no Streamlit), like :mod:`adamem_core.scene` for the playground. :func:`parse_query`
turns untrusted query parameters into a valid :class:`MLPScene` plus one human-readable notice
per correction; :meth:`MLPScene.to_query` writes it back, so a copied link reopens the same
scene. Numbers go through ``float`` and range checks, names through whitelists; nothing is
evaluated. The query keys start with ``m_`` so they never collide with the playground's
(``f``, ``x0``, ``opt``, ``lr``, ``steps``, ...); ``lecture`` is shared by every page.

The server-side *time* limits (steps, sizes) are not applied here but by
:func:`adamem_core.mlp.clamp_config`, which needs the dataset: the page shows both lists of
notices.

Keys::

    m_ds     dataset name (a key of adamem_core.mlp.DATASETS)
    m_n      number of points (train + test)      m_noise  the dataset's noise
    m_k      classes (blobs only)
    m_hidden hidden widths, e.g. "32,32" (1-3 layers of 4-128 units)
    m_act    activation (tanh | relu | gelu)
    m_opt    optimizer tokens name[:beta][@lr], comma separated (as the playground's ``opt``)
    m_lrs    learning rate of the SGD family      m_lra    of the AdamW family
    m_lam    λ of the AM runs                     m_bmax   β_max of the AM runs
    m_batch  "full" or a mini-batch size (16-512) m_steps  optimizer steps
    m_seed   seed (data, initial weights, batches) m_dev   auto | cpu | cuda
    m_mbeta  "1": also draw the β the model would choose for the constant-β baselines
    m_mode   compare | sweep (a learning-rate sweep on the same data and network)
    m_sopt   the sweep's optimizer tokens (as m_opt; a token's own @lr is ignored)
    m_slo    smallest learning rate of the sweep  m_shi    largest (a log-spaced grid)
    m_snlr   number of learning rates (2-12)      m_sseeds seeds per cell (1-5: seed, seed+1, …)
    m_sval   what the map shows: acc (final test accuracy) | loss (final training loss)
    lecture  "1": lecture mode
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from .mlp import ACTIVATIONS, DATASETS, LIMITS, SWEEP_LIMITS
from .optim import OPTIMIZERS
from .scene import (BETA_MAX_RANGE, HAS_BETA, LAM_RANGE, LR_RANGE, MAX_VALUE_CHARS, RunChoice,
                    _flag, _num, _parse_token, _short, token_label)
from .specs import OptimizerSpec

__all__ = ["MLPScene", "parse_query", "token_label", "BATCH_CHOICES", "BATCH_RANGE", "DEVICES",
           "KEYS", "PRESET_TOKENS", "STEPS_RANGE", "SEED_RANGE", "WIDTH_CHOICES",
           "LR_CHOICES", "DEFAULT_TOKENS", "MODES", "SWEEP_TOKENS", "SWEEP_VALUES",
           "SWEEP_NLR_RANGE", "SWEEP_SEEDS_RANGE", "MAX_SWEEP_RUNS"]

STEPS_RANGE = (1, LIMITS.max_steps)
SEED_RANGE = (0, 999_999)
BATCH_RANGE = (16, 512)
BATCH_CHOICES = (16, 32, 64, 128, 256, 512)          # plus 0 = full batch
WIDTH_CHOICES = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
LR_CHOICES = tuple(sorted({round(m * 10.0 ** e, 12) for e in range(-4, 1)
                           for m in (1, 2, 3, 5)} | {10.0}))
DEVICES = ("auto", "cpu", "cuda")
MAX_RUNS = LIMITS.max_specs
PRESET_TOKENS = ("am_sgd", "am_adamw", "sgd", "sgd_ema:0.9", "sgd_ema:0.5", "nesterov:0.9",
                 "adamw:0.9", "torch_sgd:0.9", "torch_adamw:0.9")
DEFAULT_TOKENS = ("am_sgd", "am_adamw", "sgd_ema:0.9", "adamw:0.9")
MODES = ("compare", "sweep")
SWEEP_TOKENS = ("am_sgd", "am_adamw", "sgd_ema:0.9", "sgd_ema:0.5", "adamw:0.9")
SWEEP_VALUES = {"acc": "final test accuracy", "loss": "final training loss"}
SWEEP_NLR_RANGE = (2, SWEEP_LIMITS.max_lrs)
SWEEP_SEEDS_RANGE = (1, SWEEP_LIMITS.max_seeds)
MAX_SWEEP_RUNS = SWEEP_LIMITS.max_optimizers
KEYS = ("m_ds", "m_n", "m_noise", "m_k", "m_hidden", "m_act", "m_opt", "m_lrs", "m_lra",
        "m_lam", "m_bmax", "m_batch", "m_steps", "m_seed", "m_dev", "m_mbeta", "m_mode",
        "m_sopt", "m_slo", "m_shi", "m_snlr", "m_sseeds", "m_sval", "lecture")


def _default_runs() -> tuple[RunChoice, ...]:
    return tuple(_parse_token(t)[0] for t in DEFAULT_TOKENS)   # type: ignore[misc]


def _default_sweep_runs() -> tuple[RunChoice, ...]:
    return tuple(_parse_token(t)[0] for t in SWEEP_TOKENS)     # type: ignore[misc]


@dataclass(frozen=True)
class MLPScene:
    """Every control of the MLP lab (valid values only: build it with :func:`parse_query`)."""

    dataset: str = "moons"
    n: int = 500
    noise: float = 0.2
    n_classes: int = 3                  # used by blobs only
    hidden: tuple[int, ...] = (32, 32)
    activation: str = "tanh"
    runs: tuple[RunChoice, ...] = field(default_factory=_default_runs)
    lr_sgd: float = 0.3
    lr_adamw: float = 0.01
    lam: float = 0.1
    beta_max: float = 0.9
    batch: int = 0                      # 0: full batch
    steps: int = 300
    seed: int = 0
    device: str = "auto"
    model_beta: bool = False            # display: the model's β for the baselines
    mode: str = "compare"               # "compare" | "sweep"
    sweep_runs: tuple[RunChoice, ...] = field(default_factory=_default_sweep_runs)
    sweep_lr_lo: float = 0.001
    sweep_lr_hi: float = 3.0
    sweep_n_lrs: int = 8
    sweep_seeds: int = 3
    sweep_value: str = "acc"            # a key of SWEEP_VALUES
    lecture: bool = False

    @property
    def batch_size(self) -> int | None:
        return None if self.batch == 0 else int(self.batch)

    def dataset_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`adamem_core.mlp.make_dataset`."""
        kw: dict[str, Any] = dict(name=self.dataset, n=self.n, noise=self.noise, seed=self.seed)
        if "n_classes" in DATASETS[self.dataset].params:
            kw["n_classes"] = self.n_classes
        return kw

    def lr_for(self, rc: RunChoice) -> float:
        if rc.lr is not None:
            return rc.lr
        return self.lr_adamw if OPTIMIZERS[rc.name].family == "adamw" else self.lr_sgd

    def specs(self) -> list[OptimizerSpec]:
        """The optimizer specs: AM runs take λ and β_max (AM-AdamW as β₁max, β₂ = 0.999); no
        weight decay anywhere, so the runs differ only in their momentum."""
        return [self._spec(rc, self.lr_for(rc)) for rc in self.runs]

    def _spec(self, rc: RunChoice, lr: float) -> OptimizerSpec:
        kw: dict[str, Any] = {}
        if rc.name == "am_sgd":
            kw = dict(lam=self.lam, beta_max=self.beta_max)
        elif rc.name == "am_adamw":
            kw = dict(lam=self.lam, betas=(self.beta_max, 0.999), weight_decay=0.0)
        elif rc.name in ("adamw", "torch_adamw"):
            kw = dict(weight_decay=0.0)
        if rc.name in HAS_BETA and rc.beta is not None:
            kw[HAS_BETA[rc.name]] = rc.beta
        return OptimizerSpec(rc.name, lr, **kw)

    def sweep_specs(self) -> list[OptimizerSpec]:
        """The sweep's optimizers (hyper-parameters as in :meth:`specs`; their lr is a
        placeholder: the sweep sets it from :meth:`sweep_lrs`)."""
        return [self._spec(rc, 1.0) for rc in self.sweep_runs]

    def sweep_lrs(self) -> list[float]:
        """The log-spaced learning-rate grid, rounded to one significant digit (1e-3 to 3 in 8
        steps: 0.001, 0.003, 0.01, …, 3); values that round alike are kept once."""
        g = np.geomspace(self.sweep_lr_lo, self.sweep_lr_hi, self.sweep_n_lrs)
        return sorted({float(f"{v:.1g}") for v in g})

    def sweep_seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.sweep_seeds)]

    def to_query(self) -> dict[str, str]:
        q = {"m_ds": self.dataset, "m_n": str(self.n), "m_noise": f"{self.noise:g}"}
        if "n_classes" in DATASETS[self.dataset].params:
            q["m_k"] = str(self.n_classes)
        q.update({
            "m_hidden": ",".join(str(w) for w in self.hidden), "m_act": self.activation,
            "m_opt": ",".join(r.token() for r in self.runs),
            "m_lrs": f"{self.lr_sgd:g}", "m_lra": f"{self.lr_adamw:g}",
            "m_lam": f"{self.lam:g}", "m_bmax": f"{self.beta_max:g}",
            "m_batch": "full" if self.batch == 0 else str(self.batch),
            "m_steps": str(self.steps), "m_seed": str(self.seed), "m_dev": self.device,
        })
        if self.model_beta:
            q["m_mbeta"] = "1"
        q.update({"m_mode": self.mode, "m_sopt": ",".join(r.token() for r in self.sweep_runs),
                  "m_slo": f"{self.sweep_lr_lo:g}", "m_shi": f"{self.sweep_lr_hi:g}",
                  "m_snlr": str(self.sweep_n_lrs), "m_sseeds": str(self.sweep_seeds),
                  "m_sval": self.sweep_value})
        if self.lecture:
            q["lecture"] = "1"
        return q

    def replace(self, **kw: Any) -> "MLPScene":
        return replace(self, **kw)


# ----------------------------------------------------------------------------- parsing
def _choice(raw: Any, name: str, choices: tuple[str, ...] | list[str], default: str,
            notices: list[str]) -> str:
    v = str(raw).strip()[:MAX_VALUE_CHARS]
    if v in choices:
        return v
    notices.append(f"{name}: {_short(raw)} unknown (choose from {', '.join(choices)}) — "
                   f"using {default!r}.")
    return default


def _hidden(raw: Any, default: tuple[int, ...], notices: list[str]) -> tuple[int, ...]:
    parts = [p for p in str(raw)[:MAX_VALUE_CHARS].replace(";", ",").replace("x", ",").split(",")
             if p.strip()]

    def number(p: str) -> bool:
        try:
            return math.isfinite(float(p))
        except (TypeError, ValueError, OverflowError):
            return False

    if parts and not any(number(p) for p in parts):
        notices.append(f"hidden layers: {_short(raw)} is not a list of widths (e.g. 32,32) — "
                       f"using {','.join(map(str, default))}.")
        return default
    if not parts:
        notices.append(f"hidden layers: {_short(raw)} is empty — using "
                       f"{','.join(map(str, default))}.")
        return default
    if len(parts) > LIMITS.max_hidden_layers:
        notices.append(f"hidden layers: {len(parts)} given — at most "
                       f"{LIMITS.max_hidden_layers}, the rest were ignored.")
        parts = parts[:LIMITS.max_hidden_layers]
    out = []
    for i, p in enumerate(parts):
        d = default[i] if i < len(default) else default[-1]
        out.append(int(_num(p, f"width of hidden layer {i + 1}", LIMITS.min_width,
                            LIMITS.max_width, d, notices, integer=True)))
    return tuple(out)


def _runs(raw: Any, notices: list[str], max_runs: int = MAX_RUNS, what: str = "",
          default=None) -> tuple[RunChoice, ...]:
    runs: list[RunChoice] = []
    seen: set[str] = set()
    for tok in str(raw)[:MAX_VALUE_CHARS].split(","):
        rc, err = _parse_token(tok)
        if err:
            notices.append(err + " — ignored.")
            continue
        if rc is None:
            continue
        if rc.token() in seen:
            notices.append(f"optimizer {_short(rc.token())} listed twice — kept once.")
            continue
        if len(runs) >= max_runs:
            notices.append(f"{what}at most {max_runs} optimizers at once — the rest were "
                           "ignored.")
            break
        seen.add(rc.token())
        runs.append(rc)
    if not runs:
        notices.append(f"{what}no valid optimizer was given — using the default "
                       f"{'sweep' if default else 'comparison'}.")
        return default() if default else _default_runs()
    return tuple(runs)


def _batch(raw: Any, default: int, notices: list[str]) -> int:
    s = str(raw).strip().lower()[:MAX_VALUE_CHARS]
    if s in ("full", "0", "none", "all"):
        return 0
    try:
        ok = math.isfinite(float(s))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        notices.append(f"batch size: {_short(raw)} is not a number — using "
                       f"{'full batch' if default == 0 else default}.")
        return default
    v = _num(s, "batch size", BATCH_RANGE[0], BATCH_RANGE[1], BATCH_RANGE[0], notices,
             integer=True)
    return int(v)


def parse_query(query: Mapping[str, Any]) -> tuple[MLPScene, list[str]]:
    """A valid :class:`MLPScene` from untrusted query parameters (keys other than
    :data:`KEYS` are ignored), and the notices for what was corrected."""
    notices: list[str] = []
    d = MLPScene()
    q = {str(k)[:40]: (v[-1] if isinstance(v, (list, tuple)) and v else v)
         for k, v in dict(query).items()}
    q = {k: (str(v)[:MAX_VALUE_CHARS] if not isinstance(v, (int, float)) else v)
         for k, v in q.items() if k in KEYS}

    ds = _choice(q.get("m_ds", d.dataset), "dataset", list(DATASETS), d.dataset, notices)
    info = DATASETS[ds]
    pn = info.params["n"]
    n = _num(q.get("m_n", pn.default), "samples", pn.lo, pn.hi, pn.default, notices, integer=True)
    pz = info.params["noise"]
    noise = _num(q.get("m_noise", pz.default), pz.label, pz.lo, pz.hi, pz.default, notices)
    k = d.n_classes
    if "n_classes" in info.params:
        pk = info.params["n_classes"]
        k = _num(q.get("m_k", pk.default), "classes", pk.lo, pk.hi, pk.default, notices,
                 integer=True)
    hidden = _hidden(q["m_hidden"], d.hidden, notices) if "m_hidden" in q else d.hidden
    act = _choice(q.get("m_act", d.activation), "activation", list(ACTIVATIONS), d.activation,
                  notices)
    runs = _runs(q["m_opt"], notices) if "m_opt" in q else d.runs
    lr_s = _num(q.get("m_lrs", d.lr_sgd), "learning rate η (SGD family)", *LR_RANGE, d.lr_sgd,
                notices)
    lr_a = _num(q.get("m_lra", d.lr_adamw), "learning rate η (AdamW family)", *LR_RANGE,
                d.lr_adamw, notices)
    lam = _num(q.get("m_lam", d.lam), "λ", *LAM_RANGE, d.lam, notices)
    bmax = _num(q.get("m_bmax", d.beta_max), "β_max", *BETA_MAX_RANGE, d.beta_max, notices)
    batch = _batch(q["m_batch"], d.batch, notices) if "m_batch" in q else d.batch
    steps = _num(q.get("m_steps", d.steps), "steps", *STEPS_RANGE, d.steps, notices,
                 integer=True)
    seed = _num(q.get("m_seed", d.seed), "seed", *SEED_RANGE, d.seed, notices, integer=True)
    dev = _choice(q.get("m_dev", d.device), "device", DEVICES, d.device, notices)
    mode = _choice(q.get("m_mode", d.mode), "mode", MODES, d.mode, notices)
    sruns = (_runs(q["m_sopt"], notices, MAX_SWEEP_RUNS, "sweep: ", _default_sweep_runs)
             if "m_sopt" in q else d.sweep_runs)
    slo = _num(q.get("m_slo", d.sweep_lr_lo), "sweep: smallest η", *LR_RANGE, d.sweep_lr_lo,
               notices)
    shi = _num(q.get("m_shi", d.sweep_lr_hi), "sweep: largest η", *LR_RANGE, d.sweep_lr_hi,
               notices)
    if slo > shi:
        notices.append(f"sweep: smallest η {slo:g} > largest η {shi:g} — swapped.")
        slo, shi = shi, slo
    snlr = _num(q.get("m_snlr", d.sweep_n_lrs), "sweep: number of learning rates",
                *SWEEP_NLR_RANGE, d.sweep_n_lrs, notices, integer=True)
    sseeds = _num(q.get("m_sseeds", d.sweep_seeds), "sweep: seeds", *SWEEP_SEEDS_RANGE,
                  d.sweep_seeds, notices, integer=True)
    sval = _choice(q.get("m_sval", d.sweep_value), "sweep: value", list(SWEEP_VALUES),
                   d.sweep_value, notices)
    scene = MLPScene(dataset=ds, n=int(n), noise=float(noise), n_classes=int(k),
                     hidden=hidden, activation=act, runs=runs, lr_sgd=float(lr_s),
                     lr_adamw=float(lr_a), lam=float(lam), beta_max=float(bmax),
                     batch=int(batch), steps=int(steps), seed=int(seed), device=dev,
                     model_beta=_flag(q.get("m_mbeta", "")), mode=mode, sweep_runs=sruns,
                     sweep_lr_lo=float(slo), sweep_lr_hi=float(shi), sweep_n_lrs=int(snlr),
                     sweep_seeds=int(sseeds), sweep_value=sval,
                     lecture=_flag(q.get("lecture", "")))
    return scene, notices

