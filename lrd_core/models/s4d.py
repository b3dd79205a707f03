"""Diagonal state-space models (S4D, Gu et al. 2022): one linear recurrence, computed two ways.

Continuous time, per channel h and mode n (A diagonal, B folded into C)::

    x'(t) = A x(t) + u(t)        y(t) = 2 Re(C x(t))

Zero-order hold (ZOH) with step Δ gives the recurrence (x_{-1} = 0)::

    x_t = Ā x_{t-1} + B̄ u_t,     Ā = exp(Δ A),  B̄ = (exp(Δ A) − 1) / A,     y_t = 2 Re(C x_t)

It is linear and time-invariant, so y is the causal convolution of u with

    K[l] = 2 Re Σ_n C'_n exp(Δ A_n l),   C' = C B̄               (l = 0 .. L−1)

``ssm_scan`` runs the recurrence step by step; ``s4d_kernel`` + ``ssm_fft``
build K once and convolve by FFT (zero-padded to 2L, so the circular
convolution equals the causal one). Mode n forgets as |Ā_n|^l = exp(−l/τ_n),
τ_n = 1 / (Δ |Re A_n|) steps.

Layout: the public functions take u as [B, H, L] (channels first, like the
FFT wants); the models at the bottom keep the project's contract (B, T, D) in,
(B, T, H) out, and transpose once at the boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lrd_core.limits import MAX_SSM_CHANNELS, MAX_SSM_KERNEL_LEN, MAX_SSM_LAYERS, MAX_SSM_STATE
from lrd_core.models.heads import linear_head
from lrd_core.validate import check_choice, check_float, check_int

INITS = ("lin", "inv", "real")  # S4D-Lin, S4D-Inv, S4D-Real
METHODS = ("zoh", "bilinear")  # discretisation
MIN_DT, MAX_DT = 1e-5, 10.0  # range of Δ the initialisation accepts


# --- initialisation ---------------------------------------------------------------------------


def s4d_eigenvalues(H: int, N: int, init: str = "lin") -> torch.Tensor:
    """The diagonal of A, complex128 [H, N], the same for every channel.

    S4D-Lin:  A_n = −1/2 + iπn                      (frequencies spaced evenly)
    S4D-Inv:  A_n = −1/2 + i(N/π)(N/(2n+1) − 1)     (frequencies ∝ 1/n, as in S4's HiPPO-LegS)
    S4D-Real: A_n = −(n+1)                          (no oscillation; mode n decays n+1 times faster)
    """
    H = check_int("H", H, 1, MAX_SSM_CHANNELS)
    N = check_int("N", N, 1, MAX_SSM_STATE)
    check_choice("init", init, INITS)
    n = torch.arange(N, dtype=torch.float64)
    if init == "lin":
        A = torch.complex(torch.full_like(n, -0.5), math.pi * n)
    elif init == "inv":
        A = torch.complex(torch.full_like(n, -0.5), N / math.pi * (N / (2 * n + 1) - 1))
    else:
        A = torch.complex(-(n + 1), torch.zeros_like(n))
    return A.expand(H, N).clone()  # (H, N)


def log_uniform_dt(H: int, dt_min: float, dt_max: float, generator: torch.Generator) -> torch.Tensor:
    """Δ for each channel, float64 [H], log-uniform in [dt_min, dt_max]: channels span many time scales."""
    H = check_int("H", H, 1, MAX_SSM_CHANNELS)
    dt_min = check_float("dt_min", dt_min, MIN_DT, MAX_DT)
    dt_max = check_float("dt_max", dt_max, dt_min, MAX_DT)
    r = torch.rand(H, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(dt_min) + r * (math.log(dt_max) - math.log(dt_min)))


def random_C(H: int, N: int, generator: torch.Generator) -> torch.Tensor:
    """C, complex128 [H, N], real and imaginary parts N(0, 1/2) (unit variance in all)."""
    H = check_int("H", H, 1, MAX_SSM_CHANNELS)
    N = check_int("N", N, 1, MAX_SSM_STATE)
    parts = torch.randn(2, H, N, generator=generator, dtype=torch.float64) * math.sqrt(0.5)
    return torch.complex(parts[0], parts[1])


def s4d_parameters(H: int, N: int, init: str, dt_min: float, dt_max: float, generator: torch.Generator):
    """(dt [H] float64, A [H, N] complex128, C [H, N] complex128) for one S4D layer."""
    A = s4d_eigenvalues(H, N, init)
    dt = log_uniform_dt(H, dt_min, dt_max, generator)
    return dt, A, random_C(H, N, generator)


# --- discretisation, kernel, recurrence, FFT convolution ----------------------------------------


def _check_ssm(dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor) -> None:
    for name, t in (("dt", dt), ("A", A), ("C", C)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if dt.ndim != 1 or dt.is_complex() or not dt.is_floating_point():
        raise ValueError(f"dt must be a real floating tensor [H], got {tuple(dt.shape)} {dt.dtype}")
    H = dt.shape[0]
    if not A.is_complex() or A.ndim != 2 or A.shape[0] != H:
        raise ValueError(f"A must be a complex tensor [H={H}, N], got {tuple(A.shape)} {A.dtype}")
    if not C.is_complex() or C.shape != A.shape:
        raise ValueError(f"C must be a complex tensor of A's shape {tuple(A.shape)}, got {tuple(C.shape)} {C.dtype}")
    with torch.no_grad():
        if not bool(torch.all(dt > 0)) or not bool(torch.all(torch.isfinite(dt))):
            raise ValueError("dt must be finite and > 0 in every channel")
        if not bool(torch.all(A.real < 0)):
            raise ValueError("A must have Re(A) < 0 in every mode (a stable, decaying system)")


def discretize(dt: torch.Tensor, A: torch.Tensor, method: str = "zoh") -> tuple[torch.Tensor, torch.Tensor]:
    """(Ā, B̄), each complex [H, N], for B = 1.

    zoh:      Ā = exp(ΔA),                 B̄ = (exp(ΔA) − 1) / A
    bilinear: Ā = (1 + ΔA/2) / (1 − ΔA/2), B̄ = Δ / (1 − ΔA/2)
    """
    check_choice("method", method, METHODS)
    dtA = dt.unsqueeze(-1) * A  # (H, N)
    if method == "zoh":
        A_bar = torch.exp(dtA)
        return A_bar, (A_bar - 1) / A
    denom = 1 - dtA / 2
    return (1 + dtA / 2) / denom, dt.unsqueeze(-1) / denom


def s4d_kernel(dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor, L: int, *, method: str = "zoh") -> torch.Tensor:
    """The convolution kernel K, real [H, L] in dt's dtype:  K[h, l] = 2 Re Σ_n C[h,n] B̄[h,n] Ā[h,n]^l.

    With ZOH, Ā^l = exp(Δ A l) and C' = C B̄ = C (exp(ΔA) − 1)/A. dt: real [H] > 0; A, C: complex [H, N]
    with Re(A) < 0. The sum costs H·N·L multiply-adds (one batched matmul) and about H·N·2√L complex products.
    """
    _check_ssm(dt, A, C)
    L = check_int("L", L, 1, MAX_SSM_KERNEL_LEN)
    A_bar, B_bar = discretize(dt.to(A.real.dtype), A, method)  # (H, N) each
    H, N = A.shape
    # Ā^l for l = m·c + j is Ā^(mc) Ā^j: c powers Ā^j and M powers C'Ā^(mc), and the sum over n becomes
    # one batched matrix product (H, M, N) @ (H, N, c) -> (H, M, c), read row by row as l. The powers come
    # from repeated doubling: about H·N·2√L complex products, no exp/sin/cos (slow on the CPU).
    # Re(x y) = x_re y_re − x_im y_im = [x_re, −x_im]·[y_re, y_im]: with x = conj(C'Ā^(mc)), viewing each complex
    # number as its (re, im) pair makes the complex sum over n one real matmul over 2N, with no copies.
    c = math.isqrt(L - 1) + 1  # c * c >= L
    M = -(-L // c)  # rows m = 0 .. M-1
    small = _geometric(torch.ones_like(A_bar), A_bar, c)  # (H, c, N): Ā^j
    A_c = small[:, -1] * A_bar  # Ā^c
    big = _geometric(torch.conj_physical(C * B_bar), torch.conj_physical(A_c), M)  # (H, M, N): conj(C' Ā^(mc))
    left = torch.view_as_real(big).reshape(H, M, 2 * N)  # (H, M, 2N): (re, −im) of C' Ā^(mc), pairs interleaved
    right = torch.view_as_real(small).reshape(H, c, 2 * N).transpose(1, 2)  # (H, 2N, c): (re, im) of Ā^j
    K = 2 * torch.bmm(left, right).reshape(H, M * c)[:, :L]  # (H, M, c) -> (H, L)
    return K.to(dt.dtype)


def _geometric(start: torch.Tensor, ratio: torch.Tensor, count: int) -> torch.Tensor:
    """start · ratio^k for k = 0 .. count−1: complex [H, N] each -> [H, count, N], by doubling.

    Each round appends the sequence so far times ratio^(its length) and squares that factor:
    ⌈log2 count⌉ rounds; the relative error grows like count·ε, as a product of count factors would.
    """
    seq, factor = start.unsqueeze(1), ratio.unsqueeze(1)  # (H, 1, N) each
    while seq.shape[1] < count:
        seq = torch.cat([seq, seq * factor], dim=1)
        factor = factor * factor
    return seq[:, :count]


def _check_u(u: torch.Tensor, H: int) -> None:
    if not isinstance(u, torch.Tensor) or u.ndim != 3 or u.is_complex() or not u.is_floating_point():
        shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
        raise ValueError(f"u must be a real floating tensor [B, H, L], got {shape}")
    if u.shape[1] != H or u.shape[2] < 1:
        raise ValueError(f"u must be [B, H={H}, L >= 1], got {tuple(u.shape)}")


def ssm_scan(u: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor, *, method: str = "zoh"):
    """The recurrence, one step at a time: x_t = Ā x_{t−1} + B̄ u_t, y_t = 2 Re(C x_t); u, y: [B, H, L].

    O(L) sequential steps of O(B·H·N) work each: what an RNN does, with a diagonal, input-independent Ā.
    """
    _check_ssm(dt, A, C)
    _check_u(u, dt.shape[0])
    A_bar, B_bar = discretize(dt.to(A.real.dtype), A, method)  # (H, N) each
    x = torch.zeros(u.shape[0], *A.shape, dtype=A.dtype, device=u.device)  # (B, H, N)
    ys = []
    for u_t in u.to(A.real.dtype).unbind(dim=-1):  # u_t: (B, H)
        x = A_bar * x + B_bar * u_t.unsqueeze(-1)  # (B, H, N)
        ys.append(2 * (C * x).real.sum(-1))  # (B, H)
    return torch.stack(ys, dim=-1).to(u.dtype)  # (B, H, L)


def ssm_fft(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Causal convolution y[t] = Σ_{l<=t} K[l] u[t−l] by FFT; u [B, H, L], K [H, L] -> y [B, H, L].

    Both are zero-padded to 2L: the FFT computes a circular convolution, and
    with L zeros after the data nothing from the end wraps around onto the start.
    """
    if not isinstance(K, torch.Tensor) or K.ndim != 2 or K.is_complex():
        raise ValueError(f"K must be a real tensor [H, L], got {getattr(K, 'shape', type(K).__name__)}")
    _check_u(u, K.shape[0])
    L = u.shape[-1]
    if K.shape[1] != L:
        raise ValueError(f"K must have length L = {L} (the input's), got {K.shape[1]}")
    n = 2 * L
    y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)  # (B, H, 2L)
    return y[..., :L]  # (B, H, L): the first L outputs are the causal ones


