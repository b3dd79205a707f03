"""Vanishing & exploding gradients: how much learning signal survives the trip back through a plain RNN."""

import numpy as np
import pandas as pd
import streamlit as st

from lrd_core import charts, gradients, limits, theory
from lrd_core.charts import vanishing as vanishing_charts
from lrd_core.demo import Demo
from lrd_core.experiments import vanishing
from lrd_core.models.recurrent import ACTIVATIONS, W_INITS, RNNConfig
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section

g = setup_page("Vanishing & exploding gradients", ":material/trending_down:")
D = vanishing.DEFAULTS  # every widget the live run reads starts at its value there (the run's defaults)

with st.sidebar:
    st.header("Recurrent net")
    rho = st.slider("ρ: spectral radius of W", 0.1, 2.0, D["rho"], 0.05, key="rho", bind="query-params")
    activation = st.selectbox(
        "Activation φ", ACTIVATIONS, ACTIVATIONS.index(D["activation"]), key="act", bind="query-params"
    )
    w_init = st.selectbox(
        "W initialisation",
        W_INITS,
        W_INITS.index(D["w_init"]),
        key="init",
        bind="query-params",
        help="orthogonal: W = ρ·Q, every singular value is ρ. gaussian: random, rescaled to spectral radius ρ.",
    )
    input_scale = st.slider(
        "Input scale",
        0.0,
        5.0,
        D["input_scale"],
        0.1,
        key="xscale",
        bind="query-params",
        help="Bigger inputs push tanh into its flat tails (saturation).",
    )
    hidden = st.select_slider("Hidden units H", [8, 16, 32, 64, 128, 256], D["hidden"], key="H", bind="query-params")
    T = st.slider("Sequence length T", 10, limits.MAX_SEQ_LEN, 200, 10, key="T", bind="query-params")

config = RNNConfig(2, hidden, activation, w_init, rho, input_scale)


@st.cache_data(max_entries=32, show_spinner="Probing…")
def probe(config: RNNConfig, T: int, seed: int, device: str, jacobians: bool = True) -> pd.DataFrame:
    return vanishing.vanishing_probe(config, T, seed, device=device, jacobians=jacobians)


# T spectral norms of H x H Jacobians cost B·T·H³ (5 s at T = 1,000, H = 256): at such sizes the measured
# curve is drawn first, from the backward pass alone, and the bound is added when its norms are done
slow_bound = vanishing.jacobian_work(hidden, T) > vanishing.SLOW_JACOBIAN_WORK
df = probe(config, T, g.seed, g.device, jacobians=not slow_bound)
alpha = float(df["grad_norm"].iloc[-1])  # ||dL/dh_T||: the signal at distance 0

st.markdown(
    f"""
The network reads an adding-problem sequence of length **T = {T}**, and the loss
is a fixed linear read-out of the last state, L = v·h_T. Backpropagation sends
the signal ∂L/∂h_T back one step at a time; each step multiplies it by the
step's Jacobian J_t = diag(φ′(a_t))·W. Below is the size of what arrives at
every earlier state, measured by autograd in a single backward pass.
"""
)

st.caption(
    "Sources: Bengio, Simard & Frasconi 1994 (learning long-term dependencies with gradient descent is difficult); "
    "Pascanu, Mikolov & Bengio 2013 (on the difficulty of training recurrent neural networks)."
)

section("1 · Signal reaching h_t, against distance")
slot = st.empty()
if slow_bound:
    with slot.container():
        show.chart(vanishing_charts.signal_chart(df, rho, alpha))
        st.caption(f"Computing the bound: {T:,} spectral norms of {hidden} x {hidden} Jacobians…")
    df = probe(config, T, g.seed, g.device)
with slot.container():
    show.chart(vanishing_charts.signal_chart(df, rho, alpha))
