"""Real data: does reach matter on a measured series? Day-ahead forecasts of electricity demand."""

import pandas as pd
import streamlit as st

from lrd_core import charts
from lrd_core import real_data as rd
from lrd_core.experiments import real_data as rx
from lrd_ui import show
from lrd_ui.layout import setup_page
from lrd_ui.live import live_panel
from lrd_ui.presenter import section
from lrd_ui.sizes import size_values

SHORT_REACHES, LONG_REACHES = [32, 64, 128, 256], [512, 1024]  # TCN reach choices: always short < long
MEMORIES = [48, 96, 128, 192, 256]  # steps between resets of the short-memory LSTM

g = setup_page("Real data: electricity demand", ":material/bolt:")


@st.cache_data(max_entries=1)
def series() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return rd.load_demand(), rd.weekly_profile(), rd.baseline_table()


frame, profile, baselines = series()
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
show.chart(rd.series_chart(frame), height=300)
show.chart(rd.profile_chart(profile), height=380)
sat, week = profile.groupby("weekday", observed=True)["demand_mw"].mean().loc[["Sat", "Mon"]]
st.markdown(
    f"""
Each weekday has the same shape; Saturday (about {sat / 1000:.1f} GW on average) and Sunday sit well
below Monday to Friday (Monday: {week / 1000:.1f} GW). A Friday looks like a Thursday, so a model that
reads only the last two or three days cannot know at midnight whether tomorrow is a Saturday. It has to
see back to last weekend: Sunday ended five days, 240 half-hours, before Saturday begins.
"""
)
st.caption(
    "Data: Taylor, J.W. (2003) Short-term electricity demand forecasting using double seasonal exponential "
    "smoothing. J. Oper. Res. Soc. 54, 799-805; MW, from Monday 5 June 2000 00:00, via pmdarima (MIT). "
    "Training: weeks 1-8; test: weeks 9-12; values are z-scored with the training weeks' mean and std."
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
strong baseline. The small networks below do not beat it overall; the lesson is reach, and the
simplest model with the right reach is hard to beat.
"""
)
show.source(rd.seasonal_naive)

section("3 · Race 1: a TCN that sees 128 half-hours against one that sees 512")
v = size_values(rx.SIZES, full_size_checked=rx.FULL_SIZE_CHECKED)
c1, c2, c3, c4 = st.columns(4)
short_r = c1.select_slider("Short reach", SHORT_REACHES, 128, key="short_reach", bind="query-params")
long_r = c2.select_slider("Long reach", LONG_REACHES, 512, key="long_reach", bind="query-params")
width = c3.select_slider("Channels C", [8, 16, 32], 16, key="width", bind="query-params")
tcn_steps = c4.slider("Steps", 100, 3000, v["tcn_steps"], 100, key="tcn_steps", bind="query-params")
short_d, long_d = (r.bit_length() - 2 for r in (short_r, long_r))  # R(2, d) = 2^(d+1)
short_name, long_name = rx.tcn_names(short_d, long_d, width)
st.markdown(
    f"""
Two dilated causal stacks (page 3) of width {width} with kernel k = 2 and layers 0..d of dilation
2^ℓ, so **R(k, d) = (k − 1)(2^(d+1) − 1) + 1**: d = {short_d} gives **{short_r}** half-hours
({short_r / 48:.1f} days), d = {long_d} gives **{long_r}** ({long_r / 48:.1f} days). A linear head turns
the features at t into the 48 forecasts. Both train full-batch on every origin of weeks 1-8 (Adam,
lr {rx.TCN_LR:g} decaying linearly, clip 1), from the same seed. The shaded bands: what each one sees when
it forecasts the first test Saturday at midnight.
"""
)
first_saturday = rd.TRAIN_WEEKS * rd.WEEK + 5 * rd.DAY
show.chart(rd.reach_chart(frame, first_saturday - 1, {short_name: short_r, long_name: long_r}), height=300)
keep_tcn = st.session_state.setdefault("real_data_tcn_forecasts", {})
test_week = st.selectbox("Test week of the forecast chart", [9, 10, 11, 12], 1, key="test_week", bind="query-params")
days = [(test_week - 1) * rd.WEEK + 5 * rd.DAY, test_week * rd.WEEK]  # its Saturday and the Monday after
days = [d for d in days if d + rd.DAY <= rd.N_VALUES]


def render_race(history: pd.DataFrame, day: str, keep: dict) -> None:
    names = list(dict.fromkeys(history["series"])) if len(history) else []
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
        show.chart(rd.weekday_error_chart(pd.concat([errors, naive_rows], ignore_index=True)), height=340)
        best = errors[errors["weekday"] == "all"]["mse"].min()
        st.caption(
            f"Test MSE by the weekday of the forecast half-hour (log scale). Best network overall: {best:.3f}; "
            f'"same as last week": {week_ahead["all"]:.3f}.'
        )
    shown = {n: keep[n] for n in names if n in keep}
    if shown and days:
        lines = rd.forecast_lines(frame, shown, days)
        for col, (_, one) in zip(st.columns(len(days)), lines.groupby("day", sort=False), strict=True):
            with col:
                show.chart(rd.forecast_chart(one), height=340)
        st.caption("Forecasts issued at midnight for the whole day, over the actual demand (black).")


tcn_config = rx.train_config("tcn", tcn_steps)
live_panel(
    "real_data_tcn",
    rx.tcn_race(short_d, long_d, width, tcn_config, g.seed, g.device, keep=keep_tcn),
    total_steps=tcn_steps,
    settings=f"reach {short_r} vs {long_r}, C={width}, steps={tcn_steps}, seed={g.seed}",
    render=lambda h: render_race(h, "Sat", keep_tcn),
    steps_per_tick=5,
    verdict=rx.tcn_verdict(short_name, long_name),
)
st.caption(
    "Overall, the two differ little: most days look like the day before. On Saturdays (and Sundays) the "
    "short-reach TCN cannot tell what day it is and forecasts a weekday; the long-reach TCN sees last weekend."
)

section("4 · Race 2: an LSTM that remembers against one that forgets every 128 steps")
c1, c2, c3 = st.columns(3)
memory = c1.select_slider("Reset every (half-hours)", MEMORIES, 128, key="memory", bind="query-params")
hidden = c2.select_slider("Hidden units H", [16, 32, 64], 32, key="hidden", bind="query-params")
lstm_steps = c3.slider("Steps", 100, 3000, v["lstm_steps"], 100, key="lstm_steps", bind="query-params")
st.markdown(
    f"""
The same LSTM twice (H = {hidden}, Adam lr {rx.LSTM_LR:g} decaying linearly, clip 1): one carries its state along
the whole series, the other starts from zero every {memory} steps ({memory / 48:.1f} days), so at any
time it has seen at most that far back. An LSTM's reach is not fixed by its wiring, as a TCN's is; it
is whatever its gates learn to keep, and a reset caps it.
"""
)
keep_lstm = st.session_state.setdefault("real_data_lstm_forecasts", {})
lstm_config = rx.train_config("lstm", lstm_steps)
live_panel(
    "real_data_lstm",
    rx.lstm_race(hidden, memory, lstm_config, g.seed, g.device, keep=keep_lstm),
    total_steps=lstm_steps,
    settings=f"H={hidden}, reset every {memory}, steps={lstm_steps}, seed={g.seed}",
    render=lambda h: render_race(h, "Mon", keep_lstm),
    steps_per_tick=5,
    verdict=rx.lstm_verdict(memory),
)
st.caption(
    "A Monday follows a Sunday: a model that has seen only the weekend forecasts another weekend day; the "
    "full-memory LSTM knows the weekend has had its two days. It is not better everywhere (at this size both "
    "LSTMs miss Saturdays): the gap is on the day whose forecast needs more than the reset window."
)
show.source(rx.forecast_run)
