"""Probes of how a learning signal travels back through time.

All gradients come from autograd on the model's real graph; per-step
gradient norms for every t come from ONE backward pass.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from lrd_core import ssm
from lrd_core.devices import resolve_device
from lrd_core.limits import (
    MAX_ATTENTION_COST_LEN,
    MAX_BATCH,
    MAX_SEQ2SEQ_LEN,
    MAX_SEQ_LEN,
    MAX_TCN_PROBE_LEN,
    MAX_TCN_TOP_LAYER,
    MAX_TRANSFORMER_LAYERS,
)
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.recurrent import GRU, LSTM, RECURRENT_KINDS, ElmanRNN, LSTMConfig, RNNConfig, build_recurrent
from lrd_core.models.segment import SegmentTransformer
from lrd_core.models.seq2seq import Seq2Seq, Seq2SeqConfig
from lrd_core.models.tcn import TCN, VARIANTS, TCNConfig
from lrd_core.models.transformer import PLACEMENT_NAMES, PLACEMENTS, Residual, TransformerConfig, TransformerStack
from lrd_core.tasks import (
    LN_COPY_GAP,
    LN_COPY_LENGTH,
    LN_COPY_SYMBOLS,
    adding_problem,
    copy_memory,
    segment_recall,
    symbol_sequences,
)
from lrd_core.theory import (
    forget_time_constant,
    sequence_cost,
    signal_magnitude,
    signal_over_chars,
    sqrt_depth_law,
    ssm_memory,
    tokens_for_chars,
)
from lrd_core.tokenize import CORPORA, VOCAB_SIZES, bpe_tokenizer, chars_per_token, corpus_split, token_distance
from lrd_core.validate import check_choice, check_int


def grad_norms_through_time(states: list[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
    """||dL/dh_t|| for every state in ``states`` (T tensors (B, H)) from one backward pass -> (B, T).

    dL/dh_t is the total derivative: every path from h_t to the loss, through
    all later states, is included. A state the loss does not reach gets 0.
    """
    grads = torch.autograd.grad(loss, states, allow_unused=True, materialize_grads=True)
    return torch.stack(grads, dim=1).flatten(2).double().norm(dim=-1)  # (B, T); float64: the norm cannot overflow


def grad_norms_one_at_a_time(states: list[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
    """The naive reference: one ``torch.autograd.grad`` call per state -> (B, T). Slow; for tests and bench."""
    norms = []
    for h in states:
        (g,) = torch.autograd.grad(loss, h, retain_graph=True, allow_unused=True, materialize_grads=True)
        norms.append(g.flatten(1).double().norm(dim=1))
    return torch.stack(norms, dim=1)


def readout_direction(hidden_size: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """A random unit vector v (H,): the probe's loss is L = v . h_T, so ||dL/dh_T|| = 1."""
    v = torch.randn(hidden_size, generator=generator, dtype=torch.float64)
    return (v / v.norm()).to(dtype)


def rnn_gradient_probe(model: ElmanRNN, x: torch.Tensor, v: torch.Tensor) -> pd.DataFrame:
    """Gradient of L = v . h_T with respect to every h_t of an Elman RNN, one sequence per row of x.

    x: (B, T, D); v: (H,). Returns a tidy DataFrame with one row per (sequence, t):
    ``sample``, ``t`` (1..T), ``lag`` (T - t), ``grad_norm`` ||dL/dh_t||,
    ``jac_norm`` ||J_t||_2 = ||diag(phi'(a_t)) W||_2 (J_1 has no h_0 to act on
    but is reported for completeness), ``saturation`` mean |phi'(a_t)| and
    ``bound`` = ||dL/dh_T|| * prod_{k=t+1..T} ||J_k||_2, the upper bound from
    sub-multiplicativity, which ``grad_norm`` never exceeds.
    """
    B, T, _ = x.shape
    check_int("T", T, 1, MAX_SEQ_LEN)
    check_int("batch", B, 1, MAX_BATCH)
    states, pre = model.unroll(x)
    loss = (states[-1] @ v.to(states[-1])).sum()  # sum over the batch: rows stay independent
    grad_norm = grad_norms_through_time(states, loss)  # (B, T)
    with torch.no_grad():
        jac = torch.linalg.matrix_norm(model.jacobians(pre), ord=2).double()  # (B, T)
        sat = model.dphi(pre).abs().mean(dim=-1)  # (B, T)
        # bound_t = ||g_T|| * prod_{k>t} ||J_k||: reverse cumulative product, shifted by one
        tail = torch.flip(torch.cumprod(torch.flip(jac[:, 1:], [1]), dim=1), [1])  # (B, T-1)
        bound = grad_norm[:, -1:].double() * torch.cat([tail, torch.ones_like(jac[:, :1])], dim=1)
    t = np.arange(1, T + 1)
    frames = [
        pd.DataFrame(
            {
                "sample": b,
                "t": t,
                "lag": T - t,
                "grad_norm": grad_norm[b].detach().double().cpu().numpy(),
                "jac_norm": jac[b].double().cpu().numpy(),
                "saturation": sat[b].double().cpu().numpy(),
                "bound": bound[b].double().cpu().numpy(),
            }
        )
        for b in range(B)
    ]
    return pd.concat(frames, ignore_index=True)


def vanishing_probe(config, T: int, seed: int, batch: int = 1, device: str = "cpu") -> pd.DataFrame:
    """Build an Elman RNN from ``config`` and seed, feed it adding-problem inputs of length T, probe it.

    Model weights, inputs and the read-out direction are drawn on the CPU from
    one ``torch.Generator(seed)``, so the numbers do not depend on ``device``'s RNG.
    Returns the DataFrame of :func:`rnn_gradient_probe`.
    """

    seed = check_int("seed", seed, 0, 2**63 - 1)
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(seed)
    model = ElmanRNN(config, g)
    x, _ = adding_problem(batch, T, g)
    v = readout_direction(config.hidden_size, g)
    return rnn_gradient_probe(model.to(dev), x.to(dev), v.to(dev))


