"""Every page under AppTest: defaults, every widget at its minimum and at its maximum, and a live run."""

import numpy as np
import pytest

from tests.apptest_support import PAGE_FILES, assert_clean, open_page, set_all, set_random, start_buttons

CHARTLESS = {"pages/11_Exercises.py"}  # questions and answer boxes


@pytest.mark.parametrize("path", PAGE_FILES)
def test_page_renders_at_defaults(path):
    at = open_page(path)
    at.run()
    assert_clean(at, f"{path} defaults")
    if path not in CHARTLESS:
        assert len(at.get("vega_lite_chart")) >= 1, f"{path} shows no chart"


@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("path", PAGE_FILES)
def test_page_survives_every_widget_at_its_extreme(path, end):
    at = open_page(path)
    at.run()
    settings = set_all(at, end)
    at.run()
    assert_clean(at, f"{path} with {settings}")
    for button in start_buttons(at):  # a live run at the extreme settings: two ticks, then Stop
        button.click().run()
        at.run()
        assert_clean(at, f"{path} training {button.key} with {settings}")
        stop = at.button(key=button.key.removesuffix("_start") + "_stop")
        if not stop.proto.disabled:
            stop.click().run()
            assert_clean(at, f"{path} stopping {button.key}")


@pytest.mark.parametrize("path", PAGE_FILES)
def test_page_survives_random_widget_combinations(path):
    """Two seeded random draws of every widget at once (any option, any slider value)."""
    rng = np.random.default_rng(sum(map(ord, path)))  # a fixed draw per page: a failure is reproducible
    at = open_page(path)
    at.run()
    for _ in range(2):
        settings = set_random(at, rng)
        at.run()
        assert_clean(at, f"{path} with {settings}")
