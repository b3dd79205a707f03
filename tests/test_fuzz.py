"""Hypothesis fuzzing of the public core API: any input gives a result or a ValueError naming the parameter."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrd_core import theory
from lrd_core.models.recurrent import RNNConfig
from lrd_core.tasks import adding_problem, copy_memory
from lrd_core.train import TrainConfig

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(rho=anything, L=anything, alpha=anything)
def test_signal_magnitude_returns_or_names_the_bad_parameter(rho, L, alpha):
    try:
        out = theory.signal_magnitude(rho, L, alpha)
    except ValueError as err:
        assert any(name in str(err) for name in ("rho", "L", "alpha"))
    except TypeError:
        pytest.fail(f"TypeError instead of ValueError for {rho!r}, {L!r}, {alpha!r}")
    else:
        assert not math.isnan(out) and out >= 0


@FAST
@given(batch=anything, T=anything)
def test_adding_problem_returns_or_names_the_bad_parameter(batch, T):
    try:
        x, y = adding_problem(batch, T, torch.Generator().manual_seed(0))
    except ValueError as err:
        assert "batch" in str(err) or "T" in str(err)
    else:
        assert x.shape == (batch, T, 2) and torch.all(x[..., 1].sum(1) == 2)


@FAST
@given(batch=st.integers(-3, 300), T=st.integers(-3, 1100), n=st.integers(-1, 70), length=st.integers(-1, 120))
def test_copy_memory_returns_or_names_the_bad_parameter(batch, T, n, length):
    try:
        x, y = copy_memory(batch, T, torch.Generator().manual_seed(0), n_symbols=n, length=length)
    except ValueError as err:
        assert any(name in str(err) for name in ("batch", "T", "n_symbols", "length"))
    else:
        assert x.shape == (batch, T + 2 * length, n + 2)


@FAST
@given(hidden=anything, rho=anything, scale=anything, act=st.sampled_from(["tanh", "relu", "identity", "gelu", ""]))
def test_rnn_config_accepts_or_names_the_bad_parameter(hidden, rho, scale, act):
    try:
        RNNConfig(hidden_size=hidden, rho=rho, input_scale=scale, activation=act)
    except ValueError as err:
        assert any(name in str(err) for name in ("hidden_size", "rho", "input_scale", "activation"))


@FAST
@given(steps=anything, lr=anything, batch=anything, clip=anything)
def test_train_config_accepts_or_names_the_bad_parameter(steps, lr, batch, clip):
    try:
        TrainConfig(steps=steps, lr=lr, batch=batch, clip=clip)
    except ValueError as err:
        assert any(name in str(err) for name in ("steps", "lr", "batch", "clip"))