def first_nonfinite_lag(df: pd.DataFrame) -> int | None:
    """Smallest distance T - t at which ``grad_norm`` is inf or NaN (an overflow), or None."""
    bad = df.loc[~np.isfinite(df["grad_norm"]), "lag"]
    return int(bad.min()) if len(bad) else None


# --- Receptive field of a causal convolution stack, measured by autograd (the "Convolutions" page) ---


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
    for i, (name, gr) in enumerate(zip(names, grads)):
        mag = gr[0].norm(dim=0)  # (T,): over channels
        pos = torch.nonzero(mag > 0).flatten().numpy()
        frames.append(pd.DataFrame({"level": i, "name": name, "position": pos, "lag": T - 1 - pos,
                                    "grad": mag[pos].numpy()}))
    df = pd.concat(frames, ignore_index=True)
    df.attrs.update(T=T, truncated=bool(((df["level"] == 0) & (df["position"] == 0)).any()))
    return df


def measured_receptive_field(reach: pd.DataFrame) -> int:
    """Size of the measured receptive field: largest lag of a reached input, plus one (the output's own step)."""
    inputs = reach.loc[reach["level"] == 0, "lag"]
    if inputs.empty:
        raise ValueError("reach has no input-level rows (level 0)")
    return int(inputs.max()) + 1


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
        rows.append({"variant": variant, "layers": len(config.dilations), "formula": config.receptive_field,
                     "measured": measured, "gaps": measured - n_inputs})
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


# ---------------------------------------------------------------------------
# Gated recurrence: the cell path (LSTM) and the keep path (GRU)
# ---------------------------------------------------------------------------

GATE_OF = {"LSTM": "f", "GRU": "z"}  # the gate that multiplies the old state: forget f_t, torch's keep z_t


def _gated_kind(model) -> str:

    if isinstance(model, LSTM):
        return "LSTM"
    if isinstance(model, GRU):
        return "GRU"
    raise ValueError(f"model must be an lrd_core LSTM or GRU, got {type(model).__name__}")


def gate_product(model, x: torch.Tensor) -> torch.Tensor:
    """prod_t of the gate on the direct path, read from one forward pass: (B, T, D) -> (B, H).

    LSTM: prod_t f_t (forget gates). GRU: prod_t z_t in torch's convention, the
    keep factor, which textbooks write prod_t (1 - z_t). Zero initial state.
    """
    with torch.no_grad():
        _, gates = model.unroll(x)
    return gates[GATE_OF[_gated_kind(model)]].prod(dim=1)  # (B, H)


def direct_path_derivative(model, x: torch.Tensor) -> torch.Tensor:
    """Autograd dc_T/dc_0 (LSTM) or dh_T/dh_0 (GRU) with the gates held fixed, zero initial state: -> (B, H).

    The model is unrolled with ``direct_path_only=True`` (gates and candidate
    detached), so the Jacobian is diagonal for each sequence and a single
    backward pass of sum(c_T) returns its diagonal.
    """
    kind = _gated_kind(model)
    B, H = x.shape[0], model.config.hidden_size
    zeros = x.new_zeros(B, H)
    start = zeros.clone().requires_grad_(True)  # c_0 (LSTM) or h_0 (GRU), value 0
    if kind == "LSTM":
        _, gates = model.unroll(x, (zeros, start), direct_path_only=True)
        end = gates["c"][:, -1]  # c_T (B, H)
    else:
        states, _ = model.unroll(x, start, direct_path_only=True)
        end = states[-1]  # h_T (B, H)
    (grad,) = torch.autograd.grad(end.sum(), start)
    return grad  # (B, H)


def gated_models(T: int, hidden: int, seed: int, *, rho: float = 1.0, gate_bias: float = 1.0, batch: int = 1):
    """Inputs, read-out direction and an RNN, an LSTM and a GRU of the same size, all from one seed.

    ``gate_bias`` is the initial bias of the gate on the direct path of both
    gated models: the LSTM's forget gate and the GRU's keep gate (torch's z).

    Draw order from ``torch.Generator(seed)``: adding-problem x (B, T, 2), v (H,), then RNN, LSTM, GRU weights.
    Returns (x, v, {"RNN": ..., "LSTM": ..., "GRU": ...}).
    """

    seed = check_int("seed", seed, 0, 2**63 - 1)
    g = torch.Generator().manual_seed(seed)
    x, _ = adding_problem(batch, T, g)
    v = readout_direction(hidden, g)
    models = {k: build_recurrent(k, 2, hidden, g, rho=rho, forget_bias=gate_bias, keep_bias=gate_bias) for k in RECURRENT_KINDS}
    return x, v, models


