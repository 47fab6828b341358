r"""AM-SGD and AM-AdamW: adaptive memory momentum as drop-in ``torch.optim`` optimizers.

Reference: V. Topollai and A. Choromanska, "Adaptive Memory Momentum via a Model-Based Framework
for Deep Learning Optimization", arXiv 2510.04988 (AISTATS 2026). The method and the choices
made here where the paper gives no detail: ``docs/method.md``.

All the maths is in :mod:`adamem_core.model`; this module only gathers the tensors, calls it,
and applies the update. ``OPTIMIZERS`` maps the names the app and the engine use to factories.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch.optim import Optimizer

from . import distributed as _dist
from . import fused as _fused
from . import model

__all__ = ["AMSGD", "AMAdamW", "OPTIMIZERS", "OptimizerEntry"]

_GAPS = ("taylor", "exact")
_SCOPES = ("global", "tensor")


# ----------------------------------------------------------------------------- validation
def _check_real(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> None:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"Invalid {name}: {value} (must be finite)")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"Invalid {name}: {value} (must be {'>' if lo_open else '>='} {lo})")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"Invalid {name}: {value} (must be {'<' if hi_open else '<='} {hi})")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Invalid {name}: {value!r} (must be one of {', '.join(map(repr, choices))})")


def _check_flag(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: {value!r} (must be True or False"
                         f"{' or None' if allow_none else ''})")


def _check_fused(foreach: Any, fused: Any) -> None:
    _check_flag("foreach", foreach, allow_none=True)
    _check_flag("fused", fused, allow_none=True)
    if foreach and fused:   # (torch's own optimizers refuse the pair the same way)
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _use_foreach(foreach: bool | None, params: list[torch.Tensor]) -> bool:
    if foreach is not None:
        return foreach
    # torch's own default: foreach on CUDA, for-loop elsewhere (foreach on CPU is a loop anyway)
    return bool(params) and all(p.is_cuda for p in params)


def _per_tensor(values: list[float], device: torch.device) -> float | torch.Tensor:
    """Per-tensor hyper-parameters (one per tensor, from the param groups) in a form that
    broadcasts against float64 per-tensor vectors on ``device``, built without a host→device
    copy (on CUDA a blocking copy synchronises the host): a Python float when all are equal,
    else one fill per run of equal values."""
    if all(v == values[0] for v in values):
        return float(values[0])
    return torch.cat([torch.full((len(list(run)),), float(v), dtype=torch.float64, device=device)
                      for v, run in itertools.groupby(values)])


def _scalar(value: float, device: torch.device) -> torch.Tensor:
    """A float64 0-dim tensor on ``device`` filled in place (no host→device copy)."""
    return torch.full((), float(value), dtype=torch.float64, device=device)


_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _real(t: torch.Tensor) -> torch.Tensor:
    """The tensor the maths works on: a DTensor's local shard (never flattened or reshaped:
    ``adamem_core.distributed``), as its real view if complex."""
    if type(t) in _PLAIN:   # (the common case, answered without the DTensor check)
        return torch.view_as_real(t) if t.is_complex() else t
    t = _dist.local(t)
    return torch.view_as_real(t) if torch.is_complex(t) else t


def _step_value(step: torch.Tensor) -> Any:
    """The step count as a number in eager mode (a CPU tensor: no device sync), as the tensor
    itself under ``torch.compile`` (no graph break; torch's own optimizers do the same)."""
    if torch.compiler.is_compiling():
        return step
    return step.item()


def _host_scalars(device: torch.device) -> bool:
    """Whether a global β is chosen on the host in Python floats: on a CPU in eager mode, where
    reading the three sums costs nothing and the closed form's float64 arithmetic is then the
    same without some twenty 0-dim tensor operations (a third of AM-SGD's per-step overhead).
    On a GPU it stays on the device (a read would synchronise), and under ``torch.compile`` in
    the graph."""
    return device.type == "cpu" and not torch.compiler.is_compiling()


def _loss_tensor(loss: Any, device: torch.device) -> torch.Tensor:
    if isinstance(loss, torch.Tensor):
        return loss.detach().to(device=device, dtype=torch.float64).reshape(())
    return torch.tensor(float(loss), dtype=torch.float64, device=device)


class _AMBase(Optimizer):
    """Shared plumbing: closures, gathering gradients, the exact loss gap, statistics."""

    _STAT_KEYS = ("beta", "model_beta", "unclipped", "numerator", "denominator", "loss_gap",
                  "effective_momentum")

    @property
    def last_stats(self) -> dict[str, torch.Tensor] | None:
        """The last step's statistics (None before the first step with gradients)."""
        stats = self._stats_now()
        return dict(stats) if stats else None

    @last_stats.setter
    def last_stats(self, value: dict[str, torch.Tensor] | None) -> None:
        self.__dict__["_stats"] = dict(value or {})
        self.__dict__["_stats_host"] = None

    def _stats_now(self) -> dict[str, torch.Tensor]:
        """The statistics dict, with a step's host floats (:meth:`_set_stats`) turned into
        float64 tensors on first use."""
        stats = self.__dict__.setdefault("_stats", {})
        host = self.__dict__.get("_stats_host")
        if host is not None:
            self.__dict__["_stats_host"] = None
            stats.clear()
            stats.update(zip(self._STAT_KEYS,
                             torch.tensor(host, dtype=torch.float64).unbind()))
        return stats

    def _set_stats(self, beta: torch.Tensor, terms: Any, effective_momentum: torch.Tensor
                   ) -> None:
        """``last_stats``: the β used, the closed form's terms (``model.BetaTerms``) and the
        effective momentum. Updated in place: under torch.compile a mutation of an existing dict
        is replayed after the graph, where a new attribute on the optimizer was dropped. A β
        chosen on the host leaves Python floats, made tensors only when they are read (most
        training loops never read them: a step saves the conversion)."""
        values = [beta, terms.beta, terms.unclipped, terms.numerator, terms.denominator,
                  terms.gap, effective_momentum]
        if not isinstance(beta, torch.Tensor):   # β chosen on the host
            self.__dict__["_stats_host"] = [float(v) for v in values]
            return
        self.__dict__["_stats_host"] = None
        self._stats.clear()
        self._stats.update(zip(self._STAT_KEYS, values))

    def _closure_loss(self, closure: Callable[[], Any] | None, needed: bool = False) -> Any:
        """The closure's loss (under ``enable_grad``); ``needed`` (the exact gap) makes a
        missing closure an error."""
        if closure is None:
            if needed:
                name = type(self).__name__
                raise RuntimeError(f"{name}(loss_gap='exact') needs the loss at every step: call "
                                   "opt.step(closure) with a closure that re-evaluates the loss "
                                   "and its gradient, or use loss_gap='taylor'")
            return None
        with torch.enable_grad():
            return closure()

    def _gather(self, group: dict) -> tuple[list, list, list]:
        """(parameters, real views, gradients as real views): complex tensors are handled as
        their real views (``torch.view_as_real``), as torch's own optimizers do, so inner products
        are real inner products and the second moment holds |g|² summed over (re, im) parts."""
        params, views, grads = [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients; "
                                   "use a dense gradient (e.g. nn.Embedding(sparse=False))")
            g = -p.grad if group["maximize"] else p.grad
            params.append(p)
            views.append(_real(p))
            grads.append(_real(g))
        return params, views, grads

    def _global_sums(self, rows: torch.Tensor, red: Any = None,
                     params: list | None = None) -> torch.Tensor:
        """THE place where a global β's sums are formed, once per step: ``rows`` is a small
        (k, n_tensors) float64 tensor of per-tensor terms; the result is their k sums — over
        every shard on every rank when ``red`` (``adamem_core.distributed``) plans a reduction
        (one all-reduce of these k scalars)."""
        if red is not None:
            return red.global_sums(rows, params)
        return rows.sum(dim=-1)

    def _init_groups(self, shard_group: Any, loss_group: Any) -> None:
        """The distributed keywords (process groups are not hyper-parameters: they stay out of
        ``param_groups`` and ``state_dict``); see :mod:`adamem_core.distributed`."""
        self.shard_group = shard_group
        self.loss_group = loss_group

    def _reduction(self, per_tensor: bool) -> Any:
        """This step's all-reduce plan (:func:`adamem_core.distributed.plan`), None when
        nothing is communicated (a single process)."""
        return _dist.plan(self, per_tensor, self.param_groups[0]["loss_gap"] == "exact")

    def _fused_step(self, red: Any, checkpoint_ok: bool = True) -> bool:
        """Whether this step takes the fused path (``adamem_core.fused``): every group asked for
        it, a single process (a distributed step runs eagerly: its sums go through
        ``adamem_core.distributed``), and compiling has not failed in this process."""
        return (red is None and checkpoint_ok and _fused.available()
                and all(gr.get("fused") for gr in self.param_groups))

    def _packed(self, values: tuple, device: torch.device) -> torch.Tensor:
        """Hyper-parameters packed for the fused kernels: one float64 tensor per distinct tuple,
        kept while the values stay the same (a schedule makes a new one per step)."""
        cache = self.__dict__.setdefault("_fused_consts", {})
        key = (values, device)
        t = cache.get(key)
        if t is None:
            if len(cache) > 256:
                cache.clear()
            t = cache[key] = torch.tensor(values, dtype=torch.float64, device=device)
        return t

    def _idle_step(self, red: Any, k: int, loss: Any) -> None:
        """A rank that holds no gradient this step (e.g. a ZeRO partition) still joins the
        step's all-reduces, with zeros, so that the other ranks do not wait for it."""
        if red is not None:
            dev = next((p.device for g in self.param_groups for p in g["params"]),
                       torch.device("cpu"))
            red.idle(k, dev, None if loss is None else _loss_tensor(loss, dev))

    # pickling / deepcopy keep the last step's statistics (torch's Optimizer drops extra attributes)
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_stats"] = self._stats_now()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("_stats", {})
        # process groups cannot be pickled: an unpickled optimizer is a single-process one
        self.__dict__.setdefault("shard_group", None)
        self.__dict__.setdefault("loss_group", None)
        for group in self.param_groups:      # groups saved without a key get its default,
            for k, v in self.defaults.items():   # as torch's optimizers do
                if k != "differentiable":        # (added to defaults by torch's __setstate__)
                    group.setdefault(k, v)

    def __deepcopy__(self, memo: dict[int, Any]) -> "_AMBase":
        """A copy with copied state and statistics that keeps the same process groups (they are
        handles on the running job, shared by every copy, and cannot be copied themselves)."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        new.shard_group, new.loss_group = self.shard_group, self.loss_group
        return new

    def _exact_gap(self, loss: Any, params: list[torch.Tensor],
                   maximize: bool = False, red: Any = None) -> torch.Tensor | None:
        """f̂_t − f(x_t) = f(x_{t−1}) − f(x_t) from the closure's losses (None on the first
        step, where there is no previous loss: the gap is then the taylor one, which is 0).
        With ``maximize`` the model is of f = −loss, so the gap changes sign."""
        cur = _loss_tensor(loss, params[0].device)
        if red is not None:   # this rank's loss → the mean over the loss group
            cur = red.mean_loss(cur)
        if maximize:
            cur = -cur
        prev = None
        for p in params:
            st = self.state[p]
            if prev is None and "prev_loss" in st:
                prev = st["prev_loss"]
            st["prev_loss"] = cur
        return None if prev is None else (prev.to(cur.device) - cur)

    # scalars kept in float64 whatever the parameter dtype (torch's load_state_dict would cast
    # every floating-point state tensor but "step" to the parameter's dtype)
    _FLOAT64_STATE = ("prev_loss", "prod_beta1", "step", "prev_scale", "prev_eps")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_state = state_dict["state"]
        saved_ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        super().load_state_dict(state_dict)
        params = [p for g in self.param_groups for p in g["params"]]
        for i, p in zip(saved_ids, params):
            for k in self._FLOAT64_STATE:
                v = saved_state.get(i, {}).get(k)
                if isinstance(v, torch.Tensor):
                    dev = torch.device("cpu") if k == "step" else p.device
                    self.state[p][k] = v.detach().clone().to(device=dev)
                elif k == "step" and isinstance(v, (int, float)):   # a step saved as a number
                    self.state[p][k] = torch.tensor(float(v), dtype=torch.float64)

    @staticmethod
    def _split_gap(gap: torch.Tensor | None, shares: torch.Tensor) -> torch.Tensor | None:
        """Per-tensor scope with the exact gap: the measured gap shared among tensors in
        proportion to their first-order shares (taylor gaps); equal shares if those sum to 0."""
        if gap is None:
            return None
        total = shares.sum()
        n = shares.numel()
        frac = torch.where(total != 0, shares / torch.where(total != 0, total, 1.0),
                           torch.full_like(shares, 1.0 / n))
        return gap * frac


# ============================================================================= AM-SGD
class AMSGD(_AMBase):
    r"""AM-SGD: SGD with adaptive memory momentum (Topollai & Choromanska, arXiv 2510.04988).

    At every step β is chosen by maximising the dual of the two-plane model

    .. math::
        m_t(x) = \max\{f(x_t) + \langle g_t, u\rangle,\ \hat f_t + \langle d_t, u\rangle\}
                 + \frac{\|u\|^2}{2\eta} + \frac{\lambda}{2\eta}\|u+\eta d_t\|^2,
        \qquad u = x - x_t,

    which has the closed form

    .. math::
        \beta_t &= \mathrm{clip}\Big(\frac{(1+\lambda)(\hat f_t - f(x_t))/\eta
                   - \langle d_t-g_t,\ g_t+\lambda d_t\rangle}{\|d_t-g_t\|^2},
                   \ 0,\ \beta_{\max}\Big) \\
        d_{t+1} &= \frac{(\beta_t+\lambda)\,d_t + (1-\beta_t)\,g_t}{1+\lambda},\qquad
        x_{t+1} = x_t - \eta\, d_{t+1},

    with :math:`d_0 = g_0`, :math:`\beta_t = 0` when :math:`d_t = g_t`, and the gap
    :math:`\hat f_t - f(x_t)` either measured (``loss_gap="exact"``: :math:`f(x_{t-1}) - f(x_t)`
    from the closure's losses) or estimated (``"taylor"``, default:
    :math:`\eta\langle g_t, d_t\rangle`, numerator :math:`\|g\|^2 + 2\lambda\langle g,d\rangle -
    \lambda\|d\|^2`). With ``beta`` fixed and ``lam=0`` this is EMA heavy ball
    :math:`d\leftarrow\beta d + (1-\beta)g`, i.e. ``torch.optim.SGD(momentum=β, dampening=β)``.

    Args:
        params: parameters or parameter groups.
        lr: step size η ≥ 0 (default 1e-3, as ``torch.optim.SGD``; 0 is a normal value: see
            ``adamem_core.model``'s conventions).
        lam: model weight λ ≥ 0 (default 0.1).
        beta_max: cap of the adaptive β, in [0, 1) (default 0.9).
        beta: ``None`` (default) adapts β; a float in [0, 1) fixes it (the model's choice is still
            computed and reported in ``last_stats["model_beta"]``).
        weight_decay: L2 penalty added to the gradient, as in ``torch.optim.SGD`` (default 0).
        loss_gap: ``"taylor"`` (default, safe with mini-batches) or ``"exact"`` (needs a closure).
        beta_scope: ``"global"`` (one β over all parameters, default) or ``"tensor"``.
        foreach: update through torch's multi-tensor ops (default ``None``: yes, on every
            device: on a CPU they loop over the tensors in C++, a few percent faster than this
            class's Python loop, which ``foreach=False`` selects; the same numbers either way).
        maximize: maximise instead of minimise.
        nesterov: take the look-ahead step :math:`x_{t+1} = x_t - \eta[a\,d_{t+1} + b\,g_t]`
            with the same coefficients (:math:`a = (\beta+\lambda)/(1+\lambda)`,
            :math:`b = 1-a`); with fixed β and λ=0 this is EMA-form Nesterov momentum.
        shard_group, loss_group: sharded and data-parallel training, see
            :mod:`adamem_core.distributed`.
        fused: ``True`` runs each tensor's three inner products in one compiled pass and its
            update in another (:mod:`adamem_core.fused`; the first step compiles); eager fallback
            where compiling fails, and a distributed step runs eagerly. Not together with
            ``foreach=True``.

    After each step ``opt.last_stats`` holds tensors on the parameters' device: ``beta`` (the β
    used), ``model_beta`` (the closed form), ``unclipped``, ``numerator``, ``denominator``,
    ``loss_gap``, ``effective_momentum`` — 0-dim for the global scope, one per tensor otherwise.

    Example:
        >>> import torch
        >>> from adamem_core import AMSGD
        >>> w = torch.nn.Parameter(torch.tensor([-2.6, 0.8], dtype=torch.float64))
        >>> opt = AMSGD([w], lr=0.1)
        >>> for _ in range(100):
        ...     opt.zero_grad()
        ...     loss = 0.5 * (w[0] ** 2 + 100 * w[1] ** 2)
        ...     loss.backward()
        ...     opt.step()
        >>> bool(loss < 1e-6)
        True
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, *, lam: float = 0.1,
                 beta_max: float = 0.9,
                 beta: float | None = None, weight_decay: float = 0.0, loss_gap: str = "taylor",
                 beta_scope: str = "global", foreach: bool | None = None,
                 maximize: bool = False, nesterov: bool = False, shard_group: Any = None,
                 loss_group: Any = None, fused: bool | None = None) -> None:
        _check_real("lr", lr, 0.0)
        _check_real("lam", lam, 0.0)
        _check_real("beta_max", beta_max, 0.0, 1.0, hi_open=True)
        if beta is not None:
            _check_real("beta", beta, 0.0, 1.0, hi_open=True)
        _check_real("weight_decay", weight_decay, 0.0)
        _check_choice("loss_gap", loss_gap, _GAPS)
        _check_choice("beta_scope", beta_scope, _SCOPES)
        _check_fused(foreach, fused)
        _check_flag("maximize", maximize)
        _dist.check_group("shard_group", shard_group)
        _dist.check_group("loss_group", loss_group)
        _check_flag("nesterov", nesterov)
        defaults = dict(lr=lr, lam=lam, beta_max=beta_max, beta=beta, weight_decay=weight_decay,
                        loss_gap=loss_gap, beta_scope=beta_scope, foreach=foreach,
                        maximize=maximize, nesterov=nesterov, fused=fused)
        super().__init__(params, defaults)
        self._init_groups(shard_group, loss_group)
        self._stats: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        g0 = self.param_groups[0]
        loss = self._closure_loss(closure, g0["loss_gap"] == "exact")

        # (the fused path forms the coupled decay g + μx inside its kernels: no extra pass)
        scope_global = g0["beta_scope"] == "global"
        red = self._reduction(not scope_global)
        fused = self._fused_step(red)
        groups, all_p, all_g, all_d, prev_lrs = [], [], [], [], []
        for group in self.param_groups:
            params, views, grads = self._gather(group)
            if not params:
                continue
            wd = group["weight_decay"]
            if wd != 0 and not fused:
                grads = torch._foreach_add(grads, views, alpha=wd)
            lr = float(group["lr"])
            dirs = []
            for k, (p, g) in enumerate(zip(params, grads)):
                st = self.state[p]
                if "direction" not in st:       # d_0 = g_0: the first step is a gradient step
                    if fused and wd != 0:       # (the fused kernels add the decay themselves)
                        g = g + wd * views[k]
                    st["direction"] = _dist.like(p, torch.view_as_complex(g.detach().clone())
                                                 if torch.is_complex(p) else
                                                 g.detach().clone(
                                                     memory_format=torch.preserve_format))
                dirs.append(_real(st["direction"]))
                # η of the step that led here (the taylor gap's η'); d_0 = g_0 acts as a previous
                # step η_0 d_0 (model.py's conventions)
                prev_lrs.append(st.get("prev_lr", lr))
            groups.append((group, params, views, grads, dirs))
            all_p += params
            all_g += grads
            all_d += dirs
        if not all_p:
            self._idle_step(red, 3, loss)
            return loss

        device = all_p[0].device
        exact = g0["loss_gap"] == "exact"
        gap = self._exact_gap(loss, all_p, g0["maximize"], red) if exact else None

        lrs = [float(gr["lr"]) for gr, ps, *_ in groups for _ in ps]
        lams = [float(gr["lam"]) for gr, ps, *_ in groups for _ in ps]
        # the taylor gap η'⟨g, d⟩ (model.taylor_gap): with η' = η it is the η-free closed form
        constant = prev_lrs == lrs and min(lrs) > 0   # (η' = η = 0: nothing moved, gap 0)
        # one global β from one η and λ (distributed: the general branch below, whose choices
        # do not depend on what this rank holds), on a CPU chosen from host floats
        one_beta = scope_global and red is None and len(set(lrs)) == 1 and len(set(lams)) == 1
        host = one_beta and not fused and _host_scalars(device)

        # the three inner products per tensor (one kernel each, accumulated in ≥ float32; fused:
        # one compiled pass per tensor)
        if fused:
            sums = _fused.run("sgd_sums", [
                (g, d, x if gr["weight_decay"] else None,
                 self._packed((gr["weight_decay"], float(gr["lr"])), device))
                for gr, ps, xs, gs, ds in groups for x, g, d in zip(xs, gs, ds)])
            rows = torch.stack(sums, dim=1).to(torch.float64)
        else:
            rows = model.sgd_sums_each(all_g, all_d)   # (3, n): ⟨g,g⟩, ⟨g,d⟩, ⟨d,d⟩
        if red is not None and not scope_global:   # each tensor's sums over all its shards
            rows = red.tensor_sums(rows, all_p)
        if scope_global:
            if one_beta:
                if not (constant or exact):   # (the taylor gap's row, η'ᵢ⟨gᵢ, dᵢ⟩)
                    rows = torch.cat([rows, (rows[1] * _per_tensor(prev_lrs, device))[None]])
                s = self._global_sums(rows, red, all_p)
                if host:
                    s = s.tolist()
                    if gap is not None:
                        gap = gap.item()
                if not exact and not constant:
                    gap = s[3]
                terms = model.beta_sgd(s[0], s[1], s[2], lrs[0], lams[0], g0["beta_max"], gap)
            else:   # groups with different η or λ: weighted combination of their parts
                # (distributed: ω_ref from the param groups, the same on every rank)
                gg, gd, dd = rows
                n_ref = len(self.param_groups) if red is not None else 0
                ref = self.param_groups if red is not None else []
                w_ref, ws = model.sum_weights(
                    [float(gr["lr"]) / (1 + gr["lam"]) for gr in ref]
                    + [lr / (1 + lm) for lr, lm in zip(lrs, lams)],
                    [1 / (1 + gr["lam"]) for gr in ref] + [1 / (1 + lm) for lm in lams])
                ws = ws[n_ref:]
                _, a, c = model.sgd_parts(gg, gd, dd, _per_tensor(lams, device))
                w = _per_tensor(ws, device)
                s = self._global_sums(torch.stack([gd * _per_tensor(prev_lrs, device), w * a,
                                                   w * c]), red, all_p)
                terms = model.beta_from_sums(s[0] if gap is None else gap, s[1], s[2], w_ref,
                                             g0["beta_max"])
        else:
            gg, gd, dd = rows
            lr_v = _per_tensor(lrs, device)
            lam_v = _per_tensor(lams, device)
            bmax_v = _per_tensor([float(gr["beta_max"]) for gr, ps, *_ in groups for _ in ps],
                                 device)
            shares = gd * _per_tensor(prev_lrs, device)
            if exact:
                tgap = self._split_gap(gap, shares)
            else:
                tgap = None if constant else shares
            terms = model.beta_sgd(gg, gd, dd, lr_v, lam_v, bmax_v, tgap)

        # per group: the β used (the model's, or the fixed one: a 0-dim tensor, or one per
        # tensor), then d ← (1−b)d + b·g with b = (1−β)/(1+λ) (model.direction_coefficients)
        on_host = not isinstance(terms.beta, torch.Tensor)
        used, i = [], 0
        for group, params, views, grads, dirs in groups:
            n = len(params)
            if group["beta"] is not None:
                beta = float(group["beta"]) if on_host else _scalar(group["beta"], device)
            else:
                beta = terms.beta if scope_global else terms.beta[i:i + n]
            i += n
            used.append(beta if scope_global else beta.expand(n))
            b = model.direction_coefficients(beta, group["lam"])[1]
            cast: dict[torch.dtype, Any] = {}
            coef_b = []
            for k, d in enumerate(dirs):
                if on_host:
                    coef_b.append(float(b))
                elif b.dim() == 0:
                    if d.dtype not in cast:
                        cast[d.dtype] = b.to(d.dtype)
                    coef_b.append(cast[d.dtype])
                else:
                    coef_b.append(b[k].to(d.dtype))
            lr = float(group["lr"])
            if fused:
                hyper = self._packed((group["weight_decay"], lr), device)
                _fused.run("sgd_update", [(g, d, x, hyper, bk, bool(group["nesterov"]))
                                          for x, g, d, bk in zip(views, grads, dirs, coef_b)])
            elif group["foreach"] is not False:   # (the default on every device: the docstring)
                # last tensor first: its g and d are the ones the sums left in the cache
                dirs_r, grads_r, coef_r = dirs[::-1], grads[::-1], coef_b[::-1]
                torch._foreach_lerp_(dirs_r, grads_r, coef_r)   # d ← a d + b g  (a = 1 − b)
                step_dirs = (torch._foreach_lerp(dirs_r, grads_r, coef_r) if group["nesterov"]
                             else dirs_r)
                torch._foreach_add_(views[::-1], step_dirs, alpha=-lr)
            else:
                for x, g, d, bk in zip(views[::-1], grads[::-1], dirs[::-1], coef_b[::-1]):
                    d.lerp_(g, bk)
                    x.add_(d.lerp(g, bk) if group["nesterov"] else d, alpha=-lr)
            for p in params:
                self.state[p]["prev_lr"] = lr

        beta_used = used[0] if scope_global else torch.cat(used)
        lam_used = lams[0] if scope_global else _per_tensor(lams, device)
        self._set_stats(beta_used, terms, model.effective_momentum(beta_used, lam_used))
        return loss


