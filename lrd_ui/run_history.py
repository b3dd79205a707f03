"""A visitor's earlier runs of one live panel, kept to compare with the current run (issue 36, item 1).

When a visitor presses Start again, the run they were looking at (if it had ended) is kept in their session
(``st.session_state``, per visitor: nothing a worker runs touches it), compacted to the columns the charts
overlay, with its Demo's key and settings and its verdict. At most :data:`MAX_EARLIER` runs are kept per panel,
each at most :data:`MAX_ROWS_PER_SERIES` rows per series and :data:`MAX_BYTES` bytes (``memory_usage(deep=True)``);
a run with the current run's key is never shown twice. The live panel overlays them on its charts
(:func:`lrd_core.charts.earlier_runs`), labelled by what differed from the current run's settings
(:func:`setting_changes`), and lists them with their verdicts (:func:`runs_table`).

The idea of keeping a "visual history" of runs on one chart is TensorFlow Playground's most requested feature
(tensorflow/playground issue 38).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from lrd_core.charts import CURRENT_RUN
from lrd_core.demo import Key, Verdict
from lrd_core.history import HISTORY_COLUMNS

MAX_EARLIER = 3  # earlier runs kept per panel: with the current one, four runs on a chart at most
MAX_ROWS_PER_SERIES = 400  # steps of a series kept (evenly spread, the last one always): a faded line needs no more
MAX_BYTES = 128 * 1024  # per kept run, deep memory of its frame: rows are thinned further until it fits
MOST_CHANGES = 3  # settings named in a label ("+2 more" for the rest)
_DROPPED = set(HISTORY_COLUMNS) - {"series", "step", "loss"} | {"status", "message"}  # never charted across runs


@dataclass(frozen=True)
class KeptRun:
    """One earlier run of a panel: its Demo's key and settings in words, its verdict, why it ended and its
    compacted history (columns series, step, loss and each metric)."""

    run_id: int
    key: Key
    settings: str
    verdict: Verdict | None
    status: str  # "done", "stopped", ... (the engine's), or "stopped" when this visitor left it
    steps: int  # the last step drawn
    history: pd.DataFrame


def compact(history: pd.DataFrame, max_rows: int = MAX_ROWS_PER_SERIES, max_bytes: int = MAX_BYTES) -> pd.DataFrame:
    """What an overlay needs of a run's history (rows, one per (series, step)): series (categorical), step
    (int32), loss and each metric column (float32); at most ``max_rows`` rows per series (evenly spread over
    its steps, its last row kept), halved until the frame's deep memory is at most ``max_bytes``."""
    if max_rows < 2 or max_bytes < 1:
        raise ValueError(f"max_rows must be >= 2 and max_bytes >= 1, got {max_rows} and {max_bytes}")
    numeric = [
        c for c in history.columns if c not in _DROPPED and c != "series" and pd.api.types.is_numeric_dtype(history[c])
    ]
    out = history[["series", *numeric]].copy()
    out = out.astype({"series": "category", "step": "int32", **{c: "float32" for c in numeric if c != "step"}})
    out = out.reset_index(drop=True)
    while True:
        out = _thin(out, max_rows)
        if out.memory_usage(deep=True).sum() <= max_bytes or max_rows <= 2:
            return out
        max_rows //= 2


