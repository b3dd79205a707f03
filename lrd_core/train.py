"""Training as a generator of events, so a page can draw progress live and stop at any step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from lrd_core.limits import MAX_BATCH, MAX_SECONDS_PER_RUN, MAX_SEED, MAX_STEPS
from lrd_core.validate import check_choice, check_float, check_int

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimiser steps
    lr: float = 1e-3  # learning rate
    batch: int = 64  # sequences per step
    clip: float | None = None  # max global gradient norm; None = no clipping
    optimizer: str = "adam"  # "adam" or "sgd"
    max_seconds: float = MAX_SECONDS_PER_RUN  # budget of compute seconds (pauses between steps excluded)
    warmup_steps: int = 0  # the rate climbs linearly from lr/warmup_steps to lr over these first steps
    schedule: str = "constant"  # after warm-up: "constant" lr, or "linear" decay towards 0 at the last step

    def __post_init__(self):
        check_int("steps", self.steps, 1, MAX_STEPS)
        check_float("lr", self.lr, 0.0, 10.0, lo_open=True)
        check_int("batch", self.batch, 1, MAX_BATCH)
        if self.clip is not None:
            check_float("clip", self.clip, 0.0, 1e6, lo_open=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("max_seconds", self.max_seconds, 0.0, MAX_SECONDS_PER_RUN, lo_open=True)
        check_int("warmup_steps", self.warmup_steps, 0, self.steps)
        check_choice("schedule", self.schedule, SCHEDULES)


@dataclass(frozen=True)
class StepEvent:
    step: int  # 1-based step that just finished
    loss: float  # training loss of this step's batch (before the update)
    grad_norm: float  # global gradient norm before clipping
    seconds: float  # compute seconds since the run started (pauses between a caller's next() calls excluded)
    status: str = "running"  # "running", "done", "diverged" or "budget"
    message: str = ""  # human-readable reason when status is not "running"
    metrics: dict[str, float] = field(default_factory=dict)  # evaluation results, on evaluated steps only
    clipped_grad_norm: float = math.nan  # global gradient norm after clipping, measured (NaN: run not clipped)


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr)


def lr_factor(config: TrainConfig, i: int) -> float:
    """Multiplier on ``config.lr`` for update i (0-based): linear warm-up (i+1)/warmup_steps, then 1
    ("constant") or (steps − i)/(steps − warmup_steps) ("linear", reaching 1/(steps − warmup_steps) last)."""
    w = config.warmup_steps
    if i < w:
        return (i + 1) / w
    if config.schedule == "linear":
        return (config.steps - i) / (config.steps - w)
    return 1.0


def make_scheduler(opt: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR | None:
    """The warm-up / decay schedule of ``config`` as a LambdaLR, or None when the rate is constant throughout."""
    if config.warmup_steps == 0 and config.schedule == "constant":
        return None
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(config, i))


def train(
    model: torch.nn.Module,
    batch_fn: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: TrainConfig,
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    eval_every: int = 50,
) -> Iterator[StepEvent]:
    """Yield one :class:`StepEvent` per optimiser step.

    ``batch_fn()`` returns (x, y) on the model's device (it closes over its own
    seeded generator); ``loss_fn(model(x), y)`` returns a scalar. A non-finite
    loss or gradient ends the run with status "diverged" and the message
    "diverged at step k" instead of raising; the weights are not updated.
    ``evaluate(model)``, if given, runs under ``torch.no_grad()`` after every
    ``eval_every``-th update and after the last one; its dict (e.g. accuracy)
    is the event's ``metrics``; it also runs once before training, yielded as a step-0 event (loss of the
    first batch, grad_norm NaN), so metric curves start at the untrained model's value.
    """
    eval_every = check_int("eval_every", eval_every, 1, MAX_STEPS)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, config)
    scheduler = make_scheduler(opt, config)
    seconds = 0.0  # time spent inside this generator; a live page pauses it between ticks
    first = None
    if evaluate is not None:  # step 0: the untrained model, so every curve starts at its chance level
        resumed = time.perf_counter()
        first = batch_fn()
        with torch.no_grad():
            loss0 = float(loss_fn(model(first[0]), first[1]))
            metrics = {k: float(v) for k, v in evaluate(model).items()}
        seconds += time.perf_counter() - resumed
        yield StepEvent(0, loss0, math.nan, seconds, metrics=metrics)
    for step in range(1, config.steps + 1):
        resumed = time.perf_counter()
        x, y = first if step == 1 and first is not None else batch_fn()
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        loss_v, norm_v = loss.item(), grad_norm.item()
        if not (math.isfinite(loss_v) and math.isfinite(norm_v)):
            what = "loss" if not math.isfinite(loss_v) else "gradient norm"
            msg = f"diverged at step {step}: the {what} became {loss_v if what == 'loss' else norm_v}"
            seconds += time.perf_counter() - resumed
            yield StepEvent(step, loss_v, norm_v, seconds, "diverged", msg)
            return
        clipped_v = math.nan
        if config.clip is not None:
            torch.nn.utils.clip_grads_with_norm_(params, config.clip, grad_norm)
            clipped_v = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]).item()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        last = step == config.steps
        over_budget = seconds + time.perf_counter() - resumed > config.max_seconds
        metrics = {}
        if evaluate is not None and (last or over_budget or step % eval_every == 0):
            with torch.no_grad():
                metrics = {k: float(v) for k, v in evaluate(model).items()}
        seconds += time.perf_counter() - resumed
        if last:
            yield StepEvent(step, loss_v, norm_v, seconds, "done", f"finished {step} steps", metrics, clipped_v)
            return
        if over_budget:
            msg = f"stopped at budget: {config.max_seconds:g} s of compute reached at step {step}"
            yield StepEvent(step, loss_v, norm_v, seconds, "budget", msg, metrics, clipped_v)
            return
        yield StepEvent(step, loss_v, norm_v, seconds, metrics=metrics, clipped_grad_norm=clipped_v)


def split_seed(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two independent CPU generators from one seed: (model init, data)."""
    seed = check_int("seed", seed, 0, MAX_SEED)
    init = torch.Generator().manual_seed(seed)
    data = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=init)))
    return init, data
