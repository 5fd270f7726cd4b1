"""``POST /api/uploads``: accept a phone list, answer 202 at once, process it in a job."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, current_app, jsonify, request, url_for
from flask_babel import gettext as _

from . import oplog
from .admission import admit
from .filenames import clean_name
from .i18n import say
from .jobs import process_upload
from .models import Upload, db
from .passport import current_member
from .pipeline.errors import N_, UnknownProvinceError
from .pipeline.numbers.regions import PROVINCES
from .pipeline.run import resolve_provinces

if TYPE_CHECKING:
    from collections.abc import Callable


def too_large(translate: Callable[..., str]) -> str:
    """What an upload over ``MAX_CONTENT_LENGTH`` is told, through ``translate``: said by
    the 413 and, before sending, by the upload form."""
    limit_mb = (current_app.config["MAX_CONTENT_LENGTH"] or 0) // (1024 * 1024)
    return translate(N_("The file is larger than the limit of %(mb)s MB."), mb=limit_mb)


bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")

ALLOWED_SUFFIXES = (".csv", ".xlsx")
FIELDS = {"receiver_email", "nationwide", "provinces", "phone_column", "default_region", "sheet"}


class BadUpload(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _flag(name: str, default: bool) -> bool:
    raw = request.form.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise BadUpload(
        400, "bad_option", say("%(name)s must be true or false, not %(raw)r.", name=name, raw=raw)
    )


def _options() -> dict[str, Any]:
    unknown = sorted(set(request.form) - FIELDS)
    if unknown:
        raise BadUpload(
            400,
            "unknown_option",
            say("Unknown option %(name)r; use %(known)s.", name=unknown[0], known=sorted(FIELDS)),
        )
    provinces = tuple(
        p.strip()
        for p in request.form.get("provinces", "").replace("，", ",").split(",")
        if p.strip()
    )
    nationwide = _flag("nationwide", default=not provinces)
    if not nationwide and not provinces:
        raise BadUpload(400, "bad_option", say("nationwide=false needs provinces, e.g. 广东,浙江."))
    if nationwide and provinces and request.form.get("nationwide"):
        raise BadUpload(400, "bad_option", say("Give provinces or nationwide=true, not both."))
    try:
        names = sorted(resolve_provinces(provinces))
    except UnknownProvinceError as exc:
        known = "、".join(p.short for p in PROVINCES)
        message = say(
            "Unknown province %(name)r. Use one of: %(known)s.", name=exc.name, known=known
        )
        raise BadUpload(400, "unknown_province", message) from None
    region = request.form.get("default_region", "CN").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        message = say("Unknown region %(region)r; use a code such as CN.", region=region)
        raise BadUpload(400, "bad_region", message)
    return {
        "nationwide": nationwide,
        "provinces": names,
        "phone_column": request.form.get("phone_column") or None,
        "sheet": request.form.get("sheet") or None,
        "default_region": region,
    }


def _receiver() -> str | None:
    raw = request.form.get("receiver_email", "").strip()
    if not raw:
        return None
    try:
        found = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        message = say("The e-mail address %(raw)r is not valid: %(why)s", raw=raw, why=str(exc))
        raise BadUpload(400, "bad_email", message) from None
    if found.ascii_email is None:
        # Letters outside ASCII before the @ need SMTPUTF8, which many servers refuse: say
        # so now rather than fail the mail later. A domain in any script is sent as
        # punycode (its ASCII form), which every server delivers.
        message = say(
            "The e-mail address %(raw)r has letters outside ASCII before the @, which many"
            " mail servers cannot deliver to. Use an address with only Latin letters, digits"
            " and . _ - + before the @.",
            raw=raw,
        )
        raise BadUpload(400, "bad_email", message)
    return str(found.ascii_email)


@bp.errorhandler(BadUpload)
def _bad_upload(exc: BadUpload) -> Any:
    return jsonify(error=exc.error, message=exc.message), exc.status


@bp.post("")
def create_upload() -> Any:
    """Accept a phone list and start processing it.
    ---
    post:
      summary: Upload a CSV or XLSX phone list; processing runs in the background.
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file]
              properties:
                file: {type: string, format: binary, description: ".csv or .xlsx"}
                receiver_email: {type: string, format: email}
                nationwide: {type: boolean, default: true, description: "true: no filter"}
                provinces: {type: string, description: "Comma-separated: 广东,浙江"}
                phone_column: {type: string, description: "Header of the phone column"}
                default_region: {type: string, default: CN}
                sheet: {type: string, description: "XLSX sheet (default: the first)"}
      responses:
        "202":
          description: Accepted; follow status_url.
          content:
            application/json:
              schema:
                type: object
                properties:
                  job_id: {type: string}
                  status_url: {type: string}
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "429":
          description: Too many of your uploads are waiting; see Retry-After.
          headers:
            Retry-After: {schema: {type: integer}}
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "503":
          description: The service is full (uploads or disk); see Retry-After.
          headers:
            Retry-After: {schema: {type: integer}}
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "413":
          description: Larger than PHONETOOL_MAX_UPLOAD_MB.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "415":
          description: Not a .csv or .xlsx file.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    member_id = current_member().member_id
    admit(member_id)  # before the body is read: a full service answers at once
    file = request.files.get("file")
    if file is None or not file.filename:
        raise BadUpload(400, "no_file", say("Send the list as the multipart field 'file'."))
    name = clean_name(file.filename)
    if not name:
        raise BadUpload(400, "bad_file_name", say("The file name has no visible characters."))
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        message = say("%(name)s is not a list we can read: upload a .csv or .xlsx file.", name=name)
        raise BadUpload(415, "unsupported_type", message)
    options = _options()
    receiver = _receiver()
    file.stream.seek(0, 2)
    size = file.stream.tell()
    file.stream.seek(0)
    up = Upload(
        id=uuid.uuid4().hex,
        member_id=member_id,
        original_name=name,
        size=size,
        options=options,
        receiver_email=receiver,
    )
    db.session.add(up)
    db.session.commit()
    oplog.record(
        "upload",
        "upload_received",
        _("Received %(name)s (%(size)d bytes)", name=name, size=size),
        {**options, "receiver_email": receiver},
        job_id=up.id,
    )
    job = process_upload.submit(files={"upload": file}, upload_id=up.id, job_id=up.id)
    status_url = url_for("jobs.show_job", job_id=job.id)
    return jsonify(job_id=job.id, status_url=status_url), 202