def time_constants(dt: torch.Tensor, A: torch.Tensor, *, method: str = "zoh") -> torch.Tensor:
    """τ [H, N] in steps: mode n's memory of an input fades as |Ā|^l = exp(−l/τ); ZOH τ = 1/(Δ |Re A|)."""
    _check_ssm(dt, A, torch.zeros_like(A))
    A_bar, _ = discretize(dt.to(A.real.dtype), A, method)
    return -1.0 / torch.log(A_bar.abs())


# --- a trainable layer and a small model ------------------------------------------------------


@dataclass(frozen=True)
class S4DConfig:
    input_size: int = 10  # D: features per time step (one-hot of 8 symbols + blank + query for delayed recall)
    channels: int = 64  # H: width of the model, one independent SSM per channel
    state_size: int = 32  # N: complex modes per channel (A, C are [H, N])
    n_layers: int = 2  # S4D blocks, each  x + GLU(S4D(LayerNorm(x)))
    init: str = "lin"  # "lin", "inv" or "real": the S4D initialisation of A
    dt_min: float = 1e-3  # Δ is log-uniform in [dt_min, dt_max]; τ = 1/(Δ|Re A|) up to 2/dt_min steps
    dt_max: float = 1e-1

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("channels", self.channels, 1, MAX_SSM_CHANNELS)
        check_int("state_size", self.state_size, 1, MAX_SSM_STATE)
        check_int("n_layers", self.n_layers, 1, MAX_SSM_LAYERS)
        check_choice("init", self.init, INITS)
        check_float("dt_min", self.dt_min, MIN_DT, MAX_DT)
        check_float("dt_max", self.dt_max, self.dt_min, MAX_DT)


