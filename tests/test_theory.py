import math

import numpy as np
import pytest

from lrd_core import theory


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.3])
@pytest.mark.parametrize("L", [1, 2, 17, 100])
@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_signal_magnitude_is_alpha_rho_power(rho, L, alpha):
    assert theory.signal_magnitude(rho, L, alpha) == alpha * rho ** (L - 1)


def test_signal_magnitude_vectorised_and_underflows_to_exact_zero():
    L = np.array([1, 10, 100, 10_000])
    out = theory.signal_magnitude(0.9, L)
    np.testing.assert_array_equal(out, 0.9 ** (L - 1.0))
    assert out[-1] == 0.0


@pytest.mark.parametrize("bad", [{"rho": 0.0}, {"rho": -1.0}, {"rho": math.nan}, {"L": 0}, {"alpha": -1.0}])
def test_signal_magnitude_rejects_bad_arguments_by_name(bad):
    args = {"rho": 0.9, "L": 10, "alpha": 1.0} | bad
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        theory.signal_magnitude(**args)


@pytest.mark.parametrize("rho,thr", [(0.9, 1e-6), (0.95, 1e-6), (0.5, 1e-3), (0.99, 0.37)])
def test_length_below_is_the_first_length_under_threshold(rho, thr):
    L = theory.length_below(rho, thr)
    assert theory.signal_magnitude(rho, L) < thr <= theory.signal_magnitude(rho, L - 1)


def test_length_below_never_for_non_decaying_signal():
    assert theory.length_below(1.0, 1e-6) == math.inf


@pytest.mark.parametrize("b", [-2.0, 0.0, 1.0, 3.0, 5.0])
def test_forget_bias_time_constant_is_the_e_folding_length(b):
    """σ(b)^τ = 1/e by definition of τ; checked from the logistic function written out here."""
    f = 1.0 / (1.0 + math.exp(-b))
    tau = theory.forget_bias_time_constant(b)
    assert f**tau == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert theory.forget_bias_time_constant(1.0) == pytest.approx(3.19, abs=0.01)  # b = 1: about 3 steps


# --- cost models (the "Attention" and "State-space models" pages) ---


def test_sequence_cost_terms_by_hand():
    """Hand-worked: LSTM L=10, H=4, B=2: 4·B·L·H² = 4·2·10·16 = 1280 per projection, 2560 in all.
    S4D L=8, H=2, N=3, B=1: kernel 2·N·H·L = 96, FFT (2B+1)·H·2L·log2(2L) = 3·2·16·4 = 384, output 2·B·L·H² = 64.
    Attention L=8, H=2, B=1: projections 4·L·H² = 128, scores 2·L²·H = 256."""
    assert theory.sequence_cost_terms("LSTM", 10, 4, batch=2) == {"input projection": 1280.0, "recurrence": 1280.0}
    assert theory.sequence_cost("LSTM", 10, 4, batch=2) == 2560.0
    assert theory.sequence_cost_terms("S4D (FFT)", 8, 2, 3) == {
        "kernel": 96.0,
        "FFT convolution": 384.0,
        "output projection": 64.0,
    }
    assert theory.sequence_cost("attention", 8, 2) == 384.0
    assert theory.attention_flops(8, 2) == {"projections": 96.0, "scores and A·V": 256.0}
    np.testing.assert_array_equal(theory.sequence_cost("attention", np.array([8.0, 16.0]), 2), [384.0, 1280.0])


def _matmul_macs(fn, *args) -> float:
    """Multiply-adds of the matrix products fn runs, counted by torch's own FLOP counter (2 FLOPs each)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() / 2


@pytest.mark.parametrize(("L", "H", "B"), [(16, 8, 1), (64, 32, 3)])
def test_cost_models_count_what_torch_counts(L, H, B):
    """Independent count: torch's FlopCounterMode on the layers the pages time (the FFT it does not count)."""
    import torch

    from lrd_core.models import s4d
    from lrd_core.models.recurrent import LSTM, LSTMConfig
    from lrd_core.models.transformer import self_attention

    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, L, H, generator=g)
    W = [torch.randn(H, H, generator=g) for _ in range(4)]
    with torch.no_grad():
        lstm = _matmul_macs(LSTM(LSTMConfig(H, H), g), x)  # the hand-written loop: one addmm per step
        attn = _matmul_macs(lambda v: self_attention(v, *W[:3]) @ W[3], x)
        head = _matmul_macs(self_attention, x[:1], *W[:3])
        N = 4
        layer = s4d.S4D(s4d.S4DConfig(H, H, N, 1, "lin"), g)
        ssm = _matmul_macs(layer, x.transpose(1, 2))
    assert lstm == theory.sequence_cost("LSTM", L, H, batch=B)
    assert attn == theory.sequence_cost("attention", L, H, batch=B)
    assert head == sum(theory.attention_flops(L, H).values())
    terms = theory.sequence_cost_terms("S4D (FFT)", L, H, N, B)  # L = 16, 64 are squares: no padded lags
    assert ssm == terms["kernel"] + terms["output projection"]


def test_dominant_mask_and_its_arguments():
    terms = {"a": np.array([1.0, 3.0, 9.0]), "b": np.array([3.0, 3.0, 3.0])}
    np.testing.assert_array_equal(theory.dominant_mask(terms, ("a",), 0.75), [False, False, True])  # 9/12
    np.testing.assert_array_equal(theory.dominant_mask(terms, ("a",), 0.5), [False, True, True])
    assert theory.dominant_mask(terms).all()  # every term counts: the whole sum
    with pytest.raises(ValueError, match="leading"):
        theory.dominant_mask(terms, ("c",))
    with pytest.raises(ValueError, match="share"):
        theory.dominant_mask(terms, ("a",), 1.5)
    with pytest.raises(ValueError, match="model"):
        theory.sequence_cost("GRU", 8, 2)
    with pytest.raises(ValueError, match="method"):
        theory.attention_saved_floats(8, 2, "flash")
    with pytest.raises(ValueError, match="batch"):
        theory.sequence_cost("LSTM", 8, 2, batch=0)
