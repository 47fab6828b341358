r"""Sharded and data-parallel training for :class:`~adamem_core.AMSGD` / :class:`~adamem_core.AMAdamW`.

β is a ratio of inner products (``model.py``). When a rank holds only part of the parameters,
its inner products are only part of the sums; this module completes them with **one all-reduce
of a handful of scalars per step** (no host synchronisation: the collective is enqueued like any
other kernel; the exact gap adds one of the loss), so that every rank takes the same β as
single-process training on the full batch (``docs/method.md#distributed``).

What a rank's optimizer holds, and what is reduced (``key`` below: the process groups over which
a sum is completed):

* **DTensor parameters** (FSDP2 ``fully_shard``, tensor parallelism): each rank holds a shard.
  The optimizer works on the local shards (``to_local()``; a sharded tensor is never flattened or
  reshaped, so any shard size works, empty shards included) and a tensor's sums are reduced over
  the mesh's groups along its ``Shard`` dimensions (replicated dimensions are not reduced). This
  is automatic, for the global β and for the per-tensor β alike.
* **Tensors split over ``shard_group``** (FSDP1: ``FlatParameter``, or the original parameters with
  ``use_orig_params=True``, which FSDP marks ``_fsdp_flattened``): each rank holds a slice of every
  tensor, so a tensor's own sums — the per-tensor β included — are reduced over ``shard_group``.
  With flat parameters the "tensor" of ``beta_scope="tensor"`` is the ``FlatParameter``: one β per
  FSDP unit, the same on every rank.
* **Whole tensors partitioned over ``shard_group``** (``ZeroRedundancyOptimizer``: each rank's
  optimizer owns a disjoint set of whole tensors): a tensor's own sums are complete, so the
  per-tensor β needs no communication and equals single-process training; the global β's sums
  across tensors are reduced over ``shard_group``. ``last_stats`` of the per-tensor scope then
  lists the tensors this rank owns; a rank that owns none joins the all-reduce with zeros and
  keeps ``last_stats`` unset.
* **Replicated tensors** (DDP, single process; no ``shard_group``): nothing is reduced.

With FSDP1's ``use_orig_params=True`` a rank may hold no piece of a tensor (no gradient there):
it joins that tensor's reduction with zeros, and its per-tensor ``last_stats`` lists the tensors
it holds a piece of.

Process groups are not hyper-parameters: they live on the optimizer (``opt.shard_group``,
``opt.loss_group``), not in ``param_groups`` or ``state_dict``; a deep copy or an unpickled
optimizer is a single-process one until they are set again.

With ``loss_gap="exact"`` the loss of the closure is this rank's loss; it is averaged over
``loss_group`` (default: ``shard_group``; with DTensor parameters, their mesh), so that every
rank measures the same gap (and stores the same previous loss).

Reductions are grouped by key: sums that share a key travel in one ``all_reduce``; there is one
key in every usual set-up (the FSDP2 mesh, or ``shard_group``). The exact gap adds one all-reduce
of the loss (a scalar) before the sums: the optimizers measure the gap before they form them.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch

try:
    import torch.distributed as dist
    _AVAILABLE = dist.is_available()
except ImportError:  # pragma: no cover
    dist = None  # type: ignore[assignment]
    _AVAILABLE = False

if _AVAILABLE:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover (older torch)
        DTensor = None  # type: ignore[assignment,misc]
else:  # pragma: no cover
    DTensor = None  # type: ignore[assignment,misc]

__all__ = ["is_dtensor", "local", "local_list", "like", "ShardReduction", "check_group", "plan",
           "global_numel", "unpadded"]

Key = tuple  # a tuple of process groups; () = nothing to reduce


def is_dtensor(t: Any) -> bool:
    return DTensor is not None and isinstance(t, DTensor)


def local(t: Any) -> Any:
    """The local shard of a DTensor (a view of its storage: in-place updates reach the
    parameter); any other tensor unchanged."""
    return t.to_local() if is_dtensor(t) else t


def local_list(ts: Sequence[Any]) -> list:
    return [local(t) for t in ts]


def like(p: Any, t: torch.Tensor) -> Any:
    """``t`` (a local shard) as a DTensor laid out like the parameter ``p`` when ``p`` is one,
    so that optimizer state is sharded as torch's own optimizers keep it (distributed
    checkpoints); any other ``t`` unchanged."""
    if not is_dtensor(p):
        return t
    return DTensor.from_local(t, p.device_mesh, p.placements, shape=p.shape, stride=p.stride(),
                              run_check=False)


def check_group(name: str, group: Any) -> None:
    """``ValueError`` naming the keyword unless ``group`` is None or a process group."""
    if group is None:
        return
    if not _AVAILABLE:
        raise ValueError(f"Invalid {name}: torch.distributed is not available in this build")
    if not isinstance(group, dist.ProcessGroup):
        raise ValueError(f"Invalid {name}: {group!r} (must be a torch.distributed ProcessGroup, "
                         "e.g. dist.group.WORLD or dist.new_group(...), or None)")


def _initialized() -> bool:
    return _AVAILABLE and dist.is_initialized()


def _dtensor_key(t: Any) -> Key:
    mesh = t.device_mesh
    return tuple(mesh.get_group(i) for i, pl in enumerate(t.placements) if pl.is_shard())


def _mesh_key(t: Any) -> Key:
    mesh = t.device_mesh
    return tuple(mesh.get_group(i) for i in range(mesh.ndim))


def _split_over_shard_group(t: Any) -> bool:
    """FSDP1 marks its flat parameters (and, with ``use_orig_params``, the views of the
    originals) ``_fsdp_flattened``: every rank holds a slice of each of them."""
    return bool(getattr(t, "_fsdp_flattened", False))


def _size(key: Key) -> int:
    n = 1
    for g in key:
        n *= dist.get_world_size(g)
    return n


class ShardReduction:
    """The reductions of one step, planned from the optimizer's parameters (host-side only).

    ``per_tensor``: the per-tensor β (:meth:`tensor_sums`) rather than the global one
    (:meth:`global_sums`); ``exact``: the loss is averaged too (:meth:`mean_loss`)."""

    def __init__(self, param_groups: list[dict], shard_group: Any, loss_group: Any,
                 per_tensor: bool, exact: bool) -> None:
        self.per_tensor = per_tensor
        self.n_groups = len(param_groups)
        self.all_params = [p for g in param_groups for p in g["params"]]
        self.group_of = {id(p): gi for gi, g in enumerate(param_groups) for p in g["params"]}
        mesh_key: Key | None = None
        self.keys: dict[int, Key] = {}      # id(param) → groups completing its own sums
        self.cross_key: dict[int, Key] = {}  # id(param) → groups completing a sum across tensors
        for p in self.all_params:
            if is_dtensor(p):
                self.keys[id(p)] = self.cross_key[id(p)] = _dtensor_key(p)
                if mesh_key is None:
                    mesh_key = _mesh_key(p)
            elif shard_group is not None:
                self.keys[id(p)] = (shard_group,) if _split_over_shard_group(p) else ()
                self.cross_key[id(p)] = (shard_group,)
            else:
                self.keys[id(p)] = self.cross_key[id(p)] = ()
        if loss_group is not None:
            self.loss_key: Key = (loss_group,)
        elif shard_group is not None:
            self.loss_key = (shard_group,)
        else:
            self.loss_key = mesh_key or ()
        if not exact:
            self.loss_key = ()
        # the keys every rank reduces whatever it holds this step (a ZeRO rank may own nothing),
        # with their members in param_groups order (the same list on every rank of the key)
        src = self.keys if per_tensor else self.cross_key
        self.members: dict[Key, list] = {}
        for p in self.all_params:
            if src[id(p)]:
                self.members.setdefault(src[id(p)], []).append(p)
        if shard_group is not None and not per_tensor:
            self.members.setdefault((shard_group,), [])

    @property
    def active(self) -> bool:
        """Whether this step communicates at all."""
        return bool(self.members) or bool(self.loss_key)

    def idle(self, k: int, device: torch.device, loss: torch.Tensor | None) -> None:
        """A rank that holds no gradient this step (a ZeRO partition) joins the step's
        all-reduces with zeros, so that its peers do not wait for it."""
        if loss is not None and self.loss_key:
            self.mean_loss(loss)
        empty = torch.zeros(k, 0, dtype=torch.float64, device=device)
        if self.per_tensor:
            self.tensor_sums(empty, [])
        else:
            self.global_sums(empty, [])

    def shard_share(self, p: Any) -> float:
        """1 / (number of ranks holding a slice of ``p``): summed over ranks, one per tensor."""
        return 1.0 / _size(self.keys[id(p)]) if self.keys[id(p)] else 1.0

    # ------------------------------------------------------------------ the one collective
    @staticmethod
    def _all_reduce(blocks: dict[Key, list[torch.Tensor]]) -> dict[Key, list[torch.Tensor]]:
        """Sum the tensors of ``blocks[key]`` over the groups of ``key``: one all_reduce per
        group of the key (one group in the usual set-ups), of all its tensors concatenated."""
        out: dict[Key, list[torch.Tensor]] = {}
        for key, ts in blocks.items():
            flat = torch.cat([t.reshape(-1) for t in ts])     # a fresh buffer: inputs untouched
            for g in key:
                dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=g)
            parts, i = [], 0
            for t in ts:
                parts.append(flat[i:i + t.numel()].view(t.shape))
                i += t.numel()
            out[key] = parts
        return out

    def _cols(self, params: Sequence[Any], src: dict) -> dict[Key, list[int]]:
        cols: dict[Key, list[int]] = {}
        for j, p in enumerate(params):
            cols.setdefault(src[id(p)], []).append(j)
        return cols

    def tensor_sums(self, stacked: torch.Tensor, params: Sequence[Any]) -> torch.Tensor:
        r"""Per-tensor scope: ``stacked`` (``[k, n]``, k sums for each of the n gathered
        ``params``, computed on this rank's shards) completed over every shard of each tensor,
        in one all-reduce per key. A tensor without a gradient on this rank takes part with
        zeros, so that every rank sends the same shape. Columns are picked by slicing and
        stacking, never with an index tensor built on the host (on CUDA that copy would block
        the host)."""
        if not self.members:   # whole tensors (ZeRO): complete on their owner
            return stacked
        k, n = stacked.shape
        cols = self._cols(params, self.keys)
        col = {id(p): j for j, p in enumerate(params)}
        zero = torch.zeros(k, dtype=stacked.dtype, device=stacked.device) \
            if any(len(cols.get(key, ())) < len(m) for key, m in self.members.items()) else None
        blocks: dict[Key, list[torch.Tensor]] = {}
        for key, members in self.members.items():
            if len(cols.get(key, ())) == len(members) == n:   # every column, in order
                blocks[key] = [stacked]
            else:
                blocks[key] = [torch.stack([stacked[:, col[id(q)]] if id(q) in col else zero
                                            for q in members], 1)]
        reduced = self._all_reduce(blocks)
        if len(self.members) == 1 and n:
            key = next(iter(self.members))
            if len(cols.get(key, ())) == len(self.members[key]) == n:
                return reduced[key][0]
        where = {key: {id(q): i for i, q in enumerate(m)} for key, m in self.members.items()}
        out = [reduced[self.keys[id(p)]][0][:, where[self.keys[id(p)]][id(p)]]
               if self.keys[id(p)] else stacked[:, j] for j, p in enumerate(params)]
        return torch.stack(out, 1) if out else stacked

    def global_sums(self, rows: torch.Tensor, params: Sequence[Any]) -> torch.Tensor:
        r"""Global scope: ``rows`` (``[k, n]``, k per-tensor terms of the n gathered ``params``)
        summed over all tensors of all ranks: ``[k]``, one all-reduce per key of its tensors'
        local sums (replicated tensors are complete on every rank and are not reduced)."""
        k, n = rows.shape
        cols = self._cols(params, self.cross_key)

        def part(js: list[int]) -> torch.Tensor:
            if len(js) == n:
                return rows.sum(dim=-1)
            if js == list(range(js[0], js[-1] + 1)):         # contiguous: a slice
                return rows[:, js[0]:js[-1] + 1].sum(dim=-1)
            return torch.stack([rows[:, j] for j in js], 1).sum(dim=-1)

        blocks = {key: [part(cols[key]) if cols.get(key)
                        else torch.zeros(k, dtype=rows.dtype, device=rows.device)]
                  for key in self.members}
        reduced = self._all_reduce(blocks)
        total = part(cols[()]) if cols.get(()) else None
        for key in self.members:
            total = reduced[key][0] if total is None else total + reduced[key][0]
        return total if total is not None else rows.sum(dim=-1)

    def mean_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The exact gap's loss (a float64 0-dim tensor) averaged over the loss group."""
        if not self.loss_key:
            return loss
        total = self._all_reduce({self.loss_key: [loss.reshape(1)]})[self.loss_key][0]
        return total.reshape(()) / _size(self.loss_key)


def global_numel(p: Any) -> int:
    """The number of elements of the whole tensor a shard belongs to (FSDP1 flat parameters:
    without their padding). FSDP1's original parameters (``use_orig_params=True``) do not carry
    it: their shard's size stands in (only AM-AdamW's global-scope effective momentum, a
    diagnostic, uses it)."""
    if is_dtensor(p):
        return p.numel()
    unsharded = getattr(p, "_unpadded_unsharded_size", None)
    if unsharded is not None:
        return int(unsharded.numel())
    return p.numel()


def unpadded(t: torch.Tensor, p: Any) -> torch.Tensor:
    """``t`` (a local shard, 1-D for FSDP1) without the padding FSDP1 appends to the last
    shard of a flat parameter."""
    pad = getattr(p, "_shard_numel_padded", 0) or 0
    return t[: t.numel() - pad] if pad else t


def plan(opt: Any, per_tensor: bool, exact: bool) -> ShardReduction | None:
    """The step's reductions, or None in a plain single-process run (nothing to communicate).
    Warns once per optimizer when the exact gap runs distributed with no group to average the
    loss over."""
    if not _initialized():
        return None
    shard_group = getattr(opt, "shard_group", None)
    loss_group = getattr(opt, "loss_group", None)
    red = ShardReduction(opt.param_groups, shard_group, loss_group, per_tensor, exact)
    if exact and not red.loss_key and dist.get_world_size() > 1 \
            and not getattr(opt, "_warned_loss_group", False):
        opt._warned_loss_group = True
        warnings.warn(
            f"{type(opt).__name__}(loss_gap='exact') in a distributed run without loss_group or "
            "shard_group: each rank measures the gap from its own loss, so ranks may choose "
            "different β and replicas drift apart. Pass loss_group=dist.group.WORLD (DDP) or "
            "shard_group=... (ZeRO, FSDP1).", RuntimeWarning, stacklevel=3)
    if not red.active:
        return None
    return red
