"""Page "State-space models" (seed: "The Rise of State Space Models (SSMs)").

S4D channels: their convolution kernels and memory e^(−L/τ) next to an LSTM's f̄^L, how far each
initialisation reaches, the FFT convolution against the step-by-step scan (same output, time per L),
sequence costs of LSTM, S4D and attention, and the race of S4D against an LSTM on delayed recall.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.formats import pct
from lrd_core.gradients import loglog_slope, median_seconds
from lrd_core.history import best_metric, first_at_least
from lrd_core.limits import MAX_SSM_TRAIN_SEQ_LEN
from lrd_core.models import s4d
from lrd_core.models.heads import SequenceRegressor
from lrd_core.models.recurrent import build_recurrent
from lrd_core.models.s4d import S4DConfig, S4DModel
from lrd_core.models.transformer import self_attention
from lrd_core.task_runs import heldout_run
from lrd_core.tasks import delayed_recall
from lrd_core.theory import (
    ASYMPTOTIC_EXPONENT,
    COST_AXES,
    DOMINANT_SHARE,
    LEADING_TERMS,
    dominant_mask,
    forget_time_constant,
    sequence_cost,
    sequence_cost_terms,
    ssm_memory,
)
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_choice, check_int


def ssm_channels(H: int, N: int, init: str, dt_min: float, dt_max: float, seed: int):
    """(dt [H], A [H, N], C [H, N]) in float64 with Δ spread evenly on a log scale from dt_min to dt_max
    (not drawn, so that a few channels show the whole range) and C drawn from ``seed``."""
    H = check_int("H", H, 1, 64)
    dt_min = float(dt_min)
    dt = torch.exp(torch.linspace(np.log(dt_min), np.log(float(dt_max)), H, dtype=torch.float64))
    _, A, C = s4d.s4d_parameters(
        H, N, init, dt_min, dt_max, torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    )
    return dt, A, C


def ssm_kernel_frame(dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor, L: int, max_points: int = 400) -> pd.DataFrame:
    """|K[l]| per channel and its bound, thinned for a chart -> DataFrame channel, dt, l, abs_K, kind, series.

    kind "measured": the largest |K[l]| within each of at most ``max_points`` bins of l (the envelope of an
    oscillating kernel); kind "bound": 2 Σ_n |C'_n| exp(−l/τ_n), which no |K[l]| can exceed (triangle
    inequality), evaluated at the bin's first l. Zeros stay zeros (the chart marks them).
    """
    K = s4d.s4d_kernel(dt, A, C, L).abs()  # (H, L)
    _, B_bar = s4d.discretize(dt, A)
    weight = 2 * (C * B_bar).abs()  # (H, N)
    tau = s4d.time_constants(dt, A)  # (H, N)
    width = -(-L // check_int("max_points", max_points, 2, 100_000))
    starts = np.arange(0, L, width)
    rows = []
    for h in range(K.shape[0]):
        env = np.maximum.reduceat(K[h].numpy(), starts)
        bound = (
            weight[h].unsqueeze(-1) * torch.exp(-torch.as_tensor(starts, dtype=torch.float64) / tau[h].unsqueeze(-1))
        ).sum(0)
        name = f"Δ = {float(dt[h]):.2g}"
        for kind, vals in (("measured", env), ("bound", bound.numpy())):
            rows.append(
                pd.DataFrame(
                    {
                        "channel": name,
                        "dt": float(dt[h]),
                        "l": starts,
                        "abs_K": vals,
                        "kind": kind,
                        "series": f"{name}, {'|K[l]|' if kind == 'measured' else 'bound'}",
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def kernel_reach(K: torch.Tensor, fraction: float = 1e-3) -> np.ndarray:
    """Per channel of K [H, L]: 1 + the last l with |K[l]| >= fraction · max_l |K[l]| (L if it never fades)."""
    a = K.abs().numpy()
    above = a >= fraction * a.max(axis=1, keepdims=True)
    return np.array([int(np.flatnonzero(row)[-1]) + 1 if row.any() else 0 for row in above])


def init_reach_table(N: int, dt_min: float, dt_max: float, L: int, seed: int, H: int = 16) -> pd.DataFrame:
    """For each S4D initialisation: time constants from the eigenvalues and the measured reach of the kernel.

    H channels, Δ log-spaced over [dt_min, dt_max]. Columns: init, slowest τ (steps), median τ, median reach
    (kernel above 1e-3 of its peak), longest reach.
    """
    rows = []
    for init in s4d.INITS:
        dt, A, C = ssm_channels(H, N, init, dt_min, dt_max, seed)
        tau = s4d.time_constants(dt, A)
        reach = kernel_reach(s4d.s4d_kernel(dt, A, C, L))
        rows.append(
            {
                "init": f"S4D-{init.capitalize()}",
                "slowest τ": float(tau.max()),
                "median τ": float(tau.median()),
                "median reach": float(np.median(reach)),
                "longest reach": int(reach.max()),
            }
        )
    return pd.DataFrame(rows)


@torch.no_grad()
def fft_vs_scan(H: int, N: int, init: str, lengths, seed: int, repeats: int = 3, batch: int = 1) -> pd.DataFrame:
    """Both computations of one S4D layer on the same random input, for each L -> DataFrame
    L, method ("recurrence" or "FFT (kernel + convolution)"), seconds (median of ``repeats``), max_error
    (max |y_fft − y_scan|, float32) and rel_error (that over max |y_scan|)."""
    dt, A, C = s4d.s4d_parameters(H, N, init, 1e-3, 1e-1, torch.Generator().manual_seed(seed))
    dt, A, C = dt.float(), A.to(torch.complex64), C.to(torch.complex64)
    g = torch.Generator().manual_seed(seed + 1)
    rows = []
    for L in lengths:
        u = torch.randn(batch, H, L, generator=g)  # (B, H, L)
        y_scan = s4d.ssm_scan(u, dt, A, C)
        y_fft = s4d.ssm_fft(u, s4d.s4d_kernel(dt, A, C, L))
        err = float((y_fft - y_scan).abs().max())
        rel = err / max(float(y_scan.abs().max()), 1e-30)
        t_scan = median_seconds(lambda u=u: s4d.ssm_scan(u, dt, A, C), repeats)
        t_fft = median_seconds(lambda u=u, L=L: s4d.ssm_fft(u, s4d.s4d_kernel(dt, A, C, L)), repeats)
        rows += [
            {"L": L, "method": "recurrence", "seconds": t_scan, "max_error": err, "rel_error": rel},
            {"L": L, "method": "FFT (kernel + convolution)", "seconds": t_fft, "max_error": err, "rel_error": rel},
        ]
    return pd.DataFrame(rows)


def _cost_layers(H: int, N: int, g: torch.Generator) -> dict:
    """One layer of each kind at width H, as it is run in practice, weights drawn from ``g``:
    x (B, L, H) -> a forward call."""
    lstm = build_recurrent("LSTM", H, H, g, fused=True)  # torch's fused loop: little overhead per step
    ssm = s4d.S4D(S4DConfig(H, H, N, 1, "lin"), g)  # kernel + FFT convolution + D skip + GELU + GLU mix
    W = [torch.randn(H, H, generator=g) / H**0.5 for _ in range(4)]  # W_q, W_k, W_v, W_o
    return {
        "LSTM": lstm,
        "S4D (FFT)": lambda x: ssm(x.transpose(1, 2)),  # S4D reads (B, H, L)
        "attention": lambda x: self_attention(x, *W[:3]) @ W[3],
    }


def _fastest(fn, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls: on a shared machine the other users' load only ever adds time."""
    best = float("inf")
    for _ in range(check_int("repeats", repeats, 1, 50)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def sequence_costs(lengths, widths, N: int, seed: int, repeats: int = 3, batch: int = 1) -> pd.DataFrame:
    """Measured forward seconds of one layer of each kind for every (L, H) pair -> DataFrame
    model, L, H, batch, seconds (fastest of ``repeats`` after a warm-up), ops (the multiply-adds of
    :func:`lrd_core.theory.sequence_cost`, projections included), theory (ops scaled to agree with the
    measurement at the largest ops of each model).

    LSTM: torch's fused LSTM, input size H; S4D: the ``S4D`` layer (kernel from N modes, FFT convolution,
    GLU output projection H -> 2H); attention: one head, :func:`self_attention` then an output map.
    ``batch`` sequences at once, float32.
    """
    batch = check_int("batch", batch, 1, 256)
    rows = []
    for H in widths:
        g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
        layers = _cost_layers(check_int("H", H, 1, 256), N, g)
        for L in lengths:
            x = torch.randn(batch, check_int("L", L, 1, 8192), H, generator=g)  # (B, L, H)
            for model, layer in layers.items():
                layer(x)  # warm-up
                rows.append(
                    {
                        "model": model,
                        "L": L,
                        "H": H,
                        "batch": batch,
                        "seconds": _fastest(lambda layer=layer, x=x: layer(x), repeats),
                        "ops": sequence_cost(model, L, H, N, batch),
                    }
                )
    df = pd.DataFrame(rows)
    scale = df.loc[df.groupby("model")["ops"].idxmax()].set_index("model")  # the largest case of each model
    df["theory"] = df["ops"] * df["model"].map(scale["seconds"] / scale["ops"])
    return df


def cost_slopes(df: pd.DataFrame, axis: str, N: int) -> pd.DataFrame:
    """Log-log slopes of a :func:`sequence_costs` table along ``axis`` ("L" or "H"; the other is fixed),
    fitted per model only where the terms that grow fastest along it (``theory.LEADING_TERMS``) make at
    least ``theory.DOMINANT_SHARE`` of the count. Rows: model, x_from, x_to, points, measured (slope of
    the seconds), model_slope (slope of the count over the same sizes), asymptotic
    (``theory.ASYMPTOTIC_EXPONENT``), dominated (False when fewer than two sizes qualify: then the two
    largest are fitted)."""
    check_choice("axis", axis, COST_AXES)
    rows = []
    for model, d in df.groupby("model", sort=False):
        d = d.sort_values(axis)
        x = d[axis].to_numpy(dtype=float)
        terms = [sequence_cost_terms(model, r.L, r.H, N, r.batch) for r in d.itertuples()]
        by_term = {k: np.array([t[k] for t in terms]) for k in terms[0]}  # term -> count at each size
        mask = dominant_mask(by_term, LEADING_TERMS[(model, axis)], DOMINANT_SHARE)
        dominated = bool(mask.sum() >= 2)
        if not dominated:
            mask = np.sort(x)[-2] <= x
        rows.append(
            {
                "model": model,
                "x_from": int(x[mask].min()),
                "x_to": int(x[mask].max()),
                "points": int(mask.sum()),
                "measured": loglog_slope(x[mask], d["seconds"].to_numpy(dtype=float)[mask]),
                "model_slope": loglog_slope(x[mask], d["ops"].to_numpy(dtype=float)[mask]),
                "asymptotic": ASYMPTOTIC_EXPONENT[(model, axis)],
                "dominated": dominated,
            }
        )
    return pd.DataFrame(rows)


def memory_decay_frame(
    N: int, init: str, dt_min: float, dt_max: float, f_bar: float, L_max: int = 10_000, points: int = 200
) -> pd.DataFrame:
    """How much of an input survives L steps -> DataFrame L, memory, series, kind (ssm / lstm).

    SSM: exp(−L/τ) for the slowest mode of the slowest channel (Δ = dt_min) and of the fastest (Δ = dt_max),
    τ from the eigenvalues (:func:`lrd_core.s4d.time_constants`), next to |Ā|^L computed from the discretised
    eigenvalue itself; LSTM: f̄^L for gates fixed at f̄ (:func:`lrd_core.theory.forget_gate_product` form).
    """
    L_max = check_int("L_max", L_max, 2, 10**7)
    L = np.unique(np.geomspace(1, L_max, check_int("points", points, 2, 10_000)).round())
    dt, A, _ = ssm_channels(2, N, init, dt_min, dt_max, 0)
    tau = s4d.time_constants(dt, A).max(dim=1).values  # (2,): slowest mode of each channel
    A_bar, _ = s4d.discretize(dt, A)
    slowest = A_bar.abs().max(dim=1).values  # (2,): |Ā| of that mode
    frames = []
    for h, name in (
        (0, f"SSM, Δ = {dt_min:g}: exp(−L/τ), τ = {float(tau[0]):.4g}"),
        (1, f"SSM, Δ = {dt_max:g}: exp(−L/τ), τ = {float(tau[1]):.4g}"),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "L": L,
                    "memory": ssm_memory(L, float(tau[h])),
                    "series": name,
                    "kind": "ssm",
                    "direct": np.power(float(slowest[h]), L),
                }
            )
        )
    tau_f = forget_time_constant(f_bar)
    frames.append(
        pd.DataFrame(
            {
                "L": L,
                "memory": np.power(f_bar, L),
                "series": f"LSTM: f̄^L, f̄ = {f_bar:g} (τ = {tau_f:.4g})",
                "kind": "lstm",
                "direct": np.power(f_bar, L),
            }
        )
    )
    return pd.concat(frames, ignore_index=True)


