"""Causal temporal convolutions: a dilated stack (WaveNet-style) and the residual TCN of Bai et al. (2018).

Layer l convolves with kernel k and ``dilation = 2 ** l``, so its taps sit
2^l steps apart; padding only on the left by (k - 1) * dilation keeps every
output at t a function of inputs at t and before (causality). The output at t
then sees R(k, d) = (k - 1)(2^(d+1) - 1) + 1 inputs: exponential in depth.

Contract: batch-first (B, T, D) in, (B, T, C) out; Conv1d wants channels
first, so the modules transpose once at the boundary.

Initialisation is Kaiming-normal (ReLU gain) with zero biases, drawn from an
explicit generator. PyTorch's default Conv1d init (uniform, gain 1/sqrt(3)
smaller) shrinks the signal by about that factor per layer; on a task whose
answer needs every layer (lag parity) a deep stack then starts nearly flat,
sits at chance while ReLU units die one by one, and some seeds never leave it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lrd_core import theory
from lrd_core.limits import MAX_TCN_CHANNELS, MAX_TCN_KERNEL, MAX_TCN_TOP_LAYER
from lrd_core.validate import check_choice, check_int

VARIANTS = ("dilated", "undilated", "residual")


@dataclass(frozen=True)
class TCNConfig:
    input_size: int = 1  # D: features per time step (1 bit for lag parity)
    channels: int = 32  # C: channels of every convolution
    kernel_size: int = 2  # k: taps per convolution
    top_layer: int = 5  # d: layers (residual: blocks) l = 0..d, dilation 2**l; d = 5, k = 2 sees 64 steps
    variant: str = "dilated"  # "dilated", "undilated" (dilation 1 everywhere) or "residual" (two convs per block)

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("channels", self.channels, 1, MAX_TCN_CHANNELS)
        check_int("kernel_size", self.kernel_size, 2, MAX_TCN_KERNEL)
        check_int("top_layer", self.top_layer, 0, MAX_TCN_TOP_LAYER)
        check_choice("variant", self.variant, VARIANTS)

    @property
    def receptive_field(self) -> int:
        """The closed form for this stack: how many input steps one output can see."""
        k, d = self.kernel_size, self.top_layer
        if self.variant == "dilated":
            return theory.receptive_field(k, d)
        if self.variant == "undilated":
            return theory.undilated_receptive_field(k, d)
        return theory.tcn_receptive_field(k, d + 1, convs_per_block=2)

    @property
    def dilations(self) -> list[int]:
        """Dilation of every convolution, bottom to top (residual: two per block)."""
        per_layer = [2**i if self.variant != "undilated" else 1 for i in range(self.top_layer + 1)]
        return [dil for dil in per_layer for _ in range(2 if self.variant == "residual" else 1)]


def kaiming_conv(in_ch: int, out_ch: int, kernel_size: int, dilation: int, generator: torch.Generator) -> nn.Conv1d:
    """A Conv1d with Kaiming-normal weights (ReLU gain, fan-in) and zero bias, no global-RNG draw."""
    conv = nn.utils.skip_init(nn.Conv1d, in_ch, out_ch, kernel_size, dilation=dilation)
    with torch.no_grad():
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=generator)
        conv.bias.zero_()
    return conv


class CausalConv1d(nn.Module):
    """y_t = b + sum_{j=0}^{k-1} W_j x_{t - j*dilation}, with x_s = 0 for s < 0.

    Left padding of (k - 1) * dilation zeros: nothing after t is ever read.
    (B, C_in, T) -> (B, C_out, T).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int, generator: torch.Generator):
        super().__init__()
        self.dilation = dilation
        self.pad = (kernel_size - 1) * dilation
        self.conv = kaiming_conv(in_ch, out_ch, kernel_size, dilation, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad, 0)))  # (B, C_out, T)


class ResidualBlock(nn.Module):
    """Bai et al. (2018): relu(x' + relu(conv2(relu(conv1(x))))), both convs causal with the same dilation.

    x' is x, or a 1x1 convolution of x when the channel count changes; it looks
    at step t only, so the skip path adds no reach. (B, C_in, T) -> (B, C, T).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int, generator: torch.Generator):
        super().__init__()
        self.dilation = dilation
        self.conv1 = CausalConv1d(in_ch, out_ch, kernel_size, dilation, generator)
        self.conv2 = CausalConv1d(out_ch, out_ch, kernel_size, dilation, generator)
        self.skip = kaiming_conv(in_ch, out_ch, 1, 1, generator) if in_ch != out_ch else nn.Identity()

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The inner activation and the block output, each (B, C, T)."""
        inner = torch.relu(self.conv1(x))
        return [inner, torch.relu(self.skip(x) + torch.relu(self.conv2(inner)))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.levels(x)[-1]


class TCN(nn.Module):
    """A causal convolution stack: layers (or residual blocks) l = 0..d with ``dilation = 2 ** l``.

    ``forward``: x (B, T, D) -> features (B, T, C). ``levels``: every
    intermediate activation, input first, as (B, C_l, T) graph nodes for the
    receptive-field probe, plus their names.
    """

    def __init__(self, config: TCNConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        k, C = config.kernel_size, config.channels
        layers = []
        for i in range(config.top_layer + 1):
            dilation = 2**i if config.variant != "undilated" else 1
            in_ch = config.input_size if i == 0 else C
            if config.variant == "residual":
                layers.append(ResidualBlock(in_ch, C, k, dilation, generator))
            else:
                layers.append(CausalConv1d(in_ch, C, k, dilation, generator))
        self.layers = nn.ModuleList(layers)

    def levels(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[str]]:
        """x (B, T, D) -> ([input (B, D, T), then each layer's activation (B, C, T)], names)."""
        h = x.transpose(1, 2)  # (B, D, T): Conv1d is channels-first
        out, names = [h], ["input"]
        for i, layer in enumerate(self.layers):
            dil = layer.dilation
            if isinstance(layer, ResidualBlock):
                inner, h = layer.levels(h)
                out += [inner, h]
                names += [f"block {i} conv 1 (dilation {dil})", f"block {i} out (dilation {dil})"]
            else:
                h = torch.relu(layer(h))  # (B, C, T)
                out.append(h)
                names.append(f"layer {i} (dilation {dil})")
        return out, names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, C)."""
        h = x.transpose(1, 2)  # (B, D, T)
        for layer in self.layers:
            h = layer(h) if isinstance(layer, ResidualBlock) else torch.relu(layer(h))  # (B, C, T)
        return h.transpose(1, 2)  # (B, T, C)
