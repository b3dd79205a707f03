"""An unexpected exception in a page: one plain sentence for the visitor, the traceback in the server's log.

The browser test starts the server with ``--client.showErrorDetails=full`` (what a host may pass) and the
test-only switch ``LRD_TEST_FAIL_PAGE`` (read from the server's environment, out of any visitor's reach).
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from lrd_ui import errors
from scripts import browser as bs
from tests.apptest_support import open_page

HOME_TITLE = bs.page_title("app.py")


def test_the_visitor_message_is_one_plain_sentence():
    msg = errors.VISITOR_MESSAGE
    assert len(re.findall(r"[.;!?](\s|$)", msg)) == 2 and msg.endswith(".")  # one "; " joins its two halves
    assert not re.search(r"Traceback|Error|Exception|\.py|/", msg)


def test_the_handler_draws_the_sentence_instead_of_the_exception_box():
    """Streamlit 1.67 calls a script run's ``on_script_error`` after logging the exception; True hides its box."""

    def script():
        import streamlit as st
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        from lrd_ui.errors import show_plain_sentence

        get_script_run_ctx().on_script_error = show_plain_sentence
        st.markdown("drawn before the failure")
        raise RuntimeError("a failure inside the page")

    at = AppTest.from_function(script).run()
    assert [m.value for m in at.markdown] == ["drawn before the failure"]
    assert [e.value for e in at.error] == [errors.VISITOR_MESSAGE]
    assert not at.exception


def test_without_a_visitor_the_real_exception_still_shows(monkeypatch):
    """Under AppTest (no browser, no URL) the guard stays off: a failing page must fail its tests."""
    monkeypatch.setattr(errors, "FORCED_FAILURE_PAGE", HOME_TITLE)
    at = open_page("app.py").run()
    assert at.exception and at.exception[0].value.startswith("forced failure of the page")
    assert errors.VISITOR_MESSAGE not in [e.value for e in at.error]


@pytest.mark.browser
def test_a_failing_page_shows_one_sentence_and_the_log_keeps_the_traceback(browser):
    bs.chromium_path()
    from playwright.sync_api import expect

    env = {errors.FORCE_FAILURE_ENV: HOME_TITLE}
    with bs.streamlit_server(env_extra=env, args=("--client.showErrorDetails=full",)) as base:
        context = browser.new_context(viewport=bs.VIEWPORT)
        try:
            page = context.new_page()
            page.goto(base + "/", timeout=bs.PAGE_LOAD_MS)
            main = page.get_by_test_id("stMain")
            expect(main.locator("h1").first).to_contain_text(HOME_TITLE, timeout=bs.PAGE_LOAD_MS)
            expect(main.get_by_text(errors.VISITOR_MESSAGE)).to_be_visible(timeout=bs.PAGE_LOAD_MS)
            bs.wait_until_idle(page)
            expect(page.get_by_test_id(bs.EXCEPTION)).to_have_count(0)
            text, html = page.locator("body").inner_text(), page.content()
        finally:
            context.close()
        log = (bs.ARTIFACTS / "streamlit-server.log").read_text(errors="replace")
    for leak in ("Traceback", "ForcedPageFailure", "RuntimeError", 'File "', ".py", str(bs.REPO_ROOT)):
        assert leak not in text, f"{leak!r} shown to the visitor"
    assert str(bs.REPO_ROOT) not in html and "Traceback" not in html
    assert "Traceback (most recent call last)" in log and "ForcedPageFailure: forced failure of the page" in log
    assert re.search(r"lrd_ui/layout\.py.*line \d+", log)  # where it failed, for whoever reads the log
