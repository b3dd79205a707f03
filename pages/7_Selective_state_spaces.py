"""Selective state spaces: Mamba's input-dependent recurrence, the task S4D cannot solve, and the scan."""

from functools import partial

import pandas as pd
import streamlit as st

from lrd_core import charts
from lrd_core.charts.topic_charts import scan_timing_chart
from lrd_core.experiments import selective
from lrd_core.experiments.selective import CHANCE, N_SYMBOLS, SOLVED, race, race_verdict
from lrd_core.models import selective as s6
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

SCAN_LENGTHS = (128, 256, 512, 1024, 2048)  # L of the scan timing: at 4096 the parallel scan needs 87 MB
SCAN_SIZE = {"batch": 1, "channels": 16, "state_size": 8}  # small, so the page's first load stays quick
WIDTH, STATE = 16, 8  # both racers: d_model / channels 16, N = 8 (S6 scans 2·16 = 32 channels)

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

section("2 · The race: selective copying, S6 against S4D of the same size")
v = size_values(selective.SIZES, full_size_checked=selective.FULL_SIZE_CHECKED)
c1, c2, c3, c4 = st.columns(4)
L = c1.select_slider("Length L", [16, 32, 64, 128, 256], v["sel_L"], key="sel_L", bind="query-params")
k = c2.select_slider("Data tokens k", [1, 2, 4, 8], v["sel_k"], key="sel_k", bind="query-params")
steps = c3.slider("Steps", 100, 3000, v["sel_steps"], 100, key="sel_steps", bind="query-params")
lr = c4.select_slider("Learning rate", [3e-3, 1e-2, 3e-2], selective.RACE_LR, key="sel_lr", bind="query-params")
st.markdown(
    f"""
Each sequence has L = {L} positions: {k} data tokens (of {N_SYMBOLS} symbols) at random places among noise
tokens, then {k} markers at which the model must name the data tokens in order (Gu & Dao 2023, Sec. 4.1.1).
Guessing scores {CHANCE:.1%}. Both models: width {WIDTH}, state size N = {STATE}, 2 layers, a per-step
read-out, Adam with 50 warm-up steps, gradient clipping at 1, batch {selective.RACE_BATCH}, the same seed and the
same batches. A much wider S4D can learn the task too, slowly, by brute force: the contrast needs **matched sizes**.
"""
)
config = selective.race_config(steps, lr)
settings = f"L={L}, k={k}, steps={steps}, lr={lr}, seed={g.seed}"
delta_sink = st.session_state.setdefault("selective_delta_map", {})  # S6's latest Δ map, written by its run


def render_race(history: pd.DataFrame) -> None:
    show.chart(charts.accuracy_chart(history, CHANCE, y_title="token accuracy at the markers"), height=320)
    delta = delta_sink.get("map")
    if delta is None or not len(history) or "delta_ratio" not in history:
        return
    show.chart(selective.delta_heatmap_chart(delta), height=420)
    show.chart(selective.delta_tokens_chart(delta), height=260)
    s6_rows = history[history["series"] == selective.S6_NAME].dropna(subset=["delta_ratio"])
    last = s6_rows.iloc[-1]
    channels = len(delta[["layer", "channel"]].drop_duplicates())
    st.caption(
        f"Δ_t of all {channels} channels of both S6 layers on one held-out sequence, read from the model at step "
        f"{int(last['step'])}; rows sorted by how much larger a channel's Δ is near data tokens than on noise "
        "(red: above the channel's usual Δ, blue: below). The short convolution before the scan shows each "
        "token to the Δ map for 4 steps, so Δ answers at a data token *and the 3 steps after it*."
    )
    if pd.notna(last["delta_ratio"]) and pd.notna(last["delta_top"]):
        ratios = delta.drop_duplicates(["layer", "channel"])["ratio"]
        writers, holders = int((ratios >= 2).sum()), int((ratios <= 0.5).sum())
        st.markdown(
            f"Over 64 held-out sequences, Δ near data tokens / Δ on noise is **{last['delta_top']:.3g}** in the "
            f"most selective channel; **{writers}** of {channels} channels at least double their Δ near data "
            f"(they *write* the token into their state) and **{holders}** at least halve it (they *hold* what "
            f"they store). The mean over all channels, **{last['delta_ratio']:.2f}**, mixes the two kinds, so it "
            "can fall on either side of 1 from one seed (or CPU) to the next."
        )


