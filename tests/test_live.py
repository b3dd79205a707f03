"""The session's handle on an engine run, and the live panel under AppTest (the engine runs synchronously)."""

from streamlit.testing.v1 import AppTest

from lrd_core.demo import Demo, Verdict
from lrd_core.history import HISTORY_COLUMNS
from lrd_core.runtime.engine import RunEngine
from lrd_core.train import StepEvent
from lrd_ui.live import LiveRun


def _events(n, metrics_every=0):
    for k in range(1, n + 1):
        metrics = {"accuracy": k / n} if metrics_every and k % metrics_every == 0 else {}
        yield StepEvent(k, 1.0 / k, 2.0, 0.01 * k, "done" if k == n else "running", "", metrics)


def _demo(n=25, verdict=None):
    return Demo({"a": lambda: _events(n)}, n, verdict or (lambda h, finished: None), key=("test", n))


def test_handle_reads_snapshots_and_builds_the_history():
    engine = RunEngine(workers=0)
    rid = engine.submit("me", {"a": lambda: _events(25), "b": lambda: _events(25, metrics_every=5)}, 25)
    run = LiveRun(rid, _demo(), "s")
    assert run.running and run.last == {} and list(run.history().columns) == HISTORY_COLUMNS
    run.refresh(engine, 0, "me")
    run.snapshot = run.frame = engine.pump(rid, 10)
    assert {n: e.step for n, e in run.last.items()} == {"a": 10, "b": 10} and run.running
    run.snapshot = run.frame = engine.pump(rid, 100)
    assert not run.running and run.last["a"].status == "done"
    history = run.history()
    assert len(history) == 50 and set(history["series"]) == {"a", "b"}
    assert history.loc[history["series"] == "b", "accuracy"].notna().sum() == 5


def test_handle_knows_a_stop_by_the_visitor():
    engine = RunEngine(workers=0)
    rid = engine.submit("me", {"a": lambda: _events(100)}, 100)
    run = LiveRun(rid, _demo(100), "s")
    engine.pump(rid, 3)
    engine.cancel(rid, owner="me")
    run.refresh(engine, 0, "me")
    assert not run.running and run.stopped_by_user and run.last["a"].step == 3


def test_a_visitor_who_stops_a_shared_run_keeps_what_they_saw_while_it_goes_on():
    engine = RunEngine(workers=0)
    demo = _demo(100, lambda h, finished: Verdict(True, f"{len(h)} rows") if finished else None)
    rid = engine.submit("me", demo.factories, 100, key=demo.key, verdict=demo.verdict)
    engine.submit("you", demo.factories, 100, key=demo.key, verdict=demo.verdict)
    mine = LiveRun(rid, demo, "s")
    engine.pump(rid, 4)
    mine.refresh(engine, 0, "me")
    engine.cancel(rid, owner="me")
    engine.pump(rid, 6)
    mine.refresh(engine, 0, "me")
    assert mine.stopped_by_user and not mine.running and mine.last["a"].step == 4
    assert mine.verdict() == Verdict(True, "4 rows")  # what they saw, judged as finished
    assert engine.snapshot(rid).steps_done == 10 and engine.snapshot(rid).active  # the other viewer's run goes on


def test_a_run_the_engine_no_longer_knows_stops_counting_as_running():
    """After a server restart (a new engine) an old handle must not keep Start disabled forever."""
    run = LiveRun(run_id=7, demo=_demo(10), settings="s")
    assert run.running
    run.refresh(RunEngine(workers=0), 0, "me")
    assert run.lost and not run.running and run.last == {}


def test_an_empty_history_has_numeric_columns_every_chart_can_filter():
    """A run with no rows yet (queued, or replaced before its first step) must still chart: np.isfinite on an
    object column raised TypeError inside the live fragment."""
    import numpy as np

    from lrd_core import charts

    history = LiveRun(run_id=1, demo=_demo(10), settings="s").history()
    assert history.empty and all(history[c].dtype == float for c in HISTORY_COLUMNS if c != "series")
    assert not np.isfinite(history["loss"]).any()
    charts.loss_chart(history, baseline=1.0, solved=0.1).to_dict()


def _panel_app():
    """A page with one live panel whose run is 12 steps of two series; its verdict comes at step 8."""
    import streamlit as st

    from lrd_core import charts
    from lrd_core.demo import Demo, Verdict
    from lrd_core.train import StepEvent
    from lrd_ui import show
    from lrd_ui.live import live_panel

    def events():
        for k in range(1, 13):
            yield StepEvent(k, 1.0 / k, 2.0, 0.01 * k, "done" if k == 12 else "running", "", {})

    def verdict(history, finished):
        step = int(history["step"].max())
        return Verdict(True, f"solved by step {step}") if step >= 8 else None

    def render(history, run):
        show.chart(charts.loss_chart(history, baseline=1.0, solved=0.1), height=200)
        st.caption(f"{len(history)} rows drawn")

    demo = Demo({"x": events, "y": events}, 12, verdict, key=("panel-test", 0))
    live_panel("test_panel", demo, render=render, steps_per_tick=4)


_VISITORS = iter(range(10**6))


def _visitor():
    at = AppTest.from_function(_panel_app, default_timeout=60)
    at.session_state["_visitor_id"] = f"visitor-{next(_VISITORS)}"  # AppTest gives every session one id
    at.run()
    return at


def _texts(at):
    return [e.value for e in (*at.caption, *at.success, *at.info, *at.warning)]


def test_visitors_pressing_start_on_the_same_settings_watch_one_run_and_a_late_one_gets_the_replay():
    first, second = _visitor(), _visitor()
    first.button(key="test_panel_start").click().run()  # Start, and the first tick (4 steps)
    second.button(key="test_panel_start").click().run()  # joins: its tick advances the same run to 8
    run1, run2 = first.session_state["test_panel"], second.session_state["test_panel"]
    assert run1.run_id == run2.run_id and run2.snapshot.steps_done == 8
    assert "2 visitors are watching this run (same settings and seed: one run for all)." in _texts(second)
    assert "**Verdict:** solved by step 8" in _texts(second)
    second.run()  # to the end (12 steps)
    assert not second.session_state["test_panel"].running and "24 rows drawn" in _texts(second)
    assert len(second.get("vega_lite_chart")) == 1 and not second.get("download_button")  # shared drawing
    late = _visitor()
    late.button(key="test_panel_start").click().run()
    assert late.session_state["test_panel"].run_id == run1.run_id and late.session_state["test_panel"].replay
    texts = _texts(late)
    assert any(t.startswith("This run had already finished for another visitor") for t in texts)
    assert "**Verdict:** solved by step 12" in texts and "24 rows drawn" in texts
    assert len(late.get("vega_lite_chart")) == 1  # replayed from the first visitor's drawing
    late.toggle(key="test_panel_exports").set_value(True).run()
    assert len(late.get("download_button")) == 3  # drawn again, for this visitor, with PNG, SVG and CSV


def test_one_visitors_stop_leaves_the_other_watching():
    first, second = _visitor(), _visitor()
    first.button(key="test_panel_start").click().run()
    second.button(key="test_panel_start").click().run()
    first.button(key="test_panel_stop").click().run()
    assert "Stopped by you at step 4." in _texts(
        first
    )  # what they saw and not first.session_state["test_panel"].running
    second.run()
    assert second.session_state["test_panel"].snapshot.status == "done"
