r"""MLP lab: toy datasets, small MLPs, and training several optimizer specs side by side.

No Streamlit here: a page builds a :class:`Dataset` with :func:`make_dataset`, checks its wishes
against the server-side limits with :func:`clamp_config` (showing the returned notices), then calls
:func:`train`, which reports progress through ``callback(step, runs)`` and polls
``should_stop()`` (a Stop button) between steps.

Fairness of the comparison: every optimizer spec in one :func:`train` call starts from the SAME
initial weights (one seeded initialisation) and sees the SAME mini-batches (one seeded
permutation stream, drawn once per step and shared by all runs).

Speed: every run (spec, and for :func:`sweep` learning rate and seed) is a row of ONE batched
program: the parameters of all runs are one flat ``(runs, N)`` buffer with per-layer views, the
forward and a hand-written backward pass are batched matrix products over the runs
(:class:`_Stack`), and the optimizer step of every kind is the same handful of operations on
the whole buffer with per-run coefficients (:class:`_Update`, every formula from
:mod:`adamem_core.model`). Per step the statistics (loss, gradient norm, β) stay on the device
and are converted to NumPy in one batch every ``callback_every`` steps (at most 50): no host
sync per step (this matters on a GPU). Accuracies are evaluated about 100 times per training
(``record_every``), and torch runs with one intra-op thread (``num_threads``).

Divergence: a run whose (pre-step) loss is non-finite (or above ``diverge_loss``, default 1e4)
is marked ``diverged_at`` = that step and gets no more updates; its arrays are NaN after that row
(row ``diverged_at`` holds what was measured there, its loss being the offending value; its
accuracies there are NaN). ``diverged_at == steps`` means only the final weights were bad.
Divergence is detected at the batched syncs, so a diverged run may have computed a few extra
(discarded) steps; nothing it computed after ``diverged_at`` is reported, and the other runs are
unaffected.

Example:
    >>> from adamem_core.mlp import make_dataset, train
    >>> from adamem_core.specs import OptimizerSpec
    >>> ds = make_dataset("moons", n=200, noise=0.2, seed=0)
    >>> runs = train(ds, (16,), "tanh", [OptimizerSpec("am_sgd", 0.3)], steps=50)
    >>> runs[0].loss.shape
    (50,)
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import model
from .specs import OptimizerSpec

__all__ = [
    "ACTIVATIONS", "DATASETS", "LIMITS", "DatasetInfo", "Dataset", "Limits", "ParamRange",
    "RunRecord", "SWEEP_LIMITS", "StepTiming", "SweepConfig", "SweepLimits", "SweepResult",
    "TrainConfig", "batch_indices", "build_mlp", "calibrate", "clamp_config", "clamp_sweep",
    "estimate_seconds", "make_dataset", "pick_device", "runs_to_dataframe", "sweep",
    "sweep_table", "train",
]


# ============================================================================= limits
@dataclass(frozen=True)
class Limits:
    """Server-side limits keeping one :func:`train` call under ``time_budget_s`` on a 2-core
    CPU. The cost model (seconds per run and step = fixed overhead + FLOPs / throughput) was
    measured on such a machine and is deliberately pessimistic."""

    max_steps: int = 5000
    min_samples: int = 40
    max_samples: int = 2000
    max_hidden_layers: int = 3
    min_width: int = 4
    max_width: int = 128
    max_specs: int = 8
    max_grid: int = 100
    max_snapshots: int = 60
    time_budget_s: float = 10.0
    # cost model (CPU seconds measured with one torch thread, then made ~1.3-2× pessimistic)
    step_overhead_s: float = 5e-4            # Python/dispatch overhead of one run-step
    tensor_overhead_s: float = 3e-5          # ... per parameter tensor (flat optimizers)
    tensor_overhead_adamw_s: float = 2e-4    # ... per tensor, per-tensor β (AM-AdamW, adamw)
    eval_overhead_s: float = 1.5e-4          # one accuracy evaluation of one run
    flops_per_s: float = 2.5e10              # dense matmul throughput, one thread
    activation_s: float = 5e-9               # one hidden activation, forward + backward


LIMITS = Limits()


# ============================================================================= datasets
@dataclass(frozen=True)
class ParamRange:
    """One dataset parameter, for a slider: ``lo <= value <= hi``, ``default``, ``step``."""

    name: str
    label: str
    lo: float
    hi: float
    default: float
    step: float
    integer: bool = False
    help: str = ""

    def check(self, dataset: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"Invalid {self.name} for {dataset}: {value!r} (must be a number)")
        if self.integer and float(value) != int(value):
            raise ValueError(f"Invalid {self.name} for {dataset}: {value!r} (must be an integer)")
        v = int(value) if self.integer else float(value)
        if not (math.isfinite(v) and self.lo <= v <= self.hi):
            raise ValueError(f"Invalid {self.name} for {dataset}: {value!r} "
                             f"(must be in [{self.lo:g}, {self.hi:g}])")
        return v


@dataclass(frozen=True)
class DatasetInfo:
    """What a page needs to offer a dataset: ``params`` maps a keyword of :func:`make_dataset`
    to its range; ``n_classes`` is the default (blobs takes it as a parameter)."""

    name: str
    label: str
    description: str
    is_2d: bool
    n_features: int
    n_classes: int
    params: dict[str, ParamRange]
    source: str


def _n_range(lo: int = LIMITS.min_samples, hi: int = LIMITS.max_samples,
             default: int = 500) -> ParamRange:
    return ParamRange("n", "samples", lo, hi, default, 10, True, "number of points (train + test)")


DATASETS: dict[str, DatasetInfo] = {
    "moons": DatasetInfo(
        "moons", "Two moons", "two interleaving half circles (sklearn make_moons)", True, 2, 2,
        {"n": _n_range(), "noise": ParamRange("noise", "noise", 0.0, 0.5, 0.2, 0.01,
                                              help="std of Gaussian noise added to the points")},
        "sklearn.datasets.make_moons"),
    "circles": DatasetInfo(
        "circles", "Circles", "a small circle inside a large one (sklearn make_circles, "
        "factor 0.5)", True, 2, 2,
        {"n": _n_range(), "noise": ParamRange("noise", "noise", 0.0, 0.3, 0.08, 0.01,
                                              help="std of Gaussian noise added to the points")},
        "sklearn.datasets.make_circles"),
    "blobs": DatasetInfo(
        "blobs", "Blobs", "isotropic Gaussian clusters, one per class (sklearn make_blobs)",
        True, 2, 3,
        {"n": _n_range(), "noise": ParamRange("noise", "cluster spread", 0.2, 3.0, 1.0, 0.1,
                                              help="std of each cluster (centres in [-5, 5]²)"),
         "n_classes": ParamRange("n_classes", "classes", 2, 5, 3, 1, True, "number of clusters")},
        "sklearn.datasets.make_blobs"),
    "xor": DatasetInfo(
        "xor", "XOR", "uniform points in [-1, 1]², class = sign(x·y) (the XOR of the signs)",
        True, 2, 2,
        {"n": _n_range(), "noise": ParamRange("noise", "noise", 0.0, 0.5, 0.1, 0.01,
                                              help="std of Gaussian noise added after labelling")},
        "generated (NumPy)"),
    "spiral": DatasetInfo(
        "spiral", "Spiral", "two interleaved arms of an Archimedean spiral (1.5 turns)", True, 2, 2,
        {"n": _n_range(), "noise": ParamRange("noise", "noise", 0.0, 0.5, 0.1, 0.01,
                                              help="std of Gaussian noise (radius 1 = outer end)")},
        "generated (NumPy)"),
    "digits": DatasetInfo(
        "digits", "Digits 8×8", "handwritten digits 0-9 as 8×8 grey images, 64 features "
        "(sklearn load_digits, shipped with scikit-learn)", False, 64, 10,
        {"n": _n_range(100, 1797, 1797),
         "noise": ParamRange("noise", "pixel noise", 0.0, 8.0, 0.0, 0.5,
                             help="std of Gaussian noise added to pixels (intensity 0-16)")},
        "sklearn.datasets.load_digits"),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A seeded train/test split, standardised with the training set's mean and std.

    ``X_*`` are standardised float32 ``(n, n_features)``; ``y_*`` int64 class indices.
    ``to_original``/``to_standard`` convert between units; for 2-D datasets ``bounds`` is
    ``(xmin, xmax, ymin, ymax)`` of the data (original units, 10 % margin) and :meth:`grid`
    gives the points where decision boundaries are evaluated. For digits ``images_test`` holds
    the test set's 8×8 images (original intensities 0-16, with the noise if any).
    The arrays are read-only.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n_features: int
    n_classes: int
    is_2d: bool
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    test_fraction: float = 0.25
    bounds: tuple[float, float, float, float] | None = None
    images_test: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(str(k) for k in range(self.n_classes))

    def to_original(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self.std + self.mean

    def to_standard(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def grid(self, resolution: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(gx, gy, points)``: axes in original units and the standardised points
        ``(resolution², 2)`` in row-major order, so ``values.reshape(len(gy), len(gx))[iy, ix]``
        is the value at ``(gx[ix], gy[iy])`` (Plotly's ``z[y][x]``)."""
        if not self.is_2d or self.bounds is None:
            raise ValueError(f"grid: dataset {self.name!r} is not 2-D")
        r = _check_int("grid", resolution, 2, 2000)
        x0, x1, y0, y1 = self.bounds
        gx, gy = np.linspace(x0, x1, r), np.linspace(y0, y1, r)
        XX, YY = np.meshgrid(gx, gy)
        return gx, gy, self.to_standard(np.column_stack([XX.ravel(), YY.ravel()]))


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    return X + rng.normal(0.0, noise, size=X.shape) if noise > 0 else X, y


