"""Real data: does reach matter on a measured series? Day-ahead forecasts of electricity demand."""

import pandas as pd
import streamlit as st

from lrd_core import charts
from lrd_core import real_data as rd
from lrd_core import series_upload as su
from lrd_core.charts import real_data as rdc
from lrd_core.charts import upload as upc
from lrd_core.demo import Demo
from lrd_core.experiments import real_data as rx
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import build_demo, live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

g = setup_page("Real data: electricity demand", ":material/bolt:")


@st.cache_data(max_entries=1)
def series() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return rd.load_demand(), rd.weekly_profile(), rd.baseline_table()


frame, profile, baselines = series()
task = rd.forecast_task()
naive = baselines.pivot(index="model", columns="weekday", values="mse")
week_ahead = naive.loc["same as last week"]

st.markdown(
    """
Every other page trains on a synthetic task built to need a long memory. Here is a measured series:
the electricity demand of England and Wales every half-hour, 12 weeks of summer 2000 (4,032 values,
Taylor 2003). A day is 48 half-hours and a week **336**. The question students ask next: *does reach
matter on real data?* The task: from any half-hour, forecast the next 48 (one day ahead).
"""
)

section("1 · The series and its weekly rhythm")
show.chart(rdc.series_chart(frame), height=300)
show.chart(rdc.profile_chart(profile), height=380)
means = profile.groupby("weekday", observed=True)["demand_mw"].mean()
fri_thu = rd.profile_gap(profile, "Fri", "Thu")  # MW by hour
morning, afternoon = fri_thu.loc[:11.5], fri_thu.loc[12:]
st.markdown(
    f"""
Each weekday has the same shape; Saturday ({means["Sat"] / 1000:.1f} GW on average) and Sunday
({means["Sun"] / 1000:.1f} GW) sit well below Monday to Friday (Monday: {means["Mon"] / 1000:.1f} GW). Friday
follows Thursday until midday (at most {morning.abs().max() / 1000:.1f} GW apart) and then falls below it, by up to
{-afternoon.min() / 1000:.1f} GW at {afternoon.idxmin():g} h. So the last day or two already say something about
tomorrow; last weekend, which ended five days (240 half-hours) before a Saturday begins, fixes the weekday outright.
"""
)
st.caption(
    "Data: Taylor, J.W. (2003) Short-term electricity demand forecasting using double seasonal exponential "
    "smoothing. J. Oper. Res. Soc. 54, 799-805; MW, from Monday 5 June 2000 00:00, via pmdarima (MIT). "
    "Training: weeks 1-8; test: weeks 9-12; values are z-scored with the training weeks' mean and std. Every "
    "learning rate and step count on this page was chosen on a validation split (train on weeks 1-7, score "
    "week 8), every verdict day and threshold on weeks 6, 7 and 8 (each scored after training on the weeks "
    "before it)."
)

section("2 · Two forecasts without learning")
st.markdown(
    """
"Same as yesterday" copies the last 48 half-hours; "same as last week" copies the same day a week ago
(336 back). Test MSE in z units (1 = the variance of the training series), by the weekday of the
forecast half-hour:
"""
)
show.table(naive[["all", *rd.WEEKDAYS]].style.format("{:.3f}"))
st.markdown(
    f"""
Yesterday is a fine guess from Tuesday to Friday and a bad one on Saturday
({naive.loc["same as yesterday", "Sat"]:.2f}) and Monday ({naive.loc["same as yesterday", "Mon"]:.2f}).
"Same as last week" scores **{week_ahead["all"]:.3f}** overall: it has the right reach, 336, and it is a
strong baseline; each race's bar chart below sets the networks next to it.
"""
)
show.source(rd.seasonal_naive)

v = size_values(rx.SIZES, full_size_checked=rx.FULL_SIZE_CHECKED)
SUMMARY_COLUMNS = {"level_lo_gw": "lowest (GW)", "level_hi_gw": "highest (GW)", "mse": "MSE"}  # daily means


def render(history: pd.DataFrame, run: Demo) -> None:
    """The run's curves on its verdict day, its errors by weekday, its midnight forecasts and what they say."""
    day, (worse, better) = run.info["day"], run.info["names"]
    metric = f"mse_{day}"
    if metric in history and history[metric].notna().any():
        curves = history.dropna(subset=[metric])
        chart = charts.log_line_chart(
            curves, "step", metric, "series", x_title="training step", y_title=f"{rx.DAY_NAMES[day]} test MSE (log)"
        )
        show.chart(chart + charts.rule(week_ahead[day], f"same as last week, {rx.DAY_NAMES[day]}"), height=340)
    errors = rx.weekday_errors(history)
    if len(errors):
        naive_rows = baselines[baselines["model"] == "same as last week"].assign(step=0)
        show.chart(rdc.weekday_error_chart(pd.concat([errors, naive_rows], ignore_index=True)), height=340)
        best = errors[errors["weekday"] == "all"].set_index("model")["mse"]
        st.caption(
            f"Test MSE by the weekday of the forecast half-hour (log scale). Overall: {best[better]:.3f} "
            f'({better}), {best[worse]:.3f} ({worse}); "same as last week": {week_ahead["all"]:.3f}.'
        )
    forecasts = {n: f for n, f in run.info["forecasts"].items() if n in run.info["names"]}
    if len(forecasts) < 2:
        return
    lines = rd.forecast_lines(frame, forecasts, weekend)
    for col, (_, one) in zip(st.columns(len(weekend)), lines.groupby("day", sort=False), strict=True):
        with col:
            show.chart(rdc.forecast_chart(one), height=340)
    summary = rx.forecast_summary(task, forecasts)
    table = summary.assign(day=summary["day"].map(rx.DAY_NAMES)).set_index(["day", "series"])
    table = table[["level_lo_gw", "level_hi_gw", "mse"]].rename(columns=SUMMARY_COLUMNS)
    show.table(table.style.format({"lowest (GW)": "{:.1f}", "highest (GW)": "{:.1f}", "MSE": "{:.3f}"}))
    s = summary[summary["day"] == day].set_index("series")
    prev = rx.DAY_NAMES[rd.WEEKDAYS[rd.WEEKDAYS.index(day) - 1]]
    gw = {name: f"{row.level_lo_gw:.1f}-{row.level_hi_gw:.1f} GW" for name, row in s.iterrows()}

    st.caption(
        f"Forecasts issued at midnight for the whole day, over the actual demand (black). The table sums up the "
        f"midnight forecasts of the {int(s.loc['actual', 'n_days'])} test Saturdays and Sundays: daily mean demand "
        f"(lowest and highest of the {int(s.loc['actual', 'n_days'])} days) and MSE. On {rx.DAY_NAMES[day]}s, "
        f'"{worse}" forecast {gw[worse]} (MSE {s.loc[worse, "mse"]:.3f}) and "{better}" {gw[better]} (MSE '
        f"{s.loc[better, 'mse']:.3f}); the actual days averaged {gw['actual']} and the {prev}s before them "
        f'{gw["same as yesterday"]} ("same as yesterday": MSE {s.loc["same as yesterday", "mse"]:.3f}).'
    )


section("3 · Race 1: two TCNs that differ in reach")
d = rx.DEFAULTS
c1, c2, c3, c4 = st.columns(4)
tcn_values = {
    "short_reach": c1.select_slider(
        "Short reach", rx.SHORT_REACHES, d["short_reach"], key="short_reach", bind="query-params"
    ),
    "long_reach": c2.select_slider(
        "Long reach", rx.LONG_REACHES, d["long_reach"], key="long_reach", bind="query-params"
    ),
    "width": c3.select_slider("Channels C", [8, 16, 32], d["width"], key="width", bind="query-params"),
    "tcn_steps": c4.slider("Steps", 100, 3000, v["tcn_steps"], 100, key="tcn_steps", bind="query-params"),
}
test_week = st.selectbox("Test week of the forecast charts", [9, 10, 11, 12], 1, key="test_week", bind="query-params")
weekend = [(test_week - 1) * rd.WEEK + day * rd.DAY for day in (5, 6)]  # its Saturday and Sunday
tcn_demo = build_demo(rx.demo, tcn_values, g.seed, g.device, race="tcn")
info = tcn_demo.info
short_name, long_name = info["names"]
(short_r, long_r), (short_d, long_d) = ([m[n] for n in info["names"]] for m in (info["reaches"], info["top_layers"]))
tcn_day = rx.DAY_NAMES[info["day"]]
st.markdown(
    f"""
Two dilated causal stacks (page 3) of width {tcn_values["width"]} with kernel k = 2 and layers 0..d of dilation
2^ℓ, so **R(k, d) = (k − 1)(2^(d+1) − 1) + 1**: d = {short_d} gives **{short_r}** half-hours
({short_r / 48:.1f} days), d = {long_d} gives **{long_r}** ({long_r / 48:.1f} days). Reach comes with depth
here, so the short stack gets {long_d - short_d} pointwise layers on top (k = 1: each mixes the channels at one
step and adds no reach): both have **{info["depth"]} layers**, with {info["parameters"][short_name]:,} and
{info["parameters"][long_name]:,} parameters. A linear head turns the features at t into the 48 forecasts. Both
train full-batch on the {len(task.train_origins):,} origins from t = {rd.WARMUP} (so that even a reach-{rd.WARMUP}
stack sees only real data) whose 48 targets lie in weeks 1-8 (Adam, lr {info["lr"]:g} decaying linearly,
clip 1), from the same seed. The shaded bands: what each one sees when it forecasts the first test {tcn_day}
at midnight.
"""
)
first_day = rd.TRAIN_WEEKS * rd.WEEK + rd.WEEKDAYS.index(info["day"]) * rd.DAY
show.chart(rdc.reach_chart(frame, first_day - 1, {short_name: short_r, long_name: long_r}), height=300)
live_panel("real_data_tcn", tcn_demo, render=render, steps_per_tick=5)
st.caption(
    f"The verdict compares the two on {tcn_day}s: of the seven weekdays, the one on which the short reach cost "
    f"most on the validation weeks (seeds 0-4); it asks for {rx.TCN_MIN_RATIO:g}x on the test weeks. Both stacks "
    "have the same depth, so what differs is how far back they see (and the short one's fewer parameters). The "
    "race measures what the short reach costs and on which days; the table shows what the forecasts were, not "
    "why. The claim depends on the seed: a slow test requires it on at least 4 of seeds 0-4 at the Lecture size, "
    "and on some seeds the ratio falls just short of it (`tests/test_real_data.py`)."
)

section("4 · Race 2: how far back does an LSTM need to look?")
c1, c2, c3 = st.columns(3)
lstm_values = {
    "memory": c1.select_slider("Window M (half-hours)", rx.MEMORIES, d["memory"], key="memory", bind="query-params"),
    "hidden": c2.select_slider("Hidden units H", [16, 32, 64], d["hidden"], key="hidden", bind="query-params"),
    "lstm_steps": c3.slider("Steps", 100, 3000, v["lstm_steps"], 100, key="lstm_steps", bind="query-params"),
}
lstm_demo = build_demo(rx.demo, lstm_values, g.seed, g.device, race="lstm")
info = lstm_demo.info
window_name, full_name = info["names"]
memory = info["reaches"][window_name]
lstm_day = rx.DAY_NAMES[info["day"]]
st.markdown(
    f"""
An LSTM's reach is not fixed by its wiring, as a TCN's is: it is whatever its gates learn to keep. To measure
what reach is worth to it, read the same LSTM two ways (H = {lstm_values["hidden"]}, Adam lr {info["lr"]:g}
decaying linearly, clip 1). **Full memory** carries its state along the whole series. **Last {memory} steps**
builds the state of every forecast afresh, from zero, over exactly the {memory} half-hours
({memory / 48:.2f} days) up to the forecast's origin: a sliding window, all windows run as one batch. Both start
from the same weights, train on the same {info["batch"]} origins in every step (drawn from the seed out of the
{len(task.train_origins):,} training origins) and are scored on the same test origins, so the only difference
is how much past the state has seen. The band: what the windowed LSTM sees when it forecasts the first test
{lstm_day} at midnight.
"""
)
first_day = rd.TRAIN_WEEKS * rd.WEEK + rd.WEEKDAYS.index(info["day"]) * rd.DAY
show.chart(rdc.reach_chart(frame, first_day - 1, {window_name: memory}), height=300)
live_panel("real_data_lstm", lstm_demo, render=render, steps_per_tick=5)
st.caption(
    f"The verdict compares the two on {lstm_day}s: of the seven weekdays, the one on which a "
    f"{d['memory']}-step window cost most on the validation weeks (seeds 0-4); it asks for "
    f"{rx.LSTM_MIN_RATIO:g}x on the test weeks. A {d['memory']}-step window that ends on a Saturday afternoon "
    "or evening holds Saturday only; a 48-step window holds part of Friday until Saturday's last half-hour. "
    "Move the window to see how the gap changes."
)
show.source(rx.forecast_run)


section("5 · Your own series")
st.markdown(
    f"""
Does reach matter on *your* data? Pick a committed series or upload a CSV file: a timestamp column and a value
column, or one value column with its sampling interval. It runs race 1 as set above (reaches
{tcn_values["short_reach"]} and {tcn_values["long_reach"]}, width {tcn_values["width"]}, {tcn_values["tcn_steps"]}
steps, the same learning rate), forecasting the next {rd.HORIZON} values from every origin. The series is split
in time as the demand series is: the first 7/12 trains, the next 1/12 is the validation part, the last third is
the test part (the validation part trains as well when the test part is scored). Nothing on this page was tuned
on your series, nor on the committed second one: Seattle's daily maximum temperature, 2012-2015 (1,461 days).
"""
)
YOUR_FILE = "Your CSV file"


@st.cache_data(max_entries=4, show_spinner=False)
def read_upload(
    data: bytes, interval: str | None, column: str | None, name: str
) -> tuple[su.UploadedSeries, int | None]:
    """The series in the file and its guessed period (cached per file and choices)."""
    series = su.read_series(data, interval=interval, column=column, name=name)
    return series, su.detect_period(series.values)


def render_upload(history: pd.DataFrame, run: Demo) -> None:
    """The run's scored error against the better naive forecast."""
    if "mse_all" not in history or not history["mse_all"].notna().any():
        return
    naive = run.info["naive"]
    best = min(naive, key=naive.get)
    part = run.info["split"]
    chart = charts.log_line_chart(
        history.dropna(subset=["mse_all"]),
        "step",
        "mse_all",
        "series",
        x_title="training step",
        y_title=f"{part} MSE (log)",
    )
    show.chart(chart + charts.rule(naive[best], best), height=340)
    st.caption(
        f"MSE on the {part} part in z units (1 = the variance of the training part), from the "
        f'{run.info["n_scored"]:,} origins whose {rd.HORIZON} targets lie in it; the grey line is "{best}".'
    )


def upload_section() -> None:
    """Section 5: read the chosen series, say what was used, and race on it (every number from lrd_core)."""
    source = st.selectbox("Series", [*su.EXAMPLES, YOUR_FILE], key="upload_source")
    if source == YOUR_FILE:
        file = st.file_uploader(f"CSV file (at most {su.MAX_UPLOAD_MB} MB)", key="upload_file", help=su.ACCEPTED)
        if file is None:
            st.info(su.ACCEPTED)
            return
        data, name = file.getvalue(), file.name
    else:
        data, name = su.example_bytes(source), source
    c1, c2, c3 = st.columns(3)
    interval = c1.text_input(
        "Sampling interval (a file without timestamps)", "", key="upload_interval", placeholder="30min, 1h, 1 day"
    )
    try:
        series, guess = read_upload(data, interval.strip() or None, st.session_state.get("upload_column"), name)
    except su.UploadError as err:
        st.error(f"{name}: {err}")
        return
    if len(series.numeric_columns) > 1:
        st.selectbox("Value column", series.numeric_columns, len(series.numeric_columns) - 1, key="upload_column")
    period = c2.number_input(
        "Period in steps (0: none)",
        0,
        max(2, series.n // 3),
        guess or 0,
        key=f"upload_period_{series.digest}",
        help="Guessed from the autocorrelation; used by the naive forecast that copies one period back.",
    )
    split = c3.selectbox("Scored part", ["test", "validation"], key="upload_split")
    st.caption(series.summary())
    if source != YOUR_FILE and source.startswith("Seattle"):
        st.caption(
            "Data: daily maximum temperature (°C) at Seattle, 1 January 2012 to 31 December 2015, from NOAA "
            "(public domain), as distributed in the vega_datasets package 0.9.0 (MIT); see data/README.md."
        )
    show.chart(upc.upload_series_chart(upc.series_frame(series), series.column), height=300)
    values = {**tcn_values, "period": int(period) if period >= 2 else None, "split": split}
    try:
        upload = rx.demo(values, g.seed, g.device, series=series)
    except ValueError as err:
        st.error(f"{name}: {err}")
        return
    info = upload.info
    p = info["period"]
    reach_words = [f"reach {r} {'covers' if r >= p else 'misses'} it" for r in info["reaches"].values()] if p else []
    st.markdown(
        f"Training origins: **{info['n_train']:,}** (from t = {info['warmup']}, the long reach); scored origins: "
        f"**{info['n_scored']:,}** ({split} part). "
        + (f"Guessed period: {guess} steps. " if guess else "No clear period found in the autocorrelation. ")
        + (f"With a period of {p} steps, {' and '.join(reach_words)}." if p else "No period set.")
    )
    naive_table = pd.DataFrame({"lag": info["lags"], f"{split} MSE": info["naive"]})
    show.table(naive_table.style.format({f"{split} MSE": "{:.3f}"}))
    live_panel("real_data_upload", upload, render=render_upload, steps_per_tick=5, copy_python=False)


upload_section()
