"""Ready-made training runs: a seeded model, a seeded task and :func:`lrd_core.train.train`.

A page (or a test, or a notebook) gets a run in one call; everything random
derives from the one integer seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core.devices import resolve_device
from lrd_core.limits import (
    MAX_LAG,
    MAX_SEED,
    MAX_SEGMENT_LEN,
    MAX_SEGMENTS,
    MAX_SEQ2SEQ_TRAIN_LEN,
    MAX_SSM_TRAIN_SEQ_LEN,
    MAX_TCN_TRAIN_SEQ_LEN,
    MAX_TRAIN_SEQ_LEN,
    MAX_TRANSFORMER_LAYERS,
)
from lrd_core.models.heads import SequenceRegressor, SequenceTagger
from lrd_core.models.recurrent import RECURRENT_KINDS, ElmanRNN, RNNConfig, build_recurrent
from lrd_core.models.segment import MODE_NAMES, SegmentConfig, SegmentTransformer
from lrd_core.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_loss
from lrd_core.models.tcn import TCN, TCNConfig
from lrd_core.probes import layernorm_tagger
from lrd_core.ssm import S4DConfig, S4DModel
from lrd_core.tasks import (
    IGNORE_INDEX,
    LN_COPY_GAP,
    LN_COPY_LENGTH,
    LN_COPY_SYMBOLS,
    adding_problem,
    copy_memory,
    delayed_recall,
    lag_parity,
    segment_recall,
    symbol_sequences,
)
from lrd_core.theory import copy_memory_loss
from lrd_core.train import StepEvent, TrainConfig, train
from lrd_core.validate import check_choice, check_float, check_int


def split_seed(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two independent CPU generators from one seed: (model init, data)."""
    seed = check_int("seed", seed, 0, MAX_SEED)
    init = torch.Generator().manual_seed(seed)
    data = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=init)))
    return init, data


def rnn_adding_model(config: RNNConfig, seed: int) -> SequenceRegressor:
    """An Elman RNN with a linear read-out of h_T, initialised from ``seed``: (B, T, 2) -> (B, 1)."""
    init, _ = split_seed(seed)
    return SequenceRegressor(ElmanRNN(config, init), config.hidden_size, 1, init)


def adding_run(
    model: torch.nn.Module, T: int, config: TrainConfig, seed: int, device: str = "cpu"
) -> Iterator[StepEvent]:
    """Train ``model`` ((B, T, 2) -> (B, 1)) on fresh adding-problem batches of length T by MSE.

    Batches are drawn on the CPU from the data generator of ``seed`` (so CPU and
    CUDA see the same data) and moved to ``device``.
    """
    T = check_int("T", T, 2, MAX_TRAIN_SEQ_LEN)
    dev = resolve_device(device)
    _, data = split_seed(seed)
    model.to(dev)

    def batch():
        x, y = adding_problem(config.batch, T, data)
        return x.to(dev), y.to(dev)

    return train(model, batch, F.mse_loss, config)


# --- Lag parity with temporal convolutions (the "Convolutions" page) ---


PARITY_MARGIN = 64  # scored steps per sequence beyond the lag: T = max(128, lag + 64)
MAX_SWEEP_LAGS = 12  # lags trained one after another by lag_sweep


def parity_length(lag: int) -> int:
    """Sequence length used for lag ``lag``: room for the lag plus PARITY_MARGIN scored steps (at least 128)."""
    lag = check_int("lag", lag, 1, MAX_LAG)
    return min(max(128, lag + PARITY_MARGIN), MAX_TCN_TRAIN_SEQ_LEN)


