"""Tests of ``AMSGD`` / ``AMAdamW`` (``adamem_core.optim``) and the ``OPTIMIZERS`` registry.

* reference equivalence: fixed β with λ = 0 is torch's SGD(momentum=β, dampening=β) / AdamW;
* the optimizer classes reproduce the closed forms of ``adamem_core.model`` step by step;
* the torch.optim contract: validation, param groups and schedulers, state_dict round trip,
  closure, maximize, no-grad parameters, sparse gradients, dtypes, devices, no host sync;
* a convergence sanity check on an ill-conditioned quadratic.

Conventions (DESIGN.md §3): one table of optimizers under test (``OPTS``), parametrised over
problem × dtype where it makes sense.
"""

from __future__ import annotations

import copy
import math
from typing import Callable

import pytest
import torch

from adamem_core import OPTIMIZERS, AMAdamW, AMSGD, model
from adamem_core import optim as optim_module

pytestmark = pytest.mark.numerical   # rerun by scripts/test.sh with NumPy's dispatch limited

CPU = torch.device("cpu")
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _one_cpu_thread():
    """The problems here are tiny: intra-op threads only add contention (4× slower on a busy
    2-core machine). Restored after each test."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ============================================================================= problems
class Problem:
    """Deterministic full-batch problems: ``make(dtype, device) -> (params, loss_fn)``."""

    def __init__(self, name: str, build: Callable, lrs: dict[str, float]) -> None:
        self.name, self.build, self.lrs = name, build, lrs

    def make(self, dtype=torch.float64, device=CPU):
        return self.build(dtype, device)

    def __repr__(self) -> str:
        return self.name


def _quadratic(dtype, device):
    # f = ½ Σ h_i w_i², two tensors, curvatures in [1, 10]
    w1 = torch.nn.Parameter(torch.tensor([-2.6, 0.8], dtype=dtype, device=device))
    w2 = torch.nn.Parameter(torch.tensor([[1.0, -0.5, 2.0]], dtype=dtype, device=device))
    h1 = torch.tensor([1.0, 10.0], dtype=dtype, device=device)
    h2 = torch.tensor([[3.0, 1.5, 6.0]], dtype=dtype, device=device)

    def loss():
        return 0.5 * ((h1 * w1 ** 2).sum() + (h2 * w2 ** 2).sum())
    return [w1, w2], loss


def _mlp_net(dtype, device, sizes=(5, 16, 3), seed=0):
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen) / math.sqrt(a))
            lin.bias.copy_(0.1 * torch.randn(b, generator=gen))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers).to(device=device, dtype=dtype)


def _mlp(dtype, device):
    net = _mlp_net(dtype, device)
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(64, 5, generator=gen).to(device=device, dtype=dtype)
    Y = torch.sin(X @ torch.randn(5, 3, generator=gen).to(device=device, dtype=dtype))

    def loss():
        return torch.nn.functional.mse_loss(net(X), Y)
    return list(net.parameters()), loss


def _logreg(dtype, device):
    gen = torch.Generator().manual_seed(2)
    lin = torch.nn.Linear(6, 4).to(device=device, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(0.1 * torch.randn(4, 6, generator=gen))
        lin.bias.zero_()
    X = torch.randn(64, 6, generator=gen).to(device=device, dtype=dtype)
    y = (X[:, :4] + 0.3 * torch.randn(64, 4, generator=gen).to(device=device, dtype=dtype)
         ).argmax(1)

    def loss():
        return torch.nn.functional.cross_entropy(lin(X), y)
    return list(lin.parameters()), loss


PROBLEMS = [
    Problem("quadratic", _quadratic, {"sgd": 0.05, "adamw": 0.05}),
    Problem("mlp", _mlp, {"sgd": 0.2, "adamw": 0.02}),
    Problem("logreg", _logreg, {"sgd": 0.5, "adamw": 0.05}),
]
DTYPES = [torch.float64, torch.float32, torch.bfloat16]


# ============================================================================ optimizers under test
# name -> (class, family, keyword arguments except lr)
OPTS: dict[str, tuple[type, str, dict]] = {
    "am_sgd": (AMSGD, "sgd", {}),
    "am_sgd_tensor_exact": (AMSGD, "sgd", dict(beta_scope="tensor", loss_gap="exact", lam=1.0)),
    "am_sgd_wd_nesterov": (AMSGD, "sgd", dict(weight_decay=1e-3, nesterov=True, lam=0.0)),
    "ema_sgd": (AMSGD, "sgd", dict(beta=0.9, lam=0.0)),
    "am_adamw": (AMAdamW, "adamw", {}),
    "am_adamw_global_exact": (AMAdamW, "adamw", dict(beta_scope="global", loss_gap="exact",
                                                     lam=1.0)),
    "adamw_fixed": (AMAdamW, "adamw", dict(beta1=0.9, lam=0.0)),
}
OPT_NAMES = list(OPTS)


def make_opt(name: str, params, problem: Problem, **override):
    cls, family, kw = OPTS[name]
    return cls(params, lr=problem.lrs[family], **{**kw, **override})


def closure_for(opt, loss_fn):
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss
    return closure


def run(opt, loss_fn, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        losses.append(float(opt.step(closure_for(opt, loss_fn)).detach()))
    return losses


def flat(params) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in params])


def assert_rel_close(a: torch.Tensor, b: torch.Tensor, rel: float, msg: str = "",
                     floor: float = 1e-2) -> None:
    """Elementwise |a − b| ≤ rel·(|b| + floor·max|b|): relative to each entry, floored at a
    fraction of the largest entry (entries that cross zero; floor=1: relative to max|b|)."""
    a, b = a.double(), b.double()
    floor = b.abs().max() * floor
    err = ((a - b).abs() / (b.abs() + floor)).max()
    assert err <= rel, f"{msg} max relative error {float(err):.3e} > {rel:g}"


def stats_equal(s1: dict, s2: dict) -> bool:
    return s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)


# ========================================================================= 1. reference equivalence
N_REF_STEPS = 60


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("beta,wd,maximize", [(0.9, 0.0, False), (0.5, 1e-3, False),
                                              (0.9, 1e-2, True)])
def test_fixed_beta_lam0_amsgd_equals_torch_sgd_dampened(beta, wd, maximize, foreach):
    """AMSGD(beta=β, lam=0) is EMA heavy ball = torch.optim.SGD(momentum=β, dampening=β)."""
    prob = PROBLEMS[1]
    p_am, loss_am = prob.make(torch.float64)
    p_ref, loss_ref = prob.make(torch.float64)
    sign = -1.0 if maximize else 1.0
    am = AMSGD(p_am, lr=0.2, beta=beta, lam=0.0, weight_decay=wd, maximize=maximize,
               foreach=foreach)
    ref = torch.optim.SGD(p_ref, lr=0.2, momentum=beta, dampening=beta, weight_decay=wd,
                          maximize=maximize)
    for _ in range(N_REF_STEPS):
        am.step(closure_for(am, lambda: sign * loss_am()))
        ref.step(closure_for(ref, lambda: sign * loss_ref()))
    assert not torch.equal(flat(p_am), flat(prob.make()[0]))          # it moved
    assert_rel_close(flat(p_am), flat(p_ref), 1e-12, "AMSGD vs torch SGD:")
    for p, q in zip(p_am, p_ref):
        assert_rel_close(am.state[p]["direction"], ref.state[q]["momentum_buffer"], 1e-12,
                         floor=1.0)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("betas,eps,wd,maximize", [((0.9, 0.999), 1e-8, 1e-2, False),
                                                   ((0.8, 0.99), 1e-6, 0.0, False),
                                                   ((0.95, 0.9), 1e-8, 0.1, True)])
def test_fixed_beta1_lam0_amadamw_equals_torch_adamw(betas, eps, wd, maximize, foreach):
    """AMAdamW(beta1=β₁, lam=0) is exactly torch.optim.AdamW(betas=(β₁, β₂))."""
    prob = PROBLEMS[1]
    p_am, loss_am = prob.make(torch.float64)
    p_ref, loss_ref = prob.make(torch.float64)
    sign = -1.0 if maximize else 1.0
    # betas[0] (β₁max) is replaced by the fixed β₁: pass a different one to prove it
    am = AMAdamW(p_am, lr=0.02, betas=(0.5, betas[1]), beta1=betas[0], eps=eps,
                 weight_decay=wd, lam=0.0, maximize=maximize, foreach=foreach)
    ref = torch.optim.AdamW(p_ref, lr=0.02, betas=betas, eps=eps, weight_decay=wd,
                            maximize=maximize)
    for _ in range(N_REF_STEPS):
        am.step(closure_for(am, lambda: sign * loss_am()))
        ref.step(closure_for(ref, lambda: sign * loss_ref()))
    assert_rel_close(flat(p_am), flat(p_ref), 1e-12, "AMAdamW vs torch AdamW:")
    for p, q in zip(p_am, p_ref):
        assert_rel_close(am.state[p]["exp_avg"], ref.state[q]["exp_avg"], 1e-12, floor=1.0)
        assert_rel_close(am.state[p]["exp_avg_sq"], ref.state[q]["exp_avg_sq"], 1e-12, floor=1.0)


# =================================================================== 2. the classes follow model.py
def _grads(seed: int, shapes, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("nesterov", [False, True])
def test_amsgd_single_tensor_steps_follow_the_closed_form(lam, nesterov):
    """Prescribed gradients on one flat parameter: β, the statistics, the memory and the step
    are model.beta_sgd / model.update_direction, step after step (taylor gap)."""
    lr, bmax = 0.3, 0.9
    x = torch.nn.Parameter(torch.linspace(-1, 1, 7, dtype=torch.float64))
    opt = AMSGD([x], lr=lr, lam=lam, beta_max=bmax, nesterov=nesterov)
    seen, betas = [], []
    for t, g in enumerate(_grads(0, [(7,)] * 10)):
        g = g + 0.8 * (seen[-1] if seen else 0)          # correlated gradients: β varies
        seen.append(g)
        d = g.clone() if t == 0 else opt.state[x]["direction"].clone()
        x0 = x.detach().clone()
        x.grad = g.clone()
        opt.step()
        gg, gd, dd = (g @ g), (g @ d), (d @ d)
        terms = model.beta_sgd(gg, gd, dd, lr, lam, bmax)
        s = opt.last_stats
        assert s["beta"].shape == () and s["beta"].dtype == torch.float64
        torch.testing.assert_close(s["beta"], terms.beta, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(s["numerator"], gg + 2 * lam * gd - lam * dd,
                                   rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(s["denominator"], ((d - g) ** 2).sum(), rtol=1e-12,
                                   atol=1e-12)
        torch.testing.assert_close(s["loss_gap"], lr * gd, rtol=1e-12, atol=1e-14)
        beta = float(terms.beta)
        betas.append(beta)
        assert 0.0 <= beta <= bmax
        if t == 0:
            assert beta == 0.0                                 # d_0 = g_0
        torch.testing.assert_close(s["effective_momentum"], torch.tensor(
            (beta + lam) / (1 + lam), dtype=torch.float64), rtol=1e-12, atol=1e-14)
        d_new = model.update_direction(g, d, beta, lam)
        torch.testing.assert_close(opt.state[x]["direction"], d_new, rtol=1e-12, atol=1e-14)
        a, b = model.direction_coefficients(beta, lam)
        step = a * d_new + b * g if nesterov else d_new
        torch.testing.assert_close(x.detach(), x0 - lr * step, rtol=1e-12, atol=1e-14)
    assert len(set(betas[1:])) > 1, betas       # β does vary on this sequence


def _snap(state: dict) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _adamw_expected(st: dict | None, g, x, lr, lam, beta1_max, beta2, eps, wd, gap=None,
                    x_prev=None):
    """One AM-AdamW step from the state before it, written from the conventions (model.py):
    the taylor gap is ⟨g_t, x_{t−1} − x_t⟩ measured on the iterates the test kept (``x_prev``);
    the first step (``st is None``) is AdamW's: β = β₁max, λ not applied."""
    first = st is None
    if first:
        st = dict(step=0, exp_avg=torch.zeros_like(g), exp_avg_sq=torch.zeros_like(g),
                  prod_beta1=1.0)
    step = int(st["step"]) + 1
    v = beta2 * st["exp_avg_sq"] + (1 - beta2) * g * g
    bc1 = model.bias_correction1(beta1_max, float(st["prod_beta1"]))
    P = bc1 * (v.sqrt() / math.sqrt(1 - beta2 ** step) + eps)
    d = st["exp_avg"]
    if gap is None:
        gap = (torch.tensor(0.0, dtype=torch.float64) if first else
               (g * (x_prev - x)).sum())
    terms = model.beta_adamw(g, d, P, lr, 0.0 if first else lam, beta1_max, wd, x, gap)
    if first:
        d_new = (1 - beta1_max) * g
    else:
        d_new = model.update_direction_adamw(g, d, terms.beta, lam, P)
    x_new = (1 - lr * wd) * x - lr * d_new / P
    return terms, d_new, v, x_new, P


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_amadamw_single_tensor_steps_follow_the_closed_form(lam, wd):
    lr, betas, eps = 0.05, (0.9, 0.99), 1e-8
    x = torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=torch.float64))
    opt = AMAdamW([x], lr=lr, betas=betas, eps=eps, weight_decay=wd, lam=lam)
    prev = None
    betas_seen = []
    x_prev = None
    for t, g in enumerate(_grads(2, [(6,)] * 10)):
        g = g - 0.5 * prev if prev is not None else g        # alternating: β leaves the cap
        prev = g
        st = None if t == 0 else _snap(opt.state[x])
        x0 = x.detach().clone()
        terms, d_new, v, x_new, P = _adamw_expected(st, g, x0, lr, lam, betas[0], betas[1],
                                                    eps, wd, x_prev=x_prev)
        x_prev = x0
        x.grad = g.clone()
        opt.step()
        s = opt.last_stats
        assert s["beta"].shape == (1,)                       # per tensor by default
        beta_used = betas[0] if t == 0 else terms.beta      # the first step is AdamW's
        torch.testing.assert_close(s["beta"][0], torch.as_tensor(beta_used, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(s["model_beta"][0], terms.beta, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(s["numerator"][0], terms.numerator, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(s["denominator"][0], terms.denominator, rtol=1e-10,
                                   atol=1e-12)
        # the gap: ⟨g_t, x_{t−1} − x_t⟩ on the iterates (x_{t−1} − x_t loses ~1e-15/|Δx| of
        # relative precision to cancellation: Δx ≳ 1e-3 here)
        torch.testing.assert_close(s["loss_gap"][0], terms.gap.to(torch.float64),
                                   rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(s["effective_momentum"][0], torch.as_tensor(
            betas[0], dtype=torch.float64) if t == 0 else
            model.effective_momentum_adamw(terms.beta, lam, P).mean(), rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(opt.state[x]["exp_avg"], d_new, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(opt.state[x]["exp_avg_sq"], v, rtol=1e-12, atol=1e-16)
        torch.testing.assert_close(x.detach(), x_new, rtol=1e-12, atol=1e-14)
        betas_seen.append(float(terms.beta))
        assert s["loss_gap"][0] != 0 or t == 0
    assert len(set(betas_seen)) > 1


SHAPES = [(3, 4), (4,), (2, 5)]


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_amsgd_beta_scope_tensor_and_global(lam):
    """beta_scope='tensor': one β per tensor = beta_sgd per tensor; 'global': one β = beta_sgd
    on the concatenated vectors."""
    lr = 0.1
    for scope in ("tensor", "global"):
        ps = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES]
        opt = AMSGD(ps, lr=lr, lam=lam, beta_scope=scope)
        g1 = _grads(3, SHAPES)
        for p, g in zip(ps, g1):
            p.grad = g
        opt.step()
        g2 = [g + h for g, h in zip(_grads(4, SHAPES), g1)]
        ds = [opt.state[p]["direction"].clone() for p in ps]
        for p, g in zip(ps, g2):
            p.grad = g
        opt.step()
        beta = opt.last_stats["beta"]
        if scope == "tensor":
            expect = torch.stack([model.beta_sgd(*model.sgd_sums(g, d), lr, lam, 0.9).beta
                                  for g, d in zip(g2, ds)])
            assert beta.shape == (len(SHAPES),)
            assert opt.last_stats["numerator"].shape == (len(SHAPES),)
        else:
            G = torch.cat([g.reshape(-1) for g in g2])
            D = torch.cat([d.reshape(-1) for d in ds])
            expect = model.beta_sgd(*model.sgd_sums(G, D), lr, lam, 0.9).beta
            assert beta.shape == ()
        torch.testing.assert_close(beta, expect, rtol=1e-12, atol=1e-14)
        assert float(beta.min()) > 0     # a nontrivial β on this instance
        for p, g, d, b in zip(ps, g2, ds, beta.expand(len(SHAPES)).unbind(0)):
            torch.testing.assert_close(opt.state[p]["direction"],
                                       model.update_direction(g, d, b, lam), rtol=1e-12,
                                       atol=1e-14)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_amadamw_beta_scope_tensor_and_global(lam):
    lr, wd, betas, eps = 0.05, 0.01, (0.9, 0.999), 1e-8
    for scope in ("tensor", "global"):
        ps = [torch.nn.Parameter(torch.ones(s, dtype=torch.float64)) for s in SHAPES]
        opt = AMAdamW(ps, lr=lr, lam=lam, beta_scope=scope, weight_decay=wd, betas=betas,
                      eps=eps)
        g1 = _grads(5, SHAPES)
        for p, g in zip(ps, g1):
            p.grad = g
        opt.step()
        g2 = [g + h for g, h in zip(_grads(6, SHAPES), g1)]
        sts = [_snap(opt.state[p]) for p in ps]
        xs = [p.detach().clone() for p in ps]
        exp = [_adamw_expected(st, g, x, lr, lam, betas[0], betas[1], eps, wd,
                               x_prev=torch.ones_like(x))
               for st, g, x in zip(sts, g2, xs)]
        for p, g in zip(ps, g2):
            p.grad = g
        opt.step()
        beta = opt.last_stats["beta"]
        if scope == "tensor":
            assert beta.shape == (len(SHAPES),)
            torch.testing.assert_close(beta, torch.stack([e[0].beta for e in exp]),
                                       rtol=1e-12, atol=1e-14)
            for p, e in zip(ps, exp):
                torch.testing.assert_close(p.detach(), e[3], rtol=1e-12, atol=1e-14)
        else:
            cat = lambda ts: torch.cat([t.reshape(-1) for t in ts])  # noqa: E731
            Pc = cat([e[4] for e in exp])
            terms = model.beta_adamw(cat(g2), cat([st["exp_avg"] for st in sts]), Pc, lr, lam,
                                     betas[0], wd, cat(xs), sum(e[0].gap for e in exp))
            assert beta.shape == ()
            torch.testing.assert_close(beta, terms.beta, rtol=1e-12, atol=1e-14)
            for p, g, st, x, e in zip(ps, g2, sts, xs, exp):
                d_new = model.update_direction_adamw(g, st["exp_avg"], terms.beta, lam, e[4])
                torch.testing.assert_close(p.detach(), (1 - lr * wd) * x - lr * d_new / e[4],
                                           rtol=1e-12, atol=1e-14)
        assert float(beta.min()) > 0


@pytest.mark.parametrize("path", [dict(foreach=False), dict(foreach=True), dict(fused=True)],
                         ids=["loop", "foreach", "fused"])
def test_amadamw_state_advanced_for_all_tensors_at_once_equals_one_at_a_time(path, monkeypatch):
    """AMAdamW counts steps and forms each tensor's preconditioner scalars (s, e) and ∏β₁ for
    all tensors at once (``_advance_all``, ``_remember_all``) in eager mode; one tensor at a time
    under torch.compile. Both must give the same numbers, bit for bit, also where the tensors
    differ: groups with their own β₁max, β₂ and ε, a group added after three steps (other step
    counts), per-tensor β, and a schedule through η = 0."""
    def train(one_at_a_time):
        if one_at_a_time:
            monkeypatch.setattr(AMAdamW, "_advance_all", lambda self, entries, device: (
                [self._advance(e[0], e[4], e[5], e[6]) for e in entries], None))
        else:
            monkeypatch.undo()
        torch.manual_seed(0)
        ps = [torch.nn.Parameter(torch.randn(s, dtype=torch.float64)) for s in SHAPES]
        late = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
        opt = AMAdamW([{"params": ps[:2], "betas": (0.8, 0.99), "eps": 1e-6},
                       {"params": ps[2:]}], lr=0.02, beta_scope="tensor", weight_decay=0.01,
                      **path)
        stats = []
        for t in range(7):
            if t == 3:
                opt.add_param_group({"params": [late], "betas": (0.85, 0.95)})
            for group, base in zip(opt.param_groups, (0.02, 0.02, 0.01)):
                group["lr"] = base * [1.0, 0.0, 0.5][t % 3]     # (a schedule through 0)
            for p in ps + [late]:
                p.grad = torch.randn_like(p) + 0.1 * p.detach()
            opt.step()
            stats.append({k: v.clone() for k, v in opt.last_stats.items()})
        state = [{k: v for k, v in opt.state[p].items()} for p in ps + [late]]
        return [p.detach().clone() for p in ps + [late]], stats, state

    (pa, sa, sta), (pb, sb, stb) = train(False), train(True)
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)
    for x, y in zip(sa, sb):
        for k in x:
            assert torch.equal(x[k], y[k]), k
    for x, y in zip(sta, stb):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(torch.as_tensor(x[k]), torch.as_tensor(y[k])), k


@pytest.mark.parametrize("foreach", [False, True])
def test_amsgd_param_groups_with_different_lr_share_one_beta(foreach):
    """Global β over groups with different η, λ: model.combine's weighted β; each group steps
    with its own η."""
    ps = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES[:2]]
    opt = AMSGD([{"params": [ps[0]], "lr": 0.1, "lam": 0.1},
                 {"params": [ps[1]], "lr": 0.02, "lam": 1.0}], lr=0.5, foreach=foreach)
    g1 = _grads(7, SHAPES[:2])
    for p, g in zip(ps, g1):
        p.grad = g
    opt.step()
    torch.testing.assert_close(ps[1].detach(), -0.02 * g1[1])
    g2 = [g + h for g, h in zip(_grads(8, SHAPES[:2]), g1)]
    ds = [opt.state[p]["direction"].clone() for p in ps]
    x1 = [p.detach().clone() for p in ps]
    for p, g in zip(ps, g2):
        p.grad = g
    opt.step()
    parts = [model.sgd_parts(*model.sgd_sums(g, d), lam) for g, d, lam in zip(g2, ds, (0.1, 1.0))]
    terms = model.combine(parts, [0.1, 0.02], [0.1 / 1.1, 0.02 / 2.0], None, 0.9)
    torch.testing.assert_close(opt.last_stats["beta"], terms.beta, rtol=1e-12, atol=1e-14)
    for p, g, d, x, lr, lam in zip(ps, g2, ds, x1, (0.1, 0.02), (0.1, 1.0)):
        torch.testing.assert_close(p.detach(),
                                   x - lr * model.update_direction(g, d, terms.beta, lam))


# ============================================================================= exact gap
def _scripted_closure(x, grads, losses, counter):
    def closure():
        t = counter[0]
        counter[0] += 1
        x.grad = grads[t].clone()
        return torch.tensor(losses[t], dtype=torch.float64)
    return closure


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
def test_amsgd_exact_gap_uses_closure_losses_and_current_lr(lam):
    """f̂_t − f(x_t) = f(x_{t−1}) − f(x_t) from the closure's losses; its 1/η uses the lr of the
    current step (changed between steps here), and the step too."""
    x = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    g = _grads(9, [(5,)] * 4)
    g = [g[0], g[1] + g[0], g[2] + g[1], g[3] + g[2]]
    losses = [3.0, 2.5, 2.45, 1.0]
    lrs = [0.1, 0.1, 0.03, 0.3]
    opt = AMSGD([x], lr=lrs[0], lam=lam, loss_gap="exact")
    counter = [0]
    closure = _scripted_closure(x, g, losses, counter)
    for t in range(4):
        opt.param_groups[0]["lr"] = lrs[t]
        d = g[0] if t == 0 else opt.state[x]["direction"].clone()
        x0 = x.detach().clone()
        ret = opt.step(closure)
        assert float(ret) == losses[t]
        if t == 0:
            assert float(opt.last_stats["beta"]) == 0.0
            continue
        gap = losses[t - 1] - losses[t]
        num = (1 + lam) * gap / lrs[t] - ((d - g[t]) @ (g[t] + lam * d))
        den = ((d - g[t]) ** 2).sum()
        s = opt.last_stats
        torch.testing.assert_close(s["loss_gap"], torch.tensor(gap, dtype=torch.float64))
        torch.testing.assert_close(s["numerator"], num, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(s["denominator"], den, rtol=1e-12, atol=1e-12)
        beta = min(max(float(num / den), 0.0), 0.9)
        torch.testing.assert_close(s["beta"], torch.tensor(beta, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(x.detach(),
                                   x0 - lrs[t] * model.update_direction(g[t], d, beta, lam),
                                   rtol=1e-12, atol=1e-14)
    assert counter[0] == 4                       # one closure call per step


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_amadamw_exact_gap_uses_closure_losses_and_current_lr(lam):
    x = torch.nn.Parameter(torch.linspace(-1, 1, 5, dtype=torch.float64))
    g = _grads(10, [(5,)] * 4)
    g = [g[0], g[1] + g[0], g[2] + g[1], g[3] + g[2]]
    losses = [3.0, 2.9, 2.5, 2.6]
    lrs = [0.05, 0.05, 0.01, 0.1]
    wd, betas, eps = 0.02, (0.9, 0.999), 1e-8
    opt = AMAdamW([x], lr=lrs[0], lam=lam, loss_gap="exact", weight_decay=wd, betas=betas,
                  eps=eps)
    closure = _scripted_closure(x, g, losses, [0])
    for t in range(4):
        opt.param_groups[0]["lr"] = lrs[t]
        st = None if t == 0 else _snap(opt.state[x])
        gap = None if t == 0 else torch.tensor(losses[t - 1] - losses[t], dtype=torch.float64)
        x0 = x.detach().clone()
        terms, d_new, v, x_new, P = _adamw_expected(st, g[t], x0, lrs[t], lam,
                                                    betas[0], betas[1], eps, wd, gap)
        opt.step(closure)
        s = opt.last_stats
        if t > 0:
            torch.testing.assert_close(s["loss_gap"][0], gap)
            manual_num = (gap / lrs[t] - wd * ((st["exp_avg"] - g[t]) @ x0)
                          - ((st["exp_avg"] - g[t]) / (P * (1 + lam * P))
                             @ (g[t] + lam * P * st["exp_avg"])))
            torch.testing.assert_close(s["numerator"][0], manual_num, rtol=1e-10, atol=1e-12)
        beta_used = betas[0] if t == 0 else terms.beta      # the first step is AdamW's
        torch.testing.assert_close(s["beta"][0], torch.as_tensor(beta_used, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(x.detach(), x_new, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [AMSGD, AMAdamW])
def test_exact_gap_without_closure_is_a_clear_error(cls):
    x = torch.nn.Parameter(torch.ones(3))
    opt = cls([x], lr=0.1, loss_gap="exact")
    x.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="closure"):
        opt.step()
    assert torch.equal(x.detach(), torch.ones(3))


# ====================================================================== 3. the torch.optim contract
def _beta_cap(opt) -> float:
    g = opt.param_groups[0]
    if isinstance(opt, AMSGD):
        return g["beta"] if g["beta"] is not None else g["beta_max"]
    return g["beta1"] if g["beta1"] is not None else g["betas"][0]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("problem", PROBLEMS, ids=repr)
@pytest.mark.parametrize("name", OPT_NAMES)
def test_lowers_the_loss_and_reports_stats(name, problem, dtype):
    params, loss_fn = problem.make(dtype)
    opt = make_opt(name, params, problem)
    losses = run(opt, loss_fn, 40)
    with torch.no_grad():
        final = float(loss_fn())
    assert math.isfinite(final) and final < 0.7 * losses[0], (losses[0], final)
    assert all(p.dtype == dtype for p in params)
    s = opt.last_stats
    assert {"beta", "numerator", "denominator", "loss_gap", "effective_momentum"} <= set(s)
    n_expected = () if opt.param_groups[0]["beta_scope"] == "global" else (len(params),)
    for k, v in s.items():
        assert isinstance(v, torch.Tensor), k
        assert v.device == params[0].device, k
        assert v.dtype in (torch.float64, torch.float32), (k, v.dtype)
        assert torch.isfinite(v).all(), (k, v)
        if k != "effective_momentum" or isinstance(opt, AMSGD):
            assert v.shape == n_expected, (k, v.shape)
    assert torch.all(s["beta"] >= 0) and torch.all(s["beta"] <= _beta_cap(opt))
    assert torch.all(s["effective_momentum"] >= 0) and torch.all(s["effective_momentum"] <= 1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("problem", PROBLEMS, ids=repr)
@pytest.mark.parametrize("name", OPT_NAMES)
def test_foreach_matches_for_loop(name, problem, dtype):
    results = []
    for foreach in (False, True):
        params, loss_fn = problem.make(dtype)
        opt = make_opt(name, params, problem, foreach=foreach)
        run(opt, loss_fn, 25)
        results.append((flat(params), opt.last_stats))
    (a, sa), (b, sb) = results
    tol = 1e-13 if dtype == torch.float64 else 1e-5
    assert_rel_close(a, b, tol)
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("problem", PROBLEMS[1:], ids=repr)
@pytest.mark.parametrize("name", OPT_NAMES)
def test_state_dict_round_trip_continues_bit_identically(name, problem, dtype):
    params, loss_fn = problem.make(dtype)
    opt = make_opt(name, params, problem)
    run(opt, loss_fn, 5)
    saved = copy.deepcopy(opt.state_dict())
    snapshot = [p.detach().clone() for p in params]
    run(opt, loss_fn, 6)

    params2, loss_fn2 = problem.make(dtype)
    with torch.no_grad():
        for p, s in zip(params2, snapshot):
            p.copy_(s)
    opt2 = make_opt(name, params2, problem)
    opt2.load_state_dict(saved)
    for p, q in zip(params, params2):      # state kept its dtypes (float64 scalars stay float64)
        for k, v in opt.state[p].items():
            if isinstance(v, torch.Tensor):
                assert opt2.state[q][k].dtype == v.dtype, k
    run(opt2, loss_fn2, 6)
    for p, q in zip(params, params2):
        assert torch.equal(p, q)
    assert stats_equal(opt.last_stats, opt2.last_stats)
    # the state lives in opt.state only: a fresh optimizer (no load) diverges from it
    params3, loss_fn3 = problem.make(dtype)
    with torch.no_grad():
        for p, s in zip(params3, snapshot):
            p.copy_(s)
    opt3 = make_opt(name, params3, problem)
    run(opt3, loss_fn3, 6)
    assert not all(torch.equal(p, q) for p, q in zip(params, params3))


@pytest.mark.parametrize("name", OPT_NAMES)
def test_parameters_without_grad_are_skipped(name):
    prob = PROBLEMS[1]
    params, loss_fn = prob.make()
    frozen = params[2]                      # second layer's weight
    frozen.requires_grad_(False)
    before = frozen.detach().clone()
    opt = make_opt(name, params, prob)
    losses = run(opt, loss_fn, 10)
    assert torch.equal(frozen, before)
    assert frozen not in opt.state or not opt.state[frozen]
    assert losses[-1] < losses[0]
    s = opt.last_stats
    if opt.param_groups[0]["beta_scope"] == "tensor":
        assert s["beta"].shape == (len(params) - 1,)


@pytest.mark.parametrize("name", OPT_NAMES)
def test_a_step_with_no_gradients_changes_nothing(name):
    prob = PROBLEMS[1]
    params, loss_fn = prob.make()
    opt = make_opt(name, params, prob)
    run(opt, loss_fn, 3)
    snap = [p.detach().clone() for p in params]
    state = copy.deepcopy(opt.state_dict())
    stats = dict(opt.last_stats)
    opt.zero_grad(set_to_none=True)
    assert opt.step(lambda: torch.tensor(1.25)) == torch.tensor(1.25)   # returns the loss
    if opt.param_groups[0]["loss_gap"] == "exact":
        with pytest.raises(RuntimeError, match="closure"):
            opt.step()
    else:
        assert opt.step() is None
    assert all(torch.equal(p, s) for p, s in zip(params, snap))
    after = opt.state_dict()
    for i, st in state["state"].items():
        for k, v in st.items():
            assert torch.equal(torch.as_tensor(after["state"][i][k]), torch.as_tensor(v)), k
    assert stats_equal(stats, opt.last_stats)
    # and before any step at all
    params, _ = prob.make()
    opt = make_opt(name, params, prob)
    assert opt.step(lambda: None) is None and opt.last_stats is None
    assert not any(opt.state[p] for p in params)


@pytest.mark.parametrize("problem", PROBLEMS, ids=repr)
@pytest.mark.parametrize("name", OPT_NAMES)
def test_maximize_equals_minimising_the_negative(name, problem):
    pa, loss_a = problem.make()
    pb, loss_b = problem.make()
    opt_a = make_opt(name, pa, problem)
    opt_b = make_opt(name, pb, problem, maximize=True)
    for _ in range(12):
        opt_a.step(closure_for(opt_a, loss_a))
        opt_b.step(closure_for(opt_b, lambda: -loss_b()))
    for p, q in zip(pa, pb):
        torch.testing.assert_close(p, q, rtol=1e-14, atol=1e-15)
    for k in ("beta", "numerator", "denominator"):
        torch.testing.assert_close(opt_a.last_stats[k], opt_b.last_stats[k], rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize("cls", [AMSGD, AMAdamW])
def test_sparse_gradients_are_rejected(cls):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = cls(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    assert emb.weight.grad.is_sparse
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("scheduler", ["step", "lambda"])
@pytest.mark.parametrize("which", ["sgd", "adamw"])
def test_lr_scheduler_is_respected(which, scheduler, foreach):
    """A scheduler drives group['lr']: with fixed β and λ = 0 the trajectory equals torch's own
    optimizer under the same scheduler; with adaptive β every step is −η_t d_{t+1} with the
    scheduled η_t."""
    prob = PROBLEMS[1]

    def sched(opt):
        if scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + 0.3 * t))

    pa, la = prob.make()
    pb, lb = prob.make()
    if which == "sgd":
        oa = AMSGD(pa, lr=0.2, beta=0.9, lam=0.0, foreach=foreach)
        ob = torch.optim.SGD(pb, lr=0.2, momentum=0.9, dampening=0.9)
    else:
        oa = AMAdamW(pa, lr=0.02, beta1=0.9, lam=0.0, foreach=foreach)
        ob = torch.optim.AdamW(pb, lr=0.02)
    sa, sb = sched(oa), sched(ob)
    for _ in range(20):
        oa.step(closure_for(oa, la))
        ob.step(closure_for(ob, lb))
        sa.step()
        sb.step()
    assert oa.param_groups[0]["lr"] < (0.2 if which == "sgd" else 0.02) * 0.3
    assert_rel_close(flat(pa), flat(pb), 1e-12)

    # adaptive: the step uses the scheduled lr
    params, loss_fn = prob.make()
    opt = (AMSGD(params, lr=0.2, foreach=foreach) if which == "sgd" else
           AMAdamW(params, lr=0.02, foreach=foreach))
    s = sched(opt)
    for _ in range(12):
        lr = opt.param_groups[0]["lr"]
        x0 = [p.detach().clone() for p in params]
        prods = [float(opt.state[p]["prod_beta1"]) if "prod_beta1" in opt.state[p] else 1.0
                 for p in params]
        wd = opt.param_groups[0]["weight_decay"]
        opt.step(closure_for(opt, loss_fn))
        for p, x, prod in zip(params, x0, prods):
            st = opt.state[p]
            if which == "sgd":
                expect = x - lr * st["direction"]
            else:
                bc1 = model.bias_correction1(0.9, prod)
                P = model.preconditioner(st["exp_avg_sq"], int(st["step"]), 0.999, 1e-8, bc1)
                expect = (1 - lr * wd) * x - lr * st["exp_avg"] / P
            torch.testing.assert_close(p.detach(), expect, rtol=1e-12, atol=1e-14)
        s.step()


BAD_ARGS = [
    (AMSGD, dict(lr=-0.1), "lr"),
    (AMSGD, dict(lr=float("nan")), "lr"),
    (AMSGD, dict(lr=float("inf")), "lr"),
    (AMSGD, dict(lr=0.1, lam=-0.1), "lam"),
    (AMSGD, dict(lr=0.1, lam=float("nan")), "lam"),
    (AMSGD, dict(lr=0.1, beta_max=1.0), "beta_max"),
    (AMSGD, dict(lr=0.1, beta_max=-0.1), "beta_max"),
    (AMSGD, dict(lr=0.1, beta=1.5), "beta"),
    (AMSGD, dict(lr=0.1, beta=1.0), "beta"),
    (AMSGD, dict(lr=0.1, beta=-0.5), "beta"),
    (AMSGD, dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    (AMSGD, dict(lr=0.1, loss_gap="foo"), "loss_gap"),
    (AMSGD, dict(lr=0.1, beta_scope="foo"), "beta_scope"),
    (AMSGD, dict(lr=0.1, foreach="yes"), "foreach"),
    (AMSGD, dict(lr=0.1, maximize=1), "maximize"),
    (AMSGD, dict(lr="0.1"), "lr"),
    (AMAdamW, dict(lr=-1e-3), "lr"),
    (AMAdamW, dict(lr=float("nan")), "lr"),
    (AMAdamW, dict(betas=(1.0, 0.9)), "betas"),
    (AMAdamW, dict(betas=(0.9, 1.0)), "betas"),
    (AMAdamW, dict(betas=(-0.1, 0.9)), "betas"),
    (AMAdamW, dict(betas=(0.9,)), "betas"),
    (AMAdamW, dict(eps=0.0), "eps"),
    (AMAdamW, dict(eps=-1e-8), "eps"),
    (AMAdamW, dict(weight_decay=-1.0), "weight_decay"),
    (AMAdamW, dict(lam=-1.0), "lam"),
    (AMAdamW, dict(beta1=1.0), "beta1"),
    (AMAdamW, dict(beta1=1.5), "beta1"),
    (AMAdamW, dict(loss_gap="foo"), "loss_gap"),
    (AMAdamW, dict(beta_scope="foo"), "beta_scope"),
    (AMAdamW, dict(foreach=1), "foreach"),
    (AMAdamW, dict(maximize="no"), "maximize"),
]


@pytest.mark.parametrize("cls,kwargs,name", BAD_ARGS,
                         ids=[f"{c.__name__}-{n}-{list(k.values())[-1]!r}" for c, k, n in BAD_ARGS])
def test_bad_arguments_raise_value_error_naming_them(cls, kwargs, name):
    x = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match=name.replace("[", r"\[")):
        cls([x], **kwargs)


def test_boundary_arguments_are_accepted():
    x = torch.nn.Parameter(torch.ones(2))
    AMSGD([x], lr=0.0, lam=0.0, beta_max=0.0, beta=0.0, weight_decay=0.0)
    AMAdamW([x], lr=0.0, betas=(0.0, 0.0), eps=1e-30, weight_decay=0.0, lam=0.0, beta1=0.0)
    AMSGD([x], lr=torch.tensor(0.1))


# ----------------------------------------------------------------------------- no host sync
class _HostSyncGuard:
    """Forbids, inside ``optimizer.step``, what would synchronise the host with a CUDA device:
    reading a tensor's value on the host (``item``, ``tolist``, ``bool``/``float``/``int``) and
    creating a tensor from host data on the parameters' device (``torch.tensor(..., device=)``:
    a blocking host→device copy). CPU scalar tensors listed in ``allowed`` (the step counters,
    kept on the CPU as in torch's own optimizers) may be read."""

    READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy")

    def __init__(self, monkeypatch, allowed=()):
        self.allowed = {id(t) for t in allowed}
        self.mp = monkeypatch
        self.active = False
        for name in self.READS:
            self.mp.setattr(torch.Tensor, name, self._read(name, getattr(torch.Tensor, name)))
        for name in ("tensor", "as_tensor"):
            self.mp.setattr(torch, name, self._create(name, getattr(torch, name)))

    def _read(self, name, orig):
        guard = self

        def f(t, *a, **k):
            if guard.active and id(t) not in guard.allowed:
                raise AssertionError(f"Tensor.{name} inside step() (a host sync on CUDA)")
            return orig(t, *a, **k)
        return f

    def _create(self, name, orig):
        guard = self

        def f(data, *a, device=None, **k):
            if guard.active and device is not None and not isinstance(data, torch.Tensor):
                raise AssertionError(f"torch.{name}(<host data>, device={device}) inside step() "
                                     "(a blocking host→device copy on CUDA)")
            return orig(data, *a, device=device, **k)
        return f


@pytest.mark.parametrize("name", OPT_NAMES)
def test_step_does_not_read_device_values_on_the_host(name, monkeypatch):
    # the device path, as a GPU takes it (on a CPU a global β is chosen from host floats:
    # optim._host_scalars, compared with this path in test_host_scalars_equal_the_device_path)
    monkeypatch.setattr(optim_module, "_host_scalars", lambda device: False)
    prob = PROBLEMS[1]
    params, loss_fn = prob.make()
    opt = make_opt(name, params, prob)
    run(opt, loss_fn, 2)                       # state created
    steps = [st["step"] for st in opt.state.values() if "step" in st]
    closure = closure_for(opt, loss_fn)
    guard = _HostSyncGuard(monkeypatch, allowed=steps)
    for _ in range(3):
        loss = closure()                       # forward/backward outside the guard
        guard.active = True
        try:
            opt.step(lambda: loss)
        finally:
            guard.active = False
    for v in opt.last_stats.values():
        assert v.device == params[0].device


HOST_CASES = {   # configurations whose global β takes the host path on a CPU
    "taylor": {},
    "lam0_bmax": dict(lam=0.0, beta_max=0.5),
    "exact": dict(loss_gap="exact", lam=1.0),
    "fixed_beta": dict(beta=0.9, lam=0.0),
    "wd_nesterov": dict(weight_decay=1e-3, nesterov=True),
    "python_loop": dict(foreach=False),
    "maximize": dict(maximize=True),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("case", list(HOST_CASES))
def test_host_scalars_equal_the_device_path(case, dtype, monkeypatch):
    """On a CPU AM-SGD's global β is computed from the three sums read as Python floats
    (``optim._host_scalars``); on a GPU the same ``model`` functions run on 0-dim float64
    tensors. Both are IEEE float64 with the operations in the same order, so β agrees to
    rounding (each of the closed form's ~10 operations is correctly rounded in both, but torch
    may contract a multiply-add: a few ulps, rtol 1e-14). The update then uses the coefficient
    as a Python scalar or as a tensor of the parameters' dtype, identical after the cast, so
    the parameters agree to the dtype's rounding over 15 steps of a schedule that changes lr
    (the taylor gap's η' ≠ η) and passes through 0 (float64: 1e-12; float32: 1e-5 relative);
    lr 0.6 keeps β inside (0, β_max) on most steps, so the clip alone does not decide it."""
    prob = PROBLEMS[1]
    runs = {}
    for host in (True, False):
        monkeypatch.setattr(optim_module, "_host_scalars",
                            lambda device, host=host: host and device.type == "cpu")
        params, loss_fn = prob.make(dtype, CPU)
        opt = AMSGD(params, lr=0.6, **HOST_CASES[case])
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: [1.0, 0.5, 0.0, 1.0, 0.7][t % 5])
        stats = []
        for _ in range(15):
            opt.step(closure_for(opt, loss_fn))
            sched.step()
            stats.append({k: v.clone() for k, v in opt.last_stats.items()})
        runs[host] = (flat(params), stats)
    (p_host, s_host), (p_dev, s_dev) = runs[True], runs[False]
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(p_host, p_dev, rtol=rtol, atol=rtol * p_dev.abs().max().item())
    for t, (a, b) in enumerate(zip(s_host, s_dev)):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].dtype == b[k].dtype == torch.float64 and a[k].shape == b[k].shape
            tol = 1e-14 if (t == 0 or dtype == torch.float64) else rtol * 100
            torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol * (1 + b[k].abs().item()),
                                       msg=f"step {t}, {k}")


# ----------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("name", OPT_NAMES)
def test_cuda_matches_cpu_without_host_sync(name, dtype):
    prob = PROBLEMS[1]
    cuda = torch.device("cuda")
    pc, lc = prob.make(dtype, CPU)
    pg, lg = prob.make(dtype, cuda)
    oc = make_opt(name, pc, prob)
    og = make_opt(name, pg, prob)
    assert og.param_groups[0]["foreach"] is None     # default: the foreach path on CUDA
    run(oc, lc, 10)
    run(og, lg, 10)
    closure = closure_for(og, lg)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            og.step(closure)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    run(oc, lc, 3)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert_rel_close(flat(pg).cpu(), flat(pc), tol)
    for k, v in og.last_stats.items():
        assert v.device.type == "cuda", k
        torch.testing.assert_close(v.cpu(), oc.last_stats[k], rtol=tol * 10, atol=tol)


# ============================================================================= the registry
REGISTRY_NAMES = {"am_sgd", "am_adamw", "sgd", "sgd_ema", "nesterov", "adamw", "torch_sgd",
                  "torch_adamw"}
FAMILY_LR = {"sgd": 0.2, "adamw": 0.02}


def test_registry_names():
    assert set(OPTIMIZERS) == REGISTRY_NAMES
    for name, entry in OPTIMIZERS.items():
        assert entry.name == name and entry.family in FAMILY_LR and entry.label


@pytest.mark.parametrize("name", sorted(REGISTRY_NAMES))
def test_registry_entry_builds_and_lowers_the_loss(name):
    entry = OPTIMIZERS[name]
    params, loss_fn = PROBLEMS[1].make()
    opt = entry(params, FAMILY_LR[entry.family])
    assert isinstance(opt, torch.optim.Optimizer)
    losses = run(opt, loss_fn, 40)
    assert losses[-1] < 0.7 * losses[0], losses[::10]
    assert entry.reports_beta == (getattr(opt, "last_stats", None) is not None)
    with pytest.raises(ValueError, match="bogus"):
        entry(params, 0.1, bogus=1.0)


def _same_trajectory(entry_opt, ref_opt_fn, steps=N_REF_STEPS):
    prob = PROBLEMS[1]
    pa, la = prob.make()
    pb, lb = prob.make()
    oa = entry_opt(pa)
    ob = ref_opt_fn(pb)
    for _ in range(steps):
        oa.step(closure_for(oa, la))
        ob.step(closure_for(ob, lb))
    return flat(pa), flat(pb)


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_registry_sgd_ema_is_dampened_torch_sgd(beta):
    a, b = _same_trajectory(lambda p: OPTIMIZERS["sgd_ema"](p, 0.2, beta=beta),
                            lambda p: torch.optim.SGD(p, 0.2, momentum=beta, dampening=beta))
    assert_rel_close(a, b, 1e-12)


def test_registry_sgd_is_plain_gradient_descent():
    a, b = _same_trajectory(lambda p: OPTIMIZERS["sgd"](p, 0.2),
                            lambda p: torch.optim.SGD(p, 0.2))
    assert_rel_close(a, b, 1e-12)


def test_registry_adamw_is_torch_adamw():
    a, b = _same_trajectory(
        lambda p: OPTIMIZERS["adamw"](p, 0.02, beta1=0.8, weight_decay=0.05),
        lambda p: torch.optim.AdamW(p, 0.02, betas=(0.8, 0.999), weight_decay=0.05))
    assert_rel_close(a, b, 1e-12)


def test_registry_torch_entries_are_torch_optimizers():
    params, _ = PROBLEMS[1].make()
    o = OPTIMIZERS["torch_sgd"](params, 0.1, beta=0.8)
    assert type(o) is torch.optim.SGD and o.param_groups[0]["momentum"] == 0.8
    assert o.param_groups[0]["dampening"] == 0
    o = OPTIMIZERS["torch_adamw"](params, 0.01, beta1=0.7, weight_decay=0.0)
    assert type(o) is torch.optim.AdamW and o.param_groups[0]["betas"] == (0.7, 0.999)
    a, b = _same_trajectory(lambda p: OPTIMIZERS["torch_sgd"](p, 0.05, beta=0.9),
                            lambda p: torch.optim.SGD(p, 0.05, momentum=0.9))
    assert torch.equal(a, b)


def test_registry_nesterov_is_ema_nesterov():
    """x ← x − η[β d_{t+1} + (1−β) g] with d_{t+1} = β d + (1−β) g (EMA-form Nesterov)."""
    beta, lr = 0.9, 0.2
    params, loss_fn = PROBLEMS[1].make()
    opt = OPTIMIZERS["nesterov"](params, lr, beta=beta)
    ref_params, ref_loss = PROBLEMS[1].make()
    bufs = None
    for _ in range(30):
        opt.step(closure_for(opt, loss_fn))
        for p in ref_params:
            p.grad = None
        ref_loss().backward()
        with torch.no_grad():
            grads = [p.grad for p in ref_params]
            bufs = ([g.clone() for g in grads] if bufs is None else
                    [beta * b + (1 - beta) * g for b, g in zip(bufs, grads)])
            for p, b, g in zip(ref_params, bufs, grads):
                p -= lr * (beta * b + (1 - beta) * g)
    assert_rel_close(flat(params), flat(ref_params), 1e-12)


def test_registry_passes_hyper_parameters_through():
    params, _ = PROBLEMS[1].make()
    o = OPTIMIZERS["am_sgd"](params, 0.1, lam=0.5, beta_max=0.8, loss_gap="exact")
    g = o.param_groups[0]
    assert (g["lam"], g["beta_max"], g["loss_gap"], g["beta"]) == (0.5, 0.8, "exact", None)
    o = OPTIMIZERS["am_adamw"](params, 0.01, lam=0.2, betas=(0.8, 0.99))
    g = o.param_groups[0]
    assert (g["lam"], g["betas"], g["beta1"], g["beta_scope"]) == (0.2, (0.8, 0.99), None,
                                                                   "tensor")
    o = OPTIMIZERS["sgd_ema"](params, 0.1, beta=0.7)
    assert (o.param_groups[0]["beta"], o.param_groups[0]["lam"]) == (0.7, 0.0)
    with pytest.raises(ValueError, match="beta"):
        OPTIMIZERS["sgd_ema"](params, 0.1, beta=1.2)


# ============================================================================ 4. convergence sanity
def _steps_to(opt_fn, tol=1e-10, max_steps=2000) -> int:
    w = torch.nn.Parameter(torch.tensor([-2.6, 0.8], dtype=torch.float64))
    opt = opt_fn([w])

    def f():
        return 0.5 * (w[0] ** 2 + 100 * w[1] ** 2)
    for t in range(max_steps):
        with torch.no_grad():
            if f() < tol:
                return t
        opt.step(closure_for(opt, f))
    return max_steps


def test_am_sgd_beats_ema_heavy_ball_on_ill_conditioned_quadratic():
    """κ = 100, f = ½(x² + 100y²) from (−2.6, 0.8), η = 0.1: AM-SGD reaches f < 1e-10 in fewer
    steps than EMA heavy ball with β = 0.9."""
    am = _steps_to(lambda p: AMSGD(p, lr=0.1))
    ema = _steps_to(lambda p: AMSGD(p, lr=0.1, beta=0.9, lam=0.0))
    torch_ema = _steps_to(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.9))
    msg = f"steps to f < 1e-10: AM-SGD {am}, EMA heavy ball β=0.9 {ema} (torch {torch_ema})"
    assert am < ema, msg
    assert ema == torch_ema, msg
    assert am < 2000, msg
