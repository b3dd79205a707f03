"""Page "Selective state spaces" (seed: the end of "The Rise of State Space Models (SSMs)").

The race of an S6 (Mamba) model against an S4D model with as many parameters and the same state size on
selective copying and on its fixed-position variant, the Δ each S6 layer gives every token (read from the model while
it trains), the verdict sentence of a race, and the sequential against the parallel scan: agreement and time.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import partial

import numpy as np
import pandas as pd
import torch

from lrd_core.demo import FULL, LECTURE, Demo, Verdict, demo_key, describe, resolve
from lrd_core.devices import resolve_device
from lrd_core.gradients import median_seconds
from lrd_core.history import first_at_least, metric_series
from lrd_core.limits import MAX_PROBE_BYTES
from lrd_core.models import s4d
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.s4d import S4DConfig, S4DModel
from lrd_core.models.selective import SCAN_METHODS, S6Config, S6Model, scan_peak_bytes, selective_scan
from lrd_core.task_runs import parity_accuracy, parity_loss
from lrd_core.tasks import MAX_SELECTIVE_LEN, MAX_SELECTIVE_TOKENS, selective_copying
from lrd_core.train import StepEvent, TrainConfig, split_seed, train
from lrd_core.validate import check_choice, check_float, check_int

N_SYMBOLS = 8  # data tokens 0..7, noise 8, marker 9: chance is 1/8
CHANCE = 1 / N_SYMBOLS
S6_NAME, S4D_NAME = "S6 (selective)", "S4D (time-invariant)"  # the race's series
KINDS = ("data", "after data", "noise", "marker")  # what sits at a position, as the Δ charts name it
RACERS = {"S6": S6_NAME, "S4D": S4D_NAME}
SOLVED = 0.9  # token accuracy at which a model counts as having solved the task (the verdict's threshold)
MAX_RACE_LEN = 256  # L of live training (the sequential scan is a Python loop over L + k steps)
MAX_TIMING_LEN = 8192  # L of the scan timing
# kind -> width (S6: d_model, its scan runs 2·width channels; S4D: channels). S4D's width matches the parameter
# counts (race_parameters: S6 5,786, S4D 5,804; at width 16 S4D had 2,552, at 32 7,144). Pilot, Lecture size
# (L = 32, k = 2, 400 steps), seeds 0-4, one thread: S6 first reached 90 % at step 160-200 while this S4D was
# at 51-58 %; S4D ended at 61-82 % and never reached 90 %; with the data at fixed places it reached 90 % by
# step 60-100 on every seed. Full size (L = 64, k = 4, 1,000 steps), seeds 0-2: S4D ends at 71-77 % on both kernel
# sets (S6: 87-100 %) and reaches 90 % at fixed places by step 200-300 (tests/test_selective.py).
RACE_WIDTHS = {"S6": 16, "S4D": 28}
RACE_STATE = 8  # N: state size per channel of both racers
S6_CONV_WIDTH = S6Config.conv_width  # taps of S6's causal convolution: the Δ map sees a token for this many steps


def race_model(kind: str, seed: int, *, width: int = 16, state_size: int = 8, n_layers: int = 2) -> SequenceTagger:
    """ "S6" (inner = 2·width, Δ rank 1, conv 4) or "S4D" (S4D-Lin, ``width`` channels) with ``state_size``
    modes per channel and a per-step linear read-out: one-hot (B, T, N_SYMBOLS + 2) -> logits (B, T, N_SYMBOLS).
    """
    check_choice("kind", kind, tuple(RACERS))
    width = check_int("width", width, 1, 128)
    init_g, _ = split_seed(seed)
    inputs = N_SYMBOLS + 2
    if kind == "S6":
        encoder = S6Model(S6Config(inputs, width, 2 * width, state_size, n_layers=n_layers), init_g)
    else:
        encoder = S4DModel(S4DConfig(inputs, width, state_size, n_layers, "lin"), init_g)
    return SequenceTagger(encoder, width, N_SYMBOLS, init_g)


PAPER_TASK = {"L": 4096, "k": 16, "vocabulary": 16, "D": 64}  # Gu & Dao 2023, Sec. 4.1.1: the full-size task


def unordered_accuracy(k: int, n_symbols: int = N_SYMBOLS) -> float:
    """Token accuracy at the markers of a reader that knows which data symbols a sequence holds (and how often
    each) but not their order. Given that multiset every order is equally likely (the k data tokens are drawn
    independently and uniformly from ``n_symbols``), so the best guess at every marker is the most frequent
    symbol, right with probability (its count) / k: the accuracy is E[largest count] / k, summed exactly over
    the integer partitions of k (k = 1: 1; k = 2, 8 symbols: (1 + 1/8) / 2 = 9/16)."""
    k = check_int("k", k, 1, MAX_SELECTIVE_TOKENS)
    n = check_int("n_symbols", n_symbols, 2, 64)
    total = Fraction(0)
    for parts in _partitions(k, k):  # the counts of the distinct symbols, largest first
        if len(parts) > n:
            continue
        orders = math.factorial(k) // math.prod(math.factorial(p) for p in parts)  # sequences with these counts
        symbols = math.perm(n, len(parts)) // math.prod(math.factorial(c) for c in Counter(parts).values())
        total += Fraction(orders * symbols * parts[0], n**k)
    return float(total / k)


def _partitions(k: int, largest: int) -> Iterator[tuple[int, ...]]:
    """The partitions of k into parts of at most ``largest``, each as a non-increasing tuple."""
    if k == 0:
        yield ()
        return
    for first in range(min(k, largest), 0, -1):
        for rest in _partitions(k - first, first):
            yield (first, *rest)


def token_kinds(x: torch.Tensor, window: int = 4) -> torch.Tensor:
    """Label every step of selective-copying inputs x (B, T, N_SYMBOLS + 2) -> int64 (B, T) codes into KINDS:
    "data", "after data" (noise within ``window`` − 1 steps after a data token: S6's causal convolution of
    ``window`` taps still shows the data token to the Δ map there), "noise" (further from any data token)
    and "marker"."""
    tokens = x.argmax(-1)  # (B, T)
    is_data = tokens < N_SYMBOLS
    near = is_data.clone()
    for s in range(1, check_int("window", window, 1, 64)):
        near[:, s:] |= is_data[:, :-s]  # a data token s steps back
    kinds = torch.full_like(tokens, KINDS.index("noise"))
    kinds[near] = KINDS.index("after data")
    kinds[is_data] = KINDS.index("data")
    kinds[tokens == N_SYMBOLS + 1] = KINDS.index("marker")
    return kinds


def probe_sequence(L: int, k: int, seed: int, fixed_positions: bool = False):
    """One selective-copying sequence for the Δ heatmap -> (x (1, L + k, N_SYMBOLS + 2), the KINDS name of
    each position). Drawn from its own generator, never from the training data's."""
    x, _ = selective_copying(1, L, k, torch.Generator().manual_seed(seed + 7919), N_SYMBOLS, fixed_positions)
    return x, [KINDS[i] for i in token_kinds(x)[0].tolist()]


