"""Home page: every architecture on one chart, the pages, and the lecture presets."""

import streamlit as st

from lrd_core.charts.topic_charts import overview_chart
from lrd_core.overview import OVERVIEW_TCN, overview_frame, tcn_spread
from lrd_ui import show
from lrd_ui.layout import PAGES, setup_page
from lrd_ui.presenter import section
from lrd_ui.presets import load_presets

g = setup_page("Long-range dependencies, live", ":material/timeline:", uses_torch=False)


@st.cache_data(max_entries=16, show_spinner=False)
def measured_points(rho: float, seed: int):
    from lrd_core.experiments.vanishing import measured_rnn_signal

    return measured_rnn_signal(rho, T=300, seed=seed)


@st.cache_data(max_entries=16, show_spinner=False)
def measured_tcn(seed: int):
    from lrd_core.experiments.convolutions import measured_tcn_signal

    return measured_tcn_signal(OVERVIEW_TCN["kernel_size"], OVERVIEW_TCN["top_layer"], seed)


st.markdown(
    """
A learning signal has to travel from the loss back to the input that caused
it. Over a long sequence that trip can fade to nothing or blow up. Each page
asks one question about that trip and answers it with a small real model,
trained or probed right here, with the closed-form prediction drawn over the
measurement. One **seed** in the sidebar drives every random draw, so the same
seed always gives the same numbers, and every setting is in the page's URL.
"""
)

section("1 · Every architecture on one chart")
with st.sidebar:
    st.header("Overview")
    rho = st.slider("RNN ρ", 0.5, 1.0, 0.9, 0.01, key="rho", bind="query-params")
    forget_bias = st.slider("LSTM forget bias", -2.0, 6.0, 4.0, 0.5, key="forget_bias", bind="query-params")
    dt = st.select_slider("S4D step Δ", [1e-4, 1e-3, 1e-2, 1e-1], 1e-3, key="dt", bind="query-params")
df = overview_frame(rho=rho, forget_bias=forget_bias, dt=dt, **OVERVIEW_TCN)
slot = st.empty()  # the closed forms at once, then the same chart with the measured points
with slot.container():
    show.chart(overview_chart(df), height=520, name="overview")
measured = measured_points(rho, g.seed)
df = overview_frame(rho=rho, forget_bias=forget_bias, dt=dt, **OVERVIEW_TCN, tcn_signal=measured_tcn(g.seed))
spread = tcn_spread(df)
with slot.container():
    show.chart(overview_chart(df, measured), height=520, name="overview")
st.markdown(
    """
How much of a learning signal reaches an input L steps back, by each page's
closed form. A plain RNN multiplies by about ρ per step; gates near 1 slow the
decay but do not stop it; a convolution stack has no closed form for *how much*
signal arrives inside its receptive field R, only that it is **non-zero inside and
exactly zero past R** (triangles: exactly zero); attention reaches every position
in one hop (dashed, diamonds: it sits at 1, over the other curves near L = 1); an
SSM forgets on the time scale τ its eigenvalues set. The black points are measured
now: one backward pass through a linear RNN with your ρ, and they sit on its curve.
Each curve is measured on its own page:
"""
)
st.caption(
    f"TCN curve: measured by the page-3 probe (seed {g.seed}): the gradient reaching the input is non-zero at "
    f"every lag inside R = {spread['R']} (from {spread['min']:.2g} to {spread['max']:.2g} of its value at L = 1, "
    f"a factor of {spread['ratio']:.2g}) and exactly 0 at all {spread['zeros']} lags drawn past it. The curve is "
    "this flat because of the probe, not because of TCNs: it makes every weight positive (|Kaiming draws|) and "
    "every input positive, so every ReLU passes and no two paths cancel. It shows where a path exists, not how "
    "much signal a trained stack, with weights of both signs, carries back."
)
labels = {path: (label, icon) for path, label, icon in PAGES}
cols = st.columns(3)
for i, (curve, path) in enumerate(df[["architecture", "page"]].drop_duplicates().itertuples(index=False)):
    cols[i % 3].page_link(path, label=f"{curve.split(':')[0]} → {labels[path][0]}", icon=labels[path][1])

section("2 · The pages")
for path, label, icon in PAGES[1:]:
    st.page_link(path, label=label, icon=icon)

section("3 · Lecture presets")
st.caption("Each opens its page with every value set and says what to look for.")
for preset in load_presets():
    st.page_link(preset.page, label=preset.title, query_params=preset.query(), icon=":material/school:")
    st.caption(preset.point)
