"""The background work of an upload, and the API a member follows it with.

``process_upload`` runs the pipeline on the spooled file as the member who uploaded it,
stores the results, and hands delivery to ``deliver_result``, its own job with its own
retries: a mail server that is down delays the mail, never the result.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    request,
    send_file,
    stream_with_context,
)
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from flask_handoff import (
    Handoff,
    HandoffError,
    Job,
    JobFailed,
    NoSuchJobError,
    current_job,
    job_cancelled,
    job_failed,
    job_retried,
    job_succeeded,
)
from flask_handoff.job import FINAL_STATES

from . import charts, mail, oplog
from .i18n import in_language, job_language, ours, say, submitter_language
from .models import Upload, db
from .passport import current_member, member_id_or_none
from .pipeline import InputError, Options
from .pipeline.errors import N_, Worded
from .pipeline.isolated import PipelineCrashed, run_isolated
from .pipeline.summary import short_read_words

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("phonetool.jobs")

handoff = Handoff()
handoff.identity_loader(member_id_or_none)
handoff.capture("language")(submitter_language)

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")


class NotFound(Exception):
    pass


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
        language=ours(job_language()),  # the summary sheet's, as the log's and the mail's
    )
    try:
        result = run_isolated(
            upload,
            out_dir,
            options,
            stem=up.result_stem,
            memory_mb=config["PHONETOOL_JOB_MEMORY_MB"],
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
    up.summary = result.summary
    up.result_dir = str(out_dir)
    up.mail_state = "pending" if up.receiver_email else None
    db.session.commit()
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
    oplog.record(
        "upload", "process_finished", text, {"rows_in": s["rows_in"], "rows_out": s["rows_out"]}
    )
    if s.get("short_read"):
        words, values = short_read_words(s["short_read"])
        with in_language(job_language()):
            text = _(words, **values)
        oplog.record("upload", "process_short_read", text, s["short_read"])
    if up.receiver_email:
        deliver_result.submit(upload_id)
    return {"upload_id": upload_id, "summary": s}


@handoff.task(max_attempts=6)
def deliver_result(upload_id: str) -> str:
    up = db.session.get(Upload, upload_id)
    if up is None or up.result_dir is None or up.receiver_email is None:
        raise JobFailed(f"Upload {upload_id} has no result to send.")
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


def _on_final(sender: Flask, job: Job, identity: Any, **extra: Any) -> None:
    """Every upload ends by deleting the uploaded file (the spool just did); say so."""
    if job.task != process_upload.name:
        return
    member = _member_id(identity)
    with in_language(_language_of(job)):
        if job.state == "failed":
            text = _("Processing failed: %(reason)s", reason=_reason_of(job))
            oplog.record("upload", "process_failed", text, job_id=job.id, member_id=member)
        elif job.state == "cancelled":
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


# -- API ----------------------------------------------------------------------------------


def own_upload(job_id: str) -> tuple[Upload, Job | None]:
    """The caller's upload and its job (None once ``cleanup`` purged the job record)."""
    member_id = current_member().member_id
    up = db.session.get(Upload, job_id)
    if up is None or up.member_id != member_id:
        raise NotFound(job_id)
    return up, _job(job_id)


def _job(job_id: str) -> Job | None:
    try:
        return handoff.get_job(job_id)
    except NoSuchJobError:
        return None


def upload_status(up: Upload, job: Job | None) -> dict[str, Any]:
    return {
        "job_id": up.id,
        "state": job.state if job else "expired",
        "progress": {
            "done": job.progress_done,
            "total": job.progress_total,
            "message": job.progress_message,
        }
        if job
        else None,
        "error": failure_reason(up, job, say) if job and job.state == "failed" else None,
        "attempts": job.attempts if job else None,
        "file": {"name": up.original_name, "size": up.size},
        "options": up.options,
        "summary": up.summary,
        "mail": {
            "to": up.receiver_email,
            "state": up.mail_state,
            "error": up.mail_error,
            "attempts": up.mail_attempts,
        }
        if up.receiver_email
        else None,
        "results": {fmt: f"/api/jobs/{up.id}/result?format={fmt}" for fmt in ("xlsx", "csv")}
        if up.result_dir
        else None,
        "created_at": up.created_at.isoformat() + "Z",
    }


