"""State-space models: a linear recurrence that is also a convolution, memory set by eigenvalues, and its cost."""

import pandas as pd
import streamlit as st

from lrd_core import charts
from lrd_core.charts.topic_charts import scan_timing_chart
from lrd_core.demo import Demo
from lrd_core.experiments import state_space
from lrd_core.experiments.state_space import RECALL_SYMBOLS
from lrd_core.formats import table_formats
from lrd_core.limits import MAX_SSM_TRAIN_SEQ_LEN
from lrd_core.models import s4d
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

KERNEL_CHANNELS = 4  # channels drawn in the kernel chart, Δ spread over the chosen range
SCAN_LENGTHS = (64, 128, 256, 512, 1024, 2048)  # L for FFT vs recurrence (the recurrence is a Python loop)
COST_LENGTHS, COST_WIDTH = (128, 256, 512, 1024, 2048), 32  # cost against L at H = 32
COST_WIDTHS, COST_LENGTH, COST_BATCH = (32, 64, 128, 192, 256), 64, 8  # cost against H: L = 64, batch 8
COST_REPEATS = 5  # each cost is the fastest of this many forward passes

g = setup_page("State-space models", ":material/waves:")

with st.sidebar:
    st.header("S4D layer")
    init = st.selectbox(
        "Initialisation of A",
        s4d.INITS,
        key="init",
        bind="query-params",
        help="lin: A_n = −1/2 + iπn. inv: −1/2 + i(N/π)(N/(2n+1) − 1). real: A_n = −(n+1).",
    )
    dt_min = st.select_slider("Δ min", [1e-4, 1e-3, 1e-2], 1e-3, key="dt_min", bind="query-params")
    dt_max = st.select_slider("Δ max", [1e-2, 1e-1, 1.0], 1e-1, key="dt_max", bind="query-params")
    N = st.select_slider("N: modes per channel", [8, 16, 32, 64], 32, key="N", bind="query-params")
    L = st.select_slider("Kernel length L", [256, 1024, 4096, 16384], 4096, key="L", bind="query-params")
    f_bar = st.slider("LSTM forget gate f̄", 0.9, 0.999, 0.99, 0.001, format="%.3f", key="f_bar", bind="query-params")


@st.cache_data(max_entries=16, show_spinner="Building kernels…")
def kernels(N: int, init: str, dt_min: float, dt_max: float, L: int, seed: int):
    dt, A, C = state_space.ssm_channels(KERNEL_CHANNELS, N, init, dt_min, dt_max, seed)
    return state_space.ssm_kernel_frame(dt, A, C, L), state_space.init_reach_table(N, dt_min, dt_max, L, seed)


@st.cache_data(max_entries=16)
def memory(N: int, init: str, dt_min: float, dt_max: float, f_bar: float) -> pd.DataFrame:
    return state_space.memory_decay_frame(N, init, dt_min, dt_max, f_bar)


@st.cache_data(max_entries=16, show_spinner="Timing the recurrence and the FFT…")
def scan_timing(N: int, init: str, seed: int) -> pd.DataFrame:
    return state_space.fft_vs_scan(16, N, init, SCAN_LENGTHS, seed)


@st.cache_data(max_entries=16, show_spinner="Timing LSTM, S4D and attention…")
def costs(N: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        state_space.sequence_costs(COST_LENGTHS, (COST_WIDTH,), N, seed, COST_REPEATS),
        state_space.sequence_costs((COST_LENGTH,), COST_WIDTHS, N, seed, COST_REPEATS, batch=COST_BATCH),
    )


st.markdown(
    """
A state-space model (SSM) runs a **linear** recurrence in each channel,
x_t = Ā x_(t−1) + B̄ u_t and y_t = C x_t. Written like that it is an RNN, but
nothing in it depends on the input: no gate, no squashing. Unroll it and the
output is a weighted sum of all past inputs, y_t = Σ_l K[l] u_(t−l), with the
kernel **K[l] = C Ā^l B̄**. So the same layer can be run step by step or as one
long convolution, computed with the FFT. S4D (Gu et al., 2022) makes A
diagonal with complex eigenvalues A_n, discretises the continuous system with
a step Δ by zero-order hold (Ā = e^(ΔA)), and lets every channel learn its own Δ.
"""
)

