"""A measured series: half-hourly electricity demand in England and Wales, summer 2000 (Taylor 2003).

``data/taylor_demand.csv`` holds 4,032 half-hourly values in MW from Monday 5 June 2000 00:00 to Sunday
27 August 2000 23:30 (12 weeks; see ``data/README.md`` for the provenance). A day is 48 steps and a week
336: Saturdays run about 5 GW below weekdays, so a forecaster that cannot see about five days back cannot
tell a Friday from a Saturday.

The forecasting task: from every origin t (the last observed half-hour) forecast the next HORIZON = 48
values z[t+1 .. t+48]. Weeks 1-8 train, weeks 9-12 test (a chronological split); values are z-scored
with the mean and standard deviation of the training weeks only. Every origin is scored, not only
midnights: with only four test Saturdays, one origin a day would leave too few forecasts to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import torch

from lrd_core.charts import log_floor, palette
from lrd_core.validate import check_int

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "taylor_demand.csv"
N_VALUES = 4032  # 12 weeks of half-hours
DAY = 48  # half-hours per day: the daily period
WEEK = 336  # half-hours per week: the weekly period
START = pd.Timestamp("2000-06-05 00:00")  # a Monday
TRAIN_WEEKS = 8  # weeks 1-8 train, 9-12 test
HORIZON = 48  # forecast one day ahead
WARMUP = 512  # first training origin: every model up to reach 512 sees a full window of real data
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # pandas' dayofweek order, 0 = Monday


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
    ``half_hour`` (0..47 within the day), ``demand_mw``.
    """
    values = _demand_values()
    t = np.arange(N_VALUES)
    stamps = pd.date_range(START, periods=N_VALUES, freq="30min")
    return pd.DataFrame(
        {
            "t": t,
            "timestamp": stamps,
            "weekday": pd.Categorical.from_codes(stamps.day_of_week, categories=list(WEEKDAYS), ordered=True),
            "week": t // WEEK + 1,
            "half_hour": t % DAY,
            "demand_mw": values.copy(),
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


@dataclass(frozen=True)
class ForecastTask:
    """The z-scored series and the (origin, horizon) pairs scored in training and in testing.

    ``z[t]`` = (demand[t] − mean) / std with the training weeks' mean and std. The model reads z as one
    sequence (1, T, 1) and emits HORIZON forecasts at every position: (1, T, HORIZON), where row t
    forecasts z[t+1 .. t+HORIZON]. ``targets[t, h]`` = z[t+1+h] (NaN past the end).
    """

    z: torch.Tensor  # (N_VALUES,) float32
    targets: torch.Tensor  # (N_VALUES, HORIZON) float32, NaN where t + 1 + h >= N_VALUES
    train_origins: torch.Tensor  # (n_train,) int64: WARMUP .. train_end − 1 − HORIZON
    test_origins: torch.Tensor  # (n_test,) int64: train_end − 1 .. N_VALUES − 1 − HORIZON
    mean: float  # MW, training weeks
    std: float  # MW, training weeks
    train_end: int  # first index of the test weeks (TRAIN_WEEKS * WEEK)

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


@lru_cache(maxsize=1)
def forecast_task() -> ForecastTask:
    """The task on the committed series (built once; its tensors must not be modified in place)."""
    train_end = TRAIN_WEEKS * WEEK
    z, mean, std = zscore(_demand_values(), train_end)
    zt = torch.tensor(z, dtype=torch.float32)
    padded = torch.cat([zt, torch.full((HORIZON,), float("nan"))])  # (N + H,)
    targets = padded.unfold(0, HORIZON, 1)[1 : N_VALUES + 1]  # (N, H): row t = z[t+1 .. t+H]
    return ForecastTask(
        z=zt,
        targets=targets.contiguous(),
        train_origins=torch.arange(WARMUP, train_end - HORIZON),  # targets stay inside weeks 1-8
        test_origins=torch.arange(train_end - 1, N_VALUES - HORIZON),  # every target inside weeks 9-12
        mean=mean,
        std=std,
        train_end=train_end,
    )


def seasonal_naive(task: ForecastTask, lag: int, origins: torch.Tensor) -> torch.Tensor:
    """Forecast z[t+1+h] by z[t+1+h−lag] ("same as yesterday": lag 48, "same as last week": lag 336).

    Needs lag >= HORIZON, so every value used is observed by the origin. Returns (n, HORIZON).
    """
    lag = check_int("lag", lag, HORIZON, WARMUP)
    return task.z[task.target_index(origins) - lag]


def errors_by_weekday(task: ForecastTask, forecasts: torch.Tensor, origins: torch.Tensor) -> dict[str, float]:
    """Mean squared error (z units) of ``forecasts`` (n, HORIZON) for ``origins`` (n,), overall and by the
    weekday of the TARGET half-hour: keys "all", "Mon" .. "Sun"."""
    idx = task.target_index(origins)  # (n, H)
    sq = (forecasts - task.targets[origins]).double().pow(2)  # (n, H)
    days = torch.as_tensor(weekday_index(idx.numpy()))  # (n, H)
    out = {"all": float(sq.mean())}
    for d, name in enumerate(WEEKDAYS):
        out[name] = float(sq[days == d].mean())
    return out


def baseline_table(task: ForecastTask | None = None) -> pd.DataFrame:
    """Test MSE of the two seasonal-naive forecasts by target weekday: columns model, weekday, mse, with
    weekday "all" for the overall error."""
    task = forecast_task() if task is None else task
    rows = []
    for name, lag in (("same as yesterday", DAY), ("same as last week", WEEK)):
        errs = errors_by_weekday(task, seasonal_naive(task, lag, task.test_origins), task.test_origins)
        rows += [{"model": name, "weekday": k, "mse": v} for k, v in errs.items()]
    return pd.DataFrame(rows)


# --- charts for the "Real data" page (Altair, from the tidy frames above) ---

ACTUAL_COLOR = palette.color("actual")  # model colours: lrd_core.charts.palette, the same on every chart


def series_chart(frame: pd.DataFrame) -> alt.Chart:
    """The whole series against time, weeks 1-8 (training) and 9-12 (test) in two colours.

    ``frame`` from :func:`load_demand` (timestamp, demand_mw, week)."""
    data = frame[["timestamp", "demand_mw", "week"]].assign(
        split=np.where(frame["week"] <= TRAIN_WEEKS, "weeks 1-8: training", "weeks 9-12: test")
    )
    return (
        alt.Chart(data)
        .mark_line(strokeWidth=1)
        .encode(
            x=alt.X("timestamp:T", title=None),
            y=alt.Y("demand_mw:Q", title="demand (MW)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "split:N", title=None, scale=palette.scale(data["split"]), legend=alt.Legend(orient="bottom")
            ),
            tooltip=[alt.Tooltip("timestamp:T", format="%a %d %b %H:%M"), alt.Tooltip("demand_mw:Q", format=",.0f")],
        )
    )


def profile_chart(profile: pd.DataFrame) -> alt.Chart:
    """Mean demand through the day, one line per weekday (``profile`` from :func:`weekly_profile`)."""
    return (
        alt.Chart(profile)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("hour:Q", title="hour of the day", scale=alt.Scale(domain=[0, 24], nice=False)),
            y=alt.Y("demand_mw:Q", title="mean demand (MW)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "weekday:N",
                title=None,
                sort=list(WEEKDAYS),
                scale=palette.scale(WEEKDAYS),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["weekday:N", "hour:Q", alt.Tooltip("demand_mw:Q", format=",.0f")],
        )
    )


def reach_chart(frame: pd.DataFrame, origin: int, reaches: dict[str, int]) -> alt.LayerChart:
    """What a model sees when it forecasts from ``origin``: the series from max(reaches) + 48 steps before
    the origin to HORIZON steps after it, with one shaded band per model covering its ``reaches[name]``
    most recent half-hours (the receptive field), and the forecast day marked."""
    first = max(0, origin + 1 - max(reaches.values()) - DAY)
    data = frame.iloc[first : origin + 1 + HORIZON]
    stamp = frame["timestamp"]
    bands = pd.DataFrame(
        [
            {"model": name, "start": stamp.iloc[max(0, origin + 1 - r)], "end": stamp.iloc[origin], "row": i}
            for i, (name, r) in enumerate(reaches.items())
        ]
        + [{"model": "forecast day", "start": stamp.iloc[origin + 1], "end": stamp.iloc[origin + HORIZON], "row": -1}]
    )
    names = [*reaches, "forecast day"]
    rects = (
        alt.Chart(bands)
        .mark_rect(opacity=0.3)
        .encode(
            x="start:T",
            x2="end:T",
            color=alt.Color("model:N", title=None, scale=palette.scale(names)),
        )
    )
    line = (
        alt.Chart(data)
        .mark_line(strokeWidth=2, color=ACTUAL_COLOR)
        .encode(
            x=alt.X("timestamp:T", title=None, axis=alt.Axis(format="%a %d %b", tickCount="day")),
            y=alt.Y("demand_mw:Q", title="demand (MW)", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("timestamp:T", format="%a %d %b %H:%M"), alt.Tooltip("demand_mw:Q", format=",.0f")],
        )
    )
    return alt.layer(rects, line).resolve_scale(color="independent")


def weekday_error_chart(errors: pd.DataFrame) -> alt.Chart:
    """Test MSE by target weekday on a log axis, one bar per model side by side (``errors``: model, weekday,
    mse; the "all" rows are drawn last, as "all days"). Bars rise from a floor a decade below the smallest."""
    data = errors[errors["mse"] > 0].assign(day=lambda d: d["weekday"].replace({"all": "all days"}))
    floor = log_floor(data["mse"])
    models = list(dict.fromkeys(data["model"]))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(
                "day:N",
                title="weekday of the forecast half-hour",
                sort=[*WEEKDAYS, "all days"],
                axis=alt.Axis(labelAngle=0),
            ),
            xOffset=alt.XOffset("model:N", sort=models),
            y=alt.Y("mse:Q", title="test MSE (log)", scale=alt.Scale(type="log", domainMin=floor)),
            y2=alt.datum(floor),
            color=alt.Color(
                "model:N",
                title=None,
                scale=palette.scale(models),
                legend=alt.Legend(orient="bottom", columns=3),
            ),
            tooltip=["model:N", "day:N", alt.Tooltip("mse:Q", format=".4f")],
        )
    )


