"""All architectures on one chart: how much learning signal reaches a dependency L steps back, in closed form.

Closed forms in numpy: the home page draws this before torch is even imported. The measured points
that go over the RNN curve come from :func:`lrd_core.experiments.vanishing.measured_rnn_signal`; the TCN
has no closed-form magnitude, so its curve inside the field is the page-3 probe's measured profile
(:func:`lrd_core.experiments.convolutions.measured_tcn_signal`), passed in as ``tcn_signal``.

Each curve is the page's own theory at a typical setting (the settings are
arguments, so the home page and the tests can vary them):

- plain RNN           ρ^(L−1)                          (page 1)
- LSTM / GRU          σ(b)^(L−1), gates held at σ(b)   (page 2)
- dilated TCN         non-zero inside the receptive field R (measured: its size varies with the
                      weights, it is not "full strength"), exactly 0 past it: no path at all (page 3)
- attention           path length 1 at every distance (page 4)
- S4D                 exp(−L/τ), τ = 1/(Δ |Re A|)      (page 6)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lrd_core.theory import forget_gate_product, receptive_field, signal_magnitude, ssm_memory
from lrd_core.validate import check_float, check_int

S4D_RE_A = 0.5  # |Re A_n| of S4D-Lin and S4D-Inv
TCN_LABEL = "dilated TCN, k = {k}, d = {d}: non-zero up to R = {R}, exactly 0 past it"
OVERVIEW_TCN = {"kernel_size": 2, "top_layer": 7}  # the home page's stack: R = 256


def overview_frame(
    L_max: int = 2000,
    points: int = 240,
    *,
    rho: float = 0.9,
    forget_bias: float = 4.0,
    keep_bias: float = 3.0,
    kernel_size: int = 2,
    top_layer: int = 7,
    dt: float = 1e-3,
    tcn_signal: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Tidy rows ``architecture``, ``page`` (script path), ``L`` (1..L_max, log-spaced), ``signal``.

    ``signal`` is 1 at L = 1 for every curve; exact zeros (the TCN past its
    receptive field, underflow) stay zeros. ``tcn_signal`` (columns L, signal: the measured TCN profile
    for this ``kernel_size`` and ``top_layer``) gives the TCN's values inside R; without it they are NaN
    (not drawn: no closed form says how strong the signal is there, only that it is not zero).
    """
    L_max = check_int("L_max", L_max, 2, 10**6)
    L = np.unique(np.geomspace(1, L_max, check_int("points", points, 2, 10_000)).round())
    R = receptive_field(kernel_size, top_layer)
    tau = 1.0 / (check_float("dt", dt, 1e-6, 10.0) * S4D_RE_A)
    tcn = np.where(L <= R, np.nan, 0.0)
    if tcn_signal is not None:
        measured = tcn_signal.set_index("L")["signal"]
        if not set(L[L <= R]) <= set(measured.index):
            raise ValueError(f"tcn_signal must cover L = 1..R = {R} (kernel_size, top_layer of this overview)")
        tcn = np.where(L <= R, measured.reindex(L).to_numpy(), 0.0)
    curves = {
        (f"plain RNN, ρ = {rho:g}: ρ^(L−1)", "pages/1_Vanishing_gradients.py"): signal_magnitude(rho, L),
        (f"LSTM, forget bias {forget_bias:g}: f^(L−1)", "pages/2_Gating.py"): forget_gate_product(forget_bias, L - 1),
        (f"GRU, keep bias {keep_bias:g}: (1−z)^(L−1)", "pages/2_Gating.py"): forget_gate_product(keep_bias, L - 1),
        (TCN_LABEL.format(k=kernel_size, d=top_layer, R=R), "pages/3_Convolutions.py"): tcn,
        ("attention: one hop at any distance", "pages/4_Attention.py"): np.ones_like(L),
        (f"S4D, Δ = {dt:g}: exp(−L/τ), τ = {tau:g}", "pages/6_State_space_models.py"): ssm_memory(L - 1, tau),
    }
    df = pd.concat(
        [
            pd.DataFrame({"architecture": name, "page": page, "L": L, "signal": np.asarray(y, float)})
            for (name, page), y in curves.items()
        ],
        ignore_index=True,
    )
    df.attrs["tcn_R"] = R  # read by tcn_spread
    return df


def tcn_spread(df: pd.DataFrame) -> dict:
    """What the overview says about its TCN curve, read from :func:`overview_frame`'s rows: ``R``, the
    ``min`` and ``max`` of the signal over the drawn L <= R, their ``ratio`` and ``zeros`` (how many drawn
    L > R there are). ValueError unless the claim the page makes holds: the signal is finite and > 0 at
    every drawn L <= R, and exactly 0 at every drawn L > R."""
    R = int(df.attrs["tcn_R"])
    tcn = df[df["page"] == "pages/3_Convolutions.py"]
    inside, outside = tcn[tcn["L"] <= R]["signal"], tcn[tcn["L"] > R]["signal"]
    if not (outside == 0).all():
        raise ValueError("df: the TCN curve is not exactly 0 past R")
    if not np.all(np.isfinite(inside) & (inside > 0)):
        raise ValueError("df: the TCN curve is not measured, or not non-zero, at every drawn L <= R")
    return {
        "R": R,
        "min": float(inside.min()),
        "max": float(inside.max()),
        "ratio": float(inside.max() / inside.min()),
        "zeros": len(outside),
    }
