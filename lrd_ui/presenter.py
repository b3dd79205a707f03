"""Presenter mode for a lecture hall: larger type and charts, no export clutter, sections revealed one by one.

The switch lives in a plain session-state key (it survives page switches) and
in the URL as ``?presenter=1``, so a lecturer can bookmark a page in that mode.
In presenter mode the sidebar also offers the follow link for the hall (:mod:`lrd_ui.follow`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import streamlit as st

from lrd_ui import follow

PRESENTER_KEY = "global_presenter"  # bool: presenter mode on
SEEN_KEY = "_sections_seen"  # sections drawn so far in this run of the page
CHART_COUNT_KEY = "_charts_drawn"  # charts drawn so far on the page (fragment reruns keep counting)
CHART_SCALE = 1.35  # chart height factor in presenter mode
CONTROLS_KEY = "global_presenter_controls"  # bool: the page's controls shown while presenting
CSS = """
<style>
  .stMain p, .stMain li, .stMain [data-testid="stMarkdownContainer"] { font-size: 1.35rem; line-height: 1.5; }
  .stMain h1 { font-size: 3.2rem; }
  .stMain h3 { font-size: 2.1rem; }
  .stMain [data-testid="stMetricLabel"], .stMain [data-testid="stMetricLabel"] p { font-size: 1.3rem; }
  .stMain [data-testid="stMetricValue"], .stMain [data-testid="stMetricValue"] p { font-size: 3rem; }
  .stMain [data-testid="stCaptionContainer"], .stMain [data-testid="stCaptionContainer"] p { font-size: 1.15rem; }
  .stMain [data-testid="stTable"] td, .stMain [data-testid="stTable"] th { font-size: 1.3rem; }
  .stMain [data-testid="stWidgetLabel"] p { font-size: 1.2rem; }
</style>
"""
# st.dataframe is a canvas grid sized in pixels by Streamlit: CSS cannot enlarge its font, and CSS zoom makes
# it overflow the page (its canvas is zoomed twice; measured in chromium at 1280 px). Pages that want a
# projector-sized table show it with st.table, which the rule above enlarges.
# Hidden while presenting until "Show controls" is on: the toolbar, the run settings above each Start button
# (the Lecture size is what a lecture runs) and the source-code expanders. Start, Stop, Next and the answer
# boxes stay. The page's own sliders are in the sidebar, which presenter mode opens collapsed.
HIDE_CONTROLS_CSS = """
<style>
  [data-testid="stToolbar"] { display: none; }
  .stMain [data-testid="stElementContainer"]:not(.st-key-_presenter_controls_widget):has(
    [data-testid="stSlider"], [data-testid="stSelectbox"], [data-testid="stButtonGroup"],
    [data-testid="stCheckbox"], [data-testid="stRadio"]
  ) { display: none; }
  .stMain [data-testid="stExpander"]:has([data-testid="stCode"]) { display: none; }
</style>
"""


_SHARED_DRAWING = contextvars.ContextVar("lrd_shared_drawing", default=False)


@contextlib.contextmanager
def shared_drawing() -> Iterator[None]:
    """Inside: charts are drawn for every viewer of a live run at once (replayed from a cache), so
    :func:`exports_shown` is False: a download button is a widget, and widgets cannot be replayed."""
    token = _SHARED_DRAWING.set(True)
    try:
        yield
    finally:
        _SHARED_DRAWING.reset(token)


def exports_shown() -> bool:
    """Whether a chart gets download buttons under it: not on a projector, not in a shared drawing."""
    return not presenting() and not _SHARED_DRAWING.get()


def _presenter_param() -> None:
    ss = st.session_state
    if "presenter" in st.query_params and PRESENTER_KEY not in ss:
        ss[PRESENTER_KEY] = st.query_params["presenter"] in ("1", "true", "True")


def presenter_from_url() -> None:
    """A deep link (``?presenter=1``) turns presenter mode on, once per visitor, before the page config is set
    (which opens presenter pages with the sidebar collapsed). A follow link (``?follow=<code>``) makes the
    visitor a follower, and a follower's page takes the presenter's page and values here, before any widget."""
    _presenter_param()
    follow.enter_from_url()
    follow.sync()


def presenting() -> bool:
    """True when presenter mode is on for this visitor."""
    return bool(st.session_state.get(PRESENTER_KEY, False))


def chart_scale() -> float:
    """Factor for chart heights: larger in presenter mode."""
    return CHART_SCALE if presenting() else 1.0


def presenter_toggle() -> None:
    """Sidebar switch for presenter mode (also ``?presenter=1`` in the URL); styles the page when on."""
    ss = st.session_state
    _presenter_param()
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
    follow.share_control(on)


def controls_toggle() -> None:
    """In presenter mode, a "Show controls" switch at the top of the page; while it is off the page's run
    settings, source expanders and Streamlit's toolbar are hidden (the sidebar holds the rest). A follower of a
    presenter gets the follow banner here instead."""
    follow.banner()
    if not presenting():
        return
    ss = st.session_state
    shown = st.toggle(
        "Show controls",
        bool(ss.get(CONTROLS_KEY, False)),
        key="_presenter_controls_widget",
        help="Presenter mode hides the run settings and source code; this brings them back. "
        "The page's sliders are in the sidebar (open it with the arrow at the top left).",
    )
    ss[CONTROLS_KEY] = shown
    if not shown:
        st.html(HIDE_CONTROLS_CSS)


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
