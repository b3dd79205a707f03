"""Figure export: an Altair chart as PNG or SVG (rendered offline by vl-convert) and its data as CSV.

Charts on a page are as wide as their container; a file needs a number, so
export fixes the width (``EXPORT_WIDTH`` pixels unless the chart has its own).
"""

from __future__ import annotations

import io
import struct

import altair as alt
import pandas as pd
import vl_convert as vlc

from lrd_core.validate import check_float, check_int

EXPORT_WIDTH = 900  # pixels of the plotting area when the chart follows its container
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def export_spec(chart: alt.TopLevelMixin, width: int = EXPORT_WIDTH) -> dict:
    """The chart's Vega-Lite spec with a numeric width ("container" means nothing outside a page)."""
    width = check_int("width", width, 50, 4000)
    spec = chart.to_dict()
    if not isinstance(spec.get("width"), int | float):
        spec["width"] = width
    for layer in spec.get("layer", ()):
        if layer.get("width") == "container":
            layer["width"] = width
    return spec


def chart_png(chart: alt.TopLevelMixin, *, scale: float = 2.0, width: int = EXPORT_WIDTH) -> bytes:
    """PNG bytes of the chart at ``scale`` x its size in pixels (2 = sharp on a projector or in slides)."""
    scale = check_float("scale", scale, 0.25, 8.0)
    return vlc.vegalite_to_png(export_spec(chart, width), scale=scale)


def chart_svg(chart: alt.TopLevelMixin, *, width: int = EXPORT_WIDTH) -> str:
    """SVG text of the chart (vector: scales without blur)."""
    return vlc.vegalite_to_svg(export_spec(chart, width))


def chart_data(chart: alt.TopLevelMixin) -> pd.DataFrame:
    """Every row the chart draws, from all its layers, as one DataFrame (column ``layer`` says which data set).

    A layer chart keeps one data set per distinct DataFrame (e.g. measured lines and the
    zeros marked at the floor); the rows come in the order the spec lists them.
    """
    datasets = chart.to_dict().get("datasets", {})
    frames = [pd.DataFrame.from_records(rows).assign(layer=i) for i, rows in enumerate(datasets.values()) if rows]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"layer": []})


def chart_csv(chart: alt.TopLevelMixin) -> str:
    """:func:`chart_data` as CSV text (header row, no index)."""
    return chart_data(chart).to_csv(index=False)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels read from a PNG's header; ValueError if ``png`` is not a PNG."""
    if len(png) < 24 or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("png must be PNG bytes (signature and IHDR header)")
    return struct.unpack(">II", png[16:24])


def read_csv(text: str) -> pd.DataFrame:
    """Parse CSV text written by :func:`chart_csv` back into a DataFrame."""
    return pd.read_csv(io.StringIO(text))
