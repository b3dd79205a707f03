"""The "Real data" page: the committed demand series, the forecasting task, the baselines, the races, the verdicts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lrd_core import real_data as rd
from lrd_core import theory
from lrd_core.charts import real_data as rdc
from lrd_core.demo import FULL, LECTURE, check_sizes
from lrd_core.experiments import real_data as rx
from lrd_core.lecture import lecture_demo_of, run_demo
from lrd_core.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "taylor_demand.csv"


# --- the data ------------------------------------------------------------------------------------------------


def test_committed_series_is_the_published_one():
    raw = pd.read_csv(CSV)
    assert list(raw.columns) == ["timestamp", "demand_mw"]
    assert len(raw) == 4032
    assert raw["demand_mw"].iloc[:3].tolist() == [22262, 21756, 22247]  # pmdarima's / R forecast's `taylor`
    assert raw["demand_mw"].iloc[-3:].tolist() == [25996, 24610, 23132]
    assert raw["timestamp"].iloc[0] == "2000-06-05 00:00" and raw["timestamp"].iloc[-1] == "2000-08-27 23:30"
    assert (ROOT / "data" / "README.md").is_file()
    assert CSV.stat().st_size < 120_000


def test_loader_returns_a_tidy_frame_with_weekdays():
    df = rd.load_demand()
    assert len(df) == rd.N_VALUES and df["t"].tolist() == list(range(4032))
    assert df["timestamp"].iloc[0] == pd.Timestamp("2000-06-05 00:00")  # a Monday
    assert (df["weekday"].astype(str) == df["timestamp"].dt.strftime("%a")).all()
    assert df["week"].min() == 1 and df["week"].max() == 12 and (df["week"].value_counts() == 336).all()
    np.testing.assert_array_equal(df["demand_mw"].to_numpy(), pd.read_csv(CSV)["demand_mw"].to_numpy())
    df.loc[0, "demand_mw"] = -1.0  # a caller's copy: the cached series is untouched
    assert rd.load_demand()["demand_mw"].iloc[0] == 22262
    means = df.groupby("weekday", observed=True)["demand_mw"].mean()
    assert 26_000 < means["Sat"] < 27_000 and means[["Mon", "Tue", "Wed", "Thu", "Fri"]].min() > 30_000
    assert df.groupby("split")["week"].agg(["min", "max"]).to_dict("index") == {
        "weeks 1-7: training": {"min": 1, "max": 7},
        "week 8: validation, then training": {"min": 8, "max": 8},
        "weeks 9-12: test": {"min": 9, "max": 12},
    }


def test_friday_follows_thursday_until_midday_then_falls_below():
    gap = rd.profile_gap(rd.weekly_profile(), "Fri", "Thu")  # MW by hour, the page's sentence
    assert len(gap) == 48 and gap.index[0] == 0 and gap.index[-1] == 23.5
    assert gap.loc[:11.5].abs().max() < 400 and gap.loc[12:].min() < -2000
    with pytest.raises(ValueError, match="other"):
        rd.profile_gap(rd.weekly_profile(), "Fri", "Friday")


# --- the task ------------------------------------------------------------------------------------------------


def test_split_is_chronological_and_z_scored_with_training_statistics():
    task = rd.forecast_task()
    values = pd.read_csv(CSV)["demand_mw"].to_numpy(dtype=float)
    train = values[: 8 * 336]
    assert task.split == "test" and len(task.z) == 4032
    assert task.mean == pytest.approx(train.mean()) and task.std == pytest.approx(train.std())
    np.testing.assert_allclose(task.z.numpy(), (values - train.mean()) / train.std(), rtol=1e-5, atol=1e-5)
    assert abs(float(task.z[: task.train_end].mean())) < 1e-5  # only the training weeks are centred
    assert len(task.train_origins) == 2128 and int(task.train_origins[0]) == rd.WARMUP
    assert int(task.target_index(task.train_origins).max()) == task.train_end - 1  # no training target in the test
    assert int(task.target_index(task.eval_origins).min()) == task.train_end
    assert int(task.target_index(task.eval_origins).max()) == rd.N_VALUES - 1
    t, h = 1000, 7  # targets[t, h] = z[t + 1 + h]
    assert float(task.targets[t, h]) == float(task.z[t + 1 + h])
    assert torch.isnan(task.targets[-1]).all()


def test_validation_split_trains_on_weeks_1_to_7_scores_week_8_and_never_reads_the_test_weeks():
    task = rd.forecast_task("validation")
    values = pd.read_csv(CSV)["demand_mw"].to_numpy(dtype=float)
    train = values[: 7 * 336]
    assert task.split == "validation" and len(task.z) == 8 * 336 and task.train_end == 7 * 336
    np.testing.assert_allclose(task.z.numpy(), (values[: 8 * 336] - train.mean()) / train.std(), atol=1e-5)
    assert int(task.train_origins[0]) == rd.WARMUP
    assert int(task.target_index(task.train_origins).max()) == 7 * 336 - 1
    scored = task.target_index(task.eval_origins)
    assert int(scored.min()) == 7 * 336 and int(scored.max()) == 8 * 336 - 1 and len(task.eval_origins) == 289
    assert rd.forecast_task("validation") is task  # built once
    with pytest.raises(ValueError, match="split"):
        rd.forecast_task("train")


def _naive_by_numpy(lag: int) -> dict[str, float]:
    """The seasonal-naive test MSE by target weekday, by plain numpy indexing."""
    values = pd.read_csv(CSV)["demand_mw"].to_numpy(dtype=float)
    z = (values - values[:2688].mean()) / values[:2688].std()
    sq, day = [], []
    for t in range(2687, 4032 - 48):  # every origin whose 48 targets lie in weeks 9-12
        for h in range(1, 49):
            sq.append((z[t + h] - z[t + h - lag]) ** 2)
            day.append(((t + h) // 48) % 7)
    sq, day = np.array(sq), np.array(day)
    out = {"all": sq.mean()}
    out.update({name: sq[day == d].mean() for d, name in enumerate(rd.WEEKDAYS)})
    return out


def test_baselines_match_an_independent_computation():
    table = rd.baseline_table()
    for name, lag in (("same as yesterday", 48), ("same as last week", 336)):
        mine = table[table["model"] == name].set_index("weekday")["mse"]
        for day, value in _naive_by_numpy(lag).items():
            assert mine[day] == pytest.approx(value, rel=1e-4), (name, day)
    mine = table.set_index(["model", "weekday"])["mse"]
    # the pilot: lag 48 about 0.3 overall and 0.59 on Saturdays; lag 336 about 0.019 overall
    assert mine["same as last week", "all"] == pytest.approx(0.019, abs=0.002)
    assert mine["same as yesterday", "Sat"] == pytest.approx(0.59, abs=0.02)
    assert mine["same as yesterday", "all"] > 10 * mine["same as last week", "all"]


def test_warmup_covers_the_largest_reach_and_window_the_page_offers():
    """Every training origin has a full receptive field (or window) of real data behind it (issue 34, item 10)."""
    assert rx.tcn_config(rx.MAX_REACH_LAYER, 4).receptive_field == max(rx.LONG_REACHES) == rd.WARMUP
    assert max(rx.MEMORIES) <= rx.MAX_MEMORY == rd.WARMUP
    assert all(s < lo for s in rx.SHORT_REACHES for lo in rx.LONG_REACHES)
    for reach in (*rx.SHORT_REACHES, *rx.LONG_REACHES):
        assert rx.tcn_config(rx.reach_layer("reach", reach), 4).receptive_field == reach
    with pytest.raises(ValueError, match="long_reach"):
        rx.reach_layer("long_reach", 1024)  # beyond WARMUP: would train on zero padding
    with pytest.raises(ValueError, match="short_reach"):
        rx.reach_layer("short_reach", 96)  # not a power of two


# --- the run spec -----------------------------------------------------------------------------------------------


def test_demo_builds_each_race_with_its_own_settings_in_its_key():
    check_sizes(rx.SIZES)
    assert rx.SIZES[LECTURE]["tcn_steps"] < rx.SIZES[FULL]["tcn_steps"]
    assert set(rx.DEFAULTS) == {k for keys in rx.RACE_SETTINGS.values() for k in keys}
    tcn, lstm = rx.demo({}, 0), rx.demo({}, 0, race="lstm")
    assert set(tcn.factories) == {"TCN, reach 128", "TCN, reach 512"} and tcn.total_steps == 400
    assert set(lstm.factories) == set(rx.lstm_names(24)) and lstm.total_steps == rx.SIZES[LECTURE]["lstm_steps"]
    assert tcn.info["names"] == ("TCN, reach 128", "TCN, reach 512") and tcn.info["day"] == rx.TCN_DAY == "Sat"
    assert tcn.info["depth"] == 9 and tcn.info["top_layers"] == {"TCN, reach 128": 6, "TCN, reach 512": 8}
    assert tcn.info["parameters"] == {
        "TCN, reach 128": 4576,
        "TCN, reach 512": 5088,
    }  # two pointwise layers: 2 x 16² fewer
    assert lstm.info["names"] == ("LSTM, last 24 steps", "LSTM, full memory") and lstm.info["batch"] == 128
    assert lstm.info["reaches"] == {"LSTM, last 24 steps": 24, "LSTM, full memory": None}
    assert len(set(lstm.info["parameters"].values())) == 1  # one LSTM, read two ways
    # the registry's entries are the page's defaults; a race's key ignores the other race's widgets
    assert lecture_demo_of("real_data", 0).key == tcn.key == rx.demo(rx.SIZES[LECTURE], 0, race="tcn").key
    assert lecture_demo_of("real_data:lstm", 0).key == lstm.key
    assert rx.demo({"memory": 48, "lstm_steps": 100}, 0).key == tcn.key
    assert rx.demo({"width": 8}, 0, race="lstm").key == lstm.key
    for k, value in {"short_reach": 64, "long_reach": 256, "width": 8, "tcn_steps": 500}.items():
        assert rx.demo({k: value}, 0).key != tcn.key, k
    for k, value in {"memory": 48, "hidden": 16, "lstm_steps": 500}.items():
        assert rx.demo({k: value}, 0, race="lstm").key != lstm.key, k
    assert rx.demo({}, 1).key != tcn.key and rx.demo({}, 0, "cuda").key != tcn.key
    assert rx.VERSION in tcn.key and tcn.key != lstm.key
    with pytest.raises(ValueError, match="race"):
        rx.demo({}, 0, race="gru")
    with pytest.raises(ValueError, match="unknown setting"):
        rx.demo({"reach": 128}, 0)
    with pytest.raises(ValueError, match="model"):
        rx.train_config("gru", 10)


def test_bad_arguments_name_the_parameter():
    task = rd.forecast_task()
    with pytest.raises(ValueError, match="lag"):
        rd.seasonal_naive(task, 24, task.eval_origins)  # would read the future
    with pytest.raises(ValueError, match="top_layer"):
        rx.tcn_forecaster(10, 16, 0)
    with pytest.raises(ValueError, match="channels"):
        rx.tcn_forecaster(6, 10_000, 0)
    with pytest.raises(ValueError, match="depth"):
        rx.tcn_forecaster(6, 16, 0, depth=5)
    with pytest.raises(ValueError, match="memory"):
        rx.lstm_forecaster(32, 4, 0)
    with pytest.raises(ValueError, match="hidden"):
        rx.lstm_forecaster(10_000, 128, 0)
    with pytest.raises(ValueError, match="short_layer"):
        rx.tcn_race(8, 6, 16, TrainConfig(steps=1), 0)
    with pytest.raises(ValueError, match="short_reach"):
        rx.demo({"short_reach": 128, "long_reach": 128}, 0)
    with pytest.raises(ValueError, match="width"):
        rx.demo({"width": 0}, 0)
    with pytest.raises(ValueError, match="hidden"):
        rx.demo({"hidden": 10_000}, 0, race="lstm")
    with pytest.raises(ValueError, match="memory"):
        rx.demo({"memory": 1024}, 0, race="lstm")
    with pytest.raises(ValueError, match="origins"):
        rx.lstm_forecaster(4, 24, 0)(task.z, torch.tensor([10]))  # a window would start before t = 0


# --- the models ----------------------------------------------------------------------------------------------


def _seen(model: torch.nn.Module, T: int, origin: int) -> torch.Tensor:
    """Indices of the inputs that the forecasts from ``origin`` depend on (autograd, float64)."""
    x = 0.5 + torch.rand(T, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(model(x, torch.tensor([origin])).sum(), x)
    return torch.nonzero(g.abs() > 0).flatten()


@pytest.mark.parametrize("top_layer", [6, 8])
def test_tcn_forecaster_sees_exactly_its_closed_form_reach(top_layer):
    model = rx.tcn_forecaster(top_layer, 4, seed=0, depth=9).double()
    R = rx.tcn_config(top_layer, 4).receptive_field
    assert R == theory.receptive_field(2, top_layer) == 2 ** (top_layer + 1)
    assert len(model.encoder.layers) == 9  # depth-matched: pointwise layers on top of the short stack
    assert rx.tcn_names(6, 8, 4) == ("TCN, reach 128", "TCN, reach 512")
    with torch.no_grad():  # positive weights and inputs: every ReLU passes, so every path shows (as on page 3)
        for p in model.parameters():
            p.abs_()
    T = R + 50
    seen = _seen(model, T, T - 1)  # the forecasts issued at the last step
    assert int(seen.min()) == T - R and int(seen.max()) == T - 1  # R steps back, nothing from the future


def test_windowed_lstm_sees_exactly_its_window_and_full_lstm_the_whole_past():
    window, full = rx.lstm_forecaster(8, 24, seed=0).double(), rx.lstm_forecaster(8, None, seed=0).double()
    assert _seen(window, 300, 200).tolist() == list(range(177, 201))  # exactly z[t − 23 .. t]
    seen = _seen(full, 300, 200)
    assert int(seen.min()) == 0 and int(seen.max()) == 200
    z = torch.randn(300, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():  # same weights: a window that starts at t = 0 is the full model's forecast there
        torch.testing.assert_close(window(z, torch.tensor([23])), full(z, torch.tensor([23])))
        assert not torch.allclose(window(z, torch.tensor([100])), full(z, torch.tensor([100])))
        out = window(z, torch.tensor([30, 40, 299]))
        assert out.shape == (3, rd.HORIZON)
        torch.testing.assert_close(out[1:2], window(z, torch.tensor([40])))  # windows are independent in a batch


def test_forecast_run_reports_test_errors_by_weekday_and_keeps_forecasts():
    keep = {}
    factories = rx.tcn_race(3, 4, 4, TrainConfig(steps=3, lr=1e-3), seed=0, keep=keep, eval_every=2)
    name = "TCN, reach 16"
    events = list(factories[name]())
    assert [e.step for e in events] == [0, 1, 2, 3]
    assert set(events[0].metrics) == set(rx.METRICS) and set(events[-1].metrics) == set(rx.METRICS)
    assert events[1].metrics == {}
    f = keep[name]
    assert len(f) == 28 * 48 and f["day_start"].min() == 2688 and f["t"].max() == 4031  # every test day
    assert (f.groupby("day_start")["weekday"].first().iloc[:7] == list(rd.WEEKDAYS)).all()  # week 9 starts Monday
    assert f["forecast_mw"].between(0, 100_000).all()


def test_both_lstms_train_on_the_same_origins_and_the_validation_split_scores_week_8():
    task = rd.forecast_task("validation")
    drawn = {}

    class Spy(torch.nn.Module):  # records the origins of every training call, forecasts zeros
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z, origins):
            drawn.setdefault(id(self), []).append(origins.clone())
            return self.w * torch.zeros(len(origins), rd.HORIZON)

    runs = [list(rx.forecast_run(Spy(), TrainConfig(steps=3), task=task, batch=16, seed=5)) for _ in range(2)]
    first, second = drawn.values()
    assert len(first) == 2 + 3 + 1  # step 0 (the first batch's loss, scoring), steps 1-3, the last scoring
    train_calls = [o for o in first if len(o) == 16]  # step 0's loss and step 1 share the first batch
    assert len(train_calls) == 4 and all(len(set(o.tolist())) == 16 for o in train_calls)  # without replacement
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # equal seeds, equal origins
    assert torch.equal(train_calls[0], train_calls[1]) and not torch.equal(train_calls[1], train_calls[2])
    assert all(int(o.min()) >= rd.WARMUP and int(o.max()) < 7 * 336 - 48 for o in train_calls)
    scored = [o for o in first if len(o) == len(task.eval_origins)]
    assert scored and torch.equal(scored[0], task.eval_origins)
    naive = rd.errors_by_weekday(task, torch.zeros(len(task.eval_origins), rd.HORIZON), task.eval_origins)
    assert runs[0][-1].metrics["mse_Sun"] == pytest.approx(naive["Sun"])  # zeros scored on week 8


def test_weekday_errors_and_charts_build():
    hist = _history(0.02, 0.05)
    errors = rx.weekday_errors(hist)
    assert set(errors["model"]) == {"long", "short"} and len(errors) == 16
    assert errors.set_index(["model", "weekday"]).loc[("long", "Sun"), "mse"] == 0.02
    frame = rd.load_demand()
    rdc.series_chart(frame).to_dict()
    rdc.profile_chart(rd.weekly_profile(frame)).to_dict()
    rdc.reach_chart(frame, 3167, {"a": 128, "b": 512}).to_dict()
    rdc.weekday_error_chart(errors).to_dict()
    task = rd.forecast_task()
    fake = rx.midnight_forecasts(task, task.targets[rd.midnight_origins(task)])
    lines = rd.forecast_lines(frame, {"perfect": fake}, [3264, 3360])
    perfect = lines[lines["series"] == "perfect"]["demand_mw"].to_numpy()
    np.testing.assert_allclose(perfect, lines[lines["series"] == "actual"]["demand_mw"].to_numpy(), rtol=1e-5)
    rdc.forecast_chart(lines[lines["day"] == lines["day"].iloc[0]]).to_dict()
    assert rx.weekday_errors(pd.DataFrame(columns=["series", "step", "loss"])).empty


def test_weekend_forecast_summary_is_measured_against_the_data():
    task = rd.forecast_task()
    perfect = rx.midnight_forecasts(task, task.targets[rd.midnight_origins(task)])
    rows = rx.day_forecasts(task, {"perfect": perfect}, "Sat")
    assert rows["day_start"].unique().tolist() == [2928, 3264, 3600, 3936]  # the four test Saturdays
    by = rows.set_index(["series", "day_start"])
    assert by.loc["perfect", "mse"].max() < 1e-9
    np.testing.assert_allclose(by.loc["perfect", "level_mw"], by.loc["actual", "level_mw"], rtol=1e-6)
    values = pd.read_csv(CSV)["demand_mw"].to_numpy(dtype=float)
    for s in (2928, 3936):  # "same as yesterday" is Friday's demand, scored against Saturday's
        assert by.loc[("same as yesterday", s), "level_mw"] == pytest.approx(values[s - 48 : s].mean())
        mse = (((values[s - 48 : s] - values[s : s + 48]) / task.std) ** 2).mean()
        assert by.loc[("same as yesterday", s), "mse"] == pytest.approx(mse, rel=1e-5)
    summary = rx.forecast_summary(task, {"perfect": perfect}).set_index(["day", "series"])
    assert summary.loc[("Sun", "actual"), "n_days"] == 4
    sat = values[[s + i for s in (2928, 3264, 3600, 3936) for i in range(48)]].reshape(4, 48).mean(axis=1)
    assert summary.loc[("Sat", "actual"), "level_lo_gw"] == pytest.approx(sat.min() / 1000)
    assert summary.loc[("Sat", "actual"), "level_hi_gw"] == pytest.approx(sat.max() / 1000)


# --- verdicts ------------------------------------------------------------------------------------------------


def _history(long_day: float, short_day: float, names=("long", "short"), day="Sun") -> pd.DataFrame:
    """A hand-made live history: two series, steps 0..2, evaluated at steps 0 and 2."""
    rows = []
    for name, final in zip(names, (long_day, short_day), strict=True):
        for step in range(3):
            row = {"series": name, "step": step, "loss": 1.0, "grad_norm": 1.0, "seconds": 0.1 * step}
            row.update({"status": "done" if step == 2 else "running", "message": ""})
            row.update(dict.fromkeys(rx.METRICS, np.nan))
            if step in (0, 2):
                row.update(dict.fromkeys(rx.METRICS, 0.5))
                row[f"mse_{day}"] = 1.0 if step == 0 else final
            rows.append(row)
    return pd.DataFrame(rows)


def test_verdict_days_and_thresholds_follow_the_validation_numbers():
    """Issue 34, item 10: the weekday with the largest ratio on 80 % of the validation runs (weeks 6-8 x seeds 0-4),
    that ratio rounded down to a multiple of 0.5 as the bar."""
    assert rx.validation_choice(rx.VALIDATION_RATIOS["tcn"]) == (rx.TCN_DAY, rx.TCN_MIN_RATIO) == ("Sat", 1.5)
    assert rx.validation_choice(rx.VALIDATION_RATIOS["lstm"]) == (rx.LSTM_DAY, rx.LSTM_MIN_RATIO) == ("Sun", 1.5)
    ones = ((1.0,) * 5,) * 3
    sat = ((9, 9, 9, 9, 9), (9, 9, 9, 9, 9), (0.5, 0.6, 0.7, 3.3, 3.3))  # 80 % of the 15 runs reach 3.3
    assert rx.validation_choice({"Mon": ones, "Sat": sat}) == ("Sat", 3.0)
    assert rx.validation_choice({"Mon": ((0.9, 1.0, 1.1, 1.2, 1.3),) * 3}) == ("Mon", 1.0)
    for race in rx.VALIDATION_RATIOS.values():
        assert set(race) == set(rd.WEEKDAYS)
        assert all(len(folds) == 3 and all(len(seeds) == 5 for seeds in folds) for folds in race.values())


def test_tcn_verdict_is_computed_from_the_run():
    verdict = rx.tcn_verdict("TCN, reach 128", "TCN, reach 512")
    names = ("TCN, reach 512", "TCN, reach 128")
    assert verdict(_history(0.041, 0.139, names, day="Sat"), finished=False) is None
    v = verdict(_history(0.041, 0.139, names, day="Sat"), finished=True)
    assert v.expected
    assert v.text == "The reach-128 TCN's Saturday error is 3.4x the reach-512 TCN's (0.139 vs 0.041) after 2 steps."
    v = verdict(_history(0.050, 0.070, names, day="Sat"), finished=True)  # 1.4x: below the bar of 1.5
    assert not v.expected and "1.4x" in v.text
    assert verdict(_history(0.019, 0.049, ("other", "TCN, reach 128"), day="Sat"), finished=True) is None


def test_lstm_verdict_is_computed_from_the_run():
    verdict = rx.lstm_verdict(24)
    full, window = rx.lstm_names(24)
    v = verdict(_history(0.030, 0.400, (full, window)), finished=True)
    assert v.expected
    assert v.text == "The 24-step LSTM's Sunday error is 13.3x the full-memory LSTM's (0.400 vs 0.030) after 2 steps."
    assert not verdict(_history(0.05, 0.07, (full, window)), finished=True).expected
    assert verdict(_history(0.05, 0.1, (full, window)), finished=False) is None


# --- slow: the races the page shows, at its Lecture size, over seeds 0-4 ---------------------------------------


def _lecture_ratios(topic: str, day: str) -> list[float]:
    """Per seed 0-4: the worse series' last ``day`` test MSE over the better one's, for the page's race."""
    out = []
    for seed in range(5):
        demo = lecture_demo_of(topic, seed)
        last = run_demo(demo).history.sort_values("step").groupby("series").last()
        worse, better = demo.info["names"]
        out.append(float(last.loc[worse, f"mse_{day}"] / last.loc[better, f"mse_{day}"]))
    return out


