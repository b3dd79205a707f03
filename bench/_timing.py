"""Shared timing helpers: interleaved A/B repetitions, medians, one result line per measurement.

The host is noisy (shared CPU cores), so absolute seconds mean little; a ratio of
medians from A and B run alternately in the same process is what each benchmark reports.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def single_thread() -> str:
    """Pin torch (and BLAS via OMP_NUM_THREADS) to one thread; return a line saying so for the output."""
    os.environ["OMP_NUM_THREADS"] = "1"  # only fully effective if also set before torch is imported (each script does)
    import torch

    torch.set_num_threads(1)
    omp = os.environ.get("OMP_NUM_THREADS")
    return f"threads: OMP_NUM_THREADS={omp}, torch.get_num_threads()={torch.get_num_threads()}"


def header(title: str) -> None:
    """Print what is measured and on what: python, torch, threads."""
    import torch

    print(f"== {title} ==")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs visible"
    )
    print(single_thread())


def time_once(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of one call of ``fn`` by ``clock`` (wall clock by default)."""
    start = clock()
    fn()
    return clock() - start


def compare_samples(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    repeats: int = 7,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Seconds of every one of ``repeats`` interleaved calls of ``fn_a`` and ``fn_b`` (A B, B A, A B, ...).

    The order alternates every round so neither side always runs first after a
    pause; ``warmup`` untimed rounds of each come before. ``clock`` may be
    ``time.process_time`` (CPU seconds of this process): on a shared host it is
    less disturbed by other processes than the wall clock.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for i in range(repeats):
        if i % 2 == 0:
            times_a.append(time_once(fn_a, clock))
            times_b.append(time_once(fn_b, clock))
        else:
            times_b.append(time_once(fn_b, clock))
            times_a.append(time_once(fn_a, clock))
    return times_a, times_b


def compare(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    repeats: int = 7,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Median seconds of ``fn_a`` and ``fn_b`` over interleaved runs; see :func:`compare_samples`."""
    times_a, times_b = compare_samples(fn_a, fn_b, repeats, warmup, clock)
    return statistics.median(times_a), statistics.median(times_b)


def result(name: str, measured: float, target: str, ok: bool, fmt: str = "{:.3g}") -> str:
    """One line ``name | measured | target | PASS/MISS``, printed and returned."""
    line = f"{name} | {fmt.format(measured)} | {target} | {'PASS' if ok else 'MISS'}"
    print(line)
    return line
