"""Closed forms the pages draw over their measurements."""

from __future__ import annotations

import numpy as np

from lrd_core.validate import check_float, check_int

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of always predicting 1 on the adding problem: Var(U1 + U2) = 2/12."""


def signal_magnitude(rho, L, alpha: float = 1.0):
    """Learning signal reaching a dependency of length L: S(L) = alpha * rho**(L - 1).

    ``rho`` > 0 is the per-step gain (spectral radius of W, a forget gate f, or
    1 - z), ``L`` >= 1 the dependency length (scalar or array). Returns a float
    for scalar L, else a numpy array of L's shape. Underflow gives exactly 0.
    """
    rho = check_float("rho", rho, 0.0, np.inf, lo_open=True)
    alpha = check_float("alpha", alpha, 0.0, np.inf)
    try:
        L_arr = np.asarray(L, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"L must be a number >= 1 or an array of them (dependency length), got {L!r}") from None
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 1):
        raise ValueError(f"L must be finite and >= 1 (dependency length), got {L!r}")
    with np.errstate(over="ignore", under="ignore"):
        # alpha = 0 carries no signal at any length (and 0 * inf would be NaN)
        out = alpha * np.power(float(rho), L_arr - 1.0) if alpha > 0 else np.zeros_like(L_arr)
    return float(out) if np.ndim(L) == 0 else out


def length_below(rho: float, threshold: float, alpha: float = 1.0) -> float:
    """Smallest L with alpha * rho**(L-1) < threshold (inf when rho >= 1 never decays)."""
    rho = check_float("rho", rho, 0.0, np.inf, lo_open=True)
    threshold = check_float("threshold", threshold, 0.0, np.inf, lo_open=True)
    alpha = check_float("alpha", alpha, 0.0, np.inf, lo_open=True)
    if alpha < threshold:
        return 1.0
    if rho >= 1.0:
        return float("inf")
    # alpha * rho**(L-1) < threshold  <=>  L - 1 > log(threshold/alpha) / log(rho)
    return float(np.floor(np.log(threshold / alpha) / np.log(rho)) + 2)


# --- Receptive fields of causal convolution stacks (the "Convolutions" page) ---


MAX_RF_DEPTH = 62  # layers / blocks accepted by the closed forms below (results stay exact Python ints)


def receptive_field(kernel_size: int, top_layer: int) -> int:
    """R(k, d) = (k - 1)(2^(d+1) - 1) + 1: inputs one output of a dilated causal stack can see.

    Layers l = 0..d, layer l with kernel k and dilation 2^l. An output at t can
    reach t - sum_l m_l 2^l with m_l in {0..k-1}: the largest lag is
    (k - 1) * sum_l 2^l = (k - 1)(2^(d+1) - 1), and counting t itself adds 1.
    """
    k = check_int("kernel_size", kernel_size, 1, 1024)
    d = check_int("top_layer", top_layer, 0, MAX_RF_DEPTH)
    return (k - 1) * (2 ** (d + 1) - 1) + 1


def undilated_receptive_field(kernel_size: int, top_layer: int) -> int:
    """(k - 1)(d + 1) + 1: the same d + 1 layers with dilation 1 everywhere grow only linearly."""
    k = check_int("kernel_size", kernel_size, 1, 1024)
    d = check_int("top_layer", top_layer, 0, MAX_RF_DEPTH)
    return (k - 1) * (d + 1) + 1


def tcn_receptive_field(kernel_size: int, n_blocks: int, convs_per_block: int = 2) -> int:
    """1 + c(k - 1)(2^n - 1): residual TCN (Bai et al. 2018) of n blocks, block i = c convs of dilation 2^i.

    The 1x1 convolution on the skip path looks at one step only, so the skip
    connections add no reach: each block extends the lag by c(k - 1) 2^i.
    """
    k = check_int("kernel_size", kernel_size, 1, 1024)
    n = check_int("n_blocks", n_blocks, 1, MAX_RF_DEPTH)
    c = check_int("convs_per_block", convs_per_block, 1, 16)
    return 1 + c * (k - 1) * (2**n - 1)


def forget_gate_product(forget_bias, L):
    """prod of L forget gates that all sit at their initial value sigmoid(b_f): sigmoid(b_f)**L.

    The cell-path gain dc_L/dc_0 of an LSTM whose gates ignore their inputs.
    Scalar or array L >= 0; underflow gives exactly 0.
    """
    b = check_float("forget_bias", forget_bias, -np.inf, np.inf)
    L_arr = np.asarray(L, dtype=float)
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 0):
        raise ValueError(f"L must be >= 0 (number of gates), got min {L_arr.min()}")
    f = 1.0 / (1.0 + np.exp(-b))
    with np.errstate(under="ignore"):
        out = np.power(f, L_arr)
    return float(out) if np.ndim(L) == 0 else out


def copy_memory_loss(T: int, length: int, p_correct: float) -> float:
    """Mean cross-entropy per step on copy-memory when every blank is predicted perfectly and each
    recalled symbol gets probability ``p_correct``: length * (-log p) / (T + 2 * length).

    p_correct = 1 / n_symbols is the memoryless baseline (guessing); 0.9 is a "solved" level.
    """

    T = check_int("T", T, 1, 10**6)
    length = check_int("length", length, 1, 10**6)
    p = check_float("p_correct", p_correct, 0.0, 1.0, lo_open=True)
    return float(length * -np.log(p) / (T + 2 * length))
