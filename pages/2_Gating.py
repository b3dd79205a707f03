"""Gating: how the LSTM's cell and the GRU's keep path carry a learning signal across long distances."""

import math

import pandas as pd
import streamlit as st

from lrd_core import charts, theory
from lrd_core.demo import LECTURE, Demo
from lrd_core.experiments import gating
from lrd_core.experiments.gating import COPY_LENGTH, COPY_SYMBOLS, TASKS
from lrd_core.formats import table_formats
from lrd_core.history import race_summary
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

g = setup_page("Gating: LSTM and GRU", ":material/alt_route:")

with st.sidebar:
    st.header("Gates")
    bias = st.slider(
        "Gate bias b (forget / keep)",
        -2.0,
        5.0,
        3.0,  # τ(3) ≈ 20 steps: the gated curves stand clear of the RNN's at the default ρ
        0.5,
        key="bias",
        bind="query-params",
        help="Initial bias of the LSTM forget gate and of the GRU keep gate in sections 1 and 2: they start "
        "near sigmoid(b). The race in section 3 has its own.",
    )
    st.caption(
        f"σ(b) = {1 / (1 + math.exp(-bias)):.3f}: a cell whose forget gates stay there keeps e⁻¹ of its content "
        f"after τ(b) = −1/ln σ(b) = **{theory.forget_bias_time_constant(bias):.1f} steps** "
        f"and σ(b)²⁰⁰ = {theory.forget_gate_product(bias, 200):.1e} of it after 200."
    )
    T = st.slider("Probe length T", 10, 500, 200, 10, key="T", bind="query-params")
    hidden = st.select_slider("Hidden units H", [16, 32, 64, 128], 64, key="H", bind="query-params")
    rho = st.slider(
        "RNN ρ (orthogonal W)",
        0.5,
        1.5,
        0.9,  # below 1: the plain RNN's signal fades geometrically, as on page 1
        0.05,
        key="rho",
        bind="query-params",
        help="Scale of the plain RNN's W in section 2. The race in section 3 has its own.",
    )


@st.cache_data(max_entries=16, show_spinner="Running the LSTM…")
def distribution(hidden: int, bias: float, T: int, seed: int) -> pd.DataFrame:
    return gating.forget_product_quantiles(gating.forget_products(hidden, bias, T, seed))


@st.cache_data(max_entries=16, show_spinner="Checking the identity in float64…")
def identity(hidden: int, bias: float, seed: int) -> pd.DataFrame:
    return gating.gate_identity_table(hidden, seed, gate_bias=bias)


@st.cache_data(max_entries=16, show_spinner="Initialising the race's LSTM…")
def race_taus(T: int, hidden: int, seed: int, bias: float) -> pd.DataFrame:
    return gating.race_time_constants(T, hidden, seed, forget_bias=bias)


@st.cache_data(max_entries=16, show_spinner="Backpropagating through RNN, LSTM and GRU…")
def comparison(T: int, hidden: int, seed: int, rho: float, bias: float, device: str):
    df = gating.gating_gradient_probe(T, hidden, seed, rho=rho, gate_bias=bias, device=device)
    return *gating.gating_comparison_long(df), gating.decay_factors(df)


st.markdown(
    """
In a plain RNN the only road from h_{t−1} to h_t goes through the weight matrix
and the squashing function, so a signal travelling back L steps is multiplied
by L Jacobians diag(φ′)·W, and its size drifts geometrically (page 1).

The LSTM builds a second road. Its cell is not rewritten each step; it is
**topped up**: c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t. Differentiate along that road
alone and both W and φ′ drop out: ∂c_t/∂c_{t−1} = diag(f_t), a diagonal of
numbers the network sets itself. Back over L steps the signal is scaled by
∏f_t, unit by unit, with no matrix power and no mixing between units. Gates near
1 keep the product near 1 for hundreds of steps; gates near 0.5 halve it every
step. The GRU does the same with its keep factor:
h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ n_t in PyTorch's convention, where z_t is the
share kept. Textbooks swap the letters and write that factor as 1 − z_t; this
page uses the textbook name.
"""
)

st.caption(
    "Sources: Hochreiter & Schmidhuber 1997 (LSTM); Gers, Schmidhuber & Cummins 2000 (the forget gate); "
    "Cho et al. 2014 (GRU)."
)

