"""Long context: tokenization sets how many steps a dependency takes; segment recurrence reaches past the window."""

import numpy as np
import pandas as pd
import streamlit as st

from lrd_core import charts, theory, tokenize
from lrd_core.charts import topic_charts
from lrd_core.demo import Demo
from lrd_core.experiments import long_context
from lrd_core.limits import MAX_PASTED_CHARS
from lrd_core.models.segment import MODE_NAMES, SegmentConfig, block_with_memory
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

SEGMENT, LAYERS, WIDTH = long_context.RACE_SEGMENT, long_context.RACE_LAYERS, long_context.RACE_WIDTH  # S, N, D
DISTANCES = np.unique(np.linspace(1, 500, 50).astype(int))  # D in characters for the signal chart
WINDOWS = (256, 512, 1024, 2048)  # window sizes W in tokens
BOX_WIDTH = 72  # characters per row of the token boxes
SAMPLE = """A recurrent network pays for every step between a cause and its effect. Cut the same sentence
into longer tokens and the effect arrives in fewer steps.
def mean(xs):
    return sum(xs) / len(xs)
"""

g = setup_page("Long context", ":material/data_array:")

with st.sidebar:
    st.header("Tokenizer")
    corpus = st.selectbox(
        "Corpus",
        tokenize.CORPORA,
        key="corpus",
        bind="query-params",
        help="english: Python's interactive help text. code: standard-library source files.",
    )
    V = st.select_slider("BPE vocabulary size V", tokenize.VOCAB_SIZES, 4096, key="V", bind="query-params")
    rho = st.slider("ρ: gain per recurrent step", 0.5, 0.99, 0.9, 0.01, key="rho", bind="query-params")
    W = st.select_slider("Window W (tokens)", WINDOWS, 1024, key="W", bind="query-params")


@st.cache_data(max_entries=16, show_spinner="Training byte-level BPE on both corpora…")
def table() -> tuple[pd.DataFrame, dict[str, float]]:
    return long_context.tokenization_table(), {c: tokenize.training_seconds(c) for c in tokenize.CORPORA}


@st.cache_data(max_entries=16, show_spinner="Measuring windows on held-out text…")
def reach() -> pd.DataFrame:
    return long_context.window_reach_table(WINDOWS)


@st.cache_data(max_entries=16, show_spinner="Measuring the reach of segment recurrence…")
def reach_measured(memory_len: int, seed: int) -> int:
    config = SegmentConfig(long_context.SEGMENT_SYMBOLS + 2, WIDTH, 4, LAYERS, 2 * WIDTH, SEGMENT, memory_len)
    return long_context.measured_segment_reach(config, seed)


@st.cache_data(max_entries=16, show_spinner="Counting tokens across held-out text…")
def signal(rho: float, V: int, corpus: str) -> pd.DataFrame:
    return long_context.signal_over_chars_frame(rho, DISTANCES, V, corpus)


@st.cache_data(max_entries=16)
def boxes(text: str, V: int, corpus: str) -> tuple[pd.DataFrame, int]:
    pieces = tokenize.tokens(tokenize.bpe_tokenizer(V, corpus), text)
    return long_context.token_boxes(pieces, BOX_WIDTH), len(pieces)


st.markdown(
    """
How far apart two things are depends on what counts as one step. A model reads
**tokens**, and the tokenizer decides how many characters make one. Byte-level
BPE starts from the 256 byte values and keeps merging the most frequent
neighbouring pair into a new token until the vocabulary has V entries. Below,
real BPE tokenizers (Hugging Face `tokenizers`) are trained on two corpora that
ship with Python and measured on held-out text: every fifth document is kept
out of training.
"""
)

section("1 · Characters per token against vocabulary size")
cpt, seconds = table()
show.chart(topic_charts.chars_per_token_chart(cpt), height=380)
row = cpt[cpt["vocab_size"] == V].set_index("corpus")["chars_per_token"]
a, b, c = st.columns(3)
a.metric(f"c, English, V = {V:,}", f"{row['english']:.2f}")
b.metric(f"c, code, V = {V:,}", f"{row['code']:.2f}")
c.metric(f"BPE training at V = {tokenize.MAX_BPE_VOCAB:,}", f"{max(seconds.values()):.2f} s")
st.caption("Smaller vocabularies are the first V − 256 merges of that one training: BPE learns merges in order.")

section(f"2 · What a window of {W:,} tokens covers, in characters")
window = reach()
window = window[window["W"] == W]
mine = window[(window["corpus"] == corpus) & (window["vocab_size"] == V)].iloc[0]
a, b = st.columns(2)
a.metric("characters (one per token)", f"{W:,}")
b.metric(
    f"BPE V = {V:,}, {corpus}: W·c",
    f"{mine['closed_form']:,.0f}",
    delta=f"× {mine['chars_per_token']:.2f}",
    delta_color="off",
)
names = {"vocab_size": "V", "chars_per_token": "c", "closed_form": "W·c", "measured": "measured"}
mine_all = window[window["corpus"] == corpus].rename(columns=names)[list(names.values())].reset_index(drop=True)
show.table(mine_all.style.format({"c": "{:.3f}", "W·c": "{:,.0f}", "measured": "{:,.0f}"}), hide_index=True)
st.caption(
    f"Characters covered by {W:,} tokens of held-out {corpus} text. W·c: the closed form. measured: the mean "
    f"over every run of {W:,} consecutive tokens."
)

