"""Linear attention and the delta rule: every method against a step-by-step float64 loop, gradients, the
overwrite property, carried states, bad input and the memory estimate; the model built on them."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from lrd_core.gradients import saved_bytes
from lrd_core.models.linear_attention import (
    DELTA_METHODS,
    LINEAR_METHODS,
    delta_rule,
    linear_attention,
    state_peak_bytes,
)


def _inputs(b=2, h=3, length=13, dk=5, dv=4, seed=0, dtype=torch.float64, unit_keys=False):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, h, length, d, generator=g, dtype=torch.float64) for d in (dk, dk, dv))
    beta = torch.rand(b, h, length, generator=g, dtype=torch.float64)
    if unit_keys:  # the delta rule is stable for β·|k|² in (0, 2): unit keys, β in (0, 1)
        k = F.normalize(k, dim=-1)
    return tuple(t.to(dtype) for t in (q, k, v, beta))


def _reference(q, k, v, beta=None):
    """The recurrence written out in float64 numpy, one batch row, head and step at a time."""
    q, k, v = (np.asarray(t.detach().double()) for t in (q, k, v))
    beta = None if beta is None else np.asarray(beta.detach().double())
    b, h, length, dk = q.shape
    out = np.zeros((b, h, length, v.shape[-1]))
    for i in range(b):
        for j in range(h):
            S = np.zeros((dk, v.shape[-1]))
            for t in range(length):
                kt, vt = k[i, j, t], v[i, j, t]
                write = np.outer(kt, vt) if beta is None else beta[i, j, t] * np.outer(kt, vt - S.T @ kt)
                S = S + write
                out[i, j, t] = S.T @ q[i, j, t]
    return torch.from_numpy(out)


@pytest.mark.parametrize("method", LINEAR_METHODS)
@pytest.mark.parametrize("length", [1, 7, 16])  # one step, odd (a short last chunk), a whole number of chunks
def test_linear_attention_equals_the_step_by_step_loop_in_float64(method, length):
    q, k, v, _ = _inputs(length=length)
    out = linear_attention(q, k, v, method=method, chunk_size=4)
    assert out.shape == (2, 3, length, 4)
    torch.testing.assert_close(out, _reference(q, k, v), rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", DELTA_METHODS)
@pytest.mark.parametrize("length", [1, 7, 16])
def test_delta_rule_equals_the_step_by_step_loop_in_float64(method, length):
    q, k, v, beta = _inputs(length=length, unit_keys=True)
    out = delta_rule(q, k, v, beta, method=method, chunk_size=4)
    torch.testing.assert_close(out, _reference(q, k, v, beta), rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_linear_attention_in_float32_agrees_to_1e_4(method):
    q, k, v, _ = _inputs(b=2, h=2, length=64, dk=8, dv=8, dtype=torch.float32)
    out = linear_attention(q, k, v, method=method, chunk_size=16)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), _reference(q, k, v), rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", DELTA_METHODS)
def test_delta_rule_in_float32_agrees_to_1e_4(method):
    q, k, v, beta = _inputs(b=2, h=2, length=64, dk=8, dv=8, dtype=torch.float32, unit_keys=True)
    out = delta_rule(q, k, v, beta, method=method, chunk_size=16)
    torch.testing.assert_close(out.double(), _reference(q, k, v, beta), rtol=0, atol=1e-4)


def test_the_reference_tells_the_rules_apart():
    """The checks above can fail: the delta rule with β = 0.5 and with β = 0.5·(1 + 1e-6) differ by more than
    their 1e-8 tolerance, and the additive rule differs from the delta rule by far more."""
    q, k, v, beta = _inputs(length=16, unit_keys=True)
    delta = _reference(q, k, v, beta * 0 + 0.5)
    assert (delta - _reference(q, k, v, beta * 0 + 0.5 * (1 + 1e-6))).abs().max() > 1e-8
    assert (delta - _reference(q, k, v)).abs().max() > 0.1


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_linear_attention_gradcheck(method):
    q, k, v, _ = _inputs(b=1, h=2, length=6, dk=3, dv=2)
    args = tuple(t.requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(lambda *a: linear_attention(*a, method=method, chunk_size=4), args)


@pytest.mark.parametrize("method", DELTA_METHODS)
def test_delta_rule_gradcheck(method):
    q, k, v, beta = _inputs(b=1, h=2, length=6, dk=3, dv=2, unit_keys=True)
    args = tuple(t.requires_grad_() for t in (q, k, v, beta))
    assert torch.autograd.gradcheck(lambda *a: delta_rule(*a, method=method, chunk_size=4), args)


@pytest.mark.parametrize("method", DELTA_METHODS)
def test_delta_rule_with_beta_1_reads_back_an_overwritten_key_exactly(method):
    """Write v_old under a unit key, then 6 pairs under other keys, then v_new under the first key: with β = 1
    the state returns v_new for that key exactly; the additive memory returns v_old + v_new + cross-talk."""
    dk, dv = 8, 5
    g = torch.Generator().manual_seed(3)
    keys = F.normalize(torch.randn(7, dk, generator=g, dtype=torch.float64), dim=-1)
    k = torch.cat([keys, keys[:1]]).view(1, 1, 8, dk)  # key 0 again at the end
    v = torch.randn(1, 1, 8, dv, generator=g, dtype=torch.float64)
    q = k.clone()  # read each key right after its write
    out, S = delta_rule(
        q, k, v, torch.ones(1, 1, 8, dtype=torch.float64), method=method, chunk_size=3, return_state=True
    )
    new = v[0, 0, -1]
    torch.testing.assert_close(out[0, 0, -1], new, rtol=0, atol=1e-12)
    torch.testing.assert_close(S[0, 0].T @ keys[0], new, rtol=0, atol=1e-12)
    additive = linear_attention(q, k, v, method="recurrent")[0, 0, -1]
    assert (additive - new).abs().max() > 0.5  # the old value (and every other pair's leak) is still in there
    partial = delta_rule(q, k, v, torch.full((1, 1, 8), 0.9, dtype=torch.float64), method=method)[0, 0, -1]
    assert (partial - new).abs().max() > 1e-3  # β < 1: only part of the way


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_a_carried_state_continues_the_sequence(method):
    q, k, v, _ = _inputs(length=11)
    whole, S_whole = linear_attention(q, k, v, method=method, chunk_size=4, return_state=True)
    first, S = linear_attention(q[:, :, :5], k[:, :, :5], v[:, :, :5], method=method, return_state=True)
    second, S2 = linear_attention(
        q[:, :, 5:], k[:, :, 5:], v[:, :, 5:], method=method, initial_state=S, return_state=True
    )
    torch.testing.assert_close(torch.cat([first, second], dim=2), whole, rtol=0, atol=1e-10)
    torch.testing.assert_close(S2, S_whole, rtol=0, atol=1e-10)
    torch.testing.assert_close(S_whole, k.transpose(-1, -2) @ v, rtol=0, atol=1e-10)  # S_L = Σ_t k_t v_tᵀ


@pytest.mark.parametrize("method", DELTA_METHODS)
def test_a_carried_delta_state_continues_the_sequence(method):
    q, k, v, beta = _inputs(length=11, unit_keys=True)
    whole, S_whole = delta_rule(q, k, v, beta, method=method, chunk_size=4, return_state=True)
    first, S = delta_rule(*(t[:, :, :6] for t in (q, k, v, beta)), method=method, return_state=True)
    second, S2 = delta_rule(*(t[:, :, 6:] for t in (q, k, v, beta)), method=method, initial_state=S, return_state=True)
    torch.testing.assert_close(torch.cat([first, second], dim=2), whole, rtol=0, atol=1e-10)
    torch.testing.assert_close(S2, S_whole, rtol=0, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 2),
    h=st.integers(1, 3),
    length=st.integers(1, 40),
    dk=st.integers(1, 6),
    dv=st.integers(1, 6),
    chunk=st.integers(1, 50),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_form_agrees_for_any_shape_and_chunk(b, h, length, dk, dv, chunk, seed):
    q, k, v, beta = _inputs(b, h, length, dk, dv, seed, unit_keys=True)
    ref = linear_attention(q, k, v, method="recurrent")
    for method in ("parallel", "chunked"):
        torch.testing.assert_close(linear_attention(q, k, v, method=method, chunk_size=chunk), ref, rtol=0, atol=1e-9)
    ref = delta_rule(q, k, v, beta, method="recurrent")
    torch.testing.assert_close(delta_rule(q, k, v, beta, method="chunked", chunk_size=chunk), ref, rtol=0, atol=1e-9)


def _bad_cases():
    q, k, v, beta = _inputs()
    return [
        ({"q": q[0]}, "q"),
        ({"q": q.to(torch.int64)}, "q"),
        ({"k": k[:, :, :-1]}, "k"),
        ({"k": k.float()}, "k"),
        ({"v": v[:, :2]}, "v"),
        ({"v": "v"}, "v"),
        ({"beta": beta[..., :-1]}, "beta"),
        ({"initial_state": torch.zeros(2, 3, 5, 5, dtype=torch.float64)}, "initial_state"),
        ({"method": "parallel"}, "method"),  # the delta rule has no parallel form here
        ({"chunk_size": 0}, "chunk_size"),
    ]


@pytest.mark.parametrize("change,name", _bad_cases())
def test_bad_input_raises_value_error_naming_the_argument(change, name):
    q, k, v, beta = _inputs()
    args = {"q": q, "k": k, "v": v, "beta": beta, "method": "recurrent", "chunk_size": 4} | change
    with pytest.raises(ValueError, match=rf"^{name} "):
        delta_rule(**args)
    if name != "beta" and change.get("method") != "parallel":
        args.pop("beta")
        with pytest.raises(ValueError, match=rf"^{name} "):
            linear_attention(**args)
    with pytest.raises(ValueError, match=r"^method "):
        linear_attention(q, k, v, method="scan")


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_too_large_a_call_is_refused_before_allocating(method):
    q = torch.zeros(1, 1, 4096, 64)
    with pytest.raises(ValueError, match=r"^L .* over max_bytes"):
        linear_attention(q, q, q, method=method, max_bytes=2**20)


@pytest.mark.parametrize("rule,method", [("linear", m) for m in LINEAR_METHODS] + [("delta", m) for m in DELTA_METHODS])
@pytest.mark.parametrize("sizes", [(2, 2, 64, 16, 16), (1, 4, 200, 8, 32)])
def test_the_memory_estimate_covers_what_autograd_keeps(rule, method, sizes):
    """Measured 0.24-0.50 of the estimate (the rest: gradients during backward)."""
    b, h, length, dk, dv = sizes
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, h, length, d, generator=g, requires_grad=True) for d in (dk, dk, dv))
    beta = torch.rand(b, h, length, generator=g, requires_grad=True)
    if rule == "linear":
        _, kept = saved_bytes(lambda: linear_attention(q, k, v, method=method, chunk_size=32))
    else:
        _, kept = saved_bytes(lambda: delta_rule(q, k, v, beta, method=method, chunk_size=32))
    estimate = state_peak_bytes(b, h, length, dk, dv, method, rule=rule, chunk_size=32)
    assert 0.15 * estimate < kept < estimate
