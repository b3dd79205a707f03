"""Presenter mode for a lecture hall: larger type and charts, no export clutter, sections revealed one by one.

The switch lives in a plain session-state key (it survives page switches) and
in the URL as ``?presenter=1``, so a lecturer can bookmark a page in that mode.
"""

from __future__ import annotations

import streamlit as st

PRESENTER_KEY = "global_presenter"  # bool: presenter mode on
SEEN_KEY = "_sections_seen"  # sections drawn so far in this run of the page
CHART_COUNT_KEY = "_charts_drawn"  # charts drawn so far on the page (fragment reruns keep counting)
CHART_SCALE = 1.35  # chart height factor in presenter mode
CSS = """
<style>
  .stMain p, .stMain li, .stMain [data-testid="stMarkdownContainer"] { font-size: 1.35rem; line-height: 1.5; }
  .stMain h1 { font-size: 3.2rem; }
  .stMain h3 { font-size: 2.1rem; }
  .stMain [data-testid="stMetricValue"] { font-size: 2.8rem; }
  .stMain [data-testid="stCaptionContainer"] { font-size: 1.1rem; }
</style>
"""


def presenting() -> bool:
    """True when presenter mode is on for this visitor."""
    return bool(st.session_state.get(PRESENTER_KEY, False))


def chart_scale() -> float:
    """Factor for chart heights: larger in presenter mode."""
    return CHART_SCALE if presenting() else 1.0


def presenter_toggle() -> None:
    """Sidebar switch for presenter mode (also ``?presenter=1`` in the URL); styles the page when on."""
    ss = st.session_state
    if "presenter" in st.query_params and PRESENTER_KEY not in ss:  # a deep link into presenter mode
        ss[PRESENTER_KEY] = st.query_params["presenter"] in ("1", "true", "True")
    on = st.toggle(
        "Presenter mode",
        bool(ss.get(PRESENTER_KEY, False)),
        key="_presenter_widget",
        help="Large type and charts for a projector; the page's sections appear one at a time.",
    )
    ss[PRESENTER_KEY] = on
    if on:
        st.query_params["presenter"] = "1"
        st.html(CSS)
    elif "presenter" in st.query_params:
        del st.query_params["presenter"]


def start_page(page: str) -> None:
    """Reset the section and chart counts at the top of every full run of ``page``."""
    st.session_state[SEEN_KEY] = 0
    st.session_state[CHART_COUNT_KEY] = 0
    st.session_state["_presenter_page"] = page


def page_slug() -> str:
    """The current page's title as a file-name stem: "Gating: LSTM and GRU" -> "gating-lstm-and-gru"."""
    title = st.session_state.get("_presenter_page", "chart")
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def _reveal_key() -> str:
    return f"_revealed_{st.session_state.get('_presenter_page', '')}"


def section(title: str) -> None:
    """A numbered section heading. In presenter mode only the sections revealed so far are drawn:
    the next one waits behind a button, and the rest of the page is not run."""
    ss = st.session_state
    ss[SEEN_KEY] = ss.get(SEEN_KEY, 0) + 1
    key = _reveal_key()
    if presenting() and ss[SEEN_KEY] > ss.get(key, 1):
        st.button(
            f"Next: {title}",
            key="_reveal_next",
            type="primary",
            icon=":material/arrow_downward:",
            on_click=lambda: ss.__setitem__(key, ss.get(key, 1) + 1),
        )
        st.stop()
    st.subheader(title)
