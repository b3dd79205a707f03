"""Seeded tasks wired to :func:`lrd_core.train.train`: the training runs several pages share.

``adding_run`` (adding problem, MSE), ``copy_memory_run`` (copy memory, cross-entropy), and
``heldout_run``, the generic form: fresh seeded batches every step and a held-out batch drawn first from
the same data generator, scored every ``eval_every`` steps. Each returns the generator of
:class:`~lrd_core.train.StepEvent` that a page draws live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.nn import functional as F

from lrd_core.devices import resolve_device
from lrd_core.limits import MAX_TRAIN_SEQ_LEN
from lrd_core.tasks import IGNORE_INDEX, adding_problem, copy_memory
from lrd_core.train import StepEvent, TrainConfig, split_seed, train
from lrd_core.validate import check_int


def adding_run(
    model: torch.nn.Module, T: int, config: TrainConfig, seed: int, device: str = "cpu"
) -> Iterator[StepEvent]:
    """Train ``model`` ((B, T, 2) -> (B, 1)) on fresh adding-problem batches of length T by MSE.

    Batches are drawn on the CPU from the data generator of ``seed`` (so CPU and
    CUDA see the same data) and moved to ``device``.
    """
    T = check_int("T", T, 2, MAX_TRAIN_SEQ_LEN)
    dev = resolve_device(device)
    _, data = split_seed(seed)
    model.to(dev)

    def batch():
        x, y = adding_problem(config.batch, T, data)
        return x.to(dev), y.to(dev)

    return train(model, batch, F.mse_loss, config)


def parity_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the scored steps (y != IGNORE_INDEX); logits (B, T, 2), y (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)  # (B*T, 2) vs (B*T,)


@torch.no_grad()
def parity_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of scored steps (y != IGNORE_INDEX) where argmax of ``model(x)`` equals y; 0.5 is chance."""
    pred = model(x).argmax(dim=-1)  # (B, T)
    scored = y != IGNORE_INDEX
    return float((pred[scored] == y[scored]).double().mean())


def heldout_run(
    model: torch.nn.Module,
    draw: Callable[[int, torch.Generator], tuple],
    loss_fn,
    accuracy,
    config: TrainConfig,
    seed: int,
    device: str,
    eval_every: int,
    eval_batch: int,
) -> Iterator[StepEvent]:
    """Train ``model`` on fresh batches ``draw(batch, generator) -> (x, y)`` with ``loss_fn``, scoring
    ``accuracy(model, x, y)`` on one held-out batch of ``eval_batch`` every ``eval_every`` steps and at the
    end (``metrics["accuracy"]``). The held-out batch is drawn first from the data generator of ``seed``,
    training batches follow from the same generator, on the CPU, then move to ``device``. ``x`` may be a
    tuple of tensors (an encoder-decoder reads (src, tgt))."""
    dev = resolve_device(device)
    _, data = split_seed(seed)

    def to_device(x):
        return tuple(v.to(dev) for v in x) if isinstance(x, tuple) else x.to(dev)

    x_eval, y_eval = (to_device(v) for v in draw(eval_batch, data))
    model.to(dev)

    def batch():
        x, y = draw(config.batch, data)
        return to_device(x), to_device(y)

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        return {"accuracy": accuracy(m, x_eval, y_eval)}

    return train(model, batch, loss_fn, config, evaluate=evaluate, eval_every=eval_every)


def copy_memory_run(
    model: torch.nn.Module,
    T: int,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    *,
    n_symbols: int = 8,
    length: int = 10,
) -> Iterator[StepEvent]:
    """Train a per-step classifier on fresh copy-memory batches (T blanks between show and replay) by cross-entropy.

    The loss is the mean over all T + 2*length steps, so the memoryless baseline
    is :func:`lrd_core.theory.copy_memory_loss` with p = 1/n_symbols.
    """
    length = check_int("length", length, 1, 100)
    T = check_int("T", T, 1, MAX_TRAIN_SEQ_LEN - 2 * length)
    n_symbols = check_int("n_symbols", n_symbols, 2, 64)
    dev = resolve_device(device)
    _, data = split_seed(seed)
    model.to(dev)

    def batch():
        x, y = copy_memory(config.batch, T, data, n_symbols=n_symbols, length=length)
        return x.to(dev), y.to(dev)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.transpose(1, 2), y)  # logits (B, classes, T'), y (B, T')

    return train(model, batch, loss, config)


def probed(events: Iterator[StepEvent], probe: Callable[[], object], sink: dict, name: str) -> Iterator[StepEvent]:
    """Yield ``events``; after each evaluated step (``metrics`` non-empty) store ``probe()`` in ``sink[name]``.

    The probe runs on the thread that trains, between two optimiser steps, so a page draws a finished
    result (e.g. an attention map as a DataFrame) and never touches a model while another thread updates it;
    it also runs once per evaluation instead of once per redraw. Closing this generator closes ``events``.
    """
    try:
        for event in events:
            if event.metrics:
                sink[name] = probe()
            yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
