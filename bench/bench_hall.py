"""A lecture hall on one core: N simulated visitors press Start at once, over Streamlit's own protocol.

``python -m bench.bench_hall [--visitors 50] [--scenarios a b] [--cpus 0]`` starts ``streamlit run app.py``
pinned to ``--cpus`` (taskset; this process stays on the other cores, as the visitors' machines would) and drives
``--visitors`` protocol-level clients (:mod:`bench.hall_client`: no browser; each decodes the server's messages
and emulates the browser's fragment timers) on loopback:

* **(a) the same preset**: every visitor opens the gating page at its Lecture size (seed 0) and presses Start
  within a second or two. With shared runs this is one run with N viewers. Prints each visitor's seconds from
  their click to the verdict on their page (and to the end of the run), the server's CPU-seconds over the
  scenario and its peak RSS. Targets: every verdict within 30 s of the last click, peak RSS <= 1,000 MB.
* **(b) distinct seeds**: visitor i opens the same page with seed i and presses Start: N different runs. Prints
  each visitor's seconds from the click to what their page first says: progress, a queue position with its
  estimate, or the busy message with a retry time. Targets: every visitor within 5 s, none left without
  one of the three (a run lost silently), peak RSS <= 1,000 MB.
* **single**: one visitor at a time on every page with a live run presses its first Start: seconds from the
  click to the verdict on the page, and (from the server's log, ``LRD_PROFILE_REDRAW``) how long after the
  engine gave the verdict the page drew it, and the run's training CPU-s over its wall seconds then (as
  ``bench/bench_load.py single`` reads them from the progress text). Target: within 2 s of the engine's decision.
* **(c) a newcomer**: during scenarios (a) and (b), a visitor opens the home page: seconds until its first chart
  element arrives (protocol level; a browser adds its own drawing, see ``bench/bench_load.py``). Target 5 s.

Afterwards all visitors leave and the bench waits for the engine to let go of their runs (``--settle``).
A loaded host makes every figure larger: read them as upper bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench._timing import header, result
from bench.bench_load import engine_cpu_s
from bench.hall_client import Visitor
from scripts import browser as bs

PAGE = "Gating"  # the page every visitor opens (pages/2_Gating.py): its Lecture size is a 10 CPU-s race
VERDICT = "**Verdict:**"
FIRST_WORD = ("step ", "Queued (position", "the server is busy")  # what a page says after Start
VERDICT_TARGET_S, ANSWER_TARGET_S, HOME_TARGET_S, RSS_TARGET_MB = 30.0, 5.0, 5.0, 1000.0
LAG_TARGET_S = 2.0  # the verdict on the page within this many seconds of the engine's decision
LIVE_PAGES = (  # every page with a live run (its first panel)
    "Vanishing_gradients",
    "Gating",
    "Convolutions",
    "Attention",
    "Long_context",
    "State_space_models",
    "Selective_state_spaces",
    "LayerNorm_placement",
    "Real_data",
)
PROGRESS = re.compile(r"step (\d+) / (\d+) · ([\d.]+) s of training in ([\d.]+) s")  # the panel's progress text
LAG = re.compile(r"\[live\] (\S+): verdict drawn (-?[\d.]+) s after the engine gave it")
LOAD_BATCH = 5  # visitors whose pages load at once before the clicks (page loads are not what is measured)


def server_cpu_s(pid: int, task: int | None = None) -> float:
    """CPU seconds the server process has used so far (all its threads), or only its thread ``task``."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Outcome:
    name: str
    clicked: float  # time.monotonic() of the click
    answer: float | None  # seconds to the first progress / queue / busy text
    answer_text: str
    verdict: float | None  # seconds to the verdict
    ended: float | None  # seconds until the run's progress said its last step


class RssSampler:
    """Samples the server's RSS every ``period`` seconds in the background; ``peak`` in MB."""

    def __init__(self, pid: int, period: float = 0.5):
        self.pid, self.period, self.peak = pid, period, 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, bs.rss_mb(self.pid))
            await asyncio.sleep(self.period)

    def __enter__(self):
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc):
        self._task.cancel()
        self.peak = max(self.peak, bs.rss_mb(self.pid))


async def _open_all(base: str, queries: list[str]) -> list[Visitor]:
    visitors = []
    for i in range(0, len(queries), LOAD_BATCH):
        batch = [Visitor(base, f"v{j}") for j in range(i, min(i + LOAD_BATCH, len(queries)))]
        for v in batch:
            await v.connect()
        await asyncio.gather(*(v.open(PAGE, queries[int(v.name[1:])]) for v in batch))
        visitors += batch
    return visitors


