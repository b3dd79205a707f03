"""Page "Associative recall": why a state of fixed size forgets what attention can look up.

Linear attention computed two ways (the masked L × L product and the recurrence over a dk × dv state) with
the same outputs and their time against L; a memory of fixed size storing n key-value pairs by the additive
rule and by the delta rule, measured against the closed forms of :mod:`lrd_core.theory`, and an overwrite;
the race on multi-query associative recall (MQAR) of softmax attention against fixed-state models (S4D, S6,
DeltaNet) of matched parameter count, with its verdict and the capacity curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from lrd_core import theory
from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.formats import join_and, pct
from lrd_core.gradients import median_seconds
from lrd_core.history import best_metric, first_at_least, metric_series, steps_run
from lrd_core.limits import (
    MAX_FORM_LEN,
    MAX_MEMORY_DK,
    MAX_MEMORY_LOAD,
    MAX_MQAR_PAIRS,
    MAX_PROBE_BYTES,
    MAX_RECALL_STEPS,
)
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.linear_attention import (
    LINEAR_METHODS,
    LinearAttentionConfig,
    LinearAttentionModel,
    delta_rule,
    linear_attention,
    state_peak_bytes,
)
from lrd_core.models.s4d import S4DConfig, S4DModel
from lrd_core.models.selective import S6Config, S6Model
from lrd_core.models.transformer import TransformerConfig, TransformerStack
from lrd_core.task_runs import heldout_run, parity_accuracy, parity_loss
from lrd_core.tasks import mqar
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_choice, check_int

# --- 1. linear attention is an RNN ---------------------------------------------------------------------------

MAX_FORM_DIM = 64  # dk = dv of the timed layer


def _qkv(length: int, d: int, seed: int, heads: int = 1, dtype=torch.float32):
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    return tuple(torch.randn(1, heads, length, d, generator=g, dtype=torch.float64).to(dtype) for _ in range(3))


def form_outputs(L: int, d: int, seed: int) -> pd.DataFrame:
    """The first output channel o_t[0] of one linear-attention head (random q, k, v of width ``d``, float32)
    by each method -> DataFrame t, method, output (one row per step and method)."""
    L = check_int("L", L, 1, MAX_FORM_LEN)
    d = check_int("d", d, 1, MAX_FORM_DIM)
    q, k, v = _qkv(L, d, seed)
    frames = [
        pd.DataFrame(
            {"t": np.arange(L), "method": m, "output": linear_attention(q, k, v, method=m)[0, 0, :, 0].numpy()}
        )
        for m in LINEAR_METHODS
    ]
    return pd.concat(frames, ignore_index=True)


def form_differences(L: int, d: int, seed: int) -> pd.DataFrame:
    """Largest |difference| between the parallel (or chunked) and the recurrent form, relative to the largest
    |output|, in float32 and in float64 -> DataFrame compared, float32, float64."""
    L = check_int("L", L, 1, MAX_FORM_LEN)
    d = check_int("d", d, 1, MAX_FORM_DIM)
    rows = {m: {} for m in LINEAR_METHODS if m != "recurrent"}
    for dtype, col in ((torch.float32, "float32"), (torch.float64, "float64")):
        q, k, v = _qkv(L, d, seed, dtype=dtype)
        ref = linear_attention(q, k, v, method="recurrent")
        for m in rows:
            rows[m][col] = float((linear_attention(q, k, v, method=m) - ref).abs().max() / ref.abs().max())
    return pd.DataFrame([{"compared": f"{m} vs recurrent", **r} for m, r in rows.items()])


def form_timing(lengths, *, d: int = 64, seed: int = 0, repeats: int = 1) -> pd.DataFrame:
    """Seconds of one forward pass of a linear-attention head (batch 1, dk = dv = ``d``, no gradient) by each
    method, per L -> DataFrame L, method, seconds (median of ``repeats`` after one untimed call at each L).

    A length whose parallel form would need more than ``MAX_PROBE_BYTES`` (:func:`state_peak_bytes`) raises
    ``ValueError`` before anything is allocated."""
    d = check_int("d", d, 1, MAX_FORM_DIM)
    repeats = check_int("repeats", repeats, 1, 20)
    lengths = [check_int("L", L, 1, MAX_FORM_LEN) for L in lengths]
    need = state_peak_bytes(1, 1, max(lengths), d, d, "parallel")
    if need > MAX_PROBE_BYTES:
        raise ValueError(f"L = {max(lengths)} needs {need / 2**20:.0f} MB, over {MAX_PROBE_BYTES >> 20} MB")
    rows = []
    for L in lengths:
        q, k, v = _qkv(L, d, seed)
        for m in LINEAR_METHODS:

            def run(m=m, q=q, k=k, v=v):
                with torch.no_grad():
                    linear_attention(q, k, v, method=m, max_bytes=MAX_PROBE_BYTES)

            run()  # untimed: the first call at a new size pays for its allocations
            rows.append({"L": L, "method": m, "seconds": median_seconds(run, repeats)})
    return pd.DataFrame(rows)


def crossover(timing: pd.DataFrame) -> int | None:
    """The smallest measured L from which on the parallel form is slower than the recurrent one at every
    longer L too (None if it never is, within the measured lengths)."""
    wide = timing.pivot(index="L", columns="method", values="seconds").sort_index()
    slower = (wide["parallel"] > wide["recurrent"]).to_numpy()
    for i, L in enumerate(wide.index):
        if slower[i:].all():
            return int(L)
    return None


LAW_NAMES = {"parallel": "parallel ∝ L²", "recurrent": "recurrent ∝ L"}  # the closed forms drawn dashed
LAW_EXPONENTS = {"parallel": 2.0, "recurrent": 1.0}


def timing_with_laws(timing: pd.DataFrame) -> pd.DataFrame:
    """:func:`form_timing` as series (method name) plus the laws O(L²) and O(L) through each form's time at
    the longest L -> DataFrame L, seconds, series, method (the form a law belongs to)."""
    frames = [timing.assign(series=timing["method"])[["L", "seconds", "series", "method"]]]
    longest = timing["L"].max()
    for method, name in LAW_NAMES.items():
        ref = float(timing.loc[(timing["L"] == longest) & (timing["method"] == method), "seconds"].iloc[0])
        Ls = np.sort(timing["L"].unique())
        seconds = theory.power_law_through(Ls, float(longest), ref, LAW_EXPONENTS[method])
        frames.append(pd.DataFrame({"L": Ls, "seconds": seconds, "series": name, "method": method}))
    return pd.concat(frames, ignore_index=True)


def predicted_crossover(timing: pd.DataFrame) -> float:
    """Where the laws through the longest L meet: c₂L² = c₁L at L = L_max · t_recurrent / t_parallel (below
    L_max when the parallel form is already the slower one there)."""
    longest = timing["L"].max()
    at = timing[timing["L"] == longest].set_index("method")["seconds"]
    return float(longest * at["recurrent"] / at["parallel"])


# --- 2. a memory of fixed size ---------------------------------------------------------------------------------

RULE_NAMES = {"linear": "linear attention (additive)", "delta": "DeltaNet (delta rule)"}  # palette: model first
MAX_TRIALS = 2000


def random_pairs(trials: int, n: int, dk: int, dv: int, generator: torch.Generator):
    """``trials`` independent memories' worth of n pairs: keys uniform on the unit sphere of R^dk, values on
    that of R^dv (float64) -> keys (trials, 1, n, dk), values (trials, 1, n, dv)."""
    keys = F.normalize(torch.randn(trials, 1, n, dk, generator=generator, dtype=torch.float64), dim=-1)
    values = F.normalize(torch.randn(trials, 1, n, dv, generator=generator, dtype=torch.float64), dim=-1)
    return keys, values


STORE_CHUNK = 16  # C of the chunked forms that write the demonstration's memories


@torch.no_grad()
def store(keys: torch.Tensor, values: torch.Tensor, rule: str) -> torch.Tensor:
    """The state after writing every pair in order, from S_0 = 0: keys (B, 1, n, dk), values (B, 1, n, dv) ->
    S (B, 1, dk, dv), by the additive rule S += k vᵀ or the delta rule with β = 1. The B memories are written
    in groups small enough for ``MAX_PROBE_BYTES`` (:func:`state_peak_bytes` of one group)."""
    check_choice("rule", rule, tuple(RULE_NAMES))
    _, _, n, dk = keys.shape
    one = state_peak_bytes(1, 1, n, dk, values.shape[-1], "chunked", chunk_size=STORE_CHUNK, element_size=8)
    group = max(1, MAX_PROBE_BYTES // one)
    states = []
    for k, v in zip(keys.split(group), values.split(group), strict=True):
        kw = {"method": "chunked", "chunk_size": STORE_CHUNK, "return_state": True, "max_bytes": MAX_PROBE_BYTES}
        if rule == "linear":
            _, S = linear_attention(k, k, v, **kw)
        else:
            _, S = delta_rule(k, k, v, k.new_ones(k.shape[:3]), **kw)
        states.append(S)
    return torch.cat(states)


def retrieval_errors(keys: torch.Tensor, values: torch.Tensor, rule: str) -> torch.Tensor:
    """Squared retrieval error of each memory, per pair and relative to |v|²: Σ_i |Sᵀk_i − v_i|² / Σ_i |v_i|²
    after all writes -> (B,) float64."""
    S = store(keys, values, rule)
    read = keys @ S  # (B, 1, n, dv): Sᵀ k_i for every key
    return ((read - values) ** 2).sum((1, 2, 3)) / (values**2).sum((1, 2, 3))


def memory_frame(dk: int, pair_counts, seed: int, *, dv: int = 16, trials: int = 200) -> pd.DataFrame:
    """Retrieval error against the number of pairs n stored in a dk × dv state, both rules, measured over
    ``trials`` random memories and predicted (:func:`lrd_core.theory.additive_memory_error`,
    :func:`lrd_core.theory.delta_memory_error`) -> DataFrame rule, model, n, load (n/dk), measured_sq (mean
    squared error), se_sq (its standard error), theory_sq, measured and theory (their square roots: the RMS
    relative error a chart shows)."""
    dk = check_int("dk", dk, 1, MAX_MEMORY_DK)
    dv = check_int("dv", dv, 1, MAX_MEMORY_DK)
    trials = check_int("trials", trials, 2, MAX_TRIALS)
    counts = [check_int("n", n, 1, MAX_MEMORY_LOAD * dk) for n in pair_counts]
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    rows = []
    for n in counts:
        keys, values = random_pairs(trials, n, dk, dv, g)
        for rule, name in RULE_NAMES.items():
            err = retrieval_errors(keys, values, rule).numpy()
            th = theory.additive_memory_error(n, dk) if rule == "linear" else theory.delta_memory_error(n, dk)
            rows.append(
                {
                    "rule": rule,
                    "model": name,
                    "n": n,
                    "load": n / dk,
                    "measured_sq": float(err.mean()),
                    "se_sq": float(err.std(ddof=1) / math.sqrt(trials)),
                    "theory_sq": float(th),
                }
            )
    df = pd.DataFrame(rows)
    return df.assign(measured=np.sqrt(df["measured_sq"]), theory=np.sqrt(df["theory_sq"]))


def load_grid(dk: int, most: float = 4.0) -> list[int]:
    """Pair counts n for :func:`memory_frame`: 1, then about 16 steps up to n = most·dk."""
    top = check_int("most·dk", round(most * check_int("dk", dk, 1, MAX_MEMORY_DK)), 1, MAX_MEMORY_LOAD * dk)
    return sorted({1, *np.unique(np.linspace(1, top, 17).round().astype(int)).tolist()})


def pairs_below(dk: int, level: float, rule: str = "delta") -> int:
    """The largest n whose expected RMS relative retrieval error (closed form) is below ``level``: how many
    pairs a dk-dimensional memory returns that well."""
    check_choice("rule", rule, tuple(RULE_NAMES))
    error = theory.additive_memory_error if rule == "linear" else theory.delta_memory_error
    n = 1
    while n < theory.MAX_MEMORY_PAIRS and math.sqrt(error(n + 1, dk)) < level:
        n += 1
    return n


def overwrite_demo(dk: int, n_between: int, seed: int, *, dv: int = 16) -> pd.DataFrame:
    """Write v_old under a unit key, then ``n_between`` other pairs, then v_new under the same key; read the
    key back from each rule's state -> DataFrame rule, model, cos_new, cos_old (cosine of the read-out with
    the new and the old value) and error_new (|read − v_new| / |v_new|)."""
    dk = check_int("dk", dk, 1, MAX_MEMORY_DK)
    n_between = check_int("n_between", n_between, 0, MAX_MEMORY_LOAD * MAX_MEMORY_DK)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    keys, values = random_pairs(1, n_between + 2, dk, dv, g)
    keys = torch.cat([keys[:, :, :-1], keys[:, :, :1]], dim=2)  # the first key again, last
    v_old, v_new = values[0, 0, 0], values[0, 0, -1]
    rows = []
    for rule, name in RULE_NAMES.items():
        read = store(keys, values, rule)[0, 0].T @ keys[0, 0, 0]  # (dv,)
        rows.append(
            {
                "rule": rule,
                "model": name,
                "cos_new": float(F.cosine_similarity(read, v_new, dim=0)),
                "cos_old": float(F.cosine_similarity(read, v_old, dim=0)),
                "error_new": float((read - v_new).norm() / v_new.norm()),
            }
        )
    return pd.DataFrame(rows)


# --- 3. the race: multi-query associative recall ---------------------------------------------------------------

N_KEYS = N_VALUES = 64  # MQAR vocabulary: 64 keys and 64 values (the pilot's 128 tokens)
VOCAB = N_KEYS + N_VALUES
WIDTH = 64  # d_model of every racer: the width of the residual stream
KINDS = ("attention", "S4D", "S6", "DeltaNet")  # the racers, attention first
FIXED_STATE = KINDS[1:]  # the models whose state has a fixed size
SOLVED = 0.9  # query accuracy at which a racer counts as recalling
BEHIND = 0.5  # the verdict's contrast: every fixed-state model below this when attention reaches SOLVED
MAX_RACE_PAIRS = MAX_MQAR_PAIRS  # 64 pairs: sequences of 192 tokens
CURVE_PAIRS = (4, 8, 16, 32)  # the capacity curve's pair counts (those up to the chosen number)
RACE_BATCH = 32  # sequences per step


class PreviousToken(nn.Module):
    """Each step's one-hot token next to the one before it (zeros at t = 0): (B, T, V) -> (B, T, 2V).

    The short causal convolution of Zoology's models does this inside every block; here it is done once,
    for every racer alike, so that a value arrives together with its key and one hop of lookup suffices."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, F.pad(x[:, :-1], (0, 0, 1, 0))], dim=-1)  # (B, T, 2V)


