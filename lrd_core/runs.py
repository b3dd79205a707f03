"""Ready-made training runs: a seeded model, a seeded task and :func:`lrd_core.train.train`.

A page (or a test, or a notebook) gets a run in one call; everything random
derives from the one integer seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.nn import functional as F

from lrd_core.devices import resolve_device
from lrd_core.limits import MAX_SEED, MAX_TRAIN_SEQ_LEN
from lrd_core.models.recurrent import ElmanRNN, RNNConfig, SequenceRegressor
from lrd_core.tasks import adding_problem
from lrd_core.train import StepEvent, TrainConfig, train
from lrd_core.validate import check_int


def split_seed(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two independent CPU generators from one seed: (model init, data)."""
    seed = check_int("seed", seed, 0, MAX_SEED)
    init = torch.Generator().manual_seed(seed)
    data = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=init)))
    return init, data


def rnn_adding_model(config: RNNConfig, seed: int) -> SequenceRegressor:
    """An Elman RNN with a linear read-out of h_T, initialised from ``seed``: (B, T, 2) -> (B, 1)."""
    init, _ = split_seed(seed)
    return SequenceRegressor(ElmanRNN(config, init), config.hidden_size, 1, init)


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
