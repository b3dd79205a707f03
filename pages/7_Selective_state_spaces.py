"""Selective state spaces: Mamba's input-dependent recurrence, the task S4D cannot solve, and the scan."""

import pandas as pd
import streamlit as st

from lrd_core import charts
from lrd_core.charts import selective as selective_charts
from lrd_core.charts.topic_charts import scan_timing_chart
from lrd_core.demo import Demo
from lrd_core.experiments import selective
from lrd_core.experiments.selective import CHANCE, N_SYMBOLS, S4D_NAME, S6_NAME, SOLVED
from lrd_core.history import metric_series
from lrd_core.models import selective as s6
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

SCAN_LENGTHS = (128, 256, 512, 1024, 2048)  # L of the scan timing: at 4096 the parallel scan needs 87 MB
SCAN_SIZE = {"batch": 1, "channels": 16, "state_size": 8}  # small, so the page's first load stays quick

g = setup_page("Selective state spaces", ":material/filter_alt:")


@st.cache_data(max_entries=4, show_spinner="Timing the sequential and the parallel scan…")
def scan_timing(device: str) -> pd.DataFrame:
    return selective.scan_timing(SCAN_LENGTHS, device=device, repeats=3, **SCAN_SIZE)


st.markdown(
    """
S4 and S4D are **linear and time-invariant**: the same Ā, B̄ and C act at every
step, so one fixed kernel K treats every input alike (previous page). Selective
SSMs (Gu & Dao 2023, "Mamba") make the step **Δ** and the maps **B** and **C**
functions of the current input. A token that matters can get a large Δ and be
*written* into the state; a token that does not can get Δ ≈ 0 and be *ignored*:
the state passes it by unchanged. The price: no single kernel exists any more,
so the FFT trick is gone and the model must be computed as a **scan**.
"""
)

section("1 · The recurrence, next to S4D's")
left, right = st.columns(2)
left.markdown(
    """
**S4D** (one channel, fixed Δ, A, B, C)

x_t = e^(ΔA) ⊙ x_(t−1) + B̄ u_t

y_t = Re⟨C, x_t⟩ = (K * u)_t, one kernel for all inputs
"""
)
right.markdown(
    """
**S6 / Mamba** (Δ_t, B_t, C_t computed from the input at t)

x_t = e^(Δ_t A) ⊙ x_(t−1) + Δ_t B_t u_t,  Δ_t = softplus(W x_t + b)

y_t = ⟨C_t, x_t⟩ + D u_t, gated by SiLU(z_t)
"""
)
st.markdown(
    """
With A = −(1, 2, …, N) per channel (S4D-Real), Δ_t → 0 gives e^(Δ_t A) → 1 and
Δ_t B_t u_t → 0: the step is skipped. A large Δ_t gives e^(Δ_t A) → 0: the old
state is dropped and the new token stored. The block around the scan: a linear
map to x and a gate z, a short causal convolution (4 taps) and SiLU, Δ from a
rank-1 map of x, then the output map; residual and LayerNorm around it.
"""
)
show.source(s6.S6.forward, "Source: the S6 block's forward pass")
show.source(s6.selective_scan)