@torch.no_grad()
def channel_selectivity(model: SequenceTagger, x: torch.Tensor) -> pd.DataFrame:
    """How much each S6 channel's Δ differs near data tokens and far from them on a batch x
    (B, T, N_SYMBOLS + 2) -> DataFrame layer, channel, data (mean Δ on data tokens and the conv_width − 1
    steps after each, where the Δ map still sees it), noise (mean Δ on noise further from any data token),
    ratio (data / noise): above 1 the channel *writes* data tokens, below 1 it holds its state through them."""
    kinds = token_kinds(x, model.encoder.config.conv_width)  # (B, T)
    near = (kinds == KINDS.index("data")) | (kinds == KINDS.index("after data"))
    far = kinds == KINDS.index("noise")
    rows = []
    for layer, d in enumerate(model.encoder.deltas(x)):  # d (B, inner, T)
        d = d.transpose(1, 2)  # (B, T, inner)
        on_data, on_noise = d[near].mean(0), d[far].mean(0)  # (inner,) each
        for c in range(d.shape[-1]):
            rows.append({"layer": layer + 1, "channel": c, "data": float(on_data[c]), "noise": float(on_noise[c])})
    df = pd.DataFrame(rows)
    return df.assign(ratio=df["data"] / df["noise"])


def delta_ratio(selectivity: pd.DataFrame) -> float:
    """Mean Δ at data tokens (and just after) over mean Δ on noise, all channels of all layers together."""
    return float(selectivity["data"].mean() / selectivity["noise"].mean())


