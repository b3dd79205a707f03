"""A visitor's own series: read an uploaded CSV file into one evenly spaced, finite series, or say what is wrong.

Accepted (:data:`ACCEPTED`): UTF-8 text, comma-separated, a header row, at most :data:`MAX_BYTES`, and either

- a timestamp column and a numeric value column: the timestamps sorted oldest first, no two equal, evenly spaced
  (their common step is the sampling interval); or
- one numeric value column (or several: the page picks one), with the sampling interval stated by the visitor.

Every value must be present and finite. Nothing is repaired: a missing value, a gap in the timestamps, a
duplicated or out-of-order timestamp or a text entry in the value column is an :class:`UploadError` (a
ValueError) naming the lines and saying what is accepted, because filling or dropping a value silently would
change the series the race is run on. Blank lines are the only thing skipped, and the result counts them.

:func:`detect_period` guesses the seasonal period (in steps) from the autocorrelation of the detrended series;
the page offers it as the default of a field the visitor can change. Splitting, z-scoring and the races live in
:mod:`lrd_core.real_data` (:func:`~lrd_core.real_data.series_task`) and :mod:`lrd_core.experiments.real_data`.
This module is pure: no Streamlit, no charts.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lrd_core.validate import check_choice

MAX_UPLOAD_MB = 1  # .streamlit/config.toml [server] maxUploadSize (a test keeps the two equal)
MAX_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MIN_ROWS = 3  # below this not even the sampling interval is defined; the race needs far more (series_task)
MAX_LISTED = 5  # lines quoted in one message
ACCEPTED = (
    "Accepted: a CSV file (UTF-8 text, commas between columns, a header row, at most "
    f"{MAX_UPLOAD_MB} MB) with a timestamp column and a numeric value column (timestamps sorted oldest first, "
    "no duplicates, evenly spaced), or a single numeric value column with its sampling interval stated; "
    "every value present and finite."
)
MISSING = {"", "nan", "na", "n/a", "null", "none", "-", "?"}  # cells read as missing (case-insensitive)
MIN_RISE = 0.3  # a seasonal peak of the autocorrelation must rise this much above the dip before it
TIME_NAMES = ("timestamp", "time", "date", "datetime", "ds")  # preferred names of a timestamp column


class UploadError(ValueError):
    """What is wrong with an uploaded file, in one or two sentences, followed by :data:`ACCEPTED`."""

    def __init__(self, problem: str):
        super().__init__(f"{problem} {ACCEPTED}")
        self.problem = problem


@dataclass(frozen=True)
class UploadedSeries:
    """One series read from a file.

    ``values`` (n,) float64, read-only, oldest first; ``interval`` the sampling step (from the timestamps or
    as stated), ``start`` the first timestamp (None without a timestamp column); ``rows`` data lines read,
    ``skipped`` what was left out and why (blank lines only; everything else is an error); ``digest`` a hash
    of the values, interval and start: equal data, equal digest, so a run's key changes with the data.
    """

    name: str
    column: str  # header of the value column used
    time_column: str | None  # header of the timestamp column, None when the interval was stated
    numeric_columns: tuple[str, ...]  # every numeric column of the file (the page offers a choice)
    values: np.ndarray  # (n,) float64
    interval: pd.Timedelta
    start: pd.Timestamp | None
    rows: int  # data lines in the file (blank lines not counted)
    skipped: tuple[str, ...]  # e.g. ("2 blank lines",)
    digest: str  # 16 hex digits

    @property
    def n(self) -> int:
        return len(self.values)

    def timestamps(self) -> pd.DatetimeIndex | None:
        """The time of every value (n,), or None without a timestamp column."""
        return None if self.start is None else pd.date_range(self.start, periods=self.n, freq=self.interval)

    def summary(self) -> str:
        """How many rows were used and why any were skipped, in one sentence."""
        where = f"column '{self.column}'" + (f", timestamps from '{self.time_column}'" if self.time_column else "")
        skipped = f"; skipped: {', '.join(self.skipped)}" if self.skipped else "; no line skipped"
        return (
            f"{self.n:,} values used, one from each of the file's {self.rows:,} data rows ({where}, one every "
            f"{describe_interval(self.interval)}){skipped}."
        )


def describe_interval(interval: pd.Timedelta) -> str:
    """ "30 minutes", "1 hour", "7 days" ...: the interval in its largest whole unit."""
    seconds = int(interval.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            k = seconds // size
            return f"{k} {unit}" + ("s" if k != 1 else "")
    return str(interval)


def parse_interval(text: str | None) -> pd.Timedelta:
    """A sampling interval typed by a visitor ("30min", "1h", "1 day", "7D") as a positive Timedelta; UploadError
    otherwise. Months and years are not fixed lengths: state them in days or use a timestamp column."""
    if text is None or not str(text).strip():
        raise UploadError(
            "The file has no timestamp column, so the sampling interval must be stated (for example 30min, 1h "
            "or 1 day)."
        )
    try:
        interval = pd.Timedelta(str(text).strip())
    except (ValueError, TypeError):
        raise UploadError(f"The sampling interval {text!r} is not a duration such as 30min, 1h or 1 day.") from None
    if interval <= pd.Timedelta(0):
        raise UploadError(f"The sampling interval must be positive, got {text!r}.")
    return interval


def _lines(rows: list[int]) -> str:
    """ "line 4", "lines 4, 9 and 12" or "lines 4, 9, 12, 15, 20 and 3 more"."""
    shown = [str(r) for r in rows[:MAX_LISTED]]
    more = len(rows) - len(shown)
    if len(rows) == 1:
        return f"line {shown[0]}"
    if more:
        return f"lines {', '.join(shown)} and {more} more"
    return f"lines {', '.join(shown[:-1])} and {shown[-1]}"


def _text(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise UploadError(f"The file has {len(data):,} bytes, more than the {MAX_UPLOAD_MB} MB this page takes.")
    if b"\x00" in data:
        raise UploadError("The file is not text (it holds NUL bytes): is it a spreadsheet or a compressed file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UploadError(f"The file is not UTF-8 text (byte {err.start} cannot be read).") from None


def _missing(cells: pd.Series) -> np.ndarray:
    return cells.str.strip().str.lower().isin(MISSING).to_numpy()


def _as_numbers(cells: pd.Series) -> np.ndarray:
    """Cells as float64 (NaN where missing or not a number)."""
    return pd.to_numeric(cells.str.strip(), errors="coerce").to_numpy(dtype=np.float64)


def _as_times(cells: pd.Series) -> pd.Series:
    return pd.to_datetime(cells.str.strip(), errors="coerce", format="mixed")


def read_series(
    data: bytes, *, interval: str | None = None, column: str | None = None, name: str = "upload"
) -> UploadedSeries:
    """Read an uploaded CSV file (its bytes) into an :class:`UploadedSeries`, or raise :class:`UploadError`.

    ``interval``: the sampling interval ("30min", "1h" ...) when the file has no timestamp column (ignored
    otherwise, unless it disagrees with the timestamps: then an error). ``column``: the value column to use
    when the file has several numeric ones (default: the last). ``name``: what to call the series.
    Raises only UploadError, whatever the bytes are.
    """
    text = _text(data)
    raw_lines = text.splitlines()
    kept = [(i + 1, line) for i, line in enumerate(raw_lines) if line.strip()]  # (line number, text)
    blank = len(raw_lines) - len(kept)
    if not kept:
        raise UploadError("The file is empty.")
    (_, header), body = kept[0], kept[1:]
    if blank and kept[0][0] != 1:
        blank -= kept[0][0] - 1  # blank lines above the header are not data lines
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(line for _, line in kept)),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            sep=",",
            quoting=csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as err:
        detail = " ".join(str(err).split())[:200]
        raise UploadError(f"The file cannot be read as CSV ({detail}).") from None
    names = [str(c).strip() for c in frame.columns]
    # file line of every row; a quoted field spanning lines breaks the mapping: number the rows instead
    numbers = [n for n, _ in body] if len(frame) == len(body) else list(range(2, len(frame) + 2))
    if len(frame) < MIN_ROWS:
        raise UploadError(f"The file has {len(frame)} data row(s) below its header; a series needs many more.")
    if all(_is_number(c) for c in names):
        raise UploadError(f"The first line ({header[:60]!r}) holds numbers, not column names: add a header row.")
    header_names = [c.strip() for c in next(csv.reader([header]))]  # pandas would rename a repeat "a" to "a.1"
    if len(set(header_names)) != len(header_names):
        raise UploadError(f"Two columns have the same name in the header {header[:80]!r}.")
    frame.columns = names
    if len(names) == 1 and any(sep in header for sep in (";", "\t", "|")):
        raise UploadError(f"The header {header[:60]!r} seems to use ';', a tab or '|' between columns, not commas.")

    present = {c: ~_missing(frame[c]) for c in names}
    numeric = [c for c in names if present[c].any() and (~np.isnan(_as_numbers(frame[c])[present[c]])).mean() >= 0.5]
    time_col = _time_column(frame, names, numeric, present)
    numeric = [c for c in numeric if c != time_col]
    if not numeric:
        raise UploadError(f"No column holds numbers (columns: {', '.join(names) or 'none'}).")
    if column is None:
        column = numeric[-1]  # "time, value" and "year, value" files: the value comes last
    elif column not in numeric:
        raise UploadError(f"column must be one of the numeric columns {numeric}, got {column!r}.")

    cells = frame[column]
    values = _as_numbers(cells)
    missing = ~present[column]
    if missing.any():
        rows = [numbers[i] for i in np.flatnonzero(missing)]
        raise UploadError(
            f"Column '{column}' has {int(missing.sum())} missing value(s) ({_lines(rows)}). Nothing is filled in: "
            "fill or remove them yourself, so that you know what the race is run on."
        )
    bad = np.isnan(values)
    if bad.any():
        rows = [numbers[i] for i in np.flatnonzero(bad)]
        first = cells.iloc[int(np.flatnonzero(bad)[0])].strip()
        raise UploadError(
            f"Column '{column}' has {int(bad.sum())} entries that are not numbers ({_lines(rows)}; the first is "
            f"{first[:30]!r}). Use a point for decimals and no thousands separators."
        )
    infinite = ~np.isfinite(values)
    if infinite.any():
        rows = [numbers[i] for i in np.flatnonzero(infinite)]
        raise UploadError(f"Column '{column}' has {int(infinite.sum())} infinite value(s) ({_lines(rows)}).")

    start = None
    if time_col is None:
        step = parse_interval(interval)
    else:
        step, start = _check_times(frame[time_col], present[time_col], numbers, time_col)
        if interval is not None and str(interval).strip() and parse_interval(interval) != step:
            raise UploadError(
                f"The stated interval {interval!r} disagrees with the timestamps, which are "
                f"{describe_interval(step)} apart."
            )
    values = values.astype(np.float64)
    values.flags.writeable = False
    skipped = (f"{blank} blank line{'s' if blank != 1 else ''}",) if blank else ()
    return UploadedSeries(
        name=name,
        column=column,
        time_column=time_col,
        numeric_columns=tuple(numeric),
        values=values,
        interval=step,
        start=start,
        rows=len(frame),
        skipped=skipped,
        digest=series_digest(values, step, start),
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _time_column(frame: pd.DataFrame, names: list[str], numeric: list[str], present: dict) -> str | None:
    """The timestamp column: a non-numeric column most of whose cells read as dates (a preferred name first)."""
    candidates = sorted(
        (c for c in names if c not in numeric or c.lower() in TIME_NAMES),
        key=lambda c: c.lower() not in TIME_NAMES,
    )
    for c in candidates:
        cells = frame[c][present[c]]
        if len(cells) and _as_times(cells).notna().mean() >= 0.5 and np.isnan(_as_numbers(cells)).any():
            return c
    return None


def _check_times(
    cells: pd.Series, present: np.ndarray, numbers: list[int], name: str
) -> tuple[pd.Timedelta, pd.Timestamp]:
    """The common step and the first time of a timestamp column, or UploadError."""
    if (~present).any():
        rows = [numbers[i] for i in np.flatnonzero(~present)]
        raise UploadError(f"Timestamp column '{name}' has {int((~present).sum())} empty cell(s) ({_lines(rows)}).")
    times = _as_times(cells)
    if times.isna().any():
        rows = [numbers[i] for i in np.flatnonzero(times.isna().to_numpy())]
        raise UploadError(f"Timestamp column '{name}' has entries that are not dates or times ({_lines(rows)}).")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = times.to_numpy()
    dup = pd.Series(stamps).duplicated(keep=False).to_numpy()
    if dup.any():
        rows = [numbers[i] for i in np.flatnonzero(dup)]
        raise UploadError(f"Timestamps repeat ({_lines(rows)}): each time may appear once.")
    diffs = pd.Series(stamps).diff().iloc[1:]
    back = np.flatnonzero((diffs < pd.Timedelta(0)).to_numpy()) + 1
    if len(back):
        i = int(back[0])
        raise UploadError(
            f"The timestamps are not sorted: line {numbers[i]} ({times.iloc[i]}) comes before line "
            f"{numbers[i - 1]} ({times.iloc[i - 1]}). Sort the file oldest first."
        )
    step = diffs.mode().iloc[0]
    uneven = np.flatnonzero((diffs != step).to_numpy()) + 1
    if len(uneven):
        i = int(uneven[0])
        raise UploadError(
            f"The timestamps are not evenly spaced: most are {describe_interval(step)} apart, but line "
            f"{numbers[i]} comes {describe_interval(diffs.iloc[i - 1])} after line {numbers[i - 1]} "
            f"({len(uneven)} such step(s) in all). Missing rows? Add them with their values."
        )
    return step, pd.Timestamp(stamps[0])


def series_digest(values: np.ndarray, interval: pd.Timedelta, start: pd.Timestamp | None) -> str:
    """16 hex digits of SHA-256 over the values (float64 bytes), the interval and the start."""
    h = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    h.update(f"|{interval.value}|{'' if start is None else start.isoformat()}".encode())
    return h.hexdigest()[:16]


def autocorrelation(values: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation of ``values`` (n,) after removing a least-squares line, lags 0..max_lag:
    (max_lag + 1,) float64 (lag 0 is 1; all zeros for a straight line)."""
    x = np.asarray(values, dtype=np.float64)
    t = np.arange(len(x), dtype=np.float64)
    x = x - np.polyval(np.polyfit(t, x, 1), t) if len(x) > 1 else x - x.mean()
    var = float(x @ x)
    out = np.zeros(max_lag + 1)
    if var <= 1e-12 * max(1.0, float(np.abs(values).max()) ** 2) * len(x):
        return out
    for k in range(max_lag + 1):
        out[k] = float(x[: len(x) - k] @ x[k:]) / var
    return out