def _spiral(n: int, noise: float, rng: np.random.Generator,
            turns: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    rng.shuffle(y)
    r = 0.1 + 0.9 * np.sqrt(rng.uniform(0.0, 1.0, size=n))      # uniform density along the arm
    angle = 2.0 * np.pi * turns * r + np.pi * y
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    return X + rng.normal(0.0, noise, size=X.shape) if noise > 0 else X, y.astype(np.int64)


def make_dataset(name: str, n: int | None = None, noise: float | None = None, seed: int = 0,
                 test_fraction: float = 0.25, n_classes: int | None = None) -> Dataset:
    """Build dataset ``name`` (a key of :data:`DATASETS`) with ``n`` points in all (default
    from ``DATASETS[name].params``), its ``noise``, a seeded stratified train/test split and
    standardisation fitted on the training part. ``n_classes`` only for ``"blobs"``.

    Raises ``ValueError`` naming the offending parameter."""
    from sklearn import datasets as skd
    from sklearn.model_selection import train_test_split

    if name not in DATASETS:
        raise ValueError(f"Invalid name: unknown dataset {name!r}; choose one of "
                         f"{', '.join(DATASETS)}")
    info = DATASETS[name]
    seed = _check_int("seed", seed, 0, 2**32 - 1)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not (0.1 <= float(test_fraction) <= 0.5):
        raise ValueError(f"Invalid test_fraction: {test_fraction!r} (must be in [0.1, 0.5])")
    n = info.params["n"].check(name, info.params["n"].default if n is None else n)
    noise = info.params["noise"].check(name, info.params["noise"].default
                                       if noise is None else noise)
    if "n_classes" in info.params:
        n_classes = info.params["n_classes"].check(
            name, info.params["n_classes"].default if n_classes is None else n_classes)
    elif n_classes is not None and n_classes != info.n_classes:
        raise ValueError(f"Invalid n_classes for {name}: {n_classes!r} (fixed at "
                         f"{info.n_classes}; only blobs takes n_classes)")
    else:
        n_classes = info.n_classes

    rng = np.random.default_rng(seed)
    images = None
    if name == "moons":
        X, y = skd.make_moons(n_samples=n, noise=noise or None, random_state=seed)
    elif name == "circles":
        X, y = skd.make_circles(n_samples=n, noise=noise or None, factor=0.5, random_state=seed)
    elif name == "blobs":
        X, y = skd.make_blobs(n_samples=n, centers=n_classes, cluster_std=noise,
                              center_box=(-5.0, 5.0), random_state=seed)
    elif name == "xor":
        X, y = _xor(n, noise, rng)
    elif name == "spiral":
        X, y = _spiral(n, noise, rng)
    else:  # digits
        X, y = skd.load_digits(return_X_y=True)
        if n < len(y):
            X, _, y, _ = train_test_split(X, y, train_size=n, random_state=seed, stratify=y)
        X = X.astype(np.float64)
        if noise > 0:
            X = X + rng.normal(0.0, noise, size=X.shape)
        images = X
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    idx = np.arange(len(y))
    try:
        i_tr, i_te = train_test_split(idx, test_size=float(test_fraction), random_state=seed,
                                      stratify=y)
    except ValueError:   # a class too small to stratify: plain seeded split
        i_tr, i_te = train_test_split(idx, test_size=float(test_fraction), random_state=seed)
    mean = X[i_tr].mean(axis=0)
    std = X[i_tr].std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)        # constant features (digits' blank pixels)
    bounds = None
    if info.is_2d:
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-6)
        bounds = (float(lo[0] - pad[0]), float(hi[0] + pad[0]),
                  float(lo[1] - pad[1]), float(hi[1] + pad[1]))

    def ro(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        a.setflags(write=False)
        return a

    return Dataset(
        name=name,
        X_train=ro(((X[i_tr] - mean) / std).astype(np.float32)), y_train=ro(y[i_tr]),
        X_test=ro(((X[i_te] - mean) / std).astype(np.float32)), y_test=ro(y[i_te]),
        mean=ro(mean), std=ro(std), n_features=X.shape[1], n_classes=int(n_classes),
        is_2d=info.is_2d, params={"n": n, "noise": noise, "n_classes": int(n_classes)},
        seed=seed, test_fraction=float(test_fraction), bounds=bounds,
        images_test=None if images is None else ro(images[i_te].reshape(-1, 8, 8)
                                                   .astype(np.float32)))



ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu": torch.nn.GELU}


def _check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer)")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = (f"in [{lo}, {hi}]" if lo is not None and hi is not None else
               f">= {lo}" if lo is not None else f"<= {hi}")
        raise ValueError(f"Invalid {name}: {value!r} (must be {rng})")
    return v


def _check_hidden(hidden: Any) -> tuple[int, ...]:
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (int(hidden),)
    if not isinstance(hidden, (tuple, list)) or not hidden:
        raise ValueError(f"Invalid hidden: {hidden!r} (must be a tuple of 1 to "
                         f"{LIMITS.max_hidden_layers} layer widths)")
    for i, w in enumerate(hidden):
        _check_int(f"hidden[{i}]", w, 1)
    return tuple(int(w) for w in hidden)


class Linear(torch.nn.Linear):
    """``torch.nn.Linear`` whose constructor leaves the weights uninitialised (no draw from the
    global RNG); :func:`build_mlp` initialises them from its own seeded generator."""

    def reset_parameters(self) -> None:
        pass


def build_mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: str = "tanh",
              seed: int = 0) -> torch.nn.Sequential:
    """``Linear(n_in, h1), act, ..., Linear(h_last, n_out)`` in float32 on the CPU, initialised
    like ``torch.nn.Linear`` (U(±1/√fan_in) for weights and biases) from a private generator
    seeded with ``seed`` (the global RNG is untouched). Parameter names are ``"0.weight"``,
    ``"0.bias"``, ``"2.weight"``, ... Raises ``ValueError`` naming the field outside
    1-3 hidden layers of width 4-128, or an unknown activation."""
    n_in = _check_int("n_in", n_in, 1)
    n_out = _check_int("n_out", n_out, 2)
    hidden = _check_hidden(hidden)
    if len(hidden) > LIMITS.max_hidden_layers:
        raise ValueError(f"Invalid hidden: {len(hidden)} layers (must be 1 to "
                         f"{LIMITS.max_hidden_layers})")
    for i, w in enumerate(hidden):
        _check_int(f"hidden[{i}]", w, LIMITS.min_width, LIMITS.max_width)
    if activation not in ACTIVATIONS:
        raise ValueError(f"Invalid activation: {activation!r} (must be one of "
                         f"{', '.join(map(repr, ACTIVATIONS))})")
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    sizes = (n_in, *hidden, n_out)
    for i in range(len(sizes) - 1):
        lin = Linear(sizes[i], sizes[i + 1])
        bound = 1.0 / math.sqrt(sizes[i])
        with torch.no_grad():
            torch.nn.init.uniform_(lin.weight, -bound, bound, generator=gen)
            torch.nn.init.uniform_(lin.bias, -bound, bound, generator=gen)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return torch.nn.Sequential(*layers)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; ``"cpu"``; ``"cuda"`` / ``"cuda:N"``.
    Asking for CUDA where there is none raises ``ValueError`` (no silent fallback: the caller
    decides — a page should offer ``"auto"``)."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"Invalid device: {device!r} (must be 'auto', 'cpu' or 'cuda')")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"Invalid device: {device!r} — CUDA is not available on this "
                             "machine (torch.cuda.is_available() is False); use 'auto' or 'cpu'")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"Invalid device: {device!r} — only {torch.cuda.device_count()} "
                             "CUDA device(s)")
        return dev
    raise ValueError(f"Invalid device: {device!r} (must be 'auto', 'cpu' or 'cuda')")


@dataclass(frozen=True)
class TrainConfig:
    """The values :func:`train` will use after :func:`clamp_config`."""

    hidden: tuple[int, ...]
    specs: tuple[OptimizerSpec, ...]
    steps: int
    batch_size: int | None          # None: full batch
    record_every: int
    boundary_every: int | None      # None: no snapshots (or not a 2-D dataset)
    grid: int
    estimated_seconds: float


def _macs(n_in: int, hidden: Sequence[int], n_out: int) -> int:
    sizes = (n_in, *hidden, n_out)
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def estimate_seconds(dataset: Dataset, hidden: Sequence[int], specs: Sequence[OptimizerSpec],
                     steps: int, batch_size: int | None = None, record_every: int = 1,
                     boundary_every: int | None = None, grid: int = 60,
                     limits: Limits = LIMITS) -> float:
    """Pessimistic wall time of :func:`train` on a 2-core CPU (the cost model of ``limits``)."""
    macs = _macs(dataset.n_features, hidden, dataset.n_classes)
    acts = sum(hidden)
    n_tensors = 2 * (len(hidden) + 1)
    rows = dataset.n_train if batch_size is None else min(batch_size, dataset.n_train)

    def row_cost(n_rows: int, backward: bool) -> float:
        k = 3.0 if backward else 1.0
        return n_rows * (k * 2.0 * macs / limits.flops_per_s
                         + (1.0 if backward else 0.4) * acts * limits.activation_s)

    per_step = 0.0
    for s in specs:
        per_tensor = s.entry.reports_beta and s.resolved().get("beta_scope") == "tensor"
        per_step += limits.step_overhead_s + n_tensors * (
            limits.tensor_overhead_adamw_s if per_tensor and s.entry.family == "adamw"
            else limits.tensor_overhead_adamw_s / 2 if per_tensor
            else limits.tensor_overhead_s)
        per_step += row_cost(rows, True)
    eval_rows = dataset.n_test + (dataset.n_train if batch_size is not None else 0)
    per_eval = len(specs) * (limits.eval_overhead_s + row_cost(eval_rows, False))
    total = steps * per_step + (steps / record_every + 1) * per_eval
    if boundary_every:
        total += (steps / boundary_every + 1) * len(specs) * row_cost(grid * grid, False)
    return float(total)


def clamp_config(dataset: Dataset, hidden: Sequence[int], specs: Sequence[OptimizerSpec],
                 steps: int, batch_size: int | None = None, record_every: int | None = None,
                 boundary_every: int | None = None, grid: int = 60,
                 limits: Limits = LIMITS, timing: "StepTiming | None" = None
                 ) -> tuple[TrainConfig, list[str]]:
    """Bring a training request within ``limits``: returns the values to use and one
    human-readable notice per change (e.g. ``"steps reduced from 100000 to 2000 (the limit
    keeps one training under 10 s)"``). The time of a step is ``timing`` (measured on this
    machine by :func:`calibrate`) when given, else the static cost model of ``limits``
    (:func:`estimate_seconds`). Malformed values (not an integer, < 1, not an
    ``OptimizerSpec``) raise ``ValueError`` naming the parameter instead."""
    notices: list[str] = []
    hid = list(_check_hidden(hidden))
    if len(hid) > limits.max_hidden_layers:
        notices.append(f"hidden layers reduced from {len(hid)} to {limits.max_hidden_layers} "
                       f"(at most {limits.max_hidden_layers} hidden layers)")
        hid = hid[:limits.max_hidden_layers]
    for i, w in enumerate(hid):
        c = min(max(w, limits.min_width), limits.max_width)
        if c != w:
            notices.append(f"width of hidden layer {i + 1} {'reduced' if c < w else 'raised'} "
                           f"from {w} to {c} (widths are {limits.min_width}-{limits.max_width})")
            hid[i] = c
    specs = list(specs)
    if not specs:
        raise ValueError("Invalid specs: at least one OptimizerSpec is needed")
    for i, s in enumerate(specs):
        if not isinstance(s, OptimizerSpec):
            raise ValueError(f"Invalid specs[{i}]: {s!r} (must be an OptimizerSpec)")
    if len(specs) > limits.max_specs:
        notices.append(f"optimizers reduced from {len(specs)} to the first {limits.max_specs} "
                       f"(at most {limits.max_specs} at once)")
        specs = specs[:limits.max_specs]
    steps = requested = _check_int("steps", steps, 1)
    steps = min(steps, limits.max_steps)
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size, 1)
        if batch_size >= dataset.n_train:
            notices.append(f"batch size {batch_size} ≥ the {dataset.n_train} training points: "
                           "full batch")
            batch_size = None
    grid = _check_int("grid", grid, 2)
    if grid > limits.max_grid:
        notices.append(f"grid reduced from {grid} to {limits.max_grid} points per axis")
        grid = limits.max_grid
    auto_record = record_every is None
    if not auto_record:
        record_every = _check_int("record_every", record_every, 1)
    if boundary_every is not None:
        boundary_every = _check_int("boundary_every", boundary_every, 1)
        if not dataset.is_2d:
            boundary_every = None

    def plan(n_steps: int) -> tuple[int, int | None, float]:
        rec = max(1, math.ceil(n_steps / 100)) if auto_record else record_every
        be = None if boundary_every is None else max(boundary_every,
                                                     math.ceil(n_steps / limits.max_snapshots))
        if timing is not None:
            return rec, be, timing.seconds(n_steps, rec, be)
        return rec, be, estimate_seconds(dataset, hid, specs, n_steps, batch_size, rec, be,
                                         grid, limits)

    if plan(steps)[2] > limits.time_budget_s:
        lo, hi = 1, steps                 # the largest step count within the budget
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if plan(mid)[2] <= limits.time_budget_s else (lo, mid - 1)
        steps = lo
        notices.append(f"steps reduced from {requested} to {steps} (the limit keeps one "
                       f"training under {limits.time_budget_s:g} s)")
    elif steps < requested:
        notices.append(f"steps reduced from {requested} to {steps} "
                       f"(at most {limits.max_steps} steps)")
    rec, be, est = plan(steps)
    if be is not None and be != boundary_every:
        notices.append(f"boundary snapshots every {be} steps instead of {boundary_every} "
                       f"(at most {limits.max_snapshots} frames)")
    record_every, boundary_every = rec, be
    return TrainConfig(tuple(hid), tuple(specs), steps, batch_size, record_every,
                       boundary_every, grid, est), notices