def gating_gradient_probe(
    T: int, hidden: int, seed: int, *, rho: float = 1.0, gate_bias: float = 1.0, batch: int = 1, device: str = "cpu"
) -> pd.DataFrame:
    """||dL/dh_t|| for every t (nothing detached) for an RNN, an LSTM and a GRU on the same input.

    L = v . h_T with the same unit vector v for all three; see :func:`gated_models`
    for the draws. Tidy DataFrame, one row per (model, sample, t): ``model``,
    ``sample``, ``t`` (1..T), ``lag`` (T - t), ``grad_norm`` and ``gain``, the
    per-step factor of the constant-gate theory: rho for the RNN, the measured
    mean forget gate f_t for the LSTM, the measured mean keep factor (torch's
    z_t, textbook 1 - z_t) for the GRU, averaged over steps, units and samples;
    ``gain_top_unit`` is the largest per-unit mean gate (rho for the RNN).
    """

    check_int("T", T, 2, MAX_SEQ_LEN)
    check_int("batch", batch, 1, MAX_BATCH)
    dev = resolve_device(device)
    x, v, models = gated_models(T, hidden, seed, rho=rho, gate_bias=gate_bias, batch=batch)
    x, v = x.to(dev), v.to(dev)
    t = np.arange(1, T + 1)
    frames = []
    for kind, model in models.items():
        model.to(dev)
        states, extra = model.unroll(x)
        loss = (states[-1] @ v).sum()  # sum over the batch: rows stay independent
        grad_norm = grad_norms_through_time(states, loss).cpu().numpy()  # (B, T)
        if kind == "RNN":
            gain = top = rho
        else:
            per_unit = extra[GATE_OF[kind]].detach().double().mean(dim=(0, 1))  # (H,): each unit's mean gate
            gain, top = float(per_unit.mean()), float(per_unit.max())
        frames += [
            pd.DataFrame({"model": kind, "sample": b, "t": t, "lag": T - t, "grad_norm": grad_norm[b], "gain": gain,
                          "gain_top_unit": top})
            for b in range(batch)
        ]
    return pd.concat(frames, ignore_index=True)


THEORY_LABEL = {"RNN": "α·ρ^(L−1)", "LSTM": "α·f̄^(L−1)", "GRU": "α·(1−z̄)^(L−1)"}


