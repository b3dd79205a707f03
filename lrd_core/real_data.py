"""A measured series: half-hourly electricity demand in England and Wales, summer 2000 (Taylor 2003).

``data/taylor_demand.csv`` holds 4,032 half-hourly values in MW from Monday 5 June 2000 00:00 to Sunday
27 August 2000 23:30 (12 weeks; see ``data/README.md`` for the provenance). A day is 48 steps and a week
336. Saturdays and Sundays run about 5 GW below weekdays; a Friday follows Thursday's curve until midday and
then falls below it, so the last two or three days say something, but not all, about whether tomorrow is a
working day. Last weekend, five days before a Saturday, says it outright.

The forecasting task: from every origin t (the last observed half-hour) forecast the next HORIZON = 48
values z[t+1 .. t+48]. Two chronological splits (:data:`SPLITS`):

- ``"test"``: weeks 1-8 train, weeks 9-12 are scored; what the page reports.
- ``"validation"``: weeks 1-7 train, week 8 is scored, weeks 9-12 are not read at all (``week`` 6 or 7:
  the weeks before it train, it is scored, nothing after it is read). Every choice of learning rate, step
  count, verdict day and threshold was made on validation splits (``python -m bench.bench_real_data
  --validation`` reproduces those numbers).

Values are z-scored with the mean and standard deviation of the split's training weeks only. Training
origins start at WARMUP = 512, the largest reach the page offers, so every model sees only real data. Every
origin is scored, not only midnights: with four test Saturdays, one origin a day would leave too few
forecasts to compare. This module returns arrays and tidy frames; the charts are in
:mod:`lrd_core.charts.real_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lrd_core.validate import check_choice, check_int

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "taylor_demand.csv"
N_VALUES = 4032  # 12 weeks of half-hours
DAY = 48  # half-hours per day: the daily period
WEEK = 336  # half-hours per week: the weekly period
START = pd.Timestamp("2000-06-05 00:00")  # a Monday
TRAIN_WEEKS = 8  # test split: weeks 1-8 train, 9-12 test
VALIDATION_WEEK = 8  # validation split: weeks 1-7 train, week 8 is scored
SPLITS = ("test", "validation")
HORIZON = 48  # forecast one day ahead
WARMUP = 512  # first training origin = the largest reach (TCN) or memory (LSTM) the page offers
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # pandas' dayofweek order, 0 = Monday
SPLIT_LABELS = ("weeks 1-7: training", "week 8: validation, then training", "weeks 9-12: test")


@lru_cache(maxsize=1)
def _demand_values() -> np.ndarray:
    """The committed series as a read-only float64 array (N_VALUES,), read once per process."""
    raw = pd.read_csv(DATA_FILE, dtype={"timestamp": str, "demand_mw": np.int64})
    stamps = pd.to_datetime(raw["timestamp"])
    expected = pd.date_range(START, periods=N_VALUES, freq="30min")
    if len(raw) != N_VALUES or not (stamps.to_numpy() == expected.to_numpy()).all():
        raise ValueError(f"{DATA_FILE} must hold {N_VALUES} half-hours from {START}, got {len(raw)} rows")
    values = raw["demand_mw"].to_numpy(dtype=np.float64)
    values.flags.writeable = False
    return values


def load_demand() -> pd.DataFrame:
    """The series as a tidy frame, one row per half-hour (a fresh copy; the file is read once).

    Columns: ``t`` (0..4031), ``timestamp``, ``weekday`` ("Mon".."Sun"), ``week`` (1..12),
    ``half_hour`` (0..47 within the day), ``demand_mw``, ``split`` (one of :data:`SPLIT_LABELS`).
    """
    values = _demand_values()
    t = np.arange(N_VALUES)
    stamps = pd.date_range(START, periods=N_VALUES, freq="30min")
    week = t // WEEK + 1
    split = np.select([week < VALIDATION_WEEK, week <= TRAIN_WEEKS], SPLIT_LABELS[:2], SPLIT_LABELS[2])
    return pd.DataFrame(
        {
            "t": t,
            "timestamp": stamps,
            "weekday": pd.Categorical.from_codes(stamps.day_of_week, categories=list(WEEKDAYS), ordered=True),
            "week": week,
            "half_hour": t % DAY,
            "demand_mw": values.copy(),
            "split": split,
        }
    )


def weekday_index(t) -> np.ndarray:
    """Weekday (0 = Monday .. 6 = Sunday) of half-hour index ``t`` (any int array): the series starts on a Monday."""
    return (np.asarray(t) // DAY) % 7


def weekly_profile(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean demand by weekday and half-hour over all 12 weeks: columns weekday, half_hour, hour, demand_mw."""
    frame = load_demand() if frame is None else frame
    out = frame.groupby(["weekday", "half_hour"], observed=True, as_index=False)["demand_mw"].mean()
    out["hour"] = out["half_hour"] / 2
    return out


