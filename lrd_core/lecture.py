"""The topics with a live run, in page order, and a plain loop that runs a :class:`~lrd_core.demo.Demo` to
its verdict (for slow tests over seeds, ``bench/bench_punchline.py`` and headless runs).

``DEMO_TOPICS`` is the explicit registry: "topic" for a page's main race, "topic:race" for its other races.
``lecture_demo_of(topic, seed)`` builds the Lecture-size Demo of one entry through the same
``demo(values, seed, device)`` the page calls. ``Demo``, ``LECTURE`` and ``FULL`` are re-exported from
:mod:`lrd_core.demo` (experiments modules import them from there, so this registry can import them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import pandas as pd

from lrd_core.demo import FULL, LECTURE, SIZE_NAMES, Demo, Verdict, check_sizes
from lrd_core.experiments import (
    attention,
    convolutions,
    gating,
    layernorm,
    long_context,
    real_data,
    selective,
    state_space,
    vanishing,
)
from lrd_core.history import event_row, history_frame, lockstep_round

__all__ = [
    "DEMO_TOPICS",
    "FULL",
    "LECTURE",
    "SIZE_NAMES",
    "Demo",
    "DemoResult",
    "check_sizes",
    "demo_builder",
    "lecture_demo_of",
    "run_demo",
]

DemoBuilder = Callable[..., Demo]  # (values, seed, device="cpu") -> Demo

# topic (or "topic:race") -> (demo builder, its Lecture-size values), in page order
_REGISTRY: dict[str, tuple[DemoBuilder, Mapping[str, object]]] = {
    "vanishing": (vanishing.demo, vanishing.SIZES[LECTURE]),
    "vanishing:clipping": (vanishing.clipping_demo, vanishing.CLIPPING_DEFAULTS),
    "gating": (gating.demo, gating.SIZES[LECTURE]),
    "convolutions": (convolutions.demo, convolutions.SIZES[LECTURE]),
    "attention": (attention.demo, attention.SIZES[LECTURE]),
    "long_context": (long_context.demo, long_context.SIZES[LECTURE]),
    "state_space": (state_space.demo, state_space.SIZES[LECTURE]),
    "selective": (selective.demo, selective.SIZES[LECTURE]),
    "selective:fixed": (selective.fixed_demo, selective.FIXED_DEFAULTS),
    "layernorm": (layernorm.demo, layernorm.SIZES[LECTURE]),
    "real_data": (partial(real_data.demo, race="tcn"), real_data.SIZES[LECTURE]),
    "real_data:lstm": (partial(real_data.demo, race="lstm"), real_data.SIZES[LECTURE]),
}
DEMO_TOPICS = tuple(_REGISTRY)


def demo_builder(topic: str) -> DemoBuilder:
    """``demo(values, seed, device="cpu")`` of ``topic`` (an entry of DEMO_TOPICS)."""
    if topic not in _REGISTRY:
        raise ValueError(f"topic must be one of {list(DEMO_TOPICS)}, got {topic!r}")
    return _REGISTRY[topic][0]


def lecture_demo_of(topic: str, seed: int, device: str = "cpu") -> Demo:
    """The Lecture-size Demo of ``topic`` (an entry of DEMO_TOPICS): what its page runs at its defaults."""
    build, values = demo_builder(topic), _REGISTRY[topic][1]
    return build(values, seed, device)


@dataclass(frozen=True)
class DemoResult:
    history: pd.DataFrame  # one row per (series, step), as the live panel sees it
    verdict: Verdict | None  # at the end of the run
    decided_step: int | None  # the step of the slowest series when the verdict was first available
    decided_cpu_s: float  # CPU seconds of training until then (the whole run's if never decided early)
    cpu_s: float  # CPU seconds of the whole run
    decided_wall_s: float = math.nan  # wall seconds until the verdict (the whole run's if never decided early)


def run_demo(demo: Demo, check_every: int = 10) -> DemoResult:
    """Run ``demo`` in a plain loop, the series in lockstep (:func:`lrd_core.history.lockstep_round`, as the
    run engine does), asking the verdict every ``check_every`` rounds until it is first given; then to the end."""
    t0, w0 = time.thread_time(), time.perf_counter()
    iterators = {name: make() for name, make in demo.factories.items()}
    rows: list[dict] = []
    decided_step, decided_cpu, decided_wall, rounds = None, None, None, 0
    while iterators:
        lockstep_round(iterators, lambda name, event: rows.append({"series": name, **event_row(event)}))
        rounds += 1
        if decided_step is None and iterators and rounds % check_every == 0:
            history = history_frame(rows)
            if demo.verdict(history, False) is not None:
                decided_step = int(history.groupby("series")["step"].max().min())
                decided_cpu, decided_wall = time.thread_time() - t0, time.perf_counter() - w0
    cpu, wall = time.thread_time() - t0, time.perf_counter() - w0
    history = history_frame(rows)
    if decided_step is None:
        decided_step, decided_cpu, decided_wall = int(history["step"].max()), cpu, wall
    return DemoResult(history, demo.verdict(history, True), decided_step, decided_cpu, cpu, decided_wall)
