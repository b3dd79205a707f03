"""Numbers and lists as a reader sees them, in verdict sentences, captions and tables: at most 4 significant
digits, one form (fixed or scientific) per table column."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def join_and(parts: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else "".join(parts)


def pct(x: float) -> str:
    """An accuracy in [0, 1] as a whole percentage: 0.9731 -> "97%"."""
    return f"{100 * x:.0f}%"


SCI_BELOW, SCI_ABOVE = 1e-3, 1e5  # magnitudes outside [SCI_BELOW, SCI_ABOVE] are written in scientific form


def scientific(values) -> bool:
    """True when a column of numbers is best written in scientific form: some nonzero finite magnitude is
    below 1e-3 or above 1e5. One answer for the whole column, so that a column never mixes the two forms."""
    mags = np.abs(np.asarray(values, dtype=float).ravel())
    mags = mags[np.isfinite(mags) & (mags > 0)]
    return bool(mags.size) and bool(np.any((mags < SCI_BELOW) | (mags > SCI_ABOVE)))


def fmt(x: float, digits: int = 2, *, sci: bool | None = None) -> str:
    """A number to ``digits`` significant digits (1-4), trailing zeros dropped; in scientific form only when
    ``sci`` says so (default: when ``|x|`` is below 1e-3 or above 1e5). 0.1734 -> "0.17", 0.000321 -> "3.2e-4",
    0.0351202 -> "0.035", 123456 -> "1.2e5", 1534.2 (digits=4) -> "1534"; 0 -> "0"; nan -> "nan".

    Pass the same ``sci=scientific(column)`` for every value of a table column, so it is written one way.
    """
    if not 1 <= digits <= 4:
        raise ValueError(f"digits must be in 1..4, got {digits}")
    x = float(x)
    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    if sci is None:
        sci = scientific([x])
    if sci:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    text = f"{round(x, decimals):.{decimals}f}"  # round first: 0.99996 to 4 digits is "1", not "1.000"
    return text.rstrip("0").rstrip(".") if "." in text else text


def column_formatter(values, digits: int = 4):
    """A ``Styler.format`` formatter for one column: ``df.style.format({c: column_formatter(df[c])})``: :func:`fmt`
    with one shared form (fixed or scientific) for the whole column."""
    sci = scientific(values)
    return lambda v: fmt(v, digits, sci=sci)


def fmt_column(values, digits: int = 4) -> list[str]:
    """Every value of a column as :func:`column_formatter` writes it."""
    return list(map(column_formatter(values, digits), np.asarray(values, dtype=float).ravel()))


def table_formats(df: pd.DataFrame, digits: int = 4) -> dict:
    """``Styler.format`` formatters for every float column of ``df`` (:func:`column_formatter`), so that
    ``st.dataframe(df.style.format(table_formats(df)))`` shows each column to ``digits`` meaningful digits."""
    return {c: column_formatter(df[c], digits) for c in df.columns if pd.api.types.is_float_dtype(df[c])}
