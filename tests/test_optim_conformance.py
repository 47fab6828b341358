"""PyTorch's generic optimizer checks, run on ``AMSGD`` / ``AMAdamW`` (issue 11).

One ``OptimizerInfo`` (``torch.testing._internal.common_optimizers``, from the installed wheel)
per optimizer and gap mode, with its ``optim_inputs_func`` (the configurations) and
``optim_error_inputs_func`` (bad configurations). PyTorch's own driver, ``TestOptimRenewed``,
lives in PyTorch's test tree (``test/test_optim.py``), which the wheel does not ship; its checks
that apply on a CPU are re-implemented here as parametrised tests over these infos:

    errors · forloop goes right direction (with its scheduler inputs, float64/float32) ·
    param groups with their own weight decay / lr · tensor lr · complex · complex 2-D (real and
    imaginary parts as separate parameters) · step is a no-op without grads · can be printed ·
    state_dict deterministic and round trip · can load older state dicts (global "cliquey"
    keys removed) · non-tensor step · save/load with ``weights_only=True`` · deepcopy keeps
    the public attributes · step pre/post hooks · state_dict and load_state_dict hooks · grads
    are never modified in place · state non-empty after a step · named parameters ·
    foreach matches for-loop · a param group's lr scheduler goes the right direction.

Not covered (they do not apply): CUDA-only checks (peak memory, fused, capturable, multi-device),
``differentiable``, sparse gradients (rejected with a clear error, tested in test_optim.py).
``complex 2-D`` is run on the configurations whose β does not depend on how tensors are split
(a global β or a fixed one): a per-tensor β over (re, im) as two tensors is by design not the
per-tensor β of one complex tensor.
"""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

pytest.importorskip("expecttest")   # common_optimizers imports torch's test utilities
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR  # noqa: E402
from torch.testing._internal.common_optimizers import (  # noqa: E402
    ErrorOptimizerInput, OptimizerErrorEnum, OptimizerInfo, OptimizerInput,
    _get_optim_inputs_including_global_cliquey_kwargs)

from adamem_core import AMAdamW, AMSGD  # noqa: E402

CPU = "cpu"


@pytest.fixture(autouse=True)
def _one_cpu_thread(one_cpu_thread):   # (tests/conftest.py)
    yield


# ============================================================================= the infos
def _inputs_amsgd(gap):
    def optim_inputs_func(device, dtype=None):
        base = [
            ({}, "default"), ({"lr": 0.02}, "lr"), ({"lam": 0.0}, "lam 0"),
            ({"lam": 1.0, "beta_max": 0.5}, "lam 1, beta_max 0.5"),
            ({"weight_decay": 0.1}, "weight_decay"), ({"nesterov": True}, "nesterov"),
            ({"beta_scope": "tensor"}, "per-tensor beta"),
            ({"beta": 0.9, "lam": 0.0}, "fixed beta (EMA heavy ball)"),
            ({"maximize": True}, "maximize"),
            ({"lr": torch.tensor(0.001)}, "tensor lr"),
        ]
        return [OptimizerInput(params=None, kwargs={**kw, "loss_gap": gap}, desc=desc)
                for kw, desc in base]
    return optim_inputs_func


def _inputs_amadamw(gap):
    def optim_inputs_func(device, dtype=None):
        base = [
            ({}, "default"), ({"lr": 0.01}, "lr"), ({"weight_decay": 0.1}, "weight_decay"),
            ({"lam": 0.0}, "lam 0"), ({"lam": 1.0}, "lam 1"),
            ({"beta_scope": "global"}, "global beta"),
            ({"beta1": 0.9, "lam": 0.0}, "fixed beta1 (AdamW)"),
            ({"maximize": True}, "maximize"),
            ({"betas": (0.8, 0.99), "eps": 1e-6}, "betas, eps"),
            ({"lr": torch.tensor(0.001)}, "tensor lr"),
        ]
        return [OptimizerInput(params=None, kwargs={**kw, "loss_gap": gap}, desc=desc)
                for kw, desc in base]
    return optim_inputs_func


