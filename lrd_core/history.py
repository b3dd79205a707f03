"""A run's history, in one place: the rows a live panel draws (one per series and step), the lockstep
round-robin that advances a run's series (the run engine and the plain loop both call it), and the race
summaries verdicts and tables read from a history.

A history is a tidy DataFrame: ``series``, ``step``, ``loss``, ``grad_norm``, ``seconds``, ``status``,
``message``, ``clipped_grad_norm`` and one column per evaluated metric (NaN on steps without evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from lrd_core.train import StepEvent
from lrd_core.validate import check_int

HISTORY_COLUMNS = ["series", "step", "loss", "grad_norm", "seconds"]  # always present, even with no rows


def event_row(event: StepEvent) -> dict:
    """One flat history row: step, loss, grad_norm, seconds, status, message and one column per metric."""
    row = asdict(event)
    row.update(row.pop("metrics"))
    return row


def events_frame(events: list[StepEvent]) -> pd.DataFrame:
    """Tidy DataFrame of one series, one row per step: step, loss, grad_norm, seconds, status, message, metrics..."""
    cols = [c for c in StepEvent.__dataclass_fields__ if c != "metrics"]
    return pd.DataFrame([event_row(e) for e in events]).reindex(
        columns=cols + sorted({k for e in events for k in e.metrics})
    )


def history_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """The history of a run from its rows (``{"series": name, **event_row(event)}``); with no rows yet, the
    typed empty frame (so charts can still filter numbers)."""
    if rows:
        return pd.DataFrame(list(rows))
    return pd.DataFrame({c: pd.Series(dtype=object if c == "series" else float) for c in HISTORY_COLUMNS})


def lockstep_round(
    iterators: MutableMapping[str, Iterator[StepEvent]], on_event: Callable[[str, StepEvent], None]
) -> None:
    """One round of a run: every unfinished series advances one step, in order, and ``on_event(name, event)``
    sees each event. A series whose iterator is exhausted or whose event ends it (status not "running") is
    removed from ``iterators``; the run is over when it is empty."""
    for name, it in list(iterators.items()):
        event = next(it, None)
        if event is not None:
            on_event(name, event)
        if event is None or event.status != "running":
            del iterators[name]


# --- summaries a verdict or a table reads --------------------------------------------------------------------


def steps_to_threshold(losses, threshold: float, window: int = 20) -> int | None:
    """First step (1-based) at which the mean of the last ``window`` training losses is below ``threshold``."""
    window = check_int("window", window, 1, 10**6)
    x = np.asarray(losses, dtype=float)
    if x.size < window:
        return None
    means = np.convolve(x, np.ones(window) / window, mode="valid")  # means[i] covers steps i+1 .. i+window
    below = np.flatnonzero(means < threshold)
    return int(below[0] + window) if below.size else None


def race_summary(history: pd.DataFrame, solved: float, window: int = 20) -> pd.DataFrame:
    """Per series of a live history (columns series, step, loss): steps run, mean of the last ``window``
    losses and the first step whose running mean is below ``solved`` (None if not yet)."""
    rows = [
        {
            "model": name,
            "steps": int(d["step"].max()),
            f"loss, mean of last {window}": float(d["loss"].tail(window).mean()),
            "solved at step": steps_to_threshold(d["loss"].to_numpy(), solved, window),
        }
        for name, d in history[history["step"] > 0].sort_values("step").groupby("series", sort=False)
    ]
    return pd.DataFrame(rows)


def series_losses(history: pd.DataFrame, name: str) -> np.ndarray:
    """Training losses of one series in step order, steps >= 1 (the step-0 evaluation left out)."""
    d = history[(history["series"] == name) & (history["step"] > 0)].sort_values("step")
    return d["loss"].to_numpy(dtype=float)


def solved_step(history: pd.DataFrame, name: str, threshold: float, window: int = 20) -> int | None:
    """First step at which the running mean of ``window`` training losses of ``name`` is below ``threshold``."""
    return steps_to_threshold(series_losses(history, name), threshold, window)


def recent_loss(history: pd.DataFrame, name: str, window: int = 20) -> float:
    """Mean of the last ``window`` training losses of ``name`` (NaN if it has none)."""
    x = series_losses(history, name)
    return float(np.mean(x[-window:])) if x.size else math.nan


def metric_series(history: pd.DataFrame, name: str, metric: str) -> pd.DataFrame:
    """The evaluated steps of ``name``: columns step and ``metric``, in step order."""
    if metric not in history:
        return pd.DataFrame(columns=["step", metric])
    d = history[(history["series"] == name) & history[metric].notna()]
    return d[["step", metric]].sort_values("step")


def first_at_least(history: pd.DataFrame, name: str, metric: str, level: float) -> int | None:
    """First evaluated step at which ``metric`` of ``name`` is >= ``level`` (None if never)."""
    d = metric_series(history, name, metric)
    hit = d[d[metric] >= level]
    return int(hit["step"].iloc[0]) if len(hit) else None


def best_metric(history: pd.DataFrame, name: str, metric: str) -> float:
    """Largest evaluated value of ``metric`` for ``name`` (NaN if never evaluated)."""
    d = metric_series(history, name, metric)
    return float(d[metric].max()) if len(d) else math.nan


def steps_run(history: pd.DataFrame, name: str) -> int:
    """Last step ``name`` reached (0 if none)."""
    d = history[history["series"] == name]
    return int(d["step"].max()) if len(d) else 0
