"""The charts layer: every Altair builder of the app, from tidy DataFrames; readable on a projector.

This package's ``__init__`` holds the shared builders (projector styling, log axes, reference rules, loss and
accuracy curves); ``palette`` the one colour per model, ``export`` PNG/SVG/CSV, ``topic_charts`` and one
module per topic that needs its own charts. Experiments and data modules never draw (tests/test_layout.py).

Log axes never receive a raw 0 (that silently breaks a Vega-Lite log scale):
positive values are drawn as lines, exact zeros (underflow) as distinct
marks pinned to a floor below the smallest positive value, labelled as such.

Earlier runs: inside ``with earlier_runs(frame):`` (the live panel sets it around one render, for the visitor
who drew it) :func:`loss_chart`, :func:`accuracy_chart` and :func:`log_line_chart` (on ``step`` and ``series``)
overlay ``frame``'s rows of the series they draw: each model keeps its colour, the current run is solid and
opaque, each earlier run faded with its own dash, named in a legend of runs. Outside such a block (every
page's static charts, exports, tests) they draw exactly what they are given.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Iterator

import altair as alt
import numpy as np
import pandas as pd

from lrd_core.charts import palette

FONT = {"labelFontSize": 14, "titleFontSize": 16}
PRESENTER_FONT = {"labelFontSize": 20, "titleFontSize": 22}  # readable from the back row of a lecture hall
HEIGHT = 440  # pixels, legend included (Streamlit fits the chart to its container)
DASHES = palette.THEORY_DASHES  # theory curves, in the order they are named (the first: palette.THEORY_DASH)


def style(chart: alt.Chart, height: int = HEIGHT, *, presenter: bool = False) -> alt.Chart:
    """Large fonts and a fixed height; width follows the container.

    ``presenter`` (a projector): every font size in the config is at least 20 px (axis and legend labels and
    text marks that set no size of their own 20, axis and legend titles 22, the chart title 26), with bigger
    legend symbols and axis titles kept clear of the labels.
    """
    font = PRESENTER_FONT if presenter else FONT
    big = {"titlePadding": 12, "labelPadding": 6} if presenter else {}
    # One shallow copy with attributes set, not .properties().configure_*(): each of those deep-copies the
    # whole chart (about 0.1 CPU-s per live redraw of a loss chart, measured); the spec is the same.
    out = chart.copy(deep=False)
    out.height, out.width = height, "container"
    out.config = alt.Config(
        axis=alt.AxisConfig(**font, **big),
        legend=alt.LegendConfig(
            **font, symbolSize=320 if presenter else 200, labelLimit=400, rowPadding=8 if presenter else 2
        ),
        title=alt.TitleConfig(fontSize=26 if presenter else 18, subtitleFontSize=20 if presenter else 14),
        header=alt.HeaderConfig(**font),
        text=alt.MarkConfig(fontSize=20 if presenter else 14),  # labels drawn as text marks, e.g. rule()
    )
    return out


def _superscript(expr: str) -> str:
    """A Vega expression that writes the integer ``expr`` in superscript digits: -12 -> "⁻¹²"."""
    out = f"format({expr}, 'd')"
    for plain, sup in zip("−-0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹", strict=True):  # d3 writes minus as U+2212
        out = f"replace({out}, regexp('{plain}', 'g'), '{sup}')"
    return out


_EXP = "floor(log(datum.value) / LN10 + 1e-9)"  # the decade of a tick: 0.02 -> -2
_MANTISSA = f"datum.value / pow(10, {_EXP})"  # 0.02 -> 2
# Log-axis tick labels: a power of ten as 10^k ("10⁻⁵"); any other tick plainly ("0.2", "50") between 1e-3 and
# 1e5, else as m·10^k ("2·10⁻⁵"). Never Vega's "2e+0".
LOG_LABEL = (
    f"abs({_MANTISSA} - 1) < 1e-6 ? '10' + {_superscript(_EXP)} : "
    f"(datum.value >= 1e-3 && datum.value < 1e5) ? format(datum.value, '~g') : "
    f"format({_MANTISSA}, '~g') + '·10' + {_superscript(_EXP)}"
)
MAX_LOG_TICKS = 8  # decades labelled on a log axis at most (every 2nd, 3rd, ... decade beyond that)


def log_ticks(lo: float, hi: float, most: int = MAX_LOG_TICKS) -> list[float]:
    """Tick values for a log axis over [lo, hi]: the powers of ten (every 2nd, 3rd, ... one past ``most``
    decades), with 2 and 5 times them over at most 4 decades and 1..9 times them within one decade.
    Chosen here rather than by Vega, whose overlap removal can drop a decade's label and keep "3·10⁻⁴"."""
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        return []
    k0, k1 = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    span = max(k1 - k0, 1)
    mantissas = (1,) if span > 4 else (1, 2, 5) if span > 1 else tuple(range(1, 10))
    step = math.ceil(span / most)
    ticks = [float(f"{m}e{k}") for k in range(k0, k1 + 1) for m in mantissas if k % step == 0 or m > 1]
    return [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]


