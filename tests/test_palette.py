"""One colour per model everywhere: the palette itself, and every chart the app draws at defaults.

The page walk opens the home page and every page under AppTest, reads the Vega-Lite spec (and the Arrow
data sets) of every chart Streamlit would send to the browser, and checks each colour encoding of a name.
"""

from __future__ import annotations

import json
from functools import cache

import pandas as pd
import pyarrow as pa
import pytest

from lrd_core import charts
from lrd_core.charts import export, palette, topic_charts
from lrd_core.experiments import attention, layernorm, selective, state_space
from lrd_core.experiments import real_data as rx
from lrd_core.models.recurrent import RECURRENT_KINDS
from lrd_core.models.segment import MODE_NAMES
from lrd_core.models.transformer import PLACEMENT_NAMES
from lrd_core.overview import OVERVIEW_TCN, overview_frame
from tests.apptest_support import PAGE_FILES, assert_clean, open_page

# Okabe & Ito (2008), "Color Universal Design", the eight colours as RGB 0-255 (their Fig. 16):
# black (0,0,0), orange (230,159,0), sky blue (86,180,233), bluish green (0,158,115), yellow (240,228,66),
# blue (0,114,178), vermillion (213,94,0), reddish purple (204,121,167).
OKABE_ITO_RGB = [(0, 0, 0), (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178)]
OKABE_ITO_RGB += [(213, 94, 0), (204, 121, 167)]
COLOR_CHANNELS = ("color", "fill", "stroke")


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


# --- the palette ---------------------------------------------------------------------------------------------


def test_palette_is_okabe_ito_without_yellow_lines():
    assert [_rgb(c) for c in palette.OKABE_ITO.values()] == OKABE_ITO_RGB
    line_colors = set(palette.MODELS.values()) | set(palette.FREE_ORDER)
    assert {_rgb(c) for c in line_colors} <= set(OKABE_ITO_RGB) - {(240, 228, 66)}  # no yellow line on white
    assert len(set(palette.FREE_ORDER)) == len(palette.FREE_ORDER) == 7


@pytest.mark.parametrize(
    "together",
    [
        ("plain RNN", "LSTM", "GRU", "TCN", "attention", "S4D"),  # the home overview
        ("Post-LN", "Pre-LN", "DeepNorm", "Post-LN + warm-up"),  # the LayerNorm page
        ("S6", "S4D"),  # the selective race
        ("LSTM", "S4D", "attention"),  # the cost chart of the SSM page
        ("sliding window", "segment recurrence"),  # the long-context race
        ("no attention", "attention"),  # the attention page
    ],
)
def test_models_that_share_a_chart_have_distinct_colours(together):
    assert len({palette.color(m) for m in together}) == len(together)


def test_names_resolve_to_their_model_by_prefix():
    assert palette.model_of("LSTM, forget bias 4: f^(L−1)") == "LSTM"
    assert palette.model_of("Post-LN / Pre-LN") == "Post-LN"  # longest key first: not "Pre-LN"
    assert palette.model_of("Post-LN + warm-up") == "Post-LN + warm-up"
    assert palette.model_of(selective.S6_NAME) == "S6" and palette.model_of(selective.S4D_NAME) == "S4D"
    assert palette.model_of("LSTMs") is None and palette.model_of("median") is None  # a word, not a prefix
    assert palette.color("LSTM measured") == "#0072B2"  # Okabe-Ito blue, (0, 114, 178)
    with pytest.raises(ValueError, match="name"):
        palette.color("90th percentile")