def _errors(cls):
    def optim_error_inputs_func(device, dtype):
        construction = [
            (dict(lr=-0.1), "lr"), (dict(lr=float("nan")), "lr"), (dict(lam=-1.0), "lam"),
            (dict(weight_decay=-1.0), "weight_decay"), (dict(loss_gap="nope"), "loss_gap"),
            (dict(beta_scope="nope"), "beta_scope"), (dict(foreach="yes"), "foreach"),
        ] + ([(dict(beta_max=1.0), "beta_max"), (dict(beta=1.0), "beta")] if cls is AMSGD else
             [(dict(betas=(1.0, 0.9)), "betas"), (dict(eps=0.0), "eps"),
              (dict(beta1=1.5), "beta1")])
        out = [ErrorOptimizerInput(OptimizerInput(params=None, kwargs=kw, desc=name),
                                   error_type=ValueError, error_regex=name.replace("[", r"\["))
               for kw, name in construction]
        out.append(ErrorOptimizerInput(
            OptimizerInput(params=None, kwargs=dict(loss_gap="exact"),
                           desc="exact gap without a closure"),
            error_on=OptimizerErrorEnum.STEP_ERROR, error_type=RuntimeError,
            error_regex="closure"))
        return out
    return optim_error_inputs_func


SCHEDULERS = ([lambda opt: StepLR(opt, gamma=0.9, step_size=10),
               lambda opt: ReduceLROnPlateau(opt)],)


def _info(cls, gap):
    return OptimizerInfo(
        cls, optim_inputs_func=(_inputs_amsgd if cls is AMSGD else _inputs_amadamw)(gap),
        optim_error_inputs_func=_errors(cls), scheduler_inputs=SCHEDULERS,
        supported_impls=("foreach",), supports_sparse=False, supports_complex=True,
        step_requires_closure=gap == "exact", supports_param_groups=True)


INFOS = {f"{cls.__name__}-{gap}": _info(cls, gap)
         for cls in (AMSGD, AMAdamW) for gap in ("taylor", "exact")}


def _cases():
    out = []
    for name, info in INFOS.items():
        for oi in info.optim_inputs_func(CPU):
            out.append(pytest.param(info, oi, id=f"{name}-{oi.desc}"))
    return out


CASES = _cases()


def _gap(info):
    return "exact" if info.step_requires_closure else "taylor"


def _sd_equal(a, b) -> bool:
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(k in b["state"][i] and torch.equal(torch.as_tensor(v),
                                                  torch.as_tensor(b["state"][i][k]))
               for i in a["state"] for k, v in a["state"][i].items())


def _kwargs(oi):
    kw = copy.deepcopy(oi.kwargs)
    return kw


def _step(opt, info, closure):
    """step(closure) — the exact gap needs it; the taylor one works with and without."""
    return opt.step(closure)


def _train(opt, info, closure, scheds, n):
    """n steps, each followed by every scheduler's step (ReduceLROnPlateau reads the loss)."""
    for _ in range(n):
        loss = _step(opt, info, closure)
        for s in scheds:
            s.step(loss.item()) if isinstance(s, ReduceLROnPlateau) else s.step()


# ============================================================================= checks
def test_infos_do_not_specify_global_cliquey_kwargs():
    for info in INFOS.values():
        for oi in info.optim_inputs_func(CPU):
            assert not {"foreach", "fused", "differentiable"} & set(oi.kwargs)
        all_inputs = _get_optim_inputs_including_global_cliquey_kwargs(CPU, torch.float64, info)
        assert len(all_inputs) >= len(info.optim_inputs_func(CPU))


@pytest.mark.parametrize("name", list(INFOS))
def test_errors(name):
    info = INFOS[name]
    for ei in info.optim_error_inputs_func(CPU, torch.float64):
        params = [torch.nn.Parameter(torch.rand(2, 3, dtype=torch.float64))]
        kw = ei.optimizer_error_input.kwargs
        if ei.error_on == OptimizerErrorEnum.CONSTRUCTION_ERROR:
            with pytest.raises(ei.error_type, match=ei.error_regex):
                info.optim_cls(params, **kw)
        else:
            opt = info.optim_cls(params, **kw)
            params[0].grad = torch.rand_like(params[0])
            with pytest.raises(ei.error_type, match=ei.error_regex):
                opt.step()


