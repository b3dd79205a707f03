"""Closed forms the pages draw over their measurements."""

from __future__ import annotations

import numpy as np

from lrd_core.validate import check_float

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
    L_arr = np.asarray(L, dtype=float)
    if L_arr.size and (not np.all(np.isfinite(L_arr)) or L_arr.min() < 1):
        raise ValueError(f"L must be >= 1 (dependency length), got min {L_arr.min()}")
    with np.errstate(over="ignore", under="ignore"):
        out = alpha * np.power(float(rho), L_arr - 1.0)
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
