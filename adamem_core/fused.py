r"""The optimizers' fused path (``AMSGD(..., fused=True)``, ``AMAdamW(..., fused=True)``).

A step of either optimizer needs, per tensor, a few inner products (β's sums) and then one
update. Run as separate eager kernels these read the gradient, the memory, the second moment and
the parameters many times over (AM-AdamW: about 20 passes over memory per tensor, AdamW about
6). Here ``torch.compile`` turns each phase of ``model.py``'s one-pass functions
(:func:`~adamem_core.model.adamw_step_sums`, :func:`~adamem_core.model.adamw_step_update`,
:func:`~adamem_core.model.sgd_step_sums`, :func:`~adamem_core.model.sgd_step_update`) into one
generated kernel (C++/OpenMP on the CPU, Triton on CUDA): the sums in one pass, the update in
another, the closed form for β in between on a handful of scalars. The maths stays in
``model.py``; this module only compiles, caches and falls back.

* Shapes are dynamic (one program per device type, dtype and number of dimensions, whatever the
  sizes; a dimension of size 1 gets its own) and scalars are passed as small float64 tensors,
  so schedules and step counts never recompile.
* The first call compiles (seconds to a minute on a small CPU; inductor caches the result on
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


def available() -> bool:
    """False once compiling has failed in this process (the optimizers then run eagerly)."""
    return not _FAILED


def failure() -> str | None:
    """Why the fused path is unavailable (None while it is available)."""
    return next(iter(_FAILED.values()), None)


def _program(name: str, key: tuple) -> Callable[..., Any]:
    """The compiled function for ``name`` and one (device type, dtype, number of dimensions):
    each key compiles its own copy of the function's code, so that dynamo keeps one small cache
    per kind of tensor (few guards to check per call, and no kind of tensor can push another's
    programs past dynamo's recompile limit)."""
    fn = _COMPILED.get((name, key))
    if fn is None:
        src = _FUNCTIONS[name]
        copy = types.FunctionType(src.__code__.replace(), src.__globals__, src.__name__,
                                  src.__defaults__, src.__closure__)
        copy.__doc__, copy.__qualname__ = src.__doc__, src.__qualname__
        fn = _COMPILED[(name, key)] = torch.compile(copy, dynamic=True, fullgraph=True)
    return fn


def call(name: str, *args: Any) -> Any:
    """Run ``model.py``'s one-pass function ``name`` as a compiled kernel (or eagerly, see the
    module's fallback). ``args[0]`` is the tensor that decides the program (its device, dtype
    and number of dimensions)."""
    fn = _FUNCTIONS[name]
    if torch.compiler.is_compiling() or _FAILED:
        return fn(*args)
    # a Parameter would be compiled with static sizes (dynamo's default for parameters), and
    # through broadcasting with it every other argument too; its detached alias is not
    args = tuple(a.detach() if isinstance(a, torch.nn.Parameter) else a for a in args)
    t = args[0]
    compiled = _program(name, (t.device.type, t.dtype, t.dim()))
    try:
        return compiled(*args)
    except Exception as exc:   # compiling failed: nothing has been written yet
        _FAILED[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        warnings.warn("adamem_core: the fused optimizer path could not be compiled "
                      f"({_FAILED[name]}); running the eager path instead", RuntimeWarning,
                      stacklevel=3)
        return fn(*args)
