r"""The optimizers' fused path (``AMSGD(..., fused=True)``, ``AMAdamW(..., fused=True)``).

A step of either optimizer needs, per tensor, a few inner products (β's sums) and then one
update. Run as separate eager kernels these read the gradient, the memory, the second moment and
the parameters many times over (AM-AdamW: about 20 passes over memory per tensor, AdamW about
6). Here ``torch.compile`` turns each phase of ``model.py``'s one-pass functions
(:func:`~adamem_core.model.adamw_step_sums`, :func:`~adamem_core.model.adamw_step_update`,
:func:`~adamem_core.model.sgd_step_sums`, :func:`~adamem_core.model.sgd_step_update`) into one
generated kernel (C++/OpenMP on the CPU, Triton on CUDA): the sums in one pass, the update in
another, the closed form for β in between on a handful of scalars. AM-AdamW's sums pass reads
g, d, v and x and writes nothing; its update pass reads them and writes v, d and x: 11 streams
over memory per tensor, the count a method with one reduction before its update needs (torch's
fused AdamW: 7). The maths stays in ``model.py``; this module only compiles, caches and falls
back.

* Tensors of the same kind (device, dtype, number of dimensions, …: :func:`_kind`) go through
  one compiled call per chunk of :data:`CHUNK`, so dynamo's cost per call (its guards) is paid
  per chunk, not per tensor. Shapes are dynamic (one program per kind and chunk length,
  whatever the sizes) and scalars are passed as small float64 tensors, so schedules and step
  counts never recompile.
* The first step compiles (seconds to a minute on a small CPU; inductor caches the result on
  disk for later processes). Inside a user's ``torch.compile(opt.step)`` the functions are
  traced inline instead.
* **Eager fallback**: where compiling fails (no C++ compiler, an unsupported platform), a
  warning says so once per process, the failing call runs ``model.py``'s function eagerly, and
  :func:`available` turns False, so the optimizers take their ordinary eager path from then on.
  The results are the same maths either way (to rounding: the fused reductions add in a
  different order).
"""

from __future__ import annotations

import types
import warnings
from typing import Any, Callable

import torch

from . import model

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "adamw_sums": model.adamw_step_sums,
    "adamw_update": model.adamw_step_update,
    "sgd_sums": model.sgd_step_sums,
    "sgd_update": model.sgd_step_update,
}
# process-wide caches (compiled programs are per process, like torch's own kernels)
_COMPILED: dict[tuple, Callable[..., Any]] = {}
_FAILED: dict[str, str] = {}
CHUNK = 16   # tensors per compiled call (compile time grows with it, the per-call cost shrinks)


def available() -> bool:
    """False once compiling has failed in this process (the optimizers then run eagerly)."""
    return not _FAILED


def failure() -> str | None:
    """Why the fused path is unavailable (None while it is available)."""
    return next(iter(_FAILED.values()), None)


def _many(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A fresh function (its own code object, so its own dynamo cache) that applies ``fn`` to
    each argument tuple of a list: one compiled call runs a chunk of tensors."""
    def many(rows):
        out = [fn(*r) for r in rows]
        return None if out[0] is None else torch.stack(out)
    code = many.__code__.replace()
    return types.FunctionType(code, many.__globals__, f"{fn.__name__}_many", None,
                              many.__closure__)


def _program(name: str, key: tuple) -> Callable[..., Any]:
    """The compiled program for ``name`` and one kind of chunk (``key``: device type, dtype,
    number of dimensions, which dimensions have size 1, small or large, which optional
    arguments are given, the chunk's length). Each kind compiles its own copy of the code, so
    dynamo keeps one small cache per kind (few guards to check per call, and no kind can push
    another's programs past dynamo's recompile limit)."""
    fn = _COMPILED.get((name, key))
    if fn is None:
        fn = _COMPILED[(name, key)] = torch.compile(_many(_FUNCTIONS[name]), dynamic=True,
                                                    fullgraph=True)
    return fn


def _kind(row: tuple) -> tuple:
    t = row[0]
    shape = t.shape
    # (dynamo specialises a dimension of size 1, and inductor's reductions change form above
    # 4,096 elements: tensors that differ there would not share a program anyway)
    return (t.device.type, t.dtype, len(shape), tuple([n == 1 for n in shape]),
            t.numel() > 4096, tuple([a is None for a in row]),
            tuple([a for a in row if a is not None and not isinstance(a, torch.Tensor)]))


def _unparameter(a: Any) -> Any:
    """A Parameter's detached alias (dynamo compiles a Parameter with static sizes, and through
    broadcasting with it every other argument too); anything else as it is."""
    if type(a) is torch.Tensor or not isinstance(a, torch.Tensor):   # (the common cases, fast)
        return a
    return a.detach() if isinstance(a, torch.nn.Parameter) else a


def run(name: str, rows: list[tuple]) -> list[Any]:
    """Run ``model.py``'s one-pass function ``name`` on every argument tuple in ``rows`` (one per
    tensor), as compiled kernels: tensors of the same kind go through one call in chunks of
    :data:`CHUNK` (one call per chunk instead of one per tensor: dynamo's per-call cost is paid
    once per chunk). Returns each row's result (None for the in-place updates). Inside a
    user's ``torch.compile`` the functions are traced inline; after a failed compile they run
    eagerly (the module's fallback)."""
    fn = _FUNCTIONS[name]
    if torch.compiler.is_compiling() or _FAILED:
        return [fn(*r) for r in rows]
    rows = [tuple([_unparameter(a) for a in r]) for r in rows]
    kinds: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        kinds.setdefault(_kind(r), []).append(i)
    out: list[Any] = [None] * len(rows)
    for kind, idx in kinds.items():
        for c in range(0, len(idx), CHUNK):
            part = idx[c:c + CHUNK]
            chunk = [rows[i] for i in part]
            if _FAILED:
                res = [fn(*r) for r in chunk]
            else:
                try:
                    res = _program(name, kind + (len(part),))(chunk)
                except Exception as exc:   # compiling failed: nothing has been written yet
                    _FAILED[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    warnings.warn("adamem_core: the fused optimizer path could not be compiled "
                                  f"({_FAILED[name]}); running the eager path instead",
                                  RuntimeWarning, stacklevel=3)
                    res = [fn(*r) for r in chunk]
            if res is not None:
                for i, v in zip(part, res):
                    out[i] = v
    return out
