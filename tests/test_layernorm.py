"""LayerNorm placement: the Transformer block, its Jacobians, gradients through depth, warm-up, and the page."""

import math

import numpy as np
import pytest
import torch

from lrd_core import gradients, theory
from lrd_core.demo import FULL, LECTURE
from lrd_core.experiments import layernorm
from lrd_core.history import steps_to_threshold
from lrd_core.models.transformer import (
    TransformerConfig,
    TransformerStack,
    causal_mask,
    sinusoidal_positions,
)
from lrd_core.train import TrainConfig, lr_factor, make_scheduler, train
from tests.apptest_support import assert_clean, open_page

PAGE = "pages/8_LayerNorm_placement.py"


def float64_block(placement: str, seed: int = 0, d_model: int = 16, T: int = 5):
    g = torch.Generator().manual_seed(seed)
    block = layernorm.layernorm_tagger(placement, 1, d_model, g, torch.float64).encoder.blocks[0]
    return block, torch.randn(1, T, d_model, generator=g, dtype=torch.float64)


def jac(fn, x):
    return gradients.flat_jacobian(fn, x)


# --- the block and the stack ---


def test_config_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="placement"):
        TransformerConfig(placement="middle")
    with pytest.raises(ValueError, match="n_layers"):
        TransformerConfig(n_layers=49)
    with pytest.raises(ValueError, match="n_heads"):
        TransformerConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="final_norm"):
        TransformerConfig(final_norm=1)


