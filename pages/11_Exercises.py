"""Exercises: short questions with answers checked against lrd_core, and a link to the page that shows each."""

import math

import streamlit as st

from lrd_core.exercises import EXERCISES
from lrd_core.formats import fmt
from lrd_ui.layout import setup_page

g = setup_page("Exercises", ":material/quiz:")

st.markdown(
    """
Work each one out on paper first, then type your number. The answer key is
computed by the same library that draws the charts, so it always agrees with
what the pages show; **Show me** opens the page already set to the question's values.
"""
)

ANSWERS = "exercise_answers"  # plain session key: a widget's own state is dropped when the visitor leaves the page
answers = st.session_state.setdefault(ANSWERS, {})


def keep(ex_id: str) -> None:
    answers[ex_id] = st.session_state[f"ex_{ex_id}"]


score = 0
for i, ex in enumerate(EXERCISES, start=1):
    with st.container(border=True):
        st.markdown(f"**{i}. {ex.topic}.** {ex.question}")
        left, right = st.columns([2, 3])
        value = left.number_input(
            "Your answer",
            value=answers.get(ex.id),  # what the visitor typed before "Show me" took them to another page
            format="%.6g",
            key=f"ex_{ex.id}",
            on_change=keep,
            args=(ex.id,),
            placeholder="a number",
            label_visibility="collapsed",
        )
        right.page_link(ex.page, label="Show me on the page", query_params=ex.query, icon=":material/open_in_new:")
        if value is not None:
            if ex.check(value):
                score += 1
                st.success(f"Right: {fmt(ex.answer(), 4)}.")
            else:
                st.error(
                    "Not yet: try again, or open the explanation."
                    if math.isfinite(value)
                    else "Please enter a finite number."
                )
        with st.expander("Explanation and answer"):
            st.markdown(f"{ex.explanation} **Answer: {fmt(ex.answer(), 4)}.**")

st.metric("Solved", f"{score} / {len(EXERCISES)}")
