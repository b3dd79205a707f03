"""Altair chart builders from tidy DataFrames; readable on a projector.

Log axes never receive a raw 0 (that silently breaks a Vega-Lite log scale):
positive values are drawn as lines, exact zeros (underflow) as distinct
marks pinned to a floor below the smallest positive value, labelled as such.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

FONT = {"labelFontSize": 14, "titleFontSize": 16}
HEIGHT = 360


def style(chart: alt.Chart, height: int = HEIGHT) -> alt.Chart:
    """Large fonts and a fixed height; width follows the container."""
    return (
        chart.properties(height=height, width="container")
        .configure_axis(**FONT)
        .configure_legend(**FONT, symbolSize=200, labelLimit=400)
        .configure_title(fontSize=18)
    )


def log_floor(values) -> float:
    """A power of ten one decade below the smallest positive finite value (1e-300 if none)."""
    v = np.asarray(values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    if pos.size == 0:
        return 1e-300
    return 10.0 ** (math.floor(math.log10(pos.min())) - 1)


def log_line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    series: str,
    *,
    x_title: str,
    y_title: str,
    dashed: tuple[str, ...] = (),
    log_x: bool = False,
    title: str = "",
) -> alt.LayerChart:
    """Lines of ``y`` against ``x``, one per value of ``series``, on a log y axis.

    Series named in ``dashed`` (theory curves) are dashed. Rows with y == 0 are
    drawn as red triangles at the floor and called "exactly 0 (underflow)";
    non-finite rows (overflow, NaN) are left out: callers report them.
    Returns an unstyled layer chart (wrap with :func:`style` to display).
    """
    data = df[[x, y, series]].copy()
    data = data[np.isfinite(data[y].astype(float))]
    floor = log_floor(data[y])
    positive = data[data[y] > 0].assign(kind=lambda d: np.where(d[series].isin(dashed), "theory", "measured"))
    zeros = data[data[y] == 0].assign(floor=floor, note="exactly 0 (underflow)")
    y_scale = alt.Scale(type="log", domainMin=floor)
    x_enc = alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(type="log") if log_x else alt.Undefined)
    lines = (
        alt.Chart(positive)
        .mark_line(strokeWidth=3, clip=True)
        .encode(
            x=x_enc,
            y=alt.Y(f"{y}:Q", title=y_title, scale=y_scale),
            color=alt.Color(f"{series}:N", title=None, legend=alt.Legend(orient="bottom", columns=2)),
            strokeDash=alt.StrokeDash(
                "kind:N",
                title=None,
                scale=alt.Scale(domain=["measured", "theory"], range=[[1, 0], [8, 4]]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[series, x, alt.Tooltip(y, format=".3e")],
        )
    )
    marked = (
        alt.Chart(zeros)
        .mark_point(shape="triangle-down", size=90, filled=True, color="#d62728")
        .encode(
            x=x_enc,
            y=alt.Y("floor:Q", scale=y_scale),
            shape=alt.Shape("note:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=[series, x, "note"],
        )
    )
    return alt.layer(lines, marked).properties(title=title)


def loss_chart(history: pd.DataFrame, *, baseline: float | None, solved: float | None, y_title: str = "loss") -> alt.LayerChart:
    """Training loss (log y) against step, one line per ``series``, with baseline and solved rules.

    ``history`` has columns step, loss, series.
    """
    data = history[np.isfinite(history["loss"]) & (history["loss"] > 0)]
    rows = []
    if baseline is not None:
        rows.append((baseline, f"baseline {baseline:.3g}"))
    if solved is not None:
        rows.append((solved, f"solved below {solved:g}"))
    rules = pd.DataFrame(rows, columns=["value", "label"])
    lines = (
        alt.Chart(data)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=alt.Y("loss:Q", title=y_title, scale=alt.Scale(type="log")),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["series", "step", alt.Tooltip("loss", format=".4f")],
        )
    )
    rule = alt.Chart(rules).mark_rule(strokeDash=[6, 4], strokeWidth=2, color="gray").encode(y="value:Q")
    text = (
        alt.Chart(rules)
        .mark_text(align="left", dx=4, dy=-8, fontSize=14, color="gray")
        .encode(y="value:Q", x=alt.value(0), text="label:N")
    )
    return alt.layer(lines, rule, text)


def step_chart(df: pd.DataFrame, x: str, y: str, *, x_title: str, y_title: str, reference: float | None = None) -> alt.LayerChart:
    """A plain line of ``y`` against ``x`` (linear axes) with an optional dashed reference level."""
    data = df[np.isfinite(df[y].astype(float))]
    line = alt.Chart(data).mark_line(strokeWidth=2.5).encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:Q", title=y_title), tooltip=[x, alt.Tooltip(y, format=".4f")]
    )
    if reference is None:
        return alt.layer(line)
    ref = alt.Chart(pd.DataFrame({"value": [reference]})).mark_rule(strokeDash=[6, 4], color="gray", strokeWidth=2)
    return alt.layer(line, ref.encode(y="value:Q"))
