"""Log lines that say which request or job they belong to.

Every record emitted in a request carries ``request_id``; in a job, ``job_id`` and the
``request_id`` of the request that submitted it. ``PHONETOOL_LOG_FORMAT=json`` writes one
JSON object a line, for log collectors; the default is text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import g, has_app_context, has_request_context

from flask_handoff import current_job, has_job_context


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = job_id = None
        if has_job_context():
            job_id = current_job.id
            request_id = current_job.context.get("request_id")
        elif has_request_context() and has_app_context():
            request_id = g.get("request_id")
        record.request_id = request_id or "-"
        record.job_id = job_id or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "job_id": getattr(record, "job_id", "-"),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s] %(message)s"


def configure(fmt: str) -> None:
    """Give the root logger one handler with the context filter, once per process."""
    root = logging.getLogger()
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    if root.level == logging.WARNING:
        root.setLevel(logging.INFO)
