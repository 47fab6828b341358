r"""MLP lab: toy datasets, small MLPs, and training several optimizer specs side by side.

No Streamlit here: a page builds a :class:`Dataset` with :func:`make_dataset`, checks its wishes
against the server-side limits with :func:`clamp_config` (showing the returned notices), then calls
:func:`train`, which reports progress through ``callback(step, runs)`` and polls
``should_stop()`` (a Stop button) between steps.

Fairness of the comparison: every optimizer spec in one :func:`train` call starts from the SAME
initial weights (a deep copy of one seeded initialisation) and sees the SAME mini-batches (one
seeded permutation stream, drawn once per step and shared by all runs). The runs are interleaved
(for each step: for each run: forward, backward, step), so live curves advance together.

Speed: per step the loop keeps its statistics as tensors on the device (the loss, the gradient
norm and the optimizer's ``last_stats``) and converts them to NumPy in one batch every
``callback_every`` steps (at most 50), so there is no host sync per run per step (this matters on
a GPU). The gradients live in one flat buffer per run (the norm is one kernel), optimizers whose
update does not depend on how the parameters are split into tensors get one flat parameter (see
``_Run``), accuracies are evaluated about 100 times per training (``record_every``), and torch
runs with one intra-op thread (``num_threads``).

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
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .specs import OptimizerSpec

__all__ = [
    "ACTIVATIONS", "DATASETS", "LIMITS", "DatasetInfo", "Dataset", "Limits", "ParamRange",
    "RunRecord", "TrainConfig", "batch_indices", "build_mlp", "clamp_config", "estimate_seconds",
    "make_dataset", "pick_device", "runs_to_dataframe", "train",
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
                 limits: Limits = LIMITS) -> tuple[TrainConfig, list[str]]:
    """Bring a training request within ``limits``: returns the values to use and one
    human-readable notice per change (e.g. ``"steps reduced from 100000 to 2000 (the limit
    keeps one training under 10 s)"``). Malformed values (not an integer, < 1, not an
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
    final_loss: float = float("nan")
    final_train_acc: float = float("nan")
    final_test_acc: float = float("nan")
    finished: bool = False
    stopped_early: bool = False
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


