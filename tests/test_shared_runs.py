"""Shared runs in the run engine: one computation per Demo key, many viewers, frames, verdicts on the worker."""

import threading
import time

import pytest

from lrd_core.demo import Verdict
from lrd_core.runtime.engine import REPLACED, STOPPED_BY_USER, EngineBusy, RunEngine
from lrd_core.train import StepEvent
from tests.test_engine import _wait


def _events(n, work_s=0.0, calls=None, gate=None):
    """n StepEvents, each burning ``work_s`` CPU seconds; ``calls`` (a list) counts how often the factory ran."""
    if calls is not None:
        calls.append(1)
    if gate is not None:
        gate.wait(10)
    for k in range(1, n + 1):
        t0 = time.thread_time()
        while time.thread_time() - t0 < work_s:
            pass
        yield StepEvent(k, 1.0 / k, 2.0, 0.01 * k, "done" if k == n else "running", "", {})


def _solved_by(step):
    """A verdict given once every series has reached ``step`` (or at the end)."""

    def verdict(history, finished):
        reached = int(history.groupby("series")["step"].max().min())
        if reached >= step or finished:
            return Verdict(reached >= step, f"reached step {reached}")
        return None

    return verdict


def test_equal_keys_attach_to_one_run_and_train_it_once():
    engine = RunEngine(workers=0)
    calls = []
    ids = [
        engine.submit(f"v{i}", {"s": lambda: _events(30, calls=calls)}, 30, key=("gating", 1, (), 0, "cpu"))
        for i in range(5)
    ]
    assert len(set(ids)) == 1 and engine.stats()["runs"] == 1 and engine.stats()["queued"] == 1
    engine.pump(ids[0], 30)
    views = [engine.view(ids[0], f"v{i}") for i in range(5)]
    assert calls == [1]  # one model built, one computation
    assert all(v.snapshot is views[0].snapshot and v.attached for v in views)  # the same snapshot object
    assert views[0].snapshot.status == "done" and views[0].snapshot.viewers == 5 and len(views[0].snapshot.rows) == 30


def test_attached_viewers_get_the_submitters_payload():
    """Equal keys, distinct Demo objects: the run trains the first submitter's factories, whose ``info`` the run
    fills (attention maps, the Δ probe), so every viewer must draw with that Demo, not its own empty copy."""
    engine = RunEngine(workers=0)
    key = ("attention", 1, (), 0, "cpu")
    first, second = object(), object()
    a = engine.submit("v1", {"s": lambda: _events(5)}, 5, key=key, payload=first)
    b = engine.submit("v2", {"s": lambda: _events(5)}, 5, key=key, payload=second)
    assert a == b and engine.payload(b) is first
    assert engine.payload(a + 100) is None


def test_different_seeds_do_not_share():
    engine = RunEngine(workers=0)
    a = engine.submit("v1", {"s": lambda: _events(5)}, 5, key=("gating", 1, (), 0, "cpu"))
    b = engine.submit("v2", {"s": lambda: _events(5)}, 5, key=("gating", 1, (), 1, "cpu"))
    c = engine.submit("v3", {"s": lambda: _events(5)}, 5)  # no key: never shared
    d = engine.submit("v4", {"s": lambda: _events(5)}, 5)
    assert len({a, b, c, d}) == 4 and engine.stats()["queued"] == 4
    assert [engine.snapshot(r).position for r in (a, b, c, d)] == [1, 2, 3, 4]


def test_one_viewers_stop_leaves_the_others_running():
    engine = RunEngine(workers=0)
    key = ("t", 1, (), 0, "cpu")
    rid = engine.submit("a", {"s": lambda: _events(100)}, 100, key=key)
    assert engine.submit("b", {"s": lambda: _events(100)}, 100, key=key) == rid
    engine.pump(rid, 10)
    engine.cancel(rid, owner="a")
    view_a, snap = engine.view(rid, "a"), engine.pump(rid, 10)
    assert not view_a.attached and view_a.left == STOPPED_BY_USER
    assert snap.status == "running" and snap.steps_done == 20 and snap.viewers == 1
    assert engine.view(rid, "b").attached
    # a stopped visitor who presses Start again joins the same run where it has got to
    assert engine.submit("a", {"s": lambda: _events(100)}, 100, key=key) == rid
    assert engine.view(rid, "a").attached and engine.snapshot(rid).viewers == 2


def test_the_last_viewer_leaving_cancels_the_run_and_a_new_start_trains_afresh():
    engine = RunEngine(workers=0)
    key = ("t", 1, (), 0, "cpu")
    rid = engine.submit("a", {"s": lambda: _events(100)}, 100, key=key)
    engine.submit("b", {"s": lambda: _events(100)}, 100, key=key)
    engine.pump(rid, 5)
    engine.cancel(rid, owner="a")
    engine.cancel(rid, owner="b")
    snap = engine.pump(rid, 0)  # the pending Stop is applied at the end of the slice
    assert snap.status == "stopped" and snap.message == STOPPED_BY_USER and snap.steps_done == 5
    again = engine.submit("c", {"s": lambda: _events(100)}, 100, key=key)
    assert again != rid and engine.snapshot(again).status == "queued"  # a stopped run is not joined