section("1 · The product of forget gates, unit by unit")
q = distribution(hidden, bias, T, g.seed)
sigma_b = float(theory.forget_gate_product(bias, 1))
const = q[q["series"] == "median"].assign(
    series=f"constant gates σ(b)^L = {sigma_b:.3f}^L", prod_f=lambda d: theory.forget_gate_product(bias, d["L"])
)
show.chart(
    charts.log_line_chart(
        pd.concat([q, const]),
        "L",
        "prod_f",
        "series",
        x_title="number of steps L",
        y_title="∏ f_t over L steps (log)",
        dashed=(const["series"].iloc[0],),
    ),
    height=440,
)
st.caption(
    f"A fresh LSTM with H = {hidden} reads 4 adding-problem sequences; the lines are quantiles of ∏f_t over "
    f"units and sequences (float64; triangles: exactly 0 after underflow). Raise b to move every unit up."
)
st.markdown(
    "The same product measured two ways in float64, T = 50: from the gates the forward pass recorded, and by "
    "autograd with every gate held fixed. They agree to rounding:"
)
show.table(identity(hidden, bias, g.seed).pipe(lambda d: d.style.format(table_formats(d))))
show.source(gating.direct_path_derivative)

section("2 · The whole gradient: RNN, LSTM and GRU side by side")
long, dashed, factors = comparison(T, hidden, g.seed, rho, bias, g.device)
show.chart(
    charts.log_line_chart(
        long,
        "lag",
        "value",
        "series",
        x_title="distance T − t (steps back from the loss)",
        y_title="‖∂L/∂h_t‖ (log)",
        dashed=dashed,
        color_by="model",
    ),
    height=480,
)
st.markdown(
    f"""
Solid: ‖∂L/∂h_t‖ from one backward pass through each whole network (nothing
held fixed), with the same input, the same size and the same read-out L = v·h_T.
Dashed: the constant-gate theory α·g^(L−1) with g = ρ for the RNN and, for the
gated nets, g = the **measured mean** of f_t or of the keep factor 1 − z_t over
all steps and units of this very forward pass; α is set by the measured value
one step back, so the dashes test the slope. With b = {bias:g} the gates start
near σ(b) = {sigma_b:.3f}. Far below 1 the gated nets forget as fast as, or
faster than, an orthogonal RNN; move b up and their curves flatten: the highway
is only open when the gates sit near 1.

The dashes follow the cell (or keep) path alone. The gates and the candidate
also read h_{{t−1}} through weight matrices, and those roads carry signal too,
so a solid line can be flatter than its dashes, and with gates near 1 it can
even creep upward. The measured shrink per step, next to the gates:
"""
)
show.table(
    factors.rename(
        columns={
            "measured": "measured factor per step",
            "gain": "mean gate (ρ for RNN)",
            "gain_top_unit": "largest unit's mean gate",
        }
    ).pipe(lambda d: d.style.format(table_formats(d))),
    hide_index=True,
)
show.source(gating.gating_gradient_probe)

section("3 · The race: same seed, same batches, same step budget")
v = size_values(gating.SIZES, full_size_checked=gating.FULL_SIZE_CHECKED)
c1, c2, c3, c4 = st.columns(4)
task = c1.selectbox(
    "Task",
    TASKS,
    TASKS.index(v["task"]),
    key="task",
    bind="query-params",
    help="adding: the adding problem; copy: copy memory",
)
train_T = c2.slider("Training length T", 10, 300, v["train_T"], 10, key="train_T", bind="query-params")
steps = c3.slider("Steps", 100, 3000, v["steps"], 100, key="steps", bind="query-params")
lr = c4.select_slider("Learning rate", [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], v["lr"], key="lr", bind="query-params")
c5, c6, c7 = st.columns([2, 2, 4])
race_bias = c5.slider(
    "Race: gate bias b",
    -2.0,
    5.0,
    v["race_bias"],
    0.5,
    key="race_bias",
    bind="query-params",
    help="Initial bias of the racing LSTM's forget gate (unless chrono init is on) and the GRU's keep gate.",
)
race_rho = c6.slider("Race: RNN ρ", 0.5, 1.5, v["race_rho"], 0.05, key="race_rho", bind="query-params")
chrono = c7.toggle(
    "LSTM: chrono initialisation",
    v["chrono"],
    key="chrono",
    bind="query-params",
    disabled=task != "adding",
    help="Tallec & Ollivier 2018: each unit's forget bias b_f = ln u with u ~ U[1, T − 1] and input bias −b_f, "
    "so the units' initial time constants spread up to the training length T instead of all sitting at τ(b).",
)
race_values = {
    "task": task,
    "train_T": train_T,
    "steps": steps,
    "lr": lr,
    "chrono": chrono,
    "race_bias": race_bias,
    "race_rho": race_rho,
    "H": hidden,
}
race_demo = build_demo(gating.demo, race_values, g.seed, g.device)
if task == "adding":
    st.markdown(
        f"Sum the two marked numbers of a length-T sequence. Answering 1 every time scores "
        f"{race_demo.info['baseline']:.3g}."
    )