section("1 · The kernel: how far back one channel looks")
frame, reach = kernels(N, init, dt_min, dt_max, L, g.seed)
bounds = tuple(frame.loc[frame["kind"] == "bound", "series"].unique())
show.chart(
    charts.log_line_chart(
        frame,
        "l",
        "abs_K",
        "series",
        x_title="lag l (steps back)",
        y_title="|K[l]| (log)",
        dashed=bounds,
        color_by="channel",
        y_min=1e-12,
    ),
    height=460,
)
st.caption(
    f"S4D-{init.capitalize()}, N = {N}, {KERNEL_CHANNELS} channels with Δ log-spaced from {dt_min:g} to "
    f"{dt_max:g}. Solid: the largest |K[l]| in each bin of lags (the kernel oscillates). Dashed: "
    "2 Σ_n |C′_n| e^(−l/τ_n), a bound no |K[l]| can cross. The axis stops at 10⁻¹²; lines leaving it keep falling."
)
st.markdown(
    """
Mode n forgets like |Ā_n|^l = e^(Δ Re(A_n) l), so its **time constant is
τ_n = 1 / (Δ |Re A_n|)** steps. A small Δ means a slow clock and a long memory;
a large Δ a fast clock and a short one. S4D-Lin and S4D-Inv put every mode at
Re A = −1/2 (τ = 2/Δ) and differ only in frequencies; S4D-Real has no
oscillation but its modes decay 1, 2, 3, … times faster. Reach below: the last
lag where |K| is still above 10⁻³ of its peak, over 16 channels.
"""
)
show.table(reach.style.format({**table_formats(reach), "median reach": "{:.0f}"}), hide_index=True)
show.source(s4d.s4d_kernel)

section("2 · Memory: e^(−L/τ) against an LSTM's f̄^L")
mem = memory(N, init, dt_min, dt_max, f_bar)
show.chart(
    charts.log_line_chart(
        mem, "L", "memory", "series", x_title="steps L (log)", y_title="share kept (log)", log_x=True, y_min=1e-12
    ),
    height=420,
)
st.markdown(
    f"""
An LSTM whose forget gates sit at f̄ keeps f̄^L = e^(−L/τ) with
τ = −1/ln f̄ (here f̄ = {f_bar:g}). Both forget exponentially; the difference is
what sets τ. The LSTM reaches a long τ only with gates squeezed against 1,
where the sigmoid is flat and learns slowly. The SSM's τ is read off its
eigenvalues and the step size: choose Δ small and a channel keeps a memory of
thousands of steps from the very first update. (The axis stops at 10⁻¹².)
"""
)

section("3 · Recurrence and FFT: the same numbers, different costs")
timing = scan_timing(N, init, g.seed)
a, b = st.columns(2)
a.metric("max |y_FFT − y_recurrence| (float32, all L)", f"{timing['max_error'].max():.2e}")
b.metric("the same, relative to max |y|", f"{timing['rel_error'].max():.2e}")
show.chart(scan_timing_chart(timing, "seconds per forward pass (log)"), height=380)
speed = timing.pivot(index="L", columns="method", values="seconds")
st.caption(
    f"One S4D layer, H = 16, N = {N}, batch 1, median of 3, measured now on this machine. At L = "
    f"{SCAN_LENGTHS[-1]} the FFT path is {speed.iloc[-1, 1] / speed.iloc[-1, 0]:.0f}× faster. The recurrence "
    "takes L sequential steps; the FFT path builds K (H·N·L multiply-adds, in parallel) and convolves in "
    "O(L log L) per channel, zero-padded to 2L so nothing wraps around."
)
show.source(s4d.ssm_fft)

section("4 · Cost against length and width: LSTM, S4D by FFT, self-attention")
by_L, by_H = costs(N, g.seed)
left, right = st.columns(2)
for col, df, x, title in (
    (left, by_L, "L", f"sequence length L (H = {COST_WIDTH})"),
    (right, by_H, "H", f"width H (L = {COST_LENGTH}, batch {COST_BATCH})"),
):
    long = pd.concat(
        [
            df.assign(series=df["model"] + ", measured", y=df["seconds"]),
            df.assign(series=df["model"] + ", theory", y=df["theory"]),
        ]
    )
    with col:
        show.chart(
            charts.log_line_chart(
                long,
                x,
                "y",
                "series",
                x_title=title + " (log)",
                log_x=True,
                y_title="seconds per forward pass (log)",
                color_by="model",
                dashed=tuple(long.loc[long["series"].str.endswith("theory"), "series"]),
            ),
            height=400,
        )
