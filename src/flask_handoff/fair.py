"""The thread pool's waiting line: by priority, then fair across submitters.

First come, first served lets one user's forty uploads hold another's one small job until
all forty have run. Here each key (the job's identity, as stored) has its own line; a free
thread takes, among the jobs of the highest priority waiting, the oldest job of the key
with the fewest jobs running in this pool, and of keys equal in that, the one served
longest ago: round-robin across users, each user's own jobs in order. One user alone is
served as before. A job of a higher priority goes before every lower one, whoever's.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter, deque
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

T = TypeVar("T")

#: The key of a job whose submitter is not known to the caller.
UNKNOWN = ""


class FairQueue:
    """``cap``: at most this many jobs of one key running from this line at once; the
    key's next waits, and a thread takes another key's job meanwhile, or waits."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = cap
        self._changed = threading.Condition()
        #: Per key, a heap of (-priority, arrival, job id): its most urgent, then oldest.
        self._lines: dict[str, list[tuple[int, int, str]]] = {}
        self._arrivals = itertools.count()
        self._running: Counter[str] = Counter()
        self._last_served: dict[str, int] = {}
        self._turn = 0
        self._stops = 0

    def put(self, job_id: str, key: str | None, priority: int = 0) -> None:
        with self._changed:
            line = self._lines.setdefault(key or UNKNOWN, [])
            heapq.heappush(line, (-priority, next(self._arrivals), job_id))
            self._changed.notify()

    def stop_one(self) -> None:
        """Let one waiting thread's ``get`` return None (the pool is stopping)."""
        with self._changed:
            self._stops += 1
            self._changed.notify()

    def get(self) -> tuple[str, str] | None:
        """The next job id and its key, counted as running until ``done(key)``; blocks."""
        with self._changed:
            while not (ready := self._ready()) and not self._stops:
                self._changed.wait()
            if self._stops:
                self._stops -= 1
                return None
            urgent = min(self._lines[k][0][0] for k in ready)
            key = min(
                (k for k in ready if self._lines[k][0][0] == urgent),
                key=lambda k: (self._running[k], self._last_served.get(k, -1)),
            )
            line = self._lines[key]
            job_id = heapq.heappop(line)[2]
            if not line:
                del self._lines[key]
            self._turn += 1
            self._last_served[key] = self._turn
            self._running[key] += 1
            return job_id, key

    def empty(self) -> bool:
        """No job waits here (running ones aside)."""
        with self._changed:
            return not self._lines

    def _ready(self) -> list[str]:
        """The keys with a job waiting that may start one now."""
        if self.cap is None:
            return list(self._lines)
        return [k for k in self._lines if self._running[k] < self.cap]

    def done(self, key: str) -> None:
        with self._changed:
            if self.cap is not None and key in self._lines:
                self._changed.notify()  # that key's next may start now
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]
                if key not in self._lines:  # nothing of theirs here: forget them
                    self._last_served.pop(key, None)


def release_order(
    waiting: Iterable[tuple[str, T]], in_flight: Mapping[str, int], cap: int
) -> list[T]:
    """What to hand the broker now, and in which order, from ``waiting`` (key and item,
    the most urgent first): round-robin across keys, each key's items in order, none past
    ``cap`` in flight per key. The Celery publisher's fair share: the job row is the
    outbox, so what is not released yet waits there, and a key's next job is released as
    one of its own ends."""
    lines: dict[str, deque[T]] = {}
    for key, item in waiting:
        lines.setdefault(key or UNKNOWN, deque()).append(item)
    taken = Counter({key: in_flight.get(key, 0) for key in lines})
    released: list[T] = []
    while True:
        before = len(released)
        for key, line in lines.items():
            if line and taken[key] < cap:
                released.append(line.popleft())
                taken[key] += 1
        if len(released) == before:
            return released
