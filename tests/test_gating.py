"""Gated recurrence: hand-written LSTM/GRU against torch, the gate-product identity, probes, runs, the page."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from lrd_core import theory
from lrd_core.demo import LECTURE
from lrd_core.experiments import gating
from lrd_core.experiments.gating import copy_memory_model, race, recurrent_adding_model
from lrd_core.history import events_frame, race_summary, steps_to_threshold
from lrd_core.models.heads import SequenceTagger
from lrd_core.models.recurrent import GRU, LSTM, GRUConfig, LSTMConfig, build_recurrent
from lrd_core.task_runs import copy_memory_run
from lrd_core.train import TrainConfig
from tests.apptest_support import open_page


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the hand-written cells reproduce torch's fused modules -------------------------------------------------


def test_lstm_matches_nn_lstm_all_states_and_cells():
    torch.manual_seed(0)  # nn.LSTM's own init draws from the global RNG; only the reference uses it
    ref = nn.LSTM(3, 16, batch_first=True)
    with torch.no_grad():
        ref.bias_ih_l0[16:32] += 1.5  # a non-trivial forget bias, split unevenly across the two biases
    model = LSTM.from_torch(ref)
    x = torch.randn(4, 50, 3, generator=_gen(1))
    want_h, _ = ref(x)  # (4, 50, 16)
    states, gates = model.unroll(x)
    assert torch.allclose(torch.stack(states, 1), want_h, atol=1e-6, rtol=0)
    assert torch.allclose(model(x), want_h, atol=1e-6, rtol=0)
    # every c_t: run the reference one step at a time from its own returned (h, c)
    h = c = torch.zeros(1, 4, 16)
    for t in range(50):
        _, (h, c) = ref(x[:, t : t + 1], (h, c))
        assert torch.allclose(gates["c"][:, t], c[0], atol=1e-6, rtol=0), t
    assert set(gates) == {"i", "f", "g", "o", "c"} and gates["f"].shape == (4, 50, 16)


def test_lstm_gates_are_torchs_gates():
    """The recorded gates recompute h_t and c_t exactly as the LSTM equations say."""
    torch.manual_seed(1)
    model = LSTM.from_torch(nn.LSTM(2, 8, batch_first=True))
    x = torch.randn(2, 20, 2, generator=_gen(2))
    states, gt = model.unroll(x)
    c_prev = torch.cat([torch.zeros(2, 1, 8), gt["c"][:, :-1]], dim=1)
    assert torch.allclose(gt["c"], gt["f"] * c_prev + gt["i"] * gt["g"], atol=1e-6)
    assert torch.allclose(torch.stack(states, 1), gt["o"] * torch.tanh(gt["c"]), atol=1e-6)
    assert float(gt["f"].detach().min()) > 0 and float(gt["f"].detach().max()) < 1


def test_gru_matches_nn_gru_all_states():
    torch.manual_seed(2)
    ref = nn.GRU(3, 16, batch_first=True)
    model = GRU.from_torch(ref)
    x = torch.randn(4, 50, 3, generator=_gen(3))
    want_h, h_n = ref(x)
    states, gates = model.unroll(x)
    assert torch.allclose(torch.stack(states, 1), want_h, atol=1e-6, rtol=0)
    assert torch.allclose(model(x), want_h, atol=1e-6, rtol=0)
    assert torch.allclose(states[-1], h_n[0], atol=1e-6, rtol=0)
    # torch's z is the keep factor: h_t = z h_{t-1} + (1 - z) n_t
    h_prev = torch.cat([torch.zeros(4, 1, 16), want_h[:, :-1]], dim=1)
    assert torch.allclose(want_h, gates["z"] * h_prev + (1 - gates["z"]) * gates["n"], atol=1e-6)


def test_from_torch_rejects_unsupported_modules():
    with pytest.raises(ValueError, match="batch_first"):
        LSTM.from_torch(nn.LSTM(2, 4))
    with pytest.raises(ValueError, match="single-layer"):
        GRU.from_torch(nn.GRU(2, 4, num_layers=2, batch_first=True))
    with pytest.raises(ValueError, match=r"module must be a torch\.nn\.GRU"):
        GRU.from_torch(nn.LSTM(2, 4, batch_first=True))
    with pytest.raises(ValueError, match="proj_size"):
        LSTM.from_torch(nn.LSTM(2, 4, batch_first=True, proj_size=2))


def test_from_torch_without_bias():
    ref = nn.GRU(2, 4, batch_first=True, bias=False)
    x = torch.randn(2, 7, 2, generator=_gen(4))
    assert torch.allclose(GRU.from_torch(ref)(x), ref(x)[0], atol=1e-6)
    ref = nn.LSTM(2, 4, batch_first=True, bias=False)
    assert torch.allclose(LSTM.from_torch(ref)(x), ref(x)[0], atol=1e-6)


# --- the gate-product identity, float64 --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bias", [-2.0, 1.0, 4.0])
def test_gate_product_equals_autograd_direct_path(kind, bias):
    g = _gen(5)
    model = build_recurrent(kind, 3, 12, g, forget_bias=bias, keep_bias=bias).double()
    x = torch.randn(3, 60, 3, generator=g, dtype=torch.float64)
    prod = gating.gate_product(model, x)
    auto = gating.direct_path_derivative(model, x)
    assert prod.shape == auto.shape == (3, 12)
    assert torch.allclose(prod, auto, rtol=0, atol=1e-10)
    assert float((prod - auto).abs().max()) <= 1e-10
    # the numbers are not trivially 0: relative agreement too, where the product is representable
    assert float(prod.min()) > 0
    assert torch.allclose(prod, auto, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_direct_path_jacobian_is_diagonal(kind):
    """The full Jacobian dc_T/dc_0 (gates fixed) is diag(prod gate): off-diagonal entries are exactly 0."""
    g = _gen(6)
    model = build_recurrent(kind, 2, 5, g, forget_bias=2.0, keep_bias=2.0).double()
    x = torch.randn(1, 15, 2, generator=g, dtype=torch.float64)
    zeros = torch.zeros(1, 5, dtype=torch.float64)

    def end(start):
        if kind == "LSTM":
            return model.unroll(x, (zeros, start), direct_path_only=True)[1]["c"][0, -1]
        return model.unroll(x, start, direct_path_only=True)[0][-1][0]

    J = torch.autograd.functional.jacobian(end, zeros.clone())[:, 0]  # (5, 5)
    prod = gating.gate_product(model, x)[0]
    assert torch.equal(J - torch.diag(torch.diagonal(J)), torch.zeros(5, 5, dtype=torch.float64))
    assert torch.allclose(torch.diagonal(J), prod, rtol=1e-12, atol=1e-15)


def test_gates_unchanged_by_direct_path_only():
    g = _gen(7)
    model = build_recurrent("LSTM", 2, 6, g).double()
    x = torch.randn(2, 10, 2, generator=g, dtype=torch.float64)
    s1, g1 = model.unroll(x)
    s2, g2 = model.unroll(x, direct_path_only=True)
    for k in g1:
        assert torch.equal(g1[k], g2[k]), k
    assert torch.equal(torch.stack(s1), torch.stack(s2))


def test_identity_check_summary():
    out = gating.gate_identity_check("LSTM", 16, 50, seed=3, gate_bias=2.0)
    assert out["max_abs_diff"] <= 1e-12 and out["max_rel_diff"] <= 1e-10
    # with constant-ish gates near sigmoid(2) = 0.881 the product over 50 steps is a few 1e-3
    assert 1e-5 < out["median_product"] < theory.forget_gate_product(2.0, 25)
    with pytest.raises(ValueError, match="kind"):
        gating.gate_identity_check("RNN", 16, 50, seed=3)


# --- argument checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: LSTMConfig(hidden_size=0), "hidden_size"),
        (lambda: LSTMConfig(hidden_size=10**6), "hidden_size"),
        (lambda: LSTMConfig(forget_bias=50.0), "forget_bias"),
        (lambda: LSTMConfig(forget_bias=float("nan")), "forget_bias"),
        (lambda: LSTMConfig(input_size=2.5), "input_size"),
        (lambda: GRUConfig(keep_bias=-11.0), "keep_bias"),
        (lambda: GRUConfig(hidden_size=-1), "hidden_size"),
        (lambda: build_recurrent("Transformer", 2, 4, _gen()), "kind"),
        (lambda: gating.gating_gradient_probe(1, 8, 0), "T"),
        (lambda: gating.gating_gradient_probe(10, 8, -1), "seed"),
        (lambda: gating.forget_products(8, 1.0, 10**5, 0), "T"),
        (lambda: race("parity", 10, 8, TrainConfig(steps=1), 0), "task"),
        (lambda: race("adding", 1, 8, TrainConfig(steps=1), 0), "T"),
        (lambda: race("copy", 395, 8, TrainConfig(steps=1), 0), "T"),
        (lambda: race("adding", 10, 8, TrainConfig(steps=1), 0, gate_bias=99.0), "gate_bias"),
        (lambda: race("adding", 10, 8, TrainConfig(steps=1), 0, kinds=("MLP",)), "kind"),
        (lambda: copy_memory_model("LSTM", 8, 0, n_symbols=1), "n_symbols"),
        (lambda: SequenceTagger(nn.Identity(), 4, 1, _gen()), "n_classes"),
        (lambda: steps_to_threshold([1.0], 0.1, window=0), "window"),
        (lambda: theory.forget_gate_product(1.0, -1), "L"),
        (lambda: theory.copy_memory_loss(10, 10, 0.0), "p_correct"),
    ],
)
def test_bad_arguments_raise_value_error_naming_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# --- determinism ------------------------------------------------------------------------------------------


def test_same_seed_same_numbers():
    a = gating.gating_gradient_probe(30, 8, seed=11, gate_bias=2.0)
    b = gating.gating_gradient_probe(30, 8, seed=11, gate_bias=2.0)
    c = gating.gating_gradient_probe(30, 8, seed=12, gate_bias=2.0)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["grad_norm"], c["grad_norm"])
    m1, m2 = (recurrent_adding_model("GRU", 8, 5) for _ in range(2))
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)
    cfg = TrainConfig(steps=5, lr=1e-2, batch=8)
    runs = [race("adding", 12, 8, cfg, seed=3)["LSTM"]() for _ in range(2)]
    l1, l2 = ([e.loss for e in r] for r in runs)
    assert l1 == l2 and len(l1) == 5


def test_models_do_not_touch_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    build_recurrent("LSTM", 2, 8, _gen())
    build_recurrent("GRU", 2, 8, _gen())
    copy_memory_model("LSTM", 8, 0)
    assert torch.equal(torch.rand(1), before)


# --- probes -----------------------------------------------------------------------------------------------


def test_gating_gradient_probe_frame_and_theory():
    df = gating.gating_gradient_probe(40, 16, seed=0, gate_bias=3.0, batch=2)
    assert list(df.columns) == ["model", "sample", "t", "lag", "grad_norm", "gain", "gain_top_unit"]
    assert len(df) == 3 * 2 * 40 and set(df["model"]) == {"RNN", "LSTM", "GRU"}
    at_T = df[df["lag"] == 0]["grad_norm"].to_numpy()
    np.testing.assert_allclose(at_T, 1.0, rtol=1e-6)  # ||v|| = 1 at the loss
    gains = df.groupby("model")["gain"].first()
    assert gains["RNN"] == 1.0
    sig3 = 1 / (1 + math.exp(-3.0))
    assert abs(gains["LSTM"] - sig3) < 0.05 and abs(gains["GRU"] - sig3) < 0.05  # gates start near sigmoid(b)
    long, dashed = gating.gating_comparison_long(df)
    assert len(dashed) == 3 and set(long["series"]) >= set(dashed)
    # theory passes through the measured value one step back
    for kind in ("LSTM", "GRU"):
        d = long[(long["model"] == kind) & (long["lag"] == 1)].set_index("kind")["value"]
        assert d["theory"] == pytest.approx(d["measured"], rel=1e-12)


def test_gate_bias_opens_the_highway():
    """A large gate bias keeps the LSTM/GRU signal alive far longer than a bias of -2."""
    lo = gating.gating_gradient_probe(100, 16, seed=1, gate_bias=-2.0)
    hi = gating.gating_gradient_probe(100, 16, seed=1, gate_bias=5.0)
    for kind in ("LSTM", "GRU"):
        far_lo = lo[(lo["model"] == kind) & (lo["lag"] == 50)]["grad_norm"].iloc[0]
        far_hi = hi[(hi["model"] == kind) & (hi["lag"] == 50)]["grad_norm"].iloc[0]
        assert far_hi > 1e-3 and far_lo < 1e-20, (kind, far_lo, far_hi)


def test_forget_products_follow_sigmoid_bias():
    df = gating.forget_products(32, 2.0, 200, seed=0, batch=2)
    assert set(df.columns) == {"L", "sample", "unit", "prod_f"}
    assert df["L"].min() == 1 and df["L"].max() == 200
    q = gating.forget_product_quantiles(df).pivot(index="L", columns="series", values="prod_f")
    assert (q["min"] <= q["10th percentile"]).all() and (q["median"] <= q["max"]).all()
    assert (q["median"].diff().dropna() <= 0).all()  # a product of numbers below 1 only falls
    med = q.loc[200, "median"]
    ref = theory.forget_gate_product(2.0, 200)  # sigmoid(2)**200 ~ 1e-11
    assert 1e-3 * ref < med < 1e3 * ref
    higher = gating.forget_product_quantiles(gating.forget_products(32, 5.0, 200, seed=0, batch=2))
    assert higher[(higher["L"] == 200) & (higher["series"] == "median")]["prod_f"].iloc[0] > 1e4 * med


def test_theory_closed_forms():
    assert theory.forget_gate_product(0.0, 3) == pytest.approx(0.125)
    np.testing.assert_allclose(theory.forget_gate_product(math.log(3.0), np.array([0, 1, 2])), [1, 0.75, 0.5625])
    assert theory.forget_gate_product(-5.0, 10**6) == 0.0
    assert theory.copy_memory_loss(100, 10, 1 / 8) == pytest.approx(10 * math.log(8) / 120)
    assert theory.copy_memory_loss(100, 10, 1.0) == 0.0


# --- runs -------------------------------------------------------------------------------------------------


def test_copy_memory_run_learns_the_blanks():
    """A few steps of cross-entropy take every model well below log(9), the untrained per-step loss."""
    cfg = TrainConfig(steps=30, lr=1e-2, batch=16)
    for kind in ("RNN", "LSTM", "GRU"):
        model = copy_memory_model(kind, 16, seed=0)
        assert model(torch.zeros(2, 7, 10)).shape == (2, 7, 9)
        events = list(copy_memory_run(model, 20, cfg, seed=0))
        df = events_frame(events)
        assert df["status"].iloc[-1] == "done" and len(df) == 30
        assert df["loss"].iloc[0] > 1.5 and df["loss"].iloc[-5:].mean() < 0.9, kind


def test_race_same_batches_and_budget():
    cfg = TrainConfig(steps=3, lr=1e-3, batch=4)
    factories = race("adding", 10, 8, cfg, seed=0)
    assert list(factories) == ["RNN", "LSTM", "GRU"]
    histories = {k: events_frame(list(f())) for k, f in factories.items()}
    assert all(len(h) == 3 for h in histories.values())
    rows = pd.concat([h.assign(series=k) for k, h in histories.items()])
    summary = race_summary(rows, solved=1e-9, window=2)
    assert list(summary["model"]) == ["RNN", "LSTM", "GRU"] and summary["solved at step"].isna().all()


def test_steps_to_threshold():
    losses = [1.0] * 10 + [0.0] * 10
    assert steps_to_threshold(losses, 0.5, window=4) == 13  # steps 10..13 average 0.25
    assert steps_to_threshold(losses, 0.5, window=1) == 11
    assert steps_to_threshold(losses, -1.0) is None
    assert steps_to_threshold([0.0], 1.0, window=5) is None


# --- slow: the race the page shows, on adding T = 100 -----------------------------------------------------


def _first_solved_step(events, threshold: float = 0.01, window: int = 20):
    """Train until the running mean of ``window`` losses is below ``threshold``; (step or None, losses)."""
    losses = []
    for e in events:
        losses.append(e.loss)
        if len(losses) >= window and np.mean(losses[-window:]) < threshold:
            return steps_to_threshold(losses, threshold, window), losses
    return None, losses


SLOW_CONFIG = TrainConfig(steps=1500, lr=1e-2, batch=64, clip=1.0)  # the page's defaults: H 64, b 1, rho 1, T 100


@pytest.mark.slow
def test_lstm_solves_adding_100_and_rnn_does_not():
    factories = race("adding", 100, 64, SLOW_CONFIG, seed=0, gate_bias=1.0)
    solved_at, lstm = _first_solved_step(factories["LSTM"]())
    # Measured, seed 0, one thread (the tests pin one), ATEN_CPU_CAPABILITY=default / AVX2 (bench/claims_spread.py):
    # LSTM solved at step 762 / 760, GRU at 212 / 212, RNN's last 20 losses 0.185 / 0.187 (the adding baseline
    # is 0.167). Asserted: both gated cells solve within the 1500 steps (2x margin for the LSTM), the RNN does not.
    assert solved_at is not None and solved_at <= 1500, np.mean(lstm[-20:])
    gru_at, gru = _first_solved_step(factories["GRU"]())
    assert gru_at is not None and gru_at <= 1500, np.mean(gru[-20:])
    rnn = [e.loss for e in factories["RNN"]()]
    assert len(rnn) == 1500 and np.mean(rnn[-20:]) > 0.1


# --- the page, under AppTest ------------------------------------------------------------------------------

PAGE = "pages/2_Gating.py"


@pytest.fixture
def page():
    return open_page(PAGE)  # caches are cleared around every test by conftest


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_page_renders_with_charts_and_identity_table(page):
    page.run()
    _ok(page)
    assert page.title[0].value == "Gating: LSTM and GRU"
    specs = [json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in page.get("vega_lite_chart")]
    assert len(specs) == 3
    assert "∏ f_t over L steps" in specs[0] and "‖∂L/∂h_t‖" in specs[1] and "time constant τ" in specs[2]
    table = page.dataframe[0].value  # the float64 identity check, measured on this run
    assert (table["max_abs_diff"] < 1e-12).all() and len(table) == 2
    assert "gated nets" in " ".join(m.value for m in page.markdown)


def test_page_extremes_render(page):
    page.run()
    for values in (
        {"bias": -2.0, "T": 10, "H": 16, "rho": 0.5, "train_T": 10, "steps": 100, "lr": 3e-4, "race_bias": -2.0},
        {"bias": 5.0, "T": 500, "H": 128, "rho": 1.5, "train_T": 300, "steps": 3000, "lr": 3e-2, "race_rho": 1.5},
    ):
        for key, value in values.items():
            widget = next(w for w in list(page.slider) + list(page.select_slider) if w.key == key)
            widget.set_value(value)
        page.run()
        _ok(page)
        assert page.slider(key="T").value == values["T"] and page.select_slider(key="H").value == values["H"]
        assert len(page.get("vega_lite_chart")) == 3
    page.selectbox(key="task").set_value("copy").run()
    _ok(page)
    assert any("replay" in m.value for m in page.markdown)


def test_page_deep_link_and_live_race(page):
    page.query_params["task"] = "copy"
    page.query_params["steps"] = "100"
    page.query_params["train_T"] = "10"
    page.query_params["H"] = "16"
    page.run()
    _ok(page)
    assert page.selectbox(key="task").value == "copy" and page.slider(key="steps").value == 100
    page.button(key="gating_race_start").click().run()  # Start, then the first tick
    page.run()
    _ok(page)
    run = page.session_state["gating_race"]
    assert set(run.last) == {"RNN", "LSTM", "GRU"} and min(e.step for e in run.last.values()) >= 1
    assert len(page.get("vega_lite_chart")) == 4  # the loss chart appeared
    page.button(key="gating_race_stop").click().run()
    _ok(page)
    assert not page.session_state["gating_race"].running


def test_decay_factors_match_gates_when_gates_are_near_one():
    """With b = 5 the GRU's whole-gradient shrink per step equals its mean keep factor to 3 decimals."""
    f = gating.decay_factors(gating.gating_gradient_probe(200, 32, seed=0, gate_bias=5.0)).set_index("model")
    assert f.loc["GRU", "measured"] == pytest.approx(f.loc["GRU", "gain"], abs=2e-3)
    assert f.loc["GRU", "gain"] <= f.loc["GRU", "gain_top_unit"] < 1.0
    assert f.loc["LSTM", "measured"] > 0.99 > f.loc["RNN", "measured"]  # the highway is open; tanh RNN fades


