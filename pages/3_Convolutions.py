"""Dilated causal convolutions: a receptive field that doubles with every layer, measured and put to work."""

import pandas as pd
import streamlit as st

from lrd_core import charts, limits
from lrd_core.charts import topic_charts
from lrd_core.demo import Demo
from lrd_core.experiments import convolutions
from lrd_core.models.tcn import VARIANTS, CausalConv1d, TCNConfig
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

PAGE_MAX_KERNEL, PAGE_MAX_TOP = 4, 8  # widget ranges: every chart at the extremes stays a few thousand marks
PROBE_CHANNELS = 2  # the measured field does not depend on the width; 2 channels keep probes instant

g = setup_page("Dilated causal convolutions", ":material/account_tree:")
D = convolutions.DEFAULTS  # the sidebar starts at the live run's defaults

with st.sidebar:
    st.header("Convolution stack")
    k = st.slider("k: kernel size (taps per layer)", 2, PAGE_MAX_KERNEL, D["k"], 1, key="k", bind="query-params")
    d = st.slider("d: top layer (layers 0..d)", 0, PAGE_MAX_TOP, D["d"], 1, key="d", bind="query-params")
    variant = st.selectbox(
        "Stack",
        VARIANTS,
        VARIANTS.index(D["stack"]),
        key="stack",
        bind="query-params",
        help="dilated: layer ℓ has dilation 2^ℓ. undilated: dilation 1 everywhere. "
        "residual: Bai et al. (2018) blocks, two convolutions of dilation 2^ℓ in block ℓ.",
    )

config = TCNConfig(1, PROBE_CHANNELS, k, d, variant)
R = config.receptive_field


@st.cache_data(max_entries=32, show_spinner="Measuring…")
def reach(k: int, d: int, variant: str, seed: int) -> tuple[pd.DataFrame, int]:
    full = convolutions.tcn_reach(TCNConfig(1, PROBE_CHANNELS, k, d, variant), seed)
    return convolutions.thin_reach(full), convolutions.measured_receptive_field(full)


@st.cache_data(max_entries=32)
def field_table(k: int, d: int, seed: int) -> pd.DataFrame:
    return convolutions.receptive_field_table(k, d, seed, PROBE_CHANNELS)


@st.cache_data(max_entries=16)
def growth(k: int, seed: int) -> pd.DataFrame:
    return convolutions.receptive_field_growth(k, limits.MAX_TCN_TOP_LAYER, seed, PROBE_CHANNELS)


st.markdown(
    """
A causal convolution computes the output at step t from a few inputs at t and
before, never after. Stack such layers and each output sees further back. If
layer ℓ spaces its k taps 2^ℓ steps apart (its *dilation*), the reach doubles
with every layer instead of growing by k − 1. Below, autograd measures the
reach of a real network: an input belongs to the receptive field of the last
output exactly when the output's gradient with respect to it is not zero.
"""
)

st.caption("Sources: van den Oord et al. 2016 (WaveNet: dilated causal convolutions); Bai, Kolter & Koltun 2018 (TCN).")

section("1 · Which inputs reach one output")
tree, measured = reach(k, d, variant, g.seed)
a, b, c = st.columns(3)
a.metric("R by formula", R)
b.metric("R measured (non-zero gradient)", measured)
c.metric("convolution layers", len(config.dilations))
show.chart(topic_charts.dilation_tree_chart(tree, R), height=max(220, 28 * (int(tree["level"].max()) + 2)))
width = int(tree["width"].iloc[0])
st.caption(
    "Each row is one level of the network, the input at the bottom and the probed output on top; a blue mark is a "
    "position whose gradient is non-zero. Grey: inputs the output never sees."
    + (f" Each mark covers {width} neighbouring positions, to keep the chart light." if width > 1 else "")
)
st.markdown(
    """
Read it from the top: the output sees k positions of the level below, spaced by
that layer's dilation; each of those sees k more, and so on. With dilations
1, 2, 4, … the lags m₀·1 + m₁·2 + m₂·4 + … (each m between 0 and k − 1) fill
every step from 0 to (k − 1)(2^(d+1) − 1) without a gap, so
**R(k, d) = (k − 1)(2^(d+1) − 1) + 1**. The residual variant has two
convolutions per block, doubling every lag; its 1×1 skip path looks at one step
and adds nothing: R = 1 + 2(k − 1)(2^(d+1) − 1).
"""
)

