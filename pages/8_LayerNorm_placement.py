"""LayerNorm placement: Post-LN, Pre-LN and DeepNorm gradients through depth, and what they do to training."""

import pandas as pd
import streamlit as st

from lrd_core import charts, theory
from lrd_core.charts import layernorm as layernorm_charts
from lrd_core.charts import topic_charts
from lrd_core.demo import FULL, LECTURE, Demo
from lrd_core.experiments import layernorm
from lrd_core.formats import table_formats
from lrd_core.history import race_summary
from lrd_core.limits import MAX_SEED, MAX_TRANSFORMER_LAYERS
from lrd_core.models.transformer import Residual
from lrd_core.tasks import LN_COPY_GAP, LN_COPY_LENGTH, LN_COPY_SYMBOLS
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

RATIO_SEEDS = 2  # the Post/Pre ratio is averaged over the page seed and the next one

g = setup_page("LayerNorm placement", ":material/stacked_line_chart:")

with st.sidebar:
    st.header("Transformer stack")
    depth = st.slider("N: blocks", 2, MAX_TRANSFORMER_LAYERS, 12, 1, key="depth", bind="query-params")
    width = st.select_slider(
        "d_model: width",
        [16, 32, 64],
        32,
        key="width",
        bind="query-params",
        help="Width of the residual stream of the probed stacks (4 attention heads).",
    )


@st.cache_data(max_entries=16, show_spinner="Backpropagating through three fresh stacks…")
def gradients(depth: int, width: int, seed: int) -> pd.DataFrame:
    return layernorm.layernorm_gradients(depth, seed, d_model=width)


