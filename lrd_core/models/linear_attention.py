"""Linear attention is an RNN (Katharopoulos et al. 2020), and the delta rule that lets its memory overwrite.

Causal softmax attention keeps every key and value: o_t = Σ_{s≤t} softmax_s(q_t·k_s) v_s. Drop the softmax
(no feature map) and the sum regroups around one matrix, per batch row and head::

    o_t = Σ_{s≤t} (q_t·k_s) v_s = S_tᵀ q_t,      S_t = S_{t−1} + k_t v_tᵀ         (S_0 = 0, S is dk × dv)

The left form is a masked L × L product ("parallel", O(L²) time, as a Transformer trains); the right one is
an RNN whose state S has a fixed size ("recurrent", O(L) time, O(1) state, as it generates). A "chunked"
form does both: the parallel form inside chunks of C steps, the recurrence between them.

The additive state only ever adds: a key written twice returns the sum of both values, and keys that are not
orthogonal leak into each other's read-out. The delta rule (Widrow & Hoff 1960; as fast weights, Schlag,
Irie & Schmidhuber 2021; DeltaNet, Yang et al. 2024) first reads what S holds for k_t and writes only the
difference, with a step β_t::

    S_t = S_{t−1} + β_t k_t (v_t − S_{t−1}ᵀ k_t)ᵀ,      o_t = S_tᵀ q_t

With a unit key and β = 1 the new S returns v_t for k_t exactly: an overwrite. Its chunked form solves for
the chunk's corrections u_i = β_i (v_i − S_{i−1}ᵀ k_i) with one unit lower-triangular system (the WY form,
Yang et al. 2024), since S_{i−1} = S_0 + Σ_{j<i} k_j u_jᵀ.

Layout: q, k (B, H, L, dk), v (B, H, L, dv), β (B, H, L), state (B, H, dk, dv); the model at the bottom keeps
the project's contract (B, T, D) in and out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from lrd_core.models.heads import linear_head
from lrd_core.models.transformer import MLP, Residual
from lrd_core.validate import check_choice, check_int

LinearMethod = Literal["parallel", "recurrent", "chunked"]
DeltaMethod = Literal["recurrent", "chunked"]
LINEAR_METHODS: tuple[LinearMethod, ...] = ("parallel", "recurrent", "chunked")
DELTA_METHODS: tuple[DeltaMethod, ...] = ("recurrent", "chunked")
RULES = ("linear", "delta")  # the additive update and the delta rule
MAX_STATE_BYTES = 512 * 2**20  # default cap on one call's estimated forward + backward peak (state_peak_bytes)
MAX_CHUNK = 1024  # C: steps per chunk of the chunked forms


def state_peak_bytes(
    batch: int,
    heads: int,
    length: int,
    dk: int,
    dv: int,
    method: str,
    *,
    rule: str = "linear",
    chunk_size: int = 64,
    element_size: int = 4,
    backward: bool = True,
) -> int:
    """Estimated peak bytes one call adds (forward, and what autograd keeps for backward), from sizes alone.

    "parallel" builds the (B, H, L, L) score matrix and its masked copy (2 units of B·H·L²); "recurrent" keeps
    one state and one rank-1 update per step (2 units of B·H·L·dk·dv for the additive rule, 3 for the delta
    rule, which also keeps S_{t−1}ᵀk_t); "chunked" keeps the state at every chunk boundary and two C × C
    matrices per chunk. The (B, H, L, dk + dv) inputs and outputs add 4 more of their size. The bytes autograd
    keeps, measured with :func:`lrd_core.gradients.saved_bytes`, stay below this (tests/test_linear_attention.py).
    Without ``backward`` (no gradient recorded) nothing per step is kept: the recurrent and chunked forms hold a
    few states and one chunk's C × C matrices at a time, the parallel form still its two L × L matrices.
    """
    rows = batch * heads
    io = 4 * rows * length * (dk + dv)
    c = min(chunk_size, length)
    if method == "parallel":
        core = 2 * rows * length * length
    elif not backward:
        core = rows * (3 * dk * dv + (3 * c * c if method == "chunked" else 0))
    elif method == "recurrent":
        core = (3 if rule == "delta" else 2) * rows * length * dk * dv
    else:
        chunks = -(-length // c)
        core = chunks * rows * (2 * dk * dv + 3 * c * c) + 2 * rows * length * (dk + dv)
    return (core + io) * element_size


def _check_tensor(name: str, t, ndim: int, what: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor {what}, got {type(t).__name__}")
    if t.dim() != ndim:
        raise ValueError(f"{name} must be a {ndim}-d tensor {what}, got shape {tuple(t.shape)}")
    if t.is_complex() or not t.is_floating_point():
        raise ValueError(f"{name} must be a real floating-point tensor, got dtype {t.dtype}")
    return t


def _check_qkv(q, k, v, beta=None, initial_state=None) -> tuple[int, int, int, int, int]:
    """(B, H, L, dk, dv) after checking every shape, dtype and device against q's; ValueError naming the argument."""
    _check_tensor("q", q, 4, "(B, H, L, dk)")
    b, h, length, dk = q.shape
    if length < 1 or dk < 1:
        raise ValueError(f"q must have L >= 1 and dk >= 1, got shape {tuple(q.shape)}")
    _check_tensor("k", k, 4, "(B, H, L, dk)")
    if k.shape != q.shape:
        raise ValueError(f"k must have q's shape {tuple(q.shape)}, got {tuple(k.shape)}")
    _check_tensor("v", v, 4, "(B, H, L, dv)")
    if v.shape[:3] != q.shape[:3] or v.shape[3] < 1:
        raise ValueError(f"v must have shape ({b}, {h}, {length}, dv >= 1), got {tuple(v.shape)}")
    dv = v.shape[3]
    named = [("k", k), ("v", v)]
    if beta is not None:
        _check_tensor("beta", beta, 3, "(B, H, L)")
        if beta.shape != q.shape[:3]:
            raise ValueError(f"beta must have shape {(b, h, length)}, got {tuple(beta.shape)}")
        named.append(("beta", beta))
    if initial_state is not None:
        _check_tensor("initial_state", initial_state, 4, "(B, H, dk, dv)")
        if initial_state.shape != (b, h, dk, dv):
            raise ValueError(f"initial_state must have shape {(b, h, dk, dv)}, got {tuple(initial_state.shape)}")
        named.append(("initial_state", initial_state))
    for name, t in named:
        if t.dtype != q.dtype:
            raise ValueError(f"{name} must have q's dtype {q.dtype}, got {t.dtype}")
        if t.device != q.device:
            raise ValueError(f"{name} must be on q's device {q.device}, got {t.device}")
    return b, h, length, dk, dv


