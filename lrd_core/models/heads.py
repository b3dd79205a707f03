"""Read-out heads shared by every sequence encoder ((B, T, D) -> (B, T, H) modules)."""

from __future__ import annotations

import torch
from torch import nn

from lrd_core.validate import check_int


def linear_head(in_features: int, out_features: int, generator: torch.Generator) -> nn.Linear:
    """nn.Linear with weights U(-1/sqrt(in), 1/sqrt(in)) from ``generator`` and zero bias (no global-RNG draw)."""
    head = nn.utils.skip_init(nn.Linear, in_features, out_features)
    bound = 1.0 / in_features**0.5
    with torch.no_grad():
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.zero_()
    return head


class SequenceRegressor(nn.Module):
    """An encoder and a linear read-out of its last state: (B, T, D) -> (B, out)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, out_size: int, generator: torch.Generator):
        super().__init__()
        self.encoder = encoder
        self.readout = linear_head(hidden_size, out_size, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.encoder(x)[:, -1])  # (B, out)


class SequenceTagger(nn.Module):
    """An encoder and a linear classifier on every step: (B, T, D) -> logits (B, T, classes)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, n_classes: int, generator: torch.Generator):
        super().__init__()
        check_int("n_classes", n_classes, 2, 1024)
        self.encoder = encoder
        self.head = linear_head(hidden_size, n_classes, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, T, classes)
