"""Page loads first: background work pauses between steps while a visitor's page is being built.

On a one-core host, training threads and page scripts share one interpreter lock. A niced worker still gets
about half of it (whenever a page thread waits for the lock, the worker must hand it over within the switch
interval and takes it back after the same interval), so a page that needs 1 CPU-s took several seconds while
a run trained (bench/bench_load.py hall). Here a page marks the thread that builds it (:func:`page_started`);
workers call :func:`wait_for_pages` between steps and sleep, without the lock, until no marked thread is alive.

A thread counts as busy from its mark until it ends (Streamlit runs each script run on a fresh thread) or for
``MAX_HOLD_S`` seconds, whichever comes first; a worker waits at most ``max_wait_s`` per call, so training
always progresses even while visitors keep arriving. Pure Python, process-wide, no Streamlit.
"""

from __future__ import annotations

import threading
import time
import weakref

MAX_HOLD_S = 5.0  # a marked page stops counting as busy after this many seconds (a long probe still ends)
POLL_S = 0.005  # how often a waiting worker looks again

_lock = threading.Lock()
_marks: dict[int, tuple[weakref.ref, float]] = {}  # thread ident -> (the thread, when it was marked)


def page_started(thread: threading.Thread | None = None) -> None:
    """Mark ``thread`` (default: the calling thread) as building a page until it ends or MAX_HOLD_S pass."""
    thread = thread or threading.current_thread()
    with _lock:
        _marks[thread.ident] = (weakref.ref(thread), time.monotonic())


def busy(exclude: threading.Thread | None = None) -> int:
    """How many marked threads, other than ``exclude``, are alive and were marked under MAX_HOLD_S ago."""
    now, count = time.monotonic(), 0
    with _lock:
        for ident, (ref, since) in list(_marks.items()):
            thread = ref()
            if thread is None or not thread.is_alive() or now - since > MAX_HOLD_S:
                del _marks[ident]
            elif thread is not exclude:
                count += 1
    return count


def wait_for_pages(max_wait_s: float = 2.0) -> float:
    """Sleep while another thread builds a page, at most ``max_wait_s``; returns the seconds waited (0.0 when
    no page was being built)."""
    me, t0 = threading.current_thread(), time.monotonic()
    if not busy(exclude=me):
        return 0.0
    while busy(exclude=me) and time.monotonic() - t0 < max_wait_s:
        time.sleep(POLL_S)
    return time.monotonic() - t0