live_panel(
    "selective_race",
    race(L, k, config, g.seed, g.device, width=WIDTH, state_size=STATE, on_probe=lambda m: delta_sink.update(map=m)),
    total_steps=steps,
    settings=settings,
    render=render_race,
    steps_per_tick=2,
    verdict=race_verdict,
)
st.caption(
    f"Token accuracy on 256 held-out sequences every 20 steps; the verdict is drawn when S6 first reaches "
    f"{SOLVED:.0%}. Expect S6 to sit near chance for a while before it finds the data tokens "
    "(a plateau, then a sharp rise; it is sensitive to the learning rate); S4D rises early and then stalls: "
    "its fixed kernel can only weight positions, not contents."
)

section("3 · The same race with the data at fixed places: S4D copies too")
st.markdown(
    f"Now the {k} data tokens always sit at positions ⌊i·L/k⌋. One fixed kernel can fetch them, so S4D needs no "
    "selection, and it learns: what it lacked above was selection, not capacity."
)
live_panel(
    "selective_fixed",
    race(L, k, config, g.seed, g.device, fixed_positions=True, width=WIDTH, state_size=STATE),
    total_steps=steps,
    settings=settings,
    render=lambda h: show.chart(charts.accuracy_chart(h, CHANCE, y_title="token accuracy at the markers"), height=320),
    steps_per_tick=2,
    verdict=partial(race_verdict, fixed_positions=True),
)

section("4 · The scan: sequential against parallel")
timing = scan_timing(g.device)
err = float(timing["max_error"].max())
st.metric("max |parallel − sequential| / max |y| (float32, every L)", f"{err:.1e}")
show.chart(scan_timing_chart(timing, "seconds, forward + backward (log)"), height=380)
speed = timing.pivot(index="L", columns="method", values="seconds")
ratio = speed["selective scan, parallel"] / speed["selective scan, sequential"]  # > 1: the loop was faster
faster = [int(L) for L in ratio.index[ratio < 1]]
st.caption(
    f"Measured now on this machine ({g.device}, one thread), batch {SCAN_SIZE['batch']}, "
    f"{SCAN_SIZE['channels']} channels, N = {SCAN_SIZE['state_size']}, forward + backward, median of 3 runs "
    "after an untimed one. At "
    f"L = {SCAN_LENGTHS[-1]}: sequential loop {speed.iloc[-1]['selective scan, sequential'] * 1e3:.0f} ms, "
    f"parallel (Hillis-Steele) scan {speed.iloc[-1]['selective scan, parallel'] * 1e3:.0f} ms, S4D's FFT "
    f"convolution {speed.iloc[-1]['S4D by FFT'] * 1e3:.0f} ms. The parallel scan was faster at "
    + (f"L = {', '.join(map(str, faster))}" if faster else "no L")
    + f" and {ratio.max():.2g}× the loop's time at worst."
)
st.markdown(
    """
The recurrence is an associative fold over the pairs (Ā_l, B̄_l u_l), so a prefix scan computes all states in
log₂ L rounds instead of L steps. On a CPU that buys little: the Hillis-Steele scan does O(L log L) work where
the loop does O(L), and each round writes the whole (batch, D, L, N) tensor. At the small size above the
loop's Python overhead per step is what the parallel scan saves, so it can come out ahead; at a realistic size
(batch 8, D = 64, N = 16, thousands of steps) the extra work wins and the parallel scan is several times
slower than the loop (`python -m bench.bench_selective` prints the ratio on your machine). The parallel scan
pays off on a GPU, where the rounds run side by side, and most in a fused kernel that keeps the state in
on-chip memory, which is what Mamba ships. S4D's FFT stays the cheapest, but only because its kernel is fixed:
exactly what selection gives up.
"""
)
show.source(s6._scan_parallel, "Source: the parallel (Hillis-Steele) scan")
