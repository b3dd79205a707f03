"""Page "Attention", its cost section: what self-attention costs in time and memory as L grows.

The naive formula builds the L x L score matrix (O(L²) time and memory); PyTorch's
``F.scaled_dot_product_attention`` picks a fused, memory-efficient kernel where one exists (Rabe & Staats
2021; Dao et al. 2022, FlashAttention): the same O(L²) multiply-adds in O(L) memory. Measured here next
to the counts of :mod:`lrd_core.theory` that predict both, with slopes fitted only where a count's leading
term dominates.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core import theory
from lrd_core.gradients import loglog_slope, saved_bytes
from lrd_core.limits import MAX_ATTENTION_COST_LEN, MAX_PROBE_BYTES
from lrd_core.models.transformer import self_attention
from lrd_core.validate import check_int

COST_METHODS = {  # method key -> the series name the page shows
    "naive": "naive: builds the L × L matrix",
    "sdpa": "F.scaled_dot_product_attention",
}


def sdpa_attention(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor) -> torch.Tensor:
    """:func:`self_attention` through PyTorch's fused kernel: x (B, L, D) -> (B, L, D), same maths.

    ``F.scaled_dot_product_attention`` picks a memory-efficient kernel where one exists (on the CPU its
    FlashAttention-style kernel): A = softmax(QKᵀ/√D) is computed block by block and never stored whole.
    """
    q, k, v = (  # (B, 1, L, D) each: one head
        (x @ W).unsqueeze(1) for W in (W_q, W_k, W_v)
    )
    return F.scaled_dot_product_attention(q, k, v).squeeze(1)  # (B, L, D)


def naive_attention_peak_bytes(L: int, d_model: int = 64) -> int:
    """Peak bytes of one forward + backward pass of the naive :func:`self_attention`, x (1, L, D), float32.

    Three L x L matrices are alive at once in the backward pass: A = softmax(S) (kept for the backward),
    ∂L/∂A (from A·V) and ∂L/∂S (the softmax's backward); next to them x, Q, K, V, the output and their
    gradients, 8·L·D, and the three weights and their gradients, 6·D². bytes = 4·(3L² + 8LD + 6D²).
    At D = 64: 52 MB at L = 2048, 201 MB at L = 4096 (measured peak RSS: about 58 and 204 MB).
    """
    L = check_int("L", L, 1, MAX_ATTENTION_COST_LEN)
    D = check_int("d_model", d_model, 1, 1024)
    return 4 * (3 * L * L + 8 * L * D + 6 * D * D)


def longest_timed_length(max_L: int, d_model: int = 64, max_bytes: int = MAX_PROBE_BYTES) -> int:
    """The largest power of two <= ``max_L`` whose :func:`naive_attention_peak_bytes` fits ``max_bytes``
    (at least 64, the shortest length the page times): the longest L the cost chart may time."""
    max_L = check_int("max_L", max_L, 64, MAX_ATTENTION_COST_LEN)
    L = 1 << (max_L.bit_length() - 1)
    while L > 64 and naive_attention_peak_bytes(L, d_model) > max_bytes:
        L //= 2
    return L


def self_attention_cost(lengths, d_model: int = 64, seed: int = 0, repeats: int = 3) -> pd.DataFrame:
    """Measured forward + backward seconds (fastest of ``repeats``) and autograd memory of self-attention per L,
    by the naive formula (:func:`self_attention`) and by :func:`sdpa_attention`, on the same x and weights.

    Tidy rows: ``L``, ``method`` (a key of COST_METHODS), ``series`` (its name), ``seconds``,
    ``saved_bytes`` (storage autograd keeps for the backward pass, measured with saved-tensor hooks) and
    ``flops`` (multiply-adds, :func:`lrd_core.theory.attention_flops`, the same for both). Batch 1,
    float32, one head of width ``d_model``, on the CPU.
    """
    lengths = [check_int("L", v, 2, MAX_ATTENTION_COST_LEN) for v in lengths]
    d_model = check_int("d_model", d_model, 1, 1024)
    repeats = check_int("repeats", repeats, 1, 20)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    W = [torch.randn(d_model, d_model, generator=g) / d_model**0.5 for _ in range(3)]  # W_q, W_k, W_v
    fns = {"naive": self_attention, "sdpa": sdpa_attention}
    rows = []
    for L in lengths:
        x = torch.randn(1, L, d_model, generator=g, requires_grad=True)  # (1, L, D)
        flops = sum(theory.attention_flops(L, d_model).values())
        for method, fn in fns.items():
            best, saved = float("inf"), 0
            for _ in range(repeats):
                start = time.perf_counter()
                out, saved = saved_bytes(lambda x=x, fn=fn: fn(x, *W))
                out.sum().backward()
                best = min(best, time.perf_counter() - start)
                x.grad = None
            rows.append(
                {
                    "L": L,
                    "method": method,
                    "series": COST_METHODS[method],
                    "seconds": best,
                    "saved_bytes": saved,
                    "flops": flops,
                }
            )
    return pd.DataFrame(rows)


def cost_slopes(cost: pd.DataFrame, d_model: int = 64) -> pd.DataFrame:
    """Log-log slopes of a :func:`self_attention_cost` table, each fitted only where its leading term dominates.

    For each method and quantity ("seconds": the count :func:`lrd_core.theory.attention_flops`, leading term
    the L² scores; "saved_bytes": :func:`lrd_core.theory.attention_saved_floats`, leading term A for "naive"
    and the terms growing with L for "sdpa") the fit uses the L where the leading term is at least
    ``theory.DOMINANT_SHARE`` of the count. Rows: method, quantity, L_from, L_to, points, measured (slope of
    the measurement), model (slope of the count over the same L), asymptotic (its exponent as L -> ∞),
    dominated (False when fewer than two L qualify: then the two largest L are fitted).
    """
    rows = []
    for method, d in cost.groupby("method", sort=False):
        d = d.sort_values("L")
        L = d["L"].to_numpy(dtype=float)
        models = {
            "seconds": (theory.attention_flops(L, d_model), ("scores and A·V",), 2.0),
            "saved_bytes": (
                theory.attention_saved_floats(L, d_model, method),
                ("A (L x L)",) if method == "naive" else ("Q, K, V and output", "log-sum-exp"),
                2.0 if method == "naive" else 1.0,
            ),
        }
        for quantity, (terms, leading, asymptotic) in models.items():
            mask = theory.dominant_mask(terms, leading)
            dominated = bool(mask.sum() >= 2)
            if not dominated:  # too few sizes where the leading term dominates: fit the largest two
                mask = np.sort(L)[-2] <= L
            count = sum(terms.values())
            rows.append(
                {
                    "method": method,
                    "quantity": quantity,
                    "L_from": int(L[mask].min()),
                    "L_to": int(L[mask].max()),
                    "points": int(mask.sum()),
                    "measured": loglog_slope(L[mask], d[quantity].to_numpy(dtype=float)[mask]),
                    "model": loglog_slope(L[mask], count[mask]),
                    "asymptotic": asymptotic,
                    "dominated": dominated,
                }
            )
    return pd.DataFrame(rows)


TIME_MODEL = "model: 3·L·D² + 2·L²·D multiply-adds, through the largest naive L"
MEMORY_MODELS = {"naive": "model (naive): 4·(L² + 3LD + 3D²) bytes", "sdpa": "model (sdpa): 4·(4LD + L + 3D²) bytes"}


def cost_with_models(cost: pd.DataFrame, d_model: int = 64) -> dict[str, pd.DataFrame]:
    """The :func:`self_attention_cost` table with the models added as series, one frame per quantity.

    "seconds": the multiply-add count scaled through the naive time at the largest L (TIME_MODEL);
    "saved_bytes": 4 bytes per float of :func:`lrd_core.theory.attention_saved_floats` for each method
    (MEMORY_MODELS), unscaled. Columns L, series and the quantity.
    """
    L = np.sort(cost["L"].unique()).astype(float)
    ref = cost[(cost["method"] == "naive") & (cost["L"] == L[-1])].iloc[0]
    flops = sum(theory.attention_flops(L, d_model).values())
    models = {
        "seconds": [pd.DataFrame({"L": L, "series": TIME_MODEL, "seconds": flops * ref["seconds"] / ref["flops"]})],
        "saved_bytes": [
            pd.DataFrame(
                {"L": L, "series": name, "saved_bytes": 4 * sum(theory.attention_saved_floats(L, d_model, m).values())}
            )
            for m, name in MEMORY_MODELS.items()
        ],
    }
    return {q: pd.concat([cost[["L", "series", q]], *frames], ignore_index=True) for q, frames in models.items()}