def forecast_chart(lines: pd.DataFrame) -> alt.Chart:
    """Day-ahead forecasts of one day over the actual curve: ``lines`` has hour, demand_mw, series (the
    series "actual" is drawn in black) and day (its name is the chart's title)."""
    names = [n for n in dict.fromkeys(lines["series"]) if n != "actual"]
    title = str(lines["day"].iloc[0]) if len(lines) else ""
    return (
        alt.Chart(lines, title=title)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("hour:Q", title="hour of the day", scale=alt.Scale(domain=[0, 24], nice=False)),
            y=alt.Y("demand_mw:Q", title="demand (MW)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "series:N",
                title=None,
                scale=palette.scale(["actual", *names]),
                legend=alt.Legend(orient="top", columns=2, labelLimit=0),
            ),
            tooltip=["series:N", "hour:Q", alt.Tooltip("demand_mw:Q", format=",.0f")],
        )
    )


def forecast_lines(frame: pd.DataFrame, forecasts: dict[str, pd.DataFrame], day_starts: list[int]) -> pd.DataFrame:
    """The rows :func:`forecast_chart` draws: for each day starting at index ``day_starts[i]``, the actual
    demand and every model's midnight forecast (``forecasts[name]`` from
    ``experiments.real_data.midnight_forecasts``). Columns series, day, hour, demand_mw."""
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
