"""Runs one claimed job: restore its context, call the task, write the outcome back.

Shared by every backend so that a task behaves the same on threads, eagerly, and on Celery.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from . import outage
from .context import JobContext, _cv_job
from .errors import (
    JobArgumentError,
    JobCancelled,
    JobContextError,
    JobFailed,
    JobTimeoutError,
    SecretsError,
    UnknownTaskError,
)
from .forced import ForcedTimeout
from .job import CANCELLED, QUEUED, SUCCEEDED, Job, JobState
from .redispatch import dispatch_again
from .signals import job_cancelled, job_failed, job_retried, job_started, job_succeeded

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .extension import HandoffState

log = logging.getLogger("flask_handoff")
T = TypeVar("T")


#: Errors that would fail the same way on every attempt: retrying only delays the news.
_NOT_RETRIED = (JobContextError, JobFailed, UnknownTaskError, JobArgumentError, SecretsError)
_REQUEST_MESSAGE = "Working outside of request context"


def execute(
    state: HandoffState,
    job: Job,
    worker_id: str,
    on_body: Callable[[JobContext | None], None] = lambda ctx: None,
) -> None:
    """Run ``job`` (already claimed by ``worker_id``) to its next state.

    ``on_body`` is told when the task body starts (with its context) and ends (``None``),
    so a backend can deliver cancellation and timeouts only while user code runs.
    """
    state.executing.add(job.id)
    try:
        _execute(state, job, worker_id, on_body)
    finally:
        state.executing.discard(job.id)


def _execute(
    state: HandoffState,
    job: Job,
    worker_id: str,
    on_body: Callable[[JobContext | None], None],
) -> None:
    app = state.app
    with app.app_context():
        task = state.ext.tasks.get(job.task)
        if task is None:
            _finish_failed(state, job, worker_id, UnknownTaskError(job.task), retry=False)
            return
        ctx = JobContext(
            job_id=job.id,
            task_name=job.task,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            snapshot=job.snapshot,
            files=state.spool.load(job.files),
            secrets=lambda: _user_secrets(state, job),
            report_progress=lambda d, t, m: state.store.progress(job.id, worker_id, d, t, m),
            progress_interval=state.progress_interval,
            lease_seconds=state.lease_seconds,
            timeout=job.timeout,
        )
        token = _cv_job.set(ctx)
        try:
            send_signal(job_started, app, job)
            kwargs = dict(job.kwargs)
            kwargs.update({key: f.path for key, f in ctx.files.items()})
            replay = _replay(state, job) if task.request_context else nullcontext()
            on_body(ctx)
            try:
                with replay:
                    result = task.fn(*job.args, **kwargs)
            finally:
                on_body(None)
            _durably(state, job, ctx.flush_progress)
            result_json = _result_json(job.task, result)
        except JobCancelled as exc:
            _finish_failed(state, job, worker_id, exc, retry=False, final_state=CANCELLED)
        except ForcedTimeout:
            error = JobTimeoutError(job.task, job.timeout or 0)
            _finish_failed(state, job, worker_id, error, retry=True)
        except Exception as exc:
            if isinstance(exc, state.backend.timeout_errors):
                exc = JobTimeoutError(job.task, job.timeout or 0)  # the engine's own limit
            _finish_failed(state, job, worker_id, _translate(exc, job.task), retry=True)
        else:
            if _durably(
                state, job, state.store.succeed, job.id, worker_id, job.attempts, result_json
            ):
                if job.files:
                    state.spool.remove(job.id)
                if job_succeeded.has_receivers_for(app):  # the copy costs a short job 5 %
                    done = replace(job, state=SUCCEEDED, result=result, finished_at=time.time())
                    send_signal(job_succeeded, app, done)
            else:
                log.warning("job %s finished after losing its lease; result discarded", job.id)
        finally:
            _cv_job.reset(token)


def _finish_failed(
    state: HandoffState,
    job: Job,
    worker_id: str,
    exc: BaseException,
    *,
    retry: bool,
    final_state: str = JobState.FAILED,
) -> None:
    retry = retry and not isinstance(exc, _NOT_RETRIED) and job.attempts < job.max_attempts
    error = (type(exc).__name__, str(exc), _format_traceback(exc))
    retry_at = time.time() + backoff(state, job.attempts) if retry else None
    if not _durably(
        state,
        job,
        functools.partial(state.store.fail, state=final_state, retry_at=retry_at),
        job.id,
        worker_id,
        job.attempts,
        error,
    ):
        log.warning("job %s ended after losing its lease; outcome discarded", job.id)
        return
    # The signal describes this transition; re-reading the row could already show the next.
    updated = replace(
        job,
        state=QUEUED if retry else final_state,
        error_type=error[0],
        error_message=error[1],
        error_traceback=error[2],
    )
    if retry:
        log.info("job %s attempt %d failed (%s); retrying", job.id, job.attempts, error[0])
        send_signal(job_retried, state.app, updated)
        assert retry_at is not None
        dispatch_again(state.backend, job, retry_at)
        return
    state.spool.remove(job.id)
    if final_state == CANCELLED:
        send_signal(job_cancelled, state.app, updated)
    else:
        log.warning("job %s (%s) failed: %s: %s", job.id, job.task, error[0], error[1])
        send_signal(job_failed, state.app, updated)


def _durably(state: HandoffState, job: Job, write: Callable[..., T], *args: Any) -> T:
    """A write that ends a job's attempt, tried again while the database is away for up to
    a lease: the job's work is done, and an outage shorter than the lease must not make it
    run again. Past that, the error is raised, the lease runs out, and another process
    queues the job again."""
    what = f"job {job.id}: its outcome"
    return outage.retry_while_away(write, *args, patience=state.lease_seconds, what=what)


def backoff(state: HandoffState, attempt: int) -> float:
    """Exponential backoff with a little jitter, so retried jobs do not stampede."""
    delay = min(state.retry_backoff * 2.0 ** (attempt - 1), state.retry_backoff_max)
    return delay * (1 + random.random() * 0.1)


def _translate(exc: Exception, task_name: str) -> Exception:
    """Turn Flask's bare 'outside of request context' into a ``JobContextError``."""
    if isinstance(exc, RuntimeError) and str(exc).startswith(_REQUEST_MESSAGE):
        touched, where = _what_was_touched(exc)
        return JobContextError(task_name, touched, where)
    return exc


