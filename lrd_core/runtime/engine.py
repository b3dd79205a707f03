"""The process-wide run engine: worker threads train, pages only read snapshots.

One engine serves every visitor of a server. A *run* is one press of Start: one or more series (e.g. the
three cells of the gating race) advanced in lockstep, one step of each in turn, under ONE budget of CPU
seconds. ``submit`` queues it; at most ``workers`` runs train at once and later ones wait in FIFO order
(``queue_limit`` caps the waiting line, so memory stays bounded however many people press Start). A worker
advances its run in slices of about ``slice_s`` seconds and, after every slice, publishes an immutable
:class:`Snapshot` (status, queue position, last event per series, history rows and, when the run was given a
verdict function, the history as a DataFrame and the verdict on it) that a page reads without waiting for the
worker. ``cancel`` takes effect at the end of the current slice.

**Shared runs.** A run submitted with a ``key`` (``Demo.key``: equal keys train bit-identical runs on one
machine) is shared: a later ``submit`` with the same key, while that run is queued, running, or finished and
still kept, attaches the new visitor to it as a *viewer* instead of training a copy. Every viewer reads the same
snapshots; the run has one budget. A viewer who stops (``cancel(run_id, owner=...)``) only leaves it; the run is
cancelled when its last viewer leaves, or when no viewer has read it for ``abandon_s`` seconds (their tabs
closed). A finished run is kept for ``keep_s`` seconds after its last read (at most ``keep_rows`` history rows
over all kept runs, least recently read forgotten first), so a late visitor gets its curves and verdict at once.
A *passive* viewer (``watch``: a follower of a presenter) reads but keeps nothing alive. Each visitor actively
views one run at a time: a submit leaves the visitor's other active run.

**Frames.** Viewers of one run may share drawing work: ``view(..., hold_s=h)`` hands every viewer the same
*frame* (a snapshot) until it is ``h`` seconds old, and moves to the newest snapshot at once when the run starts,
ends, or its verdict is first given or changes its mind, so a verdict is never held back.

Workers pause between steps while a visitor's page is being built (:mod:`lrd_core.runtime.foreground`): on a
one-core host a page otherwise shares the interpreter lock with training and loads several times slower.

Models are built when a run is admitted, not when it is queued: a factory is called on the worker.

``workers=0`` is the synchronous mode for tests: nothing runs in the background and :meth:`RunEngine.pump`
advances a run by a fixed number of steps on the caller's thread, so the same calls give the same numbers.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd

from lrd_core.demo import Verdict, VerdictFn
from lrd_core.history import event_row, history_frame, lockstep_round
from lrd_core.limits import MAX_QUEUED_RUNS, MAX_RUN_CPU_SECONDS
from lrd_core.runtime.foreground import wait_for_pages
from lrd_core.runtime.heap import trim_heap
from lrd_core.train import StepEvent
from lrd_core.validate import check_float, check_int

RunFactory = Callable[[], Iterator[StepEvent]]
ACTIVE = ("queued", "running")  # a run in one of these states still needs a worker
KEPT = ("done", "budget")  # a finished run in one of these states can be replayed to a late visitor
STOPPED_BY_USER = "stopped by you"  # the message of a run its (last) visitor stopped
REPLACED = "replaced by your new run"  # why a visitor left a run when they started another
KEEP_ROWS = 100_000  # history rows kept over all finished runs (about 0.5 kB each)
JUDGE_SHARE = 0.05  # judging (history frame + verdict) may take this share of a run's training CPU


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
    """What a page draws: an immutable view of one run after its latest slice (shared by all its viewers)."""

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
    rows: tuple[dict, ...]  # history: one row per (series, step), see lrd_core.history.event_row
    key: Hashable | None = None  # the run's Demo.key (None: not shared)
    version: int = 0  # number of slices published so far: equal versions draw the same curves
    viewers: int = 1  # visitors watching it now (passive followers included)
    judged: bool = False  # ``verdict`` and ``history`` are of exactly these rows (judging may skip a slice)
    verdict: Verdict | None = None  # the engine's latest verdict (finished = not active); None: undecided
    decided_s: float | None = None  # wall seconds from admission to the first verdict, once given
    started_at: float | None = None  # time.monotonic() at admission (None while queued)
    history: pd.DataFrame | None = field(default=None, compare=False, repr=False)  # rows as a frame, if judged

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class View:
    """One viewer's read of a run (:meth:`RunEngine.view`)."""

    snapshot: Snapshot  # the newest: status, progress, queue position
    frame: Snapshot  # what to draw: shared by the run's viewers for ``hold_s`` seconds (see the module doc)
    attached: bool  # the reader is still one of the run's viewers
    left: str  # why the reader stopped viewing it ("" while attached)


