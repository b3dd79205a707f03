"""Page "LayerNorm placement" (seed: "The Importance of Architectural Stability").

Post-LN, Pre-LN and DeepNorm Transformers: per-layer gradient norms at initialisation and the Post/Pre
ratio at the last layer as depth grows; the float64 Jacobian identities of a residual sublayer; how far
each block is from the identity map; and the warm-up race of Post-LN against Pre-LN on copy memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.formats import fmt
from lrd_core.gradients import flat_jacobian, loglog_slope
from lrd_core.history import recent_loss, solved_step, steps_run
from lrd_core.limits import MAX_BATCH, MAX_PROBE_BYTES, MAX_STEPS, MAX_TRANSFORMER_LAYERS
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.transformer import PLACEMENT_NAMES, PLACEMENTS, Residual, TransformerConfig, TransformerStack
from lrd_core.task_runs import copy_memory_run
from lrd_core.tasks import LN_COPY_GAP, LN_COPY_LENGTH, LN_COPY_SYMBOLS, copy_memory
from lrd_core.theory import copy_memory_loss, sqrt_depth_law
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_choice, check_int

LN_HEADS = 4  # attention heads of the probed and trained Transformers


LN_PROBE_BATCH = 16  # copy-memory sequences in the gradient probe's loss


LN_RATIO_DEPTHS = (3, 6, 12, 24, 48)  # depths of the Post/Pre ratio curve


LN_JAC_WIDTH, LN_JAC_STEPS = 16, 6  # d_model and positions of the float64 Jacobian probes: (96 x 96) matrices


LN_ORDER = ("post", "deepnorm", "pre")  # row order: charts colour series in first-seen order (Post-LN's kin together)


def layernorm_tagger(
    placement: str, n_layers: int, d_model: int, generator: torch.Generator, dtype=torch.float32
) -> SequenceTagger:
    """A Transformer stack with a per-step classifier for the LayerNorm copy task (one-hot in, logits out).

    Built from ``generator`` in the same order for every placement, so with the same seed the three
    placements share every weight except for DeepNorm's β scaling."""
    config = TransformerConfig(LN_COPY_SYMBOLS + 2, d_model, LN_HEADS, n_layers, 4 * d_model, placement)
    return SequenceTagger(TransformerStack(config, generator), d_model, LN_COPY_SYMBOLS + 1, generator).to(dtype)


def block_weights(block: torch.nn.Module) -> list[torch.Tensor]:
    """The weight matrices of a block's linear maps (W_q, W_k, W_v, W_o, W_1, W_2): no biases, no LayerNorm."""
    return [m.weight for m in block.modules() if isinstance(m, torch.nn.Linear)]


def _copy_loss(model: SequenceTagger, x: torch.Tensor, y: torch.Tensor, streams: list[torch.Tensor]) -> torch.Tensor:
    logits = model.head(model.encoder.final_norm(streams[-1]))  # (B, T, classes)
    return F.cross_entropy(logits.transpose(1, 2), y)  # logits (B, classes, T) vs y (B, T)


LN_COPY_STEPS = 2 * LN_COPY_LENGTH + LN_COPY_GAP  # T of a copy sequence: symbols, blanks, replay


def gradient_probe_bytes(n_layers: int, d_model: int, batch: int, T: int = LN_COPY_STEPS) -> int:
    """Peak bytes of one backward pass of :func:`layernorm_gradient_probe` over ``batch`` sequences, float32.

    With D = d_model, F = 4D (MLP width), h = LN_HEADS, V = LN_COPY_SYMBOLS + 2 inputs, C = V − 1 classes:

    * weights: P = N(4D² + 2DF + 9D + F) + (V + 1)D + (D + 1)C numbers (per block W_q, W_k, W_v, W_o with
      biases, W_1, W_2 with biases, two LayerNorms; then embedding and head), held three times: the weights,
      one pass's gradients and their running sum (when the batch is split into chunks);
    * what autograd keeps per block and token: 8D + 2F + h·T + 4 numbers (the sublayer inputs x, Q, K, V,
      the mixed heads, the two LayerNorm inputs and their mean and 1/σ, the MLP's two F-wide activations,
      and the h·T softmax weights of the token's query row);
    * per token outside the blocks: the N + 1 residual-stream gradients the probe returns, (N + 1)D, and
      the one-hot input, x_0, logits and log-softmax, V + 2D + 2C;
    * each block's causal mask, T² bytes.

    So bytes = 4·[3P + B·T·(N(8D + 2F + hT + 4) + (N + 1)D + V + 2D + 2C)] + N·T². Tests check it against
    autograd's saved-tensor hooks plus the weights' and gradients' ``nbytes`` (within 15 %); the LayerNorm
    page at its extreme (N = 48, D = 64, B = 16) needs 78 MB, more than one probe's MAX_PROBE_BYTES: it streams.
    """
    N = check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    D = check_int("d_model", d_model, 1, 4096)
    B = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 1, 4096)
    F_, h, V = 4 * D, LN_HEADS, LN_COPY_SYMBOLS + 2
    C = V - 1
    P = N * (4 * D * D + 2 * D * F_ + 9 * D + F_) + (V + 1) * D + (D + 1) * C
    per_token = N * (8 * D + 2 * F_ + h * T + 4) + (N + 1) * D + V + 2 * D + 2 * C
    return 4 * (3 * P + B * T * per_token) + N * T * T