def profile_gap(profile: pd.DataFrame, day: str, other: str) -> pd.Series:
    """Mean demand of ``day`` minus that of ``other`` at every half-hour (MW), indexed by hour (0, 0.5 .. 23.5);
    ``profile`` from :func:`weekly_profile`."""
    by_day = profile.pivot(index="hour", columns="weekday", values="demand_mw")
    return by_day[check_choice("day", day, WEEKDAYS)] - by_day[check_choice("other", other, WEEKDAYS)]


@dataclass(frozen=True)
class ForecastTask:
    """The z-scored series of one split and the origins it trains and scores on.

    ``z[t]`` = (demand[t] − mean) / std with the split's training weeks' mean and std; z holds only what the
    split may read (the validation split stops at the end of week 8). ``targets[t, h]`` = z[t+1+h] (NaN past
    the end). A forecaster maps the series and a set of origins (n,) to forecasts (n, HORIZON) of
    z[t+1 .. t+HORIZON] from the values up to t.
    """

    split: str  # "test" or "validation"
    z: torch.Tensor  # (T_split,) float32: 4,032 values (test) or 2,688 (validation)
    targets: torch.Tensor  # (T_split, HORIZON) float32, NaN where t + 1 + h >= T_split
    train_origins: torch.Tensor  # (n_train,) int64: WARMUP .. train_end − 1 − HORIZON
    eval_origins: torch.Tensor  # (n_eval,) int64: train_end − 1 .. T_split − 1 − HORIZON (scored weeks only)
    mean: float  # MW, training weeks
    std: float  # MW, training weeks
    train_end: int  # first index of the scored weeks
    by_weekday: bool = True  # t = 0 is a Monday midnight and a day is 48 steps (False for an uploaded series)

    def target_index(self, origins: torch.Tensor) -> torch.Tensor:
        """Index t + 1 + h of every target of ``origins`` (n,): (n, HORIZON) int64."""
        return origins[:, None] + 1 + torch.arange(HORIZON)

    def demand_mw(self, z) -> np.ndarray:
        """Back from z-scores to MW."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


def zscore(values: np.ndarray, train_end: int) -> tuple[np.ndarray, float, float]:
    """(values − mean) / std with the mean and (population) std of ``values[:train_end]``; also returns both."""
    train_end = check_int("train_end", train_end, 2, len(values))
    mean, std = float(values[:train_end].mean()), float(values[:train_end].std())
    return (values - mean) / std, mean, std


@lru_cache(maxsize=4)
def forecast_task(split: str = "test", week: int = VALIDATION_WEEK) -> ForecastTask:
    """The task of ``split`` (one of :data:`SPLITS`) on the committed series, built once (its tensors must not
    be modified in place). The validation split trains on the weeks before ``week`` (4..8) and scores ``week``;
    the default, week 8, is the one the page's settings were chosen on."""
    split = check_choice("split", split, SPLITS)
    week = check_int("week", week, 4, VALIDATION_WEEK)
    weeks = TRAIN_WEEKS if split == "test" else week - 1
    end = N_VALUES if split == "test" else week * WEEK  # a validation split never reads the weeks after ``week``
    return _task(_demand_values(), split, weeks * WEEK, end, WARMUP, by_weekday=True)


