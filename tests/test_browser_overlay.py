"""Earlier runs overlaid in presenter mode on a projector-sized window (1280x720), in Debian's chromium
(issue 36, item 1): three Starts with three gate biases on the gating race give three labelled runs on its
loss chart, legible (chart text at 18 px or more, no two texts overlapping) and three rows with verdicts; the
screenshot goes to tests/artifacts/overlay/ (git-ignored) for a human to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts import browser as bs
from tests.conftest import PROJECTOR
from tests.test_browser_presenter import MIN_FONT_PX, TEXT_BOXES, _overlaps

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "overlay"
RUN_MS = 120_000  # 100 steps of the three racers at T = 10, H = 16: a few seconds on one shared core
CHEAP = "steps=100&train_T=10&H=16&race_bias=1"  # the Lecture race, shortened


def _run(main, rows: int) -> None:
    """Press Start and wait until the run has ended and its verdict is in the table of runs (``rows`` rows)."""
    from playwright.sync_api import expect

    start = main.get_by_role("button", name="Start")
    start.click()
    if rows == 1:  # no table before there is an earlier run
        expect(main.get_by_text(re.compile(r"^Verdict:"))).to_be_visible(timeout=RUN_MS)
    else:
        runs = main.get_by_test_id("stTable").filter(has_text="this run")
        expect(runs.locator("tbody tr")).to_have_count(rows, timeout=RUN_MS)
        expect(runs.get_by_text("not yet")).to_have_count(0, timeout=RUN_MS)
    expect(start).to_be_enabled(timeout=RUN_MS)


@pytest.mark.browser
def test_three_runs_overlaid_and_listed_legibly_in_presenter_mode(server, projector_page):
    page = projector_page
    bs.chromium_path()
    from playwright.sync_api import expect

    page.goto(server + bs.url_path("pages/2_Gating.py") + f"?presenter=1&{CHEAP}", timeout=bs.PAGE_LOAD_MS)
    main = page.get_by_test_id("stMain")
    for n in (2, 3):  # reveal the sections up to the race
        main.get_by_role("button", name=re.compile(f"^Next: {n}")).click(timeout=bs.PAGE_LOAD_MS)
    expect(main.get_by_role("button", name="Start")).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    bs.wait_until_idle(page)
    main.get_by_text("Show controls").click()
    bias = main.get_by_test_id("stSlider").filter(has_text="Race: gate bias b").get_by_role("slider")
    expect(bias).to_be_visible(timeout=bs.PAGE_LOAD_MS)
    _run(main, 1)
    for presses, key, rows in ((4, "ArrowRight", 2), (8, "ArrowLeft", 3)):  # b = 1 -> 3 -> -1 (steps of 0.5)
        bias.focus()
        for _ in range(presses):
            bias.press(key)
        bs.wait_until_idle(page)
        _run(main, rows)
    bs.wait_until_idle(page)

    runs = main.get_by_test_id("stTable").filter(has_text="this run")
    cells = runs.locator("tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
    labels = [next(c for c in row if c in ("this run", "race bias 3 → -1", "race bias 1 → -1")) for row in cells]
    assert labels == ["this run", "race bias 3 → -1", "race bias 1 → -1"], cells
    assert all(any(c.startswith("At T = 10, ") for c in row) for row in cells), cells  # each with its verdict

    chart = main.locator(bs.CHART).filter(has_text="race bias 1 → -1")  # the loss chart, its legend of runs
    expect(chart).to_have_count(1)
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gating-three-runs.png"))  # what the back row sees
    chart.screenshot(path=str(ARTIFACTS / "gating-three-runs-chart.png"))
    texts = chart.locator("svg.marks text").evaluate_all(TEXT_BOXES)
    legend = {t["text"] for t in texts}
    assert {"this run", "race bias 3 → -1", "race bias 1 → -1", "RNN", "LSTM", "GRU"} <= legend, legend
    small = sorted({(t["text"], t["size"]) for t in texts if t["size"] < MIN_FONT_PX})
    assert not small, f"chart text below {MIN_FONT_PX} px: {small[:10]}"
    overlapping = _overlaps([{**t, "chart": 0} for t in texts])
    assert not overlapping, "\n".join(overlapping[:10])
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PROJECTOR["width"], box  # fits the window's width
    expect(page.get_by_test_id(bs.EXCEPTION)).to_have_count(0)
