"""``Handoff``, the Flask extension object, and the per-app state it keeps."""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import click

from .backends import Backend, make_backend
from .current import current_state
from .errors import ConfigurationError, NoSuchJobError
from .job import DEFAULT_QUEUE, JobState, identity_key
from .periodic import Schedule, Scheduler, schedule_from_config, seconds, timezone
from .redispatch import dispatch_again
from .secrets import SecretBox
from .snapshot import Capture
from .spool import Spool
from .store import JobStore, make_engine
from .task import Task
from .watch import JobWatch

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from contextlib import AbstractContextManager
    from datetime import timedelta
    from types import FrameType

    from flask import Flask

    from .job import Job
    from .watch import Following

P = ParamSpec("P")
R = TypeVar("R")

DEFAULTS: dict[str, Any] = {
    "HANDOFF_DATABASE_URL": None,
    "HANDOFF_ENGINE_OPTIONS": {},
    "HANDOFF_BACKEND": "thread",
    "HANDOFF_CELERY_BROKER_URL": None,
    "HANDOFF_CELERY": {},
    "HANDOFF_CELERY_RESEND_AFTER": 600.0,
    "HANDOFF_CELERY_IN_FLIGHT_PER_KEY": None,
    "HANDOFF_CELERY_PUBLISHER": "process",
    "HANDOFF_POOL_SIZE": 4,
    "HANDOFF_QUEUES": None,
    "HANDOFF_MAX_RUNNING_PER_KEY": None,
    "HANDOFF_MAX_ATTEMPTS": 3,
    "HANDOFF_DEFAULT_TIMEOUT": None,
    "HANDOFF_RETRY_BACKOFF": 2.0,
    "HANDOFF_RETRY_BACKOFF_MAX": 300.0,
    "HANDOFF_LEASE_SECONDS": 60.0,
    "HANDOFF_POLL_INTERVAL": 1.0,
    "HANDOFF_TIMEOUT_GRACE": 10.0,
    "HANDOFF_SHUTDOWN_TIMEOUT": 30.0,
    "HANDOFF_PROGRESS_INTERVAL": 0.5,
    "HANDOFF_SPOOL_DIR": None,
    "HANDOFF_SNAPSHOT_MAX_BYTES": 8192,
    "HANDOFF_REQUEST_ID_HEADER": "X-Request-Id",
    "HANDOFF_REPLAY_HEADERS": (
        "Accept",
        "Accept-Language",
        "User-Agent",
        "Authorization",
        "Cookie",
    ),
    "HANDOFF_SYSTEM_IDENTITY": "system",
    "HANDOFF_CREATE_TABLES": True,
    "HANDOFF_AUTOSTART": True,
    "HANDOFF_URL_PREFIX": "/jobs",
    "HANDOFF_EVENTS_INTERVAL": 0.5,
    "HANDOFF_EVENTS_TIMEOUT": 600.0,
    "HANDOFF_EVENTS_MAX_STREAMS": 100,
    "HANDOFF_SCHEDULE": {},
    "HANDOFF_TIMEZONE": "UTC",
}

_POSITIVE = (
    "HANDOFF_POOL_SIZE",
    "HANDOFF_MAX_ATTEMPTS",
    "HANDOFF_LEASE_SECONDS",
    "HANDOFF_POLL_INTERVAL",
    "HANDOFF_PROGRESS_INTERVAL",
    "HANDOFF_SNAPSHOT_MAX_BYTES",
    "HANDOFF_EVENTS_INTERVAL",
    "HANDOFF_EVENTS_MAX_STREAMS",
)

_live_states: weakref.WeakSet[HandoffState] = weakref.WeakSet()


