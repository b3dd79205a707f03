"""Regenerate every figure of every page at its default settings, without a server or a browser.

    python -m scripts.figures --out DIR [--format png|svg] [--pages 1 3]
    python -m scripts.figures --out docs/screenshots --screenshots   # the README's two browser screenshots

Each page script is run headless once, the way a first visitor sees it
(Streamlit's script runner, ``streamlit.testing.v1.AppTest``; this is why the
command lives in ``scripts/`` and not in the pure ``lrd_core``),
and every chart it draws is rendered offline by vl-convert into
``DIR/<page>-<n>.<format>``. The figures are therefore exactly the pages'
own charts, with no second copy of the plotting code to drift. Charts that
appear only after live training (Start) are not included.

``--screenshots`` instead takes the README's screenshots (the home page, and a page in presenter mode) in a
real browser: see ``scripts/screenshots.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import vl_convert as vlc

from lrd_core.charts.export import EXPORT_WIDTH

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("png", "svg")


def page_specs(script: str, timeout: float = 300.0) -> list[dict]:
    """Vega-Lite specs of every chart ``script`` (path relative to the repo root) draws at its defaults."""
    from streamlit.testing.v1 import AppTest  # lazy: the CLI needs Streamlit's runner, the library does not

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if script != "app.py":
        at.switch_page(script)
    at.run()
    if at.exception:
        raise RuntimeError(f"{script} raised: {at.exception[0].value}")
    return chart_specs(at)


def chart_specs(at) -> list[dict]:
    """Vega-Lite specs of every chart an AppTest run drew, with their data sets inlined (ready for vl-convert)."""
    specs = []
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        for named in element.proto.datasets:  # the page sends its data frames as Arrow, by name
            frame = pa.ipc.open_stream(named.data.data).read_all().to_pandas()
            spec.setdefault("datasets", {})[named.name] = json.loads(frame.to_json(orient="records"))
        if spec.get("width") == "container":
            spec["width"] = EXPORT_WIDTH
        specs.append(spec)
    return specs


def write_figures(out: Path, scripts: list[str], fmt: str = "png") -> list[Path]:
    """Render every chart of every script into ``out``; returns the files written, in page order."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for script in scripts:
        stem = Path(script).stem
        for i, spec in enumerate(page_specs(script), start=1):
            path = out / f"{stem}-{i}.{fmt}"
            if fmt == "png":
                path.write_bytes(vlc.vegalite_to_png(spec, scale=2))
            else:
                path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
            written.append(path)
    return written


def all_pages() -> list[str]:
    """app.py and every numbered page script, in menu order."""
    return [
        "app.py",
        *sorted(
            (str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("[0-9]*_*.py")),
            key=lambda s: int(Path(s).name.split("_")[0]),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the figure files (created if missing)")
    parser.add_argument("--format", choices=FORMATS, default="png")
    parser.add_argument(
        "--pages", nargs="*", default=None, help="page numbers to export (default: all; 0 is the home page)"
    )
    parser.add_argument(
        "--screenshots",
        action="store_true",
        help="write the README's browser screenshots (home.png, presenter.png) instead of the charts",
    )
    args = parser.parse_args(argv)
    if args.screenshots:
        from scripts.screenshots import take_screenshots  # needs Playwright and Debian's chromium

        for f in take_screenshots(args.out):
            print(f)
        return 0
    scripts = all_pages()
    if args.pages is not None:
        wanted = set(args.pages)
        scripts = [s for s in scripts if (s == "app.py" and "0" in wanted) or Path(s).name.split("_")[0] in wanted]
    start = time.perf_counter()
    files = write_figures(args.out, scripts, args.format)
    for f in files:
        print(f)
    print(f"{len(files)} figures from {len(scripts)} pages in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
