"""Presenter mode on a projector-sized window (1280x720), every page, in Debian's chromium (issue #22, item 3).

Each page is opened by its bookmarkable link (``?presenter=1``) and must show: the sidebar collapsed, chart
text (axis labels and titles, legends, chart titles) at 18 px or more, no two chart texts overlapping,
metric values larger than their labels, and Streamlit's toolbar hidden until "Show controls" is on. A
screenshot of the first screen and of the whole page goes to tests/artifacts/presenter/ (git-ignored) for a
human to look at. The spec config itself is checked without a browser below.
"""

from __future__ import annotations

import re
from pathlib import Path

import altair as alt
import pandas as pd
import pytest

from lrd_core.charts import style
from lrd_ui.layout import PAGES
from scripts import browser as bs

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "presenter"
MIN_FONT_PX = 18
# every text a chart draws from its config: axis labels and titles, legend labels and titles, the chart title
CHART_TEXT = ", ".join(
    f"{bs.CHART} svg.marks g.role-{role} text"
    for role in ("axis-label", "axis-title", "legend-label", "legend-title", "title-text")
)
TEXT_BOXES = """els => els.filter(e => getComputedStyle(e).opacity !== '0' && e.getAttribute('opacity') !== '0')
  .map(e => { const r = e.getBoundingClientRect();
              return {chart: [...document.querySelectorAll('svg.marks')].indexOf(e.closest('svg.marks')),
                      text: e.textContent, size: parseFloat(getComputedStyle(e).fontSize),
                      x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })
  .filter(b => b.text.trim() && b.x1 > b.x0)"""


def _font_sizes(config: dict) -> dict[str, float]:
    """Every font-size entry of a Vega-Lite config, by its path: {"axis.labelFontSize": 20, ...}."""
    found = {}
    for key, value in config.items():
        if isinstance(value, dict):
            found |= {f"{key}.{k}": v for k, v in _font_sizes(value).items()}
        elif re.search(r"fontsize", key, re.I):
            found[key] = value
    return found


def test_presenter_config_puts_every_font_at_18_px_or_more():
    """The spec config, as the live chart and its PNG/SVG export both receive it (show.chart styles once)."""
    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [1.0, 2.0]})).mark_line().encode(x="x", y="y")
    sizes = _font_sizes(style(chart, presenter=True).to_dict()["config"])
    assert {
        "axis.labelFontSize",
        "axis.titleFontSize",
        "legend.labelFontSize",
        "title.fontSize",
        "text.fontSize",
    } <= set(sizes)
    assert min(sizes.values()) >= MIN_FONT_PX, sizes
    normal = _font_sizes(style(chart).to_dict()["config"])
    assert min(normal.values()) < MIN_FONT_PX  # the check can fail: off the projector the fonts are smaller


def _overlaps(boxes: list[dict]) -> list[str]:
    """Pairs of chart texts (same chart) whose boxes overlap by more than 2 px both ways."""
    bad = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a["chart"] != b["chart"] or a["text"] == b["text"]:  # a label and its own white halo
                continue
            dx = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
            dy = min(a["y1"], b["y1"]) - max(a["y0"], b["y0"])
            if dx > 2 and dy > 2:
                bad.append(f"chart {a['chart']}: {a['text']!r} overlaps {b['text']!r}")
    return bad


