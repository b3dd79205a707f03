"""Charts of the selective-state-space page: the Δ that S6 gives every token of a probe sequence.

Both builders take the tidy frame of :func:`lrd_core.experiments.selective.delta_map` (columns layer, channel,
t, token, delta, relative, ratio, rank) and return an Altair spec; no Streamlit here.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lrd_core.charts import palette

TOKEN_COLORS = {  # what sits at a position (selective.KINDS) -> Okabe-Ito colour, noise in grey
    "data": palette.OKABE_ITO["vermillion"],
    "after data": palette.OKABE_ITO["orange"],
    "noise": palette.GREY,
    "marker": palette.OKABE_ITO["blue"],
}


def delta_heatmap_chart(delta: pd.DataFrame) -> alt.Chart:
    """Δ of every S6 channel (rows, most data-selective first) at every position t of the probe sequence
    (columns), relative to the channel's median Δ, log colour."""
    data = delta.assign(row=[f"L{a}·{c:02d}" for a, c in zip(delta["layer"], delta["channel"], strict=True)])
    order = data.drop_duplicates("row").sort_values("rank")["row"].tolist()
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("t:O", title="position t in the probe sequence", axis=alt.Axis(labelAngle=0, values=_ticks(data))),
            y=alt.Y("row:N", title="layer · channel (most selective first)", sort=order, axis=alt.Axis(labels=False)),
            color=alt.Color(
                "relative:Q",
                title="Δ / channel median",
                scale=alt.Scale(type="log", scheme="redblue", reverse=True, domainMid=1),
            ),
            tooltip=[
                "row:N",
                "t:O",
                "token:N",
                alt.Tooltip("delta:Q", format=".3g"),
                alt.Tooltip("ratio:Q", format=".2f"),
            ],
        )
    )


def delta_tokens_chart(delta: pd.DataFrame, top: int = 8) -> alt.Chart:
    """Mean Δ over the ``top`` channels whose Δ rises most near data tokens, per position of the probe
    sequence, as points coloured by what sits there (TOKEN_COLORS), log y."""
    mean = delta[delta["rank"] <= top].groupby(["t", "token"], as_index=False)["delta"].mean()
    return (
        alt.Chart(mean)
        .mark_point(filled=True, size=160)
        .encode(
            x=alt.X(
                "t:O",
                title=f"position t (mean Δ of the {top} most selective channels)",
                axis=alt.Axis(values=_ticks(mean)),
            ),
            y=alt.Y("delta:Q", title="Δ (log)", scale=alt.Scale(type="log")),
            color=alt.Color(
                "token:N",
                title=None,
                scale=alt.Scale(domain=list(TOKEN_COLORS), range=list(TOKEN_COLORS.values())),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["t:O", "token:N", alt.Tooltip("delta:Q", format=".3g")],
        )
    )


def _ticks(long: pd.DataFrame) -> list[int]:
    """About 16 evenly spaced positions t to label on an ordinal axis."""
    n = int(long["t"].max()) + 1 if len(long) else 1
    return list(range(0, n, max(1, n // 16)))