def gating_comparison_long(df: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Measured curves of :func:`gating_gradient_probe` (sample 0) plus each model's constant-gate theory.

    The theory S(L) = alpha * gain**(L - 1), L = lag + 1, is anchored at the
    measured value one step back (lag 1), where the signal first leaves h_T:
    alpha = measured(lag 1) / gain, so the overlay predicts the slope, not the
    first step. Returns (long DataFrame with columns lag, value, series, model,
    kind; the names of the theory series, to be drawn dashed).
    """

    frames, dashed = [], []
    for kind, d in df[df["sample"] == 0].groupby("model", sort=False):
        d = d.sort_values("lag")
        gain = float(d["gain"].iloc[0])
        one_back = d.loc[d["lag"] == 1, "grad_norm"]
        alpha = float(one_back.iloc[0]) / gain if len(one_back) and gain > 0 else 1.0
        theory_name = f"{kind} theory {THEORY_LABEL[kind]}, {'ρ' if kind == 'RNN' else 'gate'} = {gain:.3f}"
        lags = d["lag"].to_numpy()
        frames.append(pd.DataFrame({"lag": lags, "value": d["grad_norm"].to_numpy(), "series": f"{kind} measured",
                                    "model": kind, "kind": "measured"}))
        if gain > 0 and np.isfinite(alpha) and alpha > 0:
            frames.append(pd.DataFrame({"lag": lags, "value": signal_magnitude(gain, lags + 1, alpha),
                                        "series": theory_name, "model": kind, "kind": "theory"}))
            dashed.append(theory_name)
    return pd.concat(frames, ignore_index=True), tuple(dashed)


def forget_products(hidden: int, forget_bias: float, T: int, seed: int, *, batch: int = 4, n_lengths: int = 40) -> pd.DataFrame:
    """prod_{t<=L} f_t of every unit of a fresh LSTM with forget bias ``forget_bias``, for L on a grid up to T.

    The LSTM (weights from ``seed``) reads ``batch`` adding-problem sequences of
    length T; the running product of its forget gates is taken in float64
    (exact zeros mean float64 underflow). L runs over about ``n_lengths``
    log-spaced lengths from 1 to T. Tidy DataFrame: ``L``, ``sample``, ``unit``, ``prod_f``.
    """

    T = check_int("T", T, 2, MAX_SEQ_LEN)
    batch = check_int("batch", batch, 1, MAX_BATCH)
    n_lengths = check_int("n_lengths", n_lengths, 2, MAX_SEQ_LEN)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    g = torch.Generator().manual_seed(seed)
    x, _ = adding_problem(batch, T, g)
    model = LSTM(LSTMConfig(2, hidden, forget_bias), g)
    with torch.no_grad():
        _, gates = model.unroll(x)
    running = torch.cumprod(gates["f"].double(), dim=1)  # (B, T, H): prod_{t<=L} f_t at index L-1
    lengths = np.unique(np.geomspace(1, T, n_lengths).round().astype(int))
    vals = running[:, lengths - 1].cpu().numpy()  # (B, n, H)
    B_, n, H = vals.shape
    return pd.DataFrame({
        "L": np.repeat(lengths, H)[None, :].repeat(B_, 0).ravel(),
        "sample": np.repeat(np.arange(B_), n * H),
        "unit": np.tile(np.arange(H), B_ * n),
        "prod_f": vals.ravel(),
    })


QUANTILES = {"max": 1.0, "90th percentile": 0.9, "median": 0.5, "10th percentile": 0.1, "min": 0.0}


def forget_product_quantiles(df: pd.DataFrame) -> pd.DataFrame:
    """Quantiles over units and samples of :func:`forget_products` at each L: columns L, series, prod_f."""
    rows = [
        {"L": L, "series": name, "prod_f": float(np.quantile(d["prod_f"].to_numpy(), q))}
        for L, d in df.groupby("L") for name, q in QUANTILES.items()
    ]
    return pd.DataFrame(rows)


def gate_identity_check(kind: str, hidden: int, T: int, seed: int, *, gate_bias: float = 1.0, batch: int = 2) -> dict:
    """Check prod(gates) == autograd direct-path derivative on a float64 LSTM or GRU, adding inputs of length T.

    Returns {"max_abs_diff", "max_rel_diff", "median_product"} over all (sample, unit) pairs;
    relative differences only where the product is non-zero.
    """

    if kind not in GATE_OF:
        raise ValueError(f"kind must be one of {sorted(GATE_OF)}, got {kind!r}")
    T = check_int("T", T, 1, MAX_SEQ_LEN)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    x, _ = adding_problem(check_int("batch", batch, 1, MAX_BATCH), max(T, 2), g)
    model = build_recurrent(kind, 2, hidden, g, forget_bias=gate_bias, keep_bias=gate_bias).double()
    x = x[:, :T].double()
    prod, auto = gate_product(model, x), direct_path_derivative(model, x)
    diff = (prod - auto).abs()
    nz = prod != 0
    rel = float((diff[nz] / prod[nz].abs()).max()) if bool(nz.any()) else 0.0
    return {"max_abs_diff": float(diff.max()), "max_rel_diff": rel, "median_product": float(prod.median())}


def gate_identity_table(hidden: int, seed: int, *, gate_bias: float = 1.0, T: int = 50) -> pd.DataFrame:
    """:func:`gate_identity_check` for the LSTM and the GRU, one row each, indexed by what is compared."""
    rows = {
        "LSTM: ∏f_t vs autograd ∂c_T/∂c_0": gate_identity_check("LSTM", hidden, T, seed, gate_bias=gate_bias),
        "GRU: ∏(1−z_t) vs autograd ∂h_T/∂h_0": gate_identity_check("GRU", hidden, T, seed, gate_bias=gate_bias),
    }
    return pd.DataFrame(rows).T


def decay_per_step(df: pd.DataFrame) -> float:
    """Geometric-mean factor by which ``grad_norm`` shrinks per step of distance: exp of the least-squares
    slope of log ||dL/dh_t|| against lag, over the finite positive points (NaN if fewer than 2)."""
    ok = df[np.isfinite(df["grad_norm"]) & (df["grad_norm"] > 0)]
    if len(ok) < 2 or ok["lag"].nunique() < 2:
        return float("nan")
    slope, _ = np.polyfit(ok["lag"].to_numpy(float), np.log(ok["grad_norm"].to_numpy(float)), 1)
    return float(np.exp(slope))


def decay_factors(df: pd.DataFrame) -> pd.DataFrame:
    """Per model of :func:`gating_gradient_probe` (sample 0): the measured per-step factor of ||dL/dh_t||
    next to the constant-gate predictions.

    measured = (g(lag_max) / g(1)) ** (1 / (lag_max - 1)) over the positive, finite stretch from lag 1,
    i.e. the geometric-mean shrink per step. Columns: model, measured, gain (mean gate / rho),
    gain_top_unit (largest per-unit mean gate / rho).
    """
    rows = []
    for kind, d in df[df["sample"] == 0].groupby("model", sort=False):
        d = d.sort_values("lag")
        ok = d[(d["lag"] >= 1) & np.isfinite(d["grad_norm"]) & (d["grad_norm"] > 0)]
        measured = np.nan
        if len(ok) >= 2 and ok["lag"].iloc[0] == 1:
            span = float(ok["lag"].iloc[-1] - 1)
            measured = float(np.exp(np.log(ok["grad_norm"].iloc[-1] / ok["grad_norm"].iloc[0]) / span))
        rows.append({"model": kind, "measured": measured, "gain": float(d["gain"].iloc[0]),
                     "gain_top_unit": float(d["gain_top_unit"].iloc[0])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Attention: encoder gradients with and without a context vector; the cost of self-attention
# ---------------------------------------------------------------------------

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
    T: int, seed: int, *, hidden: int = 64, embed: int = 32, n_symbols: int = 8, attention: str = "additive",
    bidirectional: bool = False, batch: int = 1,
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
    frames = [pd.DataFrame({"series": name, "model": model, "sample": b, "t": t, "distance": T - t,
                            "grad_norm": norms[b].detach().cpu().numpy()})
              for name, (model, norms) in measured.items() for b in range(batch)]
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
    return pd.DataFrame({"s": s.ravel(), "t": t.ravel(), "alpha": alpha[0].double().cpu().numpy().ravel(),
                         "source": src[0].cpu().numpy()[t.ravel() - 1], "output": out[0].cpu().numpy()[s.ravel() - 1]})


def self_attention(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor) -> torch.Tensor:
    """One head of self-attention written out, so its L x L matrix is really built: x (B, L, D) -> (B, L, D).

    A = softmax(Q K^T / sqrt(D)) with Q = x W_q, K = x W_k; out = A V with V = x W_v.
    """
    q, k, v = x @ W_q, x @ W_k, x @ W_v  # (B, L, D) each
    scores = q @ k.transpose(1, 2) / x.shape[-1] ** 0.5  # (B, L, L): the quadratic part
    return torch.softmax(scores, dim=-1) @ v  # (B, L, D)


def _saved_bytes(fn) -> tuple[torch.Tensor, int]:
    """(fn(), bytes of the distinct storages autograd keeps for the backward pass while fn() builds its graph)."""
    storages = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def self_attention_cost(lengths, d_model: int = 64, seed: int = 0, repeats: int = 3) -> pd.DataFrame:
    """Measured forward + backward seconds (fastest of ``repeats``) and autograd memory of self-attention per L.

    Tidy rows: ``L``, ``seconds`` and ``saved_bytes`` (storage autograd keeps
    for the backward pass, measured with saved-tensor hooks), batch 1, float32,
    one head of width ``d_model``, on the CPU.
    """
    lengths = [check_int("L", v, 2, MAX_ATTENTION_COST_LEN) for v in lengths]
    d_model = check_int("d_model", d_model, 1, 1024)
    repeats = check_int("repeats", repeats, 1, 20)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    W = [torch.randn(d_model, d_model, generator=g) / d_model**0.5 for _ in range(3)]  # W_q, W_k, W_v
    rows = []
    for L in lengths:
        x = torch.randn(1, L, d_model, generator=g, requires_grad=True)  # (1, L, D)
        best, saved = float("inf"), 0
        for _ in range(repeats):
            start = time.perf_counter()
            out, saved = _saved_bytes(lambda x=x: self_attention(x, *W))
            out.sum().backward()
            best = min(best, time.perf_counter() - start)
            x.grad = None
        rows.append({"L": L, "seconds": best, "saved_bytes": saved})
    return pd.DataFrame(rows)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the exponent p of y ~ x**p); needs 2+ positive points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        raise ValueError(f"x and y need at least 2 positive points for a slope, got {int(ok.sum())}")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


# --- State-space models page: kernels, FFT vs recurrence, cost against length and width ---


def ssm_channels(H: int, N: int, init: str, dt_min: float, dt_max: float, seed: int):
    """(dt [H], A [H, N], C [H, N]) in float64 with Δ spread evenly on a log scale from dt_min to dt_max
    (not drawn, so that a few channels show the whole range) and C drawn from ``seed``."""
    H = check_int("H", H, 1, 64)
    dt_min = float(dt_min)
    dt = torch.exp(torch.linspace(np.log(dt_min), np.log(float(dt_max)), H, dtype=torch.float64))
    _, A, C = ssm.s4d_parameters(H, N, init, dt_min, dt_max, torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1)))
    return dt, A, C


def ssm_kernel_frame(dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor, L: int, max_points: int = 400) -> pd.DataFrame:
    """|K[l]| per channel and its bound, thinned for a chart -> DataFrame channel, dt, l, abs_K, kind, series.

    kind "measured": the largest |K[l]| within each of at most ``max_points`` bins of l (the envelope of an
    oscillating kernel); kind "bound": 2 Σ_n |C'_n| exp(−l/τ_n), which no |K[l]| can exceed (triangle
    inequality), evaluated at the bin's first l. Zeros stay zeros (the chart marks them).
    """
    K = ssm.s4d_kernel(dt, A, C, L).abs()  # (H, L)
    _, B_bar = ssm.discretize(dt, A)
    weight = 2 * (C * B_bar).abs()  # (H, N)
    tau = ssm.time_constants(dt, A)  # (H, N)
    width = -(-L // check_int("max_points", max_points, 2, 100_000))
    starts = np.arange(0, L, width)
    rows = []
    for h in range(K.shape[0]):
        env = np.maximum.reduceat(K[h].numpy(), starts)
        bound = (weight[h].unsqueeze(-1) * torch.exp(-torch.as_tensor(starts, dtype=torch.float64) / tau[h].unsqueeze(-1))).sum(0)
        name = f"Δ = {float(dt[h]):.2g}"
        for kind, vals in (("measured", env), ("bound", bound.numpy())):
            rows.append(pd.DataFrame({"channel": name, "dt": float(dt[h]), "l": starts, "abs_K": vals, "kind": kind,
                                      "series": f"{name}, {'|K[l]|' if kind == 'measured' else 'bound'}"}))
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
    for init in ssm.INITS:
        dt, A, C = ssm_channels(H, N, init, dt_min, dt_max, seed)
        tau = ssm.time_constants(dt, A)
        reach = kernel_reach(ssm.s4d_kernel(dt, A, C, L))
        rows.append({"init": f"S4D-{init.capitalize()}", "slowest τ": float(tau.max()),
                     "median τ": float(tau.median()), "median reach": float(np.median(reach)),
                     "longest reach": int(reach.max())})
    return pd.DataFrame(rows)


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


@torch.no_grad()
def fft_vs_scan(H: int, N: int, init: str, lengths, seed: int, repeats: int = 3, batch: int = 1) -> pd.DataFrame:
    """Both computations of one S4D layer on the same random input, for each L -> DataFrame
    L, method ("recurrence" or "FFT (kernel + convolution)"), seconds (median of ``repeats``), max_error
    (max |y_fft − y_scan|, float32) and rel_error (that over max |y_scan|)."""
    dt, A, C = ssm.s4d_parameters(H, N, init, 1e-3, 1e-1, torch.Generator().manual_seed(seed))
    dt, A, C = dt.float(), A.to(torch.complex64), C.to(torch.complex64)
    g = torch.Generator().manual_seed(seed + 1)
    rows = []
    for L in lengths:
        u = torch.randn(batch, H, L, generator=g)  # (B, H, L)
        y_scan = ssm.ssm_scan(u, dt, A, C)
        y_fft = ssm.ssm_fft(u, ssm.s4d_kernel(dt, A, C, L))
        err = float((y_fft - y_scan).abs().max())
        rel = err / max(float(y_scan.abs().max()), 1e-30)
        t_scan = _median_seconds(lambda u=u: ssm.ssm_scan(u, dt, A, C), repeats)
        t_fft = _median_seconds(lambda u=u, L=L: ssm.ssm_fft(u, ssm.s4d_kernel(dt, A, C, L)), repeats)
        rows += [{"L": L, "method": "recurrence", "seconds": t_scan, "max_error": err, "rel_error": rel},
                 {"L": L, "method": "FFT (kernel + convolution)", "seconds": t_fft, "max_error": err, "rel_error": rel}]
    return pd.DataFrame(rows)


def _cost_calls(lstm, ssm_params, W, L: int, H: int, g: torch.Generator) -> dict:
    """Zero-argument forward calls of the three layers on one random input of length L, width H."""
    x = torch.randn(1, L, H, generator=g)  # (B, L, H)
    u = x.transpose(1, 2).contiguous()  # (B, H, L)
    dt, A, C = ssm_params
    return {"LSTM": lambda: lstm(x), "S4D (FFT)": lambda: ssm.ssm_fft(u, ssm.s4d_kernel(dt, A, C, L)),
            "attention": lambda: self_attention(x, *W)}


@torch.no_grad()
def sequence_costs(lengths, widths, N: int, seed: int, repeats: int = 3) -> pd.DataFrame:
    """Measured forward seconds of one layer of each kind for every (L, H) pair -> DataFrame
    model, L, H, seconds, theory (the leading-order count of :func:`lrd_core.theory.sequence_cost`,
    scaled to agree with the measurement at the largest L·H), series.

    LSTM: the hand-written ``LSTM`` (a loop over L); S4D: ``s4d_kernel`` + ``ssm_fft`` (float32, N modes);
    attention: :func:`self_attention`. Batch 1.
    """
    rows = []
    for H in widths:
        g = torch.Generator().manual_seed(seed)
        lstm = LSTM(LSTMConfig(H, H), g)
        dt, A, C = ssm.s4d_parameters(H, N, "lin", 1e-3, 1e-1, g)
        dt, A, C = dt.float(), A.to(torch.complex64), C.to(torch.complex64)
        W = [torch.randn(H, H, generator=g) / H**0.5 for _ in range(3)]
        for L in lengths:
            for model, fn in _cost_calls(lstm, (dt, A, C), W, L, H, g).items():
                fn()  # warm-up
                rows.append({"model": model, "L": L, "H": H, "seconds": _median_seconds(fn, repeats),
                             "ops": sequence_cost(model, L, H, N)})
    df = pd.DataFrame(rows)
    scale = df.loc[df.groupby("model")["ops"].idxmax()].set_index("model")  # the largest case of each model
    df["theory"] = df["ops"] * df["model"].map(scale["seconds"] / scale["ops"])
    return df


def memory_decay_frame(N: int, init: str, dt_min: float, dt_max: float, f_bar: float, L_max: int = 10_000,
                       points: int = 200) -> pd.DataFrame:
    """How much of an input survives L steps -> DataFrame L, memory, series, kind (ssm / lstm).

    SSM: exp(−L/τ) for the slowest mode of the slowest channel (Δ = dt_min) and of the fastest (Δ = dt_max),
    τ from the eigenvalues (:func:`lrd_core.ssm.time_constants`), next to |Ā|^L computed from the discretised
    eigenvalue itself; LSTM: f̄^L for gates fixed at f̄ (:func:`lrd_core.theory.forget_gate_product` form).
    """
    L_max = check_int("L_max", L_max, 2, 10**7)
    L = np.unique(np.geomspace(1, L_max, check_int("points", points, 2, 10_000)).round())
    dt, A, _ = ssm_channels(2, N, init, dt_min, dt_max, 0)
    tau = ssm.time_constants(dt, A).max(dim=1).values  # (2,): slowest mode of each channel
    A_bar, _ = ssm.discretize(dt, A)
    slowest = A_bar.abs().max(dim=1).values  # (2,): |Ā| of that mode
    frames = []
    for h, name in ((0, f"SSM, Δ = {dt_min:g}: exp(−L/τ), τ = {float(tau[0]):.4g}"),
                    (1, f"SSM, Δ = {dt_max:g}: exp(−L/τ), τ = {float(tau[1]):.4g}")):
        frames.append(pd.DataFrame({"L": L, "memory": ssm_memory(L, float(tau[h])), "series": name, "kind": "ssm",
                                    "direct": np.power(float(slowest[h]), L)}))
    tau_f = forget_time_constant(f_bar)
    frames.append(pd.DataFrame({"L": L, "memory": np.power(f_bar, L), "series": f"LSTM: f̄^L, f̄ = {f_bar:g} (τ = {tau_f:.4g})",
                                "kind": "lstm", "direct": np.power(f_bar, L)}))
    return pd.concat(frames, ignore_index=True)


# --- LayerNorm placement: gradients through depth and block Jacobians at initialisation ---

LN_HEADS = 4  # attention heads of the probed and trained Transformers
LN_PROBE_BATCH = 16  # copy-memory sequences in the gradient probe's loss
LN_RATIO_DEPTHS = (3, 6, 12, 24, 48)  # depths of the Post/Pre ratio curve
LN_JAC_WIDTH, LN_JAC_STEPS = 16, 6  # d_model and positions of the float64 Jacobian probes: (96 x 96) matrices
LN_ORDER = ("post", "deepnorm", "pre")  # row order: charts colour series in first-seen order (Post-LN's kin together)


def layernorm_tagger(placement: str, n_layers: int, d_model: int, generator: torch.Generator,
                     dtype=torch.float32) -> SequenceTagger:
    """A Transformer stack with a per-step classifier for the LayerNorm copy task (one-hot in, logits out).

    Built from ``generator`` in the same order for every placement, so with the same seed the three
    placements share every weight except for DeepNorm's β scaling."""
    config = TransformerConfig(LN_COPY_SYMBOLS + 2, d_model, LN_HEADS, n_layers, 4 * d_model, placement)
    return SequenceTagger(TransformerStack(config, generator), d_model, LN_COPY_SYMBOLS + 1, generator).to(dtype)