def detect_period(values: np.ndarray, max_period: int | None = None) -> int | None:
    """A guess of the seasonal period in steps, or None (no clear season).

    Among the local peaks of the detrended series' autocorrelation at lags 2..``max_period`` (default a third
    of the series) that lie above 0.2, the one that rises most above the lowest autocorrelation at smaller
    lags, if that rise is at least MIN_RISE. The rise, not the height, decides: a persistent series (today like
    yesterday) has high autocorrelation at every small lag, and its small wiggles there are no season. On the
    demand series it finds the week (336 half-hours), on the Seattle temperatures the year (360 days)."""
    n = len(values)
    max_period = n // 3 if max_period is None else min(int(max_period), n // 3)
    if max_period < 3:
        return None
    acf = autocorrelation(values, max_period + 1)
    trough = np.minimum.accumulate(acf)  # trough[k]: the lowest autocorrelation at lags 0..k
    peaks = [k for k in range(2, max_period + 1) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] > 0.2]
    rise = {k: acf[k] - trough[k] for k in peaks}  # how far the peak climbs above the dip before it
    peaks = [k for k in peaks if rise[k] >= MIN_RISE]
    if not peaks:
        return None
    return int(max(peaks, key=rise.get))


DATA_DIR = Path(__file__).resolve().parent.parent / "data"
EXAMPLES = {  # committed series the page offers besides an upload (provenance: data/README.md)
    "Seattle daily maximum temperature, 2012-2015": DATA_DIR / "seattle_weather.csv",
    "Electricity demand (the series above, read as an upload)": DATA_DIR / "taylor_demand.csv",
}


def example_bytes(name: str) -> bytes:
    """The bytes of the committed example ``name`` (a key of :data:`EXAMPLES`), as an upload would give them."""
    return EXAMPLES[check_choice("name", name, EXAMPLES)].read_bytes()
