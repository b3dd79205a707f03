"""Probes of how a learning signal travels back through time.

All gradients come from autograd on the model's real graph; per-step
gradient norms for every t come from ONE backward pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lrd_core.devices import resolve_device
from lrd_core.limits import MAX_BATCH, MAX_SEQ_LEN, MAX_TCN_PROBE_LEN, MAX_TCN_TOP_LAYER
from lrd_core.models.recurrent import GRU, LSTM, RECURRENT_KINDS, ElmanRNN, LSTMConfig, build_recurrent
from lrd_core.models.tcn import TCN, VARIANTS, TCNConfig
from lrd_core.tasks import adding_problem
from lrd_core.theory import signal_magnitude
from lrd_core.validate import check_int


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