def test_stack_is_batch_first_and_causal():
    torch.manual_seed(1234)  # nothing below may depend on the global RNG
    g = torch.Generator().manual_seed(0)
    stack = TransformerStack(TransformerConfig(input_size=3, d_model=16, n_heads=2, n_layers=3, d_ff=32), g).double()
    x = torch.randn(2, 7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = stack(x)
    assert y.shape == (2, 7, 16)
    v = torch.randn(16, generator=g, dtype=torch.float64)  # not all-ones: LN output always sums to 0
    (grad,) = torch.autograd.grad((y[:, 3] @ v).sum(), x)
    assert grad[:, 4:].abs().max() == 0  # nothing after t = 3 reaches the output at t = 3
    assert grad[:, :4].abs().min() > 0


def test_same_seed_same_weights_in_every_placement_up_to_beta():
    def weights(placement):
        return layernorm.layernorm_tagger(placement, 4, 16, torch.Generator().manual_seed(3)).encoder.blocks[2]

    post, pre, deep = weights("post"), weights("pre"), weights("deepnorm")
    _, beta = theory.deepnorm_constants(4)
    torch.testing.assert_close(post.attention.sublayer.q.weight, pre.attention.sublayer.q.weight)
    torch.testing.assert_close(deep.attention.sublayer.q.weight, pre.attention.sublayer.q.weight)
    torch.testing.assert_close(deep.attention.sublayer.v.weight, beta * pre.attention.sublayer.v.weight)
    torch.testing.assert_close(deep.mlp.sublayer.fc2.weight, beta * pre.mlp.sublayer.fc2.weight)


def test_deepnorm_constants():
    alpha, beta = theory.deepnorm_constants(6)
    assert alpha == pytest.approx(12**0.25) and beta == pytest.approx(48**-0.25)
    block, _ = float64_block("deepnorm")
    assert block.attention.alpha == pytest.approx(2**0.25)  # N = 1


def test_causal_mask_with_memory_and_window():
    m = causal_mask(2, 5, window=3)
    assert m.tolist() == [[False, True, True, True, False], [False, False, True, True, True]]
    pe = sinusoidal_positions(4, 6, offset=2)
    torch.testing.assert_close(pe[0], sinusoidal_positions(3, 6)[2])


# --- Jacobians: identity plus the rest ---


@pytest.mark.parametrize("sub", ["attention", "mlp"])
def test_pre_ln_jacobian_minus_identity_is_the_jacobian_of_f_of_ln(sub):
    block, x = float64_block("pre")
    res = getattr(block, sub)
    J = jac(res, x)
    rest = jac(lambda v: res.sublayer(res.norm(v)), x)
    assert (J - torch.eye(J.shape[0], dtype=J.dtype) - rest).abs().max() < 1e-10
    assert rest.abs().max() > 1e-3  # the rest is not trivially zero


@pytest.mark.parametrize("sub", ["attention", "mlp"])
@pytest.mark.parametrize("placement", ["post", "deepnorm"])
def test_post_ln_jacobian_is_ln_jacobian_times_identity_plus_jf(placement, sub):
    block, x = float64_block(placement)
    res = getattr(block, sub)
    J = jac(res, x)
    eye = torch.eye(J.shape[0], dtype=J.dtype)
    J_ln = jac(res.norm, res.alpha * x + res.sublayer(x))
    J_f = jac(res.sublayer, x)
    assert (J - J_ln @ (res.alpha * eye + J_f)).abs().max() < 1e-10
    assert (J - eye - J_f).abs().max() > 1e-2  # unlike Pre-LN, no bare identity path


def test_identity_table_reports_rounding_level_errors():
    table = layernorm.jacobian_identity_table(0)
    assert len(table) == 6 and (table["max |J − form|"] < 1e-10).all()


def test_pre_ln_blocks_approach_identity_with_depth():
    d = layernorm.block_distance_from_identity(12, 0)
    pre = d[d["placement"] == "Pre-LN"].sort_values("layer")["distance"].to_numpy()
    post = d[d["placement"] == "Post-LN"]["distance"].to_numpy()
    assert pre[-3:].mean() < 0.5 * pre[:3].mean()
    assert post.min() > pre[-3:].mean()
    deep = d[d["placement"] == "DeepNorm"]["distance"].to_numpy()
    floor = theory.layernorm_projection_distance(layernorm.LN_JAC_WIDTH)
    np.testing.assert_allclose(deep[1:], floor, rtol=0.1)  # LN's projection is nearly all of a DeepNorm block


# --- gradients through depth ---


def test_gradient_probe_rows_and_values():
    df = layernorm.layernorm_gradients(5, 0, d_model=16)
    assert set(df["placement"]) == {"Post-LN", "Pre-LN", "DeepNorm"}
    assert len(df) == 3 * (5 + 6)  # 5 blocks of weights and 6 streams x_0..x_5 per placement
    assert np.isfinite(df["grad_norm"]).all() and (df["grad_norm"] > 0).all()


def test_post_over_pre_ratio_grows_with_depth():
    """Bands from the seed spread (d_model 64, depths 3, 6, 12, 24; each seed's probe is deterministic, so the
    only noise is which seeds are averaged). Seeds 0-7 one at a time gave per-seed exponents 0.20..0.58; the
    mean of every one of the 56 triples of them: ratio at depth 3 1.59..1.92, growth from 3 to 24 1.73..2.91,
    fitted exponent 0.279..0.489, always increasing with depth. Seeds (0, 1, 2) here: 1.83, 2.02, 0.322.
    A √N law (Xiong et al. 2020) would give growth √8 = 2.83 (exponent 0.5), inside the band but at its top;
    the old bands (growth 1.5..5.7, per-seed exponents 0..1.5) admitted any exponent of the mean in 0.19..0.83.
    """
    ratio = layernorm.last_layer_ratio((3, 6, 12, 24), seeds=(0, 1, 2), d_model=64)
    post = ratio[ratio["series"] == "Post-LN / Pre-LN"].sort_values("depth")["ratio"].to_numpy()
    print("Post/Pre ratio at depths 3, 6, 12, 24:", np.round(post, 2))
    assert np.all(np.diff(post) > 0), post
    assert 1.5 < post[0] < 2.0, post
    assert 1.6 < post[-1] / post[0] < 3.1, post  # 8**0.23 .. 8**0.54
    # the fitted exponent: numpy's own least squares on the plotted mean, and one exponent per seed around it
    depths = np.array([3, 6, 12, 24], dtype=float)
    assert ratio.attrs["exponent"] == pytest.approx(np.polyfit(np.log(depths), np.log(post), 1)[0], rel=1e-9)
    assert 0.25 < ratio.attrs["exponent"] < 0.52
    per_seed = ratio.attrs["exponents"]
    assert sorted(per_seed) == [0, 1, 2] and all(0.15 < p < 0.65 for p in per_seed.values()), per_seed
    assert min(per_seed.values()) - 0.05 <= ratio.attrs["exponent"] <= max(per_seed.values()) + 0.05
    # the √N reference is drawn through the first depth's mean: r(N) = r(3)·√(N/3), worked out here
    ref = ratio[ratio["series"] != "Post-LN / Pre-LN"].sort_values("depth")["ratio"].to_numpy()
    np.testing.assert_allclose(ref, post[0] * np.array([1.0, math.sqrt(2), 2.0, math.sqrt(8)]), rtol=1e-12)


# --- warm-up and decay in TrainConfig ---


def test_default_train_config_has_no_scheduler():
    config = TrainConfig()
    assert config.warmup_steps == 0 and config.schedule == "constant"
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    assert make_scheduler(opt, config) is None


def test_warmup_then_linear_decay_factors():
    config = TrainConfig(steps=10, lr=1.0, warmup_steps=4, schedule="linear")
    f = [lr_factor(config, i) for i in range(10)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4] == 1.0 and f[-1] == pytest.approx(1 / 6) and np.all(np.diff(f[4:]) < 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(steps=10, warmup_steps=11)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="cosine")


def test_train_applies_the_schedule_to_the_optimiser():
    w = torch.nn.Parameter(torch.ones(1))
    model = torch.nn.Module()
    model.w = w
    model.forward = lambda x: x * w
    seen = []

    def batch():
        seen.append(w.item())
        return torch.ones(1), torch.zeros(1)

    config = TrainConfig(steps=4, lr=0.1, batch=1, optimizer="sgd", warmup_steps=2, schedule="linear")
    list(train(model, batch, lambda out, y: (out - y).pow(2).sum() / 2, config))
    steps = -np.diff(seen)  # SGD on w²/2: w loses lr_k · w each step
    expected = [0.1 * lr_factor(config, i) * seen[i] for i in range(3)]
    np.testing.assert_allclose(steps, expected, rtol=1e-6)


# --- the training race ---


def test_race_names_and_checks():
    factories = layernorm.layernorm_race(TrainConfig(steps=10, lr=5e-3), 0, n_layers=2, d_model=16, warmup_steps=5)
    assert list(factories) == ["Post-LN, no warm-up", "Pre-LN, no warm-up", "Post-LN, warm-up", "Pre-LN, warm-up"]
    with pytest.raises(ValueError, match="warmup_steps"):
        layernorm.layernorm_race(TrainConfig(steps=10), 0, warmup_steps=20)
    events = list(factories["Pre-LN, warm-up"]())
    assert len(events) == 10 and events[-1].status == "done"


def test_demo_is_the_page_race_with_a_stable_key_and_cuts_a_long_warmup():
    d = layernorm.demo(layernorm.DEFAULTS, 0)
    assert d.key == layernorm.demo({}, 0).key and d.key != layernorm.demo({}, 1).key
    assert list(d.factories) == ["Post-LN, no warm-up", "Pre-LN, no warm-up", "Post-LN, warm-up"]  # Lecture: 3
    assert len(layernorm.demo({"pre_warmup": True}, 0).factories) == 4
    assert d.info["warmup"] == 100 and d.info["solved"] == layernorm.LN_SOLVED and d.total_steps == 300
    long = layernorm.demo({"warmup": 400, "steps": 200}, 0)  # the page's sliders allow it: warm-up over all steps
    assert long.info["warmup"] == 200 and long.key == layernorm.demo({"warmup": 200, "steps": 200}, 0).key
    full = layernorm.SIZES[FULL]
    assert layernorm.demo(full, 0).settings == ("lr=0.005, warmup=200, steps=600, layers=6, pre_warmup=True, seed=0")
    with pytest.raises(ValueError, match="depth"):
        layernorm.demo({"depth": 6}, 0)
    with pytest.raises(ValueError, match="n_layers"):
        layernorm.demo({"layers": 10**4}, 0)
    with pytest.raises(ValueError, match="lr"):
        layernorm.demo({"lr": 0.0}, 0)


# The page's race at its full-size settings: lr 5e-3, plain Adam, no clipping, 6 blocks, d_model 64, 600 steps;
# warm-up 200 steps then linear decay. Measured with bench/claims_spread.py over seeds 0-4 on two kernel sets
# (ATEN_CPU_CAPABILITY=default and AVX2 on an AMD EPYC, one thread; seed 0 also with two threads; the issue's
# AVX-512 machine where stated):
#   Post-LN, no warm-up: never solved (0 of 12); running mean of 20 losses ends at 1.331-1.332, its lowest 0.70-1.33
#   Pre-LN, no warm-up:  solved on 12 of 12, at steps 101-238
#   Post-LN, warm-up:    solved on 8 of 10 (steps 272-463); the others climb to a running mean of
#                        0.175-0.255 and relapse after a spike (seed 0 default kernels, seed 3 AVX2); with 2 threads
#                        seed 0 fails on both kernel sets (lowest 0.065 and 0.293); on the machine seed 0
#                        solved at 295 with AVX-512 and never with AVX2 (final 1.33).
# So "warm-up rescues Post-LN" holds on most seeds and kernel sets, not all: the test asserts what holds on every
# run (no warm-up: stuck; Pre-LN: solves) per seed, and for warm-up fractions over seeds 0-4.
LN_SEEDS = (0, 1, 2, 3, 4)


def _ln_losses(seed: int, series: str) -> np.ndarray:
    race = layernorm.demo(layernorm.SIZES[FULL], seed)  # the page's Full size: the settings measured above
    return np.array([e.loss for e in race.factories[series]()])


def _running_mean(losses: np.ndarray, window: int = 20) -> np.ndarray:
    return np.convolve(losses, np.ones(window) / window, mode="valid")


@pytest.mark.slow
@pytest.mark.parametrize("seed", LN_SEEDS)
def test_post_ln_without_warmup_stays_stuck_while_pre_ln_solves(seed):
    post = _ln_losses(seed, "Post-LN, no warm-up")
    # Stuck: never solved, and it ends no better than guessing (measured 1.331-1.332 against the baseline 0.693 on
    # the runs above; 0.696 on seed 2 with AVX-512 on a 2-core Intel Xeon, 4 December: stuck at the baseline).
    assert steps_to_threshold(post, layernorm.LN_SOLVED) is None
    assert _running_mean(post)[-1] > 0.95 * layernorm.LN_BASELINE
    pre = _ln_losses(seed, "Pre-LN, no warm-up")
    # Solved well within the budget (measured at steps 118-238 of 600).
    solved = steps_to_threshold(pre, layernorm.LN_SOLVED)
    assert solved is not None and solved <= 450


@pytest.mark.slow
def test_warmup_lets_post_ln_learn_on_nearly_every_seed_and_solve_on_some():
    lowest, solved = {}, {}
    for seed in LN_SEEDS:
        losses = _ln_losses(seed, "Post-LN, warm-up")
        lowest[seed] = float(_running_mean(losses).min())
        solved[seed] = steps_to_threshold(losses, layernorm.LN_SOLVED)
    print("Post-LN with warm-up: lowest running mean", lowest, "solved at", solved)
    # Learns: its lowest running mean falls far below the baseline 0.693 (measured <= 0.293 on all 12 runs here,
    # where without warm-up it never gets under 0.70). The AVX2 run of seed 0 ended at 1.33 with its
    # lowest point unknown, so one seed in five may miss.
    assert sum(v < 0.6 * layernorm.LN_BASELINE for v in lowest.values()) >= 4, lowest
    # Solves on some seeds: measured 4 of 5 on each kernel set. The page says "most runs, not all", so
    # at least 2 of 5 must solve; a change that stops warm-up from ever rescuing Post-LN fails here.
    assert sum(s is not None for s in solved.values()) >= 2, solved


# --- the page ---


def test_page_renders_from_query_params_and_trains_live():
    at = open_page(PAGE, query={"depth": "6", "width": "16", "layers": "2"})
    at.run()
    assert_clean(at, "LayerNorm page")
    assert len(at.get("vega_lite_chart")) >= 4
    assert at.slider(key="depth").value == 6 and at.select_slider(key="layers").value == 2
    at.button(key="ln_race_start").click().run()
    at.run()
    assert_clean(at, "LayerNorm page training")
    run = at.session_state["ln_race"]
    lecture = layernorm.SIZES[LECTURE]["pre_warmup"]  # the default size: three runs, Pre-LN warm-up left out
    assert set(run.last) == set(layernorm.demo({"layers": 2}, 0).factories)
    assert at.session_state["ln_race_demo_key"] == layernorm.demo({"layers": 2}, 0).key
    assert len(run.last) == (4 if lecture else 3)
    assert min(e.step for e in run.last.values()) >= 2
    at.button(key="ln_race_stop").click().run()
    assert_clean(at, "LayerNorm page stopped")