def probe_batch_chunk(n_layers: int, d_model: int, batch: int, max_bytes: int = MAX_PROBE_BYTES) -> int:
    """Sequences per backward pass so that :func:`gradient_probe_bytes` stays within ``max_bytes``: ``batch``
    when all fit (every default view), else the largest chunk that does. ValueError naming d_model when even
    one sequence does not fit (the weights alone grow like N·D²)."""
    need_one = gradient_probe_bytes(n_layers, d_model, 1)
    if need_one > max_bytes:
        raise ValueError(
            f"d_model = {d_model} with n_layers = {n_layers} needs {need_one / 2**20:.0f} MB for one sequence's "
            f"gradient probe, over the {max_bytes / 2**20:.0f} MB probe budget: lower d_model or n_layers"
        )
    if gradient_probe_bytes(n_layers, d_model, batch) <= max_bytes:
        return batch
    lo, hi = 1, batch  # the largest b with bytes(b) <= max_bytes: bytes grow linearly in b
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if gradient_probe_bytes(n_layers, d_model, mid) <= max_bytes else (lo, mid - 1)
    return lo


def layernorm_gradient_probe(
    placement: str,
    n_layers: int,
    seed: int,
    *,
    d_model: int = 64,
    batch: int = LN_PROBE_BATCH,
    max_bytes: int = MAX_PROBE_BYTES,
) -> pd.DataFrame:
    """Gradients at initialisation of the copy-task loss of a fresh Transformer, layer by layer.

    One backward pass gives ||∂L/∂W|| for the weights of every block l = 1..N (``kind`` "weights") and
    ||∂L/∂x_l|| for the residual stream x_0..x_N (``kind`` "stream"). Model and batch come from
    ``torch.Generator(seed)``. Tidy DataFrame: placement (display name), layer, kind, grad_norm.

    When :func:`gradient_probe_bytes` of the whole batch exceeds ``max_bytes`` the batch is streamed in
    chunks of :func:`probe_batch_chunk` sequences: the loss is a mean over the B·T steps, so L = Σ_c (b_c/B)·L_c,
    the weight gradient is the sum of the chunks' and each chunk holds its own rows of ∂L/∂x_l. The numbers
    agree with one pass to float rounding.
    """
    check_choice("placement", placement, PLACEMENTS)
    n_layers = check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    batch = check_int("batch", batch, 1, MAX_BATCH)
    chunk = probe_batch_chunk(n_layers, d_model, batch, max_bytes)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    model = layernorm_tagger(placement, n_layers, d_model, g)
    x, y = copy_memory(batch, LN_COPY_GAP, g, n_symbols=LN_COPY_SYMBOLS, length=LN_COPY_LENGTH)
    weights = [block_weights(b) for b in model.encoder.blocks]
    flat = [w for ws in weights for w in ws]
    stream_sq = torch.zeros(n_layers + 1, dtype=torch.float64)  # Σ over chunks of ||∂L/∂x_l||² (their rows)
    weight_grads = [torch.zeros_like(w) for w in flat]
    for i in range(0, batch, chunk):
        xb, yb = x[i : i + chunk], y[i : i + chunk]  # (b, T, V), (b, T)
        streams = model.encoder.levels(xb)  # [x_0 .. x_N], each (b, T, D)
        share = xb.shape[0] / batch  # this chunk's weight in the mean over all B·T steps (1.0: one pass)
        grads = torch.autograd.grad(share * _copy_loss(model, xb, yb, streams), streams + flat)
        stream_sq += torch.stack([gr.double().norm() ** 2 for gr in grads[: len(streams)]])
        for acc, gr in zip(weight_grads, grads[len(streams) :], strict=True):
            acc += gr
        del streams, grads  # this chunk's graph and stream gradients go before the next chunk's
    per_block = len(weights[0])
    name = PLACEMENT_NAMES[placement]
    rows = [
        {"placement": name, "layer": layer, "kind": "stream", "grad_norm": float(sq.sqrt())}
        for layer, sq in enumerate(stream_sq)
    ]
    rows += [
        {
            "placement": name,
            "layer": layer + 1,
            "kind": "weights",
            "grad_norm": float(
                torch.cat(
                    [g.double().flatten() for g in weight_grads[layer * per_block : (layer + 1) * per_block]]
                ).norm()
            ),
        }
        for layer in range(n_layers)
    ]
    return pd.DataFrame(rows)


