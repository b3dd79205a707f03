"""Run every benchmark and print one table of their results: name, measured, target, PASS/MISS.

    python bench/run_all.py [--skip bench_tcn ...]

Each ``bench/bench_*.py`` runs in its own process, one after another (so they
do not compete for the CPU), as ``python -m bench.<name>``; the lines a script
prints through ``bench._timing.result`` ("name | measured | target | PASS/MISS")
are collected. A script that fails or times out is listed as ERROR with the
tail of its output. Exit status: 0 when every row ran (MISS rows included: a
MISS on a loaded host is information, not a crash), 1 if any script failed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^(?P<name>[^|]+?) \| (?P<measured>[^|]+?) \| (?P<target>[^|]+?) \| (?P<verdict>PASS|MISS)$")
TIMEOUT_S = 900


NOT_HERE = {"bench_load"}  # needs a mode, chromium and a free core for the server: run it on its own


def scripts() -> list[str]:
    """Module names of every benchmark script, e.g. "bench_probe" (bench_load is run on its own)."""
    return sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py") if p.stem not in NOT_HERE)


def run_one(name: str) -> tuple[list[dict], float, str | None]:
    """(result rows, wall seconds, error text or None) of ``python -m bench.<name>``."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return [], time.perf_counter() - start, f"timed out after {TIMEOUT_S} s"
    rows = [m.groupdict() | {"script": name} for line in proc.stdout.splitlines() if (m := ROW.match(line.strip()))]
    error = None if proc.returncode == 0 else (proc.stdout + proc.stderr)[-600:]
    return rows, time.perf_counter() - start, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip", nargs="*", default=[], help="script names to leave out, e.g. bench_tcn")
    args = parser.parse_args(argv)
    rows, failed = [], []
    for name in scripts():
        if name in args.skip:
            continue
        found, seconds, error = run_one(name)
        print(f"ran {name} in {seconds:.0f} s: {len(found)} result rows" + (" (ERROR)" if error else ""), flush=True)
        rows += found
        if error:
            failed.append((name, error))
            rows.append({"script": name, "name": "script failed", "measured": "-", "target": "-", "verdict": "ERROR"})
    widths = (
        {k: max(len(k), *(len(r[k]) for r in rows)) for k in ("script", "name", "measured", "target")} if rows else {}
    )
    print()
    print(" | ".join(k.ljust(w) for k, w in widths.items()) + " | verdict")
    print("-|-".join("-" * w for w in widths.values()) + "-|--------")
    for r in rows:
        print(" | ".join(r[k].ljust(w) for k, w in widths.items()) + f" | {r['verdict']}")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("PASS", "MISS", "ERROR")}
    print(f"\n{counts['PASS']} PASS, {counts['MISS']} MISS, {counts['ERROR']} ERROR")
    for name, error in failed:
        print(f"\n--- {name} ---\n{error}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
