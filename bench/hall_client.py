"""A Streamlit visitor without a browser: the WebSocket protocol the frontend speaks, for benches of many visitors.

Streamlit's frontend talks to the server over one WebSocket (``/_stcore/stream``, subprotocol ``streamlit``)
with protobuf messages the ``streamlit`` package ships: the client sends ``BackMsg`` (``rerun_script`` with a
``ClientState``: page, query string, widget states, fragment id), the server streams ``ForwardMsg`` (``delta``:
one element or block at a path, ``auto_rerun``: a fragment timer, ``script_finished``, ``navigation``...).
:class:`Visitor` opens a page, keeps the latest element at every path, presses a button by sending a
``rerun_script`` whose widget state has ``trigger_value`` set, and emulates the browser's fragment timers
(``auto_rerun``: the server only says which fragment and how often; the client sends those reruns itself).
It does not render anything: its CPU cost is protobuf decoding, so fifty of them fit on one core.

Not an entry point; ``bench/bench_hall.py`` drives it. Loopback servers only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

MAX_MESSAGE_BYTES = 64 * 2**20  # a chart's spec with its data can be several MB


@dataclass
class Visitor:
    """One simulated visitor of ``base`` ("http://127.0.0.1:8501"), named ``name`` in reports."""

    base: str
    name: str = "visitor"
    elements: dict[tuple[int, ...], object] = field(default_factory=dict)  # delta path -> Element proto
    pages: dict[str, str] = field(default_factory=dict)  # url pathname ("" for home) -> page script hash
    page_hash: str = ""
    query: str = ""
    finished: int = 0  # script runs (full or fragment) finished
    timers: dict[str, asyncio.Task] = field(default_factory=dict)  # fragment id -> its auto-rerun task
    seen: list[tuple[float, str]] = field(default_factory=list)  # (time, text) of every text element received
    bytes_in: int = 0
    _ws: object = None
    _reader: asyncio.Task | None = None
    _navigated: asyncio.Event = field(default_factory=asyncio.Event)
    _run_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> None:
        parts = urlsplit(self.base)
        self._ws = await websockets.connect(
            f"ws://{parts.netloc}/_stcore/stream",
            subprotocols=["streamlit"],
            origin=f"{parts.scheme}://{parts.netloc}",  # same origin, as a browser on the page would send
            max_size=MAX_MESSAGE_BYTES,
            ping_interval=None,
        )
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    # --- what a person does ------------------------------------------------------------------------------

    async def open(self, page: str = "", query: str = "", timeout: float = 120.0) -> float:
        """Open ``page`` (its URL path without the slash: "Gating"; "" for home) with ``query`` ("a=1&b=2") and
        wait for its script run to finish; the seconds it took."""
        t0 = time.monotonic()
        self.query = query
        self._clear_timers()
        self.elements.clear()
        self._run_done.clear()
        await self._send_rerun(page_name=page, page_hash=self.pages.get(page, ""))
        await asyncio.wait_for(self._run_done.wait(), timeout)
        return time.monotonic() - t0

    async def click(self, label: str, key_suffix: str | None = None) -> bool:
        """Press the first enabled button labelled ``label`` (whose id contains ``key_suffix`` if given); False
        when there is none. Does not wait for the run it starts."""
        button = self.button(label, key_suffix)
        if button is None:
            return False
        await self._send_rerun(trigger=button.id, fragment_id=self._fragment_of(button.id))
        return True

    def button(self, label: str, key_suffix: str | None = None):
        for element in self.elements.values():
            if element.WhichOneof("type") != "button":
                continue
            b = element.button
            if b.label == label and not b.disabled and (key_suffix is None or key_suffix in b.id):
                return b
        return None

    def texts(self) -> list[str]:
        """The text of every markdown, alert, caption and progress element now on the page."""
        return [t for e in self.elements.values() if (t := _text(e))]

    def first_seen(self, prefix: str, since: float = 0.0) -> float | None:
        """When a text starting with ``prefix`` was first received after ``since`` (time.monotonic()), or None."""
        return next((t for t, text in self.seen if t >= since and text.startswith(prefix)), None)

    def has_chart(self) -> bool:
        return any(e.WhichOneof("type") == "vega_lite_chart" for e in self.elements.values())

    # --- the protocol ----------------------------------------------------------------------------------

    def _fragment_of(self, widget_id: str) -> str:
        """The fragment a button was drawn in (a click reruns only that fragment, as in the browser)."""
        return self._fragments.get(widget_id, "")

    @property
    def _fragments(self) -> dict[str, str]:
        return self.__dict__.setdefault("_fragment_by_widget", {})

    async def _send_rerun(
        self,
        *,
        page_name: str = "",
        page_hash: str | None = None,
        trigger: str | None = None,
        fragment_id: str = "",
        auto: bool = False,
    ) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash if page_hash is None else page_hash
        state.page_name = page_name
        state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        state.context_info.url = f"{self.base}/{page_name}" + (f"?{self.query}" if self.query else "")
        if trigger is not None:
            widget = state.widget_states.widgets.add()
            widget.id = trigger
            widget.trigger_value = True
        await self._ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        async for raw in self._ws:
            self.bytes_in += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            self._handle(msg)

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash
            self._navigated.set()
        elif kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash or self.page_hash
            if not msg.metadata.run.fragment_ids:  # a full run: the browser drops every fragment timer
                self._clear_timers()
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta":
            path = tuple(msg.metadata.delta_path)
            delta = msg.delta
            if delta.WhichOneof("type") == "new_element":
                element = delta.new_element
                self.elements[path] = element
                if delta.fragment_id and element.WhichOneof("type") == "button":
                    self._fragments[element.button.id] = delta.fragment_id
                if text := _text(element):
                    self.seen.append((time.monotonic(), text))
        elif kind == "auto_rerun":
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid in self.timers:
                self.timers[fid].cancel()
            self.timers[fid] = asyncio.create_task(self._tick(fid, interval))
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                if task := self.timers.pop(fid, None):
                    task.cancel()
        elif kind == "script_finished":
            self.finished += 1
            self._run_done.set()

    async def _tick(self, fragment_id: str, interval: float) -> None:
        with contextlib.suppress(Exception):  # the connection closed: the timer ends with it
            while True:
                await asyncio.sleep(interval)
                await self._send_rerun(fragment_id=fragment_id, auto=True)

    def _clear_timers(self) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()


def _text(element) -> str:
    kind = element.WhichOneof("type")
    if kind == "markdown":
        return element.markdown.body
    if kind == "alert":
        return element.alert.body
    if kind == "progress":
        return element.progress.text
    return ""
