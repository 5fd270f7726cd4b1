"""What the operation log says of a job that it could not say itself: an attempt that
ended and is tried again (its process lost, or its error), and a job's end by failure or
cancel, with its upload deleted. Flask-Handoff's signals call these, in the process that
saw it happen, in the submitter's language."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from flask_handoff import Job, job_cancelled, job_failed, job_retried, job_succeeded
from flask_handoff.job import JobState

from . import oplog
from .i18n import in_language
from .jobs import failure_reason, process_upload
from .models import Upload, db

if TYPE_CHECKING:
    from flask import Flask


def _on_final(sender: Flask, job: Job, identity: Any, **extra: Any) -> None:
    """Every upload ends by deleting the uploaded file (the spool just did); say so."""
    if job.task != process_upload.name:
        return
    member = _member_id(identity)
    with in_language(_language_of(job)):
        if job.state == JobState.FAILED:
            text = _("Processing failed: %(reason)s", reason=_reason_of(job))
            oplog.record("upload", "process_failed", text, job_id=job.id, member_id=member)
        elif job.state == JobState.CANCELLED:
            text = _("Processing cancelled")
            oplog.record("upload", "process_cancelled", text, job_id=job.id, member_id=member)
        text = _("The uploaded file was deleted")
    oplog.record("upload", "upload_deleted", text, job_id=job.id, member_id=member)


def _on_retried(sender: Flask, job: Job, identity: Any, **extra: Any) -> None:
    """An attempt ended without a result and another follows: the log says why, so a
    second "started" is never a mystery."""
    if job.task != process_upload.name:
        return
    with in_language(_language_of(job)):
        if job.error_type == "WorkerLost":
            text = _(
                "Attempt %(n)d stopped (its process was lost: a restart or a crash); trying again",
                n=job.attempts,
            )
        else:
            text = _(
                "Attempt %(n)d failed (%(reason)s); trying again",
                n=job.attempts,
                reason=_reason_of(job),
            )
    oplog.record(
        "upload",
        "process_retrying",
        text,
        {"attempt": job.attempts, "reason": job.error_type},
        job_id=job.id,
        member_id=_member_id(identity),
    )


def _reason_of(job: Job) -> str | None:
    """Why an attempt failed, for the log (written in the submitter's language). With
    the database away, the engine's words: the entry is still kept for later."""
    try:
        up = db.session.get(Upload, job.id)
    except SQLAlchemyError:
        db.session.rollback()
        up = None
    return job.error_message if up is None else failure_reason(up, job, _)


def _language_of(job: Job) -> Any:
    """The submitter's language, for what is written about a job from outside it."""
    return job.snapshot.context.get("language")


def _member_id(identity: Any) -> int | None:
    """The member a job acts for: given by its signal, since a job re-queued after its
    worker died is announced from outside any job."""
    return identity if isinstance(identity, int) else None


def connect_signals(app: Flask) -> None:
    for signal in (job_succeeded, job_failed, job_cancelled):
        signal.connect(_on_final, app, weak=False)
    job_retried.connect(_on_retried, app, weak=False)