section("3 · The recurrent signal across D characters: ρ^(tokens − 1)")
frame = signal(rho, V, corpus)
show.chart(
    charts.log_line_chart(
        frame,
        "D",
        "signal",
        "series",
        color_by="tokenizer",
        dashed=tuple(frame.loc[frame["kind"] == "closed form", "series"].unique()),
        x_title="dependency length D (characters)",
        y_title="signal ρ^(tokens − 1) (log)",
    ),
    height=420,
)
D_half = int(DISTANCES[-1])
st.markdown(
    f"""
Page 1's signal ρ^(L − 1) counts **steps**, not characters. A dependency of D
characters spans L = 1 + D/c tokens, so with c = {row[corpus]:.2f} the same D costs
c times fewer factors ρ: at D = {D_half:,} characters, ρ = {rho:g} leaves
{theory.signal_over_chars(rho, D_half, 1.0):.1e} with one token per character but
{theory.signal_over_chars(rho, D_half, row[corpus]):.1e} with BPE. Solid: tokens counted on
held-out {corpus} text; dashed: the closed form with the measured c. On a log
scale both are straight lines, and the BPE line is c times less steep: tokenization
buys a constant factor c, no more. The decay stays exponential.
"""
)

section("4 · Your text, tokenized")
text = st.text_area("Paste text (English or code)", SAMPLE, height=150, max_chars=MAX_PASTED_CHARS, key="text")
if len(text) >= MAX_PASTED_CHARS:
    st.warning(f"The box holds at most {MAX_PASTED_CHARS:,} characters; anything pasted beyond that was cut off.")
text = text[:MAX_PASTED_CHARS]
if text:
    shown, n_bpe = boxes(text, V, corpus)
    a, b, c = st.columns(3)
    a.metric("characters = character tokens", f"{len(text):,}")
    b.metric(f"BPE tokens (V = {V:,}, {corpus})", f"{n_bpe:,}")
    c.metric("characters per token", f"{len(text) / n_bpe:.2f}")
    show.chart(
        topic_charts.token_boxes_chart(shown, BOX_WIDTH), height=charts.TOKEN_ROW_PX * (int(shown["row"].max()) + 1)
    )
    if len(shown) < n_bpe:
        st.caption(
            f"The first {len(shown):,} of {n_bpe:,} tokens. · is a space, ↵ a new line, → a tab, "
            "… a byte token holding part of a character."
        )
    else:
        st.caption(
            "Each box is one token. · is a space, ↵ a new line, → a tab, … a byte token holding part of a character."
        )
else:
    st.info("Type or paste some text to see its tokens.")

section("5 · Past the window: sliding window vs segment recurrence")
v = size_values(long_context.SIZES)
c1, c2, c3 = st.columns(3)
delay = c1.select_slider(
    "Delay (tokens from cue to query)", [16, 24, 32, 48, 64], v["delay"], key="delay", bind="query-params"
)
M = c2.select_slider("Memory M (recurrence)", [0, 16, 32], v["M"], key="M", bind="query-params")
steps = c3.slider("Steps (same budget for both)", 20, 300, v["steps"], 20, key="steps", bind="query-params")
race_demo = build_demo(long_context.demo, {"delay": delay, "M": M, "steps": steps}, g.seed, g.device)
T = race_demo.info["T"]
st.markdown(
    f"""
A Transformer reads a long sequence in segments of S = {SEGMENT} tokens. The
**sliding window** takes each segment alone. **Segment recurrence**
(Transformer-XL) keeps, for every layer, the last M = {M} hidden states that
entered it, detached so no gradient flows back into them, and lets the next
segment attend to them as extra keys and values. The task: one of
{long_context.SEGMENT_SYMBOLS} symbols at a random place, blanks, and {delay} tokens later a
query that asks for it, in sequences of {T} tokens. With memory, a token at position p of
its segment reaches p + (N − 1)·S + M tokens back (for M <= S): layer 1 reads the M cached inputs,
and every further layer reads cached states that were themselves computed with a memory one segment
earlier (Dai et al. 2019, Fig. 2), so the reach grows by a whole segment per layer. Here, for the last
token: {theory.segment_reach(SEGMENT, M, LAYERS)} tokens by the formula, {reach_measured(M, g.seed)} measured by
autograd (the earliest input whose gradient on that token is not 0, memory not detached), against
p = up to {SEGMENT - 1} for the window (N = {LAYERS} layers). Training detaches the memory, so
gradients never cross a segment boundary even where attention does. Both models start
from the same weights (D = {WIDTH}, Pre-LN) and see the same batches (Adam 10⁻³, batch 32).
"""
)


def render(history: pd.DataFrame, run: Demo) -> None:
    show.chart(
        charts.accuracy_chart(history, 1 / long_context.SEGMENT_SYMBOLS, y_title="held-out accuracy at the query"),
        height=320,
    )
    maps = run.info["attention"]  # each model's attention at its last evaluation, computed by its training thread
    columns = st.columns(2)
    for col, name in zip(columns, MODE_NAMES.values(), strict=True):
        if name in maps:
            att = maps[name]
            with col:
                st.markdown(
                    f"**{name}**: the query's attention (answer {att.attrs['answer']}, "
                    f"predicted {att.attrs['prediction']})"
                )
                show.chart(
                    topic_charts.segment_attention_chart(att), height=300, name=f"attention-{name.replace(' ', '-')}"
                )


live_panel("long_context", race_demo, render=render, steps_per_tick=2)
st.caption(
    "Accuracy on 256 held-out sequences every 10 steps. The maps show one fixed sequence: every row is one "
    "head, every column a key the query may read; left of the red line lie the cached states of earlier "
    "segments, which only the recurrent model has. With M = 16, or a delay of 64 (two segments back), the "
    "cue is still within the reach p + (N − 1)·S + M: the recurrent model gets there through two layers of "
    "memory, more slowly."
)
show.source(block_with_memory, "Source: one block attending to its cached memory")