def racer(kind: str, seed: int) -> SequenceTagger:
    """One racer of width WIDTH, two blocks, a per-step read-out over the N_VALUES values, weights from
    ``seed``: one-hot MQAR (B, T, VOCAB) -> logits (B, T, N_VALUES).

    "attention": a Pre-LN Transformer (4 heads, MLP of 64, sinusoidal positions); "S4D": S4D-Lin with 64 complex
    modes per channel; "S6": Mamba blocks (inner 96, 16 real modes); "DeltaNet": 2 heads with an 8 × 8 state
    each and an MLP of 160. The sizes match the parameter counts within 3 % (:func:`parameter_counts`)."""
    check_choice("kind", kind, KINDS)
    init, _ = split_seed(seed)
    f = 2 * VOCAB
    if kind == "attention":
        encoder = TransformerStack(TransformerConfig(f, WIDTH, n_heads=4, n_layers=2, d_ff=64), init)
    elif kind == "S4D":
        encoder = S4DModel(S4DConfig(f, WIDTH, state_size=64, n_layers=2, init="lin"), init)
    elif kind == "S6":
        encoder = S6Model(S6Config(f, WIDTH, inner=96, state_size=16, n_layers=2), init)
    else:
        encoder = LinearAttentionModel(LinearAttentionConfig(f, WIDTH, n_heads=2, head_dim=8, d_ff=160), init)
    return SequenceTagger(nn.Sequential(PreviousToken(), encoder), WIDTH, N_VALUES, init)


