"""Associative recall: a fixed-size state forgets what attention looks up (linear attention, delta rule, MQAR)."""

import math

import pandas as pd
import streamlit as st

from lrd_core.charts import recall as recall_charts
from lrd_core.demo import Demo
from lrd_core.exercises import EXERCISES
from lrd_core.experiments import recall
from lrd_core.formats import fmt, table_formats
from lrd_core.models import linear_attention as la
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

FORM_L, FORM_D = 64, 16  # the layer whose outputs are compared on screen
TIMING_LENGTHS, TIMING_D = (64, 128, 256, 512, 1024, 2048), 64  # the parallel form's scores: 32 MB at 2,048
MEMORY_TRIALS, MEMORY_DV = 200, 16  # random memories per point of the memory chart; value width
EXERCISE = next(ex for ex in EXERCISES if ex.id == "delta_capacity")

g = setup_page("Associative recall", ":material/manage_search:")


@st.cache_data(max_entries=4, show_spinner="Running the three forms…")
def forms(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return recall.form_outputs(FORM_L, FORM_D, seed), recall.form_differences(FORM_L, FORM_D, seed)


@st.cache_data(max_entries=2, show_spinner="Timing the parallel and the recurrent form…")
def timing(seed: int) -> pd.DataFrame:
    return recall.form_timing(TIMING_LENGTHS, d=TIMING_D, seed=seed)


@st.cache_data(max_entries=16, show_spinner="Storing pairs in random memories…")
def memory(dk: int, seed: int) -> pd.DataFrame:
    return recall.memory_frame(dk, recall.load_grid(dk), seed, dv=MEMORY_DV, trials=MEMORY_TRIALS)


@st.cache_data(max_entries=16)
def overwrite(dk: int, between: int, seed: int) -> pd.DataFrame:
    return recall.overwrite_demo(dk, between, seed, dv=MEMORY_DV)


st.markdown(
    """
The other pages ask how **far** a learning signal can travel. This one asks how **much** a model can carry.
An RNN, an S4D or S6 layer, linear attention: each carries the past in a state of fixed size. Softmax
attention keeps every token and looks up the one it needs. On associative recall (a list of key-value
pairs, then questions "what was the value of key k?") a fixed state has to hold every pair at once, and once
the pairs outnumber what it can keep apart, recall fails, however short the gradient path. This is why
current long-context models mix attention layers with recurrent ones (Arora et al. 2023).
"""
)

section("1 · Linear attention is an RNN")
st.markdown(
    """
Drop the softmax from causal attention and the sum regroups around one matrix S of size dk × dv
(Katharopoulos et al. 2020):

o_t = Σ_(s≤t) (q_t·k_s) v_s = S_tᵀ q_t,   S_t = S_(t−1) + k_t v_tᵀ.

The left side is a masked L × L product, computed for all t at once (**parallel**: O(L²) time, how it
trains); the right side is an RNN whose state never grows (**recurrent**: O(L) time and O(1) memory, how it
generates). A **chunked** form does both: the parallel form inside chunks of 64 steps, the recurrence
between them. Below, one head with random q, k and v (dk = dv = 16, no feature map, float32), all three ways.
"""
)
outputs, diffs = forms(g.seed)
show.chart(recall_charts.forms_chart(outputs), height=300)
show.table(diffs.style.format(table_formats(diffs)), hide_index=True)
st.caption(
    "Largest |difference| from the recurrent form, relative to the largest |output|: float32 rounding in the "
    "first column, float64's in the second. The tests check every form against a step-by-step float64 loop."
)
show.source(la.linear_attention)
time_df = timing(g.seed)
cross, predicted = recall.crossover(time_df), recall.predicted_crossover(time_df)
show.chart(recall_charts.form_timing_chart(recall.timing_with_laws(time_df), cross), height=380)
at = time_df[time_df["L"] == TIMING_LENGTHS[-1]].set_index("method")["seconds"]
if cross is not None:
    where = f"From L = {cross:,} on, the recurrent loop was the faster of the two here."
else:
    where = (
        f"Within L ≤ {TIMING_LENGTHS[-1]:,} the parallel form stayed the faster of the two here; the two laws "
        f"through the longest L meet at L ≈ {predicted:,.0f}."
    )
st.caption(
    f"One forward pass, batch 1, one head, dk = dv = {TIMING_D}, no gradient, measured now ({g.device}, one "
    f"thread) after an untimed call at each L. At L = {TIMING_LENGTHS[-1]:,}: parallel "
    f"{at['parallel'] * 1e3:.3g} ms, recurrent {at['recurrent'] * 1e3:.3g} ms, chunked {at['chunked'] * 1e3:.3g} "
    f"ms. {where} The loop pays Python's overhead at every step, so on a CPU the crossover comes late; the "
    "chunked form keeps the loop short and the matrix products small, and is what the race below trains with."
)

section("2 · A memory of fixed size")
st.markdown(
    """
Store n pairs in S by writing each once, then read key i back as Sᵀk_i. With the **additive** rule
S += k vᵀ the read-out is v_i plus every other value weighted by k_j·k_i: keys that are not orthogonal leak
into each other. Only dk keys can be orthogonal, so the state is full at n ≈ dk. The **delta rule**
(Widrow & Hoff 1960; fast weights, Schlag, Irie & Schmidhuber 2021; DeltaNet, Yang et al. 2024) first reads
what S holds for k_t and writes only the difference: S += β k (v − Sᵀk)ᵀ. With β = 1 the newest pair is
always exact, and older pairs fade instead of piling up. Keys and values here are random unit vectors
(dv = 16); the dashed lines are the closed forms for random keys (derived in `lrd_core.theory`).
"""
)
c1, c2 = st.columns(2)
dk = c1.select_slider("Key dimension dk", [4, 8, 16, 32, 64], 16, key="mem_dk", bind="query-params")
between = c2.slider("Overwrite: pairs written in between", 0, 64, 8, key="mem_between", bind="query-params")
mem = memory(dk, g.seed)
show.chart(recall_charts.memory_chart(mem), height=380)
at_dk = mem[mem["n"] == mem.loc[(mem["load"] - 1).abs().idxmin(), "n"]].set_index("rule")
st.caption(
    f"{MEMORY_TRIALS} random memories per point, RMS over pairs and memories. At n = {int(at_dk['n'].iloc[0])} "
    f"pairs in dk = {dk}: additive {at_dk.loc['linear', 'measured']:.2f} (closed form "
    f"{at_dk.loc['linear', 'theory']:.2f}), delta rule {at_dk.loc['delta', 'measured']:.2f} "
    f"({at_dk.loc['delta', 'theory']:.2f}). The additive error grows as √((n − 1)/dk) without bound; the delta "
    f"rule's tends to √2 = {math.sqrt(2):.2f}, the error of a read-out unrelated to v: the oldest pairs are gone."
)
st.markdown(
    f"**Overwrite.** Write v_old under a key, then {between} other pairs, then v_new under the same key, and "
    "read the key back:"
)
ow = overwrite(dk, between, g.seed)
show.table(
    ow[["model", "cos_new", "cos_old", "error_new"]]
    .rename(columns={"cos_new": "cos(read, v_new)", "cos_old": "cos(read, v_old)", "error_new": "|read − v_new|"})
    .pipe(lambda d: d.style.format(table_formats(d))),
    hide_index=True,
)
st.caption(
    "With β = 1 the delta rule returns v_new exactly (to rounding): the write removed what the key held. The "
    "additive memory returns the sum of old and new, plus what the other pairs leak into that key."
)
show.source(la.delta_rule)

section("3 · The race: multi-query associative recall, live")
v = size_values(recall.SIZES, full_size_checked=recall.FULL_SIZE_CHECKED)
c1, c2, c3 = st.columns(3)
pairs = c1.select_slider(
    "Key-value pairs n", [2, 4, 8, 16, 32, 64], v["rec_pairs"], key="rec_pairs", bind="query-params"
)
steps = c2.slider("Steps", 50, 3000, v["rec_steps"], 50, key="rec_steps", bind="query-params")
curve = c3.toggle(
    "Capacity curve",
    v["rec_curve"],
    key="rec_curve",
    bind="query-params",
    help="Train every racer at each of 4, 8, 16, 32 pairs up to n, and draw accuracy against pairs.",
)
race_demo = build_demo(recall.demo, {"rec_pairs": pairs, "rec_steps": steps, "rec_curve": curve}, g.seed, g.device)
info = race_demo.info
st.markdown(
    f"""
Each sequence shows n pairs k₁ v₁ … k_n v_n (keys and values from {recall.N_KEYS} each), then asks for every key
again in a random order; at each question the model must name the key's value (Arora et al. 2023, "Zoology":
MQAR). Every model sees each token next to the one before it, as Zoology's short convolutions provide, so a
single lookup suffices. Guessing scores 1/{recall.N_VALUES}; picking any of the n values shown scores 1/n. Four
racers of width {recall.WIDTH}, two blocks each, matched in size, the same batches (Adam, batch
{recall.RACE_BATCH}, clipping at 1), each with its own learning rate:
"""
)
racers = pd.DataFrame(
    {
        "model": list(recall.KINDS),
        "parameters": [info["counts"][k] for k in recall.KINDS],
        "learning rate": [info["lrs"][k] for k in recall.KINDS],
        "what it carries from the past": [recall.STATE[k] for k in recall.KINDS],
    }
)
show.table(racers.style.format({"parameters": "{:,}", "learning rate": "{:g}"}), hide_index=True)
sweep = recall.sweep_table()
with st.expander("How each learning rate was chosen (a validation split)"):
    st.markdown(
        f"Each racer trained {recall.SWEEP_STEPS} steps with 8 pairs at each rate on the data of seed "
        f"{recall.VALIDATION_SEED} (its own training and held-out sequences, never a race's seed); the rate with "
        "the best held-out accuracy at the end is the race's. Recorded by `recall.lr_sweep()`:"
    )
    show.table(sweep.style.format({c: "{:.0%}" for c in sweep.columns if c != "model"}), hide_index=True)


def render(history: pd.DataFrame, run: Demo) -> None:
    info = run.info
    show.chart(recall_charts.race_chart(history, info["chance"]), height=340)
    if info["curve"] and len(history):
        curve_df = recall.curve_frame(history, info["pairs"])
        if len(curve_df):
            show.chart(recall_charts.capacity_chart(curve_df, info["chance"]), height=340)


live_panel("recall_race", race_demo, render=render, steps_per_tick=1)
st.caption(
    f"Query accuracy on held-out sequences (every 20 steps, every 50 on the capacity curve). The verdict is drawn "
    f"when attention first reaches {recall.SOLVED:.0%}; the contrast is that every fixed-state model is then still "
    f"below {recall.BEHIND:.0%}. A slow test checks it at the Lecture size on seeds 0-4. That contrast is one of "
    "speed at one size. The capacity curve (Full size) trains every racer at 4, 8, 16 and 32 pairs for the same "
    "number of steps: attention stays flat, while the fixed-state models fall towards guessing as the pairs "
    "outnumber what their state keeps apart (DeltaNet's: 2 heads of 8 × 8)."
)

section("4 · Sources")
st.markdown(
    """
- S. Arora, S. Eyuboglu, A. Timalsina, I. Johnson, M. Poli, J. Zou, A. Rudra, C. Ré (2023), "Zoology:
  Measuring and improving recall in efficient language models" (the MQAR task; the gap between attention and
  gated convolutions and recurrences).
- A. Katharopoulos, A. Vyas, N. Pappas, F. Fleuret (2020), "Transformers are RNNs: fast autoregressive
  transformers with linear attention".
- I. Schlag, K. Irie, J. Schmidhuber (2021), "Linear transformers are secretly fast weight programmers" (the
  delta rule as a fast-weight update; capacity of the additive memory).
- S. Yang, B. Wang, Y. Zhang, Y. Shen, Y. Kim (2024), "Parallelizing linear transformers with the delta rule
  over sequence length" (DeltaNet; the chunked WY form).
- S. Yang, J. Kautz, A. Hatamizadeh (2024), "Gated Delta Networks: improving Mamba2 with delta rule".
- B. Widrow, M. E. Hoff (1960), "Adaptive switching circuits" (the delta rule).
"""
)

section("5 · Exercise")
st.markdown(EXERCISE.question)
answer = st.number_input(
    "Your answer",
    value=None,
    format="%.6g",
    key="recall_exercise",
    placeholder="a number",
    label_visibility="collapsed",
)
if answer is not None:
    if EXERCISE.check(answer):
        st.success(f"Right: {fmt(EXERCISE.answer(), 4)}.")
    else:
        st.error("Not yet: read it off the chart in section 2 (dk = 16), or open the explanation.")
with st.expander("Explanation and answer"):
    st.markdown(f"{EXERCISE.explanation} **Answer: {fmt(EXERCISE.answer(), 4)}.**")
