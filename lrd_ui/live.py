"""The live-training panel: Start/Stop, queue position, progress and live curves of one run.

Training happens in the process-wide :class:`lrd_core.runtime.engine.RunEngine` (one per server, held with
``st.cache_resource``); the session keeps only a :class:`LiveRun` handle (run id and the last snapshot it
saw). A fragment with a timer reads the engine's latest snapshot and redraws; it never trains. Start and
Stop are ``on_click`` callbacks that submit and cancel.

Under tests (``LRD_ENGINE_SYNC=1``) the engine has no worker threads and every fragment run advances the
run by ``steps_per_tick`` steps on the script's thread, so ``at.run()`` is deterministic.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lrd_core.demo import Demo, Verdict
from lrd_core.history import history_frame
from lrd_core.runtime.engine import STOPPED_BY_USER, EngineBusy, RunEngine, Snapshot, usable_cores
from lrd_core.runtime.foreground import wait_for_pages
from lrd_core.train import StepEvent

SYNC = os.environ.get("LRD_ENGINE_SYNC") == "1"  # tests: no worker threads, fixed steps per redraw
PROFILE = os.environ.get("LRD_PROFILE_REDRAW") == "1"  # print each redraw's CPU seconds to stderr
REDRAW_SHARE = 0.06  # redraws may take this share of the server's CPU while a run trains
MIN_TICK_S, MAX_TICK_S = 1.0, 5.0  # bounds on the seconds between redraws of an active run
FIRST_REDRAW_S = 0.3  # assumed CPU seconds of a panel's redraw until one has been measured (Altair charts)


@st.cache_resource
def redraw_costs() -> dict[str, float]:
    """Process-wide: recent CPU seconds of one redraw, per live panel (a running mean)."""
    return {}


def tick_seconds(key: str) -> float:
    """Seconds between redraws of panel ``key``: long enough that redrawing takes at most REDRAW_SHARE of
    the CPU (a redraw builds Altair charts: 0.3-0.6 CPU-s measured), within [MIN_TICK_S, MAX_TICK_S]."""
    cost = redraw_costs().get(key, FIRST_REDRAW_S)
    return min(MAX_TICK_S, max(MIN_TICK_S, cost / REDRAW_SHARE))


@st.cache_resource
def run_engine() -> RunEngine:
    """The one engine of this server: ``LRD_WORKERS`` runs at once (default: the usable cores)."""
    if SYNC:
        return RunEngine(workers=0)
    return RunEngine(workers=int(os.environ.get("LRD_WORKERS", usable_cores())))


@dataclass
class LiveRun:
    """A visitor's handle on their run: the id and the latest snapshot the page has drawn."""

    run_id: int
    demo: Demo  # what Start built: its verdict, key and info judge and draw the run, whatever the widgets say now
    settings: str
    snapshot: Snapshot | None = None
    lost: bool = False  # the engine no longer knows the run (forgotten, or a new engine after a restart)

    @property
    def total_steps(self) -> int:
        return self.demo.total_steps

    @property
    def last(self) -> Mapping[str, StepEvent]:
        return self.snapshot.last if self.snapshot else {}

    @property
    def running(self) -> bool:
        return not self.lost and (self.snapshot is None or self.snapshot.active)

    @property
    def stopped_by_user(self) -> bool:
        return self.snapshot is not None and self.snapshot.message == STOPPED_BY_USER

    def history(self) -> pd.DataFrame:
        """Tidy history, one row per (series, step): series, step, loss, grad_norm, seconds, status,
        message, and a column per metric the run evaluates (NaN on steps without evaluation)."""
        return history_frame(self.snapshot.rows if self.snapshot else ())

    def refresh(self, engine: RunEngine, sync_steps: int) -> None:
        """Read the engine's latest snapshot (advancing ``sync_steps`` first in sync mode)."""
        snap = engine.pump(self.run_id, sync_steps) if SYNC else engine.snapshot(self.run_id)
        if snap is None:  # forgotten: keep drawing what we saw, but never wait for it again
            self.lost = True
        else:
            self.snapshot = snap


def _owner() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _start(key: str, demo: Demo, settings: str) -> None:
    try:
        run_id = run_engine().submit(_owner(), demo.factories, demo.total_steps, settings=settings)
    except (ValueError, EngineBusy) as err:
        st.session_state[key + "_error"] = str(err)
        return
    st.session_state.pop(key + "_error", None)
    st.session_state[key] = LiveRun(run_id, demo, settings)


def _stop(key: str) -> None:
    run: LiveRun | None = st.session_state.get(key)
    if run is not None:
        run_engine().cancel(run.run_id)
        run.refresh(run_engine(), 0)


