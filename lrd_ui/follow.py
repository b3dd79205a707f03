"""The follow link: a presenter lets the hall follow, and every follower's page mirrors the presenter's.

In presenter mode the sidebar offers *Let the hall follow*: it opens a stage on the server's
:class:`lrd_core.runtime.follow.FollowBoard` and shows a short link, ``<app>/?follow=<code>``. The presenter's
page publishes to the stage at the top of every run, from its live panels, and twice a second from a small timer
(a slider bound to the URL appears in the query string only after the run that moved it): the page, the values
of the page's URL-bound widgets, the seed and the run of each live panel. A follower's page checks the stage's
version every 1-3 s (more followers, longer: their checks share the server's CPU); when it changed, the
page reruns, switches to the presenter's page and sets its widgets to the presenter's values before they are
drawn, and its live panels show the presenter's runs (as passive viewers: no Start, no Stop, sliders greyed
out). A banner says whom the page follows and has a button to leave.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lrd_core.runtime.follow import CODE_ALPHABET, CODE_LENGTH, FollowBoard, Stage

FOLLOW_PARAM = "follow"  # ?follow=<code>
VISITOR_KEY = "_visitor_id"  # session: the visitor's id (see visitor_id)
FOLLOW_KEY = "_follow_code"  # session: the code this visitor follows
LEFT_KEY = "_follow_left"  # session: a code this visitor left (its link in the URL must not pull them back)
VERSION_KEY = "_follow_version"  # session: the stage version this follower's page shows
SHARE_KEY = "global_follow_share"  # presenter: sharing is on (a plain key: it survives page switches)
SHARE_WIDGET = "_follow_share_widget"  # presenter: the "Let the hall follow" switch
SHARE_CODE_KEY = "_follow_share_code"  # presenter: the code of their open stage
RUNS_KEY = "_follow_runs"  # presenter: live panel key -> (run id, stopped by them)
KNOWN_KEY = "_follow_known"  # presenter: page -> URL-bound widget keys seen on it
NOT_MIRRORED = {FOLLOW_PARAM, "presenter", "preset", "seed"}  # query parameters that are not widget values
MIN_POLL_S, MAX_POLL_S = 1.0, 3.0  # a follower checks the stage this often (one dictionary read per check)
POLL_SHARE = 0.05  # all followers' checks together may take this share of the server's CPU
POLL_COST_S = 0.006  # server CPU of one check (a fragment run that draws nothing), until measured here
PUBLISH_S = 0.5  # a sharing presenter's page publishes this often (one presenter: a few ms a second)
FOLLOWER_CSS = """
<style>
  .stMain [data-testid="stElementContainer"]:has(
    [data-testid="stSlider"], [data-testid="stSelectbox"], [data-testid="stButtonGroup"],
    [data-testid="stCheckbox"], [data-testid="stRadio"], [data-testid="stNumberInput"]
  ),
  [data-testid="stSidebar"] [data-testid="stElementContainer"]:has(
    [data-testid="stSlider"], [data-testid="stSelectbox"], [data-testid="stButtonGroup"],
    [data-testid="stCheckbox"], [data-testid="stRadio"], [data-testid="stNumberInput"]
  ) { pointer-events: none; opacity: 0.6; }
</style>
"""


@st.cache_resource
def follow_board() -> FollowBoard:
    """The server's one board of presenters' stages."""
    return FollowBoard()


def visitor_id() -> str:
    """Who this visitor is to the run engine and the follow board: their session id (kept in
    ``st.session_state[VISITOR_KEY]``, which tests set: AppTest gives every session the same id)."""
    ss = st.session_state
    if VISITOR_KEY not in ss:
        ctx = get_script_run_ctx()
        ss[VISITOR_KEY] = ctx.session_id if ctx is not None else "no-session"
    return ss[VISITOR_KEY]


def current_page() -> str | None:
    """The script path of the page being run, relative to the app's folder ("pages/2_Gating.py"), or None."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    info = ctx.pages_manager.get_pages().get(ctx.page_script_hash)
    if not info:
        return None
    path, root = Path(info["script_path"]), Path(ctx.main_script_path).parent
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def _valid(code: object) -> bool:
    return isinstance(code, str) and len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code)