# ============================================================================= AM-AdamW
class AMAdamW(_AMBase):
    r"""AM-AdamW: AdamW whose first-moment β₁ is chosen at every step by the two-plane model.

    With :math:`v_t` as in AdamW, :math:`\hat v_t = v_t/(1-\beta_2^t)` and the diagonal
    preconditioner :math:`P_t = (1-\beta_{1\max}\prod_{i<t}\beta_{1,i})(\sqrt{\hat v_t}+\epsilon)`
    (the bias correction of an EMA with varying β, the current factor bounded by
    :math:`\beta_{1\max}`), :math:`W = P^{-1}(I+\lambda P)^{-1}`:

    .. math::
        \beta_t &= \mathrm{clip}\Big(\frac{(\hat f_t - f(x_t))/\eta - \mu\langle d-g, x_t\rangle
                   - \langle d-g,\ g+\lambda P d\rangle_W}{\|d-g\|_W^2},\ 0,\ \beta_{1\max}\Big)\\
        d_{t+1} &= (I+\lambda P)^{-1}\big[(1-\beta_t)g + (\lambda P + \beta_t I)d\big],\qquad
        x_{t+1} = (1-\eta\mu)x_t - \eta P^{-1}d_{t+1},

    :math:`d_0 = 0` (AdamW's first moment), taylor gap
    :math:`\hat f_t - f(x_t)\approx\eta\langle g, d\rangle_{P^{-1}}`, or the exact one from the
    closure's losses. β is per tensor by default (``beta_scope="tensor"``). With ``beta1`` fixed
    and ``lam=0`` this is exactly ``torch.optim.AdamW(betas=(beta1, beta2))``.

    Args:
        params: parameters or parameter groups.
        lr: step size η (default 1e-3).
        betas: (β₁max, β₂) (default (0.9, 0.999)); β₁max caps the adaptive β₁.
        eps: ε added to :math:`\sqrt{\hat v}` (default 1e-8).
        weight_decay: decoupled weight decay μ (default 1e-2).
        lam: model weight λ ≥ 0 (default 0.1).
        beta1: ``None`` (default) adapts β₁; a float fixes it (and replaces β₁max).
        loss_gap: ``"taylor"`` (default) or ``"exact"`` (needs a closure).
        beta_scope: ``"tensor"`` (default) or ``"global"``.
        foreach: use the multi-tensor path (default: on CUDA).
        maximize: maximise instead of minimise.
        shard_group, loss_group: sharded and data-parallel training, see
            :mod:`adamem_core.distributed`.
        fused: ``True`` runs each tensor's sums in one compiled pass over memory and its update
            in another (:mod:`adamem_core.fused`; the first step compiles, then a step costs
            about what AdamW's does); eager fallback where compiling fails, and a distributed
            step runs eagerly. Not together with ``foreach=True``.

    ``opt.last_stats`` as for :class:`AMSGD`; ``effective_momentum`` is the mean over
    coordinates of :math:`(\lambda P + \beta)/(1+\lambda P)`.

    Example:
        >>> import torch
        >>> from adamem_core import AMAdamW
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.5]))
        >>> opt = AMAdamW([w], lr=0.05, weight_decay=0.0)
        >>> for _ in range(300):
        ...     opt.zero_grad()
        ...     loss = (w ** 2).sum()
        ...     loss.backward()
        ...     opt.step()
        >>> bool(loss < 1e-3)
        True
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, lam: float = 0.1, beta1: float | None = None,
                 loss_gap: str = "taylor", beta_scope: str = "tensor",
                 foreach: bool | None = None, maximize: bool = False, shard_group: Any = None,
                 loss_group: Any = None, fused: bool | None = None) -> None:
        _check_real("lr", lr, 0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r} (must be a pair (beta1_max, beta2))")
        _check_real("betas[0]", betas[0], 0.0, 1.0, hi_open=True)
        _check_real("betas[1]", betas[1], 0.0, 1.0, hi_open=True)
        _check_real("eps", eps, 0.0, lo_open=True)
        _check_real("weight_decay", weight_decay, 0.0)
        _check_real("lam", lam, 0.0)
        if beta1 is not None:
            _check_real("beta1", beta1, 0.0, 1.0, hi_open=True)
        _check_choice("loss_gap", loss_gap, _GAPS)
        _check_choice("beta_scope", beta_scope, _SCOPES)
        _check_fused(foreach, fused)
        _check_flag("maximize", maximize)
        _dist.check_group("shard_group", shard_group)
        _dist.check_group("loss_group", loss_group)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, lam=lam,
                        beta1=beta1, loss_gap=loss_gap, beta_scope=beta_scope, foreach=foreach,
                        maximize=maximize, fused=fused)
        super().__init__(params, defaults)
        self._init_groups(shard_group, loss_group)
        self._stats: dict[str, torch.Tensor] = {}

    @staticmethod
    def _coordinate_shares(red: Any, keys: list, entries: list, Ps: list,
                           device: torch.device) -> list[torch.Tensor]:
        r"""Distributed runs: two rows per tensor that, summed over shards, give the effective
        momentum :math:`1 - (1-\beta)\,\mathrm{mean}(1/(1+\lambda P))`. Per-tensor scope:
        this shard's :math:`\sum 1/(1+\lambda P)` and its number of coordinates. Global scope
        (the mean over tensors of their coordinate means): this shard's sum divided by the whole
        tensor's size, and its share of the tensor count."""
        h, n = [], []
        for p, e, P in zip(keys, entries, Ps):
            Pu = _dist.unpadded(P, p)           # (FSDP1 pads the last shard)
            lam = model.first_step_lam(e[0]["lam"], e[7])   # (AdamW's first step: no λ)
            if lam == 0 or Pu.numel() == 0:
                h.append(torch.full((), float(Pu.numel()), dtype=torch.float64, device=device))
            else:
                h.append((1.0 / (1.0 + lam * Pu)).sum(dtype=torch.float64))
            n.append(float(Pu.numel()) if red.per_tensor else red.shard_share(p))
            if not red.per_tensor:
                h[-1] = h[-1] / _dist.global_numel(p)
        return [torch.stack(h), torch.stack([torch.full((), v, dtype=torch.float64,
                                                        device=device) for v in n])]

    def _reduced_effective_momentum(self, per_tensor: bool, share: list[torch.Tensor],
                                    beta_used: torch.Tensor) -> torch.Tensor:
        r"""Per tensor :math:`1 - (1-\beta)\,\mathrm{mean}(1/(1+\lambda P))`; global: its mean
        over all tensors of all ranks (``share`` summed over them)."""
        h, count = share
        if per_tensor:
            return model.effective_momentum_mean(beta_used, h / torch.clamp(count, min=1.0))
        return model.effective_momentum_mean(beta_used, h / count)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        g0 = self.param_groups[0]
        exact = g0["loss_gap"] == "exact"
        loss = self._closure_loss(closure, exact)

        entries = []   # (group, p, x, g, st, beta1_max, beta2, first)
        for group in self.param_groups:
            params, views, grads = self._gather(group)
            beta1_max, beta2 = group["betas"]
            if group["beta1"] is not None:
                beta1_max = group["beta1"]
            for p, x, g in zip(params, views, grads):
                st = self.state[p]
                first = "exp_avg" not in st      # memory still AdamW's m_0 = 0
                if first:
                    st["step"] = torch.tensor(0.0, dtype=torch.float64)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["prod_beta1"] = torch.ones((), dtype=torch.float64, device=p.device)
                entries.append((group, p, x, g, st, beta1_max, beta2, first))
        scope_global = g0["beta_scope"] == "global"
        red = self._reduction(not scope_global)
        if not entries:
            self._idle_step(red, 5, loss)
            return loss

        device = entries[0][1].device
        keys = [e[1] for e in entries]
        gap = self._exact_gap(loss, keys, g0["maximize"], red) if exact else None

        fused = self._fused_step(red, all(e[7] or "prev_scale" in e[4] for e in entries))
        need_gaps = gap is None or not scope_global   # (per-tensor exact: the split's shares)
        if fused:   # phases 1 and 2 in one compiled pass per tensor
            gap_v, a_v, c_v, h_v, adv = self._fused_sums(entries, device)
            Ps = []
            if not need_gaps:
                gap_v = None
        else:
            gap_v, a_v, c_v, Ps, adv = self._eager_sums(entries, need_gaps, g0["foreach"],
                                                        device)
        lrs = [float(e[0]["lr"]) for e in entries]
        firsts = [e[7] for e in entries]
        bmax = [e[5] for e in entries]
        if scope_global:
            # weights ω_i = η_i; a tensor at its first step takes AdamW's step (no say in β)
            # (distributed: ω_ref from the param groups, the same on every rank)
            ref = self.param_groups if red is not None and not all(firsts) else []
            w_ref, ws = model.sum_weights(
                [float(gr["lr"]) for gr in ref] + [0.0 if f else lr for lr, f in zip(lrs, firsts)],
                [1.0 for _ in ref] + [0.0 if f else 1.0 for f in firsts])
            w = _per_tensor(ws[len(ref):], device)
            rows = [w * a_v, w * c_v] + ([gap_v] if gap is None else [])
            if red is not None:   # the same rows on every rank, and the effective momentum's
                rows = rows[:2] + [rows[2] if gap is None else torch.zeros_like(a_v)]
                eff_rows = self._coordinate_shares(red, keys, entries, Ps, device)
                rows += eff_rows
            s = self._global_sums(torch.stack(rows), red, keys)
            if red is not None:
                eff_rows = [s[3], s[4]]
            terms = model.beta_from_sums(s[2] if gap is None else gap, s[0], s[1], w_ref,
                                         bmax[0])
            betas_model = [terms.beta] * len(entries)
        else:
            lr_v = _per_tensor(lrs, device)
            if red is not None:   # each tensor's sums over all its shards
                eff_rows = self._coordinate_shares(red, keys, entries, Ps, device)
                a_v, c_v, gap_v, *eff_rows = red.tensor_sums(
                    torch.stack([a_v, c_v, gap_v, *eff_rows]), keys)
            tgap = gap_v if gap is None else self._split_gap(gap, gap_v)
            terms = model.combine([(None, a_v, c_v)], [lr_v], [lr_v], tgap,
                                  _per_tensor(bmax, device))
            betas_model = list(terms.beta.unbind(0))

        # 3. the update: d ← d + z(g − d), x ← (1 − ημ)x − η P⁻¹d
        if fused:   # one compiled pass per tensor
            used = self._fused_update(entries, adv, betas_model, device)
            beta_used = used[0] if scope_global else torch.stack(used)
            n_v = _per_tensor([float(max(e[3].numel(), 1)) for e in entries], device)
            # (the effective momentum from h = Σ 1/(1+λP) of the sums pass: no extra pass)
            ratio = h_v / n_v
            eff_out = model.effective_momentum_mean(
                beta_used, ratio.mean() if scope_global else ratio)
        else:
            used, eff = self._eager_update(entries, Ps, adv, betas_model, device)
            if scope_global:
                beta_used, eff_out = used[0], torch.stack(eff).mean()
            else:
                beta_used, eff_out = torch.stack(used), torch.stack(eff)
        if red is not None and red.members:   # the shards' means of 1 − z, completed
            eff_out = self._reduced_effective_momentum(red.per_tensor, eff_rows, beta_used)
        self._set_stats(beta_used, terms, eff_out)
        return loss

    @staticmethod
    def _advance(group: dict, st: dict, beta1_max: float, beta2: float) -> tuple:
        """Counts the step and returns this step's (s, e) of P = √v·s + e."""
        st["step"] += 1
        bc1 = model.bias_correction1(beta1_max, st["prod_beta1"])
        return model.precond_scalars(_step_value(st["step"]), beta2, group["eps"], bc1)

    def _advance_all(self, entries: list, device: torch.device) -> tuple[list, Any]:
        r""":meth:`_advance` for every tensor: ``(scal, vecs)``, each tensor's (s, e) and the
        vectors they are views of, ``vecs`` = (∏β₁, s, e) (None where done one at a time).

        In eager mode with every tensor's state on ``device`` this is a dozen operations on
        per-tensor vectors instead of about six per tensor (a model with hundreds of tensors
        would otherwise spend milliseconds a step on 0-dim tensors). The numbers are the same:
        the operations are elementwise, and :math:`\sqrt{1-\beta_2^t}` is still formed per
        tensor in Python floats. Under ``torch.compile`` (where the step count stays a tensor)
        or with state on several devices, one tensor at a time."""
        sts = [e[4] for e in entries]
        prods = [st["prod_beta1"] for st in sts]
        if torch.compiler.is_compiling() or any(p.device != device for p in prods):
            return [self._advance(e[0], e[4], e[5], e[6]) for e in entries], None
        steps = [st["step"] for st in sts]
        torch._foreach_add_(steps, 1)
        ts = [_step_value(t) for t in steps]   # (the CPU counters themselves: no device read)
        prod = torch.stack(prods)
        bc1 = model.bias_correction1(_per_tensor([e[5] for e in entries], device), prod)
        root = _per_tensor([model.bias_correction2_root(t, e[6]) for t, e in zip(ts, entries)],
                           device)
        s, e = model.precond_scalars_from(bc1, root,
                                          _per_tensor([e[0]["eps"] for e in entries], device))
        return list(zip(s.unbind(), e.unbind())), (prod, s, e)

    @staticmethod
    def _beta_and_lam(group: dict, bm: torch.Tensor, first: bool, beta1_max: float,
                      device: torch.device) -> tuple[torch.Tensor, float]:
        """The β a tensor uses (the model's, or the fixed β₁) and its λ; at AdamW's first step
        β₁max and no λ."""
        beta = bm if group["beta1"] is None else _scalar(group["beta1"], device)
        lam = group["lam"]
        if first:
            beta = model.first_step_beta(beta, _scalar(beta1_max, device), True)
            lam = model.first_step_lam(lam, True)
        return beta, lam

    @staticmethod
    def _remember_all(entries: list, used: list, scal: list, vecs: Any) -> None:
        """The state the next step needs: ∏β₁ for the bias correction (times the β each tensor
        used), and this step's η, μ and P = √v·s + e for the next taylor gap (``scal``,
        ``vecs``: :meth:`_advance_all`'s; ∏β₁ then in one operation for all tensors)."""
        if vecs is None:
            prods = [e[4]["prod_beta1"] * beta for e, beta in zip(entries, used)]
        else:
            same = all(b is used[0] for b in used)   # (one global β: no stack needed)
            prods = (vecs[0] * (used[0] if same else torch.stack(used))).unbind()
        for (group, p, x, g, st, *_), prod, (s, e) in zip(entries, prods, scal):
            st["prod_beta1"] = prod
            st["prev_lr"], st["prev_wd"] = float(group["lr"]), float(group["weight_decay"])
            st["prev_scale"], st["prev_eps"] = s, e

    def _eager_sums(self, entries: list, need_gaps: bool, foreach_flag: bool | None,
                    device: torch.device) -> tuple:
        """Phases 1 and 2, eagerly: per-tensor taylor gaps (or None), parts a and c as float64
        vectors, each tensor's P, and :meth:`_advance_all`'s (each tensor's (s, e), vectors)."""
        # 1. each tensor's taylor gap ⟨g_t, x_{t−1} − x_t⟩ (model.taylor_gap), from the previous
        #    step's η', μ' and preconditioner P' = √v'·s' + e' (v before this step's update)
        gaps, zero = [], None
        for group, p, x, g, st, beta1_max, beta2, first in entries:
            if not need_gaps:
                break
            if first:
                if zero is None:
                    zero = torch.zeros((), dtype=torch.float64, device=device)
                gaps.append(zero)                  # d_0 = 0: no memory plane above ℓ_g
                continue
            d = _real(st["exp_avg"])
            if "prev_scale" in st:
                P_prev = model.precondition(_real(st["exp_avg_sq"]), st["prev_scale"],
                                            st["prev_eps"])
            else:   # a checkpoint from before this convention: the current P stands in
                P_prev = self._current_precond(group, st, g, beta1_max, beta2)
            lr_prev = st.get("prev_lr", float(group["lr"]))
            wd_prev = st.get("prev_wd", float(group["weight_decay"]))
            gaps.append(model.taylor_gap(g, d, lr_prev, P_prev, wd_prev, x).to(torch.float64))

        # 2. second moment (as AdamW), preconditioner, each tensor's parts of the closed form
        foreach = _use_foreach(foreach_flag, [e[1] for e in entries])
        if foreach:
            vs = [_real(e[4]["exp_avg_sq"]) for e in entries]
            gs = [e[3] for e in entries]
            b2 = [e[6] for e in entries]
            if len(set(b2)) == 1:
                torch._foreach_mul_(vs, b2[0])
                torch._foreach_addcmul_(vs, gs, gs, value=1 - b2[0])
            else:
                for v, g, b in zip(vs, gs, b2):
                    v.mul_(b).addcmul_(g, g, value=1 - b)
        adv = self._advance_all(entries, device)   # (after the gaps: they use the step before)
        Ps, a_s, c_s = [], [], []
        for (group, p, x, g, st, beta1_max, beta2, first), (s, e) in zip(entries, adv[0]):
            v = _real(st["exp_avg_sq"])
            if not foreach:
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            P = model.precondition(v, s, e)
            Ps.append(P)
            _, a, c = model.adamw_parts(g, _real(st["exp_avg"]), P,
                                        model.first_step_lam(group["lam"], first),
                                        group["weight_decay"], x, with_gap=False)
            a_s.append(a)
            c_s.append(c)
        return (torch.stack(gaps) if gaps else None, torch.stack(a_s).to(torch.float64),
                torch.stack(c_s).to(torch.float64), Ps, adv)

    def _eager_update(self, entries: list, Ps: list, adv: tuple, betas_model: list,
                      device: torch.device) -> tuple[list, list]:
        """Phase 3, eagerly, and the state the next step needs: the β and the effective
        momentum of each tensor."""
        used, eff = [], []
        for (group, p, x, g, st, beta1_max, beta2, first), P, bm in zip(
                entries, Ps, betas_model):
            beta, lam = self._beta_and_lam(group, bm, first, beta1_max, device)
            lr, wd = float(group["lr"]), float(group["weight_decay"])
            used.append(beta)
            d = _real(st["exp_avg"])
            if lam == 0:
                d.lerp_(g, (1.0 - beta).to(d.dtype))               # AdamW's first moment
                eff.append(beta)
            else:
                # model.update_direction_adamw as a lerp d ← d + z(g − d); the effective
                # momentum (λP+β)/(1+λP) is 1 − z
                z = model.adamw_direction_weight(beta.to(d.dtype), lam, P)
                d.lerp_(g, z)
                eff.append(1.0 - z.mean(dtype=model.acc_dtype(z.dtype)).to(torch.float64))
            if wd != 0:
                x.mul_(1 - lr * wd)
            x.addcdiv_(d, P, value=-lr)
        self._remember_all(entries, used, *adv)
        return used, eff

    def _fused_sums(self, entries: list, device: torch.device) -> tuple:
        """The fused path's phases 1 and 2 (``model.adamw_step_sums``, one compiled pass per
        tensor): per-tensor (gap, a, c, h) as float64 vectors and :meth:`_advance_all`'s."""
        adv = self._advance_all(entries, device)
        # (s', e', s, e) per tensor; at a first step d = 0 and the gap is 0 whatever the
        # previous scalars (none exist): this step's stand in
        prev = [(s, e) if en[7] else (en[4]["prev_scale"], en[4]["prev_eps"])
                for en, (s, e) in zip(entries, adv[0])]
        scales = self._rows_of([p[0] for p in prev], [p[1] for p in prev], adv)
        rows = []
        for (group, p, x, g, st, beta1_max, beta2, first), sc in zip(entries, scales):
            lam = model.first_step_lam(group["lam"], first)
            if first:
                hyper = (beta2, 0.0, 0.0, lam, float(group["weight_decay"]))
            else:
                hyper = (beta2, st["prev_lr"], st["prev_wd"], lam, float(group["weight_decay"]))
            rows.append((g, _real(st["exp_avg"]), _real(st["exp_avg_sq"]), x,
                         self._packed(hyper, device), sc))
        sums = _fused.run("adamw_sums", rows)
        gap_v, a_v, c_v, h_v = torch.stack(sums).to(torch.float64).unbind(1)
        return gap_v, a_v, c_v, h_v, adv

    @staticmethod
    def _rows_of(*parts: Any) -> list[torch.Tensor]:
        """Per-tensor rows of small float64 scalars for the fused kernels, ``parts`` = lists of
        0-dim tensors (one per tensor) followed by :meth:`_advance_all`'s ``(scal, vecs)``,
        whose s and e end each row: from the vectors, one stack for all rows. (Each row is
        copied out of the stack: rows that shared one storage would make dynamo check their
        aliasing on every call, which costs more than the copies.)"""
        *lists, (scal, vecs) = parts
        if vecs is None:
            return [torch.stack([*r, s, e]) for *r, (s, e) in zip(*lists, scal)]
        table = torch.stack([torch.stack(c) for c in lists] + [vecs[1], vecs[2]], dim=1)
        return [row.clone() for row in table.unbind()]

    def _fused_update(self, entries: list, adv: tuple, betas_model: list,
                      device: torch.device) -> list[torch.Tensor]:
        """The fused path's phase 3 (``model.adamw_step_update``, one compiled pass per tensor)
        and the state the next step needs; returns the β each tensor used."""
        used, lams = [], []
        for (group, p, x, g, st, beta1_max, beta2, first), bm in zip(entries, betas_model):
            beta, lam = self._beta_and_lam(group, bm, first, beta1_max, device)
            used.append(beta)
            lams.append(lam)
        rows = [(g, _real(st["exp_avg"]), _real(st["exp_avg_sq"]), x,
                 self._packed((lam, float(group["lr"]), float(group["weight_decay"]), beta2),
                              device), sc)
                for (group, p, x, g, st, beta1_max, beta2, first), lam, sc in zip(
                    entries, lams, self._rows_of(used, adv))]
        _fused.run("adamw_update", rows)
        self._remember_all(entries, used, *adv)
        return used

    @staticmethod
    def _current_precond(group: dict, st: dict, g: torch.Tensor, beta1_max: float,
                         beta2: float) -> torch.Tensor:
        """P of the coming step (for a checkpoint saved before prev_scale existed)."""
        v = _real(st["exp_avg_sq"]) * beta2 + (1 - beta2) * g * g
        bc1 = model.bias_correction1(beta1_max, st["prod_beta1"])
        return model.preconditioner(v, _step_value(st["step"]) + 1, beta2, group["eps"], bc1)


