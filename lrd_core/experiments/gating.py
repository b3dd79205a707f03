"""Page "Gating" (seed: "Gated Recurrence: A Pathway for Memory", LSTM and GRU).

Gradient norms through time for RNN, LSTM and GRU sharing one read-out; the product of forget gates ∏f_t
(LSTM) or keep gates ∏(1−z_t) (GRU) and the identity that makes it the direct-path derivative; and the race
of the three cells on the adding problem or copy memory. How the forget gate's initialisation (one bias, or
chrono init) sets ∏f_t and the units' time constants lives in :mod:`lrd_core.experiments.gating_init`; its
public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial

import numpy as np
import pandas as pd
import torch

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.devices import resolve_device
from lrd_core.experiments.gating_init import (  # noqa: F401 - re-exported: pages and tests import them from here
    CHRONO_THEORY,
    LN2_TAU,
    QUANTILES,
    chrono_tau_cdf,
    chrono_tau_quantile,
    forget_product_quantiles,
    forget_products,
    forget_time_constants,
    time_constant_quantiles,
)
from lrd_core.formats import fmt
from lrd_core.gradients import grad_norms_through_time, readout_direction
from lrd_core.history import recent_loss, solved_step, steps_run
from lrd_core.limits import MAX_BATCH, MAX_SEQ_LEN, MAX_TRAIN_SEQ_LEN
from lrd_core.models.heads import SequenceRegressor, SequenceTagger
from lrd_core.models.recurrent import GRU, LSTM, RECURRENT_KINDS, build_recurrent
from lrd_core.task_runs import adding_run, copy_memory_run
from lrd_core.tasks import adding_problem
from lrd_core.theory import ADDING_BASELINE_MSE, copy_memory_loss, signal_magnitude
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_choice, check_float, check_int

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
    models = {
        k: build_recurrent(k, 2, hidden, g, rho=rho, forget_bias=gate_bias, keep_bias=gate_bias)
        for k in RECURRENT_KINDS
    }
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
            pd.DataFrame(
                {
                    "model": kind,
                    "sample": b,
                    "t": t,
                    "lag": T - t,
                    "grad_norm": grad_norm[b],
                    "gain": gain,
                    "gain_top_unit": top,
                }
            )
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
        frames.append(
            pd.DataFrame(
                {
                    "lag": lags,
                    "value": d["grad_norm"].to_numpy(),
                    "series": f"{kind} measured",
                    "model": kind,
                    "kind": "measured",
                }
            )
        )
        if gain > 0 and np.isfinite(alpha) and alpha > 0:
            frames.append(
                pd.DataFrame(
                    {
                        "lag": lags,
                        "value": signal_magnitude(gain, lags + 1, alpha),
                        "series": theory_name,
                        "model": kind,
                        "kind": "theory",
                    }
                )
            )
            dashed.append(theory_name)
    return pd.concat(frames, ignore_index=True), tuple(dashed)


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
        rows.append(
            {
                "model": kind,
                "measured": measured,
                "gain": float(d["gain"].iloc[0]),
                "gain_top_unit": float(d["gain_top_unit"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def recurrent_adding_model(
    kind: str,
    hidden_size: int,
    seed: int,
    *,
    rho: float = 1.0,
    forget_bias: float = 1.0,
    keep_bias: float = 0.0,
    fused: bool = False,
    chrono_T: int | None = None,
) -> SequenceRegressor:
    """An "RNN", "LSTM" or "GRU" with a linear read-out of h_T, initialised from ``seed``: (B, T, 2) -> (B, 1).

    Models of different kinds built from the same seed draw from the same init generator. ``fused``: the
    same weights in torch's fused module (faster; gates not readable).
    """
    init, _ = split_seed(seed)
    bias = {"forget_bias": forget_bias, "keep_bias": keep_bias, "chrono_T": chrono_T if kind == "LSTM" else None}
    encoder = build_recurrent(kind, 2, hidden_size, init, rho=rho, fused=fused, **bias)
    return SequenceRegressor(encoder, hidden_size, 1, init)


def copy_memory_model(
    kind: str,
    hidden_size: int,
    seed: int,
    *,
    n_symbols: int = 8,
    rho: float = 1.0,
    forget_bias: float = 1.0,
    keep_bias: float = 0.0,
    fused: bool = False,
) -> SequenceTagger:
    """An "RNN", "LSTM" or "GRU" with a per-step classifier over n_symbols + 1 classes (blank + symbols).

    Input: one-hot (B, T', n_symbols + 2); output: logits (B, T', n_symbols + 1).
    """
    check_int("n_symbols", n_symbols, 2, 64)
    init, _ = split_seed(seed)
    encoder = build_recurrent(
        kind, n_symbols + 2, hidden_size, init, rho=rho, forget_bias=forget_bias, keep_bias=keep_bias, fused=fused
    )
    return SequenceTagger(encoder, hidden_size, n_symbols + 1, init)


def race_time_constants(T: int, hidden: int, seed: int, *, forget_bias: float = 1.0) -> pd.DataFrame:
    """τ of every unit of the race's adding-problem LSTM as Start builds it, read from its biases: with chrono
    init for length T and with forget bias ``forget_bias``, next to the chrono closed form (columns q, tau,
    series; see :func:`time_constant_quantiles`)."""
    T = check_int("T", T, 3, MAX_TRAIN_SEQ_LEN)
    models = {
        f"chrono init, T = {T}": recurrent_adding_model("LSTM", hidden, seed, chrono_T=T, fused=True),
        f"forget bias {forget_bias:g}": recurrent_adding_model(
            "LSTM", hidden, seed, forget_bias=forget_bias, fused=True
        ),
    }
    return time_constant_quantiles(models, T)


TASKS = ("adding", "copy")


COPY_SYMBOLS, COPY_LENGTH = 8, 10  # copy-memory in the race: alphabet size and number of symbols to recall


def race(
    task: str,
    T: int,
    hidden_size: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    kinds: tuple[str, ...] = RECURRENT_KINDS,
    gate_bias: float = 1.0,
    rho: float = 1.0,
    chrono: bool = False,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Zero-argument run factories, one per kind, for a race on ``task`` ("adding" or "copy").

    Every kind gets the same seed (so the same batches, in the same order) and
    the same step budget. ``gate_bias`` initialises the LSTM's forget gate and
    the GRU's keep gate; ``rho`` scales the RNN's orthogonal W; ``chrono`` gives the LSTM the chrono init
    for length T instead (adding problem only). Arguments are checked here, before anything is built.
    """
    check_choice("task", task, TASKS)
    check_int("hidden_size", hidden_size, 1, 1024)
    check_float("gate_bias", gate_bias, -10.0, 10.0)
    bias = {"rho": rho, "forget_bias": gate_bias, "keep_bias": gate_bias, "fused": True}  # no gate is read
    for k in kinds:
        check_choice("kind", k, RECURRENT_KINDS)
    if task == "adding":
        check_int("T", T, 2, MAX_TRAIN_SEQ_LEN)
        chrono_T = max(T, 3) if chrono else None
        return {
            k: (
                lambda k=k: adding_run(
                    recurrent_adding_model(k, hidden_size, seed, chrono_T=chrono_T, **bias), T, config, seed, device
                )
            )
            for k in kinds
        }
    check_int("T", T, 1, MAX_TRAIN_SEQ_LEN - 2 * COPY_LENGTH)

    def copy_run(k: str) -> Iterator[StepEvent]:
        model = copy_memory_model(k, hidden_size, seed, n_symbols=COPY_SYMBOLS, **bias)
        return copy_memory_run(model, T, config, seed, device, n_symbols=COPY_SYMBOLS, length=COPY_LENGTH)

    return {k: partial(copy_run, k) for k in kinds}


