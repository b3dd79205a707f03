"""The live-training panel: Start/Stop, progress and live curves for one or more runs in lockstep.

The run (iterators of :class:`lrd_core.train.StepEvent`, history) lives in
``st.session_state``; a fragment with a timer advances a few steps per tick
and redraws, so Stop (a button outside the busy fragment) is seen within one
tick. Under AppTest every ``at.run()`` advances exactly one tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from lrd_core.train import StepEvent, event_row

RunFactory = Callable[[], Iterator[StepEvent]]


@dataclass
class LiveRun:
    iterators: dict[str, Iterator[StepEvent]]  # series name -> events still to come
    total_steps: int  # step budget of every series
    settings: str  # human-readable settings the run was started with
    rows: list[dict] = field(default_factory=list)  # one per (series, step)
    last: dict[str, StepEvent] = field(default_factory=dict)  # latest event per series
    running: bool = True
    stopped_by_user: bool = False

    def history(self) -> pd.DataFrame:
        """Tidy history, one row per (series, step): series, step, loss, grad_norm, seconds, status,
        message, and a column per metric the run evaluates (NaN on steps without evaluation)."""
        return pd.DataFrame(
            self.rows, columns=None if self.rows else ["series", "step", "loss", "grad_norm", "seconds"]
        )

    def advance(self, steps: int, budget_s: float) -> None:
        """Advance the unfinished series round-robin, one step each per round, for up to ``steps`` rounds;
        stop early once a round ends past ``budget_s`` seconds (series stay in lockstep)."""
        start = time.perf_counter()
        for _ in range(steps):
            for name, it in list(self.iterators.items()):
                event = next(it, None)
                if event is not None:
                    self.last[name] = event
                    self.rows.append({"series": name, **event_row(event)})
                if event is None or event.status != "running":
                    del self.iterators[name]
            if not self.iterators or time.perf_counter() - start > budget_s:
                break
        if not self.iterators:
            self.running = False


def _start(key: str, factories: dict[str, RunFactory], total_steps: int, settings: str) -> None:
    try:
        iterators = {name: make() for name, make in factories.items()}
    except ValueError as err:
        st.session_state[key + "_error"] = str(err)
        return
    st.session_state.pop(key + "_error", None)
    st.session_state[key] = LiveRun(iterators, total_steps, settings)


def _stop(key: str) -> None:
    run: LiveRun | None = st.session_state.get(key)
    if run is not None and run.running:
        run.running, run.stopped_by_user = False, True
        run.iterators.clear()


def live_panel(
    key: str,
    factories: dict[str, RunFactory],
    *,
    total_steps: int,
    settings: str,
    render: Callable[[pd.DataFrame], None],
    steps_per_tick: int = 10,
    tick_s: float = 0.3,
    budget_per_tick_s: float = 0.5,
) -> LiveRun | None:
    """Draw Start/Stop, progress, end-of-run messages and ``render(history)``; returns the run, if any.

    ``factories`` map a series name to a zero-argument function returning a
    fresh event iterator (the model is built when Start is pressed).
    ``settings`` describes the widgets' current values: if they differ from
    the run's, the panel says so.
    """
    run: LiveRun | None = st.session_state.get(key)
    running = run is not None and run.running
    left, right, _ = st.columns([1, 1, 4])
    left.button(
        "Start",
        key=key + "_start",
        type="primary",
        disabled=running,
        icon=":material/play_arrow:",
        on_click=_start,
        args=(key, factories, total_steps, settings),
        width="stretch",
    )
    right.button(
        "Stop",
        key=key + "_stop",
        disabled=not running,
        icon=":material/stop:",
        on_click=_stop,
        args=(key,),
        width="stretch",
    )
    if err := st.session_state.get(key + "_error"):
        st.error(err)

    @st.fragment(run_every=tick_s if running else None)
    def ticker() -> None:
        run: LiveRun | None = st.session_state.get(key)
        if run is None:
            st.info("Press **Start** to train live; **Stop** ends the run at any step.")
            return
        was_running = run.running
        if run.running:
            run.advance(steps_per_tick, budget_per_tick_s)
        done = max((e.step for e in run.last.values()), default=0)
        st.progress(min(done / run.total_steps, 1.0), text=f"step {done} / {run.total_steps}")
        if run.settings != settings:
            st.caption(f"Showing the run started with {run.settings}. Press Start to train with the current settings.")
        if run.stopped_by_user:
            st.info(f"Stopped by you at step {done}.")
        for name, event in run.last.items():
            if event.status == "diverged":
                st.warning(
                    f"**{name}** {event.message}. Try gradient clipping, a smaller learning rate or a smaller ρ."
                )
            elif event.status == "budget":
                st.warning(f"**{name}** {event.message}.")
        render(run.history())
        if was_running and not run.running:
            st.rerun()  # the whole page, so the timer is switched off

    ticker()
    return st.session_state.get(key)
