"""The member operation log: who did what, from a request, a job, or neither.

``record`` asks ``flask_handoff.identity()`` who is acting, so the same call attributes an
entry to the member in a view and in the background job that member started; with neither,
the entry says so (actor ``system``) instead of guessing. An entry that cannot be written
(the database is down) is kept in a file in the instance folder, logged, and written with
the next entry that succeeds: never dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from flask_handoff import current_job, has_job_context, identity

from .models import MemberOperationLog, db, utcnow

log = logging.getLogger("phonetool.oplog")
_SECRET_WORDS = ("cookie", "token", "password", "authorization", "secret")
_pending_lock = threading.Lock()


def redact(value: Any) -> Any:
    """Replace the values of secret-looking keys, at any depth."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def record(
    business_type: str,
    operation_type: str,
    content: str,
    params: dict[str, Any] | None = None,
    *,
    job_id: str | None = None,
    member_id: int | None = None,
) -> None:
    """Write one entry now; if the database refuses, keep it for later (see module doc).

    ``member_id`` names the member where the request does not yet (signing in).
    """
    entry = _entry(business_type, operation_type, content, params, job_id)
    if member_id is not None:
        entry["user_id"], entry["actor_kind"] = str(member_id), "user"
    pending = _pending_path()
    try:
        _flush(pending)
        _insert([entry])
    except SQLAlchemyError:
        log.exception("operation log entry kept for later: %s %s", business_type, operation_type)
        _keep(pending, entry)


def _entry(
    business_type: str,
    operation_type: str,
    content: str,
    params: dict[str, Any] | None,
    job_id: str | None,
) -> dict[str, Any]:
    if has_job_context():
        actor = current_job.actor
        request_id = current_job.context.get("request_id")
        job_id = job_id or current_job.id
    elif has_request_context():
        actor = "user"
        request_id = g.get("request_id") or request.headers.get("X-Request-Id")
    else:
        actor, request_id = "system", None
    user = identity(default=None)
    if user is None and actor == "user":
        actor = "anonymous"
    now = utcnow()
    return {
        "user_id": None if user is None else str(user),
        "business_type": business_type,
        "operation_type": operation_type,
        "operation_content": content,
        "operation_params": redact(params) if params else None,
        "operation_time": now.isoformat(),
        "request_id": request_id,
        "job_id": job_id,
        "actor_kind": actor,
    }


def _insert(entries: list[dict[str, Any]]) -> None:
    rows = [
        {
            **e,
            "operation_time": _parse_time(e["operation_time"]),
            "create_time": utcnow(),
            "update_time": utcnow(),
        }
        for e in entries
    ]
    # Its own transaction: an entry must not wait for, or roll back with, the caller's.
    with db.engine.begin() as conn:
        conn.execute(db.insert(MemberOperationLog), rows)


def _parse_time(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def _pending_path() -> Path:
    return Path(current_app.instance_path) / "oplog-pending.jsonl"


def _keep(pending: Path, entry: dict[str, Any]) -> None:
    with _pending_lock, pending.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _flush(pending: Path) -> None:
    """Write entries kept during an outage, oldest first, before the new one."""
    if not pending.exists():
        return
    with _pending_lock:
        if not pending.exists():
            return
        lines = pending.read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        if entries:
            _insert(entries)
            log.info("wrote %d operation log entries kept during an outage", len(entries))
        pending.unlink()