# --- the lecture demo: sizes, verdict ------------------------------------------------------------------------

SOLVED_MSE = 0.01  # adding problem: a race counts as solved below this running-mean MSE (baseline 1/6)
SIZES = {  # widget key -> value of the race's widgets; the race has its own gate bias and ρ (not the probes')
    LECTURE: {
        "task": "adding",
        "train_T": 50,
        "steps": 300,
        "lr": 3e-2,
        "chrono": True,
        "race_bias": 1.0,
        "race_rho": 1.0,
    },
    FULL: {
        "task": "adding",
        "train_T": 100,
        "steps": 1500,
        "lr": 1e-2,
        "chrono": False,
        "race_bias": 1.0,
        "race_rho": 1.0,
    },
}
# tests/test_gating.py::test_lstm_solves_adding_100_and_rnn_does_not (about 4 CPU-min a seed)
FULL_SIZE_CHECKED = "by a slow test on seed 0 only"


def race_verdict(history: pd.DataFrame, finished: bool, *, task: str, T: int, solved: float, baseline: float):
    """The race in one sentence: the gated nets that solved the task and when, and how far the plain RNN got.

    Decided as soon as a gated net has solved it while the RNN's loss is still above half the baseline, or
    at the end. The expected contrast: a gated net solves it, the RNN does not. The RNN's words follow its
    recent loss (last 20 steps) against the baseline: "solved it too" below ``solved``, "learned part of the
    way" below half the baseline, else "stayed at the baseline".
    """
    gated = [k for k in ("GRU", "LSTM") if k in set(history["series"])]
    at = {k: solved_step(history, k, solved) for k in gated}
    rnn_at, rnn_now = solved_step(history, "RNN", solved), recent_loss(history, "RNN")
    done = {k: s for k, s in at.items() if s is not None}
    if not finished and not (done and rnn_now > baseline / 2):
        return None
    what = "the adding problem" if task == "adding" else "copy memory"
    who = " and ".join(f"the {k} (step {s})" for k, s in done.items()) or "no gated net"
    text = f"At T = {T}, {who} solved {what} (loss < {solved:.2g})"
    for k in gated:
        if k not in done:
            text += f"; the {k} had not by step {steps_run(history, k)} (loss {fmt(recent_loss(history, k))})"
    if rnn_at is not None:
        text += f"; the plain RNN solved it too, at step {rnn_at}: try a longer T."
    elif rnn_now <= baseline / 2:
        text += (
            f"; the plain RNN learned part of the way (last 20 steps: {fmt(rnn_now)}, below half the baseline "
            f"{baseline:.2g}) but did not solve it."
        )
    else:
        text += f"; the plain RNN stayed at the baseline {baseline:.2g} or near it (last 20 steps: {fmt(rnn_now)})."
    return Verdict(bool(done) and rnn_at is None, text)


