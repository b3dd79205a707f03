"""Page "Long context" (seed: "The Transformer Era and its Practical Limits", "Extending the Transformer's Reach").

Characters per token of character-level vs BPE tokenization (and the reach in characters that a fixed
token window buys), the tokens drawn as boxes, a segment-level Transformer's attention across the segment
boundary, and the race of a sliding window against segment recurrence (Transformer-XL) on delayed recall.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import torch

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.formats import pct
from lrd_core.history import best_metric, first_at_least
from lrd_core.limits import MAX_SEGMENT_LEN, MAX_SEGMENTS
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.segment import MODE_NAMES, SegmentConfig, SegmentTransformer
from lrd_core.task_runs import heldout_run, parity_accuracy, parity_loss, probed
from lrd_core.tasks import segment_recall
from lrd_core.theory import signal_magnitude, signal_over_chars, tokens_for_chars
from lrd_core.tokenize import CORPORA, VOCAB_SIZES, bpe_tokenizer, chars_per_token, corpus_split, token_distance
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_int


def tokenization_table(vocab_sizes=VOCAB_SIZES, corpora=CORPORA) -> pd.DataFrame:
    """Chars per token of byte-level BPE, trained on each corpus at each vocabulary size and measured on
    that corpus's held-out text. DataFrame: corpus, vocab_size, chars_per_token."""
    rows = []
    for corpus in corpora:
        held_out = corpus_split(corpus)[1]
        for V in vocab_sizes:
            tok = bpe_tokenizer(V, corpus)
            rows.append({"corpus": corpus, "vocab_size": V, "chars_per_token": chars_per_token(tok, held_out)})
    return pd.DataFrame(rows)


def signal_over_chars_frame(rho: float, distances, vocab_size: int, corpus: str = "english") -> pd.DataFrame:
    """The recurrent signal ρ^(tokens − 1) across D characters of held-out ``corpus`` text, characters vs BPE.

    For each tokenizer, "measured" counts the tokens really spanned (1 + :func:`token_distance`) and
    "closed form" uses 1 + D / c (:func:`lrd_core.theory.tokens_for_chars`). DataFrame: tokenizer, series,
    kind, D, tokens, signal.
    """
    held_out = corpus_split(corpus)[1]
    tokenizers = {"characters": None, f"BPE {vocab_size:,}": bpe_tokenizer(vocab_size, corpus)}
    rows = []
    for name, tok in tokenizers.items():
        c = chars_per_token(tok, held_out)
        spans = 1 + token_distance(tok, held_out, np.asarray(distances, dtype=np.int64))  # tokens, ends included
        for D, spanned in zip(distances, spans, strict=True):
            D = int(D)
            rows.append(
                {
                    "tokenizer": name,
                    "series": f"{name}, measured",
                    "kind": "measured",
                    "D": D,
                    "tokens": spanned,
                    "signal": float(signal_magnitude(rho, spanned)),
                }
            )
            rows.append(
                {
                    "tokenizer": name,
                    "series": f"{name}, closed form",
                    "kind": "closed form",
                    "D": D,
                    "tokens": tokens_for_chars(D, c),
                    "signal": signal_over_chars(rho, D, c),
                }
            )
    return pd.DataFrame(rows)


def window_reach_table(windows, vocab_sizes=VOCAB_SIZES, corpora=CORPORA) -> pd.DataFrame:
    """Characters covered by a window of W tokens: W·c (closed form) and the mean over every run of W
    consecutive tokens of held-out text (measured). DataFrame: corpus, vocab_size, W, chars_per_token,
    closed_form, measured (NaN when the held-out text has fewer than W tokens)."""
    windows = [check_int("W", W, 1, 100_000) for W in windows]
    rows = []
    for corpus in corpora:
        held_out = corpus_split(corpus)[1]
        for V in vocab_sizes:
            offsets = np.array(bpe_tokenizer(V, corpus).encode(held_out).offsets, dtype=np.int64)  # (n_tokens, 2)
            c = len(held_out) / len(offsets)
            for W in windows:
                spans = offsets[W - 1 :, 1] - offsets[: len(offsets) - W + 1, 0]  # chars of each run of W tokens
                rows.append(
                    {
                        "corpus": corpus,
                        "vocab_size": V,
                        "W": W,
                        "chars_per_token": c,
                        "closed_form": W * c,
                        "measured": float(spans.mean()) if len(spans) else float("nan"),
                    }
                )
    return pd.DataFrame(rows)