else:
    st.markdown(
        f"Read {COPY_LENGTH} symbols (of {COPY_SYMBOLS}), wait {train_T} blank steps, then replay them. "
        f"Guessing scores {race_demo.info['baseline']:.3g}; "
        f"the solved line is every symbol recalled with probability 0.9."
    )


def render(history: pd.DataFrame, run: Demo) -> None:
    solved = run.info["solved"]
    chart = charts.loss_chart(history, baseline=run.info["baseline"], solved=solved, y_title=run.info["y_title"])
    show.chart(chart, height=320)
    if len(history):
        show.table(race_summary(history, solved), hide_index=True)


live_panel("gating_race", race_demo, render=render, steps_per_tick=4)
lecture = gating.SIZES[LECTURE]
st.caption(
    "All three start from the same seed and see the same batches; gradients are clipped at norm 1; "
    "the LSTM's forget gate and the GRU's keep gate start with the race's bias b, the RNN with W = ρ·Q (the "
    f"race's ρ: b = {lecture['race_bias']:g} and ρ = {lecture['race_rho']:g} at the Lecture size; PyTorch's fused "
    "modules with the hand-written cells' initial weights: the race reads no gate). At the Lecture size the GRU "
    f"solves T = {lecture['train_T']} and the plain RNN does not on at least 4 of seeds 0-4 (a slow test checks "
    "it). The LSTM at forget bias 1 needs more steps than the Lecture size gives it; with chrono initialisation "
    "(Tallec & Ollivier 2018, the Lecture default) it solves it within the run on some seeds, not all: a slow "
    "test requires at least 2 of seeds 0-4 with chrono and at most 1 with forget bias 1."
)

section("4 · Chrono initialisation: the memory horizon set before training")
taus = race_taus(train_T, hidden, g.seed, race_bias)
tau_b = theory.forget_bias_time_constant(race_bias)
median = gating.chrono_tau_quantile(0.5, train_T)
st.markdown(
    f"""
A forget gate that sits at f keeps e⁻¹ of the cell after τ = −1/ln f steps. One forget bias b gives every
unit the same τ(b) = −1/ln σ(b): **{tau_b:.3g} steps** for the race's b = {race_bias:g}. Chrono initialisation
(Tallec & Ollivier 2018) instead draws each unit's b_f = ln u with u ~ U[1, T − 1] (and the input gate's bias
−b_f). Since σ(ln u) = u/(1 + u), the unit's τ = 1/ln(1 + 1/u): the units' memories spread from
1/ln 2 = {gating.LN2_TAU:.3g} steps up to about T, half of them above {median:.3g} steps for T = {train_T}.
Below: τ of every unit of the race's LSTM ({hidden} units, read from its biases as Start builds it), sorted.
"""
)
show.chart(
    charts.log_line_chart(
        taus,
        "q",
        "tau",
        "series",
        x_title="share of units q (sorted by τ)",
        y_title="time constant τ in steps (log)",
        dashed=(gating.CHRONO_THEORY,),
    ),
    height=360,
)
st.caption(
    f"Dashed: the closed-form quantile τ_q = 1/ln(1 + 1/u_q), u_q = 1 + q·(T − 2). The flat line is τ(b) of "
    f"every unit with forget bias {race_bias:g}. The chrono toggle above gives the racing LSTM these time "
    f"constants{'' if task == 'adding' else ' (adding problem only)'}: its units start able to carry the first "
    "marked number across the whole sequence, where at forget bias 1 every unit forgets within a few steps."
)
show.source(gating.forget_time_constants)
