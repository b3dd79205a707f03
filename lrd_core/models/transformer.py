"""A causal Transformer block with three LayerNorm placements, and a stack of N such blocks.

Each block has two sublayers F, causal self-attention then an MLP, and each
sublayer sits inside one residual connection with one LayerNorm:

    post      x -> LN(x + F(x))          (the original Transformer)
    pre       x -> x + F(LN(x))          (GPT-2 and most models since)
    deepnorm  x -> LN(α·x + F(x))        (DeepNet, Wang et al. 2022)

Backwards, a Pre-LN sublayer has the Jacobian I + J_{F∘LN}: an identity path
straight through. Post-LN has J_LN·(I + J_F): every gradient passes through a
LayerNorm Jacobian at every sublayer. DeepNorm keeps Post-LN's shape but makes
the identity term α times heavier and starts F small (weights scaled by β).

Contract: batch-first (B, T, D_in) in, (B, T, d_model) out. Attention takes a
boolean mask ``allowed`` (T, S): query t may read key s where it is True;
``causal_mask`` builds the default and also sliding windows. Every weight is
drawn from an explicit generator (Xavier-normal, zero biases, LayerNorm 1 and 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lrd_core import theory
from lrd_core.limits import (
    MAX_TRANSFORMER_D_FF,
    MAX_TRANSFORMER_D_MODEL,
    MAX_TRANSFORMER_HEADS,
    MAX_TRANSFORMER_LAYERS,
    MAX_TRANSFORMER_SEQ_LEN,
)
from lrd_core.validate import check_choice, check_int

PLACEMENTS = ("post", "pre", "deepnorm")
PLACEMENT_NAMES = {"post": "Post-LN", "pre": "Pre-LN", "deepnorm": "DeepNorm"}


@dataclass(frozen=True)
class TransformerConfig:
    input_size: int = 10  # D_in: features per step (a one-hot symbol), embedded by a linear map
    d_model: int = 64  # D: width of the residual stream
    n_heads: int = 4  # attention heads; d_model / n_heads features each
    n_layers: int = 6  # N: blocks, each = attention sublayer + MLP sublayer
    d_ff: int = 256  # hidden units of each MLP
    placement: str = "pre"  # "post", "pre" or "deepnorm": where each LayerNorm sits
    final_norm: bool = True  # Pre-LN only: one more LayerNorm after the last block (Post/DeepNorm end on one)

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("d_model", self.d_model, 2, MAX_TRANSFORMER_D_MODEL)
        check_int("n_heads", self.n_heads, 1, MAX_TRANSFORMER_HEADS)
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads must divide d_model = {self.d_model}, got {self.n_heads}")
        check_int("n_layers", self.n_layers, 1, MAX_TRANSFORMER_LAYERS)
        check_int("d_ff", self.d_ff, 1, MAX_TRANSFORMER_D_FF)
        check_choice("placement", self.placement, PLACEMENTS)
        if type(self.final_norm) is not bool:
            raise ValueError(f"final_norm must be True or False, got {self.final_norm!r}")

    @property
    def alpha_beta(self) -> tuple[float, float]:
        """(α, β): the DeepNet constants for N layers under "deepnorm", else (1, 1)."""
        return theory.deepnorm_constants(self.n_layers) if self.placement == "deepnorm" else (1.0, 1.0)


def xavier_linear(in_features: int, out_features: int, generator: torch.Generator, gain: float = 1.0) -> nn.Linear:
    """nn.Linear with Xavier-normal weights times ``gain`` (std = gain·√(2/(in + out))) and zero bias."""
    layer = nn.utils.skip_init(nn.Linear, in_features, out_features)
    with torch.no_grad():
        nn.init.xavier_normal_(layer.weight, gain=gain, generator=generator)
        layer.bias.zero_()
    return layer


def causal_mask(T: int, S: int | None = None, window: int | None = None, device=None) -> torch.Tensor:
    """allowed (T, S) bool: the T queries are the last T of S positions; query t may read key s
    when s is not in its future and, with ``window``, fewer than ``window`` positions back."""
    S = T if S is None else S
    pos = torch.arange(S - T, S, device=device).unsqueeze(1)  # (T, 1) absolute position of each query
    key = torch.arange(S, device=device).unsqueeze(0)  # (1, S)
    allowed = key <= pos  # (T, S)
    if window is not None:
        allowed &= pos - key < window
    return allowed


def sinusoidal_positions(T: int, d_model: int, offset: int = 0, device=None, dtype=torch.float32) -> torch.Tensor:
    """Fixed positional encoding (T, d_model): sin and cos of pos / 10000^(2i/d) for positions offset..offset+T-1."""
    pos = torch.arange(offset, offset + T, device=device, dtype=torch.float64).unsqueeze(1)  # (T, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, device=device, dtype=torch.float64) / d_model)
    pe = torch.zeros(T, d_model, device=device, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * freq)  # (T, ceil(d/2))
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])  # (T, floor(d/2))
    return pe.to(dtype)


class SelfAttention(nn.Module):
    """Multi-head softmax attention: softmax(Q Kᵀ / √d_h + mask) V, heads concatenated, then W_o.

    ``beta`` scales the initial W_v and W_o (DeepNet); W_q, W_k keep gain 1. (B, T, D) -> (B, T, D).
    """

    def __init__(self, d_model: int, n_heads: int, generator: torch.Generator, beta: float = 1.0):
        super().__init__()
        self.n_heads = n_heads
        self.q = xavier_linear(d_model, d_model, generator)
        self.k = xavier_linear(d_model, d_model, generator)
        self.v = xavier_linear(d_model, d_model, generator, gain=beta)
        self.o = xavier_linear(d_model, d_model, generator, gain=beta)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        return x.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2)  # (B, H, T, d_h)

    def weights(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights (B, H, T, T); ``allowed`` (T, T) bool, causal when None."""
        T = x.shape[1]
        allowed = causal_mask(T, device=x.device) if allowed is None else allowed
        q, k = self.heads(self.q(x)), self.heads(self.k(x))  # (B, H, T, d_h)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
        return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        B, T, D = x.shape
        mixed = self.weights(x, allowed) @ self.heads(self.v(x))  # (B, H, T, d_h)
        return self.o(mixed.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class MLP(nn.Module):
    """Position-wise W_2 GELU(W_1 x); ``beta`` scales both initial weights (DeepNet). (B, T, D) -> (B, T, D)."""

    def __init__(self, d_model: int, d_ff: int, generator: torch.Generator, beta: float = 1.0):
        super().__init__()
        self.fc1 = xavier_linear(d_model, d_ff, generator, gain=beta)
        self.fc2 = xavier_linear(d_ff, d_model, generator, gain=beta)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # (B, T, D); ``allowed`` unused: each step on its own


class Residual(nn.Module):
    """One sublayer F inside its residual connection and LayerNorm.

    post: LN(x + F(x));  pre: x + F(LN(x));  deepnorm: LN(α·x + F(x)). (B, T, D) -> (B, T, D).
    """

    def __init__(self, sublayer: nn.Module, d_model: int, placement: str, alpha: float = 1.0):
        super().__init__()
        self.sublayer = sublayer
        self.placement = check_choice("placement", placement, PLACEMENTS)
        self.alpha = alpha
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        if self.placement == "pre":
            return x + self.sublayer(self.norm(x), allowed)
        return self.norm(self.alpha * x + self.sublayer(x, allowed))


class TransformerBlock(nn.Module):
    """x -> Residual(attention) -> Residual(MLP), LayerNorms placed per ``config.placement``. (B, T, D) -> (B, T, D)."""

    def __init__(self, config: TransformerConfig, generator: torch.Generator):
        super().__init__()
        alpha, beta = config.alpha_beta
        D, p = config.d_model, config.placement
        self.attention = Residual(SelfAttention(D, config.n_heads, generator, beta), D, p, alpha)
        self.mlp = Residual(MLP(D, config.d_ff, generator, beta), D, p, alpha)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(self.attention(x, allowed), allowed)


class TransformerStack(nn.Module):
    """Linear embedding + sinusoidal positions, N blocks, and (Pre-LN) a final LayerNorm.

    ``levels``: the residual stream x_0 (embedded input) .. x_N (after each block), each (B, T, D),
    as graph nodes for gradient probes. ``forward``: (B, T, D_in) -> (B, T, D).
    """

    def __init__(self, config: TransformerConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        self.embed = nn.utils.skip_init(nn.Linear, config.input_size, config.d_model)
        with torch.no_grad():  # N(0, 1) per entry, like nn.Embedding: a one-hot row picks one such vector
            self.embed.weight.normal_(0.0, 1.0, generator=generator)
            self.embed.bias.zero_()
        self.blocks = nn.ModuleList(TransformerBlock(config, generator) for _ in range(config.n_layers))
        use_final = config.placement == "pre" and config.final_norm
        self.final_norm = nn.LayerNorm(config.d_model) if use_final else nn.Identity()

    def embed_input(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x_0 = W_e x + positions: (B, T, D_in) -> (B, T, D)."""
        T = check_int("T", x.shape[1], 1, MAX_TRANSFORMER_SEQ_LEN)
        return self.embed(x) + sinusoidal_positions(T, self.config.d_model, offset, x.device, x.dtype)

    def levels(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[x_0, x_1, ..., x_N]: the residual stream before the first block and after each, each (B, T, D)."""
        h = self.embed_input(x)
        out = [h]
        for block in self.blocks:
            h = block(h, allowed)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        return self.final_norm(self.levels(x, allowed)[-1])  # (B, T, D)


def self_attention(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor) -> torch.Tensor:
    """One head of self-attention written out, so its L x L matrix is really built: x (B, L, D) -> (B, L, D).

    A = softmax(Q K^T / sqrt(D)) with Q = x W_q, K = x W_k; out = A V with V = x W_v.
    """
    q, k, v = x @ W_q, x @ W_k, x @ W_v  # (B, L, D) each
    scores = q @ k.transpose(1, 2) / x.shape[-1] ** 0.5  # (B, L, L): the quadratic part
    return torch.softmax(scores, dim=-1) @ v  # (B, L, D)
