"""Chart builders for page 1: the signal reaching h_t against distance with its theory and bound, the gradient
norm of the adding-problem run, and the clipping race's gradient norms against the clip norm c.

Built on the shared pieces of :mod:`lrd_core.charts`; each takes a live run's history or the tidy frame that
:mod:`lrd_core.experiments.vanishing` derives from it.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lrd_core.charts import log_line_chart, rule
from lrd_core.theory import signal_magnitude

GRAD_NORM = "‖∇θ L‖"  # the one series of the training gradient-norm chart
BOUND = "bound ∏‖J_k‖₂ (measured Jacobians)"
THEORY = "theory α·ρ^(L−1)"


def signal_chart(df: pd.DataFrame, rho: float, alpha: float) -> alt.LayerChart:
    """Measured ‖∂L/∂h_t‖ against the distance ``lag`` = T − t, the theory α·ρ^(L−1) with L = lag + 1 (dashed)
    and, once the Jacobian norms are in ``df`` (column ``bound``, NaN until computed), the bound (dashed).
    ``df`` has columns lag, grad_norm, bound (one row per lag)."""
    series = [
        df.assign(series="measured ‖∂L/∂h_t‖", value=df["grad_norm"]),
        df.assign(series=THEORY, value=signal_magnitude(rho, df["lag"].to_numpy() + 1, alpha)),
    ]
    if df["bound"].notna().any():
        series.append(df.assign(series=BOUND, value=df["bound"]))
    return log_line_chart(
        pd.concat(series),
        "lag",
        "value",
        "series",
        x_title="distance T − t (steps back from the loss)",
        y_title="gradient norm (log)",
        dashed=(THEORY, BOUND),
    )


def training_grad_norm_chart(history: pd.DataFrame) -> alt.LayerChart:
    """‖∇θ L‖ of every training step (before clipping), log scale: ``history`` has columns step, grad_norm
    (one run; a second run would share the colour)."""
    grads = history.rename(columns={"grad_norm": "value"}).assign(what=GRAD_NORM)
    return log_line_chart(grads, "step", "value", "what", x_title="training step", y_title="gradient norm (log)")


def clipping_norms_chart(norms: pd.DataFrame, clip_norm: float, *, dashed: tuple[str, ...] = ()) -> alt.LayerChart:
    """The clipping race's gradient norms (columns step, value, series: from
    :func:`lrd_core.experiments.vanishing.clipping_norms_long`), log scale, with a dashed rule at the clip
    norm c. Series in ``dashed`` (the clipped run's norm after clipping) are drawn dashed."""
    chart = log_line_chart(
        norms, "step", "value", "series", x_title="training step", y_title="gradient norm (log)", dashed=dashed
    )
    return chart + rule(clip_norm, f"c = {clip_norm:g}")