def test_chrono_init_spreads_forget_biases_up_to_the_training_length():
    """b_f = ln u, u ~ U[1, T-1], b_i = -b_f, and the weights are the plain init's (drawn before the biases)."""
    H, T = 256, 50
    chrono = LSTM(LSTMConfig(2, H, chrono_T=T), torch.Generator().manual_seed(0))
    plain = LSTM(LSTMConfig(2, H), torch.Generator().manual_seed(0))
    b_f, b_i = chrono.b[H : 2 * H].detach().double(), chrono.b[:H].detach().double()
    assert torch.equal(chrono.W_hh, plain.W_hh) and torch.equal(chrono.W_ih, plain.W_ih)
    assert b_f.min() >= 0.0 and b_f.max() <= math.log(T - 1) + 1e-6
    torch.testing.assert_close(b_i, -b_f)
    # u = e^b_f is uniform on [1, T-1]: its mean is T/2 within 4 standard errors ((T-2)/sqrt(12 H))
    u = b_f.exp()
    assert abs(float(u.mean()) - T / 2) < 4 * (T - 2) / math.sqrt(12 * H)
    with pytest.raises(ValueError, match="chrono_T"):
        LSTMConfig(2, 8, chrono_T=2)


@pytest.mark.slow
def test_chrono_init_lets_the_lstm_finish_the_lecture_race_on_some_seeds():
    """The gating page's Lecture size (T = 50, 300 steps, lr 3e-2): LSTM with chrono init against forget bias 1.
    Measured (AVX2, seeds 0-4): chrono solved at steps 220, 240, -, -, 274 (3/5); bias 1 solved on none."""
    v = gating.SIZES[LECTURE]
    config = gating.race_config(v["steps"], v["lr"])

    def solved(chrono: bool) -> list[bool]:
        out = []
        for seed in range(5):
            f = gating.race("adding", v["train_T"], 64, config, seed, kinds=("LSTM",), chrono=chrono)
            losses = [e.loss for e in f["LSTM"]()]
            out.append(steps_to_threshold(losses, gating.SOLVED_MSE) is not None)
        return out

    with_chrono, with_bias = solved(True), solved(False)
    assert sum(with_chrono) >= 2 and sum(with_bias) <= 1, (with_chrono, with_bias)


