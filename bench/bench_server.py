"""A real server as visitors see it: cold start to the first chart, and server memory after every page.

1. Cold start: wall seconds from launching ``streamlit run app.py`` to the home
   page's first chart drawn in Debian's chromium (server start, health check,
   page load, torch import, the first script run and vega-embed drawing).
2. Memory: resident set size (RSS) of the server's process tree after one
   visitor has opened every page at its defaults, one after another.

Run from the repo root: ``python -m bench.bench_server`` (about 1-2 min; needs
``chromium`` and ``playwright``, see README). Targets: cold start <= 5 s,
RSS <= 800 MB.
"""

import os
import shutil
import time

from bench._timing import header, result
from lrd_ui.layout import PAGES
from scripts import browser as bs

COLD_TARGET_S, RSS_TARGET_MB = 5.0, 800.0


def main() -> None:
    header("Streamlit server: cold start and memory after every page")
    exe = shutil.which("chromium")
    if exe is None:
        print("chromium not found: apt-get install chromium")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=bs.CHROMIUM_ARGS)
        page = browser.new_context(viewport=bs.VIEWPORT).new_page()
        start = time.perf_counter()
        with bs.streamlit_server() as base:
            page.goto(base + "/", timeout=bs.PAGE_LOAD_MS)
            page.locator(bs.CHART_DRAWING).first.wait_for(timeout=bs.PAGE_LOAD_MS)
            cold = time.perf_counter() - start
            server_pid = bs.LAST_SERVER_PID
            after_home = bs.rss_mb(server_pid)
            for script, _, _ in PAGES[1:]:
                page.goto(base + bs.url_path(script), timeout=bs.PAGE_LOAD_MS)
                page.get_by_test_id("stMain").locator("h1").first.wait_for(timeout=bs.PAGE_LOAD_MS)
                bs.wait_until_idle(page)  # every section drawn (the exercises page has no chart)
            after_all = bs.rss_mb(server_pid)
        browser.close()
    print(f"server RSS after the home page {after_home:.0f} MB, after all {len(PAGES)} pages {after_all:.0f} MB")
    print("name | measured | target | verdict")
    result("cold start to first chart, s", cold, f"<= {COLD_TARGET_S:g} s", cold <= COLD_TARGET_S, "{:.1f}")
    result(
        "server RSS after every page, MB", after_all, f"<= {RSS_TARGET_MB:g} MB", after_all <= RSS_TARGET_MB, "{:.0f}"
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