async def home_visit(base: str, delay: float) -> tuple[float, float]:
    """(seconds to the home page's first chart element, seconds to its script's end), opened after ``delay``."""
    await asyncio.sleep(delay)
    v = Visitor(base, "home")
    await v.connect()
    t0 = time.monotonic()
    opened = asyncio.create_task(v.open(""))
    while not v.has_chart():
        if opened.done() and not v.has_chart():
            break
        await asyncio.sleep(0.02)
    first = time.monotonic() - t0
    total = await opened
    await v.close()
    return first, total


def _first(v: Visitor, prefixes: tuple[str, ...], since: float) -> tuple[float | None, str]:
    hits = [(t, text) for t, text in v.seen if t >= since and text.startswith(prefixes)]
    return (hits[0][0] - since, hits[0][1][:80]) if hits else (None, "")


async def scenario(base: str, pid: int, name: str, queries: list[str], timeout: float, home_after: float) -> None:
    print(f"\n-- scenario {name}: {len(queries)} visitors --")
    visitors = await _open_all(base, queries)
    cpu0, train0, runs0 = server_cpu_s(pid), engine_cpu_s(pid), sum(v.finished for v in visitors)
    loop0 = server_cpu_s(pid, pid)  # the main thread: the event loop that sends every message
    with RssSampler(pid) as rss:
        t_clicks = time.monotonic()
        clicks = []
        for v in visitors:
            clicks.append(time.monotonic())
            if not await v.click("Start"):
                print(f"{v.name}: no Start button")
        last_click = time.monotonic()
        print(f"{len(visitors)} clicks took {last_click - t_clicks:.1f} s")
        home = asyncio.create_task(home_visit(base, home_after))
        deadline = last_click + timeout
        while time.monotonic() < deadline:
            done = [
                (v.first_seen(VERDICT, c) is not None and (not name.startswith("a") or _ended(v, c)))
                or v.first_seen("the server is busy", c)
                for v, c in zip(visitors, clicks, strict=True)
            ]
            if all(done) and home.done():
                break
            await asyncio.sleep(0.5)
        home_first, home_total = await home
        cpu, train = server_cpu_s(pid) - cpu0, engine_cpu_s(pid) - train0
        loop = server_cpu_s(pid, pid) - loop0
        redraws = sum(v.finished for v in visitors) - runs0
        outcomes = []
        for v, c in zip(visitors, clicks, strict=True):
            answer, text = _first(v, FIRST_WORD, c)
            verdict = v.first_seen(VERDICT, c)
            total = _ended(v, c)
            outcomes.append(
                Outcome(
                    v.name,
                    c,
                    answer,
                    text,
                    None if verdict is None else verdict - c,
                    None if total is None else total - c,
                )
            )
    for v in visitors:
        await v.close()
    print(
        f"server CPU over the scenario: {cpu:.1f} CPU-s, of which the run engine's workers {train:.1f} (training, "
        f"judging), the event loop (sending) {loop:.1f}; the visitors' {redraws} script runs (Start clicks, "
        f"redraws, page reruns) the rest: {(cpu - train) / max(1, redraws) * 1000:.0f} ms of server CPU each "
        f"({loop / max(1, redraws) * 1000:.0f} ms of it sending)"
    )
    _report(name, outcomes, last_click, cpu, rss.peak, home_first, home_total)


def _ended(v: Visitor, since: float) -> float | None:
    """When ``v``'s page first said its run reached its last step after ``since``, or None."""
    return next((t for t, s in v.seen if t >= since and s.startswith("step ") and _at_end(s)), None)


def _at_end(progress: str) -> bool:
    """True for a progress text "step k / N · ..." with k == N."""
    head = progress.split(" · ")[0].removeprefix("step ").split(" / ")
    return len(head) == 2 and head[0] == head[1]


def _report(name, outcomes, last_click, cpu, peak, home_first, home_total) -> None:
    print("visitor | click->answer s | answer | click->verdict s | verdict after the last click s | click->end s")
    for o in outcomes:
        fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
        after_last = None if o.verdict is None else o.clicked + o.verdict - last_click
        print(f"{o.name} | {fmt(o.answer)} | {o.answer_text} | {fmt(o.verdict)} | {fmt(after_last)} | {fmt(o.ended)}")
    verdicts = [o.clicked + o.verdict - last_click for o in outcomes if o.verdict is not None]
    answers = [o.answer for o in outcomes if o.answer is not None]
    if verdicts:
        print(
            f"verdict after the last click: min {min(verdicts):.1f} s, median {statistics.median(verdicts):.1f} s, "
            f"max {max(verdicts):.1f} s ({len(verdicts)} of {len(outcomes)} visitors)"
        )
    print(f"server CPU over the scenario: {cpu:.1f} CPU-s; peak RSS {peak:.0f} MB")
    print(f"home page during it: first chart element after {home_first:.1f} s, script done after {home_total:.1f} s")
    if name.startswith("a"):
        worst = max(verdicts) if len(verdicts) == len(outcomes) else float("inf")
        result(
            "(a) every verdict within s of the last click",
            worst,
            f"<= {VERDICT_TARGET_S:g}",
            worst <= VERDICT_TARGET_S,
            "{:.1f}",
        )
    else:
        worst = max(answers) if len(answers) == len(outcomes) else float("inf")
        result(
            "(b) every visitor answered (progress, queue or busy) within s",
            worst,
            f"<= {ANSWER_TARGET_S:g}",
            worst <= ANSWER_TARGET_S,
            "{:.1f}",
        )
    result(f"({name[0]}) peak server RSS, MB", peak, f"<= {RSS_TARGET_MB:g}", peak <= RSS_TARGET_MB, "{:.0f}")
    result(
        f"({name[0]}) home page first chart during it, s",
        home_first,
        f"<= {HOME_TARGET_S:g}",
        home_first <= HOME_TARGET_S,
        "{:.1f}",
    )


