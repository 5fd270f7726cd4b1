"""Seats for open job pages: how many event streams one process holds, per member and in all.

Under the threaded server every stream holds a thread for as long as the page is open, so
streams may take at most a share of the threads and uploads and lists keep the rest. The
events process (``gunicorn -k gevent``, behind the proxy in ``scripts/serve``) holds a
stream in a greenlet and allows thousands. A page refused a seat follows its job by
asking for it every few seconds instead (``static/job.js``); nothing is lost but latency.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from flask import Flask


class NoSeat(Exception):
    """Answered 429 (this member's pages) or 503 (the server's), with Retry-After."""

    def __init__(self, status: int, error: str, retry_after: int, per_member: int) -> None:
        super().__init__(error)
        self.status, self.error, self.retry_after = status, error, retry_after
        self.per_member = per_member


class Seat:
    """One stream's place, given back once when its response closes, however it ends."""

    def __init__(self, seats: StreamSeats, member_id: int) -> None:
        self._seats, self._member_id = seats, member_id
        self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._seats._give_back(self._member_id)


class StreamSeats:
    def __init__(self, per_member: int, total: int) -> None:
        self.per_member, self.total = per_member, total
        self._lock = threading.Lock()
        self._held: Counter[int] = Counter()

    def take(self, member_id: int) -> Seat:
        with self._lock:
            if self._held[member_id] >= self.per_member:
                raise NoSeat(429, "too_many_streams", 30, self.per_member)
            if sum(self._held.values()) >= self.total:
                raise NoSeat(503, "streams_busy", 10, self.per_member)
            self._held[member_id] += 1
        return Seat(self, member_id)

    def _give_back(self, member_id: int) -> None:
        with self._lock:
            self._held[member_id] -= 1
            if self._held[member_id] <= 0:
                del self._held[member_id]


def init_app(app: Flask) -> None:
    app.extensions["phonetool_streams"] = StreamSeats(
        app.config["PHONETOOL_STREAMS_PER_MEMBER"], app.config["PHONETOOL_STREAMS_MAX"]
    )


def seats() -> StreamSeats:
    seats: StreamSeats = current_app.extensions["phonetool_streams"]
    return seats
