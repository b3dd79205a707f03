"""Earlier runs of a live panel (issue 36, item 1): labels from two Demo keys, a bounded compact copy of a run,
the faded overlay in the shared chart builders, and the gating page pressing Start three times."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow
import pytest

from lrd_core import charts
from lrd_core.demo import Verdict
from lrd_core.experiments import gating
from lrd_ui import run_history as rh
from tests.apptest_support import assert_clean, open_page


def _key(seed=0, **values):
    return gating.demo(values, seed).key


def test_labels_name_what_differed_from_the_current_run():
    current = _key(race_bias=3.0)
    assert rh.setting_changes(_key(race_bias=1.0), current) == "race bias 1 → 3"
    assert rh.setting_changes(_key(race_bias=1.0, seed=2), current) == "race bias 1 → 3, seed 2 → 0"
    assert rh.setting_changes(_key(task="copy", chrono=False), _key()) == "chrono off → on, task copy → adding"
    many = rh.setting_changes(_key(steps=100, train_T=10, lr=1e-3, H=16, race_rho=0.5), _key())
    assert many == "H 16 → 64, lr 0.001 → 0.03, race rho 0.5 → 1 (+2 more)"
    assert rh.setting_changes(current, current) == "same settings"


def _history(steps=3000, series=("RNN", "LSTM", "GRU"), every=10):
    """A race's history: ``steps`` rows per series, accuracy every ``every`` steps, the engine's text columns."""
    rows = [
        {
            "series": s,
            "step": k,
            "loss": 1.0 / k,
            "grad_norm": 2.0,
            "seconds": 0.01 * k,
            "status": "running",
            "message": "",
            "accuracy": k / steps if k % every == 0 else np.nan,
        }
        for s in series
        for k in range(1, steps + 1)
    ]
    return pd.DataFrame(rows)


def test_a_kept_run_is_compact_and_bounded_in_rows_and_bytes():
    history = _history()
    full = int(history.memory_usage(deep=True).sum())
    kept = rh.compact(history)
    size = int(kept.memory_usage(deep=True).sum())
    assert list(kept.columns) == ["series", "step", "loss", "accuracy"]
    assert kept.groupby("series", observed=True).size().max() <= rh.MAX_ROWS_PER_SERIES
    assert size <= rh.MAX_BYTES < full  # 3 x 3,000 rows: about 1.4 MB as the engine keeps them
    assert kept.groupby("series", observed=True)["step"].agg(["min", "max"]).eq([1, 3000]).all().all()
    small = rh.compact(history, max_bytes=4_000)  # the byte cap thins further
    assert small.memory_usage(deep=True).sum() <= 4_000 and len(small) < len(kept)
    assert len(rh.compact(_history(steps=50))) == 150  # short runs are kept whole
    with pytest.raises(ValueError, match="max_rows"):
        rh.compact(history, max_rows=1)


def _layer_rows(spec):
    """Every inline row a chart spec draws, from its datasets."""
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def _earlier(labels=("race bias 1 → 3",), series=("RNN", "GRU", "Pre-LN")):
    frames = [
        rh.compact(_history(steps=40, series=series)).assign(run=label, loss=lambda d, i=i: d["loss"] * (2 + i))
        for i, label in enumerate(labels)
    ]
    return pd.concat(frames, ignore_index=True).astype({"series": str})


def test_loss_and_accuracy_charts_overlay_earlier_runs_faded_and_dashed_only_when_asked():
    current = _history(steps=30, series=("RNN", "GRU"))
    plain = charts.loss_chart(current, baseline=1.0, solved=0.01).to_dict()
    with charts.earlier_runs(_earlier(("race bias 1 → 3", "steps 100 → 300"))):
        spec = charts.loss_chart(current, baseline=1.0, solved=0.01).to_dict()
        acc = charts.accuracy_chart(current).to_dict()
    assert "strokeDash" not in plain["layer"][0]["encoding"]  # nothing asked: the chart as before
    enc = spec["layer"][0]["encoding"]
    runs = ["this run", "race bias 1 → 3", "steps 100 → 300"]
    assert enc["strokeDash"]["field"] == "run" and enc["strokeDash"]["scale"]["domain"] == runs
    assert enc["opacity"]["scale"]["range"] == [1.0, charts.EARLIER_OPACITY, charts.EARLIER_OPACITY]
    assert enc["color"]["field"] == "series"  # colours stay one per model
    rows = _layer_rows(spec)
    assert {r["run"] for r in rows if "run" in r} == set(runs)
    assert {r["series"] for r in rows if r.get("run") != "this run" and "series" in r} == {"RNN", "GRU"}  # no Pre-LN
    assert acc["layer"][0]["encoding"]["strokeDash"]["scale"]["domain"] == runs
    with charts.earlier_runs(None):
        again = charts.loss_chart(current, baseline=1.0, solved=0.01).to_dict()
    assert "strokeDash" not in again["layer"][0]["encoding"]


def test_step_series_log_charts_get_a_faded_layer_of_earlier_runs():
    current = _history(steps=30, series=("RNN", "GRU"))
    with charts.earlier_runs(_earlier()):
        spec = charts.log_line_chart(current, "step", "loss", "series", x_title="step", y_title="loss").to_dict()
        other = charts.log_line_chart(current, "seconds", "loss", "series", x_title="s", y_title="loss").to_dict()
    faded = spec["layer"][0]
    assert faded["mark"]["opacity"] == charts.EARLIER_OPACITY and faded["encoding"]["strokeDash"]["field"] == "run"
    assert spec["resolve"]["scale"]["strokeDash"] == "independent"
    assert len(other["layer"]) == 1  # not a run's curves against step: drawn as given


# --- the gating page, three runs --------------------------------------------------------------------------------


def _chart_frames(chart) -> list[pd.DataFrame]:
    return [pyarrow.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]


def _loss_chart(at):
    """The race's loss chart (the chart whose data has a loss column and the three racers)."""
    for chart in at.get("vega_lite_chart"):
        for frame in _chart_frames(chart):
            if {"loss", "series", "step"} <= set(frame.columns) and "RNN" in set(frame["series"]):
                return json.loads(chart.proto.spec), frame
    raise AssertionError("no loss chart on the page")


