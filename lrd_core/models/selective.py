"""Selective state spaces (Gu & Dao 2023, "Mamba"): the input-dependent recurrence and the scan that computes it.

S4D is linear and time-invariant: one fixed kernel K treats every input alike, so it can be applied as a
convolution by FFT. A *selective* SSM makes the step Δ and the maps B and C functions of the input, so the
state can keep or drop each token depending on its content. Per channel d and mode n (A diagonal, real):

    x_l = exp(Δ_l A) ⊙ x_{l−1} + Δ_l B_l u_l          (x_{−1} = 0; zero-order hold for A, Euler for B)
    y_l = ⟨x_l, C_l⟩ + D u_l,                          out = y · silu(z)  (when a gate z is given)

Now Ā_l = exp(Δ_l A) changes with l, no single kernel exists and the model must be computed as a scan.
The recurrence is an associative fold over the pairs (Ā_l, B̄_l u_l) with

    (a₁, b₁) ∘ (a₂, b₂) = (a₁ a₂, a₂ b₁ + b₂)

so it can run sequentially (L steps) or as a parallel prefix scan (log₂ L rounds, Hillis & Steele 1986).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from lrd_core.models.heads import linear_head
from lrd_core.validate import check_choice, check_float, check_int

SCAN_METHODS = ("sequential", "parallel")
MAX_SCAN_BYTES = 512 * 2**20  # default cap on one scan's estimated forward + backward peak (scan_peak_bytes)


def _check(name: str, t: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    if t is None:
        return
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_complex() or not t.is_floating_point():
        raise ValueError(f"{name} must be a real floating-point tensor, got dtype {t.dtype}")
    if t.dtype != dtype:
        raise ValueError(f"{name} must have u's dtype {dtype}, got {t.dtype}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")


def _check_all(u, delta, A, B, C, D, z, delta_bias) -> tuple[int, int, int, int]:
    if not isinstance(u, torch.Tensor) or u.dim() != 3:
        raise ValueError(f"u must be a (batch, D, L) tensor, got {getattr(u, 'shape', type(u).__name__)}")
    if not u.is_floating_point() or u.is_complex():
        raise ValueError(f"u must be a real floating-point tensor, got dtype {u.dtype}")
    b, d, length = u.shape
    if not isinstance(A, torch.Tensor) or A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must be a ({d}, N) tensor, got {getattr(A, 'shape', type(A).__name__)}")
    n = A.shape[1]
    for name, t, shape in (
        ("delta", delta, (b, d, length)),
        ("A", A, (d, n)),
        ("B", B, (b, n, length)),
        ("C", C, (b, n, length)),
        ("D", D, (d,)),
        ("z", z, (b, d, length)),
        ("delta_bias", delta_bias, (d,)),
    ):
        if name in ("delta", "B", "C") and t is None:
            raise ValueError(f"{name} is required")
        _check(name, t, shape, u.dtype)
    return b, d, length, n


def scan_peak_bytes(
    batch: int, channels: int, length: int, state_size: int, method: str = "sequential", element_size: int = 4
) -> int:
    """Estimated peak bytes one :func:`selective_scan` forward + backward adds, from its sizes alone.

    A (batch, D, L, N) tensor is the unit: the sequential scan holds Ā and the states for backward, then the
    adjoint states, ∂/∂(ΔA) and one product at a time (6 units); the parallel scan keeps about 3 units per
    round for autograd, ⌈log₂ L⌉ rounds, plus the same 6. The (batch, D, L) tensors around it add 10 more of
    their size. Measured peaks (tests/test_probe_memory.py: the resident high-water mark of a fresh process)
    are 0.86-0.96 of this estimate."""
    unit = batch * channels * length * state_size * element_size
    per_unit = 6 if method == "sequential" else 3 * (length - 1).bit_length() + 6
    return per_unit * unit + 10 * batch * channels * length * element_size


def _recurrence_(x: torch.Tensor, a: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """In place along the first dimension (L, ...): x_l <- x_l + a_l x_{l−1} (the states, from x = the inputs),
    or with ``reverse`` x_l <- x_l + a_{l+1} x_{l+1} from the end (the adjoint recurrence of the backward pass).
    Returns x. The slices are taken once with unbind: no indexing inside the loop."""
    a_s, x_s, n = a.unbind(0), x.unbind(0), x.shape[0]
    if reverse:
        for t in range(n - 2, -1, -1):
            x_s[t].addcmul_(a_s[t + 1], x_s[t + 1])
    else:
        for t in range(1, n):
            x_s[t].addcmul_(a_s[t], x_s[t - 1])
    return x


class _SequentialScan(torch.autograd.Function):
    """The whole sequential selective scan as one autograd node, in the layout (L, batch, N, D): steps
    outermost, channels innermost and contiguous (N innermost made the scan 1.4x slower, measured).

    Inputs: Δ and u (L, batch, 1, D), Aᵀ (N, D), B and C (L, batch, N, 1). Output y (L, batch, 1, D) with
    x_l = exp(Δ_l A) ⊙ x_{l−1} + Δ_l u_l B_l and y_l = ⟨x_l, C_l⟩. The (L, batch, N, D) tensors are the
    step's cost (memory-bound on a CPU), so the backward pass is written out to touch each as few times as
    possible: with g_l = ∂loss/∂x_l, which obeys the same recurrence run backwards (g_l = C_l ȳ_l +
    exp(Δ_{l+1} A) g_{l+1}): ∂/∂C_l = Σ_D x_l ȳ_l, ∂/∂B_l = Σ_D g_l Δ_l u_l, ∂/∂(Δ_l u_l) = Σ_N g_l B_l, and
    through Ā_l = exp(Δ_l A) with ∂/∂Ā_l = g_l x_{l−1}: ∂/∂Δ_l += Σ_N Ā_l g_l x_{l−1} A, ∂/∂A = Σ_{l, batch}
    Ā_l g_l x_{l−1} Δ_l. Both directions are linear in L."""

    @staticmethod
    def forward(ctx, delta, u, At, B, C):
        du = delta * u  # (L, batch, 1, D)
        dA = torch.mul(delta, At).exp_()  # (L, batch, N, D): Ā_l
        x = _recurrence_(torch.mul(B, du), dA)  # (L, batch, N, D): from Δ_l B_l u_l to the states
        ctx.save_for_backward(delta, u, At, B, C, dA, x)
        return (x * C).sum(2, keepdim=True)  # (L, batch, 1, D)

    @staticmethod
    @once_differentiable  # the backward writes in place; a second derivative raises instead of being wrong
    def backward(ctx, gy):
        delta, u, At, B, C, dA, x = ctx.saved_tensors
        g = _recurrence_(C * gy, dA, reverse=True)  # (L, batch, N, D): ∂loss/∂x_l, = ∂loss/∂(Δ_l B_l u_l)
        grad_C = (x * gy).sum(-1, keepdim=True)
        grad_B = (g * (delta * u)).sum(-1, keepdim=True)
        grad_du = (g * B).sum(2, keepdim=True)  # (L, batch, 1, D)
        gz = torch.empty_like(x)  # ∂loss/∂(Δ_l A) = Ā_l g_l x_{l−1}; x_{−1} = 0, so 0 at l = 0
        gz[0].zero_()
        torch.mul(g[1:], x[:-1], out=gz[1:])
        gz.mul_(dA)
        grad_delta = (gz * At).sum(2, keepdim=True) + grad_du * u
        grad_At = (gz * delta).sum((0, 1))
        return grad_delta, grad_du * delta, grad_At, grad_B, grad_C


def _scan_parallel(dA: torch.Tensor, dBu: torch.Tensor) -> torch.Tensor:
    """The same states by an inclusive Hillis-Steele prefix scan over L: ⌈log₂ L⌉ rounds, each combining
    element l with element l − s (s = 1, 2, 4, ...) by (a, b) <- (a·a_{l−s}, a·b_{l−s} + b)."""
    a, b = dA, dBu  # (batch, D, L, N)
    length, s = a.shape[2], 1
    while s < length:
        a_prev = F.pad(a[:, :, :-s], (0, 0, s, 0), value=1.0)  # identity element before the start
        b_prev = F.pad(b[:, :, :-s], (0, 0, s, 0), value=0.0)
        a, b = a * a_prev, a * b_prev + b
        s *= 2
    return b


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    method: str = "sequential",
    max_bytes: int = MAX_SCAN_BYTES,
) -> torch.Tensor:
    """Mamba's selective scan, in its reference implementation's argument convention.

    u, delta, z: (batch, D, L); A: (D, N), real; B, C: (batch, N, L); D, delta_bias: (D,).
    delta <- softplus(delta + delta_bias) (the bias if given, softplus if ``delta_softplus``);
    x_l = exp(Δ_l A) ⊙ x_{l−1} + Δ_l B_l u_l, y_l = ⟨x_l, C_l⟩ + D u_l; out = y · silu(z) if z is given.
    ``method``: "sequential" (L steps) or "parallel" (log-depth prefix scan); same numbers to rounding.
    Returns (batch, D, L). Bad shapes, dtypes or sizes raise ``ValueError`` naming the argument; so does a
    scan whose :func:`scan_peak_bytes` exceeds ``max_bytes``, before anything is allocated.
    """
    check_choice("method", method, SCAN_METHODS)
    need = scan_peak_bytes(*_check_all(u, delta, A, B, C, D, z, delta_bias), method, u.element_size())
    if need > max_bytes:
        raise ValueError(
            f"L (with batch, D and N) needs {need / 2**20:.0f} MB for a {method} scan's forward and backward, "
            f"over max_bytes = {max_bytes / 2**20:.0f} MB"
        )
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    if method == "sequential":
        delta_l, u_l = (t.permute(2, 0, 1).unsqueeze(2).contiguous() for t in (delta, u))  # (L, batch, 1, D)
        B_l, C_l = (t.permute(2, 0, 1).unsqueeze(-1).contiguous() for t in (B, C))  # (L, batch, N, 1)
        y = _SequentialScan.apply(delta_l, u_l, A.t().contiguous(), B_l, C_l).squeeze(2).permute(1, 2, 0)
    else:
        dA = torch.exp(delta.unsqueeze(-1) * A[:, None, :])  # (batch, D, L, N): Ā_l = exp(Δ_l A)
        dBu = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (batch, D, L, N): Δ_l B_l u_l
        states = _scan_parallel(dA, dBu)
        y = (states * C.transpose(1, 2).unsqueeze(1)).sum(-1)  # (batch, D, L): ⟨x_l, C_l⟩
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return y


# --- the S6 block (Mamba's selective SSM layer) and a small model --------------------------------

MAX_S6_WIDTH = 256  # d_model and inner: channels of an S6 model
MAX_S6_STATE = 64  # N: real modes per channel
MAX_S6_LAYERS = 6  # S6 blocks in a model


@dataclass(frozen=True)
class S6Config:
    input_size: int = 10  # features per step (one-hot of 8 symbols + noise + marker for selective copying)
    d_model: int = 16  # width of the residual stream
    inner: int = 32  # D: channels of the scan (Mamba's expand · d_model)
    state_size: int = 8  # N: real modes per channel, A initialised as −(1..N) (S4D-Real)
    conv_width: int = 4  # taps of the short causal depthwise convolution before the scan
    dt_rank: int = 1  # Δ = softplus(W_up W_down x + bias): a low-rank map from x to one Δ per channel
    n_layers: int = 2  # residual blocks  h + S6(LayerNorm(h))
    dt_min: float = 1e-3  # Δ starts log-uniform in [dt_min, dt_max] (through the bias of the Δ map)
    dt_max: float = 1e-1
    method: str = "sequential"  # the scan: "sequential" or "parallel" (same numbers)

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("d_model", self.d_model, 1, MAX_S6_WIDTH)
        check_int("inner", self.inner, 1, MAX_S6_WIDTH)
        check_int("state_size", self.state_size, 1, MAX_S6_STATE)
        check_int("conv_width", self.conv_width, 1, 16)
        check_int("dt_rank", self.dt_rank, 1, self.inner)
        check_int("n_layers", self.n_layers, 1, MAX_S6_LAYERS)
        check_float("dt_min", self.dt_min, 1e-5, 10.0)
        check_float("dt_max", self.dt_max, self.dt_min, 10.0)
        check_choice("method", self.method, SCAN_METHODS)


class S6(nn.Module):
    """One Mamba block (Gu & Dao 2023, Fig. 3): (B, T, d_model) -> (B, T, d_model).

    in_proj to x and gate z (inner each); x <- SiLU(causal depthwise conv(x)); from x per step:
    Δ = softplus(dt_proj(x_proj_Δ(x)) + bias) (inner), B and C (N each); y = selective_scan(x, Δ, A, B, C, D, z);
    out_proj back to d_model. A = −exp(A_log), A_log initialised to log(1..N) in every channel (S4D-Real).
    """

    def __init__(self, config: S6Config, generator: torch.Generator):
        super().__init__()
        d, e, n, r = config.d_model, config.inner, config.state_size, config.dt_rank
        self.config = config
        self.in_proj = linear_head(d, 2 * e, generator)  # -> (x, z)
        self.conv = nn.Conv1d(e, e, config.conv_width, groups=e, padding=config.conv_width - 1)  # causal after trim
        bound = 1.0 / config.conv_width**0.5
        with torch.no_grad():
            self.conv.weight.uniform_(-bound, bound, generator=generator)
            self.conv.bias.zero_()
        self.x_proj = linear_head(e, r + 2 * n, generator)  # -> (Δ low rank, B, C)
        self.dt_proj = linear_head(r, e, generator)
        u = torch.rand(e, generator=generator, dtype=torch.float64)
        dt = torch.exp(math.log(config.dt_min) + u * (math.log(config.dt_max) - math.log(config.dt_min)))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt): Δ starts at dt
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(e, 1))  # (e, N)
        self.D = nn.Parameter(torch.ones(e))  # (e,) skip
        self.out_proj = linear_head(e, d, generator)

    @property
    def A(self) -> torch.Tensor:
        """(inner, N), real and negative: A = −exp(A_log)."""
        return -torch.exp(self.A_log)

    def delta_B_C(self, h: torch.Tensor):
        """h (B, T, d_model) -> (x, z, Δ before softplus and bias, B, C): x, z, Δ (B, inner, T); B, C (B, N, T)."""
        T, n, r = h.shape[1], self.config.state_size, self.config.dt_rank
        x, z = self.in_proj(h).chunk(2, dim=-1)  # (B, T, inner) each
        x = F.silu(self.conv(x.transpose(1, 2))[..., :T])  # (B, inner, T): causal, the last taps trimmed
        dbc = self.x_proj(x.transpose(1, 2))  # (B, T, r + 2N)
        delta = (dbc[..., :r] @ self.dt_proj.weight.T).transpose(1, 2)  # (B, inner, T), bias added in the scan
        B, C = dbc[..., r : r + n].transpose(1, 2), dbc[..., r + n :].transpose(1, 2)  # (B, N, T) each
        return x, z.transpose(1, 2), delta, B, C

    def delta(self, h: torch.Tensor) -> torch.Tensor:
        """Δ per step and channel after softplus: h (B, T, d_model) -> (B, inner, T)."""
        _, _, delta, _, _ = self.delta_B_C(h)
        return F.softplus(delta + self.dt_proj.bias[:, None])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, T, d_model) -> (B, T, d_model)."""
        x, z, delta, B, C = self.delta_B_C(h)
        y = selective_scan(
            x, delta, self.A, B, C, self.D, z, self.dt_proj.bias, delta_softplus=True, method=self.config.method
        )  # (B, inner, T)
        return self.out_proj(y.transpose(1, 2))  # (B, T, d_model)


class S6Model(nn.Module):
    """Encoder input -> d_model, n_layers residual blocks h + S6(LayerNorm(h)), a final LayerNorm:
    (B, T, input_size) -> (B, T, d_model). Add a head from ``lrd_core.models.heads`` for a task."""

    def __init__(self, config: S6Config, generator: torch.Generator):
        super().__init__()
        self.config = config
        self.encoder = linear_head(config.input_size, config.d_model, generator)
        self.norms = nn.ModuleList(nn.LayerNorm(config.d_model) for _ in range(config.n_layers))
        self.layers = nn.ModuleList(S6(config, generator) for _ in range(config.n_layers))
        self.norm_out = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, input_size) -> (B, T, d_model)."""
        h = self.encoder(x)  # (B, T, d_model)
        for norm, layer in zip(self.norms, self.layers, strict=True):
            h = h + layer(norm(h))
        return self.norm_out(h)

    @torch.no_grad()
    def deltas(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Δ of every layer on input x (B, T, input_size): a list of n_layers tensors (B, inner, T)."""
        h, out = self.encoder(x), []
        for norm, layer in zip(self.norms, self.layers, strict=True):
            out.append(layer.delta(norm(h)))
            h = h + layer(norm(h))
        return out
