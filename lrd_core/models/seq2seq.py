"""A GRU encoder-decoder, without attention (Cho et al. 2014) and with it (Bahdanau et al. 2015).

The encoder is the hand-written :class:`lrd_core.models.recurrent.GRU`, so
every encoder state h_t is a node of the autograd graph that a probe can
differentiate. Bidirectional (the default) means a forward GRU plus a GRU over
the reversed sequence, H/2 units each, concatenated: h_t = [h→_t ; h←_t].

Decoder step s (state d, context c, previous output y_{s-1}), d_0 = tanh(W_0 h_final), c_0 = 0::

    d_s = GRU([emb(y_{s-1}) ; c_{s-1}], d_{s-1})
    without attention:  c_s = 0           the encoder reaches the decoder only through d_0
    with attention:     e_{s,t} = v · tanh(W_q d_s + W_k h_t)        (additive, Bahdanau et al. 2015)
                            or  (W_q d_s) · h_t / sqrt(H)            (dot product)
                        α_{s,t} = softmax_t(e_{s,t}),   c_s = Σ_t α_{s,t} h_t
    logits_s = W_o [d_s ; c_s]

The step order (attend with the new state d_s, feed c_s to the next step) is
Luong et al.'s (2015); with Bahdanau's order (attend with d_{s-1}) the same
model learned length-20 reversal about half as fast in a trial here.

Both variants have exactly the same weights apart from the attention's own
(drawn last), so models built from the same generator state share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from lrd_core.limits import MAX_HIDDEN, MAX_SEQ2SEQ_SYMBOLS
from lrd_core.models.heads import linear_head
from lrd_core.models.recurrent import GRU, GRUConfig
from lrd_core.validate import check_choice, check_int

ATTENTIONS = ("none", "additive", "dot")


@dataclass(frozen=True)
class Seq2SeqConfig:
    n_symbols: int = 8  # V: source and target symbols 0..V-1; the decoder's start token is V
    embed_size: int = 32  # E: symbol embedding size (encoder and decoder each have their own table)
    hidden_size: int = 64  # H: encoder state size (both directions together) and decoder state size
    attention: str = "additive"  # "none", "additive" (Bahdanau) or "dot" (scaled dot product)
    bidirectional: bool = True  # encoder: forward GRU + GRU over the reversed sequence, H/2 units each

    def __post_init__(self):
        check_int("n_symbols", self.n_symbols, 2, MAX_SEQ2SEQ_SYMBOLS)
        check_int("embed_size", self.embed_size, 1, MAX_HIDDEN)
        check_int("hidden_size", self.hidden_size, 2, MAX_HIDDEN)
        check_choice("attention", self.attention, ATTENTIONS)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be True or False, got {self.bidirectional!r}")
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(
                f"hidden_size must be even for a bidirectional encoder (H/2 per direction), got {self.hidden_size}"
            )


def embedding(n: int, dim: int, generator: torch.Generator) -> nn.Embedding:
    """nn.Embedding with N(0, 1) rows drawn from ``generator`` (no global-RNG draw)."""
    emb = nn.utils.skip_init(nn.Embedding, n, dim)
    with torch.no_grad():
        emb.weight.normal_(generator=generator)
    return emb


@dataclass
class Encoded:
    """What the encoder hands on; every list holds T graph nodes (B, ·) in source order."""

    forward_states: list[torch.Tensor]  # h→_t (B, H_dir): the forward GRU's states
    backward_states: list[torch.Tensor]  # h←_t (B, H_dir): the reversed GRU's states (empty if one direction)
    rows: list[torch.Tensor]  # h_t (B, H): the attention's own handle on each state (its gradient = attention path)
    memory: torch.Tensor  # (B, T, H): the rows stacked, what attention reads
    final: torch.Tensor  # (B, H): [h→_T ; h←_1], the only encoder output the decoder's initial state reads


class Attention(nn.Module):
    """Scores e_{s,t} of one decoder state against every encoder state, α = softmax_t(e), c = Σ_t α_t h_t."""

    def __init__(self, kind: str, query_size: int, key_size: int, generator: torch.Generator):
        super().__init__()
        self.kind = check_choice("attention", kind, ("additive", "dot"))
        if kind == "additive":
            self.W_k = linear_head(key_size, key_size, generator)  # applied once to all h_t
            self.W_q = linear_head(query_size, key_size, generator)
            bound = 1.0 / key_size**0.5
            self.v = nn.Parameter(
                ((2 * torch.rand(key_size, generator=generator, dtype=torch.float64) - 1) * bound).float()
            )
        else:
            self.W_q = linear_head(query_size, key_size, generator)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """memory (B, T, H) -> keys (B, T, H): W_k h_t (additive) or h_t itself (dot), once per sequence."""
        return self.W_k(memory) if self.kind == "additive" else memory

    def forward(self, query, keys, memory, mask=None):
        """query d (B, Hd), keys and memory (B, T, H), mask (B, T) bool (True = real position)
        -> context c (B, H), weights α (B, T) (non-negative, summing to 1 over the unmasked t)."""
        q = self.W_q(query)  # (B, H)
        if self.kind == "additive":
            e = torch.tanh(keys + q.unsqueeze(1)) @ self.v  # (B, T)
        else:
            e = (keys * q.unsqueeze(1)).sum(dim=-1) / keys.shape[-1] ** 0.5  # (B, T); faster than a tiny bmm
        if mask is not None:
            e = e.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=-1)  # (B, T)
        context = (alpha.unsqueeze(-1) * memory).sum(dim=1)  # (B, T, 1) * (B, T, H) summed over t -> (B, H)
        return context, alpha


class Seq2Seq(nn.Module):
    """Symbols (B, T) -> logits (B, S, V) over the S output symbols; see the module docstring.

    ``forward((src, tgt))`` teacher-forces: the decoder reads the start token,
    then tgt[:, :-1]. ``greedy(src, steps)`` feeds back its own argmax.
    """

    def __init__(self, config: Seq2SeqConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        V, E, H = config.n_symbols, config.embed_size, config.hidden_size
        H_dir = H // 2 if config.bidirectional else H
        self.src_embed = embedding(V, E, generator)
        self.enc_fwd = GRU(GRUConfig(E, H_dir), generator)
        self.enc_bwd = GRU(GRUConfig(E, H_dir), generator) if config.bidirectional else None
        self.tgt_embed = embedding(V + 1, E, generator)  # row V: the start token
        self.init = linear_head(H, H, generator)  # d_0 = tanh(W_0 h_final)
        self.dec = GRU(GRUConfig(E + H, H), generator)  # stepped one symbol at a time
        self.out = linear_head(2 * H, V, generator)  # logits from [d_s ; c_s]
        # drawn last: models with and without attention share every weight above
        self.attn = Attention(config.attention, H, H, generator) if config.attention != "none" else None
        # torch's fused GRU as a template that runs the encoder with the weights above (training only; not a
        # registered submodule, so it adds no parameters): see encode_fused
        with torch.random.fork_rng(devices=[]):  # its own init draws from the global RNG: leave it as it was
            template = nn.GRU(E, H_dir, batch_first=True, bidirectional=config.bidirectional)
        self.__dict__["_fused_encoder"] = template

    @property
    def start_token(self) -> int:
        return self.config.n_symbols

    def encode(self, src: torch.Tensor) -> Encoded:
        """src (B, T) int64 -> :class:`Encoded` (every state a separate node, for probes)."""
        x = self.src_embed(src)  # (B, T, E)
        fwd, _ = self.enc_fwd.unroll(x)  # T x (B, H_dir)
        if self.enc_bwd is None:
            rows = [h.view_as(h) for h in fwd]  # distinct nodes: only attention reads them
            return Encoded(fwd, [], rows, torch.stack(rows, dim=1), fwd[-1])
        rev, _ = self.enc_bwd.unroll(x.flip(1))  # step k reads x_{T-1-k}
        bwd = rev[::-1]  # source order: bwd[t] has read x_t .. x_{T-1}
        rows = [torch.cat([f, b], dim=-1) for f, b in zip(fwd, bwd, strict=True)]  # (B, H) each
        return Encoded(fwd, bwd, rows, torch.stack(rows, dim=1), torch.cat([fwd[-1], rev[-1]], dim=-1))

    def encode_fused(self, src: torch.Tensor) -> Encoded:
        """The same encoder in one call of torch's fused (bidirectional) GRU, about 2x faster to train;
        ``memory`` and ``final`` equal :meth:`encode`'s, but no per-state nodes are kept (lists empty)."""
        cells = {"": self.enc_fwd, "_reverse": self.enc_bwd}
        weights = {
            f"{name}_l0{suffix}": getattr(cell, attr)
            for suffix, cell in cells.items()
            if cell is not None
            for name, attr in (("weight_ih", "W_ih"), ("weight_hh", "W_hh"), ("bias_ih", "b_ih"), ("bias_hh", "b_hh"))
        }
        memory, h_n = functional_call(
            self._fused_encoder, weights, (self.src_embed(src),)
        )  # (B, T, H), (dirs, B, H_dir)
        final = torch.cat(list(h_n), dim=-1)  # [h→_T ; h←_1] (B, H)
        return Encoded([], [], [], memory, final)

    def decode(self, enc: Encoded, steps: int, tgt: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        """Run the decoder for ``steps`` symbols -> (logits (B, S, V), α (B, S, T) or None).

        With ``tgt`` (B, S) the decoder reads the true previous symbol (teacher
        forcing); without it, its own argmax (greedy). ``mask`` (B, T) bool
        hides padded source positions from attention.
        """
        B, _T, H = enc.memory.shape
        d = torch.tanh(self.init(enc.final))  # (B, H)
        keys = self.attn.keys(enc.memory) if self.attn is not None else None  # (B, T, H)
        y_prev = torch.full((B,), self.start_token, dtype=torch.long, device=d.device)
        c = enc.memory.new_zeros(B, H)  # c_0; without attention it stays 0: the encoder speaks only through d_0
        logits, alphas = [], []
        for s in range(steps):
            inp = torch.cat([self.tgt_embed(y_prev), c], dim=-1)  # (B, E + H)
            d = torch.gru_cell(inp, d, self.dec.W_ih, self.dec.W_hh, self.dec.b_ih, self.dec.b_hh)  # (B, H), as GRU
            if self.attn is not None:
                c, alpha = self.attn(d, keys, enc.memory, mask)  # (B, H), (B, T)
                alphas.append(alpha)
            out = self.out(torch.cat([d, c], dim=-1))  # (B, V)
            logits.append(out)
            y_prev = tgt[:, s] if tgt is not None else out.argmax(dim=-1)
        alpha = torch.stack(alphas, dim=1) if alphas else None  # (B, S, T)
        return torch.stack(logits, dim=1), alpha  # (B, S, V)

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """(src (B, T), tgt (B, S)) -> teacher-forced logits (B, S, V) (the fused encoder: training reads no
        encoder state)."""
        src, tgt = pair
        return self.decode(self.encode_fused(src), tgt.shape[1], tgt)[0]

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, steps: int | None = None, mask: torch.Tensor | None = None):
        """Free-running decoding: src (B, T) -> (symbols (B, S), α (B, S, T) or None); S defaults to T."""
        steps = src.shape[1] if steps is None else steps
        logits, alpha = self.decode(self.encode_fused(src), steps, mask=mask)
        return logits.argmax(dim=-1), alpha


def seq2seq_loss(logits: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per output symbol: logits (B, S, V), tgt (B, S)."""
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten())  # (B*S, V) vs (B*S,)
