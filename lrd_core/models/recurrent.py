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
    def from_torch(cls, rnn: nn.RNN) -> ElmanRNN:
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
        B = x.shape[0]
        drive = (self.config.input_scale * x) @ self.U.T + self.b  # (B, T, H): U x_t + b for all t
        h = x.new_zeros(B, self.config.hidden_size)  # (B, H)
        WT = self.W.T  # (H, H), transposed once
        states, pre = [], []
        for d_t in drive.unbind(dim=1):  # (B, H); unbind, not drive[:, t], keeps the backward cheap
            a = h @ WT + d_t  # (B, H)
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


# ---------------------------------------------------------------------------
# Gated recurrence: LSTM and GRU cells written out step by step, so that every
# gate activation is visible to the probes (the fused torch modules hide them).
# ---------------------------------------------------------------------------

MIN_GATE_BIAS, MAX_GATE_BIAS = -10.0, 10.0  # initial bias of the forget (LSTM) or keep (GRU) gate


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    """U(-bound, bound) drawn from ``generator`` in float64, returned as float32 (torch's default init)."""
    return ((2.0 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1.0) * bound).float()


def _check_fused(module: nn.Module, kind: type) -> None:
    """The fused module must be the simple case the hand-written cells reproduce."""
    if not isinstance(module, kind):
        raise ValueError(f"module must be a torch.nn.{kind.__name__}, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.batch_first:
        raise ValueError(f"module must be a single-layer, one-direction, batch_first nn.{kind.__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError("module must have proj_size=0 (no LSTM projection)")


@dataclass(frozen=True)
class LSTMConfig:
    input_size: int = 2  # D: features per time step (2 for the adding problem)
    hidden_size: int = 64  # H: units of h_t and of the cell c_t
    forget_bias: float = 1.0  # initial b_f: f_t starts near sigmoid(b_f); 1 is the usual "remember" init
    chrono_T: int | None = None  # chrono init (Tallec & Ollivier 2018): b_f ~ log U[1, T-1], b_i = -b_f per unit

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("hidden_size", self.hidden_size, 1, MAX_HIDDEN)
        check_float("forget_bias", self.forget_bias, MIN_GATE_BIAS, MAX_GATE_BIAS)
        if self.chrono_T is not None:
            check_int("chrono_T", self.chrono_T, 3, 10**6)


class LSTM(nn.Module):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with a forget gate), h_0 = c_0 = 0::

        i_t = sigmoid(a_i)   f_t = sigmoid(a_f)   g_t = tanh(a_g)   o_t = sigmoid(a_o)
        a_t = W_ih x_t + W_hh h_{t-1} + b          (4H rows in torch's order i, f, g, o)
        c_t = f_t * c_{t-1} + i_t * g_t            the cell: an additive path through time
        h_t = o_t * tanh(c_t)

    Along the cell path alone, dc_t/dc_{t-1} = diag(f_t): no weight matrix, no
    squashing derivative, so dc_T/dc_0 (gates held fixed) = prod_t f_t.

    Weights are drawn U(-1/sqrt(H), 1/sqrt(H)) as torch does; biases start at 0
    except b_f = ``config.forget_bias``, or with ``config.chrono_T`` the chrono init (Tallec & Ollivier
    2018): b_f = log u, u ~ U[1, T − 1] per unit, and b_i = −b_f. ``b`` is torch's b_ih + b_hh.
    """

    def __init__(self, config: LSTMConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        H, D = config.hidden_size, config.input_size
        bound = 1.0 / H**0.5
        self.W_ih = nn.Parameter(_uniform((4 * H, D), bound, generator))  # (4H, D)
        self.W_hh = nn.Parameter(_uniform((4 * H, H), bound, generator))  # (4H, H)
        b = torch.zeros(4 * H)
        b[H : 2 * H] = config.forget_bias  # rows H..2H are the forget gate
        if config.chrono_T is not None:  # drawn after the weights, so the weights match the plain init's
            u = 1.0 + (config.chrono_T - 2) * torch.rand(H, generator=generator, dtype=torch.float64)
            b[H : 2 * H] = torch.log(u).float()  # time constants spread over 1..T-1 steps
            b[:H] = -b[H : 2 * H]  # input gate: b_i = -b_f
        self.b = nn.Parameter(b)  # (4H,)

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> LSTM:
        """Copy the weights of a one-layer, batch-first ``nn.LSTM`` (gate order i, f, g, o) exactly."""
        _check_fused(lstm, nn.LSTM)
        model = cls(LSTMConfig(lstm.input_size, lstm.hidden_size), torch.Generator().manual_seed(0))
        model = model.to(lstm.weight_hh_l0.dtype)
        with torch.no_grad():
            model.W_ih.copy_(lstm.weight_ih_l0)
            model.W_hh.copy_(lstm.weight_hh_l0)
            model.b.copy_(lstm.bias_ih_l0 + lstm.bias_hh_l0 if lstm.bias else torch.zeros_like(model.b))
        return model

    def _scan(self, x: torch.Tensor, state, direct_path_only: bool, record: bool):
        B, T, D = x.shape
        H = self.config.hidden_size
        # Speed (see bench/bench_lstm.py): tanh(a) = 2 sigmoid(2a) - 1, so doubling the g rows lets ONE
        # sigmoid over all 4H rows give i, f, o and sigmoid(2 a_g) from which g_t follows.
        two_g = torch.ones(4 * H, dtype=x.dtype, device=x.device)
        two_g[2 * H : 3 * H] = 2.0
        W_hh_T = self.W_hh.T * two_g  # (H, 4H)
        x_tm = x.transpose(0, 1).reshape(T * B, D)  # (T*B, D): time-major, so each step's slice is contiguous
        drive = torch.addmm(self.b * two_g, x_tm, self.W_ih.T * two_g).view(T, B, 4 * H)  # W_ih x_t + b, all t
        if state is None:
            h, c = x.new_zeros(B, H), x.new_zeros(B, H)  # (B, H) each
        else:
            h, c = state
        states, rec = [], {k: [] for k in ("i", "f", "g", "o", "c")}
        # unbind, not drive[t]: each indexing's backward would allocate a zero (T, B, 4H) tensor
        for d_t in drive.unbind(dim=0):  # d_t: (B, 4H)
            i, f, s_g, o = torch.sigmoid(torch.addmm(d_t, h, W_hh_T)).chunk(4, dim=1)  # (B, H) each
            if direct_path_only:  # keep only c_{t-1} -> c_t: everything computed from h_{t-1} is held fixed
                i, f, s_g = i.detach(), f.detach(), s_g.detach()
            c = torch.addcmul(f * c - i, i, s_g, value=2.0)  # f*c + i*g with g = 2 s_g - 1 = tanh(a_g)
            h = o * torch.tanh(c)
            states.append(h)
            if record:
                for k, v in zip(("i", "f", "g", "o", "c"), (i, f, 2.0 * s_g - 1.0, o, c), strict=True):
                    rec[k].append(v)
        return states, rec

    def unroll(self, x: torch.Tensor, state=None, *, direct_path_only: bool = False):
        """x (B, T, D) -> (list of T states h_t (B, H), gates).

        ``gates`` maps "i", "f", "g", "o" and "c" to (B, T, H) tensors: the input,
        forget and output gates, the candidate g_t and the cell c_t of every step
        (nodes of the autograd graph). ``state`` = (h_0, c_0), each (B, H), or
        None for zeros. With ``direct_path_only`` the gates and candidate are
        detached, so c_T depends on c_0 only through the cell path.
        """
        states, rec = self._scan(x, state, direct_path_only, record=True)
        return states, {k: torch.stack(v, dim=1) for k, v in rec.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> hidden states (B, T, H)."""
        states, _ = self._scan(x, None, False, record=False)
        return torch.stack(states, dim=1)


@dataclass(frozen=True)
class GRUConfig:
    input_size: int = 2  # D: features per time step
    hidden_size: int = 64  # H
    keep_bias: float = 0.0  # initial bias of z (torch's z = share of h_{t-1} kept); > 0 starts with longer memory

    def __post_init__(self):
        check_int("input_size", self.input_size, 1, 1024)
        check_int("hidden_size", self.hidden_size, 1, MAX_HIDDEN)
        check_float("keep_bias", self.keep_bias, MIN_GATE_BIAS, MAX_GATE_BIAS)


class GRU(nn.Module):
    """Gated recurrent unit (Cho et al. 2014) in torch's convention, h_0 = 0::

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))     candidate
        h_t = z_t * h_{t-1} + (1 - z_t) * n_t

    Mind the convention: torch's z_t is the share of the old state KEPT. Many
    texts write h_t = (1 - z_t) h_{t-1} + z_t n_t instead, i.e. their z is
    1 - (torch's z), and call (1 - z_t) the GRU's forget factor. Here that keep
    factor is exactly torch's z_t; the probes and pages call it "keep" and
    write it as 1 - z in the textbook notation. Along the direct path,
    dh_T/dh_0 (gates and candidate held fixed) = prod_t z_t (torch) = prod_t (1 - z_t) (textbook).

    Weights (rows in torch's order r, z, n) are drawn U(-1/sqrt(H), 1/sqrt(H));
    biases start at 0 except b_iz = ``config.keep_bias``. The two biases stay
    separate because b_hn sits inside r_t * (...).
    """

    def __init__(self, config: GRUConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        H, D = config.hidden_size, config.input_size
        bound = 1.0 / H**0.5
        self.W_ih = nn.Parameter(_uniform((3 * H, D), bound, generator))  # (3H, D)
        self.W_hh = nn.Parameter(_uniform((3 * H, H), bound, generator))  # (3H, H)
        b_ih = torch.zeros(3 * H)
        b_ih[H : 2 * H] = config.keep_bias  # rows H..2H are z
        self.b_ih = nn.Parameter(b_ih)  # (3H,)
        self.b_hh = nn.Parameter(torch.zeros(3 * H))  # (3H,)

    @classmethod
    def from_torch(cls, gru: nn.GRU) -> GRU:
        """Copy the weights of a one-layer, batch-first ``nn.GRU`` (gate order r, z, n) exactly."""
        _check_fused(gru, nn.GRU)
        model = cls(GRUConfig(gru.input_size, gru.hidden_size), torch.Generator().manual_seed(0))
        model = model.to(gru.weight_hh_l0.dtype)
        with torch.no_grad():
            model.W_ih.copy_(gru.weight_ih_l0)
            model.W_hh.copy_(gru.weight_hh_l0)
            if gru.bias:
                model.b_ih.copy_(gru.bias_ih_l0)
                model.b_hh.copy_(gru.bias_hh_l0)
            else:
                model.b_ih.zero_()
                model.b_hh.zero_()
        return model

    def _scan(self, x: torch.Tensor, state, direct_path_only: bool, record: bool):
        B, _T, _ = x.shape
        H = self.config.hidden_size
        drive = x @ self.W_ih.T + self.b_ih  # (B, T, 3H): W_i x_t + b_i for all t at once
        W_hh_T = self.W_hh.T  # (H, 3H)
        h = x.new_zeros(B, H) if state is None else state  # (B, H)
        states, rec = [], {k: [] for k in ("r", "z", "n")}
        for a_x in drive.unbind(dim=1):  # a_x: (B, 3H); unbind keeps the backward cheap (see LSTM)
            a_h = torch.addmm(self.b_hh, h, W_hh_T)  # (B, 3H)
            r, z = torch.sigmoid(a_x[:, : 2 * H] + a_h[:, : 2 * H]).chunk(2, dim=1)  # (B, H) each
            n = torch.tanh(a_x[:, 2 * H :] + r * a_h[:, 2 * H :])  # (B, H)
            if direct_path_only:  # keep only h_{t-1} -> h_t through z_t * h_{t-1}
                z, n = z.detach(), n.detach()
            h = n + z * (h - n)  # = z * h_{t-1} + (1 - z) * n
            states.append(h)
            if record:
                for k, v in zip(("r", "z", "n"), (r, z, n), strict=True):
                    rec[k].append(v)
        return states, rec

    def unroll(self, x: torch.Tensor, state=None, *, direct_path_only: bool = False):
        """x (B, T, D) -> (list of T states h_t (B, H), gates).

        ``gates`` maps "r", "z" and "n" to (B, T, H) tensors: reset gate, torch's
        update gate z_t (the keep factor: textbook 1 - z_t) and candidate n_t.
        ``state`` is h_0 (B, H) or None for zeros. With ``direct_path_only`` z_t
        and n_t are detached, so h_T depends on h_0 only through z_t * h_{t-1}.
        """
        states, rec = self._scan(x, state, direct_path_only, record=True)
        return states, {k: torch.stack(v, dim=1) for k, v in rec.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> hidden states (B, T, H)."""
        states, _ = self._scan(x, None, False, record=False)
        return torch.stack(states, dim=1)


RECURRENT_KINDS = ("RNN", "LSTM", "GRU")


class Fused(nn.Module):
    """A hand-written cell's weights in torch's fused ``nn.RNN``/``nn.LSTM``/``nn.GRU``: the same function,
    2-3x faster to train on a CPU, but its gates cannot be read. x (B, T, D) -> hidden states (B, T, H)."""

    def __init__(self, cell: ElmanRNN | LSTM | GRU):
        super().__init__()
        c = cell.config
        zero = torch.zeros_like
        with torch.random.fork_rng(devices=[]):  # torch's own init draws from the global RNG: leave it as it was
            self.net, weights = self._module_for(cell, c, zero)
        self.net = self.net.to(cell.W_hh.dtype if hasattr(cell, "W_hh") else cell.W.dtype)
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        with torch.no_grad():
            for name, w in zip(names, weights, strict=True):
                getattr(self.net, name).copy_(w)

    @staticmethod
    def _module_for(cell, c, zero) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        """The fused module for ``cell`` and the cell's weights in its order (w_ih, w_hh, b_ih, b_hh)."""
        if isinstance(cell, ElmanRNN):
            if c.activation not in ("tanh", "relu"):
                raise ValueError(f"cell activation must be tanh or relu to fuse, got {c.activation!r}")
            net = nn.RNN(c.input_size, c.hidden_size, nonlinearity=c.activation, batch_first=True)
            return net, (cell.U * c.input_scale, cell.W, cell.b, zero(cell.b))  # U (s x) = (s U) x
        if isinstance(cell, LSTM):
            return nn.LSTM(c.input_size, c.hidden_size, batch_first=True), (cell.W_ih, cell.W_hh, cell.b, zero(cell.b))
        if isinstance(cell, GRU):
            return nn.GRU(c.input_size, c.hidden_size, batch_first=True), (cell.W_ih, cell.W_hh, cell.b_ih, cell.b_hh)
        raise ValueError(f"cell must be an ElmanRNN, LSTM or GRU, got {type(cell).__name__}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> hidden states (B, T, H)."""
        return self.net(x)[0]


def build_recurrent(
    kind: str,
    input_size: int,
    hidden_size: int,
    generator: torch.Generator,
    *,
    rho: float = 1.0,
    forget_bias: float = 1.0,
    keep_bias: float = 0.0,
    fused: bool = False,
    chrono_T: int | None = None,
) -> nn.Module:
    """One of the three recurrent encoders by name, (B, T, input_size) -> (B, T, hidden_size).

    "RNN": tanh Elman RNN with orthogonal W of scale ``rho``; "LSTM" with
    forget-gate bias ``forget_bias``; "GRU" with keep-gate bias ``keep_bias``. ``fused``: the same weights
    in torch's fused module (for training, where no gate is read). ``chrono_T``: the LSTM's chrono init.
    """
    check_choice("kind", kind, RECURRENT_KINDS)
    if kind == "RNN":
        cell = ElmanRNN(RNNConfig(input_size, hidden_size, "tanh", "orthogonal", rho), generator)
    elif kind == "LSTM":
        cell = LSTM(LSTMConfig(input_size, hidden_size, forget_bias, chrono_T), generator)
    else:
        cell = GRU(GRUConfig(input_size, hidden_size, keep_bias), generator)
    return Fused(cell) if fused else cell