factor = vanishing.decay_per_step(df)
m1, m2, m3 = st.columns(3)
m1.metric("measured shrink factor per step", f"{factor:.4g}", help="exp of the fitted slope of log‖∂L/∂h_t‖")
m2.metric("ρ (weights alone)", f"{rho:g}")
m3.metric("mean |φ′| over the sequence", f"{df['saturation'].mean():.3g}")
overflow = gradients.first_nonfinite_lag(df)
if overflow is not None:
    st.warning(
        f"The gradient overflowed float32 (became inf or NaN) from distance {overflow} on; "
        "those points are left off the chart. That is an exploding gradient."
    )
n_zero = int((df["grad_norm"] == 0).sum())
if n_zero:
    st.info(f"{n_zero} distances received a gradient of exactly 0 (float32 underflow): red triangles at the floor.")
st.markdown(
    """
With a linear network and an orthogonal W the measurement sits exactly on
α·ρ^(L−1): every step scales the signal by ρ. With tanh, every step also
multiplies by φ′ ≤ 1, so the signal falls faster than ρ alone predicts, even
at ρ = 1. The dashed bound multiplies the measured per-step Jacobian norms; the
measured curve can never rise above it. With an orthogonal W, ‖diag(φ′)W‖₂ =
ρ·max|φ′|, so while any unit is unsaturated the bound lies on the ρ line:
the gap between it and the measurement is saturation spread over many units.
"""
)

section("2 · What each step does to the signal")
left, right = st.columns(2)
with left:
    show.chart(
        charts.step_chart(
            df,
            "t",
            "jac_norm",
            x_title="time step t",
            y_title="‖J_t‖₂ (spectral norm)",
            reference=rho,
            reference_label=f"ρ = {rho:g}",
        ),
        height=300,
    )
    st.caption("Red dashed: ρ, the norm the weights alone would give (exact for orthogonal W).")
with right:
    show.chart(
        charts.step_chart(
            df,
            "t",
            "saturation",
            x_title="time step t",
            y_title="mean |φ′(a_t)|",
            reference=1.0,
            reference_label="no saturation",
        ),
        height=300,
    )
    st.caption("1 means the activation passes the signal untouched; near 0 the units are saturated.")

section("3 · The closed form, for your ρ")
lengths = np.array([10, 50, 100, 200, 500, 1000])
table = pd.DataFrame({"L": lengths, "S_RNN(L) = α·ρ^(L−1)": theory.signal_magnitude(rho, lengths, alpha)})
measured = df.set_index("lag")["grad_norm"]
table["measured at distance L − 1"] = [measured.get(L - 1, np.nan) for L in lengths]
show.table(
    table.astype({"L": str}).map(lambda v: v if isinstance(v, str) else "—" if np.isnan(v) else f"{v:.3e}"),
    hide_index=True,
)
st.caption(f"α = ‖∂L/∂h_T‖ = {alpha:.3g}. A dash: L is longer than the probed sequence (T = {T}).")
show.source(vanishing.rnn_gradient_probe)

section("4 · Train it: the adding problem")
st.markdown(
    """
Two of the T numbers are marked; the target is their sum. Always answering 1
scores an MSE of 1/6, the baseline. To beat it the net must carry the first
marked number across the sequence, so the signal above decides whether it
learns. Train the net from the sidebar on a short and on a long sequence.
"""
)
c1, c2, c3, c4, c5 = st.columns(5)
train_T = c1.slider(
    "Training length T", 2, limits.MAX_TRAIN_SEQ_LEN, D["train_T"], 1, key="train_T", bind="query-params"
)
steps = c2.slider("Steps", 50, limits.MAX_STEPS, D["steps"], 50, key="steps", bind="query-params")
lr = c3.select_slider(
    "Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], D["lr"], key="lr", bind="query-params"
)
clip = c4.toggle("Clip gradient norm at c", D["clip"], key="clip", bind="query-params")
linked_c = st.query_params.get("clip_norm")  # read before the widget: it drops a value out of its range
clip_norm = c5.number_input(
    "Clip norm c",
    vanishing.MIN_CLIP_NORM,
    vanishing.MAX_CLIP_NORM,
    D["clip_norm"],
    0.5,
    format="%g",
    key="clip_norm",
    bind="query-params",
    help="Before each step a gradient g with ‖g‖ > c is rescaled to c·g/‖g‖ (section 5 shows what that does).",
)
if linked_c is not None:
    try:
        vanishing.check_clip_norm(linked_c)
    except ValueError as err:
        st.error(f"The link's {err}; c = {clip_norm:g} is used instead.")