RECALL_SYMBOLS = 8  # delayed recall: one of 8 symbols, chance 1/8


RECALL_KINDS = ("S4D", "LSTM")


def recall_model(
    kind: str,
    seed: int,
    *,
    hidden_size: int = 64,
    state_size: int = 32,
    n_layers: int = 2,
    init: str = "lin",
    n_symbols: int = RECALL_SYMBOLS,
) -> SequenceRegressor:
    """ "S4D" (an S4DModel) or "LSTM" (torch's fused LSTM, hidden ``hidden_size``) with a linear read-out of the last
    step over ``n_symbols`` classes: one-hot (B, T, n_symbols + 2) -> logits (B, n_symbols)."""
    check_choice("kind", kind, RECALL_KINDS)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    init_g, _ = split_seed(seed)
    D = n_symbols + 2
    if kind == "S4D":
        encoder = S4DModel(S4DConfig(D, hidden_size, state_size, n_layers, init), init_g)
    else:
        encoder = build_recurrent("LSTM", D, hidden_size, init_g, fused=True)  # fused: no gate is read here
    return SequenceRegressor(encoder, hidden_size, n_symbols, init_g)


@torch.no_grad()
def recall_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of sequences whose argmax logit is the symbol shown at t = 0; 1/n_symbols is chance."""
    return float((model(x).argmax(dim=-1) == y).double().mean())


def recall_run(
    model: torch.nn.Module,
    T: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    n_symbols: int = RECALL_SYMBOLS,
    eval_every: int = 10,
    eval_batch: int = 256,
) -> Iterator[StepEvent]:
    """Train ``model`` on fresh delayed-recall batches of length T by cross-entropy on the final answer.

    ``metrics["accuracy"]`` (every ``eval_every`` steps and at the end) is measured on one held-out batch
    of ``eval_batch`` sequences, drawn first from the data generator of ``seed``.
    """
    T = check_int("T", T, 2, MAX_SSM_TRAIN_SEQ_LEN)
    return heldout_run(
        model,
        lambda b, g: delayed_recall(b, T, g, n_symbols),
        F.cross_entropy,
        recall_accuracy,
        config,
        seed,
        device,
        eval_every,
        eval_batch,
    )


def ssm_vs_lstm(
    T: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    hidden_size: int = 64,
    state_size: int = 32,
    init: str = "lin",
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories "S4D" and "LSTM" on delayed recall over T steps: same seed, same batches, same budget."""
    check_int("T", T, 2, MAX_SSM_TRAIN_SEQ_LEN)
    kw = {"hidden_size": hidden_size, "state_size": state_size, "init": init}
    return {k: (lambda k=k: recall_run(recall_model(k, seed, **kw), T, config, seed, device)) for k in RECALL_KINDS}


