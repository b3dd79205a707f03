"""Byte-level BPE on the two offline corpora: training time, the truncation shortcut, chars per token.

Part 1: for each corpus, one training at MAX_BPE_VOCAB against deriving a smaller vocabulary by
truncating the merges (:func:`lrd_core.tokenize.truncate_bpe`), and a check that the truncated
tokenizer encodes held-out text exactly as one trained directly at that size. Part 2: chars per
token on held-out text for every vocabulary size the page shows.
Run from the repo root: ``python -m bench.bench_tokenize``. One thread; interleaved repeats, medians.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host
os.environ.setdefault("RAYON_NUM_THREADS", "1")  # the tokenizers library's own thread pool

from bench._timing import compare, header, result
from lrd_core import tokenize
from lrd_core.experiments import long_context
from lrd_core.limits import MAX_BPE_VOCAB

SMALL = 1024  # the vocabulary derived by truncation and checked against a direct training
REPEATS, WARMUP = 3, 0


def training_vs_truncation(corpus: str) -> None:
    train, held_out = tokenize.corpus_split(corpus)
    big = tokenize.train_bpe(MAX_BPE_VOCAB, train)
    t_train, t_trunc = compare(
        lambda: tokenize.train_bpe(MAX_BPE_VOCAB, train),
        lambda: tokenize.truncate_bpe(big, SMALL),
        repeats=REPEATS,
        warmup=WARMUP,
    )
    same = (
        tokenize.truncate_bpe(big, SMALL).encode(held_out).ids == tokenize.train_bpe(SMALL, train).encode(held_out).ids
    )
    print(f"{corpus}: {len(train):,} training characters, {len(held_out):,} held out")
    print(f"train V = {MAX_BPE_VOCAB}: {t_train:.3f} s | truncate to V = {SMALL}: {t_trunc * 1e3:.1f} ms")
    result(
        f"{corpus}: truncated V = {SMALL} encodes like a direct training",
        float(same),
        "1 (identical ids)",
        same,
        "{:.0f}",
    )
    result(f"{corpus}: training seconds at V = {MAX_BPE_VOCAB}", t_train, "<= 5 s", t_train <= 5, "{:.2f}")


def main() -> None:
    header("byte-level BPE (Hugging Face tokenizers) on pydoc topics and stdlib sources")
    for corpus in tokenize.CORPORA:
        training_vs_truncation(corpus)
    table = long_context.tokenization_table().pivot(index="vocab_size", columns="corpus", values="chars_per_token")
    print("chars per token on held-out text:")
    print(table.to_string(float_format="{:.3f}".format))
    english = float(table.loc[8192, "english"])
    result("English chars/token at V = 8192", english, "> 3", english > 3, "{:.2f}")


if __name__ == "__main__":
    main()