@pytest.mark.slow
def test_short_reach_tcn_misses_saturdays():
    # Threshold and day from the validation folds (rx.VALIDATION_RATIOS: Saturday, 1.79x on 12 of 15 runs -> 1.5x).
    # Measured on the test weeks (one thread, 6-7 CPU-s a seed): Saturday MSE reach 128 / 512 = 0.139/0.041,
    # 0.112/0.052, 0.111/0.035, 0.075/0.052, 0.070/0.037 for seeds 0-4 (3.4, 2.1, 3.2, 1.4, 1.9x); overall
    # 1.2-1.7x on every seed. Asserted: at least 1.5x on at least 4 of 5.
    ratios = _lecture_ratios("real_data", rx.TCN_DAY)
    assert sum(r >= rx.TCN_MIN_RATIO for r in ratios) >= 4, ratios


@pytest.mark.slow
def test_lstm_that_sees_half_a_day_misses_sundays():
    # Threshold and day from the validation folds (rx.VALIDATION_RATIOS: Sunday, 1.94x on 12 of 15 runs -> 1.5x).
    # Measured on the test weeks (one thread, 11-12 CPU-s a seed): Sunday MSE last 24 steps / full memory =
    # 0.125/0.015, 0.254/0.018, 0.313/0.023, 0.273/0.017, 0.272/0.017 for seeds 0-4 (8.6-15.7x). Given the full
    # history instead of its window, the windowed LSTM is the full one (same weights, same batches): 1.0x on
    # every seed, and this test fails (checked once by breaking Forecaster.forward). Asserted: 1.5x on 4 of 5.
    ratios = _lecture_ratios("real_data:lstm", rx.LSTM_DAY)
    assert sum(r >= rx.LSTM_MIN_RATIO for r in ratios) >= 4, ratios


