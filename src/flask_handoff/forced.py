"""Stopping a task that ignores its timeout, in the thread backend, never inside the
extension's own database work.

Python stops a thread only by raising an exception in it (``PyThreadState_SetAsyncExc``),
at whatever bytecode the thread runs next. Raised inside a store call, it could cut a
pooled connection off mid-commit or hold a SQLite write turn; raised inside a garbage
collector's callback it is swallowed ("Exception ignored in ...") and the task goes on.
So the store's calls from a job's thread are *shielded*: a stop asked for meanwhile is
raised plainly when the call returns. And a stop that did not end the task is asked for
again one grace period later.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager


#: Raised inside a task's thread when it ignores its timeout past the grace period. A
#: ``BaseException`` so that a task's own ``except Exception`` cannot swallow it.
class ForcedTimeout(BaseException):
    pass


#: The stop armed in this thread: set while a task body runs in it.
_here = threading.local()


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """``None`` withdraws an exception raised but not yet delivered."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None
    )


class ForcedStop:
    """One running task's stop: armed by its thread, forced by the ticker."""

    __slots__ = ("_depth", "_lock", "_sent", "_thread_id", "_wanted")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_id: int | None = None
        #: How deep the thread is in shielded calls; a stop waits for 0.
        self._depth = 0
        #: A stop was asked for since the body started.
        self._wanted = False
        #: An exception was raised in the thread and may not be delivered yet.
        self._sent = False

    def arm(self) -> None:
        """The task body starts, in the calling thread."""
        with self._lock:
            self._thread_id = threading.get_ident()
            self._wanted = self._sent = False
        _here.stop = self

    def disarm(self) -> None:
        """The task body ended (in the calling thread): a stop still on its way is
        withdrawn, and none is raised from now on."""
        _here.stop = None
        with self._lock:
            if self._sent and self._thread_id is not None:
                _raise_in(self._thread_id, None)
            self._thread_id = None
            self._wanted = self._sent = False

    def force(self) -> None:
        """Stop the task: at once in its own code, or when its store call returns."""
        with self._lock:
            if self._thread_id is None:
                return
            self._wanted = True
            if self._depth == 0:
                _raise_in(self._thread_id, ForcedTimeout)
                self._sent = True

    @contextmanager
    def shield(self) -> Iterator[None]:
        with self._lock:
            if self._wanted:
                # Sent and not delivered yet: raised here, before any work starts.
                if self._sent and self._thread_id is not None:
                    _raise_in(self._thread_id, None)
                self._sent = False
                raise ForcedTimeout
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                stop_now = self._wanted and self._depth == 0
            if stop_now:
                raise ForcedTimeout


def shielded() -> AbstractContextManager[None]:
    """Around the extension's own database work: a forced stop of this thread's task
    waits until it is done. A thread with no task body running is never forced."""
    stop: ForcedStop | None = getattr(_here, "stop", None)
    return stop.shield() if stop is not None else nullcontext()