STATE = {  # what each racer carries from the past, per block, for a sequence of T tokens
    "attention": "every key and value: 2 × 64 × T numbers, growing with T",
    "S4D": "64 channels × 64 complex modes, fixed and the same for every input (time-invariant)",
    "S6": "96 channels × 16 modes, written and kept by input-dependent steps Δ",
    "DeltaNet": "2 heads × an 8 × 8 matrix S, written by the delta rule",
}


def parameter_counts() -> dict[str, int]:
    """Trainable parameters of each racer (the same for every seed)."""
    return {k: sum(p.numel() for p in racer(k, 0).parameters()) for k in KINDS}


@torch.no_grad()
def query_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of query steps (y != IGNORE_INDEX) at which the argmax of ``model(x)`` is the queried key's value."""
    return parity_accuracy(model, x, y)


def race_run(
    kind: str,
    n_pairs: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    eval_every: int = 20,
    eval_batch: int = 256,
) -> Iterator[StepEvent]:
    """Train :func:`racer` ``kind`` on fresh MQAR batches with ``n_pairs`` pairs (cross-entropy at the query
    steps); ``metrics["accuracy"]`` is :func:`query_accuracy` on one held-out batch of ``eval_batch``
    sequences drawn first from the data generator of ``seed`` (see :func:`lrd_core.task_runs.heldout_run`)."""
    n_pairs = check_int("n_pairs", n_pairs, 1, MAX_RACE_PAIRS)
    model = racer(kind, seed)
    draw = partial(_mqar_batch, n_pairs=n_pairs)
    return heldout_run(model, draw, parity_loss, query_accuracy, config, seed, device, eval_every, eval_batch)


