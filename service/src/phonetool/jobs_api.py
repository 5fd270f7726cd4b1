"""The API a member follows an upload's job with: its status, the list, cancel, the
result's download, a live event stream and the summary's charts."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    request,
    send_file,
    stream_with_context,
)
from flask_babel import gettext as _

from flask_handoff import Job, NoSuchJobError
from flask_handoff.job import FINAL_STATES, JobState

from . import charts, oplog
from .extensions import handoff
from .i18n import say
from .jobs import failure_reason
from .models import Upload, db
from .passport import current_member
from .streams import seats

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")


class NotFound(Exception):
    pass


def own_upload(job_id: str) -> tuple[Upload, Job | None]:
    """The caller's upload and its job (None once ``cleanup`` purged the job record).

    The job is read first: what the pipeline writes on the upload before the job ends
    (a failure's words, the summary) is then there too. Read the other way round, a job
    that failed between the two reads came with an upload from before its failure, and
    its reason was shown in the engine's English instead of the reader's language."""
    member_id = current_member().member_id
    job = _job(job_id)
    up = db.session.get(Upload, job_id)
    if up is None or up.member_id != member_id:
        raise NotFound(job_id)
    return up, job


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
        "error": failure_reason(up, job, say) if job and job.state == JobState.FAILED else None,
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
    if job is None or job.state != JobState.SUCCEEDED or up.result_dir is None:
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


#: How long a quiet stream waits before a comment keeps proxies from closing it. How long
#: one stream lasts before the browser reconnects (EventSource does that by itself) is
#: PHONETOOL_EVENTS_SECONDS. The job is read by the process's one watch
#: (``handoff.follow``), not per stream.
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
        "429":
          description: You follow too many jobs live; ask GET /api/jobs/{job_id} instead.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "503":
          description: The server follows too many jobs live; see Retry-After.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    own_upload(job_id)  # not yours, or no such job: a 404 before the stream starts
    seat = seats().take(current_member().member_id)  # 429/503 when over the bound
    db.session.close()  # the stream holds no database connection while it waits
    lifetime = float(current_app.config["PHONETOOL_EVENTS_SECONDS"])
    response = Response(
        stream_with_context(_status_events(job_id, time.monotonic() + lifetime)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(seat.give_back)  # even when the stream never started
    return response


def _status_events(job_id: str, ends: float) -> Any:
    last = None
    with handoff.follow(job_id) as following:
        while True:
            try:
                status = upload_status(*own_upload(job_id))
            except NotFound:
                return
            finally:
                db.session.close()
            text = json.dumps(status, ensure_ascii=False)
            if text != last:
                yield f"event: status\ndata: {text}\n\n"
                last = text
            mail = status["mail"]
            if status["state"] in _FINAL and not (
                mail and mail["state"] in ("pending", "retrying")
            ):
                yield "event: end\ndata: {}\n\n"
                return
            while not following.wait(min(_KEEPALIVE_SECONDS, ends - time.monotonic())):
                if time.monotonic() >= ends:
                    return
                yield ": still here\n\n"  # keeps proxies from closing a quiet stream
            if time.monotonic() >= ends:
                return


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
