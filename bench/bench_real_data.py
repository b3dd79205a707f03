"""Time to verdict of the "Real data" page's two races at its Lecture size, through the run engine.

Each race (TCN reach 128 vs 512, 400 steps, width 16; LSTM full vs reset-every-128 memory, 500 steps, H 32)
is submitted to a one-worker :class:`lrd_core.runtime.engine.RunEngine`, as a press of Start does; the clock runs
until the run has finished and the page's verdict function returns its sentence. Reports the engine's CPU
seconds (the work itself) and the wall seconds (larger on a shared host). Page redraws are not included:
they are capped at about 10% of the CPU by ``lrd_ui.live``. Target: verdict within 20 s on one core.
Run from the repo root on one core: ``taskset -c 1 python -m bench.bench_real_data``.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import time

import pandas as pd

from bench._timing import header, result
from lrd_core.experiments import real_data as rx
from lrd_core.runtime.engine import RunEngine

SEED = 0
TARGET_S = 20.0


def time_to_verdict(factories, verdict, steps: int) -> tuple[float, float, str]:
    """(engine CPU seconds, wall seconds, verdict text) of one run of ``factories``."""
    engine = RunEngine(workers=1)
    start = time.perf_counter()
    run_id = engine.submit("bench", factories, steps, settings="bench")
    while True:
        snap = engine.snapshot(run_id)
        if snap is not None and not snap.active:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - start
    found = verdict(pd.DataFrame(list(snap.rows)), True)
    return snap.cpu_s, wall, found.text if found else "no verdict"


def main() -> None:
    header("Real data: time to verdict at the Lecture size (one worker)")
    races = {}
    for race in ("tcn", "lstm"):
        demo = rx.lecture_demo(SEED, race=race)
        races[f"{race.upper()} race"] = (demo.factories, demo.verdict, demo.total_steps)
    for name, (factories, verdict, steps) in races.items():
        cpu, wall, text = time_to_verdict(factories, verdict, steps)
        print(f"{name}: {text} (wall {wall:.1f} s)")
        result(f"{name}: CPU seconds to verdict", cpu, f"<= {TARGET_S:g}", cpu <= TARGET_S, "{:.1f}")


if __name__ == "__main__":
    main()