def _forward_fn(model: torch.nn.Sequential) -> Callable[[torch.Tensor], torch.Tensor]:
    """The Sequential's forward without the per-module call overhead (same operations)."""
    layers = list(model)
    lins = [(m.weight, m.bias) for m in layers if isinstance(m, torch.nn.Linear)]
    act_mod = layers[1] if len(layers) > 1 else None
    act = {torch.nn.Tanh: torch.tanh, torch.nn.ReLU: torch.relu,
           torch.nn.GELU: F.gelu}.get(type(act_mod)) if act_mod is not None else None
    if act_mod is not None and act is None:     # pragma: no cover - not built by build_mlp
        return model
    last = len(lins) - 1

    def forward(x: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(lins):
            x = F.linear(x, w, b)
            if i < last:
                x = act(x)
        return x

    return forward


_FLAT_PARAMS = True     # give split-independent optimizers one flat parameter (see _Run)


class _Run:
    """Mutable per-run state inside :func:`train`.

    Gradients: every parameter's ``.grad`` is a view into one flat buffer ``grad_flat`` (zeroed
    once per step; backward accumulates into the views in place), so the gradient norm is one
    kernel. Optimizers whose update does not depend on the tensor split (a model-wide β:
    ``beta_scope="global"``, and the element-wise torch optimizers) are given ONE flat
    parameter whose storage the layers' weights view: the same algorithm (sums over all
    parameters are sums over the flat vector) with a fraction of the per-tensor Python work.
    Per-tensor β (AM-AdamW, adamw by default) keeps the real tensors, one β per tensor.
    """

    def __init__(self, spec: OptimizerSpec, model: torch.nn.Sequential, steps: int) -> None:
        self.spec = spec
        self.model = model
        self.forward = _forward_fn(model)
        params = list(model.parameters())
        self.names = [n for n, _ in model.named_parameters()]
        sizes = [p.numel() for p in params]
        self.grad_flat = torch.zeros(sum(sizes), dtype=params[0].dtype, device=params[0].device)
        r = spec.resolved()
        self.flat = _FLAT_PARAMS and ((not spec.entry.reports_beta)
                                      or r.get("beta_scope") == "global")
        if self.flat:
            flat = torch.nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
            off = 0
            for p, n in zip(params, sizes):
                p.data = flat.data[off:off + n].view_as(p)
                off += n
            flat.grad = self.grad_flat
            self.opt = spec.make([flat])
        else:
            self.opt = spec.make(params)
        off = 0
        for p, n in zip(params, sizes):
            p.grad = self.grad_flat[off:off + n].view_as(p)
            off += n
        self.reports = spec.entry.reports_beta
        self.active = True
        self.diverged_at: int | None = None
        self.seconds = 0.0
        # pending device tensors since the last sync
        self.p_loss: list[torch.Tensor] = []
        self.p_gn: list[torch.Tensor] = []
        self.p_beta: list[torch.Tensor] = []
        self.p_mbeta: list[torch.Tensor] = []
        self.p_eff: list[torch.Tensor] = []
        self.p_tr: list[torch.Tensor] = []
        self.p_te: list[torch.Tensor] = []
        self.p_bnd: list[tuple[int, torch.Tensor]] = []
        # host buffers (β's allocated at the first sync, when the stat shapes are known)
        nan = lambda: np.full(steps, np.nan)  # noqa: E731
        self.loss, self.gn, self.tr, self.te = nan(), nan(), nan(), nan()
        self.beta = self.mbeta = self.eff = None
        self.boundaries: list[tuple[int, np.ndarray]] = []
        if not self.reports:        # torch.optim classes: the spec's constant β
            b = spec.fixed_beta
            self.beta, self.mbeta, self.eff = np.full(steps, b), nan(), np.full(steps, b)


def train(dataset: Dataset, hidden: Sequence[int], activation: str,
          specs: Sequence[OptimizerSpec], steps: int = 500, batch_size: int | None = None,
          seed: int = 0, device: str | torch.device = "auto", record_every: int | None = None,
          boundary_every: int | None = None, grid: int = 60,
          callback: Callable[[int, list[RunRecord]], Any] | None = None, callback_every: int = 10,
          should_stop: Callable[[], bool] | None = None,
          enforce_limits: bool = True, num_threads: int | None = 1,
          diverge_loss: float | None = 1e4) -> list[RunRecord]:
    """Train one MLP per optimizer spec, all from the same seeded initial weights on the same
    batches, interleaved step by step; returns one :class:`RunRecord` per spec (in order).

    Args:
        dataset: from :func:`make_dataset`.
        hidden, activation: the MLP (:func:`build_mlp`), e.g. ``(32, 32)``, ``"tanh"``.
        specs: the optimizers (:class:`~adamem_core.specs.OptimizerSpec`).
        steps: number of optimizer steps.
        batch_size: ``None`` full batch; else mini-batches from :func:`batch_indices`.
        seed: initial weights and the batch stream.
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` (:func:`pick_device`).
        record_every: evaluate the train/test accuracies every this many steps (and at the
            last step); ``None`` (default): about 100 evaluations, ``ceil(steps / 100)``. An
            evaluation costs about a sixth of a training step. Loss, β and gradient norm are
            recorded at every step.
        boundary_every: 2-D datasets: decision-boundary snapshot every this many steps (plus the
            final model); ``None``: only the final one. ``grid``: points per axis.
        callback: ``callback(step, runs)`` every ``callback_every`` steps and at the end, with
            ``step`` the steps done and ``runs`` partial records (progress ``step / steps``,
            also ``runs[i].progress``). It may raise to abort (e.g. Streamlit's rerun).
        should_stop: polled before every step; when it returns True training stops and every
            record is truncated to the steps done (``stopped_early`` True).
        enforce_limits: apply :func:`clamp_config` (default; notices in ``RunRecord.notices``).
            ``False`` (library use) only validates.
        diverge_loss: a run whose loss is non-finite or above this (default 1e4: a
            cross-entropy no sane training comes near; the initial one is about ln(n_classes))
            is marked diverged and stopped; ``None``: only non-finite losses.
        num_threads: torch intra-op threads while training (restored afterwards; with torch's
            OpenMP backend the setting is per calling thread, so concurrent Streamlit sessions do
            not interfere). Default 1: these matmuls are too small to gain from threads, and on
            a shared 2-core machine 2 OpenMP threads per process were measured 10-50× slower
            than 1. ``None`` leaves torch's setting alone.
    """
    if diverge_loss is not None and (isinstance(diverge_loss, bool) or not isinstance(
            diverge_loss, (int, float)) or not diverge_loss > 0):
        raise ValueError(f"Invalid diverge_loss: {diverge_loss!r} (must be a number > 0 or None)")
    args = (dataset, hidden, activation, specs, steps, batch_size, seed, device, record_every,
            boundary_every, grid, callback, callback_every, should_stop, enforce_limits,
            math.inf if diverge_loss is None else float(diverge_loss))
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
           diverge_loss):
    if not isinstance(dataset, Dataset):
        raise ValueError(f"Invalid dataset: {type(dataset).__name__} (must be a Dataset from "
                         "make_dataset)")
    if enforce_limits:
        cfg, notices = clamp_config(dataset, hidden, specs, steps, batch_size, record_every,
                                    boundary_every, grid)
    else:
        cfg, notices = clamp_config(dataset, hidden, specs, steps, batch_size, record_every,
                                    boundary_every, grid,
                                    Limits(max_steps=2**62, max_specs=2**62, max_grid=2**31,
                                           max_snapshots=2**62, time_budget_s=math.inf))
        notices = []
    callback_every = _check_int("callback_every", callback_every, 1)
    seed = _check_int("seed", seed, 0, 2**62)
    dev = pick_device(device)
    base = build_mlp(dataset.n_features, cfg.hidden, dataset.n_classes, activation, seed).to(dev)
    T = cfg.steps
    runs = [_Run(s, copy.deepcopy(base), T) for s in cfg.specs]
    names = runs[0].names

    Xtr, ytr, Xte, yte = (torch.tensor(np.array(a), device=dev) for a in (
        dataset.X_train, dataset.y_train, dataset.X_test, dataset.y_test))
    full = cfg.batch_size is None
    stream = None if full else batch_indices(dataset.n_train, cfg.batch_size, seed)

    grid_x = grid_y = grid_pts = None
    if dataset.is_2d:
        grid_x, grid_y, pts = dataset.grid(cfg.grid)
        grid_pts = torch.as_tensor(pts, device=dev)
    bnd_every = cfg.boundary_every

    sync_every = min(callback_every if callback is not None else 50, 50)
    rec_every = cfg.record_every
    synced = 0                     # rows < synced are on the host
    meta = {"dataset": dataset.name, "hidden": cfg.hidden, "activation": activation,
            "seed": seed, "batch_size": cfg.batch_size, "record_every": rec_every,
            "estimated_seconds": cfg.estimated_seconds}

    def snapshot(run: _Run, step: int) -> None:
        with torch.no_grad():
            probs = torch.softmax(run.forward(grid_pts), dim=1)
            run.p_bnd.append((step, probs[:, 1] if dataset.n_classes == 2 else probs))

    def sync(upto: int) -> None:
        nonlocal synced
        if upto <= synced:
            return
        for r in runs:
            if r.p_loss:
                n = len(r.p_loss)
                s2 = slice(synced, synced + n)
                r.loss[s2] = torch.stack(r.p_loss).cpu().numpy()
                r.gn[s2] = torch.stack(r.p_gn).cpu().numpy()
                if r.reports:
                    b, mb, ef = (torch.stack(x).cpu().numpy() for x in (r.p_beta, r.p_mbeta,
                                                                          r.p_eff))
                    if r.beta is None:
                        shape = (T,) + b.shape[1:]
                        r.beta, r.mbeta, r.eff = (np.full(shape, np.nan) for _ in range(3))
                    r.beta[s2], r.mbeta[s2], r.eff[s2] = b, mb, ef
                if r.p_tr:
                    steps_ev = [s for s in eval_steps if synced <= s < synced + n]
                    r.tr[steps_ev] = torch.stack(r.p_tr).cpu().numpy() / n_tr_eval
                    r.te[steps_ev] = torch.stack(r.p_te).cpu().numpy() / dataset.n_test
                for s, pr in r.p_bnd:
                    r.boundaries.append((s, pr.cpu().numpy().reshape(
                        (len(grid_y), len(grid_x)) + tuple(pr.shape[1:]))))
                for lst in (r.p_loss, r.p_gn, r.p_beta, r.p_mbeta, r.p_eff, r.p_tr, r.p_te,
                            r.p_bnd):
                    lst.clear()
                bad = ~(np.abs(r.loss[s2]) <= diverge_loss)     # NaN-safe, catches ±inf
                if r.active and bad.any():
                    k = synced + int(np.argmax(bad))
                    r.diverged_at, r.active = k, False
                    for a in (r.loss, r.gn, r.beta, r.mbeta, r.eff):
                        a[k + 1:] = np.nan
                    r.tr[k:] = np.nan
                    r.te[k:] = np.nan
                    r.boundaries = [(s, p) for s, p in r.boundaries if s < k]
        synced = upto

    def records(done: int, finished: bool, stopped: bool) -> list[RunRecord]:
        out = []
        for r in runs:
            cut = (lambda a: a[:done].copy()) if finished else (lambda a: a[:done])
            out.append(RunRecord(
                spec=r.spec, label=r.spec.label, layer_names=list(names), loss=cut(r.loss),
                train_acc=cut(r.tr), test_acc=cut(r.te), grad_norm=cut(r.gn),
                beta=cut(r.beta) if r.beta is not None else np.full(done, np.nan),
                model_beta=cut(r.mbeta) if r.mbeta is not None else np.full(done, np.nan),
                effective_momentum=cut(r.eff) if r.eff is not None else np.full(done, np.nan),
                planned_steps=T, diverged_at=r.diverged_at, boundaries=list(r.boundaries),
                grid_x=grid_x, grid_y=grid_y, finished=finished, stopped_early=stopped,
                seconds=r.seconds, device=str(dev), notices=list(notices), meta=dict(meta)))
        return out

    n_tr_eval = dataset.n_train
    eval_steps: list[int] = []
    done = 0
    stopped = False
    xb, yb = Xtr, ytr
    perf = time.perf_counter
    for t in range(T):
        if should_stop is not None and should_stop():
            stopped = True
            break
        if not full:
            idx = next(stream).to(dev, non_blocking=True)
            xb, yb = Xtr[idx], ytr[idx]
        do_eval = t % rec_every == 0 or t == T - 1
        if do_eval:
            eval_steps.append(t)
        do_bnd = grid_pts is not None and bnd_every is not None and t % bnd_every == 0
        for r in runs:
            if not r.active:
                continue
            t0 = perf()
            if do_bnd:
                snapshot(r, t)
            logits = r.forward(xb)
            loss = F.cross_entropy(logits, yb)
            if do_eval:
                with torch.no_grad():
                    if full:
                        r.p_tr.append((logits.argmax(1) == ytr).sum())
                    else:
                        r.p_tr.append((r.forward(Xtr).argmax(1) == ytr).sum())
                    r.p_te.append((r.forward(Xte).argmax(1) == yte).sum())
            r.grad_flat.zero_()
            loss.backward()
            r.p_loss.append(loss.detach())
            r.p_gn.append(torch.linalg.vector_norm(r.grad_flat))
            r.opt.step()
            if r.reports:
                st = r.opt.last_stats
                r.p_beta.append(st["beta"])
                r.p_mbeta.append(st["model_beta"])
                r.p_eff.append(st["effective_momentum"])
            r.seconds += perf() - t0
        done = t + 1
        if done % sync_every == 0 or (callback is not None and done % callback_every == 0):
            sync(done)
            if callback is not None and done % callback_every == 0 and done < T:
                callback(done, records(done, False, False))
    sync(done)

    # final evaluation of every run that did not diverge
    final = records(done, True, stopped)
    for r, rec in zip(runs, final):
        if r.diverged_at is not None:
            continue
        t0 = perf()
        with torch.no_grad():
            lt = r.forward(Xtr)
            fl = F.cross_entropy(lt, ytr)
            pred_te = r.forward(Xte).argmax(1)
            acc_tr = (lt.argmax(1) == ytr).float().mean()
            vals = torch.stack([fl, acc_tr]).cpu().numpy()
            pred = pred_te.cpu().numpy()
            if not abs(vals[0]) <= diverge_loss:   # diverged at the very last update
                rec.diverged_at = done
                r.diverged_at = done
                continue
            rec.final_loss, rec.final_train_acc = float(vals[0]), float(vals[1])
            y = np.asarray(dataset.y_test)
            rec.final_test_acc = float((pred == y).mean())
            C = dataset.n_classes
            rec.confusion = np.bincount(y * C + pred, minlength=C * C).reshape(C, C)
            rec.misclassified = np.flatnonzero(pred != y)[:16]
            rec.test_pred = pred
            if grid_pts is not None and (not rec.boundaries or rec.boundaries[-1][0] != done):
                probs = torch.softmax(r.forward(grid_pts), dim=1)
                pr = probs[:, 1] if C == 2 else probs
                rec.boundaries.append((done, pr.cpu().numpy().reshape(
                    (len(grid_y), len(grid_x)) + tuple(pr.shape[1:]))))
        r.seconds += perf() - t0
        rec.seconds = r.seconds
    if callback is not None:
        callback(done, final)
    return final
