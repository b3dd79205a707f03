"""Attention: the one-step gradient path to every encoder state, attention weights, reversal training, the L² bill."""

import json

import numpy as np
import pytest
import torch

from lrd_core import gradients, theory
from lrd_core.experiments import attention, attention_cost
from lrd_core.experiments.attention import attention_race, greedy_accuracy, seq2seq_model
from lrd_core.models.seq2seq import Attention, Seq2Seq, Seq2SeqConfig, seq2seq_loss
from lrd_core.models.transformer import self_attention
from lrd_core.tasks import symbol_sequences
from lrd_core.train import TrainConfig
from tests.apptest_support import open_page

NO_ATTN, WITH_ATTN, ATTN_PATH = attention.ATTENTION_SERIES


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the gradient shortcut ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_keeps_the_first_positions_alive_at_length_100(seed):
    ratios = attention.edge_ratio(attention.encoder_gradient_probe(100, seed))  # first 10 / last 10, one direction
    assert ratios[NO_ATTN] < 1e-12  # vanished: the signal crossed ~90 recurrent steps
    assert ratios[WITH_ATTN] > 0.1  # nearly flat
    assert ratios[WITH_ATTN] / ratios[NO_ATTN] >= 1e6  # the acceptance bound, with many decades to spare


def test_probe_pair_shares_every_weight_but_attention():
    without, with_attn = attention.shared_seq2seq_pair(Seq2SeqConfig(8, 16, 32, "additive"), _gen(3))
    a, b = without.state_dict(), with_attn.state_dict()
    assert set(b) - set(a) == {k for k in b if k.startswith("attn.")} and set(a) <= set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_direct_attention_path_carries_a_large_share_at_the_far_end():
    df = attention.encoder_gradient_probe(100, 4)
    by = {name: d.sort_values("t")["grad_norm"].to_numpy() for name, d in df.groupby("series")}
    assert np.all(by[ATTN_PATH] > 0) and np.all(np.isfinite(by[WITH_ATTN]))
    # at h_1 the path via d_0 has vanished; what remains is the direct share plus short detours
    # h_1 -> h_2 -> ... -> c_s through nearby states, so the direct share is a large part, not all
    assert 0.2 < by[ATTN_PATH][0] / by[WITH_ATTN][0] < 1.0
    assert by[NO_ATTN][0] < 1e-12 * by[ATTN_PATH][0]
    assert list(df.columns) == ["series", "model", "sample", "t", "distance", "grad_norm"]


def test_bidirectional_encoder_without_attention_loses_the_middle():
    df = attention.encoder_gradient_probe(60, 0, bidirectional=True)
    g = df[df["series"] == NO_ATTN].sort_values("t")["grad_norm"].to_numpy()
    assert g[28:32].mean() < 1e-4 * min(g[:3].mean(), g[-3:].mean())  # both ends are reached, the middle is not


# --- attention weights -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_attention_weights_are_a_distribution_over_source_positions(kind):
    model = Seq2Seq(Seq2SeqConfig(8, 16, 32, kind), _gen(1))
    src, _ = symbol_sequences(5, 17, _gen(2), 8)
    _, alpha = model.greedy(src, 9)
    assert alpha.shape == (5, 9, 17)
    assert bool((alpha >= 0).all())
    torch.testing.assert_close(alpha.sum(-1), torch.ones(5, 9), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_masked_positions_get_zero_weight_and_change_nothing(kind):
    attn = Attention(kind, 6, 10, _gen(0))
    memory = torch.randn(3, 7, 10, generator=_gen(1))  # (B, T, H)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[0, 4:] = False  # sequence 0 is 4 long, sequence 1 is 6 long, sequence 2 is full
    mask[1, 6:] = False
    query = torch.randn(3, 6, generator=_gen(2))
    context, alpha = attn(query, attn.keys(memory), memory, mask)
    assert bool((alpha[~mask] == 0).all())
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3))
    garbage = memory.clone()
    garbage[~mask] = 1e3  # whatever the padding holds, it is never read
    context2, alpha2 = attn(query, attn.keys(garbage), garbage, mask)
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(alpha2, alpha)


def test_context_is_the_alpha_weighted_sum_of_states():
    attn = Attention("additive", 4, 6, _gen(5))
    memory = torch.randn(2, 9, 6, generator=_gen(6), dtype=torch.float64)
    attn.double()
    context, alpha = attn(torch.randn(2, 4, generator=_gen(7), dtype=torch.float64), attn.keys(memory), memory)
    torch.testing.assert_close(context, torch.einsum("bt,bth->bh", alpha, memory), atol=1e-12, rtol=0)