def layernorm_gradients(n_layers: int, seed: int, *, d_model: int = 64) -> pd.DataFrame:
    """:func:`layernorm_gradient_probe` for all three placements, same seed, stacked."""
    return pd.concat(
        [layernorm_gradient_probe(p, n_layers, seed, d_model=d_model) for p in LN_ORDER], ignore_index=True
    )


def last_layer_ratio(depths, seeds, *, d_model: int = 64) -> pd.DataFrame:
    """||∂L/∂W|| of the last block's weights, Post-LN over Pre-LN, by depth, averaged over ``seeds``.

    For each depth and seed both placements share their weights (same seed). DataFrame: depth, series,
    ratio, with the measured mean ("Post-LN / Pre-LN") and the √N reference through the first depth's mean.
    ``attrs["exponents"]``: seed -> the fitted exponent p of ratio ~ N^p (log-log least squares over the
    depths), and ``attrs["exponent"]``: p fitted to the mean. The √N "law" is p = 1/2.
    """
    depths = [check_int("depth", d, 1, MAX_TRANSFORMER_LAYERS) for d in depths]
    seeds = [check_int("seed", s, 0, 2**63 - 1) for s in seeds]
    check_int("number of seeds", len(seeds), 1, 16)
    rows = []
    for depth in depths:
        for seed in seeds:
            last = {}
            for p in ("post", "pre"):
                df = layernorm_gradient_probe(p, depth, seed, d_model=d_model)
                last[p] = float(df[(df["kind"] == "weights") & (df["layer"] == depth)]["grad_norm"].iloc[0])
            rows.append({"depth": depth, "seed": seed, "ratio": last["post"] / last["pre"]})
    per_seed = pd.DataFrame(rows)
    mean = per_seed.groupby("depth", as_index=False)["ratio"].mean().assign(series="Post-LN / Pre-LN")
    N0, r0 = float(mean["depth"].iloc[0]), float(mean["ratio"].iloc[0])
    law = pd.DataFrame(
        {
            "depth": depths,
            "series": f"√N reference through N = {N0:g}",
            "ratio": sqrt_depth_law(np.asarray(depths, dtype=float), N0, r0),
        }
    )
    out = pd.concat([mean[["depth", "series", "ratio"]], law], ignore_index=True)
    if len(depths) > 1:
        out.attrs["exponents"] = {
            int(seed): loglog_slope(d["depth"], d["ratio"]) for seed, d in per_seed.groupby("seed", sort=True)
        }
        out.attrs["exponent"] = loglog_slope(mean["depth"], mean["ratio"])
    return out


def sublayer_jacobian_split(residual: Residual, x: torch.Tensor) -> dict:
    """The Jacobian J of one residual sublayer at x (1, T, D), next to the form its placement predicts.

    pre: J = I + J_{F∘LN}(x), so J − I is exactly the Jacobian of F(LN(x));
    post / deepnorm: J = J_LN(αx + F(x))·(αI + J_F(x)) (α = 1 for post).
    Returns J, the prediction, max |J − prediction| ("error") and ||J − I||_F / ||I||_F ("distance").
    """
    J = flat_jacobian(residual, x)
    eye = torch.eye(J.shape[0], dtype=J.dtype)
    F_, norm, alpha = residual.sublayer, residual.norm, residual.alpha
    if residual.placement == "pre":
        predicted = eye + flat_jacobian(lambda v: F_(norm(v)), x)
    else:
        J_ln = flat_jacobian(norm, alpha * x + F_(x))
        predicted = J_ln @ (alpha * eye + flat_jacobian(F_, x))
    return {
        "J": J,
        "predicted": predicted,
        "error": float((J - predicted).abs().max()),
        "distance": float((J - eye).norm() / eye.norm()),
    }


