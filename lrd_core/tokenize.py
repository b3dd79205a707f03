"""Character-level vs byte-level BPE tokenization (Hugging Face ``tokenizers``), measured on offline corpora.

A tokenizer decides how many steps a model takes to cross a stretch of text.
Byte-level BPE (Sennrich et al. 2016; the GPT-2 variant) starts from the 256
byte values and greedily merges the most frequent adjacent pair until the
vocabulary has V entries; every text round-trips exactly. Characters per token
c then converts a dependency of D characters into about D / c model steps.

Two corpora ship with every Python installation, so nothing is downloaded:
"english" is the prose of the interactive help (``pydoc_data.topics``) and
"code" is source files of the standard library. Every fifth document is held
out: chars per token is measured on text the tokenizer was not trained on.
"""

from __future__ import annotations

import functools
import json
import sysconfig
import time
from pathlib import Path
from pydoc_data import topics

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lrd_core.limits import (
    MAX_BPE_VOCAB,
    MAX_CODE_CORPUS_CHARS,
    MAX_CODE_FILE_CHARS,
    MAX_HELD_OUT_CHARS,
    MAX_TOKENIZE_CHARS,
)
from lrd_core.validate import check_choice, check_int

CORPORA = ("english", "code")
BYTES = 256  # the byte-level alphabet: a vocabulary of 256 is "no merges", one token per byte
VOCAB_SIZES = (256, 512, 1024, 2048, 4096, 8192)  # the sizes the page compares
HOLD_OUT_EVERY = 5  # documents i with i % 5 == 4 are held out of training