def _run_to_end(at):
    from lrd_ui import live

    at.button(key="gating_race_start").click().run()
    live.run_engine().pump(at.session_state["gating_race"].run_id, 10_000)  # sync engine: train to the end here
    at.run()
    assert_clean(at, "gating race")
    assert not at.session_state["gating_race"].running


def test_three_starts_with_three_settings_overlay_three_labelled_runs_and_clear_empties():
    at = open_page("pages/2_Gating.py", query={"steps": "100", "train_T": "10", "H": "16"})
    at.run()
    for bias in (1.0, 3.0, -1.0):
        at.slider(key="race_bias").set_value(bias).run()
        _run_to_end(at)
    spec, frame = _loss_chart(at)
    runs = ["this run", "race bias 3 → -1", "race bias 1 → -1"]  # newest first
    assert spec["layer"][0]["encoding"]["strokeDash"]["scale"]["domain"] == runs
    assert list(dict.fromkeys(frame["run"])) == [*runs[1:], "this run"]  # earlier first: the current on top
    assert frame.groupby("run")["series"].nunique().eq(3).all() and frame.groupby("run")["step"].max().eq(100).all()
    table = next(t.value for t in at.dataframe if "verdict" in t.value.columns)
    assert table["run"].tolist() == runs and len(table) == 3
    assert table["verdict"].str.startswith("At T = 10, ").all() and set(table["contrast shown"]) <= {"yes", "no"}
    earlier = at.session_state["gating_race_earlier"]
    assert [r.verdict.text for r in earlier] == table["verdict"].tolist()[1:]
    sizes = [int(r.history.memory_usage(deep=True).sum()) for r in earlier]
    assert all(0 < s <= rh.MAX_BYTES for s in sizes), sizes
    at.button(key="gating_race_clear").click().run()
    assert_clean(at, "after Clear")
    spec, frame = _loss_chart(at)
    assert "run" not in frame.columns and "strokeDash" not in spec["layer"][0]["encoding"]
    assert not [t for t in at.dataframe if "verdict" in t.value.columns]
    assert "gating_race_earlier" not in at.session_state and not [b for b in at.button if b.key == "gating_race_clear"]


def _cap_app():
    """One live panel whose run (2 series, 5 steps) is keyed by the session's ``n``: a new key per Start."""
    import streamlit as st

    from lrd_core import charts
    from lrd_core.demo import Demo, Verdict
    from lrd_core.train import StepEvent
    from lrd_ui import show
    from lrd_ui.live import live_panel

    n = st.session_state.get("n", 0)

    def events():
        for k in range(1, 6):
            yield StepEvent(k, (1 + n) / k, 1.0, 0.01, "done" if k == 5 else "running", "", {})

    def verdict(history, finished):
        return Verdict(n % 2 == 0, f"run {n}") if finished else None

    def render(history, run):
        show.chart(charts.loss_chart(history, baseline=1.0, solved=0.1), height=200)

    demo = Demo({"x": events, "y": events}, 5, verdict, key=("cap", 1, (("n", n),), 0, "cpu"))
    live_panel("cap", demo, render=render, steps_per_tick=10)


def test_at_most_three_earlier_runs_are_kept_and_a_repeat_is_not_shown_twice():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_cap_app, default_timeout=60)
    at.session_state["_visitor_id"] = "cap-visitor"
    at.run()
    for n in (0, 1, 2, 3, 4, 1):
        at.session_state["n"] = n
        at.run()
        at.button(key="cap_start").click().run()
        at.run()
    assert_clean(at, "cap app")
    kept = at.session_state["cap_earlier"]
    assert [dict(r.key[2])["n"] for r in kept] == [4, 3, 2]  # newest first, at most MAX_EARLIER
    table = next(t.value for t in at.dataframe if "verdict" in t.value.columns)
    assert table["run"].tolist() == ["this run", "n 4 → 1", "n 3 → 1", "n 2 → 1"]
    assert table["verdict"].tolist() == ["run 1", "run 4", "run 3", "run 2"]
    assert table["contrast shown"].tolist() == ["no", "yes", "no", "yes"]
    at.session_state["n"] = 3
    at.run()
    at.button(key="cap_start").click().run()
    at.run()
    kept = at.session_state["cap_earlier"]
    assert [dict(r.key[2])["n"] for r in kept] == [1, 4, 3]  # 1 kept; 3 is on show, so listed once
    table = next(t.value for t in at.dataframe if "verdict" in t.value.columns)
    assert table["run"].tolist() == ["this run", "n 1 → 3", "n 4 → 3"]


def test_verdict_rows_say_not_yet_while_undecided():
    table = rh.runs_table([], ("t", 1, (), 0, "cpu"), None, 4)
    assert table.to_dict("records") == [{"run": "this run", "steps": 4, "contrast shown": "not yet", "verdict": ""}]
    table = rh.runs_table([], ("t", 1, (), 0, "cpu"), Verdict(True, "ok"), 9)
    assert table["contrast shown"].tolist() == ["yes"]
