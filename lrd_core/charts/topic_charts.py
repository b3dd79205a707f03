"""Chart builders for one page each: the dilation tree, accuracy by lag, attention maps, token boxes,
segment attention, chars per token, the LayerNorm race panels and the home page's overview.

Built on the shared pieces of :mod:`lrd_core.charts` (log axes that show exact zeros, reference rules,
projector styling). Each takes the tidy DataFrame its page's experiments module returns.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lrd_core.charts import CHANCE, PLACEMENT_COLORS, log_line_chart, loss_chart, palette, rule


def dilation_tree_chart(reach: pd.DataFrame, receptive_field: int) -> alt.LayerChart:
    """Which positions of every level reach the last output: one row of marks per level, output on top.

    ``reach`` comes from :func:`lrd_core.probes.thin_reach` (columns level, name,
    position, lag, width, count; ``attrs["T"]``). A grey band is the whole
    input; a dashed rule marks the left edge of the closed-form field.
    """
    T = int(reach.attrs["T"])
    width = int(reach["width"].iloc[0]) if len(reach) else 1
    order = reach.drop_duplicates("level").sort_values("level", ascending=False)["name"].tolist()
    y = alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    data = reach.assign(end=reach["position"] + width)
    band = (
        alt.Chart(pd.DataFrame({"name": ["input"], "start": [0], "end": [T]}))
        .mark_bar(color="#dddddd", height=14)
        .encode(x="start:Q", x2="end:Q", y=y)
    )
    marks = (
        alt.Chart(data)
        .mark_bar(height=14, color=palette.color("TCN"))
        .encode(
            x=alt.X(
                "position:Q",
                title=f"input position (output at t = {T - 1}, right edge)",
                scale=alt.Scale(domain=[0, T], nice=False),
            ),
            x2="end:Q",
            y=y,
            tooltip=["name:N", "position:Q", "lag:Q", "count:Q"],
        )
    )
    return alt.layer(
        band, marks, rule(T - receptive_field, f"t − R + 1 (R = {receptive_field})", color="#d62728", vertical=True)
    )


def accuracy_vs_lag_chart(df: pd.DataFrame, receptive_field: int) -> alt.LayerChart:
    """Latest accuracy against lag (columns lag, accuracy, series), receptive field R marked and shaded beyond."""
    top = max(float(df["lag"].max()) * 1.05 if len(df) else 1.0, receptive_field * 1.1)
    shade = (
        alt.Chart(pd.DataFrame({"x": [receptive_field], "x2": [top], "label": ["lag ≥ R: outside the field"]}))
        .mark_rect(color="#d62728", opacity=0.08)
        .encode(x="x:Q", x2="x2:Q")
    )
    points = (
        alt.Chart(df)
        .mark_circle(size=160)
        .encode(
            x=alt.X("lag:Q", title="lag between the two bits", scale=alt.Scale(domain=[0, top], nice=False)),
            y=alt.Y("accuracy:Q", title="held-out accuracy", scale=alt.Scale(domain=[0.4, 1.0], clamp=True)),
            color=alt.Color(
                "inside:N",
                title=None,
                scale=alt.Scale(domain=[True, False], range=[palette.color("TCN"), palette.OKABE_ITO["vermillion"]]),
                legend=alt.Legend(orient="bottom", labelExpr="datum.value ? 'lag < R' : 'lag ≥ R'"),
            ),
            tooltip=["series:N", "lag:Q", "step:Q", alt.Tooltip("accuracy:Q", format=".3f")],
        )
    )
    return alt.layer(
        shade,
        rule(receptive_field, f"R = {receptive_field}", color="#d62728", vertical=True),
        rule(CHANCE, f"chance {CHANCE:g}"),
        points,
    )


def attention_heatmap(df: pd.DataFrame) -> alt.Chart:
    """Attention weights α_{s,t} as a heatmap: source position t across, output step s down.

    ``df`` comes from :func:`lrd_core.probes.attention_map` (columns s, t, alpha, source, output).
    """
    return (
        alt.Chart(df)
        .mark_rect()
        .encode(
            x=alt.X("t:O", title="source position t"),
            y=alt.Y("s:O", title="output step s"),
            color=alt.Color("alpha:Q", title="α", scale=alt.Scale(scheme="blues", domain=[0, 1])),
            tooltip=["s:O", "t:O", alt.Tooltip("alpha:Q", format=".3f"), "source:O", "output:O"],
        )
    )


def chars_per_token_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Characters per token against vocabulary size (log2 axis), one line per corpus, with the
    character tokenizer's c = 1 dashed. ``df`` has columns corpus, vocab_size, chars_per_token."""
    sizes = sorted(df["vocab_size"].unique().tolist())
    lines = (
        alt.Chart(df)
        .mark_line(strokeWidth=3, point=alt.OverlayMarkDef(size=90))
        .encode(
            x=alt.X(
                "vocab_size:Q",
                title="BPE vocabulary size V (log)",
                scale=alt.Scale(type="log", base=2),
                axis=alt.Axis(values=sizes, format=",d"),
            ),
            y=alt.Y("chars_per_token:Q", title="characters per token c (held-out text)", scale=alt.Scale(domainMin=0)),
            color=alt.Color(
                "corpus:N", title=None, scale=palette.scale(df["corpus"]), legend=alt.Legend(orient="bottom")
            ),
            tooltip=[
                "corpus:N",
                alt.Tooltip("vocab_size:Q", format=",d"),
                alt.Tooltip("chars_per_token:Q", format=".3f"),
            ],
        )
    )
    return alt.layer(lines, rule(1.0, "characters: c = 1"))