section("2 · The race: selective copying, S6 against an S4D with as many parameters")
v = size_values(selective.SIZES, full_size_checked=selective.FULL_SIZE_CHECKED)
c1, c2, c3, c4 = st.columns(4)
L = c1.select_slider("Length L", [16, 32, 64, 128, 256], v["sel_L"], key="sel_L", bind="query-params")
k = c2.select_slider("Data tokens k", [1, 2, 4, 8], v["sel_k"], key="sel_k", bind="query-params")
steps = c3.slider("Steps", 100, 3000, v["sel_steps"], 100, key="sel_steps", bind="query-params")
lr = c4.select_slider("Learning rate", [3e-3, 1e-2, 3e-2], selective.RACE_LR, key="sel_lr", bind="query-params")
race_values = {"sel_L": L, "sel_k": k, "sel_steps": steps, "sel_lr": lr}
race_demo = build_demo(selective.demo, race_values, g.seed, g.device)
fixed_race_demo = build_demo(selective.fixed_demo, race_values, g.seed, g.device)
params, widths = race_demo.info["parameters"], selective.RACE_WIDTHS
paper = selective.PAPER_TASK
st.markdown(
    f"""
Each sequence has L = {L} positions: {k} data tokens (of {N_SYMBOLS} symbols) at random places among noise
tokens, then {k} markers at which the model must name the data tokens in order. This is Gu & Dao's selective
copying task (2023, Sec. 4.1.1) scaled down: theirs has L = {paper["L"]:,}, {paper["k"]} data tokens, a
vocabulary of {paper["vocabulary"]} and models of width D = {paper["D"]}. Guessing scores {CHANCE:.1%}.
S6 has width {widths["S6"]} (its scan runs {2 * widths["S6"]} channels), S4D {widths["S4D"]} channels, so
that the two have about as many weights: **S6 {params[S6_NAME]:,} parameters, S4D {params[S4D_NAME]:,}
parameters**. Both: state size N = {selective.RACE_STATE}, 2 layers, a per-step read-out, Adam with 50
warm-up steps, gradient clipping at 1, batch {selective.RACE_BATCH}, the same seed and the same batches.
"""
)


def render_race(history: pd.DataFrame, run: Demo) -> None:
    info = run.info
    show.chart(charts.accuracy_chart(history, info["chance"], y_title=info["y_title"]), height=320)
    s4 = metric_series(history, S4D_NAME, "accuracy")
    if len(s4):
        st.caption(
            f"S4D's latest evaluation (step {int(s4['step'].iloc[-1])}): {s4['accuracy'].iloc[-1]:.0%}. Knowing "
            f"which data symbols a sequence holds, but not their order, scores {info['unordered']:.0%} on this task."
        )
    snap = info["delta_probe"].latest()
    if snap is None or not len(history):
        return
    delta = snap.delta
    show.chart(selective_charts.delta_heatmap_chart(delta), height=420)
    show.chart(selective_charts.delta_tokens_chart(delta), height=260)
    channels = len(delta[["layer", "channel"]].drop_duplicates())
    conv = info["conv_width"]
    st.caption(
        f"Δ_t of all {channels} channels of both S6 layers on one held-out sequence, read from the model at step "
        f"{snap.step}; rows sorted by how much larger a channel's Δ is near data tokens than on noise (red: above "
        f"the channel's usual Δ, blue: below). In layer 1 a short convolution ({conv} taps) before the scan shows "
        f"each token to the Δ map for {conv} steps, so there Δ can answer at a data token and the {conv - 1} steps "
        "after it, and nowhere else. Layer 2's Δ reads layer 1's output, which depends on the whole past, so its "
        f"rows can change anywhere after a data token. 'Near' below means the data token and the {conv - 1} steps "
        "after it, in both layers."
    )
    ratios = delta.drop_duplicates(["layer", "channel"])["ratio"]
    writers, holders = int((ratios >= 2).sum()), int((ratios <= 0.5).sum())
    st.markdown(
        f"Over 64 held-out sequences, Δ near data tokens / Δ on noise is **{snap.top:.3g}** in the "
        f"most selective channel; **{writers}** of {channels} channels at least double their Δ near data "
        f"(they *write* the token into their state) and **{holders}** at least halve it (they *hold* what "
        f"they store). The mean over all channels, **{snap.ratio:.2f}**, mixes the two kinds, so it "
        "can fall on either side of 1 from one seed (or CPU) to the next."
    )


def render_fixed(history: pd.DataFrame, run: Demo) -> None:
    show.chart(charts.accuracy_chart(history, run.info["chance"], y_title=run.info["y_title"]), height=320)


