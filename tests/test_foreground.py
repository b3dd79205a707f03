"""Page loads first: workers sleep between steps while a marked page thread is alive (lrd_core.runtime.foreground)."""

import threading
import time

from lrd_core.runtime import foreground
from lrd_core.runtime.engine import RunEngine
from tests.test_engine import _events, _wait


def _page(release: threading.Event) -> threading.Thread:
    """A thread that marks itself as building a page and ends when ``release`` is set."""
    marked = threading.Event()

    def build():
        foreground.page_started()
        marked.set()
        release.wait(10)

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    assert marked.wait(5)
    return thread


def test_a_marked_thread_is_busy_until_it_ends_and_never_counts_itself():
    release = threading.Event()
    page = _page(release)
    assert foreground.busy() >= 1 and foreground.busy(exclude=page) == foreground.busy() - 1
    release.set()
    page.join(5)
    assert foreground.busy() == 0
    assert foreground.wait_for_pages() == 0.0  # nothing to wait for: no sleep at all


def test_a_mark_expires_after_max_hold(monkeypatch):
    monkeypatch.setattr(foreground, "MAX_HOLD_S", 0.2)
    release = threading.Event()
    _page(release)
    try:
        waited = foreground.wait_for_pages(max_wait_s=5.0)
        assert 0.15 <= waited < 1.0, waited  # the page is still alive, but its mark ran out
        assert foreground.busy() == 0
    finally:
        release.set()


def test_waiting_is_capped_so_training_always_progresses():
    release = threading.Event()
    _page(release)
    try:
        t0 = time.monotonic()
        waited = foreground.wait_for_pages(max_wait_s=0.3)
        assert 0.3 <= waited < 0.8 and time.monotonic() - t0 < 0.8
    finally:
        release.set()


def test_workers_pause_while_a_page_is_built_then_carry_on():
    engine = RunEngine(workers=1, slice_s=0.02)
    warm = engine.submit("a", {"x": lambda: _events(1)}, 1)
    _wait(engine, warm, lambda s: s.status == "done")  # the worker has warmed up and is idle
    release = threading.Event()
    page = _page(release)
    rid = engine.submit("a", {"x": lambda: _events(50, work_s=0.001)}, 50)
    time.sleep(0.5)  # unpaused, the run's 50 steps of 1 ms would be done by now
    snap = engine.snapshot(rid)
    assert snap.status in ("queued", "running") and snap.steps_done == 0, snap
    release.set()
    page.join(5)
    assert _wait(engine, rid, lambda s: s.status == "done").steps_done == 50


def test_an_engine_told_not_to_yield_trains_through_page_loads():
    release = threading.Event()
    _page(release)
    try:
        engine = RunEngine(workers=1, slice_s=0.02, yield_to_pages=False)
        rid = engine.submit("a", {"x": lambda: _events(20)}, 20)
        assert _wait(engine, rid, lambda s: s.status == "done", timeout=5.0).steps_done == 20
    finally:
        release.set()
