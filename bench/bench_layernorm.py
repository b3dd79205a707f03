"""LayerNorm placement: what the probes and the race cost.

1. A block Jacobian (T·D x T·D, float64) by ``flat_jacobian`` (autograd, vectorised with vmap) against one
   ``autograd.grad`` call per output coordinate; the two must agree to rounding.
2. One training step (forward, backward, Adam) of the 6-block, d_model 64 copy-task model for each placement:
   moving the LayerNorm costs nothing, so the race compares placements at equal compute.

Run from the repo root: ``python -m bench.bench_layernorm`` (about 15 s).
Targets: vectorised Jacobian >= 3x faster; every placement's step within 20 % of Pre-LN's.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import time

import torch
from torch.nn import functional as F

from bench._timing import compare, header, result
from lrd_core.experiments.layernorm import LN_JAC_STEPS, LN_JAC_WIDTH, layernorm_tagger
from lrd_core.gradients import flat_jacobian
from lrd_core.tasks import LN_COPY_GAP, LN_COPY_LENGTH, LN_COPY_SYMBOLS, copy_memory

SEED, REPEATS, WARMUP = 0, 5, 1
JAC_TARGET, STEP_TOLERANCE = 3.0, 0.2
LAYERS, WIDTH, BATCH = 6, 64, 32


def jacobian_rows(fn, x: torch.Tensor) -> torch.Tensor:
    """The naive reference: one ``autograd.grad`` call per output coordinate -> (T·D, T·D)."""
    xi = x.detach().requires_grad_(True)
    out = fn(xi).reshape(-1)
    rows = [torch.autograd.grad(out[i], xi, retain_graph=True)[0].reshape(-1) for i in range(out.numel())]
    return torch.stack(rows)


def bench_jacobian() -> None:
    g = torch.Generator().manual_seed(SEED)
    block = layernorm_tagger("pre", 1, LN_JAC_WIDTH, g, torch.float64).encoder.blocks[0]
    x = torch.randn(1, LN_JAC_STEPS, LN_JAC_WIDTH, generator=g, dtype=torch.float64)
    fast, slow = flat_jacobian(block, x), jacobian_rows(block, x)
    diff = (fast - slow).abs().max().item()
    print(f"block Jacobian {tuple(fast.shape)}: max |vectorised − row by row| = {diff:.1e}")
    t_fast, t_slow = compare(
        lambda: flat_jacobian(block, x),
        lambda: jacobian_rows(block, x),
        repeats=REPEATS,
        warmup=WARMUP,
        clock=time.process_time,
    )
    print(f"median CPU seconds: vectorised {t_fast:.4f}, row by row {t_slow:.4f}")
    result(
        "speed-up row by row / vectorised",
        t_slow / t_fast,
        f">= {JAC_TARGET:g}x",
        t_slow / t_fast >= JAC_TARGET,
        fmt="{:.1f}x",
    )
    result("agreement max abs diff", diff, "<= 1e-12", diff <= 1e-12, fmt="{:.1e}")


def step_fn(placement: str):
    g = torch.Generator().manual_seed(SEED)
    model = layernorm_tagger(placement, LAYERS, WIDTH, g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = copy_memory(BATCH, LN_COPY_GAP, g, n_symbols=LN_COPY_SYMBOLS, length=LN_COPY_LENGTH)

    def step():
        loss = F.cross_entropy(model(x).transpose(1, 2), y)  # logits (B, classes, T) vs y (B, T)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bench_steps() -> None:
    pre = step_fn("pre")
    for placement in ("post", "deepnorm"):
        t_other, t_pre = compare(step_fn(placement), pre, repeats=REPEATS * 4, warmup=WARMUP, clock=time.process_time)
        print(f"{placement}: {1000 * t_other:.1f} ms per step, pre: {1000 * t_pre:.1f} ms")
        ratio = t_other / t_pre
        result(
            f"step time {placement} / pre",
            ratio,
            f"within {STEP_TOLERANCE:.0%} of 1",
            abs(ratio - 1) <= STEP_TOLERANCE,
            fmt="{:.2f}",
        )


def main() -> None:
    header(
        f"LayerNorm placement: block Jacobian (T={LN_JAC_STEPS}, D={LN_JAC_WIDTH}) and training step "
        f"({LAYERS} blocks, d_model {WIDTH}, batch {BATCH})"
    )
    bench_jacobian()
    bench_steps()


if __name__ == "__main__":
    main()