class S4DKernel(nn.Module):
    """Trainable (log Δ, A, C) -> K [H, L] by ZOH. Re(A) = −exp(log_A_real) stays negative (stable)."""

    def __init__(self, config: S4DConfig, generator: torch.Generator):
        super().__init__()
        H, N = config.channels, config.state_size
        dt, A, C = s4d_parameters(H, N, config.init, config.dt_min, config.dt_max, generator)
        self.log_dt = nn.Parameter(dt.log().float())  # (H,)
        self.log_A_real = nn.Parameter((-A.real).log().float())  # (H, N)
        self.A_imag = nn.Parameter(A.imag.float())  # (H, N)
        self.C = nn.Parameter(torch.view_as_real(C).float())  # (H, N, 2): real and imaginary parts

    def forward(self, L: int) -> torch.Tensor:
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)  # (H, N)
        return s4d_kernel(torch.exp(self.log_dt), A, torch.view_as_complex(self.C), L)  # (H, L)


class S4D(nn.Module):
    """y = GELU(K * u + D ⊙ u) then a GLU mix of channels: [B, H, L] -> [B, H, L] (like state-spaces s4d.py)."""

    def __init__(self, config: S4DConfig, generator: torch.Generator):
        super().__init__()
        H = config.channels
        self.kernel = S4DKernel(config, generator)
        self.D = nn.Parameter(torch.randn(H, generator=generator, dtype=torch.float64).float())  # (H,) skip
        self.mix = linear_head(H, 2 * H, generator)  # position-wise H -> 2H, halved again by the GLU

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u [B, H, L] -> [B, H, L]."""
        K = self.kernel(u.shape[-1])  # (H, L)
        y = F.gelu(ssm_fft(u, K) + self.D.unsqueeze(-1) * u)  # (B, H, L)
        return F.glu(self.mix(y.transpose(1, 2)), dim=-1).transpose(1, 2)  # (B, L, 2H) -> (B, H, L)


class S4DModel(nn.Module):
    """Encoder D -> H, then n_layers residual blocks x + S4D(LayerNorm(x)): (B, T, D) -> (B, T, H).

    Add a head from ``lrd_core.models.heads`` for a task (e.g. SequenceRegressor for one answer per sequence).
    """

    def __init__(self, config: S4DConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        self.encoder = linear_head(config.input_size, config.channels, generator)
        self.norms = nn.ModuleList(nn.LayerNorm(config.channels) for _ in range(config.n_layers))
        self.layers = nn.ModuleList(S4D(config, generator) for _ in range(config.n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, H)."""
        h = self.encoder(x)  # (B, T, H)
        for norm, layer in zip(self.norms, self.layers, strict=True):
            h = h + layer(norm(h).transpose(1, 2)).transpose(1, 2)  # S4D works on (B, H, T)
        return h
