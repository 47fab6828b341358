"""Benchmark of ``adamem_core.mlp.train`` against a plain PyTorch loop, measured in one process.

Workload: 6 optimizer specs (AM-SGD, AM-AdamW, SGD, EMA momentum β=0.9, Nesterov, AdamW) ×
500 full-batch steps of a 2-32-32-2 tanh MLP on 1,000 training points of two moons, on the CPU.

Baseline: the same 6 × 500 steps written plainly (``nn.Sequential`` forward, cross-entropy,
backward, ``torch.optim.SGD(momentum=0.9)`` step, loss kept as a tensor and converted at the end).
A second reference runs the plain loop with the *same six optimizers* as ``train()``, which
separates the cost of the AM optimizers themselves from the overhead of ``train()``.

Each measurement is repeated ``--repeats`` times, alternating, and the medians are reported, as
wall-clock seconds and as this process's CPU seconds (``time.process_time``). Every loop runs with
one torch thread (``train()``'s default ``num_threads=1``; see its docstring), so on a machine
shared with other processes the CPU seconds are the steadier figure; the PASS/MISS verdict uses the
wall clock unless ``--cpu-time`` is given.

    python benchmarks/mlp.py [--repeats 5] [--steps 500]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from adamem_core.mlp import build_mlp, make_dataset, train
from adamem_core.specs import OptimizerSpec

SPECS = [
    OptimizerSpec("am_sgd", 0.3),
    OptimizerSpec("am_adamw", 0.02),
    OptimizerSpec("sgd", 0.3),
    OptimizerSpec("sgd_ema", 0.3, beta=0.9),
    OptimizerSpec("nesterov", 0.3, beta=0.9),
    OptimizerSpec("adamw", 0.02),
]


def plain_loop(X: torch.Tensor, y: torch.Tensor, base: torch.nn.Module, steps: int,
               make_opt) -> None:
    model = copy.deepcopy(base)
    opt = make_opt(model.parameters())
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    torch.stack(losses).cpu().numpy()


def timed(f) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--cpu-time", action="store_true",
                    help="judge PASS/MISS on CPU seconds instead of wall-clock seconds")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    # 1,334 points with a 25 % test split: exactly 1,000 training points
    ds = make_dataset("moons", n=1334, noise=0.2, seed=0)
    X, y = torch.tensor(ds.X_train), torch.tensor(ds.y_train)
    base = build_mlp(2, (32, 32), 2, "tanh", seed=0)
    n = len(SPECS)
    print(f"workload: {n} specs × {args.steps} full-batch steps, 2-32-32-2 tanh MLP, "
          f"{ds.n_train} training points (+{ds.n_test} test), CPU, 1 torch thread, "
          f"{args.repeats} repeats (medians)")

    def run_train(**kw) -> None:
        train(ds, (32, 32), "tanh", SPECS, args.steps, seed=0, device="cpu",
              enforce_limits=False, **kw)

    def run_plain_sgd() -> None:
        for _ in range(n):
            plain_loop(X, y, base, args.steps, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))

    def run_plain_same() -> None:
        for s in SPECS:
            plain_loop(X, y, base, args.steps, s.make)

    cases = {
        "train() default": run_train,
        "train() record_every=1": lambda: run_train(record_every=1),
        "plain loop, torch SGD ×6": run_plain_sgd,
        "plain loop, same 6 optimizers": run_plain_same,
    }
    run_train(record_every=1)           # warm-up (lazy imports, allocator)
    run_plain_sgd()
    wall: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for k, f in cases.items():
            w, c = timed(f)
            wall[k].append(w)
            cpu[k].append(c)
    mw = {k: statistics.median(v) for k, v in wall.items()}
    mc = {k: statistics.median(v) for k, v in cpu.items()}

    print()
    print(f"{'measurement':32s} {'wall median':>11s} {'(min-max)':>15s} {'CPU median':>11s}")
    for k in cases:
        print(f"{k:32s} {mw[k]:10.3f}s {min(wall[k]):6.2f}-{max(wall[k]):<6.2f}s "
              f"{mc[k]:10.3f}s")

    med = mc if args.cpu_time else mw
    other = mw if args.cpu_time else mc
    clock, other_clock = ("CPU", "wall") if args.cpu_time else ("wall", "CPU")
    base_k = "plain loop, torch SGD ×6"
    rows = [
        ("train() default: total seconds", "train() default", None, "≤ 2.0 s", 2.0),
        ("train() default / plain torch SGD", "train() default", base_k, "≤ 1.30×", 1.3),
        ("train() record_every=1 / plain torch SGD", "train() record_every=1", base_k,
         "(info)", None),
        ("same 6 optimizers plain / plain torch SGD", "plain loop, same 6 optimizers", base_k,
         "(info)", None),
        ("train() default / same 6 optimizers plain", "train() default",
         "plain loop, same 6 optimizers", "(info: overhead)", None),
    ]
    print()
    print(f"{'figure (' + clock + ' clock)':44s} {'value':>8s} {'(' + other_clock + ')':>9s} "
          f"{'target':>17s}  result")
    for name, num, den, target, lim in rows:
        v = med[num] / (med[den] if den else 1.0)
        v2 = other[num] / (other[den] if den else 1.0)
        unit = "s" if den is None else "×"
        res = "" if lim is None else ("PASS" if v <= lim else "MISS")
        print(f"{name:44s} {v:7.3f}{unit} {v2:8.3f}{unit} {target:>17s}  {res}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