def parity_lags(receptive_field: int, lag: int) -> list[int]:
    """The chosen lag plus lags that bracket the receptive field R: R/2, R - 1 (last solvable), R and 2R (blind).

    Only lags in [1, MAX_LAG] are kept; sorted, no repeats.
    """
    rf = check_int("receptive_field", receptive_field, 1, 2**62)
    lag = check_int("lag", lag, 1, MAX_LAG)
    return sorted({v for v in (lag, rf // 2, rf - 1, rf, 2 * rf) if 1 <= v <= MAX_LAG})


def tcn_tagger(config: TCNConfig, seed: int) -> SequenceTagger:
    """A TCN with a two-way classifier at every step, initialised from ``seed``: (B, T, D) -> (B, T, 2)."""
    init, _ = split_seed(seed)
    return SequenceTagger(TCN(config, init), config.channels, 2, init)


def parity_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the scored steps (y != IGNORE_INDEX); logits (B, T, 2), y (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)  # (B*T, 2) vs (B*T,)


@torch.no_grad()
def parity_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of scored steps (y != IGNORE_INDEX) where argmax of ``model(x)`` equals y; 0.5 is chance."""
    pred = model(x).argmax(dim=-1)  # (B, T)
    scored = y != IGNORE_INDEX
    return float((pred[scored] == y[scored]).double().mean())


def heldout_run(
    model: torch.nn.Module, draw: Callable[[int, torch.Generator], tuple], loss_fn, accuracy, config: TrainConfig,
    seed: int, device: str, eval_every: int, eval_batch: int,
) -> Iterator[StepEvent]:
    """Train ``model`` on fresh batches ``draw(batch, generator) -> (x, y)`` with ``loss_fn``, scoring
    ``accuracy(model, x, y)`` on one held-out batch of ``eval_batch`` every ``eval_every`` steps and at the
    end (``metrics["accuracy"]``). The held-out batch is drawn first from the data generator of ``seed``,
    training batches follow from the same generator, on the CPU, then move to ``device``. ``x`` may be a
    tuple of tensors (an encoder-decoder reads (src, tgt))."""
    dev = resolve_device(device)
    _, data = split_seed(seed)

    def to_device(x):
        return tuple(v.to(dev) for v in x) if isinstance(x, tuple) else x.to(dev)

    x_eval, y_eval = (to_device(v) for v in draw(eval_batch, data))
    model.to(dev)

    def batch():
        x, y = draw(config.batch, data)
        return to_device(x), to_device(y)

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        return {"accuracy": accuracy(m, x_eval, y_eval)}

    return train(model, batch, loss_fn, config, evaluate=evaluate, eval_every=eval_every)


def lag_parity_run(
    model: torch.nn.Module,
    lag: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    T: int | None = None,
    eval_every: int = 10,
    eval_batch: int = 128,
) -> Iterator[StepEvent]:
    """Train ``model`` ((B, T, 1) -> (B, T, 2)) on fresh lag-parity batches by per-step cross-entropy.

    Only steps t >= lag are scored. Every ``eval_every`` steps (and at the end)
    the event's ``metrics["accuracy"]`` is the accuracy on one held-out batch of
    ``eval_batch`` sequences, drawn first from the data generator of ``seed``;
    training batches follow from the same generator, on the CPU, then move to
    ``device``. T defaults to :func:`parity_length` (lag).
    """
    lag = check_int("lag", lag, 1, MAX_LAG)
    T = parity_length(lag) if T is None else check_int("T", T, lag + 1, MAX_TCN_TRAIN_SEQ_LEN)
    return heldout_run(model, lambda b, g: lag_parity(b, T, lag, g), parity_loss, parity_accuracy, config, seed,
                       device, eval_every, eval_batch)


def lag_sweep(config: TCNConfig, lags, train_config: TrainConfig, seed: int, device: str = "cpu"):
    """Train a fresh TCN (same seed) at each lag for ``train_config.steps`` steps -> DataFrame.

    One row per lag: ``lag``, ``accuracy`` (held-out, after the last step),
    ``steps`` run, ``seconds``, ``receptive_field`` R and ``inside`` (lag < R).
    At most MAX_SWEEP_LAGS lags.
    """
    lags = [check_int("lag", v, 1, MAX_LAG) for v in lags]
    check_int("number of lags", len(lags), 1, MAX_SWEEP_LAGS)
    rf = config.receptive_field
    rows = []
    for lag in lags:
        events = list(lag_parity_run(tcn_tagger(config, seed), lag, train_config, seed, device))
        last = events[-1]
        rows.append({"lag": lag, "accuracy": last.metrics.get("accuracy", float("nan")), "steps": last.step,
                     "seconds": last.seconds, "receptive_field": rf, "inside": lag < rf})
    return pd.DataFrame(rows)


def parity_series(receptive_field: int, lag: int) -> dict[str, int]:
    """Series name -> lag for the lags of :func:`parity_lags`, named relative to R ("lag 63 = R − 1")."""
    rf = check_int("receptive_field", receptive_field, 1, 2**62)
    notes = {rf // 2: "≈ R/2", rf - 1: "= R − 1", rf: "= R", 2 * rf: "= 2R"}
    return {f"lag {v}" + (f" ({notes[v]})" if v in notes else ""): v for v in parity_lags(rf, lag)}


def accuracy_by_lag(history, series_lags: dict[str, int], receptive_field: int):
    """Latest evaluated accuracy of every series in a live history -> DataFrame lag, accuracy, step, series, inside.

    ``history`` has columns series, step and accuracy (NaN on steps without evaluation).
    """
    cols = ["lag", "accuracy", "step", "series", "inside"]
    if "accuracy" not in history:
        history = history.assign(accuracy=pd.Series(dtype=float))
    scored = history.dropna(subset=["accuracy"])
    last = scored[scored["series"].isin(list(series_lags))].groupby("series", as_index=False).last()
    last["lag"] = last["series"].map(series_lags).astype(int)
    last["inside"] = (last["lag"] < receptive_field).astype(bool)
    return last[cols].sort_values("lag", ignore_index=True)


# ---------------------------------------------------------------------------
# Gated recurrence: RNN vs LSTM vs GRU on the adding problem and on copy-memory
# ---------------------------------------------------------------------------


def recurrent_adding_model(
    kind: str, hidden_size: int, seed: int, *, rho: float = 1.0, forget_bias: float = 1.0, keep_bias: float = 0.0
) -> SequenceRegressor:
    """An "RNN", "LSTM" or "GRU" with a linear read-out of h_T, initialised from ``seed``: (B, T, 2) -> (B, 1).

    Models of different kinds built from the same seed draw from the same init generator.
    """
    init, _ = split_seed(seed)
    encoder = build_recurrent(kind, 2, hidden_size, init, rho=rho, forget_bias=forget_bias, keep_bias=keep_bias)
    return SequenceRegressor(encoder, hidden_size, 1, init)


def copy_memory_model(
    kind: str, hidden_size: int, seed: int, *, n_symbols: int = 8, rho: float = 1.0,
    forget_bias: float = 1.0, keep_bias: float = 0.0,
) -> SequenceTagger:
    """An "RNN", "LSTM" or "GRU" with a per-step classifier over n_symbols + 1 classes (blank + symbols).

    Input: one-hot (B, T', n_symbols + 2); output: logits (B, T', n_symbols + 1).
    """
    check_int("n_symbols", n_symbols, 2, 64)
    init, _ = split_seed(seed)
    encoder = build_recurrent(kind, n_symbols + 2, hidden_size, init, rho=rho, forget_bias=forget_bias,
                              keep_bias=keep_bias)
    return SequenceTagger(encoder, hidden_size, n_symbols + 1, init)


def copy_memory_run(
    model: torch.nn.Module, T: int, config: TrainConfig, seed: int, device: str = "cpu",
    *, n_symbols: int = 8, length: int = 10,
) -> Iterator[StepEvent]:
    """Train a per-step classifier on fresh copy-memory batches (T blanks between show and replay) by cross-entropy.

    The loss is the mean over all T + 2*length steps, so the memoryless baseline
    is :func:`lrd_core.theory.copy_memory_loss` with p = 1/n_symbols.
    """
    length = check_int("length", length, 1, 100)
    T = check_int("T", T, 1, MAX_TRAIN_SEQ_LEN - 2 * length)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    dev = resolve_device(device)
    _, data = split_seed(seed)
    model.to(dev)

    def batch():
        x, y = copy_memory(config.batch, T, data, n_symbols=n_symbols, length=length)
        return x.to(dev), y.to(dev)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.transpose(1, 2), y)  # logits (B, classes, T'), y (B, T')

    return train(model, batch, loss, config)


TASKS = ("adding", "copy")
COPY_SYMBOLS, COPY_LENGTH = 8, 10  # copy-memory in the race: alphabet size and number of symbols to recall


def race(
    task: str, T: int, hidden_size: int, config: TrainConfig, seed: int, device: str = "cpu",
    *, kinds: tuple[str, ...] = RECURRENT_KINDS, gate_bias: float = 1.0, rho: float = 1.0,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Zero-argument run factories, one per kind, for a race on ``task`` ("adding" or "copy").

    Every kind gets the same seed (so the same batches, in the same order) and
    the same step budget. ``gate_bias`` initialises the LSTM's forget gate and
    the GRU's keep gate; ``rho`` scales the RNN's orthogonal W. Arguments are
    checked here, before anything is built.
    """
    check_choice("task", task, TASKS)
    check_int("hidden_size", hidden_size, 1, 1024)
    check_float("gate_bias", gate_bias, -10.0, 10.0)
    bias = {"rho": rho, "forget_bias": gate_bias, "keep_bias": gate_bias}
    for k in kinds:
        check_choice("kind", k, RECURRENT_KINDS)
    if task == "adding":
        check_int("T", T, 2, MAX_TRAIN_SEQ_LEN)
        return {k: (lambda k=k: adding_run(recurrent_adding_model(k, hidden_size, seed, **bias),
                                           T, config, seed, device)) for k in kinds}
    check_int("T", T, 1, MAX_TRAIN_SEQ_LEN - 2 * COPY_LENGTH)
    return {k: (lambda k=k: copy_memory_run(copy_memory_model(k, hidden_size, seed, n_symbols=COPY_SYMBOLS, **bias),
                                            T, config, seed, device, n_symbols=COPY_SYMBOLS, length=COPY_LENGTH))
            for k in kinds}


def steps_to_threshold(losses, threshold: float, window: int = 20) -> int | None:
    """First step (1-based) at which the mean of the last ``window`` training losses is below ``threshold``."""
    window = check_int("window", window, 1, 10**6)
    x = np.asarray(losses, dtype=float)
    if x.size < window:
        return None
    means = np.convolve(x, np.ones(window) / window, mode="valid")  # means[i] covers steps i+1 .. i+window
    below = np.flatnonzero(means < threshold)
    return int(below[0] + window) if below.size else None


def race_summary(history, solved: float, window: int = 20):
    """Per series of a live history (columns series, step, loss): steps run, mean of the last ``window``
    losses and the first step whose running mean is below ``solved`` (None if not yet). A DataFrame."""
    rows = [
        {"model": name, "steps": int(d["step"].max()), f"loss, mean of last {window}": float(d["loss"].tail(window).mean()),
         "solved at step": steps_to_threshold(d["loss"].to_numpy(), solved, window)}
        for name, d in history.sort_values("step").groupby("series", sort=False)
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Attention: a GRU encoder-decoder with and without attention on reversal (the "Attention" page)
# ---------------------------------------------------------------------------

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
    model: Seq2Seq, T: int, config: TrainConfig, seed: int, device: str = "cpu",
    *, task: str = "reverse", eval_every: int = 25, eval_batch: int = 256,
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

    return heldout_run(model, draw, seq2seq_loss, lambda m, x, y: greedy_accuracy(m, x[0], y), config, seed,
                       device, eval_every, eval_batch)


def attention_race(
    T: int, model_config: Seq2SeqConfig, config: TrainConfig, seed: int, device: str = "cpu",
    *, keep: dict | None = None, task: str = "reverse",
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories "no attention" and "attention": same seed, shared initial weights, same batches, same budget.

    ``model_config.attention`` picks the attention kind ("none" is replaced by
    "additive"). When a factory builds its model it also stores (model, T) in
    ``keep[name]`` (if given), so a caller can look inside the model as it
    trains (e.g. draw its attention map). Arguments are checked here.
    """
    check_int("T", T, 1, MAX_SEQ2SEQ_TRAIN_LEN)
    check_choice("task", task, ("reverse", "copy"))
    kind = model_config.attention if model_config.attention != "none" else "additive"
    configs = {"no attention": replace(model_config, attention="none"), "attention": replace(model_config, attention=kind)}

    def factory(name: str):
        def start():
            model = seq2seq_model(configs[name], seed)
            if keep is not None:
                keep[name] = (model, T)
            return reversal_run(model, T, config, seed, device, task=task)

        return start

    return {name: factory(name) for name in configs}


# ---------------------------------------------------------------------------
# State-space models: S4D vs LSTM on delayed recall (the "State-space models" page)
# ---------------------------------------------------------------------------

RECALL_SYMBOLS = 8  # delayed recall: one of 8 symbols, chance 1/8
RECALL_KINDS = ("S4D", "LSTM")


def recall_model(kind: str, seed: int, *, hidden_size: int = 64, state_size: int = 32, n_layers: int = 2,
                 init: str = "lin", n_symbols: int = RECALL_SYMBOLS) -> SequenceRegressor:
    """"S4D" (an S4DModel) or "LSTM" (hand LSTM, hidden ``hidden_size``) with a linear read-out of the last
    step over ``n_symbols`` classes: one-hot (B, T, n_symbols + 2) -> logits (B, n_symbols)."""
    check_choice("kind", kind, RECALL_KINDS)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    init_g, _ = split_seed(seed)
    D = n_symbols + 2
    if kind == "S4D":
        encoder = S4DModel(S4DConfig(D, hidden_size, state_size, n_layers, init), init_g)
    else:
        encoder = build_recurrent("LSTM", D, hidden_size, init_g)
    return SequenceRegressor(encoder, hidden_size, n_symbols, init_g)


@torch.no_grad()
def recall_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of sequences whose argmax logit is the symbol shown at t = 0; 1/n_symbols is chance."""
    return float((model(x).argmax(dim=-1) == y).double().mean())


def recall_run(
    model: torch.nn.Module, T: int, config: TrainConfig, seed: int, device: str = "cpu",
    *, n_symbols: int = RECALL_SYMBOLS, eval_every: int = 10, eval_batch: int = 256,
) -> Iterator[StepEvent]:
    """Train ``model`` on fresh delayed-recall batches of length T by cross-entropy on the final answer.

    ``metrics["accuracy"]`` (every ``eval_every`` steps and at the end) is measured on one held-out batch
    of ``eval_batch`` sequences, drawn first from the data generator of ``seed``.
    """
    T = check_int("T", T, 2, MAX_SSM_TRAIN_SEQ_LEN)
    return heldout_run(model, lambda b, g: delayed_recall(b, T, g, n_symbols), F.cross_entropy, recall_accuracy,
                       config, seed, device, eval_every, eval_batch)


def ssm_vs_lstm(
    T: int, config: TrainConfig, seed: int, device: str = "cpu", *, hidden_size: int = 64, state_size: int = 32,
    init: str = "lin",
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories "S4D" and "LSTM" on delayed recall over T steps: same seed, same batches, same budget."""
    check_int("T", T, 2, MAX_SSM_TRAIN_SEQ_LEN)
    kw = {"hidden_size": hidden_size, "state_size": state_size, "init": init}
    return {k: (lambda k=k: recall_run(recall_model(k, seed, **kw), T, config, seed, device)) for k in RECALL_KINDS}


# ---------------------------------------------------------------------------
# Long context: a segment-level Transformer, sliding window vs segment recurrence (the "Long context" page)
# ---------------------------------------------------------------------------

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
    model: torch.nn.Module, delay: int, T: int, config: TrainConfig, seed: int, device: str = "cpu",
    *, n_symbols: int = SEGMENT_SYMBOLS, eval_every: int = 10, eval_batch: int = 256,
) -> Iterator[StepEvent]:
    """Train a per-step classifier on fresh :func:`lrd_core.tasks.segment_recall` batches (cross-entropy at
    the query step only). ``metrics["accuracy"]``, every ``eval_every`` steps and at the end, is measured
    on one held-out batch of ``eval_batch`` sequences drawn first from the data generator of ``seed``."""
    T = check_int("T", T, 2, MAX_SEGMENTS * MAX_SEGMENT_LEN)
    return heldout_run(model, lambda b, g: segment_recall(b, T, delay, g, n_symbols), parity_loss, parity_accuracy,
                       config, seed, device, eval_every, eval_batch)


def window_vs_recurrence(
    delay: int, model_config: SegmentConfig, config: TrainConfig, seed: int, device: str = "cpu",
    *, keep: dict | None = None,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories "sliding window" and "segment recurrence" on delayed recall over ``delay`` steps: same
    seed, same initial weights, same batches, same budget; ``model_config.mode`` is replaced by each mode.

    When a factory builds its model it also stores (model, delay, T) in ``keep[name]`` (if given), so a
    caller can look at its attention while it trains. Arguments are checked here, before anything is built.
    """
    T = segment_recall_length(delay, model_config.segment_len)
    configs = {MODE_NAMES[m]: replace(model_config, mode=m) for m in ("window", "recurrence")}

    def factory(name: str):
        def start():
            model = segment_model(configs[name], seed)
            if keep is not None:
                keep[name] = (model, delay, T)
            return segment_recall_run(model, delay, T, config, seed, device)

        return start

    return {name: factory(name) for name in configs}


# ---------------------------------------------------------------------------
# LayerNorm placement: Post-LN vs Pre-LN on short copy-memory, with and without warm-up
# ---------------------------------------------------------------------------

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
    config: TrainConfig, seed: int, device: str = "cpu", *, n_layers: int = 6, d_model: int = 64,
    warmup_steps: int = 200,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Four run factories: Post-LN and Pre-LN, each at ``config.lr`` from the first step ("no warm-up")
    and with ``warmup_steps`` of linear warm-up followed by linear decay to 0 ("warm-up").

    All four share the seed: the same initial weights (up to placement) and the same copy-memory batches
    (LN_COPY_LENGTH symbols, LN_COPY_GAP blanks, replay). ``config``'s own schedule is replaced. Arguments
    are checked here, before anything is built.
    """
    check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0, config.steps)
    schedules = {"no warm-up": replace(config, warmup_steps=0, schedule="constant"),
                 "warm-up": replace(config, warmup_steps=warmup_steps, schedule="linear")}
    layernorm_model("pre", n_layers, d_model, seed)  # checks d_model and seed now, not at Start

    def factory(placement: str, panel: str):
        return lambda: copy_memory_run(layernorm_model(placement, n_layers, d_model, seed), LN_COPY_GAP,
                                       schedules[panel], seed, device, n_symbols=LN_COPY_SYMBOLS,
                                       length=LN_COPY_LENGTH)

    return {layernorm_series(p, panel): factory(p, panel) for panel in LN_SCHEDULES for p in LN_TRAIN_PLACEMENTS}


def layernorm_panels(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a live history of :func:`layernorm_race` into its two panels ("no warm-up", "warm-up"),
    each with ``series`` reduced to the placement ("Post-LN", "Pre-LN") so colours match across panels."""
    out = {}
    for panel in LN_SCHEDULES:
        rows = history[history["series"].str.endswith(", " + panel)] if len(history) else history
        out[panel] = rows.assign(series=rows["series"].str.split(",").str[0]) if len(rows) else rows
    return out
