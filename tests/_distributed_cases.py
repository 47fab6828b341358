"""The scenarios of tests/test_distributed.py, shared by the test (single-process references)
and its worker processes (tests/_distributed_worker.py).

The model has evenly and unevenly sharded tensors for 2 ranks: [32, 6], [32] and [32, 3] split
evenly, [3, 32] and [3] unevenly (2 + 1 rows), [1, 32] and [1] leave one rank an empty shard.
"""

from __future__ import annotations

import torch
from torch import nn

STEPS = 5
N_SAMPLES = 16


def make_model(kind: str = "mlp") -> nn.Module:
    torch.manual_seed(0)
    if kind == "single":   # one tensor: under ZeRO one rank owns nothing
        return nn.Sequential(nn.Linear(6, 1, bias=False)).double()
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3), nn.Tanh(),
                         nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 1)).double()


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(N_SAMPLES, 6, generator=g, dtype=torch.float64)
    return X, torch.sin(X.sum(1, keepdim=True))


def param_groups(params: list, split: dict | None) -> list:
    """All parameters in one group, or ``split = {"at": k, "lr": η}``: the first k tensors in
    a group of their own with learning rate η."""
    if not split:
        return [{"params": params}]
    return [{"params": params[:split["at"]], "lr": split["lr"]}, {"params": params[split["at"]:]}]


def step(opt, closure, kw: dict) -> None:
    """One step: through the closure where the exact gap needs it, else backward then step."""
    if kw.get("loss_gap") == "exact":
        opt.step(closure)
    else:
        closure()
        opt.step()


# name → wrapper, optimizer, keywords (shard_group/loss_group: True = dist.group.WORLD),
# optional param groups, the keywords of the single-process reference (default: the same,
# without the groups), whether the per-tensor stats are each rank's own tensors (ZeRO)
SCENARIOS: dict[str, dict] = {
    "ddp_amsgd_taylor": dict(wrapper="ddp", opt="amsgd", kw=dict(lr=0.05)),
    "ddp_amsgd_exact": dict(wrapper="ddp", opt="amsgd",
                            kw=dict(lr=0.05, loss_gap="exact", loss_group=True)),
    "ddp_amadamw_exact": dict(wrapper="ddp", opt="amadamw",
                              kw=dict(lr=0.01, loss_gap="exact", loss_group=True)),
    "ddp_exact_no_group": dict(wrapper="ddp", opt="amsgd", kw=dict(lr=0.05, loss_gap="exact"),
                               reference=False),
    "fsdp2_amsgd": dict(wrapper="fsdp2", opt="amsgd", kw=dict(lr=0.05)),
    "fsdp2_amsgd_tensor": dict(wrapper="fsdp2", opt="amsgd",
                               kw=dict(lr=0.05, beta_scope="tensor", weight_decay=0.01,
                                       foreach=True)),
    "fsdp2_amsgd_groups": dict(wrapper="fsdp2", opt="amsgd", kw=dict(lr=0.05),
                               groups=dict(at=2, lr=0.02)),
    "fsdp2_amadamw": dict(wrapper="fsdp2", opt="amadamw", kw=dict(lr=0.01, foreach=True)),
    "fsdp2_amadamw_global_exact": dict(wrapper="fsdp2", opt="amadamw",
                                       kw=dict(lr=0.01, beta_scope="global", loss_gap="exact")),
    "zero_amsgd": dict(wrapper="zero", opt="amsgd", kw=dict(lr=0.05, shard_group=True)),
    "zero_amsgd_exact_groups": dict(wrapper="zero", opt="amsgd",
                                    kw=dict(lr=0.05, shard_group=True, loss_gap="exact"),
                                    groups=dict(at=2, lr=0.02)),
    "zero_amadamw": dict(wrapper="zero", opt="amadamw", kw=dict(lr=0.01, shard_group=True),
                         own_tensors=True),
    "zero_amadamw_global": dict(wrapper="zero", opt="amadamw",
                                kw=dict(lr=0.01, shard_group=True, beta_scope="global")),
    "zero_amsgd_idle_rank": dict(wrapper="zero", opt="amsgd", model="single",
                                 kw=dict(lr=0.05, shard_group=True)),
    "fsdp1_amsgd": dict(wrapper="fsdp1", opt="amsgd", kw=dict(lr=0.05, shard_group=True)),
    "fsdp1_nested_amsgd_exact": dict(wrapper="fsdp1_nested", opt="amsgd",
                                     kw=dict(lr=0.05, shard_group=True, loss_gap="exact")),
    # FSDP1 with use_orig_params: each original parameter is split over the ranks (a rank may
    # hold none of it, and then has no gradient for it): per-tensor β of each original tensor
    "fsdp1_orig_amsgd_tensor": dict(wrapper="fsdp1", opt="amsgd", use_orig_params=True,
                                    kw=dict(lr=0.05, shard_group=True, beta_scope="tensor")),
    "fsdp1_orig_amadamw": dict(wrapper="fsdp1_nested", opt="amadamw", use_orig_params=True,
                               kw=dict(lr=0.01, shard_group=True)),
    # one FSDP unit: one flat parameter, so its per-tensor β is the single process's global β
    # (the effective momentum differs by definition: one tensor's mean vs the mean over tensors)
    "fsdp1_amadamw_tensor": dict(wrapper="fsdp1", opt="amadamw",
                                 kw=dict(lr=0.01, shard_group=True),
                                 reference_kw=dict(lr=0.01, beta_scope="global"),
                                 skip_stats=("effective_momentum",)),
}
