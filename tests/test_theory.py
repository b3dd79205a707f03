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
