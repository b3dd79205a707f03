"""What a visitor sees when a page fails unexpectedly: one plain sentence, never a traceback or a file path.

The server log keeps the whole traceback: Streamlit logs an uncaught exception before it decides what the
browser shows. Two layers, because a host may set client options itself (Streamlit Community Cloud passes its
own ``showErrorDetails``, and its legacy ``False`` means "show the stack trace"):

- ``client.showErrorDetails`` is set to ``"none"`` from the script on every run, so a host's flag or config
  cannot turn tracebacks back on (the option is process-wide; ``.streamlit/config.toml`` says the same);
- the script run's error handler is replaced by :func:`show_plain_sentence`, which draws :data:`VISITOR_MESSAGE`
  in place of Streamlit's exception box. It is the handler ``st.App(on_script_error=...)`` takes; ``streamlit
  run`` has no public way to pass one, so it is set on the run's context, which lasts one script run (a
  fragment's own rerun, such as a live panel's redraw, falls back to the redacted message of the first layer).

Neither applies without a visitor (Streamlit's AppTest, ``scripts.run``): there the real exception stays
visible, so a test that checks ``at.exception`` still sees a page fail.

A test-only switch: the environment variable :data:`FORCE_FAILURE_ENV`, read once when the server imports this
module, names a page title whose script then raises after its set-up (tests/test_errors.py). Nothing a visitor
sends (URL, widgets) can set it.
"""

from __future__ import annotations

import os

import streamlit as st

# One sentence, in the visitor's terms; what failed and where is in the server's log.
VISITOR_MESSAGE = (
    "Something went wrong on this page and it stopped here; reload the page to try again "
    "(the details are in the server's log)."
)
ERROR_DETAIL = "none"  # client.showErrorDetails for visitors: no message, no type, no stack trace
FORCE_FAILURE_ENV = "LRD_TEST_FAIL_PAGE"
FORCED_FAILURE_PAGE = os.environ.get(FORCE_FAILURE_ENV) or None  # read at server start only


class ForcedPageFailure(RuntimeError):
    """Raised by :func:`fail_if_forced` for the page :data:`FORCE_FAILURE_ENV` names (tests only)."""


def show_plain_sentence(exc: Exception) -> bool:
    """Script error handler: draw :data:`VISITOR_MESSAGE` where the page stopped; True hides Streamlit's box.

    ``exc`` is unused here: Streamlit has already logged it with its traceback before calling the handler.
    """
    st.error(VISITOR_MESSAGE, icon=":material/error:")
    return True


def guard_page() -> None:
    """Call at the start of every script run (``lrd_ui.layout.setup_page`` does): visitor-facing errors only."""
    if st.context.url is None:  # no visitor: AppTest or a headless run, where the real exception must show
        return
    if st.get_option("client.showErrorDetails") != ERROR_DETAIL:
        st.set_option("client.showErrorDetails", ERROR_DETAIL)
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and hasattr(ctx, "on_script_error"):  # in Streamlit 1.67; without it layer one holds
        ctx.on_script_error = show_plain_sentence


def fail_if_forced(title: str) -> None:
    """Raise :class:`ForcedPageFailure` if the server was started with ``LRD_TEST_FAIL_PAGE=<title>``."""
    if FORCED_FAILURE_PAGE is not None and title == FORCED_FAILURE_PAGE:
        raise ForcedPageFailure(f"forced failure of the page {title!r} ({FORCE_FAILURE_ENV} is set)")
