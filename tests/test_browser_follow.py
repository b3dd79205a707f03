"""The follow link in Debian's chromium: a follower's tab follows the presenter's slider and page within 3 s."""

from __future__ import annotations

import re
import time

import pytest

from scripts import browser as bs

pytestmark = pytest.mark.browser
FOLLOW_S = 3.0  # the bound: a follower sees the presenter's change within this many seconds


def _wait_for(check, timeout_s: float, page) -> float:
    """Seconds until ``check()`` is true (polled every 100 ms); AssertionError after ``timeout_s``."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        page.wait_for_timeout(100)
    return time.monotonic() - t0


def test_a_follower_tab_follows_the_presenters_slider_and_page(server, browser):
    bs.chromium_path()
    from playwright.sync_api import expect

    contexts = [browser.new_context(viewport=bs.VIEWPORT) for _ in range(2)]
    presenter, follower = (c.new_page() for c in contexts)
    for p in (presenter, follower):
        p.set_default_timeout(bs.ACTION_MS)
    try:
        presenter.goto(server + bs.url_path("pages/2_Gating.py"), timeout=bs.PAGE_LOAD_MS)
        expect(presenter.locator(bs.CHART_DRAWING).first).to_be_visible(timeout=bs.PAGE_LOAD_MS)
        bs.wait_until_idle(presenter)
        sidebar = presenter.get_by_test_id("stSidebar")
        sidebar.get_by_text("Presenter mode").click()  # the sidebar stays open: presenter mode is on from here
        sidebar.get_by_text("Let the hall follow").click()
        link = sidebar.get_by_test_id("stCode").filter(has_text="?follow=")
        expect(link).to_be_visible(timeout=bs.PAGE_LOAD_MS)
        code = re.search(r"\?follow=(\w+)", link.inner_text())[1]

        follower.goto(server + f"/?follow={code}", timeout=bs.PAGE_LOAD_MS)  # the short link: the home page
        main = follower.get_by_test_id("stMain")
        expect(main.locator("h1").first).to_contain_text("Gating: LSTM and GRU", timeout=bs.PAGE_LOAD_MS)
        expect(main.get_by_text("Following the presenter")).to_be_visible()
        expect(main.get_by_role("button", name="Start")).to_have_count(0)  # read-only
        bs.wait_until_idle(follower)

        def follower_T() -> str | None:
            slider = follower.get_by_test_id("stSidebar").get_by_test_id("stSlider").filter(has_text="Probe length")
            return slider.get_by_role("slider").input_value(timeout=2_000)

        assert follower_T() == "200"
        handle = sidebar.get_by_test_id("stSlider").filter(has_text="Probe length").get_by_role("slider")
        handle.focus()
        handle.press("ArrowLeft")  # 200 -> 190
        slider_s = _wait_for(lambda: follower_T() == "190", FOLLOW_S, follower)

        menu_link = sidebar.get_by_test_id("stPageLink").filter(has_text="Dilated convolutions").locator("a")
        menu_link.dispatch_event("click")  # the sidebar has scrolled down to the slider: no pointer click there
        title = "Dilated causal convolutions"
        page_s = _wait_for(lambda: title in (main.locator("h1").first.text_content() or ""), FOLLOW_S, follower)
        print(f"follower saw the slider after {slider_s:.1f} s and the page after {page_s:.1f} s")

        follower.get_by_role("button", name="Leave").click()
        expect(main.get_by_text("Following the presenter")).to_have_count(0, timeout=bs.PAGE_LOAD_MS)
        expect(follower.get_by_test_id(bs.EXCEPTION)).to_have_count(0)
        expect(presenter.get_by_test_id(bs.EXCEPTION)).to_have_count(0)
    finally:
        for c in contexts:
            c.close()
