"""A causal Transformer run segment by segment: sliding window, or segment-level recurrence (Transformer-XL).

A long sequence is cut into segments of S tokens, processed one after another.

    window       each segment alone: a token sees only the tokens of its own segment
    recurrence   layer l of segment τ also attends to a memory: the last M hidden states
                 that entered layer l during the previous segments, cached with
                 ``detach()`` (Dai et al. 2019), so no gradient flows into them

With memory the reach grows by up to M tokens per layer, at no extra backward
cost. The blocks are those of :mod:`lrd_core.models.transformer` (one
implementation): :func:`block_with_memory` runs a block's own attention, MLP and
LayerNorm weights with the memory as extra keys and values. Positions are
absolute (sinusoidal, offset by the segment's start), the same in both modes, so
a model whose memory is empty computes exactly what the window computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lrd_core.limits import MAX_MEMORY_LEN, MAX_SEGMENT_LEN, MAX_SEGMENTS
from lrd_core.models.transformer import (
    SelfAttention,
    TransformerBlock,
    TransformerConfig,
    TransformerStack,
    causal_mask,
)
from lrd_core.validate import check_choice, check_int

MODES = ("recurrence", "window")
MODE_NAMES = {"recurrence": "segment recurrence", "window": "sliding window"}


@dataclass(frozen=True)
class SegmentConfig:
    input_size: int = 10  # D_in: features per step (a one-hot symbol), embedded by a linear map
    d_model: int = 64  # D: width of the residual stream
    n_heads: int = 4  # attention heads; d_model / n_heads features each
    n_layers: int = 2  # N: Pre-LN blocks
    d_ff: int = 128  # hidden units of each MLP
    segment_len: int = 32  # S: tokens processed together
    memory_len: int = 32  # M: cached hidden states per layer (recurrence); 0 = no memory
    mode: str = "recurrence"  # "recurrence" or "window"

    def __post_init__(self):
        _ = self.transformer  # building the shared block's config checks the fields the two share
        check_int("segment_len", self.segment_len, 1, MAX_SEGMENT_LEN)
        check_int("memory_len", self.memory_len, 0, MAX_MEMORY_LEN)
        check_choice("mode", self.mode, MODES)

    @property
    def transformer(self) -> TransformerConfig:
        """The shared block's configuration: Pre-LN with a final LayerNorm."""
        return TransformerConfig(self.input_size, self.d_model, self.n_heads, self.n_layers, self.d_ff, "pre", True)

    @property
    def uses_memory(self) -> bool:
        return self.mode == "recurrence" and self.memory_len > 0


def memory_attention(
    attn: SelfAttention, x: torch.Tensor, context: torch.Tensor, allowed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``attn``'s heads with queries from x (B, T, D) and keys/values from context (B, S, D), S = M + T
    (memory first, then x). ``allowed`` (T, S) bool. Returns (output (B, T, D), weights (B, H, T, S))."""
    B, T, D = x.shape
    q, k, v = attn.heads(attn.q(x)), attn.heads(attn.k(context)), attn.heads(attn.v(context))  # (B, H, ·, d_h)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, S)
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)  # (B, H, T, S)
    mixed = weights @ v  # (B, H, T, d_h)
    return attn.o(mixed.transpose(1, 2).reshape(B, T, D)), weights


def block_with_memory(
    block: TransformerBlock, h: torch.Tensor, memory: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One block on a segment h (B, T, D) that also attends to memory (B, M, D), with the block's own weights.

    Pre-LN: h + Attn(LN(h) | LN([memory; h])), then the block's MLP sublayer;
    Post-LN/DeepNorm: LN(α·h + Attn(h | [memory; h])). Returns (B, T, D) and the weights (B, H, T, M + T).
    """
    res = block.attention
    context = torch.cat([memory, h], dim=1)  # (B, M + T, D)
    allowed = causal_mask(h.shape[1], context.shape[1], device=h.device)  # (T, M + T): all of memory is past
    if res.placement == "pre":
        context = res.norm(context)
        out, weights = memory_attention(res.sublayer, context[:, -h.shape[1] :], context, allowed)
        h = h + out
    else:
        out, weights = memory_attention(res.sublayer, h, context, allowed)
        h = res.norm(res.alpha * h + out)
    return block.mlp(h), weights


class SegmentTransformer(nn.Module):
    """A :class:`TransformerStack` applied segment by segment. (B, T, D_in) -> (B, T, D), T any length
    up to MAX_SEGMENTS segments (the last segment may be shorter)."""

    def __init__(self, config: SegmentConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        self.stack = TransformerStack(config.transformer, generator)

    def segment(
        self, x: torch.Tensor, memory: list[torch.Tensor] | None, offset: int
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """One segment x (B, S, D_in) starting at absolute position ``offset``.

        ``memory``: per layer (B, M, D) states cached from earlier segments, or None (M = 0:
        the segment alone). Returns (output (B, S, D), the input of each layer [(B, S, D)] * N,
        attention weights per layer [(B, H, S, M + S)] * N).
        """
        h = self.stack.embed_input(x, offset)  # (B, S, D)
        inputs, weights = [], []
        for layer, block in enumerate(self.stack.blocks):
            inputs.append(h)
            mem = h[:, :0] if memory is None else memory[layer]  # (B, M, D); M = 0 without memory
            h, w = block_with_memory(block, h, mem)
            weights.append(w)
        return self.stack.final_norm(h), inputs, weights

    def new_memory(
        self, memory: list[torch.Tensor] | None, inputs: list[torch.Tensor], detach: bool = True
    ) -> list[torch.Tensor] | None:
        """The cache for the next segment: per layer the last M of [memory; inputs], detached (no gradient)
        unless ``detach`` is False (for measuring the reach with autograd)."""
        if not self.config.uses_memory:
            return None
        M = self.config.memory_len
        cached = inputs if memory is None else [torch.cat([m, h], dim=1) for m, h in zip(memory, inputs, strict=True)]
        return [h[:, -M:].detach() if detach else h[:, -M:] for h in cached]

    def run(self, x: torch.Tensor, detach: bool = True) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
        """Every segment in turn: (B, T, D_in) -> (output (B, T, D), per segment the per-layer attention weights).
        ``detach=False`` keeps the gradient through the memory (training always detaches)."""
        S = self.config.segment_len
        check_int("number of segments", math.ceil(x.shape[1] / S), 1, MAX_SEGMENTS)
        memory, outputs, weights = None, [], []
        for start in range(0, x.shape[1], S):
            out, inputs, w = self.segment(x[:, start : start + S], memory, start)
            memory = self.new_memory(memory, inputs, detach)
            outputs.append(out)
            weights.append(w)
        return torch.cat(outputs, dim=1), weights  # (B, T, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]  # (B, T, D)