VERSION = 1  # bump when the race's code changes the numbers a run gives (part of every Demo key)
DEFAULTS = {**SIZES[LECTURE], "H": 64}  # the race's widgets at the Lecture size, and the sidebar's hidden size


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The gating race (RNN, LSTM, GRU) with the page's widget values (keys of DEFAULTS; missing ones take
    the defaults): what the page's Start button runs. ``info``: baseline, solved threshold and chart title."""
    v = resolve(values, DEFAULTS, "gating")
    config = race_config(v["steps"], v["lr"])
    chrono = bool(v["chrono"]) and v["task"] == "adding"  # chrono init applies to the adding problem only
    race_init = {"gate_bias": v["race_bias"], "rho": v["race_rho"], "chrono": chrono}
    factories = race(v["task"], v["train_T"], v["H"], config, seed, device, **race_init)
    solved, baseline = race_thresholds(v["task"], v["train_T"])
    judge = partial(race_verdict, task=v["task"], T=v["train_T"], solved=solved, baseline=baseline)
    y_title = "MSE (log)" if v["task"] == "adding" else "cross-entropy per step (log)"
    info = {"baseline": baseline, "solved": solved, "y_title": y_title}
    key = demo_key("gating", VERSION, {**v, "chrono": chrono}, seed, device)
    return Demo(factories, v["steps"], judge, key, info, describe(v, seed))


def race_config(steps: int, lr: float) -> TrainConfig:
    """The race's training settings: Adam, batch 64, gradients clipped at norm 1."""
    return TrainConfig(steps=steps, lr=lr, batch=64, clip=1.0)


def race_thresholds(task: str, T: int) -> tuple[float, float]:
    """(solved, baseline) loss of a race on ``task`` at length ``T``, as the page draws them."""
    if task == "adding":
        return SOLVED_MSE, ADDING_BASELINE_MSE
    return copy_memory_loss(T, COPY_LENGTH, 0.9), copy_memory_loss(T, COPY_LENGTH, 1 / COPY_SYMBOLS)
