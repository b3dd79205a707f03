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
DASHES = ([8, 5], [2, 4], [14, 4, 2, 4])  # theory curves, in the order they are named


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

    Series named in ``dashed`` (theory curves) are thinner, each with its own
    dash pattern, drawn over the solid measured lines. Rows with y == 0 are
    drawn as red triangles at the floor and called "exactly 0 (underflow)";
    non-finite rows (overflow, NaN) are left out: callers report them.
    Returns an unstyled layer chart (wrap with :func:`style` to display).
    """
    data = df[[x, y, series]].copy()
    data = data[np.isfinite(data[y].astype(float))]
    floor = log_floor(data[y])
    positive = data[data[y] > 0]
    zeros = data[data[y] == 0].assign(floor=floor, note="exactly 0 (underflow)")
    y_scale = alt.Scale(type="log", domainMin=floor)
    x_enc = alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(type="log") if log_x else alt.Undefined)
    names = list(dict.fromkeys(data[series]))  # first-seen order
    names = [n for n in names if n not in dashed] + [n for n in names if n in dashed]
    dash = [DASHES[dashed.index(n) % len(DASHES)] if n in dashed else [1, 0] for n in names]
    width = [2.5 if n in dashed else 4 for n in names]
    legend = alt.Legend(orient="bottom", columns=1, symbolStrokeWidth=3, symbolType="stroke")
    lines = (
        alt.Chart(positive)
        .mark_line(clip=True)
        .encode(
            x=x_enc,
            y=alt.Y(f"{y}:Q", title=y_title, scale=y_scale, axis=alt.Axis(format="~e")),
            # colour, dash and width share one field and one domain: one legend shows all three
            color=alt.Color(f"{series}:N", title=None, scale=alt.Scale(domain=names), legend=legend),
            strokeDash=alt.StrokeDash(f"{series}:N", title=None, scale=alt.Scale(domain=names, range=dash), legend=legend),
            strokeWidth=alt.StrokeWidth(f"{series}:N", title=None, scale=alt.Scale(domain=names, range=width), legend=legend),
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
    layers = (lines, marked) if len(zeros) else (lines,)  # an empty layer breaks offline rendering
    return alt.layer(*layers).properties(title=title)


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
            y=alt.Y("loss:Q", title=y_title, scale=alt.Scale(type="log"), axis=alt.Axis(format="~g")),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["series", "step", alt.Tooltip("loss", format=".4f")],
        )
    )
    rule = alt.Chart(rules).mark_rule(strokeDash=[6, 4], strokeWidth=2, color="gray").encode(y="value:Q")
    text = (  # at the right edge, just above the rule, on a white halo so curves do not strike it through
        alt.Chart(rules)
        .mark_text(align="right", baseline="bottom", dx=-6, dy=-3, fontSize=14, color="#444",
                   stroke="white", strokeWidth=4, strokeOpacity=0.9)
        .encode(y="value:Q", x=alt.value(alt.expr("width")), text="label:N")
    )
    text_fill = text.mark_text(align="right", baseline="bottom", dx=-6, dy=-3, fontSize=14, color="#444")
    return alt.layer(lines, rule, text, text_fill)


def step_chart(
    df: pd.DataFrame, x: str, y: str, *, x_title: str, y_title: str, reference: float | None = None,
    reference_label: str = "",
) -> alt.LayerChart:
    """A plain line of ``y`` against ``x`` (linear axes) with an optional labelled reference level drawn on top."""
    data = df[np.isfinite(df[y].astype(float))]
    line = alt.Chart(data).mark_line(strokeWidth=2.5).encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:Q", title=y_title), tooltip=[x, alt.Tooltip(y, format=".4f")]
    )
    if reference is None:
        return alt.layer(line)
    ref_data = pd.DataFrame({"value": [reference], "label": [reference_label]})
    ref = alt.Chart(ref_data).mark_rule(strokeDash=[8, 5], color="#d62728", strokeWidth=2.5).encode(y="value:Q")
    label = alt.Chart(ref_data).mark_text(align="right", baseline="bottom", dx=-6, dy=-4, fontSize=14,
                                          color="#d62728").encode(y="value:Q", x=alt.value(alt.expr("width")),
                                                                  text="label:N")
    return alt.layer(line, ref, label)