@dataclass
class _Viewer:
    last_read: float
    passive: bool = False  # a follower: reads the run but does not keep it alive


@dataclass(eq=False)
class _Run:
    run_id: int
    owner: str  # who submitted it first
    factories: dict[str, RunFactory]
    total_steps: int
    budget_s: float
    settings: str
    key: Hashable | None = None
    verdict_fn: VerdictFn | None = None
    payload: object = None  # what the submitter attached (the live panel's Demo), see RunEngine.submit
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
    viewers: dict[str, _Viewer] = field(default_factory=dict)
    left: dict[str, str] = field(default_factory=dict)  # owner -> why they left (bounded by the visitors)
    version: int = 0
    verdict: Verdict | None = None
    decided_s: float | None = None
    history: pd.DataFrame | None = None
    judged_rows: int = -1  # rows of the history last judged
    judged_at_cpu: float = -1.0  # run CPU seconds at the last judging
    judge_cost: float = 0.0  # CPU seconds the last judging took
    frame: Snapshot | None = None
    frame_at: float = 0.0

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

    def judge(self, force: bool) -> None:
        """Evaluate the verdict on the rows so far (on the thread that trains the run, outside the engine's
        lock): at most JUDGE_SHARE of the run's training CPU goes into judging, unless ``force`` (the run's end,
        and sync mode). A failing verdict function is logged and counts as undecided."""
        if self.verdict_fn is None or not self.rows:
            return
        if not force and self.cpu_s - self.judged_at_cpu < self.judge_cost / JUDGE_SHARE:
            return
        t0 = time.thread_time()
        history = history_frame(self.rows)
        try:
            verdict = self.verdict_fn(history, self.status not in ACTIVE)
        except Exception:  # a bug in a verdict must not end the run; the log keeps the traceback
            logging.getLogger(__name__).exception("verdict of run %d failed", self.run_id)
            verdict = None
        self.history, self.verdict, self.judged_rows = history, verdict, len(self.rows)
        if verdict is not None and self.decided_s is None and self.started is not None:
            self.decided_s = time.monotonic() - self.started
        self.judged_at_cpu, self.judge_cost = self.cpu_s, time.thread_time() - t0

    def active_viewers(self) -> int:
        return sum(not v.passive for v in self.viewers.values())


def _frame_changed(old: Snapshot, new: Snapshot) -> bool:
    """True when ``new`` must be drawn at once: the run started or ended, its first rows arrived, or its
    verdict appeared, vanished or turned."""
    if old.status != new.status or (not old.rows) != (not new.rows):
        return True
    if (old.verdict is None) != (new.verdict is None):
        return True
    return old.verdict is not None and new.verdict is not None and old.verdict.expected != new.verdict.expected


