"""``/healthz`` and ``/readyz``: what a load balancer or an orchestrator asks, unsigned-in.

``/healthz`` says the process answers (restart it when it does not). ``/readyz`` says
whether to send it members: the databases answer and the spool has room (else ``503``,
"unready"); the broker, the publisher or the job pool away is ``200``, "degraded":
uploads are still taken (the job waits in the table) and run once those are back.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .admission import spool_free_mb
from .extensions import handoff
from .models import db

bp = Blueprint("health", __name__)

#: Checks without which this process must not take requests.
_VITAL = ("database", "jobs database", "disk")


@bp.get("/healthz")
def alive() -> Any:
    return jsonify(status="alive")


@bp.get("/readyz")
def ready() -> Any:
    checks: dict[str, str] = {"database": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver's error: reported, not raised
        checks["database"] = f"unreachable: {type(exc).__name__}"
    finally:
        db.session.rollback()
    jobs = handoff.health()
    checks["jobs database"] = jobs.pop("database")
    checks.update(jobs)
    checks["disk"] = _disk()
    failing = {name for name, value in checks.items() if value not in ("ok", "off")}
    status = "unready" if failing & set(_VITAL) else "degraded" if failing else "ready"
    response = jsonify(status=status, checks=checks)
    if status == "unready":
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    response.headers["Cache-Control"] = "no-store"
    return response


def _disk() -> str:
    free_mb, least = spool_free_mb(), current_app.config["PHONETOOL_MIN_FREE_MB"]
    return "ok" if free_mb >= least else f"{free_mb} MB free, {least} MB needed"
