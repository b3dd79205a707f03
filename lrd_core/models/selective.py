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

import torch
from torch.nn import functional as F

from lrd_core.validate import check_choice

SCAN_METHODS = ("sequential", "parallel")
MAX_SCAN_BYTES = 512 * 2**20  # the per-step tensors exp(ΔA) and ΔBu, (batch, D, L, N) each, may not exceed this


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
    need = 2 * b * d * length * n * u.element_size()
    if need > MAX_SCAN_BYTES:
        raise ValueError(
            f"L (with batch, D and N) needs {need / 2**20:.0f} MB per scan, over {MAX_SCAN_BYTES >> 20} MB"
        )
    return b, d, length, n


def _scan_sequential(dA: torch.Tensor, dBu: torch.Tensor) -> torch.Tensor:
    """x_l = dA_l x_{l−1} + dBu_l, one step at a time: (batch, D, L, N) twice -> states (batch, D, L, N).
    Iterates over ``unbind`` views (never ``a[:, :, t]`` in the loop) so autograd's backward stays O(L)."""
    x = torch.zeros_like(dBu[:, :, 0])  # (batch, D, N)
    states = []
    for a, bu in zip(dA.unbind(2), dBu.unbind(2), strict=True):
        x = a * x + bu
        states.append(x)
    return torch.stack(states, dim=2)


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
) -> torch.Tensor:
    """Mamba's selective scan, in its reference implementation's argument convention.

    u, delta, z: (batch, D, L); A: (D, N), real; B, C: (batch, N, L); D, delta_bias: (D,).
    delta <- softplus(delta + delta_bias) (the bias if given, softplus if ``delta_softplus``);
    x_l = exp(Δ_l A) ⊙ x_{l−1} + Δ_l B_l u_l, y_l = ⟨x_l, C_l⟩ + D u_l; out = y · silu(z) if z is given.
    ``method``: "sequential" (L steps) or "parallel" (log-depth prefix scan); same numbers to rounding.
    Returns (batch, D, L). Bad shapes, dtypes or sizes raise ``ValueError`` naming the argument.
    """
    check_choice("method", method, SCAN_METHODS)
    _check_all(u, delta, A, B, C, D, z, delta_bias)
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    dA = torch.exp(delta.unsqueeze(-1) * A[:, None, :])  # (batch, D, L, N): Ā_l = exp(Δ_l A)
    dBu = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (batch, D, L, N): Δ_l B_l u_l
    states = (_scan_sequential if method == "sequential" else _scan_parallel)(dA, dBu)
    y = (states * C.transpose(1, 2).unsqueeze(1)).sum(-1)  # (batch, D, L): ⟨x_l, C_l⟩
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return y