def token_boxes_chart(boxes: pd.DataFrame, width: int = 72) -> alt.LayerChart:
    """Tokens drawn as alternating coloured boxes holding their text, laid out by
    :func:`lrd_core.probes.token_boxes` (columns token, shown, row, col, length, band).
    Text is drawn by Vega as plain text: nothing in it is interpreted."""
    data = boxes.assign(end=boxes["col"] + boxes["length"], mid=boxes["col"] + boxes["length"] / 2)
    x = alt.X("col:Q", axis=None, scale=alt.Scale(domain=[0, width], nice=False))
    y = alt.Y("row:O", axis=None)
    boxes_layer = (
        alt.Chart(data)
        .mark_bar(stroke="white", strokeWidth=1.5)
        .encode(
            x=x,
            x2="end:Q",
            y=y,
            color=alt.Color("band:N", legend=None, scale=alt.Scale(domain=[0, 1], range=["#c6dbef", "#fdd0a2"])),
            tooltip=[alt.Tooltip("token:Q", title="token #"), alt.Tooltip("shown:N", title="text")],
        )
    )
    text = (
        alt.Chart(data)
        .mark_text(fontSize=13, font="monospace", color="black")
        .encode(
            x=alt.X("mid:Q", scale=alt.Scale(domain=[0, width], nice=False), axis=None),
            y=y,
            text="shown:N",
        )
    )
    return alt.layer(boxes_layer, text)


