"""The optimizers' fused path (``fused=True``, ``adamem_core.fused``; issue 11's speed).

The fused path computes the same maths as the eager path (``model.py``'s one-pass functions,
compiled by inductor): the tests run both on the same problem and compare parameters and every
``last_stats`` entry, over the configurations that take different branches (scopes, decoupled
and coupled weight decay, Nesterov, fixed β, the exact gap, a schedule through η = 0, several
parameter groups, complex parameters, float32). They also check that the compiled kernels really
ran (a silent fallback would make the comparison vacuous), that a failing compile falls back to
the eager path with one warning, and that ``torch.compile(opt.step)`` works with it.

Tolerances: in float64 the fused kernels add each sum in a different order than ``torch.dot``
(a few ulps of each sum, ~1e-16 relative); β divides by ‖d − g‖²_W, which here is ≳ 1e-3 of the
terms it is formed from, and the steps compound over a handful of iterations: 1e-10 relative
(atol 1e-13 for values near 0) is ample and still catches a wrong term (those are O(1e-2) or
more). In float32 the same argument with ε = 6e-8 gives 1e-4.

Compiling is slow on a small CPU (seconds per program; programs are cached per process and on
disk by inductor), so the networks are tiny and share shapes across tests.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from adamem_core import AMAdamW, AMSGD
from adamem_core import fused as fused_mod
from adamem_core import model

pytestmark = pytest.mark.timeout(900)


def _net(dtype=torch.float64, seed=0, complex_head=False):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    net = net.to(dtype)
    gen = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(16, 3, generator=gen, dtype=dtype)
    Y = torch.randn(16, 2, generator=gen, dtype=dtype)
    extra = []
    if complex_head:   # a complex parameter that enters the loss through |z|²
        z = torch.nn.Parameter(torch.randn(4, dtype=torch.complex128, generator=gen))
        extra.append(z)
    return net, X, Y, extra


def _loss(net, X, Y, extra):
    loss = torch.nn.functional.mse_loss(net(X), Y)
    for z in extra:
        loss = loss + 0.1 * (z.abs() ** 2 - 1.0).pow(2).sum()
    return loss


def _run(cls, kw, fused, steps=6, dtype=torch.float64, schedule=None, groups=False,
         complex_head=False, closure=False):
    net, X, Y, extra = _net(dtype, complex_head=complex_head)
    params = ([{"params": net[0].parameters(), "lr": kw.get("lr", 0.05) * 0.5},
               {"params": net[2].parameters()}] if groups else list(net.parameters()))
    if extra:
        params = params + ([{"params": extra}] if groups else extra)
    opt = cls(params, fused=fused, **kw)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule else None
    stats = []
    for _ in range(steps):
        def closure_fn():
            opt.zero_grad()
            loss = _loss(net, X, Y, extra)
            loss.backward()
            return loss
        if closure:
            opt.step(closure_fn)
        else:
            closure_fn()
            opt.step()
        if sched:
            sched.step()
        stats.append({k: v.detach().clone() for k, v in opt.last_stats.items()})
    params = [p.detach().clone() for p in list(net.parameters()) + extra]
    return params, stats, opt


def _assert_same(a, b, rtol, atol):
    (pa, sa, _), (pb, sb, _) = a, b
    for p, q in zip(pa, pb):
        torch.testing.assert_close(q, p, rtol=rtol, atol=atol)
    for t, (x, y) in enumerate(zip(sa, sb)):
        assert x.keys() == y.keys()
        for k in x:
            torch.testing.assert_close(y[k], x[k], rtol=rtol, atol=atol,
                                       msg=lambda m, k=k, t=t: f"step {t}, {k}: {m}")


@pytest.fixture(autouse=True)
def _fused_state():
    """Each test starts with the fused path available (a fallback test switches it off)."""
    saved = dict(fused_mod._FAILED)
    fused_mod._FAILED.clear()
    yield
    fused_mod._FAILED.clear()
    fused_mod._FAILED.update(saved)


# one warm-up schedule that goes through η = 0 and back (warm-up from 0, a step at 0)
def _through_zero(t):
    return [0.0, 0.5, 1.0, 0.0, 0.0, 1.0, 0.3][min(t, 6)]


CASES = [
    (AMSGD, dict(lr=0.05), {}),
    (AMSGD, dict(lr=0.05, beta_scope="tensor", lam=0.5, weight_decay=1e-2), {}),
    (AMSGD, dict(lr=0.05, nesterov=True, beta=0.7), {}),
    (AMSGD, dict(lr=0.05, loss_gap="exact"), {"closure": True}),
    (AMSGD, dict(lr=0.05), {"groups": True, "schedule": _through_zero}),
    (AMAdamW, dict(lr=0.02), {}),
    (AMAdamW, dict(lr=0.02, beta_scope="global", weight_decay=0.1), {}),
    (AMAdamW, dict(lr=0.02, beta1=0.8, lam=0.0), {}),
    (AMAdamW, dict(lr=0.02, loss_gap="exact"), {"closure": True}),
    (AMAdamW, dict(lr=0.02, weight_decay=0.05), {"groups": True, "schedule": _through_zero}),
    (AMAdamW, dict(lr=0.02), {"complex_head": True}),
    (AMSGD, dict(lr=0.05, beta_scope="tensor"), {"complex_head": True}),
]
IDS = [f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("cls,kw,opts", CASES, ids=IDS)
def test_fused_equals_eager_float64(cls, kw, opts):
    eager = _run(cls, kw, False, **opts)
    fused = _run(cls, kw, True, **opts)
    assert fused_mod.available(), fused_mod.failure()
    assert fused_mod._COMPILED, "the fused step ran no compiled program"
    _assert_same(eager, fused, rtol=1e-10, atol=1e-13)
    for p in fused[0]:
        assert torch.isfinite(torch.view_as_real(p) if p.is_complex() else p).all()


@pytest.mark.parametrize("cls,kw", [(AMSGD, dict(lr=0.05)), (AMAdamW, dict(lr=0.02))],
                         ids=["AMSGD", "AMAdamW"])
def test_fused_equals_eager_float32(cls, kw):
    _assert_same(_run(cls, kw, False, dtype=torch.float32),
                 _run(cls, kw, True, dtype=torch.float32), rtol=1e-4, atol=1e-6)


def test_fused_first_adamw_step_is_adamw():
    """The fused path keeps AM-AdamW's first-step convention: the first step equals AdamW's
    (issue 11's example f = ½(x − 100.01)², x₀ = 100, μ = 0.1, lr 0.01)."""
    for cls, kw in ((AMAdamW, dict(fused=True)), (torch.optim.AdamW, {})):
        x = torch.nn.Parameter(torch.tensor([100.0], dtype=torch.float64))
        opt = cls([x], lr=0.01, weight_decay=0.1, **kw)
        (0.5 * (x - 100.01) ** 2).sum().backward()
        opt.step()
        if cls is AMAdamW:
            am = x.detach().clone()
        else:
            torch.testing.assert_close(am, x.detach(), rtol=1e-15, atol=1e-12)


def test_adamw_sums_pass_only_reads_and_the_update_pass_writes_the_second_moment():
    """The one-pass functions' contract (``model.adamw_step_sums`` / ``adamw_step_update``):
    the sums pass writes nothing (a compiled reduction that stored v would cost two more passes
    over memory) yet sums with AdamW's new second moment; the update pass then stores exactly
    that second moment, d and x. Checked against the eager path's functions."""
    gen = torch.Generator().manual_seed(3)
    g, d, x = (torch.randn(40, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    v = torch.rand(40, 3, generator=gen, dtype=torch.float64) * 0.1
    beta2, lr_prev, wd_prev, lam, wd, lr, beta = 0.999, 0.02, 0.1, 0.3, 0.05, 0.01, 0.7
    s_prev, e_prev, s, e = 1.1, 1e-8, 1.3, 2e-8
    f64 = dict(dtype=torch.float64)
    inputs = [t.clone() for t in (g, d, v, x)]
    sums = model.adamw_step_sums(g, d, v, x, torch.tensor([beta2, lr_prev, wd_prev, lam, wd],
                                                          **f64),
                                 torch.tensor([s_prev, e_prev, s, e], **f64))
    for before, after in zip(inputs, (g, d, v, x)):
        assert torch.equal(before, after), "the sums pass wrote to its inputs"
    v_new = v * beta2 + (1 - beta2) * g * g
    P = model.precondition(v_new, s, e)
    _, a, c = model.adamw_parts(g, d, P, lam, wd, x, with_gap=False)
    gap = model.taylor_gap(g, d, lr_prev, model.precondition(v, s_prev, e_prev), wd_prev, x)
    want = torch.stack([gap, a, c, (1.0 / (1.0 + lam * P)).sum()])
    torch.testing.assert_close(sums, want, rtol=1e-12, atol=0.0)

    model.adamw_step_update(g, d, v, x, torch.tensor([lam, lr, wd, beta2], **f64),
                            torch.tensor([beta, s, e], **f64))
    torch.testing.assert_close(v, v_new, rtol=1e-15, atol=0.0)
    d_new = inputs[1] + model.adamw_direction_weight(beta, lam, P) * (g - inputs[1])
    torch.testing.assert_close(d, d_new, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(x, inputs[3] * (1 - lr * wd) - lr * d_new / P, rtol=1e-14,
                               atol=1e-15)


def test_fused_lr_zero_keeps_parameters_and_stats_finite():
    net, X, Y, _ = _net()
    before = [p.detach().clone() for p in net.parameters()]
    opt = AMAdamW(net.parameters(), lr=0.0, fused=True)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(X), Y).backward()
        opt.step()
        assert all(torch.isfinite(v).all() for v in opt.last_stats.values())
    for p, q in zip(before, net.parameters()):
        assert torch.equal(p, q.detach())


def test_fused_and_foreach_together_are_refused():
    w = torch.nn.Parameter(torch.zeros(2))
    for cls in (AMSGD, AMAdamW):
        with pytest.raises(RuntimeError, match="fused.*foreach"):
            cls([w], fused=True, foreach=True)
        with pytest.raises(ValueError, match="fused"):
            cls([w], fused="yes")


def test_failed_compile_falls_back_to_eager_with_one_warning(monkeypatch):
    """Where compiling fails (no compiler, say), the step still computes the same thing: one
    RuntimeWarning, the failing call runs eagerly, the following steps take the eager path."""
    def broken(*args, **kwargs):
        def fail(*a, **k):
            raise RuntimeError("no C++ compiler found")
        return fail
    monkeypatch.setattr(fused_mod, "_COMPILED", {})
    monkeypatch.setattr(fused_mod.torch, "compile", broken)
    eager = _run(AMAdamW, dict(lr=0.02), False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = _run(AMAdamW, dict(lr=0.02), True)
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "no C++ compiler found" in msgs[0], msgs
    assert not fused_mod.available() and "no C++ compiler" in fused_mod.failure()
    _assert_same(eager, fallback, rtol=1e-12, atol=1e-15)


def test_fused_under_torch_compile_of_the_step_equals_eager():
    """``torch.compile(opt.step)`` with ``fused=True`` traces ``model.py``'s one-pass functions
    inline (no nested compile): same parameters and statistics as eager."""
    torch._dynamo.reset()
    na, X, Y, _ = _net(seed=4)
    nb, _, _, _ = _net(seed=4)
    oa = AMAdamW(na.parameters(), lr=0.02)
    ob = AMAdamW(nb.parameters(), lr=0.02, fused=True)
    step = torch.compile(ob.step, fullgraph=True, backend="aot_eager")
    for _ in range(3):
        for net, opt, st in ((na, oa, oa.step), (nb, ob, step)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(X), Y).backward()
            st()
        for k in oa.last_stats:
            torch.testing.assert_close(ob.last_stats[k], oa.last_stats[k], rtol=1e-10,
                                       atol=1e-13)
    for p, q in zip(na.parameters(), nb.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-13)
    torch._dynamo.reset()


def test_distributed_steps_take_the_eager_path():
    """A step with a reduction plan (sharded or data-parallel training) runs eagerly: its sums
    must go through ``adamem_core.distributed``."""
    w = torch.nn.Parameter(torch.zeros(2))
    opt = AMAdamW([w], fused=True)
    assert opt._fused_step(None) and not opt._fused_step(object())
    assert not AMAdamW([w])._fused_step(None)
