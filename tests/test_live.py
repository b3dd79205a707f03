"""The live panel's run bookkeeping, without a Streamlit server."""

from lrd_core.train import StepEvent
from lrd_ui.live import LiveRun


def _events(n, status_at_end="done", metrics_every=0):
    for k in range(1, n + 1):
        status = status_at_end if k == n else "running"
        metrics = {"accuracy": k / n} if metrics_every and k % metrics_every == 0 else {}
        yield StepEvent(k, 1.0 / k, 2.0, 0.01 * k, status, "", metrics)


def test_series_advance_in_lockstep_and_finish():
    run = LiveRun({"a": _events(25), "b": _events(25, metrics_every=5)}, total_steps=25, settings="s")
    run.advance(steps=10, budget_s=60)
    assert {n: e.step for n, e in run.last.items()} == {"a": 10, "b": 10}
    run.advance(steps=100, budget_s=60)
    assert not run.running and run.last["a"].status == "done"
    history = run.history()
    assert len(history) == 50 and history.groupby("series")["step"].max().to_dict() == {"a": 25, "b": 25}
    assert history.loc[history["series"] == "b", "accuracy"].notna().sum() == 5


def test_a_diverged_series_stops_while_the_other_goes_on():
    run = LiveRun({"bad": _events(3, "diverged"), "good": _events(8)}, total_steps=8, settings="s")
    run.advance(steps=5, budget_s=60)
    assert run.last["bad"].step == 3 and run.last["bad"].status == "diverged"
    assert run.last["good"].step == 5 and run.running


def test_budget_ends_a_tick_after_one_round():
    run = LiveRun({"a": _events(100), "b": _events(100)}, total_steps=100, settings="s")
    run.advance(steps=50, budget_s=0.0)
    assert {n: e.step for n, e in run.last.items()} == {"a": 1, "b": 1}