def _what_was_touched(exc: BaseException) -> tuple[str, str | None]:
    """Name the proxy (``request`` or ``session``) and the user's line that touched it."""
    touched = "request"
    where = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        getter = frame.f_locals.get("get_name")
        if frame.f_code.co_name == "_get_current_object" and isinstance(getter, attrgetter):
            touched = repr(getter).split("'")[1] if "'" in repr(getter) else touched
        elif not _is_framework(frame.f_code.co_filename):
            where = f"{frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return touched, where


def _is_framework(filename: str) -> bool:
    parts = filename.replace("\\", "/").split("/")
    return any(p in ("werkzeug", "flask", "flask_handoff") for p in parts)


def _format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _result_json(task_name: str, result: Any) -> str:
    try:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise JobArgumentError(
            f"Task {task_name!r} returned a value that cannot be stored: {exc}. Return"
            " JSON-safe data (dict, list, str, numbers), or write large results to a file"
            " and return its path."
        ) from None


def _user_secrets(state: HandoffState, job: Job) -> dict[str, str]:
    raw = _all_secrets(state, job)
    return {k: v for k, v in raw.items() if not k.startswith("header:")}


def _all_secrets(state: HandoffState, job: Job) -> dict[str, str]:
    if not job.has_secrets:
        return {}
    token = state.store.secrets_of(job.id)
    return state.secrets.open(token) if token else {}


@contextmanager
def _replay(state: HandoffState, job: Job) -> Iterator[None]:
    """Push a request context rebuilt from the snapshot — not the original request."""
    snap = job.snapshot
    headers = dict(snap.headers)
    headers.update(
        {
            k[len("header:") :]: v
            for k, v in _all_secrets(state, job).items()
            if k.startswith("header:")
        }
    )
    ctx = state.app.test_request_context(
        snap.path or "/",
        base_url=snap.base_url,
        method=snap.method or "GET",
        query_string=snap.query_string,
        headers=headers,
        environ_base={"REMOTE_ADDR": snap.remote_addr or ""},
    )
    with ctx:
        yield


def send_signal(signal: Any, app: Any, job: Job) -> None:
    """Send ``signal`` for ``job``; a receiver that raises is logged, never the job's end."""
    try:
        signal.send(app, job=job, identity=job.identity)
    except Exception:
        log.exception("a receiver of %s raised; the job is unaffected", signal.name)
