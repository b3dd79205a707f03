import math

import numpy as np
import pandas as pd

from lrd_core import charts
from lrd_core.charts import topic_charts


def _layers(chart):
    spec = chart.to_dict()
    return spec, spec["layer"]


def _rows(spec, layer):
    """The inline rows a layer draws (Altair moves layer data into top-level datasets)."""
    return spec["datasets"][layer.get("data", spec.get("data"))["name"]]


def test_log_chart_never_feeds_zero_to_the_log_scale_and_marks_zeros_at_a_floor():
    df = pd.DataFrame({"lag": [0, 1, 2, 3, 4], "value": [1.0, 1e-3, 1e-20, 0.0, math.inf], "series": "measured"})
    spec, (lines, zeros) = _layers(charts.log_line_chart(df, "lag", "value", "series", x_title="x", y_title="y"))
    line_rows, zero_rows = _rows(spec, lines), _rows(spec, zeros)
    assert [r["value"] for r in line_rows] == [1.0, 1e-3, 1e-20]  # positive and finite only
    assert [r["lag"] for r in zero_rows] == [3]  # the underflow is shown, not dropped
    assert zero_rows[0]["note"] == "exactly 0 (underflow)"
    floor = zero_rows[0]["floor"]
    assert 0 < floor < 1e-20 and lines["encoding"]["y"]["scale"] == {"type": "log", "domainMin": floor}


def test_log_floor_is_a_decade_below_the_smallest_positive():
    assert charts.log_floor([0.0, 3e-7, 2.0, np.nan]) == 1e-8
    assert charts.log_floor([0.0]) == 1e-300


def test_theory_series_are_dashed_each_in_its_own_pattern_with_one_legend():
    df = pd.DataFrame({"x": [1, 2] * 3, "y": [1.0, 0.5, 1.0, 0.4, 1.0, 0.6], "s": ["a"] * 2 + ["t1"] * 2 + ["t2"] * 2})
    _spec, (lines,) = _layers(charts.log_line_chart(df, "x", "y", "s", x_title="x", y_title="y", dashed=("t1", "t2")))
    enc = lines["encoding"]
    assert enc["strokeDash"]["scale"]["domain"] == ["a", "t1", "t2"]
    solid, d1, d2 = enc["strokeDash"]["scale"]["range"]
    assert solid == [1, 0] and d1 != d2 and 0 not in d1 + d2
    assert {enc[c]["field"] for c in ("color", "strokeDash", "strokeWidth")} == {"s"}  # merged into one legend


def _rule_values(spec):
    """Values of every labelled reference line (charts.rule) in a layered spec."""
    found = []
    for layer in spec.get("layer", []):
        if "layer" in layer and layer["layer"][0]["mark"]["type"] == "rule":  # data hoisted to the sub-layer
            found += [r["value"] for r in spec["datasets"][layer["data"]["name"]]]
    return found


def test_loss_chart_has_baseline_and_solved_rules():
    history = pd.DataFrame({"step": [1, 2, 3], "loss": [0.5, 0.0, 0.1], "series": "RNN"})
    spec = charts.style(charts.loss_chart(history, baseline=1 / 6, solved=0.01)).to_dict()
    assert _rule_values(spec) == [1 / 6, 0.01]
    line = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert [r["loss"] for r in line] == [0.5, 0.1]  # a zero loss would break the log axis
    assert spec["config"]["axis"]["labelFontSize"] >= 14  # readable on a projector


def test_every_builder_renders_offline():
    """vl-convert must render every chart to PNG (the export path); an empty layer or bad spec fails here."""
    import vl_convert as vlc

    hist = pd.DataFrame({"series": "a", "step": [1, 2, 3], "loss": [1.0, 0.5, 0.2], "accuracy": [0.5, None, 0.9]})
    lines = pd.DataFrame({"x": [1, 2, 3], "y": [1.0, 0.0, 0.01], "s": "m"})
    built = [
        charts.log_line_chart(lines, "x", "y", "s", x_title="x", y_title="y"),
        charts.loss_chart(hist, baseline=1 / 6, solved=0.01),
        charts.step_chart(lines, "x", "y", x_title="x", y_title="y", reference=0.5, reference_label="ref"),
        charts.accuracy_chart(hist),
        topic_charts.accuracy_vs_lag_chart(
            pd.DataFrame({"lag": [3, 9], "accuracy": [1.0, 0.5], "series": "a", "step": 9, "inside": [True, False]}), 8
        ),
    ]
    for chart in built:
        png = vlc.vegalite_to_png(charts.style(chart).properties(width=400).to_dict())
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_color_by_groups_share_a_colour_and_dash_tells_theory_apart():
    df = pd.DataFrame(
        {
            "x": [1, 2] * 4,
            "y": [1.0, 0.5] * 4,
            "model": ["A"] * 4 + ["B"] * 4,
            "s": ["A m"] * 2 + ["A t"] * 2 + ["B m"] * 2 + ["B t"] * 2,
        }
    )
    spec, (lines,) = _layers(
        charts.log_line_chart(df, "x", "y", "s", x_title="x", y_title="y", dashed=("A t", "B t"), color_by="model")
    )
    enc = lines["encoding"]
    assert enc["color"]["field"] == "model" and enc["detail"]["field"] == "s"
    rows = _rows(spec, lines)
    assert {(r["s"], r["kind"]) for r in rows} == {
        ("A m", "measured"),
        ("A t", "theory (dashed)"),
        ("B m", "measured"),
        ("B t", "theory (dashed)"),
    }
