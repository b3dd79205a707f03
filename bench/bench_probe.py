"""Per-step gradient norms: one backward pass for all T states vs T separate ``autograd.grad`` calls.

Run from the repo root: ``python -m bench.bench_probe``. Target: speed-up >= 50x at T = 500.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import time

import torch

from bench._timing import compare, header, result
from lrd_core.gradients import grad_norms_one_at_a_time, grad_norms_through_time, readout_direction
from lrd_core.models.recurrent import ElmanRNN, RNNConfig
from lrd_core.tasks import adding_problem

T, BATCH, SEED = 500, 1, 0
REPEATS, WARMUP = 5, 1
TARGET = 50.0


def main() -> None:
    header(f"probe: one backward pass vs T autograd.grad calls (T={T}, batch {BATCH})")
    config = RNNConfig()  # defaults: H=64, tanh, orthogonal W, rho=1
    g = torch.Generator().manual_seed(SEED)
    model = ElmanRNN(config, g)
    x, _ = adding_problem(BATCH, T, g)
    v = readout_direction(config.hidden_size, g)
    print(f"model: ElmanRNN {config}")

    def probe(norms_fn):
        states, _ = model.unroll(x)  # fresh forward pass each time, as a real probe does
        loss = (states[-1] @ v).sum()
        return norms_fn(states, loss)

    one = probe(grad_norms_through_time)
    ref = probe(grad_norms_one_at_a_time)
    rel = ((one - ref).abs() / ref.abs().clamp_min(1e-300)).max().item()
    n_zero = int((one == 0).sum())
    print(
        f"agreement: max relative difference {rel:.2e} over {T} steps, bit-identical: {torch.equal(one, ref)} "
        f"(norms from {one.min().item():.3e} to {one.max().item():.3e}; {n_zero} exactly 0 by float32 underflow)"
    )

    t_one, t_naive = compare(
        lambda: probe(grad_norms_through_time),
        lambda: probe(grad_norms_one_at_a_time),
        repeats=REPEATS,
        warmup=WARMUP,
        clock=time.process_time,
    )
    print(
        f"median CPU seconds (forward included, {REPEATS} interleaved repeats): "
        f"one pass {t_one:.4f}, one at a time {t_naive:.4f}"
    )
    result(
        "speed-up one_at_a_time / through_time",
        t_naive / t_one,
        f">= {TARGET:g}x",
        t_naive / t_one >= TARGET,
        fmt="{:.1f}x",
    )
    result("agreement max rel diff", rel, "<= 1e-5", rel <= 1e-5, fmt="{:.1e}")


if __name__ == "__main__":
    main()
