"""Page "Gating", the initialisation half: how the forget gate's initial bias sets an LSTM's memory horizon.

A forget gate f keeps e⁻¹ of the cell after τ = −1/ln f steps. With one forget bias b every unit starts at the
same τ(b) = −1/ln σ(b), and ∏f_t falls like σ(b)^L; chrono initialisation (Tallec & Ollivier 2018) draws
b_f = ln u, u ~ U[1, T − 1] per unit, spreading the units' τ from 1/ln 2 up to about T. Here: the measured
∏f_t of a fresh LSTM against L, the τ of every unit read from an initialised LSTM's biases, and the closed
form of the chrono τ distribution.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lrd_core.limits import MAX_BATCH, MAX_SEQ_LEN
from lrd_core.models.heads import SequenceRegressor, SequenceTagger
from lrd_core.models.recurrent import LSTM, Fused, LSTMConfig
from lrd_core.tasks import adding_problem
from lrd_core.validate import as_float_array, check_int


def forget_products(
    hidden: int, forget_bias: float, T: int, seed: int, *, batch: int = 4, n_lengths: int = 40
) -> pd.DataFrame:
    """prod_{t<=L} f_t of every unit of a fresh LSTM with forget bias ``forget_bias``, for L on a grid up to T.

    The LSTM (weights from ``seed``) reads ``batch`` adding-problem sequences of
    length T; the running product of its forget gates is taken in float64
    (exact zeros mean float64 underflow). L runs over about ``n_lengths``
    log-spaced lengths from 1 to T. Tidy DataFrame: ``L``, ``sample``, ``unit``, ``prod_f``.
    """

    T = check_int("T", T, 2, MAX_SEQ_LEN)
    batch = check_int("batch", batch, 1, MAX_BATCH)
    n_lengths = check_int("n_lengths", n_lengths, 2, MAX_SEQ_LEN)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    g = torch.Generator().manual_seed(seed)
    x, _ = adding_problem(batch, T, g)
    model = LSTM(LSTMConfig(2, hidden, forget_bias), g)
    with torch.no_grad():
        _, gates = model.unroll(x)
    running = torch.cumprod(gates["f"].double(), dim=1)  # (B, T, H): prod_{t<=L} f_t at index L-1
    lengths = np.unique(np.geomspace(1, T, n_lengths).round().astype(int))
    vals = running[:, lengths - 1].cpu().numpy()  # (B, n, H)
    B_, n, H = vals.shape
    return pd.DataFrame(
        {
            "L": np.repeat(lengths, H)[None, :].repeat(B_, 0).ravel(),
            "sample": np.repeat(np.arange(B_), n * H),
            "unit": np.tile(np.arange(H), B_ * n),
            "prod_f": vals.ravel(),
        }
    )


QUANTILES = {"max": 1.0, "90th percentile": 0.9, "median": 0.5, "10th percentile": 0.1, "min": 0.0}


def forget_product_quantiles(df: pd.DataFrame) -> pd.DataFrame:
    """Quantiles over units and samples of :func:`forget_products` at each L: columns L, series, prod_f."""
    rows = [
        {"L": L, "series": name, "prod_f": float(np.quantile(d["prod_f"].to_numpy(), q))}
        for L, d in df.groupby("L")
        for name, q in QUANTILES.items()
    ]
    return pd.DataFrame(rows)


# --- chrono initialisation: the units' time constants ----------------------------------------------------------


def forget_biases(model: nn.Module) -> torch.Tensor:
    """The forget-gate biases b_f (H,) of an LSTM as initialised: an lrd_core ``LSTM``, its ``Fused`` form
    (torch's b_ih + b_hh), or either inside a ``SequenceRegressor`` / ``SequenceTagger``. float64."""
    enc = model.encoder if isinstance(model, SequenceRegressor | SequenceTagger) else model
    if isinstance(enc, LSTM):
        b, H = enc.b, enc.config.hidden_size
    elif isinstance(enc, Fused) and isinstance(enc.net, nn.LSTM):
        b, H = enc.net.bias_ih_l0 + enc.net.bias_hh_l0, enc.net.hidden_size  # rows i, f, g, o
    else:
        raise ValueError(f"model must be an lrd_core LSTM (plain or fused), got {type(enc).__name__}")
    return b.detach().double()[H : 2 * H].cpu()  # (H,): rows H..2H are the forget gate


def forget_time_constants(model: nn.Module) -> np.ndarray:
    """τ_j = −1/ln σ(b_f,j) of every unit j of ``model`` (see :func:`forget_biases`): (H,) steps.

    −ln σ(b) = softplus(−b), so τ = 1/softplus(−b), which stays exact for large b (σ(b) rounds to 1 there)."""
    return (1.0 / F.softplus(-forget_biases(model))).numpy()


def _check_T(T) -> int:
    return check_int("T", T, 3, 10**6)  # chrono init needs U[1, T − 1] to be an interval


def chrono_tau_quantile(q, T: int) -> np.ndarray:
    """Quantile q of the chrono-init time constant for length T, closed form:

    u = e^{b_f} ~ U[1, T − 1] and σ(ln u) = u/(1 + u), so τ = −1/ln σ(b_f) = 1/ln(1 + 1/u), which rises with u:
    the q-quantile is τ at u_q = 1 + q·(T − 2). q = 0 gives 1/ln 2 ≈ 1.44, q = 1 gives 1/ln(T/(T − 1)) ≈ T − ½.
    q: scalar or array in [0, 1]."""
    T = _check_T(T)
    q_arr = as_float_array("q", q)
    if q_arr.size and (not np.all(np.isfinite(q_arr)) or q_arr.min() < 0 or q_arr.max() > 1):
        raise ValueError(f"q must be in [0, 1], got {q_arr.min()}..{q_arr.max()}")
    return 1.0 / np.log1p(1.0 / (1.0 + q_arr * (T - 2)))


def chrono_tau_cdf(tau, T: int) -> np.ndarray:
    """P(τ ≤ tau) under chrono init for length T: the inverse of :func:`chrono_tau_quantile`,
    u(τ) = 1/(e^{1/τ} − 1), F = (u − 1)/(T − 2) clipped to [0, 1]. tau: scalar or array > 0."""
    T = _check_T(T)
    t = as_float_array("tau", tau)
    if t.size and (not np.all(np.isfinite(t)) or t.min() <= 0):
        raise ValueError(f"tau must be > 0 (steps), got min {t.min()}")
    with np.errstate(over="ignore"):  # tiny tau: e^{1/τ} = inf gives u = 0, F = 0
        u = 1.0 / np.expm1(1.0 / t)
    return np.clip((u - 1.0) / (T - 2), 0.0, 1.0)


def time_constant_quantiles(models: dict[str, nn.Module], T: int) -> pd.DataFrame:
    """The units' τ of each model in ``models`` (name -> LSTM), sorted, against their share q of the units,
    plus the chrono closed form for length T: columns q, tau, series. Measured units sit at
    q = (j + ½)/H, j = 0..H−1; the closed-form series is named "chrono init, closed form"."""
    T = _check_T(T)
    frames = []
    for name, model in models.items():
        tau = np.sort(forget_time_constants(model))
        frames.append(pd.DataFrame({"q": (np.arange(tau.size) + 0.5) / tau.size, "tau": tau, "series": name}))
    q = np.linspace(0.0, 1.0, 101)
    frames.append(pd.DataFrame({"q": q, "tau": chrono_tau_quantile(q, T), "series": CHRONO_THEORY}))
    return pd.concat(frames, ignore_index=True)


CHRONO_THEORY = "chrono init, closed form 1/ln(1 + 1/u)"
LN2_TAU = 1.0 / math.log(2.0)  # τ of the smallest chrono bias b_f = ln 1 = 0: σ(0) = ½