def visible(piece: str) -> str:
    """A token's text with its whitespace made visible: space ·, newline ↵, tab →."""
    return piece.replace(" ", "·").replace("\n", "↵").replace("\t", "→").replace("\r", "␍")


def token_boxes(pieces: list[str], width: int = 72, max_rows: int = 30) -> pd.DataFrame:
    """Lay tokens out like text for drawing as boxes: left to right, wrapping at ``width`` characters and
    after a newline, up to ``max_rows`` rows. DataFrame: token (index), piece, shown (whitespace visible),
    row, col, length (≥ 1: a byte token holding part of a character shows as "…"), band (index mod 2)."""
    width = check_int("width", width, 8, 400)
    max_rows = check_int("max_rows", max_rows, 1, 1000)
    rows, row, col = [], 0, 0
    for k, piece in enumerate(pieces):
        length = max(1, len(visible(piece)))
        if col > 0 and col + length > width:
            row, col = row + 1, 0
        if row >= max_rows:
            break
        rows.append(
            {
                "token": k,
                "piece": piece,
                "shown": visible(piece) or "…",
                "row": row,
                "col": col,
                "length": min(length, width),
                "band": k % 2,
            }
        )
        col += length
        if "\n" in piece:
            row, col = row + 1, 0
    return pd.DataFrame(rows, columns=["token", "piece", "shown", "row", "col", "length", "band"])


