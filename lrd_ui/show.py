"""Drawing charts and core results on a page."""

from __future__ import annotations

import inspect

import altair as alt
import streamlit as st

from lrd_core.charts import style


def chart(c: alt.TopLevelMixin, *, height: int | None = None) -> None:
    """Display an Altair chart with the project's projector-friendly styling, full width."""
    st.altair_chart(style(c, height) if height else style(c), width="stretch")


def source(fn, label: str | None = None) -> None:
    """An expander that shows the source of the core function behind a chart."""
    with st.expander(label or f"Source: `{fn.__module__}.{fn.__qualname__}`"):
        st.code(inspect.getsource(fn), language="python")