def test_colors_theory_twin_variant_and_settings():
    # the measured LSTM takes blue; its theory (dashed) twin shares it; the S4D theory alone takes purple
    names = ["LSTM measured", "LSTM theory", "S4D theory"]
    assert palette.colors(names, theory=names[1:]) == ["#0072B2", "#0072B2", "#CC79A7"]
    # a second variant of one model, and a setting, take the first free colours in FREE_ORDER:
    # green is the first TCN's; the free order starts orange, sky blue
    assert palette.colors(["TCN, reach 128", "TCN, reach 512", "median"]) == ["#009E73", "#E69F00", "#56B4E9"]
    # context names keep their fixed colour, whatever comes first
    assert palette.colors(["LSTM, full memory", "actual"]) == ["#0072B2", "#000000"]
    with pytest.raises(ValueError, match="names"):
        palette.colors(["LSTM", "median"], strict=True)
    lags = palette.colors([f"lag {i}" for i in range(9)])  # 9 settings, 7 line colours: they repeat in order
    assert lags[:7] == list(palette.FREE_ORDER) and lags[7:] == list(palette.FREE_ORDER[:2])


def test_theory_curve_shares_its_models_colour_and_takes_the_theory_dash():
    df = pd.DataFrame(
        {
            "L": [1, 2, 1, 2],
            "y": [1.0, 0.5, 1.0, 0.4],
            "s": ["LSTM measured", "LSTM measured", "LSTM: f^L", "LSTM: f^L"],
        }
    )
    spec = charts.log_line_chart(df, "L", "y", "s", x_title="L", y_title="y", dashed=("LSTM: f^L",)).to_dict()
    enc = spec["layer"][0]["encoding"]
    assert enc["color"]["scale"]["range"] == [palette.color("LSTM")] * 2
    assert enc["strokeDash"]["scale"]["range"] == [palette.MEASURED_DASH, palette.THEORY_DASH] == [[1, 0], [8, 5]]


def test_every_model_name_the_experiments_export_resolves():
    short, long = rx.tcn_names(3, 5, 8)
    names = [
        selective.S6_NAME,
        selective.S4D_NAME,
        *MODE_NAMES.values(),
        *PLACEMENT_NAMES.values(),
        *state_space.RECALL_KINDS,
        *RECURRENT_KINDS,
        *attention.ATTENTION_SERIES,
        *(layernorm.layernorm_series(p, s) for p in ("pre", "post") for s in layernorm.LN_SCHEDULES),
        *rx.lstm_names(48),
        short,
        long,
        *overview_frame(**OVERVIEW_TCN)["architecture"].unique(),
    ]
    unknown = [n for n in names if palette.model_of(n) is None]
    assert not unknown, f"no palette colour for {unknown}: add them to lrd_core.charts.palette.MODELS"


# --- every chart on every page -------------------------------------------------------------------------------


def _encodings(spec, datasets, data=None):
    """(channel, encoding, data-set name) of every nominal colour encoding in a (layered) spec."""
    if isinstance(spec, list):
        for item in spec:
            yield from _encodings(item, datasets, data)
        return
    if not isinstance(spec, dict):
        return
    if isinstance(spec.get("data"), dict) and "name" in spec["data"]:
        data = spec["data"]["name"]
    for channel in COLOR_CHANNELS:
        enc = spec.get("encoding", {}).get(channel)
        if isinstance(enc, dict) and "field" in enc and enc.get("type") == "nominal":
            yield channel, enc, data
    for key, value in spec.items():
        if key not in ("datasets", "data", "encoding"):
            yield from _encodings(value, datasets, data)


@cache
def _page_charts(path: str) -> list[tuple[dict, dict[str, pd.DataFrame]]]:
    """Every chart of a page at defaults: (spec, {data-set name: DataFrame})."""
    at = open_page(path)
    at.run()
    assert_clean(at, f"{path} defaults")
    out = []
    for chart in at.get("vega_lite_chart"):
        frames = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets}
        out.append((json.loads(chart.proto.spec), frames))
    return out


def _color_uses(paths):
    """(page, chart number, channel, field, domain, range, values drawn) of every nominal colour encoding."""
    for path in paths:
        for i, (spec, frames) in enumerate(_page_charts(path)):
            for channel, enc, data in _encodings(spec, frames):
                scale = enc.get("scale", {})
                drawn = set(frames[data][enc["field"]].astype(str)) if data in frames else set()
                yield path, i, channel, enc["field"], scale.get("domain"), scale.get("range"), drawn


