"""Probes of how a learning signal travels back through time.

All gradients come from autograd on the model's real graph; per-step
gradient norms for every t come from ONE backward pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lrd_core.limits import MAX_BATCH, MAX_SEQ_LEN
from lrd_core.models.recurrent import ElmanRNN
from lrd_core.validate import check_int


def grad_norms_through_time(states: list[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
    """||dL/dh_t|| for every state in ``states`` (T tensors (B, H)) from one backward pass -> (B, T).

    dL/dh_t is the total derivative: every path from h_t to the loss, through
    all later states, is included. A state the loss does not reach gets 0.
    """
    grads = torch.autograd.grad(loss, states, allow_unused=True, materialize_grads=True)
    return torch.stack([g.flatten(1).double().norm(dim=1) for g in grads], dim=1)  # (B, T), float64: no overflow in the norm


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


def rnn_gradient_probe(model: ElmanRNN, x: torch.Tensor, v: torch.Tensor) -> pd.DataFrame:
    """Gradient of L = v . h_T with respect to every h_t of an Elman RNN, one sequence per row of x.

    x: (B, T, D); v: (H,). Returns a tidy DataFrame with one row per (sequence, t):
    ``sample``, ``t`` (1..T), ``lag`` (T - t), ``grad_norm`` ||dL/dh_t||,
    ``jac_norm`` ||J_t||_2 = ||diag(phi'(a_t)) W||_2 (J_1 has no h_0 to act on
    but is reported for completeness), ``saturation`` mean |phi'(a_t)| and
    ``bound`` = ||dL/dh_T|| * prod_{k=t+1..T} ||J_k||_2, the upper bound from
    sub-multiplicativity, which ``grad_norm`` never exceeds.
    """
    B, T, _ = x.shape
    check_int("T", T, 1, MAX_SEQ_LEN)
    check_int("batch", B, 1, MAX_BATCH)
    states, pre = model.unroll(x)
    loss = (states[-1] @ v.to(states[-1])).sum()  # sum over the batch: rows stay independent
    grad_norm = grad_norms_through_time(states, loss)  # (B, T)
    with torch.no_grad():
        jac = torch.linalg.matrix_norm(model.jacobians(pre), ord=2).double()  # (B, T)
        sat = model.dphi(pre).abs().mean(dim=-1)  # (B, T)
        # bound_t = ||g_T|| * prod_{k>t} ||J_k||: reverse cumulative product, shifted by one
        tail = torch.flip(torch.cumprod(torch.flip(jac[:, 1:], [1]), dim=1), [1])  # (B, T-1)
        bound = grad_norm[:, -1:].double() * torch.cat([tail, torch.ones_like(jac[:, :1])], dim=1)
    t = np.arange(1, T + 1)
    frames = [
        pd.DataFrame(
            {
                "sample": b,
                "t": t,
                "lag": T - t,
                "grad_norm": grad_norm[b].detach().double().cpu().numpy(),
                "jac_norm": jac[b].double().cpu().numpy(),
                "saturation": sat[b].double().cpu().numpy(),
                "bound": bound[b].double().cpu().numpy(),
            }
        )
        for b in range(B)
    ]
    return pd.concat(frames, ignore_index=True)


def vanishing_probe(config, T: int, seed: int, batch: int = 1, device: str = "cpu") -> pd.DataFrame:
    """Build an Elman RNN from ``config`` and seed, feed it adding-problem inputs of length T, probe it.

    Model weights, inputs and the read-out direction are drawn on the CPU from
    one ``torch.Generator(seed)``, so the numbers do not depend on ``device``'s RNG.
    Returns the DataFrame of :func:`rnn_gradient_probe`.
    """
    from lrd_core.devices import resolve_device
    from lrd_core.tasks import adding_problem

    seed = check_int("seed", seed, 0, 2**63 - 1)
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(seed)
    model = ElmanRNN(config, g)
    x, _ = adding_problem(batch, T, g)
    v = readout_direction(config.hidden_size, g)
    return rnn_gradient_probe(model.to(dev), x.to(dev), v.to(dev))


def first_nonfinite_lag(df: pd.DataFrame) -> int | None:
    """Smallest distance T - t at which ``grad_norm`` is inf or NaN (an overflow), or None."""
    bad = df.loc[~np.isfinite(df["grad_norm"]), "lag"]
    return int(bad.min()) if len(bad) else None
