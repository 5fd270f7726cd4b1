"""``Task``: a function registered with ``@handoff.task``, and its ``submit``."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from . import snapshot as snapshots
from .context import _cv_job
from .current import current_state
from .errors import JobArgumentError, JobIdTakenError
from .job import DEFAULT_QUEUE, QUEUED, Job, identity_key
from .signals import job_submitted

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .extension import Handoff, HandoffState

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_QUEUE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
#: Priorities run from the lowest to the highest; 0 is every job's unless told.
PRIORITY_RANGE = range(-100, 101)
P = ParamSpec("P")
R = TypeVar("R")


class Task(Generic[P, R]):
    """A background task. Call ``submit`` to run it as a job; call it directly to run now.

    >>> @handoff.task(max_attempts=3, timeout=600)
    ... def process_upload(upload: Path, receiver_email: str | None) -> dict:
    ...     current_job.progress(0, 100, "parsing")
    ...     ...
    >>> job = process_upload.submit(files={"upload": request.files["file"]},
    ...                             receiver_email="a@example.com")

    ``queue`` names the line its jobs wait in: on threads, a queue in ``HANDOFF_QUEUES``
    has threads of its own; on Celery it is the Celery queue, taken by workers started
    with ``--queues``. ``priority`` (-100 to 100, higher first) orders the jobs waiting
    in a queue, before fair share among submitters.
    """

    def __init__(
        self,
        ext: Handoff,
        fn: Callable[P, R],
        *,
        name: str,
        max_attempts: int | None,
        timeout: float | None,
        request_context: bool,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
    ) -> None:
        self.ext = ext
        self.fn = fn
        self.name = name
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.request_context = request_context
        self.queue, self.priority = placement(name, queue, priority)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def submit(
        self,
        *args: Any,
        files: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        identity: Any = None,
        delay: float | None = None,
        job_id: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        **kwargs: Any,
    ) -> Job:
        """Store a job for this task and hand it to the backend; returns at once.

        Arguments must be JSON-safe. ``files`` maps argument names to uploads
        (``request.files[...]``) or paths: they are saved now and the task receives a
        ``Path``. ``secrets`` are encrypted and readable only as ``current_job.secrets``.
        ``identity`` overrides who the job acts for (e.g. a CLI run on a user's behalf).
        ``job_id`` (up to 32 letters, digits, ``-`` or ``_``) lets the caller name the job,
        e.g. after a record of its own, so both share one id; it must be unused.
        ``queue`` and ``priority`` override the task's for this job.
        """
        state = current_state()
        queue, priority = placement(
            self.name,
            self.queue if queue is None else queue,
            self.priority if priority is None else priority,
        )
        caller_named_it = job_id is not None
        if job_id is None:
            job_id = uuid.uuid4().hex
        elif not _JOB_ID.fullmatch(job_id):
            raise JobArgumentError(
                f"job_id {job_id!r} must be 1 to 32 letters, digits, '-' or '_'."
            )
        parent = _cv_job.get(None)
        snap, snap_json, replay_headers = snapshots.take(
            state.capture,
            explicit_identity=identity,
            parent=parent.snapshot if parent else None,
            parent_job_id=parent.id if parent else None,
            replay=self.request_context,
        )
        clash = set(files or ()) & set(kwargs)
        if clash:
            raise JobArgumentError(f"{sorted(clash)} given both as a file and as an argument.")
        args_json = _args_json(self.name, args, kwargs)
        sealed = _seal(state, secrets, replay_headers)
        files_json = None
        if files:
            if caller_named_it and state.store.get(job_id) is not None:
                raise JobIdTakenError(job_id)  # before its files go beside the other job's
            files_json = json.dumps(state.spool.save(job_id, files), ensure_ascii=False)
        now = time.time()
        run_after = now + (delay or 0)
        # Whose job it is, as stored: the key the thread pool shares its threads by.
        key = identity_key(snap.identity)
        values = {
            "id": job_id,
            "task": self.name,
            "state": QUEUED,
            "identity": key,
            "actor": snap.actor,
            "args": args_json,
            "snapshot": snap_json,
            "files": files_json,
            "secrets": sealed,
            "progress_done": 0,
            "progress_total": None,
            "progress_message": None,
            "result": None,
            "error_type": None,
            "error_message": None,
            "error_traceback": None,
            "attempts": 0,
            "max_attempts": self.max_attempts or state.max_attempts,
            "timeout": self.timeout or state.default_timeout,
            "cancel_requested": False,
            "request_id": snap.request_id,
            "parent_id": parent.id if parent else None,
            "worker_id": None,
            "run_after": run_after,
            "lease_until": None,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "updated_at": now,
            "published_at": None,
            "queue": queue,
            "priority": priority,
        }
        state.submitting.add(job_id)
        try:
            try:
                state.store.insert(values)
            except JobIdTakenError:
                raise  # the spool holds the other job's files
            except BaseException:
                state.spool.remove(job_id)
                raise
            job = Job.from_values(values, snap, {"args": list(args), "kwargs": kwargs})
            if job_submitted.receivers:
                job_submitted.send(state.app, job=job, identity=snap.identity)
            state.backend.dispatch(
                job_id, run_after, self.name, key, queue=queue, priority=priority
            )
        finally:
            state.submitting.discard(job_id)
        return job


def placement(task_name: str, queue: str, priority: int) -> tuple[str, int]:
    """The queue and priority, checked: a typo here would leave jobs where no worker
    looks."""
    if not isinstance(queue, str) or not _QUEUE.fullmatch(queue):
        raise JobArgumentError(
            f"Task {task_name!r}: queue {queue!r} must be 1 to 100 letters, digits, '.',"
            " '-' or '_'."
        )
    whole = isinstance(priority, int) and not isinstance(priority, bool)
    if not whole or priority not in PRIORITY_RANGE:
        raise JobArgumentError(
            f"Task {task_name!r}: priority {priority!r} must be a whole number from"
            f" {PRIORITY_RANGE.start} to {PRIORITY_RANGE.stop - 1} (higher runs first)."
        )
    return queue, priority


def _args_json(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        return json.dumps({"args": args, "kwargs": kwargs}, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise JobArgumentError(
            f"Arguments of task {task_name!r} must be JSON-safe, so the job can be stored"
            f" and run in another thread or process: {exc}. Pass ids and plain values;"
            " pass uploads with files=, credentials with secrets=."
        ) from None


def _seal(
    state: HandoffState, secrets: Mapping[str, str] | None, replay_headers: dict[str, str]
) -> str | None:
    values = dict(secrets or {})
    values.update({f"header:{k}": v for k, v in replay_headers.items()})
    return state.secrets.seal(values) if values else None
