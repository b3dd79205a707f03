"""Synthetic long-range tasks; every draw comes from the ``generator`` passed in."""

from __future__ import annotations

import torch

from lrd_core.limits import (
    MAX_BATCH,
    MAX_LAG,
    MAX_MQAR_PAIRS,
    MAX_SEQ2SEQ_LEN,
    MAX_SEQ2SEQ_SYMBOLS,
    MAX_SEQ_LEN,
    MAX_TCN_TRAIN_SEQ_LEN,
)
from lrd_core.validate import check_int


def _check_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


def adding_problem(batch: int, T: int, generator: torch.Generator):
    """The adding problem (Hochreiter & Schmidhuber 1997).

    Channel 0 holds U(0, 1) values, channel 1 marks exactly two positions, one
    in each half of the sequence; the target is the sum of the two marked values.
    Predicting the mean (1) scores MSE 1/6, the baseline to beat.

    Returns x: (B, T, 2) float32 and y: (B, 1) float32.
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 2, MAX_SEQ_LEN)
    g = _check_generator(generator)
    values = torch.rand(batch, T, generator=g, device=g.device)  # (B, T)
    half = T // 2
    first = torch.randint(0, half, (batch,), generator=g, device=g.device)  # (B,)
    second = torch.randint(half, T, (batch,), generator=g, device=g.device)  # (B,)
    rows = torch.arange(batch, device=g.device)
    marks = torch.zeros(batch, T, device=g.device)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=-1)  # (B, T, 2)
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (B, 1)
    return x, y


def copy_memory(batch: int, T: int, generator: torch.Generator, n_symbols: int = 8, length: int = 10):
    """The copy-memory task (Arjovsky et al. 2016), one-hot encoded.

    The first ``length`` steps show random symbols 1..n_symbols, then T blanks
    (symbol 0); at the last ``length`` steps a delimiter (symbol n_symbols + 1)
    asks the model to replay the symbols. Sequence length is T + 2 * length.
    Guessing uniformly among symbols gives cross-entropy of the baseline
    ``length * log(n_symbols) / (T + 2 * length)`` per step.

    Returns x: (B, T + 2*length, n_symbols + 2) float32 one-hot and
    y: (B, T + 2*length) int64 targets (0 = blank except in the replay window).
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 1, MAX_SEQ_LEN)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    length = check_int("length", length, 1, 100)
    g = _check_generator(generator)
    total = T + 2 * length
    symbols = torch.randint(1, n_symbols + 1, (batch, length), generator=g, device=g.device)
    tokens = torch.zeros(batch, total, dtype=torch.long, device=g.device)
    tokens[:, :length] = symbols
    tokens[:, total - length :] = n_symbols + 1  # delimiter: "recall now"
    y = torch.zeros(batch, total, dtype=torch.long, device=g.device)
    y[:, total - length :] = symbols
    x = torch.nn.functional.one_hot(tokens, n_symbols + 2).float()  # (B, total, n_symbols + 2)
    return x, y


IGNORE_INDEX = -100
"""Target value of unscored steps; ``torch.nn.functional.cross_entropy`` skips it by default."""


def lag_parity(batch: int, T: int, lag: int, generator: torch.Generator):
    """Lag parity: y_t = x_t XOR x_{t-lag} for random bits x_t.

    Solvable only by a model that sees both x_t and x_{t-lag}; each bit alone
    says nothing about y_t, so a model blind to one of them scores exactly
    chance (50 %). Steps t < lag have no partner and are not scored.

    Returns x: (B, T, 1) float32 bits in {0, 1} and y: (B, T) int64 in {0, 1},
    with y = ``IGNORE_INDEX`` for t < lag.
    """

    batch = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 2, MAX_TCN_TRAIN_SEQ_LEN)
    lag = check_int("lag", lag, 1, min(MAX_LAG, T - 1))
    g = _check_generator(generator)
    bits = torch.randint(0, 2, (batch, T), generator=g, device=g.device)  # (B, T)
    y = torch.full_like(bits, IGNORE_INDEX)
    y[:, lag:] = bits[:, lag:] ^ bits[:, :-lag]  # x_t XOR x_{t-lag}
    return bits.unsqueeze(-1).float(), y  # (B, T, 1), (B, T)


# --- Reversal and copy of random symbols (the "Attention" page) ---

SEQ2SEQ_TASKS = ("reverse", "copy")