race_values = {
    "rho": rho,
    "activation": activation,
    "w_init": w_init,
    "input_scale": input_scale,
    "hidden": hidden,
    "train_T": train_T,
    "steps": steps,
    "lr": lr,
    "clip": clip,
    "clip_norm": clip_norm,
}
race_demo = build_demo(vanishing.demo, race_values, g.seed, g.device)


def render(history: pd.DataFrame, run: Demo) -> None:
    if not len(history):  # e.g. a run replaced by the clipping run below before its first step was drawn
        return
    a, b = st.columns(2)
    with a:
        loss = charts.loss_chart(history, baseline=run.info["baseline"], solved=run.info["solved"], y_title="MSE (log)")
        show.chart(loss, height=340)
    with b:
        show.chart(vanishing_charts.training_grad_norm_chart(history), height=340)


live_panel("rnn_adding", race_demo, render=render)

section("5 · Clipping the exploding gradient")
setup = vanishing.CLIP_DEMO
st.markdown(
    f"""
Past ρ = 1 the signal can grow at every step back instead of shrinking, and so can the gradient of the
weights. Plain gradient descent steps by lr times that gradient: one huge gradient throws the weights so far
that the next loss overflows. Pascanu, Mikolov & Bengio (2013) rescale the gradient g whenever ‖g‖ > c:
g ← c·g/‖g‖. The direction is kept; the step is at most lr·c long.

Two copies of one {setup.activation} RNN (ρ = {setup.rho:g}, H = {setup.hidden}, adding problem at T = {setup.T},
SGD with lr = {setup.lr:g}, batch {setup.batch}) train side by side on the same batches: one without clipping,
one clipped at c = **{clip_norm:g}** (the *Clip norm c* control above). ReLU does not saturate, so nothing
but clipping stops the growth.
"""
)
clip_demo = build_demo(vanishing.clipping_demo, {"clip_norm": clip_norm}, g.seed, g.device)


def render_clipping(history: pd.DataFrame, run: Demo) -> None:
    if not len(history):
        return
    c = run.info["clip_norm"]
    a, b = st.columns(2)
    with a:
        show.chart(charts.loss_chart(history, baseline=run.info["baseline"], solved=None, y_title="MSE (log)"))
    with b:
        norms = vanishing.clipping_norms_long(history, c)
        show.chart(vanishing_charts.clipping_norms_chart(norms, c, dashed=vanishing.norm_series(c)[-1:]))


live_panel("rnn_clipping", clip_demo, render=render_clipping)
held, seeds, claim_c = vanishing.CLIP_CLAIM_HELD, vanishing.CLIP_CLAIM_SEEDS, vanishing.CLIP_CLAIM_NORM
st.caption(
    "Right: ‖∇θ L‖ of each run before clipping, and the clipped run's norm measured after clipping (dashed), "
    "which sits at c whenever the raw norm is above it. A diverged run's last step is left off the charts; the "
    f"warning above names it. Over seeds {seeds[0]}-{seeds[-1]} with c = {claim_c:g} the unclipped run diverged and "
    f"the clipped one trained (last 20 losses below half the baseline, {vanishing.TRAINED_MSE:.2g}) on {held} "
    f"of {len(seeds)} (slow test `tests/test_vanishing.py::test_clipping_claim_holds_over_seeds`). Other values "
    "of c are your experiment: too large and a spike still gets through (try the largest c on seeds 0-4); too "
    "small and every step moves the weights by at most lr·c, so the run stays finite but hardly learns."
)
show.source(vanishing.clipping_race)
