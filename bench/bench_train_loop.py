"""Overhead of the page's training loop (``lrd_core.train.train``) over a bare PyTorch loop.

Both train identically initialised Elman RNNs (H=64, tanh) on the same adding-problem
batches (T=100, batch 64) with Adam; the bare loop does zero_grad, forward, MSE,
backward, step and nothing else. The two runs advance one optimiser step at a time,
alternately, so both do exactly the same arithmetic under the same machine load.
Run from the repo root: ``python -m bench.bench_train_loop``. Target: train / plain <= 1.10.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import statistics
import time

import torch
from torch.nn import functional as F

from bench._timing import compare_samples, header, result
from lrd_core.experiments.vanishing import rnn_adding_model
from lrd_core.models.recurrent import RNNConfig
from lrd_core.task_runs import adding_run
from lrd_core.tasks import adding_problem
from lrd_core.train import (
    TrainConfig,
    split_seed,
)

T, BATCH, STEPS, RUNS, SEED, LR = 100, 64, 30, 7, 0, 1e-3
TARGET = 1.10


def page_stepper(config: RNNConfig, train_config: TrainConfig):
    """The page's loop, ``adding_run`` on a fresh seeded model: a function doing one step, and its losses."""
    events = adding_run(rnn_adding_model(config, SEED), T, train_config, SEED)
    losses: list[float] = []

    def step():
        losses.append(next(events).loss)

    return step, losses


def plain_stepper(config: RNNConfig, train_config: TrainConfig):
    """The same model, batches and optimiser in a bare loop body: a function doing one step, and its losses."""
    model = rnn_adding_model(config, SEED)  # identical initial weights
    _, data = split_seed(SEED)  # the data generator adding_run uses: identical batches
    opt = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    losses: list[torch.Tensor] = []

    def step():
        x, y = adding_problem(train_config.batch, T, data)
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())  # read out after the run, not per step

    return step, losses


def main() -> None:
    header(f"training loop: lrd_core.train.train vs a bare PyTorch loop (T={T}, batch {BATCH})")
    config = RNNConfig()  # H=64, tanh, orthogonal W, rho=1
    train_config = TrainConfig(steps=STEPS, lr=LR, batch=BATCH, clip=None, optimizer="adam")
    print(f"model: {config}\ntrain: {train_config}")
    print(
        f"timing: {RUNS} runs of {STEPS} steps, each run on a fresh model; page and plain steps alternate "
        "(A B, B A, ...); the first step of each run is untimed warm-up"
    )

    page_s, plain_s, page_wall, plain_wall = [], [], [], []
    identical, max_diff = True, 0.0
    for _ in range(RUNS):
        page_step, page_losses = page_stepper(config, train_config)
        plain_step, plain_losses = plain_stepper(config, train_config)
        a, b = compare_samples(page_step, plain_step, repeats=STEPS - 1, warmup=1, clock=time.process_time)
        page_s += a
        plain_s += b
        plain_vals = [v.item() for v in plain_losses]
        identical &= page_losses == plain_vals
        max_diff = max(max_diff, max(abs(p - q) for p, q in zip(page_losses, plain_vals, strict=True)))
    # whole 30-step runs by the wall clock, interleaved, as a cross-check
    for i in range(RUNS):
        for which in ("page", "plain") if i % 2 == 0 else ("plain", "page"):
            step, _ = (page_stepper if which == "page" else plain_stepper)(config, train_config)
            start = time.perf_counter()
            for _ in range(STEPS):
                step()
            (page_wall if which == "page" else plain_wall).append(time.perf_counter() - start)

    print(
        f"losses bit-identical over {RUNS} x {STEPS} steps: {identical} (max |diff| {max_diff:.3e}; "
        f"step 1 {page_losses[0]:.6f}, step {STEPS} {page_losses[-1]:.6f})"
    )
    med_page, med_plain = statistics.median(page_s), statistics.median(plain_s)
    print(
        f"median CPU seconds per step ({len(page_s)} steps each): train {med_page * 1e3:.2f} ms, "
        f"plain {med_plain * 1e3:.2f} ms"
    )
    wp, wq = statistics.median(page_wall), statistics.median(plain_wall)
    print(
        f"cross-check, median wall seconds per whole {STEPS}-step run incl. model set-up ({RUNS} each): "
        f"train {wp:.3f}, plain {wq:.3f}, ratio {wp / wq:.3f}"
    )
    ratio = med_page / med_plain
    result("ratio train / plain (per-step CPU time)", ratio, f"<= {TARGET:.2f}", ratio <= TARGET, fmt="{:.3f}")
    result("losses bit-identical", float(identical), "1 (True)", identical, fmt="{:.0f}")


if __name__ == "__main__":
    main()