@pytest.mark.browser
@pytest.mark.parametrize("script", [path for path, _label, _icon in PAGES], ids=lambda s: Path(s).stem)
def test_presenter_mode_on_a_projector(server, projector_page, script):
    page = projector_page
    bs.chromium_path()  # skip without Debian's chromium; fail instead under CI=true
    from playwright.sync_api import expect

    page.goto(server + bs.url_path(script) + "?presenter=1", timeout=bs.PAGE_LOAD_MS)
    main = page.get_by_test_id("stMain")
    expect(main.locator("h1").first).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    if script != "pages/11_Exercises.py":  # one section at a time: the "Next" button is drawn last
        expect(main.get_by_role("button", name=re.compile("^Next:"))).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    bs.wait_until_idle(page)
    stem = Path(script).stem
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{stem}.png"))  # the first screen, as the back row sees it
    bs.full_page_screenshot(page, ARTIFACTS / f"{stem}-full.png")

    overflow = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return m.scrollWidth - m.clientWidth; }"""
    )
    assert overflow <= 1, f"the page is {overflow} px wider than the window: something sticks out on the right"
    box = page.get_by_test_id("stSidebar").bounding_box()
    assert box is None or box["x"] + box["width"] <= 0, f"sidebar open in presenter mode: {box}"
    expect(main.get_by_text("Show controls")).to_be_visible()
    expect(page.get_by_test_id("stToolbar")).to_be_hidden()

    texts = page.eval_on_selector_all(CHART_TEXT, TEXT_BOXES)
    if page.locator(bs.CHART_DRAWING).count():
        assert texts, "no chart text found: the selector no longer matches Vega's SVG"
    small = sorted({(t["text"], t["size"]) for t in texts if t["size"] < MIN_FONT_PX})
    assert not small, f"chart text below {MIN_FONT_PX} px: {small[:10]}"
    overlapping = _overlaps(page.eval_on_selector_all(f"{bs.CHART} svg.marks text", TEXT_BOXES))
    assert not overlapping, "\n".join(overlapping[:10])

    metrics = page.eval_on_selector_all(
        '[data-testid="stMain"] [data-testid="stMetric"]',
        """els => els.map(m => [m.querySelector('[data-testid=stMetricLabel] p'),
                                m.querySelector('[data-testid=stMetricValue] p')]
                               .map(e => e ? parseFloat(getComputedStyle(e).fontSize) : 0))""",
    )
    assert all(value > label for label, value in metrics), f"metric (label, value) font sizes: {metrics}"
    expect(page.get_by_test_id(bs.EXCEPTION)).to_have_count(0)


@pytest.mark.browser
def test_show_controls_brings_the_toolbar_back_and_the_sidebar_opens(server, projector_page):
    page = projector_page
    bs.chromium_path()
    from playwright.sync_api import expect

    page.goto(server + bs.url_path("pages/1_Vanishing_gradients.py") + "?presenter=1", timeout=bs.PAGE_LOAD_MS)
    expect(page.locator(bs.CHART_DRAWING).first).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    bs.wait_until_idle(page)
    expect(page.get_by_test_id("stToolbar")).to_be_hidden()
    page.get_by_test_id("stMain").get_by_text("Show controls").click()
    expect(page.get_by_test_id("stToolbar")).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    page.get_by_test_id("stExpandSidebarButton").click()  # the page's sliders are one click away
    page.wait_for_function(  # the sidebar slides in
        """() => { const r = document.querySelector('[data-testid="stSidebar"]').getBoundingClientRect();
                   return r.left >= 0 && r.width > 200; }""",
        timeout=bs.ACTION_MS,
    )
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stSlider").first).to_be_attached()


@pytest.mark.browser
def test_run_settings_are_hidden_while_presenting_and_come_back(server, projector_page):
    page = projector_page
    """The race's settings (run size, sliders, toggle) hide behind "Show controls"; Start stays."""
    bs.chromium_path()
    from playwright.sync_api import expect

    page.goto(server + bs.url_path("pages/2_Gating.py") + "?presenter=1", timeout=bs.PAGE_LOAD_MS)
    main = page.get_by_test_id("stMain")
    for n in (2, 3):  # reveal the sections up to the race
        main.get_by_role("button", name=re.compile(f"^Next: {n}")).click(timeout=bs.PAGE_LOAD_MS)
    start = main.get_by_role("button", name="Start")
    expect(start).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    bs.wait_until_idle(page)
    steps = main.get_by_test_id("stSlider").filter(has_text="Steps")
    expect(steps).to_have_count(1)
    expect(steps).to_be_hidden()
    main.get_by_text("Show controls").click()
    expect(steps).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    expect(start).to_be_visible()


def _table_script():
    import pandas as pd
    import streamlit as st

    from lrd_ui import show
    from lrd_ui.presenter import PRESENTER_KEY

    st.session_state[PRESENTER_KEY] = st.query_params.get("presenter") == "1"
    df = pd.DataFrame({"L": [10, 100], "value": [0.5, 0.25]})
    show.table(df, hide_index=True)
    show.table(df.style.format({"value": "{:.1f}"}))


@pytest.mark.parametrize("presenting", [False, True])
def test_tables_become_html_tables_in_presenter_mode(presenting):
    """st.dataframe's canvas cannot be enlarged by CSS: in presenter mode show.table draws st.table (HTML, which
    the presenter CSS enlarges) with the same rows; elsewhere the sortable st.dataframe."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_table_script)
    if presenting:
        at.query_params["presenter"] = "1"
    at.run()
    assert not at.exception
    tables, frames = at.table, at.dataframe
    assert (len(tables), len(frames)) == ((2, 0) if presenting else (0, 2))
    assert all(len(t.value) == 2 for t in (tables if presenting else frames))
