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
    recall,
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
    "demo_from_key",
    "lecture_demo_of",
    "run_demo",
    "topic_defaults",
    "topic_sizes",
]

DemoBuilder = Callable[..., Demo]  # (values, seed, device="cpu") -> Demo


@dataclass(frozen=True)
class Topic:
    """One registered live run: its demo builder, every setting's default, and its run sizes (None: one size)."""

    build: DemoBuilder
    defaults: Mapping[str, object]
    sizes: Mapping[str, Mapping[str, object]] | None = None


# topic (or "topic:race") -> its registration, in page order. A Demo's key starts with this name, so a key is a
# complete recipe: demo_from_key(key) builds the same run.
_REGISTRY: dict[str, Topic] = {
    "vanishing": Topic(vanishing.demo, vanishing.DEFAULTS),
    "vanishing:clipping": Topic(vanishing.clipping_demo, vanishing.CLIPPING_DEFAULTS),
    "gating": Topic(gating.demo, gating.DEFAULTS, gating.SIZES),
    "convolutions": Topic(convolutions.demo, convolutions.DEFAULTS, convolutions.SIZES),
    "attention": Topic(attention.demo, attention.DEFAULTS, attention.SIZES),
    "long_context": Topic(long_context.demo, long_context.DEFAULTS, long_context.SIZES),
    "state_space": Topic(state_space.demo, state_space.DEFAULTS, state_space.SIZES),
    "selective": Topic(selective.demo, selective.DEFAULTS, selective.SIZES),
    "selective:fixed": Topic(selective.fixed_demo, selective.FIXED_DEFAULTS),
    "layernorm": Topic(layernorm.demo, layernorm.DEFAULTS, layernorm.SIZES),
    "real_data": Topic(partial(real_data.demo, race="tcn"), real_data.DEFAULTS, real_data.SIZES),
    "real_data:lstm": Topic(partial(real_data.demo, race="lstm"), real_data.DEFAULTS, real_data.SIZES),
    "recall": Topic(recall.demo, recall.DEFAULTS, recall.SIZES),
}
DEMO_TOPICS = tuple(_REGISTRY)


def _topic(topic: str) -> Topic:
    if topic not in _REGISTRY:
        raise ValueError(f"topic must be one of {list(DEMO_TOPICS)}, got {topic!r}")
    return _REGISTRY[topic]


def demo_builder(topic: str) -> DemoBuilder:
    """``demo(values, seed, device="cpu")`` of ``topic`` (an entry of DEMO_TOPICS)."""
    return _topic(topic).build


def topic_defaults(topic: str) -> dict[str, object]:
    """Every setting of ``topic``'s run with its default (the page's widget defaults)."""
    return dict(_topic(topic).defaults)


def topic_sizes(topic: str) -> Mapping[str, Mapping[str, object]] | None:
    """``topic``'s run sizes (LECTURE and FULL -> the settings each governs), or None for a one-size run."""
    return _topic(topic).sizes


def lecture_demo_of(topic: str, seed: int, device: str = "cpu") -> Demo:
    """The Lecture-size Demo of ``topic`` (an entry of DEMO_TOPICS): what its page runs at its defaults."""
    entry = _topic(topic)
    values = {**entry.defaults, **(entry.sizes[LECTURE] if entry.sizes else {})}
    return entry.build(values, seed, device)


def demo_from_key(key: tuple) -> Demo:
    """The Demo a key names: the same topic, settings, seed and device (keys start with the registry's name)."""
    topic, _version, settings, seed, device = key
    return demo_builder(topic)(dict(settings), seed, device)


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


def python_script(demo: Demo) -> str:
    """A short script that rebuilds ``demo`` from its key through the registry, runs it to the end in a fresh
    interpreter, prints its verdict and saves its loss curve as PNG: "Copy as Python" under every live panel."""
    topic, _version, settings, seed, device = demo.key
    values = "{" + ", ".join(f"{k!r}: {v!r}" for k, v in settings) + "}"
    stem = topic.replace(":", "-")
    return f'''"""The {topic} run of the dashboard, headless: same settings and seed, same numbers."""
import torch

from lrd_core import charts
from lrd_core.charts.export import chart_png
from lrd_core.lecture import demo_builder, run_demo

torch.set_num_threads(1)  # as the app's server does: the same reductions, so the same numbers
demo = demo_builder({topic!r})({values}, seed={seed}, device={device!r})
result = run_demo(demo)
print(result.verdict.text if result.verdict else "no verdict")
info = demo.info
chart = charts.loss_chart(result.history, baseline=info.get("baseline"), solved=info.get("solved"))
with open("{stem}-loss.png", "wb") as f:
    f.write(chart_png(charts.style(chart)))
'''