def jacobian_identity_table(seed: int, *, d_model: int = LN_JAC_WIDTH, T: int = LN_JAC_STEPS) -> pd.DataFrame:
    """Each placement's sublayer Jacobians (attention and MLP of one block) against their predicted form,
    in float64 at a random input; one row per (placement, sublayer) with the max error and ||J − I||_F/||I||_F."""
    forms = {"pre": "I + J of F(LN(x))", "post": "J_LN · (I + J_F)", "deepnorm": "J_LN · (α I + J_F)"}
    rows = []
    for p in PLACEMENTS:
        g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
        block = layernorm_tagger(p, 1, d_model, g, torch.float64).encoder.blocks[0]
        x = torch.randn(1, check_int("T", T, 1, 32), d_model, generator=g, dtype=torch.float64)
        for name, residual in (("attention", block.attention), ("MLP", block.mlp)):
            split = sublayer_jacobian_split(residual, x)
            rows.append(
                {
                    "placement": PLACEMENT_NAMES[p],
                    "sublayer": name,
                    "J equals": forms[p],
                    "max |J − form|": split["error"],
                    "‖J − I‖ / ‖I‖": split["distance"],
                }
            )
    return pd.DataFrame(rows)


def block_distance_from_identity(
    n_layers: int, seed: int, *, d_model: int = LN_JAC_WIDTH, T: int = LN_JAC_STEPS
) -> pd.DataFrame:
    """||J_l − I||_F / ||I||_F for every block l of a fresh float64 stack of each placement, J_l = ∂x_l/∂x_{l−1}
    taken at the block's own input on a copy-task sequence. DataFrame: placement, layer, distance."""
    n_layers = check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    rows = []
    for p in LN_ORDER:
        g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
        model = layernorm_tagger(p, n_layers, d_model, g, torch.float64)
        x, _ = copy_memory(1, LN_COPY_GAP, g, n_symbols=LN_COPY_SYMBOLS, length=LN_COPY_LENGTH)
        with torch.no_grad():
            streams = model.encoder.levels(x.double()[:, : check_int("T", T, 1, x.shape[1])])
        for layer, block in enumerate(model.encoder.blocks, start=1):
            J = flat_jacobian(block, streams[layer - 1])
            eye = torch.eye(J.shape[0], dtype=J.dtype)
            rows.append(
                {"placement": PLACEMENT_NAMES[p], "layer": layer, "distance": float((J - eye).norm() / eye.norm())}
            )
    return pd.DataFrame(rows)


LN_TRAIN_PLACEMENTS = ("post", "pre")


LN_SCHEDULES = {"no warm-up": "constant rate", "warm-up": "warm-up, then linear decay"}  # panel -> what it does


LN_BASELINE = copy_memory_loss(LN_COPY_GAP, LN_COPY_LENGTH, 1 / LN_COPY_SYMBOLS)  # blanks right, symbols guessed


LN_SOLVED = copy_memory_loss(LN_COPY_GAP, LN_COPY_LENGTH, 0.9)  # every symbol recalled with probability 0.9


def layernorm_model(placement: str, n_layers: int, d_model: int, seed: int) -> SequenceTagger:
    """A Transformer tagger for the LayerNorm copy task from the init generator of ``seed``:
    one-hot (B, T, LN_COPY_SYMBOLS + 2) -> logits (B, T, LN_COPY_SYMBOLS + 1)."""
    init, _ = split_seed(seed)
    return layernorm_tagger(placement, n_layers, d_model, init)


def layernorm_series(placement: str, panel: str) -> str:
    """Series name of one run, e.g. "Post-LN, no warm-up"."""
    return f"{'Post-LN' if placement == 'post' else 'Pre-LN'}, {panel}"