# ============================================================================= results
@dataclass
class RunRecord:
    """One optimizer spec's run. Per-step arrays have one row per step ``t`` = the model after
    ``t`` updates (the loss is the one the step at ``t`` descended, measured before it):

    - ``loss`` (T,): mini-batch (or full-batch) training loss;
    - ``train_acc``, ``test_acc`` (T,): accuracy on the whole training / test set, evaluated
      every ``record_every`` steps (NaN in between; ``eval_steps`` lists where);
    - ``grad_norm`` (T,): ‖g_t‖ over all parameters;
    - ``beta``, ``model_beta``, ``effective_momentum``: (T,) for a model-wide β (AM-SGD, the
      constant-β SGD baselines), (T, n_tensors) for per-tensor β (AM-AdamW, adamw), columns in
      ``layer_names`` order. ``beta`` is the β used, ``model_beta`` the model's closed form
      (what AM would have chosen; NaN for torch_sgd/torch_adamw, whose ``beta`` is the constant).

    ``boundaries``: ``[(step, probs), ...]`` for 2-D datasets, the model after ``step`` updates on
    the grid ``grid_x`` × ``grid_y`` (original units): ``probs`` is P(class 1) with shape
    ``(len(grid_y), len(grid_x))`` for 2 classes, else ``(len(grid_y), len(grid_x), n_classes)``.
    ``confusion[true, predicted]`` on the test set and ``misclassified`` (test-set indices, at most
    16) and ``test_pred`` (the predicted class of every test point) describe the final model;
    ``final_loss``/``final_train_acc``/``final_test_acc`` are the
    full training loss and accuracies of the final model (NaN if diverged).

    Records passed to ``callback`` are partial (``finished`` False, final fields NaN/None).
    """

    spec: OptimizerSpec
    label: str
    layer_names: list[str]
    loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    grad_norm: np.ndarray
    beta: np.ndarray
    model_beta: np.ndarray
    effective_momentum: np.ndarray
    planned_steps: int
    diverged_at: int | None = None
    boundaries: list[tuple[int, np.ndarray]] = field(default_factory=list)
    grid_x: np.ndarray | None = None
    grid_y: np.ndarray | None = None
    confusion: np.ndarray | None = None
    misclassified: np.ndarray | None = None
    test_pred: np.ndarray | None = None      # the final model's predicted class per test point
    final_params: dict[str, np.ndarray] | None = None   # the last weights ({layer name: array})
    final_loss: float = float("nan")
    final_train_acc: float = float("nan")
    final_test_acc: float = float("nan")
    finished: bool = False
    stopped_early: bool = False
    time_limited: bool = False       # stopped by the clock (the time limit), not by the user
    seconds: float = 0.0
    device: str = "cpu"
    notices: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def steps(self) -> int:
        """Steps recorded (≤ ``planned_steps``; fewer when stopped early)."""
        return int(self.loss.shape[0])

    @property
    def progress(self) -> float:
        return self.steps / self.planned_steps if self.planned_steps else 1.0

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def per_tensor_beta(self) -> bool:
        return self.beta.ndim == 2

    @property
    def beta_mean(self) -> np.ndarray:
        """β per step, averaged over tensors when per tensor: (T,)."""
        return self.beta.mean(axis=1) if self.beta.ndim == 2 else self.beta

    @property
    def eval_steps(self) -> np.ndarray:
        """Steps at which the accuracies were evaluated."""
        return np.flatnonzero(~np.isnan(self.test_acc))

    def to_dataframe(self) -> Any:
        """One row per step (pandas): step, optimizer, label, lr, loss, train_acc, test_acc,
        grad_norm, beta, model_beta, effective_momentum (means over tensors when per tensor),
        and ``beta[<tensor>]`` columns for per-tensor β."""
        import pandas as pd

        def mean(a: np.ndarray) -> np.ndarray:
            return np.nanmean(a, axis=1) if a.ndim == 2 and a.shape[0] else \
                (a if a.ndim == 1 else np.zeros(0))

        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN rows after divergence
            cols: dict[str, Any] = {
                "step": np.arange(self.steps), "optimizer": self.spec.name, "label": self.label,
                "lr": self.spec.lr, "loss": self.loss, "train_acc": self.train_acc,
                "test_acc": self.test_acc, "grad_norm": self.grad_norm,
                "beta": mean(self.beta), "model_beta": mean(self.model_beta),
                "effective_momentum": mean(self.effective_momentum)}
        if self.beta.ndim == 2:
            for j, n in enumerate(self.layer_names):
                cols[f"beta[{n}]"] = self.beta[:, j]
        return pd.DataFrame(cols)


def runs_to_dataframe(runs: Sequence[RunRecord]) -> Any:
    """All runs stacked (long format, a ``run`` column = index in ``runs``), for CSV export:
    ``runs_to_dataframe(runs).to_csv(index=False)``."""
    import pandas as pd
    frames = []
    for i, r in enumerate(runs):
        df = r.to_dataframe()
        df.insert(0, "run", i)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ============================================================================= training