def test_a_viewer_who_starts_another_run_leaves_the_shared_one():
    engine = RunEngine(workers=0)
    rid = engine.submit("a", {"s": lambda: _events(50)}, 50, key=("t", 0))
    engine.submit("b", {"s": lambda: _events(50)}, 50, key=("t", 0))
    other = engine.submit("a", {"s": lambda: _events(50)}, 50, key=("t", 1))
    assert other != rid and engine.view(rid, "a").left == REPLACED
    assert engine.snapshot(rid).status == "queued" and engine.snapshot(rid).viewers == 1  # b still waits for it
    engine.submit("b", {"s": lambda: _events(50)}, 50, key=("t", 2))
    assert engine.snapshot(rid).status == "stopped" and REPLACED in engine.snapshot(rid).message


def test_a_finished_run_is_replayed_with_its_verdict_in_under_a_second():
    engine = RunEngine(workers=1, slice_s=0.02)
    key = ("t", 1, (), 0, "cpu")
    calls = []
    rid = engine.submit("a", {"s": lambda: _events(40, calls=calls)}, 40, key=key, verdict=_solved_by(20))
    _wait(engine, rid, lambda s: s.status == "done")
    t0 = time.perf_counter()
    late = engine.submit("late", {"s": lambda: _events(40, calls=calls)}, 40, key=key, verdict=_solved_by(20))
    view = engine.view(late, "late")
    seconds = time.perf_counter() - t0
    assert late == rid and calls == [1] and seconds < 1.0
    assert view.snapshot.status == "done" and len(view.snapshot.rows) == 40
    assert view.snapshot.judged and view.snapshot.verdict == Verdict(True, "reached step 40")
    assert view.snapshot.history is not None and len(view.snapshot.history) == 40


def test_the_worker_judges_the_run_and_records_when_the_verdict_came():
    engine = RunEngine(workers=0)
    rid = engine.submit("a", {"x": lambda: _events(30), "y": lambda: _events(30)}, 30, verdict=_solved_by(12))
    snap = engine.pump(rid, 10)
    assert snap.judged and snap.verdict is None and snap.decided_s is None  # undecided at step 10
    snap = engine.pump(rid, 5)
    assert snap.verdict == Verdict(True, "reached step 15") and snap.decided_s is not None
    assert list(snap.history["step"][-2:]) == [15, 15] and len(snap.history) == 30


def test_a_failing_verdict_counts_as_undecided_and_the_run_goes_on():
    def broken(history, finished):
        raise KeyError("accuracy")

    engine = RunEngine(workers=0)
    rid = engine.submit("a", {"s": lambda: _events(20)}, 20, verdict=broken)
    snap = engine.pump(rid, 20)
    assert snap.status == "done" and snap.judged and snap.verdict is None


def test_viewers_share_a_frame_until_it_is_old_but_a_verdict_is_shown_at_once():
    engine = RunEngine(workers=0)
    rid = engine.submit("a", {"s": lambda: _events(100)}, 100, verdict=_solved_by(30))
    engine.submit("b", {"s": lambda: _events(100)}, 100)  # another key: queued behind, irrelevant here
    engine.pump(rid, 10)
    first = engine.view(rid, "a", hold_s=60.0).frame
    engine.pump(rid, 10)
    held = engine.view(rid, "a", hold_s=60.0)
    assert held.frame is first and held.snapshot.steps_done == 20  # progress moves, the drawn frame is held
    engine.pump(rid, 10)  # the verdict is given at step 30
    shown = engine.view(rid, "a", hold_s=60.0)
    assert shown.frame is shown.snapshot and shown.frame.verdict is not None
    assert engine.view(rid, "a", hold_s=0.0).frame is shown.snapshot


def test_an_unread_viewer_is_let_go_and_passive_viewers_keep_nothing_alive():
    engine = RunEngine(workers=1, slice_s=0.02, abandon_s=0.3)
    gate = threading.Event()
    rid = engine.submit("a", {"s": lambda: _events(1_000_000, work_s=0.0005, gate=gate)}, 1_000_000, key=("t",))
    assert engine.watch(rid, "follower") and not engine.watch(999, "follower")
    gate.set()
    deadline = time.monotonic() + 10
    view = engine.view(rid, "follower")
    while view.snapshot.active and time.monotonic() < deadline:
        time.sleep(0.05)
        view = engine.view(rid, "follower")  # only the passive follower reads
    assert view.snapshot.status == "stopped" and "abandoned" in view.snapshot.message


def test_kept_runs_are_bounded_by_their_rows():
    engine = RunEngine(workers=0, keep_rows=100)
    ids = []
    for seed in range(3):
        rid = engine.submit(f"v{seed}", {"s": lambda: _events(60)}, 60, key=("t", seed))
        engine.pump(rid, 60)
        ids.append(rid)
        time.sleep(0.01)
    engine.view(ids[0], "v0")  # read last: kept
    engine.reap()
    kept = {r for r in ids if engine.snapshot(r) is not None}
    assert kept == {ids[0]}  # 60 rows fit under 100; the two least recently read went first
    assert engine.submit("x", {"s": lambda: _events(60)}, 60, key=("t", 1)) not in ids  # forgotten: trains anew


def test_joining_a_run_never_says_busy():
    engine = RunEngine(workers=1, queue_limit=1, slice_s=0.02)
    gate = threading.Event()
    engine.submit("w", {"s": lambda: _events(3, gate=gate)}, 3)
    time.sleep(0.2)
    waiting = engine.submit("q1", {"s": lambda: _events(3)}, 3, key=("t",))
    assert engine.submit("q2", {"s": lambda: _events(3)}, 3, key=("t",)) == waiting
    with pytest.raises(EngineBusy):
        engine.submit("q3", {"s": lambda: _events(3)}, 3, key=("other",))
    gate.set()
