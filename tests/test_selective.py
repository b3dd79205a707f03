"""Selective scan (Mamba's recurrence): both methods against a step-by-step reference, gradients, bad input."""

import math

import pytest
import torch

from lrd_core.models.selective import SCAN_METHODS, selective_scan


def _inputs(b=2, d=3, n=4, length=9, dtype=torch.float64, seed=0, extras=True):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    args = {
        "u": r(b, d, length),
        "delta": r(b, d, length, scale=0.5),
        "A": -torch.arange(1, n + 1, dtype=torch.float64).repeat(d, 1).to(dtype) * 0.3,  # S4D-Real, scaled
        "B": r(b, n, length),
        "C": r(b, n, length),
    }
    if extras:
        args |= {"D": r(d), "z": r(b, d, length), "delta_bias": r(d, scale=0.5)}
    return args


def _reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The recurrence written out with Python floats, one batch row, channel and step at a time."""
    b, d, length = u.shape
    n = A.shape[1]
    out = torch.zeros(b, d, length, dtype=torch.float64)
    for i in range(b):
        for c in range(d):
            x = [0.0] * n
            for t in range(length):
                dt = float(delta[i, c, t]) + (float(delta_bias[c]) if delta_bias is not None else 0.0)
                if delta_softplus:
                    dt = math.log1p(math.exp(dt))
                ut = float(u[i, c, t])
                x = [math.exp(dt * float(A[c, k])) * x[k] + dt * float(B[i, k, t]) * ut for k in range(n)]
                y = sum(x[k] * float(C[i, k, t]) for k in range(n))
                if D is not None:
                    y += float(D[c]) * ut
                if z is not None:
                    zz = float(z[i, c, t])
                    y *= zz / (1.0 + math.exp(-zz))
                out[i, c, t] = y
    return out


@pytest.mark.parametrize("method", SCAN_METHODS)
@pytest.mark.parametrize("extras,softplus", [(False, False), (True, True), (True, False)])
@pytest.mark.parametrize("length", [1, 7, 16])  # 1 step, odd, a power of two (the parallel scan's rounds)
def test_both_methods_equal_the_step_by_step_recurrence_in_float64(method, extras, softplus, length):
    args = _inputs(length=length, extras=extras)
    out = selective_scan(**args, delta_softplus=softplus, method=method)
    ref = _reference(**args, delta_softplus=softplus)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", SCAN_METHODS)
def test_float32_agrees_with_float64_to_1e_5(method):
    args64 = _inputs(b=2, d=4, n=8, length=64)
    args32 = {k: v.float() for k, v in args64.items()}
    out = selective_scan(**args32, delta_softplus=True, method=method)
    ref = selective_scan(**args64, delta_softplus=True, method="sequential")
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", SCAN_METHODS)
def test_gradients_match_finite_differences(method):
    args = {k: v.requires_grad_() for k, v in _inputs(b=1, d=2, n=3, length=5).items()}
    names = list(args)

    def f(*tensors):
        return selective_scan(**dict(zip(names, tensors, strict=True)), delta_softplus=True, method=method)

    assert torch.autograd.gradcheck(f, tuple(args.values()), eps=1e-6, atol=1e-8)


def test_the_two_methods_give_the_same_gradients_in_float32():
    base = _inputs(b=2, d=3, n=4, length=33, dtype=torch.float32)
    grads = {}
    for method in SCAN_METHODS:
        args = {k: v.clone().requires_grad_() for k, v in base.items()}
        selective_scan(**args, delta_softplus=True, method=method).square().sum().backward()
        grads[method] = [args[k].grad for k in base]
    for g_seq, g_par in zip(grads["sequential"], grads["parallel"], strict=True):
        torch.testing.assert_close(g_par, g_seq, rtol=1e-4, atol=1e-5)


def test_input_dependent_delta_makes_the_state_keep_or_forget():
    """What S4D cannot do: with Δ ≈ 0 at a step the state passes unchanged (exp(0·A) = 1, nothing written);
    with a large Δ it is overwritten by that step's input (exp(Δ·A) ≈ 0)."""
    args = _inputs(b=1, d=1, n=1, length=3, extras=False)
    args["A"] = torch.tensor([[-1.0]], dtype=torch.float64)
    args["u"] = torch.tensor([[[1.0, 5.0, 0.0]]], dtype=torch.float64)
    args["B"] = torch.ones(1, 1, 3, dtype=torch.float64)
    args["C"] = torch.ones(1, 1, 3, dtype=torch.float64)
    keep = selective_scan(**{**args, "delta": torch.tensor([[[1.0, 0.0, 0.0]]], dtype=torch.float64)})
    assert keep[0, 0, 2] == pytest.approx(keep[0, 0, 0])  # the 5 was ignored, the 1 kept
    write = selective_scan(**{**args, "delta": torch.tensor([[[1.0, 30.0, 0.0]]], dtype=torch.float64)})
    assert write[0, 0, 2] == pytest.approx(30.0 * 5.0, rel=1e-9)  # the old state forgotten, Δ·B·u stored


@pytest.mark.parametrize(
    "change,name",
    [
        ({"u": torch.zeros(2, 3)}, "u"),
        ({"delta": torch.zeros(2, 3, 8)}, "delta"),
        ({"A": torch.zeros(4, 4, dtype=torch.float64)}, "A"),
        ({"A": torch.zeros(3, 4, dtype=torch.complex128)}, "A"),
        ({"B": torch.zeros(2, 5, 9, dtype=torch.float64)}, "B"),
        ({"C": torch.zeros(2, 4, 9, dtype=torch.float32)}, "C"),
        ({"D": torch.zeros(4, dtype=torch.float64)}, "D"),
        ({"z": torch.zeros(2, 3, 8, dtype=torch.float64)}, "z"),
        ({"delta_bias": torch.zeros(3, 1, dtype=torch.float64)}, "delta_bias"),
        ({"B": None}, "B"),
    ],
)
def test_bad_shapes_and_dtypes_name_the_argument(change, name):
    args = _inputs() | change
    with pytest.raises(ValueError, match=rf"^{name} "):
        selective_scan(**args)


def test_bad_method_and_oversized_scans_are_refused():
    with pytest.raises(ValueError, match="method"):
        selective_scan(**_inputs(), method="fft")

    def huge(*shape):  # the right shape, no memory: one number seen through stride-0 views
        return torch.zeros(1).expand(*shape)

    big = {"u": huge(64, 256, 4096), "delta": huge(64, 256, 4096), "A": -torch.ones(256, 16)}
    big |= {"B": huge(64, 16, 4096), "C": huge(64, 16, 4096)}
    with pytest.raises(ValueError, match=r"^L \(with batch, D and N\) needs \d+ MB"):
        selective_scan(**big)