def block_weights(block: torch.nn.Module) -> list[torch.Tensor]:
    """The weight matrices of a block's linear maps (W_q, W_k, W_v, W_o, W_1, W_2): no biases, no LayerNorm."""
    return [m.weight for m in block.modules() if isinstance(m, torch.nn.Linear)]


def _copy_loss(model: SequenceTagger, x: torch.Tensor, y: torch.Tensor, streams: list[torch.Tensor]) -> torch.Tensor:
    logits = model.head(model.encoder.final_norm(streams[-1]))  # (B, T, classes)
    return F.cross_entropy(logits.transpose(1, 2), y)  # logits (B, classes, T) vs y (B, T)


def layernorm_gradient_probe(placement: str, n_layers: int, seed: int, *, d_model: int = 64,
                             batch: int = LN_PROBE_BATCH) -> pd.DataFrame:
    """Gradients at initialisation of the copy-task loss of a fresh Transformer, layer by layer.

    One backward pass gives ||∂L/∂W|| for the weights of every block l = 1..N (``kind`` "weights") and
    ||∂L/∂x_l|| for the residual stream x_0..x_N (``kind`` "stream"). Model and batch come from
    ``torch.Generator(seed)``. Tidy DataFrame: placement (display name), layer, kind, grad_norm.
    """
    check_choice("placement", placement, PLACEMENTS)
    n_layers = check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    batch = check_int("batch", batch, 1, MAX_BATCH)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    model = layernorm_tagger(placement, n_layers, d_model, g)
    x, y = copy_memory(batch, LN_COPY_GAP, g, n_symbols=LN_COPY_SYMBOLS, length=LN_COPY_LENGTH)
    streams = model.encoder.levels(x)  # [x_0 .. x_N], each (B, T, D)
    weights = [block_weights(b) for b in model.encoder.blocks]
    grads = torch.autograd.grad(_copy_loss(model, x, y, streams), streams + [w for ws in weights for w in ws])
    stream_grads, weight_grads = grads[: len(streams)], grads[len(streams):]
    per_block = len(weights[0])
    name = PLACEMENT_NAMES[placement]
    rows = [{"placement": name, "layer": l, "kind": "stream", "grad_norm": float(gr.double().norm())}
            for l, gr in enumerate(stream_grads)]
    rows += [{"placement": name, "layer": l + 1, "kind": "weights",
              "grad_norm": float(torch.cat([gr.double().flatten() for gr in weight_grads[l * per_block:(l + 1) * per_block]]).norm())}
             for l in range(n_layers)]
    return pd.DataFrame(rows)