@torch.no_grad()
def segment_attention(model: SequenceTagger, delay: int, T: int, seed: int) -> pd.DataFrame:
    """Where the query looks: the attention weights of the query step of one delayed-recall sequence
    (drawn from ``seed``), per layer and head, over every key it can see (memory, then its own segment).

    DataFrame: row ("layer l · head h"), layer, head, key (absolute position), alpha, memory (key is
    cached from an earlier segment). ``attrs``: cue, query (positions), boundary (first position of the
    query's segment), answer, prediction.
    """
    encoder = model.encoder
    if not isinstance(encoder, SegmentTransformer):
        raise ValueError(f"model.encoder must be a SegmentTransformer, got {type(encoder).__name__}")
    device = next(model.parameters()).device
    n_symbols = model.head.out_features
    x, y = segment_recall(1, T, delay, torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1)), n_symbols)
    x = x.to(device)  # (1, T, n_symbols + 2)
    query = int((y[0] >= 0).nonzero()[0, 0])
    was_training = model.training
    model.eval()
    out, weights = encoder.run(x)  # (1, T, D), per segment per layer (1, H, S, M + S)
    prediction = int(model.head(out[0, query]).argmax())
    model.train(was_training)
    S = encoder.config.segment_len
    k = query // S
    rows = []
    for layer, w in enumerate(weights[k], start=1):
        alpha = w[0, :, query - k * S].double().cpu().numpy()  # (H, M + S)
        first = k * S - (alpha.shape[1] - w.shape[2])  # absolute position of the first key
        for h in range(alpha.shape[0]):
            keys = np.arange(first, first + alpha.shape[1])
            rows.append(
                pd.DataFrame(
                    {
                        "row": f"layer {layer} · head {h + 1}",
                        "layer": layer,
                        "head": h + 1,
                        "key": keys,
                        "alpha": alpha[h],
                        "memory": keys < k * S,
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    frame = frame[frame["key"] <= query].reset_index(drop=True)  # causal: later keys have weight 0
    frame.attrs.update(cue=query - delay, query=query, boundary=k * S, answer=int(y[0, query]), prediction=prediction)
    return frame


SEGMENT_SYMBOLS = 8  # delayed recall across segments: one of 8 symbols, chance 1/8


def segment_recall_length(delay: int, segment_len: int) -> int:
    """Sequence length for a delay: whole segments, S·(⌊delay / S⌋ + 1), so the query of every cue lies
    ⌊delay / S⌋ or ⌊delay / S⌋ + 1 segments after it."""
    S = check_int("segment_len", segment_len, 1, MAX_SEGMENT_LEN)
    delay = check_int("delay", delay, 1, S * MAX_SEGMENTS - 1)
    return S * (delay // S + 1)


def segment_model(config: SegmentConfig, seed: int, n_symbols: int = SEGMENT_SYMBOLS) -> SequenceTagger:
    """A :class:`SegmentTransformer` with a classifier over ``n_symbols`` at every step, initialised from
    ``seed``: one-hot (B, T, n_symbols + 2) -> logits (B, T, n_symbols). Both modes draw the same weights."""
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    if config.input_size != n_symbols + 2:
        raise ValueError(f"input_size must be n_symbols + 2 = {n_symbols + 2}, got {config.input_size}")
    init, _ = split_seed(seed)
    return SequenceTagger(SegmentTransformer(config, init), config.d_model, n_symbols, init)


def segment_recall_run(
    model: torch.nn.Module,
    delay: int,
    T: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    n_symbols: int = SEGMENT_SYMBOLS,
    eval_every: int = 10,
    eval_batch: int = 256,
) -> Iterator[StepEvent]:
    """Train a per-step classifier on fresh :func:`lrd_core.tasks.segment_recall` batches (cross-entropy at
    the query step only). ``metrics["accuracy"]``, every ``eval_every`` steps and at the end, is measured
    on one held-out batch of ``eval_batch`` sequences drawn first from the data generator of ``seed``."""
    T = check_int("T", T, 2, MAX_SEGMENTS * MAX_SEGMENT_LEN)
    return heldout_run(
        model,
        lambda b, g: segment_recall(b, T, delay, g, n_symbols),
        parity_loss,
        parity_accuracy,
        config,
        seed,
        device,
        eval_every,
        eval_batch,
    )


def window_vs_recurrence(
    delay: int,
    model_config: SegmentConfig,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    keep: dict | None = None,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories "sliding window" and "segment recurrence" on delayed recall over ``delay`` steps: same
    seed, same initial weights, same batches, same budget; ``model_config.mode`` is replaced by each mode.

    With ``keep``, :func:`segment_attention` of each model on one fixed sequence is stored in ``keep[name]``
    at every evaluation, computed by the thread that trains (see :func:`lrd_core.task_runs.probed`), so a
    page never runs a model another thread is updating. Arguments are checked here, before anything is built.
    """
    T = segment_recall_length(delay, model_config.segment_len)
    configs = {MODE_NAMES[m]: replace(model_config, mode=m) for m in ("window", "recurrence")}

    def factory(name: str):
        def start():
            model = segment_model(configs[name], seed)
            run = segment_recall_run(model, delay, T, config, seed, device)
            if keep is None:
                return run
            return probed(run, lambda: segment_attention(model, delay, T, seed), keep, name)

        return start

    return {name: factory(name) for name in configs}


def measured_segment_reach(config: SegmentConfig, seed: int) -> int:
    """Reach of segment recurrence measured by autograd: how many steps back from the last token of the last
    segment the earliest input lies whose gradient on that token's output is not exactly 0.

    A float64 copy of ``config`` in recurrence mode, with the memory NOT detached (so the gradient can
    follow the cache), runs over enough segments for the longest possible walk, N·(S + M) + S tokens, at
    most MAX_SEGMENTS. Softmax weights are all positive, so every input inside the reach gets a non-zero
    gradient and every input outside gets exactly 0 (masked scores are −inf). Compare
    :func:`lrd_core.theory.segment_reach`. The sequence holds at most MAX_SEGMENTS segments, so a longer
    reach is measured as at most MAX_SEGMENTS·S − 1.
    """
    config = replace(config, mode="recurrence")
    S, M, N = config.segment_len, config.memory_len, config.transformer.n_layers
    n_segments = min(MAX_SEGMENTS, -(-(N * (S + M) + S) // S))  # ceil
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    model = SegmentTransformer(config, g).double()
    x = torch.randn(1, n_segments * S, config.input_size, generator=g, dtype=torch.float64, requires_grad=True)
    out, _ = model.run(x, detach=False)  # (1, T, D)
    direction = torch.randn(out.shape[-1], generator=g, dtype=torch.float64)
    (out[0, -1] @ direction).backward()
    reached = torch.nonzero(x.grad[0].abs().sum(dim=-1) > 0).flatten()  # positions with a gradient
    return int(x.shape[1] - 1 - reached.min())


# --- the lecture demo: sizes, verdict ------------------------------------------------------------------------

LEARNED = 0.9  # held-out accuracy at the query that counts as "recalls the cue"
SIZES = {  # widget key -> value of the race's widgets
    LECTURE: {"delay": 48, "M": 32, "steps": 80},
    FULL: {"delay": 48, "M": 32, "steps": 120},
}
RACE_SEGMENT, RACE_WIDTH, RACE_LAYERS = 32, 64, 2  # S, D and N of the race's Transformers


def race_verdict(history: pd.DataFrame, finished: bool, *, delay: int, memory: int) -> Verdict | None:
    """Segment recurrence against the sliding window, in one sentence. Decided once the recurrent model has
    reached LEARNED accuracy while the window is below half of it, or at the end. Expected: recurrence
    reaches LEARNED, the window does not."""
    rec, win = MODE_NAMES["recurrence"], MODE_NAMES["window"]
    rec_at, win_best = first_at_least(history, rec, "accuracy", LEARNED), best_metric(history, win, "accuracy")
    if not finished and (rec_at is None or not win_best < LEARNED / 2):
        return None
    if rec_at is not None:
        text = f"With M = {memory} cached states, segment recurrence recalled the cue {delay} tokens back at "
        text += f"{pct(LEARNED)} by step {rec_at}"
    else:
        best = best_metric(history, rec, "accuracy")
        text = f"With M = {memory} cached states, segment recurrence reached {pct(best)} on a delay of {delay}"
    text += f"; the sliding window's best was {pct(win_best)} (chance {pct(1 / SEGMENT_SYMBOLS)})."
    return Verdict(rec_at is not None and win_best < LEARNED, text)


def race_setup(delay: int, memory: int, steps: int) -> tuple[SegmentConfig, TrainConfig]:
    """The race's models (Pre-LN, 4 heads, S = RACE_SEGMENT) and training settings (Adam 1e-3, batch 32)."""
    width = RACE_WIDTH
    model = SegmentConfig(SEGMENT_SYMBOLS + 2, width, 4, RACE_LAYERS, 2 * width, RACE_SEGMENT, memory)
    return model, TrainConfig(steps=steps, lr=1e-3, batch=32)


VERSION = 1  # bump when the race's code changes the numbers a run gives (part of every Demo key)
DEFAULTS = dict(SIZES[LECTURE])  # the race reads only its own widgets (the sidebar's tokenizer settings do not)


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """Sliding window against segment recurrence on delayed recall (:func:`window_vs_recurrence`) with the
    page's widget values (keys of DEFAULTS; missing ones take the defaults): what the page's Start button runs.

    ``info``: ``attention``, a dict each model's training thread fills with its :func:`segment_attention` at
    every evaluation (``attention[series]``, empty until the first), and the run's ``delay``, ``M`` and
    sequence length ``T``.
    """
    v = resolve(values, DEFAULTS, "long_context")
    model_config, config = race_setup(v["delay"], v["M"], v["steps"])
    attention: dict[str, pd.DataFrame] = {}
    factories = window_vs_recurrence(v["delay"], model_config, config, seed, device, keep=attention)
    T = segment_recall_length(v["delay"], model_config.segment_len)
    info = {"attention": attention, "delay": v["delay"], "M": v["M"], "T": T}
    judge = partial(race_verdict, delay=v["delay"], memory=v["M"])
    return Demo(
        factories, v["steps"], judge, demo_key("long_context", VERSION, v, seed, device), info, describe(v, seed)
    )
