"""One look at the job table per interval for every open event stream in the process.

An event stream that read its job itself would cost one query per stream per interval
and hold a database connection while it waits: a thousand open job pages would be
thousands of queries a second and an empty connection pool. Here one loop reads, in
one query per interval, what each followed job shows (state, progress, attempts, and
the same for the jobs it submitted, such as a mail sent after it) and wakes only the
streams whose job changed. A stream holds no connection while it waits, and does work
only when there is something new to send.

The loop is a thread, started with the first stream and ended after the last; under a
gevent worker (``gunicorn -k gevent``, where threads are greenlets) the same code lets
one process hold thousands of streams.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .store import JobStore

#: How long the loop lives on with nothing to follow, so pages opened one after
#: another do not start a thread each.
_IDLE_SECONDS = 5.0


class Following:
    """One stream's view of its job: ``wait`` returns when the job changed or at timeout."""

    def __init__(self, watch: JobWatch, job_id: str, version: int) -> None:
        self._watch = watch
        self.job_id = job_id
        self._seen = version

    def wait(self, timeout: float) -> bool:
        """Whether the job changed since following began or the last call returned; False
        at timeout, or when the process shuts down."""
        return self._watch._wait(self, timeout)


class JobWatch:
    """Followers of jobs in this process, and the one loop that reads the jobs for them."""

    def __init__(self, store: JobStore, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._changed = threading.Condition()
        #: job id -> [version, fingerprint, followers]
        self._jobs: dict[str, list[Any]] = {}
        self._loop: threading.Thread | None = None
        self._closed = False

    @property
    def following(self) -> int:
        """Open followers in this process."""
        with self._changed:
            return sum(entry[2] for entry in self._jobs.values())

    @contextmanager
    def follow(self, job_id: str) -> Iterator[Following]:
        with self._changed:
            entry = self._jobs.setdefault(job_id, [0, None, 0])
            entry[2] += 1
            if self._loop is None or not self._loop.is_alive():
                self._loop = threading.Thread(target=self._run, name="handoff-watch", daemon=True)
                self._loop.start()
        try:
            yield Following(self, job_id, entry[0])
        finally:
            with self._changed:
                entry[2] -= 1
                if entry[2] == 0:
                    del self._jobs[job_id]

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _wait(self, follower: Following, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                entry = self._jobs.get(follower.job_id)
                if entry is None or self._closed:
                    return False
                if entry[0] != follower._seen:
                    follower._seen = entry[0]
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    def _run(self) -> None:
        idle_since: float | None = None
        while True:
            with self._changed:
                if self._closed:
                    return
                ids = list(self._jobs)
                if ids:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > _IDLE_SECONDS:
                    self._loop = None
                    return
            if ids:
                self._look(ids)
            time.sleep(self._interval)

    def _look(self, ids: list[str]) -> None:
        try:
            seen = self._store.fingerprints(ids)
        except Exception:  # the database away for a moment: the streams wait, the loop lives
            return
        with self._changed:
            woke = False
            for job_id in ids:
                entry = self._jobs.get(job_id)
                if entry is None:
                    continue
                now = seen.get(job_id)
                if now != entry[1]:
                    entry[1] = now
                    entry[0] += 1
                    woke = True
            if woke:
                self._changed.notify_all()
