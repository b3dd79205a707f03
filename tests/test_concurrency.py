"""Four visitors at once on one server: each trains on a different page with its own seed.

All four runs must finish, none may see another's state (step totals and
seeds stay per session), and the server's resident memory must stay <= 1 GB.
Marked slow (about 1-3 min on 2 cores); CI runs it after the default suite.
"""

from __future__ import annotations

import re
import time

import pytest

from scripts import browser as bs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VISITS = (  # (page script, query string, steps of its run)
    ("pages/1_Vanishing_gradients.py", "seed=11&steps=50&train_T=10", 50),
    ("pages/3_Convolutions.py", "seed=12&steps=50&lag=5&C=8", 50),
    ("pages/4_Attention.py", "seed=13&steps=100&train_T=5&T=20&max_L=256", 100),
    ("pages/6_State_space_models.py", "seed=14&recall_steps=20&recall_T=50&L=256&N=8", 20),
)
RSS_LIMIT_MB = 1024
FINISH_S = 420


@pytest.mark.timeout(900)
def test_four_sessions_train_at_once_without_sharing_state():
    exe = bs.chromium_path()
    sync_api = bs.playwright_sync_api()
    with sync_api.sync_playwright() as pw, bs.streamlit_server() as base:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=bs.CHROMIUM_ARGS)
        pages = []
        for script, query, _ in VISITS:  # one browser context per visitor: separate sessions
            page = browser.new_context(viewport=bs.VIEWPORT).new_page()
            page.set_default_timeout(bs.ACTION_MS)
            page.goto(f"{base}{bs.url_path(script)}?{query}", timeout=bs.PAGE_LOAD_MS)
            pages.append(page)
        for page in pages:
            page.locator(bs.CHART_DRAWING).first.wait_for(timeout=bs.PAGE_LOAD_MS)
            bs.wait_until_idle(page)
        for page in pages:  # start all four before any finishes
            # .first: the vanishing page has a second live panel (the clipping race) with its own Start
            page.get_by_test_id("stMain").get_by_role("button", name="Start").first.click()
        deadline, finished, peak = time.monotonic() + FINISH_S, {}, 0.0
        while len(finished) < len(pages) and time.monotonic() < deadline:
            peak = max(peak, bs.rss_mb(bs.LAST_SERVER_PID))
            for i, page in enumerate(pages):
                text = page.get_by_test_id("stProgress").first.inner_text() if i not in finished else ""
                if (m := re.search(r"step (\d+) / (\d+)", text)) and m.group(1) == m.group(2):
                    finished[i] = int(m.group(2))
            time.sleep(1.0)
        peak = max(peak, bs.rss_mb(bs.LAST_SERVER_PID))
        print(f"finished {finished}; server RSS peak {peak:.0f} MB")
        assert finished == {i: steps for i, (_, _, steps) in enumerate(VISITS)}, "a run did not finish (or its "
        "step total is another visitor's)"
        for page, (_, query, _) in zip(pages, VISITS, strict=True):
            seed = re.search(r"seed=(\d+)", query).group(1)
            sidebar = page.get_by_test_id("stSidebar")
            assert sidebar.get_by_test_id("stNumberInput").first.locator("input").input_value() == seed
            assert page.get_by_test_id(bs.EXCEPTION).count() == 0
            assert not page.get_by_text("Stopped by you").count()
        browser.close()
    assert peak <= RSS_LIMIT_MB, f"server RSS peaked at {peak:.0f} MB"
