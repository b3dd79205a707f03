"""Diagonal state-space models: kernel == formula, FFT == recurrence, causality, τ, errors, seeds, S4D vs LSTM."""

import math

import numpy as np
import pytest
import torch

from lrd_core import theory
from lrd_core.experiments import state_space
from lrd_core.ssm import (
    INITS,
    S4DConfig,
    S4DModel,
    discretize,
    s4d_eigenvalues,
    s4d_kernel,
    s4d_parameters,
    ssm_fft,
    ssm_scan,
    time_constants,
)
from lrd_core.tasks import delayed_recall
from lrd_core.train import TrainConfig

LENGTHS = (1, 7, 64, 100, 333, 1000)  # powers of two and not


def _system(init: str, H: int = 4, N: int = 8, seed: int = 0, dtype=torch.float64, dt=(1e-3, 1e-1)):
    dt_, A, C = s4d_parameters(H, N, init, dt[0], dt[1], torch.Generator().manual_seed(seed))
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return dt_.to(dtype), A.to(cdtype), C.to(cdtype)


def _input(B: int, H: int, L: int, dtype, seed: int = 1):
    return torch.randn(B, H, L, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


# --- the two computations agree ---------------------------------------------------------------


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("L", LENGTHS)
def test_fft_equals_scan_float64(init, L):
    dt, A, C = _system(init)
    u = _input(2, 4, L, torch.float64)
    y_scan = ssm_scan(u, dt, A, C)
    y_fft = ssm_fft(u, s4d_kernel(dt, A, C, L))
    assert y_scan.shape == y_fft.shape == (2, 4, L) and y_fft.dtype == torch.float64
    assert torch.max(torch.abs(y_fft - y_scan)).item() < 1e-10


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("L", LENGTHS)
def test_fft_equals_scan_float32(init, L):
    dt, A, C = _system(init, dtype=torch.float32)
    u = _input(2, 4, L, torch.float32)
    y_scan = ssm_scan(u, dt, A, C)
    y_fft = ssm_fft(u, s4d_kernel(dt, A, C, L))
    assert y_fft.dtype == torch.float32
    assert torch.max(torch.abs(y_fft - y_scan)).item() < 1e-5


@pytest.mark.parametrize("init", INITS)
def test_fft_equals_scan_float32_relative_at_page_sizes(init):
    """Bigger layers accumulate more float32 round-off in both paths: the agreement is 1e-5 of max |y|."""
    dt, A, C = _system(init, H=16, N=32, dtype=torch.float32)
    u = _input(1, 16, 2048, torch.float32)
    y_scan = ssm_scan(u, dt, A, C)
    err = torch.max(torch.abs(ssm_fft(u, s4d_kernel(dt, A, C, 2048)) - y_scan)).item()
    assert err < 1e-5 * torch.max(torch.abs(y_scan)).item()


@pytest.mark.parametrize("init", INITS)
def test_fft_equals_scan_bilinear(init):
    dt, A, C = _system(init)
    u = _input(1, 4, 300, torch.float64)
    y_fft = ssm_fft(u, s4d_kernel(dt, A, C, 300, method="bilinear"))
    assert torch.max(torch.abs(y_fft - ssm_scan(u, dt, A, C, method="bilinear"))).item() < 1e-10


def _numpy_kernel(dt, A, C, L):
    """The ZOH formula term by term, in plain numpy: K[h,l] = 2 Re sum_n C[h,n] (e^{dt A} - 1)/A e^{dt A l}."""
    dt, A, C = dt.numpy(), A.numpy(), C.numpy()
    K = np.zeros((A.shape[0], L))
    for h in range(A.shape[0]):
        for n in range(A.shape[1]):
            c_prime = C[h, n] * (np.exp(dt[h] * A[h, n]) - 1.0) / A[h, n]
            K[h] += 2.0 * np.real(c_prime * np.exp(dt[h] * A[h, n] * np.arange(L)))
    return K


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("L", (1, 10, 257, 1024))
def test_kernel_matches_numpy_formula(init, L):
    dt, A, C = _system(init, H=3, N=16, seed=5, dt=(1e-3, 0.5))
    K = s4d_kernel(dt, A, C, L)
    assert K.shape == (3, L) and K.dtype == torch.float64
    np.testing.assert_allclose(K.numpy(), _numpy_kernel(dt, A, C, L), rtol=0, atol=1e-10)


def test_bilinear_close_to_zoh_for_small_steps():
    dt, A, C = _system("lin", dt=(1e-4, 1e-3))
    K_zoh, K_bil = s4d_kernel(dt, A, C, 200), s4d_kernel(dt, A, C, 200, method="bilinear")
    assert torch.max(torch.abs(K_zoh - K_bil)).item() < 1e-3 * torch.max(torch.abs(K_zoh)).item()


# --- structure: causality, zero in zero out, memory -------------------------------------------


@pytest.mark.parametrize("path", ("scan", "fft"))
def test_causality(path):
    dt, A, C = _system("inv")
    L, t = 50, 20
    u = _input(1, 4, L, torch.float64)
    v = u.clone()
    v[..., t + 1 :] = torch.randn(1, 4, L - t - 1, dtype=torch.float64) * 100  # change only the future
    run = (lambda x: ssm_scan(x, dt, A, C)) if path == "scan" else (lambda x: ssm_fft(x, s4d_kernel(dt, A, C, L)))
    y_u, y_v = run(u), run(v)
    assert torch.equal(y_u[..., : t + 1], y_v[..., : t + 1]) or torch.allclose(
        y_u[..., : t + 1], y_v[..., : t + 1], rtol=0, atol=1e-9
    )
    assert not torch.allclose(y_u[..., t + 1 :], y_v[..., t + 1 :])
    # and an impulse at t0 produces nothing before t0
    imp = torch.zeros(1, 4, L, dtype=torch.float64)
    imp[..., t] = 1.0
    assert torch.max(torch.abs(run(imp)[..., :t])).item() < 1e-12


def test_zero_input_gives_zero_output():
    dt, A, C = _system("real")
    u = torch.zeros(3, 4, 77, dtype=torch.float64)
    assert torch.count_nonzero(ssm_scan(u, dt, A, C)) == 0
    assert torch.max(torch.abs(ssm_fft(u, s4d_kernel(dt, A, C, 77)))).item() == 0.0
    model = S4DModel(S4DConfig(input_size=3, channels=8, state_size=4), torch.Generator().manual_seed(0))
    model.encoder.bias.data.zero_()  # already zero; LayerNorm of a zero row is zero
    assert torch.count_nonzero(model(torch.zeros(2, 30, 3))) == 0


def test_impulse_response_is_the_kernel():
    dt, A, C = _system("lin")
    imp = torch.zeros(1, 4, 60, dtype=torch.float64)
    imp[..., 0] = 1.0
    torch.testing.assert_close(ssm_scan(imp, dt, A, C)[0], s4d_kernel(dt, A, C, 60), rtol=0, atol=1e-12)


def test_time_constants_from_eigenvalues():
    dt, A, _ = _system("lin")
    tau = time_constants(dt, A)
    torch.testing.assert_close(tau, (2.0 / dt).unsqueeze(-1).expand_as(tau))  # Re A = -1/2: tau = 2 / dt
    A_bar, _ = discretize(dt, A)
    L = 300
    torch.testing.assert_close(A_bar.abs() ** L, torch.exp(-L / tau))  # |A_bar|^L = exp(-L / tau)
    dt_r, A_r, _ = _system("real")
    torch.testing.assert_close(time_constants(dt_r, A_r)[:, 0], 1.0 / dt_r)  # slowest real mode: tau = 1 / dt
    assert theory.ssm_memory(L, 100.0) == pytest.approx(math.exp(-3.0))
    assert theory.forget_time_constant(0.99) == pytest.approx(-1.0 / math.log(0.99))
    assert theory.ssm_memory(L, theory.forget_time_constant(0.99)) == pytest.approx(0.99**L)


def test_kernel_envelope_bounds_the_kernel():
    dt, A, C = _system("inv", H=3, N=16)
    df = state_space.ssm_kernel_frame(dt, A, C, 2000, max_points=2000)
    for _, d in df.groupby("channel"):
        measured = d[d["kind"] == "measured"]["abs_K"].to_numpy()
        bound = d[d["kind"] == "bound"]["abs_K"].to_numpy()
        assert np.all(measured <= bound * (1 + 1e-9))


def test_eigenvalues():
    A = s4d_eigenvalues(2, 4, "lin")
    assert A.shape == (2, 4)
    torch.testing.assert_close(
        A[0],
        torch.tensor(
            [-0.5 + 0j, -0.5 + math.pi * 1j, -0.5 + 2 * math.pi * 1j, -0.5 + 3 * math.pi * 1j], dtype=torch.complex128
        ),
    )
    assert torch.all(s4d_eigenvalues(1, 5, "real").imag == 0)
    inv = s4d_eigenvalues(1, 5, "inv")[0]
    assert torch.all(inv.real == -0.5) and inv.imag[0] == pytest.approx(5 / math.pi * 4)


# --- arguments and seeds ----------------------------------------------------------------------


def _bad_calls():
    dt, A, C = _system("lin")
    u = torch.zeros(1, 4, 10, dtype=torch.float64)
    return [
        (lambda: s4d_kernel(dt, A, C, 0), "L"),
        (lambda: s4d_kernel(dt, A, C, 10**7), "L"),
        (lambda: s4d_kernel(dt, A, C, 2.5), "L"),
        (lambda: s4d_kernel(-dt, A, C, 10), "dt"),
        (lambda: s4d_kernel(dt[:2], A, C, 10), "A"),
        (lambda: s4d_kernel(dt, A.real, C, 10), "A"),
        (lambda: s4d_kernel(dt, -A, C, 10), "A"),
        (lambda: s4d_kernel(dt, A, C[:, :3], 10), "C"),
        (lambda: s4d_kernel(dt, A, C, 10, method="euler"), "method"),
        (lambda: ssm_scan(u[0], dt, A, C), "u"),
        (lambda: ssm_scan(u[:, :2], dt, A, C), "u"),
        (lambda: ssm_fft(u, torch.zeros(4, 9, dtype=torch.float64)), "K"),
        (lambda: ssm_fft(u, torch.zeros(3, 10, dtype=torch.float64)), "u"),
        (lambda: s4d_eigenvalues(4, 8, "hippo"), "init"),
        (lambda: s4d_eigenvalues(4, 0, "lin"), "N"),
        (lambda: S4DConfig(dt_min=0.1, dt_max=0.01), "dt_max"),
        (lambda: S4DConfig(channels=10**6), "channels"),
        (lambda: S4DConfig(n_layers=0), "n_layers"),
        (lambda: delayed_recall(4, 1, torch.Generator()), "T"),
        (lambda: delayed_recall(4, 10, None), "generator"),
        (lambda: state_space.recall_model("GRU", 0), "kind"),
        (lambda: state_space.ssm_vs_lstm(10**5, TrainConfig(steps=1), 0), "T"),
        (lambda: theory.ssm_memory(10, 0.0), "tau"),
        (lambda: theory.forget_time_constant(1.0), "f"),
    ]


@pytest.mark.parametrize("i", range(len(_bad_calls())))
def test_bad_arguments_raise_value_error_naming_the_parameter(i):
    call, name = _bad_calls()[i]
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_same_seed_same_numbers():
    a = _system("inv", seed=3)
    b = _system("inv", seed=3)
    c = _system("inv", seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[2], c[2])
    m1, m2 = state_space.recall_model("S4D", 7), state_space.recall_model("S4D", 7)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    x1, y1 = delayed_recall(4, 20, torch.Generator().manual_seed(1))
    x2, y2 = delayed_recall(4, 20, torch.Generator().manual_seed(1))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    state = torch.random.get_rng_state()
    state_space.recall_model("S4D", 0)
    state_space.recall_model("LSTM", 0)
    assert torch.equal(state, torch.random.get_rng_state()), "model init touched the global RNG"


def test_delayed_recall_layout():
    x, y = delayed_recall(5, 12, torch.Generator().manual_seed(0), n_symbols=8)
    assert x.shape == (5, 12, 10) and y.shape == (5,)
    assert torch.equal(x[:, 0].argmax(-1), y)
    assert torch.all(x[:, 1:-1].argmax(-1) == 8) and torch.all(x[:, -1].argmax(-1) == 9)


def test_model_contract_and_gradients():
    model = S4DModel(S4DConfig(input_size=3, channels=8, state_size=4), torch.Generator().manual_seed(0))
    x = torch.randn(2, 37, 3, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 37, 8)
    out[:, 10].sum().backward()
    past, future = x.grad[:, :11].abs().max().item(), x.grad[:, 11:].abs().max().item()
    assert future < 1e-6 * past  # causal end to end: only float32 FFT round-off reaches later inputs
    assert all(p.grad is not None for p in model.parameters())


def test_short_recall_run_yields_accuracy():
    events = list(
        state_space.recall_run(
            state_space.recall_model("S4D", 0, hidden_size=16, state_size=8),
            20,
            TrainConfig(steps=3, lr=3e-3, batch=8),
            0,
            eval_every=2,
        )
    )
    assert [e.step for e in events] == [0, 1, 2, 3] and "accuracy" in events[-1].metrics  # 0: before training


# --- the race: S4D remembers across a long lag, the LSTM does not (slow) ------------------------

RACE_T, RACE_STEPS = 500, 200


def test_demo_is_the_page_race_with_a_stable_key():
    d = state_space.demo(state_space.DEFAULTS, 0)
    assert d.key == state_space.demo({}, 0).key == state_space.demo(state_space.SIZES["Lecture"], 0).key
    assert d.key != state_space.demo({}, 1).key and d.key != state_space.demo({"init": "inv"}, 0).key
    assert list(d.factories) == list(state_space.RECALL_KINDS) and d.total_steps == 100
    assert d.info["T"] == 100 and d.info["chance"] == pytest.approx(1 / 8) and d.info["init"] == "lin"
    with pytest.raises(ValueError, match="init"):
        state_space.demo({"init": "hippo"}, 0)
    with pytest.raises(ValueError, match="recall_delay"):
        state_space.demo({"recall_delay": 100}, 0)
    with pytest.raises(ValueError, match=r"\bT\b"):
        state_space.demo({"recall_T": 10**5}, 0)
    events = {
        name: list(make()) for name, make in state_space.demo({"recall_T": 20, "recall_steps": 2}, 0).factories.items()
    }
    assert all([e.step for e in evs] == [0, 1, 2] for evs in events.values())


@pytest.mark.slow
def test_s4d_beats_lstm_on_delayed_recall():
    final = {}
    race = state_space.demo({"recall_T": RACE_T, "recall_steps": RACE_STEPS}, 0)  # the page's race at T = 500
    for kind, make in race.factories.items():
        events = list(make())
        final[kind] = events[-1].metrics["accuracy"]
        print(kind, events[-1].step, "steps", round(events[-1].seconds, 1), "s, accuracy", final[kind])
    # Measured, seed 0, one thread (the tests pin one), ATEN_CPU_CAPABILITY=default / AVX2 (bench/claims_spread.py):
    # S4D 1.000 / 1.000 (>= 0.9 from step 90), LSTM 0.102 / 0.102 (its best evaluation
    # 0.148; chance is 1/8).
    assert final["S4D"] >= 0.95
    assert final["LSTM"] <= 0.3


# --- the cost section: counts with the projections, slopes only where the leading term dominates ---


def test_cost_slopes_ranges_and_model_exponents_by_hand():
    """The page's sweeps, leading share 3/4 (theory.DOMINANT_SHARE), N = 32.

    Against L (H = 32, batch 1): every LSTM and S4D term grows like L, so all of 128..2048 counts; attention's
    scores are 2L²H / (2L²H + 4LH²) = L / (L + 64) >= 3/4 from L = 192, so 256..2048.
    Against H (L = 64, batch 8): LSTM all of 32..256; S4D's output projection is
    2BLH² / (2NHL + (2B+1)·H·2L·log2(2L) + 2BLH²) = 16H / (64 + 238 + 16H) >= 3/4 from H = 56.6: 64..256;
    attention's projections 4LH² / (4LH² + 2L²H) = 2H / (2H + 64) >= 3/4 from H = 96: 128..256.
    The model exponents are numpy's fits of those counts over the same sizes, written out here again.
    """
    by_L = state_space.sequence_costs((128, 256, 512, 1024, 2048), (32,), 32, 0, repeats=1)
    by_H = state_space.sequence_costs((64,), (32, 64, 128, 192, 256), 32, 0, repeats=1, batch=8)
    fit_L = state_space.cost_slopes(by_L, "L", 32).set_index("model")
    fit_H = state_space.cost_slopes(by_H, "H", 32).set_index("model")
    ranges = {m: (r.x_from, r.x_to) for m, r in fit_L.iterrows()} | {
        m + " (H)": (r.x_from, r.x_to) for m, r in fit_H.iterrows()
    }
    assert ranges == {
        "LSTM": (128, 2048),
        "S4D (FFT)": (128, 2048),
        "attention": (256, 2048),
        "LSTM (H)": (32, 256),
        "S4D (FFT) (H)": (64, 256),
        "attention (H)": (128, 256),
    }
    assert fit_L["dominated"].all() and fit_H["dominated"].all()

    def slope(x, y):
        return np.polyfit(np.log(x), np.log(y), 1)[0]

    L = np.array([128.0, 256, 512, 1024, 2048])
    H = np.array([64.0, 128, 192, 256])
    assert fit_L.loc["LSTM", "model_slope"] == pytest.approx(1.0, abs=1e-12)
    assert fit_H.loc["LSTM", "model_slope"] == pytest.approx(2.0, abs=1e-12)
    s4d_L = 2 * 32 * 32 * L + 3 * 32 * 2 * L * np.log2(2 * L) + 2 * L * 32**2
    assert fit_L.loc["S4D (FFT)", "model_slope"] == pytest.approx(slope(L, s4d_L), abs=1e-9)  # 1.046
    s4d_H = 2 * 32 * H * 64 + 17 * H * 128 * 7 + 2 * 8 * 64 * H**2
    assert fit_H.loc["S4D (FFT)", "model_slope"] == pytest.approx(slope(H, s4d_H), abs=1e-9)  # 1.863
    attn_L = 4 * L[1:] * 32**2 + 2 * L[1:] ** 2 * 32
    assert fit_L.loc["attention", "model_slope"] == pytest.approx(slope(L[1:], attn_L), abs=1e-9)  # 1.908
    attn_H = 4 * 64 * H[1:] ** 2 + 2 * 64**2 * H[1:]
    assert fit_H.loc["attention", "model_slope"] == pytest.approx(slope(H[1:], attn_H), abs=1e-9)  # 1.847
    assert list(fit_H["asymptotic"]) == [2.0, 2.0, 2.0] and list(fit_L["asymptotic"]) == [1.0, 1.0, 2.0]


def test_measured_cost_exponents_near_the_counts():
    """Timing on a shared 2-core machine is noisy; the bands hold the measured spread. Fastest of 5 (the page's),
    6 runs under load: LSTM against H (fused, batch 8, H = 32..256) 1.54..1.72, count 2; attention against L
    (H = 32, L = 256..2048) 2.27..2.51, count 1.91 (the L x L matrix leaves the cache). Fastest of 3, 9 runs:
    1.35..1.88 and 2.09..2.58. Bands (1.2, 2.4) and (1.6, 3.2). The hand-written LSTM loop in the same sweep
    gives 0.65 against H (its per-step overhead; the issue saw 0.75 at batch 1), which the first band fails.
    The other exponents (S4D: 0.2..0.8 against L, its kernel's fixed cost dominating; 0.7..1.7 against H;
    attention 1.5..3.0 against H, two points) are shown on the page but too noisy to assert."""
    by_L = state_space.sequence_costs((256, 512, 1024, 2048), (32,), 32, 0, repeats=5)
    by_H = state_space.sequence_costs((64,), (32, 64, 128, 192, 256), 32, 0, repeats=5, batch=8)
    lstm_H = state_space.cost_slopes(by_H, "H", 32).set_index("model").loc["LSTM", "measured"]
    attn_L = state_space.cost_slopes(by_L, "L", 32).set_index("model").loc["attention", "measured"]
    print(f"measured exponents: LSTM in H {lstm_H:.2f}, attention in L {attn_L:.2f}")
    assert 1.2 < lstm_H < 2.4
    assert 1.6 < attn_L < 3.2
    assert (by_L["seconds"] > 0).all() and set(by_L["model"]) == set(theory.COST_MODELS)
