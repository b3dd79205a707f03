"""Lecture-sized demos: a page's run sizes, its computed verdict, and a plain loop that runs a demo to its
verdict (for slow tests over seeds and ``bench/bench_punchline.py``).

Every live page has two run sizes, ``LECTURE`` (the default: the contrast within about 20 s of Start on one
core) and ``FULL`` (the bigger self-study settings). A size is a dict of widget key -> value; each topic's
experiments module defines ``SIZES`` and a ``lecture_demo(seed, size)`` that builds exactly what the page's
Start button builds with those values.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrd_core.train import StepEvent, Verdict, event_row, steps_to_threshold

# experiments modules with a ``lecture_demo`` (page order); "module:race" for a page with two races
DEMO_TOPICS = (
    "vanishing",
    "gating",
    "convolutions",
    "attention",
    "long_context",
    "state_space",
    "selective",
    "layernorm",
    "real_data",
    "real_data:lstm",
)
LECTURE, FULL = "Lecture", "Full size"  # the two run sizes, as shown and as written in the URL (?size=...)
SIZE_NAMES = (LECTURE, FULL)

RunFactory = Callable[[], Iterator[StepEvent]]
VerdictFn = Callable[[pd.DataFrame, bool], Verdict | None]


@dataclass(frozen=True)
class Demo:
    """What one press of Start runs: the series' factories, the step count, and the verdict function."""

    factories: Mapping[str, RunFactory]
    total_steps: int
    verdict: VerdictFn


@dataclass(frozen=True)
class DemoResult:
    history: pd.DataFrame  # one row per (series, step), as the live panel sees it
    verdict: Verdict | None  # at the end of the run
    decided_step: int | None  # the step of the slowest series when the verdict was first available
    decided_cpu_s: float  # CPU seconds of training until then (the whole run's if never decided early)
    cpu_s: float  # CPU seconds of the whole run
    decided_wall_s: float = math.nan  # wall seconds until the verdict (the whole run's if never decided early)


def lecture_demo_of(topic: str, seed: int) -> Demo:
    """The Lecture demo of ``topic`` (an entry of DEMO_TOPICS) from its experiments module."""
    name, _, race = topic.partition(":")
    make = importlib.import_module(f"lrd_core.experiments.{name}").lecture_demo
    return make(seed, race=race) if race else make(seed)


def check_sizes(sizes: Mapping[str, Mapping[str, object]]) -> None:
    """Both sizes present, with the same widget keys (ValueError otherwise)."""
    if set(sizes) != set(SIZE_NAMES) or set(sizes[LECTURE]) != set(sizes[FULL]):
        raise ValueError(f"sizes must map {LECTURE!r} and {FULL!r} to the same widget keys, got {dict(sizes)}")


def run_demo(demo: Demo, check_every: int = 10) -> DemoResult:
    """Run ``demo`` in a plain loop, the series round-robin one step each (as the run engine does), asking
    the verdict every ``check_every`` rounds until it is first given; then to the end."""
    t0, w0 = time.thread_time(), time.perf_counter()
    iterators = {name: make() for name, make in demo.factories.items()}
    rows: list[dict] = []
    decided_step, decided_cpu, decided_wall, rounds = None, None, None, 0
    while iterators:
        for name, it in list(iterators.items()):
            event = next(it, None)
            if event is not None:
                rows.append({"series": name, **event_row(event)})
            if event is None or event.status != "running":
                del iterators[name]
        rounds += 1
        if decided_step is None and iterators and rounds % check_every == 0:
            history = pd.DataFrame(rows)
            if demo.verdict(history, False) is not None:
                decided_step = int(history.groupby("series")["step"].max().min())
                decided_cpu, decided_wall = time.thread_time() - t0, time.perf_counter() - w0
    cpu, wall = time.thread_time() - t0, time.perf_counter() - w0
    history = pd.DataFrame(rows)
    if decided_step is None:
        decided_step, decided_cpu, decided_wall = int(history["step"].max()), cpu, wall
    return DemoResult(history, demo.verdict(history, True), decided_step, decided_cpu, cpu, decided_wall)


# --- helpers the topic verdicts share ------------------------------------------------------------------------


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


def join_and(parts: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else "".join(parts)


def pct(x: float) -> str:
    """An accuracy in [0, 1] as a whole percentage: 0.9731 -> "97%"."""
    return f"{100 * x:.0f}%"


SCI_BELOW, SCI_ABOVE = 1e-3, 1e5  # magnitudes outside [SCI_BELOW, SCI_ABOVE] are written in scientific form


def scientific(values) -> bool:
    """True when a column of numbers is best written in scientific form: some nonzero finite magnitude is
    below 1e-3 or above 1e5. One answer for the whole column, so that a column never mixes the two forms."""
    mags = np.abs(np.asarray(values, dtype=float).ravel())
    mags = mags[np.isfinite(mags) & (mags > 0)]
    return bool(mags.size) and bool(np.any((mags < SCI_BELOW) | (mags > SCI_ABOVE)))


def fmt(x: float, digits: int = 2, *, sci: bool | None = None) -> str:
    """A number to ``digits`` significant digits (1-4), trailing zeros dropped; in scientific form only when
    ``sci`` says so (default: when ``|x|`` is below 1e-3 or above 1e5). 0.1734 -> "0.17", 0.000321 -> "3.2e-4",
    0.0351202 -> "0.035", 123456 -> "1.2e5", 1534.2 (digits=4) -> "1534"; 0 -> "0"; nan -> "nan".

    Pass the same ``sci=scientific(column)`` for every value of a table column, so it is written one way.
    """
    if not 1 <= digits <= 4:
        raise ValueError(f"digits must be in 1..4, got {digits}")
    x = float(x)
    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    if sci is None:
        sci = scientific([x])
    if sci:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    text = f"{round(x, decimals):.{decimals}f}"  # round first: 0.99996 to 4 digits is "1", not "1.000"
    return text.rstrip("0").rstrip(".") if "." in text else text


def column_formatter(values, digits: int = 4):
    """A ``Styler.format`` formatter for one column: ``df.style.format({c: column_formatter(df[c])})``: :func:`fmt`
    with one shared form (fixed or scientific) for the whole column."""
    sci = scientific(values)
    return lambda v: fmt(v, digits, sci=sci)


def fmt_column(values, digits: int = 4) -> list[str]:
    """Every value of a column as :func:`column_formatter` writes it."""
    return list(map(column_formatter(values, digits), np.asarray(values, dtype=float).ravel()))


def table_formats(df: pd.DataFrame, digits: int = 4) -> dict:
    """``Styler.format`` formatters for every float column of ``df`` (:func:`column_formatter`), so that
    ``st.dataframe(df.style.format(table_formats(df)))`` shows each column to ``digits`` meaningful digits."""
    return {c: column_formatter(df[c], digits) for c in df.columns if pd.api.types.is_float_dtype(df[c])}