# --- chrono initialisation: the units' time constants, and the page's defaults -----------------------------------


def test_chrono_tau_quantile_closed_form_by_hand():
    """u = e^{b_f} ~ U[1, T−1]; σ(ln u) = u/(1+u), so τ = −1/ln σ = 1/ln(1 + 1/u), increasing in u, and the
    q-quantile sits at u_q = 1 + q(T − 2). For T = 50: q = 0 -> u = 1, τ = 1/ln 2 = 1.442695;
    q = 0.25 -> u = 13, τ = 1/ln(14/13) = 13.493825; q = 0.5 -> u = 25, τ = 1/ln 1.04 = 25.496732;
    q = 1 -> u = 49, τ = 1/ln(50/49) = 49.498316."""
    got = gating.chrono_tau_quantile([0.0, 0.25, 0.5, 1.0], 50)
    np.testing.assert_allclose(got, [1.442695, 13.493825, 25.496732, 49.498316], rtol=1e-6)
    q = np.linspace(0, 1, 11)
    np.testing.assert_allclose(gating.chrono_tau_cdf(gating.chrono_tau_quantile(q, 80), 80), q, atol=1e-12)
    assert gating.chrono_tau_cdf(1.0, 50) == 0.0 and gating.chrono_tau_cdf(60.0, 50) == 1.0  # outside the support


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: gating.chrono_tau_quantile(1.5, 50), "q"),
        (lambda: gating.chrono_tau_quantile(0.5, 2), "T"),
        (lambda: gating.chrono_tau_cdf(0.0, 50), "tau"),
        (lambda: gating.forget_time_constants(GRU(GRUConfig(2, 4), torch.Generator())), "model"),
        (lambda: gating.race_time_constants(2, 8, 0), "T"),
    ],
)
def test_time_constant_functions_reject_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("seed", range(5))
def test_race_lstm_time_constants_follow_the_chrono_distribution(seed):
    """τ read from the race's initialised LSTM (H = 256, T = 50) against the closed form: the empirical CDF is
    within the Kolmogorov-Smirnov 1% critical distance 1.63/√H = 0.102 of chrono_tau_cdf, and the sample median
    within 4 standard errors of τ_0.5 = 25.497 (SE of the median of u: √(0.25/H)·(T − 2) = 1.5 steps, and
    dτ/du = 1/(u(u+1) ln²(1 + 1/u)) ≈ 1 at u = 25, so 6 steps). With forget bias 1 every unit has
    τ(1) = −1/ln σ(1) = 3.192219 (computed here with log and exp, not the library's softplus)."""
    H, T = 256, 50
    df = gating.race_time_constants(T, H, seed, forget_bias=1.0)
    chrono = np.sort(df.loc[df["series"] == f"chrono init, T = {T}", "tau"].to_numpy())
    assert chrono.size == H
    ecdf_hi, ecdf_lo = np.arange(1, H + 1) / H, np.arange(H) / H
    F = gating.chrono_tau_cdf(chrono, T)
    assert max(np.abs(ecdf_hi - F).max(), np.abs(F - ecdf_lo).max()) < 1.63 / math.sqrt(H)
    assert abs(np.median(chrono) - 25.496732) < 6.0
    model = recurrent_adding_model("LSTM", H, seed, fused=True)  # the race's LSTM at forget bias 1
    b_f = (model.encoder.net.bias_ih_l0 + model.encoder.net.bias_hh_l0)[H : 2 * H].detach().double()
    naive = -1.0 / torch.log(1.0 / (1.0 + torch.exp(-b_f)))
    flat = df.loc[df["series"] == "forget bias 1", "tau"].to_numpy()
    np.testing.assert_allclose(flat, naive.numpy(), rtol=1e-12)
    np.testing.assert_allclose(flat, 3.192219, rtol=1e-6)
    assert flat[0] == pytest.approx(theory.forget_bias_time_constant(1.0), rel=1e-12)