def following() -> str | None:
    """The code this visitor follows, or None."""
    return st.session_state.get(FOLLOW_KEY)


def enter_from_url() -> None:
    """``?follow=<code>`` makes this visitor a follower (a malformed code is ignored, a code they left is not
    entered again while it stays in the URL)."""
    ss = st.session_state
    code = st.query_params.get(FOLLOW_PARAM)
    if _valid(code) and code != ss.get(FOLLOW_KEY) and code != ss.get(LEFT_KEY):
        ss[FOLLOW_KEY] = code
        ss.pop(VERSION_KEY, None)


def sync() -> None:
    """A follower's page takes the presenter's stage: their page (a switch), the seed and every widget value,
    set before the widgets are drawn. Call at the top of every page run, before any widget."""
    ss = st.session_state
    code = following()
    if code is None:
        return
    stage = follow_board().stage(code, visitor_id())
    if stage is None:  # closed: the banner says so; the page stays as it is
        ss[VERSION_KEY] = None
        return
    page = current_page()
    if page is not None and stage.page != page:
        st.switch_page(stage.page, query_params={FOLLOW_PARAM: code})
    for key, value in stage.values.items():
        if ss.get(key) != value:
            with contextlib.suppress(StreamlitAPIException):  # a key that is no settable widget here: skip it
                ss[key] = value
    _set_seed(stage.seed)
    ss[VERSION_KEY] = stage.version


def _set_seed(seed: int) -> None:
    from lrd_ui.layout import SEED_KEY  # layout imports presenter, which imports this module

    ss = st.session_state
    if ss.get(SEED_KEY) != seed or st.query_params.get("seed") != str(seed):
        ss[SEED_KEY] = ss["_seed_widget"] = ss["_linked_seed"] = seed
        st.query_params["seed"] = str(seed)


def presenter_run(key: str) -> tuple[int, bool] | None:
    """For a follower: (run id, stopped by the presenter) of the presenter's run in panel ``key``, or None."""
    code = following()
    stage = follow_board().stage(code) if code else None
    return None if stage is None else stage.runs.get(key)


def _leave() -> None:
    ss = st.session_state
    ss[LEFT_KEY] = ss.pop(FOLLOW_KEY, None)
    ss.pop(VERSION_KEY, None)
    if FOLLOW_PARAM in st.query_params:
        del st.query_params[FOLLOW_PARAM]


def banner() -> None:
    """A follower's banner (under the title): whom the page follows, a button to leave, and the check every
    :func:`poll_seconds` that reruns the page when the presenter's stage changed."""
    code = following()
    if code is None:
        return
    live = follow_board().stage(code) is not None
    text = (
        f"**Following the presenter** (`{code}`): this page shows their page, settings and runs, read-only."
        if live
        else f"The presenter of `{code}` has stopped sharing; this page stays as it was."
    )
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.info(text, icon=":material/cast:")
    right.button("Leave", key="_follow_leave", icon=":material/logout:", on_click=_leave, width="stretch")
    st.html(FOLLOWER_CSS)

    def poll() -> None:
        stage = follow_board().stage(code, visitor_id())
        if following() == code and (stage.version if stage else None) != st.session_state.get(VERSION_KEY):
            st.rerun()
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:  # on its own: the thread's CPU is this check's
            costs = poll_costs()
            costs["check"] = 0.7 * costs.get("check", POLL_COST_S) + 0.3 * time.thread_time()

    st.fragment(run_every=poll_seconds())(poll)()


@st.cache_resource
def poll_costs() -> dict[str, float]:
    """Process-wide running mean of a follower's check, in server CPU seconds."""
    return {}


