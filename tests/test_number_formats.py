"""Every number a page shows is written to its meaningful digits (issue #22, item 4).

The rule, checked on the home page and every page at their defaults (AppTest):

- A *written-out non-integer* is any decimal with a point or an exponent, such as "0.6894", "1.2e-5" or
  "1,534.25" (commas are thousands separators). Integers ("200", "1,534", seed 0, step 3000, year 2000) are
  ignored: their digits are all meaningful (a count, a seed, a year).
- Such a number has at most 4 significant digits (its digits without the point, leading zeros and exponent:
  "0.0351202" has 6, "1.234e-5" has 4, "1.500" has 4).
- Scientific form is never written "e+" and, in text, is used only for magnitudes below 1e-3 or above 1e5.
  A table column is written in one form: all scientific or none.
- Where: markdown, captions and metrics (value and label), and every dataframe cell as the browser shows it
  (a Styler's display strings; else Streamlit's default: 4 decimals, trailing zeros dropped, more decimals
  below 1e-4).
- No axis of any chart prints a tick in e-notation ("2e+0", "1e-5"): each chart is rendered by vl-convert
  (as the PNG/SVG export renders it) and its axis labels are read from the SVG.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import vl_convert as vlc

from lrd_core.charts import log_line_chart, log_ticks, style
from lrd_core.formats import SCI_ABOVE, SCI_BELOW, fmt, fmt_column
from scripts.figures import chart_specs
from tests.apptest_support import PAGE_FILES, open_page

MAX_DIGITS = 4
NUMBER = re.compile(r"(?<![\w.,])[-−]?(?:\d[\d,]*\.\d+(?:[eE][-+−]?\d+)?|\d+[eE][-+−]?\d+)(?![\w.]*\d)")
E_NOTATION = re.compile(r"\d[eE][-+−]?\d")
AXIS_LABEL = re.compile(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', re.S)
TEXT = re.compile(r"<text[^>]*>([^<]*)</text>")


def numbers(text: str) -> list[str]:
    """The written-out non-integers in ``text``: "L = 200, ρ = 0.9, 2.5e-3 s" -> ["0.9", "2.5e-3"]."""
    return [m.group(0) for m in NUMBER.finditer(text)]


def significant_digits(number: str) -> int:
    """Significant digits of a written number: "0.0351202" -> 6, "1.20e-5" -> 3, "1,534.25" -> 6."""
    mantissa = re.split(r"[eE]", number.lstrip("-−").replace(",", ""))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits) if digits else 1  # "0.0" is one digit


def value(number: str) -> float:
    return float(number.replace(",", "").replace("−", "-"))


def text_problems(text: str, where: str) -> list[str]:
    """Numbers in a piece of text that break the rule, each with where it was seen."""
    bad = []
    for n in numbers(text):
        if significant_digits(n) > MAX_DIGITS:
            bad.append(f"{where}: {n!r} has {significant_digits(n)} significant digits")
        elif "e+" in n.lower():
            bad.append(f"{where}: {n!r} is written 'e+'")
        elif E_NOTATION.search(n) and SCI_BELOW <= abs(value(n)) < SCI_ABOVE:
            bad.append(f"{where}: {n!r} is scientific although between 1e-3 and 1e5")
    return bad


def default_cell(x) -> str:
    """A raw cell as Streamlit 1.67's grid writes a number without a format (formatNumber.ts: 4 decimals,
    or as many as the exponent of a number below 1e-4; trailing zeros trimmed)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (float, np.floating)):
        return str(x)
    if not math.isfinite(x):
        return ""
    decimals = 4 if x == 0 or abs(x) >= 1e-4 else abs(int(f"{x:e}".split("e")[1]))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def shown_cells(element) -> pd.DataFrame:
    """The cells of an st.dataframe as strings, as the browser shows them."""
    styler = element.proto.arrow_data.styler
    if styler.display_values:
        shown = pa.ipc.open_stream(styler.display_values).read_all().to_pandas()
        return shown.astype(str)
    return element.value.map(default_cell)


def table_problems(cells: pd.DataFrame, where: str) -> list[str]:
    bad = []
    for col in cells.columns:
        texts = [str(t) for t in cells[col]]
        for t in texts:
            bad += [p for p in text_problems(t, f"{where}[{col}]") if "between 1e-3" not in p]
        found = [n for t in texts for n in numbers(t)]
        sci = [E_NOTATION.search(n) is not None for n in found]
        if any(sci) and not all(sci):
            bad.append(f"{where}[{col}]: mixes fixed and scientific numbers: {found}")
        elif found and all(sci) and all(SCI_BELOW <= abs(value(n)) < SCI_ABOVE for n in found if value(n)):
            bad.append(f"{where}[{col}]: scientific although every number is between 1e-3 and 1e5: {found}")
    return bad


def axis_labels(spec: dict) -> list[str]:
    """Every axis tick label of a chart, as the export (vl-convert) draws it."""
    svg = vlc.vegalite_to_svg(spec)
    return [t for group in AXIS_LABEL.findall(svg) for t in TEXT.findall(group)]


def page_problems(script: str) -> list[str]:
    at = open_page(script)
    at.run()
    assert not at.exception, f"{script} raised: {at.exception[0].value}"
    bad = []
    for kind in ("markdown", "caption"):
        for i, el in enumerate(at.get(kind)):
            bad += text_problems(el.value, f"{kind} {i}")
    for i, m in enumerate(at.metric):
        bad += text_problems(f"{m.label} {m.value}", f"metric {i}")
    for i, df in enumerate(at.dataframe):
        bad += table_problems(shown_cells(df), f"dataframe {i}")
    specs = chart_specs(at)
    labels = [(i, t) for i, spec in enumerate(specs) for t in axis_labels(spec)]
    assert labels or not specs, f"no axis labels in {len(specs)} charts of {script}: the SVG pattern no longer matches"
    return bad + [f"chart {i}: axis tick {t!r} in e-notation" for i, t in labels if E_NOTATION.search(t)]