def _wb(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(torch.randn(10, 5, generator=gen, dtype=dtype))
    b = torch.nn.Parameter(torch.randn(10, generator=gen, dtype=dtype))
    x = torch.randn(5, generator=gen, dtype=dtype)
    return w, b, x


def _wb_closure(opt, w, b, x):
    def closure():
        opt.zero_grad()
        loss = (w.mv(x) + b).pow(2).sum()
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("info,oi", CASES)
def test_forloop_goes_right_direction(info, oi, dtype):
    for sched_ctors in ([],) + tuple(info.scheduler_inputs):
        w, b, x = _wb(dtype)
        opt = info.optim_cls([w, b], **_kwargs(oi))
        scheds = [s(opt) for s in sched_ctors]
        closure = _wb_closure(opt, w, b, x)
        initial = closure().item()
        _train(opt, info, closure, scheds, 5)
        final = closure().item()
        if oi.kwargs.get("maximize"):
            assert final > initial
        else:
            assert final < initial


@pytest.mark.parametrize("key,value", [("weight_decay", 0.1), ("lr", 0.01)])
@pytest.mark.parametrize("info,oi", CASES)
def test_param_groups_with_their_own_hyper_parameter_go_right_direction(info, oi, key, value):
    w, b, x = _wb(torch.float64, 1)
    kw = _kwargs(oi)
    opt = info.optim_cls([{"params": [w]}, {"params": [b], key: value}], **kw)
    closure = _wb_closure(opt, w, b, x)
    initial = closure().item()
    for _ in range(5):
        _step(opt, info, closure)
    final = closure().item()
    assert (final > initial) if kw.get("maximize") else (final < initial)


@pytest.mark.parametrize("name", list(INFOS))
def test_tensor_lr_equals_float_lr(name):
    info = INFOS[name]
    runs = []
    for lr in (0.01, torch.tensor(0.01, dtype=torch.float64)):
        w, b, x = _wb(torch.float64, 2)
        opt = info.optim_cls([w, b], lr=lr, loss_gap=_gap(info))
        closure = _wb_closure(opt, w, b, x)
        for _ in range(6):
            _step(opt, info, closure)
        runs.append((w.detach().clone(), b.detach().clone()))
    assert all(torch.equal(p, q) for p, q in zip(*runs))


@pytest.mark.parametrize("info,oi", CASES)
def test_complex(info, oi):
    """A complex parameter steps exactly as its real view (random gradients, 3 steps)."""
    if info.step_requires_closure:
        pytest.skip("random gradients have no loss to measure the exact gap on")
    gen = torch.Generator().manual_seed(3)
    cp = torch.nn.Parameter(torch.randn(5, 5, dtype=torch.complex128, generator=gen))
    rp = torch.nn.Parameter(torch.view_as_real(cp.detach()).clone())
    oc, orr = info.optim_cls([cp], **_kwargs(oi)), info.optim_cls([rp], **_kwargs(oi))
    for _ in range(3):
        cp.grad = torch.randn(5, 5, dtype=torch.complex128, generator=gen)
        rp.grad = torch.view_as_real(cp.grad).clone()
        oc.step()
        orr.step()
        torch.testing.assert_close(torch.view_as_real(cp.detach()), rp.detach(), rtol=1e-13,
                                   atol=1e-15)


def _rosenbrock(t):
    x, y = t
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


@pytest.mark.parametrize("info,oi", CASES)
def test_complex_2d(info, oi):
    kw = _kwargs(oi)
    split_invariant = (kw.get("beta_scope", "global" if info.optim_cls is AMSGD else "tensor")
                       == "global" or "beta" in kw or "beta1" in kw)
    if not split_invariant:
        pytest.skip("a per-tensor β depends on how the parameters are split into tensors")
    a1 = torch.nn.Parameter(torch.randn(2, dtype=torch.complex128,
                                        generator=torch.Generator().manual_seed(4)) * 0.3)
    re = torch.nn.Parameter(a1.real.detach().clone())
    im = torch.nn.Parameter(a1.imag.detach().clone())
    o1, o2 = info.optim_cls([a1], **kw), info.optim_cls([re, im], **kw)
    sign = -1.0 if kw.get("maximize") else 1.0

    def f(a):
        return sign * 0.01 * _rosenbrock(a).abs()

    def c1():
        o1.zero_grad()
        loss = f(a1)
        loss.backward()
        return loss

    def c2():
        o2.zero_grad()
        loss = f(torch.complex(re, im))
        loss.backward()
        return loss
    for _ in range(8):
        o1.step(c1)
        o2.step(c2)
        torch.testing.assert_close(a1.real.detach(), re.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(a1.imag.detach(), im.detach(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("info,oi", CASES)
def test_step_is_noop_when_params_have_no_grad(info, oi):
    w, b, x = _wb(torch.float64, 5)
    before = [w.detach().clone(), b.detach().clone()]
    opt = info.optim_cls([w, b], **_kwargs(oi))
    opt.step(lambda: torch.tensor(1.0))
    assert torch.equal(w, before[0]) and torch.equal(b, before[1])
    assert not opt.state


@pytest.mark.parametrize("name", list(INFOS))
def test_optimizer_can_be_printed(name):
    info = INFOS[name]
    opt = info.optim_cls([torch.nn.Parameter(torch.ones(2))])
    text = repr(opt)
    assert info.optim_cls.__name__ in text and "lr" in text


def _primed(info, oi, seed=6, steps=5):
    w, b, x = _wb(torch.float64, seed)
    opt = info.optim_cls([w, b], **_kwargs(oi))
    closure = _wb_closure(opt, w, b, x)
    for _ in range(steps):
        _step(opt, info, closure)
    return opt, (w, b, x)


def _clone_run(info, oi, params, state_dict):
    w, b, x = (t.detach().clone() for t in params)
    w, b = torch.nn.Parameter(w), torch.nn.Parameter(b)
    opt = info.optim_cls([w, b], **_kwargs(oi))
    opt.load_state_dict(state_dict)
    return opt, (w, b, x)


def _run_both(info, a, b, n=5):
    oa, (wa, ba, xa) = a
    ob, (wb, bb, xb) = b
    ca, cb = _wb_closure(oa, wa, ba, xa), _wb_closure(ob, wb, bb, xb)
    for _ in range(n):
        _step(oa, info, ca)
        _step(ob, info, cb)
        assert torch.equal(wa, wb) and torch.equal(ba, bb)


@pytest.mark.parametrize("info,oi", CASES)
def test_state_dict_deterministic_and_round_trip(info, oi):
    opt, params = _primed(info, oi)
    sd = copy.deepcopy(opt.state_dict())
    sd_c = copy.deepcopy(opt.state_dict())
    clone = _clone_run(info, oi, params, sd_c)
    _run_both(info, (opt, params), clone)
    # equal (not identical) parameters give equal dicts; repeated groups look alike
    assert _sd_equal(opt.state_dict(), clone[0].state_dict())
    assert _sd_equal(sd, sd) and sd_c is not sd
    clone[0].param_groups.extend(clone[0].param_groups)
    assert opt.state_dict()["param_groups"][-1] == clone[0].state_dict()["param_groups"][-1]


@pytest.mark.parametrize("info,oi", CASES)
def test_can_load_older_state_dict(info, oi):
    """Global 'cliquey' keys (foreach, …) and maximize missing from the saved groups, and the
    step saved as a number: the older checkpoint loads and training continues identically."""
    opt, params = _primed(info, oi)
    sd = copy.deepcopy(opt.state_dict())
    old = copy.deepcopy(sd)
    for g in old["param_groups"]:
        for k in ("foreach", "maximize", "differentiable", "fused", "capturable"):
            g.pop(k, None)
    for st in old["state"].values():
        if "step" in st:
            st["step"] = st["step"].item()
    a = _clone_run(info, oi, params, sd)
    b = _clone_run(info, oi, params, old)
    for g in b[0].param_groups:
        assert g["foreach"] is None and g["maximize"] == b[0].defaults["maximize"]
    if oi.kwargs.get("maximize"):      # the default (False) now applies to the loaded groups
        return
    _run_both(info, a, b)


@pytest.mark.parametrize("info,oi", CASES)
def test_save_load_equality_with_weights_only(info, oi):
    opt, params = _primed(info, oi)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    a = _clone_run(info, oi, params, copy.deepcopy(opt.state_dict()))
    b = _clone_run(info, oi, params, loaded)
    _run_both(info, a, b)


@pytest.mark.parametrize("name", list(INFOS))
def test_deepcopy_copies_all_public_attrs(name):
    info = INFOS[name]
    oi = info.optim_inputs_func(CPU)[0]
    opt, _ = _primed(info, oi)
    public = lambda o: {k for k in o.__dict__ if not k.startswith("_")}  # noqa: E731
    other = copy.deepcopy(opt)
    assert public(opt) == public(other)
    assert other.last_stats is not None


@pytest.mark.parametrize("name", list(INFOS))
def test_step_and_state_dict_hooks(name):
    info = INFOS[name]
    oi = info.optim_inputs_func(CPU)[0]
    w, b, x = _wb(torch.float64, 7)
    opt = info.optim_cls([w, b], **_kwargs(oi))
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    h2 = opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    closure = _wb_closure(opt, w, b, x)
    opt.step(closure)
    assert seen == ["pre", "post"]
    h1.remove()
    h2.remove()
    opt.step(closure)
    assert seen == ["pre", "post"]

    def sd_post(o, sd):
        sd["extra"] = 1
        return sd
    opt.register_state_dict_post_hook(sd_post)
    assert opt.state_dict()["extra"] == 1
    loaded = []
    opt.register_load_state_dict_pre_hook(lambda o, sd: loaded.append("pre") or sd)
    opt.register_load_state_dict_post_hook(lambda o: loaded.append("post"))
    sd = opt.state_dict()
    sd.pop("extra")
    opt.load_state_dict(sd)
    assert loaded == ["pre", "post"]


@pytest.mark.parametrize("info,oi", CASES)
def test_grads_are_never_inplaced_into(info, oi):
    w, b, x = _wb(torch.float64, 8)
    opt = info.optim_cls([w, b], **_kwargs(oi))
    closure = _wb_closure(opt, w, b, x)
    for _ in range(3):
        closure()
        grads = [w.grad.clone(), b.grad.clone()]
        opt.step(lambda: (w.mv(x) + b).pow(2).sum().detach())
        assert torch.equal(w.grad, grads[0]) and torch.equal(b.grad, grads[1])


@pytest.mark.parametrize("info,oi", CASES)
def test_non_empty_state(info, oi):
    opt, (w, b, _) = _primed(info, oi, steps=1)
    assert opt.state[w] and opt.state[b]


@pytest.mark.parametrize("name", list(INFOS))
def test_named_parameters(name):
    """Groups of (name, parameter) pairs: the state dict carries the names, and training from a
    named state dict continues identically."""
    info = INFOS[name]
    oi = info.optim_inputs_func(CPU)[0]
    w, b, x = _wb(torch.float64, 9)
    opt = info.optim_cls([("w", w), ("b", b)], **_kwargs(oi))
    closure = _wb_closure(opt, w, b, x)
    for _ in range(3):
        _step(opt, info, closure)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["param_names"] == ["w", "b"]
    w2, b2 = (torch.nn.Parameter(t.detach().clone()) for t in (w, b))
    opt2 = info.optim_cls([("w", w2), ("b", b2)], **_kwargs(oi))
    opt2.load_state_dict(copy.deepcopy(sd))
    _run_both(info, (opt, (w, b, x)), (opt2, (w2, b2, x)), n=3)


@pytest.mark.parametrize("info,oi", CASES)
def test_foreach_matches_forloop(info, oi):
    runs = []
    for foreach in (False, True):
        w, b, x = _wb(torch.float64, 10)
        opt = info.optim_cls([w, b], foreach=foreach, **_kwargs(oi))
        closure = _wb_closure(opt, w, b, x)
        for _ in range(5):
            _step(opt, info, closure)
        runs.append((w.detach().clone(), b.detach().clone(), opt.last_stats))
    # the foreach kernels and the per-tensor loop run the same elementwise operations:
    # a few ulps after 5 steps
    for p, q in zip(runs[0][:2], runs[1][:2]):
        torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-15)
    for k in runs[0][2]:
        torch.testing.assert_close(runs[0][2][k], runs[1][2][k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(INFOS))
def test_param_group_with_lrscheduler_goes_right_direction(name):
    info = INFOS[name]
    for sched_ctors in info.scheduler_inputs:
        w, b, x = _wb(torch.float64, 11)
        opt = info.optim_cls([{"params": [w]}, {"params": [b], "lr": 0.005}],
                             loss_gap=_gap(info))
        scheds = [s(opt) for s in sched_ctors]
        closure = _wb_closure(opt, w, b, x)
        initial = closure().item()
        _train(opt, info, closure, scheds, 10)
        assert closure().item() < initial
        assert all(math.isfinite(p.sum().item()) for p in (w, b))