def segment_attention_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Attention of the query over the keys it can see, one row per layer and head, with the segment
    boundary and the cue marked. ``df`` from :func:`lrd_core.probes.segment_attention`."""
    data = df.assign(end=df["key"] + 1)
    lo, hi = int(df["key"].min()), int(df["key"].max()) + 1
    x = alt.X(
        "key:Q",
        title="key position (left of the boundary: cached memory)",
        scale=alt.Scale(domain=[lo, hi], nice=False),
        axis=alt.Axis(format="d", tickMinStep=1),
    )
    heat = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=x,
            x2="end:Q",
            y=alt.Y("row:N", title=None, sort=sorted(df["row"].unique())),
            color=alt.Color("alpha:Q", title="α", scale=alt.Scale(scheme="blues", domain=[0, 1])),
            tooltip=["row:N", "key:Q", alt.Tooltip("alpha:Q", format=".3f"), "memory:N"],
        )
    )
    layers = [heat, rule(df.attrs["boundary"], "segment boundary", color="#d62728", vertical=True)]
    if df.attrs["cue"] >= lo:
        layers.append(rule(df.attrs["cue"] + 0.5, "cue", color="#2ca02c", vertical=True))
    return alt.layer(*layers)


def overview_chart(df: pd.DataFrame, measured: pd.DataFrame | None = None, y_min: float = 1e-20) -> alt.LayerChart:
    """Signal against dependency length for every architecture (``lrd_core.overview.overview_frame``),
    log-log, cut at ``y_min``, each in its palette colour (:mod:`lrd_core.charts.palette`, strict: every curve
    must be a model). Near L = 1 several curves sit at 1 (attention everywhere, S4D for L << τ, the TCN
    within a factor of about 2): the attention line is dashed, and attention and the TCN get marks in
    their colours drawn on top of every line (:func:`_on_top_marks`), so none hides under another.
    ``measured`` (columns architecture, L, signal) is drawn as black points over the curves."""
    attention = tuple(a for a in df["architecture"].unique() if a.startswith("attention"))
    palette.colors(df["architecture"], strict=True)  # ValueError for a curve that is not a known model
    lines = log_line_chart(
        df,
        "L",
        "signal",
        "architecture",
        x_title="dependency length L (steps, log)",
        y_title="signal reaching L steps back (log)",
        log_x=True,
        y_min=y_min,
        dashed=attention,
    )
    lines = alt.layer(*lines.layer, *_on_top_marks(df))
    if measured is None or measured.empty:
        return lines
    points = (
        alt.Chart(measured[measured["signal"] >= y_min])
        .mark_point(size=70, filled=True, color="black")
        .encode(
            x="L:Q",
            y="signal:Q",  # legend on top: a third one at the bottom would run off the chart
            shape=alt.Shape("architecture:N", title=None, legend=alt.Legend(orient="top", labelLimit=0)),
            tooltip=["architecture:N", "L:Q", alt.Tooltip("signal:Q", format=".3e")],
        )
    )
    return alt.layer(lines, points).resolve_scale(shape="independent")  # points and underflow: own legends


ON_TOP = (("attention", "diamond", 0), ("dilated TCN", "square", 6))  # (curve, shape, phase): marked on top


def _on_top_marks(df: pd.DataFrame, every: int = 12) -> list[alt.Chart]:
    """Marks in the curve's colour on every ``every``-th point of the curves that sit near 1 together
    (attention: diamonds; the TCN inside its field: squares, offset by half a period so the two do not
    overlap), drawn after every line so none hides under S4D, and a label naming them at the top right."""
    layers, named = [], []
    for curve, shape, phase in ON_TOP:
        rows = df[df["architecture"].str.startswith(curve) & (df["signal"] > 0)].dropna(subset=["signal"])
        if len(rows):
            named.append(f"{curve.split()[-1]} ({shape}s)")
            layers.append(
                alt.Chart(rows.iloc[phase::every])
                .mark_point(shape=shape, size=110, filled=True, opacity=1, stroke="white", strokeWidth=1)
                .encode(
                    x="L:Q",
                    y="signal:Q",
                    color=alt.value(palette.color(curve)),
                    tooltip=["architecture:N", "L:Q", alt.Tooltip("signal:Q", format=".3g")],
                )
            )
    if not layers:
        return []
    top = df.loc[[df["L"].idxmax()]].assign(signal=1.0, note="near 1, drawn on top: " + ", ".join(named))
    place = {"align": "right", "baseline": "bottom", "dx": -4, "dy": -10, "fontSize": 14}
    halo = alt.Chart(top).mark_text(color="white", stroke="white", strokeWidth=4, **place)
    text = alt.Chart(top).mark_text(color="black", **place)
    return [*layers, *(t.encode(x="L:Q", y="signal:Q", text="note:N") for t in (halo, text))]


def placement_loss_chart(
    history: pd.DataFrame, *, baseline: float | None, solved: float | None, y_title: str = "loss"
) -> alt.LayerChart:
    """:func:`loss_chart` with one fixed colour per placement (series "Post-LN", "Pre-LN"), so that
    side-by-side panels agree and the two placements stay apart on a projector."""
    chart = loss_chart(history, baseline=baseline, solved=solved, y_title=y_title)
    scale = palette.scale(PLACEMENT_COLORS, strict=True)  # both placements, so the panels agree
    chart.layer[0] = chart.layer[0].encode(
        color=alt.Color("series:N", title=None, scale=scale, legend=alt.Legend(orient="bottom"))
    )
    return chart


def scan_timing_chart(timing: pd.DataFrame, y_title: str) -> alt.LayerChart:
    """Seconds against sequence length, both log, one line per method: the pages' scan timings.

    ``timing``: rows (L, method, seconds), e.g. from ``state_space.fft_vs_scan`` or ``selective.scan_timing``."""
    return log_line_chart(
        timing, "L", "seconds", "method", x_title="sequence length L (log)", y_title=y_title, log_x=True
    )