@pytest.mark.parametrize("script", PAGE_FILES, ids=lambda s: Path(s).stem)
def test_every_number_on_the_page_has_at_most_4_significant_digits(script):
    bad = page_problems(script)
    assert not bad, f"{script}:\n" + "\n".join(bad)


def test_the_rule_itself():
    # written-out non-integers only; integers (seeds, steps, years, 1,534) are left alone
    assert numbers("seed 0, T = 200, year 2000, R = 1,534, ρ = 0.9, h_1.5, Δ 2.5e-3 and x2") == ["0.9", "2.5e-3"]
    assert [significant_digits(n) for n in ("0.0351202", "1.20e-5", "1,534.25", "0.0", "−0.50")] == [6, 3, 6, 1, 2]
    assert text_problems("solved below 0.0351202", "t") == ["t: '0.0351202' has 6 significant digits"]
    assert text_problems("loss 2e+0", "t") == ["t: '2e+0' is written 'e+'"]
    assert text_problems("ratio 3.5e-1", "t") == ["t: '3.5e-1' is scientific although between 1e-3 and 1e5"]
    assert text_problems("error 3.5e-7, loss 0.035, 1.2e5 tokens? no: 1.2e6", "t") == []
    # Streamlit's default cell: 0.123456789 -> "0.1235" (4 decimals), 1.234567e-6 -> "0.000001"
    assert [default_cell(x) for x in (0.123456789, 1.234567e-6, 2.0, 7)] == ["0.1235", "0.000001", "2", "7"]
    mixed = pd.DataFrame({"c": ["0.5", "1e-5"]})
    assert table_problems(mixed, "df") == ["df[c]: mixes fixed and scientific numbers: ['0.5', '1e-5']"]
    needless = pd.DataFrame({"c": ["8.957e-02", "8.712e-02"]})
    assert table_problems(needless, "df") == [
        "df[c]: scientific although every number is between 1e-3 and 1e5: ['8.957e-02', '8.712e-02']"
    ]


def test_the_shared_formatter_by_hand():
    # 0.0351202 to 2 digits: 0.035 (the gating panel's "solved below 0.0351202"); 0.000321 < 1e-3: 3.2e-4;
    # 123456 > 1e5: 1.2e5; 1534.2 to 4 digits: 1534; 0.99996 to 4 digits rounds up to 1 (not "1.000")
    cases = [((0.0351202, 2), "0.035"), ((0.000321, 2), "3.2e-4"), ((123456, 2), "1.2e5"), ((1534.2, 4), "1534")]
    cases += [((0.99996, 4), "1"), ((0.5, 4), "0.5"), ((-0.0012345, 3), "-0.00123"), ((0, 2), "0")]
    assert [fmt(*args) for args, _ in cases] == [want for _, want in cases]
    # one form per column: 1e-5 makes the whole column scientific, 0.5 included
    assert fmt_column([0.5, 1e-5, 3.25]) == ["5e-1", "1e-5", "3.25e0"]
    assert fmt_column([0.5, 0.0015, 3.25]) == ["0.5", "0.0015", "3.25"]
    with pytest.raises(ValueError, match="digits"):
        fmt(1.0, 5)


def test_the_shared_formatter_obeys_the_rule():
    for x in (0.0351202, 1534.25, 0.99996, 123456.7, 2.5e-7, 1 / 3, 12.3456):
        for digits in (1, 2, 3, 4):
            text = fmt(x, digits)
            assert text_problems(text, "fmt") == [], (x, digits, text)
            assert significant_digits(text) <= digits or ("." not in text and "e" not in text)
            # the written number is x to ``digits`` significant digits (relative error within half a unit)
            assert abs(value(text) - x) <= 0.5 * 10 ** (math.floor(math.log10(abs(x))) - digits + 1) * (1 + 1e-9)


def test_axis_labels_are_read_from_the_export():
    """The SVG reading works: Vega's own log format gives e-notation, which this test would report."""
    spec = {
        "data": {"values": [{"x": 1, "y": 1e-6}, {"x": 2, "y": 1}]},
        "mark": "line",
        "encoding": {
            "x": {"field": "x", "type": "quantitative"},
            "y": {"field": "y", "type": "quantitative", "scale": {"type": "log"}, "axis": {"format": "~e"}},
        },
    }
    labels = axis_labels(json.loads(json.dumps(spec)))
    assert "1e-6" in labels and "1e+0" in labels


def test_log_ticks_and_their_labels():
    # 0.01..1 spans 2 decades: 1, 2 and 5 times each power of ten
    assert log_ticks(0.01, 1) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    # 1e-30..1 spans 30 decades: more than 8, so every ceil(30 / 8) = 4th power (exponents divisible by 4)
    assert log_ticks(1e-30, 1) == [1e-28, 1e-24, 1e-20, 1e-16, 1e-12, 1e-8, 1e-4, 1.0]
    # inside one decade: every tenth of it
    assert log_ticks(0.3, 0.7) == [0.3, 0.4, 0.5, 0.6, 0.7]
    frame = pd.DataFrame({"lag": [1, 2, 3], "g": [1.0, 2e-3, 3e-6], "s": ["a"] * 3})
    spec = style(log_line_chart(frame, "lag", "g", "s", x_title="lag", y_title="g")).to_dict()
    spec["width"] = 400
    labels = axis_labels(spec)
    # y: 3e-6..1, widened to 1e-6..1 (6 decades, so 1, 2 and 5 only up to 4 decades: powers only)
    assert [t for t in labels if "10" in t] == ["10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"]