def layernorm_gradients(n_layers: int, seed: int, *, d_model: int = 64) -> pd.DataFrame:
    """:func:`layernorm_gradient_probe` for all three placements, same seed, stacked."""
    return pd.concat([layernorm_gradient_probe(p, n_layers, seed, d_model=d_model) for p in LN_ORDER],
                     ignore_index=True)


def last_layer_ratio(depths, seeds, *, d_model: int = 64) -> pd.DataFrame:
    """||∂L/∂W|| of the last block's weights, Post-LN over Pre-LN, by depth, averaged over ``seeds``.

    For each depth and seed both placements share their weights (same seed). DataFrame: depth, series,
    ratio, with the measured mean ("Post-LN / Pre-LN") and the √N law through the first depth's mean.
    """
    depths = [check_int("depth", d, 1, MAX_TRANSFORMER_LAYERS) for d in depths]
    seeds = [check_int("seed", s, 0, 2**63 - 1) for s in seeds]
    check_int("number of seeds", len(seeds), 1, 16)
    rows = []
    for depth in depths:
        for seed in seeds:
            last = {}
            for p in ("post", "pre"):
                df = layernorm_gradient_probe(p, depth, seed, d_model=d_model)
                last[p] = float(df[(df["kind"] == "weights") & (df["layer"] == depth)]["grad_norm"].iloc[0])
            rows.append({"depth": depth, "seed": seed, "ratio": last["post"] / last["pre"]})
    mean = pd.DataFrame(rows).groupby("depth", as_index=False)["ratio"].mean().assign(series="Post-LN / Pre-LN")
    N0, r0 = float(mean["depth"].iloc[0]), float(mean["ratio"].iloc[0])
    law = pd.DataFrame({"depth": depths, "series": f"√N law through N = {N0:g}",
                        "ratio": sqrt_depth_law(np.asarray(depths, dtype=float), N0, r0)})
    return pd.concat([mean[["depth", "series", "ratio"]], law], ignore_index=True)


