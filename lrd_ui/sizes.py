"""Run sizes: every live page has a "Lecture" size (the default: its contrast within about 20 s of Start on
one core) and a "Full size" (the bigger self-study settings). A size is a set of widget values.

The choice is a segmented control bound to the URL (``?size=Full+size``), so a deep link selects a size; values
given in the URL for the individual widgets still win over the size's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from lrd_core.demo import FULL, LECTURE, SIZE_NAMES, check_sizes

__all__ = ["FULL", "LECTURE", "size_values"]
SIZE_KEY = "size"


def _apply(sizes: Mapping[str, Mapping[str, Any]]) -> None:
    """on_change of the size control: move every widget the size governs to the new size's value."""
    # Set, not delete: a deleted widget state is sent back by the browser with its old value. (Streamlit
    # would log that these widgets also have a default; .streamlit/config.toml turns that warning off.)
    for key, value in sizes[st.session_state[SIZE_KEY] or LECTURE].items():
        st.session_state[key] = value


def size_values(
    sizes: Mapping[str, Mapping[str, Any]], *, help: str | None = None, full_size_checked: str | None = None
) -> dict[str, Any]:
    """Draw the Lecture / Full size control and return the chosen size's widget values (key -> value).

    ``sizes`` maps ``LECTURE`` and ``FULL`` to the values of the widgets the size governs. Pass each
    value as that widget's default (``st.slider(..., value=v["steps"], key="steps")``): a fresh page takes
    the size's values, and switching size moves every governed widget to the new size's value.
    ``full_size_checked``: how this page's claim is checked at Full size where that is less than the Lecture
    size's seeds 0-4 (a clause: "by a slow test on seed 0 only"); shown under the control at Full size.
    """
    check_sizes(sizes)
    choice = st.segmented_control(
        "Run size",
        list(SIZE_NAMES),
        default=LECTURE,
        key=SIZE_KEY,
        bind="query-params",
        on_change=_apply,
        args=(sizes,),
        help=help
        or "Lecture: small enough that the contrast shows within about 20 s of Start on one CPU core. "
        "Full size: the larger settings for self-study (minutes).",
    )
    if choice == FULL and full_size_checked:
        st.caption(
            f"At Full size this page's claim is checked {full_size_checked} (the Lecture size's on seeds 0-4); "
            "the verdict below reports what your run did."
        )
    return dict(sizes[choice or LECTURE])
