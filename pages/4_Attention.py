"""Attention: a one-step gradient path from every output to every input, and the O(L²) bill for it."""

import pandas as pd
import streamlit as st

from lrd_core import charts, limits, theory
from lrd_core.charts import topic_charts
from lrd_core.demo import Demo
from lrd_core.experiments import attention, attention_cost
from lrd_core.formats import fmt
from lrd_core.models.seq2seq import Attention
from lrd_core.models.transformer import self_attention
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

SYMBOLS, EMBED = attention.RACE_SYMBOLS, attention.RACE_EMBED  # alphabet of the reversal task; embedding size
COST_D, COST_REPEATS = 64, 5  # width of the head whose cost is timed; its time is the fastest of 5 runs

g = setup_page("Attention", ":material/center_focus_strong:")
D = attention.DEFAULTS  # the sidebar's H and score start at the live run's defaults

with st.sidebar:
    st.header("Encoder-decoder")
    T = st.slider("Probe length T (source symbols)", 10, 200, 100, 10, key="T", bind="query-params")
    hidden = st.select_slider("Hidden units H", [16, 32, 64, 128], D["H"], key="H", bind="query-params")
    kind = st.selectbox(
        "Attention score",
        attention.RACE_SCORES,
        attention.RACE_SCORES.index(D["score"]),
        key="score",
        bind="query-params",
        help="additive: v·tanh(W_q d + W_k h) (Bahdanau). dot: (W_q d)·h / √H.",
    )
    bidirectional = st.toggle(
        "Bidirectional encoder in the probe",
        False,
        key="bi",
        bind="query-params",
        help="Off: one GRU reads left to right, so h_t is T − t steps from the end.",
    )


@st.cache_data(max_entries=16, show_spinner="Backpropagating through both encoder-decoders…")
def gradient_probe(T: int, hidden: int, kind: str, bidirectional: bool, seed: int) -> pd.DataFrame:
    return attention.encoder_gradient_probe(
        T, seed, hidden=hidden, embed=EMBED, n_symbols=SYMBOLS, attention=kind, bidirectional=bidirectional
    )


@st.cache_data(max_entries=16, show_spinner="Timing self-attention…")
def timed_cost(max_L: int, seed: int) -> pd.DataFrame:
    lengths = [2**k for k in range(6, max_L.bit_length())]
    return attention_cost.self_attention_cost(lengths, d_model=COST_D, seed=seed, repeats=COST_REPEATS)


st.markdown(
    """
An encoder-decoder without attention squeezes the whole source into one vector,
the encoder's last state, and the decoder starts from it. A learning signal for
the first source symbol must then walk back through every encoder step, and
(page 1) such a walk shrinks the signal geometrically. Attention gives the
decoder, at each output step s, a **context** c_s = Σ_t α_{s,t} h_t: a weighted
average of *all* encoder states. Now the loss reaches each h_t in one step,
L → c_s → h_t, however far back h_t lies.
"""
)

st.caption(
    "Sources: Bahdanau, Cho & Bengio 2015 (additive attention); Luong, Pham & Manning 2015; "
    "Vaswani et al. 2017 (self-attention)."
)

section("1 · The shortcut, measured: ‖∂L/∂h_t‖ at every source position")
df = gradient_probe(T, hidden, kind, bidirectional, g.seed)
ratios = attention.edge_ratio(df)
show.chart(
    charts.log_line_chart(
        df,
        "t",
        "grad_norm",
        "series",
        x_title="source position t (the decoder starts after T)",
        y_title="‖∂L/∂h_t‖ (log)",
        dashed=(attention.ATTENTION_SERIES[2],),
    ),
    height=440,
)
a, b = st.columns(2)
a.metric("no attention: first 10 / last 10", fmt(ratios[attention.ATTENTION_SERIES[0]], 3))
b.metric("attention: first 10 / last 10", fmt(ratios[attention.ATTENTION_SERIES[1]], 3))
st.markdown(
    f"""
Two models with **the same weights**, reading the same {T} random symbols, scored
by the same loss (cross-entropy of reversing them, teacher-forced, float64);
one of them also has an attention layer. Without it the decoder sees the source
only through its initial state, so ‖∂L/∂h_t‖ falls off steeply with the distance
T − t. With attention the curve is nearly flat: every position gets a direct
share of the signal. The dashed line is that direct share alone, the gradient
through the contexts c_s with every recurrent path left out. The rest of the
total also arrives by short routes: h_t feeds h_(t+1), h_(t+2), … and those are
attended to as well, a few steps away rather than T − t.
"""
    + (
        " With the bidirectional encoder the model without attention also reaches position 1 quickly, through the "
        "backward GRU's last state: the signal now vanishes in the *middle*."
        if bidirectional
        else ""
    )
)
show.source(attention.encoder_gradient_probe)