@torch.no_grad()
def delta_map(model: SequenceTagger, x: torch.Tensor, kinds: list[str], selectivity: pd.DataFrame) -> pd.DataFrame:
    """Δ of every channel at every position of one sequence x (1, T, features) -> DataFrame layer, channel,
    t, token (``kinds[t]``), delta, relative (Δ over that channel's median Δ on the sequence), ratio and
    rank (1 = the channel whose Δ rises most on data tokens, by ``selectivity`` from a batch)."""
    frames = []
    for layer, d in enumerate(model.encoder.deltas(x)):  # d (1, inner, T)
        d = d[0].cpu().numpy()  # (inner, T)
        rel = d / np.median(d, axis=1, keepdims=True)
        inner, T = d.shape
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer + 1,
                    "channel": np.repeat(np.arange(inner), T),
                    "t": np.tile(np.arange(T), inner),
                    "token": np.tile(np.asarray(kinds), inner),
                    "delta": d.ravel(),
                    "relative": rel.ravel(),
                }
            )
        )
    ranked = selectivity.sort_values("ratio", ascending=False).assign(rank=np.arange(1, len(selectivity) + 1))
    return pd.concat(frames, ignore_index=True).merge(ranked[["layer", "channel", "ratio", "rank"]])


@dataclass(frozen=True)
class DeltaSnapshot:
    """What S6's evaluation at ``step`` found about its Δ: the :func:`delta_map` of the probe sequence and the
    two selectivity numbers of that evaluation (:func:`delta_ratio` and the largest channel's ratio)."""

    step: int
    delta: pd.DataFrame  # delta_map(...): layer, channel, t, token, delta, relative, ratio, rank
    ratio: float  # mean Δ near data / on noise, all channels (the event's metrics["delta_ratio"])
    top: float  # the same in the most selective channel (metrics["delta_top"])


