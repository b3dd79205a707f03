"""The session's handle on an engine run, without a Streamlit server (the engine runs synchronously)."""

from lrd_core.history import HISTORY_COLUMNS
from lrd_core.runtime.engine import RunEngine
from lrd_core.train import StepEvent
from lrd_ui.live import LiveRun


def _events(n, metrics_every=0):
    for k in range(1, n + 1):
        metrics = {"accuracy": k / n} if metrics_every and k % metrics_every == 0 else {}
        yield StepEvent(k, 1.0 / k, 2.0, 0.01 * k, "done" if k == n else "running", "", metrics)


def test_handle_reads_snapshots_and_builds_the_history():
    engine = RunEngine(workers=0)
    rid = engine.submit("me", {"a": lambda: _events(25), "b": lambda: _events(25, metrics_every=5)}, 25)
    run = LiveRun(rid, 25, "s")
    assert run.running and run.last == {} and list(run.history().columns) == HISTORY_COLUMNS
    run.snapshot = engine.pump(rid, 10)
    assert {n: e.step for n, e in run.last.items()} == {"a": 10, "b": 10} and run.running
    run.snapshot = engine.pump(rid, 100)
    assert not run.running and run.last["a"].status == "done"
    history = run.history()
    assert len(history) == 50 and set(history["series"]) == {"a", "b"}
    assert history.loc[history["series"] == "b", "accuracy"].notna().sum() == 5


def test_handle_knows_a_stop_by_the_visitor():
    engine = RunEngine(workers=0)
    rid = engine.submit("me", {"a": lambda: _events(100)}, 100)
    run = LiveRun(rid, 100, "s", engine.pump(rid, 3))
    engine.cancel(rid)
    run.snapshot = engine.pump(rid, 0)
    assert not run.running and run.stopped_by_user and run.last["a"].step == 3


def test_a_run_the_engine_no_longer_knows_stops_counting_as_running():
    """After a server restart (a new engine) an old handle must not keep Start disabled forever."""
    run = LiveRun(run_id=7, total_steps=10, settings="s")
    assert run.running
    run.refresh(RunEngine(workers=0), 0)
    assert run.lost and not run.running and run.last == {}


def test_an_empty_history_has_numeric_columns_every_chart_can_filter():
    """A run with no rows yet (queued, or replaced before its first step) must still chart: np.isfinite on an
    object column raised TypeError inside the live fragment."""
    import numpy as np

    from lrd_core import charts

    history = LiveRun(run_id=1, total_steps=10, settings="s").history()
    assert history.empty and all(history[c].dtype == float for c in HISTORY_COLUMNS if c != "series")
    assert not np.isfinite(history["loss"]).any()
    charts.loss_chart(history, baseline=1.0, solved=0.1).to_dict()