class HandoffState:
    """What one app's ``init_app`` built: read once, so the hot path reads no config."""

    def __init__(self, ext: Handoff, app: Flask) -> None:
        c = app.config
        self.ext = ext
        self.app = app
        self.pool_size = int(c["HANDOFF_POOL_SIZE"])
        #: Jobs of one identity running at once from one line of the pool; None: no cap.
        cap = c["HANDOFF_MAX_RUNNING_PER_KEY"]
        self.max_running_per_key: int | None = int(cap) if cap else None
        #: Threads per queue on the thread backend; "*": every queue not named.
        self.queues: dict[str, int] = dict(c["HANDOFF_QUEUES"] or {"*": self.pool_size})
        self.max_attempts = int(c["HANDOFF_MAX_ATTEMPTS"])
        self.default_timeout = c["HANDOFF_DEFAULT_TIMEOUT"]
        self.retry_backoff = float(c["HANDOFF_RETRY_BACKOFF"])
        self.retry_backoff_max = float(c["HANDOFF_RETRY_BACKOFF_MAX"])
        self.lease_seconds = float(c["HANDOFF_LEASE_SECONDS"])
        self.poll_interval = float(c["HANDOFF_POLL_INTERVAL"])
        self.timeout_grace = float(c["HANDOFF_TIMEOUT_GRACE"])
        self.shutdown_timeout = float(c["HANDOFF_SHUTDOWN_TIMEOUT"])
        self.progress_interval = float(c["HANDOFF_PROGRESS_INTERVAL"])
        self.events_interval = float(c["HANDOFF_EVENTS_INTERVAL"])
        self.events_timeout = float(c["HANDOFF_EVENTS_TIMEOUT"])
        self.events_max_streams = int(c["HANDOFF_EVENTS_MAX_STREAMS"])
        self.store = JobStore(
            make_engine(c["HANDOFF_DATABASE_URL"], dict(c["HANDOFF_ENGINE_OPTIONS"]))
        )
        #: Every event stream of this process, the library's and the app's, follows its
        #: job through this one watch (:mod:`.watch`).
        self.watch = JobWatch(self.store, self.events_interval)
        self.spool = Spool(Path(c["HANDOFF_SPOOL_DIR"]))
        self.secrets = SecretBox(c.get("SECRET_KEY"))
        self.capture = Capture(
            identity_loader=ext.load_identity,
            captures=ext._captures,  # the live dict: captures registered later still count
            request_id_header=c["HANDOFF_REQUEST_ID_HEADER"],
            replay_headers=tuple(c["HANDOFF_REPLAY_HEADERS"]),
            system_identity=c["HANDOFF_SYSTEM_IDENTITY"],
            max_bytes=int(c["HANDOFF_SNAPSHOT_MAX_BYTES"]),
        )
        #: Jobs this process is running, until their spool is removed and their final
        #: signal delivered: ``wait_for_job`` waits for those steps too.
        self.executing: set[str] = set()
        #: Jobs this process has stored but not yet announced (``job_submitted``) and
        #: handed to its backend: its own workers leave them to the hand-off, so no job
        #: of this process is seen starting before it was seen submitted.
        self.submitting: set[str] = set()
        #: Makes the due runs of periodic jobs; the backend's chore thread calls it.
        self.scheduler = Scheduler(
            self,
            ext._schedules,
            {
                name: schedule_from_config(name, entry)
                for name, entry in dict(c["HANDOFF_SCHEDULE"]).items()
            },
            timezone(c["HANDOFF_TIMEZONE"]),
        )
        self.backend: Backend = make_backend(c["HANDOFF_BACKEND"], self)
        self._shut = False

    def shutdown(self, timeout: float | None = None) -> None:
        if self._shut:
            return
        self._shut = True
        self.watch.close()
        self.backend.shutdown(self.shutdown_timeout if timeout is None else timeout)
        self.store.engine.dispose()