class DeltaProbe:
    """The latest :class:`DeltaSnapshot` of one run: written by the run on the engine's worker thread
    (:meth:`put`, the ``on_probe`` of :func:`race`), read by the page's redraw (:meth:`latest`). A lock guards
    the one reference, so a reader sees a whole snapshot or the one before. The demo creates one per run and
    hands it to the page in ``Demo.info["delta_probe"]``: a Δ map is too big for the history's rows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: DeltaSnapshot | None = None

    def put(self, snapshot: DeltaSnapshot) -> None:
        with self._lock:
            self._latest = snapshot

    def latest(self) -> DeltaSnapshot | None:
        with self._lock:
            return self._latest


def race_run(
    kind: str,
    L: int,
    k: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    fixed_positions: bool = False,
    width: int | None = None,
    state_size: int = 8,
    eval_every: int = 20,
    eval_batch: int = 256,
    on_probe: Callable[[DeltaSnapshot], None] | None = None,
) -> Iterator[StepEvent]:
    """Train ``race_model(kind)`` of ``width`` (default: the page's, RACE_WIDTHS[kind]) on fresh selective-copying
    batches (cross-entropy at the k markers).

    Every ``eval_every`` steps (and at step 0 and the end) ``metrics["accuracy"]`` is the token accuracy at
    the markers of one held-out batch drawn first from the data generator of ``seed``; an S6 model also
    reports ``delta_ratio`` (mean Δ on data / on noise tokens, all channels, on 64 held-out sequences) and
    ``delta_top`` (the largest such ratio of one channel), and passes a :class:`DeltaSnapshot` (with
    :func:`delta_map` of :func:`probe_sequence`) to ``on_probe``, e.g. :meth:`DeltaProbe.put`: no history bloat.
    """
    L = check_int("L", L, 2, MAX_RACE_LEN)
    k = check_int("k", k, 1, min(MAX_SELECTIVE_TOKENS, L))
    dev = resolve_device(device)
    _, data = split_seed(seed)
    width = RACE_WIDTHS[check_choice("kind", kind, tuple(RACERS))] if width is None else width
    model = race_model(kind, seed, width=width, state_size=state_size).to(dev)
    x_eval, y_eval = (v.to(dev) for v in selective_copying(eval_batch, L, k, data, N_SYMBOLS, fixed_positions))
    x_probe, kinds = probe_sequence(L, k, seed, fixed_positions)
    x_probe = x_probe.to(dev)
    steps_done = [0]  # training losses so far (train's step-0 loss runs without grad): the step an evaluation follows

    def batch():
        x, y = selective_copying(config.batch, L, k, data, N_SYMBOLS, fixed_positions)
        return x.to(dev), y.to(dev)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        steps_done[0] += torch.is_grad_enabled()
        return parity_loss(logits, y)

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        out = {"accuracy": parity_accuracy(m, x_eval, y_eval)}
        if kind == "S6":
            sel = channel_selectivity(m, x_eval[:64])
            out |= {"delta_ratio": delta_ratio(sel), "delta_top": float(sel["ratio"].max())}
            if on_probe is not None:
                delta = delta_map(m, x_probe, kinds, sel)
                on_probe(DeltaSnapshot(steps_done[0], delta, out["delta_ratio"], out["delta_top"]))
        return out

    return train(model, batch, loss, config, evaluate=evaluate, eval_every=eval_every)


def race(
    L: int,
    k: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    fixed_positions: bool = False,
    widths: Mapping[str, int] | None = None,
    state_size: int = 8,
    eval_every: int = 20,
    on_probe: Callable[[DeltaSnapshot], None] | None = None,
) -> dict[str, Callable[[], Iterator[StepEvent]]]:
    """Run factories S6_NAME and S4D_NAME: widths ``widths`` (kind -> width; default RACE_WIDTHS), the same
    state size, seed, batches and budget. ``on_probe`` receives S6's :class:`DeltaSnapshot` at every
    evaluation (see :func:`race_run`)."""
    check_int("L", L, 2, MAX_RACE_LEN)
    check_int("k", k, 1, min(MAX_SELECTIVE_TOKENS, L))
    widths = dict(RACE_WIDTHS if widths is None else widths)
    if set(widths) != set(RACERS):
        raise ValueError(f"widths must give a width for each of {list(RACERS)}, got {widths}")
    for kind, w in widths.items():
        check_int(f"widths[{kind!r}]", w, 1, 128)
    kw = {"fixed_positions": fixed_positions, "state_size": state_size, "eval_every": eval_every}
    kw["on_probe"] = on_probe
    return {
        name: (lambda kind=kind: race_run(kind, L, k, config, seed, device, width=widths[kind], **kw))
        for kind, name in RACERS.items()
    }


def race_verdict(
    history: pd.DataFrame, finished: bool, *, fixed_positions: bool = False, solved: float = SOLVED
) -> Verdict | None:
    """The race's verdict from its evaluations (history columns series, step, accuracy), or None while open.

    Random positions (the lesson: selection matters): decided when S6 first reaches ``solved`` (S4D's
    accuracy at that step is quoted), when S4D gets there first, or at the end. Fixed positions (the lesson:
    S4D has the capacity): decided when S4D reaches ``solved``, or at the end.
    """
    solved = check_float("solved", solved, 0.0, 1.0, lo_open=True)
    if "accuracy" not in history:
        return None
    s6, s4 = (metric_series(history, name, "accuracy") for name in (S6_NAME, S4D_NAME))
    if not len(s6) or not len(s4):
        return None
    last6, last4 = float(s6["accuracy"].iloc[-1]), float(s4["accuracy"].iloc[-1])

    def at(d: pd.DataFrame, step: int) -> float:  # accuracy of a series at its last evaluation up to step
        return float(d.loc[d["step"] <= step, "accuracy"].iloc[-1])

    def hit(name: str, d: pd.DataFrame) -> tuple[int, float] | None:  # (step, accuracy) first at or above solved
        step = first_at_least(history, name, "accuracy", solved)
        return None if step is None else (step, at(d, step))

    hit6, hit4 = hit(S6_NAME, s6), hit(S4D_NAME, s4)

    if fixed_positions:
        if hit4 is not None:
            return Verdict(
                True,
                f"With the data at fixed places S4D reached {hit4[1]:.0%} token accuracy at step {hit4[0]} "
                f"(S6: {at(s6, hit4[0]):.0%}): its fixed kernel copies tokens that sit at fixed places.",
            )
        if finished:
            return Verdict(
                False,
                f"S4D ended at {last4:.0%} (S6 {last6:.0%}) without reaching {solved:.0%} even with fixed "
                "positions; give it more steps.",
            )
        return None
    if hit6 is not None and (hit4 is None or hit6[0] < hit4[0]):
        return Verdict(
            True,
            f"S6 reached {hit6[1]:.0%} token accuracy at step {hit6[0]}; S4D, with as many parameters, was at "
            f"{at(s4, hit6[0]):.0%} then (chance {CHANCE:.1%}).",
        )
    if hit4 is not None:
        return Verdict(False, f"S4D reached {hit4[1]:.0%} at step {hit4[0]}, before S6 ({at(s6, hit4[0]):.0%}).")
    if finished:
        ahead = last6 > last4 + 0.1
        text = (
            f"After {int(s6['step'].iloc[-1])} steps S6 is at {last6:.0%} and S4D at {last4:.0%} "
            f"(chance {CHANCE:.1%}): "
        )
        return Verdict(
            ahead,
            text
            + ("S6 is ahead but has not reached " if ahead else "no clear winner below ")
            + f"{solved:.0%}; more steps would settle it.",
        )
    return None


def scan_timing(
    lengths, *, batch: int = 1, channels: int = 16, state_size: int = 8, seed: int = 0, repeats: int = 1, device="cpu"
) -> pd.DataFrame:
    """Forward + backward seconds of ``selective_scan`` by each method, and of an S4D FFT convolution of the
    same size for scale, per L -> DataFrame L, method, seconds (median of ``repeats``, after one untimed call
    at each L: a first call at a new size pays for its allocations and FFT plans), max_error (max |parallel −
    sequential| over max |y|, float32; the same on every row of an L).

    Shapes: u, Δ (batch, channels, L); A (channels, state_size); B, C (batch, state_size, L). A length whose
    parallel scan would need more than ``MAX_PROBE_BYTES`` (:func:`scan_peak_bytes`) raises ``ValueError``
    before anything is allocated.
    """
    dev = resolve_device(device)
    repeats = check_int("repeats", repeats, 1, 20)
    lengths = [check_int("L", L, 1, MAX_TIMING_LEN) for L in lengths]
    longest = max(lengths)
    need = scan_peak_bytes(batch, channels, longest, state_size, "parallel")
    if need > MAX_PROBE_BYTES:
        raise ValueError(
            f"L = {longest} (with batch {batch}, {channels} channels, N = {state_size}) needs {need / 2**20:.0f} MB "
            f"for the parallel scan, over the {MAX_PROBE_BYTES >> 20} MB a probe may use: choose a shorter L"
        )
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    dt, A4, C4 = s4d.s4d_parameters(channels, state_size, "lin", 1e-3, 1e-1, g)  # S4D of the same size
    dt4 = dt.float().to(dev).requires_grad_()
    A4, C4 = A4.to(torch.complex64).to(dev), C4.to(torch.complex64).to(dev)
    A = -torch.arange(1, state_size + 1, dtype=torch.float32, device=dev).repeat(channels, 1)  # (D, N)
    rows = []
    for L in lengths:
        u, delta = (torch.randn(batch, channels, L, generator=g).to(dev).requires_grad_() for _ in range(2))
        B, C = (torch.randn(batch, state_size, L, generator=g).to(dev).requires_grad_() for _ in range(2))
        outs = {}

        def scan(m: str, u=u, delta=delta, B=B, C=C, outs=outs):
            y = selective_scan(u, delta, A, B, C, delta_softplus=True, method=m)  # (batch, D, L)
            y.sum().backward()
            _sync(dev)
            outs[m] = y.detach()

        def fft(u=u, L=L):
            s4d.ssm_fft(u, s4d.s4d_kernel(dt4, A4, C4, L)).sum().backward()
            _sync(dev)

        calls = {f"selective scan, {m}": (lambda m=m: scan(m)) for m in SCAN_METHODS} | {"S4D by FFT": fft}
        for name, fn in calls.items():
            fn()  # untimed: measured 13 ms for an FFT at L = 256 whose next calls took 1.2 ms
            rows.append({"L": L, "method": name, "seconds": median_seconds(fn, repeats)})
        err = float((outs["parallel"] - outs["sequential"]).abs().max() / outs["sequential"].abs().max())
        for row in rows[-len(calls) :]:
            row["max_error"] = err
    return pd.DataFrame(rows)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def keep_delta(A: float, steps: int, share: float = 1 / math.e) -> float:
    """The Δ at which a mode with eigenvalue A keeps ``share`` of its state over ``steps`` steps:
    exp(Δ·A·steps) = share, so Δ = ln(share) / (A·steps) (with A = −1, 100 steps, 1/e: Δ = 0.01)."""
    A = check_float("A", A, -1e6, 0.0)
    if A == 0.0:
        raise ValueError("A must be < 0 (a decaying mode), got 0")
    steps = check_int("steps", steps, 1, 10**9)
    share = check_float("share", share, 0.0, 1.0, lo_open=True)
    return math.log(share) / (A * steps)


# --- the lecture demo: sizes -------------------------------------------------------------------------------

SIZES = {  # widget key -> value of the race's widgets
    LECTURE: {"sel_L": 32, "sel_k": 2, "sel_steps": 400},
    FULL: {"sel_L": 64, "sel_k": 4, "sel_steps": 1000},
}
FULL_SIZE_CHECKED = (  # tests/test_selective.py, the seeds (1,000 steps each)
    "by a slow test on seeds 0-2: S6 passes 95 % on 2 or 3 of them, depending on the CPU's kernels (seed 1 learns late)"
)
RACE_LR = 1e-2  # the learning-rate widget's default
RACE_BATCH = 48  # sequences per step; at 32, S6 reached 93.5 / 98.4 / 92.4 % at 1,000 steps (seeds 0-2), at 48
#   100 / 96 / 99 % (tests/test_selective.py); a step of 48 costs about 1.3x one of 32


def race_config(steps: int, lr: float) -> TrainConfig:
    """The race's training settings: Adam at ``lr`` with 50 warm-up steps, batch RACE_BATCH, clipping at norm 1."""
    return TrainConfig(steps=steps, lr=lr, batch=RACE_BATCH, clip=1.0, warmup_steps=min(50, steps))


def race_parameters(widths: Mapping[str, int] | None = None, state_size: int = RACE_STATE) -> dict[str, int]:
    """Trainable parameters of each racer, series name -> count (read-out included), as :func:`race` builds them."""
    widths = RACE_WIDTHS if widths is None else widths
    return {
        name: sum(p.numel() for p in race_model(kind, 0, width=widths[kind], state_size=state_size).parameters())
        for kind, name in RACERS.items()
    }


VERSION = 2  # bump when a change to this module changes the numbers of a run with the same settings (2: S4D width 28)
DEFAULTS = {**SIZES[LECTURE], "sel_lr": RACE_LR}  # the race's widgets at the page's defaults
FIXED_DEFAULTS = dict(DEFAULTS)  # the fixed-position race reads the same widgets


def demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The race with the data tokens at random places (the page's first Start button), from the widget values
    (keys of DEFAULTS; missing ones take the defaults). ``info``: chance, the solved threshold, the racers'
    parameter counts and ``delta_probe``, the :class:`DeltaProbe` S6's run writes its latest Δ map into."""
    return _race_demo("selective", DEFAULTS, values, seed, device, fixed_positions=False)


def fixed_demo(values: Mapping[str, object], seed: int, device: str = "cpu") -> Demo:
    """The same race with the data tokens at fixed places ⌊i·L/k⌋ (the page's second Start button); keys of
    FIXED_DEFAULTS. ``info`` as :func:`demo`'s, without a Δ probe."""
    return _race_demo("selective:fixed", FIXED_DEFAULTS, values, seed, device, fixed_positions=True)


def _race_demo(
    topic: str, defaults: Mapping[str, object], values: Mapping[str, object], seed: int, device: str, *, fixed_positions
) -> Demo:
    v = resolve(values, defaults, topic)
    config = race_config(v["sel_steps"], v["sel_lr"])
    probe = None if fixed_positions else DeltaProbe()
    factories = race(
        v["sel_L"],
        v["sel_k"],
        config,
        seed,
        device,
        fixed_positions=fixed_positions,
        widths=RACE_WIDTHS,
        state_size=RACE_STATE,
        on_probe=None if probe is None else probe.put,
    )
    info = {
        "chance": CHANCE,
        "solved": SOLVED,
        "y_title": "token accuracy at the markers",
        "parameters": race_parameters(),
        "conv_width": S6_CONV_WIDTH,
        "unordered": unordered_accuracy(v["sel_k"]),
    }
    if probe is not None:
        info["delta_probe"] = probe
    judge = partial(race_verdict, fixed_positions=fixed_positions)
    key = demo_key(topic, VERSION, v, seed, device)
    return Demo(factories, v["sel_steps"], judge, key, info, describe(v, seed))


__all__ = [
    "CHANCE",
    "DEFAULTS",
    "FIXED_DEFAULTS",
    "MAX_SELECTIVE_LEN",
    "PAPER_TASK",
    "S4D_NAME",
    "S6_NAME",
    "DeltaProbe",
    "DeltaSnapshot",
    "channel_selectivity",
    "delta_map",
    "demo",
    "fixed_demo",
    "keep_delta",
    "probe_sequence",
    "race",
    "race_parameters",
    "race_verdict",
    "scan_timing",
    "unordered_accuracy",
]