def layernorm_race(
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    n_layers: int = 6,
    d_model: int = 64,
    warmup_steps: int = 200,
    pre_ln_warmup: bool = True,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Four run factories: Post-LN and Pre-LN, each at ``config.lr`` from the first step ("no warm-up")
    and with ``warmup_steps`` of linear warm-up followed by linear decay to 0 ("warm-up"). Without
    ``pre_ln_warmup`` the Pre-LN warm-up run is left out (three runs: a quarter less compute).

    All four share the seed: the same initial weights (up to placement) and the same copy-memory batches
    (LN_COPY_LENGTH symbols, LN_COPY_GAP blanks, replay). ``config``'s own schedule is replaced. Arguments
    are checked here, before anything is built.
    """
    check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0, config.steps)
    schedules = {
        "no warm-up": replace(config, warmup_steps=0, schedule="constant"),
        "warm-up": replace(config, warmup_steps=warmup_steps, schedule="linear"),
    }
    layernorm_model("pre", n_layers, d_model, seed)  # checks d_model and seed now, not at Start

    def factory(placement: str, panel: str):
        return lambda: copy_memory_run(
            layernorm_model(placement, n_layers, d_model, seed),
            LN_COPY_GAP,
            schedules[panel],
            seed,
            device,
            n_symbols=LN_COPY_SYMBOLS,
            length=LN_COPY_LENGTH,
        )

    return {
        layernorm_series(p, panel): factory(p, panel)
        for panel in LN_SCHEDULES
        for p in LN_TRAIN_PLACEMENTS
        if pre_ln_warmup or (p, panel) != ("pre", "warm-up")
    }


def layernorm_panels(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a live history of :func:`layernorm_race` into its two panels ("no warm-up", "warm-up"),
    each with ``series`` reduced to the placement ("Post-LN", "Pre-LN") so colours match across panels."""
    out = {}
    for panel in LN_SCHEDULES:
        rows = history[history["series"].str.endswith(", " + panel)] if len(history) else history
        out[panel] = rows.assign(series=rows["series"].str.split(",").str[0]) if len(rows) else rows
    return out


# --- the lecture demo: sizes, verdict ------------------------------------------------------------------------

SIZES = {  # widget key -> value of the race's widgets
    LECTURE: {"lr": 5e-3, "warmup": 100, "steps": 300, "layers": 4, "pre_warmup": False},
    FULL: {"lr": 5e-3, "warmup": 200, "steps": 600, "layers": 6, "pre_warmup": True},
}


def race_verdict(history: pd.DataFrame, finished: bool) -> Verdict | None:
    """Post-LN against Pre-LN without warm-up, and Post-LN with warm-up, in one sentence.

    Decided once Pre-LN (no warm-up) has solved the task while Post-LN (no warm-up) has not, or at the end.
    Expected: Pre-LN solves it, Post-LN without warm-up does not.
    """
    pre, post, post_w = (
        layernorm_series(p, s) for p, s in (("pre", "no warm-up"), ("post", "no warm-up"), ("post", "warm-up"))
    )
    pre_at, post_at = solved_step(history, pre, LN_SOLVED), solved_step(history, post, LN_SOLVED)
    if not finished and (pre_at is None or post_at is not None):
        return None
    n = steps_run(history, post)
    if pre_at:
        text = f"Without warm-up, Pre-LN solved copy memory at step {pre_at}"
    else:
        text = f"Without warm-up, Pre-LN did not solve copy memory in {steps_run(history, pre)} steps"
    if post_at is None:
        text += f" while Post-LN's loss was still {fmt(recent_loss(history, post))} at step {n}"
        text += f" (baseline {LN_BASELINE:.2g})"
    else:
        text += f", and Post-LN solved it too, at step {post_at}"
    if post_w in set(history["series"]):
        w_at = solved_step(history, post_w, LN_SOLVED)
        if w_at:
            text += f"; with warm-up, Post-LN solved it at step {w_at}."
        else:
            w_n, w_loss = steps_run(history, post_w), fmt(recent_loss(history, post_w))
            text += f"; with warm-up, Post-LN had not by step {w_n} (loss {w_loss})."
    else:
        text += "."
    return Verdict(pre_at is not None and post_at is None, text)


VERSION = 1  # bump when a change to this module changes the numbers of a run with the same settings
DEFAULTS = dict(SIZES[LECTURE])  # the race's widgets at the page's defaults
TRAIN_WIDTH = 64  # d_model of the trained models (the width the default learning rate was chosen for)
RACE_BATCH = 32  # sequences per step


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """Post-LN against Pre-LN, with and without warm-up, from the page's widget values (keys of DEFAULTS;
    missing ones take the defaults): what the page's Start button runs. A warm-up longer than the run is cut
    to the run's steps (the key holds the warm-up that runs). ``info``: the loss lines, the two panels'
    schedules and that warm-up."""
    v = resolve(values, DEFAULTS, "layernorm")
    steps = check_int("steps", v["steps"], 1, MAX_STEPS)
    v["warmup"] = min(check_int("warmup", v["warmup"], 0, MAX_STEPS), steps)
    config = TrainConfig(steps=steps, lr=v["lr"], batch=RACE_BATCH)
    factories = layernorm_race(
        config,
        seed,
        device,
        n_layers=v["layers"],
        d_model=TRAIN_WIDTH,
        warmup_steps=v["warmup"],
        pre_ln_warmup=bool(v["pre_warmup"]),
    )
    info = {
        "baseline": LN_BASELINE,
        "solved": LN_SOLVED,
        "y_title": "cross-entropy per step (log)",
        "schedules": dict(LN_SCHEDULES),
        "warmup": v["warmup"],
    }
    key = demo_key("layernorm", VERSION, v, seed, device)
    return Demo(factories, steps, race_verdict, key, info, describe(v, seed))