@st.cache_data(max_entries=16, show_spinner="Taking block Jacobians in float64…")
def jacobians(depth: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return layernorm.block_distance_from_identity(depth, seed), layernorm.jacobian_identity_table(seed)


@st.cache_data(max_entries=16, show_spinner="Probing depths 3 to 48 on two seeds…")
def ratios(width: int, seed: int) -> pd.DataFrame:
    seeds = [(seed + i) % (MAX_SEED + 1) for i in range(RATIO_SEEDS)]
    return layernorm.last_layer_ratio(layernorm.LN_RATIO_DEPTHS, seeds, d_model=width)


st.markdown(
    """
A Transformer block wraps each sublayer F (attention, then an MLP) in a
residual connection, and adds a LayerNorm somewhere. Where it goes matters:

* **Post-LN** (the original): x → LN(x + F(x)). Every path, including the
  residual one, passes through a LayerNorm.
* **Pre-LN**: x → x + F(LN(x)). The residual path skips the LayerNorm, so the
  backward pass has a clean identity road through the whole stack.
* **DeepNorm**: x → LN(α·x + F(x)), Post-LN with the residual weighted by
  α = (2N)^¼ and F's initial weights scaled down by β = (8N)^−¼.

All three stacks below start from the same random weights (same seed) and
read the same batch of a short copy task.
"""
)

section("1 · Gradient norm, layer by layer")
grads = gradients(depth, width, g.seed)
left, right = st.columns(2)
with left:
    show.chart(
        charts.log_line_chart(
            grads[grads["kind"] == "weights"],
            "layer",
            "grad_norm",
            "placement",
            x_title="block l (1 = next to the input)",
            y_title="‖∂L/∂W_l‖ (log)",
        ),
        height=400,
    )
with right:
    show.chart(
        charts.log_line_chart(
            grads[grads["kind"] == "stream"],
            "layer",
            "grad_norm",
            "placement",
            x_title="residual stream x_l (0 = embedding)",
            y_title="‖∂L/∂x_l‖ (log)",
        ),
        height=400,
    )
alpha, beta = theory.deepnorm_constants(depth)
st.caption(
    f"N = {depth} blocks (DeepNorm: α = {alpha:.3f}, β = {beta:.3f}), d_model = {width}, at initialisation, one "
    "backward pass each. Left: the gradient of all "
    "weight matrices of block l. Right: the gradient reaching the residual stream between blocks. Compare the "
    "**top block** (right end) across placements: there Post-LN's weights get the largest push."
)
show.source(layernorm.layernorm_gradient_probe)

section("2 · Identity plus the rest: block Jacobians")
distance, identity = jacobians(depth, g.seed)
floor = theory.layernorm_projection_distance(layernorm.LN_JAC_WIDTH)
show.chart(layernorm_charts.block_distance_chart(distance, floor), height=380)
st.caption(
    f"How far each block's Jacobian J_l = ∂x_l/∂x_(l−1) is from the identity (Frobenius norms; float64, "
    f"D = {layernorm.LN_JAC_WIDTH}, {layernorm.LN_JAC_STEPS} positions). Look at Pre-LN: its blocks get closer to the "
    "identity the deeper they sit."
)
st.markdown(
    """
For Pre-LN, J = I + J_(F∘LN): the identity is always there and the rest
shrinks as the residual stream grows, because LN divides by the stream's size.
For Post-LN, J = J_LN·(I + J_F): the identity is multiplied by a LayerNorm
Jacobian at every sublayer, so no block is close to the identity. DeepNorm's
α makes the residual dominate, so its blocks are nearly what the LayerNorm alone
does: drop 2 of the D directions at each position (the mean and the direction of
the input). That projection alone is √(2/D) from the identity: the dashed line.
Autograd's Jacobians match the three forms to rounding:
"""
)
show.table(identity.style.format(table_formats(identity, 2)), hide_index=True)
show.source(Residual, "Source: one sublayer with its residual and LayerNorm")

section("3 · The gap grows with depth")
ratio = ratios(width, g.seed)
law = tuple(s for s in ratio["series"].unique() if s.startswith("√N"))
exps = ratio.attrs.get("exponents", {})
show.chart(
    charts.log_line_chart(
        ratio,
        "depth",
        "ratio",
        "series",
        x_title="N: blocks (log)",
        y_title="Post-LN / Pre-LN at the last block (log)",
        dashed=law,
        log_x=True,
    ),
    height=400,
)
st.caption(
    f"Gradient norm of the last block's weights, Post-LN divided by Pre-LN, mean of {RATIO_SEEDS} seeds, "
    f"d_model = {width}. Dashed: √N, a reference, not a law."
)
if exps:
    lo, hi = min(exps.values()), max(exps.values())
    st.markdown(
        f"Fitted to these points, the ratio grows like **N^{ratio.attrs['exponent']:.2f}** (log-log least squares; "
        f"seed by seed the exponent ranges over {lo:.2f}-{hi:.2f} for seeds {', '.join(map(str, exps))}). "
        "The √N argument below predicts 0.5; the measured exponent moves with the width and the seeds, so read "
        "√N as the trend's order of magnitude, not as an exact law."
    )
st.markdown(
    """
Pre-LN's stream is a sum of N branch outputs, so its size grows like √N, and
the final LayerNorm divides the top block's gradient by it. Post-LN renormalises
after every sublayer, so its top block keeps a large gradient at any depth.
DeepNorm (chart 1) starts its weights at β times their usual size, and its
gradients sit well below Post-LN's. Section 4 tests the consequence for training.

**Why Post-LN needs warm-up is still argued over.** Two readings, both from 2020:

- *Large gradients near the output.* Xiong et al., "On Layer Normalization in the
  Transformer Architecture" (ICML 2020), show that at initialisation the gradients of
  Post-LN's last layers are large (the chart above), so a full learning rate from
  step 1 takes steps that are too big; warm-up keeps the first steps small.
- *Amplified dependence on the residual branches.* Liu et al., "Understanding the
  Difficulty of Training Transformers" (EMNLP 2020), measure that gradient size does not
  explain the failures they see; instead each Post-LN layer leans heavily on its
  residual branch, so a small change of the weights moves the output a lot. Their
  fix (Admin) initialises a rescaling of the shortcut so that early on each layer
  leans on its branch less. What they claim for it is stable training of deep Post-LN
  models; their published training recipes for Admin still warm the learning rate up
  (RAdam, a warm-up over thousands of updates), so Admin is not a recipe for dropping
  warm-up.

This page measures the first reading's premise (the gradient ratio) and the
outcome (the race below); it does not decide between the two.
"""
)

section("4 · Train it: Post-LN against Pre-LN, with and without warm-up")
v = size_values(layernorm.SIZES)
c1, c2, c3, c4 = st.columns(4)
lr = c1.select_slider("Learning rate", [1e-3, 2e-3, 5e-3, 1e-2, 2e-2], v["lr"], key="lr", bind="query-params")
warmup = c2.slider("Warm-up steps", 0, 400, v["warmup"], 50, key="warmup", bind="query-params")
steps = c3.slider("Steps", 200, 1200, v["steps"], 100, key="steps", bind="query-params")
layers = c4.select_slider("Blocks", [2, 4, 6, 8], v["layers"], key="layers", bind="query-params")
pre_warmup = st.toggle(
    "Also train Pre-LN with warm-up",
    v["pre_warmup"],
    key="pre_warmup",
    bind="query-params",
    help="The fourth run: Pre-LN needs no warm-up, so the Lecture size leaves it out (a quarter less compute).",
)
race_values = {"lr": lr, "warmup": warmup, "steps": steps, "layers": layers, "pre_warmup": pre_warmup}
race_demo = build_demo(layernorm.demo, race_values, g.seed, g.device)
if warmup > steps:
    st.info(f"Warm-up steps ({warmup}) exceed the run's {steps} steps: the warm-up runs over all {steps}.")
st.markdown(
    f"""
The task: see {LN_COPY_LENGTH} random symbols (of {LN_COPY_SYMBOLS}), then
{LN_COPY_GAP} blanks, then replay the symbols. Loss {layernorm.LN_BASELINE:.3g} means
the blanks are right and the symbols guessed; the solved line is every symbol recalled
with probability 0.9. Plain Adam, no gradient clipping, d_model = {layernorm.TRAIN_WIDTH}. Left: the
full rate from step 1. Right: the rate climbs over the first {race_demo.info["warmup"]} steps, then falls
linearly to 0.
"""
)


def render(history: pd.DataFrame, run: Demo) -> None:
    info = run.info
    panels = layernorm.layernorm_panels(history)
    for col, (panel, data) in zip(st.columns(2), panels.items(), strict=True):
        with col:
            st.markdown(f"**{panel}** ({info['schedules'][panel]})")
            chart = topic_charts.placement_loss_chart(
                data, baseline=info["baseline"], solved=info["solved"], y_title=info["y_title"]
            )
            show.chart(chart, height=320)
    if len(history):
        summary = race_summary(history, info["solved"])
        show.table(summary, hide_index=True)
        status = history.groupby("series")["status"].last()
        for row in summary.to_dict("records"):
            if status[row["model"]] == "done" and pd.isna(row["solved at step"]):
                st.warning(f"**{row['model']}** finished {row['steps']} steps without reaching the solved line.")


live_panel("ln_race", race_demo, render=render, steps_per_tick=6)
lec, full = layernorm.SIZES[LECTURE], layernorm.SIZES[FULL]
st.caption(
    f"All runs share seed {g.seed}, so the same starting weights and the same batches. Left panel: "
    "Pre-LN drops below the solved line while Post-LN stays above it; slow tests check this on seeds 0-4, "
    f"at the Lecture size ({lec['layers']} blocks, {lec['steps']} steps: the verdict must hold on at least "
    f"4 of 5) and at the Full size ({full['layers']} blocks, {full['steps']} steps: on every seed, on two "
    "CPU kernel sets). Right panel: with warm-up Post-LN learns too on nearly every run, but whether it "
    "reaches the solved line, or climbs back after a spike, depends on the seed and even on the CPU's "
    "rounding: try another seed in the sidebar. A run whose loss turns infinite is stopped and reported above."
)
