"""A visitor's own series on the "Real data" page: reading an uploaded CSV, its checks and messages, the generic
task and naive forecasts, the race on it, and the page's upload path under AppTest."""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrd_core import real_data as rd
from lrd_core import series_upload as su
from lrd_core.experiments import real_data as rx
from lrd_core.lecture import run_demo

ROOT = Path(__file__).resolve().parents[1]
DEMAND, SEATTLE = (su.example_bytes(name) for name in reversed(list(su.EXAMPLES)))


def _csv(values, start="2021-01-04 00:00", freq="1h", header="timestamp,value") -> bytes:
    stamps = pd.date_range(start, periods=len(values), freq=freq).strftime("%Y-%m-%d %H:%M")
    return (header + "\n" + "\n".join(f"{t},{v}" for t, v in zip(stamps, values, strict=True)) + "\n").encode()


def _problem(data: bytes, **kwargs) -> str:
    with pytest.raises(su.UploadError) as err:
        su.read_series(data, **kwargs)
    assert su.ACCEPTED in str(err.value)  # every message says what is accepted
    return err.value.problem


# --- reading good files --------------------------------------------------------------------------------------


def test_committed_series_read_as_uploads():
    demand = su.read_series(DEMAND)
    assert demand.n == rd.N_VALUES and demand.column == "demand_mw" and demand.time_column == "timestamp"
    assert demand.interval == pd.Timedelta("30min") and demand.start == rd.START and demand.skipped == ()
    np.testing.assert_array_equal(demand.values, rd.load_demand()["demand_mw"].to_numpy())
    assert "4,032 values used" in demand.summary() and "no line skipped" in demand.summary()
    assert su.detect_period(demand.values) == rd.WEEK  # the week, not the day
    seattle = su.read_series(SEATTLE)
    assert seattle.n == 1461 and seattle.interval == pd.Timedelta("1D") and seattle.column == "temp_max_c"
    assert seattle.start == pd.Timestamp("2012-01-01") and seattle.values[:2].tolist() == [12.8, 10.6]
    assert su.detect_period(seattle.values) == 360  # the year, not a wiggle of day-to-day persistence
    assert demand.digest != seattle.digest
    assert not demand.values.flags.writeable


def test_one_value_column_needs_a_stated_interval_and_blank_lines_are_counted():
    values = np.round(np.sin(np.arange(30) / 3), 4)
    data = ("y\n" + "\n".join(map(str, values[:10])) + "\n\n  \n" + "\n".join(map(str, values[10:])) + "\n").encode()
    assert "sampling interval must be stated" in _problem(data)
    s = su.read_series(data, interval="15min")
    assert s.n == 30 and s.interval == pd.Timedelta("15min") and s.start is None and s.timestamps() is None
    assert s.skipped == ("2 blank lines",) and s.rows == 30
    assert "30 values used" in s.summary() and "skipped: 2 blank lines" in s.summary()
    np.testing.assert_allclose(s.values, values)
    assert su.read_series(data, interval="30min").digest != s.digest  # the interval is part of the data
    assert "not a duration" in _problem(data, interval="soon")
    assert "positive" in _problem(data, interval="-1h")


def test_several_numeric_columns_default_to_the_last_and_can_be_chosen():
    data = b"date,station,count,temp\n2020-01-01,A,1,5.5\n2020-01-02,A,2,6.5\n2020-01-03,A,3,7.5\n2020-01-04,A,4,8\n"
    s = su.read_series(data)
    assert s.numeric_columns == ("count", "temp") and s.column == "temp" and s.interval == pd.Timedelta("1D")
    assert su.read_series(data, column="count").values.tolist() == [1, 2, 3, 4]
    assert "numeric columns" in _problem(data, column="station")
    assert "disagrees" in _problem(data, interval="1h")


# --- bad files: what is wrong, which lines ---------------------------------------------------------------------

GOOD = [f"{v:.2f}" for v in 10 + np.sin(np.arange(12))]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"timestamp,value\n", "0 data row"),
        (b"PK\x03\x04\x00\x00binary", "not text"),
        ("timestamp,value\n2020-01-01,\xe9t\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"1,2\n3,4\n5,6\n7,8\n", "holds numbers, not column names"),
        (b"a,a\n1,2\n3,4\n5,6\n", "same name"),
        (b"name,city\nx,y\nz,w\nu,v\n", "No column holds numbers"),
        (b"time;value\n2020-01-01;1\n2020-01-02;2\n2020-01-03;3\n", "';'"),
        (b"t,v\n1,2\n3,4,5\n6,7\n8,9\n", "cannot be read as CSV"),
        (_csv(["1", "2", "", "4", "NaN", "6"]), "2 missing value(s) (lines 4 and 6)"),
        (_csv(["1", "2", "three", "4", "5", "6"]), "not numbers (line 4; the first is 'three')"),
        (_csv(["1", "2", "3,5", "4"], header="timestamp,value"), "cannot be read as CSV"),
        (_csv(["1", "2", "inf", "4", "-inf", "6"]), "2 infinite value(s) (lines 4 and 6)"),
        (
            b"timestamp,value\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 01:00,3\n2020-01-01 03:00,4\n",
            "repeat",
        ),
        (
            b"timestamp,value\n2020-01-01 00:00,1\n2020-01-01 02:00,2\n2020-01-01 01:00,3\n2020-01-01 03:00,4\n",
            "sorted",
        ),
        (
            b"timestamp,value\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 03:00,3\n2020-01-01 04:00,4\n",
            "evenly",
        ),
        (b"timestamp,value\n2020-01-01 00:00,1\n,2\n2020-01-01 02:00,3\n2020-01-01 03:00,4\n", "empty cell"),
        (b"timestamp,value\n2020-01-01 00:00,1\nlater,2\n2020-01-01 02:00,3\n2020-01-01 03:00,4\n", "not dates"),
    ],
)
def test_bad_files_say_what_is_wrong(data, expected):
    assert expected in _problem(data)


def test_gap_message_names_the_lines_and_the_step():
    values = [f"{v:.1f}" for v in range(40)]
    lines = _csv(values).decode().splitlines()
    del lines[11]  # the value of 10:00 (file line 12)
    problem = _problem(("\n".join(lines) + "\n").encode())
    assert "most are 1 hour apart, but line 12 comes 2 hours after line 11 (1 such step(s) in all)" in problem


def test_too_large_a_file_is_refused_before_it_is_read():
    assert tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"] == (
        su.MAX_UPLOAD_MB
    )
    assert "more than the 1 MB" in _problem(b"v\n" + b"1\n" * (su.MAX_BYTES // 2))


# --- hypothesis: any bytes, any corruption -> an UploadError at worst ------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_give_a_series_or_an_upload_error(data):
    try:
        s = su.read_series(data)
    except su.UploadError:
        return
    assert np.isfinite(s.values).all() and s.n >= su.MIN_ROWS


CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["", "NA", "nan", "inf", "-", "1e400", "1,5", '"2"', "x", " 3 ", "2020-01-01", "\t"]),
    st.text(max_size=6),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(CELLS, min_size=1, max_size=3), min_size=0, max_size=12),
    st.sampled_from(["timestamp,value", "value", "a,b,c", "date,x", ""]),
    st.sampled_from([None, "1h", "bad", "0s"]),
)
def test_csv_like_text_gives_a_series_or_an_upload_error(rows, header, interval):
    text = header + "\n" + "\n".join(",".join(r) for r in rows)
    try:
        s = su.read_series(text.encode("utf-8", "surrogatepass"), interval=interval)
    except su.UploadError:
        return
    assert np.isfinite(s.values).all() and s.n == s.rows >= su.MIN_ROWS


@settings(max_examples=60, deadline=None)
@given(
    st.integers(20, 200),
    st.sampled_from(["missing", "inf", "text", "duplicate", "swap", "gap"]),
    st.data(),
)
def test_each_corruption_of_a_good_file_is_named(n, kind, draw):
    values = [f"{v:.3f}" for v in np.sin(np.arange(n) / 5)]
    lines = _csv(values).decode().splitlines()
    i = draw.draw(st.integers(2, n - 1), label="line")  # 0-based index into lines (line i + 1 of the file)
    stamp, value = lines[i].split(",")
    if kind == "missing":
        lines[i] = stamp + ","
    elif kind == "inf":
        lines[i] = stamp + ",inf"
    elif kind == "text":
        lines[i] = stamp + ",n.a."
    elif kind == "duplicate":
        lines[i] = lines[i - 1].split(",")[0] + "," + value
    elif kind == "swap":
        lines[i - 1], lines[i] = lines[i], lines[i - 1]
    else:
        del lines[i]
    problem = _problem(("\n".join(lines) + "\n").encode())
    expected = {
        "missing": f"1 missing value(s) (line {i + 1})",
        "inf": f"1 infinite value(s) (line {i + 1})",
        "text": f"not numbers (line {i + 1};",
        "duplicate": f"repeat (lines {i} and {i + 1})",
        "swap": f"line {i + 1} (",
        "gap": f"line {i + 1} comes 2 hours after line {i}",
    }[kind]
    assert expected in problem


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 1400), st.sampled_from([32, 64, 128]), st.sampled_from([256, 512]), st.integers(0, 400))
def test_any_read_series_gives_a_demo_or_a_value_error(n, short, long, period):
    values = 5 + np.sin(np.arange(n) / 7) + np.arange(n) % 3
    s = su.read_series(_csv([f"{v:.3f}" for v in values]))
    try:
        d = rx.demo({"short_reach": short, "long_reach": long, "period": period or None, "tcn_steps": 5}, 0, series=s)
    except ValueError as err:
        assert any(w in str(err) for w in ("values", "period", "lag")), err
        return
    assert n >= rd.min_series_length(long) and d.info["n_train"] >= rd.MIN_TRAIN_ORIGINS


# --- the task, the naive forecasts and the race on a series ----------------------------------------------------


def test_a_clean_upload_of_the_demand_series_gives_the_built_in_numbers():
    series = su.read_series(DEMAND)
    for split in rd.SPLITS:
        a, b = rd.series_task(series.values, split), rd.forecast_task(split)
        for field in ("z", "targets", "train_origins", "eval_origins"):
            assert torch.equal(torch.nan_to_num(getattr(a, field), -9.0), torch.nan_to_num(getattr(b, field), -9.0))
        assert (a.mean, a.std, a.train_end) == (b.mean, b.std, b.train_end) and not a.by_weekday
    naive = rd.naive_scores(rd.series_task(series.values), rd.naive_lags(rd.WEEK)).set_index("lag")["mse"]
    built_in = rd.baseline_table().query("weekday == 'all'").set_index("model")["mse"]
    assert naive[rd.DAY] == built_in["same as yesterday"] and naive[rd.WEEK] == built_in["same as last week"]
    assert naive[rd.WEEK] == pytest.approx(0.0192, abs=1e-4)
    upload = rx.demo({"tcn_steps": 20, "period": rd.WEEK}, 0, series=series)
    built = rx.demo({"tcn_steps": 20}, 0)
    assert upload.info["parameters"] == built.info["parameters"] and upload.key != built.key
    cols = ["series", "step", "loss", "mse_all"]
    a, b = (run_demo(d).history[cols].reset_index(drop=True) for d in (upload, built))
    pd.testing.assert_frame_equal(a, b)  # same losses and test errors, bit for bit
    assert a["mse_all"].notna().sum() == 4  # steps 0 and 20, both series


def test_series_splits_and_length_rule():
    assert rd.series_bounds(4032) == (7 * rd.WEEK, 8 * rd.WEEK)
    assert rd.min_series_length(512) == 1123 and rd.min_series_length(256) == 683
    long_enough = np.sin(np.arange(1123) / 5)
    task = rd.series_task(long_enough, "validation")
    assert len(task.train_origins) >= rd.MIN_TRAIN_ORIGINS and task.eval_origins[0] == task.train_end - 1
    with pytest.raises(ValueError, match="values: the series has 1,122 values; a reach of 512 needs at least 1,123"):
        rd.series_task(long_enough[:-1])
    rd.series_task(long_enough[:683], warmup=256)
    with pytest.raises(ValueError, match="values"):
        rd.series_task(np.r_[long_enough[:-1], np.nan])
    with pytest.raises(ValueError, match="constant"):
        rd.series_task(np.ones(2000))
    with pytest.raises(ValueError, match="split"):
        rd.series_task(long_enough, "train")


def test_naive_lags_copy_a_whole_period_that_is_already_observed():
    assert rd.naive_lags(None) == {"repeat the last 48": 48}
    assert rd.naive_lags(336) == {"repeat the last 48": 48, "same as one period (336) back": 336}
    assert rd.naive_lags(24) == {"repeat the last 48": 48}  # two days back is the same forecast
    assert rd.naive_lags(20) == {"repeat the last 48": 48, "same as 60 steps back": 60}
    task = rd.series_task(np.sin(2 * np.pi * np.arange(2000) / 60) + 3)
    scores = rd.naive_scores(task, rd.naive_lags(60)).set_index("lag")["mse"]
    assert scores[60] == pytest.approx(0.0, abs=1e-10) and scores[48] > 0.1  # a pure 60-step season
    with pytest.raises(ValueError, match="lag"):
        rd.naive_scores(task, {"too short": 12})
    with pytest.raises(ValueError, match="period"):
        rd.naive_lags(1)


def test_detect_period_finds_a_planted_season_and_none_in_noise():
    rng = np.random.default_rng(0)
    t = np.arange(1500)
    assert su.detect_period(np.sin(2 * np.pi * t / 17) + 0.3 * rng.standard_normal(1500) + 0.01 * t) == 17
    assert su.detect_period(rng.standard_normal(1500)) is None
    assert su.detect_period(np.arange(50.0)) is None  # a straight line: no season
    assert su.detect_period(np.ones(5)) is None


def test_upload_demo_key_changes_with_the_data_and_verdict_is_computed():
    series = su.read_series(SEATTLE)
    d = rx.demo({"period": 360}, 0, series=series)
    assert ("series", series.digest) in d.key[2] and d.key[0] == "real_data:upload"
    other = su.read_series(_csv([f"{v:.1f}" for v in series.values + 1.0], start="2012-01-01", freq="1D"))
    assert rx.demo({"period": 360}, 0, series=other).key != d.key
    assert rx.demo({"period": 360, "split": "validation"}, 0, series=series).key != d.key
    assert d.info["naive"] == pytest.approx(
        {"repeat the last 48": 1.0424, "same as one period (360) back": 0.4240}, abs=1e-4
    )
    assert d.info["warmup"] == 512 and d.info["n_train"] == 414 and d.info["n_scored"] == 440
    with pytest.raises(ValueError, match="unknown setting"):
        rx.demo({"memory": 24}, 0, series=series)
    with pytest.raises(ValueError, match="split"):
        rx.demo({"split": "train"}, 0, series=series)
    short, long = d.info["names"]
    verdict = rx.upload_verdict(short, long, {"naive a": 0.5, "naive b": 0.2})
    rows = [{"series": short, "step": 100, "mse_all": 0.3}, {"series": long, "step": 100, "mse_all": 0.15}]
    history = pd.DataFrame(rows)
    assert verdict(history, False) is None
    v = verdict(history, True)
    assert (
        v.expected and "Reach 512 helps here (the short reach's error is 2.00x its own): its error is 0.150, " in v.text
    )
    assert "reach 128's 0.300 after 100 steps" in v.text
    assert '"naive b", the better naive forecast, scores 0.200: reach 512 beats it.' in v.text
    history.loc[1, "mse_all"] = 0.29  # 1.03x: no difference to speak of
    v = verdict(history, True)
    assert not v.expected and "makes little difference here (within 10%)" in v.text
    history.loc[1, "mse_all"] = 0.4
    v = verdict(history, True)
    assert not v.expected and "does worse here" in v.text and "neither TCN beats it" in v.text


# --- the page ----------------------------------------------------------------------------------------------------


def _page(**query):
    from tests.apptest_support import open_page

    at = open_page("pages/9_Real_data.py", query={"tcn_steps": "100", **query})
    at.run()
    at.selectbox(key="upload_source").set_value("Your CSV file").run()
    return at


def test_page_upload_of_bad_files_shows_the_message_never_an_exception():
    at = _page()
    assert not at.exception and su.ACCEPTED in [i.value for i in at.info]
    for name, data, said in [
        ("gap.csv", b"timestamp,v\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 03:00,3\n", "evenly"),
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
        ("short.csv", _csv([f"{v:.2f}" for v in np.sin(np.arange(300))]), "needs at least 1,123"),
    ]:
        at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
        assert not at.exception, name
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith(name) and said in errors[0], errors


def test_page_races_on_an_uploaded_file_and_gives_a_verdict():
    from tests.apptest_support import assert_clean

    at = _page(long_reach="256")
    values = 10 + np.sin(2 * np.pi * np.arange(900) / 36) + np.random.default_rng(1).normal(0, 0.1, 900)
    data = ("level\n" + "\n".join(f"{v:.4f}" for v in values) + "\n").encode()
    at.file_uploader(key="upload_file").set_value(("mine.csv", data, "text/csv")).run()
    assert "sampling interval must be stated" in at.error[0].value
    at.text_input(key="upload_interval").set_value("10min").run()
    assert_clean(at, "with an interval")
    said = " ".join(c.value for c in at.caption) + " ".join(m.value for m in at.markdown)
    assert "900 values used" in said and "one every 10 minutes" in said and "Guessed period: 36 steps" in said
    at.button(key="real_data_upload_start").click().run()
    for _ in range(60):
        if any("here" in m.value for m in list(at.success) + list(at.warning)):
            break
        at.run()
    assert_clean(at, "after the race")
    verdicts = [m.value for m in list(at.success) + list(at.warning) if "Reach 256" in m.value]
    assert verdicts and "after 100 steps" in verdicts[0] and "the better naive forecast" in verdicts[0]