def _mqar_batch(batch: int, generator: torch.Generator, *, n_pairs: int):
    return mqar(batch, n_pairs, generator, N_KEYS, N_VALUES)


def race_config(steps: int, lr: float) -> TrainConfig:
    """The race's training settings: Adam at ``lr``, batches of RACE_BATCH, gradients clipped at norm 1."""
    return TrainConfig(steps=steps, lr=lr, batch=RACE_BATCH, clip=1.0)


VALIDATION_SEED = 1000  # the learning-rate sweep trains and scores on this seed's data, never on seeds 0-4
SWEEP_LRS = (1e-3, 3e-3, 1e-2, 3e-2)
SWEEP_STEPS = 300  # steps of every run of the recorded sweep


def lr_sweep(kinds=KINDS, lrs=SWEEP_LRS, *, n_pairs: int = 8, steps: int = SWEEP_STEPS, seed: int = VALIDATION_SEED):
    """Each racer trained at each learning rate for ``steps`` steps with ``n_pairs`` pairs on the data of
    ``seed`` (the validation split: its own training batches and held-out batch, disjoint from the races'
    seeds) -> DataFrame kind, lr, accuracy (last evaluation), best (best evaluation)."""
    rows = []
    for kind in kinds:
        for lr in lrs:
            accs = [e.metrics["accuracy"] for e in race_run(kind, n_pairs, race_config(steps, lr), seed) if e.metrics]
            rows.append({"kind": kind, "lr": lr, "accuracy": accs[-1], "best": max(accs)})
    return pd.DataFrame(rows)


