"""``GET /api/operation-logs``: a member's own entries, newest first, paged."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from .models import MemberOperationLog, db
from .passport import current_member

bp = Blueprint("oplog", __name__, url_prefix="/api/operation-logs")


MAX_PAGE = 1_000_000


@bp.get("")
def list_entries() -> Any:
    """The caller's operation log, newest first.
    ---
    get:
      summary: Your operation log.
      parameters:
        - {name: page, in: query, schema: {type: integer, default: 1, maximum: 1000000}}
        - {name: per_page, in: query, schema: {type: integer, default: 50, maximum: 200}}
        - name: job_id
          in: query
          description: Only this job's entries.
          schema: {type: string, maxLength: 64}
      responses:
        "200":
          description: One page of entries.
          content:
            application/json:
              schema:
                type: object
                properties:
                  page: {type: integer}
                  per_page: {type: integer}
                  entries:
                    type: array
                    items: {$ref: "#/components/schemas/LogEntry"}
        "401":
          $ref: "#/components/responses/Unauthorized"
    """
    member_id = current_member().member_id
    # Bounded: past the last entry a page is empty, and the database's offset is finite.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    per_page = min(max(request.args.get("per_page", 50, type=int) or 50, 1), 200)
    query = (
        db.select(MemberOperationLog)
        .filter_by(user_id=str(member_id))
        .order_by(MemberOperationLog.operation_time.desc(), MemberOperationLog.id.desc())
    )
    job_id = request.args.get("job_id")
    if job_id and "\x00" in job_id:
        # No job's id holds a NUL, and PostgreSQL refuses one in a comparison.
        return jsonify(page=page, per_page=per_page, entries=[])
    if job_id:
        query = query.filter_by(job_id=job_id[:64])
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).scalars()
    return jsonify(page=page, per_page=per_page, entries=[r.as_dict() for r in rows])