def _documents(corpus: str) -> list[str]:
    """The corpus as a list of documents (help topics, or source files cut to MAX_CODE_FILE_CHARS), fixed order."""
    check_choice("corpus", corpus, CORPORA)
    if corpus == "english":
        return [topics.topics[k] for k in sorted(topics.topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    docs, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        if total >= MAX_CODE_CORPUS_CHARS:
            break
        text = path.read_text(encoding="utf-8", errors="replace")[:MAX_CODE_FILE_CHARS]
        docs.append(text)
        total += len(text)
    if not docs:
        raise ValueError(f"the code corpus is empty: no standard-library .py files under {stdlib}")
    return docs


@functools.lru_cache(maxsize=len(CORPORA))
def corpus_split(corpus: str = "english") -> tuple[str, str]:
    """(training text, held-out text) of ``corpus``: documents joined by blank lines, every fifth held out
    (its first MAX_HELD_OUT_CHARS characters, so that measuring stays fast)."""
    docs = _documents(corpus)
    train = [d for i, d in enumerate(docs) if i % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
    held = [d for i, d in enumerate(docs) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1]
    return "\n\n".join(train), "\n\n".join(held)[:MAX_HELD_OUT_CHARS]


def train_bpe(vocab_size: int, text: str) -> Tokenizer:
    """A byte-level BPE tokenizer with exactly ``vocab_size`` entries (256 bytes + vocab_size − 256 merges)
    learned from ``text``. Deterministic: the same text gives the same merges."""
    vocab_size = check_int("vocab_size", vocab_size, BYTES, MAX_BPE_VOCAB)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2 split, bytes as symbols
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([text], trainer=trainer)
    return tokenizer


def _tokenizer(vocab: dict[str, int], merges: list) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(vocab, [tuple(m) for m in merges]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def truncate_bpe(tokenizer: Tokenizer, vocab_size: int) -> Tokenizer:
    """The same BPE with only its first vocab_size − 256 merges. BPE learns merges one at a time, most
    frequent pair first, so this is exactly the tokenizer that training would stop at with ``vocab_size``."""
    vocab_size = check_int("vocab_size", vocab_size, BYTES, tokenizer.get_vocab_size())
    model = json.loads(tokenizer.to_str())["model"]
    vocab = {piece: i for piece, i in model["vocab"].items() if i < vocab_size}  # ids: bytes, then merges
    return _tokenizer(vocab, model["merges"][: vocab_size - BYTES])


@functools.lru_cache(maxsize=len(CORPORA))
def _largest(corpus: str) -> tuple[Tokenizer, float]:
    """The MAX_BPE_VOCAB tokenizer of ``corpus`` and the seconds its training took."""
    start = time.perf_counter()
    tokenizer = train_bpe(MAX_BPE_VOCAB, corpus_split(corpus)[0])
    return tokenizer, time.perf_counter() - start


@functools.lru_cache(maxsize=2 * len(VOCAB_SIZES))
def _bpe(vocab_size: int, corpus: str) -> Tokenizer:
    return truncate_bpe(_largest(corpus)[0], vocab_size)


def bpe_tokenizer(vocab_size: int, corpus: str = "english") -> Tokenizer:
    """Byte-level BPE with ``vocab_size`` entries trained on the training part of ``corpus`` (cached per
    process: one training at MAX_BPE_VOCAB per corpus, smaller sizes by :func:`truncate_bpe`).

    Treat the result as read-only: it is shared by every caller.
    """
    vocab_size = check_int("vocab_size", vocab_size, BYTES, MAX_BPE_VOCAB)
    return _bpe(vocab_size, check_choice("corpus", corpus, CORPORA))


def training_seconds(corpus: str = "english") -> float:
    """Wall-clock seconds the one BPE training of ``corpus`` (MAX_BPE_VOCAB entries) took when first built."""
    return _largest(check_choice("corpus", corpus, CORPORA))[1]


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return text


def char_tokens(text: str) -> list[str]:
    """Character-level tokenization: one token per Unicode character (the reference, c = 1 exactly)."""
    return list(_check_text(text))


def tokens(tokenizer: Tokenizer | None, text: str) -> list[str]:
    """The pieces of ``text``, one per token (characters when ``tokenizer`` is None); they concatenate to ``text``.

    A byte-level token may hold only some bytes of a multi-byte character: the
    character goes to the first of its tokens, the others get "".
    """
    text = _check_text(text)
    check_int("len(text)", len(text), 0, MAX_TOKENIZE_CHARS)
    if tokenizer is None:
        return char_tokens(text)
    ends = [end for _, end in tokenizer.encode(text).offsets]  # (n_tokens,) end offsets, in characters
    done = [0, *np.maximum.accumulate(ends).tolist()]  # characters covered before each token
    return [text[done[k] : done[k + 1]] for k in range(len(ends))]


def n_tokens(tokenizer: Tokenizer | None, text: str) -> int:
    """Number of tokens of ``text`` (characters when ``tokenizer`` is None)."""
    return len(_check_text(text)) if tokenizer is None else len(tokenizer.encode(text).ids)


def chars_per_token(tokenizer: Tokenizer | None, text: str) -> float:
    """Characters per token c = len(text) / tokens (1 for the character tokenizer; NaN for empty text)."""
    n = n_tokens(tokenizer, text)
    return len(text) / n if n else float("nan")


def round_trip(tokenizer: Tokenizer, text: str) -> str:
    """decode(encode(text)): equal to ``text`` for byte-level BPE, whatever the text."""
    return tokenizer.decode(tokenizer.encode(_check_text(text)).ids)


def token_index_of_chars(tokenizer: Tokenizer | None, text: str) -> np.ndarray:
    """For every character i of ``text`` the index of the token that holds it (the last one when a
    multi-byte character is split over several byte tokens): int array (len(text),)."""
    text = _check_text(text)
    if tokenizer is None:
        return np.arange(len(text))
    starts = np.array([s for s, _ in tokenizer.encode(text).offsets], dtype=np.int64)  # (n_tokens,)
    return np.searchsorted(starts, np.arange(len(text)), side="right") - 1  # (len(text),)


def token_distance(tokenizer: Tokenizer | None, text: str, D, n_samples: int = 2000):
    """Mean number of tokens a dependency spanning D characters crosses in ``text``: for character
    pairs (i, i + D), the mean of token(i + D) − token(i), over up to ``n_samples`` evenly spaced i.

    Exactly D for the character tokenizer; about D / c for BPE. ``D`` may be an array (one tokenization
    serves all): a float for scalar D, else an array of D's shape.
    """
    text = _check_text(text)
    D_arr = np.asarray(D)
    if D_arr.size == 0 or not np.issubdtype(D_arr.dtype, np.integer) or D_arr.min() < 1 or D_arr.max() >= len(text):
        raise ValueError(f"D must be integers in [1, {len(text) - 1}] (characters), got {D!r}")
    n_samples = check_int("n_samples", n_samples, 1, 100_000)
    index = token_index_of_chars(tokenizer, text)  # (len(text),)
    out = np.empty(D_arr.shape)
    for j, d in np.ndenumerate(D_arr):
        i = np.unique(np.linspace(0, len(text) - 1 - d, n_samples).astype(np.int64))  # (≤ n_samples,)
        out[j] = np.mean(index[i + d] - index[i])
    return float(out) if D_arr.ndim == 0 else out