@bp.get("")
def list_jobs() -> Any:
    """The caller's uploads and their jobs, newest first.
    ---
    get:
      summary: List your jobs.
      parameters:
        - {name: limit, in: query, schema: {type: integer, default: 20, maximum: 100}}
        - {name: offset, in: query, schema: {type: integer, default: 0, maximum: 1000000000}}
      responses:
        "200":
          description: Your jobs.
          content:
            application/json:
              schema:
                type: object
                properties:
                  jobs:
                    type: array
                    items: {$ref: "#/components/schemas/JobStatus"}
        "401":
          $ref: "#/components/responses/Unauthorized"
    """
    member_id = current_member().member_id
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), 100)
    offset = min(max(request.args.get("offset", 0, type=int) or 0, 0), 1_000_000_000)
    uploads = db.session.execute(
        db.select(Upload)
        .filter_by(member_id=member_id)
        .order_by(Upload.created_at.desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return jsonify(jobs=[upload_status(u, _job(u.id)) for u in uploads])


@bp.get("/<job_id>")
def show_job(job_id: str) -> Any:
    """One job: state, progress, counts, errors, mail delivery.
    ---
    get:
      summary: Follow a job.
      parameters:
        - {name: job_id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: The job.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/JobStatus"}
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
    """
    return jsonify(upload_status(*own_upload(job_id)))


@bp.post("/<job_id>/cancel")
def cancel_job(job_id: str) -> Any:
    """Stop one of your jobs.
    ---
    post:
      summary: Cancel a job that is waiting or running.
      parameters:
        - {name: job_id, in: path, required: true, schema: {type: string}}
      responses:
        "202":
          description: Cancelled (waiting), or stopping within a second (running).
          content:
            application/json:
              schema: {$ref: "#/components/schemas/JobStatus"}
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          description: The job has already ended.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    up, job = own_upload(job_id)
    if job is None or job.finished:
        state = job.state if job else "expired"
        return jsonify(error="already_ended", message=f"The job is {state}."), 409
    oplog.record("upload", "cancel_requested", _("You cancelled the processing"), job_id=job_id)
    return jsonify(upload_status(up, handoff.cancel(job_id))), 202


@bp.get("/<job_id>/result")
def download_result(job_id: str) -> Any:
    """The result file, named after the upload.
    ---
    get:
      summary: Download the result as XLSX or CSV.
      parameters:
        - {name: job_id, in: path, required: true, schema: {type: string}}
        - {name: format, in: query, schema: {type: string, enum: [xlsx, csv], default: xlsx}}
      responses:
        "200":
          description: The file, with Content-Disposition naming it.
          content:
            application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: {}
            text/csv: {}
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          description: The job has not succeeded.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "410":
          description: Removed by the retention policy.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    up, job = own_upload(job_id)
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        return jsonify(error="bad_format", message="format must be xlsx or csv."), 400
    if up.summary is not None and (up.result_dir is None or job is None):
        return jsonify(error="gone", message="The result was removed by the retention policy."), 410
    if job is None or job.state != "succeeded" or up.result_dir is None:
        state = job.state if job else "expired"
        return jsonify(error="not_ready", message=f"The job is {state}; no result."), 409
    path = Path(up.result_dir) / f"{up.result_stem}.{fmt}"
    if not path.exists():
        return jsonify(error="gone", message="The result was removed by the retention policy."), 410
    response = send_file(path, as_attachment=True, download_name=path.name)
    response.headers["Content-Disposition"] = _attachment(path.name, up.original_name, fmt)
    return response


def _attachment(name: str, original: str, fmt: str) -> str:
    """Name the download for browsers (``filename*``, UTF-8) and for clients that read
    only ``filename`` (curl -OJ): there, the ASCII letters of the upload's name, else
    "result", rather than what is left of "订单-checked.xlsx" without its Chinese."""
    stem = original.rsplit(".", 1)[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_stem).strip("_-")
    fallback = f"{ascii_stem or 'result'}-checked.{fmt}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


#: How often a job's event stream looks at the job, and how long one stream lasts before
#: the browser reconnects (EventSource does that by itself): a stream holds a server
#: thread, so none is held forever.
EVENTS_INTERVAL = 0.25
EVENTS_SECONDS = 300.0
_KEEPALIVE_SECONDS = 15.0
_FINAL = FINAL_STATES | {"expired"}  # "expired": the job record was purged


@bp.get("/<job_id>/events")
def job_events(job_id: str) -> Any:
    """The job's status as Server-Sent Events, each time it changes, until it ends.
    ---
    get:
      summary: Follow a job live (Server-Sent Events).
      description: >
        Sends `event: status` with the job (as GET /api/jobs/{job_id} gives it) whenever
        it changes, then `event: end` once the job and its mail are done. Streams last
        at most five minutes; EventSource reconnects by itself.
      parameters:
        - {name: job_id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: The event stream.
          content:
            text/event-stream: {}
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
    """
    own_upload(job_id)  # not yours, or no such job: a 404 before the stream starts
    return Response(
        stream_with_context(_status_events(job_id)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _status_events(job_id: str) -> Any:
    last = None
    started = sent_at = time.monotonic()
    while True:
        db.session.expire_all()  # see what the job's process wrote since
        try:
            status = upload_status(*own_upload(job_id))
        except NotFound:
            return
        text = json.dumps(status, ensure_ascii=False)
        now = time.monotonic()
        if text != last:
            yield f"event: status\ndata: {text}\n\n"
            last, sent_at = text, now
        elif now - sent_at > _KEEPALIVE_SECONDS:
            yield ": still here\n\n"  # keeps proxies from closing a quiet stream
            sent_at = now
        mail = status["mail"]
        if status["state"] in _FINAL and not (mail and mail["state"] in ("pending", "retrying")):
            yield "event: end\ndata: {}\n\n"
            return
        if now - started > EVENTS_SECONDS:
            return
        time.sleep(EVENTS_INTERVAL)


@bp.get("/<job_id>/charts/<name>.svg")
def job_chart(job_id: str, name: str) -> Any:
    """One of a finished job's charts, as SVG.
    ---
    get:
      summary: A chart of a finished job's counts.
      parameters:
        - {name: job_id, in: path, required: true, schema: {type: string}}
        - name: name
          in: path
          required: true
          schema: {type: string, enum: [numbers, invalid_reasons, provinces, carriers, types]}
      responses:
        "200":
          description: The chart.
          content:
            image/svg+xml: {}
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          description: The job has no counts yet.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    up, _ = own_upload(job_id)
    if name not in charts.CHARTS:
        known = ", ".join(charts.CHARTS)
        return jsonify(error="not_found", message=f"No chart {name!r}; there are {known}."), 404
    if up.summary is None:
        return jsonify(error="not_ready", message="The job has no counts until it succeeds."), 409
    return Response(
        charts.chart(name, up.summary),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "private, max-age=3600"},
    )
