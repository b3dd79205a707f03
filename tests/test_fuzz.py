"""Hypothesis fuzzing of the public core API: any input gives a result or a ValueError naming the parameter."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrd_core import ssm, tasks, theory
from lrd_core.models.recurrent import GRUConfig, LSTMConfig, RNNConfig
from lrd_core.models.segment import SegmentConfig
from lrd_core.models.seq2seq import Seq2SeqConfig
from lrd_core.models.tcn import TCNConfig
from lrd_core.models.transformer import TransformerConfig
from lrd_core.tasks import adding_problem, copy_memory
from lrd_core.train import TrainConfig

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
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
        x, _y = adding_problem(batch, T, torch.Generator().manual_seed(0))
    except ValueError as err:
        assert "batch" in str(err) or "T" in str(err)
    else:
        assert x.shape == (batch, T, 2) and torch.all(x[..., 1].sum(1) == 2)


@FAST
@given(batch=st.integers(-3, 300), T=st.integers(-3, 1100), n=st.integers(-1, 70), length=st.integers(-1, 120))
def test_copy_memory_returns_or_names_the_bad_parameter(batch, T, n, length):
    try:
        x, _y = copy_memory(batch, T, torch.Generator().manual_seed(0), n_symbols=n, length=length)
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


# --- every public closed form, task and model config: a result, or an error that names the parameter ---------


wild = st.one_of(  # out of range, wrong type, NaN, inf and huge
    st.none(),
    st.booleans(),
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-5, 5), max_size=3),
)
GEN = torch.Generator().manual_seed(0)
PUBLIC = {  # name -> (callable, its parameter names in order)
    "copy_memory_loss": (theory.copy_memory_loss, ("T", "length", "p_correct")),
    "deepnorm_constants": (theory.deepnorm_constants, ("n_layers",)),
    "forget_gate_product": (theory.forget_gate_product, ("forget_bias", "L")),
    "forget_time_constant": (theory.forget_time_constant, ("f",)),
    "layernorm_projection_distance": (theory.layernorm_projection_distance, ("d_model",)),
    "length_below": (theory.length_below, ("rho", "threshold", "alpha")),
    "power_law_through": (theory.power_law_through, ("L", "L_ref", "y_ref", "exponent")),
    "receptive_field": (theory.receptive_field, ("kernel_size", "top_layer")),
    "segment_reach": (theory.segment_reach, ("segment_len", "memory_len", "n_layers", "position")),
    "sequence_cost": (theory.sequence_cost, ("model", "L", "H", "N")),
    "signal_over_chars": (theory.signal_over_chars, ("rho", "D", "chars_per_token", "alpha")),
    "sqrt_depth_law": (theory.sqrt_depth_law, ("N", "N_ref", "y_ref")),
    "ssm_memory": (theory.ssm_memory, ("L", "tau")),
    "tcn_receptive_field": (theory.tcn_receptive_field, ("kernel_size", "n_blocks", "convs_per_block")),
    "tokens_for_chars": (theory.tokens_for_chars, ("D", "chars_per_token")),
    "undilated_receptive_field": (theory.undilated_receptive_field, ("kernel_size", "top_layer")),
    "window_reach_chars": (theory.window_reach_chars, ("window_tokens", "chars_per_token")),
    "delayed_recall": (lambda b, T, n: tasks.delayed_recall(b, T, GEN, n), ("batch", "T", "n_symbols")),
    "lag_parity": (lambda b, T, lag: tasks.lag_parity(b, T, lag, GEN), ("batch", "T", "lag")),
    "segment_recall": (lambda b, T, d, n: tasks.segment_recall(b, T, d, GEN, n), ("batch", "T", "delay", "n_symbols")),
    "symbol_sequences": (
        lambda b, T, n, task: tasks.symbol_sequences(b, T, GEN, n, task),
        ("batch", "T", "n_symbols", "task"),
    ),
    "s4d_eigenvalues": (ssm.s4d_eigenvalues, ("H", "N", "init")),
    "GRUConfig": (GRUConfig, ("input_size", "hidden_size", "keep_bias")),
    "LSTMConfig": (LSTMConfig, ("input_size", "hidden_size", "forget_bias")),
    "TCNConfig": (TCNConfig, ("input_size", "channels", "kernel_size", "top_layer", "variant")),
    "Seq2SeqConfig": (Seq2SeqConfig, ("n_symbols", "embed_size", "hidden_size", "attention", "bidirectional")),
    "S4DConfig": (ssm.S4DConfig, ("input_size", "channels", "state_size", "n_layers", "init", "dt_min", "dt_max")),
    "TransformerConfig": (TransformerConfig, ("input_size", "d_model", "n_heads", "n_layers", "d_ff", "placement")),
    "SegmentConfig": (
        SegmentConfig,
        ("input_size", "d_model", "n_heads", "n_layers", "d_ff", "segment_len", "memory_len", "mode"),
    ),
}
SOME = settings(max_examples=40, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_api_returns_or_names_the_bad_parameter(name):
    fn, params = PUBLIC[name]

    @SOME
    @given(args=st.tuples(*[wild] * len(params)))
    def check(args):
        try:
            fn(*args)
        except (ValueError, TypeError) as err:
            msg = str(err)
            assert any(p in msg for p in params), f"{name}{args!r}: message names no parameter: {msg}"

    check()