def _check_budget(tensors, sizes, method: str, rule: str, chunk_size: int, max_bytes: int) -> None:
    backward = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    element_size = tensors[0].element_size()
    need = state_peak_bytes(
        *sizes, method, rule=rule, chunk_size=chunk_size, element_size=element_size, backward=backward
    )
    if need > max_bytes:
        what = "forward and backward" if backward else "forward"
        raise ValueError(
            f"L (with B, H, dk and dv) needs {need / 2**20:.0f} MB for the {method} form's {what}, "
            f"over max_bytes = {max_bytes / 2**20:.0f} MB"
        )


def _start(q: torch.Tensor, dv: int, initial_state: torch.Tensor | None) -> torch.Tensor:
    b, h, _, dk = q.shape
    return q.new_zeros(b, h, dk, dv) if initial_state is None else initial_state


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    method: LinearMethod,
    chunk_size: int = 64,
    initial_state: torch.Tensor | None = None,
    return_state: bool = False,
    max_bytes: int = MAX_STATE_BYTES,
):
    """Causal linear attention o_t = S_tᵀ q_t with S_t = S_{t−1} + k_t v_tᵀ: (B, H, L, dk), (B, H, L, dk),
    (B, H, L, dv) -> o (B, H, L, dv). No feature map, normalisation or scaling: q and k are used as given.

    ``method``: "parallel" (the masked L × L product tril(q kᵀ) v), "recurrent" (the state S (dk × dv) per row
    and head, one step at a time) or "chunked" (parallel inside chunks of ``chunk_size`` steps, recurrent
    between them): the same numbers to rounding. ``initial_state`` (B, H, dk, dv) replaces S_0 = 0;
    ``return_state`` returns (o, S_L). Bad shapes, dtypes or sizes raise ``ValueError`` naming the argument, as
    does a call whose :func:`state_peak_bytes` exceeds ``max_bytes``, before anything is allocated.
    """
    check_choice("method", method, LINEAR_METHODS)
    chunk_size = check_int("chunk_size", chunk_size, 1, MAX_CHUNK)
    sizes = _check_qkv(q, k, v, initial_state=initial_state)
    _check_budget((q, k, v, initial_state), sizes, method, "linear", chunk_size, max_bytes)
    if method == "parallel":
        length = q.shape[2]
        allowed = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()  # (L, L): s <= t
        scores = (q @ k.transpose(-1, -2)).masked_fill(~allowed, 0.0)  # (B, H, L, L): q_t·k_s for s <= t
        o = scores @ v  # (B, H, L, dv)
        if initial_state is not None:
            o = o + q @ initial_state
        if not return_state:
            return o
        return o, _start(q, sizes[4], initial_state) + k.transpose(-1, -2) @ v  # S_L = S_0 + Σ_t k_t v_tᵀ
    S = _start(q, sizes[4], initial_state)  # (B, H, dk, dv)
    if method == "recurrent":
        outs = []
        for q_t, k_t, v_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), strict=True):  # (B, H, dk|dv) each
            S = S + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)  # S_t = S_{t−1} + k_t v_tᵀ
            outs.append((q_t.unsqueeze(-2) @ S).squeeze(-2))  # o_t = S_tᵀ q_t: (B, H, dv)
        o = torch.stack(outs, dim=2)  # (B, H, L, dv)
    else:
        outs = []
        for q_c, k_c, v_c in zip(*(t.split(chunk_size, dim=2) for t in (q, k, v)), strict=True):  # (B, H, C, ·)
            inside = (q_c @ k_c.transpose(-1, -2)).tril()  # (B, H, C, C): within the chunk, s <= t
            outs.append(q_c @ S + inside @ v_c)  # what earlier chunks left in S, plus this chunk's pairs
            S = S + k_c.transpose(-1, -2) @ v_c  # (B, H, dk, dv)
        o = torch.cat(outs, dim=2)  # (B, H, L, dv)
    return (o, S) if return_state else o


def delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    method: DeltaMethod,
    chunk_size: int = 64,
    initial_state: torch.Tensor | None = None,
    return_state: bool = False,
    max_bytes: int = MAX_STATE_BYTES,
):
    """The delta rule S_t = S_{t−1} + β_t k_t (v_t − S_{t−1}ᵀ k_t)ᵀ, o_t = S_tᵀ q_t: q, k (B, H, L, dk),
    v (B, H, L, dv), beta (B, H, L) -> o (B, H, L, dv). No feature map, normalisation or scaling: with unit
    keys and β = 1 a write replaces what the state returned for that key.

    ``method``: "recurrent" (one step at a time) or "chunked" (chunks of ``chunk_size`` steps, each solving
    one unit lower-triangular system for its corrections, the WY form of Yang et al. 2024): the same numbers
    to rounding. ``initial_state`` (B, H, dk, dv) replaces S_0 = 0; ``return_state`` returns (o, S_L). Bad
    shapes, dtypes or sizes raise ``ValueError`` naming the argument, as does a call whose
    :func:`state_peak_bytes` exceeds ``max_bytes``, before anything is allocated.
    """
    check_choice("method", method, DELTA_METHODS)
    chunk_size = check_int("chunk_size", chunk_size, 1, MAX_CHUNK)
    sizes = _check_qkv(q, k, v, beta, initial_state)
    _check_budget((q, k, v, beta, initial_state), sizes, method, "delta", chunk_size, max_bytes)
    S = _start(q, sizes[4], initial_state)  # (B, H, dk, dv)
    outs = []
    if method == "recurrent":
        for q_t, k_t, v_t, b_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), beta.unbind(2), strict=True):
            read = (k_t.unsqueeze(-2) @ S).squeeze(-2)  # S_{t−1}ᵀ k_t: (B, H, dv)
            u = b_t.unsqueeze(-1) * (v_t - read)  # the correction β_t (v_t − S_{t−1}ᵀ k_t): (B, H, dv)
            S = S + k_t.unsqueeze(-1) * u.unsqueeze(-2)  # (B, H, dk, dv)
            outs.append((q_t.unsqueeze(-2) @ S).squeeze(-2))  # o_t = S_tᵀ q_t: (B, H, dv)
        o = torch.stack(outs, dim=2)
    else:
        for q_c, k_c, v_c, b_c in zip(*(t.split(chunk_size, dim=2) for t in (q, k, v, beta)), strict=True):
            b_c = b_c.unsqueeze(-1)  # (B, H, C, 1)
            kk = (b_c * k_c) @ k_c.transpose(-1, -2)  # (B, H, C, C): β_i k_i·k_j
            rhs = b_c * (v_c - k_c @ S)  # β_i (v_i − S_0ᵀ k_i): (B, H, C, dv)
            # u_i + Σ_{j<i} β_i (k_i·k_j) u_j = rhs_i: unit lower-triangular (the diagonal is taken as 1)
            u = torch.linalg.solve_triangular(kk.tril(-1), rhs, upper=False, unitriangular=True)  # (B, H, C, dv)
            outs.append(q_c @ S + (q_c @ k_c.transpose(-1, -2)).tril() @ u)  # o_i = S_iᵀ q_i
            S = S + k_c.transpose(-1, -2) @ u  # (B, H, dk, dv)
        o = torch.cat(outs, dim=2)
    return (o, S) if return_state else o