def _thin(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of each series, evenly spaced by position, first and last kept."""
    keep = []
    for _, rows in frame.groupby("series", observed=True, sort=False):
        idx = rows.index.to_numpy()
        if len(idx) > max_rows:
            idx = idx[np.unique(np.linspace(0, len(idx) - 1, max_rows).round().astype(int))]
        keep.append(idx)
    return frame.loc[np.sort(np.concatenate(keep))].reset_index(drop=True) if keep else frame


def _words(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_words(v) for v in value) + ")"
    return "none" if value is None else str(value)


def setting_changes(earlier: Key, current: Key, most: int = MOST_CHANGES) -> str:
    """What an earlier run had that the current one has not, "from → to": "race bias 1 → 3, steps 300 → 100"
    (settings by name, underscores as spaces, then the seed, the device and the topic's code version);
    at most ``most`` named, "+n more" for the rest; "same settings" when the keys agree.

    Keys are :func:`lrd_core.demo.demo_key`'s ``(topic, version, sorted settings, seed, device)``."""
    old, new = dict(earlier[2]), dict(current[2])
    changes = [
        f"{name.replace('_', ' ')} {_words(old.get(name))} → {_words(new.get(name))}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    for i, name in ((3, "seed"), (4, "device"), (1, "version"), (0, "topic")):
        if earlier[i] != current[i]:
            changes.append(f"{name} {_words(earlier[i])} → {_words(current[i])}")
    if not changes:
        return "same settings"
    more = f" (+{len(changes) - most} more)" if len(changes) > most else ""
    return ", ".join(changes[:most]) + more


def labels(kept: Sequence[KeptRun], current: Key) -> list[str]:
    """One label per kept run (newest first) against the current run's key, made unique ("…, #2")."""
    out: list[str] = []
    for run in kept:
        label = setting_changes(run.key, current)
        n = 2
        while label in out:
            label, n = f"{setting_changes(run.key, current)} #{n}", n + 1
        out.append(label)
    return out


def shown(kept: Sequence[KeptRun], current: Key) -> list[KeptRun]:
    """The kept runs worth overlaying on a run with key ``current``: every one with another key."""
    return [run for run in kept if run.key != current]


def overlay_frame(kept: Sequence[KeptRun], current: Key) -> pd.DataFrame:
    """The rows :func:`lrd_core.charts.earlier_runs` overlays: each shown run's history with a column ``run``
    (its label), newest run first; empty when none is shown."""
    runs = shown(kept, current)
    frames = [r.history.assign(run=label) for r, label in zip(runs, labels(runs, current), strict=True)]
    if not frames:
        return pd.DataFrame({"run": [], "series": [], "step": [], "loss": []})
    return pd.concat([f.astype({"series": str}) for f in frames], ignore_index=True)


def runs_table(kept: Sequence[KeptRun], current: Key, current_verdict: Verdict | None, current_steps: int):
    """One row per run, the current one first: run (its label), steps, contrast ("yes"/"no"/"not yet"),
    verdict (the sentence)."""
    runs = shown(kept, current)

    def row(label: str, steps: int, verdict: Verdict | None) -> dict:
        contrast = "not yet" if verdict is None else ("yes" if verdict.expected else "no")
        return {"run": label, "steps": steps, "contrast shown": contrast, "verdict": verdict.text if verdict else ""}

    rows = [row(CURRENT_RUN, current_steps, current_verdict)]
    rows += [row(label, r.steps, r.verdict) for r, label in zip(runs, labels(runs, current), strict=True)]
    return pd.DataFrame(rows)


# --- per visitor and panel, in st.session_state ------------------------------------------------------------


def _state_key(panel: str) -> str:
    return panel + "_earlier"


def kept_runs(panel: str) -> list[KeptRun]:
    """This visitor's kept runs of ``panel``, newest first."""
    return list(st.session_state.get(_state_key(panel), ()))


def keep(panel: str, run: KeptRun) -> None:
    """Keep ``run`` first; an older run with the same key goes, and the oldest beyond :data:`MAX_EARLIER`."""
    rest = [r for r in kept_runs(panel) if r.key != run.key]
    st.session_state[_state_key(panel)] = [run, *rest][:MAX_EARLIER]


def clear(panel: str) -> None:
    """Forget this visitor's earlier runs of ``panel``."""
    st.session_state.pop(_state_key(panel), None)


def kept_bytes(panel: str) -> int:
    """Deep memory of the kept runs' frames of ``panel`` (bytes)."""
    return int(sum(r.history.memory_usage(deep=True).sum() for r in kept_runs(panel)))