async def single(base: str, pages: list[str], timeout: float) -> None:
    """One visitor on each page in turn: click -> verdict on the page, and the server-side drawing lag."""
    print("\n-- single visitors, one page at a time --")
    log = bs.ARTIFACTS / "streamlit-server.log"
    print("page | click->verdict on the page, s | drawn after the engine's verdict, s | training CPU-s / wall s")
    lags = []
    for page in pages:
        v = Visitor(base, page)
        await v.connect()
        await v.open(page, "seed=0")
        before = len(log.read_text(errors="replace"))
        clicked = time.monotonic()
        if not await v.click("Start"):
            print(f"{page} | no Start button")
            await v.close()
            continue
        while v.first_seen(VERDICT, clicked) is None and time.monotonic() - clicked < timeout:
            await asyncio.sleep(0.1)
        seen = v.first_seen(VERDICT, clicked)
        progress = [m for _, text in v.seen if (m := PROGRESS.search(text))]
        duty = float(progress[-1][3]) / float(progress[-1][4]) if progress and float(progress[-1][4]) else float("nan")
        await v.click("Stop")
        await asyncio.sleep(1.0)
        await v.close()
        found = LAG.findall(log.read_text(errors="replace")[before:])
        lag = float(found[0][1]) if found else float("nan")
        lags.append(lag)
        print(f"{page} | {'-' if seen is None else f'{seen - clicked:.1f}'} | {lag:.2f} | {duty:.2f}")
        await asyncio.sleep(2.0)  # let the stopped run's worker let go
    worst = max(lags) if lags else float("nan")
    result(
        "single: verdict drawn after the engine's decision, worst page, s",
        worst,
        f"<= {LAG_TARGET_S:g}",
        worst <= LAG_TARGET_S,
        "{:.2f}",
    )


async def run(base: str, pid: int, args) -> None:
    warm = Visitor(base, "warm")  # the first page load imports torch and warms the caches: not measured
    await warm.connect()
    await warm.open("")
    await warm.open(PAGE, "seed=0")
    await warm.close()
    print(f"server RSS after warming up: {bs.rss_mb(pid):.0f} MB")
    n = args.visitors
    if "single" in args.scenarios:
        await single(base, args.pages, args.timeout)
    if "a" in args.scenarios:
        await scenario(base, pid, "a: same preset", ["seed=0"] * n, args.timeout, args.home_after)
        await asyncio.sleep(args.settle)
    if "b" in args.scenarios:
        await scenario(
            base, pid, "b: distinct seeds", [f"seed={i + 1}" for i in range(n)], args.timeout, args.home_after
        )
        await asyncio.sleep(args.settle)
    print(f"server RSS at the end: {bs.rss_mb(pid):.0f} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visitors", type=int, default=50)
    ap.add_argument("--scenarios", nargs="+", default=["a", "b"], choices=["single", "a", "b"])
    ap.add_argument("--pages", nargs="+", default=list(LIVE_PAGES), help="single: the pages (URL paths)")
    ap.add_argument("--cpus", default="0", help="cores the server is pinned to (taskset -c)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every verdict")
    ap.add_argument("--home-after", type=float, default=3.0, help="seconds after the last click the home visit")
    ap.add_argument(
        "--app",
        default="app.py",
        help="the app to serve: another checkout's app.py (e.g. `git archive` of an older commit) for a before/after",
    )
    ap.add_argument("--settle", type=float, default=35.0, help="seconds between scenarios (abandoned runs end)")
    args = ap.parse_args(argv)
    server = {int(c) for c in args.cpus.split(",")}
    others = os.sched_getaffinity(0) - server
    if others:  # the visitors' side stays off the server's core
        os.sched_setaffinity(0, others)
    header(f"bench_hall: {args.visitors} visitors, server on cores {args.cpus}, clients on {sorted(others)}")
    with bs.streamlit_server(args.app, cpus=args.cpus, env_extra={"LRD_PROFILE_REDRAW": "1"}) as base:
        asyncio.run(run(base, bs.LAST_SERVER_PID, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
