"""Charts of the LayerNorm-placement page that its base builders do not cover: how far each block is from the
identity map, next to the distance of LayerNorm's own projection.

Built on :mod:`lrd_core.charts`; takes the tidy frame of
:func:`lrd_core.experiments.layernorm.block_distance_from_identity`. No Streamlit here.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lrd_core.charts import log_line_chart, rule


def block_distance_chart(distance: pd.DataFrame, floor: float) -> alt.LayerChart:
    """‖J_l − I‖ / ‖I‖ per block l, one line per placement (log y), with a dashed rule at ``floor``: the
    distance of a LayerNorm's projection alone, √(2/D) (:func:`lrd_core.theory.layernorm_projection_distance`).

    ``distance``: rows (placement, layer, distance)."""
    lines = log_line_chart(
        distance, "layer", "distance", "placement", x_title="block l", y_title="‖J_l − I‖ / ‖I‖ (log)"
    )
    return alt.layer(lines, rule(floor, f"√(2/D) = {floor:.3f}"))
