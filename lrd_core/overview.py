"""All architectures on one chart: how much learning signal reaches a dependency L steps back, in closed form.

Closed forms only (numpy): the home page draws this before torch is even imported. The measured points
that go over the RNN curve come from :func:`lrd_core.probes.measured_rnn_signal`.

Each curve is the page's own theory at a typical setting (the settings are
arguments, so the home page and the tests can vary them):

- plain RNN           ρ^(L−1)                          (page 1)
- LSTM / GRU          σ(b)^(L−1), gates held at σ(b)   (page 2)
- dilated TCN         1 inside the receptive field R, 0 past it: no path at all (page 3)
- attention           path length 1 at every distance (page 4)
- S4D                 exp(−L/τ), τ = 1/(Δ |Re A|)      (page 6)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lrd_core.theory import forget_gate_product, receptive_field, signal_magnitude, ssm_memory
from lrd_core.validate import check_float, check_int

S4D_RE_A = 0.5  # |Re A_n| of S4D-Lin and S4D-Inv


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
) -> pd.DataFrame:
    """Tidy rows ``architecture``, ``page`` (script path), ``L`` (1..L_max, log-spaced), ``signal``.

    ``signal`` is 1 at L = 1 for every curve; exact zeros (the TCN past its
    receptive field, underflow) stay zeros.
    """
    L_max = check_int("L_max", L_max, 2, 10**6)
    L = np.unique(np.geomspace(1, L_max, check_int("points", points, 2, 10_000)).round())
    R = receptive_field(kernel_size, top_layer)
    tau = 1.0 / (check_float("dt", dt, 1e-6, 10.0) * S4D_RE_A)
    curves = {
        (f"plain RNN, ρ = {rho:g}: ρ^(L−1)", "pages/1_Vanishing_gradients.py"): signal_magnitude(rho, L),
        (f"LSTM, forget bias {forget_bias:g}: f^(L−1)", "pages/2_Gating.py"): forget_gate_product(forget_bias, L - 1),
        (f"GRU, keep bias {keep_bias:g}: (1−z)^(L−1)", "pages/2_Gating.py"): forget_gate_product(keep_bias, L - 1),
        (f"dilated TCN, k = {kernel_size}, d = {top_layer}: cut at R = {R}", "pages/3_Convolutions.py"): np.where(
            L <= R, 1.0, 0.0
        ),
        ("attention: one hop at any distance", "pages/4_Attention.py"): np.ones_like(L),
        (f"S4D, Δ = {dt:g}: exp(−L/τ), τ = {tau:g}", "pages/6_State_space_models.py"): ssm_memory(L - 1, tau),
    }
    return pd.concat(
        [
            pd.DataFrame({"architecture": name, "page": page, "L": L, "signal": np.asarray(y, float)})
            for (name, page), y in curves.items()
        ],
        ignore_index=True,
    )
