"""Hand-written recurrent networks whose per-step states are visible to probes.

Every model here unrolls in Python so that probes can differentiate with
respect to each hidden state h_t; the same module is used for training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lrd_core.limits import MAX_HIDDEN, MAX_INPUT_SCALE, MAX_RHO, MIN_RHO
from lrd_core.validate import check_choice, check_float, check_int

ACTIVATIONS = ("tanh", "relu", "identity")
W_INITS = ("orthogonal", "gaussian")


@dataclass(frozen=True)
class RNNConfig:
    input_size: int = 2  # D: features per time step (2 for the adding problem)
    hidden_size: int = 64  # H
    activation: str = "tanh"  # phi in h_t = phi(W h_{t-1} + U x_t + b)
    w_init: str = "orthogonal"  # W = rho * Q (Q orthogonal) or Gaussian rescaled to spectral radius rho
    rho: float = 1.0  # scale of W: its spectral radius (and, for "orthogonal", its spectral norm)
    input_scale: float = 1.0  # multiplies x_t; large values saturate tanh

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("hidden_size", self.hidden_size, 1, MAX_HIDDEN)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("w_init", self.w_init, W_INITS)
        check_float("rho", self.rho, MIN_RHO, MAX_RHO)
        check_float("input_scale", self.input_scale, 0.0, MAX_INPUT_SCALE)


def recurrent_matrix(n: int, rho: float, kind: str, generator: torch.Generator) -> torch.Tensor:
    """An (n, n) matrix of spectral radius ``rho``: rho * Q with Q orthogonal, or a rescaled Gaussian."""
    check_choice("w_init", kind, W_INITS)
    g = torch.randn(n, n, generator=generator, dtype=torch.float64)
    if kind == "orthogonal":
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r))  # Haar-distributed orthogonal matrix
        return rho * q
    radius = torch.linalg.eigvals(g).abs().max()
    return rho * g / radius


def activation_fn(name: str):
    """phi and its derivative phi' as functions of the pre-activation a."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "tanh":
        return torch.tanh, lambda a: 1.0 - torch.tanh(a) ** 2
    if name == "relu":
        return torch.relu, lambda a: (a > 0).to(a.dtype)
    return (lambda a: a), torch.ones_like


class ElmanRNN(nn.Module):
    """h_t = phi(W h_{t-1} + U (s x_t) + b), h_0 = 0, with s the input scale.

    ``forward`` maps x (B, T, D) to all hidden states (B, T, H);
    ``unroll`` returns them as a list of T tensors (B, H), each a node of the
    autograd graph, plus the pre-activations (B, T, H) for Jacobian probes.
    """

    def __init__(self, config: RNNConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        H, D = config.hidden_size, config.input_size
        W = recurrent_matrix(H, config.rho, config.w_init, generator)
        U = torch.randn(H, D, generator=generator, dtype=torch.float64) / D**0.5
        self.W = nn.Parameter(W.float())  # (H, H)
        self.U = nn.Parameter(U.float())  # (H, D)
        self.b = nn.Parameter(torch.zeros(H))  # (H,)
        self.phi, self.dphi = activation_fn(config.activation)

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> "ElmanRNN":
        """Copy the weights of a one-layer, batch-first ``nn.RNN`` (tanh or relu)."""
        if rnn.num_layers != 1 or rnn.bidirectional or not rnn.batch_first:
            raise ValueError("rnn must be a single-layer, one-direction, batch_first nn.RNN")
        config = RNNConfig(rnn.input_size, rnn.hidden_size, activation=rnn.nonlinearity)
        model = cls(config, torch.Generator().manual_seed(0)).to(rnn.weight_hh_l0.dtype)
        with torch.no_grad():
            model.W.copy_(rnn.weight_hh_l0)
            model.U.copy_(rnn.weight_ih_l0)
            bias = rnn.bias_ih_l0 + rnn.bias_hh_l0 if rnn.bias else torch.zeros_like(model.b)
            model.b.copy_(bias)
        return model

    def unroll(self, x: torch.Tensor):
        """x (B, T, D) -> (list of T states h_t (B, H), pre-activations a (B, T, H))."""
        B, T, _ = x.shape
        drive = (self.config.input_scale * x) @ self.U.T + self.b  # (B, T, H): U x_t + b for all t
        h = x.new_zeros(B, self.config.hidden_size)  # (B, H)
        states, pre = [], []
        for t in range(T):
            a = h @ self.W.T + drive[:, t]  # (B, H)
            h = self.phi(a)
            states.append(h)
            pre.append(a)
        return states, torch.stack(pre, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> hidden states (B, T, H)."""
        states, _ = self.unroll(x)
        return torch.stack(states, dim=1)

    def jacobians(self, pre: torch.Tensor) -> torch.Tensor:
        """J_t = dh_t/dh_{t-1} = diag(phi'(a_t)) W for pre-activations (B, T, H) -> (B, T, H, H)."""
        return self.dphi(pre).unsqueeze(-1) * self.W  # row i of W scaled by phi'(a_t)_i


class SequenceRegressor(nn.Module):
    """A recurrent encoder and a linear read-out of its last state: (B, T, D) -> (B, out)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, out_size: int, generator: torch.Generator):
        super().__init__()
        self.encoder = encoder
        self.readout = nn.utils.skip_init(nn.Linear, hidden_size, out_size)  # no global-RNG draw
        bound = 1.0 / hidden_size**0.5
        with torch.no_grad():
            self.readout.weight.uniform_(-bound, bound, generator=generator)
            self.readout.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.encoder(x)[:, -1])  # (B, out)