def log_axis(lo: float | None = None, hi: float | None = None, *, nice: bool = True, **kwargs) -> alt.Axis:
    """An axis for a log scale labelled 10^k (see ``LOG_LABEL``); ``kwargs`` go to ``alt.Axis``. With the data's
    range ``lo``..``hi`` the ticks are :func:`log_ticks` over it (``nice``: widened to whole decades, as Vega
    widens a log scale's domain)."""
    if lo is not None and hi is not None and lo > 0 and hi >= lo:
        if nice:
            lo, hi = 10.0 ** math.floor(math.log10(lo) + 1e-9), 10.0 ** math.ceil(math.log10(hi) - 1e-9)
        kwargs.setdefault("values", log_ticks(lo, hi))
    return alt.Axis(labelExpr=LOG_LABEL, **kwargs)


def _span(values, floor: float | None = None) -> tuple[float | None, float | None]:
    """(smallest, largest) positive finite value, the smallest replaced by ``floor`` if given; (None, None)
    when there is none (then Vega picks the ticks)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return None, None
    return (float(v.min()) if floor is None else float(floor)), float(v.max())


def log_floor(values) -> float:
    """A power of ten one decade below the smallest positive finite value (1e-300 if none)."""
    v = np.asarray(values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    if pos.size == 0:
        return 1e-300
    return 10.0 ** (math.floor(math.log10(pos.min())) - 1)


@functools.lru_cache(maxsize=256)
def rule(value: float, label: str, *, color: str = "gray", vertical: bool = False) -> alt.LayerChart:
    """A dashed reference line at ``value`` (horizontal, or vertical with ``vertical``), labelled at the
    right edge (top edge) on a white halo so that curves do not strike the label through.

    Cached: a live chart redraws the same rules every tick, and building one costs ~30 ms of Altair objects.
    Callers combine it with ``alt.layer`` / ``+``, which copy it, so the cached chart is never changed."""
    data = pd.DataFrame({"value": [value], "label": [label]})
    pos = alt.X("value:Q") if vertical else alt.Y("value:Q")
    line = alt.Chart(data).mark_rule(strokeDash=[8, 5], strokeWidth=2, color=color).encode(pos)
    edge = {"y": alt.value(0)} if vertical else {"x": alt.value(alt.expr("width"))}
    place = (
        {"align": "left", "baseline": "top", "dx": 5, "dy": 4}
        if vertical
        else {"align": "right", "baseline": "bottom", "dx": -6, "dy": -3}
    )
    halo = alt.Chart(data).mark_text(color=color, stroke="white", strokeWidth=4, **place)  # size: style()
    text = alt.Chart(data).mark_text(color=color, **place)
    return alt.layer(line, *(t.encode(pos, text="label:N", **edge) for t in (halo, text)))


CURRENT_RUN = "this run"  # the run label of the rows a chart is given, when earlier runs are overlaid
EARLIER_DASHES = ([10, 5], [3, 4], [14, 4, 3, 4])  # one per earlier run, newest first (then repeated)
EARLIER_OPACITY = 0.45  # earlier runs: faded, so the current run stays in front
_EARLIER: contextvars.ContextVar[pd.DataFrame | None] = contextvars.ContextVar("earlier_runs", default=None)


@contextlib.contextmanager
def earlier_runs(frame: pd.DataFrame | None) -> Iterator[None]:
    """Overlay ``frame`` (columns run, series, step and the y columns: loss, accuracy, ...; one label in ``run``
    per earlier run, newest first) on the loss, accuracy and step-series charts built in this block (this
    thread or task only). None or an empty frame: nothing is overlaid."""
    token = _EARLIER.set(frame if frame is not None and len(frame) else None)
    try:
        yield
    finally:
        _EARLIER.reset(token)


def _earlier_rows(data: pd.DataFrame, x: str, y: str, series: str, *, positive: bool) -> pd.DataFrame | None:
    """The overlaid earlier runs' rows of the series in ``data`` with a finite (``positive``: > 0) ``y``, as
    columns run, ``series``, ``x``, ``y``; None when nothing is overlaid."""
    earlier = _EARLIER.get()
    if earlier is None or not len(data) or not {"run", series, x, y} <= set(earlier.columns):
        return None
    rows = earlier.loc[earlier[series].isin(set(data[series])), ["run", series, x, y]]
    values = rows[y].astype(float)
    keep = np.isfinite(values) & (values > 0) if positive else np.isfinite(values)
    rows = rows[keep]
    return rows.astype({series: str, "run": str}) if len(rows) else None


def _overlay(
    data: pd.DataFrame, x: str, y: str, series: str, *, positive: bool
) -> tuple[pd.DataFrame, dict[str, alt.ChannelMixin]]:
    """``data`` with the earlier runs' rows before it (so the current run draws on top) and the encodings that
    tell runs apart (dash and opacity by run, one legend); ``data`` and no encodings when none are overlaid."""
    earlier = _earlier_rows(data, x, y, series, positive=positive)
    if earlier is None:
        return data, {}
    runs = [CURRENT_RUN, *dict.fromkeys(earlier["run"])]
    dashes = [palette.MEASURED_DASH] + [EARLIER_DASHES[i % len(EARLIER_DASHES)] for i in range(len(runs) - 1)]
    legend = alt.Legend(
        title=None, orient="top", columns=2, symbolType="stroke", symbolStrokeWidth=3, labelLimit=0, columnPadding=24
    )
    current = data[[series, x, y]].assign(run=CURRENT_RUN)
    encodings = {
        "strokeDash": alt.StrokeDash("run:N", sort=runs, scale=alt.Scale(domain=runs, range=dashes), legend=legend),
        "opacity": alt.Opacity(
            "run:N",
            sort=runs,
            scale=alt.Scale(domain=runs, range=[1.0] + [EARLIER_OPACITY] * (len(runs) - 1)),
            legend=legend,
        ),
    }
    return pd.concat([earlier, current], ignore_index=True), encodings


def log_line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    series: str,
    *,
    x_title: str,
    y_title: str,
    dashed: tuple[str, ...] = (),
    color_by: str | None = None,
    log_x: bool = False,
    y_min: float | None = None,
    title: str = "",
) -> alt.LayerChart:
    """Lines of ``y`` against ``x``, one per value of ``series``, on a log y axis.

    Series named in ``dashed`` (theory curves) are thinner, each with its own
    dash pattern, drawn over the solid measured lines, and one legend names
    them all. With ``color_by`` (a column such as the model), colour follows
    that column instead, so a model's measured and theory lines share a colour,
    and a second legend tells measured (solid) from theory (dashed). Colours come from
    :mod:`lrd_core.charts.palette` (one colour per model on every chart). Rows with y == 0 are
    drawn as triangles in their series' colour at the floor, called "exactly 0 (underflow)";
    non-finite rows (overflow, NaN) are left out: callers report them.
    ``y_min`` cuts the y axis off there (lines run out of the bottom), for
    curves that fall for hundreds of decades. A log x axis spans the data only.
    Returns an unstyled layer chart (wrap with :func:`style` to display).
    """
    data = df[[x, y, series] + ([color_by] if color_by else [])].copy()
    data = data[np.isfinite(data[y].astype(float))]
    floor = log_floor(data[y]) if y_min is None else float(y_min)
    positive = data[data[y] > 0]
    zeros = data[data[y] == 0].assign(floor=floor, note="exactly 0 (underflow)")
    overlaid = (x, series) == ("step", "series") and not color_by and not dashed  # a live run's curves
    earlier = _earlier_rows(positive, x, y, series, positive=True) if overlaid else None
    span = positive[y] if earlier is None else pd.concat([positive[y], earlier[y]])
    # the floor only matters when there are zeros to pin to it; otherwise the data set the range
    pinned = len(zeros) or y_min is not None
    y_scale = alt.Scale(type="log", domainMin=floor) if pinned else alt.Scale(type="log")
    whole = bool(len(data)) and bool(np.all(np.mod(data[x].astype(float), 1) == 0))
    x_axis = alt.Axis(tickMinStep=1, format="d") if whole and not log_x else alt.Undefined  # no 1.5 layers
    if log_x and len(data):  # not rounded out to whole decades: 64..2048 stays 64..2048
        x_scale = alt.Scale(type="log", nice=False, domain=[float(data[x].min()), float(data[x].max())])
        x_axis = log_axis(float(data[x].min()), float(data[x].max()), nice=False, labelOverlap="greedy")
    else:
        x_scale = alt.Scale(type="log") if log_x else alt.Undefined
    x_enc = alt.X(f"{x}:Q", title=x_title, scale=x_scale, axis=x_axis)
    names = list(dict.fromkeys(data[series]))  # first-seen order
    names = [n for n in names if n not in dashed] + [n for n in names if n in dashed]
    dash = [DASHES[dashed.index(n) % len(DASHES)] if n in dashed else palette.MEASURED_DASH for n in names]
    width = [2.5 if n in dashed else 4 for n in names]
    legend = alt.Legend(
        orient="bottom", columns=2, symbolStrokeWidth=3, symbolType="stroke", columnPadding=30, labelLimit=0
    )  # 0: long theory labels in full, not cut with "…"
    groups = list(dict.fromkeys(data[color_by])) if color_by else names  # what the colour encodes
    color_scale = palette.scale(groups, theory=() if color_by else dashed)  # one colour per model everywhere
    if color_by:  # colour by group, dash by measured/theory
        positive = positive.assign(kind=np.where(positive[series].isin(dashed), "theory (dashed)", "measured"))
        kinds = list(palette.KINDS)
        style_enc = {
            "color": alt.Color(f"{color_by}:N", title=None, sort=groups, scale=color_scale, legend=legend),
            "strokeDash": alt.StrokeDash(
                "kind:N",
                title=None,
                scale=alt.Scale(domain=kinds, range=[palette.MEASURED_DASH, palette.THEORY_DASH]),
                legend=alt.Legend(orient="top", symbolStrokeWidth=3, symbolType="stroke"),
            ),
            "strokeWidth": alt.StrokeWidth("kind:N", scale=alt.Scale(domain=kinds, range=[4, 2.5]), legend=None),
            "detail": f"{series}:N",
        }
    else:  # colour, dash and width share one field and one domain: one legend shows all three
        style_enc = {
            "color": alt.Color(f"{series}:N", title=None, scale=color_scale, legend=legend),
            "strokeDash": alt.StrokeDash(
                f"{series}:N", title=None, scale=alt.Scale(domain=names, range=dash), legend=legend
            ),
            "strokeWidth": alt.StrokeWidth(
                f"{series}:N", title=None, scale=alt.Scale(domain=names, range=width), legend=legend
            ),
        }
    lines = (
        alt.Chart(positive)
        .mark_line(clip=True)
        .encode(
            x=x_enc,
            y=alt.Y(f"{y}:Q", title=y_title, scale=y_scale, axis=log_axis(*_span(span, floor if pinned else None))),
            tooltip=[series, x, alt.Tooltip(y, format=".3e")],
            **style_enc,
        )
    )
    marked = (
        alt.Chart(zeros)
        .mark_point(shape="triangle-down", size=110, filled=True, stroke="white", strokeWidth=1)
        .encode(
            x=x_enc,
            y=alt.Y("floor:Q", scale=y_scale),
            color=alt.Color(f"{color_by or series}:N", scale=color_scale, legend=None),  # its model's colour
            shape=alt.Shape(
                "note:N",
                title=None,
                scale=alt.Scale(range=["triangle-down"]),  # else a circle
                legend=alt.Legend(orient="top", labelLimit=0),  # a second bottom legend overflows to the right
            ),
            tooltip=[series, x, "note"],
        )
    )
    layers = (lines, marked) if len(zeros) else (lines,)  # an empty layer breaks offline rendering
    if earlier is None:
        return alt.layer(*layers).properties(title=title)
    _, runs = _overlay(positive, x, y, series, positive=True)  # the run legend (dash per run), current solid
    faded = (
        alt.Chart(earlier)
        .mark_line(clip=True, strokeWidth=3, opacity=EARLIER_OPACITY)
        .encode(
            x=x_enc,
            y=alt.Y(f"{y}:Q", scale=y_scale),
            color=alt.Color(f"{series}:N", scale=color_scale, legend=None),
            strokeDash=runs["strokeDash"],
            tooltip=["run", series, x, alt.Tooltip(y, format=".3e")],
        )
    )  # beneath the current run; its own dash scale (by run), the lines' one is by series
    return alt.layer(faded, *layers).resolve_scale(strokeDash="independent").properties(title=title)


def loss_chart(
    history: pd.DataFrame, *, baseline: float | None, solved: float | None, y_title: str = "loss"
) -> alt.LayerChart:
    """Training loss (log y) against step, one line per ``series``, with baseline and solved rules.

    ``history`` has columns step, loss, series. Earlier runs in :func:`earlier_runs` are overlaid, faded.
    """
    data = history[np.isfinite(history["loss"]) & (history["loss"] > 0)]
    data, runs = _overlay(data, "step", "loss", "series", positive=True)
    lines = (
        alt.Chart(data)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("step:Q", title="training step", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y(
                "loss:Q",
                title=y_title,
                scale=alt.Scale(type="log"),
                axis=log_axis(*_span([*data["loss"], baseline or 0, solved or 0])),
            ),
            color=alt.Color(
                "series:N", title=None, scale=palette.scale(history["series"]), legend=alt.Legend(orient="bottom")
            ),
            tooltip=[*(["run"] if runs else []), "series", "step", alt.Tooltip("loss", format=".4f")],
            **runs,
        )
    )
    rules = [rule(baseline, f"baseline {baseline:.3g}")] if baseline is not None else []
    rules += [rule(solved, f"solved below {solved:.2g}")] if solved is not None else []
    return alt.layer(lines, *rules)


def step_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    x_title: str,
    y_title: str,
    reference: float | None = None,
    reference_label: str = "",
) -> alt.LayerChart:
    """A plain line of ``y`` against ``x`` (linear axes) with an optional labelled reference level drawn on top."""
    data = df[np.isfinite(df[y].astype(float))]
    line = (
        alt.Chart(data)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title),
            y=alt.Y(f"{y}:Q", title=y_title),
            tooltip=[x, alt.Tooltip(y, format=".4f")],
        )
    )
    if reference is None:
        return alt.layer(line)
    return alt.layer(line, rule(reference, reference_label, color="#d62728"))


# --- Convolutions page ---

CHANCE = 0.5  # accuracy of a coin flip on lag parity


def accuracy_chart(
    history: pd.DataFrame, chance: float = CHANCE, *, y_title: str = "held-out accuracy"
) -> alt.LayerChart:
    """Accuracy (0..1) against training step, one line per series, with the chance level dashed.

    ``history`` has columns series, step, accuracy (NaN rows are skipped). The
    y axis starts 0.1 below ``chance`` (0.4 for a coin flip, 0 for 1/8). Earlier runs in
    :func:`earlier_runs` are overlaid, faded.
    """
    if "accuracy" not in history:
        history = history.assign(accuracy=pd.Series(dtype=float))
    data = history.dropna(subset=["accuracy"])
    data, runs = _overlay(data, "step", "accuracy", "series", positive=False)
    y_min = max(0.0, round(chance - 0.1, 2))
    lines = (
        alt.Chart(data)
        .mark_line(strokeWidth=2.5, point=True)
        .encode(
            x=alt.X("step:Q", title="training step", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y("accuracy:Q", title=y_title, scale=alt.Scale(domain=[y_min, 1.0], clamp=True)),
            color=alt.Color(
                "series:N",
                title=None,
                scale=palette.scale(history.get("series", [])),
                legend=alt.Legend(orient="bottom", columns=3),
            ),
            tooltip=[*(["run:N"] if runs else []), "series:N", "step:Q", alt.Tooltip("accuracy:Q", format=".3f")],
            **runs,
        )
    )
    label = f"chance 1/{round(1 / chance)}" if chance < 0.5 else f"chance {chance:g}"
    return alt.layer(lines, rule(chance, label))


# --- Attention page ---


# --- Long context page ---


TOKEN_ROW_PX = 26  # height of one row of token boxes


# --- Overview (home page) ---


# --- LayerNorm page ---

PLACEMENT_COLORS = {p: palette.color(p) for p in ("Post-LN", "Pre-LN")}  # one colour per placement in every panel
