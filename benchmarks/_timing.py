"""Timing shared by the benchmarks: wall-clock and CPU seconds of each repetition."""

from __future__ import annotations

import time


def timed(fn, reps: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (process) seconds of each repetition. On a machine shared with other
    jobs the wall clock includes waiting for a core; the CPU time does not."""
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu
