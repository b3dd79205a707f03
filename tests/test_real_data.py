"""The "Real data" page: the committed demand series, the forecasting task, the baselines, the races, the verdicts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lrd_core import real_data as rd
from lrd_core import theory
from lrd_core.demo import FULL, LECTURE, check_sizes
from lrd_core.experiments import real_data as rx
from lrd_core.lecture import run_demo
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


# --- the task ------------------------------------------------------------------------------------------------


def test_split_is_chronological_and_z_scored_with_training_statistics():
    task = rd.forecast_task()
    values = pd.read_csv(CSV)["demand_mw"].to_numpy(dtype=float)
    train = values[: 8 * 336]
    assert task.mean == pytest.approx(train.mean()) and task.std == pytest.approx(train.std())
    np.testing.assert_allclose(task.z.numpy(), (values - train.mean()) / train.std(), rtol=1e-5, atol=1e-5)
    assert abs(float(task.z[: task.train_end].mean())) < 1e-5  # only the training weeks are centred
    assert len(task.train_origins) == 2128 and int(task.train_origins[0]) == rd.WARMUP
    assert int(task.target_index(task.train_origins).max()) == task.train_end - 1  # no training target in the test
    assert int(task.target_index(task.test_origins).min()) == task.train_end
    assert int(task.target_index(task.test_origins).max()) == rd.N_VALUES - 1
    t, h = 1000, 7  # targets[t, h] = z[t + 1 + h]
    assert float(task.targets[t, h]) == float(task.z[t + 1 + h])
    assert torch.isnan(task.targets[-1]).all()


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


def test_sizes_and_lecture_demos():
    check_sizes(rx.SIZES)
    assert rx.SIZES[LECTURE]["tcn_steps"] < rx.SIZES[FULL]["tcn_steps"]
    demo = rx.lecture_demo(0, race="lstm")
    assert set(demo.factories) == set(rx.lstm_names(128)) and demo.total_steps == rx.SIZES[LECTURE]["lstm_steps"]
    assert set(rx.lecture_demo(0, FULL).factories) == {"TCN, reach 128", "TCN, reach 512"}
    with pytest.raises(ValueError, match="race"):
        rx.lecture_demo(0, race="gru")
    with pytest.raises(ValueError, match="model"):
        rx.train_config("gru", 10)


def test_bad_arguments_name_the_parameter():
    task = rd.forecast_task()
    with pytest.raises(ValueError, match="lag"):
        rd.seasonal_naive(task, 24, task.test_origins)  # would read the future
    with pytest.raises(ValueError, match="top_layer"):
        rx.tcn_forecaster(10, 16, 0)
    with pytest.raises(ValueError, match="channels"):
        rx.tcn_forecaster(6, 10_000, 0)
    with pytest.raises(ValueError, match="memory"):
        rx.lstm_forecaster(32, 4, 0)
    with pytest.raises(ValueError, match="hidden"):
        rx.lstm_forecaster(10_000, 128, 0)
    with pytest.raises(ValueError, match="short_layer"):
        rx.tcn_race(8, 6, 16, TrainConfig(steps=1), 0)


# --- the models ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top_layer", [6, 8])
def test_tcn_forecaster_sees_exactly_its_closed_form_reach(top_layer):
    model = rx.tcn_forecaster(top_layer, 4, seed=0).double()
    R = rx.tcn_config(top_layer, 4).receptive_field
    assert R == theory.receptive_field(2, top_layer) == 2 ** (top_layer + 1)
    assert rx.tcn_names(6, 8, 4) == ("TCN, reach 128", "TCN, reach 512")
    with torch.no_grad():  # positive weights and inputs: every ReLU passes, so every path shows (as on page 3)
        for p in model.parameters():
            p.abs_()
    T = R + 50
    x = 0.5 + torch.rand(1, T, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[0, T - 1].sum(), x)  # the forecasts issued at the last step
    seen = torch.nonzero(g[0, :, 0].abs() > 0).flatten()
    assert int(seen.min()) == T - R and int(seen.max()) == T - 1  # R steps back, nothing from the future


def test_reset_lstm_forgets_at_every_reset_and_full_lstm_does_not():
    x = torch.randn(1, 300, 1, generator=torch.Generator().manual_seed(0))
    x2 = x.clone()
    x2[0, :100] += 5.0  # change the past before t = 128
    reset, full = rx.lstm_forecaster(8, 128, seed=0), rx.lstm_forecaster(8, None, seed=0)
    with torch.no_grad():
        torch.testing.assert_close(reset(x)[0, 128:], reset(x2)[0, 128:])  # a new chunk starts at 128
        assert not torch.allclose(reset(x)[0, 100:128], reset(x2)[0, 100:128])
        assert (full(x)[0, 128:140] != full(x2)[0, 128:140]).any()  # the carried state still holds the past
        torch.testing.assert_close(reset(x)[0, :128], full(x)[0, :128])  # same weights, same first chunk
        assert reset(x).shape == (1, 300, rd.HORIZON)


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


def test_weekday_errors_and_charts_build():
    hist = _history(0.02, 0.05)
    errors = rx.weekday_errors(hist)
    assert set(errors["model"]) == {"long", "short"} and len(errors) == 16
    assert errors.set_index(["model", "weekday"]).loc[("long", "Sat"), "mse"] == 0.02
    frame = rd.load_demand()
    rd.series_chart(frame).to_dict()
    rd.profile_chart(rd.weekly_profile(frame)).to_dict()
    rd.reach_chart(frame, 3167, {"a": 128, "b": 512}).to_dict()
    rd.weekday_error_chart(errors).to_dict()
    task = rd.forecast_task()
    fake = rx.midnight_forecasts(task, task.targets.nan_to_num())
    lines = rd.forecast_lines(frame, {"perfect": fake}, [3264, 3360])
    perfect = lines[lines["series"] == "perfect"]["demand_mw"].to_numpy()
    np.testing.assert_allclose(perfect, lines[lines["series"] == "actual"]["demand_mw"].to_numpy(), rtol=1e-5)
    rd.forecast_chart(lines[lines["day"] == lines["day"].iloc[0]]).to_dict()
    assert rx.weekday_errors(pd.DataFrame(columns=["series", "step", "loss"])).empty


# --- verdicts ------------------------------------------------------------------------------------------------


def _history(long_sat: float, short_sat: float, names=("long", "short"), day="Sat") -> pd.DataFrame:
    """A hand-made live history: two series, steps 0..2, evaluated at steps 0 and 2."""
    rows = []
    for name, final in zip(names, (long_sat, short_sat), strict=True):
        for step in range(3):
            row = {"series": name, "step": step, "loss": 1.0, "grad_norm": 1.0, "seconds": 0.1 * step}
            row.update({"status": "done" if step == 2 else "running", "message": ""})
            row.update(dict.fromkeys(rx.METRICS, np.nan))
            if step in (0, 2):
                row.update(dict.fromkeys(rx.METRICS, 0.5))
                row[f"mse_{day}"] = 1.0 if step == 0 else final
            rows.append(row)
    return pd.DataFrame(rows)


def test_tcn_verdict_is_computed_from_the_run():
    verdict = rx.tcn_verdict("TCN, reach 128", "TCN, reach 512")
    names = ("TCN, reach 512", "TCN, reach 128")
    assert verdict(_history(0.019, 0.049, names), finished=False) is None
    v = verdict(_history(0.019, 0.049, names), finished=True)
    assert v.expected
    assert (
        v.text == "The reach-512 TCN's Saturday error is 61% below the reach-128 TCN's (0.019 vs 0.049) after 2 steps."
    )
    v = verdict(_history(0.040, 0.050, names), finished=True)  # 20% below: not the contrast
    assert not v.expected and "20% below" in v.text
    v = verdict(_history(0.060, 0.050, names), finished=True)
    assert not v.expected and "not below" in v.text
    assert verdict(_history(0.019, 0.049, ("other", "TCN, reach 128")), finished=True) is None


def test_lstm_verdict_is_computed_from_the_run():
    verdict = rx.lstm_verdict(128)
    names = rx.lstm_names(128)
    v = verdict(_history(0.023, 0.626, names, day="Mon"), finished=True)
    assert v.expected
    assert v.text == (
        "The reset-memory LSTM's Monday error is 27.2x the full-memory LSTM's (0.626 vs 0.023) after 2 steps."
    )
    assert not verdict(_history(0.05, 0.1, names, day="Mon"), finished=True).expected
    assert verdict(_history(0.05, 0.1, names, day="Mon"), finished=False) is None


# --- slow: the races the page shows, at its Lecture size, over seeds 0-4 ---------------------------------------


def _lecture_finals(race: str) -> list[dict[str, dict[str, float]]]:
    """Per seed 0-4: series -> metrics of its last event, for the page's ``race`` at the Lecture size."""
    out = []
    for seed in range(5):
        result = run_demo(rx.lecture_demo(seed, race=race))
        last = result.history.sort_values("step").groupby("series").last()
        out.append({name: row.to_dict() for name, row in last.iterrows()})
    return out