# ============================================================================= the registry
@dataclass(frozen=True)
class OptimizerEntry:
    """A factory ``entry(params, lr, **hyper) -> torch.optim.Optimizer`` with what the app's
    menus need to know about it."""

    name: str
    label: str                       # e.g. "EMA momentum"
    family: str                      # "sgd" or "adamw": which suggested lr applies
    adaptive: bool                   # β chosen by the model
    make: Callable[..., Optimizer] = field(repr=False)
    defaults: dict[str, Any] = field(default_factory=dict)   # hyper-parameters and defaults
    reports_beta: bool = True        # has last_stats (adamem_core's classes)
    description: str = ""

    def __call__(self, params: Iterable, lr: float, **hyper: Any) -> Optimizer:
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name} does not take {sorted(unknown)}; "
                             f"it takes {sorted(self.defaults)}")
        return self.make(params, lr, **{**self.defaults, **hyper})


def _torch_sgd(params, lr, *, beta, weight_decay, maximize, foreach):
    return torch.optim.SGD(params, lr=lr, momentum=beta, weight_decay=weight_decay,
                           maximize=maximize, foreach=foreach)


def _torch_adamw(params, lr, *, beta1, betas, eps, weight_decay, maximize, foreach):
    return torch.optim.AdamW(params, lr=lr, betas=(beta1, betas[1]), eps=eps,
                             weight_decay=weight_decay, maximize=maximize, foreach=foreach)


