"""Page "Vanishing gradients" (seed: "The Vanishing and Exploding Gradient Problem").

The gradient of a loss read out at the last step, taken with respect to every earlier hidden state of an
Elman RNN in one backward pass, next to α·ρ^(L−1); the shrink factor per step; the RNN on the adding
problem; gradient clipping on an exploding RNN, with and without it side by side; and the measured RNN curve
that the home page's overview draws over the theory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch

from lrd_core.demo import Demo, Verdict, demo_key, describe, resolve
from lrd_core.devices import resolve_device
from lrd_core.formats import fmt
from lrd_core.gradients import grad_norms_through_time, readout_direction
from lrd_core.history import recent_loss, solved_step, steps_run
from lrd_core.limits import MAX_BATCH, MAX_PROBE_BYTES, MAX_SEQ_LEN, MAX_TRAIN_SEQ_LEN
from lrd_core.models.heads import SequenceRegressor
from lrd_core.models.recurrent import ElmanRNN, RNNConfig
from lrd_core.task_runs import adding_run
from lrd_core.tasks import adding_problem
from lrd_core.theory import ADDING_BASELINE_MSE
from lrd_core.train import StepEvent, TrainConfig, split_seed
from lrd_core.validate import check_float, check_int


def rnn_gradient_probe(model: ElmanRNN, x: torch.Tensor, v: torch.Tensor, jacobians: bool = True) -> pd.DataFrame:
    """Gradient of L = v . h_T with respect to every h_t of an Elman RNN, one sequence per row of x.

    x: (B, T, D); v: (H,). Returns a tidy DataFrame with one row per (sequence, t):
    ``sample``, ``t`` (1..T), ``lag`` (T - t), ``grad_norm`` ||dL/dh_t||,
    ``jac_norm`` ||J_t||_2 = ||diag(phi'(a_t)) W||_2 (J_1 has no h_0 to act on
    but is reported for completeness), ``saturation`` mean |phi'(a_t)| and
    ``bound`` = ||dL/dh_T|| * prod_{k=t+1..T} ||J_k||_2, the upper bound from
    sub-multiplicativity, which ``grad_norm`` never exceeds. ``jacobians=False`` leaves out the T spectral norms
    (the costly part: :func:`jacobian_work`), and ``jac_norm`` and ``bound`` are NaN.
    """
    B, T, _ = x.shape
    check_int("T", T, 1, MAX_SEQ_LEN)
    check_int("batch", B, 1, MAX_BATCH)
    states, pre = model.unroll(x)
    loss = (states[-1] @ v.to(states[-1])).sum()  # sum over the batch: rows stay independent
    grad_norm = grad_norms_through_time(states, loss)  # (B, T)
    with torch.no_grad():
        sat = model.dphi(pre).abs().mean(dim=-1)  # (B, T)
        if jacobians:
            jac = jacobian_norms(model, pre).double()  # (B, T)
            # bound_t = ||g_T|| * prod_{k>t} ||J_k||: reverse cumulative product, shifted by one
            tail = torch.flip(torch.cumprod(torch.flip(jac[:, 1:], [1]), dim=1), [1])  # (B, T-1)
            bound = grad_norm[:, -1:].double() * torch.cat([tail, torch.ones_like(jac[:, :1])], dim=1)
        else:
            jac = bound = torch.full_like(grad_norm, math.nan, dtype=torch.float64)
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


def jacobian_norms(model: ElmanRNN, pre: torch.Tensor, max_bytes: int = MAX_PROBE_BYTES) -> torch.Tensor:
    """||J_t||_2 for pre-activations (B, T, H) -> (B, T), computed a few steps at a time.

    All T Jacobians at once would take B·T·H·H numbers (256 MB at T = 1000, H = 256) and the SVD as much
    again; chunks of steps keep the working set under ``max_bytes``. Each matrix is independent, so the
    numbers agree with one batched call to float rounding (LAPACK may order a batch's work differently);
    whenever all T fit the budget (every default view) it is that one call.
    """
    B, T, H = pre.shape
    per_step = 3 * B * H * H * pre.element_size()  # the Jacobians, the SVD's copy and its workspace
    chunk = max(1, min(T, max_bytes // per_step))
    parts = [torch.linalg.matrix_norm(model.jacobians(pre[:, i : i + chunk]), ord=2) for i in range(0, T, chunk)]
    return torch.cat(parts, dim=1)  # (B, T)


def vanishing_probe(
    config, T: int, seed: int, batch: int = 1, device: str = "cpu", jacobians: bool = True
) -> pd.DataFrame:
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
    return rnn_gradient_probe(model.to(dev), x.to(dev), v.to(dev), jacobians)


SLOW_JACOBIAN_WORK = 2e9  # T·H³ above which the spectral norms take about a second or more on one core


def jacobian_work(hidden_size: int, T: int, batch: int = 1) -> float:
    """B·T·H³: the work of T spectral norms of H x H Jacobians (one SVD each). Measured on one core: 5.3 s at
    T = 1000, H = 256 (1.7e10), so SLOW_JACOBIAN_WORK is about 0.6 s."""
    return float(batch) * T * hidden_size**3


def decay_per_step(df: pd.DataFrame) -> float:
    """Geometric-mean factor by which ``grad_norm`` shrinks per step of distance: exp of the least-squares
    slope of log ||dL/dh_t|| against lag, over the finite positive points (NaN if fewer than 2)."""
    ok = df[np.isfinite(df["grad_norm"]) & (df["grad_norm"] > 0)]
    if len(ok) < 2 or ok["lag"].nunique() < 2:
        return float("nan")
    slope, _ = np.polyfit(ok["lag"].to_numpy(float), np.log(ok["grad_norm"].to_numpy(float)), 1)
    return float(np.exp(slope))


def measured_rnn_signal(rho: float, T: int, seed: int, points: int = 30) -> pd.DataFrame:
    """The plain-RNN curve measured: ‖∂L/∂h_t‖ of a linear RNN with orthogonal W·ρ (H = 64), one backward
    pass over T steps, normalised to 1 at L = 1. Rows ``architecture``, ``L`` (= lag + 1), ``signal``,
    about ``points`` of them, log-spaced in L."""
    df = vanishing_probe(RNNConfig(rho=rho, activation="identity"), T=T, seed=seed)
    df = df.sort_values("lag")
    signal = df["grad_norm"].to_numpy() / df["grad_norm"].iloc[0]  # lag 0 first
    keep = np.unique(np.geomspace(1, T, check_int("points", points, 2, 1000)).round().astype(int)) - 1  # lags
    return pd.DataFrame(
        {"architecture": "plain RNN, measured by the page-1 probe", "L": keep + 1, "signal": signal[keep]}
    )


def rnn_adding_model(config: RNNConfig, seed: int) -> SequenceRegressor:
    """An Elman RNN with a linear read-out of h_T, initialised from ``seed``: (B, T, 2) -> (B, 1)."""
    init, _ = split_seed(seed)
    return SequenceRegressor(ElmanRNN(config, init), config.hidden_size, 1, init)


# --- the live run's verdict ----------------------------------------------------------------------------------

SOLVED_MSE = 0.01  # adding problem: solved below this running-mean MSE (always answering 1 scores 1/6)


def adding_verdict(history: pd.DataFrame, finished: bool, *, T: int) -> Verdict | None:
    """The RNN's run on the adding problem in one sentence. Decided when it has solved the task, or at the
    end. Expected: solved (the sidebar's ρ and T decide whether the signal lets it)."""
    at = solved_step(history, "RNN", SOLVED_MSE)
    if not finished and at is None:
        return None
    base = f"always answering 1 scores {ADDING_BASELINE_MSE:.2g}"
    if at is not None:
        return Verdict(True, f"The RNN solved the adding problem at T = {T} by step {at} (MSE < {SOLVED_MSE}; {base}).")
    now, n = recent_loss(history, "RNN"), steps_run(history, "RNN")
    how = "learned part of it" if now < ADDING_BASELINE_MSE / 2 else "stayed at the baseline"
    return Verdict(
        False, f"After {n} steps at T = {T} the RNN {how}: MSE {fmt(now)} ({base}, solved below {SOLVED_MSE})."
    )


VERSION = 1  # bump when the runs' code changes the numbers they give (part of every Demo key)
DEFAULTS = {  # the page's widgets at their defaults: the sidebar's RNN, and section 4's training settings
    "rho": 0.9,
    "activation": "tanh",
    "w_init": "orthogonal",
    "input_scale": 1.0,
    "hidden": 64,
    "train_T": 20,
    "steps": 600,
    "lr": 3e-3,
    "clip": False,
    "clip_norm": 1.0,
}


def _adding_rnn_run(config: RNNConfig, T: int, train_config: TrainConfig, seed: int, device: str):
    """One run factory's body: a fresh :func:`rnn_adding_model` trained on the adding problem at length T."""
    return adding_run(rnn_adding_model(config, seed), T, train_config, seed, device)


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The RNN on the adding problem with the page's widget values (keys of DEFAULTS; missing ones take the
    defaults): what section 4's Start button runs. Adam, batch 64, the gradient clipped at ``clip_norm`` when
    ``clip`` is on. ``info``: baseline, solved threshold and the training length."""
    v = resolve(values, DEFAULTS, "vanishing")
    config = RNNConfig(2, v["hidden"], v["activation"], v["w_init"], v["rho"], v["input_scale"])
    T = check_int("train_T", v["train_T"], 2, MAX_TRAIN_SEQ_LEN)
    clip_norm = check_clip_norm(v["clip_norm"]) if v["clip"] else None  # the norm matters only when clipping
    train_config = TrainConfig(steps=v["steps"], lr=v["lr"], batch=64, clip=clip_norm)
    factories = {"RNN": partial(_adding_rnn_run, config, T, train_config, seed, device)}
    info = {"baseline": ADDING_BASELINE_MSE, "solved": SOLVED_MSE, "train_T": T}
    key = demo_key("vanishing", VERSION, {**v, "clip": bool(v["clip"]), "clip_norm": clip_norm}, seed, device)
    words = describe({**{k: x for k, x in v.items() if k != "clip"}, "clip_norm": clip_norm or "off"}, seed)
    return Demo(factories, v["steps"], partial(adding_verdict, T=T), key, info, words)


# --- gradient clipping (Pascanu, Mikolov & Bengio 2013) ----------------------------------------------------------

MIN_CLIP_NORM, MAX_CLIP_NORM = 0.01, 100.0  # range of the clip norm c (above 100 it never acts in these runs)
TRAINED_MSE = ADDING_BASELINE_MSE / 2  # the clipping lesson's "trained": last 20 losses below half the baseline
UNCLIPPED = "no clipping"  # the series name of the run without clipping


@dataclass(frozen=True)
class ClipDemo:
    """The clipping lesson's run: plain SGD on a ReLU RNN in the exploding regime (W = ρ·Q, ρ > 1)."""

    rho: float = 1.5  # > 1: every step multiplies the signal by up to ρ; ReLU does not saturate to stop it
    activation: str = "relu"
    hidden: int = 64  # H
    T: int = 20  # length of the adding-problem sequences
    steps: int = 1000  # SGD steps
    lr: float = 0.1  # SGD's step is lr × the gradient: a gradient of 1e4 moves W by 1e3
    batch: int = 64


CLIP_DEMO = ClipDemo()
# Measured by tests/test_vanishing.py::test_clipping_claim_holds_over_seeds (slow) at CLIP_DEMO:
CLIP_CLAIM_NORM, CLIP_CLAIM_SEEDS = 1.0, tuple(range(5))  # the clip norm and the seeds of the claim
CLIP_CLAIM_HELD = 5  # seeds on which the unclipped run diverged and the clipped one trained (< TRAINED_MSE)


def check_clip_norm(value) -> float:
    """``value`` (a number, or the text of a link's query parameter) as a clip norm in [MIN_CLIP_NORM,
    MAX_CLIP_NORM]; ValueError naming ``clip_norm`` otherwise."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"clip_norm must be a number in [{MIN_CLIP_NORM:g}, {MAX_CLIP_NORM:g}], got {value!r}"
            ) from None
    return check_float("clip_norm", value, MIN_CLIP_NORM, MAX_CLIP_NORM)


def clipped_series(clip_norm: float) -> str:
    """The series name of the run clipped at ``clip_norm``: "clipped at c = 1"."""
    return f"clipped at c = {fmt(clip_norm, 3)}"


def norm_series(clip_norm: float) -> tuple[str, str, str]:
    """Series names of :func:`clipping_norms_long`: the unclipped run's norm, the clipped run's norm before
    clipping and after it."""
    clipped = clipped_series(clip_norm)
    return f"{UNCLIPPED}: ‖∇θ L‖", f"{clipped}: ‖∇θ L‖ before clipping", f"{clipped}: after clipping"


def clipping_race(
    clip_norm: float, seed: int, device: str = "cpu", demo: ClipDemo = CLIP_DEMO
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Two run factories on the adding problem at ``demo``'s settings, the same seed and batches: the RNN
    trained without clipping (series :data:`UNCLIPPED`) and with its global gradient norm clipped at
    ``clip_norm`` (:func:`clipped_series`). Each step's event carries the gradient norm before clipping
    (``grad_norm``) and, for the clipped run, the norm measured after clipping (``clipped_grad_norm``)."""
    clip_norm = check_clip_norm(clip_norm)
    config = RNNConfig(2, demo.hidden, demo.activation, "orthogonal", demo.rho, 1.0)

    def run(clip: float | None) -> Iterator[StepEvent]:
        train_config = TrainConfig(steps=demo.steps, lr=demo.lr, batch=demo.batch, clip=clip, optimizer="sgd")
        return adding_run(rnn_adding_model(config, seed), demo.T, train_config, seed, device)

    return {UNCLIPPED: partial(run, None), clipped_series(clip_norm): partial(run, clip_norm)}


def diverged_step(history: pd.DataFrame, name: str) -> int | None:
    """The step at which series ``name`` diverged (its loss or gradient became inf or NaN), or None."""
    if "status" not in history:
        return None
    d = history[(history["series"] == name) & (history["status"] == "diverged")]
    return int(d["step"].iloc[0]) if len(d) else None


def clipping_norms_long(history: pd.DataFrame, clip_norm: float) -> pd.DataFrame:
    """The gradient norms of a :func:`clipping_race` history for one log chart: columns step, value, series.

    Series: each run's norm before clipping, and the clipped run's norm measured after clipping. The step
    at which a run diverged keeps its non-finite value (the chart leaves it out; the page reports it)."""
    clipped = clipped_series(clip_norm)
    raw, before, after = norm_series(clip_norm)
    frames = [
        history.loc[history["series"] == run, ["step", "grad_norm"]]
        .rename(columns={"grad_norm": "value"})
        .assign(series=label)
        for run, label in ((UNCLIPPED, raw), (clipped, before))
    ]
    if "clipped_grad_norm" in history:
        measured = history.loc[history["series"] == clipped, ["step", "clipped_grad_norm"]]
        frames.append(measured.rename(columns={"clipped_grad_norm": "value"}).assign(series=after))
    out = pd.concat(frames, ignore_index=True)
    return out[out["step"] > 0].astype({"value": float})


def clipping_verdict(history: pd.DataFrame, finished: bool, *, clip_norm: float) -> Verdict | None:
    """The clipping race in one sentence. Expected: the unclipped run diverges and the clipped one trains
    (the mean of its last 20 losses falls below :data:`TRAINED_MSE`). Decided as soon as both have
    happened, as soon as the clipped run diverges, or at the end."""
    clipped, c = clipped_series(clip_norm), fmt(clip_norm, 3)
    raw_at, clip_at = diverged_step(history, UNCLIPPED), diverged_step(history, clipped)
    n, now = steps_run(history, clipped), recent_loss(history, clipped)
    trained = clip_at is None and n >= 20 and now < TRAINED_MSE
    if not finished and clip_at is None and not (raw_at is not None and trained):
        return None
    base = f"half the baseline is {TRAINED_MSE:.2g}"
    if raw_at is None:
        peak = history.loc[history["series"] == UNCLIPPED, "grad_norm"].max()
        n_raw = steps_run(history, UNCLIPPED)
        first = f"Without clipping the RNN did not diverge in {n_raw} steps (largest ‖∇θ L‖ {fmt(peak)})"
    else:
        first = f"Without clipping the RNN diverged at step {raw_at}"
    if clip_at is not None:
        second = f"clipped at c = {c} it diverged too, at step {clip_at}: c is too large to hold the steps"
    elif trained:
        second = f"clipped at c = {c} it trained: MSE {fmt(now)} after {n} steps ({base})"
    else:
        second = (
            f"clipped at c = {c} it stayed finite but reached only MSE {fmt(now)} in {n} steps ({base}):"
            " each step moves the weights by at most lr·c"
        )
    return Verdict(raw_at is not None and trained, f"{first}; {second}.")


CLIPPING_DEFAULTS = {"clip_norm": DEFAULTS["clip_norm"]}  # the one Clip norm c control serves both runs


def clipping_demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The clipping race (:func:`clipping_race` at CLIP_DEMO) with the page's clip norm (keys of
    CLIPPING_DEFAULTS): what section 5's Start button runs. ``info``: the run's clip norm and the baseline."""
    v = resolve(values, CLIPPING_DEFAULTS, "vanishing:clipping")
    clip_norm = check_clip_norm(v["clip_norm"])
    factories = clipping_race(clip_norm, seed, device)
    info = {"clip_norm": clip_norm, "baseline": ADDING_BASELINE_MSE}
    key = demo_key("vanishing:clipping", VERSION, {"clip_norm": clip_norm}, seed, device)
    judge = partial(clipping_verdict, clip_norm=clip_norm)
    return Demo(factories, CLIP_DEMO.steps, judge, key, info, describe({"clip_norm": clip_norm}, seed))
