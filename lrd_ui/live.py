"""The live-training panel: Start/Stop, queue position, progress and live curves of one run.

Training happens in the process-wide :class:`lrd_core.runtime.engine.RunEngine` (one per server, held with
``st.cache_resource``); the session keeps only a :class:`LiveRun` handle (run id and the last snapshot it
saw). A fragment with a timer reads the engine's latest snapshot and redraws; it never trains. Start and
Stop are ``on_click`` callbacks that submit and cancel.

Runs are shared: Start submits with the Demo's key, so every visitor who presses Start on the same settings and
seed watches one run (and a late visitor gets a finished one at once, as a replay); Stop leaves the run, which
ends when its last viewer has left. Viewers share the drawing too: the engine hands all of a run's viewers the
same *frame* for a few seconds, and the verdict and ``render``'s elements for one frame are built once, by the
first viewer who draws it, and replayed to the others from ``st.cache_data`` (Streamlit records the elements a
cached function draws and replays them on a hit). Charts drawn that way carry no download buttons (a widget
cannot be replayed); a finished run's panel offers them on request.

Under tests (``LRD_ENGINE_SYNC=1``) the engine has no worker threads and every fragment run advances the
run by ``steps_per_tick`` steps on the script's thread, so ``at.run()`` is deterministic.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lrd_core import charts
from lrd_core.demo import Demo, Verdict
from lrd_core.history import history_frame
from lrd_core.lecture import python_script
from lrd_core.runtime.engine import (
    KEPT,
    STOPPED_BY_USER,
    EngineBusy,
    RunEngine,
    Snapshot,
    usable_cores,
)
from lrd_core.runtime.foreground import wait_for_pages
from lrd_core.train import StepEvent
from lrd_ui import follow, run_history, show
from lrd_ui.errors import guard_page
from lrd_ui.presenter import presenting, shared_drawing

SYNC = os.environ.get("LRD_ENGINE_SYNC") == "1"  # tests: no worker threads, fixed steps per redraw
PROFILE = os.environ.get("LRD_PROFILE_REDRAW") == "1"  # print each redraw's CPU seconds to stderr
BUILD_SHARE = 0.08  # building a run's charts (once per frame, whatever the viewers) may take this share of the CPU
TICK_SHARE = 0.10  # all viewers' redraws of frames already built may take this share of the CPU together
MIN_TICK_S, MAX_TICK_S = 1.0, 5.0  # bounds on the seconds between redraws of an active run, and on a frame's age
FIRST_BUILD_S = 0.3  # assumed CPU seconds of building a panel's charts until measured (Altair charts)
FIRST_TICK_S = 0.02  # assumed CPU seconds of a redraw that replays a built frame, until measured
SEND_S = 0.003  # the event loop's CPU per script run (sending its messages): bench/bench_hall.py measured 3 ms
DRAWINGS_KEPT = 64  # frames whose drawing is kept for replay (a few per active run, one per kept run)


@st.cache_resource
def redraw_costs() -> dict[str, float]:
    """Process-wide running means of CPU seconds: ``"build:<panel key>"`` for a redraw that built a frame's
    charts, ``"tick"`` for one that replayed them."""
    return {}


def frame_seconds(key: str) -> float:
    """Seconds the viewers of panel ``key``'s run share one frame: long enough that building its charts (once
    per frame) takes at most BUILD_SHARE of the CPU, within [MIN_TICK_S, MAX_TICK_S]."""
    cost = redraw_costs().get("build:" + key, FIRST_BUILD_S)
    return min(MAX_TICK_S, max(MIN_TICK_S, cost / BUILD_SHARE))


def tick_seconds(viewers: int) -> float:
    """Seconds between one viewer's redraws while ``viewers`` visitors watch active runs: all their replays
    together take at most TICK_SHARE of the CPU, within [MIN_TICK_S, MAX_TICK_S]."""
    cost = redraw_costs().get("tick", FIRST_TICK_S)
    return min(MAX_TICK_S, max(MIN_TICK_S, max(1, viewers) * cost / TICK_SHARE))


def _note_cost(name: str, cost: float) -> None:
    costs = redraw_costs()
    costs[name] = 0.7 * costs.get(name, cost) + 0.3 * cost


@st.cache_resource
def run_engine() -> RunEngine:
    """The one engine of this server: ``LRD_WORKERS`` runs at once (default: the usable cores)."""
    if SYNC:
        return RunEngine(workers=0)
    return RunEngine(workers=int(os.environ.get("LRD_WORKERS", usable_cores())))


@dataclass
class LiveRun:
    """A visitor's handle on the run they watch: its id, the newest snapshot and the frame the page draws."""

    run_id: int
    demo: Demo  # what Start built: its verdict, key and info judge and draw the run, whatever the widgets say now
    settings: str
    snapshot: Snapshot | None = None  # the newest: progress, queue position, status
    lost: bool = False  # the engine no longer knows the run (forgotten, or a new engine after a restart)
    frame: Snapshot | None = None  # what the charts show (shared by the run's viewers for a few seconds)
    left: str = ""  # why this visitor stopped watching a run that others still watch ("" while watching)
    replay: bool = False  # the run had already finished when this visitor pressed Start
    follower: bool = False  # the presenter's run, shown to a follower of the presenter (read-only)

    @property
    def total_steps(self) -> int:
        return self.demo.total_steps

    @property
    def last(self) -> Mapping[str, StepEvent]:
        shown = self.frame or self.snapshot
        return shown.last if shown else {}

    @property
    def running(self) -> bool:
        return not self.lost and not self.left and (self.snapshot is None or self.snapshot.active)

    @property
    def stopped_by_user(self) -> bool:
        return self.left == STOPPED_BY_USER or (self.snapshot is not None and self.snapshot.message == STOPPED_BY_USER)

    def history(self) -> pd.DataFrame:
        """Tidy history of the frame on show, one row per (series, step): series, step, loss, grad_norm,
        seconds, status, message, and a column per metric the run evaluates (NaN on steps without evaluation).
        The engine's own frame when it built one (a shallow copy: a render cannot change what others see)."""
        shown = self.frame or self.snapshot
        if shown is not None and shown.history is not None:
            return shown.history.copy(deep=False)
        return history_frame(shown.rows if shown else ())

    def verdict(self) -> Verdict | None:
        """The verdict on the frame on show: the engine's, or the run's own Demo's on this history (a run this
        visitor stopped is judged as finished, as its curves end there)."""
        shown = self.frame or self.snapshot
        if shown is None or not shown.rows:
            return None
        finished = not self.running
        if shown.judged and finished == (not shown.active):
            return shown.verdict
        return self.demo.verdict(self.history(), finished)

    def refresh(self, engine: RunEngine, sync_steps: int, owner: str = "", hold_s: float = 0.0) -> None:
        """Read the engine's latest snapshot and frame (advancing ``sync_steps`` first in sync mode). A visitor
        who has left a run others still watch keeps what they saw."""
        if SYNC and not self.follower:
            engine.pump(self.run_id, sync_steps)
        view = engine.view(self.run_id, owner, hold_s=hold_s)
        if view is None:  # forgotten: keep drawing what we saw, but never wait for it again
            self.lost = True
            return
        if not view.attached and not self.follower and view.snapshot.active:
            self.left = view.left or STOPPED_BY_USER
            return
        self.snapshot, self.frame = view.snapshot, view.frame


