import pytest
import torch

from lrd_core.models.recurrent import ElmanRNN, RNNConfig, recurrent_matrix


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_rnn_equals_torch_rnn(nonlinearity):
    torch.manual_seed(0)  # nn.RNN's own init draws from the global RNG; only the reference uses it
    ref = torch.nn.RNN(3, 16, nonlinearity=nonlinearity, batch_first=True)
    ours = ElmanRNN.from_torch(ref)
    x = torch.randn(4, 50, 3, generator=torch.Generator().manual_seed(1))
    expected, _ = ref(x)
    torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["orthogonal", "gaussian"])
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.7])
def test_recurrent_matrix_has_spectral_radius_rho(kind, rho):
    W = recurrent_matrix(32, rho, kind, torch.Generator().manual_seed(3))
    assert torch.linalg.eigvals(W).abs().max().item() == pytest.approx(rho, rel=1e-9)
    if kind == "orthogonal":  # every singular value is rho
        torch.testing.assert_close(torch.linalg.svdvals(W), torch.full((32,), rho, dtype=W.dtype))


def test_same_generator_seed_same_weights():
    a = ElmanRNN(RNNConfig(), torch.Generator().manual_seed(5))
    b = ElmanRNN(RNNConfig(), torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_jacobian_matches_autograd():
    model = ElmanRNN(RNNConfig(hidden_size=8, input_scale=2.0), torch.Generator().manual_seed(0)).double()
    x = torch.rand(1, 5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    states, pre = model.unroll(x)
    J = model.jacobians(pre)[0, 3]  # dh_4/dh_3 (0-based t = 3)
    h3 = states[2].detach()
    step = lambda h: model.phi(h @ model.W.T + (2.0 * x[:, 3] @ model.U.T + model.b))  # noqa: E731 - a one-line closure reads best here
    auto = torch.autograd.functional.jacobian(step, h3)[0, :, 0, :]
    torch.testing.assert_close(J, auto, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_size": 10_000}, "hidden_size"),
        ({"rho": 0.0}, "rho"),
        ({"rho": float("nan")}, "rho"),
        ({"activation": "sigmoid"}, "activation"),
        ({"w_init": "xavier"}, "w_init"),
        ({"input_scale": -1.0}, "input_scale"),
    ],
)
def test_config_rejects_bad_arguments_by_name(kw, name):
    with pytest.raises(ValueError, match=name):
        RNNConfig(**kw)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_fused_module_computes_the_hand_written_cell(kind):
    """Training uses torch's fused module with the cell's weights: same outputs and same weight gradients."""
    from lrd_core.models.recurrent import Fused, build_recurrent

    cell = build_recurrent(kind, 3, 16, torch.Generator().manual_seed(2), rho=0.9, forget_bias=2.0, keep_bias=1.5)
    noise = torch.Generator().manual_seed(3)
    with torch.no_grad():  # every bias non-zero and distinct, so a bias copied to the wrong place shows
        for p in cell.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=noise))
    fused = Fused(cell)
    x = torch.randn(4, 40, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(fused(x), cell(x), rtol=0, atol=1e-6)
    cell(x).square().sum().backward()
    fused(x).square().sum().backward()
    grad_hh = fused.net.weight_hh_l0.grad
    ours = cell.W.grad if kind == "RNN" else cell.W_hh.grad
    torch.testing.assert_close(grad_hh, ours, rtol=1e-5, atol=1e-5)


def test_fused_folds_the_input_scale_and_rejects_other_activations():
    from lrd_core.models.recurrent import Fused

    cell = ElmanRNN(RNNConfig(3, 8, input_scale=2.5), torch.Generator().manual_seed(0))
    x = torch.randn(2, 10, 3, generator=torch.Generator().manual_seed(1))
    state = torch.random.get_rng_state()
    torch.testing.assert_close(Fused(cell)(x), cell(x), rtol=0, atol=1e-6)
    assert torch.equal(state, torch.random.get_rng_state()), "fusing drew from the global RNG"
    with pytest.raises(ValueError, match="activation"):
        Fused(ElmanRNN(RNNConfig(3, 8, activation="identity"), torch.Generator().manual_seed(0)))
