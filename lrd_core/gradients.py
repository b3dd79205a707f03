"""The shared measuring kit of the probes: how big a learning signal is, and what a computation costs.

- per-step gradient norms ‖∂loss/∂h_t‖ for every t from ONE backward pass (and the slow reference, one
  autograd call per t, kept for benchmarks and tests);
- the fixed random read-out direction the probes' losses use, the first lag whose norm is not finite;
- flattened Jacobians, log-log slopes of measured curves, median wall seconds and autograd's saved bytes.

Every page topic in :mod:`lrd_core.experiments` builds on these; none of them is specific to one page.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch


def grad_norms_through_time(states: list[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
    """||dL/dh_t|| for every state in ``states`` (T tensors (B, H)) from one backward pass -> (B, T).

    dL/dh_t is the total derivative: every path from h_t to the loss, through
    all later states, is included. A state the loss does not reach gets 0.
    """
    grads = torch.autograd.grad(loss, states, allow_unused=True, materialize_grads=True)
    return torch.stack(grads, dim=1).flatten(2).double().norm(dim=-1)  # (B, T); float64: the norm cannot overflow


def grad_norms_one_at_a_time(states: list[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
    """The naive reference: one ``torch.autograd.grad`` call per state -> (B, T). Slow; for tests and bench."""
    norms = []
    for h in states:
        (g,) = torch.autograd.grad(loss, h, retain_graph=True, allow_unused=True, materialize_grads=True)
        norms.append(g.flatten(1).double().norm(dim=1))
    return torch.stack(norms, dim=1)


def readout_direction(hidden_size: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """A random unit vector v (H,): the probe's loss is L = v . h_T, so ||dL/dh_T|| = 1."""
    v = torch.randn(hidden_size, generator=generator, dtype=torch.float64)
    return (v / v.norm()).to(dtype)


def first_nonfinite_lag(df: pd.DataFrame) -> int | None:
    """Smallest distance T - t at which ``grad_norm`` is inf or NaN (an overflow), or None."""
    bad = df.loc[~np.isfinite(df["grad_norm"]), "lag"]
    return int(bad.min()) if len(bad) else None


def saved_bytes(fn) -> tuple[torch.Tensor, int]:
    """(fn(), bytes of the distinct storages autograd keeps for the backward pass while fn() builds its graph)."""
    storages = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the exponent p of y ~ x**p); needs 2+ positive points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        raise ValueError(f"x and y need at least 2 positive points for a slope, got {int(ok.sum())}")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def flat_jacobian(fn, x: torch.Tensor) -> torch.Tensor:
    """The Jacobian of ``fn`` at x (1, T, D) by autograd, flattened to a (T·D, T·D) matrix."""
    shape = x.shape
    return torch.autograd.functional.jacobian(
        lambda v: fn(v.view(shape)).reshape(-1), x.reshape(-1), vectorize=True
    )  # (T·D, T·D)