def _owner() -> str:
    return follow.visitor_id()


def _start(key: str, demo: Demo, settings: str) -> None:
    engine = run_engine()
    try:
        run_id = engine.submit(
            _owner(),
            demo.factories,
            demo.total_steps,
            settings=settings,
            key=demo.key,
            verdict=demo.verdict,
            payload=demo,
        )
    except (ValueError, EngineBusy) as err:
        st.session_state[key + "_error"] = str(err)
        return
    st.session_state.pop(key + "_error", None)
    _keep_earlier(key)
    run = LiveRun(run_id, _run_demo(engine, run_id, demo), settings)
    view = engine.view(run_id, _owner())
    if view is not None:
        run.snapshot, run.frame = view.snapshot, view.frame
        run.replay = view.snapshot.status in KEPT  # finished before this visitor came: shown at once
    st.session_state[key] = run


def _keep_earlier(key: str) -> None:
    """Keep the run this visitor was shown in panel ``key`` (ended, with rows, their own) among their earlier
    runs, before Start replaces it: its curves, as far as this visitor saw them, and verdict."""
    run: LiveRun | None = st.session_state.get(key)
    if run is None or run.follower or run.running:
        return
    history = run.history()
    if not len(history):
        return
    status = "stopped" if run.left else (run.snapshot.status if run.snapshot else "lost")
    kept = run_history.compact(history)
    steps = int(history["step"].max())
    run_history.keep(
        key, run_history.KeptRun(run.run_id, run.demo.key, run.settings, run.verdict(), status, steps, kept)
    )


