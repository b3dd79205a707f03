"""Page "Vanishing gradients" (seed: "The Vanishing and Exploding Gradient Problem").

The gradient of a loss read out at the last step, taken with respect to every earlier hidden state of an
Elman RNN in one backward pass, next to α·ρ^(L−1); the shrink factor per step; the RNN on the adding
problem; and the measured RNN curve that the home page's overview draws over the theory.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import torch

from lrd_core.devices import resolve_device
from lrd_core.gradients import grad_norms_through_time, readout_direction
from lrd_core.lecture import Demo, fmt, recent_loss, solved_step, steps_run
from lrd_core.limits import MAX_BATCH, MAX_PROBE_BYTES, MAX_SEQ_LEN
from lrd_core.models.heads import SequenceRegressor
from lrd_core.models.recurrent import ElmanRNN, RNNConfig
from lrd_core.task_runs import adding_run
from lrd_core.tasks import adding_problem
from lrd_core.theory import ADDING_BASELINE_MSE
from lrd_core.train import TrainConfig, Verdict, split_seed
from lrd_core.validate import check_int


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
        jac = jacobian_norms(model, pre).double()  # (B, T)
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


def jacobian_norms(model: ElmanRNN, pre: torch.Tensor, max_bytes: int = MAX_PROBE_BYTES) -> torch.Tensor:
    """||J_t||_2 for pre-activations (B, T, H) -> (B, T), computed a few steps at a time.

    All T Jacobians at once would take B·T·H·H numbers (256 MB at T = 1000, H = 256) and the SVD as much
    again; chunks of steps keep the working set under ``max_bytes``. Each matrix is independent, so the
    numbers agree with one batched call to float rounding (LAPACK may order a batch's work differently);
    whenever all T fit the budget (every default view) it is that one call.
    """
    B, T, H = pre.shape
    per_step = 3 * B * H * H * pre.element_size()  # the Jacobians, the SVD's copy and its workspace
    chunk = max(1, min(T, max_bytes // per_step))
    parts = [torch.linalg.matrix_norm(model.jacobians(pre[:, i : i + chunk]), ord=2) for i in range(0, T, chunk)]
    return torch.cat(parts, dim=1)  # (B, T)


def vanishing_probe(config, T: int, seed: int, batch: int = 1, device: str = "cpu") -> pd.DataFrame:
    """Build an Elman RNN from ``config`` and seed, feed it adding-problem inputs of length T, probe it.

    Model weights, inputs and the read-out direction are drawn on the CPU from
    one ``torch.Generator(seed)``, so the numbers do not depend on ``device``'s RNG.
    Returns the DataFrame of :func:`rnn_gradient_probe`.
    """

    seed = check_int("seed", seed, 0, 2**63 - 1)
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(seed)
    model = ElmanRNN(config, g)
    x, _ = adding_problem(batch, T, g)
    v = readout_direction(config.hidden_size, g)
    return rnn_gradient_probe(model.to(dev), x.to(dev), v.to(dev))


def decay_per_step(df: pd.DataFrame) -> float:
    """Geometric-mean factor by which ``grad_norm`` shrinks per step of distance: exp of the least-squares
    slope of log ||dL/dh_t|| against lag, over the finite positive points (NaN if fewer than 2)."""
    ok = df[np.isfinite(df["grad_norm"]) & (df["grad_norm"] > 0)]
    if len(ok) < 2 or ok["lag"].nunique() < 2:
        return float("nan")
    slope, _ = np.polyfit(ok["lag"].to_numpy(float), np.log(ok["grad_norm"].to_numpy(float)), 1)
    return float(np.exp(slope))


def measured_rnn_signal(rho: float, T: int, seed: int, points: int = 30) -> pd.DataFrame:
    """The plain-RNN curve measured: ‖∂L/∂h_t‖ of a linear RNN with orthogonal W·ρ (H = 64), one backward
    pass over T steps, normalised to 1 at L = 1. Rows ``architecture``, ``L`` (= lag + 1), ``signal``,
    about ``points`` of them, log-spaced in L."""
    df = vanishing_probe(RNNConfig(rho=rho, activation="identity"), T=T, seed=seed)
    df = df.sort_values("lag")
    signal = df["grad_norm"].to_numpy() / df["grad_norm"].iloc[0]  # lag 0 first
    keep = np.unique(np.geomspace(1, T, check_int("points", points, 2, 1000)).round().astype(int)) - 1  # lags
    return pd.DataFrame(
        {"architecture": "plain RNN, measured by the page-1 probe", "L": keep + 1, "signal": signal[keep]}
    )


def rnn_adding_model(config: RNNConfig, seed: int) -> SequenceRegressor:
    """An Elman RNN with a linear read-out of h_T, initialised from ``seed``: (B, T, 2) -> (B, 1)."""
    init, _ = split_seed(seed)
    return SequenceRegressor(ElmanRNN(config, init), config.hidden_size, 1, init)


# --- the live run's verdict ----------------------------------------------------------------------------------

SOLVED_MSE = 0.01  # adding problem: solved below this running-mean MSE (always answering 1 scores 1/6)


def adding_verdict(history: pd.DataFrame, finished: bool, *, T: int) -> Verdict | None:
    """The RNN's run on the adding problem in one sentence. Decided when it has solved the task, or at the
    end. Expected: solved (the sidebar's ρ and T decide whether the signal lets it)."""
    at = solved_step(history, "RNN", SOLVED_MSE)
    if not finished and at is None:
        return None
    base = f"always answering 1 scores {ADDING_BASELINE_MSE:.2g}"
    if at is not None:
        return Verdict(True, f"The RNN solved the adding problem at T = {T} by step {at} (MSE < {SOLVED_MSE}; {base}).")
    now, n = recent_loss(history, "RNN"), steps_run(history, "RNN")
    how = "learned part of it" if now < ADDING_BASELINE_MSE / 2 else "stayed at the baseline"
    return Verdict(
        False, f"After {n} steps at T = {T} the RNN {how}: MSE {fmt(now)} ({base}, solved below {SOLVED_MSE})."
    )


def lecture_demo(seed: int, device: str = "cpu", *, T: int = 20, steps: int = 600) -> Demo:
    """What the vanishing page's Start button runs at its defaults (already lecture-sized: one small RNN)."""
    config = RNNConfig(2, 64, "tanh", "orthogonal", 0.9, 1.0)
    train_config = TrainConfig(steps=steps, lr=3e-3, batch=64)
    factories = {"RNN": lambda: adding_run(rnn_adding_model(config, seed), T, train_config, seed, device)}
    return Demo(factories, steps, partial(adding_verdict, T=T))
