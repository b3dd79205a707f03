"""Spread of every seeded training claim across CPU kernel sets, thread counts and seeds.

"Same seed, same numbers" holds on one machine and kernel set only: another CPU rounds differently, and a
training trajectory can flip. This script measures what each slow test asserts, so every threshold there can
say how far it is from the measured values:

    python -m bench.claims_spread                      # every claim, seeds 0-4, kernels default + native
    python -m bench.claims_spread --claims layernorm --seeds 0 1 --kernels default avx2 --threads 1 2

Each (claim, seed, kernel set, threads) runs in its own process (torch reads ``ATEN_CPU_CAPABILITY`` once, at
import), prints one JSON line, and the table at the end summarises them. One claim at one seed takes about
1-4 CPU-minutes; the whole default matrix about an hour on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CLAIMS = ("attention", "layernorm", "gating", "convolutions", "long_context", "state_space")


def measure(claim: str, seed: int) -> dict:
    """Run one claim's training at one seed in this process; the numbers its slow test asserts on."""
    import numpy as np

    from lrd_core.history import steps_to_threshold
    from lrd_core.train import TrainConfig

    out: dict = {}
    if claim == "attention":
        from lrd_core.experiments.attention import attention_race
        from lrd_core.models.seq2seq import Seq2SeqConfig

        race = attention_race(20, Seq2SeqConfig(8, 32, 64, "additive"), TrainConfig(steps=600, lr=3e-3, batch=64), seed)
        for name, start in race.items():
            out[name] = [(e.step, round(e.metrics["accuracy"], 4)) for e in start() if "accuracy" in e.metrics]
    elif claim == "layernorm":
        from lrd_core.experiments.layernorm import LN_SOLVED, layernorm_race

        race = layernorm_race(TrainConfig(steps=600, lr=5e-3, batch=32), seed, n_layers=6, warmup_steps=200)
        for name, make in race.items():
            losses = np.array([e.loss for e in make()])
            means = np.convolve(losses, np.ones(20) / 20, "valid")
            out[name] = {
                "solved": steps_to_threshold(losses, LN_SOLVED),
                "final": float(means[-1]),
                "min": float(means.min()),
            }
    elif claim == "gating":
        from lrd_core.experiments.gating import race

        factories = race("adding", 100, 64, TrainConfig(steps=1500, lr=1e-2, batch=64, clip=1.0), seed, gate_bias=1.0)
        for name, make in factories.items():
            losses = [e.loss for e in make()]
            out[name] = {"solved": steps_to_threshold(losses, 0.01), "final": float(np.mean(losses[-20:]))}
    elif claim == "convolutions":
        from lrd_core.experiments.convolutions import lag_sweep
        from lrd_core.models.tcn import TCNConfig

        df = lag_sweep(
            TCNConfig(channels=32, kernel_size=2, top_layer=5),
            [40, 63, 64, 80],
            TrainConfig(steps=300, lr=1e-3, batch=32),
            seed,
        )
        out["accuracy by lag"] = {str(int(r.lag)): round(float(r.accuracy), 4) for r in df.itertuples()}
    elif claim == "long_context":
        from lrd_core.experiments.long_context import window_vs_recurrence
        from lrd_core.models.segment import SegmentConfig

        race = window_vs_recurrence(48, SegmentConfig(), TrainConfig(steps=100, lr=1e-3, batch=32), seed)
        for name, make in race.items():
            out[name] = [(e.step, round(e.metrics["accuracy"], 4)) for e in make() if "accuracy" in e.metrics]
    elif claim == "state_space":
        from lrd_core.experiments.state_space import ssm_vs_lstm

        for name, make in ssm_vs_lstm(500, TrainConfig(steps=200, lr=3e-3, batch=32), seed).items():
            out[name] = [(e.step, round(e.metrics["accuracy"], 4)) for e in make() if "accuracy" in e.metrics]
    else:
        raise ValueError(f"claim must be one of {CLAIMS}, got {claim!r}")
    return out


def summary(row: dict) -> str:
    """One line: per series the figure its slow test asserts on."""
    parts = []
    for name, v in row["result"].items():
        if isinstance(v, list):  # accuracy trajectory [(step, accuracy), ...]
            first = next((s for s, a in v if a >= 0.9), None)
            parts.append(
                f"{name}: final {v[-1][1]:.3f}, min of last 4 {min(a for _, a in v[-4:]):.3f}, >= 0.9 at {first}"
            )
        elif "solved" in v:
            extra = f", min {v['min']:.3f}" if "min" in v else ""
            parts.append(f"{name}: solved at {v['solved']}, final {v['final']:.4f}{extra}")
        else:
            parts.append(f"{name}: {v}")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", nargs="*", default=list(CLAIMS), choices=CLAIMS)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument(
        "--kernels",
        nargs="*",
        default=["default", "native"],
        help="ATEN_CPU_CAPABILITY values; 'native' leaves torch's own choice",
    )
    ap.add_argument("--threads", nargs="*", type=int, default=[1])
    ap.add_argument("--one", nargs=3, metavar=("CLAIM", "SEED", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:  # child process: one measurement, one JSON line
        import torch

        claim, seed, threads = args.one[0], int(args.one[1]), int(args.one[2])
        torch.set_num_threads(threads)
        t0 = time.process_time()
        result = measure(claim, seed)
        print(
            json.dumps(
                {
                    "claim": claim,
                    "seed": seed,
                    "threads": threads,
                    "kernels": torch.backends.cpu.get_cpu_capability(),
                    "cpu_s": round(time.process_time() - t0, 1),
                    "result": result,
                }
            )
        )
        return 0
    rows = []
    for claim in args.claims:
        for seed in args.seeds:
            for kernels in args.kernels:
                for threads in args.threads:
                    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
                    env.pop("ATEN_CPU_CAPABILITY", None)
                    if kernels != "native":
                        env["ATEN_CPU_CAPABILITY"] = kernels
                    cmd = [sys.executable, "-m", "bench.claims_spread", "--one", claim, str(seed), str(threads)]
                    line = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                    row = json.loads(line.strip().splitlines()[-1])
                    rows.append(row)
                    print(line.strip(), flush=True)
    print()
    for r in rows:
        print(
            f"{r['claim']:12s} seed {r['seed']} {r['kernels']:8s} threads {r['threads']} "
            f"({r['cpu_s']:.0f} CPU-s): {summary(r)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