section("2 · Train both: reverse a sequence of random symbols")
v = size_values(attention.SIZES, full_size_checked=attention.FULL_SIZE_CHECKED)
c1, c2, c3 = st.columns(3)
train_T = c1.slider("Sequence length", 5, 30, v["train_T"], 1, key="train_T", bind="query-params")
steps = c2.slider("Steps (same budget for both)", 100, 1500, v["steps"], 100, key="steps", bind="query-params")
lr = c3.select_slider("Learning rate", [1e-3, 3e-3, 1e-2], v["lr"], key="lr", bind="query-params")
st.markdown(
    f"""
Each batch holds 64 fresh sequences of {train_T} symbols (out of {SYMBOLS}); the
target is the sequence backwards, so the *first* outputs need the inputs the
encoder read *first*, the farthest back. Both models start from the same weights
(H = {hidden}, bidirectional encoder, H/2 units per direction) and see the same
batches (Adam, learning rate {lr:g}). Accuracy is scored by free-running decoding: the model
reads its own previous guesses, as it would in use.
"""
)
race_values = {"train_T": train_T, "steps": steps, "lr": lr, "H": hidden, "score": kind}
race_demo = build_demo(attention.demo, race_values, g.seed, g.device)


def render(history: pd.DataFrame, run: Demo) -> None:
    left, right = st.columns(2)
    with left:
        chance = 1 / run.info["n_symbols"]
        show.chart(charts.accuracy_chart(history, chance, y_title="greedy token accuracy"), height=380)
    with right:
        maps = run.info["maps"]  # the map at the last evaluation, computed by the training thread
        if "attention" in maps:
            show.chart(topic_charts.attention_heatmap(maps["attention"]), height=380)
            st.caption(
                "α_{s,t} of the attention model on one fixed sequence, decoded greedily. Trained on "
                "reversal, output s looks at source position T + 1 − s: the anti-diagonal."
            )


live_panel("attention_race", race_demo, render=render, steps_per_tick=10)
show.source(Attention.forward, "Source: one attention step, scores to context")

section("3 · The bill: O(L²) work, and O(L²) memory only when the L × L matrix is stored")
max_L = st.select_slider("Longest L to time", [256, 512, 1024, 2048, 4096], 2048, key="max_L", bind="query-params")
if (timed_L := attention_cost.longest_timed_length(max_L, COST_D)) < max_L:
    st.warning(
        f"Longest L reduced from {max_L} to {timed_L}: the naive formula at L = {max_L} would hold three L × L "
        f"matrices, {attention_cost.naive_attention_peak_bytes(max_L, COST_D) / 2**20:.0f} MB, over the "
        f"{limits.MAX_PROBE_BYTES / 2**20:.0f} MB one probe may use on this shared server."
    )
cost = timed_cost(timed_L, g.seed)
fits = attention_cost.cost_slopes(cost, COST_D).set_index(["method", "quantity"])
frames = attention_cost.cost_with_models(cost, COST_D)
left, right = st.columns(2)
for col, where, title, dashed in (
    ("seconds", left, "forward + backward seconds (log)", (attention_cost.TIME_MODEL,)),
    ("saved_bytes", right, "bytes kept for backward (log)", tuple(attention_cost.MEMORY_MODELS.values())),
):
    with where:
        show.chart(
            charts.log_line_chart(
                frames[col],
                "L",
                col,
                "series",
                x_title="sequence length L",
                y_title=title,
                dashed=dashed,
                log_x=True,
            ),
            height=380,
        )
        for method, name in attention_cost.COST_METHODS.items():
            fit = fits.loc[(method, col)]
            st.metric(
                f"{name}: fitted slope, L = {fit['L_from']} to {fit['L_to']}",
                f"{fit['measured']:.2f}",
                delta=f"model {fit['model']:.2f} over the same L (→ {fit['asymptotic']:g} as L → ∞)",
                delta_color="off",
            )
if not fits["dominated"].all():
    st.caption("At this longest L too few lengths have a dominating leading term: the two largest L are fitted.")
sdpa_mem = fits.loc[("sdpa", "saved_bytes")]
fallback = "" if sdpa_mem["measured"] < 1.5 else " (here it did not: its memory is quadratic too)"
at_max = cost[cost["L"] == cost["L"].max()].set_index("method")
st.markdown(
    f"""
Self-attention lets every one of L tokens look at every other: the scores QKᵀ
and the weighted sum A·V cost 2·L²·D multiply-adds, on top of the projections'
3·L·D² (one head of width D = {COST_D}, batch 1, CPU, float32; times measured
on this machine, fastest of {COST_REPEATS}). Each slope is fitted only over the L where the leading term
is at least {theory.DOMINANT_SHARE:.0%} of its model, and printed next to the
model's own slope over those L: at small L the projections still weigh in and
the curve is flatter than 2.

**Memory is O(L²) only for the naive formula**, which stores the L × L matrix A
for the backward pass. A memory-efficient kernel (FlashAttention, Dao et al.
2022; Rabe & Staats 2021) computes A block by block, keeps only one log-sum-exp
per row and recomputes A going backward: the same O(L²) work, but O(L) extra
memory. PyTorch's `F.scaled_dot_product_attention` picks such a kernel where one
is available{fallback}; here its memory grows with slope {sdpa_mem["measured"]:.2f}
(L = {sdpa_mem["L_from"]} to {sdpa_mem["L_to"]}), and at L = {int(cost["L"].max())} it keeps
{at_max.loc["naive", "saved_bytes"] / at_max.loc["sdpa", "saved_bytes"]:.0f}× fewer bytes than the
naive version, while the time stays quadratic. So the O(L²) bill that limits
long contexts is the *work*; the next pages cut that.
"""
)
st.caption(
    "Sources: Dao, Fu, Ermon, Rudra & Ré 2022 (FlashAttention); Rabe & Staats 2021 (self-attention does not "
    "need O(n²) memory)."
)
show.source(self_attention)