def _report(run: LiveRun) -> None:
    """Progress or queue position, and why the run ended if it has."""
    snap = run.snapshot
    if snap is None and run.lost:
        st.info("This run is no longer on the server (it was restarted). Press **Start** to train again.")
        return
    if snap is None or snap.status == "queued":
        where = f"position {snap.position}, about {snap.wait_s:.0f} s" if snap else "submitted"
        st.info(f"Queued ({where}): other visitors' runs are training. **Stop** leaves the queue.")
        return
    done = snap.steps_done
    text = f"step {done} / {run.total_steps} · {snap.cpu_s:.1f} s of training in {snap.wall_s:.1f} s"
    st.progress(min(done / run.total_steps, 1.0), text=text)
    if run.stopped_by_user:
        st.info(f"Stopped by you at step {done}.")
    elif snap.status == "stopped":
        st.info(f"Stopped at step {done}: {snap.message}.")
    elif snap.status == "budget":
        st.warning(f"This run was {snap.message}; the curves show how far it got.")
    elif snap.status == "error":
        st.error(f"Training stopped: {snap.message}")
    for name, event in snap.last.items():
        if event.status == "diverged":
            st.warning(f"**{name}** {event.message}. Try gradient clipping, a smaller learning rate or a smaller ρ.")
        elif event.status == "budget":
            st.warning(f"**{name}** {event.message}.")


def _show_verdict(result: Verdict | None) -> None:
    if result is not None:
        (st.success if result.expected else st.warning)(f"**Verdict:** {result.text}", icon=":material/gavel:")


def live_panel(
    key: str,
    demo: Demo,
    *,
    settings: str | None = None,
    render: Callable[[pd.DataFrame, Demo], None],
    steps_per_tick: int = 10,
) -> LiveRun | None:
    """Draw Start/Stop, queue position or progress, end-of-run messages and ``render(history, run_demo)``.

    ``demo`` is what Start runs, built by the topic's ``demo(values, seed, device)`` in ``lrd_core`` from the
    widgets' current values: its factories are called on the engine's worker when the run is admitted (all
    series form one run with one CPU budget). ``settings`` describes those values in words (default: the
    demo's own); when the run on show was built with another key, the panel says so. The run's own Demo
    (the one Start built) judges it with ``verdict(history, finished)``, shown above the charts (green when
    the expected contrast appeared, amber when not), and is the one handed to ``render``, so a finished run
    is drawn with its own settings, never the current widgets'. ``steps_per_tick`` is used in sync mode
    (tests) only. The key of the demo on offer is kept in ``st.session_state[key + "_demo_key"]`` (tests).
    """
    settings = demo.settings if settings is None else settings
    st.session_state[key + "_demo_key"] = demo.key

    def ticker() -> None:
        run: LiveRun | None = st.session_state.get(key)
        if run is None:
            st.info("Press **Start** to train live; **Stop** ends the run at any step.")
            return
        was_active = run.running
        if was_active:  # another visitor's page is being built: let it have the core first
            wait_for_pages(max_wait_s=3.0)
        t0 = time.thread_time()
        if was_active:
            run.refresh(run_engine(), steps_per_tick)
        _report(run)
        if run.running and (run.snapshot is None or run.snapshot.status == "queued"):
            return  # nothing to draw while waiting; a queued tick costs milliseconds, not a chart build
        if run.demo.key != demo.key:
            st.caption(f"Showing the run started with {run.settings}. Press Start to train with the current settings.")
        history = run.history()
        if run.snapshot is not None and len(history):
            _show_verdict(run.demo.verdict(history, not run.running))
        render(history, run.demo)
        cost = time.thread_time() - t0
        costs = redraw_costs()
        costs[key] = 0.7 * costs.get(key, cost) + 0.3 * cost
        if PROFILE:
            print(f"[live] {key}: redraw {cost:.3f} CPU-s, next tick {tick_seconds(key):.1f} s", file=sys.stderr)
        if was_active and not run.running:
            st.rerun()  # the whole page, so the timer is switched off and Start is enabled again

    @st.fragment
    def panel() -> None:
        # Start and Stop live inside this fragment, so a click reruns the panel only, not the whole page (a
        # page's rerun took the core from the run it had just started: bench/bench_load.py, README).
        run: LiveRun | None = st.session_state.get(key)
        if run is not None and run.snapshot is None:
            run.refresh(run_engine(), 0)
        active = run is not None and run.running
        left, right, _ = st.columns([1, 1, 4])
        left.button(
            "Start",
            key=key + "_start",
            type="primary",
            disabled=active,
            icon=":material/play_arrow:",
            on_click=_start,
            args=(key, demo, settings),
            width="stretch",
        )
        right.button(
            "Stop",
            key=key + "_stop",
            disabled=not active,
            icon=":material/stop:",
            on_click=_stop,
            args=(key,),
            width="stretch",
        )
        if err := st.session_state.get(key + "_error"):
            st.error(err)
        if active:  # a nested fragment with a timer: each tick redraws the curves only
            st.fragment(run_every=tick_seconds(key))(ticker)()
        else:  # no timer: a finished or never-started panel draws once
            ticker()

    panel()
    return st.session_state.get(key)
