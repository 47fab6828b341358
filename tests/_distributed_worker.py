"""One rank of tests/test_distributed.py: ``python _distributed_worker.py RANK WORLD PORT OUT``.

Runs every scenario (a parallel wrapper × an optimizer configuration) for a few full-batch
float64 steps on this rank's half of the data, and saves per scenario: the full parameters after
the last step, the β of every step, the last ``last_stats``, whether the stats are plain tensors,
the number of RuntimeWarnings about the loss group, and any error (so that one broken scenario
does not hide the others). The single-process references are computed by the test itself.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import traceback
import warnings

import torch
import torch.distributed as dist
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adamem_core import AMAdamW, AMSGD  # noqa: E402
from _distributed_cases import (SCENARIOS, STEPS, data, make_model, param_groups,  # noqa: E402
                                step)


def _loss(model, X, y):
    return ((model(X) - y) ** 2).mean()


def _wrap(kind: str, model: nn.Module, case: dict):
    """(wrapped module, the parameters the optimizer sees, full_params())."""
    if kind == "ddp" or kind == "zero":
        from torch.nn.parallel import DistributedDataParallel as DDP
        m = DDP(model)
        return m, list(m.parameters()), lambda: [p.detach().clone() for p in model.parameters()]
    if kind == "fsdp2":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
        mesh = init_device_mesh("cpu", (dist.get_world_size(),))
        for layer in model:
            if isinstance(layer, nn.Linear):
                fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model, list(model.parameters()), \
            lambda: [p.full_tensor().detach().clone() for p in model.parameters()]
    if kind in ("fsdp1", "fsdp1_nested"):
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy
        policy = ModuleWrapPolicy({nn.Linear}) if kind == "fsdp1_nested" else None
        m = FSDP(model, device_id=torch.device("cpu"), auto_wrap_policy=policy,
                 use_orig_params=case.get("use_orig_params", False))

        def full():
            sd = m.state_dict()   # FULL_STATE_DICT: the unsharded tensors, names as model's
            names = make_model(case.get("model", "mlp")).state_dict()
            return [sd[k].detach().clone() for k in names]
        return m, list(m.parameters()), full
    raise ValueError(kind)


def _run(name: str, case: dict, rank: int, world: int) -> dict:
    torch.manual_seed(0)
    model = make_model(case.get("model", "mlp"))
    X, y = data()
    half = X.shape[0] // world
    X, y = X[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]
    wrapped, params, full = _wrap(case["wrapper"], model, case)
    cls = AMSGD if case["opt"] == "amsgd" else AMAdamW
    kw = dict(case["kw"])
    if kw.pop("shard_group", None):
        kw["shard_group"] = dist.group.WORLD
    if kw.pop("loss_group", None):
        kw["loss_group"] = dist.group.WORLD
    groups = param_groups(params, case.get("groups"))
    if case["wrapper"] == "zero":
        from torch.distributed.optim import ZeroRedundancyOptimizer
        opt = ZeroRedundancyOptimizer(groups, optimizer_class=cls, **kw)
        inner = opt.optim
        where = {id(p): i for i, p in enumerate(params)}
        # the tensors this rank owns, in its optimizer's order (that of its per-tensor stats)
        owned = [where[id(q)] for g in inner.param_groups for q in g["params"]]
    else:
        opt = inner = cls(groups, **kw)
        owned = list(range(len(params)))

    def closure():
        opt.zero_grad()
        loss = _loss(wrapped, X, y)
        loss.backward()
        return loss

    betas, unclipped = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(STEPS):
            step(opt, closure, kw)
            if inner.last_stats is None:   # a ZeRO rank that owns no tensor
                continue
            betas.append(inner.last_stats["beta"].detach().clone())
            unclipped.append(inner.last_stats["unclipped"].detach().clone())
    n_warn = sum("loss_group" in str(w.message) for w in caught
                 if issubclass(w.category, RuntimeWarning))
    if case["wrapper"] != "zero":   # the tensors with a piece on this rank (FSDP1 orig params)
        owned = [i for i, p in enumerate(params) if p.grad is not None and p.numel()]
    stats = inner.last_stats or {}
    return {"params": full(), "betas": betas, "unclipped": unclipped, "owned": owned,
            "plain": all(type(v) is torch.Tensor for v in stats.values()),
            "stats": {k: v.detach().clone() for k, v in stats.items()}, "warnings": n_warn}


def main() -> None:
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=60))
    only = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else list(SCENARIOS)
    results = {}
    for name in only:
        t0 = time.perf_counter()
        try:
            results[name] = _run(name, SCENARIOS[name], rank, world)
        except Exception:   # recorded: the test of this scenario fails with it
            results[name] = {"error": traceback.format_exc()}
        dist.barrier()
        print(f"rank {rank}: {name} {time.perf_counter() - t0:.1f} s", flush=True)
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
