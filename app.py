"""Home page: what the dashboard is for and where each question is answered."""

import streamlit as st

from lrd_ui.layout import PAGES, setup_page

setup_page("Long-range dependencies, live", ":material/timeline:")

st.markdown(
    """
A learning signal has to travel from the loss back to the input that caused
it. Over a long sequence that trip can fade to nothing or blow up. Each page
asks one question about that trip and answers it with a small real model,
trained or probed right here, with the closed-form prediction drawn over the
measurement.

Everything is computed when you open a page: change a slider and the numbers
change. One **seed** in the sidebar drives every random draw, so the same
seed always gives the same numbers.
"""
)

st.subheader("Pages")
for path, label, icon in PAGES[1:]:
    st.page_link(path, label=label, icon=icon)