@pytest.mark.slow
def test_long_reach_tcn_cuts_the_saturday_error():
    # Measured on one pinned core (taskset -c 1, torch 1 thread), 400 steps, width 16, 10-14 CPU-s a seed:
    # Saturday test MSE reach 128 vs 512 = 0.120/0.051, 0.108/0.044, 0.121/0.040, 0.112/0.039, 0.147/0.050 for
    # seeds 0-4: 58-67% lower on 5 of 5 (500 steps: 59-67%). Asserted: at least 40% lower on at least 4 of 5.
    finals = _lecture_finals("tcn")
    drops = [1 - f["TCN, reach 512"]["mse_Sat"] / f["TCN, reach 128"]["mse_Sat"] for f in finals]
    assert sum(d >= 0.4 for d in drops) >= 4, drops


@pytest.mark.slow
def test_reset_lstm_mistakes_mondays_for_weekend_days():
    # Measured on one pinned core, 500 steps, H 32, 13-14 CPU-s a seed: Monday test MSE reset-every-128 vs
    # full memory = 0.626/0.023, 0.914/0.028, 0.946/0.023, 0.759/0.022, 1.401/0.023 for seeds 0-4 (27-62x).
    # Asserted: at least 5x on at least 4 of 5 (the claim; a margin of more than 5x on the measured).
    finals = _lecture_finals("lstm")
    ratios = [f["LSTM, reset every 128"]["mse_Mon"] / f["LSTM, full memory"]["mse_Mon"] for f in finals]
    assert sum(r >= 5 for r in ratios) >= 4, ratios


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
    assert verdicts and "reach-512 TCN" in verdicts[0] and "after 100 steps" in verdicts[0]
    assert len(at.get("vega_lite_chart")) >= charts_before + 4  # curves, weekday bars, Saturday and Monday


def test_page_size_control_sets_the_step_sliders():
    from tests.apptest_support import assert_clean, open_page

    for size in (LECTURE, FULL):
        at = open_page("pages/9_Real_data.py", query={"size": size})
        at.run()
        assert_clean(at, size)
        assert {k: at.slider(key=k).value for k in rx.SIZES[size]} == rx.SIZES[size]
