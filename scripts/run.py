"""Run a shared link's live demo headless: the same ``demo(values, seed, device)`` the page's Start button calls.

    python -m scripts.run "/Gating?seed=0&train_T=60" [--out DIR] [--size Lecture|Full+size] [--race NAME]

The link is what "Share this view" gives (a page path and its query string; a full URL with a host is
accepted). The page's run size (``size=`` in the link, or ``--size``) gives the starting values, the link's
parameters that are settings of the run replace them, and its ``seed`` seeds it. A page with two live runs
runs its first; ``--race`` names the other (e.g. ``--race clipping`` on the vanishing page). It prints a
progress bar, the verdict and the numbers it quotes; with ``--out`` it writes the history as CSV and the
run's loss (and accuracy) curves as PNG. Same link, same machine: the same numbers as the browser.

A link with no live run, an unknown page, or a bad parameter gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from lrd_core.demo import FULL, LECTURE, SIZE_NAMES, Demo
from lrd_core.history import event_row, history_frame, lockstep_round
from lrd_core.lecture import demo_builder, topic_defaults, topic_sizes
from lrd_core.limits import MAX_SEED

PAGE_TOPICS = {  # URL path of a page (as Streamlit serves it) -> its registered runs, the first being the default
    "Vanishing_gradients": ("vanishing", "vanishing:clipping"),
    "Gating": ("gating",),
    "Convolutions": ("convolutions",),
    "Attention": ("attention",),
    "Long_context": ("long_context",),
    "State_space_models": ("state_space",),
    "Selective_state_spaces": ("selective", "selective:fixed"),
    "LayerNorm_placement": ("layernorm",),
    "Real_data": ("real_data", "real_data:lstm"),
    "Associative_recall": ("recall",),
}
GLOBAL_PARAMS = {"seed", "size", "preset", "present", "controls"}  # page-wide parameters, not run settings


class LinkError(ValueError):
    """The link names no live run, or one of its parameters is not valid for it."""


def _parse_value(name: str, raw: str, default: object) -> object:
    """``raw`` (a query-string value) as the type of the setting's default value."""
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
            return value
    except ValueError:
        raise LinkError(f"parameter {name}={raw!r} is not a {type(default).__name__}") from None
    return raw


def resolve_link(link: str, *, size: str | None = None, race: str | None = None) -> tuple[str, dict, int, list[str]]:
    """(topic, values, seed, ignored parameters) of a shared link. Raises LinkError."""
    parts = urlsplit(link.strip())
    path = unquote_plus(parts.path).strip("/").split("/")[-1]
    if path not in PAGE_TOPICS:
        live = ", ".join(f"/{p}" for p in PAGE_TOPICS)
        raise LinkError(f"the page {('/' + path)!r} has no live run (pages with one: {live})")
    topics = PAGE_TOPICS[path]
    if race is None:
        topic = topics[0]
    else:
        matches = [t for t in topics if t.partition(":")[2] == race or (race == t and ":" not in t)]
        if not matches:
            names = [t.partition(":")[2] or t for t in topics]
            raise LinkError(f"--race must be one of {names} on /{path}, got {race!r}")
        topic = matches[0]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    chosen = size or query.get("size") or LECTURE
    if chosen not in SIZE_NAMES:
        raise LinkError(f"size must be one of {list(SIZE_NAMES)}, got {chosen!r}")
    sizes, defaults = topic_sizes(topic), topic_defaults(topic)
    values = {**defaults, **(sizes[chosen] if sizes else {})}
    ignored = []
    for name, raw in query.items():
        if name in defaults:
            values[name] = _parse_value(name, raw, defaults[name])
        elif name not in GLOBAL_PARAMS:
            ignored.append(name)
    try:
        seed = int(query.get("seed", "0"))
    except ValueError:
        raise LinkError(f"parameter seed={query['seed']!r} is not an integer") from None
    if not 0 <= seed <= MAX_SEED:
        raise LinkError(f"seed must be in 0..{MAX_SEED}, got {seed}")
    return topic, values, seed, ignored


def run(demo: Demo, *, progress: bool = True) -> tuple[object, object]:
    """Run ``demo`` to its end in lockstep (as the engine does), drawing a progress bar on stderr. Returns
    (history, verdict)."""
    iterators = {name: make() for name, make in demo.factories.items()}
    rows: list[dict] = []
    t0, last_draw = time.perf_counter(), 0.0
    while iterators:
        lockstep_round(iterators, lambda name, event: rows.append({"series": name, **event_row(event)}))
        now = time.perf_counter()
        if progress and (now - last_draw > 0.2 or not iterators):
            step = max((r["step"] for r in rows), default=0)
            done = min(step / demo.total_steps, 1.0)
            bar = "#" * int(30 * done)
            print(f"\r[{bar:<30}] step {step}/{demo.total_steps}, {now - t0:.1f} s", end="", file=sys.stderr)
            last_draw = now
    if progress:
        print(file=sys.stderr)
    history = history_frame(rows)
    return history, demo.verdict(history, True)


def write_outputs(out: Path, stem: str, history, demo: Demo) -> list[Path]:
    """The history as CSV and the run's loss (and accuracy, if evaluated) curves as PNG, under ``out``."""
    from lrd_core import charts
    from lrd_core.charts import export

    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{stem}-history.csv"]
    history.to_csv(written[0], index=False)
    info: Mapping = demo.info
    loss = charts.loss_chart(
        history, baseline=info.get("baseline"), solved=info.get("solved"), y_title=info.get("y_title", "loss")
    )
    made = [("loss", loss)]
    if "accuracy" in history and history["accuracy"].notna().any():
        made.append(("accuracy", charts.accuracy_chart(history, info.get("chance", charts.CHANCE))))
    for name, chart in made:
        path = out / f"{stem}-{name}.png"
        path.write_bytes(export.chart_png(charts.style(chart)))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("link", help='a shared link, e.g. "/Gating?seed=0" or "http://host:8501/Gating?seed=0"')
    parser.add_argument("--out", type=Path, help="write the history CSV and the charts' PNG files here")
    parser.add_argument("--size", help=f"run size: {LECTURE!r} or {FULL!r} (default: the link's, else Lecture)")
    parser.add_argument("--race", help="the page's other live run (e.g. clipping, fixed, lstm)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    size = args.size.replace("+", " ") if args.size else None
    try:
        topic, values, seed, ignored = resolve_link(args.link, size=size, race=args.race)
        demo = demo_builder(topic)(values, seed, args.device)
    except ValueError as err:  # LinkError, or the demo's own check of a value's range
        print(f"scripts.run: {err}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)  # as the app's server does (lrd_ui.layout): the same reductions, the same numbers
    if ignored:
        print(f"not settings of this run, ignored: {', '.join(sorted(ignored))}", file=sys.stderr)
    print(f"{topic}: {demo.settings}")
    history, verdict = run(demo, progress=not args.quiet)
    ends = history.sort_values("step").groupby("series", sort=False).tail(1)
    for row in ends.itertuples():
        print(f"  {row.series}: step {row.step}, loss {row.loss:.4g}")
    print(f"verdict ({'as expected' if verdict and verdict.expected else 'not the expected contrast'}): ", end="")
    print(verdict.text if verdict else "none")
    if args.out:
        for path in write_outputs(args.out, topic.replace(":", "-"), history, demo):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
