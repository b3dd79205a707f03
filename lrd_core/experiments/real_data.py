"""Page "Real data": does reach matter on a measured series? Day-ahead forecasts of electricity demand.

Two races on the task of :mod:`lrd_core.real_data` (forecast the next 48 half-hours from every origin):
a dilated causal TCN whose receptive field is 128 half-hours (under three days) against the same stack
with reach 512 (over ten days), and an LSTM that carries its state along the whole series against the
same LSTM whose state is reset every 128 steps. The short-sighted models cannot tell a Saturday from a
Friday (or a Monday from a Sunday); the error by weekday shows it, the overall error hides it.
Full-batch training: every step scores all training origins of weeks 1-8 at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from lrd_core.demo import FULL, LECTURE, Demo, Verdict
from lrd_core.devices import resolve_device
from lrd_core.limits import MAX_HIDDEN, MAX_TCN_CHANNELS
from lrd_core.models.heads import linear_head
from lrd_core.models.tcn import TCN, TCNConfig
from lrd_core.real_data import DAY, HORIZON, WEEKDAYS, ForecastTask, errors_by_weekday, forecast_task
from lrd_core.train import StepEvent, TrainConfig, split_seed, train
from lrd_core.validate import check_int

KERNEL = 2  # taps per causal convolution: R = 2^(d+1) for layers 0..d
MIN_REACH_LAYER, MAX_REACH_LAYER = 3, 9  # top layer d of a forecasting TCN: reach 16 .. 1024
MIN_MEMORY, MAX_MEMORY = 16, 4096  # steps between resets of the short-memory LSTM
METRICS = ("mse_all", *(f"mse_{d}" for d in WEEKDAYS))  # the evaluated metrics (z units, test weeks)
Factory = Callable[[], Iterator[StepEvent]]
TCN_LR, LSTM_LR = 3e-3, 1e-2  # Adam learning rates, decayed linearly to 0 over the run, gradients clipped at 1
SIZES = {  # widget key -> value; Lecture: each race's verdict within 20 s of Start on one core (14 and 13 CPU-s)
    LECTURE: {"tcn_steps": 400, "lstm_steps": 500},
    FULL: {"tcn_steps": 1500, "lstm_steps": 1500},
}
FULL_SIZE_CHECKED = "by no test (the slow tests run the Lecture size)"


class Forecaster(nn.Module):
    """A sequence encoder ((B, T, 1) -> (B, T, C)) and a per-position linear head to HORIZON forecasts.

    forward: z (B, T, 1) -> forecasts (B, T, HORIZON); row t forecasts z[t+1 .. t+HORIZON] from the
    values up to t (causal encoders only).
    """

    def __init__(self, encoder: nn.Module, width: int, generator: torch.Generator):
        super().__init__()
        self.encoder = encoder
        self.head = linear_head(width, HORIZON, generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(z))  # (B, T, HORIZON)


def tcn_config(top_layer: int, channels: int) -> TCNConfig:
    """The forecasting TCN: dilated causal stack, k = 2, layers 0..d with dilation 2^l, 1 input channel."""
    top_layer = check_int("top_layer", top_layer, MIN_REACH_LAYER, MAX_REACH_LAYER)
    channels = check_int("channels", channels, 1, MAX_TCN_CHANNELS)
    return TCNConfig(1, channels, KERNEL, top_layer, "dilated")


def tcn_forecaster(top_layer: int, channels: int, seed: int) -> Forecaster:
    """A TCN of reach R(2, d) = 2^(d+1) (the convolutions page's formula) with a 48-step head, from ``seed``."""
    init, _ = split_seed(seed)
    config = tcn_config(top_layer, channels)
    return Forecaster(TCN(config, init), channels, init)


class ResetLSTM(nn.Module):
    """One LSTM layer whose state is reset to zero every ``memory`` steps (None: never reset).

    With resets, the sequence (B, T, 1) is cut into chunks of ``memory`` steps (aligned at t = 0, the
    tail zero-padded) that run as a batch: the output at t has seen only the t mod memory steps before
    it in its chunk. (B, T, D) -> (B, T, H). Uses the fused ``torch.nn.LSTM`` (2,688 sequential steps
    per forward; the hand-written :class:`lrd_core.models.recurrent.LSTM` gives the same numbers from the
    same weights but loops in Python). Initialised like that LSTM: U(±1/sqrt(H)), biases 0 except the
    forget gate's, 1.
    """

    def __init__(self, input_size: int, hidden: int, memory: int | None, generator: torch.Generator):
        super().__init__()
        self.hidden = check_int("hidden", hidden, 1, MAX_HIDDEN)
        self.memory = None if memory is None else check_int("memory", memory, MIN_MEMORY, MAX_MEMORY)
        self.lstm = nn.LSTM(input_size, hidden, batch_first=True)
        bound = hidden**-0.5
        with torch.no_grad():
            for name, p in self.lstm.named_parameters():
                if name.startswith("weight"):
                    p.uniform_(-bound, bound, generator=generator)
                else:
                    p.zero_()
            self.lstm.bias_ih_l0[hidden : 2 * hidden] = 1.0  # torch's gate order i, f, g, o

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        if self.memory is None:
            return self.lstm(x)[0]  # (B, T, H)
        pad = (-T) % self.memory
        chunks = F.pad(x, (0, 0, 0, pad)).reshape(B * (T + pad) // self.memory, self.memory, D)  # (B*n, M, D)
        h = self.lstm(chunks)[0]  # (B*n, M, H), each chunk from a zero state
        return h.reshape(B, T + pad, self.hidden)[:, :T]  # (B, T, H)


def lstm_forecaster(hidden: int, memory: int | None, seed: int) -> Forecaster:
    """An LSTM (state reset every ``memory`` steps, or never) with a 48-step head, from ``seed``."""
    init, _ = split_seed(seed)
    return Forecaster(ResetLSTM(1, hidden, memory, init), hidden, init)


def forecast_run(
    model: nn.Module,
    config: TrainConfig,
    device: str = "cpu",
    *,
    eval_every: int = 25,
    keep: dict | None = None,
    name: str = "",
    task: ForecastTask | None = None,
) -> Iterator[StepEvent]:
    """Train ``model`` ((1, T, 1) -> (1, T, HORIZON)) full-batch by MSE on every training origin.

    The model reads weeks 1-8 as one sequence; the loss is the mean over training origins and horizons
    (z units). Every ``eval_every`` steps (and at step 0 and the end) it reads the whole series, and the
    event's metrics are the test MSE overall ("mse_all") and by target weekday ("mse_Mon" ..). With
    ``keep``, ``keep[name]`` is then set to :func:`midnight_forecasts` of the model (MW), for the page's
    forecast chart. ``config.batch`` is ignored: there is one batch, the whole training series.
    """
    task = forecast_task() if task is None else task
    dev = resolve_device(device)
    model.to(dev)
    x_train = task.z[: task.train_end].view(1, -1, 1).to(dev)  # (1, T_train, 1)
    x_all = task.z.view(1, -1, 1).to(dev)  # (1, N, 1)
    train_origins = task.train_origins.to(dev)
    y_train = task.targets[task.train_origins].to(dev)  # (n_train, HORIZON)

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out[0, train_origins], y)  # out (1, T_train, HORIZON)

    def evaluate(m: nn.Module) -> dict[str, float]:
        pred = m(x_all)[0].cpu()  # (N, HORIZON)
        errs = errors_by_weekday(task, pred[task.test_origins], task.test_origins)
        if keep is not None:
            keep[name] = midnight_forecasts(task, pred)
        return {f"mse_{k}": v for k, v in errs.items()}

    return train(model, lambda: (x_train, y_train), loss_fn, config, evaluate=evaluate, eval_every=eval_every)


def midnight_forecasts(task: ForecastTask, pred: torch.Tensor) -> pd.DataFrame:
    """The forecasts issued at every midnight of the test weeks (origin: the day's first half-hour − 1).

    ``pred`` (N, HORIZON) z units. Tidy rows: t (the forecast half-hour), day_start, weekday, step
    (0..47 within the day), forecast_mw.
    """
    starts = np.arange(task.train_end, len(task.z) - HORIZON + 1, DAY)  # first half-hour of each test day
    values = task.demand_mw(pred[starts - 1].detach().numpy())  # (days, HORIZON)
    t = starts[:, None] + np.arange(HORIZON)  # (days, HORIZON)
    return pd.DataFrame(
        {
            "t": t.ravel(),
            "day_start": np.repeat(starts, HORIZON),
            "weekday": [WEEKDAYS[(s // DAY) % 7] for s in np.repeat(starts, HORIZON)],
            "step": np.tile(np.arange(HORIZON), len(starts)),
            "forecast_mw": values.ravel(),
        }
    )


def tcn_names(short_layer: int, long_layer: int, channels: int) -> tuple[str, str]:
    """Series names of the TCN race, e.g. ("TCN, reach 128", "TCN, reach 512"), reach by the closed form."""
    return tuple(f"TCN, reach {tcn_config(d, channels).receptive_field}" for d in (short_layer, long_layer))


def tcn_race(
    short_layer: int,
    long_layer: int,
    channels: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    keep: dict | None = None,
    eval_every: int = 25,
) -> dict[str, Factory]:
    """Series name -> factory for the short-reach and the long-reach TCN (same width, seed and data)."""
    if short_layer >= long_layer:
        raise ValueError(f"short_layer must be below long_layer, got {short_layer} and {long_layer}")
    out = {}
    for name, d in zip(tcn_names(short_layer, long_layer, channels), (short_layer, long_layer), strict=True):

        def make(name=name, d=d):
            return forecast_run(
                tcn_forecaster(d, channels, seed), config, device, eval_every=eval_every, keep=keep, name=name
            )

        out[name] = make
    return out


def lstm_names(memory: int) -> tuple[str, str]:
    """Series names of the LSTM race: full memory, then reset every ``memory`` steps."""
    return "LSTM, full memory", f"LSTM, reset every {memory}"


def lstm_race(
    hidden: int,
    memory: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    keep: dict | None = None,
    eval_every: int = 25,
) -> dict[str, Factory]:
    """Series name -> factory for the LSTM carrying its state along the series and the one reset every
    ``memory`` steps (same hidden size, seed and data)."""
    memory = check_int("memory", memory, MIN_MEMORY, MAX_MEMORY)
    out = {}
    for name, mem in zip(lstm_names(memory), (None, memory), strict=True):

        def make(name=name, mem=mem):
            return forecast_run(
                lstm_forecaster(hidden, mem, seed), config, device, eval_every=eval_every, keep=keep, name=name
            )

        out[name] = make
    return out


def weekday_errors(history: pd.DataFrame) -> pd.DataFrame:
    """Latest evaluated test MSE of every series by target weekday: columns model, weekday, mse, step
    (weekday "all" for the overall error). Empty until a series has been evaluated."""
    cols = ["model", "weekday", "mse", "step"]
    present = [m for m in METRICS if m in history]
    if "series" not in history or not present:
        return pd.DataFrame(columns=cols)
    scored = history.dropna(subset=present, how="all")
    rows = []
    for name, d in scored.groupby("series", sort=False):
        last = d.sort_values("step").iloc[-1]
        rows += [{"model": name, "weekday": m[4:], "mse": float(last[m]), "step": int(last["step"])} for m in present]
    return pd.DataFrame(rows, columns=cols)


def last_metric(history: pd.DataFrame, metric: str) -> dict[str, tuple[float, int]]:
    """Series -> (latest evaluated value of ``metric``, its step); series never evaluated are left out."""
    if metric not in history:
        return {}
    scored = history.dropna(subset=[metric]).sort_values("step")
    return {name: (float(d[metric].iloc[-1]), int(d["step"].iloc[-1])) for name, d in scored.groupby("series")}


DAY_NAMES = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)


def contrast_verdict(
    history: pd.DataFrame, finished: bool, *, better: str, worse: str, day: str, min_ratio: float, what: str
) -> Verdict | None:
    """Once the run has finished: is ``worse``'s test error on ``day`` at least ``min_ratio`` times
    ``better``'s? One sentence with both errors; None while the run trains or a series has no evaluation."""
    vals = last_metric(history, f"mse_{day}")
    if not finished or better not in vals or worse not in vals:
        return None
    (b, step), (w, _) = vals[better], vals[worse]
    ratio = w / b if b > 0 else float("inf")
    when = f" after {step} steps"
    if min_ratio < 2:  # a drop: say "61% below"
        drop = 1 - b / w if w > 0 else 0.0
        text = (
            f"The {what[0]}'s {DAY_NAMES[day]} error is {drop:.0%} below the {what[1]}'s ({b:.3f} vs {w:.3f}){when}."
            if drop > 0
            else f"The {what[0]}'s {DAY_NAMES[day]} error is not below the {what[1]}'s ({b:.3f} vs {w:.3f}){when}."
        )
    else:  # a factor: say "21x"
        text = f"The {what[1]}'s {DAY_NAMES[day]} error is {ratio:.1f}x the {what[0]}'s ({w:.3f} vs {b:.3f}){when}."
    return Verdict(ratio >= min_ratio, text)


TCN_MIN_DROP = 0.4  # the TCN race shows its contrast when the long reach cuts the Saturday error by >= 40%
LSTM_MIN_RATIO = 5.0  # the LSTM race shows its contrast when resets multiply the Monday error by >= 5


def tcn_verdict(short_name: str, long_name: str) -> Callable[[pd.DataFrame, bool], Verdict | None]:
    """The TCN race's verdict function: Saturday error of the long-reach TCN against the short-reach one."""
    short_r, long_r = (n.rsplit(" ", 1)[-1] for n in (short_name, long_name))

    def verdict(history: pd.DataFrame, finished: bool) -> Verdict | None:
        return contrast_verdict(
            history,
            finished,
            better=long_name,
            worse=short_name,
            day="Sat",
            min_ratio=1 / (1 - TCN_MIN_DROP),
            what=(f"reach-{long_r} TCN", f"reach-{short_r} TCN"),
        )

    return verdict


def lstm_verdict(memory: int) -> Callable[[pd.DataFrame, bool], Verdict | None]:
    """The LSTM race's verdict function: Monday error of the reset LSTM against the full-memory one."""
    full, reset = lstm_names(memory)

    def verdict(history: pd.DataFrame, finished: bool) -> Verdict | None:
        return contrast_verdict(
            history,
            finished,
            better=full,
            worse=reset,
            day="Mon",
            min_ratio=LSTM_MIN_RATIO,
            what=("full-memory LSTM", "reset-memory LSTM"),
        )

    return verdict


def train_config(model: str, steps: int) -> TrainConfig:
    """The page's optimiser settings for ``model`` ("tcn" or "lstm"): full-batch Adam, linear decay, clip 1."""
    lr = {"tcn": TCN_LR, "lstm": LSTM_LR}.get(model)
    if lr is None:
        raise ValueError(f"model must be one of ['lstm', 'tcn'], got {model!r}")
    return TrainConfig(steps=steps, lr=lr, clip=1.0, schedule="linear")


def lecture_demo(seed: int, size: str = LECTURE, device: str = "cpu", *, race: str = "tcn") -> Demo:
    """What one of the page's Start buttons runs at ``size`` with its default widgets: ``race`` "tcn" (reach
    128 vs 512, width 16) or "lstm" (H 32, full memory vs reset every 128)."""
    v = SIZES[size]
    if race == "tcn":
        config = train_config("tcn", v["tcn_steps"])
        return Demo(tcn_race(6, 8, 16, config, seed, device), config.steps, tcn_verdict(*tcn_names(6, 8, 16)))
    if race == "lstm":
        config = train_config("lstm", v["lstm_steps"])
        return Demo(lstm_race(32, 128, config, seed, device), config.steps, lstm_verdict(128))
    raise ValueError(f"race must be one of ['lstm', 'tcn'], got {race!r}")
