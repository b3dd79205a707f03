"""What one press of Start runs: a :class:`Demo` (the series' factories, step count, verdict, and a key that
names the run's numbers), the two run sizes, and the helpers every topic's ``demo(values, seed, device)`` uses.

Each topic's experiments module builds its Demo from the page's widget values with ``demo(values, seed,
device)``; the page, the tests, ``bench/`` and ``scripts/`` all call that one function, so what a test checks is
what the page runs. ``values`` may leave out settings: the topic's defaults fill them, so equal settings give
equal keys however they were spelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lrd_core.train import StepEvent
from lrd_core.validate import check_int

LECTURE, FULL = "Lecture", "Full size"  # the two run sizes, as shown and as written in the URL (?size=...)
SIZE_NAMES = (LECTURE, FULL)

RunFactory = Callable[[], Iterator[StepEvent]]


@dataclass(frozen=True)
class Verdict:
    """What a live run showed, in one sentence built from its numbers (a page's verdict function returns
    it, or None while the contrast is still undecided)."""

    expected: bool  # True when the contrast the page teaches appeared in this run
    text: str  # one sentence with the run's numbers, rounded to what matters


VerdictFn = Callable[[pd.DataFrame, bool], Verdict | None]
Key = tuple  # hashable: (topic, version, ((setting, value), ...), seed, device)


@dataclass(frozen=True, eq=False)
class Demo:
    """One run: series name -> zero-argument event-iterator factory (called on the engine's worker when the
    run is admitted), the step budget of every series, the verdict function, and ``key``.

    ``key`` names everything that determines the run's numbers (topic and race, every setting, seed, device,
    the topic's code version), so two Demos with equal keys train bit-identical runs on one machine.
    ``info`` holds what the page's drawing needs about the run (thresholds, the run's lags, ...), so a chart
    of a finished run never reads the current widgets. ``settings`` is the same key in words.
    """

    factories: Mapping[str, RunFactory]
    total_steps: int
    verdict: VerdictFn
    key: Key
    info: Mapping[str, Any] = field(default_factory=dict)
    settings: str = ""


def _canonical(value: Any) -> Any:
    """A hashable, canonical form of one setting: numbers as int or float (numpy scalars unwrapped), sequences
    as tuples, mappings as sorted item tuples."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, bool | str | None):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"setting values must be finite, got {value}")
        return int(value) if value.is_integer() and abs(value) < 2**53 else float(value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    raise ValueError(f"setting values must be numbers, strings or sequences of them, got {type(value).__name__}")


def demo_key(topic: str, version: int, values: Mapping[str, Any], seed: int, device: str) -> Key:
    """The key of a run: ``(topic, version, sorted settings, seed, device)`` in canonical form (1 and 1.0 are
    one value). Bump a topic's ``version`` whenever its code changes the numbers its runs give."""
    settings = tuple(sorted((str(k), _canonical(v)) for k, v in values.items()))
    return (str(topic), int(version), settings, check_int("seed", seed, 0, 2**31 - 1), str(device))


def resolve(values: Mapping[str, Any], defaults: Mapping[str, Any], topic: str) -> dict[str, Any]:
    """``defaults`` updated with ``values``; a key the topic does not know raises ValueError naming it and the
    known keys (a mistyped setting must never be dropped silently)."""
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {topic}: the settings are {sorted(defaults)}")
    return {**defaults, **values}


def describe(values: Mapping[str, Any], seed: int) -> str:
    """The settings in words for the panel: "T=50, lr=0.03, seed=0"."""
    return ", ".join(
        [*(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()), f"seed={seed}"]
    )


def check_sizes(sizes: Mapping[str, Mapping[str, object]]) -> None:
    """Both sizes present, with the same widget keys (ValueError otherwise)."""
    if set(sizes) != set(SIZE_NAMES) or set(sizes[LECTURE]) != set(sizes[FULL]):
        raise ValueError(f"sizes must map {LECTURE!r} and {FULL!r} to the same widget keys, got {dict(sizes)}")
