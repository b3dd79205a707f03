"""Shared fixtures: Streamlit caches are cleared around every test so results never leak between tests."""

import os
import shutil

os.environ.setdefault("LRD_ENGINE_SYNC", "1")  # AppTest: the run engine advances a fixed slice per run

import pytest
import streamlit as st
import torch
from streamlit import config

from scripts import browser as bs

# Visitors see redacted errors (.streamlit/config.toml); under AppTest a failing test shows the real one.
config.set_option("client.showErrorDetails", "full")


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The suite must fit 2 cores: one intra-op thread avoids oversubscription in AppTest and browser servers."""
    torch.set_num_threads(1)


# --- browser tests (tests/test_browser*.py): one server and one chromium per test module -------------------


def _browser_missing(err: bs.BrowserUnavailable):
    """No chromium or no playwright: skip the test here, fail it under CI=true (CI must run it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(str(err))
    pytest.skip(str(err))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    except bs.BrowserUnavailable as err:
        _browser_missing(err)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except bs.BrowserUnavailable as err:
        _browser_missing(err)


@pytest.fixture(scope="module")
def chromium_exe() -> str | None:
    return shutil.which("chromium")  # None: each test skips, or FAILS under CI=true (bs.chromium_path)


@pytest.fixture(scope="module")
def server(chromium_exe):
    if chromium_exe is None:  # no server for a test that is about to skip or fail
        yield None
        return
    with bs.streamlit_server() as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser(chromium_exe):
    if chromium_exe is None:
        yield None
        return
    sync_api = bs.playwright_sync_api()  # skips without the package (fails under CI=true)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_exe, headless=True, args=bs.CHROMIUM_ARGS, timeout=60_000)
        yield b
        b.close()


PROJECTOR = {"width": 1280, "height": 720}  # a lecture hall's projector: what presenter mode must fit


@pytest.fixture
def projector_page(browser):
    """A fresh chromium page at the projector's 1280x720 (None where the browser tests skip)."""
    if browser is None:
        yield None
        return
    context = browser.new_context(viewport=PROJECTOR)
    context.set_default_timeout(bs.ACTION_MS)
    p = context.new_page()
    yield p
    context.close()
