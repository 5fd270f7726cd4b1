"""``current_job`` and ``identity()``: what a task knows about itself and who it acts for.

``current_job`` is a ``LocalProxy`` over a ``ContextVar``, exactly like ``flask.request``, so
each worker thread (and each eager run) sees only its own job.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, has_app_context, has_request_context
from werkzeug.local import LocalProxy

from . import outage
from .errors import JobCancelled, JobTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from .snapshot import ActorKind, Snapshot

log = logging.getLogger("flask_handoff")
T = TypeVar("T")

#: The identity ``identity()`` returns when nobody is acting: no request, no job.
ANONYMOUS = "anonymous"

_no_job_msg = """\
Working outside of a job.

This typically means that you used current_job in a view or at import time. It is only
available while a task submitted with Flask-Handoff runs. Use identity() for code that runs
both in requests and in jobs.\
"""

_cv_job: ContextVar[JobContext] = ContextVar("flask_handoff.job")


@dataclass(frozen=True)
class SpooledFile:
    """An uploaded file saved for a job: where it is now and what the user called it."""

    path: Path
    filename: str | None
    content_type: str | None


class JobContext:
    """The running job, as its task sees it through ``current_job``.

    >>> @handoff.task()
    ... def export(rows: int) -> dict:
    ...     for done in range(rows):
    ...         current_job.progress(done + 1, rows, "exporting")
    ...     return {"owner": current_job.identity}
    """

    def __init__(
        self,
        *,
        job_id: str,
        task_name: str,
        attempt: int,
        max_attempts: int,
        snapshot: Snapshot,
        files: Mapping[str, SpooledFile],
        secrets: Callable[[], dict[str, str]],
        report_progress: Callable[[int, int | None, str | None], None],
        progress_interval: float,
        timeout: float | None,
        lease_seconds: float = 60.0,
    ) -> None:
        self.id = job_id
        self.task_name = task_name
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.snapshot = snapshot
        self.files = dict(files)
        self._load_secrets = secrets
        self._secrets: dict[str, str] | None = None
        self._report = report_progress
        self._interval = progress_interval
        self._last_report = 0.0
        self._pending: tuple[int, int | None, str | None] | None = None
        self._progress_lost = False
        self._lease_seconds = lease_seconds
        self.started = time.monotonic()
        self.deadline = self.started + timeout if timeout else None
        self.timeout = timeout
        self._cancel = threading.Event()
        self._timed_out = threading.Event()

    @property
    def identity(self) -> Any:
        """The submitter's identity, as the identity loader returned it at submit time."""
        return self.snapshot.identity

    @property
    def actor(self) -> ActorKind:
        """``"user"``, ``"system"`` or ``"anonymous"``: how the identity was obtained."""
        return self.snapshot.actor

    @property
    def context(self) -> dict[str, Any]:
        """Values captured at submit: ``request_id`` and each ``@handoff.capture``."""
        values = dict(self.snapshot.context)
        values.setdefault("request_id", self.snapshot.request_id)
        return values

    @property
    def secrets(self) -> dict[str, str]:
        """Decrypted only here, in the worker, on first use."""
        if self._secrets is None:
            self._secrets = self._load_secrets()
        return self._secrets

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Record progress; written to the store at most every ``HANDOFF_PROGRESS_INTERVAL``.

        Also a checkpoint: raises ``JobCancelled`` or ``JobTimeoutError`` when the job
        should stop, so long loops stop cleanly without extra code.
        """
        self.check()
        now = time.monotonic()
        finished = total is not None and done >= total
        if finished or now - self._last_report >= self._interval:
            self._last_report = now
            self._pending = None
            self._write_progress((done, total, message))
        else:
            self._pending = (done, total, message)

    def durably(self, write: Callable[..., T], *args: Any) -> T:
        """``write(*args)``, tried again while the database is away, for up to the job's
        lease: for the task's own writes at the end of its work, so a short outage does
        not cost the work again. ``write`` must start afresh each time (roll back first)."""
        return outage.retry_while_away(
            write, *args, patience=self._lease_seconds, what=f"job {self.id}"
        )

    def check(self) -> None:
        """Raise if the job was cancelled or ran past its timeout; otherwise do nothing."""
        if self._cancel.is_set():
            raise JobCancelled(self.id)
        if self._timed_out.is_set() or (self.deadline and time.monotonic() > self.deadline):
            self._timed_out.set()
            raise JobTimeoutError(self.task_name, self.timeout or 0)

    def flush_progress(self) -> None:
        """Write the progress not written yet; raises if the database is still away."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                self._report(*pending)
            except Exception:
                self._pending = pending
                raise

    def _write_progress(self, progress: tuple[int, int | None, str | None]) -> None:
        """Progress is what a page shows, not what the job needs: while the database is
        away it is kept for the next write (or the finish) and the job goes on."""
        try:
            self._report(*progress)
        except Exception as exc:
            if not outage.is_outage(exc):
                raise
            if not self._progress_lost:
                log.warning(
                    "job %s: progress not written, the database is away (%s); the job goes on",
                    self.id,
                    type(exc).__name__,
                )
            self._progress_lost = True
            self._pending = progress
        else:
            if self._progress_lost:
                log.warning("job %s: progress written again", self.id)
            self._progress_lost = False

    def request_cancel(self) -> None:
        self._cancel.set()

    def mark_timed_out(self) -> None:
        self._timed_out.set()


current_job: JobContext = LocalProxy(  # type: ignore[assignment]
    _cv_job, unbound_message=_no_job_msg
)


def has_job_context() -> bool:
    """True while a task runs in this thread, like Flask's ``has_request_context``."""
    return _cv_job.get(None) is not None


def identity(default: Any = ANONYMOUS) -> Any:
    """Who is acting: the job's submitter in a job, the signed-in user in a request.

    Shared helpers (an audit log, say) call this instead of reading the request, so they
    work in views, in jobs and in CLI commands alike::

        def record(action: str) -> None:
            db.add(Entry(user_id=identity(default=None), action=action))

    Outside both, or when the request has no signed-in user, returns ``default``.
    """
    job = _cv_job.get(None)
    if job is not None:
        value = job.identity
        return default if value is None else value
    if has_request_context() and has_app_context():
        state = current_app.extensions.get("handoff")
        if state is not None:
            value = state.ext.load_identity()
            return default if value is None else value
    return default