def _run_demo(engine: RunEngine, run_id: int, demo: Demo) -> Demo:
    """The Demo whose factories train ``run_id``: the first submitter's when this visitor attached to a shared
    run or follows one (its ``info`` - attention maps, Δ probe, forecasts - is filled by the run), else ``demo``."""
    shared = engine.payload(run_id)
    return shared if isinstance(shared, Demo) else demo


def _stop(key: str) -> None:
    run: LiveRun | None = st.session_state.get(key)
    if run is not None:
        run_engine().cancel(run.run_id, owner=_owner())
        run.refresh(run_engine(), 0, _owner())


def _report(run: LiveRun) -> None:
    """Progress or queue position, and why the run ended if it has."""
    snap = run.snapshot
    if snap is None and run.lost:
        st.info("This run is no longer on the server (it was restarted). Press **Start** to train again.")
        return
    if snap is None or snap.status == "queued":
        where = f"position {snap.position}, about {snap.wait_s:.0f} s" if snap else "submitted"
        leave = "" if run.follower else " **Stop** leaves the queue."
        st.info(f"Queued ({where}): other visitors' runs are training.{leave}")
        return
    done = snap.steps_done
    text = f"step {done} / {run.total_steps} · {snap.cpu_s:.1f} s of training in {snap.wall_s:.1f} s"
    st.progress(min(done / run.total_steps, 1.0), text=text)
    who = "the presenter" if run.follower else "you"
    if run.stopped_by_user:
        st.info(f"Stopped by {who} at step {done}.")
    elif run.left:
        st.info(f"Stopped at step {done}: {run.left}.")
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


def _sharing_note(run: LiveRun) -> None:
    snap = run.snapshot
    if run.follower or snap is None:
        return
    if run.replay:
        st.caption(
            "This run had already finished for another visitor with the same settings and seed, so its curves "
            "and verdict are shown at once (same seed, same numbers)."
        )
    elif snap.viewers > 1 and run.running:
        st.caption(f"{snap.viewers} visitors are watching this run (same settings and seed: one run for all).")


def _show_verdict(result: Verdict | None) -> None:
    if result is not None:
        (st.success if result.expected else st.warning)(f"**Verdict:** {result.text}", icon=":material/gavel:")


SIMPLE = (bool, int, float, str, type(None))