_COMMON = dict(foreach=None, maximize=False)
_AM_SGD_HYPER = dict(lam=0.1, beta_max=0.9, weight_decay=0.0, loss_gap="taylor",
                     beta_scope="global", **_COMMON)
_ADAMW_HYPER = dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, loss_gap="taylor",
                    beta_scope="tensor", **_COMMON)


def _amsgd_fixed(nesterov: bool = False):
    def make(params, lr, *, beta, **kw):
        return AMSGD(params, lr, beta=beta, lam=0.0, nesterov=nesterov, **kw)
    return make


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "am_sgd": OptimizerEntry(
        "am_sgd", "AM-SGD", "sgd", True, lambda p, lr, **kw: AMSGD(p, lr, **kw),
        dict(_AM_SGD_HYPER), description="adaptive memory momentum, one β over the model"),
    "am_adamw": OptimizerEntry(
        "am_adamw", "AM-AdamW", "adamw", True, lambda p, lr, **kw: AMAdamW(p, lr, **kw),
        dict(_ADAMW_HYPER, lam=0.1), description="AdamW with β₁ chosen per tensor by the model"),
    "sgd": OptimizerEntry(
        "sgd", "SGD", "sgd", False, lambda p, lr, **kw: AMSGD(p, lr, beta=0.0, lam=0.0, **kw),
        dict(beta_max=0.9, weight_decay=0.0, loss_gap="taylor", beta_scope="global", **_COMMON),
        description="plain gradient descent (β = 0)"),
    "sgd_ema": OptimizerEntry(
        "sgd_ema", "EMA momentum", "sgd", False, _amsgd_fixed(),
        dict(beta=0.9, beta_max=0.9, weight_decay=0.0, loss_gap="taylor", beta_scope="global",
             **_COMMON),
        description="constant-β heavy ball in EMA form, d ← βd + (1−β)g"),
    "nesterov": OptimizerEntry(
        "nesterov", "Nesterov (EMA)", "sgd", False, _amsgd_fixed(nesterov=True),
        dict(beta=0.9, beta_max=0.9, weight_decay=0.0, loss_gap="taylor", beta_scope="global",
             **_COMMON),
        description="constant-β Nesterov momentum in EMA form"),
    "adamw": OptimizerEntry(
        "adamw", "AdamW", "adamw", False,
        lambda p, lr, *, beta1, **kw: AMAdamW(p, lr, beta1=beta1, lam=0.0, **kw),
        dict(_ADAMW_HYPER, beta1=0.9),
        description="AdamW with a constant β₁ (adamem_core's class: reports the model's β)"),
    "torch_sgd": OptimizerEntry(
        "torch_sgd", "torch SGD momentum", "sgd", False, _torch_sgd,
        dict(beta=0.9, weight_decay=0.0, **_COMMON), reports_beta=False,
        description="torch.optim.SGD(momentum=β): undampened heavy ball, d ← βd + g"),
    "torch_adamw": OptimizerEntry(
        "torch_adamw", "torch AdamW", "adamw", False, _torch_adamw,
        dict(beta1=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **_COMMON),
        reports_beta=False, description="torch.optim.AdamW"),
}
