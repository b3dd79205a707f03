"""Charts of the "Associative recall" page: the forms of linear attention and their time against L, the
retrieval error of a fixed-size memory against its load, the MQAR race live and its capacity curve.

Each takes the tidy DataFrame :mod:`lrd_core.experiments.recall` returns; colours come from
:mod:`lrd_core.charts.palette` (one colour per model; the methods of one layer take the free colours).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lrd_core.charts import log_line_chart, palette, rule

KIND_DASH = {"measured": palette.MEASURED_DASH, "closed form": palette.THEORY_DASH}


def forms_chart(outputs: pd.DataFrame) -> alt.LayerChart:
    """o_t[0] against t, one line per method (``outputs``: t, method, output). The recurrent form is drawn wide
    and pale underneath, the parallel form in long dashes and the chunked one in dots on top: where they agree
    the three coincide."""
    methods = list(dict.fromkeys(outputs["method"]))
    scale = palette.scale(methods)
    style = {"recurrent": (8, 0.35, [1, 0]), "parallel": (3, 1.0, [10, 6]), "chunked": (3, 1.0, [2, 5])}
    width, opacity, dash = (
        alt.Scale(domain=methods, range=[style.get(m, (3, 1.0, [6, 4]))[i] for m in methods]) for i in range(3)
    )
    legend = alt.Legend(orient="bottom", symbolType="stroke", symbolStrokeWidth=4)
    return alt.layer(
        alt.Chart(outputs)
        .mark_line()
        .encode(
            x=alt.X("t:Q", title="position t"),
            y=alt.Y("output:Q", title="first output channel o_t[0]"),
            color=alt.Color("method:N", title=None, scale=scale, legend=legend),
            strokeWidth=alt.StrokeWidth("method:N", scale=width, legend=None),
            opacity=alt.Opacity("method:N", scale=opacity, legend=None),
            strokeDash=alt.StrokeDash("method:N", scale=dash, legend=None),
            tooltip=["method:N", "t:Q", alt.Tooltip("output:Q", format=".5g")],
        )
    )


def form_timing_chart(timing: pd.DataFrame, crossover: float | None) -> alt.LayerChart:
    """Seconds against L, both log, one line per method and the dashed power laws in their form's colour
    (``timing``: L, seconds, series, method, from :func:`lrd_core.experiments.recall.timing_with_laws`), with
    the crossover L marked."""
    dashed = tuple(s for s in dict.fromkeys(timing["series"]) if "∝" in s)
    chart = log_line_chart(
        timing,
        "L",
        "seconds",
        "series",
        x_title="sequence length L (log)",
        y_title="seconds per forward pass (log)",
        dashed=dashed,
        color_by="method",
        log_x=True,
    )
    if crossover is None:
        return chart
    return alt.layer(chart, rule(float(crossover), f"crossover L ≈ {crossover:,.0f}", vertical=True))


def memory_chart(memory: pd.DataFrame) -> alt.LayerChart:
    """RMS relative retrieval error against the load n/dk, one colour per rule, measured solid with points,
    the closed form dashed (``memory`` from :func:`lrd_core.experiments.recall.memory_frame`), and the level 1:
    an error as large as the value itself."""
    models = list(dict.fromkeys(memory["model"]))
    long = pd.concat(
        [
            memory.assign(kind="measured", error=memory["measured"]),
            memory.assign(kind="closed form", error=memory["theory"]),
        ],
        ignore_index=True,
    )[["model", "n", "load", "kind", "error"]]
    color = alt.Color(
        "model:N", title=None, scale=palette.scale(models, strict=True), legend=alt.Legend(orient="bottom")
    )
    dash = alt.StrokeDash(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=list(KIND_DASH), range=list(KIND_DASH.values())),
        legend=alt.Legend(orient="top", symbolType="stroke", symbolStrokeWidth=3),
    )
    base = alt.Chart(long).encode(
        x=alt.X("load:Q", title="pairs per key dimension n / dk"),
        y=alt.Y("error:Q", title="RMS retrieval error |Sᵀk − v| / |v|"),
        color=color,
        tooltip=["model:N", "kind:N", "n:Q", alt.Tooltip("load:Q", format=".3g"), alt.Tooltip("error:Q", format=".3f")],
    )
    lines = base.mark_line(strokeWidth=3).encode(strokeDash=dash, detail="kind:N")
    points = base.transform_filter(alt.datum.kind == "measured").mark_point(filled=True, size=70)
    return alt.layer(lines, points, rule(1.0, "error = |v|"))


def _model_of(series: pd.Series) -> pd.Series:
    return series.map(lambda s: palette.model_of(s) or s)


def race_chart(history: pd.DataFrame, chance: float) -> alt.LayerChart:
    """Held-out query accuracy against step, one colour per racer; on a capacity curve one dash per pair count
    (``history``: series, step, accuracy; series "S6" or "S6, 16 pairs"). Chance 1/N_VALUES dashed."""
    if "accuracy" not in history:
        history = history.assign(accuracy=pd.Series(dtype=float))
    data = history.dropna(subset=["accuracy"])[["series", "step", "accuracy"]]
    data = data.assign(model=_model_of(data["series"]), pairs=data["series"].str.extract(r", (\d+) pairs")[0])
    models = list(dict.fromkeys(_model_of(history.get("series", pd.Series(dtype=str)))))
    enc = {
        "x": alt.X("step:Q", title="training step", axis=alt.Axis(format="d", tickMinStep=1)),
        "y": alt.Y("accuracy:Q", title="held-out query accuracy", scale=alt.Scale(domain=[0, 1])),
        "color": alt.Color(
            "model:N", title=None, scale=palette.scale(models), legend=alt.Legend(orient="bottom", columns=4)
        ),
        "detail": "series:N",
        "tooltip": ["series:N", "step:Q", alt.Tooltip("accuracy:Q", format=".3f")],
    }
    if data["pairs"].notna().any():
        counts = sorted({int(p) for p in data["pairs"].dropna()})
        enc["strokeDash"] = alt.StrokeDash(
            "pairs:N",
            title="pairs",
            sort=[str(c) for c in counts],
            scale=alt.Scale(domain=[str(c) for c in counts], range=[[1, 0], [8, 4], [3, 3], [1, 3], [12, 3, 3, 3]]),
            legend=alt.Legend(orient="top", symbolType="stroke", symbolStrokeWidth=3, symbolStrokeColor="#333333"),
        )
    lines = alt.Chart(data).mark_line(strokeWidth=2.5).encode(**enc)
    points = (
        alt.Chart(data).mark_point(filled=True, size=40).encode(**{k: enc[k] for k in ("x", "y", "color", "tooltip")})
    )
    return alt.layer(lines, points, rule(chance, f"chance 1/{round(1 / chance)}"))


def capacity_chart(curve: pd.DataFrame, chance: float) -> alt.LayerChart:
    """Accuracy at the end of training against the number of pairs (log₂ axis), one line per racer
    (``curve``: model, pairs, accuracy), over the grey level 1/n of guessing among the n values shown and
    the dashed chance 1/N_VALUES."""
    counts = sorted(curve["pairs"].unique()) if len(curve) else [4, 32]
    models = list(dict.fromkeys(curve["model"]))
    x = alt.X(
        "pairs:Q",
        title="key-value pairs in the sequence (log scale)",
        scale=alt.Scale(type="log", base=2, domain=[min(counts), max(counts)], nice=False),
        axis=alt.Axis(values=[int(c) for c in counts], format="d"),
    )
    grid = np.geomspace(min(counts), max(counts), 40)
    guess = pd.DataFrame({"pairs": grid, "accuracy": 1 / grid, "label": "guessing among the n values shown: 1/n"})
    guess_line = (
        alt.Chart(guess)
        .mark_line(color=palette.GREY, strokeDash=palette.THEORY_DASH, strokeWidth=2)
        .encode(x=x, y="accuracy:Q", tooltip=["label:N"])
    )
    guess_label = (
        alt.Chart(guess.head(1).assign(label="1/n: guessing among the values shown"))
        .mark_text(align="left", baseline="bottom", dx=6, dy=-4, color=palette.GREY)
        .encode(x=x, y="accuracy:Q", text="label:N")
    )
    lines = (
        alt.Chart(curve)
        .mark_line(strokeWidth=3, point=alt.OverlayMarkDef(size=90, filled=True))
        .encode(
            x=x,
            y=alt.Y("accuracy:Q", title="held-out query accuracy at the end", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "model:N", title=None, scale=palette.scale(models), legend=alt.Legend(orient="bottom", columns=4)
            ),
            tooltip=["model:N", "pairs:Q", alt.Tooltip("accuracy:Q", format=".3f"), "step:Q"],
        )
    )
    return alt.layer(guess_line, guess_label, lines, rule(chance, f"chance 1/{round(1 / chance)}"))
