"""Chart builders for the "Real data" page (page 9): the demand series, its weekly profile, what each model
sees, the error by weekday and the midnight forecasts.

Each takes a tidy frame from :mod:`lrd_core.real_data` or :mod:`lrd_core.experiments.real_data`; the shared
encodings (hour of the day, demand in MW, the time-stamp tooltip) are defined once below.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lrd_core.charts import log_floor, palette
from lrd_core.real_data import DAY, HORIZON, SPLIT_LABELS, WEEKDAYS

ACTUAL_COLOR = palette.color("actual")  # model colours: lrd_core.charts.palette, the same on every chart


def _hour_x() -> alt.X:
    """Hour of the day on x, 0 to 24."""
    return alt.X("hour:Q", title="hour of the day", scale=alt.Scale(domain=[0, 24], nice=False))


def _demand_y(title: str = "demand (MW)") -> alt.Y:
    """Demand in MW on y, not forced to include 0."""
    return alt.Y("demand_mw:Q", title=title, scale=alt.Scale(zero=False))


def _mw_tooltip() -> alt.Tooltip:
    return alt.Tooltip("demand_mw:Q", format=",.0f")


def _time_tooltip() -> list[alt.Tooltip]:
    """Time stamp (weekday, date, clock) and demand."""
    return [alt.Tooltip("timestamp:T", format="%a %d %b %H:%M"), _mw_tooltip()]


def _color(field: str, names, **legend) -> alt.Color:
    return alt.Color(field, title=None, scale=palette.scale(names), legend=alt.Legend(**legend))


def series_chart(frame: pd.DataFrame) -> alt.Chart:
    """The whole series against time, one colour per split (weeks 1-7 training, week 8 validation, weeks 9-12
    test). ``frame`` from :func:`lrd_core.real_data.load_demand` (timestamp, demand_mw, split)."""
    return (
        alt.Chart(frame[["timestamp", "demand_mw", "split"]])
        .mark_line(strokeWidth=1)
        .encode(
            x=alt.X("timestamp:T", title=None),
            y=_demand_y(),
            color=_color("split:N", SPLIT_LABELS, orient="bottom"),
            detail="split:N",
            tooltip=_time_tooltip(),
        )
    )


def profile_chart(profile: pd.DataFrame) -> alt.Chart:
    """Mean demand through the day, one line per weekday (``profile`` from
    :func:`lrd_core.real_data.weekly_profile`)."""
    return (
        alt.Chart(profile)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=_hour_x(),
            y=_demand_y("mean demand (MW)"),
            color=alt.Color(
                "weekday:N",
                title=None,
                sort=list(WEEKDAYS),
                scale=palette.scale(WEEKDAYS),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["weekday:N", "hour:Q", _mw_tooltip()],
        )
    )


def reach_chart(frame: pd.DataFrame, origin: int, reaches: dict[str, int]) -> alt.LayerChart:
    """What a model sees when it forecasts from ``origin``: the series from max(reaches) + 48 steps before
    the origin to HORIZON steps after it, with one shaded band per model covering its ``reaches[name]``
    most recent half-hours (its receptive field or memory), and the forecast day marked."""
    first = max(0, origin + 1 - max(reaches.values()) - DAY)
    data = frame.iloc[first : origin + 1 + HORIZON]
    stamp = frame["timestamp"]
    bands = pd.DataFrame(
        [
            {"model": name, "start": stamp.iloc[max(0, origin + 1 - r)], "end": stamp.iloc[origin]}
            for name, r in reaches.items()
        ]
        + [{"model": "forecast day", "start": stamp.iloc[origin + 1], "end": stamp.iloc[origin + HORIZON]}]
    )
    rects = (
        alt.Chart(bands)
        .mark_rect(opacity=0.3)
        .encode(x="start:T", x2="end:T", color=_color("model:N", [*reaches, "forecast day"]))
    )
    line = (
        alt.Chart(data)
        .mark_line(strokeWidth=2, color=ACTUAL_COLOR)
        .encode(
            x=alt.X("timestamp:T", title=None, axis=alt.Axis(format="%a %d %b", tickCount="day")),
            y=_demand_y(),
            tooltip=_time_tooltip(),
        )
    )
    return alt.layer(rects, line).resolve_scale(color="independent")


def weekday_error_chart(errors: pd.DataFrame) -> alt.Chart:
    """Test MSE by target weekday on a log axis, one bar per model side by side (``errors``: model, weekday,
    mse; the "all" rows are drawn last, as "all days"). Bars rise from a floor a decade below the smallest."""
    data = errors[errors["mse"] > 0].assign(day=lambda d: d["weekday"].replace({"all": "all days"}))
    floor = log_floor(data["mse"])
    models = list(dict.fromkeys(data["model"]))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(
                "day:N",
                title="weekday of the forecast half-hour",
                sort=[*WEEKDAYS, "all days"],
                axis=alt.Axis(labelAngle=0),
            ),
            xOffset=alt.XOffset("model:N", sort=models),
            y=alt.Y("mse:Q", title="test MSE (log)", scale=alt.Scale(type="log", domainMin=floor)),
            y2=alt.datum(floor),
            color=_color("model:N", models, orient="bottom", columns=3),
            tooltip=["model:N", "day:N", alt.Tooltip("mse:Q", format=".4f")],
        )
    )


def forecast_chart(lines: pd.DataFrame) -> alt.Chart:
    """Day-ahead forecasts of one day over the actual curve: ``lines`` (from
    :func:`lrd_core.real_data.forecast_lines`) has hour, demand_mw, series (the series "actual" is drawn in
    black) and day (its name is the chart's title)."""
    names = [n for n in dict.fromkeys(lines["series"]) if n != "actual"]
    title = str(lines["day"].iloc[0]) if len(lines) else ""
    return (
        alt.Chart(lines, title=title)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=_hour_x(),
            y=_demand_y(),
            color=_color("series:N", ["actual", *names], orient="top", columns=2, labelLimit=0),
            tooltip=["series:N", "hour:Q", _mw_tooltip()],
        )
    )