def test_time_constants_are_read_from_the_lstm_the_race_trains():
    """The plain and fused forms of one chrono LSTM give the same τ; a different seed gives other biases."""
    plain = recurrent_adding_model("LSTM", 32, 3, chrono_T=40)
    fused = recurrent_adding_model("LSTM", 32, 3, chrono_T=40, fused=True)
    np.testing.assert_array_equal(gating.forget_time_constants(plain), gating.forget_time_constants(fused))
    other = gating.forget_time_constants(recurrent_adding_model("LSTM", 32, 4, chrono_T=40))
    assert not np.array_equal(other, gating.forget_time_constants(plain))


def test_page_defaults_show_the_gating_contrast_and_keep_the_race_settings(page):
    """Defaults that teach: with the sidebar's default b and ρ the gated nets' ‖∂L/∂h‖ at the far end of the
    probe exceeds the plain RNN's by more than 10^6 (measured, seed 0: LSTM 0.27, GRU 3.4e-4, RNN 6.5e-23; at
    the old defaults b = 1, ρ = 1 the GRU's 1.3e-20 was below the RNN's 8.7e-16). The race keeps its own bias
    and ρ from SIZES, so its verdict, tested over seeds, is unchanged by the sidebar."""
    page.run()
    _ok(page)
    bias, rho, T = (page.slider(key=k).value for k in ("bias", "rho", "T"))
    H = page.select_slider(key="H").value
    far = gating.gating_gradient_probe(T, H, 0, rho=rho, gate_bias=bias).query(f"lag == {T - 1}")
    g = far.set_index("model")["grad_norm"]
    assert g["LSTM"] > 1e6 * g["RNN"] and g["GRU"] > 1e6 * g["RNN"], g.to_dict()
    lecture = gating.SIZES[LECTURE]
    assert page.slider(key="race_bias").value == lecture["race_bias"] == 1.0
    assert page.slider(key="race_rho").value == lecture["race_rho"] == 1.0