# --- the page under AppTest ------------------------------------------------------------------------------------


def test_page_run_ends_with_a_verdict_and_forecast_charts():
    from tests.apptest_support import assert_clean, open_page

    at = open_page("pages/9_Real_data.py", query={"tcn_steps": "100"})
    at.run()
    assert_clean(at, "defaults")
    charts_before = len(at.get("vega_lite_chart"))
    at.button(key="real_data_tcn_start").click().run()
    for _ in range(40):  # sync engine: 5 steps per series per run
        if any("Saturday error" in m.value for m in list(at.success) + list(at.warning)):
            break
        at.run()
    assert_clean(at, "after the TCN race")
    verdicts = [m.value for m in list(at.success) + list(at.warning) if "Saturday error" in m.value]
    assert verdicts and "reach-128 TCN" in verdicts[0] and "after 100 steps" in verdicts[0]
    assert len(at.get("vega_lite_chart")) >= charts_before + 4  # curves, weekday bars, Saturday and Sunday
    said = " ".join(c.value for c in at.caption)
    naive = rx.forecast_summary(rd.forecast_task(), {}).set_index(["day", "series"]).loc[("Sat", "same as yesterday")]
    assert 'On Saturdays, "TCN, reach 128" forecast' in said and f'"same as yesterday": MSE {naive["mse"]:.3f}' in said


def test_page_size_control_sets_the_step_sliders():
    from tests.apptest_support import assert_clean, open_page

    for size in (LECTURE, FULL):
        at = open_page("pages/9_Real_data.py", query={"size": size})
        at.run()
        assert_clean(at, size)
        assert {k: at.slider(key=k).value for k in rx.SIZES[size]} == rx.SIZES[size]