def _task(values: np.ndarray, split: str, train_end: int, end: int, warmup: int, *, by_weekday: bool) -> ForecastTask:
    """The task on ``values[:end]`` (n,) trained on ``[:train_end]`` from origin ``warmup``, scored after it."""
    z, mean, std = zscore(values[:end], train_end)
    zt = torch.tensor(z, dtype=torch.float32)
    padded = torch.cat([zt, torch.full((HORIZON,), float("nan"))])  # (T + H,)
    targets = padded.unfold(0, HORIZON, 1)[1 : end + 1]  # (T, H): row t = z[t+1 .. t+H]
    return ForecastTask(
        split=split,
        z=zt,
        targets=targets.contiguous(),
        train_origins=torch.arange(warmup, train_end - HORIZON),  # every target inside the training part
        eval_origins=torch.arange(train_end - 1, end - HORIZON),  # every target inside the scored part
        mean=mean,
        std=std,
        train_end=train_end,
        by_weekday=by_weekday,
    )


# --- any series (an upload) ------------------------------------------------------------------------------------
# The same three chronological parts as the demand series, as fractions of its length n: the last third is the
# test part, the twelfth before it the validation part, the rest trains. On the 12 weeks of demand these are
# weeks 9-12, week 8 and weeks 1-7, so an upload of the committed file gives the built-in task exactly.
TEST_FRACTION, VALIDATION_FRACTION = 3, 12  # test: the last n // 3 values; validation: the n // 12 before them
MIN_TRAIN_ORIGINS = 2 * HORIZON  # training origins the validation split must have at least
SERIES_PARTS = ("training", "validation", "test")


def series_bounds(n: int) -> tuple[int, int]:
    """(validation start, test start) of a series of ``n`` values: the three parts are [0, v), [v, t), [t, n)."""
    n = check_int("n", n, 1, 10**8)
    test_start = n - n // TEST_FRACTION
    return test_start - n // VALIDATION_FRACTION, test_start


def min_series_length(warmup: int) -> int:
    """The shortest series whose validation split still has MIN_TRAIN_ORIGINS training origins from ``warmup``
    and whose validation and test parts each hold a whole horizon."""
    warmup = check_int("warmup", warmup, HORIZON, 10**6)
    n = warmup + HORIZON + MIN_TRAIN_ORIGINS
    while True:
        val_start, test_start = series_bounds(n)
        if val_start - HORIZON - warmup >= MIN_TRAIN_ORIGINS and test_start - val_start > HORIZON:
            return n
        n += 1


def series_task(values: np.ndarray, split: str = "test", warmup: int = WARMUP) -> ForecastTask:
    """The forecasting task on any series ``values`` (n,) (finite floats, evenly spaced, oldest first).

    ``split`` "test": train on the first two thirds, score the last third; "validation": train on the part
    before the validation twelfth (:func:`series_bounds`), score that twelfth, never read the test third.
    Training origins start at ``warmup`` (the longest reach of the race, so every model sees only real data).
    Weekday errors are not computed (``by_weekday`` False): the series' calendar is unknown. ValueError
    naming ``values`` when the series is shorter than :func:`min_series_length`.
    """
    split = check_choice("split", split, SPLITS)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError(f"values must be a 1-D array of finite numbers, got shape {values.shape}")
    need = min_series_length(warmup)
    if len(values) < need:
        raise ValueError(
            f"values: the series has {len(values):,} values; a reach of {warmup} needs at least {need:,} "
            f"({warmup} to warm up, then {MIN_TRAIN_ORIGINS} training origins of {HORIZON}-step targets before "
            "the validation twelfth and the test third). Choose a shorter long reach or upload a longer series."
        )
    val_start, test_start = series_bounds(len(values))
    if len(np.unique(values[:val_start])) < 2:
        raise ValueError("values: the training part is constant, so it cannot be z-scored")
    train_end, end = (test_start, len(values)) if split == "test" else (val_start, test_start)
    return _task(values, split, train_end, end, warmup, by_weekday=False)


