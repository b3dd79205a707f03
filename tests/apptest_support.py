"""Helpers to drive every page under ``streamlit.testing.v1.AppTest``.

Pages are reached the way a visitor reaches them: open ``app.py`` and switch
page (``st.page_link`` only resolves pages relative to the entry point).
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lrd_ui.layout import PAGES

PAGE_FILES = [path for path, _, _ in PAGES]
TIMEOUT = 180
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(path: str, query: dict[str, str] | None = None, session: dict | None = None) -> AppTest:
    """An AppTest positioned on ``path`` (not yet run), with optional query params and session state."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for k, v in (session or {}).items():
        at.session_state[k] = v
    if path != "app.py":
        at.switch_page(path)
    return at


def _options(control) -> list[str]:
    """The options of a segmented control (AppTest's ButtonGroup exposes only its proto)."""
    return [o.content for o in control.proto.options]


def set_all(at: AppTest, end: str) -> list[str]:
    """Set every slider, select slider, selectbox, number input and toggle/checkbox to its ``end``
    ("min" or "max") extreme. Returns what was set, for failure messages. A segmented control (the run
    size) is set first, with a run of its own: switching size resets the widgets it governs."""
    first = end == "min"
    done = []
    if len(at.segmented_control):
        for c in at.segmented_control:
            c.set_value(_options(c)[0 if first else -1])
            done.append(f"{c.key}={c.value}")
        at.run()
    for s in at.slider:
        s.set_value(s.min if first else s.max)
        done.append(f"{s.key}={s.value}")
    for s in at.select_slider:
        s.set_value(s.options[0 if first else -1])
        done.append(f"{s.key}={s.options[0 if first else -1]}")
    for s in at.selectbox:
        s.select_index(0 if first else len(s.options) - 1)
        done.append(f"{s.key}={s.options[0 if first else -1]}")
    for n in at.number_input:
        if n.min is not None and n.max is not None:
            n.set_value(n.min if first else n.max)
            done.append(f"{n.key}={n.value}")
    for t in list(at.toggle) + list(at.checkbox):
        t.set_value(not first)
        done.append(f"{t.key}={not first}")
    return done


def set_random(at: AppTest, rng) -> list[str]:
    """Set every slider, select slider, selectbox and toggle to a random allowed value drawn from ``rng``
    (a numpy Generator); the seed and presenter switches are left alone. Returns what was set."""
    done = []
    for c in at.segmented_control:
        options = _options(c)
        c.set_value(options[int(rng.integers(0, len(options)))])
        done.append(f"{c.key}={c.value}")
    for s in at.slider:
        steps = round((s.max - s.min) / s.step)
        value = s.min + s.step * int(rng.integers(0, steps + 1))
        s.set_value(type(s.min)(round(value, 10)) if isinstance(s.min, float) else int(value))
        done.append(f"{s.key}={s.value}")
    for s in at.select_slider:
        choice = s.options[int(rng.integers(0, len(s.options)))]
        s.set_value(choice)
        done.append(f"{s.key}={choice}")
    for s in at.selectbox:
        if s.key and not s.key.startswith("_"):  # not the device switch
            index = int(rng.integers(0, len(s.options)))
            s.select_index(index)
            done.append(f"{s.key}={s.options[index]}")
    for t in at.toggle:
        if t.key and not t.key.startswith("_"):
            t.set_value(bool(rng.integers(0, 2)))
            done.append(f"{t.key}={t.value}")
    return done


def start_buttons(at: AppTest) -> list:
    """Every enabled live-training Start button on the page."""
    return [b for b in at.button if b.key and b.key.endswith("_start") and not b.proto.disabled]


def assert_clean(at: AppTest, context: str) -> None:
    """No exception and no st.error on the page."""
    assert not at.exception, f"{context}: exception {[e.message for e in at.exception]}"
    assert not at.error, f"{context}: st.error {[e.value for e in at.error]}"
