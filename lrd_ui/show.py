"""Drawing charts and core results on a page, with PNG / SVG / CSV export under every chart."""

from __future__ import annotations

import inspect

import altair as alt
import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from lrd_core.charts import HEIGHT, export, style
from lrd_ui.presenter import CHART_COUNT_KEY, chart_scale, exports_shown, page_slug, presenting

EXPORTS = (  # (label, file suffix, mime, builder): builders run only when the button is clicked
    ("PNG", "png", "image/png", export.chart_png),
    ("SVG", "svg", "image/svg+xml", export.chart_svg),
    ("CSV", "csv", "text/csv", export.chart_csv),
)


def chart(c: alt.TopLevelMixin, *, height: int | None = None, name: str | None = None) -> None:
    """Display an Altair chart, projector-styled and full width, with download buttons below it.

    ``name`` is the file name of the downloads (default: the page and the
    chart's number on it); buttons are hidden in presenter mode. Nothing is
    rendered for export until a button is clicked.
    """
    styled = style(c, int((height or HEIGHT) * chart_scale()), presenter=presenting())
    st.altair_chart(styled, width="stretch")
    if not exports_shown():  # presenter mode, or a live chart drawn once for all its viewers (lrd_ui.live)
        return
    number = st.session_state.get(CHART_COUNT_KEY, 0) + 1  # unique on the page, also across fragment reruns
    st.session_state[CHART_COUNT_KEY] = number
    stem = name or f"{page_slug()}-chart-{number}"
    cols = st.columns(len(EXPORTS) + 4)
    for col, (label, suffix, mime, build) in zip(cols[: len(EXPORTS)], EXPORTS, strict=True):  # the rest: spacing
        col.download_button(
            label,
            data=lambda build=build: build(styled),
            file_name=f"{stem}.{suffix}",
            mime=mime,
            key=f"export_{suffix}_{number}",
            on_click="ignore",
            icon=":material/download:",
            type="tertiary",
        )


def table(data: pd.DataFrame | Styler, *, hide_index: bool = False) -> None:
    """A table: ``st.dataframe`` (sortable, scrollable), or in presenter mode ``st.table``, whose HTML cells the
    presenter CSS enlarges (the canvas grid of ``st.dataframe`` cannot be, see :mod:`lrd_ui.presenter`)."""
    if not presenting():
        st.dataframe(data, hide_index=hide_index or None)
        return
    styler = data if isinstance(data, Styler) else data.style
    st.table(styler.hide(axis="index") if hide_index else styler)


def source(fn, label: str | None = None) -> None:
    """An expander that shows the source of the core function behind a chart."""
    with st.expander(label or f"Source: `{fn.__module__}.{fn.__qualname__}`"):
        st.code(inspect.getsource(fn), language="python")
