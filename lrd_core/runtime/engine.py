"""The process-wide run engine: worker threads train, pages only read snapshots.

One engine serves every visitor of a server. A *run* is one press of Start: one or more series (e.g. the
three cells of the gating race) advanced in lockstep, one step of each in turn, under ONE budget of CPU
seconds. ``submit`` queues it; at most ``workers`` runs train at once and later ones wait in FIFO order
(``queue_limit`` caps the waiting line, so memory stays bounded however many people press Start). A worker
advances its run in slices of about ``slice_s`` seconds and, after every slice, publishes an immutable
:class:`Snapshot` (status, queue position, last event per series, history rows) that a page reads without
waiting for the worker. ``cancel`` takes effect at the end of the current slice. A run nobody has read for
``abandon_s`` seconds (its visitor left) is cancelled and its models freed; finished runs are forgotten after
``keep_s`` seconds without a read.

Workers pause between steps while a visitor's page is being built (:mod:`lrd_core.runtime.foreground`): on a one-core
host a page otherwise shares the interpreter lock with training and loads several times slower.

Models are built when a run is admitted, not when it is queued: a factory is called on the worker.

``workers=0`` is the synchronous mode for tests: nothing runs in the background and :meth:`RunEngine.pump`
advances a run by a fixed number of steps on the caller's thread, so the same calls give the same numbers.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from lrd_core.history import event_row, lockstep_round
from lrd_core.limits import MAX_QUEUED_RUNS, MAX_RUN_CPU_SECONDS
from lrd_core.runtime.foreground import wait_for_pages
from lrd_core.runtime.heap import trim_heap
from lrd_core.train import StepEvent
from lrd_core.validate import check_float, check_int

RunFactory = Callable[[], Iterator[StepEvent]]
ACTIVE = ("queued", "running")  # a run in one of these states still needs a worker
STOPPED_BY_USER = "stopped by you"  # the message of a run its visitor stopped


class EngineBusy(RuntimeError):
    """The waiting line is full; the message says roughly when to retry."""


WORKER_NICE = 10  # the workers' niceness: page loads (nice 0) get the core first, training takes the rest


def lower_priority(nice: int = WORKER_NICE) -> bool:
    """Make the calling thread yield the CPU to the server's other threads (Linux schedules threads as tasks,
    each with its own niceness; raising it needs no privilege). A new visitor's page then renders while
    runs train, instead of waiting behind them on a one-core host. False where it is not supported."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (AttributeError, OSError):  # not Linux/Unix
        return False
    return True


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (15 characters at most) in the OS too, where ``top -H``, ``py-spy`` and
    ``/proc/<pid>/task/*/comm`` show it (bench/bench_load.py reads the workers' CPU time there). Linux only."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
            f.write(name[:15])
    except OSError:  # not Linux
        pass


def warm_up() -> None:
    """Pay torch's one-off costs before the first visitor's run does: building the first optimiser imports
    ``torch._dynamo`` (measured 1.2 CPU-s on one core, inside the first run's first step), and the first
    backward pass starts autograd's machinery. A tiny model, one step; nothing is kept."""
    import torch

    layer = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(layer.parameters())
    layer(torch.zeros(1, 2)).sum().backward()
    opt.step()


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Snapshot:
    """What a page draws: an immutable view of one run after its latest slice."""

    run_id: int
    status: str  # "queued", "running", "done", "stopped", "budget", "error"
    position: int  # 1-based place in the waiting line while queued, else 0
    wait_s: float  # rough seconds until a queued run starts (0 once running)
    steps_done: int  # last step of the slowest unfinished series (all series when finished)
    total_steps: int  # step budget of every series
    cpu_s: float  # CPU seconds the run has used
    wall_s: float  # wall seconds since it was admitted (its whole wall time once it has ended)
    budget_s: float  # CPU seconds it may use
    settings: str  # human-readable settings the run was started with
    message: str  # why it ended, when it has
    last: Mapping[str, StepEvent]  # latest event per series
    rows: tuple[dict, ...]  # history: one row per (series, step), see lrd_core.train.event_row

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(eq=False)
class _Run:
    run_id: int
    owner: str
    factories: dict[str, RunFactory]
    total_steps: int
    budget_s: float
    settings: str
    status: str = "queued"
    message: str = ""
    iterators: dict[str, Iterator[StepEvent]] = field(default_factory=dict)
    last: dict[str, StepEvent] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    cpu_s: float = 0.0
    started: float | None = None  # time.monotonic() at admission
    ended: float | None = None
    cancelled: bool = False
    last_read: float = field(default_factory=time.monotonic)
    snapshot: Snapshot | None = None

    def start(self) -> None:
        """Build the models (on the thread that will train them)."""
        self.started = time.monotonic()
        self.iterators = {name: make() for name, make in self.factories.items()}
        self.factories = {}
        self.status = "running"

    def advance(self, max_rounds: int | None, slice_s: float | None, pause: Callable[[], float] | None = None) -> None:
        """Advance the unfinished series round-robin, one step each per round, until ``max_rounds`` rounds or
        ``slice_s`` CPU seconds have passed (whichever is given and comes first), the run ends or its budget
        is spent. Series stay in lockstep: a slice always ends after a whole round. ``pause`` is called before
        every round: the workers wait there while a page is built (sleeping costs no budget); a slice that
        waited ends after that wait."""
        t0 = time.thread_time()
        rounds = 0
        while self.iterators:
            if pause is not None and pause() and rounds:
                break  # it waited for a page: end the slice, so a Stop or the next snapshot is not held up
            lockstep_round(self.iterators, self._record)
            rounds += 1
            used = time.thread_time() - t0
            if self.cpu_s + used > self.budget_s and self.iterators:
                step = max((e.step for e in self.last.values()), default=0)
                self.finish("budget", f"stopped at the budget of {self.budget_s:g} CPU seconds, at step {step}")
                break
            if (max_rounds is not None and rounds >= max_rounds) or (slice_s is not None and used >= slice_s):
                break
        self.cpu_s += time.thread_time() - t0
        if not self.iterators and self.status == "running":
            self.finish("done", "finished")

    def _record(self, name: str, event: StepEvent) -> None:
        self.last[name] = event
        self.rows.append({"series": name, **event_row(event)})

    def finish(self, status: str, message: str) -> None:
        for it in self.iterators.values():
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator frees its model and optimiser now
        self.iterators = {}
        self.factories = {}
        self.status, self.message = status, message
        self.ended = time.monotonic()


class RunEngine:
    """Queue, admit and advance runs; see the module docstring."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        slice_s: float = 0.25,
        queue_limit: int = MAX_QUEUED_RUNS,
        abandon_s: float = 30.0,
        keep_s: float = 600.0,
        sync_steps: int = 10,
        nice: int = WORKER_NICE,
        yield_to_pages: bool = True,
    ):
        self.workers = usable_cores() if workers is None else check_int("workers", workers, 0, 64)
        self.nice = check_int("nice", nice, 0, 19)  # the worker threads' niceness (see lower_priority)
        self.slice_s = check_float("slice_s", slice_s, 0.0, 10.0, lo_open=True)
        self.queue_limit = check_int("queue_limit", queue_limit, 0, 10_000)
        self.abandon_s = check_float("abandon_s", abandon_s, 0.0, 1e6, lo_open=True)
        self.keep_s = check_float("keep_s", keep_s, 0.0, 1e7, lo_open=True)
        self.sync_steps = check_int("sync_steps", sync_steps, 1, 10_000)
        self._pause = wait_for_pages if yield_to_pages else None  # workers only; pump never waits
        self._lock = threading.Condition()
        self._runs: dict[int, _Run] = {}
        self._queue: deque[_Run] = deque()
        self._running: set[int] = set()
        self._ids = itertools.count(1)
        self._seconds_per_run = 20.0  # running mean of finished runs' wall time, for the queue estimate
        self._threads = [
            threading.Thread(target=self._work, name=f"lrd-engine-{i}", daemon=True) for i in range(self.workers)
        ]
        for t in self._threads:
            t.start()

    # --- what pages call ---------------------------------------------------------------------------------

    def submit(
        self,
        owner: str,
        factories: Mapping[str, RunFactory],
        total_steps: int,
        *,
        settings: str = "",
        budget_s: float = MAX_RUN_CPU_SECONDS,
    ) -> int:
        """Queue a run of ``factories`` (series name -> zero-argument event-iterator factory); its id.

        The owner's other active run, if any, is cancelled first (one active run per visitor). Raises
        :class:`EngineBusy` when the waiting line is full.
        """
        check_int("total_steps", total_steps, 1, 10**7)
        budget_s = check_float("budget_s", budget_s, 0.0, MAX_RUN_CPU_SECONDS, lo_open=True)
        if not factories:
            raise ValueError("factories must name at least one series")
        with self._lock:
            for run in self._runs.values():
                if run.owner == owner and run.status in ACTIVE:
                    self._cancel_locked(run, "replaced by your new run")
            if len(self._queue) >= self.queue_limit and self.workers > 0:
                wait = self._estimate_wait(len(self._queue) + 1)
                raise EngineBusy(
                    f"the server is busy: {len(self._queue)} runs are waiting. Try again in about {wait:.0f} s."
                )
            run = _Run(next(self._ids), owner, dict(factories), total_steps, budget_s, settings)
            self._runs[run.run_id] = run
            self._queue.append(run)
            self._publish_queue_locked()
            self._lock.notify_all()
            return run.run_id

    def snapshot(self, run_id: int) -> Snapshot | None:
        """The latest snapshot of ``run_id`` (None once forgotten); reading it keeps the run alive."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return None
            run.last_read = time.monotonic()
            return run.snapshot

    def cancel(self, run_id: int, message: str = STOPPED_BY_USER) -> None:
        """Stop a run: a queued one leaves the line now, a running one after its current slice."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None and run.status in ACTIVE:
                self._cancel_locked(run, message)

    def pump(self, run_id: int, steps: int | None = None) -> Snapshot | None:
        """Synchronous mode (``workers=0``): advance ``run_id`` by ``steps`` rounds (default ``sync_steps``;
        0 only applies a pending Stop) on the caller's thread and return its snapshot. With workers it only
        returns the snapshot."""
        rounds = self.sync_steps if steps is None else check_int("steps", steps, 0, 10**7)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or self.workers > 0 or run.status not in ACTIVE:
                return self.snapshot(run_id)
            if rounds == 0 and not run.cancelled:
                return self.snapshot(run_id)
            if run.status == "queued":
                self._queue.remove(run)
                self._publish_queue_locked()
        self._advance(run, rounds, None)
        return self.snapshot(run_id)

    def stats(self) -> dict[str, int]:
        """Counts for monitoring and tests: runs known, queued, running; worker threads."""
        with self._lock:
            return {
                "runs": len(self._runs),
                "queued": len(self._queue),
                "running": len(self._running),
                "workers": self.workers,
            }

    def reap(self) -> None:
        """Cancel runs nobody has read for ``abandon_s`` seconds; forget ended ones unread for ``keep_s``."""
        now = time.monotonic()
        with self._lock:
            for run in list(self._runs.values()):
                idle = now - run.last_read
                if run.status in ACTIVE and idle > self.abandon_s:
                    self._cancel_locked(run, f"abandoned: nobody watched it for {self.abandon_s:g} s")
                elif run.status not in ACTIVE and run.run_id not in self._running and idle > self.keep_s:
                    del self._runs[run.run_id]

    # --- inside -----------------------------------------------------------------------------------------

    def _cancel_locked(self, run: _Run, message: str) -> None:
        run.cancelled = True
        if run.status == "queued":
            self._queue.remove(run)
            run.finish("stopped", message)
            run.snapshot = self._snapshot_of(run, 0)
            self._publish_queue_locked()
        else:
            run.message = message  # the worker ends it after the current slice

    def _estimate_wait(self, position: int) -> float:
        return self._seconds_per_run * position / max(1, self.workers)

    def _snapshot_of(self, run: _Run, position: int) -> Snapshot:
        done = [e.step for n, e in run.last.items() if n in run.iterators] or [e.step for e in run.last.values()]
        return Snapshot(
            run.run_id,
            run.status,
            position,
            self._estimate_wait(position) if position else 0.0,
            min(done, default=0) if run.iterators else max(done, default=0),
            run.total_steps,
            run.cpu_s,
            0.0 if run.started is None else (run.ended or time.monotonic()) - run.started,
            run.budget_s,
            run.settings,
            run.message,
            dict(run.last),
            tuple(run.rows),
        )

    def _publish_queue_locked(self) -> None:
        for i, run in enumerate(self._queue, start=1):
            run.snapshot = self._snapshot_of(run, i)

    def _advance(
        self, run: _Run, max_rounds: int | None, slice_s: float | None, pause: Callable[[], float] | None = None
    ) -> None:
        """One slice of ``run`` (started first if needed), then its new snapshot; errors end the run."""
        try:
            if run.status == "queued":
                run.start()
            if not run.cancelled:
                run.advance(max_rounds, slice_s, pause)
        except Exception as err:  # a bug in one run must not take the worker down; the page shows it
            logging.getLogger(__name__).exception("run %d failed", run.run_id)  # the traceback stays in the log
            run.finish("error", f"the run failed: {type(err).__name__}: {err}")
        with self._lock:
            if run.cancelled and run.status in ACTIVE:
                run.finish("stopped", run.message or STOPPED_BY_USER)
            run.snapshot = self._snapshot_of(run, 0)

    def _work(self) -> None:
        name_os_thread(threading.current_thread().name)
        lower_priority(self.nice)
        try:
            warm_up()
        except Exception:  # a failed warm-up only means the first run pays the cost
            logging.getLogger(__name__).exception("warm-up failed")
        while True:
            with self._lock:
                while not self._queue:
                    self._lock.wait(timeout=5.0)
                    self.reap()
                run = self._queue.popleft()
                self._running.add(run.run_id)
                self._publish_queue_locked()
            started = time.monotonic()
            while True:
                self._advance(run, None, self.slice_s, self._pause)
                if run.status not in ACTIVE:
                    break
                self.reap()
            gc.collect()  # the run's models and optimisers (closed generators may sit in reference cycles)
            trim_heap()
            with self._lock:
                self._running.discard(run.run_id)
                self._seconds_per_run = 0.8 * self._seconds_per_run + 0.2 * (time.monotonic() - started)