def symbol_sequences(batch: int, T: int, generator: torch.Generator, n_symbols: int = 8, task: str = "reverse"):
    """Random symbols to reverse (or copy): the target is src read backwards (or as is).

    Every output symbol depends on one source symbol: for reversal, output s on
    input T - 1 - s, so the first outputs need the earliest inputs, the ones an
    encoder without attention has to carry longest.

    Returns src: (B, T) int64 in 0..n_symbols-1 and tgt: (B, T) int64.
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 1, MAX_SEQ2SEQ_LEN)
    n_symbols = check_int("n_symbols", n_symbols, 2, MAX_SEQ2SEQ_SYMBOLS)
    if task not in SEQ2SEQ_TASKS:
        raise ValueError(f"task must be one of {sorted(SEQ2SEQ_TASKS)}, got {task!r}")
    g = _check_generator(generator)
    src = torch.randint(0, n_symbols, (batch, T), generator=g, device=g.device)  # (B, T)
    return src, (src.flip(1) if task == "reverse" else src.clone())


def delayed_recall(batch: int, T: int, generator: torch.Generator, n_symbols: int = 8):
    """Delayed recall: one of ``n_symbols`` symbols at t = 0, T − 2 blanks, a query at t = T − 1.

    The answer (the first symbol) must be carried across all T − 1 steps; any
    model that has lost it scores chance, 1 / n_symbols.

    Returns x: (B, T, n_symbols + 2) float32 one-hot (symbols 0..n−1, blank n,
    query n + 1) and y: (B,) int64 in 0..n−1.
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 2, MAX_SEQ_LEN)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    g = _check_generator(generator)
    y = torch.randint(0, n_symbols, (batch,), generator=g, device=g.device)  # (B,)
    tokens = torch.full((batch, T), n_symbols, dtype=torch.long, device=g.device)  # (B, T) blanks
    tokens[:, 0] = y
    tokens[:, -1] = n_symbols + 1  # the query: "answer now"
    return torch.nn.functional.one_hot(tokens, n_symbols + 2).float(), y  # (B, T, n+2), (B,)


# --- Delayed recall across segments (the "Long context" page) ---


