"""Page "Attention" (seed: "The Attention Mechanism").

A GRU encoder-decoder with and without additive attention: encoder gradient norms at every source
position (total, and through the context vector only), the attention map and the race on sequence
reversal. The cost of self-attention in time and memory is in :mod:`lrd_core.experiments.attention_cost`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.formats import pct
from lrd_core.gradients import grad_norms_through_time
from lrd_core.history import best_metric, first_at_least, steps_run
from lrd_core.limits import (
    MAX_BATCH,
    MAX_SEQ2SEQ_LEN,
    MAX_SEQ2SEQ_TRAIN_LEN,
)
from lrd_core.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_loss
from lrd_core.task_runs import heldout_run, probed
from lrd_core.tasks import symbol_sequences
from lrd_core.train import StepEvent, TrainConfig, split_seed
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
RACE_SCORES = ("additive", "dot")  # the attention model's score (the other model has none)
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


VERSION = 1  # bump when the race's code changes the numbers a run gives (part of every Demo key)
DEFAULTS = {**SIZES[LECTURE], "H": 64, "score": "additive"}  # and the sidebar's H and score at their defaults


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The reversal race (:func:`attention_race`, no attention against attention) with the page's widget values
    (keys of DEFAULTS; missing ones take the defaults): what the page's Start button runs.

    ``info``: ``maps``, a dict the attention model's training thread fills with its :func:`attention_map` at
    every evaluation (``maps["attention"]``, empty until the first), ``n_symbols`` and ``train_T``.
    """
    v = resolve(values, DEFAULTS, "attention")
    check_choice("score", v["score"], RACE_SCORES)
    model_config = Seq2SeqConfig(RACE_SYMBOLS, RACE_EMBED, v["H"], v["score"])
    maps: dict[str, pd.DataFrame] = {}
    config = race_config(v["steps"], v["lr"])
    factories = attention_race(v["train_T"], model_config, config, seed, device, keep=maps)
    judge = partial(race_verdict, T=v["train_T"], n_symbols=RACE_SYMBOLS)
    info = {"maps": maps, "n_symbols": RACE_SYMBOLS, "train_T": v["train_T"]}
    key = demo_key("attention", VERSION, v, seed, device)
    return Demo(factories, v["steps"], judge, key, info, describe(v, seed))


def race_config(steps: int, lr: float) -> TrainConfig:
    """The race's training settings: Adam at ``lr``, batches of 64 fresh sequences."""
    return TrainConfig(steps=steps, lr=lr, batch=64)