class RunEngine:
    """Queue, admit, share and advance runs; see the module docstring."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        slice_s: float = 0.25,
        queue_limit: int = MAX_QUEUED_RUNS,
        abandon_s: float = 30.0,
        keep_s: float = 600.0,
        keep_rows: int = KEEP_ROWS,
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
        self.keep_rows = check_int("keep_rows", keep_rows, 0, 10**8)
        self.sync_steps = check_int("sync_steps", sync_steps, 1, 10_000)
        self._pause = wait_for_pages if yield_to_pages else None  # workers only; pump never waits
        self._lock = threading.Condition()
        self._runs: dict[int, _Run] = {}
        self._by_key: dict[Hashable, int] = {}  # key -> the run a submit with that key attaches to
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
        key: Hashable | None = None,
        verdict: VerdictFn | None = None,
        payload: object = None,
    ) -> int:
        """Queue a run of ``factories`` (series name -> zero-argument event-iterator factory), or attach
        ``owner`` to the queued, running or kept run with the same ``key``; the run's id.

        ``verdict(history, finished)`` is evaluated on the worker after its slices (see :class:`Snapshot`).
        ``payload`` is kept with a new run and handed to every viewer by :meth:`payload` (the live panel keeps the
        submitter's Demo there: its ``info`` is what the run's own factories fill, so an attached viewer must
        draw with it, not with an equal Demo of its own). The
        owner leaves their other active run first (one active run per visitor; a run nobody else watches is
        cancelled). Raises :class:`EngineBusy` when a new run would not fit in the waiting line.
        """
        check_int("total_steps", total_steps, 1, 10**7)
        budget_s = check_float("budget_s", budget_s, 0.0, MAX_RUN_CPU_SECONDS, lo_open=True)
        if not factories:
            raise ValueError("factories must name at least one series")
        if key is not None:
            hash(key)  # TypeError here, not inside the lock, for an unhashable key
        with self._lock:
            now = time.monotonic()
            shared = self._runs.get(self._by_key.get(key, -1)) if key is not None else None
            for run in list(self._runs.values()):
                if run is not shared and run.status in ACTIVE and owner in run.viewers:
                    self._leave_locked(run, owner, REPLACED)
            if shared is not None:
                shared.viewers[owner] = _Viewer(now)
                shared.left.pop(owner, None)
                shared.last_read = now
                self._republish_viewers_locked(shared)
                return shared.run_id
            if len(self._queue) >= self.queue_limit and self.workers > 0:
                wait = self._estimate_wait(len(self._queue) + 1)
                raise EngineBusy(
                    f"the server is busy: {len(self._queue)} runs are waiting. Try again in about {wait:.0f} s."
                )
            run = _Run(next(self._ids), owner, dict(factories), total_steps, budget_s, settings, key, verdict)
            run.payload = payload
            run.viewers[owner] = _Viewer(now)
            self._runs[run.run_id] = run
            if key is not None:
                self._by_key[key] = run.run_id
            self._queue.append(run)
            self._publish_queue_locked()
            self._lock.notify_all()
            return run.run_id

    def payload(self, run_id: int) -> object:
        """What the run's first submitter attached to it (None for an unknown run)."""
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else run.payload

    def watch(self, run_id: int, owner: str) -> bool:
        """Attach ``owner`` as a passive viewer (a follower): it reads the run but does not keep it alive, and
        leaves no other run. False when the run is unknown."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return False
            if owner not in run.viewers:
                run.viewers[owner] = _Viewer(time.monotonic(), passive=True)
                run.left.pop(owner, None)
                self._republish_viewers_locked(run)
            return True

    def snapshot(self, run_id: int) -> Snapshot | None:
        """The latest snapshot of ``run_id`` (None once forgotten); reading it keeps the run and all its viewers
        alive (for callers that are not a viewer: tests, benches)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return None
            run.last_read = time.monotonic()
            for viewer in run.viewers.values():
                viewer.last_read = run.last_read
            return run.snapshot

    def view(self, run_id: int, owner: str, *, hold_s: float = 0.0) -> View | None:
        """``owner``'s read of ``run_id`` (None once forgotten): the newest snapshot, the frame to draw (held for
        ``hold_s`` seconds among the run's viewers, see the module docstring) and whether ``owner`` still views
        it. Reading keeps ``owner`` attached."""
        hold_s = check_float("hold_s", hold_s, 0.0, 3600.0)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.snapshot is None:
                return None
            now = time.monotonic()
            run.last_read = now
            viewer = run.viewers.get(owner)
            if viewer is not None:
                viewer.last_read = now
            latest = run.snapshot
            frame = run.frame
            if (
                frame is None
                or hold_s == 0.0
                or (frame.version != latest.version and now - run.frame_at >= hold_s)
                or _frame_changed(frame, latest)
            ):
                if frame is None or frame.version != latest.version or frame.status != latest.status:
                    run.frame_at = now
                run.frame = frame = latest
            return View(latest, frame, viewer is not None, run.left.get(owner, ""))

    def cancel(self, run_id: int, message: str = STOPPED_BY_USER, *, owner: str | None = None) -> None:
        """Stop a run: a queued one leaves the line now, a running one after its current slice. With ``owner``,
        only that viewer leaves it (their Stop), and the run is cancelled when no active viewer is left."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            if owner is not None:
                self._leave_locked(run, owner, message)
            elif run.status in ACTIVE:
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
        """Counts for monitoring, tests and the live panel's redraw interval: runs known, queued, running;
        worker threads; viewers of active runs (followers included)."""
        with self._lock:
            return {
                "runs": len(self._runs),
                "queued": len(self._queue),
                "running": len(self._running),
                "workers": self.workers,
                "viewers": sum(len(r.viewers) for r in self._runs.values() if r.status in ACTIVE),
            }

    def reap(self) -> None:
        """Let go of viewers who have not read their run for ``abandon_s`` seconds and cancel runs left with no
        active viewer; forget ended runs unread for ``keep_s``, and the least recently read kept runs while they
        hold more than ``keep_rows`` rows together."""
        now = time.monotonic()
        with self._lock:
            message = f"abandoned: nobody watched it for {self.abandon_s:g} s"
            for run in list(self._runs.values()):
                if run.status in ACTIVE:
                    for owner, viewer in list(run.viewers.items()):
                        if now - viewer.last_read > self.abandon_s:
                            self._leave_locked(run, owner, message)
                    if run.status in ACTIVE and not run.cancelled and not run.active_viewers():
                        self._cancel_locked(run, message)
                elif run.run_id not in self._running and now - run.last_read > self.keep_s:
                    self._forget_locked(run)
            ended = [r for r in self._runs.values() if r.status not in ACTIVE and r.run_id not in self._running]
            rows = sum(len(r.rows) for r in ended)
            for run in sorted(ended, key=lambda r: r.last_read):
                if rows <= self.keep_rows:
                    break
                rows -= len(run.rows)
                self._forget_locked(run)

    # --- inside -----------------------------------------------------------------------------------------

    def _leave_locked(self, run: _Run, owner: str, message: str) -> None:
        """``owner`` stops viewing ``run``; an active run with no active viewer left is cancelled."""
        if run.viewers.pop(owner, None) is None:
            return
        run.left[owner] = message
        if run.status in ACTIVE and not run.cancelled and not run.active_viewers():
            self._cancel_locked(run, message)
        elif run.snapshot is not None:
            self._republish_viewers_locked(run)

    def _republish_viewers_locked(self, run: _Run) -> None:
        if run.snapshot is not None:
            run.snapshot = dataclasses.replace(run.snapshot, viewers=len(run.viewers))

    def _forget_locked(self, run: _Run) -> None:
        del self._runs[run.run_id]
        if run.key is not None and self._by_key.get(run.key) == run.run_id:
            del self._by_key[run.key]

    def _unkey_locked(self, run: _Run) -> None:
        """A stopped or failed run is not attachable: the next submit with its key trains afresh."""
        if run.key is not None and self._by_key.get(run.key) == run.run_id:
            del self._by_key[run.key]

    def _cancel_locked(self, run: _Run, message: str) -> None:
        run.cancelled = True
        self._unkey_locked(run)
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
        judged = run.judged_rows == len(run.rows)  # the verdict and frame are of exactly these rows
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
            key=run.key,
            version=run.version,
            viewers=len(run.viewers),
            judged=judged,
            verdict=run.verdict,
            decided_s=run.decided_s,
            started_at=run.started,
            history=run.history if judged else None,
        )

    def _publish_queue_locked(self) -> None:
        for i, run in enumerate(self._queue, start=1):
            run.snapshot = self._snapshot_of(run, i)

    def _advance(
        self, run: _Run, max_rounds: int | None, slice_s: float | None, pause: Callable[[], float] | None = None
    ) -> None:
        """One slice of ``run`` (started first if needed), its verdict, then its new snapshot; errors end it."""
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
        # outside the lock: viewers keep reading the last snapshot meanwhile
        run.judge(force=run.status not in ACTIVE or self.workers == 0)
        with self._lock:
            if run.status not in ACTIVE + KEPT:
                self._unkey_locked(run)
            run.version += 1
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
