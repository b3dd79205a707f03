"""Self-attention forward + backward time and autograd memory for L = 256 .. 4096, and the fitted log-log slope.

One head of width 64, batch 1, float32, one thread, from
``lrd_core.experiments.attention_cost.self_attention_cost`` (fastest of 5 repeats per L; memory = bytes
autograd keeps for the backward pass). Doubling L should cost 4x once the L x L score matrix dominates,
i.e. slope 2 on a log-log chart. Run from the repo root:
``python -m bench.bench_attention`` (about 30 s).
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

from bench._timing import header, result
from lrd_core import (
    gradients,
    theory,
)
from lrd_core.experiments import attention_cost

LENGTHS = (256, 512, 1024, 2048, 4096)
LARGE = 1024  # the slope is fitted over L >= LARGE, where the quadratic term dominates
REPEATS, D_MODEL, SEED = 5, 64, 0


def main() -> None:
    header("Self-attention: forward + backward against L")
    cost = attention_cost.self_attention_cost(LENGTHS, d_model=D_MODEL, seed=SEED, repeats=REPEATS)
    cost = cost[cost["method"] == "naive"]  # the L x L formula (the fused kernel is on the page)
    print(f"one head, d = {D_MODEL}, batch 1, float32, fastest of {REPEATS}")
    print(f"{'L':>6} | {'ms':>9} | {'x previous':>10} | {'saved MiB':>9} | {'x previous':>10}")
    prev = None
    for row in cost.itertuples():
        t_ratio = f"{row.seconds / prev.seconds:10.2f}" if prev is not None else f"{'':>10}"
        m_ratio = f"{row.saved_bytes / prev.saved_bytes:10.2f}" if prev is not None else f"{'':>10}"
        print(f"{row.L:>6} | {row.seconds * 1e3:9.2f} | {t_ratio} | {row.saved_bytes / 2**20:9.2f} | {m_ratio}")
        prev = row
    large = cost[cost["L"] >= LARGE]
    exponent = theory.ATTENTION_COST_EXPONENT
    print("name | measured | target | verdict")
    for col, label in (("seconds", "time"), ("saved_bytes", "memory")):
        slope = gradients.loglog_slope(large["L"], large[col])
        result(
            f"log-log slope of {label}, L >= {LARGE}",
            slope,
            f"{exponent:g} +- 0.3",
            abs(slope - exponent) <= 0.3,
            "{:.2f}",
        )
    print(
        f"(slope of time over all L: {gradients.loglog_slope(cost['L'], cost['seconds']):.2f}; "
        "the linear projections flatten it at small L)"
    )


if __name__ == "__main__":
    main()
