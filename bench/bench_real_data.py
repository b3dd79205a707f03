"""The "Real data" page's two races: time to verdict at the Lecture size, and the validation pilots that chose
their settings.

Default: each race at its Lecture defaults (TCN reach 128 vs 512, both 9 layers, 400 steps, width 16; LSTM full
memory vs a window of the last 24 steps, 800 steps, H 32) is submitted to a one-worker
:class:`lrd_core.runtime.engine.RunEngine`, as a press of Start does; the clock runs until the run has finished
and the page's verdict function returns its sentence. Reports the engine's CPU seconds (the work itself) and
the wall seconds (larger on a shared host). Page redraws are not included: they are capped at about 10% of the
CPU by ``lrd_ui.live``. Target: verdict within 20 s on one core.

``--validation``: the pilots behind the page's learning rates, step counts, verdict days and thresholds. Each
race is scored on each of ``--weeks`` (default 8) after training on the weeks before it
(``lrd_core.real_data.forecast_task("validation", week)``; later weeks are never read) for every learning rate
in ``--lr`` and step count in ``--steps``, on ``--seeds``; prints every series' final error overall and by
weekday, the ratio of the two series' errors by weekday, and the ratio 80 % of the runs reach. The page's
numbers came from ``--weeks 8`` with the ``--lr`` / ``--steps`` grids listed next to ``TCN_LR`` in
``lrd_core/experiments/real_data.py`` (seeds 0-2) and from ``--weeks 6 7 8`` at the chosen settings (seeds
0-4: ``VALIDATION_RATIOS``). CPU: about 3 s per TCN and 4-9 s per LSTM run and week on one thread.

Run from the repo root on one core: ``taskset -c 1 python -m bench.bench_real_data [--validation ...]``.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import argparse
import time

import pandas as pd

from bench._timing import header, result
from lrd_core.experiments import real_data as rx
from lrd_core.real_data import WEEKDAYS, forecast_task
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


def lecture_timing() -> None:
    header("Real data: time to verdict at the Lecture size (one worker)")
    for race in ("tcn", "lstm"):
        demo = rx.demo(rx.SIZES[rx.LECTURE], SEED, race=race)
        cpu, wall, text = time_to_verdict(demo.factories, demo.verdict, demo.total_steps)
        print(f"{race.upper()} race: {text} (wall {wall:.1f} s)")
        result(f"{race.upper()} race: CPU seconds to verdict", cpu, f"<= {TARGET_S:g}", cpu <= TARGET_S, "{:.1f}")


def validation_run(race: str, lr: float, steps: int, seed: int, week: int = 8) -> list[dict]:
    """Final validation errors (on ``week``, trained on the weeks before it) of both series of ``race`` at the
    page's default widths, reaches and window; ``role`` "worse" for the series the race expects to do worse
    (short reach, short window)."""
    task = forecast_task("validation", week)
    v = rx.DEFAULTS
    config = rx.train_config(race, steps, lr)
    if race == "tcn":
        short_d, long_d = (rx.reach_layer(k, v[k]) for k in ("short_reach", "long_reach"))
        factories = rx.tcn_race(short_d, long_d, v["width"], config, seed, task=task, eval_every=steps)
        worse = rx.tcn_names(short_d, long_d, v["width"])[0]
    else:
        factories = rx.lstm_race(v["hidden"], v["memory"], config, seed, task=task, eval_every=steps)
        worse = rx.lstm_names(v["memory"])[1]
    rows = []
    for name, make in factories.items():
        t0 = time.thread_time()
        last = list(make())[-1]
        row = {"race": race, "week": week, "lr": lr, "steps": steps, "seed": seed, "series": name}
        row["cpu_s"] = time.thread_time() - t0
        rows.append(
            row | {"role": "worse" if name == worse else "better"} | {k[4:]: last.metrics[k] for k in rx.METRICS}
        )
    return rows


def validation(race: str, lrs: list[float], steps: list[int], seeds: list[int], weeks: list[int]) -> pd.DataFrame:
    """Every (week, lr, steps, seed) of ``race`` on the validation split; prints the errors, their means over
    seeds, the worse / better ratio by weekday and, per (lr, steps), the ratio that 80 % of the runs (weeks x
    seeds) reach: :func:`lrd_core.experiments.real_data.validation_choice` picks the verdict day and threshold
    from these."""
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    rows = []
    for week in weeks:
        for lr in lrs:
            for n in steps:
                for seed in seeds:
                    rows += validation_run(race, lr, n, seed, week)
                    print(pd.DataFrame(rows[-2:]).round(4).to_string(index=False, header=len(rows) == 2), flush=True)
    table = pd.DataFrame(rows)
    cols = ["all", *WEEKDAYS]
    print("\nmean over seeds (validation MSE):")
    print(table.groupby(["week", "lr", "steps", "series"])[[*cols, "cpu_s"]].mean().round(4))
    both = table.groupby(["week", "lr", "steps"])["all"].mean().round(4)
    print("\nmean overall MSE of the two models (the criterion for lr and steps):")
    print(both.to_string())
    wide = table.set_index(["week", "lr", "steps", "seed", "role"])[cols]
    ratio = (wide.xs("worse", level="role") / wide.xs("better", level="role")).round(2)
    print("\nratio worse / better by weekday:")
    print(ratio)
    print("\nratio reached by 80 % of the runs (weeks x seeds), by weekday:")
    print(ratio.groupby(level=["lr", "steps"]).agg(lambda c: sorted(c)[len(c) // 5]))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validation", action="store_true", help="run the validation pilots instead")
    parser.add_argument("--race", choices=["tcn", "lstm"], default="tcn")
    parser.add_argument("--lr", type=float, nargs="+")
    parser.add_argument("--steps", type=int, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--weeks", type=int, nargs="+", default=[8], help="validation weeks (each a fold)")
    args = parser.parse_args()
    if not args.validation:
        lecture_timing()
        return
    lrs = args.lr or [rx.TCN_LR if args.race == "tcn" else rx.LSTM_LR]
    steps = args.steps or [rx.SIZES[rx.LECTURE][f"{args.race}_steps"]]
    validation(args.race, lrs, steps, args.seeds, args.weeks)


if __name__ == "__main__":
    main()
