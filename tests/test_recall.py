"""Associative recall: the MQAR task, the fixed-size memory against its closed forms, the overwrite, the forms of
linear attention and their timing, the racers and their sizes, the verdicts, the demo, and (slow) the race's
contrast over seeds and the capacity curve."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lrd_core import theory
from lrd_core.demo import FULL, LECTURE, Verdict
from lrd_core.exercises import EXERCISES
from lrd_core.experiments import recall
from lrd_core.tasks import IGNORE_INDEX, mqar
from tests.apptest_support import assert_clean, open_page

# --- the task ------------------------------------------------------------------------------------------------


def test_mqar_asks_for_every_key_once_and_the_answer_is_its_value():
    x, y = mqar(16, 5, torch.Generator().manual_seed(0), n_keys=10, n_values=7)
    assert x.shape == (16, 15, 17) and y.shape == (16, 15)
    tokens = x.argmax(-1)
    for b in range(16):
        keys, values = tokens[b, 0:10:2], tokens[b, 1:10:2] - 10
        assert (keys < 10).all() and len(set(keys.tolist())) == 5  # distinct keys
        assert ((values >= 0) & (values < 7)).all()
        queries = tokens[b, 10:]
        assert sorted(queries.tolist()) == sorted(keys.tolist())  # every key asked once
        stored = dict(zip(keys.tolist(), values.tolist(), strict=True))
        assert y[b, 10:].tolist() == [stored[q] for q in queries.tolist()]
        assert (y[b, :10] == IGNORE_INDEX).all()


def test_mqar_is_seeded():
    a = mqar(4, 8, torch.Generator().manual_seed(3))
    b = mqar(4, 8, torch.Generator().manual_seed(3))
    c = mqar(4, 8, torch.Generator().manual_seed(4))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs,name",
    [({"n_pairs": 0}, "n_pairs"), ({"n_pairs": 11}, "n_pairs"), ({"batch": 0}, "batch"), ({"n_values": 1}, "n_values")],
)
def test_mqar_bad_arguments_name_themselves(kwargs, name):
    args = {"batch": 2, "n_pairs": 4, "generator": torch.Generator(), "n_keys": 10} | kwargs
    with pytest.raises(ValueError, match=f"^{name} "):
        mqar(**args)


# --- a memory of fixed size ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dk", [4, 16])
def test_measured_retrieval_error_matches_the_closed_forms(dk):
    """Mean squared error over 400 random memories against the exact expectation: the tolerance is 4 standard
    errors of the mean (measured from the same trials), so a true formula fails it with probability ~6e-5 per
    point; a formula off by 15 % fails it (the second assertion shows the check has that power)."""
    frame = recall.memory_frame(dk, [1, 2, dk // 2, dk, 2 * dk, 4 * dk], seed=11, trials=400)
    off = (frame["measured_sq"] - frame["theory_sq"]).abs()
    assert (off <= 4 * frame["se_sq"] + 1e-12).all(), frame
    loaded = frame[frame["n"] >= dk]
    assert ((loaded["measured_sq"] - 1.15 * loaded["theory_sq"]).abs() > 4 * loaded["se_sq"]).all()


def test_one_pair_is_stored_exactly_by_both_rules():
    frame = recall.memory_frame(8, [1], seed=0, trials=20)
    assert frame["measured_sq"].max() < 1e-24 and frame["theory_sq"].max() == 0


def test_closed_forms_have_the_right_shape():
    assert theory.additive_memory_error(17, 16) == pytest.approx(1.0)
    per_pair = theory.delta_memory_pair_errors(64, 8)
    assert per_pair[-1] == 0.0  # the newest pair is exact
    assert np.all(np.diff(per_pair) <= 1e-12)  # older pairs are worse
    assert 1.9 < per_pair[0] < 2.0  # the oldest is nearly forgotten: 2 = a read-out unrelated to v
    n = np.arange(2, 200)
    delta = theory.delta_memory_error(n, 16)
    assert np.all(delta < theory.additive_memory_error(n, 16))  # overwriting beats piling up
    assert np.all(np.diff(delta) > 0) and delta.max() < 2.0
    with pytest.raises(ValueError, match=r"^n_pairs"):
        theory.delta_memory_error(2.5, 16)


def test_overwrite_returns_the_new_value_exactly_with_the_delta_rule_only():
    ow = recall.overwrite_demo(16, 8, seed=0).set_index("rule")
    assert ow.loc["delta", "cos_new"] == pytest.approx(1.0, abs=1e-12)
    assert ow.loc["delta", "error_new"] < 1e-12
    assert ow.loc["linear", "error_new"] > 0.3 and ow.loc["linear", "cos_old"] > 0.3  # a mix of old and new


def test_pairs_below_is_the_exercises_answer_and_agrees_with_the_closed_form():
    n = recall.pairs_below(16, 0.5)
    assert math.sqrt(theory.delta_memory_error(n, 16)) < 0.5 <= math.sqrt(theory.delta_memory_error(n + 1, 16))
    assert recall.pairs_below(16, 0.5, "linear") == 4  # (n − 1)/16 < 1/4
    assert next(ex for ex in EXERCISES if ex.id == "delta_capacity").answer() == n


# --- linear attention is an RNN ------------------------------------------------------------------------------


def test_the_forms_agree_on_screen():
    diffs = recall.form_differences(64, 16, seed=0).set_index("compared")
    assert diffs["float32"].max() < 1e-5 and diffs["float64"].max() < 1e-12
    outputs = recall.form_outputs(64, 16, seed=0)
    wide = outputs.pivot(index="t", columns="method", values="output")
    assert np.allclose(wide["parallel"], wide["recurrent"], atol=1e-4)


def test_crossover_is_the_first_length_from_which_the_loop_stays_faster():
    rows = [(64, 1, 5), (128, 3, 6), (256, 9, 7), (512, 6, 8), (1024, 40, 9)]  # (L, parallel, recurrent)
    timing = pd.DataFrame(
        [{"L": L, "method": m, "seconds": s} for L, p, r in rows for m, s in (("parallel", p), ("recurrent", r))]
    )
    assert recall.crossover(timing) == 1024  # 256 is slower, but 512 is not: not for good
    assert recall.predicted_crossover(timing) == pytest.approx(1024 * 9 / 40)
    laws = recall.timing_with_laws(timing)
    law = laws[laws["series"] == recall.LAW_NAMES["parallel"]].set_index("L")["seconds"]
    assert law[1024] == pytest.approx(40) and law[512] == pytest.approx(10)
    never = timing.assign(seconds=np.where(timing["method"] == "parallel", 0.1, 1.0))
    assert recall.crossover(never) is None


def test_form_timing_refuses_a_length_past_the_probe_budget():
    with pytest.raises(ValueError, match=r"^L "):
        recall.form_timing([4096])


# --- the race ------------------------------------------------------------------------------------------------


def test_racers_are_matched_in_size_within_10_percent():
    counts = recall.parameter_counts()
    assert set(counts) == set(recall.KINDS)
    assert max(counts.values()) <= 1.1 * min(counts.values()), counts


@pytest.mark.parametrize("kind", recall.KINDS)
def test_every_racer_maps_mqar_to_value_logits(kind):
    x, _ = mqar(3, 4, torch.Generator().manual_seed(0), recall.N_KEYS, recall.N_VALUES)
    assert recall.racer(kind, 0)(x).shape == (3, 12, recall.N_VALUES)


def test_previous_token_shows_each_token_with_the_one_before():
    x = torch.eye(3).unsqueeze(0)  # tokens 0, 1, 2
    out = recall.PreviousToken()(x)
    assert torch.equal(out[0, :, :3], x[0]) and torch.equal(out[0, 0, 3:], torch.zeros(3))
    assert torch.equal(out[0, 1:, 3:], x[0, :-1])


def test_pair_counts_and_series_names():
    assert recall.pair_counts(8, False) == (8,)
    assert recall.pair_counts(32, True) == (4, 8, 16, 32)
    assert recall.pair_counts(12, True) == (4, 8, 12)
    assert recall.series_name("S6", 16, True) == "S6, 16 pairs"
    with pytest.raises(ValueError, match=r"^pairs "):
        recall.pair_counts(65, False)


def test_learning_rates_are_the_best_of_the_recorded_sweep():
    sweep = recall.sweep_table().set_index("model")
    for kind in recall.KINDS:
        chosen = sweep.loc[kind, f"lr = {recall.RACE_LR[kind]:g}"]
        assert chosen == sweep.loc[kind].max() and (sweep.loc[kind] < chosen).sum() == len(recall.SWEEP_LRS) - 1


def test_lr_sweep_trains_on_the_validation_seed():
    df = recall.lr_sweep(("attention",), (1e-2,), n_pairs=2, steps=2)
    assert list(df.columns) == ["kind", "lr", "accuracy", "best"] and len(df) == 1
    assert 0 <= df["accuracy"].iloc[0] <= 1


def _history(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"series": s, "step": t, "loss": 1.0, "accuracy": a} for s, t, a in rows])


def test_race_verdict_waits_for_attention_then_quotes_the_others():
    early = _history([("attention", 20, 0.5), ("S4D", 20, 0.1), ("S6", 20, 0.05), ("DeltaNet", 20, 0.1)])
    assert recall.race_verdict(early, False, pairs=8) is None
    rows = [(k, t, a) for t in (20, 40) for k, a in zip(recall.KINDS, (0.5 + t / 100, 0.1, 0.05, 0.2), strict=True)]
    verdict = recall.race_verdict(_history(rows), False, pairs=8)
    assert verdict == Verdict(
        True,
        "With 8 pairs attention recalled 90% of the queried values by step 40; at that step S4D was at 10%, "
        "S6 was at 5% and DeltaNet was at 20% (guessing among the 8 values shown scores 1/8).",
    )
    rows[-1] = ("DeltaNet", 40, 0.6)
    assert not recall.race_verdict(_history(rows), False, pairs=8).expected  # DeltaNet kept up
    slow = _history([(k, 20, 0.3) for k in recall.KINDS])
    assert recall.race_verdict(slow, False, pairs=8) is None
    assert not recall.race_verdict(slow, True, pairs=8).expected


def test_curve_verdict_needs_attention_flat_and_every_fixed_state_model_falling():
    def curve(acc):
        return _history(
            [(recall.series_name(k, n, True), 100, acc(k, n)) for n in (4, 8, 16, 32) for k in recall.KINDS]
        )

    good = curve(lambda k, n: 0.99 if k == "attention" else 1 / n)
    assert recall.curve_verdict(good, False, pair_list=(4, 8, 16, 32)) is None
    verdict = recall.curve_verdict(good, True, pair_list=(4, 8, 16, 32))
    assert verdict.expected and "attention went 99% -> 99%" in verdict.text
    flat_s6 = curve(lambda k, n: 0.99 if k in ("attention", "S6") else 1 / n)
    assert "S6 did not fall" in recall.curve_verdict(flat_s6, True, pair_list=(4, 8, 16, 32)).text
    tired = curve(lambda k, n: 0.5 if k == "attention" and n == 32 else 0.99 if k == "attention" else 1 / n)
    assert not recall.curve_verdict(tired, True, pair_list=(4, 8, 16, 32)).expected
    frame = recall.curve_frame(good, (4, 8, 16, 32))
    assert len(frame) == 16 and frame.loc[frame["model"] == "S4D", "accuracy"].tolist() == [0.25, 0.125, 0.0625, 1 / 32]


def test_demo_keys_name_the_settings():
    a = recall.demo({}, 0)
    assert a.key == recall.demo(dict(recall.DEFAULTS), 0).key == recall.demo({"rec_pairs": 8.0}, 0).key
    assert a.key != recall.demo({"rec_pairs": 16}, 0).key != recall.demo({}, 1).key
    assert list(a.factories) == list(recall.KINDS) and a.total_steps == recall.SIZES[LECTURE]["rec_steps"]
    full = recall.demo(recall.SIZES[FULL], 0)
    assert len(full.factories) == 16 and full.info["curve"] and full.info["pairs"] == (4, 8, 16, 32)
    assert a.info["counts"] == recall.parameter_counts()


@pytest.mark.parametrize(
    "values,name", [({"rec_pairs": 1}, "pairs"), ({"rec_steps": 10}, "rec_steps"), ({"pairs": 8}, "unknown")]
)
def test_demo_refuses_bad_settings(values, name):
    with pytest.raises(ValueError, match=name):
        recall.demo(values, 0)


def test_a_race_series_is_reproducible():
    make = recall.race(2, 3, seed=5)["DeltaNet"]
    first, second = ([e.loss for e in make()] for _ in range(2))
    assert first == second and len(first) == 4  # the step-0 evaluation and 3 steps


# --- the page ------------------------------------------------------------------------------------------------


def test_page_defaults_build_the_registry_demo():
    at = open_page("pages/10_Associative_recall.py")
    at.run()
    assert_clean(at, "defaults")
    assert at.session_state["recall_race_demo_key"] == recall.demo(recall.DEFAULTS, 0).key
    assert len(at.get("vega_lite_chart")) >= 3


def test_page_exercise_checks_the_answer():
    at = open_page("pages/10_Associative_recall.py")
    at.run()
    at.number_input(key="recall_exercise").set_value(recall.pairs_below(16, 0.5)).run()
    assert len(at.success) == 1
    at.number_input(key="recall_exercise").set_value(recall.pairs_below(16, 0.5) + 3).run()
    assert not at.success and any("Not yet" in e.value for e in at.error)


# --- slow: the capacity curve over seeds ----------------------------------------------------------------------
# (the Lecture verdict on seeds 0-4 is tests/test_lecture_demos.py::test_lecture_verdict_holds_on_at_least_4_of_5_seeds)


@pytest.mark.slow
@pytest.mark.timeout(900)  # ATEN_CPU_CAPABILITY=default kernels are slower
@pytest.mark.parametrize(  # seed 0 on both kernel sets CI uses, seeds 1-2 with this machine's (CI time)
    "seed", [0, pytest.param(1, marks=pytest.mark.one_kernel_set), pytest.param(2, marks=pytest.mark.one_kernel_set)]
)
def test_full_size_capacity_curve_attention_flat_fixed_state_falling(seed):
    """Attention at or above 90 % at 4, 8, 16 and 32 pairs, S4D, S6 and DeltaNet each at least 10 points lower at 32
    pairs than at 4. Measured with torch's own kernels (AVX-512) on a loaded 2-core host, seeds 0 / 1 / 2:
    attention 99-100 % at every count; S4D 27/30/26 -> 6/5/5 %, S6 24/28/26 -> 2/1/2 %, DeltaNet 33/38/22 ->
    5/4/5 %. 148-160 CPU-s per seed on one core (one test per seed, so CI's two workers share them)."""
    from lrd_core.lecture import run_demo

    result = run_demo(recall.demo(recall.SIZES[FULL], seed))
    assert result.verdict.expected, result.verdict.text
