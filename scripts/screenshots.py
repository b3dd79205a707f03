"""Browser screenshots for the README: the home page, and one page in presenter mode at 1280x720.

    python -m scripts.figures --screenshots DIR

Starts ``streamlit run app.py`` on a free local port and drives Debian's ``chromium`` with Playwright (both
as the browser tests do: ``pip install -r requirements-test.txt``, ``apt-get install chromium``), so it
shows the app exactly as a visitor's browser draws it. Writes ``DIR/home.png`` and ``DIR/presenter.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

SHOTS = (  # (file name, URL path and query, window height, scroll the first chart to the top of the window)
    ("home.png", "/", 1150, False),  # tall enough for the whole overview chart and its legend
    ("presenter.png", "/Vanishing_gradients?presenter=1", 720, True),  # a projector-sized window
)
WIDTH = 1280
LOAD_MS = 180_000  # the first load imports torch and probes a model


def take_screenshots(out: Path) -> list[Path]:
    """Write the README screenshots into ``out``; returns the files written."""
    from playwright.sync_api import sync_playwright  # lazy: only this command needs a browser

    from scripts import browser as bs  # the server and idle-wait helpers the browser tests use

    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError(bs.CHROMIUM_MISSING)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with bs.streamlit_server() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=bs.CHROMIUM_ARGS)
        for name, path, height, to_chart in SHOTS:
            page = browser.new_context(viewport={"width": WIDTH, "height": height}).new_page()
            page.goto(base + path, timeout=LOAD_MS)
            page.locator(bs.CHART_DRAWING).first.wait_for(timeout=LOAD_MS)
            bs.wait_until_idle(page, timeout_ms=LOAD_MS)
            if to_chart:  # the chart and the numbers under it, rather than the page's introduction
                page.locator(bs.CHART).first.evaluate(
                    "e => e.closest('[data-testid=stMain]').scrollBy(0, e.getBoundingClientRect().top - 140)"
                )
                page.wait_for_timeout(500)
            target = out / name
            page.screenshot(path=str(target))
            _shrink(target)
            written.append(target)
            page.context.close()
        browser.close()
    return written


def _shrink(path: Path, colours: int = 128) -> None:
    """Re-save a screenshot with a palette of ``colours`` (flat UI colours: a few times smaller, same look)."""
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