class Handoff:
    """Context-safe, durable background jobs for Flask.

    Create it once, with the app or later in a factory::

        handoff = Handoff()

        def create_app():
            app = Flask(__name__)
            handoff.init_app(app)
            return app

        @handoff.identity_loader
        def current_user_id():
            return session.get("user_id")

        @handoff.task(max_attempts=3)
        def send_report(report_id: int) -> None:
            audit("report sent", user=current_job.identity)

        send_report.submit(42)   # in a view: returns at once, runs as the signed-in user

    One ``Handoff`` serves any number of apps; it keeps no reference to one.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.tasks: dict[str, Task[Any, Any]] = {}
        self._identity_loader: Callable[[], Any] | None = None
        self._captures: dict[str, Callable[[], Any]] = {}
        self._schedules: dict[str, Schedule] = {}
        if app is not None:
            self.init_app(app)

    # -- setup ----------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        c = app.config
        if not c["HANDOFF_DATABASE_URL"]:
            c["HANDOFF_DATABASE_URL"] = c.get("SQLALCHEMY_DATABASE_URI") or (
                "sqlite:///" + os.path.join(app.instance_path, "handoff.sqlite3")
            )
        if not c["HANDOFF_SPOOL_DIR"]:
            c["HANDOFF_SPOOL_DIR"] = os.path.join(app.instance_path, "handoff-spool")
        _validate(c)
        if c["HANDOFF_DATABASE_URL"].startswith("sqlite:///"):
            Path(c["HANDOFF_DATABASE_URL"][len("sqlite:///") :]).parent.mkdir(
                parents=True, exist_ok=True
            )
        state = HandoffState(self, app)
        app.extensions["handoff"] = state
        _live_states.add(state)
        if c["HANDOFF_CREATE_TABLES"]:
            state.store.create_tables()
        if c["HANDOFF_URL_PREFIX"]:
            from .blueprint import make_blueprint

            app.register_blueprint(make_blueprint(), url_prefix=c["HANDOFF_URL_PREFIX"])
        from .cli import handoff_cli

        app.cli.add_command(handoff_cli)
        if c["HANDOFF_AUTOSTART"] and not _in_cli_command():
            state.backend.start()
            _install_sigterm_handler()

    def identity_loader(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Register the function that answers "who is signed in?" during a request.

        It runs at submit time, in the request; its JSON-safe return value becomes the
        job's ``current_job.identity``. Return ``None`` for an anonymous visitor.
        """
        self._identity_loader = fn
        return fn

    def load_identity(self) -> Any:
        """Call the identity loader (None when none is registered): who is signed in now."""
        return self._identity_loader() if self._identity_loader is not None else None

    def capture(self, name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Register a value to copy from the request into every job as ``context[name]``.

        >>> @handoff.capture("locale")
        ... def _locale():
        ...     return request.accept_languages.best
        """

        def register(fn: Callable[[], Any]) -> Callable[[], Any]:
            self._captures[name] = fn
            return fn

        return register

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        request_context: bool = False,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        request_context: bool = False,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
    ) -> Any:
        """Register a background task (``@handoff.task`` or ``@handoff.task(...)``).

        ``request_context=True`` runs the task inside a request context rebuilt from the
        submit-time snapshot (method, path, allow-listed headers), for legacy code that
        reads ``request.headers``; credentials among those headers travel encrypted.
        ``queue`` and ``priority``: where its jobs wait and their place there (``Task``).
        """

        def register(f: Callable[..., Any]) -> Task[Any, Any]:
            task_name = name or f"{f.__module__}.{f.__qualname__}"
            if max_attempts is not None and max_attempts < 1:
                raise ConfigurationError(f"Task {task_name!r}: max_attempts must be >= 1.")
            t = Task(
                self,
                f,
                name=task_name,
                max_attempts=max_attempts,
                timeout=timeout,
                request_context=request_context,
                queue=queue,
                priority=priority,
            )
            self.tasks[task_name] = t
            for state in list(_live_states):  # apps already set up learn of it too
                if state.ext is self:
                    state.backend.register(t)
            return t

        return register(fn) if fn is not None else register

    def periodic(
        self,
        *,
        cron: str | None = None,
        every: timedelta | float | None = None,
        name: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **task_options: Any,
    ) -> Callable[[Callable[..., Any]], Task[Any, Any]]:
        """Run a task on a schedule, in every app of this extension: ``cron`` (five
        fields, in ``HANDOFF_TIMEZONE``) or ``every`` (a ``timedelta`` or seconds).

        >>> @handoff.periodic(cron="30 3 * * *")
        ... def clean_up() -> None: ...

        Each due run is one ordinary job (listed, retried, logged), made once however many
        processes run; a run missed while none ran runs once at start. Decorates a plain
        function (made a task with ``task_options``) or a ``Task``. An app's own schedules
        go in ``HANDOFF_SCHEDULE``.
        """

        def register(f: Callable[..., Any]) -> Task[Any, Any]:
            task = f if isinstance(f, Task) else self.task(**task_options)(f)
            schedule = Schedule(
                name=name or task.name,
                task=task.name,
                cron=cron,
                every=seconds(every) if every is not None else None,
                args=tuple(args),
                kwargs=dict(kwargs or {}),
            )
            self._schedules[schedule.name] = schedule
            return task

        return register

    # -- jobs -----------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        job = current_state().store.get(job_id)
        if job is None:
            raise NoSuchJobError(job_id)
        return job

    def health(self) -> dict[str, str]:
        """Whether jobs can be taken and run from this process: the job table answers, and
        the backend's parts (the thread pool; the broker and the publisher on Celery). Each
        part named: ``"ok"``, ``"off"`` (not this process's to run), or what is wrong, in
        words. Quick enough for a readiness probe.
        """
        state = current_state()
        checks = {"database": "ok"}
        try:
            state.store.ping()
        except Exception as exc:  # any driver's error: reported, not raised
            checks["database"] = f"unreachable: {type(exc).__name__}"
        return {**checks, **state.backend.health()}

    def follow(self, job_id: str) -> AbstractContextManager[Following]:
        """Wait for a job to change, without a database query of one's own: what an
        event stream needs. ``following.wait(timeout)`` returns True when the job (or a
        job it submitted) shows something new since following began or the last wait::

            with handoff.follow(job_id) as following:
                send(read_job(job_id))
                while not done:
                    if following.wait(15):
                        send(read_job(job_id))

        One loop per process reads every followed job per ``HANDOFF_EVENTS_INTERVAL``.
        """
        return current_state().watch.follow(job_id)

    def list_jobs(
        self,
        *,
        identity: Any = None,
        states: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[Job]:
        """Jobs, newest first (or oldest first: the head of a user's queue)."""
        key = identity_key(identity)
        return current_state().store.list_jobs(
            identity=key, states=states, limit=limit, offset=offset, oldest_first=oldest_first
        )

    def count_jobs(
        self,
        *,
        identity: Any = None,
        states: Sequence[str] = (),
        task: str | None = None,
        created_before: float | None = None,
    ) -> int:
        """How many jobs match: ``count_jobs(identity=user, states=(JobState.QUEUED,
        JobState.RUNNING))`` is what a user has in the works, for admission limits;
        ``created_before`` (epoch seconds) counts those ahead of a job in the queue."""
        key = identity_key(identity)
        return current_state().store.count(
            identity=key, states=states, task=task, created_before=created_before
        )

    def throughput(self, *, task: str | None = None, window: float = 120.0) -> float | None:
        """Jobs ended per second lately (over the last ``window`` seconds, from the first
        that ended in it), or None when none did: what an honest ``Retry-After`` is
        computed from, with the queue ahead of a caller's job."""
        now = time.time()
        ended, first = current_state().store.finished_since(now - window, task)
        if not ended or first is None:
            return None
        return ended / max(now - first, 1.0)

    def cancel(self, job_id: str) -> Job:
        """Cancel at once when queued; ask a running task to stop at its next checkpoint."""
        state = current_state()
        if state.store.request_cancel(job_id) is None:
            raise NoSuchJobError(job_id)
        job = self.get_job(job_id)
        if job.state == JobState.CANCELLED:
            state.spool.remove(job_id)
            state.backend.cancelled(job_id, job.run_after)
        else:
            state.backend.wake()
        return job

    def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again with a fresh attempt budget."""
        state = current_state()
        self.get_job(job_id)
        if state.store.requeue(job_id):
            dispatch_again(state.backend, self.get_job(job_id), None)
        return self.get_job(job_id)

    def purge(self, older_than: float) -> list[Job]:
        """Delete finished jobs that ended before ``older_than`` (epoch seconds), and any
        files still spooled for them; returns the jobs deleted."""
        state = current_state()
        gone = state.store.purge(older_than)
        for job in gone:
            state.spool.remove(job.id)
        return gone

    def shutdown(self, app: Flask, timeout: float | None = None) -> None:
        """Stop this app's backend: used at exit, and by tests that create many apps."""
        state = app.extensions.get("handoff")
        if state is not None:
            state.shutdown(timeout)


def _validate(c: Any) -> None:
    for key in _POSITIVE:
        try:
            ok = float(c[key]) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigurationError(f"{key} must be a positive number, not {c[key]!r}.")
    for key, what in (
        ("HANDOFF_CELERY_IN_FLIGHT_PER_KEY", "with the broker or running"),
        ("HANDOFF_MAX_RUNNING_PER_KEY", "running in one line of the thread pool"),
    ):
        cap = c[key]
        if cap is not None and not (type(cap) is int and cap > 0):
            raise ConfigurationError(
                f"{key} must be a positive whole number (jobs of one identity {what} at"
                f" once), or None, not {cap!r}."
            )
    if c["HANDOFF_CELERY_PUBLISHER"] not in ("process", "thread"):
        raise ConfigurationError(
            "HANDOFF_CELERY_PUBLISHER must be 'process' (a publisher process beside each"
            " web process, the default) or 'thread' (a thread of the web process), not"
            f" {c['HANDOFF_CELERY_PUBLISHER']!r}."
        )
    queues = c["HANDOFF_QUEUES"]
    if queues is not None and (
        not isinstance(queues, dict)
        or not queues
        or not all(isinstance(k, str) and k for k in queues)
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in queues.values()
        )
    ):
        raise ConfigurationError(
            "HANDOFF_QUEUES must map queue names to their number of threads, e.g."
            f' {{"*": 4, "mail": 1}} ("*": every queue not named), not {queues!r}.'
        )
    if not isinstance(c["HANDOFF_DATABASE_URL"], str):
        raise ConfigurationError("HANDOFF_DATABASE_URL must be a SQLAlchemy database URL string.")
    if c["HANDOFF_BACKEND"] == "celery" and not c["HANDOFF_CELERY_BROKER_URL"]:
        raise ConfigurationError(
            "HANDOFF_BACKEND is 'celery' but HANDOFF_CELERY_BROKER_URL is not set. Set it to"
            " the broker, e.g. redis://localhost:6379/0."
        )


@atexit.register
def _shutdown_all() -> None:
    for state in list(_live_states):
        state.shutdown()


def _in_cli_command() -> bool:
    """True while a ``flask`` command other than ``run`` creates the app.

    A one-off command (``flask users create``, ``flask shell``) should not start a pool that
    could take queued jobs and then keep the command waiting at exit; what it submits stays
    queued for the server or ``flask handoff worker``, which starts the pool itself.
    """
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return False
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.info_name != "run"


def _install_sigterm_handler() -> None:
    """Turn SIGTERM into a normal exit so running jobs get ``HANDOFF_SHUTDOWN_TIMEOUT``.

    Only where nobody else handles SIGTERM (a WSGI server that does keeps its own).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