section("2 · Formula against measurement, all three stacks")
show.table(field_table(k, d, g.seed), hide_index=True)
st.caption("gaps: lags inside the field that no path reaches (0: the field is one solid block).")
show.source(convolutions.tcn_reach)
show.source(CausalConv1d, "Source: one causal, dilated convolution")

section("3 · Growth with depth: exponential against linear")
show.chart(
    charts.log_line_chart(
        growth(k, g.seed),
        "layers",
        "receptive_field",
        "series",
        x_title="layers (d + 1)",
        y_title="receptive field R (log)",
        dashed=("dilated, formula", "undilated, formula"),
    ),
    height=400,
)
st.caption(f"k = {k}. On a log axis doubling is a straight line; the undilated stack gains only k − 1 per layer.")

section("4 · Train it: lag parity")
st.markdown(
    f"""
Random bits x_t arrive one per step; the target at every step is
y_t = x_t XOR x_(t−lag). Each bit alone says nothing about y_t, so a network
that cannot see x_(t−lag) scores exactly chance, 50 %, however long it trains.
The {variant} stack above (k = {k}, d = {d}) sees **R = {R}** steps: lags up to
R − 1 are learnable, lag R and beyond are not. The panel trains one fresh
network per lag: yours plus lags around R.
"""
)
v = size_values(convolutions.SIZES)
c1, c2, c3 = st.columns(3)
lag = c1.slider("Your lag", 1, limits.MAX_LAG, v["lag"], 1, key="lag", bind="query-params")
steps = c2.slider("Steps", 50, 2000, v["steps"], 50, key="steps", bind="query-params")
channels = c3.select_slider("Channels C", [8, 16, 32, 64], v["C"], key="C", bind="query-params")
race_values = {"lag": lag, "steps": steps, "C": channels, "k": k, "d": d, "stack": variant}
race_demo = build_demo(convolutions.demo, race_values, g.seed, g.device)
full_batch = convolutions.TRAIN_BATCH
if small := {at: b for at, b in race_demo.info["batches"].items() if b < full_batch}:
    st.caption(
        "Memory cap: "
        + ", ".join(f"lag {at} trains on {b} sequences per step" for at, b in sorted(small.items()))
        + f" (not {full_batch}): a step at these lengths would otherwise hold more than "
        f"{convolutions.PARITY_STEP_BYTES // 2**20} MB. Fewer sequences per step make learning slower and noisier; "
        "a lag at or past R stays at 50 % at any batch size."
    )


def render(history: pd.DataFrame, run: Demo) -> None:
    left, right = st.columns(2)
    with left:
        show.chart(charts.accuracy_chart(history), height=320)
    with right:  # the run's own R and lags: the sliders may have moved since Start
        by_lag = convolutions.accuracy_by_lag(history, run.info["series"], run.info["R"])
        show.chart(topic_charts.accuracy_vs_lag_chart(by_lag, run.info["R"]), height=320)


live_panel("tcn_parity", race_demo, render=render, steps_per_tick=5)
st.caption(
    "Accuracy is measured every 10 steps on a held-out batch. A lag inside the field can be learned: the default "
    "stack jumps to about 100 % within a few hundred steps, while longer lags, deeper or residual stacks may sit on a "
    "plateau at 50 % for longer before the jump. A lag at or beyond R stays at 50 % however long you train: no "
    "path exists through which a gradient could teach it."
)
