"""``torch.compile(opt.step)`` of ``AMSGD`` / ``AMAdamW`` (issue 11).

* Inductor (C++ on the CPU here) gives the same parameters and the same ``last_stats`` as eager;
* the whole step is ONE graph (``fullgraph=True``: no graph break, e.g. on the step count), and
  a model with tensors of several shapes compiles once for the first step (state creation) and
  once for the steady state: no recompilation per tensor shape or per step.

Compiling is slow on a small CPU: the problems are tiny (four tensors) and the inductor tests run
each optimizer once.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from adamem_core import AMAdamW, AMSGD

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def _net(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    net = net.double()
    gen = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(16, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    return net, X, Y


def _train(net, X, Y, opt, step, n):
    for _ in range(n):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(X), Y).backward()
        step()


CONFIGS = [
    (AMSGD, dict(lr=0.05)),
    (AMSGD, dict(lr=0.05, beta_scope="tensor", lam=0.5, weight_decay=1e-3)),
    (AMAdamW, dict(lr=0.01)),
    (AMAdamW, dict(lr=0.01, beta_scope="global", weight_decay=0.1)),
]
IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(CONFIGS)]


@pytest.mark.parametrize("cls,kw", [CONFIGS[0], CONFIGS[2]], ids=[IDS[0], IDS[2]])
def test_inductor_compiled_step_equals_eager_with_last_stats(cls, kw):
    """Parameters and every statistic after 4 compiled steps equal eager's. Inductor may fuse
    and reorder the float64 reductions: a few ulps of each sum, amplified in β by at most
    1/denominator (here ≳ 1e-3 of the terms): 1e-10 relative is ample and still catches any
    wrong formula."""
    na, X, Y = _net()
    nb, _, _ = _net()
    oa, ob = cls(na.parameters(), **kw), cls(nb.parameters(), **kw)
    step = torch.compile(ob.step, fullgraph=True, backend="inductor")
    for _ in range(4):
        _train(na, X, Y, oa, oa.step, 1)
        _train(nb, X, Y, ob, step, 1)
        assert ob.last_stats is not None
        assert oa.last_stats.keys() == ob.last_stats.keys()
        for k in oa.last_stats:
            torch.testing.assert_close(ob.last_stats[k], oa.last_stats[k], rtol=1e-10,
                                       atol=1e-14, msg=lambda m, k=k: f"{k}: {m}")
    for p, q in zip(na.parameters(), nb.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_one_graph_per_phase_no_break_no_recompile_per_shape(cls, kw):
    """``fullgraph=True`` fails on any graph break (``float(state['step'])`` was one); over 6
    steps on tensors of 4 shapes, dynamo builds 2 graphs (first step: state creation; then the
    steady state) — not one per shape. ``last_stats`` follow eager (aot_eager backend: the same
    kernels as eager, so 1e-12)."""
    na, X, Y = _net(2)
    nb, _, _ = _net(2)
    oa, ob = cls(na.parameters(), **kw), cls(nb.parameters(), **kw)
    step = torch.compile(ob.step, fullgraph=True, backend="aot_eager")
    for _ in range(6):
        _train(na, X, Y, oa, oa.step, 1)
        _train(nb, X, Y, ob, step, 1)
        for k in oa.last_stats:
            torch.testing.assert_close(ob.last_stats[k], oa.last_stats[k], rtol=1e-12,
                                       atol=1e-15)
    assert counters["stats"]["unique_graphs"] <= 2, dict(counters["stats"])
    assert not counters["graph_break"], dict(counters["graph_break"])
    for p, q in zip(na.parameters(), nb.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-12, atol=1e-15)


def test_explain_reports_no_graph_break():
    net, X, Y = _net(3)
    for cls in (AMSGD, AMAdamW):
        opt = cls(net.parameters(), lr=0.01)
        _train(net, X, Y, opt, opt.step, 2)
        torch.nn.functional.mse_loss(net(X), Y).backward()
        ex = torch._dynamo.explain(opt.step)()
        assert ex.graph_break_count == 0 and ex.graph_count == 1, ex.break_reasons
