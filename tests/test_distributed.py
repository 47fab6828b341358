"""AMSGD / AMAdamW under every parallel wrapper equal single-process full-batch training.

Two gloo processes on CPU (``tests/_distributed_worker.py``) run each scenario of
``tests/_distributed_cases.py`` — DDP (taylor; exact gap with ``loss_group``), FSDP2
``fully_shard`` with evenly and unevenly sharded tensors ([3, 32] split 2 + 1 rows, [1, 32] and
[1] leaving one rank an empty shard), ``ZeroRedundancyOptimizer`` (``shard_group``), FSDP1 flat
parameters (``shard_group``) — for a few float64 steps, each rank on its half of the batch. The
test runs the same optimizer in this process on the whole batch and compares the parameters and
every step's β (≤ 1e-12), the last ``last_stats``, and the ranks with each other.

Tolerance: the wrappers average the two half-batch gradients (g₀ + g₁)/2 where the reference
sums the whole batch at once, a different summation order: a few ulps (1e-16 relative) per
gradient entry. β is a ratio of sums of O(10²) products and a step is Lipschitz with a modest
constant, so five steps move parameters and β by ~1e-15; 1e-12 leaves three orders of margin and
is still far below what a missing reduction does (β off by 1e-3…1e-1: see the report).

One launch runs every scenario (~20 s of process start-up saved per scenario); a scenario that
raises is recorded, so only its own tests fail; a hang fails after ``TIMEOUT`` s (the gloo
collectives also time out after 60 s).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _distributed_cases import (SCENARIOS, STEPS, data, make_model, param_groups,  # noqa: E402
                                step)

from adamem_core import AMAdamW, AMSGD  # noqa: E402

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")

WORLD = 2
TIMEOUT = 480   # generous for a loaded 2-core machine; a hang also trips gloo's 60 s timeout
WORKER = Path(__file__).resolve().parent / "_distributed_worker.py"
TOL = 1e-12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[dict]:
    """Both ranks' results of every scenario (one launch of two processes)."""
    out = tmp_path_factory.mktemp("dist")
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore::UserWarning")
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(r), str(WORLD), str(port),
                               str(out)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(WORLD)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=TIMEOUT)[0])
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"the distributed workers did not finish within {TIMEOUT} s (a hang?)")
    for r, p in enumerate(procs):
        assert p.returncode == 0, f"rank {r} exited with {p.returncode}:\n{logs[r][-4000:]}"
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def _reference(case: dict) -> dict:
    """The same optimizer in one process on the whole batch."""
    model = make_model(case.get("model", "mlp"))
    X, y = data()
    params = list(model.parameters())
    kw = dict(case.get("reference_kw", case["kw"]))
    kw.pop("shard_group", None)
    kw.pop("loss_group", None)
    cls = AMSGD if case["opt"] == "amsgd" else AMAdamW
    opt = cls(param_groups(params, case.get("groups")), **kw)

    def closure():
        opt.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward()
        return loss

    betas, unclipped = [], []
    for _ in range(STEPS):
        step(opt, closure, kw)
        betas.append(opt.last_stats["beta"].clone())
        unclipped.append(opt.last_stats["unclipped"].clone())
    return {"params": [p.detach().clone() for p in params], "betas": betas,
            "unclipped": unclipped, "stats": opt.last_stats}


def _result(runs: list[dict], name: str, rank: int) -> dict:
    res = runs[rank][name]
    assert "error" not in res, f"rank {rank} failed in {name}:\n{res['error']}"
    return res


COMPARED = [n for n, c in SCENARIOS.items() if c.get("reference", True)]


@pytest.mark.parametrize("name", COMPARED)
def test_equals_single_process_full_batch(runs, name):
    case = SCENARIOS[name]
    ref = _reference(case)
    # the model's β must move in the reference (else a wrong reduction could go unseen; with
    # AM-AdamW's global β clipped at β₁max the unclipped ratio shows the sums)
    assert any(float((b - ref["unclipped"][0]).abs().max()) > 1e-3 for b in ref["unclipped"][1:])
    for rank in range(WORLD):
        res = _result(runs, name, rank)
        for i, (p, q) in enumerate(zip(res["params"], ref["params"])):
            assert p.shape == q.shape
            err = float((p - q).abs().max())
            assert err <= TOL, f"{name} rank {rank}: parameter {i} off by {err:.2e}"
        if not res["owned"]:
            # a ZeRO rank that owns no tensor joins the all-reduce (no hang: its peers' β is
            # checked) and has no statistics of its own
            assert case["wrapper"] == "zero" and not res["betas"] and not res["stats"]
            continue
        # per-tensor stats of ZeRO / FSDP1 original parameters: the tensors this rank holds
        own = res["owned"] if case.get("own_tensors") or case.get("use_orig_params") else None
        # FSDP1's original parameters are views at any offset into the flat gradient: at the
        # first step (d = g) torch.dot of an unaligned view may differ from the aligned copy's
        # by an ulp, so ‖d − g‖² is ±1e-18 instead of 0 and the reported β of that step is
        # noise (0 or β_max); the update is the same whatever β when d = g (the parameters
        # are still compared), so that step's β is not
        first = 1 if case.get("use_orig_params") else 0
        # one flat parameter's per-tensor β against the single process's global β: at AM-AdamW's
        # first step (AdamW's step, β₁max whatever the model says) the two forms report
        # different limits of the unclipped ratio (no tensor has a say); later steps agree
        if "reference_kw" in case:
            first = 1
        # one flat parameter's per-tensor stats ([1]) against the global ones ([])
        same = (lambda v, r: v.reshape(r.shape)) if "reference_kw" in case else (lambda v, r: v)
        for t, (b, rb) in enumerate(zip(res["betas"], ref["betas"])):
            if t < first:
                continue
            rb = rb[own] if own is not None else rb
            b = same(b, rb)
            assert b.shape == rb.shape
            err = float((b - rb).abs().max())
            assert err <= TOL, f"{name} rank {rank}: β of step {t} off by {err:.2e}"
        for t, (u, ru) in enumerate(zip(res["unclipped"], ref["unclipped"])):
            if t < first:
                continue
            ru = ru[own] if own is not None else ru
            torch.testing.assert_close(same(u, ru), ru, rtol=1e-10, atol=TOL,
                                       msg=f"{name} rank {rank}: unclipped β of step {t}")
        for k, v in res["stats"].items():
            if k in case.get("skip_stats", ()):
                continue
            rv = ref["stats"][k]
            rv = rv[own] if own is not None and rv.dim() else rv
            # numerators and denominators are sums of O(10²) products of size up to ~1: the
            # same few-ulp argument, relative to their magnitude. AM-AdamW's single-process
            # effective momentum is a coordinate mean accumulated in float32 (a few float32
            # ulps, ~1e-7); sharded runs complete it from float64 sums.
            atol = 1e-6 if k == "effective_momentum" and case["opt"] == "amadamw" else TOL
            torch.testing.assert_close(same(v, rv), rv, rtol=1e-10, atol=atol,
                                       msg=f"{name}: {k}")