def batch_indices(n_train: int, batch_size: int, seed: int) -> Any:
    """The shared mini-batch stream: an endless iterator of index tensors (CPU, int64) of
    ``batch_size`` indices, one seeded permutation per epoch (an incomplete last batch is
    dropped). Every run of one :func:`train` call gets the same batch at the same step."""
    gen = torch.Generator().manual_seed(seed + 0x5EED)
    per_epoch = max(1, n_train // batch_size)
    while True:
        perm = torch.randperm(n_train, generator=gen)
        for k in range(per_epoch):
            yield perm[k * batch_size:(k + 1) * batch_size]


# ============================================================================= the batched program
class _Act(NamedTuple):
    r"""How :class:`_Stack` applies an activation σ. A hidden layer stores
    ``s = fwd(k·z)`` (in place on the matrix product's output, which computes k·z for free);
    its output :math:`h = \alpha s + \delta` is never formed: the next layer's product uses
    :math:`Wh + b = \alpha Ws + (b + \delta W\mathbf 1)` and its weight gradient
    :math:`\alpha\,dz\,s^\top + \delta\,(dz\mathbf 1)\mathbf 1^\top`. ``bwd(u, z, s)`` is
    :math:`\partial L/\partial z` from :math:`u = \alpha k\,W^\top\partial L/\partial
    z_{\mathrm{next}}` (the factor applied to the small W, not to the activations)."""

    fwd: Callable
    bwd: Callable
    k: float
    alpha: float
    delta: float
    keep_z: bool


def _activation(activation: str) -> _Act:
    r"""tanh is computed as :math:`2\,\mathrm{sigmoid}(2z) - 1` (the same function), with the
    factors 2 and the shift −1 folded into the neighbouring matrix products: ``torch.tanh``
    costs about three times ``torch.sigmoid`` on CPUs and was the largest single cost of a
    step; :math:`\tanh' = 1 - h^2 = 4s(1-s)` (sigmoid's derivative kernel). The rounding is an
    ulp of 1 (absolute) instead of an ulp of tanh(z): far below what a step's reductions change.
    ReLU and GELU: ``s = h``, autograd's own derivative kernels."""
    if activation == "tanh":
        return _Act(torch.Tensor.sigmoid_, lambda u, z, s: torch.ops.aten.sigmoid_backward(u, s),
                    2.0, 2.0, -1.0, False)
    if activation == "relu":
        return _Act(torch.Tensor.relu_,
                    lambda u, z, s: torch.ops.aten.threshold_backward(u, s, 0), 1.0, 1.0, 0.0,
                    False)
    return _Act(F.gelu, lambda u, z, s: torch.ops.aten.gelu_backward(u, z), 1.0, 1.0, 0.0, True)


def _predict(z: torch.Tensor) -> torch.Tensor:
    """The predicted class ``(R, rows)`` from logits ``(R, C, rows)``: the first largest logit
    (``argmax`` over dim 1, which on CPU is a slow strided reduction: two classes are one
    comparison, more classes a running maximum over the class rows)."""
    C = z.shape[1]
    if C == 2:
        return (z[:, 1] > z[:, 0]).to(torch.long)
    best, pred = z[:, 0], torch.zeros_like(z[:, 0], dtype=torch.long)
    for c in range(1, C):
        up = z[:, c] > best
        best = torch.where(up, z[:, c], best)
        pred.masked_fill_(up, c)
    return pred


# The CPU program runs the networks in chunks of runs whose activation arrays hold about this
# many numbers (1 MiB of float32): a sweep's 96 networks × 1,000 rows × 32 units at once are
# 12 MB per array, and every elementwise pass then streams from memory (measured: the chunked
# forward/backward of 96 networks takes about 0.6× the time of the whole batch at once).
_CHUNK_VALUES = 1 << 18


class _Stack:
    r"""R MLPs of one shape as one program: the parameters of run r are row r of ``theta``
    (R, N), in ``build_mlp``'s order (``0.weight``, ``0.bias``, ``2.weight``, ...), and every
    layer is a view ``W (R, out, in)``, ``b (R, out)`` of it. Activations are feature-major
    ``(R, features, rows)`` (the softmax over classes then runs over contiguous rows). The
    gradients are written by a hand-written backward pass (the chain rule of
    :math:`z_l = W_l h_{l-1} + b_l`, :math:`h_l = \sigma(z_l)` and the mean cross-entropy, with
    autograd's own activation-derivative kernels) into ``grad`` (R, N), with the same views:
    no autograd graph, and runs never mix (every product is batched over r, every reduction is
    within a run), so a diverging run cannot touch another's numbers.

    Per-tensor sums of any ``(..., N)`` tensor are one matrix product with the coordinate →
    tensor indicator ``ind_T`` (L, N) (:meth:`segment_sums`); per-tensor values ``(n, L)`` are
    spread back over the coordinates by :meth:`expand`."""

    def __init__(self, sizes: Sequence[int], activation: str, theta: torch.Tensor) -> None:
        self.theta = theta
        self.grad = torch.zeros_like(theta)
        self.R = theta.shape[0]
        self.act = _activation(activation)
        self.layers: list[tuple[torch.Tensor, ...]] = []
        self.names: list[str] = []
        self.bounds: list[tuple[int, int]] = []        # each tensor's columns in theta
        self.shapes: list[tuple[int, ...]] = []
        off = 0
        for i in range(len(sizes) - 1):
            n_out, n_in = sizes[i + 1], sizes[i]
            w = (off, off + n_out * n_in)
            b = (w[1], w[1] + n_out)
            off = b[1]
            self.layers.append((theta[:, w[0]:w[1]].view(-1, n_out, n_in), theta[:, b[0]:b[1]],
                                self.grad[:, w[0]:w[1]].view(-1, n_out, n_in),
                                self.grad[:, b[0]:b[1]]))
            self.names += [f"{2 * i}.weight", f"{2 * i}.bias"]
            self.bounds += [w, b]
            self.shapes += [(n_out, n_in), (n_out,)]
        self.n_params = off
        self.width = max(sizes[1:])
        self.chunk_values = _CHUNK_VALUES
        self._chunk_cache: dict[int, list] = {}
        seg = torch.cat([torch.full((e - s,), k, dtype=torch.long)
                         for k, (s, e) in enumerate(self.bounds)])
        ind = torch.zeros(off, len(self.bounds), dtype=theta.dtype)
        ind[torch.arange(off), seg] = 1.0
        self.ind_T = ind.T.contiguous().to(theta.device)      # (L, N): tensor k's coordinates
        # (N, L): column k averages tensor k (per-tensor means by one matmul)
        self.seg_mean = (ind / ind.sum(0)).to(theta.device)

    def segment_sums(self, a: torch.Tensor) -> torch.Tensor:
        """Per-tensor sums ``(..., L)`` of ``a (..., N)``: one matrix product with the
        indicator (as ``(L, N) @ (N, rows)``, the shape BLAS runs fastest here)."""
        lead = a.shape[:-1]
        return torch.mm(self.ind_T, a.reshape(-1, a.shape[-1]).T).T.reshape(*lead, -1)

    def expand(self, a: torch.Tensor, per_tensor: bool = True) -> torch.Tensor:
        """Per-tensor values ``(n, L)`` over the N columns ``(n, N)`` (a product with the
        indicator: each coordinate gets its tensor's value exactly, 1·v + 0·others);
        ``per_tensor=False``: the rows hold one value (column 0), kept as a column ``(n, 1)``."""
        return a @ self.ind_T if per_tensor else a[:, :1]

    def _input(self, i: int, W: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, float]:
        r"""(bias, α) of layer i's product with its stored input s: :math:`Wh + b = \alpha Ws +
        (b + \delta W\mathbf 1)` for :math:`h = \alpha s + \delta` (the raw data: α = 1)."""
        if i == 0 or self.act.delta == 0.0:
            return b, (1.0 if i == 0 else self.act.alpha)
        return b + self.act.delta * W.sum(2), self.act.alpha

    def _chunks(self, rows: int) -> list[tuple[slice, list[tuple[torch.Tensor, ...]]]]:
        """The runs in chunks whose activations stay in the CPU's caches (about
        ``chunk_values`` numbers per activation array; one chunk on a GPU, which wants the
        largest kernels), each with its layer views."""
        key = rows
        if key not in self._chunk_cache:
            per = self.R if self.theta.device.type != "cpu" else \
                max(1, self.chunk_values // (self.width * max(rows, 1)))
            if per >= self.R:
                out = [(slice(None), self.layers)]
            else:
                out = [(sl, [tuple(t[sl] for t in layer) for layer in self.layers])
                       for sl in (slice(c, min(c + per, self.R)) for c in range(0, self.R, per))]
            self._chunk_cache[key] = out
        return self._chunk_cache[key]

    def forward(self, XT: torch.Tensor) -> torch.Tensor:
        """Logits ``(R, C, rows)`` of every run; ``XT`` is ``(in, rows)`` shared by every run,
        or ``(R, in, rows)``."""
        chunks = self._chunks(XT.shape[-1])
        if len(chunks) == 1:
            return self._forward(self.layers, XT)
        return torch.cat([self._forward(layers, XT if XT.dim() == 2 else XT[sl])
                          for sl, layers in chunks])

    def loss_and_grad(self, XT: torch.Tensor, OH: torch.Tensor) -> tuple[torch.Tensor,
                                                                         torch.Tensor]:
        """Per-run mean cross-entropy ``(R,)`` and the logits; the gradients into ``grad``.
        ``OH``: one-hot labels ``(C, rows)`` (shared) or ``(R, C, rows)``. Chunk by chunk of
        runs (:meth:`_chunks`)."""
        chunks = self._chunks(XT.shape[-1])
        if len(chunks) == 1:
            return self._loss_and_grad(self.layers, XT, OH)
        parts = [self._loss_and_grad(layers, XT if XT.dim() == 2 else XT[sl],
                                     OH if OH.dim() == 2 else OH[sl]) for sl, layers in chunks]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _forward(self, layers: list[tuple[torch.Tensor, ...]], XT: torch.Tensor,
                 cache: list | None = None) -> torch.Tensor:
        """:meth:`forward` of the runs of ``layers``; ``cache`` collects ``(input, z, s)`` per
        hidden layer (z only where the activation's derivative needs it; s the stored value,
        see :class:`_Act`)."""
        h = XT
        act = self.act
        last = len(layers) - 1
        for i, (W, b, _, _) in enumerate(layers):
            k = 1.0 if i == last else act.k          # the activation's argument: k·z
            bias, alpha = self._input(i, W, b)
            R, n_out, n_in = W.shape
            rows = h.shape[-1]     # (the bias expanded explicitly: faster than broadcasting)
            if h.dim() == 2:       # one input for all runs: one matmul over the stacked rows
                z = torch.addmm(bias.reshape(R * n_out, 1).expand(R * n_out, rows),
                                W.reshape(R * n_out, n_in), h, beta=k,
                                alpha=k * alpha).view(R, n_out, -1)
            else:
                z = torch.baddbmm(bias.unsqueeze(2).expand(R, n_out, rows), W, h, beta=k,
                                  alpha=k * alpha)
            if i == last:
                return z
            s = act.fwd(z)                               # in place unless z is kept
            if cache is not None:
                cache.append((h, z if act.keep_z else None, s))
            h = s
        raise AssertionError("unreachable")    # pragma: no cover

    def _loss_and_grad(self, layers: list[tuple[torch.Tensor, ...]], XT: torch.Tensor,
                       OH: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`loss_and_grad` of the runs of ``layers``."""
        cache: list = []
        act = self.act
        z = self._forward(layers, XT, cache)
        rows = z.shape[2]
        ls = torch.log_softmax(z, 1)
        loss = (ls * OH).sum((1, 2)).div_(-rows)
        dz = ls.exp_().sub_(OH).mul_(1.0 / rows)          # (softmax − onehot)/rows
        for i in range(len(layers) - 1, -1, -1):
            W, _, gW, gb = layers[i]
            h = cache[i - 1][2] if i > 0 else XT
            torch.sum(dz, 2, out=gb) if gb.is_contiguous() else gb.copy_(dz.sum(2))
            if h.dim() == 2:
                R, n_out, n_in = W.shape
                gW.copy_(torch.mm(dz.reshape(R * n_out, -1), h.T).view(R, n_out, n_in))
            elif i == 0 or act.delta == 0.0:
                gW.copy_(torch.bmm(dz, h.transpose(1, 2)))
            else:          # ∂L/∂W = dz hᵀ = α dz sᵀ + δ (dz 1) 1ᵀ
                gW.copy_(torch.baddbmm(gb.unsqueeze(2).expand(gW.shape), dz, h.transpose(1, 2),
                                       beta=act.delta, alpha=act.alpha))
            if i > 0:
                _, zp, sp = cache[i - 1]
                scale = act.alpha * act.k                # ∂h/∂s · ∂(kz)/∂z, on the small W
                Wt = W.transpose(1, 2) if scale == 1.0 else W.transpose(1, 2) * scale
                dz = act.bwd(torch.bmm(Wt, dz), zp, sp)
        return loss, z


def _check_batchable(spec: OptimizerSpec) -> None:
    r = spec.resolved()
    if r.get("maximize"):
        raise ValueError(f"Invalid maximize for {spec.name}: train() minimises the loss")
    if r.get("loss_gap", "taylor") != "taylor":
        raise ValueError(f"Invalid loss_gap for {spec.name}: {r['loss_gap']!r} (train() uses "
                         "mini-batch-safe 'taylor' gaps; 'exact' needs a closure per run)")


def _per_tensor(spec: OptimizerSpec) -> bool:
    """Whether the spec reports one β per tensor (AM-AdamW / AdamW's default scope, AM-SGD's
    ``beta_scope="tensor"``) rather than one over the model."""
    if spec.name == "torch_sgd":
        return False
    default = "tensor" if spec.entry.family == "adamw" else "global"
    return spec.resolved().get("beta_scope", default) == "tensor"


class _Update:
    r"""The optimizer step of every run at once, whatever the mix of kinds: one form, the
    W-weighted update of :mod:`adamem_core.model` with per-run coefficients (as the 2-D engine's
    ``_run``), applied with a handful of operations to the flat ``(R, N)`` buffers.

    - AMAdamW's form (AM-AdamW, AdamW, ``torch.optim.AdamW`` = a fixed β₁ and λ = 0) is
      ``AMAdamW.step`` with a run dimension: second moment, preconditioner P, the taylor gap
      along the previous step (its η, P and decoupled decay), AdamW's first step (β₁max, no λ),
      the closed form, d ← d + z(g − d) with z = (1 − β)/(1 + λP), x ← (1 − ημ)x − ηP⁻¹d.
    - AMSGD's form (AM-SGD, SGD, EMA momentum, Nesterov, ``torch.optim.SGD``) is the same with
      P = I exactly (β₂ = 0 keeps v = 0 and ε = 1, β₁max = 0 make P = 0·s + 1), μ = 0 and the
      L2 decay in the gradient: the closed form is AM-SGD's (:func:`model.sgd_form`: the same β),
      z = (1 − β)/(1 + λ), d₀ = g₀, the Nesterov look-ahead on its rows, and torch's SGD
      d ← μd + g by ``where`` on its rows.

    β is computed per run and per tensor ``(R, L)`` from per-tensor sums (one matrix product,
    :meth:`_Stack.segment_sums`); a run with a model-wide β uses the sums over its tensors (the
    same value in every column); constant-β runs take their β by ``where``. Every operation is
    per row, so a diverging run cannot reach another. ``η > 0`` for every spec
    (``OptimizerSpec`` refuses others), so the closed form's gap/η is a plain division."""

    def __init__(self, specs: Sequence[OptimizerSpec], stack: _Stack) -> None:
        self.stack = stack
        dev, dt = stack.theta.device, stack.theta.dtype
        self.dt = dt
        R, L = len(specs), len(stack.bounds)
        self.R, self.L = R, L
        res = [s.resolved() for s in specs]

        def col(vals, dtype=torch.float64):
            return torch.tensor([float(v) if dtype != torch.bool else bool(v) for v in vals],
                                dtype=dtype, device=dev)[:, None]

        adam = [s.entry.family == "adamw" for s in specs]
        self.any_adam, self.all_adam = any(adam), all(adam)
        self.adam = col(adam, torch.bool)
        pt = [_per_tensor(s) for s in specs]
        self.per_tensor = np.array(pt, dtype=bool)
        self.any_tensor, self.any_global = any(pt), not all(pt)
        self.tensor_col = col(pt, torch.bool)
        self.adam_global = col([a and not p for a, p in zip(adam, pt)], torch.bool)
        self.any_adam_global = any(a and not p for a, p in zip(adam, pt))
        self.lr = col([s.lr for s in specs])
        self.neg_lr = col([-s.lr for s in specs], dt)
        lam = [float(r.get("lam", 0.0)) for r in res]
        self.lam = col(lam)
        self.lam_first = col([0.0 if a else v for a, v in zip(adam, lam)])   # AdamW's 1st step
        self.lam_d, self.lam_first_d = self.lam.to(dt), self.lam_first.to(dt)
        self.any_lam = any(v != 0 for v in lam)
        self.any_lam_first = any(v != 0 and not a for a, v in zip(adam, lam))
        # adam rows whose reported effective momentum is the per-tensor mean of 1 − z
        self.adam_lam = col([a and v != 0 for a, v in zip(adam, lam)], torch.bool)
        self.any_adam_lam = any(a and v != 0 for a, v in zip(adam, lam))
        fixed = [s.fixed_beta for s in specs]
        self.any_fixed = any(f is not None for f in fixed)
        self.fixed_mask = col([f is not None for f in fixed], torch.bool)
        self.fixed = col([0.0 if f is None else f for f in fixed])
        # β's cap: β_max (AMSGD's form), β₁max (AM-AdamW) or the constant β₁ (AdamW)
        self.bmax = col([(float(r["beta1"]) if f is not None else float(r["betas"][0])) if a
                         else float(r.get("beta_max", 0.9))
                         for r, f, a in zip(res, fixed, adam)])
        wd = [float(r.get("weight_decay", 0.0)) for r in res]
        self.any_l2 = any(w != 0 and not a for w, a in zip(wd, adam))
        self.l2 = col([0.0 if a else w for w, a in zip(wd, adam)], dt)
        self.any_dec = any(w != 0 and a for w, a in zip(wd, adam))
        self.wd_dec = col([w if a else 0.0 for w, a in zip(wd, adam)])
        self.decay = col([1 - s.lr * w if a else 1.0 for s, w, a in zip(specs, wd, adam)], dt)
        tsgd = [s.name == "torch_sgd" for s in specs]
        self.any_torch = any(tsgd)
        self.torch_col = col(tsgd, torch.bool)
        self.momentum = col([s.fixed_beta if t else 0.0 for s, t in zip(specs, tsgd)], dt)
        nest = [s.name == "nesterov" for s in specs]
        self.any_nesterov = any(nest)
        self.nesterov = col(nest, torch.bool)
        if self.any_adam:
            # AMSGD's rows: β₂ = 0, ε = 1, β₁max = 0 make P = √0·1 + 1 = 1 exactly
            b2 = [float(r["betas"][1]) if a else 0.0 for r, a in zip(res, adam)]
            self.beta2 = col(b2)
            self.beta2_d = self.beta2.to(dt)
            self.one_m_beta2 = col([1.0 - b if a else 0.0 for b, a in zip(b2, adam)], dt)
            self.eps = col([float(r["eps"]) if a else 1.0 for r, a in zip(res, adam)])
            self.bc1max = torch.where(self.adam, self.bmax, 0.0)
            self.prod = torch.ones(R, L, dtype=torch.float64, device=dev)
            self.v = torch.zeros(R, stack.n_params, dtype=dt, device=dev)
        self.init_g = col([not a for a in adam], torch.bool)      # d_0 = g_0 / AdamW's m_0 = 0
        self.terms = torch.empty(5, R, stack.n_params, dtype=dt, device=dev)   # the products
        self.d: torch.Tensor | None = None
        self.P_prev: torch.Tensor | None = None
        self.t = 0

    def pick(self, tensor: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        """Per-tensor rows from ``tensor`` (..., R, L), model-wide rows from ``glob``
        (..., R, 1), spread over the L columns."""
        if not self.any_tensor:
            return glob.expand(tensor.shape)
        return torch.where(self.tensor_col, tensor, glob)

    def step(self, out: torch.Tensor) -> None:
        """One update of every run; writes (β used, the model's β, effective momentum) into
        ``out`` ``(3, R, L)`` (float64; model-wide rows: every column)."""
        st, dt = self.stack, self.dt
        p, g = st.theta, st.grad
        if self.any_l2:                                       # L2 in the gradient (AMSGD's)
            g = g + self.l2 * p
        first = self.d is None
        if first:
            self.d = (g.clone() if not self.any_adam else torch.zeros_like(g)
                      if self.all_adam else torch.where(self.init_g, g, 0.0))
        d = self.d
        self.t += 1
        P = None
        if self.any_adam:
            self.v.mul_(self.beta2_d).addcmul_(g * self.one_m_beta2, g)
            bc1 = model.bias_correction1(self.bc1max, self.prod)               # (R, L)
            se = torch.cat(model.precond_scalars(float(self.t), self.beta2, self.eps, bc1))
            se = st.expand(se.to(dt), self.any_tensor)                # (2R, N) or (2R, 1)
            P = model.precondition(self.v, se[:self.R], se[self.R:])
        lam = self.lam_first if first else self.lam
        lam_d = self.lam_first_d if first else self.lam_d
        x = p if self.any_dec else None
        terms = model.adamw_sum_terms(g, d, P, lam_d, x, not first, self.P_prev,
                                      out=self.terms)
        sums = st.segment_sums(terms).to(torch.float64)                   # (k, R, L)
        if self.any_global:          # a model-wide β: the sums over the run's tensors
            sums = self.pick(sums, sums.sum(2, keepdim=True))
        if first:        # AMSGD: d = g (β = 0 whatever the gap); AdamW: m_0 = 0, no memory
            gap, k = torch.zeros_like(sums[0]), 0
        elif x is None:
            gap, k = self.lr * sums[0], 1                     # model.taylor_gap_from_sums
        else:
            gap, k = model.taylor_gap_from_sums(sums[0], sums[1], self.lr, self.wd_dec), 2
        c = sums[k + 1]
        a = model.adamw_parts_from_sums(sums[k], c, None if x is None else sums[k + 2],
                                        self.wd_dec)
        mbeta = model.beta_from_sums(gap / self.lr, a, c, 1.0, self.bmax).beta
        if first and self.any_adam_global:   # every ω is 0 (model.sum_weights): no say yet
            mbeta = torch.where(self.adam_global, 0.0, mbeta)
        beta = torch.where(self.fixed_mask, self.fixed, mbeta) if self.any_fixed else mbeta
        if first and self.any_adam:                           # AdamW's first step: β₁max
            beta = torch.where(self.adam, model.first_step_beta(beta, self.bmax, True), beta)
        lam_any = self.any_lam_first if first else self.any_lam
        per_coord = self.any_tensor or (P is not None and lam_any)
        bz = st.expand(beta.to(dt), per_coord)
        z = model.adamw_direction_weight(bz, lam_d, 1.0 if P is None else P) if lam_any \
            else 1.0 - bz
        eff = model.effective_momentum(beta, lam)    # AMSGD's form, and λ = 0 (= β)
        if self.any_adam_lam and not first:          # AMAdamW: the per-tensor mean of 1 − z
            eff = torch.where(self.adam_lam, 1.0 - (z @ st.seg_mean).to(torch.float64), eff)
        if self.any_adam_global:                     # a model-wide β: the mean over tensors
            eff = torch.where(self.adam_global, eff.mean(1, keepdim=True), eff)
        heavy = d * self.momentum + g if self.any_torch and not first else None
        d.lerp_(g, z)                                         # d ← (1 − z) d + z g
        if heavy is not None:                                 # torch SGD: d ← μ d + g
            d = self.d = torch.where(self.torch_col, heavy, d)
        step = torch.where(self.nesterov, d.lerp(g, z), d) if self.any_nesterov else d
        if self.any_dec:
            p.mul_(self.decay)
        p.addcmul_(step if P is None else step / P, self.neg_lr)
        if self.any_adam:
            self.prod = self.prod * beta
        self.P_prev = P
        torch.stack([beta, mbeta, eff], out=out)


def _one_hot_rows(y: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(y, n_classes).to(dtype)


class _Program:
    """Everything one batched training needs: the stacked networks (row r = run r), the
    optimizer update of every run (:class:`_Update`), the data on the device and the
    mini-batch streams (one per seed, drawn ``chunk`` steps at a time so that on CUDA the
    indices travel in one asynchronous copy, not one per step). ``order[j]`` is the run at
    row j (the identity: kept for the callers that map rows to runs)."""

    def __init__(self, dataset: "Dataset", hidden: Sequence[int], activation: str,
                 runs: Sequence[tuple[OptimizerSpec, int]], batch_size: int | None,
                 dev: torch.device, dtype: torch.dtype, grid_pts: np.ndarray | None,
                 chunk: int = 50) -> None:
        for s, _ in runs:
            _check_batchable(s)
        self.dev, self.dt = dev, dtype
        sizes = (dataset.n_features, *hidden, dataset.n_classes)
        self.order = list(range(len(runs)))
        init = {}
        for sd in sorted({sd for _, sd in runs}):
            m = build_mlp(dataset.n_features, hidden, dataset.n_classes, activation, sd)
            init[sd] = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
        theta = torch.stack([init[runs[i][1]] for i in self.order]).to(device=dev, dtype=dtype)
        self.stack = _Stack(sizes, activation, theta)
        self.opt = _Update([runs[i][0] for i in self.order], self.stack)
        self.per_tensor = self.opt.per_tensor
        self.stats = torch.zeros(3, len(runs), len(self.stack.bounds), dtype=torch.float64,
                                 device=dev)
        C = dataset.n_classes
        self.C = C
        self.Xtr = torch.tensor(np.array(dataset.X_train), device=dev, dtype=dtype)
        self.ytr = torch.tensor(np.array(dataset.y_train), device=dev)
        self.Xte_T = torch.tensor(np.array(dataset.X_test), device=dev, dtype=dtype).T.contiguous()
        self.yte = torch.tensor(np.array(dataset.y_test), device=dev)
        self.Xtr_T = self.Xtr.T.contiguous()
        self.OH_rows = _one_hot_rows(self.ytr, C, dtype)
        self.OH_T = self.OH_rows.T.contiguous()
        self.grid_T = None if grid_pts is None else torch.as_tensor(
            np.asarray(grid_pts), device=dev, dtype=dtype).T.contiguous()
        self.full = batch_size is None
        self.chunk = chunk
        if not self.full:
            seeds = sorted({sd for _, sd in runs})
            self.streams = [batch_indices(dataset.n_train, batch_size, sd) for sd in seeds]
            self.shared = len(seeds) == 1
            pos = {sd: i for i, sd in enumerate(seeds)}
            self.seed_pos = torch.tensor([pos[runs[i][1]] for i in self.order], device=dev)
            self._batches: torch.Tensor | None = None
            self._b0 = 0

    def _batch(self, t: int) -> torch.Tensor:
        """(seeds, batch) indices of step t (steps are taken in order)."""
        if self._batches is None or t - self._b0 >= self._batches.shape[0]:
            host = torch.stack([torch.stack([next(s) for s in self.streams])
                                for _ in range(self.chunk)])
            if self.dev.type == "cuda":
                host = host.pin_memory()
            self._batches = host.to(self.dev, non_blocking=True)
            self._b0 = t
        return self._batches[t - self._b0]

    def loss_and_grad(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.full:
            return self.stack.loss_and_grad(self.Xtr_T, self.OH_T)
        idx = self._batch(t)
        if self.shared:
            i = idx[0]
            return self.stack.loss_and_grad(self.Xtr[i].T, self.OH_rows[i].T)
        i = idx.index_select(0, self.seed_pos)                       # (R, batch)
        return self.stack.loss_and_grad(self.Xtr[i].transpose(1, 2),
                                        self.OH_rows[i].transpose(1, 2))

    def update(self, out: torch.Tensor | None = None) -> torch.Tensor:
        """One optimizer step of every run; (β used, the model's β, effective momentum) per
        row and tensor go to ``out`` (``(3, R, L)`` float64, default ``stats``), returned."""
        out = self.stats if out is None else out
        self.opt.step(out)
        return out

    @torch.no_grad()
    def correct(self, z_train: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Correct predictions per run on the training set (from this step's logits when full
        batch) and on the test set."""
        if z_train is None:
            z_train = self.stack.forward(self.Xtr_T)
        tr = (_predict(z_train) == self.ytr).sum(1)
        te = (_predict(self.stack.forward(self.Xte_T)) == self.yte).sum(1)
        return tr, te

    @torch.no_grad()
    def snapshot(self) -> torch.Tensor:
        """P(class 1) ``(R, G)`` for two classes, else the probabilities ``(R, G, C)``."""
        probs = torch.softmax(self.stack.forward(self.grid_T), 1)
        return probs[:, 1] if self.C == 2 else probs.transpose(1, 2)

    @torch.no_grad()
    def final(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(full training loss, training accuracy, test predictions) per run."""
        z = self.stack.forward(self.Xtr_T)
        loss = (torch.log_softmax(z, 1) * self.OH_T).sum((1, 2)).div_(-z.shape[2])
        acc = (_predict(z) == self.ytr).to(torch.float64).mean(1)
        return loss, acc, _predict(self.stack.forward(self.Xte_T))


@dataclass(frozen=True)
class StepTiming:
    """Seconds measured on this machine for one batched configuration (:func:`calibrate`):
    one training step of all runs, one accuracy evaluation, one boundary snapshot."""

    step_s: float
    eval_s: float
    snapshot_s: float = 0.0

    def seconds(self, steps: int, record_every: int, boundary_every: int | None) -> float:
        evals = steps / record_every + 2                 # + the last step and the final model
        snaps = 0.0 if not boundary_every else steps / boundary_every + 1
        return float(steps * self.step_s + evals * self.eval_s + snaps * self.snapshot_s)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def calibrate(dataset: "Dataset", hidden: Sequence[int], activation: str,
              specs: Sequence[OptimizerSpec], batch_size: int | None = None,
              device: str | torch.device = "auto", seeds: Sequence[int] = (0,),
              grid: int | None = None, steps: int = 4,
              num_threads: int | None = 1, lrs: Sequence[float] | None = None) -> StepTiming:
    """Time the real batched program of ``specs`` × ``seeds`` (× ``lrs`` for a sweep, as
    :meth:`SweepConfig.runs` orders them) on this machine (one warm-up
    step, then the fastest of ``steps`` steps; one evaluation; one snapshot on a ``grid``² grid
    for 2-D data): the estimate :func:`clamp_config` extrapolates, so that the limits hold on
    the machine the app runs on, whatever its speed and load. Costs a few training steps."""
    if lrs is None:
        runs = [(s, int(sd)) for sd in seeds for s in specs]
    else:
        runs = [(s.replace(lr=lr), int(sd)) for s in specs for lr in _check_lrs(lrs)
                for sd in seeds]
    return _calibrate_runs(dataset, _check_hidden(hidden), activation, runs, batch_size,
                           pick_device(device), grid, steps, num_threads)


def _outside(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the caller's code (a progress callback, a Stop poll) in normal autograd mode: the
    training loop runs in inference mode (see :func:`_train_runs`)."""
    with torch.inference_mode(False):
        return fn(*args)


@torch.inference_mode()
def _calibrate_runs(dataset, hidden, activation, runs, batch_size, dev, grid, steps=4,
                    num_threads=None) -> StepTiming:
    prev = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(_check_int("num_threads", num_threads, 1))
    try:
        pts = dataset.grid(grid)[2] if (grid and dataset.is_2d) else None
        bs = None if batch_size is None or batch_size >= dataset.n_train else batch_size
        prog = _Program(dataset, hidden, activation, runs, bs, dev, torch.float32, pts)
        perf = time.perf_counter
        times = []
        for t in range(steps + 1):
            _sync(dev)
            t0 = perf()
            prog.loss_and_grad(t)
            prog.update()
            _sync(dev)
            times.append(perf() - t0)
        t0 = perf()
        prog.correct(None)
        _sync(dev)
        ev = perf() - t0
        sn = 0.0
        if pts is not None:
            t0 = perf()
            prog.snapshot()
            _sync(dev)
            sn = perf() - t0
        # the fastest of the timed steps: a burst of load on a shared machine during the few
        # calibration steps would otherwise cut a training it does not slow for long (the
        # clock still stops a training that sustained load makes slower than the estimate)
        return StepTiming(float(min(times[1:])), ev, sn)
    finally:
        torch.set_num_threads(prev)


# The training loop builds no autograd graph (its backward pass is written by hand, see
# _Stack): inference mode also skips autograd's bookkeeping on every operation (version
# counters, view tracking): 5–12 % of a 6 × 500 training on a CPU in interleaved runs (CPU
# time), with the same numbers bit for bit.
# What leaves the loop is NumPy; the caller's callback and Stop poll run outside it (_outside).
@torch.inference_mode()
def _train_runs(dataset: "Dataset", hidden: tuple[int, ...], activation: str,
                runs: Sequence[tuple[OptimizerSpec, int]], T: int, batch_size: int | None,
                dev: torch.device, rec_every: int, bnd_every: int | None, grid: int,
                callback, callback_every: int, should_stop, diverge_loss: float,
                time_limit_s: float | None, dtype: torch.dtype, notices: list[str],
                meta: dict[str, Any], start: float) -> list["RunRecord"]:
    """The training loop of :func:`train` and :func:`sweep`: every run of ``runs`` (spec, seed)
    as one batched program (see :class:`_Program`)."""
    perf = time.perf_counter
    grid_x = grid_y = pts = None
    if dataset.is_2d and grid:
        grid_x, grid_y, pts = dataset.grid(grid)
    prog = _Program(dataset, hidden, activation, runs, batch_size, dev, dtype, pts)
    R = len(runs)
    order = prog.order
    names = prog.stack.names
    L = len(names)
    K = min(callback_every if callback is not None else 50, 50)
    deadline = None if time_limit_s is None else start + time_limit_s

    # host arrays, one set per run (original order)
    def nan(shape=(T,)):
        return np.full(shape, np.nan)

    loss, gn, tr, te = ([nan() for _ in range(R)] for _ in range(4))
    beta, mbeta, eff = [], [], []
    pos = {i: j for j, i in enumerate(order)}
    for i, (s, _) in enumerate(runs):
        if not s.entry.reports_beta:            # torch.optim classes: the spec's constant β
            b = s.fixed_beta
            beta.append(np.full(T, b)), mbeta.append(nan()), eff.append(np.full(T, b))
        else:
            shape = (T, L) if prog.per_tensor[pos[i]] else (T,)
            beta.append(nan(shape)), mbeta.append(nan(shape)), eff.append(nan(shape))
    boundaries: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(R)]
    diverged: list[int | None] = [None] * R

    # device buffers of the current chunk (rows = steps since the last sync)
    z_dt = prog.dt
    b_loss = torch.full((K, R), math.nan, dtype=z_dt, device=dev)
    b_gn = torch.full((K, R), math.nan, dtype=z_dt, device=dev)
    b_tr = torch.zeros((K, R), dtype=torch.long, device=dev)
    b_te = torch.zeros((K, R), dtype=torch.long, device=dev)
    b_stats = torch.zeros((K, 3, R, L), dtype=torch.float64, device=dev)
    pend_eval: list[tuple[int, int]] = []        # (step, row in b_tr/b_te)
    pend_bnd: list[tuple[int, torch.Tensor]] = []
    synced = 0
    n_te, n_tr = dataset.n_test, dataset.n_train
    shape_bnd = None if grid_x is None else (len(grid_y), len(grid_x))

    def sync(upto: int) -> None:
        nonlocal synced
        n = upto - synced
        if n <= 0:
            return
        hl = b_loss[:n].cpu().numpy().astype(np.float64)
        hg = b_gn[:n].cpu().numpy().astype(np.float64)
        htr = b_tr.cpu().numpy() if pend_eval else None
        hte = b_te.cpu().numpy() if pend_eval else None
        hst = b_stats[:n].cpu().numpy()
        hb = [(s, p.cpu().numpy()) for s, p in pend_bnd]
        s2 = slice(synced, upto)
        for j, i in enumerate(order):
            if diverged[i] is not None:      # computed on, discarded (see train's docstring)
                continue
            loss[i][s2], gn[i][s2] = hl[:, j], hg[:, j]
            for (s, row) in pend_eval:
                tr[i][s], te[i][s] = htr[row, j] / n_tr, hte[row, j] / n_te
            for s, p in hb:
                boundaries[i].append((s, p[j].reshape(shape_bnd + p.shape[2:])))
        for j, i in enumerate(order):
            if runs[i][0].entry.reports_beta and diverged[i] is None:
                cols = slice(None) if prog.per_tensor[j] else 0
                beta[i][s2], mbeta[i][s2], eff[i][s2] = (hst[:, q, j, cols] for q in range(3))
        pend_eval.clear()
        pend_bnd.clear()
        for i in range(R):
            bad = ~(np.abs(loss[i][s2]) <= diverge_loss)     # NaN-safe, catches ±inf
            if diverged[i] is None and bad.any():
                k = synced + int(np.argmax(bad))
                diverged[i] = k
                for a in (loss[i], gn[i], beta[i], mbeta[i], eff[i]):
                    a[k + 1:] = np.nan
                tr[i][k:] = np.nan
                te[i][k:] = np.nan
                boundaries[i] = [(s, p) for s, p in boundaries[i] if s < k]
        synced = upto

    def records(done: int, finished: bool, stopped: bool, timed_out: bool) -> list[RunRecord]:
        out = []
        cut = (lambda a: a[:done].copy()) if finished else (lambda a: a[:done])
        for i, (s, sd) in enumerate(runs):
            out.append(RunRecord(
                spec=s, label=s.label, layer_names=list(names), loss=cut(loss[i]),
                train_acc=cut(tr[i]), test_acc=cut(te[i]), grad_norm=cut(gn[i]),
                beta=cut(beta[i]), model_beta=cut(mbeta[i]), effective_momentum=cut(eff[i]),
                planned_steps=T, diverged_at=diverged[i], boundaries=list(boundaries[i]),
                grid_x=grid_x, grid_y=grid_y, finished=finished, stopped_early=stopped,
                time_limited=timed_out, seconds=perf() - start, device=str(dev),
                notices=list(notices), meta={**meta, "seed": sd}))
        return out

    done = 0
    stopped = timed_out = False
    for t in range(T):
        if should_stop is not None and _outside(should_stop):
            stopped = True
            break
        if deadline is not None and perf() >= deadline:
            stopped = timed_out = True
            break
        k = t - synced
        if pts is not None and bnd_every is not None and t % bnd_every == 0:
            pend_bnd.append((t, prog.snapshot()))
        lo, z = prog.loss_and_grad(t)
        b_loss[k] = lo
        b_gn[k] = torch.linalg.vector_norm(prog.stack.grad, dim=1)
        if t % rec_every == 0 or t == T - 1:
            c_tr, c_te = prog.correct(z if prog.full else None)
            b_tr[len(pend_eval)] = c_tr
            b_te[len(pend_eval)] = c_te
            pend_eval.append((t, len(pend_eval)))
        prog.update(b_stats[k])
        done = t + 1
        cb_now = callback is not None and done % callback_every == 0
        if done - synced >= K or cb_now:
            sync(done)
            if cb_now and done < T:
                _outside(callback, done, records(done, False, False, False))
    sync(done)
    if timed_out:
        notices.append(f"stopped at the {time_limit_s:g} s time limit after {done} of {T} "
                       "steps: the results are partial (what was done until then)")

    final = records(done, True, stopped, timed_out)
    fl, fa, fp = prog.final()
    fl, fa, fp = fl.cpu().numpy(), fa.cpu().numpy(), fp.cpu().numpy()
    snap = prog.snapshot().cpu().numpy() if pts is not None else None
    theta = prog.stack.theta.cpu().numpy()
    y = np.asarray(dataset.y_test)
    C = dataset.n_classes
    for j, i in enumerate(order):
        rec = final[i]
        rec.final_params = {n: theta[j, a:b].reshape(shp).copy() for n, (a, b), shp in
                            zip(names, prog.stack.bounds, prog.stack.shapes)}
        if diverged[i] is not None:
            continue
        if not abs(fl[j]) <= diverge_loss:           # diverged at the very last update
            rec.diverged_at = diverged[i] = done
            continue
        rec.final_loss, rec.final_train_acc = float(fl[j]), float(fa[j])
        pred = fp[j]
        rec.final_test_acc = float((pred == y).mean())
        rec.confusion = np.bincount(y * C + pred, minlength=C * C).reshape(C, C)
        rec.misclassified = np.flatnonzero(pred != y)[:16]
        rec.test_pred = pred
        if snap is not None and (not rec.boundaries or rec.boundaries[-1][0] != done):
            rec.boundaries.append((done, snap[j].reshape(shape_bnd + snap.shape[2:])))
    secs = perf() - start
    for rec in final:
        rec.seconds = secs
    if callback is not None:
        _outside(callback, done, final)
    return final


# ============================================================================= training API
def _check_dtype(dtype: Any) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"Invalid dtype: {dtype!r} (must be torch.float32 or torch.float64)")
    return dtype


def _time_limit(time_limit_s: Any, enforce_limits: bool, limits: Limits) -> float | None:
    if isinstance(time_limit_s, str) and time_limit_s == "auto":
        return limits.time_budget_s if enforce_limits else None
    if time_limit_s is None:
        return None
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, (int, float)) \
            or not time_limit_s > 0:
        raise ValueError(f"Invalid time_limit_s: {time_limit_s!r} (must be a number > 0, None "
                         "or 'auto')")
    return float(time_limit_s)


def train(dataset: Dataset, hidden: Sequence[int], activation: str,
          specs: Sequence[OptimizerSpec], steps: int = 500, batch_size: int | None = None,
          seed: int = 0, device: str | torch.device = "auto", record_every: int | None = None,
          boundary_every: int | None = None, grid: int = 60,
          callback: Callable[[int, list[RunRecord]], Any] | None = None, callback_every: int = 10,
          should_stop: Callable[[], bool] | None = None,
          enforce_limits: bool = True, num_threads: int | None = 1,
          diverge_loss: float | None = 1e4, time_limit_s: float | str | None = "auto",
          timing: StepTiming | None = None, dtype: torch.dtype = torch.float32
          ) -> list[RunRecord]:
    """Train one MLP per optimizer spec, all from the same seeded initial weights on the same
    batches, as ONE batched program (see :class:`_Stack`, :class:`_Update`); returns one
    :class:`RunRecord` per spec (in order).

    Args:
        dataset: from :func:`make_dataset`.
        hidden, activation: the MLP (:func:`build_mlp`), e.g. ``(32, 32)``, ``"tanh"``.
        specs: the optimizers (:class:`~adamem_core.specs.OptimizerSpec`), any kind of the
            registry (``loss_gap="exact"`` and ``maximize`` are refused: one closure per run
            is not what a batched program does).
        steps: number of optimizer steps.
        batch_size: ``None`` full batch; else mini-batches from :func:`batch_indices`.
        seed: initial weights and the batch stream.
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` (:func:`pick_device`).
        record_every: evaluate the train/test accuracies every this many steps (and at the
            last step); ``None`` (default): about 100 evaluations, ``ceil(steps / 100)``.
            Loss, β and gradient norm are recorded at every step.
        boundary_every: 2-D datasets: decision-boundary snapshot every this many steps (plus the
            final model); ``None``: only the final one. ``grid``: points per axis.
        callback: ``callback(step, runs)`` every ``callback_every`` steps and at the end, with
            ``step`` the steps done and ``runs`` partial records (progress ``step / steps``,
            also ``runs[i].progress``). It may raise to abort (e.g. Streamlit's rerun).
        should_stop: polled before every step; when it returns True training stops and every
            record is truncated to the steps done (``stopped_early`` True).
        enforce_limits: apply :func:`clamp_config` (default; notices in ``RunRecord.notices``)
            with the step time measured on this machine (``timing``, else :func:`calibrate`
            runs a few steps first). ``False`` (library use) only validates.
        time_limit_s: the clock: training stops when this many seconds have passed since the
            call, keeping what is done (``stopped_early`` and ``time_limited`` True, a notice
            says so). ``"auto"``: ``LIMITS.time_budget_s`` with ``enforce_limits``, else none.
        diverge_loss: a run whose loss is non-finite or above this (default 1e4) is marked
            diverged; ``None``: only non-finite losses.
        num_threads: torch intra-op threads while training (restored afterwards). Default 1:
            these matmuls are too small to gain from threads on a shared machine.
        dtype: ``torch.float32`` (default) or ``torch.float64`` (tests).

    Divergence: a run whose (pre-step) loss is non-finite or above ``diverge_loss`` is marked
    ``diverged_at`` = that step; its arrays are NaN after that row (row ``diverged_at`` holds the
    offending loss; its accuracies there are NaN). The batched program keeps computing it
    (nothing it computes reaches another run: every operation is per run) and discards it.
    """
    if diverge_loss is not None and (isinstance(diverge_loss, bool) or not isinstance(
            diverge_loss, (int, float)) or not diverge_loss > 0):
        raise ValueError(f"Invalid diverge_loss: {diverge_loss!r} (must be a number > 0 or None)")
    limit = _time_limit(time_limit_s, enforce_limits, LIMITS)
    dtype = _check_dtype(dtype)
    if timing is not None and not isinstance(timing, StepTiming):
        raise ValueError(f"Invalid timing: {timing!r} (must be a StepTiming from calibrate)")
    start = time.perf_counter()
    args = (dataset, hidden, activation, specs, steps, batch_size, seed, device, record_every,
            boundary_every, grid, callback, callback_every, should_stop, enforce_limits,
            math.inf if diverge_loss is None else float(diverge_loss), limit, timing, dtype,
            start)
    if num_threads is None:
        return _train(*args)
    num_threads = _check_int("num_threads", num_threads, 1)
    prev = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return _train(*args)
    finally:
        torch.set_num_threads(prev)


def _train(dataset, hidden, activation, specs, steps, batch_size, seed, device, record_every,
           boundary_every, grid, callback, callback_every, should_stop, enforce_limits,
           diverge_loss, time_limit, timing, dtype, start):
    if not isinstance(dataset, Dataset):
        raise ValueError(f"Invalid dataset: {type(dataset).__name__} (must be a Dataset from "
                         "make_dataset)")
    callback_every = _check_int("callback_every", callback_every, 1)
    seed = _check_int("seed", seed, 0, 2**62)
    dev = pick_device(device)
    if enforce_limits:
        cfg, notices = clamp_config(dataset, hidden, specs, steps, batch_size, record_every,
                                    boundary_every, grid)
        if timing is None:          # measure this machine (a few real steps of this program)
            timing = calibrate(dataset, cfg.hidden, activation, cfg.specs, cfg.batch_size, dev,
                               (seed,), cfg.grid if cfg.boundary_every else None,
                               num_threads=None)
        cfg, notices = clamp_config(dataset, hidden, specs, steps, batch_size, record_every,
                                    boundary_every, grid, timing=timing)
    else:
        cfg, notices = clamp_config(dataset, hidden, specs, steps, batch_size, record_every,
                                    boundary_every, grid,
                                    Limits(max_steps=2**62, max_specs=2**62, max_grid=2**31,
                                           max_snapshots=2**62, time_budget_s=math.inf))
        notices = []
    meta = {"dataset": dataset.name, "hidden": cfg.hidden, "activation": activation,
            "seed": seed, "batch_size": cfg.batch_size, "record_every": cfg.record_every,
            "estimated_seconds": cfg.estimated_seconds, "time_limit_s": time_limit}
    return _train_runs(dataset, cfg.hidden, activation, [(s, seed) for s in cfg.specs],
                       cfg.steps, cfg.batch_size, dev, cfg.record_every, cfg.boundary_every,
                       cfg.grid, callback, callback_every, should_stop, diverge_loss,
                       time_limit, dtype, notices, meta, start)


# ============================================================================= sweeps
@dataclass(frozen=True)
class SweepLimits:
    """Server-side limits of one :func:`sweep` (a learning-rate grid × optimizers × seeds).
    ``max_values`` bounds the activations one forward pass holds (runs × rows × hidden units,
    float32): beyond it full batch becomes mini-batches."""

    max_lrs: int = 12
    max_optimizers: int = 8
    max_seeds: int = 5
    max_runs: int = 150
    max_steps: int = 2000
    time_budget_s: float = 20.0
    max_values: int = 20_000_000


SWEEP_LIMITS = SweepLimits()


@dataclass(frozen=True)
class SweepConfig:
    """The values :func:`sweep` will use after :func:`clamp_sweep`."""

    hidden: tuple[int, ...]
    specs: tuple[OptimizerSpec, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    batch_size: int | None
    record_every: int
    estimated_seconds: float

    @property
    def n_runs(self) -> int:
        return len(self.specs) * len(self.lrs) * len(self.seeds)

    def runs(self) -> list[tuple[OptimizerSpec, int]]:
        """(spec at its lr, seed) for every cell, optimizer-major, then lr, then seed."""
        return [(s.replace(lr=lr), sd) for s in self.specs for lr in self.lrs
                for sd in self.seeds]


@dataclass
class SweepResult:
    """A sweep's tidy table (one row per run, see :func:`sweep_table`), its runs and the
    notices of what the limits changed."""

    table: Any
    runs: list[RunRecord]
    config: SweepConfig
    notices: list[str]

    @property
    def stopped_early(self) -> bool:
        return any(r.stopped_early for r in self.runs)


def _check_lrs(lrs: Any) -> list[float]:
    if isinstance(lrs, (int, float)) and not isinstance(lrs, bool):
        lrs = [lrs]
    if not isinstance(lrs, (list, tuple, np.ndarray)) or len(lrs) == 0:
        raise ValueError(f"Invalid lrs: {lrs!r} (must be a non-empty list of learning rates)")
    out = []
    for i, v in enumerate(lrs):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                or not math.isfinite(float(v)) or not float(v) > 0:
            raise ValueError(f"Invalid lrs[{i}]: {v!r} (must be a finite number > 0)")
        out.append(float(v))
    return sorted(set(out))


def clamp_sweep(dataset: Dataset, hidden: Sequence[int], specs: Sequence[OptimizerSpec],
                lrs: Sequence[float], seeds: Sequence[int], steps: int,
                batch_size: int | None = None, limits: SweepLimits = SWEEP_LIMITS,
                timing: StepTiming | None = None) -> tuple[SweepConfig, list[str]]:
    """Bring a sweep within ``limits`` (one notice per change). The step count is reduced so
    that the run fits ``limits.time_budget_s`` with ``timing`` (measured on this machine with
    :func:`calibrate`; ``None``: no time reduction here). Malformed values raise
    ``ValueError`` naming the parameter."""
    hid = _check_hidden(hidden)
    cfg0, notices = clamp_config(dataset, hid, specs, 1, batch_size,
                                 limits=Limits(max_specs=2**31, time_budget_s=math.inf))
    hid, specs = cfg0.hidden, list(cfg0.specs)
    batch_size = cfg0.batch_size
    lrs = _check_lrs(lrs)
    seeds = list(dict.fromkeys(_check_int(f"seeds[{i}]", s, 0, 2**31)
                               for i, s in enumerate(seeds)))
    if not seeds:
        raise ValueError("Invalid seeds: at least one seed is needed")
    specs = list(dict.fromkeys(s.replace(lr=1.0) for s in specs))      # lr comes from lrs
    if len(specs) > limits.max_optimizers:
        notices.append(f"optimizers reduced from {len(specs)} to the first "
                       f"{limits.max_optimizers} (at most {limits.max_optimizers} in a sweep)")
        specs = specs[:limits.max_optimizers]
    if len(lrs) > limits.max_lrs:
        keep = np.unique(np.round(np.linspace(0, len(lrs) - 1, limits.max_lrs)).astype(int))
        notices.append(f"learning rates reduced from {len(lrs)} to {len(keep)} (at most "
                       f"{limits.max_lrs}, spread over the same range)")
        lrs = [lrs[i] for i in keep]
    if len(seeds) > limits.max_seeds:
        notices.append(f"seeds reduced from {len(seeds)} to {limits.max_seeds}")
        seeds = seeds[:limits.max_seeds]
    while len(specs) * len(lrs) * len(seeds) > limits.max_runs and len(seeds) > 1:
        seeds = seeds[:-1]
        notices.append(f"seeds reduced to {len(seeds)} (at most {limits.max_runs} networks "
                       "in one sweep)")
    while len(specs) * len(lrs) * len(seeds) > limits.max_runs and len(lrs) > 1:
        lrs = lrs[::2] if len(lrs) > 2 else lrs[:1]
        notices.append(f"learning rates reduced to {len(lrs)} (at most {limits.max_runs} "
                       "networks in one sweep)")
    n_runs = len(specs) * len(lrs) * len(seeds)
    rows = dataset.n_train if batch_size is None else batch_size
    per_row = n_runs * max(sum(hid), dataset.n_classes)
    if rows * per_row > limits.max_values:
        bs = max(16, 2 ** int(math.log2(max(1, limits.max_values // per_row))))
        if bs < rows:
            notices.append(f"{'full batch' if batch_size is None else f'batch {batch_size}'} "
                           f"replaced by mini-batches of {bs} (memory limit of one sweep: "
                           f"{n_runs} networks at once)")
            batch_size = bs
    steps = requested = _check_int("steps", steps, 1)
    if steps > limits.max_steps:
        steps = limits.max_steps
    def plan(n: int) -> tuple[int, float]:
        rec = max(1, math.ceil(n / 20))        # about 20 accuracy evaluations per run
        return rec, (math.nan if timing is None else timing.seconds(n, rec, None))

    if timing is not None and plan(steps)[1] > limits.time_budget_s:
        lo, hi = 1, steps                      # the largest step count within the budget
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if plan(mid)[1] <= limits.time_budget_s else (lo, mid - 1)
        steps = lo
    rec, est = plan(steps)
    if steps < requested:
        why = (f"at most {limits.max_steps} steps" if steps == limits.max_steps else
               f"the limit keeps one sweep under {limits.time_budget_s:g} s on this server")
        notices.append(f"steps reduced from {requested} to {steps} ({why})")
    return SweepConfig(hid, tuple(specs), tuple(lrs), tuple(seeds), steps, batch_size, rec,
                       est), notices


def _label_without_lr(spec: OptimizerSpec) -> str:
    label = spec.label
    i = label.rfind("η=")
    return label[:i].rstrip(", ").strip() if i >= 0 else label


def sweep_table(runs: Sequence[RunRecord]) -> Any:
    """The tidy table of a sweep (pandas), one row per run, with the 2-D sweep's column
    conventions: ``name`` (registry key), ``label`` (optimizer and hyper-parameters, without
    η), ``lr``, ``beta`` (the constant β / β₁ of a baseline, NaN for adaptive), ``lam``
    (λ; 0 for the λ = 0 baselines, NaN for torch's classes), ``seed``, ``final_test_acc``,
    ``final_train_acc``, ``final_loss`` (the final model on the whole training set; NaN if
    diverged), ``diverged_at`` (step, NaN if not), ``steps`` (done) and ``stopped_early``.

    Partial records (a sweep interrupted before its final evaluation, ``finished`` False) give
    their last measured values instead: the last evaluated accuracies and the last step's
    (mini-)batch loss."""
    import pandas as pd

    def last(a: np.ndarray) -> float:
        ok = np.flatnonzero(np.isfinite(a))
        return float(a[ok[-1]]) if len(ok) else math.nan

    rows = []
    for r in runs:
        fin = r.finished
        if fin or r.diverged:
            acc, tacc, fl = r.final_test_acc, r.final_train_acc, r.final_loss
        else:
            acc, tacc, fl = last(r.test_acc), last(r.train_acc), last(r.loss)
        s = r.spec
        fb = s.fixed_beta
        lam = s.resolved().get("lam", 0.0 if s.entry.reports_beta else math.nan)
        if not s.entry.adaptive and s.entry.reports_beta:
            lam = 0.0                    # the constant-β baselines are AM with λ = 0
        rows.append({
            "name": s.name, "label": _label_without_lr(s), "lr": s.lr,
            "beta": math.nan if fb is None else fb, "lam": float(lam),
            "seed": int(r.meta.get("seed", 0)), "final_test_acc": acc,
            "final_train_acc": tacc, "final_loss": fl,
            "diverged_at": math.nan if r.diverged_at is None else float(r.diverged_at),
            "steps": r.steps, "stopped_early": r.stopped_early})
    return pd.DataFrame(rows, columns=["name", "label", "lr", "beta", "lam", "seed",
                                       "final_test_acc", "final_train_acc", "final_loss",
                                       "diverged_at", "steps", "stopped_early"])


def sweep(dataset: Dataset, hidden: Sequence[int], activation: str,
          specs: Sequence[OptimizerSpec], lrs: Sequence[float], seeds: Sequence[int] = (0,),
          steps: int = 300, batch_size: int | None = None, device: str | torch.device = "auto",
          callback: Callable[[int, list[RunRecord]], Any] | None = None,
          callback_every: int = 10, should_stop: Callable[[], bool] | None = None,
          enforce_limits: bool = True, num_threads: int | None = 1,
          diverge_loss: float | None = 1e4, time_limit_s: float | str | None = "auto",
          timing: StepTiming | None = None, dtype: torch.dtype = torch.float32,
          limits: SweepLimits = SWEEP_LIMITS) -> SweepResult:
    """A learning-rate sweep on a real network: every optimizer of ``specs`` (their ``lr`` is
    ignored) at every learning rate of ``lrs`` from every seed of ``seeds`` (initial weights
    and mini-batch order), all trained as ONE batched program (:func:`train`'s). Runs with the
    same seed share their initial weights and batches. Returns a :class:`SweepResult` whose
    ``table`` is :func:`sweep_table`'s.

    With ``enforce_limits`` the request is brought within ``limits`` (:func:`clamp_sweep`,
    the step count from the step time measured here by :func:`calibrate` unless ``timing``
    is given) and the clock stops it at ``limits.time_budget_s`` (``time_limit_s="auto"``),
    keeping the partial result (``stopped_early``, a notice). ``callback``/``should_stop`` as
    for :func:`train`.
    """
    if diverge_loss is not None and (isinstance(diverge_loss, bool) or not isinstance(
            diverge_loss, (int, float)) or not diverge_loss > 0):
        raise ValueError(f"Invalid diverge_loss: {diverge_loss!r} (must be a number > 0 or None)")
    if not isinstance(dataset, Dataset):
        raise ValueError(f"Invalid dataset: {type(dataset).__name__} (must be a Dataset from "
                         "make_dataset)")
    start = time.perf_counter()
    limit = _time_limit(time_limit_s, enforce_limits, Limits(time_budget_s=limits.time_budget_s))
    dtype = _check_dtype(dtype)
    callback_every = _check_int("callback_every", callback_every, 1)
    dev = pick_device(device)
    prev = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(_check_int("num_threads", num_threads, 1))
    try:
        if enforce_limits:
            cfg, notices = clamp_sweep(dataset, hidden, specs, lrs, seeds, steps, batch_size,
                                       limits)
            if timing is None:
                timing = _calibrate_runs(dataset, cfg.hidden, activation, cfg.runs(),
                                         cfg.batch_size, dev, None)
            cfg, notices = clamp_sweep(dataset, hidden, specs, lrs, seeds, steps, batch_size,
                                       limits, timing)
        else:
            cfg, notices = clamp_sweep(dataset, hidden, specs, lrs, seeds, steps, batch_size,
                                       SweepLimits(2**31, 2**31, 2**31, 2**62, 2**62, math.inf,
                                                   2**62), timing)
            notices = []
        meta = {"dataset": dataset.name, "hidden": cfg.hidden, "activation": activation,
                "batch_size": cfg.batch_size, "record_every": cfg.record_every,
                "estimated_seconds": cfg.estimated_seconds, "time_limit_s": limit,
                "sweep": True}
        runs = _train_runs(dataset, cfg.hidden, activation, cfg.runs(), cfg.steps,
                           cfg.batch_size, dev, cfg.record_every, None, 0, callback,
                           callback_every, should_stop,
                           math.inf if diverge_loss is None else float(diverge_loss), limit,
                           dtype, notices, meta, start)
    finally:
        torch.set_num_threads(prev)
    return SweepResult(sweep_table(runs), runs, cfg, list(runs[0].notices) if runs else notices)