def _render_context(render: Callable) -> tuple:
    """The plain values (numbers, strings and short sequences of them) ``render`` reads from its page's globals
    or its closure: part of the shared drawing's key, so a render that reads a widget outside the run's Demo (a
    display setting) is drawn per value of it instead of showing one viewer's choice to all."""
    code = getattr(render, "__code__", None)
    if code is None:
        return ()
    scope = dict(getattr(render, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(render, "__closure__", None) or (), strict=False):
        with contextlib.suppress(ValueError):  # an empty cell
            scope[name] = cell.cell_contents
    values = []
    for name in sorted(set(code.co_names) | set(code.co_freevars)):
        value = scope.get(name)
        if isinstance(value, list | tuple) and len(value) <= 100 and all(isinstance(v, SIMPLE) for v in value):
            values.append((name, tuple(value)))
        elif isinstance(value, SIMPLE) and not isinstance(value, type(None)) and name in scope:
            values.append((name, value))
    return tuple(values)


@st.cache_data(max_entries=DRAWINGS_KEPT, show_spinner=False)
def _shared_drawing(
    key: str, run_id: int, version: int, state: str, presenter: bool, context: tuple, _draw: Callable
) -> None:
    """Draw one frame of a run (``_draw()``) and let Streamlit keep its elements: every other viewer of the same
    (panel, run, frame version, state, presenter mode, render's plain inputs) gets them replayed instead of
    building the charts."""
    with shared_drawing():  # no download buttons: widgets cannot be replayed
        _draw()


def _earlier_table(run: LiveRun, earlier: list[run_history.KeptRun], verdict: Verdict | None) -> None:
    """This visitor's runs of the panel, the one on show first, with their verdicts."""
    steps = max((e.step for e in run.last.values()), default=0)
    table = run_history.runs_table(earlier, run.demo.key, verdict, steps)
    st.caption(
        f"Your last {len(table)} runs of this panel: this run solid, earlier ones faded and dashed on the charts, "
        "each named by the settings that differed, from its value to this run's."
    )
    show.table(table, hide_index=True)


def _draw(key: str, run: LiveRun, render: Callable[[pd.DataFrame, Demo], None], exports: bool) -> bool:
    """The verdict and ``render`` of the frame on show, with this visitor's earlier runs of the panel overlaid
    and listed (:mod:`lrd_ui.run_history`); True when this call built the charts (not a replay)."""
    built: list[bool] = []
    earlier = [] if run.follower else run_history.shown(run_history.kept_runs(key), run.demo.key)

    def draw() -> None:
        built.append(True)
        history = run.history()
        verdict = run.verdict() if len(history) else None
        if verdict is not None:
            _show_verdict(verdict)
        with charts.earlier_runs(run_history.overlay_frame(earlier, run.demo.key) if earlier else None):
            render(history, run.demo)
        if earlier:
            _earlier_table(run, earlier, verdict)

    frame = run.frame or run.snapshot
    if frame is None or exports:
        draw()
    else:
        state = frame.status if not run.left else "left"  # a visitor who left draws their frame as finished
        # a visitor's earlier runs make the drawing theirs: it is replayed to them only (and to none without them)
        mine = tuple((e.run_id, e.steps) for e in earlier)  # steps: a run left early is drawn as far as it was seen
        context = (*_render_context(render), ("_earlier_runs", mine)) if mine else _render_context(render)
        _shared_drawing(key, run.run_id, frame.version, state, presenting(), context, draw)
    return bool(built)


def _log_verdict_lag(key: str, run: LiveRun) -> None:
    """PROFILE: once per run and visitor, how long after the engine's decision this page drew the verdict."""
    frame, done = run.frame, st.session_state.setdefault("_verdicts_logged", set())
    if frame is None or frame.verdict is None or frame.decided_s is None or frame.started_at is None:
        return
    if (key, run.run_id) not in done:
        done.add((key, run.run_id))
        lag = time.monotonic() - frame.started_at - frame.decided_s
        print(f"[live] {key}: verdict drawn {lag:.2f} s after the engine gave it", file=sys.stderr)


def _fragment_id() -> str | None:
    """The id of the fragment being executed, None outside one (Streamlit has no public accessor)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

        return ThreadState.get().fragment_id
    except (ImportError, RuntimeError, AttributeError):
        return None


def _fragment_run() -> bool:
    """True while a fragment runs on its own (its timer or a click inside it), not as part of a page's run."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def _rerun_panel(panel_id: str | None) -> None:
    """Rerun the panel's fragment, not the page: it drops the timer of a run that has ended (and enables Start)
    or registers it again with a new interval. At a shared run's end every viewer's page reran at once before,
    0.2-0.3 CPU-s each (the gating page, bench/bench_hall.py). Streamlit has no public call that reruns another
    fragment from a fragment's body (``st.rerun`` takes a fragment key only in widget callbacks), so this queues
    the request a click inside the panel queues; outside a fragment run, or without the panel's id, the page
    reruns."""
    ctx = get_script_run_ctx()
    if panel_id is None or not _fragment_run() or ctx.script_requests is None:
        st.rerun()
    try:
        from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

        request = RerunData(
            query_string=ctx.query_string,
            page_script_hash=ctx.page_script_hash,
            fragment_id_queue=[panel_id],
            is_fragment_scoped_rerun=True,
            cached_message_hashes=ctx.cached_message_hashes,
            context_info=ctx.context_info,
        )
    except (ImportError, TypeError, AttributeError):  # another Streamlit: rerun the page instead
        st.rerun()
    if ctx.script_requests.request_rerun(request):
        st.empty()  # a yield point: the runner ends this run here and runs the panel


def _follow_run(key: str, demo: Demo, settings: str) -> LiveRun | None:
    """A follower's handle on the presenter's run of panel ``key`` (None while the presenter has none)."""
    shown = follow.presenter_run(key)
    run: LiveRun | None = st.session_state.get(key)
    if shown is None:
        st.session_state.pop(key, None)
        return None
    run_id, stopped = shown
    if run is None or run.run_id != run_id or not run.follower:
        run_engine().watch(run_id, _owner())
        run = LiveRun(run_id, _run_demo(run_engine(), run_id, demo), settings, follower=True)
        run.refresh(run_engine(), 0, _owner())
        st.session_state[key] = run
    if stopped and not run.left:
        run.refresh(run_engine(), 0, _owner())
        run.left = STOPPED_BY_USER  # the presenter stopped watching it: so does the hall
    return run


def build_demo(build: Callable[..., Demo], values: Mapping[str, object], seed: int, device: str, **kwargs) -> Demo:
    """``build(values, seed, device, **kwargs)`` (a topic's ``demo``); a ValueError (a setting out of its range,
    named by the message) is shown with ``st.error`` and the page stops there instead of offering a run."""
    try:
        return build(values, seed, device, **kwargs)
    except ValueError as err:
        st.error(str(err))
        st.stop()
        raise  # not reached: st.stop() ends the script run


def live_panel(
    key: str,
    demo: Demo,
    *,
    settings: str | None = None,
    render: Callable[[pd.DataFrame, Demo], None],
    steps_per_tick: int = 10,
    copy_python: bool = True,
) -> LiveRun | None:
    """Draw Start/Stop, queue position or progress, end-of-run messages and ``render(history, run_demo)``.

    ``demo`` is what Start runs, built by the topic's ``demo(values, seed, device)`` in ``lrd_core`` from the
    widgets' current values: its factories are called on the engine's worker when the run is admitted (all
    series form one run with one CPU budget), and a run with the same key already on the server is joined
    instead. ``settings`` describes those values in words (default: the demo's own); when the run on show was
    built with another key, the panel says so. The run's own Demo (the one Start built) judges it with
    ``verdict(history, finished)`` (on the engine's worker), shown above the charts (green when the expected
    contrast appeared, amber when not), and is the one handed to ``render``, so a finished run is drawn with its
    own settings, never the current widgets'. ``render`` must draw from its two arguments only (and presenter
    mode): one viewer's drawing is replayed to every viewer of the run. ``steps_per_tick`` is used in sync mode
    (tests) only. The key of the demo on offer is kept in ``st.session_state[key + "_demo_key"]`` (tests).
    A follower of a presenter (:mod:`lrd_ui.follow`) sees the presenter's run of this panel, without Start/Stop.
    ``copy_python`` False leaves out "Copy as Python" (a run the registry cannot rebuild, e.g. on an upload).
    """
    settings = demo.settings if settings is None else settings
    st.session_state[key + "_demo_key"] = demo.key

    def ticker() -> None:
        guard_page()  # a fragment's own rerun gets a new script-run context: one plain sentence there too
        run: LiveRun | None = st.session_state.get(key)
        if run is None:
            if follow.following():
                st.info("The presenter has not started this run yet: it appears here when they press **Start**.")
            else:
                st.info("Press **Start** to train live; **Stop** ends the run at any step.")
            return
        was_active = run.running
        if was_active:  # another visitor's page is being built: let it have the core first
            wait_for_pages(max_wait_s=3.0)
        t0 = time.thread_time()
        if was_active:
            run.refresh(run_engine(), steps_per_tick, _owner(), hold_s=0.0 if SYNC else frame_seconds(key))
        _report(run)
        if run.running and (run.snapshot is None or run.snapshot.status == "queued"):
            return  # nothing to draw while waiting; a queued tick costs milliseconds, not a chart build
        if run.demo.key != demo.key and not run.follower:
            st.caption(f"Showing the run started with {run.settings}. Press Start to train with the current settings.")
        _sharing_note(run)
        exports = not run.running and not run.follower and not presenting() and st.session_state.get(key + "_exports")
        built = _draw(key, run, render, bool(exports))
        on_its_own = _fragment_run() and not SYNC
        # on its own the ticker has a fresh script thread: its whole CPU time is this redraw, Streamlit's included
        cost = (time.thread_time() + SEND_S) if on_its_own else time.thread_time() - t0
        _note_cost("build:" + key if built else "tick", cost)
        if PROFILE:
            kind = "built" if built else "replayed"
            print(f"[live] {key}: redraw {cost:.3f} CPU-s ({kind}), frame {frame_seconds(key):.1f} s", file=sys.stderr)
            _log_verdict_lag(key, run)
        if was_active and not run.running:
            _rerun_panel(st.session_state.get(key + "_panel_id"))  # the timer goes, Start comes back
        elif run.running and on_its_own:
            have, want = st.session_state.get(key + "_tick_s"), tick_seconds(run_engine().stats()["viewers"])
            if have and not have / 1.5 <= want <= have * 1.5:  # the hall grew or shrank: register the timer anew
                _rerun_panel(st.session_state.get(key + "_panel_id"))

    @st.fragment
    def panel() -> None:
        guard_page()
        # Start and Stop live inside this fragment, so a click reruns the panel only, not the whole page (a
        # page's rerun took the core from the run it had just started: bench/bench_load.py, README).
        if follow.following():
            run = _follow_run(key, demo, settings)
        else:
            run = st.session_state.get(key)
            if run is not None and run.follower:  # left the hall: the presenter's run is not this visitor's
                st.session_state.pop(key, None)
                run = None
            if run is not None and run.snapshot is None:
                run.refresh(run_engine(), 0, _owner())
            follow.publish_run(key, run.run_id if run is not None else None, run is not None and bool(run.left))
        active = run is not None and run.running
        if not follow.following():
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
        st.session_state[key + "_panel_id"] = _fragment_id()
        if active:  # a nested fragment with a timer: each tick redraws the curves only
            tick = st.session_state[key + "_tick_s"] = tick_seconds(run_engine().stats()["viewers"])
            st.fragment(run_every=tick)(ticker)()
        else:  # no timer: a finished or never-started panel draws once
            ticker()
            if run is not None and run.frame is not None and not run.follower and not presenting():
                st.toggle(
                    "Download buttons under these charts",
                    key=key + "_exports",
                    help="The live charts are drawn once for every visitor watching the run, without downloads; "
                    "this draws them again, for you, with PNG, SVG and CSV downloads.",
                )
        if not follow.following() and run_history.kept_runs(key):
            st.button(
                "Clear earlier runs",
                key=key + "_clear",
                icon=":material/delete_sweep:",
                on_click=run_history.clear,
                args=(key,),
                help="Forget your earlier runs of this panel: the charts show the current run only.",
            )

    panel()
    if copy_python and not presenting() and not follow.following():
        with st.expander("Copy as Python", icon=":material/code:"):
            st.caption(
                "This run with the current settings and seed, headless: paste it into a file or a notebook "
                "(run from the repository's root). Same machine, same numbers. Or run a shared link with "
                "`python -m scripts.run LINK`."
            )
            st.code(python_script(demo), language="python")
    return st.session_state.get(key)