def flat_jacobian(fn, x: torch.Tensor) -> torch.Tensor:
    """The Jacobian of ``fn`` at x (1, T, D) by autograd, flattened to a (T·D, T·D) matrix."""
    shape = x.shape
    return torch.autograd.functional.jacobian(lambda v: fn(v.view(shape)).reshape(-1), x.reshape(-1),
                                              vectorize=True)  # (T·D, T·D)


def sublayer_jacobian_split(residual: Residual, x: torch.Tensor) -> dict:
    """The Jacobian J of one residual sublayer at x (1, T, D), next to the form its placement predicts.

    pre: J = I + J_{F∘LN}(x), so J − I is exactly the Jacobian of F(LN(x));
    post / deepnorm: J = J_LN(αx + F(x))·(αI + J_F(x)) (α = 1 for post).
    Returns J, the prediction, max |J − prediction| ("error") and ||J − I||_F / ||I||_F ("distance").
    """
    J = flat_jacobian(residual, x)
    eye = torch.eye(J.shape[0], dtype=J.dtype)
    F_, norm, alpha = residual.sublayer, residual.norm, residual.alpha
    if residual.placement == "pre":
        predicted = eye + flat_jacobian(lambda v: F_(norm(v)), x)
    else:
        J_ln = flat_jacobian(norm, alpha * x + F_(x))
        predicted = J_ln @ (alpha * eye + flat_jacobian(F_, x))
    return {"J": J, "predicted": predicted, "error": float((J - predicted).abs().max()),
            "distance": float((J - eye).norm() / eye.norm())}