# --- model, task and runs ----------------------------------------------------------------------------------


def test_reversal_task_layout():
    src, tgt = symbol_sequences(4, 12, _gen(0), 5, "reverse")
    assert src.shape == tgt.shape == (4, 12) and src.dtype == torch.long
    assert torch.equal(tgt, src.flip(1)) and int(src.max()) < 5 and int(src.min()) >= 0
    src_c, tgt_c = symbol_sequences(4, 12, _gen(0), 5, "copy")
    assert torch.equal(src_c, src) and torch.equal(tgt_c, src)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Seq2SeqConfig(n_symbols=1), "n_symbols"),
        (lambda: Seq2SeqConfig(attention="cosine"), "attention"),
        (lambda: Seq2SeqConfig(hidden_size=33), "hidden_size"),
        (lambda: symbol_sequences(2, 0, _gen(), 8), "T"),
        (lambda: symbol_sequences(2, 5, _gen(), 8, "sort"), "task"),
        (lambda: attention.encoder_gradient_probe(10_000, 0), "T"),
        (lambda: attention_cost.self_attention_cost([10**6]), "L"),
        (lambda: gradients.loglog_slope([1.0], [2.0]), "x and y"),
        (lambda: theory.power_law_through([0.0, 1.0], 1.0, 1.0), "L"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_same_seed_same_numbers():
    a = attention.encoder_gradient_probe(20, 9, hidden=16, embed=8)
    b = attention.encoder_gradient_probe(20, 9, hidden=16, embed=8)
    assert a.equals(b)
    c = attention.encoder_gradient_probe(20, 10, hidden=16, embed=8)
    assert not np.allclose(a["grad_norm"], c["grad_norm"])


def test_teacher_forced_loss_starts_near_log_v():
    model = seq2seq_model(Seq2SeqConfig(8, 16, 32), 0)
    src, tgt = symbol_sequences(64, 10, _gen(1), 8)
    loss = seq2seq_loss(model((src, tgt)), tgt).item()
    assert abs(loss - np.log(8)) < 0.5  # an untrained model is close to uniform over 8 symbols


def test_race_same_start_and_accuracy_metric():
    config = TrainConfig(steps=3, lr=1e-3, batch=8)
    keep = {}
    factories = attention_race(6, Seq2SeqConfig(8, 8, 16), config, 0, keep=keep)
    events = {name: list(f()) for name, f in factories.items()}
    assert set(events) == {"no attention", "attention"}
    first = {name: ev[0].loss for name, ev in events.items()}
    assert first["no attention"] != first["attention"]  # attention changes the outputs...
    assert all(ev[-1].status == "done" and 0 <= ev[-1].metrics["accuracy"] <= 1 for ev in events.values())
    # keep holds the attention model's map at its last evaluation (step 3), drawn by the training thread: one
    # row per (output step s, source position t), each output's weights a distribution over the 6 positions
    alpha = keep["attention"]
    assert set(keep) == {"attention"} and len(alpha) == 6 * 6
    assert np.allclose(alpha.groupby("s")["alpha"].sum(), 1.0)


def test_demo_runs_the_race_and_keeps_its_own_attention_maps():
    """demo() builds the page's race; the attention model's map at its last evaluation lands in the Demo's own
    info["maps"] (filled by the thread that trains), so a chart of the run never reads another run's map."""
    demo = attention.demo({"train_T": 5, "steps": 2, "H": 16, "score": "dot"}, seed=0)
    assert list(demo.factories) == ["no attention", "attention"] and demo.total_steps == 2
    assert demo.info["maps"] == {} and demo.info["n_symbols"] == attention.RACE_SYMBOLS
    for make in demo.factories.values():
        assert list(make())[-1].status == "done"
    alpha = demo.info["maps"]["attention"]
    assert len(alpha) == 5 * 5 and np.allclose(alpha.groupby("s")["alpha"].sum(), 1.0)
    assert attention.demo({"train_T": 5, "steps": 2, "H": 16}, seed=0).info["maps"] == {}  # a fresh dict per Demo


def test_demo_key_names_every_setting_and_the_seed():
    base = attention.demo({}, 0)
    assert base.key == attention.demo(attention.DEFAULTS, 0).key != attention.demo({}, 1).key
    for change in ({"train_T": 21}, {"steps": 400}, {"lr": 3e-3}, {"H": 32}, {"score": "dot"}):
        assert attention.demo(change, 0).key != base.key, change
    assert attention.demo(dict(base.key[2]), 0).key == base.key  # a key's settings rebuild the run


@pytest.mark.parametrize("values,name", [({"score": "none"}, "score"), ({"H": 3}, "hidden_size"), ({"T": 5}, "T")])
def test_demo_rejects_bad_settings_by_name(values, name):
    with pytest.raises(ValueError, match=name):
        attention.demo(values, 0)


def test_greedy_accuracy_of_an_oracle_is_one():
    src, tgt = symbol_sequences(16, 8, _gen(0), 8)
    model = seq2seq_model(Seq2SeqConfig(8, 8, 16), 0)
    assert 0.0 <= greedy_accuracy(model, src, tgt) <= 1.0
    assert (model.greedy(src)[0] == tgt).double().mean() == greedy_accuracy(model, src, tgt)


# --- the O(L²) bill ----------------------------------------------------------------------------------------


def test_self_attention_memory_grows_quadratically():
    cost = attention_cost.self_attention_cost([512, 1024, 2048], repeats=1)
    naive = cost[cost["method"] == "naive"]
    slope = gradients.loglog_slope(naive["L"], naive["saved_bytes"])  # bytes are exact: no timing noise
    # the naive version keeps L² + 3LD + 3D² floats (D = 64): over L = 512..2048 the log-log slope of that
    # count is 1.813 (numpy polyfit of log(L² + 192 L + 12288) on log L); the exact value is tested below
    assert slope == pytest.approx(1.813, abs=0.002)
    assert (cost["seconds"] > 0).all()


@pytest.mark.parametrize("L", [64, 300, 1024])
def test_saved_bytes_are_the_hand_counted_floats(L):
    """Autograd's saved storages, counted by hook, equal the tensors the backward pass must read, times 4 bytes.

    Naive: the three weights (D² each, to carry the gradient back to x), Q, K and V (L·D each, for the two
    matmuls) and A = softmax(QKᵀ/√D) (L², for softmax's backward and for A·V's): L² + 3LD + 3D².
    Fused kernel: the weights, Q, K, V, the output O (L·D) and one log-sum-exp per query row (L), from which
    the backward pass recomputes A block by block: 4LD + L + 3D². D = 64: at L = 1024 that is 1 257 472 and
    275 456 floats, 4.6x apart; at L = 64, 28 672 and 28 736.
    """
    D = 64
    cost = attention_cost.self_attention_cost([L], d_model=D, repeats=1).set_index("method")
    assert cost.loc["naive", "saved_bytes"] == 4 * (L * L + 3 * L * D + 3 * D * D)
    assert cost.loc["sdpa", "saved_bytes"] == 4 * (4 * L * D + L + 3 * D * D)
    for method in ("naive", "sdpa"):  # the library's model says the same
        floats = sum(theory.attention_saved_floats(L, D, method).values())
        assert cost.loc[method, "saved_bytes"] == 4 * floats


def test_sdpa_gives_the_naive_output_and_both_are_timed():
    """F.scaled_dot_product_attention computes the same softmax(QKᵀ/√D)V: float32 outputs agree to rounding
    (|y| ~ 1, summed over L = 300 terms: a few ulps of 6e-8 each, 1e-5 is generous), and so do the gradients."""
    g = _gen(4)
    x = torch.randn(2, 300, 32, generator=g, requires_grad=True)
    W = [torch.randn(32, 32, generator=g) / 32**0.5 for _ in range(3)]
    naive, fused = self_attention(x, *W), attention_cost.sdpa_attention(x, *W)
    torch.testing.assert_close(fused, naive, atol=1e-5, rtol=1e-5)
    (gx_naive,) = torch.autograd.grad(naive.square().sum(), x)
    (gx_fused,) = torch.autograd.grad(fused.square().sum(), x)
    torch.testing.assert_close(gx_fused, gx_naive, atol=1e-4, rtol=1e-4)
    cost = attention_cost.self_attention_cost([64, 128], repeats=1)
    assert sorted(cost["method"]) == ["naive", "naive", "sdpa", "sdpa"]
    assert set(cost["series"]) == set(attention_cost.COST_METHODS.values())
    assert (cost["seconds"] > 0).all() and cost.groupby("method")["L"].apply(list).map(sorted).tolist() == [
        [64, 128],
        [64, 128],
    ]
    # the same work for both: 3·L·D² + 2·L²·D multiply-adds (D = 64: L = 64 gives 786432 + 524288)
    assert cost.loc[cost["L"] == 64, "flops"].tolist() == [1310720.0, 1310720.0]


def test_cost_slopes_fit_only_where_the_leading_term_dominates():
    """Exact counts, so the ranges and the model slopes are known by hand (D = 64, share 3/4):
    time: 2L²D >= 3/4 (2L²D + 3LD²)  <=>  L >= 4.5 D = 288, so L = 512..2048;
    naive memory: L² >= 3/4 (L² + 3LD + 3D²)  <=>  L² >= 3(3LD + 3D²): L = 1024 qualifies (1 048 576 >= 626 688),
    512 does not (262 144 < 331 776); fused memory: 4LD + L >= 3/4 (4LD + L + 3D²) <=> 257 L >= 36 864, L >= 144."""
    cost = attention_cost.self_attention_cost([64, 128, 256, 512, 1024, 2048], repeats=1)
    fits = attention_cost.cost_slopes(cost).set_index(["method", "quantity"])
    assert fits.loc[("naive", "seconds"), ["L_from", "L_to"]].tolist() == [512, 2048]
    assert fits.loc[("naive", "saved_bytes"), ["L_from", "L_to"]].tolist() == [1024, 2048]
    assert fits.loc[("sdpa", "saved_bytes"), ["L_from", "L_to"]].tolist() == [256, 2048]
    L = np.array([512.0, 1024.0, 2048.0])
    flops = 3 * L * 64**2 + 2 * L**2 * 64
    assert fits.loc[("naive", "seconds"), "model"] == pytest.approx(np.polyfit(np.log(L), np.log(flops), 1)[0])
    # memory is exact: the measured slope is the model's, to rounding
    for method in ("naive", "sdpa"):
        row = fits.loc[(method, "saved_bytes")]
        assert row["measured"] == pytest.approx(row["model"], abs=1e-9)
    assert fits.loc[("sdpa", "saved_bytes"), "measured"] < 1.0 < 1.8 < fits.loc[("naive", "saved_bytes"), "measured"]


def test_power_law_and_slope_round_trip():
    L = np.array([128.0, 256.0, 512.0, 1024.0])
    y = theory.power_law_through(L, 1024.0, 3.0)
    assert y[-1] == pytest.approx(3.0) and y[0] == pytest.approx(3.0 / 64)
    assert gradients.loglog_slope(L, y) == pytest.approx(2.0, abs=1e-12)
    assert gradients.loglog_slope(L, 5 * L**1.5) == pytest.approx(1.5, abs=1e-12)


def test_self_attention_matches_torch_sdpa():
    x = torch.randn(2, 33, 8, generator=_gen(0), dtype=torch.float64)
    W = [torch.randn(8, 8, generator=_gen(i + 1), dtype=torch.float64) for i in range(3)]
    ref = torch.nn.functional.scaled_dot_product_attention(x @ W[0], x @ W[1], x @ W[2])
    torch.testing.assert_close(self_attention(x, *W), ref, atol=1e-12, rtol=0)


# --- the race that matters (slow) --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_attention_learns_reversal_of_20_and_beats_no_attention():
    """Greedy accuracy, length 20, hidden 64 (bidirectional encoder), embedding 32, batch 64, Adam 3e-3, 600 steps.

    One trajectory's last evaluation is not a stable figure: after reaching 0.9 the accuracy wobbles by a few
    points, and which evaluation is low depends on the CPU's rounding (seed 0, final accuracy: 0.990 with
    ATEN_CPU_CAPABILITY=default, 0.963 with AVX2, 0.892 on an AVX-512 machine). Measured with
    bench/claims_spread.py, seeds 0-4 x default and AVX2 kernels x one thread, plus seed 0 with two threads
    (AVX-512 from the issue, seed 0; evaluations every 25 steps):
      attention first >= 0.9 at step:    250-300 (AVX-512: 300)       asserted <= 400
      best of the last 4 evaluations:    0.963-0.997                  asserted >= 0.92
      no attention, best of the run:     0.272-0.301                  asserted <= 0.40
    """
    config = TrainConfig(steps=600, lr=3e-3, batch=64)
    factories = attention_race(20, Seq2SeqConfig(8, 32, 64, "additive"), config, seed=0)
    accs = {
        name: [(e.step, e.metrics["accuracy"]) for e in start() if "accuracy" in e.metrics]
        for name, start in factories.items()
    }
    reached = next((s for s, a in accs["attention"] if a >= 0.9), None)
    best_late = max(a for _, a in accs["attention"][-4:])
    best_without = max(a for _, a in accs["no attention"])
    print("attention >= 0.9 at step", reached, "best of last 4", best_late, "no attention best", best_without)
    assert reached is not None and reached <= 400
    assert best_late >= 0.92
    assert best_without <= 0.40


# --- the page ----------------------------------------------------------------------------------------------


def test_page_renders_probe_metrics_and_cost_slopes():
    at = open_page("pages/4_Attention.py", query={"T": "60", "H": "32", "max_L": "2048"})
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.title[0].value == "Attention"
    specs = [json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in at.get("vega_lite_chart")]
    assert any("‖∂L/∂h_t‖" in s for s in specs)
    values = {m.label: m.value for m in at.metric}
    no_attn = float(values["no attention: first 10 / last 10"])
    with_attn = float(values["attention: first 10 / last 10"])
    assert with_attn / no_attn > 1e3
    slopes = {m.label: (float(m.value), m.delta) for m in at.metric if "fitted slope" in m.label}
    naive, fused = attention_cost.COST_METHODS["naive"], attention_cost.COST_METHODS["sdpa"]
    assert len(slopes) == 4  # time and memory, each for the naive formula and for F.scaled_dot_product_attention
    # Memory (bytes are exact, no noise): the fitted slopes ARE the models' over the stated ranges, hand-computed
    # as polyfit slopes of log(count) on log L, D = 64: naive L² + 3LD + 3D² over L = 1024, 2048 -> 1.871;
    # fused 4LD + L + 3D² over 256..2048 -> 0.930. A quadratic formula for the fused kernel, or a wrong
    # exponent in the naive one, misses these by more than 0.05.
    assert slopes[f"{naive}: fitted slope, L = 1024 to 2048"][0] == pytest.approx(1.871, abs=0.005)
    assert slopes[f"{fused}: fitted slope, L = 256 to 2048"][0] == pytest.approx(0.930, abs=0.005)
    # Time: the formula is guarded by the count. The slope of 3LD² + 2L²D over L = 512..2048 is 1.909
    # (asymptotically 2), printed next to the measurement and asserted exactly here. The measured time slope
    # cannot be tightened robustly on a shared CPU (2 cores, 5 users): naive and fused, fastest of 3, 24 runs
    # gave 1.43..2.40 and once 2.95 (a second pytest running); fastest of 5 (the page's), 16 runs: 1.40..2.24.
    # Its band (1.2, 3.2) holds that spread and still fails a linear (slope ~1) time.
    for name in (naive, fused):
        measured, delta = slopes[f"{name}: fitted slope, L = 512 to 2048"]
        assert 1.2 < measured < 3.2, (name, measured)
        assert delta.startswith("model 1.91 ") and "→ 2 as L → ∞" in delta


def test_page_race_draws_the_runs_attention_map():
    at = open_page("pages/4_Attention.py", query={"max_L": "256"})
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["attention_race_demo_key"] == attention.demo(attention.DEFAULTS, 0).key
    at.button(key="attention_race_start").click().run()

    def heatmaps():
        return [c for c in at.get("vega_lite_chart") if "output step s" in c.proto.spec]

    for _ in range(2):  # the map of the evaluation at step 0 (before training), then at step 25
        assert not at.exception and not at.error
        assert len(heatmaps()) == 1  # drawn from the run's own Demo: this rerun's Demo has an empty dict
        at.run().run()
    assert "attention" in at.session_state["attention_race"].demo.info["maps"]


@pytest.mark.parametrize("bidirectional", [True, False])
def test_fused_encoder_computes_the_hand_written_one(bidirectional):
    """Training runs the encoder in torch's fused GRU with the hand-written cells' weights: same memory,
    same final state, and the same gradients on those weights (float64)."""
    from lrd_core.models.seq2seq import Seq2Seq, Seq2SeqConfig

    state = torch.random.get_rng_state()
    model = Seq2Seq(Seq2SeqConfig(hidden_size=16, bidirectional=bidirectional), torch.Generator().manual_seed(0))
    assert torch.equal(state, torch.random.get_rng_state()), "building the model drew from the global RNG"
    model = model.double()
    src = torch.randint(0, 8, (3, 9), generator=torch.Generator().manual_seed(1))
    hand, fused = model.encode(src), model.encode_fused(src)
    torch.testing.assert_close(fused.memory, hand.memory, rtol=0, atol=1e-12)
    torch.testing.assert_close(fused.final, hand.final, rtol=0, atol=1e-12)
    weights = [model.enc_fwd.W_hh, model.enc_fwd.b_hh] + ([model.enc_bwd.W_ih] if bidirectional else [])
    probe = torch.linspace(-1, 1, hand.memory.numel(), dtype=torch.float64).view_as(hand.memory)
    g_hand = torch.autograd.grad((hand.memory * probe).sum() + hand.final.sum(), weights)
    g_fused = torch.autograd.grad((fused.memory * probe).sum() + fused.final.sum(), weights)
    for a, b in zip(g_fused, g_hand, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
