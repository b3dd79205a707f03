"""Chart builders for a visitor's own series on the "Real data" page: the series coloured by its chronological
part, and the race's scored error against the naive forecasts. Frames from :mod:`lrd_core.series_upload`'s
callers (:func:`series_frame` below builds the first) and from the run history."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lrd_core.charts import palette
from lrd_core.real_data import SERIES_PARTS, series_bounds
from lrd_core.series_upload import UploadedSeries


def series_frame(series: UploadedSeries) -> pd.DataFrame:
    """One row per value: t (step index), time (timestamp, or NaT without one), value, part (one of
    :data:`lrd_core.real_data.SERIES_PARTS`, from :func:`lrd_core.real_data.series_bounds`)."""
    n = series.n
    val_start, test_start = series_bounds(n)
    t = np.arange(n)
    part = np.select([t < val_start, t < test_start], SERIES_PARTS[:2], SERIES_PARTS[2])
    stamps = series.timestamps()
    return pd.DataFrame(
        {"t": t, "time": stamps if stamps is not None else pd.NaT, "value": series.values, "part": part}
    )


def upload_series_chart(frame: pd.DataFrame, value_title: str) -> alt.Chart:
    """The whole series, one colour per part (training, validation, test); x is the time when the frame has
    one, else the step index. ``frame`` from :func:`series_frame`; at most 5,000 points are drawn (every k-th
    value of a longer series: the chart says so in its x title)."""
    k = max(1, -(-len(frame) // 5000))
    data = frame.iloc[::k]
    timed = frame["time"].notna().all()
    x_field = "time:T" if timed else "t:Q"
    x_title = None if timed else "step"
    if k > 1:
        x_title = f"{x_title or 'time'} (every {k}th value drawn)"
    return (
        alt.Chart(data[["t", "time", "value", "part"]] if timed else data[["t", "value", "part"]])
        .mark_line(strokeWidth=1)
        .encode(
            x=alt.X(x_field, title=x_title),
            y=alt.Y("value:Q", title=value_title, scale=alt.Scale(zero=False)),
            color=alt.Color(
                "part:N", title=None, scale=palette.scale(SERIES_PARTS), legend=alt.Legend(orient="bottom")
            ),
            detail="part:N",
            tooltip=[x_field, alt.Tooltip("value:Q", format=",.4g"), "part:N"],
        )
    )
