"""One S4D layer by recurrence against the same layer by FFT, and the cost of LSTM / S4D / attention against L.

Part 1: ``ssm_scan`` (L sequential steps) against ``ssm_fft(u, s4d_kernel(...))`` (kernel built every call,
then one FFT convolution; INNER calls per timed sample) at L = 4096, H = 64, N = 64, float32, batch 1; also
the FFT convolution alone (kernel given, as when one kernel serves a whole batch). Part 2: forward seconds
of one layer of each kind as L grows at H = 64, from ``lrd_core.experiments.state_space.sequence_costs``, next to the
leading-order counts.
Run from the repo root: ``python -m bench.bench_ssm``. One thread; interleaved repeats, medians of CPU seconds.
"""

import os
import time

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import torch

from bench._timing import compare, header, result
from lrd_core.experiments import state_space
from lrd_core.models import s4d

L, H, N, BATCH, SEED = 4096, 64, 64, 1, 0
COST_LENGTHS, COST_WIDTH = (256, 512, 1024, 2048, 4096), 64
REPEATS, WARMUP = 7, 1
CLOCK = time.process_time  # CPU seconds of this process: less disturbed by other load than the wall clock
INNER = 10  # calls of the fast side per timed sample: one call of a few ms is too short to time alone here


@torch.no_grad()
def fft_vs_scan() -> None:
    dt, A, C = s4d.s4d_parameters(H, N, "lin", 1e-3, 1e-1, torch.Generator().manual_seed(SEED))
    dt, A, C = dt.float(), A.to(torch.complex64), C.to(torch.complex64)
    u = torch.randn(BATCH, H, L, generator=torch.Generator().manual_seed(SEED + 1))  # (B, H, L)
    y_scan = s4d.ssm_scan(u, dt, A, C)
    K = s4d.s4d_kernel(dt, A, C, L)
    err = float((s4d.ssm_fft(u, K) - y_scan).abs().max())
    print(f"S4D-Lin layer: L = {L}, H = {H}, N = {N}, batch {BATCH}, float32")
    print(f"max |y_fft - y_scan| = {err:.2e} (max |y| = {float(y_scan.abs().max()):.3g})")

    def by_fft(kernel: bool):
        return lambda: [s4d.ssm_fft(u, s4d.s4d_kernel(dt, A, C, L) if kernel else K) for _ in range(INNER)]

    t_scan, t_fft = compare(
        lambda: s4d.ssm_scan(u, dt, A, C), by_fft(True), repeats=REPEATS, warmup=WARMUP, clock=CLOCK
    )
    _, t_conv = compare(lambda: None, by_fft(False), repeats=REPEATS, warmup=WARMUP, clock=CLOCK)
    t_fft, t_conv = t_fft / INNER, t_conv / INNER
    print(
        f"recurrence {t_scan * 1e3:.1f} ms | kernel + FFT {t_fft * 1e3:.2f} ms | FFT convolution alone "
        f"{t_conv * 1e3:.2f} ms"
    )
    print("name | measured | target | verdict")
    result("speed-up recurrence / (kernel + FFT)", t_scan / t_fft, ">= 20x", t_scan / t_fft >= 20, "{:.1f}x")
    print(f"(recurrence / FFT convolution alone: {t_scan / t_conv:.0f}x)")


def cost_table() -> None:
    df = state_space.sequence_costs(COST_LENGTHS, (COST_WIDTH,), N, SEED, repeats=REPEATS)
    wide = df.pivot(index="L", columns="model", values="seconds") * 1e3
    theory = df.pivot(index="L", columns="model", values="theory") * 1e3
    print(
        f"\nForward ms of one layer, H = {COST_WIDTH}, N = {N}, batch 1 (theory: multiply-adds with projections, "
        "scaled to the largest L)"
    )
    cols = list(wide.columns)
    print(f"{'L':>6} | " + " | ".join(f"{c + ' ms':>16} | {'theory':>8}" for c in cols))
    for L_ in wide.index:
        print(f"{L_:>6} | " + " | ".join(f"{wide.loc[L_, c]:>16.2f} | {theory.loc[L_, c]:>8.2f}" for c in cols))


def main() -> None:
    header("S4D: recurrence vs FFT, and cost against L of LSTM, S4D and self-attention")
    fft_vs_scan()
    cost_table()


if __name__ == "__main__":
    main()
