"""The background work of an upload: ``process_upload`` runs the pipeline on the spooled
file as the member who uploaded it, stores the results, and hands delivery to
``deliver_result``, its own job with its own retries: a mail server that is down delays
the mail, never the result.

The tasks keep this module: a task's name is its module and function
(``phonetool.jobs.process_upload``), stored with every queued job. What a member follows
them with is in ``jobs_api``; what the log says of them, in ``job_log``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from flask import current_app
from flask_babel import gettext as _

from flask_handoff import HandoffError, Job, JobFailed, current_job

from . import mail, oplog
from .config import MAIL_QUEUE
from .extensions import handoff
from .i18n import in_language, job_language, supported_language
from .models import Upload, db
from .pipeline import InputError, Options
from .pipeline.errors import N_, Worded
from .pipeline.isolated import PipelineCrashed, run_isolated
from .pipeline.summary import short_read_words

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("phonetool.jobs")

#: What a mail job returns when its mail had gone out on an earlier run.
ALREADY_SENT = "already sent"


@handoff.task(max_attempts=3, timeout=3600)
def process_upload(upload: Path, upload_id: str) -> dict[str, Any]:
    up = db.session.get(Upload, upload_id)
    if up is None:
        raise JobFailed(f"Upload {upload_id} no longer exists.")
    if not upload.exists():
        unseen = Worded(
            N_(
                "The worker that took this job cannot see the uploaded file: every worker"
                " must share the web server's HANDOFF_SPOOL_DIR (and PHONETOOL_RESULTS_DIR),"
                " a shared folder when workers run on other machines."
            )
        )
        _fail(up, JobFailed(str(unseen)), unseen)
    with in_language(job_language()):
        text = _("Processing %(name)s", name=up.original_name)
        if current_job.attempt > 1:
            text += " " + _("(attempt %(n)d)", n=current_job.attempt)
    oplog.record("upload", "process_started", text, up.options)
    out_dir = Path(current_app.config["PHONETOOL_RESULTS_DIR"]) / upload_id
    # An attempt before this one may have died half-way: start from nothing.
    shutil.rmtree(out_dir, ignore_errors=True)
    config = current_app.config
    options = Options(
        **up.options,
        workers=config["PHONETOOL_PIPELINE_WORKERS"],
        # The summary sheet's language, as the log's and the mail's.
        language=supported_language(job_language()),
    )
    try:
        result = run_isolated(
            upload,
            out_dir,
            options,
            stem=up.result_stem,
            memory_mb=config["PHONETOOL_JOB_MEMORY_MB"],
            niceness=config["PHONETOOL_JOB_NICENESS"],
            progress=lambda done, total: current_job.progress(done, total, "processing"),
            checkpoint=current_job.check,
        )
    except BaseException as exc:
        shutil.rmtree(out_dir, ignore_errors=True)  # a cancelled or failed run leaves nothing
        if isinstance(exc, InputError):
            _fail(up, JobFailed(str(exc)), exc)
        if isinstance(exc, PipelineCrashed):
            _fail(up, exc)
        if not isinstance(exc, Exception) or isinstance(exc, HandoffError):
            raise  # cancelled or timed out: said by the job's state
        # Anything else (a full disk, a bug) says so in words; its details, with the
        # server's paths, go to the log, not to the member.
        log.exception("processing upload %s failed", upload_id)
        _fail(up, PipelineCrashed.unexpected(type(exc).__name__))
    # The work is done: what follows is written through a database outage shorter than
    # the job's lease, rather than doing the work again on the next attempt.
    up = current_job.durably(_record_result, upload_id, result.summary, out_dir)
    s = result.summary
    with in_language(job_language()):
        text = _(
            "Finished %(name)s: %(rows)d rows, %(valid)d valid, %(invalid)d invalid,"
            " %(masked)d masked",
            name=up.original_name,
            rows=s["rows_out"],
            valid=s["valid"],
            invalid=s["invalid"],
            masked=s.get("masked", 0),
        )
    counts = {"rows_in": s["rows_in"], "rows_out": s["rows_out"]}
    current_job.durably(_afresh, oplog.record, "upload", "process_finished", text, counts)
    if s.get("short_read"):
        words, values = short_read_words(s["short_read"])
        with in_language(job_language()):
            text = _(words, **values)
        current_job.durably(
            _afresh, oplog.record, "upload", "process_short_read", text, s["short_read"]
        )
    if up.receiver_email:
        current_job.durably(deliver_result.submit, upload_id)
    return {"upload_id": upload_id, "summary": s}


def _record_result(upload_id: str, summary: dict[str, Any], out_dir: Path) -> Upload:
    db.session.rollback()  # a try before this one may have left the session half-way
    up = db.session.get(Upload, upload_id)
    assert up is not None  # read at the job's start; uploads are never deleted
    up.summary = summary
    up.result_dir = str(out_dir)
    up.mail_state = "pending" if up.receiver_email else None
    db.session.commit()
    return up


def _afresh(write: Callable[..., Any], *args: Any) -> Any:
    """``write`` on a clean session: for ``current_job.durably``, which may try again."""
    db.session.rollback()
    return write(*args)


# Mail has a queue of its own, so a result's mail never waits behind other members'
# pipelines: threads of its own (PHONETOOL_MAIL_WORKERS), or a Celery worker started
# with --queues mail (scripts/scale).
@handoff.task(max_attempts=6, queue=MAIL_QUEUE, priority=10)
def deliver_result(upload_id: str) -> str:
    up = db.session.get(Upload, upload_id)
    if up is None or up.result_dir is None or up.receiver_email is None:
        raise JobFailed(f"Upload {upload_id} has no result to send.")
    if up.mail_state == "sent":
        # A run again of a mail already sent and recorded: its worker died after the
        # record's commit, before the job's outcome was written, and the job came back
        # when its lease ran out. The receiver has the mail; a second would be a duplicate.
        return ALREADY_SENT
    files = [Path(up.result_dir) / f"{up.result_stem}.{ext}" for ext in ("xlsx", "csv")]
    if not all(f.exists() for f in files):
        raise JobFailed(
            "The worker that took this mail cannot see the results: every worker must share"
            " PHONETOOL_RESULTS_DIR, a shared folder when workers run on other machines."
        )
    limit = current_app.config["PHONETOOL_ATTACH_LIMIT_MB"] * 1024 * 1024
    attach = sum(f.stat().st_size for f in files) <= limit
    base = current_app.config["PHONETOOL_BASE_URL"].rstrip("/")
    link = f"{base}/api/jobs/{up.id}/result?format=xlsx"
    with in_language(job_language()):
        body = _mail_body(up, attach, link)
        subject = _("Phone check result: %(name)s", name=up.original_name)
    msg = mail.build_message(up.receiver_email, subject, body, files if attach else None)
    up.mail_attempts = current_job.attempt
    try:
        where = mail.send(msg)
    except Exception as exc:
        last = current_job.attempt >= current_job.max_attempts
        up.mail_state = "failed" if last else "retrying"
        up.mail_error = f"{type(exc).__name__}: {exc}"
        # Log first, then publish the state: whoever sees the state finds the entry.
        with in_language(job_language()):
            text = _(
                "Mail not sent (%(error)s), attempt %(n)d",
                error=up.mail_error,
                n=current_job.attempt,
            )
        oplog.record(
            "mail",
            "mail_failed" if last else "mail_retrying",
            text,
            {"to": up.receiver_email},
            job_id=up.id,
        )
        db.session.commit()
        raise
    with in_language(job_language()):
        text = _("Result sent to %(to)s", to=up.receiver_email)
    oplog.record("mail", "mail_sent", text, {"via": where}, job_id=up.id)
    up.mail_state, up.mail_error = "sent", None
    db.session.commit()
    return where


def _fail(up: Upload, error: Exception, words: Worded | None = None) -> NoReturn:
    """Ends the attempt with ``error``, keeping its words (``words``, else ``error``'s own)
    on the upload, so each reader sees the reason in their language (``failure_reason``)."""
    said = words or error
    if isinstance(said, Worded):
        up.failure = {"attempt": current_job.attempt, "text": said.text, "params": said.params}
        db.session.commit()
    raise error from None


def failure_reason(up: Upload, job: Job, translate: Callable[..., str]) -> str | None:
    """Why the job's last attempt failed, through ``translate`` (a gettext in the reader's
    language). The pipeline's reasons are kept as words; the engine's own (a timeout, a
    lost worker) are said for a member here; anything else is the error's message."""
    failure = up.failure
    if failure and failure.get("attempt") == job.attempts:
        return translate(failure["text"], **failure["params"])
    if job.error_type == "JobTimeoutError":
        limit = job.timeout or 0
        if limit >= 60:
            return translate(
                N_(
                    "Processing took longer than %(minutes)d minutes, the most one file may"
                    " take, and was stopped. Split the list and upload the parts."
                ),
                minutes=round(limit / 60),
            )
        return translate(
            N_(
                "Processing took longer than %(seconds)s seconds, the most one file may"
                " take, and was stopped. Split the list and upload the parts."
            ),
            seconds=f"{limit:g}",
        )
    if job.error_type == "WorkerLost":
        return translate(
            N_(
                "The process working on this file stopped (a restart or a crash) on each of"
                " %(n)d attempts, so it was not tried again. Upload the file again later."
            ),
            n=job.attempts,
        )
    return job.error_message


def _mail_body(up: Upload, attached: bool, link: str) -> str:
    s = up.summary or {}
    lines = [
        _("Your file %(name)s has been checked.", name=up.original_name),
        _(
            "Rows read: %(rows_in)d, exported: %(rows_out)d. Valid: %(valid)d, invalid:"
            " %(invalid)d, masked: %(masked)d, duplicates: %(duplicates)d.",
            rows_in=s.get("rows_in", 0),
            rows_out=s.get("rows_out", 0),
            valid=s.get("valid", 0),
            invalid=s.get("invalid", 0),
            masked=s.get("masked", 0),
            duplicates=s.get("duplicates", 0),
        ),
        "",
        _("The results are attached.")
        if attached
        else _("The results are large; download them here: %(link)s", link=link),
    ]
    return "\n".join(lines)