slopes = pd.concat(
    [
        state_space.cost_slopes(by_L, "L", N).assign(axis=f"L (H = {COST_WIDTH})"),
        state_space.cost_slopes(by_H, "H", N).assign(axis=f"H (L = {COST_LENGTH}, batch {COST_BATCH})"),
    ]
)
slopes["fitted over"] = slopes["x_from"].astype(str) + " to " + slopes["x_to"].astype(str)
show.table(
    slopes[["axis", "model", "fitted over", "measured", "model_slope", "asymptotic"]]
    .rename(columns={"measured": "measured exponent", "model_slope": "model exponent", "asymptotic": "as size → ∞"})
    .style.format({"measured exponent": "{:.2f}", "model exponent": "{:.2f}", "as size → ∞": "{:g}"}),
    hide_index=True,
)
st.caption(
    "Dashed: multiply-add counts with the projections included, each scaled to its largest measured case: "
    "LSTM 8·B·L·H² (input projection and recurrence, 4H × H each per step); S4D 2·N·H·L (kernel) + "
    "(2B+1)·H·2L·log₂2L (FFT convolution) + 2·B·L·H² (GLU output projection H → 2H); attention "
    "4·B·L·H² (Q, K, V, output) + 2·B·L²·H (scores, A·V). Each exponent is fitted only over the sizes where "
    f"the term growing fastest along that axis is at least {state_space.DOMINANT_SHARE:.0%} of the count "
    "('fitted over'), next to the count's own exponent there. The H sweep runs a batch of "
    f"{COST_BATCH} through torch's fused LSTM so that the H² products, not the cost of each of the L "
    "sequential steps, set the time (one sequence through a Python loop is dominated by that per-step "
    "cost, and its H exponent falls far below 2). Still left out: fixed costs per call (building the S4D "
    "kernel costs many small operations at any L, which flattens its measured L exponent) and the cache "
    "(attention's L × L matrix outgrows it, which steepens its exponent). Forward only, timings measured "
    f"now on a shared machine: fastest of {COST_REPEATS}."
)

section(f"5 · Train it: delayed recall of one of {RECALL_SYMBOLS} symbols")
v = size_values(state_space.SIZES, full_size_checked=state_space.FULL_SIZE_CHECKED)
c1, c2 = st.columns(2)
T = c1.select_slider(
    "Delay T", [50, 100, 250, 500, MAX_SSM_TRAIN_SEQ_LEN], v["recall_T"], key="recall_T", bind="query-params"
)
steps = c2.slider("Steps", 20, 600, v["recall_steps"], 20, key="recall_steps", bind="query-params")
st.markdown(
    f"A symbol is shown at t = 0, then {T - 2} blanks, then a question mark: name the symbol. Guessing scores "
    f"1/{RECALL_SYMBOLS}. S4D: 2 layers, H = 64, N = 32, S4D-{init.capitalize()}. LSTM: hidden 64, forget "
    "bias 1. Same seed, same batches, Adam 3·10⁻³, batch 32."
)
recall_demo = build_demo(state_space.demo, {"recall_T": T, "recall_steps": steps, "init": init}, g.seed, g.device)


def render(history: pd.DataFrame, run: Demo) -> None:
    show.chart(charts.accuracy_chart(history, run.info["chance"]), height=320)


live_panel("ssm_recall", recall_demo, render=render, steps_per_tick=2)
st.caption(
    "Accuracy on 256 held-out sequences every 10 steps. The S4D channels with small Δ hold the symbol "
    "for thousands of steps from the start, so the gradient reaches it at once; the LSTM's memory after T "
    "steps is f̄^T, and with f̄ ≈ σ(1) ≈ 0.73 nothing of the symbol arrives: it stays at chance."
)
