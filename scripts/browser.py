"""Browser helpers shared by the browser tests, ``bench/`` and ``scripts/``: a `streamlit run` server and
Debian's chromium driven by Playwright. Not an entry point.

Nothing here downloads a browser: Playwright is pointed at the ``chromium`` on PATH (``apt-get install
chromium``). Without chromium or Playwright the helpers raise :class:`BrowserUnavailable`; the test suite's
conftest turns that into a skip (a failure under ``CI=true``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

CHROMIUM_MISSING = "Debian chromium not installed: apt-get install chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Generous timeouts: the first page load imports torch and probes a model on a slow, shared CPU.
SERVER_START_S = 60
PAGE_LOAD_MS = 120_000
ACTION_MS = 60_000

# Streamlit 1.67 DOM: an Altair chart is a div[data-testid=stVegaLiteChart] (vega-embed) holding
# an <svg class="marks"> (or a <canvas> with the canvas renderer).
CHART = '[data-testid="stVegaLiteChart"]'
CHART_DRAWING = f"{CHART} svg.marks, {CHART} canvas"
EXCEPTION = "stException"  # st.exception / an uncaught error in a page script
STATUS_WIDGET = '[data-testid="stStatusWidget"]'  # "Running..." indicator while a script runs
STALE = '[data-testid="stElementContainer"][data-stale="true"]'  # left over from a previous run
LAST_SERVER_PID: int | None = None  # pid of the most recent streamlit_server()


class BrowserUnavailable(RuntimeError):
    """Debian's chromium or the playwright package is missing on this machine."""


def chromium_path() -> str:
    """Path of Debian's chromium (:class:`BrowserUnavailable` without one)."""
    path = shutil.which("chromium")
    if path is None:
        raise BrowserUnavailable(CHROMIUM_MISSING)
    return path


def playwright_sync_api():
    """``playwright.sync_api`` (:class:`BrowserUnavailable` without the package: requirements-test.txt)."""
    try:
        import playwright.sync_api as sync_api
    except ImportError as err:
        raise BrowserUnavailable(f"playwright not installed ({err}): pip install -r requirements-test.txt") from err
    return sync_api


def url_path(script: str) -> str:
    """URL path Streamlit serves a page script at.

    app.py -> "/", pages/1_Vanishing_gradients.py -> "/Vanishing_gradients".
    """
    if script == "app.py":
        return "/"
    return "/" + re.sub(r"^\d+_", "", Path(script).stem)


def page_title(script: str) -> str | None:
    """The title a page passes to ``setup_page("...")`` (its h1), read from the script's source."""
    m = re.search(r"""setup_page\(\s*(["'])(.+?)\1""", (REPO_ROOT / script).read_text(encoding="utf-8"))
    return m.group(2) if m else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def streamlit_server(
    app: str = "app.py", *, cpus: str | None = None, env_extra: dict | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """Run ``streamlit run app`` on a free local port; yield its base URL; kill its process group at the end.

    ``cpus`` (e.g. "0") pins the server to those cores with ``taskset``, the size of a Community Cloud box;
    ``args`` are more ``streamlit run`` options (e.g. ``"--client.showErrorDetails=full"``).
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "streamlit-server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("LRD_ENGINE_SYNC", None)  # a real server trains in the engine's worker threads
    env.update(env_extra or {})
    cmd = ["taskset", "-c", cpus] if cpus else []
    cmd += [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        app,
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        *args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )  # own process group, killed as a whole below
        global LAST_SERVER_PID
        LAST_SERVER_PID = proc.pid  # for memory measurements (bench/bench_server.py, the concurrency test)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while not _healthy(base):
                if proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{_tail(log_path)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit not healthy after {SERVER_START_S} s:\n{_tail(log_path)}")
                time.sleep(0.5)
            yield base
        finally:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-n:]


def wait_until_idle(page, timeout_ms: int = PAGE_LOAD_MS, quiet_ms: int = 1000) -> None:
    """Wait until the script run is over: no "Running..." widget, no stale elements, chart count steady."""
    deadline = time.monotonic() + timeout_ms / 1000
    last, steady_since = None, time.monotonic()
    while time.monotonic() < deadline:
        busy = page.locator(STATUS_WIDGET).filter(visible=True).count() or page.locator(STALE).count()
        state = (busy, page.locator(CHART).count())
        if state != last:
            last, steady_since = state, time.monotonic()
        elif not busy and time.monotonic() - steady_since >= quiet_ms / 1000:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"page still busy after {timeout_ms} ms (status widget or stale elements shown)")


def drawn_charts(page) -> list[tuple[float, float]]:
    """(width, height) of every chart's svg/canvas on the page."""
    return page.eval_on_selector_all(
        CHART_DRAWING, "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
    )


def full_page_screenshot(page, path: Path) -> None:
    """Screenshot the whole page. Streamlit scrolls inside stMain (the document itself never grows), so
    Playwright's ``full_page`` alone gives one viewport: grow the viewport to the content's height first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return Math.ceil(m ? m.scrollHeight : document.documentElement.scrollHeight); }"""
    )
    before = page.viewport_size
    page.set_viewport_size({"width": before["width"], "height": max(before["height"], min(height, 16000))})
    page.wait_for_timeout(500)  # let vega-embed and the layout settle at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(before)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
    return total / 1024