SWEEP_RECORD = {  # lr_sweep(), 300 steps with 8 pairs on the validation seed 1000: held-out query accuracy at the
    # end, one per rate of SWEEP_LRS (torch 2.13, one core; 146 CPU-s in all)
    "attention": (0.4233, 0.9951, 0.9956, 0.1255),
    "S4D": (0.1191, 0.1587, 0.1592, 0.1558),
    "S6": (0.0552, 0.1421, 0.0591, 0.0146),
    "DeltaNet": (0.2471, 0.1240, 0.1172, 0.0942),
}
RACE_LR = {k: SWEEP_LRS[int(np.argmax(acc))] for k, acc in SWEEP_RECORD.items()}  # each racer's best rate


def sweep_table() -> pd.DataFrame:
    """The recorded sweep as a table: one row per racer, one column per learning rate (accuracy)."""
    return pd.DataFrame(
        [
            {"model": k, **{f"lr = {lr:g}": a for lr, a in zip(SWEEP_LRS, acc, strict=True)}}
            for k, acc in SWEEP_RECORD.items()
        ]
    )


def pair_counts(pairs: int, curve: bool) -> tuple[int, ...]:
    """The pair counts a race trains: just ``pairs``, or (``curve``) every CURVE_PAIRS count up to it."""
    pairs = check_int("pairs", pairs, 2, MAX_RACE_PAIRS)
    if not curve:
        return (pairs,)
    return (*(n for n in CURVE_PAIRS if n < pairs), pairs)


