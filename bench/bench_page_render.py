"""Time to render the Vanishing-gradients page's default view under Streamlit's AppTest.

torch and streamlit are imported first and timed on their own; then the page is
opened the way a visitor reaches it (``app.py``, then ``switch_page``) and run
with a cold cache, rerun in the same session, and opened in a fresh session (warm
process-wide cache). Run from the repo root: ``python -m bench.bench_page_render``.
Target: the cold first render < 2 s after torch is imported.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one thread on a shared 2-core host

import time

t0 = time.perf_counter()
import torch  # noqa: E402, F401 - imported here only to time the import on its own

t_torch = time.perf_counter() - t0
t0 = time.perf_counter()
import streamlit  # noqa: E402 - timed on its own, after torch
from streamlit.testing.v1 import AppTest  # noqa: E402 - timed with streamlit

t_streamlit = time.perf_counter() - t0

import logging  # noqa: E402 - after the timed imports above
import sys  # noqa: E402 - after the timed imports above
from pathlib import Path  # noqa: E402 - after the timed imports above

from bench._timing import header, result  # noqa: E402 - after the timed imports above

APP = str(Path(__file__).resolve().parents[1] / "app.py")  # AppTest resolves relative paths from the caller's file
PAGE = "pages/1_Vanishing_gradients.py"
TARGET_S = 2.0
HEAVY = {"pandas", "altair", "numpy", "scipy", "pyarrow", "narwhals", "jsonschema", "vl_convert", "lrd_core", "lrd_ui"}


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(PAGE)
    return at


def check(at: AppTest, what: str) -> str:
    """A short description of what was rendered; raises if the page failed."""
    if at.exception:
        raise RuntimeError(f"{what}: the page raised {[e.message for e in at.exception]}")
    if at.error:
        raise RuntimeError(f"{what}: st.error {[e.value for e in at.error]}")
    return f"{len(at.get('vega_lite_chart'))} charts, {len(at.slider)} sliders, title {at.title[0].value!r}"


def main() -> None:
    # AppTest touches st.* from the main thread between runs and Streamlit logs a harmless "missing
    # ScriptRunContext"; a filter (unlike a level, which Streamlit resets when it loads its config) keeps it quiet
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )
    header("page render: pages/1_Vanishing_gradients.py default view under AppTest")
    print(
        f"imports: torch {t_torch:.2f} s, streamlit + AppTest {t_streamlit:.2f} s (streamlit {streamlit.__version__})"
    )

    before = set(sys.modules)
    start, cpu_start = time.perf_counter(), time.process_time()
    at = open_page()
    at.run()
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    heavy = sorted({m.split(".")[0] for m in set(sys.modules) - before} & HEAVY)
    print(
        f"first render, cold cache (from_file + switch_page + run, includes importing lrd_core/lrd_ui): "
        f"{cold:.2f} s wall, {cold_cpu:.2f} s CPU of this process -> {check(at, 'first render')}"
    )
    print(f"  libraries first imported during it: {', '.join(heavy) or 'none'}")

    start = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - start
    print(f"second render, same session, warm cache (at.run()): {rerun:.2f} s -> {check(at, 'rerun')}")

    start = time.perf_counter()
    at2 = open_page()
    at2.run()
    fresh = time.perf_counter() - start
    print(
        f"second render, new session, warm cache (from_file + switch_page + run): {fresh:.2f} s "
        f"-> {check(at2, 'new session')}"
    )

    from lrd_core.experiments.vanishing import vanishing_probe
    from lrd_core.models.recurrent import RNNConfig

    start = time.perf_counter()
    vanishing_probe(RNNConfig(rho=0.9), 200, 0)
    probe_s = time.perf_counter() - start
    print(f"for reference: the page's probe alone (vanishing_probe, T=200, H=64, warm imports) {probe_s:.3f} s")

    result("first render after torch import, s", cold, f"< {TARGET_S:g} s", cold < TARGET_S, fmt="{:.2f}")
    result(
        "first render, CPU s (less sensitive to other load)",
        cold_cpu,
        f"< {TARGET_S:g} s",
        cold_cpu < TARGET_S,
        fmt="{:.2f}",
    )
    result("second render (new session), s", fresh, f"< {TARGET_S:g} s", fresh < TARGET_S, fmt="{:.2f}")


if __name__ == "__main__":
    main()