def naive_lags(period: int | None) -> dict[str, int]:
    """The two forecasts without learning for any series: repeat the last HORIZON values (lag HORIZON), and,
    with a ``period``, the same point one season back (lag: the smallest multiple of ``period`` >= HORIZON,
    so every value it copies is observed at the origin). On the demand series (period 336) these are "same as
    yesterday" and "same as last week"."""
    lags = {f"repeat the last {HORIZON}": HORIZON}
    if period is not None:
        period = check_int("period", period, 2, 10**6)
        lag = period * -(-HORIZON // period)
        if lag != HORIZON:
            lags[f"same as {lag} steps back" if lag != period else f"same as one period ({period}) back"] = lag
    return lags


def naive_scores(task: ForecastTask, lags: dict[str, int]) -> pd.DataFrame:
    """MSE (z units) on ``task``'s scored part of every naive forecast ``lags`` (name -> lag): columns model,
    lag, mse. ValueError naming ``lag`` if one would read before the series starts or into the future."""
    origins = task.eval_origins
    rows = []
    for name, lag in lags.items():
        lag = check_int("lag", lag, HORIZON, task.train_end)
        sq = squared_errors(task, task.z[task.target_index(origins) - lag], origins)
        rows.append({"model": name, "lag": lag, "mse": float(sq.mean())})
    return pd.DataFrame(rows, columns=["model", "lag", "mse"])


def seasonal_naive(task: ForecastTask, lag: int, origins: torch.Tensor) -> torch.Tensor:
    """Forecast z[t+1+h] by z[t+1+h−lag] ("same as yesterday": lag 48, "same as last week": lag 336).

    Needs lag >= HORIZON, so every value used is observed by the origin. Returns (n, HORIZON).
    """
    lag = check_int("lag", lag, HORIZON, WARMUP)
    return task.z[task.target_index(origins) - lag]


def squared_errors(task: ForecastTask, forecasts: torch.Tensor, origins: torch.Tensor) -> torch.Tensor:
    """(forecast − target)² in z units, float64: (n, HORIZON) for ``forecasts`` (n, HORIZON) at ``origins`` (n,)."""
    return (forecasts - task.targets[origins]).double().pow(2)


def errors_by_weekday(task: ForecastTask, forecasts: torch.Tensor, origins: torch.Tensor) -> dict[str, float]:
    """Mean squared error (z units) of ``forecasts`` (n, HORIZON) for ``origins`` (n,), overall and by the
    weekday of the TARGET half-hour: keys "all", "Mon" .. "Sun" (NaN for a weekday with no target)."""
    sq = squared_errors(task, forecasts, origins)  # (n, H)
    days = torch.as_tensor(weekday_index(task.target_index(origins).numpy()))  # (n, H)
    out = {"all": float(sq.mean())}
    for d, name in enumerate(WEEKDAYS):
        out[name] = float(sq[days == d].mean()) if bool((days == d).any()) else float("nan")
    return out


NAIVE_LAGS = {"same as yesterday": DAY, "same as last week": WEEK}


def baseline_table(task: ForecastTask | None = None) -> pd.DataFrame:
    """Scored-weeks MSE of the two seasonal-naive forecasts by target weekday: columns model, weekday, mse, with
    weekday "all" for the overall error (the test split's weeks 9-12 by default)."""
    task = forecast_task() if task is None else task
    rows = []
    for name, lag in NAIVE_LAGS.items():
        errs = errors_by_weekday(task, seasonal_naive(task, lag, task.eval_origins), task.eval_origins)
        rows += [{"model": name, "weekday": k, "mse": v} for k, v in errs.items()]
    return pd.DataFrame(rows)


def midnight_origins(task: ForecastTask) -> np.ndarray:
    """The origin of every scored day's midnight forecast (the day's first half-hour − 1): (days,) int64."""
    return np.arange(task.train_end, len(task.z) - HORIZON + 1, DAY) - 1


def forecast_lines(frame: pd.DataFrame, forecasts: dict[str, pd.DataFrame], day_starts: list[int]) -> pd.DataFrame:
    """Actual demand and midnight forecasts of the days starting at ``day_starts`` (indices), for the forecast
    chart: ``forecasts[name]`` from ``experiments.real_data.midnight_forecasts``. Columns series, day, hour,
    demand_mw."""
    parts = []
    for s in day_starts:
        day = frame.iloc[s : s + DAY]
        label = day["timestamp"].iloc[0].strftime("%A %d %B")
        hours = np.arange(len(day)) / 2
        parts.append(pd.DataFrame({"series": "actual", "day": label, "hour": hours, "demand_mw": day["demand_mw"]}))
        for name, f in forecasts.items():
            rows = f[f["day_start"] == s]
            parts.append(
                pd.DataFrame({"series": name, "day": label, "hour": rows["step"] / 2, "demand_mw": rows["forecast_mw"]})
            )
    return pd.concat(parts, ignore_index=True)