def jacobian_identity_table(seed: int, *, d_model: int = LN_JAC_WIDTH, T: int = LN_JAC_STEPS) -> pd.DataFrame:
    """Each placement's sublayer Jacobians (attention and MLP of one block) against their predicted form,
    in float64 at a random input; one row per (placement, sublayer) with the max error and ||J − I||_F/||I||_F."""
    forms = {"pre": "I + J of F(LN(x))", "post": "J_LN · (I + J_F)", "deepnorm": "J_LN · (α I + J_F)"}
    rows = []
    for p in PLACEMENTS:
        g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
        block = layernorm_tagger(p, 1, d_model, g, torch.float64).encoder.blocks[0]
        x = torch.randn(1, check_int("T", T, 1, 32), d_model, generator=g, dtype=torch.float64)
        for name, residual in (("attention", block.attention), ("MLP", block.mlp)):
            split = sublayer_jacobian_split(residual, x)
            rows.append({"placement": PLACEMENT_NAMES[p], "sublayer": name, "J equals": forms[p],
                         "max |J − form|": split["error"], "‖J − I‖ / ‖I‖": split["distance"]})
    return pd.DataFrame(rows)


def block_distance_from_identity(n_layers: int, seed: int, *, d_model: int = LN_JAC_WIDTH,
                                 T: int = LN_JAC_STEPS) -> pd.DataFrame:
    """||J_l − I||_F / ||I||_F for every block l of a fresh float64 stack of each placement, J_l = ∂x_l/∂x_{l−1}
    taken at the block's own input on a copy-task sequence. DataFrame: placement, layer, distance."""
    n_layers = check_int("n_layers", n_layers, 1, MAX_TRANSFORMER_LAYERS)
    rows = []
    for p in LN_ORDER:
        g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
        model = layernorm_tagger(p, n_layers, d_model, g, torch.float64)
        x, _ = copy_memory(1, LN_COPY_GAP, g, n_symbols=LN_COPY_SYMBOLS, length=LN_COPY_LENGTH)
        with torch.no_grad():
            streams = model.encoder.levels(x.double()[:, : check_int("T", T, 1, x.shape[1])])
        for l, block in enumerate(model.encoder.blocks, start=1):
            J = flat_jacobian(block, streams[l - 1])
            eye = torch.eye(J.shape[0], dtype=J.dtype)
            rows.append({"placement": PLACEMENT_NAMES[p], "layer": l, "distance": float((J - eye).norm() / eye.norm())})
    return pd.DataFrame(rows)


# --- Long context page: tokenization measured, and attention across the segment boundary ---


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
            rows.append({"tokenizer": name, "series": f"{name}, measured", "kind": "measured", "D": D,
                         "tokens": spanned, "signal": float(signal_magnitude(rho, spanned))})
            rows.append({"tokenizer": name, "series": f"{name}, closed form", "kind": "closed form", "D": D,
                         "tokens": tokens_for_chars(D, c), "signal": signal_over_chars(rho, D, c)})
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
                spans = offsets[W - 1:, 1] - offsets[: len(offsets) - W + 1, 0]  # chars of each run of W tokens
                rows.append({"corpus": corpus, "vocab_size": V, "W": W, "chars_per_token": c, "closed_form": W * c,
                             "measured": float(spans.mean()) if len(spans) else float("nan")})
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
        rows.append({"token": k, "piece": piece, "shown": visible(piece) or "…", "row": row, "col": col,
                     "length": min(length, width), "band": k % 2})
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
    x, y = segment_recall(1, T, delay, torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1)),
                          n_symbols)
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
    for l, w in enumerate(weights[k], start=1):
        alpha = w[0, :, query - k * S].double().cpu().numpy()  # (H, M + S)
        first = k * S - (alpha.shape[1] - w.shape[2])  # absolute position of the first key
        for h in range(alpha.shape[0]):
            keys = np.arange(first, first + alpha.shape[1])
            rows.append(pd.DataFrame({"row": f"layer {l} · head {h + 1}", "layer": l, "head": h + 1, "key": keys,
                                      "alpha": alpha[h], "memory": keys < k * S}))
    frame = pd.concat(rows, ignore_index=True)
    frame = frame[frame["key"] <= query].reset_index(drop=True)  # causal: later keys have weight 0
    frame.attrs.update(cue=query - delay, query=query, boundary=k * S, answer=int(y[0, query]), prediction=prediction)
    return frame


# --- Overview (home page): the plain-RNN curve, measured ---


def measured_rnn_signal(rho: float, T: int, seed: int, points: int = 30) -> pd.DataFrame:
    """The plain-RNN curve measured: ‖∂L/∂h_t‖ of a linear RNN with orthogonal W·ρ (H = 64), one backward
    pass over T steps, normalised to 1 at L = 1. Rows ``architecture``, ``L`` (= lag + 1), ``signal``,
    about ``points`` of them, log-spaced in L."""
    df = vanishing_probe(RNNConfig(rho=rho, activation="identity"), T=T, seed=seed)
    df = df.sort_values("lag")
    signal = df["grad_norm"].to_numpy() / df["grad_norm"].iloc[0]  # lag 0 first
    keep = np.unique(np.geomspace(1, T, check_int("points", points, 2, 1000)).round().astype(int)) - 1  # lags
    return pd.DataFrame({"architecture": "plain RNN, measured by the page-1 probe", "L": keep + 1,
                         "signal": signal[keep]})