def series_name(kind: str, n_pairs: int, curve: bool) -> str:
    """The race's series: the racer's name alone, or with its pair count on a capacity curve ("S6, 16 pairs")."""
    return f"{kind}, {n_pairs} pairs" if curve else kind


def race(
    pairs: int,
    steps: int,
    seed: int,
    device: str = "cpu",
    *,
    curve: bool = False,
    kinds: tuple[str, ...] = KINDS,
    lrs: Mapping[str, float] = RACE_LR,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories for every racer (and with ``curve`` every pair count of :func:`pair_counts`): the same
    seed, so the same batches for all racers at one pair count, each with its own learning rate ``lrs``."""
    counts = pair_counts(pairs, curve)
    for k in kinds:
        check_choice("kind", k, KINDS)
    every, batch = (50, 128) if curve else (20, 256)  # a curve reads its last evaluation only
    return {
        series_name(k, n, curve): partial(
            race_run, k, n, race_config(steps, lrs[k]), seed, device, eval_every=every, eval_batch=batch
        )
        for n in counts
        for k in kinds
    }


def _at(history: pd.DataFrame, name: str, step: int) -> float:
    """Accuracy of ``name`` at its last evaluation up to ``step`` (NaN if none)."""
    d = metric_series(history, name, "accuracy")
    d = d[d["step"] <= step]
    return float(d["accuracy"].iloc[-1]) if len(d) else math.nan


def race_verdict(history: pd.DataFrame, finished: bool, *, pairs: int) -> Verdict | None:
    """The race at one pair count in one sentence, or None while undecided: decided when attention first
    reaches SOLVED query accuracy (the fixed-state models' accuracy at that step is quoted) or at the end.
    Expected: attention recalls, and every fixed-state model is below BEHIND at that step."""
    if "accuracy" not in history or not len(metric_series(history, "attention", "accuracy")):
        return None
    hit = first_at_least(history, "attention", "accuracy", SOLVED)
    if hit is None and not finished:
        return None
    others = [k for k in FIXED_STATE if len(metric_series(history, k, "accuracy"))]
    guess = f"guessing among the {pairs} values shown scores 1/{pairs}"
    if hit is None:
        last = steps_run(history, "attention")
        best = {k: best_metric(history, k, "accuracy") for k in ("attention", *others)}
        parts = join_and([f"{k} {pct(best[k])}" for k in others])
        return Verdict(
            False,
            f"In {last} steps attention did not reach {pct(SOLVED)} with {pairs} pairs (best {pct(best['attention'])}"
            f"; {parts}; {guess}): give it more steps.",
        )
    at = {k: _at(history, k, hit) for k in others}
    ahead = [k for k, a in at.items() if a >= BEHIND]
    text = (
        f"With {pairs} pairs attention recalled {pct(_at(history, 'attention', hit))} of the queried values by "
        f"step {hit}; at that step {join_and([f'{k} was at {pct(a)}' for k, a in at.items()])} ({guess})"
    )
    if ahead:
        return Verdict(False, text + f": {join_and(ahead)} kept up. Try more pairs.")
    return Verdict(True, text + ".")


def curve_frame(history: pd.DataFrame, pair_list, *, kinds: tuple[str, ...] = KINDS) -> pd.DataFrame:
    """Each racer's last evaluated accuracy at each pair count of a capacity-curve history -> DataFrame
    model, pairs, accuracy, step (rows only for series evaluated at least once)."""
    rows = []
    for n in pair_list:
        for k in kinds:
            d = metric_series(history, series_name(k, n, True), "accuracy")
            if len(d):
                rows.append(
                    {"model": k, "pairs": n, "accuracy": float(d["accuracy"].iloc[-1]), "step": int(d["step"].iloc[-1])}
                )
    return pd.DataFrame(rows, columns=["model", "pairs", "accuracy", "step"])


FALL = 0.1  # the capacity curve's contrast: a fixed-state model ends at least this far below its own first count


def curve_verdict(history: pd.DataFrame, finished: bool, *, pair_list) -> Verdict | None:
    """The capacity curve in one sentence, once every series has finished: attention's accuracy from the
    fewest to the most pairs, and each fixed-state model's. Expected: attention at or above SOLVED at every
    count (flat), every fixed-state model at least FALL lower at the most pairs than at the fewest."""
    if not finished:
        return None
    curve = curve_frame(history, pair_list)
    lo, hi = min(pair_list), max(pair_list)
    acc = {(r.model, r.pairs): r.accuracy for r in curve.itertuples()}
    if any((k, n) not in acc for k in KINDS for n in (lo, hi)):
        return Verdict(False, "The run ended before every racer was evaluated at every pair count.")
    flat = all(acc[("attention", n)] >= SOLVED for n in pair_list if ("attention", n) in acc)
    falling = [k for k in FIXED_STATE if acc[(k, hi)] <= acc[(k, lo)] - FALL]
    moves = join_and([f"{k} {pct(acc[(k, lo)])} -> {pct(acc[(k, hi)])}" for k in FIXED_STATE])
    text = (
        f"From {lo} to {hi} pairs attention went {pct(acc[('attention', lo)])} -> {pct(acc[('attention', hi)])}"
        f"{' (never below ' + pct(SOLVED) + ')' if flat else ''}; the fixed-state models: {moves}"
    )
    if flat and len(falling) == len(FIXED_STATE):
        return Verdict(True, text + ": the fixed state ran out, attention's cache did not.")
    if not flat:
        return Verdict(False, text + f": attention fell below {pct(SOLVED)} somewhere; give it more steps.")
    return Verdict(False, text + f": {join_and([k for k in FIXED_STATE if k not in falling])} did not fall.")


# --- the lecture demo: sizes, verdict -------------------------------------------------------------------------

SIZES = {  # widget key -> value of the race's widgets
    LECTURE: {"rec_pairs": 8, "rec_steps": 200, "rec_curve": False},
    FULL: {"rec_pairs": 32, "rec_steps": 250, "rec_curve": True},
}
FULL_SIZE_CHECKED = "by a slow test on seeds 0-2"
VERSION = 1  # bump when the race's code changes the numbers a run gives (part of every Demo key)
DEFAULTS = dict(SIZES[LECTURE])


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The MQAR race with the page's widget values (keys of DEFAULTS; missing ones take the defaults): what the
    page's Start button runs. ``info``: the pair counts, whether it is a capacity curve, the racers' parameter
    counts and learning rates, chance and the solved level."""
    v = {
        k: int(x) if isinstance(x, float) and x.is_integer() else x
        for k, x in resolve(values, DEFAULTS, "recall").items()
    }
    steps = check_int("rec_steps", v["rec_steps"], 20, MAX_RECALL_STEPS)
    curve = bool(v["rec_curve"])
    counts = pair_counts(v["rec_pairs"], curve)
    factories = race(v["rec_pairs"], steps, seed, device, curve=curve)
    judge = partial(curve_verdict, pair_list=counts) if curve else partial(race_verdict, pairs=int(v["rec_pairs"]))
    info = {
        "pairs": counts,
        "curve": curve,
        "counts": parameter_counts(),
        "lrs": dict(RACE_LR),
        "chance": 1 / N_VALUES,
        "solved": SOLVED,
    }
    key = demo_key("recall", VERSION, {**v, "rec_curve": curve}, seed, device)
    return Demo(factories, steps, judge, key, info, describe(v, seed))