# --- the lecture demo: sizes, verdict ------------------------------------------------------------------------

LEARNED = 0.9  # recall accuracy that counts as "remembers the symbol"
SIZES = {  # widget key -> value of the race's widgets
    LECTURE: {"recall_T": 100, "recall_steps": 100},
    FULL: {"recall_T": 250, "recall_steps": 200},
}
# tests/test_ssm.py::test_s4d_beats_lstm_on_delayed_recall (about 1.5 CPU-min a seed)
FULL_SIZE_CHECKED = "by a slow test on seed 0 only"


def recall_verdict(history: pd.DataFrame, finished: bool, *, T: int) -> Verdict | None:
    """S4D against the LSTM on delayed recall, in one sentence. Decided once S4D has reached LEARNED
    accuracy while the LSTM is below half of it, or at the end. Expected: S4D reaches LEARNED, the LSTM not."""
    s4d_at, lstm_best = first_at_least(history, "S4D", "accuracy", LEARNED), best_metric(history, "LSTM", "accuracy")
    if not finished and (s4d_at is None or not lstm_best < LEARNED / 2):
        return None
    chance = pct(1 / RECALL_SYMBOLS)
    if s4d_at is not None:
        text = f"S4D recalled the symbol from {T} steps back at {pct(LEARNED)} accuracy by step {s4d_at}"
    else:
        text = f"S4D reached {pct(best_metric(history, 'S4D', 'accuracy'))} over a delay of {T} steps"
    lstm_at = first_at_least(history, "LSTM", "accuracy", LEARNED)
    if lstm_at is None:
        text += f"; the LSTM's best was {pct(lstm_best)} (chance {chance})."
    else:
        text += f"; the LSTM got there too, at step {lstm_at}: try a longer delay."
    return Verdict(s4d_at is not None and lstm_at is None, text)


def race_config(steps: int) -> TrainConfig:
    """The race's training settings: Adam at 3e-3, batches of 32."""
    return TrainConfig(steps=steps, lr=3e-3, batch=32)


VERSION = 1  # bump when a change to this module changes the numbers of a run with the same settings
DEFAULTS = {**SIZES[LECTURE], "init": s4d.INITS[0]}  # the race's widgets at the page's defaults (init: the sidebar's)


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """S4D against the LSTM on delayed recall, from the page's widget values (keys of DEFAULTS; missing ones
    take the defaults): what the page's Start button runs. ``info``: chance, the delay T and the S4D init."""
    v = resolve(values, DEFAULTS, "state_space")
    T, steps, init = v["recall_T"], v["recall_steps"], check_choice("init", v["init"], s4d.INITS)
    factories = ssm_vs_lstm(T, race_config(steps), seed, device, init=init)
    info = {"chance": 1 / RECALL_SYMBOLS, "T": T, "init": init, "learned": LEARNED}
    key = demo_key("state_space", VERSION, v, seed, device)
    return Demo(factories, steps, partial(recall_verdict, T=T), key, info, describe(v, seed))