@pytest.mark.parametrize("name", COMPARED)
def test_last_stats_identical_on_every_rank(runs, name):
    """Plain tensors (no DTensor), equal bit for bit: every rank computes them from the same
    all-reduced sums. ZeRO's per-tensor scope lists each rank's own tensors (compared above)."""
    case = SCENARIOS[name]
    res = [_result(runs, name, r) for r in range(WORLD)]
    for r in res:
        assert r["plain"], f"{name}: last_stats holds a tensor subclass"
    n = len(make_model(case.get("model", "mlp")).state_dict())
    if case.get("own_tensors") or not all(r["owned"] for r in res):
        # ZeRO: each rank's per-tensor stats are its own tensors' (compared above); together
        # the ranks own every tensor once
        assert sorted(res[0]["owned"] + res[1]["owned"]) == list(range(n))
        return
    # FSDP1 with use_orig_params: per-tensor stats list the tensors a rank holds a piece of;
    # the tensors held by both must agree
    held = [dict(zip(r["owned"], range(len(r["owned"])))) for r in res]
    orig = case.get("use_orig_params", False)
    if orig:
        assert set(held[0]) | set(held[1]) == set(range(n))
    both = sorted(set(held[0]) & set(held[1]))
    for k, v in res[0]["stats"].items():
        w = res[1]["stats"][k]
        if v.dim() and orig:
            v = v[[held[0][i] for i in both]]
            w = w[[held[1][i] for i in both]]
        assert torch.equal(v, w), f"{name}: {k} differs between ranks"


def test_exact_gap_without_a_group_warns_once(runs):
    for rank in range(WORLD):
        assert _result(runs, "ddp_exact_no_group", rank)["warnings"] == 1


def test_no_warning_when_the_loss_is_reduced(runs):
    """loss_group, shard_group and a DTensor mesh each average the loss: no warning."""
    for name, case in SCENARIOS.items():
        if case["kw"].get("loss_gap") == "exact" and case.get("reference", True):
            for rank in range(WORLD):
                assert _result(runs, name, rank)["warnings"] == 0, name


@pytest.mark.parametrize("cls", [AMSGD, AMAdamW])
@pytest.mark.parametrize("key", ["shard_group", "loss_group"])
@pytest.mark.parametrize("bad", ["world", 0, object()])
def test_group_keywords_are_validated(cls, key, bad):
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=key):
        cls([w], lr=0.1, **{key: bad})


def test_single_process_needs_no_group():
    """Without an initialised process group nothing is communicated (the keywords default to
    None and the step is the plain one)."""
    from adamem_core import distributed
    assert not dist.is_initialized()
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = AMSGD([w], lr=0.1, loss_gap="exact")
    assert distributed.plan(opt, per_tensor=False, exact=True) is None


def test_copies_keep_the_process_groups_and_pickles_drop_them():
    """``copy.deepcopy`` keeps the optimizer's process groups (handles on the running job,
    shared by copies) with a copied state; a pickle, which cannot hold a process group, comes
    back as a single-process optimizer (both attributes None). In a one-rank gloo job, in a
    subprocess, so that this process's torch.distributed state stays untouched."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import copy, pickle, socket, torch, torch.distributed as dist
        from adamem_core import AMSGD, AMAdamW
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0,
                                world_size=1)
        try:
            for cls in (AMSGD, AMAdamW):
                w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
                opt = cls([w], lr=0.1, shard_group=dist.group.WORLD, loss_group=dist.group.WORLD)
                w.grad = torch.tensor([0.5, 0.25], dtype=torch.float64)
                opt.step()
                c = copy.deepcopy(opt)
                assert c.shard_group is opt.shard_group and c.loss_group is opt.loss_group
                assert c.state is not opt.state and c.last_stats is not None
                p = pickle.loads(pickle.dumps(opt))
                assert p.shard_group is None and p.loss_group is None
        finally:
            dist.destroy_process_group()
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240, cwd=str(Path(__file__).resolve().parents[1]))
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
