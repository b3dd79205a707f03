"""Seconds from Start to each page's verdict at its Lecture size: in a plain loop and through the run engine.

For every entry of the registry ``lrd_core.lecture.DEMO_TOPICS``, the Lecture-size Demo (``lecture_demo_of``:
the topic's ``demo(values, seed)``, the same call the page's Start button makes) is run twice, one after the
other in this process:

* plain loop (``lrd_core.lecture.run_demo``): the series round-robin, the verdict asked every 10 rounds;
  CPU seconds of training until the verdict is first given, and the step of the slowest series then;
* through the engine: a ``RunEngine`` with one worker thread, polled once a second as the live panel's
  fastest redraw does; wall seconds from ``submit`` until the snapshot's history gives a verdict.

The target is the lecture rule: the verdict within 20 s of Start on one core (the selective-SSM page's issue
allowed it 45 s; its Lecture size needs less). Run from the repo root on one core:
``taskset -c 0 python -m bench.bench_punchline [--seed 0] [--only gating ...]``.
A loaded host makes every figure larger: read them as an upper bound.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread, as on a one-core host

import argparse
import time

from bench._timing import header, result
from lrd_core.demo import Demo
from lrd_core.history import history_frame
from lrd_core.lecture import DEMO_TOPICS, lecture_demo_of, run_demo
from lrd_core.runtime.engine import RunEngine

PAGES = DEMO_TOPICS
TARGET_S: dict[str, float] = {}  # per-page exceptions to DEFAULT_TARGET_S (none needed at the sizes measured)
DEFAULT_TARGET_S = 20.0
POLL_S = 1.0  # the live panel redraws at most once a second


def through_engine(demo: Demo, timeout_s: float = 300.0) -> tuple[float, int | None]:
    """(wall seconds from submit to the first verdict, step then) with one worker thread polled each POLL_S."""
    engine = RunEngine(workers=1)
    start = time.perf_counter()
    run_id = engine.submit("bench", demo.factories, demo.total_steps)
    while time.perf_counter() - start < timeout_s:
        time.sleep(POLL_S)
        snap = engine.snapshot(run_id)
        if snap is None or not snap.rows:
            continue
        history = history_frame(snap.rows)
        if demo.verdict(history, not snap.active) is not None:
            _stop(engine, run_id)
            return time.perf_counter() - start, snap.steps_done
        if not snap.active:
            break
    _stop(engine, run_id)
    return float("nan"), None


def _stop(engine: RunEngine, run_id: int) -> None:
    """Cancel the run and wait until its worker has left it (a thread still in torch at exit aborts)."""
    engine.cancel(run_id)
    for _ in range(100):
        snap = engine.snapshot(run_id)
        if snap is None or not snap.active:
            return
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=list(PAGES), help="pages to run, e.g. gating attention")
    args = parser.parse_args(argv)
    header("time from Start to the verdict, Lecture size")
    for page in args.only:
        demo = lecture_demo_of(page, args.seed)
        plain = run_demo(demo)
        verdict = plain.verdict
        print(
            f"{page}: plain loop: verdict at step {plain.decided_step} after {plain.decided_cpu_s:.1f} CPU-s, "
            f"{plain.decided_wall_s:.1f} s wall "
            f"(whole run {plain.cpu_s:.1f} s); expected={verdict.expected if verdict else None}: "
            f"{verdict.text if verdict else '-'}",
            flush=True,
        )
        wall, step = through_engine(lecture_demo_of(page, args.seed))
        target = TARGET_S.get(page.partition(":")[0], DEFAULT_TARGET_S)
        print(f"{page}: engine: verdict at step {step} after {wall:.1f} s wall ({wall / plain.decided_wall_s:.2f}x)")
        result(f"{page} Start -> verdict through the engine, s", wall, f"<= {target:g}", wall <= target)
        result(
            f"{page} Start -> verdict in a plain loop, CPU-s",
            plain.decided_cpu_s,
            f"<= {target:g}",
            plain.decided_cpu_s <= target,
        )


if __name__ == "__main__":
    main()