def segment_recall(batch: int, T: int, delay: int, generator: torch.Generator, n_symbols: int = 8):
    """Delayed recall at a random place: a symbol (the cue) at a random t0 in [0, T − 1 − delay], blanks
    elsewhere, and a query exactly ``delay`` steps later, at t0 + delay, where the cue must be named.

    Cut into segments of S ≤ delay tokens, the query always lies in a later
    segment than its cue: a model that sees one segment at a time scores chance,
    1 / n_symbols. Only the query step is scored.

    Returns x: (B, T, n_symbols + 2) float32 one-hot (symbols 0..n−1, blank n,
    query n + 1) and y: (B, T) int64, the cue at the query step and
    ``IGNORE_INDEX`` everywhere else.
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    T = check_int("T", T, 2, MAX_SEQ_LEN)
    delay = check_int("delay", delay, 1, T - 1)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    g = _check_generator(generator)
    cue = torch.randint(0, n_symbols, (batch,), generator=g, device=g.device)  # (B,)
    t0 = torch.randint(0, T - delay, (batch,), generator=g, device=g.device)  # (B,) cue positions
    rows = torch.arange(batch, device=g.device)
    tokens = torch.full((batch, T), n_symbols, dtype=torch.long, device=g.device)  # (B, T) blanks
    tokens[rows, t0] = cue
    tokens[rows, t0 + delay] = n_symbols + 1  # the query: "name the cue now"
    y = torch.full((batch, T), IGNORE_INDEX, dtype=torch.long, device=g.device)  # (B, T)
    y[rows, t0 + delay] = cue
    return torch.nn.functional.one_hot(tokens, n_symbols + 2).float(), y  # (B, T, n+2), (B, T)


# --- LayerNorm placement page: a short copy-memory task for small Transformers ---

LN_COPY_SYMBOLS = 8  # alphabet of the symbols to recall (classes: blank + 8)
LN_COPY_LENGTH = 5  # symbols shown, then replayed
LN_COPY_GAP = 5  # blanks between show and replay: sequences of 5 + 5 + 5 = 15 steps


# --- Selective copying (the "Selective state spaces" page) ---

MAX_SELECTIVE_LEN = 1024  # L: positions of data and noise before the markers
MAX_SELECTIVE_TOKENS = 64  # k: data tokens to copy


def selective_copying(
    batch: int, L: int, k: int, generator: torch.Generator, n_symbols: int = 8, fixed_positions: bool = False
):
    """Selective copying (Gu & Dao 2023, Sec. 4.1.1): k data tokens among L − k noise tokens, then k markers
    at which the model must output the data tokens in order.

    With ``fixed_positions=False`` the data sit at k distinct random positions of each sequence, so which
    steps to keep depends on the content (a time-invariant model such as S4D cannot know); with True they
    always sit at positions ⌊i·L/k⌋ (i = 0..k−1), where one fixed convolution kernel can fetch them.
    Guessing scores 1/n_symbols.

    Returns x: (B, L + k, n_symbols + 2) float32 one-hot (data 0..n−1, noise n, marker n + 1) and
    y: (B, L + k) int64, the i-th data token at the i-th marker and ``IGNORE_INDEX`` everywhere else.
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    L = check_int("L", L, 1, MAX_SELECTIVE_LEN)
    k = check_int("k", k, 1, min(MAX_SELECTIVE_TOKENS, L))
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    g = _check_generator(generator)
    data = torch.randint(0, n_symbols, (batch, k), generator=g, device=g.device)  # (B, k)
    if fixed_positions:
        where = (torch.arange(k, device=g.device) * L // k).expand(batch, k)  # (B, k), the same every time
    else:
        order = torch.rand(batch, L, generator=g, device=g.device).argsort(dim=1)  # (B, L): a random permutation
        where = order[:, :k].sort(dim=1).values  # (B, k): k distinct positions, in order
    tokens = torch.full((batch, L + k), n_symbols, dtype=torch.long, device=g.device)  # (B, L + k) noise
    tokens.scatter_(1, where, data)
    tokens[:, L:] = n_symbols + 1  # the markers: "output the next data token now"
    y = torch.full((batch, L + k), IGNORE_INDEX, dtype=torch.long, device=g.device)  # (B, L + k)
    y[:, L:] = data
    return torch.nn.functional.one_hot(tokens, n_symbols + 2).float(), y  # (B, L + k, n+2), (B, L + k)


# --- Multi-query associative recall (the "Associative recall" page) ---


def mqar(batch: int, n_pairs: int, generator: torch.Generator, n_keys: int = 64, n_values: int = 64):
    """Multi-query associative recall (Arora et al. 2023, "Zoology"): n key-value pairs, then every key again
    in a random order, at which the model must name that key's value.

    Tokens 0..n_keys−1 are keys, n_keys..n_keys+n_values−1 values. The sequence is k_1 v_1 ... k_n v_n, then
    the n keys (distinct within a sequence, drawn without replacement) in a random order: length 3n. Each key
    gets an independent uniform value. Guessing scores 1/n_values; a model that only knows "one of the values
    shown" scores about 1/n.

    Returns x: (B, 3n, n_keys + n_values) float32 one-hot and y: (B, 3n) int64, the queried key's value
    (0..n_values−1) at the n query steps and ``IGNORE_INDEX`` everywhere else.
    """
    batch = check_int("batch", batch, 1, MAX_BATCH)
    n_keys = check_int("n_keys", n_keys, 1, 1024)
    n_values = check_int("n_values", n_values, 2, 1024)
    n = check_int("n_pairs", n_pairs, 1, min(MAX_MQAR_PAIRS, n_keys))
    g = _check_generator(generator)
    keys = torch.rand(batch, n_keys, generator=g, device=g.device).argsort(dim=1)[:, :n]  # (B, n) distinct keys
    values = torch.randint(0, n_values, (batch, n), generator=g, device=g.device)  # (B, n)
    order = torch.rand(batch, n, generator=g, device=g.device).argsort(dim=1)  # (B, n): the order of the queries
    tokens = torch.empty(batch, 3 * n, dtype=torch.long, device=g.device)
    tokens[:, 0 : 2 * n : 2] = keys
    tokens[:, 1 : 2 * n : 2] = n_keys + values
    tokens[:, 2 * n :] = keys.gather(1, order)
    y = torch.full((batch, 3 * n), IGNORE_INDEX, dtype=torch.long, device=g.device)
    y[:, 2 * n :] = values.gather(1, order)
    return torch.nn.functional.one_hot(tokens, n_keys + n_values).float(), y  # (B, 3n, V), (B, 3n)