def poll_seconds() -> float:
    """Seconds between a follower's checks: all followers together take at most POLL_SHARE of the CPU, within
    [MIN_POLL_S, MAX_POLL_S] (1 s for a small hall; 3 s past about 25 followers at 6 ms a check)."""
    cost = poll_costs().get("check", POLL_COST_S)
    return min(MAX_POLL_S, max(MIN_POLL_S, max(1, follow_board().followers()) * cost / POLL_SHARE))


def _simple(value: Any) -> bool:
    if isinstance(value, bool | int | float | str) or value is None:
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, bool | int | float | str) for v in value)


def _bound_keys() -> set[str]:
    """Keys of the widgets bound to the URL on this page as of the previous run. Streamlit keeps that registry
    internally (no public accessor); without it the values of widgets still at their defaults reach followers
    from the query string one publish later. Empty when the internals differ."""
    try:
        from streamlit.runtime.state.session_state_proxy import get_session_state

        return set(get_session_state()._state.query_params._bindings_by_param)
    except (ImportError, AttributeError):
        return set()


def _publish(code: str) -> Stage | None:
    """Publish this presenter's page, values, seed and runs to their stage (None when it has been closed)."""
    from lrd_ui.layout import SEED_KEY

    ss = st.session_state
    page = current_page() or ""
    known = ss.setdefault(KNOWN_KEY, {}).setdefault(page, set())
    known.update(k for k in (*st.query_params, *_bound_keys()) if k not in NOT_MIRRORED)
    values = {k: ss[k] for k in sorted(known) if k in ss and _simple(ss[k])}
    runs: Mapping[str, tuple[int, bool]] = ss.get(RUNS_KEY, {})
    try:
        return follow_board().publish(
            code, visitor_id(), page=page, values=values, seed=int(ss.get(SEED_KEY, 0)), runs=runs
        )
    except ValueError:  # the stage was dropped (server-side limit or age): the switch opens a new one
        ss.pop(SHARE_CODE_KEY, None)
        return None


def publish_run(key: str, run_id: int | None, stopped: bool) -> None:
    """A live panel of a sharing presenter reports the run it shows (no-op for everyone else)."""
    ss = st.session_state
    code = ss.get(SHARE_CODE_KEY)
    if code is None:
        return
    runs = ss.setdefault(RUNS_KEY, {})
    shown = None if run_id is None else (run_id, stopped)
    if runs.get(key) != shown:
        if shown is None:
            runs.pop(key, None)
        else:
            runs[key] = shown
        _publish(code)


def share_control(presenting: bool) -> None:
    """In the sidebar, in presenter mode: the *Let the hall follow* switch, the short link while it is on, and
    the timer that keeps the stage current. Leaving presenter mode ends the sharing."""
    ss = st.session_state
    board = follow_board()
    on = (
        presenting
        and following() is None
        and st.toggle(
            "Let the hall follow",
            bool(ss.get(SHARE_KEY, False)),  # a plain key carries it across page switches (a widget's state not)
            key=SHARE_WIDGET,
            help="A short link for the hall: whoever opens it sees this page, its settings and its runs as you change "
            "them, read-only, within a couple of seconds.",
        )
    )
    ss[SHARE_KEY] = on
    code = ss.get(SHARE_CODE_KEY)
    if not on:
        if code is not None:
            board.close(code, visitor_id())
            ss.pop(SHARE_CODE_KEY, None)
            ss.pop(RUNS_KEY, None)
        return
    if code is None or board.stage(code) is None:
        try:
            code = ss[SHARE_CODE_KEY] = board.open(visitor_id(), current_page() or "")
        except ValueError as err:
            st.error(str(err))
            return
    _publish(code)
    url = st.context.url or ""
    origin = url.split("/", 3)[:3]  # scheme, "", host
    st.code(f"{'/'.join(origin)}/?{FOLLOW_PARAM}={code}" if len(origin) == 3 else f"?{FOLLOW_PARAM}={code}")
    st.fragment(run_every=PUBLISH_S)(lambda: _publish(code))()