def test_every_colour_encoding_on_every_page_uses_the_palette():
    seen: dict[str, tuple[str, str]] = {}  # name -> (colour, where first seen)
    uses = list(_color_uses(PAGE_FILES))
    assert len(uses) >= 15, f"only {len(uses)} colour encodings found: the walk is broken"
    for path, i, channel, field, domain, rng, drawn in uses:
        where = f"{path} chart {i} {channel}={field}"
        assert domain is not None and rng is not None, f"{where}: no explicit domain and range"
        assert len(domain) == len(rng), f"{where}: domain and range differ in length"
        assert drawn <= {str(d) for d in domain}, f"{where}: values {drawn - set(map(str, domain))} not in domain"
        first_of_model: set[str] = set()
        for name, col in zip(map(str, domain), rng, strict=True):
            model = palette.model_of(name)
            if model is not None and model not in first_of_model:  # the first series of a model: its colour
                first_of_model.add(model)
                assert col == palette.MODELS[model], f"{where}: {name!r} is {col}, {model} is {palette.MODELS[model]}"
            if name in seen:
                assert seen[name][0] == col, f"{name!r}: {col} on {where}, {seen[name][0]} on {seen[name][1]}"
            seen[name] = (col, where)
        shared = pd.Series(list(map(str, domain))).groupby(list(rng)).agg(list)
        for col, names in shared.items():  # one colour, one model: theory twins only
            assert len({palette.model_of(n) or n for n in names}) == 1, f"{where}: {names} share {col}"


def test_underflow_markers_take_their_models_colour():
    """Home page at defaults: the TCN is exactly 0 past R; its triangles are drawn in the TCN's colour."""
    ((spec, frames),) = _page_charts("app.py")
    triangles = [
        (enc, data)
        for channel, enc, data in _encodings(spec, frames)
        if channel == "color" and "floor" in frames.get(data, pd.DataFrame()).columns
    ]
    assert len(triangles) == 1
    enc, data = triangles[0]
    colour = dict(zip(enc["scale"]["domain"], enc["scale"]["range"], strict=True))
    assert {colour[n] for n in frames[data][enc["field"]]} == {palette.color("TCN")}
    assert "#d62728" not in json.dumps(spec)  # the old red of every underflow marker


def test_exported_svg_draws_the_palette_colours():
    """The PNG/SVG export renders the styled chart's own spec: every model's colour is in the SVG."""
    df = overview_frame(**OVERVIEW_TCN)
    svg = export.chart_svg(charts.style(topic_charts.overview_chart(df)))
    for name in df["architecture"].unique():
        if name.startswith("dilated TCN"):  # no line inside R without the measured profile: its zero markers
            assert f'fill="{palette.color(name).lower()}"' in svg.lower()
            continue
        assert f'stroke="{palette.color(name).lower()}"' in svg.lower(), name
    assert len(export.chart_png(charts.style(topic_charts.overview_chart(df)), scale=0.5)) > 1000


@pytest.mark.parametrize(
    ("build", "names"),
    [
        (lambda h: topic_charts.placement_loss_chart(h, baseline=1.0, solved=None), ["Post-LN", "Pre-LN"]),
        (lambda h: charts.loss_chart(h, baseline=None, solved=None), list(rx.tcn_names(3, 5, 8))),
        (lambda h: charts.accuracy_chart(h.rename(columns={"loss": "accuracy"})), [selective.S6_NAME, "S4D"]),
        (lambda h: charts.accuracy_chart(h.rename(columns={"loss": "accuracy"})), list(MODE_NAMES.values())),
    ],
)
def test_live_charts_colour_their_runs_by_the_palette(build, names):
    """Live charts (drawn only while training, so not in the page walk) use the same colours."""
    history = pd.DataFrame({"series": names, "step": [1] * len(names), "loss": [0.5] * len(names)})
    spec = build(history).to_dict()
    (enc,) = [e for c, e, _ in _encodings(spec, {}) if c == "color"]
    assert enc["scale"]["domain"] == names
    assert enc["scale"]["range"] == palette.colors(names)
    assert enc["scale"]["range"][0] == palette.MODELS[palette.model_of(names[0])]