# --- a trainable layer and a small model ------------------------------------------------------------------


@dataclass(frozen=True)
class LinearAttentionConfig:
    input_size: int = 10  # features per step, embedded by a linear map
    d_model: int = 64  # width of the residual stream
    n_heads: int = 4  # heads, each with its own dk × dv state
    head_dim: int = 16  # dk = dv of every head
    n_layers: int = 2  # residual blocks  h + mixer(LayerNorm(h))
    rule: str = "delta"  # "linear" (additive state) or "delta" (DeltaNet)
    chunk_size: int = 64  # C of the chunked forms used in training
    d_ff: int = 0  # hidden units of an MLP sublayer after each mixer (0: none), as in a Transformer block

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("d_model", self.d_model, 1, 256)
        check_int("n_heads", self.n_heads, 1, 16)
        check_int("head_dim", self.head_dim, 1, 128)
        check_int("n_layers", self.n_layers, 1, 6)
        check_choice("rule", self.rule, RULES)
        check_int("chunk_size", self.chunk_size, 1, MAX_CHUNK)
        check_int("d_ff", self.d_ff, 0, 1024)


class LinearAttentionLayer(nn.Module):
    """One linear-attention (or DeltaNet) mixer: (B, T, d_model) -> (B, T, d_model).

    q, k, v = linear maps to n_heads × head_dim, q and k scaled to unit length per head (so β·|k|² ≤ 1 keeps
    the delta rule stable, and q·k is a cosine); β = sigmoid(linear) per head (delta rule only); each head's
    output is LayerNorm-ed (its size grows with the number of pairs stored) and mapped back to d_model.
    """

    def __init__(self, config: LinearAttentionConfig, generator: torch.Generator):
        super().__init__()
        d, inner = config.d_model, config.n_heads * config.head_dim
        self.config = config
        self.qkv = linear_head(d, 3 * inner, generator)
        self.beta = linear_head(d, config.n_heads, generator) if config.rule == "delta" else None
        self.norm = nn.LayerNorm(config.head_dim)
        self.out = linear_head(inner, d, generator)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, T, d_model) -> (B, T, d_model)."""
        B, T, _ = h.shape
        heads, dh, c = self.config.n_heads, self.config.head_dim, self.config
        q, k, v = (t.view(B, T, heads, dh).transpose(1, 2) for t in self.qkv(h).chunk(3, dim=-1))  # (B, H, T, dh)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        if self.beta is None:
            o = linear_attention(q, k, v, method="chunked", chunk_size=c.chunk_size)
        else:
            beta = torch.sigmoid(self.beta(h)).transpose(1, 2)  # (B, H, T)
            o = delta_rule(q, k, v, beta, method="chunked", chunk_size=c.chunk_size)
        return self.out(self.norm(o).transpose(1, 2).reshape(B, T, heads * dh))  # (B, T, d_model)


class LinearAttentionModel(nn.Module):
    """Encoder input -> d_model, n_layers residual blocks h + mixer(LayerNorm(h)) (then h + MLP(LayerNorm(h))
    when ``d_ff`` > 0, the Transformer's :class:`~lrd_core.models.transformer.MLP`), a final LayerNorm:
    (B, T, input_size) -> (B, T, d_model). Add a head from ``lrd_core.models.heads`` for a task."""

    def __init__(self, config: LinearAttentionConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        d, n = config.d_model, config.n_layers
        self.encoder = linear_head(config.input_size, d, generator)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(n))
        self.layers = nn.ModuleList(LinearAttentionLayer(config, generator) for _ in range(n))
        self.mlps = nn.ModuleList(
            Residual(MLP(d, config.d_ff, generator), d, "pre") for _ in range(n if config.d_ff else 0)
        )
        self.norm_out = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, input_size) -> (B, T, d_model)."""
        h = self.encoder(x)  # (B, T, d_model)
        for i, (norm, layer) in enumerate(zip(self.norms, self.layers, strict=True)):
            h = h + layer(norm(h))
            if self.mlps:
                h = self.mlps[i](h)  # h + MLP(LayerNorm(h))
        return self.norm_out(h)
