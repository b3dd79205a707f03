"""Page "Convolutions" (seed: "Dilated Causal Convolutions").

The receptive field of a dilated causal stack measured by autograd (which inputs reach the last output)
next to the closed form R(k, d); how it grows with depth; and lag parity trained live, which a TCN solves
for lags inside R and cannot solve at or beyond it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from functools import partial

import numpy as np
import pandas as pd
import torch

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.formats import join_and, pct
from lrd_core.history import best_metric, first_at_least
from lrd_core.limits import MAX_LAG, MAX_TCN_PROBE_LEN, MAX_TCN_TOP_LAYER, MAX_TCN_TRAIN_SEQ_LEN
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.tcn import TCN, VARIANTS, TCNConfig
from lrd_core.task_runs import heldout_run, parity_accuracy, parity_loss
from lrd_core.tasks import lag_parity
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_int


def positive_tcn(config: TCNConfig, generator: torch.Generator) -> TCN:
    """A float64 TCN whose weights are |Kaiming draws| (biases 0): the probe's model.

    With positive weights and positive inputs every pre-activation is positive,
    so every ReLU passes its gradient (slope 1) and every path from an input to
    the output multiplies positive numbers: the gradient at an input is a sum
    of positive terms, > 0 exactly when at least one path exists. Random-sign
    weights could cancel or hit a dead ReLU and hide a connection (rarely, but
    a measurement must not depend on luck); float64 keeps products of a few
    dozen weights far from underflow.
    """
    model = TCN(config, generator).double()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    return model


def tcn_reach(config: TCNConfig, seed: int, T: int | None = None) -> pd.DataFrame:
    """Which positions of every level reach the LAST output of a TCN, from one backward pass.

    The scalar probed is the sum over channels of the top level at t = T - 1.
    Returns one row per (level, position) with a non-zero gradient: ``level``
    (0 = input, then one per layer, residual: two per block), ``name``,
    ``position`` (0..T-1), ``lag`` = T - 1 - position, ``grad`` (||d out / d h||
    over channels, > 0). T defaults to the closed-form receptive field plus a
    margin of max(4, R/8), so unreached inputs exist to the left; ``df.attrs``
    holds ``T`` and ``truncated`` (True when input position 0 is reached: the
    true field may be wider than T).
    """
    seed = check_int("seed", seed, 0, 2**63 - 1)
    rf = config.receptive_field
    T = rf + max(4, rf // 8) if T is None else T
    T = check_int("T", T, 1, MAX_TCN_PROBE_LEN)
    g = torch.Generator().manual_seed(seed)
    model = positive_tcn(config, g)
    x = 0.5 + torch.rand(1, T, config.input_size, generator=g, dtype=torch.float64)  # (1, T, D), positive
    x.requires_grad_(True)
    levels, names = model.levels(x)  # each (1, C_l, T)
    out = levels[-1][0, :, T - 1].sum()
    grads = torch.autograd.grad(out, levels)
    frames = []
    for i, (name, gr) in enumerate(zip(names, grads, strict=True)):
        mag = gr[0].norm(dim=0)  # (T,): over channels
        pos = torch.nonzero(mag > 0).flatten().numpy()
        frames.append(
            pd.DataFrame({"level": i, "name": name, "position": pos, "lag": T - 1 - pos, "grad": mag[pos].numpy()})
        )
    df = pd.concat(frames, ignore_index=True)
    df.attrs.update(T=T, truncated=bool(((df["level"] == 0) & (df["position"] == 0)).any()))
    return df


def measured_receptive_field(reach: pd.DataFrame) -> int:
    """Size of the measured receptive field: largest lag of a reached input, plus one (the output's own step)."""
    inputs = reach.loc[reach["level"] == 0, "lag"]
    if inputs.empty:
        raise ValueError("reach has no input-level rows (level 0)")
    return int(inputs.max()) + 1


def measured_tcn_signal(kernel_size: int, top_layer: int, seed: int) -> pd.DataFrame:
    """The home overview's TCN curve, measured: the input-level gradient norm of :func:`tcn_reach` (the
    page's probe: a dilated stack, 32 channels, positive weights) at every lag, normalised to 1 at L = 1.

    Rows ``L`` (= lag + 1, 1..T) and ``signal``: > 0 where a path exists (L <= R), exactly 0 past it.
    """
    reach = tcn_reach(TCNConfig(kernel_size=kernel_size, top_layer=top_layer), seed)
    inputs = reach[reach["level"] == 0].set_index("lag")["grad"]
    lags = np.arange(int(reach.attrs["T"]))
    grad = inputs.reindex(lags, fill_value=0.0).to_numpy()  # (T,) by lag; unreached lags: exactly 0
    return pd.DataFrame({"L": lags + 1, "signal": grad / grad[0]})


def receptive_field_table(kernel_size: int, top_layer: int, seed: int, channels: int = 2) -> pd.DataFrame:
    """Formula vs measurement for the three stacks at one (k, d): one row per variant.

    Columns: ``variant``, ``layers`` (convolutions on the longest path),
    ``formula``, ``measured`` and ``gaps`` (lags inside the field that no path
    reaches; 0 means the field is one solid block).
    """

    rows = []
    for variant in VARIANTS:
        config = TCNConfig(1, channels, kernel_size, top_layer, variant)
        reach = tcn_reach(config, seed)
        measured = measured_receptive_field(reach)
        n_inputs = int((reach["level"] == 0).sum())
        rows.append(
            {
                "variant": variant,
                "layers": len(config.dilations),
                "formula": config.receptive_field,
                "measured": measured,
                "gaps": measured - n_inputs,
            }
        )
    return pd.DataFrame(rows)


def receptive_field_growth(kernel_size: int, max_top_layer: int, seed: int, channels: int = 2) -> pd.DataFrame:
    """R against depth for dilated and undilated stacks, measured and by formula, for d = 0..max_top_layer.

    Tidy rows: ``layers`` (d + 1), ``series`` ("dilated, measured", "dilated, formula", ...),
    ``receptive_field``.
    """

    max_top_layer = check_int("max_top_layer", max_top_layer, 0, MAX_TCN_TOP_LAYER)
    rows = []
    for d in range(max_top_layer + 1):
        for variant in ("dilated", "undilated"):
            config = TCNConfig(1, channels, kernel_size, d, variant)
            measured = measured_receptive_field(tcn_reach(config, seed))
            rows.append({"layers": d + 1, "series": f"{variant}, measured", "receptive_field": measured})
            rows.append({"layers": d + 1, "series": f"{variant}, formula", "receptive_field": config.receptive_field})
    return pd.DataFrame(rows)


def thin_reach(reach: pd.DataFrame, max_rows: int = 4000) -> pd.DataFrame:
    """``reach`` with a ``width`` column, coarsened so a chart gets at most ~``max_rows`` marks.

    If it is already small enough every row stays (width 1). Otherwise
    positions are grouped into bins of ``width`` (a power of two) per level: one
    row per bin with any reached position, ``position`` = the bin's first
    position, ``count`` = reached positions in the bin.
    """
    max_rows = check_int("max_rows", max_rows, 10, 1_000_000)
    width = 1
    while True:
        binned = (
            reach.assign(bin=reach["position"] // width)
            .groupby(["level", "name", "bin"], as_index=False, sort=True)
            .agg(count=("position", "size"))
        )
        if len(binned) <= max_rows:
            break
        width *= 2
    T = reach.attrs.get("T")
    out = binned.assign(position=binned["bin"] * width, width=width).drop(columns="bin")
    out["lag"] = (T - 1 - out["position"]) if T is not None else np.nan
    out.attrs.update(reach.attrs)
    return out


PARITY_MARGIN = 64  # scored steps per sequence beyond the lag: T = max(128, lag + 64)


MAX_SWEEP_LAGS = 12  # lags trained one after another by lag_sweep
PARITY_STEP_BYTES = 128 * 2**20  # activation memory one lag-parity training step (or evaluation) may hold
# Bytes autograd keeps per sequence, time step and output channel of every convolution (input, pre-activation,
# activation and mask): measured 134 B per channel-step for 9 convolutions (dilated, k 4, d 8, C 32, T 1600)
# and 287-323 B for 18 (residual): 15-18 B per convolution, so 16 B x channels x convolutions.
TRAIN_BYTES_PER_CELL = 16
EVAL_BYTES_PER_CELL = 32  # no-grad forward, per channel of its widest layer: measured 32 B (dilated, residual)


def parity_batches(model: torch.nn.Module, T: int, batch: int, eval_batch: int) -> tuple[int, int]:
    """(training batch, evaluation batch) no larger than asked whose estimated activations at length T fit in
    PARITY_STEP_BYTES (at least 1 each). Long lags (T in the thousands) train on fewer sequences per step
    instead of allocating gigabytes; the defaults (T 128) are far below the cap and keep their sizes."""
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    train_per_seq = TRAIN_BYTES_PER_CELL * T * max(1, sum(widths))
    eval_per_seq = EVAL_BYTES_PER_CELL * T * max([1, *widths])
    return (
        max(1, min(batch, PARITY_STEP_BYTES // train_per_seq)),
        max(1, min(eval_batch, PARITY_STEP_BYTES // eval_per_seq)),
    )


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
    ``device``. T defaults to :func:`parity_length` (lag). Both batches shrink where their activations would
    pass PARITY_STEP_BYTES (:func:`parity_batches`): long lags train on fewer sequences per step.
    """
    lag = check_int("lag", lag, 1, MAX_LAG)
    T = parity_length(lag) if T is None else check_int("T", T, lag + 1, MAX_TCN_TRAIN_SEQ_LEN)
    batch, eval_batch = parity_batches(model, T, config.batch, eval_batch)
    if batch != config.batch:
        config = dataclasses.replace(config, batch=batch)
    return heldout_run(
        model,
        lambda b, g: lag_parity(b, T, lag, g),
        parity_loss,
        parity_accuracy,
        config,
        seed,
        device,
        eval_every,
        eval_batch,
    )


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
        rows.append(
            {
                "lag": lag,
                "accuracy": last.metrics.get("accuracy", float("nan")),
                "steps": last.step,
                "seconds": last.seconds,
                "receptive_field": rf,
                "inside": lag < rf,
            }
        )
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


# --- the lecture demo: sizes, verdict ------------------------------------------------------------------------

LEARNED, CHANCE_BAND = 0.9, 0.6  # accuracy that counts as learned; a lag that stays below CHANCE_BAND did not
SIZES = {  # widget key -> value (the stack's k, d and variant stay the sidebar's)
    LECTURE: {"lag": 40, "steps": 150, "C": 32},
    FULL: {"lag": 40, "steps": 400, "C": 32},
}


def parity_verdict(history: pd.DataFrame, finished: bool, *, series_lags: dict[str, int], receptive_field: int):
    """Lags inside R against lags at or past R, in one sentence. Decided once every lag inside R has reached
    LEARNED accuracy (the others cannot learn), or at the end. Expected: some lag inside R learned, and every
    lag at or past R stayed below CHANCE_BAND."""
    R = receptive_field
    inside = {n: v for n, v in series_lags.items() if v < R}
    outside = {n: v for n, v in series_lags.items() if v >= R}
    hit = {n: first_at_least(history, n, "accuracy", LEARNED) for n in inside}
    if not finished and (not inside or any(s is None for s in hit.values())):
        return None
    learned = [f"lag {inside[n]} by step {s}" for n, s in hit.items() if s is not None]
    slow = [f"lag {inside[n]} {pct(best_metric(history, n, 'accuracy'))}" for n, s in hit.items() if s is None]
    parts = [f"inside R = {R}, " + (join_and(learned) + f" reached {pct(LEARNED)}" if learned else "no lag learned")]
    if slow:
        parts.append("best so far: " + ", ".join(slow))
    best_out = {n: best_metric(history, n, "accuracy") for n in outside}
    if outside:
        lags = join_and([str(v) for v in outside.values()])
        accs = join_and([pct(a) for a in best_out.values()])
        parts.append(f"lag{'s' if len(outside) > 1 else ''} {lags}, at or past R, stayed at chance (best {accs})")
    text = "; ".join(parts)
    ok = bool(learned) and all(a < CHANCE_BAND for a in best_out.values())
    return Verdict(ok, text[0].upper() + text[1:] + ".")


VERSION = 1  # bump when the race's code changes the numbers a run gives (part of every Demo key)
DEFAULTS = {**SIZES[LECTURE], "k": 2, "d": 5, "stack": "dilated"}  # and the sidebar's stack at its defaults
TRAIN_BATCH, EVAL_BATCH = 32, 128  # sequences per training step and per evaluation (fewer where memory caps)


def _parity_run(net: TCNConfig, lag: int, config: TrainConfig, seed: int, device: str) -> Iterator[StepEvent]:
    """One run factory's body: a fresh :func:`tcn_tagger` trained on lag parity at ``lag``."""
    return lag_parity_run(tcn_tagger(net, seed), lag, config, seed, device)


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """Lag parity at the page's lags with the page's widget values (keys of DEFAULTS; missing ones take the
    defaults): one fresh TCN (k, d, stack, C channels) per lag of :func:`parity_series`, Adam 1e-3, batch 32,
    the same seed. What the page's Start button runs.

    ``info``: ``R`` (the stack's receptive field), ``series`` (series name -> lag) and ``batches`` (lag ->
    sequences per training step, below TRAIN_BATCH where :func:`parity_batches` caps the memory), so a chart of
    the run never reads the current sliders.
    """
    v = resolve(values, DEFAULTS, "convolutions")
    net = TCNConfig(1, v["C"], v["k"], v["d"], v["stack"])
    R = net.receptive_field
    series = parity_series(R, v["lag"])
    config = TrainConfig(steps=v["steps"], lr=1e-3, batch=TRAIN_BATCH)
    factories = {name: partial(_parity_run, net, lag, config, seed, device) for name, lag in series.items()}
    sizing = tcn_tagger(net, 0)  # only its layer widths are read
    batches = {lag: parity_batches(sizing, parity_length(lag), TRAIN_BATCH, EVAL_BATCH)[0] for lag in series.values()}
    judge = partial(parity_verdict, series_lags=series, receptive_field=R)
    info = {"R": R, "series": series, "batches": batches}
    words = describe({**v, "lags": sorted(series.values())}, seed)
    return Demo(
        factories, v["steps"], judge, key=demo_key("convolutions", VERSION, v, seed, device), info=info, settings=words
    )
