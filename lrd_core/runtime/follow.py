"""Follow links: what a presenter shows (page, widget values, seed, the run of each live panel), kept in the
server's process so that followers' pages can mirror it.

A presenter opens a *stage* under a short code and publishes to it whenever their page or values change; a
follower reads the stage by its code and makes its own page match. One process, no database: stages live as long
as the server (at most ``max_stages``; one not published for ``ttl_s`` seconds is dropped). Pure Python.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lrd_core.validate import check_float, check_int

CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: a code read off a projector is typed right
CODE_LENGTH = 5  # 31^5 = 29 million codes
MAX_STAGES = 200  # presenters sharing at once on one server
STAGE_TTL_S = 4 * 3600.0  # a stage nobody has published to for this long is dropped
FOLLOWER_TTL_S = 10.0  # a follower who has not checked a stage for this long no longer counts


@dataclass(frozen=True)
class Stage:
    """What one presenter shows now; ``version`` grows whenever anything else in it changes."""

    code: str
    page: str  # the page's script path relative to the app, e.g. "pages/2_Gating.py"
    values: Mapping[str, Any] = field(default_factory=dict)  # widget key -> value, as the presenter has them
    seed: int = 0
    runs: Mapping[str, tuple[int, bool]] = field(default_factory=dict)  # panel key -> (run id, stopped by them)
    version: int = 0
    updated: float = 0.0  # time.monotonic() of the last publish


def _code(presenter: str, attempt: int) -> str:
    """A short code derived from the presenter's session id (unique per session) and an attempt number."""
    n = int.from_bytes(hashlib.blake2b(f"{presenter}/{attempt}".encode(), digest_size=8).digest(), "big")
    digits = []
    for _ in range(CODE_LENGTH):
        n, d = divmod(n, len(CODE_ALPHABET))
        digits.append(CODE_ALPHABET[d])
    return "".join(digits)


class FollowBoard:
    """Stages by code; thread-safe (every visitor's script thread reads and writes it)."""

    def __init__(self, max_stages: int = MAX_STAGES, ttl_s: float = STAGE_TTL_S):
        self.max_stages = check_int("max_stages", max_stages, 1, 100_000)
        self.ttl_s = check_float("ttl_s", ttl_s, 0.0, 1e7, lo_open=True)
        self._lock = threading.Lock()
        self._stages: dict[str, Stage] = {}
        self._owners: dict[str, str] = {}  # code -> presenter
        self._seen: dict[str, float] = {}  # follower -> time.monotonic() of their last check

    def open(self, presenter: str, page: str) -> str:
        """The presenter's code (the same one while their stage lives), starting a stage on ``page``."""
        with self._lock:
            self._drop_stale_locked()
            for code, owner in self._owners.items():
                if owner == presenter:
                    return code
            if len(self._stages) >= self.max_stages:
                raise ValueError(f"max_stages: {self.max_stages} presenters are sharing already; try again later")
            code = next(c for c in (_code(presenter, i) for i in range(1000)) if c not in self._stages)
            self._stages[code] = Stage(code, page, updated=time.monotonic())
            self._owners[code] = presenter
            return code

    def publish(
        self,
        code: str,
        presenter: str,
        *,
        page: str,
        values: Mapping[str, Any],
        seed: int,
        runs: Mapping[str, tuple[int, bool]],
    ) -> Stage:
        """Set the stage of ``code`` (which ``presenter`` must own: ValueError otherwise); the version grows
        only when something changed, so followers rerun only then."""
        with self._lock:
            if self._owners.get(code) != presenter:
                raise ValueError(f"code: {code!r} is not a stage of this presenter")
            old = self._stages[code]
            new = Stage(code, page, dict(values), int(seed), dict(runs), old.version, time.monotonic())
            if (new.page, new.values, new.seed, new.runs) != (old.page, old.values, old.seed, old.runs):
                new = Stage(code, page, new.values, new.seed, new.runs, old.version + 1, new.updated)
            self._stages[code] = new
            return new

    def stage(self, code: str, follower: str | None = None) -> Stage | None:
        """The stage of ``code``, or None (unknown, closed or dropped); ``follower`` counts as following now."""
        with self._lock:
            if follower is not None:
                self._seen[follower] = time.monotonic()
            return self._stages.get(code)

    def followers(self) -> int:
        """Followers who checked a stage within the last FOLLOWER_TTL_S seconds (of every presenter: they all
        share the server's CPU)."""
        now = time.monotonic()
        with self._lock:
            for follower, seen in list(self._seen.items()):
                if now - seen > FOLLOWER_TTL_S:
                    del self._seen[follower]
            return len(self._seen)

    def close(self, code: str, presenter: str) -> None:
        """End the presenter's stage: its followers are told the presenter stopped sharing."""
        with self._lock:
            if self._owners.get(code) == presenter:
                del self._stages[code], self._owners[code]

    def _drop_stale_locked(self) -> None:
        now = time.monotonic()
        for code, stage in list(self._stages.items()):
            if now - stage.updated > self.ttl_s:
                del self._stages[code], self._owners[code]