live_panel("selective_race", race_demo, render=render_race, steps_per_tick=2)
unordered = race_demo.info["unordered"]
st.caption(
    f"Token accuracy on 256 held-out sequences every 20 steps; the verdict is drawn when S6 first reaches "
    f"{SOLVED:.0%}. Expect S6 to sit near chance for a while before it finds the data tokens "
    "(a plateau, then a sharp rise; it is sensitive to the learning rate). S4D rises early, then slows down "
    f"well above chance ({CHANCE:.1%}): every noise token is the same symbol, so a fixed weighted sum of the "
    "past still tells which data symbols appeared. Knowing which symbols appeared, but not in which order, "
    f"scores {unordered:.0%} here (k = {k}: name the most frequent of them at every marker). S4D's kernel "
    "weights the past by distance, which adds a hint of the order, so it can creep above that. What a "
    "time-invariant model cannot do is read out the i-th data token wherever it sits: that takes weights "
    "that depend on what the tokens are."
)

section("3 · The same race with the data at fixed places: S4D copies too")
st.markdown(
    f"Now the {k} data tokens always sit at positions ⌊i·L/k⌋, so one fixed kernel can fetch each of them. The "
    f"same two models as above ({params[S6_NAME]:,} and {params[S4D_NAME]:,} parameters) race again: if S4D "
    "learns this version, what stopped it above was where the tokens sit, not its size."
)
live_panel("selective_fixed", fixed_race_demo, render=render_fixed, steps_per_tick=2)

section("4 · The scan: sequential against parallel")
timing = scan_timing(g.device)
err = float(timing["max_error"].max())
st.metric("max |parallel − sequential| / max |y| (float32, every L)", f"{err:.1e}")
show.chart(scan_timing_chart(timing, "seconds, forward + backward (log)"), height=380)
speed = timing.pivot(index="L", columns="method", values="seconds")
ratio = speed["selective scan, parallel"] / speed["selective scan, sequential"]  # > 1: the loop was faster
faster = [int(n) for n in ratio.index[ratio < 1]]
span = f"{ratio.min():.2g}× to {ratio.max():.2g}×"
st.caption(
    f"Measured now on this machine ({g.device}, one thread), batch {SCAN_SIZE['batch']}, "
    f"{SCAN_SIZE['channels']} channels, N = {SCAN_SIZE['state_size']}, forward + backward, median of 3 runs "
    "after an untimed one. At "
    f"L = {SCAN_LENGTHS[-1]}: sequential loop {speed.iloc[-1]['selective scan, sequential'] * 1e3:.0f} ms, "
    f"parallel (Hillis-Steele) scan {speed.iloc[-1]['selective scan, parallel'] * 1e3:.0f} ms, S4D's FFT "
    f"convolution {speed.iloc[-1]['S4D by FFT'] * 1e3:.0f} ms. Over L = {SCAN_LENGTHS[0]} to {SCAN_LENGTHS[-1]} "
    f"the parallel scan took {span} the loop's time."
)
if faster:
    outcome = (
        f"Here it was faster than the loop only at L = {', '.join(map(str, faster))} (at best "
        f"{1 / ratio.min():.2g}× faster) and up to {ratio.max():.2g}× slower at the other lengths."
    )
else:
    outcome = f"Here it was slower than the loop at every L, taking {span} its time."
st.markdown(
    f"""
The recurrence is an associative fold over the pairs (Ā_l, B̄_l u_l), so a prefix scan computes all states in
log₂ L rounds instead of L steps. The scan here is the simple Hillis-Steele one: it does O(L log L) work where
the loop does O(L), and each round writes the whole (batch, D, L, N) tensor. {outcome} At a larger size
(batch 8, D = 64, N = 16, L = 1,024) the gap grows: `python -m bench.bench_selective` times it on your
machine; on the 2-core machines these pages were tested on, the parallel scan took 14-16× the loop's time.
Log-depth rounds pay off only where they run side by side, on a GPU. Mamba's own kernel is a different
algorithm: a work-efficient scan (O(L) work, Blelloch 1990) fused into one GPU kernel that keeps the state in
on-chip memory (Gu & Dao 2023, Sec. 3.3.2). S4D's FFT stays the cheapest here, but only because its kernel
is fixed: exactly what selection gives up.
"""
)
show.source(s6._scan_parallel, "Source: the parallel (Hillis-Steele) scan")
