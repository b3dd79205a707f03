"""Page "Attention" (seed: "The Attention Mechanism").

A GRU encoder-decoder with and without additive attention: encoder gradient norms at every source
position (total, and through the context vector only), the attention map, the cost of self-attention in
time and memory (the naive L x L formula next to PyTorch's memory-efficient fused kernel, with the counts
that predict both), and the race on sequence reversal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core import theory
from lrd_core.gradients import grad_norms_through_time, loglog_slope, saved_bytes
from lrd_core.lecture import FULL, LECTURE, Demo, best_metric, first_at_least, pct, steps_run
from lrd_core.limits import (
    MAX_ATTENTION_COST_LEN,
    MAX_BATCH,
    MAX_PROBE_BYTES,
    MAX_SEQ2SEQ_LEN,
    MAX_SEQ2SEQ_TRAIN_LEN,
)
from lrd_core.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_loss
from lrd_core.models.transformer import self_attention
from lrd_core.task_runs import heldout_run, probed
from lrd_core.tasks import symbol_sequences
from lrd_core.train import StepEvent, TrainConfig, Verdict, split_seed
from lrd_core.validate import check_choice, check_int

ATTENTION_SERIES = ("no attention", "attention: total", "attention: through c_s only")


def shared_seq2seq_pair(config: Seq2SeqConfig, generator: torch.Generator) -> tuple[Seq2Seq, Seq2Seq]:
    """(without, with) attention, float64, with identical weights everywhere except attention's own.

    The attention model is drawn from ``generator``; the other one is a copy of
    its common weights. ``config.attention`` must not be "none".
    """
    if config.attention == "none":
        raise ValueError("attention must be 'additive' or 'dot' for the pair, got 'none'")
    with_attn = Seq2Seq(config, generator).double()
    without = Seq2Seq(replace(config, attention="none"), torch.Generator().manual_seed(0)).double()
    result = without.load_state_dict(with_attn.state_dict(), strict=False)  # only attn.* is left out
    assert not result.missing_keys and all(k.startswith("attn.") for k in result.unexpected_keys)
    return without, with_attn


def _encoder_grads(model: Seq2Seq, src: torch.Tensor, tgt: torch.Tensor, through: str) -> torch.Tensor:
    """||dL/dh_t|| for every source position -> (B, T); L = summed cross-entropy of the teacher-forced outputs.

    ``through="total"``: the total derivative at h_t = [h→_t ; h←_t] (all paths,
    recurrent ones included). ``through="attention"``: only the path through
    the context vectors c_s (the gradient at attention's own handle on h_t).
    """
    enc = model.encode(src)
    logits, _ = model.decode(enc, tgt.shape[1], tgt)
    loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), reduction="sum")  # (B*S, V) vs (B*S,)
    if through == "attention":
        return grad_norms_through_time(enc.rows, loss)  # (B, T)
    T = src.shape[1]
    norms = grad_norms_through_time(enc.forward_states + enc.backward_states, loss)  # (B, T) or (B, 2T)
    return norms[:, :T].hypot(norms[:, T:]) if enc.backward_states else norms  # both directions: one norm


def encoder_gradient_probe(
    T: int,
    seed: int,
    *,
    hidden: int = 64,
    embed: int = 32,
    n_symbols: int = 8,
    attention: str = "additive",
    bidirectional: bool = False,
    batch: int = 1,
) -> pd.DataFrame:
    """||dL/dh_t|| at every encoder position, without and with attention, same weights, same input.

    From ``torch.Generator(seed)``: the attention model's weights, then
    ``batch`` reversal sequences of length T. Float64. The model without
    attention reaches the encoder only through the decoder's initial state
    d_0 = tanh(W_0 h_final), so its learning signal to h_t must run back T - t
    recurrent steps; the one with attention also has the one-step path
    L -> c_s -> h_t. Tidy rows: ``series`` (see ATTENTION_SERIES), ``model``,
    ``sample``, ``t`` (1..T), ``distance`` (T - t) and ``grad_norm``.
    """
    seed = check_int("seed", seed, 0, 2**63 - 1)
    T = check_int("T", T, 2, MAX_SEQ2SEQ_LEN)
    batch = check_int("batch", batch, 1, MAX_BATCH)
    config = Seq2SeqConfig(n_symbols, embed, hidden, attention, bidirectional)
    g = torch.Generator().manual_seed(seed)
    without, with_attn = shared_seq2seq_pair(config, g)
    src, tgt = symbol_sequences(batch, T, g, n_symbols, "reverse")
    measured = {
        ATTENTION_SERIES[0]: ("no attention", _encoder_grads(without, src, tgt, "total")),
        ATTENTION_SERIES[1]: ("attention", _encoder_grads(with_attn, src, tgt, "total")),
        ATTENTION_SERIES[2]: ("attention", _encoder_grads(with_attn, src, tgt, "attention")),
    }
    t = np.arange(1, T + 1)
    frames = [
        pd.DataFrame(
            {
                "series": name,
                "model": model,
                "sample": b,
                "t": t,
                "distance": T - t,
                "grad_norm": norms[b].detach().cpu().numpy(),
            }
        )
        for name, (model, norms) in measured.items()
        for b in range(batch)
    ]
    return pd.concat(frames, ignore_index=True)


def edge_ratio(df: pd.DataFrame, k: int = 10) -> pd.Series:
    """Per series: mean ||dL/dh_t|| over the first k positions / mean over the last k (1 = flat, tiny = vanished)."""
    k = check_int("k", k, 1, MAX_SEQ2SEQ_LEN)

    def ratio(d: pd.DataFrame) -> float:
        by_t = d.groupby("t")["grad_norm"].mean().sort_index()
        return float(by_t.head(k).mean() / by_t.tail(k).mean())

    return pd.Series({name: ratio(d) for name, d in df.groupby("series", sort=False)}, name="first/last")


@torch.no_grad()
def attention_map(model: Seq2Seq, src: torch.Tensor) -> pd.DataFrame:
    """Attention weights of greedy decoding of ONE source sequence src (1, T) -> tidy rows.

    Columns: ``s`` (output step, 1..T), ``t`` (source position, 1..T), ``alpha``,
    ``source`` (symbol at t), ``output`` (symbol emitted at s).
    """
    if model.attn is None:
        raise ValueError("model has no attention (config.attention is 'none')")
    if src.ndim != 2 or src.shape[0] != 1:
        raise ValueError(f"src must have shape (1, T), got {tuple(src.shape)}")
    was_training = model.training
    model.eval()
    out, alpha = model.greedy(src)  # (1, S), (1, S, T)
    model.train(was_training)
    S, T = alpha.shape[1:]
    s, t = np.meshgrid(np.arange(1, S + 1), np.arange(1, T + 1), indexing="ij")  # (S, T) each
    return pd.DataFrame(
        {
            "s": s.ravel(),
            "t": t.ravel(),
            "alpha": alpha[0].double().cpu().numpy().ravel(),
            "source": src[0].cpu().numpy()[t.ravel() - 1],
            "output": out[0].cpu().numpy()[s.ravel() - 1],
        }
    )


COST_METHODS = {  # method key -> the series name the page shows
    "naive": "naive: builds the L × L matrix",
    "sdpa": "F.scaled_dot_product_attention",
}


def sdpa_attention(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor) -> torch.Tensor:
    """:func:`self_attention` through PyTorch's fused kernel: x (B, L, D) -> (B, L, D), same maths.

    ``F.scaled_dot_product_attention`` picks a memory-efficient kernel where one exists (on the CPU its
    FlashAttention-style kernel): A = softmax(QKᵀ/√D) is computed block by block and never stored whole.
    """
    q, k, v = (  # (B, 1, L, D) each: one head
        (x @ W).unsqueeze(1) for W in (W_q, W_k, W_v)
    )
    return F.scaled_dot_product_attention(q, k, v).squeeze(1)  # (B, L, D)


def naive_attention_peak_bytes(L: int, d_model: int = 64) -> int:
    """Peak bytes of one forward + backward pass of the naive :func:`self_attention`, x (1, L, D), float32.

    Three L x L matrices are alive at once in the backward pass: A = softmax(S) (kept for the backward),
    ∂L/∂A (from A·V) and ∂L/∂S (the softmax's backward); next to them x, Q, K, V, the output and their
    gradients, 8·L·D, and the three weights and their gradients, 6·D². bytes = 4·(3L² + 8LD + 6D²).
    At D = 64: 52 MB at L = 2048, 201 MB at L = 4096 (measured peak RSS: about 58 and 204 MB).
    """
    L = check_int("L", L, 1, MAX_ATTENTION_COST_LEN)
    D = check_int("d_model", d_model, 1, 1024)
    return 4 * (3 * L * L + 8 * L * D + 6 * D * D)


def longest_timed_length(max_L: int, d_model: int = 64, max_bytes: int = MAX_PROBE_BYTES) -> int:
    """The largest power of two <= ``max_L`` whose :func:`naive_attention_peak_bytes` fits ``max_bytes``
    (at least 64, the shortest length the page times): the longest L the cost chart may time."""
    max_L = check_int("max_L", max_L, 64, MAX_ATTENTION_COST_LEN)
    L = 1 << (max_L.bit_length() - 1)
    while L > 64 and naive_attention_peak_bytes(L, d_model) > max_bytes:
        L //= 2
    return L


def self_attention_cost(lengths, d_model: int = 64, seed: int = 0, repeats: int = 3) -> pd.DataFrame:
    """Measured forward + backward seconds (fastest of ``repeats``) and autograd memory of self-attention per L,
    by the naive formula (:func:`self_attention`) and by :func:`sdpa_attention`, on the same x and weights.

    Tidy rows: ``L``, ``method`` (a key of COST_METHODS), ``series`` (its name), ``seconds``,
    ``saved_bytes`` (storage autograd keeps for the backward pass, measured with saved-tensor hooks) and
    ``flops`` (multiply-adds, :func:`lrd_core.theory.attention_flops`, the same for both). Batch 1,
    float32, one head of width ``d_model``, on the CPU.
    """
    lengths = [check_int("L", v, 2, MAX_ATTENTION_COST_LEN) for v in lengths]
    d_model = check_int("d_model", d_model, 1, 1024)
    repeats = check_int("repeats", repeats, 1, 20)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    W = [torch.randn(d_model, d_model, generator=g) / d_model**0.5 for _ in range(3)]  # W_q, W_k, W_v
    fns = {"naive": self_attention, "sdpa": sdpa_attention}
    rows = []
    for L in lengths:
        x = torch.randn(1, L, d_model, generator=g, requires_grad=True)  # (1, L, D)
        flops = sum(theory.attention_flops(L, d_model).values())
        for method, fn in fns.items():
            best, saved = float("inf"), 0
            for _ in range(repeats):
                start = time.perf_counter()
                out, saved = saved_bytes(lambda x=x, fn=fn: fn(x, *W))
                out.sum().backward()
                best = min(best, time.perf_counter() - start)
                x.grad = None
            rows.append(
                {
                    "L": L,
                    "method": method,
                    "series": COST_METHODS[method],
                    "seconds": best,
                    "saved_bytes": saved,
                    "flops": flops,
                }
            )
    return pd.DataFrame(rows)


def cost_slopes(cost: pd.DataFrame, d_model: int = 64) -> pd.DataFrame:
    """Log-log slopes of a :func:`self_attention_cost` table, each fitted only where its leading term dominates.

    For each method and quantity ("seconds": the count :func:`lrd_core.theory.attention_flops`, leading term
    the L² scores; "saved_bytes": :func:`lrd_core.theory.attention_saved_floats`, leading term A for "naive"
    and the terms growing with L for "sdpa") the fit uses the L where the leading term is at least
    ``theory.DOMINANT_SHARE`` of the count. Rows: method, quantity, L_from, L_to, points, measured (slope of
    the measurement), model (slope of the count over the same L), asymptotic (its exponent as L -> ∞),
    dominated (False when fewer than two L qualify: then the two largest L are fitted).
    """
    rows = []
    for method, d in cost.groupby("method", sort=False):
        d = d.sort_values("L")
        L = d["L"].to_numpy(dtype=float)
        models = {
            "seconds": (theory.attention_flops(L, d_model), ("scores and A·V",), 2.0),
            "saved_bytes": (
                theory.attention_saved_floats(L, d_model, method),
                ("A (L x L)",) if method == "naive" else ("Q, K, V and output", "log-sum-exp"),
                2.0 if method == "naive" else 1.0,
            ),
        }
        for quantity, (terms, leading, asymptotic) in models.items():
            mask = theory.dominant_mask(terms, leading)
            dominated = bool(mask.sum() >= 2)
            if not dominated:  # too few sizes where the leading term dominates: fit the largest two
                mask = np.sort(L)[-2] <= L
            count = sum(terms.values())
            rows.append(
                {
                    "method": method,
                    "quantity": quantity,
                    "L_from": int(L[mask].min()),
                    "L_to": int(L[mask].max()),
                    "points": int(mask.sum()),
                    "measured": loglog_slope(L[mask], d[quantity].to_numpy(dtype=float)[mask]),
                    "model": loglog_slope(L[mask], count[mask]),
                    "asymptotic": asymptotic,
                    "dominated": dominated,
                }
            )
    return pd.DataFrame(rows)


TIME_MODEL = "model: 3·L·D² + 2·L²·D multiply-adds, through the largest naive L"
MEMORY_MODELS = {"naive": "model (naive): 4·(L² + 3LD + 3D²) bytes", "sdpa": "model (sdpa): 4·(4LD + L + 3D²) bytes"}


def cost_with_models(cost: pd.DataFrame, d_model: int = 64) -> dict[str, pd.DataFrame]:
    """The :func:`self_attention_cost` table with the models added as series, one frame per quantity.

    "seconds": the multiply-add count scaled through the naive time at the largest L (TIME_MODEL);
    "saved_bytes": 4 bytes per float of :func:`lrd_core.theory.attention_saved_floats` for each method
    (MEMORY_MODELS), unscaled. Columns L, series and the quantity.
    """
    L = np.sort(cost["L"].unique()).astype(float)
    ref = cost[(cost["method"] == "naive") & (cost["L"] == L[-1])].iloc[0]
    flops = sum(theory.attention_flops(L, d_model).values())
    models = {
        "seconds": [pd.DataFrame({"L": L, "series": TIME_MODEL, "seconds": flops * ref["seconds"] / ref["flops"]})],
        "saved_bytes": [
            pd.DataFrame(
                {"L": L, "series": name, "saved_bytes": 4 * sum(theory.attention_saved_floats(L, d_model, m).values())}
            )
            for m, name in MEMORY_MODELS.items()
        ],
    }
    return {q: pd.concat([cost[["L", "series", q]], *frames], ignore_index=True) for q, frames in models.items()}


SEQ2SEQ_SERIES = {"no attention": "none", "attention": "additive"}  # series name -> Seq2SeqConfig.attention


def seq2seq_model(config: Seq2SeqConfig, seed: int) -> Seq2Seq:
    """A :class:`Seq2Seq` initialised from ``seed``; with and without attention they share every common weight."""
    init, _ = split_seed(seed)
    return Seq2Seq(config, init)


@torch.no_grad()
def greedy_accuracy(model: Seq2Seq, src: torch.Tensor, tgt: torch.Tensor) -> float:
    """Share of output symbols that free-running (greedy) decoding gets right; 1/V is chance."""
    pred, _ = model.greedy(src, tgt.shape[1])
    return float((pred == tgt).double().mean())


def reversal_run(
    model: Seq2Seq,
    T: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    task: str = "reverse",
    eval_every: int = 25,
    eval_batch: int = 256,
) -> Iterator[StepEvent]:
    """Train ``model`` on fresh batches of length-T symbol sequences to reverse (or copy), teacher-forced.

    Every ``eval_every`` steps (and at the end) ``metrics["accuracy"]`` is the
    greedy (free-running) token accuracy on one held-out batch of ``eval_batch``
    sequences, drawn first from the data generator of ``seed``.
    """
    T = check_int("T", T, 1, MAX_SEQ2SEQ_TRAIN_LEN)
    V = model.config.n_symbols

    def draw(batch: int, g: torch.Generator):
        src, tgt = symbol_sequences(batch, T, g, V, task)
        return (src, tgt), tgt  # the decoder is teacher-forced on tgt

    return heldout_run(
        model,
        draw,
        seq2seq_loss,
        lambda m, x, y: greedy_accuracy(m, x[0], y),
        config,
        seed,
        device,
        eval_every,
        eval_batch,
    )


def attention_race(
    T: int,
    model_config: Seq2SeqConfig,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    keep: dict | None = None,
    task: str = "reverse",
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories "no attention" and "attention": same seed, shared initial weights, same batches, same budget.

    ``model_config.attention`` picks the attention kind ("none" is replaced by
    "additive"). With ``keep``, the attention model's :func:`attention_map` on one
    fixed source sequence (drawn from ``seed``) is stored in ``keep["attention"]``
    at every evaluation, computed by the thread that trains (see
    :func:`lrd_core.task_runs.probed`). Arguments are checked here.
    """
    check_int("T", T, 1, MAX_SEQ2SEQ_TRAIN_LEN)
    check_choice("task", task, ("reverse", "copy"))
    kind = model_config.attention if model_config.attention != "none" else "additive"
    configs = {
        "no attention": replace(model_config, attention="none"),
        "attention": replace(model_config, attention=kind),
    }

    def factory(name: str):
        def start():
            model = seq2seq_model(configs[name], seed)
            run = reversal_run(model, T, config, seed, device, task=task)
            if keep is None or model.attn is None:
                return run
            src = symbol_sequences(1, T, torch.Generator().manual_seed(seed), model.config.n_symbols, task)[0]

            def probe() -> pd.DataFrame:
                return attention_map(model, src.to(next(model.parameters()).device))

            return probed(run, probe, keep, name)

        return start

    return {name: factory(name) for name in configs}


# --- the lecture demo: sizes, verdict ------------------------------------------------------------------------

RACE_SYMBOLS, RACE_EMBED = 8, 32  # the race's alphabet (reversal task) and symbol embedding size
LEARNED = 0.9  # greedy token accuracy that counts as "reverses the sequence"
SIZES = {  # widget key -> value of the race's widgets (H and the score stay the sidebar's)
    LECTURE: {"train_T": 20, "steps": 300, "lr": 1e-2},
    FULL: {"train_T": 20, "steps": 500, "lr": 3e-3},
}
FULL_SIZE_CHECKED = "by a slow test on seed 0 (seeds 0-4 held when measured once, bench/claims_spread.py)"


def race_verdict(history: pd.DataFrame, finished: bool, *, T: int, n_symbols: int) -> Verdict | None:
    """Attention against no attention on reversal, in one sentence. Decided once the attention model has
    reached LEARNED greedy accuracy while the other is below half of it, or at the end. Expected: attention
    reaches LEARNED, no attention does not."""
    with_at = first_at_least(history, "attention", "accuracy", LEARNED)
    without = best_metric(history, "no attention", "accuracy")
    if not finished and (with_at is None or not without < LEARNED / 2):
        return None
    chance = f"chance {pct(1 / n_symbols)}"
    if with_at is not None:
        text = f"With attention the model reversed {T} symbols at {pct(LEARNED)} token accuracy by step {with_at}"
    else:
        best = best_metric(history, "attention", "accuracy")
        text = f"With attention the model reached {pct(best)} on {T} symbols in {steps_run(history, 'attention')} steps"
    text += f"; without attention the best was {pct(without)} ({chance})."
    return Verdict(with_at is not None and without < LEARNED, text)


def lecture_demo(seed: int, size: str = LECTURE, device: str = "cpu", *, hidden: int = 64) -> Demo:
    """What the attention page's Start button runs at ``size`` (the sidebar at its defaults)."""
    v = SIZES[size]
    model_config = Seq2SeqConfig(RACE_SYMBOLS, RACE_EMBED, hidden, "additive")
    factories = attention_race(v["train_T"], model_config, race_config(v["steps"], v["lr"]), seed, device)
    return Demo(factories, v["steps"], partial(race_verdict, T=v["train_T"], n_symbols=RACE_SYMBOLS))


def race_config(steps: int, lr: float) -> TrainConfig:
    """The race's training settings: Adam at ``lr``, batches of 64 fresh sequences."""
    return TrainConfig(steps=steps, lr=lr, batch=64)
